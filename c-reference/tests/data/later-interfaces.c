/*
 * A synthetic "revision" for tests/missing_interfaces.rs: the include lines
 * of pmap_segtab.c, then the interfaces NetBSD's uvm/pmap headers of
 * 2023-2026 give the file and revisions after 1.31 may use: pte_index(),
 * kvtopte(), pmap_md_map_poolpage() with the size argument of 2024's
 * headers, every UVMHIST spelling of <uvm/uvm_stat.h> naming the pmap
 * histories (pmaphist, pmapxtabhist), and code under #ifdef UVMHIST as the
 * 2022 rework has it.  It must compile against the shim with no missing
 * interface.  With SHIM_TEST_ABSENT it also calls pmap_md_pdetab_init(), a
 * hook of NetBSD's hardware-page-walker ports the shim deliberately does
 * not model: that one must still be reported as a missing interface.
 */
#include <sys/cdefs.h>

__KERNEL_RCSID(0, "$NetBSD: later-interfaces.c,v 0.1 2026/12/06 00:00:00 test Exp $");

#define __PMAP_PRIVATE

#include "opt_multiprocessor.h"
#include <sys/param.h>
#include <sys/atomic.h>
#include <sys/mutex.h>
#include <sys/proc.h>
#include <sys/systm.h>
#include <uvm/uvm.h>
#include <uvm/pmap/pmap.h>

#ifdef UVMHIST
UVMHIST_DEFINE(pmapxtabhist);
#endif

struct pmap_segtab_info {
	pmap_segtab_t *free_segtab;
#ifdef DEBUG
	uint32_t nget_segtab, nput_segtab, npage_segtab;
#endif
#ifdef PMAP_PTP_CACHE
	struct pgflist ptp_pgflist;
#endif
} pmap_segtab_info;
kmutex_t pmap_segtab_lock;

void
pmap_segtab_init(struct pmap *pm)
{
	UVMHIST_FUNC(__func__);
	UVMHIST_CALLARGS(pmaphist, "pm %#jx", (uintptr_t)pm, 0, 0, 0);
	UVMHIST_CALLED(pmapxtabhist);
#ifdef UVMHIST
	bool found_on_freelist = false;
#endif
	UVMHIST_LOG(pmapxtabhist, "stb %#jx", (uintptr_t)pm->pm_segtab, 0, 0, 0);
	if (pm->pm_segtab == NULL)
		UVMHIST_LOG(pmapxtabhist, "none", 0, 0, 0, 0);
	else
		UVMHIST_LOG(pmapxtabhist, "some", 0, 0, 0, 0);
#ifdef SHIM_TEST_ABSENT
	pmap_md_pdetab_init(pm);
#endif
}

pt_entry_t *
pmap_pte_lookup(struct pmap *pm, vaddr_t va)
{
	pmap_segtab_t *stb = pm->pm_segtab;
#ifdef _LP64
	stb = stb->seg_seg[(va >> XSEGSHIFT) & (NSEGPG - 1)];
	if (stb == NULL)
		return NULL;
#endif
	pmap_ptpage_t * const ppg =
	    stb->seg_ppg[(va >> SEGSHIFT) & (PMAP_SEGTABSIZE - 1)];
	if (ppg == NULL)
		return NULL;
	const size_t pte_idx = pte_index(va);
	return ppg->ppg_ptes + pte_idx;
}

pt_entry_t *
pmap_pte_reserve(struct pmap *pm, vaddr_t va, int f)
{
	KASSERT(pm != pmap_kernel() || kvtopte(va) == pmap_pte_lookup(pm, va));
	/* The 2024 headers' two-argument spelling of the pool-page hook. */
	if (f & PMAP_CANFAIL)
		return (pt_entry_t *)pmap_md_map_poolpage(0, PAGE_SIZE);
	return NULL;
}

void pmap_pte_process(struct pmap *pm, vaddr_t s, vaddr_t e, pte_callback_t cb,
    uintptr_t f) { }
void pmap_segtab_activate(struct pmap *pm, struct lwp *l) { }
void pmap_segtab_deactivate(struct pmap *pm) { }
void pmap_segtab_destroy(struct pmap *pm, pte_callback_t cb, uintptr_t f) { }
