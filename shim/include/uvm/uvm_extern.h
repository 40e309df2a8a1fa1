/*
 * Shim for NetBSD <uvm/uvm_extern.h>: kernel memory allocation, which rev
 * 1.31 uses for page-table pages when the port does not define
 * PMAP_MAP_PTEPAGE (and names in pmap_segtab_pagefree in any case).  Flag
 * values are NetBSD's (uvm_km_alloc/free flags); the shim's uvm_km_alloc
 * takes one page from the Rust pool (zeroed only with UVM_KMF_ZERO, as in
 * NetBSD: a fresh page is otherwise whatever the pool holds), and
 * uvm_km_free gives it back.  kernel_map is only passed along.
 */
#ifndef _SHIM_UVM_UVM_EXTERN_H_
#define _SHIM_UVM_UVM_EXTERN_H_

#include <sys/types.h>

#define UVM_KMF_WIRED		0x1		/* allocation type: wired */
#define UVM_KMF_PAGEABLE	0x2		/* allocation type: pageable */
#define UVM_KMF_VAONLY		0x4		/* allocation type: VA only */
#define UVM_KMF_CANFAIL		0x8		/* caller handles failure */
#define UVM_KMF_ZERO		0x10		/* want zero filled memory */
#define UVM_KMF_WAITVA		0x800000	/* UVM_FLAG_WAITVA: sleep for va */

struct vm_map;
extern struct vm_map *kernel_map;

typedef unsigned int uvm_flag_t;

vaddr_t uvm_km_alloc(struct vm_map *, vsize_t, vsize_t, uvm_flag_t);
void uvm_km_free(struct vm_map *, vaddr_t, vsize_t, uvm_flag_t);

#endif /* _SHIM_UVM_UVM_EXTERN_H_ */
