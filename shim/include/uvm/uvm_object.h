/*
 * Shim for NetBSD <uvm/uvm_object.h>: struct uvm_object, reduced to what
 * the 2022 pmap (uvm/pmap/pmap.h, rev 1.31 of pmap_segtab.c) uses: the
 * object's lock (vmobjlock, which pmap_lock() takes), its page count
 * (uo_npages, counted by pmap_page_attach/_detach) and its reference count
 * (pm_refcnt).  NetBSD keeps vmobjlock as a pointer to a krwlock_t; the
 * pmap's own lock (pm_obj_lock) is what it points at.
 */
#ifndef _SHIM_UVM_UVM_OBJECT_H_
#define _SHIM_UVM_UVM_OBJECT_H_

#include <sys/rwlock.h>

struct uvm_object {
	krwlock_t		*vmobjlock;	/* lock on object */
	int			uo_npages;	/* # of pages in uo_pages */
	unsigned int		uo_refs;	/* reference count */
};

#endif /* _SHIM_UVM_UVM_OBJECT_H_ */
