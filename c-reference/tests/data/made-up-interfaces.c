/*
 * A synthetic "revision" for tests/missing_interfaces.rs: the include lines
 * of pmap_segtab.c, then uses of interfaces no shim header provides (a type,
 * a struct member, a function, a constant) and one the shim declares but
 * does not define (pmap_md_bogus, renamed like the shim's own symbols).
 */
#include <sys/cdefs.h>

__KERNEL_RCSID(0, "$NetBSD: made-up-interfaces.c,v 0.1 2026/11/28 00:00:00 test Exp $");

#include "opt_multiprocessor.h"
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/proc.h>
#include <sys/mutex.h>
#include <sys/atomic.h>
#include <uvm/uvm.h>

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

#ifdef SHIM_TEST_UNDEFINED_ONLY
#define pmap_md_bogus SHIM_SYM(pmap_md_bogus)
void pmap_md_bogus(struct pmap *);
#else
static frobnicator_t frobber;
#endif

void
pmap_segtab_init(struct pmap *pm)
{
#ifdef SHIM_TEST_UNDEFINED_ONLY
	pmap_md_bogus(pm);
#else
	pm->pm_frobs = pmap_md_frobnicate(pm, PMAP_FROB_ALL);
	(void)frobber;
#endif
}

pt_entry_t *pmap_pte_lookup(struct pmap *pm, vaddr_t va) { return NULL; }
pt_entry_t *pmap_pte_reserve(struct pmap *pm, vaddr_t va, int f) { return NULL; }
void pmap_pte_process(struct pmap *pm, vaddr_t s, vaddr_t e, pte_callback_t cb,
    uintptr_t f) { }
void pmap_segtab_activate(struct pmap *pm, struct lwp *l) { }
#ifndef SHIM_TEST_NO_DEACTIVATE	/* as revisions before 2016 had none */
void pmap_segtab_deactivate(struct pmap *pm) { }
#endif
void pmap_segtab_destroy(struct pmap *pm, pte_callback_t cb, uintptr_t f) { }
