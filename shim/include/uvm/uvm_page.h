/*
 * Shim for NetBSD <uvm/uvm_page.h> and <uvm/uvm_pglist.h>: struct vm_page
 * (its layout is shared with the Rust page pool, see segtab_shim_api.h),
 * struct pgflist and struct pglist, the allocation flags and the page <-> physical address
 * conversions.
 */
#ifndef _SHIM_UVM_UVM_PAGE_H_
#define _SHIM_UVM_UVM_PAGE_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <segtab_shim_api.h>

LIST_HEAD(pgflist, vm_page);
TAILQ_HEAD(pglist, vm_page);

#define UVM_PGA_USERESERVE	0x0001	/* ok to use reserve pages */
#define UVM_PGA_ZERO		0x0002	/* returned page must be zeroed */

void uvm_pagefree(struct vm_page *);
void uvm_wait(const char *);
struct vm_page *shim_phys_to_vm_page(paddr_t);

#define VM_PAGE_TO_PHYS(pg)	((paddr_t)(pg)->phys_addr)
#define PHYS_TO_VM_PAGE(pa)	shim_phys_to_vm_page(pa)
#define UVM_PAGE_OWN(pg, tag)	/* UVM_PAGE_TRKOWN is not configured */

#endif /* _SHIM_UVM_UVM_PAGE_H_ */
