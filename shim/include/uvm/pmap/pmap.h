/*
 * Shim for NetBSD <uvm/pmap/pmap.h>: the segment table, the callback type,
 * struct pmap and the entry points of pmap_segtab.c, as the 2020 header
 * (revs 1.14-1.23) and the 2022 one (the rework, rev 1.31, without
 * PMAP_HWPAGEWALKER) give them.  Where the two differ the shim holds both
 * names; PMAP_HWPAGEWALKER (pd_entry_t, pmap_pdetab_t, ...) is not modelled.
 */
#ifndef _SHIM_UVM_PMAP_PMAP_H_
#define _SHIM_UVM_PMAP_PMAP_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/rwlock.h>
#include <uvm/uvm_object.h>
#include <uvm/uvm_page.h>
#include <uvm/uvm_stat.h>

/*
 * The pmap's UVM histories, declared only in a UVMHIST kernel (this one is
 * not: every UVMHIST_* use expands to nothing and never names them).  The
 * 2020 header declares pmapexechist, pmaphist and pmapsegtabhist; from the
 * 2022 rework on (through the 2024 netbsd-10 pmap.h 1.26.2.1) the third is
 * pmapxtabhist, the one pmap_segtab.c logs table-page work to.
 */
#ifdef UVMHIST
UVMHIST_DECL(pmapexechist);
UVMHIST_DECL(pmaphist);
UVMHIST_DECL(pmapsegtabhist);
UVMHIST_DECL(pmapxtabhist);
#endif

#define pmap_trunc_seg(x)	((vaddr_t)(x) & ~SEGOFSET)
#define pmap_round_seg(x)	(((vaddr_t)(x) + SEGOFSET) & ~SEGOFSET)

/*
 * A page of PTEs (2022: "each ptpage maps a segment worth of address
 * space", NPTEPG entries, one page).
 */
typedef struct {
	pt_entry_t		ppg_ptes[NPTEPG];
} pmap_ptpage_t;

/*
 * A segtab is one array of PMAP_SEGTABSIZE pointers, read as the next level
 * of segtabs (seg_seg), or as pointers to pages of PTEs: seg_tab (2020,
 * pt_entry_t *) or seg_ppg (2022, pmap_ptpage_t *, the same address).  The
 * free list links through its first word: seg_seg[0] in rev 1.23 (on every
 * machine), seg_next in the 2022 rework.  The union holds every name both
 * eras give these words, so each revision finds its own.
 */
typedef union pmap_segtab {
	union pmap_segtab	*seg_seg[PMAP_SEGTABSIZE];
	pt_entry_t		*seg_tab[PMAP_SEGTABSIZE];
	pmap_ptpage_t		*seg_ppg[PMAP_SEGTABSIZE];
	union pmap_segtab	*seg_next;
} pmap_segtab_t;

struct pmap;
typedef bool (*pte_callback_t)(struct pmap *, vaddr_t, vaddr_t,
	pt_entry_t *, uintptr_t);

/*
 * The fields of NetBSD's struct pmap that the revisions read or write.  The
 * 2022 rework adds the pmap's uvm_object (whose lock, through pm_obj_lock,
 * is pmap_lock() and whose uo_npages counts its table pages) and the lists
 * of its PTE pages (pm_ppg_list) and segtab pages (pm_segtab_list).
 */
struct pmap {
	struct uvm_object	pm_uobject;
	krwlock_t		pm_obj_lock;	/* lock for pm_uobject */
#define pm_lock			pm_uobject.vmobjlock
	struct pglist		pm_ppg_list;
	struct pglist		pm_segtab_list;
	pmap_segtab_t		*pm_segtab;	/* pointers to pages of PTEs */
	unsigned int		pm_count;
	vaddr_t			pm_minaddr;
	vaddr_t			pm_maxaddr;
	unsigned int		pm_index;	/* shim: which harness pmap */
};
typedef struct pmap *pmap_t;

/* 2022: the pmap's lock, taken as writer around its page lists. */
static inline void
pmap_lock(struct pmap *pm)
{
	rw_enter(pm->pm_lock, RW_WRITER);
}

static inline void
pmap_unlock(struct pmap *pm)
{
	rw_exit(pm->pm_lock);
}

#define PMAP_CANFAIL	0x20	/* can fail if resource shortage */

struct pmap *shim_pmap_kernel(void);
#define pmap_kernel()	(shim_pmap_kernel())

struct lwp;
pt_entry_t *pmap_pte_lookup(struct pmap *, vaddr_t);
pt_entry_t *pmap_pte_reserve(struct pmap *, vaddr_t, int);
void pmap_pte_process(struct pmap *, vaddr_t, vaddr_t, pte_callback_t,
	uintptr_t);
void pmap_segtab_activate(struct pmap *, struct lwp *);
void pmap_segtab_deactivate(struct pmap *);
void pmap_segtab_init(struct pmap *);
void pmap_segtab_destroy(struct pmap *, pte_callback_t, uintptr_t);

/*
 * The 2024 header (netbsd-10 pmap.h 1.26.2.1): the kernel pmap's PTE for
 * va, through pmap_pte_lookup() (so NULL where no PTE page is reserved).
 */
static inline pt_entry_t *
kvtopte(vaddr_t va)
{
	return pmap_pte_lookup(pmap_kernel(), va);
}

#endif /* _SHIM_UVM_PMAP_PMAP_H_ */
