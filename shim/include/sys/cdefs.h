/*
 * Shim for NetBSD <sys/cdefs.h>: compiler helpers, and the per-configuration
 * renaming of every external symbol so that several configurations of the
 * same C file link into one binary.  pmap_segtab.c includes this header
 * first (its line 68), so the renames below are in force for the whole file.
 */
#ifndef _SHIM_SYS_CDEFS_H_
#define _SHIM_SYS_CDEFS_H_

#ifndef SEGTAB_PREFIX
#error "SEGTAB_PREFIX must name this configuration's symbol prefix"
#endif

#define SHIM_CAT2(a, b)		a##b
#define SHIM_CAT(a, b)		SHIM_CAT2(a, b)
#define SHIM_SYM(x)		SHIM_CAT(SEGTAB_PREFIX, x)

/* External symbols of pmap_segtab.c. */
#define pmap_segtab_info	SHIM_SYM(pmap_segtab_info)
#define pmap_segtab_lock	SHIM_SYM(pmap_segtab_lock)
#define pmap_pte_lookup		SHIM_SYM(pmap_pte_lookup)
#define pmap_pte_reserve	SHIM_SYM(pmap_pte_reserve)
#define pmap_pte_process	SHIM_SYM(pmap_pte_process)
#define pmap_segtab_init	SHIM_SYM(pmap_segtab_init)
#define pmap_segtab_destroy	SHIM_SYM(pmap_segtab_destroy)
#define pmap_segtab_activate	SHIM_SYM(pmap_segtab_activate)
#define pmap_segtab_deactivate	SHIM_SYM(pmap_segtab_deactivate)

/* Kernel services the file calls, provided by shim/csrc/world.c. */
#define panic			SHIM_SYM(panic)
#define printf			SHIM_SYM(printf)
#define kern_assert		SHIM_SYM(kern_assert)
#define uvm_wait		SHIM_SYM(uvm_wait)
#define uvm_pagefree		SHIM_SYM(uvm_pagefree)
#define pmap_md_alloc_poolpage	SHIM_SYM(pmap_md_alloc_poolpage)
#define pmap_md_map_poolpage	SHIM_SYM(pmap_md_map_poolpage)
#define pmap_md_unmap_poolpage	SHIM_SYM(pmap_md_unmap_poolpage)
#define shim_phys_to_vm_page	SHIM_SYM(shim_phys_to_vm_page)
#define shim_atomic_cas_ptr	SHIM_SYM(shim_atomic_cas_ptr)
#define shim_mutex_spin_enter	SHIM_SYM(shim_mutex_spin_enter)
#define shim_mutex_spin_exit	SHIM_SYM(shim_mutex_spin_exit)
#define shim_curlwp		SHIM_SYM(shim_curlwp)
#define shim_pmap_kernel	SHIM_SYM(shim_pmap_kernel)
#define pmap_md_xtab_activate	SHIM_SYM(pmap_md_xtab_activate)
#define pmap_md_xtab_deactivate	SHIM_SYM(pmap_md_xtab_deactivate)
#define pmap_md_direct_mapped_vaddr_p SHIM_SYM(pmap_md_direct_mapped_vaddr_p)
/* ... and those the 2022 rework (rev 1.31) calls. */
#define pmap_extract		SHIM_SYM(pmap_extract)
#define uvm_km_alloc		SHIM_SYM(uvm_km_alloc)
#define uvm_km_free		SHIM_SYM(uvm_km_free)
#define kernel_map		SHIM_SYM(kernel_map)
#define shim_rw_enter		SHIM_SYM(shim_rw_enter)
#define shim_rw_exit		SHIM_SYM(shim_rw_exit)

/*
 * The file's RCS id is kept (world.c reports it as the revision compiled):
 * a tentative definition here, completed by __KERNEL_RCSID if the file has
 * one, NULL otherwise.
 */
static const char *shim_rcsid;
#define __KERNEL_RCSID(n, s)	static const char *shim_rcsid = (s)
#define __predict_true(e)	__builtin_expect(((e) != 0), 1)
#define __predict_false(e)	__builtin_expect(((e) != 0), 0)
#define __cacheline_aligned	__attribute__((__aligned__(64)))
#define __unused		__attribute__((__unused__))
#define __printflike(f, a)	__attribute__((__format__(__printf__, f, a)))
#define __dead			__attribute__((__noreturn__))
#define CTASSERT(e)		_Static_assert((e), #e)
#define __CTASSERT(e)		_Static_assert((e), #e)
/* NetBSD: used only by KASSERTs, so unused without DIAGNOSTIC. */
#ifdef DIAGNOSTIC
#define __diagused
#else
#define __diagused		__unused
#endif

#endif /* _SHIM_SYS_CDEFS_H_ */
