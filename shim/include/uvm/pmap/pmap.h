/*
 * Shim for NetBSD <uvm/pmap/pmap.h> (2020): the segment table, the callback
 * type, struct pmap and the entry points of pmap_segtab.c.
 */
#ifndef _SHIM_UVM_PMAP_PMAP_H_
#define _SHIM_UVM_PMAP_PMAP_H_

#include <sys/types.h>

#define pmap_trunc_seg(x)	((vaddr_t)(x) & ~SEGOFSET)
#define pmap_round_seg(x)	(((vaddr_t)(x) + SEGOFSET) & ~SEGOFSET)

/*
 * A segtab is one array of PMAP_SEGTABSIZE pointers, read either as the
 * next level of segtabs (seg_seg, used on _LP64 and, in rev 1.23, as the
 * free-list link on every machine) or as pointers to pages of PTEs.
 */
typedef union pmap_segtab {
	union pmap_segtab	*seg_seg[PMAP_SEGTABSIZE];
	pt_entry_t		*seg_tab[PMAP_SEGTABSIZE];
} pmap_segtab_t;

struct pmap;
typedef bool (*pte_callback_t)(struct pmap *, vaddr_t, vaddr_t,
	pt_entry_t *, uintptr_t);

/* The fields of NetBSD's struct pmap that this file reads or writes. */
struct pmap {
	pmap_segtab_t		*pm_segtab;	/* pointers to pages of PTEs */
	unsigned int		pm_count;
	vaddr_t			pm_minaddr;
	vaddr_t			pm_maxaddr;
	unsigned int		pm_index;	/* shim: which harness pmap */
};
typedef struct pmap *pmap_t;

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

#endif /* _SHIM_UVM_PMAP_PMAP_H_ */
