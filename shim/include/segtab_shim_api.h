/*
 * The harness API of one configuration of the C reference: what Rust calls
 * (through bindgen-generated bindings, shim/src/bindings.rs) and what Rust
 * provides (the hooks).  Every type here is the same in every configuration:
 * addresses travel as uint64_t, tables as void *, so one set of bindings
 * serves all configurations.  Each configuration exports one
 * `const struct segtab_shim_ops <prefix>ops`.
 *
 * This header is read both by the freestanding oracle translation unit and
 * by bindgen, so it includes nothing beyond the compiler's own headers.
 */
#ifndef _SEGTAB_SHIM_API_H_
#define _SEGTAB_SHIM_API_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uvm_object;

/*
 * NetBSD's struct vm_page reduced to what the revisions of pmap_segtab.c
 * touch: the pageq link (pageq.list for rev 1.23's PTP cache, pageq.queue
 * for the per-pmap page lists of the 2022 rework, the same two words as in
 * NetBSD's union), the physical address, and the owner (uobject, offset)
 * that rev 1.31's pmap_page_attach sets.  The Rust page pool owns an array
 * of these, one per page frame, and clears them on reset.
 */
struct vm_page {
	union {
		struct {
			struct vm_page *le_next;
			struct vm_page **le_prev;
		} list;
		struct {
			struct vm_page *tqe_next;
			struct vm_page **tqe_prev;
		} queue;
	} pageq;
	uint64_t phys_addr;
	uint64_t pfn;		/* shim: index of the frame in the pool */
	struct uvm_object *uobject;	/* owner (rev 1.31: &pmap->pm_uobject) */
	int64_t offset;		/* voff_t offset in the owner */
};

#define SEGTAB_SHIM_NPMAPS	8	/* pmap 0 is pmap_kernel() */
#define SEGTAB_SHIM_NLWPS	4
#define SEGTAB_SHIM_NCPUS	4
/* lwp i starts on cpu i % SEGTAB_SHIM_BOOT_CPUS: the binding of the
 * two-CPU shim, so that reproducers written for it mean the same */
#define SEGTAB_SHIM_BOOT_CPUS	2

/* What a call into the C returned. */
enum segtab_shim_outcome {
	SEGTAB_SHIM_OK = 0,
	SEGTAB_SHIM_PANICKED = 1,	/* panic(), KASSERT, DEBUG check, lock misuse */
	SEGTAB_SHIM_WAIT_FOREVER = 2,	/* uvm_wait() with nothing left to wait for */
	SEGTAB_SHIM_DEAD = 3,		/* the world panicked earlier; reset it */
	SEGTAB_SHIM_BADARG = 4,		/* index out of range */
	SEGTAB_SHIM_ABANDONED = 5,	/* the sched hook said to stop (another
					 * CPU panicked, or a deadlock) */
};

/*
 * The calls out of pmap_segtab.c at which another CPU may run, as passed to
 * hooks.sched (the same order as shim::sched::Call).
 */
enum segtab_shim_call {
	SEGTAB_SHIM_CALL_SPIN_ENTER = 0,	/* mutex_spin_enter */
	SEGTAB_SHIM_CALL_SPIN_EXIT = 1,		/* mutex_spin_exit */
	SEGTAB_SHIM_CALL_CAS = 2,		/* atomic_cas_ptr */
	SEGTAB_SHIM_CALL_ALLOC = 3,		/* PMAP_ALLOC_POOLPAGE */
	SEGTAB_SHIM_CALL_FREE = 4,		/* uvm_pagefree */
	SEGTAB_SHIM_CALL_MAP = 5,		/* PMAP_MAP_POOLPAGE */
	SEGTAB_SHIM_CALL_UNMAP = 6,		/* PMAP_UNMAP_POOLPAGE */
	SEGTAB_SHIM_CALL_WAIT = 7,		/* uvm_wait */
	SEGTAB_SHIM_CALL_XTAB = 8,		/* pmap_md_xtab_(de)activate */
	SEGTAB_SHIM_CALL_CALLBACK = 9,		/* the pte_callback_t */
};

enum segtab_shim_panic_kind {
	SEGTAB_SHIM_PANIC_NONE = 0,
	SEGTAB_SHIM_PANIC_CALL = 1,	/* panic(fmt, ...) */
	SEGTAB_SHIM_PANIC_KASSERT = 2,	/* KASSERT/KASSERTMSG under DIAGNOSTIC */
	SEGTAB_SHIM_PANIC_WAIT = 3,	/* uvm_wait would sleep forever */
	SEGTAB_SHIM_PANIC_LOCK = 4,	/* spin mutex protocol violated */
};

struct segtab_shim_panic {
	int32_t kind;			/* enum segtab_shim_panic_kind */
	int32_t line;			/* KASSERT: __LINE__ */
	char expr[160];			/* KASSERT: the expression text */
	char fmt[160];			/* panic(): the format string (names the site) */
	char msg[512];			/* the formatted message */
};

/*
 * What the compiled revision has, in this configuration (config.caps).
 * State a revision lacks is "not in rev X" (its $NetBSD$ id: ops.rcsid),
 * never a difference; state it has that rev 1.23 lacks is shown and not
 * compared.
 */
enum segtab_shim_cap {
	/* rev 1.23's PTP cache (pmap_segtab_info.ptp_pgflist) is compiled in */
	SEGTAB_SHIM_CAP_PTP_CACHE = 1 << 0,
	/* DEBUG counters nget/nput/npage (rev 1.23: *_segtab; 2022: segalloc.*) */
	SEGTAB_SHIM_CAP_COUNTERS = 1 << 1,
	/* several segtabs may be carved from one page (gone in 1.31: `#if 0`) */
	SEGTAB_SHIM_CAP_CARVING = 1 << 2,
	/* freeing a PTE page calls PMAP_UNMAP_POOLPAGE (2022: detach, no unmap) */
	SEGTAB_SHIM_CAP_UNMAP_POOLPAGE = 1 << 3,
	/* per-pmap page lists and uo_npages (2022 rework; not in rev 1.23) */
	SEGTAB_SHIM_CAP_PAGE_LISTS = 1 << 4,
};

/* Which per-pmap page list ops.pmap_pages reads. */
enum segtab_shim_list {
	SEGTAB_SHIM_LIST_SEGTAB = 0,	/* pm_segtab_list */
	SEGTAB_SHIM_LIST_PTPAGE = 1,	/* pm_ppg_list */
};

/* Constants of a configuration, as the C compiler sees them. */
struct segtab_shim_config {
	const char *name;
	uint32_t pgshift, segshift, xsegshift;
	uint32_t segtabsize;		/* PMAP_SEGTABSIZE */
	uint32_t nptepg;		/* NPTEPG */
	uint32_t pte_bytes;		/* sizeof(pt_entry_t) */
	uint32_t vaddr_bytes;		/* sizeof(vaddr_t) */
	uint32_t segtab_bytes;		/* sizeof(pmap_segtab_t) on this host */
	uint8_t lp64, debug, diagnostic, multiprocessor, ptp_cache;
	uint64_t invalid_segtab;	/* PMAP_INVALID_SEGTAB_ADDRESS */
	const char *source;		/* the C file that was compiled */
	uint32_t caps;			/* enum segtab_shim_cap */
};

/* Services the Rust side provides to the C world. */
struct segtab_shim_hooks {
	void *ctx;
	/* PMAP_ALLOC_POOLPAGE(flags): a page or NULL */
	struct vm_page *(*alloc_page)(void *ctx, int32_t flags);
	/* uvm_pagefree */
	void (*free_page)(void *ctx, struct vm_page *pg);
	/* uvm_wait: 0 to retry the allocation, nonzero if it would sleep forever */
	int32_t (*wait)(void *ctx, const char *wmsg);
	/* the pte_callback_t given to pmap_pte_process / pmap_segtab_destroy */
	void (*callback)(void *ctx, uint32_t pmap, uint64_t sva, uint64_t eva,
	    void *pte, uint64_t flags);
	/* PMAP_MAP_POOLPAGE (map=1) / PMAP_UNMAP_POOLPAGE (map=0) of pa: no
	 * effect here, but on mips they manage cache colours, so the calls are
	 * logged and compared */
	void (*map_event)(void *ctx, int32_t map, uint64_t pa);
	/* pmap_md_xtab_activate (activate=1, lwp) / _deactivate (0, lwp=-1) */
	void (*xtab)(void *ctx, int32_t activate, uint32_t pmap, int32_t lwp);
	/*
	 * Called at every call out of pmap_segtab.c (enum segtab_shim_call),
	 * before its effect; another CPU may run before it returns.  For
	 * SPIN_ENTER it returns once no other CPU holds the lock; for
	 * SPIN_EXIT the lock is still held when it is called.  0: go on;
	 * nonzero: abandon the call (this CPU's harness entry returns
	 * SEGTAB_SHIM_ABANDONED, the panic record untouched).  May be NULL.
	 * Called only on threads that called ops.set_this_cpu (since the last
	 * reset on that thread): a plain single-CPU thread never pays for it.
	 */
	int32_t (*sched)(void *ctx, int32_t call);
};

/* Where the page frames are: KVA base, count, PA of frame 0, vm_page array. */
struct segtab_shim_arena {
	void *base;
	uint64_t npages;
	uint64_t phys_base;
	struct vm_page *pages;
};

/* Everything a comparison needs, read in one call. */
struct segtab_shim_state {
	void *free_segtab;		/* pmap_segtab_info.free_segtab */
	struct vm_page *ptp_first;	/* LIST_FIRST(&pmap_segtab_info.ptp_pgflist) */
	uint32_t nget, nput, npage;	/* DEBUG counters (0 without DEBUG) */
	uint32_t lock_held;		/* pmap_segtab_lock */
	uint32_t lock_enters;
	uint32_t dead;
	uint32_t cur_lwp;		/* curlwp of CPU 0 */
	void *pm_segtab[SEGTAB_SHIM_NPMAPS];
	uint64_t pm_minaddr[SEGTAB_SHIM_NPMAPS];
	void *pm_addr[SEGTAB_SHIM_NPMAPS];	/* &pmaps[i], as panic messages print it */
	void *ci_segtab[SEGTAB_SHIM_NCPUS];
	void *ci_seg0tab[SEGTAB_SHIM_NCPUS];	/* NULL on 32-bit */
	uint32_t lwp_cpu[SEGTAB_SHIM_NLWPS];
	uint32_t lwp_pmap[SEGTAB_SHIM_NLWPS];
	/* pm_uobject.uo_npages: table pages attached to each pmap
	 * (SEGTAB_SHIM_CAP_PAGE_LISTS only; 0 otherwise) */
	int32_t pm_npages[SEGTAB_SHIM_NPMAPS];
};

struct segtab_shim_ops {
	const struct segtab_shim_config *config;
	/* Forget everything: empty free list and PTP cache, counters zero, pmaps
	 * without segtabs, lwp i on cpu i % BOOT_CPUS bound to pmap i, CPU i runs
	 * as lwp i (curlwp 0), the calling thread is CPU 0. */
	void (*reset)(const struct segtab_shim_hooks *, const struct segtab_shim_arena *);
	/* pm_minaddr = minaddr; pm_segtab = NULL; pmap_segtab_init(pm) */
	int32_t (*segtab_init)(uint32_t pmap, uint64_t minaddr);
	/* pmap_segtab_destroy(pm, with_callback ? cb : NULL, flags) */
	int32_t (*segtab_destroy)(uint32_t pmap, bool with_callback, uint64_t flags);
	int32_t (*pte_lookup)(uint32_t pmap, uint64_t va, void **out);
	int32_t (*pte_reserve)(uint32_t pmap, uint64_t va, int32_t flags, void **out);
	int32_t (*pte_process)(uint32_t pmap, uint64_t sva, uint64_t eva, uint64_t flags);
	int32_t (*segtab_activate)(uint32_t pmap, uint32_t lwp);
	int32_t (*segtab_deactivate)(uint32_t pmap);
	/* curlwp of CPU 0 (set_cpu_lwp(0, lwp)) */
	int32_t (*set_curlwp)(uint32_t lwp);
	/* the lwp CPU `cpu` runs as: its curlwp, whose l_cpu is curcpu() */
	int32_t (*set_cpu_lwp)(uint32_t cpu, uint32_t lwp);
	/* the calling thread runs as CPU `cpu` from now on (a thread-local;
	 * every thread starts as CPU 0): its curlwp, its panic guard; and it
	 * calls hooks.sched (reset undoes both for the calling thread).  Each
	 * CPU's number is restored when hooks.sched returns to it, so CPUs
	 * that are coroutines of one thread can each call this once at their
	 * start; the thread's number after them is the last CPU's to run:
	 * call this again (CPU 0) when they are done. */
	int32_t (*set_this_cpu)(uint32_t cpu);
	int32_t (*bind_lwp)(uint32_t lwp, uint32_t pmap, uint32_t cpu);
	/* the next n atomic_cas_ptr calls lose to a freshly allocated zeroed page */
	void (*arm_cas_race)(uint32_t n);
	/* pmap_md_direct_mapped_vaddr_p(va) */
	bool (*direct_mapped_p)(uint64_t va);
	void (*snapshot)(struct segtab_shim_state *out);
	/* pmaps[pmap].pm_segtab, and whether the world is dead: the checks
	 * every call makes, without a whole snapshot */
	void *(*pm_segtab)(uint32_t pmap);
	uint32_t (*dead)(void);
	/* how the last panic came about (kept out of the snapshot, which every
	 * step reads) */
	void (*panic_info)(struct segtab_shim_panic *out);
	/* the compiled file's RCS id ("$NetBSD: pmap_segtab.c,v 1.23 ...$"),
	 * or NULL if it has none */
	const char *(*rcsid)(void);
	/* the pages on pmap's list `which` (enum segtab_shim_list), in order:
	 * returns how many (writes at most max), or -1 if the revision has no
	 * per-pmap page lists */
	int32_t (*pmap_pages)(uint32_t pmap, int32_t which,
	    struct vm_page **out, uint32_t max);
	/* the fields of snapshot() every step compares (free_segtab,
	 * ptp_first, the counters, the lock, dead, pm_segtab[]); the others are
	 * left as they are. A snapshot costs more than the comparison of a
	 * cheap step. */
	void (*summary)(struct segtab_shim_state *out);
};

#endif /* _SEGTAB_SHIM_API_H_ */
