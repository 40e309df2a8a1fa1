/*
 * Shim for NetBSD <uvm/uvm_pmap.h>: the machine-independent pmap entry
 * points pmap_segtab.c calls.  Rev 1.31 uses pmap_extract(pmap_kernel(),
 * kva, &pa) to find the page behind a table it got from the free list or
 * uvm_km_alloc; the shim answers for the pool's pages (and fails for any
 * other address, as pmap_extract does for an unmapped one).
 */
#ifndef _SHIM_UVM_UVM_PMAP_H_
#define _SHIM_UVM_UVM_PMAP_H_

#include <sys/types.h>

struct pmap;
bool pmap_extract(struct pmap *, vaddr_t, paddr_t *);

#endif /* _SHIM_UVM_UVM_PMAP_H_ */
