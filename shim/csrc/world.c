/*
 * One configuration of the C reference: the vendored pmap_segtab.c,
 * unmodified, followed by the kernel world it runs in (pmaps, lwps, cpus,
 * the hooks into the Rust page pool) and the harness entry points exported
 * as `<prefix>ops`.
 *
 * Compiled freestanding, once per configuration, by c-reference/build.rs
 * with the -D flags of that configuration; SEGTAB_C_FILE names the file
 * under test (the vendored copy unless SEGTAB_C_SOURCE says otherwise).
 *
 * The file is #included rather than linked so that its translation unit
 * is exactly the kernel's (same statics, same inlining decisions) while
 * the harness can still read pmap_segtab_info, which it defines.
 *
 * Several CPUs: the globals are one kernel's, shared by its CPUs.  Each
 * simulated CPU runs in a context of its own (a coroutine with its own stack
 * on the calling thread, or a host thread), which says which CPU it is
 * (set_this_cpu, a thread-local that sched_hook keeps right across switches);
 * a CPU has its own curlwp and its own panic guard, armed on its own stack.
 * Only one CPU runs at a time: at every call out of pmap_segtab.c the shim
 * first calls hooks.sched, where the Rust scheduler may let another CPU run
 * (shim/src/sched.rs), or tell this one to abandon its call.
 */
#include SEGTAB_C_FILE

#include <stdarg.h>

/*
 * Which layout the file under test has, told at preprocessing time by what
 * it defines, so that the inspection below reads each revision's own
 * state:
 *  - SHIM_REV_SEGALLOC: the 2022 rework (rev 1.31 defines MULT_CTASSERT at
 *    its line 119, next to the pmap_segtab_alloc_t of lines 158-171): the
 *    free list and DEBUG counters live in pmap_segtab_info.segalloc, table
 *    pages are attached to their pmap (pm_segtab_list, pm_ppg_list,
 *    pm_uobject.uo_npages), carving is `#if 0`, and there is no PTP cache
 *    (PMAP_PTP_CACHE is gone; PMAP_PPG_CACHE is not configured here).
 *    Revisions up to 1.23 define no MULT_CTASSERT.
 *  - SHIM_REV_PTP_CACHE: the revision has rev 1.23's PTP cache
 *    (pmap_segtab_info.ptp_pgflist) and the configuration enables it.
 */
#if defined(MULT_CTASSERT)
#define SHIM_REV_SEGALLOC 1
#elif defined(PMAP_PTP_CACHE)
#define SHIM_REV_PTP_CACHE 1
#endif

#include "segtab_shim_api.h"
#include "segtab_shim_guard.h"


static struct {
	struct segtab_shim_hooks hooks;
	struct segtab_shim_arena arena;
	struct pmap pmaps[SEGTAB_SHIM_NPMAPS];
	struct cpu_info cpus[SEGTAB_SHIM_NCPUS];
	struct lwp lwps[SEGTAB_SHIM_NLWPS];
	struct proc procs[SEGTAB_SHIM_NLWPS];
	struct vmspace vmspaces[SEGTAB_SHIM_NLWPS];
	uint32_t cpu_lwp[SEGTAB_SHIM_NCPUS];	/* curlwp of each CPU */
	uint32_t cas_race;		/* upcoming atomic_cas_ptr calls to lose */
	uint32_t dead;
	struct segtab_shim_panic panic;	/* the first panic's */
	/* one panic guard per CPU: each is armed and unwound by its CPU's
	 * thread only */
	_Alignas(16) unsigned char guard[SEGTAB_SHIM_NCPUS][SEGTAB_SHIM_GUARD_BYTES];
} world;

/*
 * The CPU the calling thread runs as (every thread starts as CPU 0), and
 * whether it said so (set_this_cpu): only such a thread may be one of
 * several CPUs, so only there is hooks.sched called; the single-CPU path
 * pays one thread-local load per call out.  The C is always linked into an
 * executable, so the initial-exec model (a plain load) is safe.
 */
#define SHIM_TLS _Thread_local __attribute__((__tls_model__("initial-exec")))
static SHIM_TLS uint32_t shim_this_cpu;
static SHIM_TLS uint32_t shim_scheduled;

static void *
my_guard(void)
{
	return world.guard[shim_this_cpu];
}

/* ---------------------------------------------------------------- panics */

static void
copy_str(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	if (src != NULL)
		for (; i + 1 < len && src[i] != '\0'; i++)
			dst[i] = src[i];
	dst[i] = '\0';
}

static void __dead
die(void)
{
	world.dead = 1;
	segtab_shim_unwind(my_guard(), SEGTAB_SHIM_UNWIND_PANIC);
}

/*
 * About to record a panic: the first one wins.  (Once a CPU has panicked the
 * others are abandoned at their next call out, so a second panic cannot
 * happen; this only makes sure the record stays the first one's.)
 */
static void
panic_begin(void)
{
	if (world.dead)
		die();
}

static void __dead
lock_panic(const char *msg)
{
	panic_begin();
	world.panic.kind = SEGTAB_SHIM_PANIC_LOCK;
	copy_str(world.panic.msg, sizeof(world.panic.msg), msg);
	die();
}

/*
 * A call out of pmap_segtab.c: let the scheduler run another CPU first, or
 * leave this call at once if it says so (the panic record untouched).
 *
 * The other CPUs may run on this very thread (the scheduler's CPUs are
 * coroutines of one thread, each on its own stack) and each says which CPU
 * it is with set_this_cpu: this CPU's number is kept in this frame, on its
 * own stack, and is this thread's again before anything here reads it (the
 * guard, curlwp, the lock owner).
 */
static void __attribute__((__noinline__, __cold__))
sched_hook(int32_t call)
{
	uint32_t me = shim_this_cpu;
	int32_t abandon;

	if (world.hooks.sched == NULL)
		return;
	abandon = world.hooks.sched(world.hooks.ctx, call);
	shim_this_cpu = me;
	if (abandon != 0)
		segtab_shim_unwind(my_guard(), SEGTAB_SHIM_UNWIND_ABANDON);
}

static inline void
sched_point(int32_t call)
{
	if (__predict_false(shim_scheduled))
		sched_hook(call);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	panic_begin();
	world.panic.kind = SEGTAB_SHIM_PANIC_CALL;
	copy_str(world.panic.fmt, sizeof(world.panic.fmt), fmt);
	va_start(ap, fmt);
	segtab_shim_vformat(world.panic.msg, sizeof(world.panic.msg), fmt, ap);
	va_end(ap);
	die();
}

/* kern_assert(__KASSERTSTR msg, "diagnostic ", #e, __FILE__, __LINE__, ...) */
void
kern_assert(const char *fmt, ...)
{
	va_list ap;

	panic_begin();
	world.panic.kind = SEGTAB_SHIM_PANIC_KASSERT;
	copy_str(world.panic.fmt, sizeof(world.panic.fmt), fmt);
	va_start(ap, fmt);
	(void)va_arg(ap, const char *);
	copy_str(world.panic.expr, sizeof(world.panic.expr),
	    va_arg(ap, const char *));
	(void)va_arg(ap, const char *);
	world.panic.line = va_arg(ap, int);
	va_end(ap);
	va_start(ap, fmt);
	segtab_shim_vformat(world.panic.msg, sizeof(world.panic.msg), fmt, ap);
	va_end(ap);
	die();
}

/* DEBUG_NOISY output before a pmap_check_stp panic: not kept (pointers). */
int
printf(const char *fmt, ...)
{
	(void)fmt;
	return 0;
}

/* --------------------------------------------------------- kernel services */

/*
 * The spin mutex.  The scheduler hook comes first: on enter it returns once
 * no other CPU owns the lock (the scheduler's record of the owner mirrors
 * mtx_owner); on exit it is a point taken while the lock is still held, so
 * another CPU may run, and find the lock held, before it is released.
 */
void
shim_mutex_spin_enter(kmutex_t *mtx)
{
	sched_point(SEGTAB_SHIM_CALL_SPIN_ENTER);
	if (mtx->mtx_locked)
		lock_panic(mtx->mtx_owner == shim_this_cpu
		    ? "mutex_spin_enter: locking against myself"
		    : "mutex_spin_enter: held by another cpu");
	mtx->mtx_locked = 1;
	mtx->mtx_owner = shim_this_cpu;
	mtx->mtx_enters++;
}

void
shim_mutex_spin_exit(kmutex_t *mtx)
{
	sched_point(SEGTAB_SHIM_CALL_SPIN_EXIT);
	if (!mtx->mtx_locked)
		lock_panic("mutex_spin_exit: mutex not held");
	if (mtx->mtx_owner != shim_this_cpu)
		lock_panic("mutex_spin_exit: held by another cpu");
	mtx->mtx_locked = 0;
}

struct vm_page *
pmap_md_alloc_poolpage(int flags)
{
	sched_point(SEGTAB_SHIM_CALL_ALLOC);
	return world.hooks.alloc_page(world.hooks.ctx, flags);
}

uintptr_t
pmap_md_map_poolpage(paddr_t pa, ...)
{
	/* A second argument, the size (2024's headers), is always a page. */
	sched_point(SEGTAB_SHIM_CALL_MAP);

	uintptr_t kva = (uintptr_t)world.arena.base
	    + (uintptr_t)(pa - world.arena.phys_base);

	world.hooks.map_event(world.hooks.ctx, 1, pa);
	return kva;
}

paddr_t
pmap_md_unmap_poolpage(vaddr_t va)
{
	sched_point(SEGTAB_SHIM_CALL_UNMAP);

	/* A 32-bit vaddr_t kept only the low half of the file's pointer, as on
	 * the target.  The arena lies in one 4 GiB-aligned window (at 0 where
	 * the host has room below 4 GiB): its base restores the rest. */
	uintptr_t kva = (uintptr_t)va;
	if (sizeof(vaddr_t) < sizeof(uintptr_t))
		kva += (uintptr_t)world.arena.base & ~(uintptr_t)UINT32_MAX;

	paddr_t pa = world.arena.phys_base
	    + (paddr_t)(kva - (uintptr_t)world.arena.base);

	world.hooks.map_event(world.hooks.ctx, 0, pa);
	return pa;
}

struct vm_page *
shim_phys_to_vm_page(paddr_t pa)
{
	return &world.arena.pages[(pa - world.arena.phys_base) >> PGSHIFT];
}

void
uvm_pagefree(struct vm_page *pg)
{
	sched_point(SEGTAB_SHIM_CALL_FREE);
	world.hooks.free_page(world.hooks.ctx, pg);
}

void
uvm_wait(const char *wmsg)
{
	sched_point(SEGTAB_SHIM_CALL_WAIT);
	if (world.hooks.wait(world.hooks.ctx, wmsg) != 0) {
		panic_begin();
		world.panic.kind = SEGTAB_SHIM_PANIC_WAIT;
		copy_str(world.panic.fmt, sizeof(world.panic.fmt), wmsg);
		copy_str(world.panic.msg, sizeof(world.panic.msg),
		    "uvm_wait: would wait forever");
		die();
	}
}

void *
shim_atomic_cas_ptr(volatile void *p, void *old, void *new)
{
	void * volatile *slot = (void * volatile *)p;

	sched_point(SEGTAB_SHIM_CALL_CAS);
	if (world.cas_race > 0) {
		/* Another CPU got there first with a page of its own (an
		 * imagined one: not one of the simulated CPUs, so no point). */
		world.cas_race--;
		struct vm_page *pg = world.hooks.alloc_page(world.hooks.ctx,
		    UVM_PGA_ZERO | UVM_PGA_USERESERVE);
		/* The other CPU's own mapping: not one of this file's calls,
		 * so not logged. */
		if (pg != NULL && *slot == NULL)
			*slot = (char *)world.arena.base
			    + (VM_PAGE_TO_PHYS(pg) - world.arena.phys_base);
	}
	void *cur = *slot;
	if (cur == old)
		*slot = new;
	return cur;
}

struct lwp *
shim_curlwp(void)
{
	return &world.lwps[world.cpu_lwp[shim_this_cpu]];
}

struct pmap *
shim_pmap_kernel(void)
{
	return &world.pmaps[0];
}

void
pmap_md_xtab_activate(struct pmap *pm, struct lwp *l)
{
	sched_point(SEGTAB_SHIM_CALL_XTAB);
	world.hooks.xtab(world.hooks.ctx, 1, pm->pm_index, (int32_t)l->l_index);
}

void
pmap_md_xtab_deactivate(struct pmap *pm)
{
	sched_point(SEGTAB_SHIM_CALL_XTAB);
	world.hooks.xtab(world.hooks.ctx, 0, pm->pm_index, -1);
}

/*
 * Whether va lies in one of the configuration's direct-mapped windows
 * (SHIM_DMAP{0,1}_{LO,HI}, defined by build.rs only for the windows the
 * port has).  The bounds are known at preprocessing time, so a comparison
 * that is always true (a window starting at 0, as booke's) is left out
 * rather than written and warned about.
 */
bool
pmap_md_direct_mapped_vaddr_p(vaddr_t va)
{
	uint64_t v = va;
	bool in = false;

	(void)v;
#ifdef SHIM_DMAP0_HI
#if SHIM_DMAP0_LO == 0
	in = in || v < (uint64_t)SHIM_DMAP0_HI;
#else
	in = in || (v >= (uint64_t)SHIM_DMAP0_LO && v < (uint64_t)SHIM_DMAP0_HI);
#endif
#endif
#ifdef SHIM_DMAP1_HI
#if SHIM_DMAP1_LO == 0
	in = in || v < (uint64_t)SHIM_DMAP1_HI;
#else
	in = in || (v >= (uint64_t)SHIM_DMAP1_LO && v < (uint64_t)SHIM_DMAP1_HI);
#endif
#endif
	return in;
}

/* ------------------------------------------- services of the 2022 rework */

/* The pmap lock (sys/rwlock.h): protocol checks only, no scheduling point. */
void
shim_rw_enter(krwlock_t *rw, krw_t op)
{
	(void)op;
	if (rw->rw_locked)
		lock_panic(rw->rw_owner == shim_this_cpu
		    ? "rw_enter: locking against myself"
		    : "rw_enter: held by another cpu");
	rw->rw_locked = 1;
	rw->rw_owner = shim_this_cpu;
	rw->rw_enters++;
}

void
shim_rw_exit(krwlock_t *rw)
{
	if (!rw->rw_locked)
		lock_panic("rw_exit: lock not held");
	if (rw->rw_owner != shim_this_cpu)
		lock_panic("rw_exit: held by another cpu");
	rw->rw_locked = 0;
}

/* pmap_extract(pmap_kernel(), kva, &pa): the pool's pages are mapped. */
bool
pmap_extract(struct pmap *pm, vaddr_t va, paddr_t *pap)
{
	uintptr_t base = (uintptr_t)world.arena.base;
	uintptr_t v = (uintptr_t)va;

	if (pm != pmap_kernel() || v < base
	    || v - base >= (uintptr_t)(world.arena.npages << PGSHIFT))
		return false;
	if (pap != NULL)
		*pap = world.arena.phys_base + (paddr_t)(v - base);
	return true;
}

struct vm_map *kernel_map;

/*
 * uvm_km_alloc(kernel_map, PAGE_SIZE, PAGE_SIZE, UVM_KMF_WIRED...): one
 * pool page, mapped; zeroed only if asked (UVM_KMF_ZERO).  Without
 * UVM_KMF_CANFAIL NetBSD waits for memory (uvm_wait("km_alloc")) and
 * retries.  Only rev 1.31 built with SHIM_NO_MAP_PTEPAGE calls it.
 */
vaddr_t
uvm_km_alloc(struct vm_map *map, vsize_t size, vsize_t align, uvm_flag_t flags)
{
	struct vm_page *pg;

	(void)map;
	if (size != PAGE_SIZE || (align != 0 && align != PAGE_SIZE))
		panic("uvm_km_alloc: shim serves single pages only "
		    "(size %#lx align %#lx)", (unsigned long)size,
		    (unsigned long)align);
	for (;;) {
		pg = pmap_md_alloc_poolpage(
		    (flags & UVM_KMF_ZERO) ? UVM_PGA_ZERO : 0);
		if (pg != NULL)
			break;
		if (flags & UVM_KMF_CANFAIL)
			return 0;
		uvm_wait("km_alloc");
	}
	return pmap_md_map_poolpage(VM_PAGE_TO_PHYS(pg));
}

void
uvm_km_free(struct vm_map *map, vaddr_t va, vsize_t size, uvm_flag_t flags)
{
	(void)map;
	(void)flags;
	for (vsize_t off = 0; off < size; off += PAGE_SIZE)
		uvm_pagefree(PHYS_TO_VM_PAGE(pmap_md_unmap_poolpage(va + off)));
}

/* pmap_create's part: a pmap starts with empty page lists, its own lock. */
static void
pmap_fresh_lists(struct pmap *pm)
{
	pm->pm_uobject = (struct uvm_object){ .vmobjlock = &pm->pm_obj_lock };
	pm->pm_obj_lock = (krwlock_t){ 0 };
	TAILQ_INIT(&pm->pm_ppg_list);
	TAILQ_INIT(&pm->pm_segtab_list);
}

/* The pte_callback_t handed to the file; the Rust hook decides what it does. */
static bool
shim_pte_callback(struct pmap *pm, vaddr_t sva, vaddr_t eva, pt_entry_t *pte,
    uintptr_t flags)
{
	sched_point(SEGTAB_SHIM_CALL_CALLBACK);
	world.hooks.callback(world.hooks.ctx, pm->pm_index, sva, eva, pte,
	    flags);
	return true;
}

/* ------------------------------------------------------- harness entries */

static const struct segtab_shim_config config = {
	.name = SHIM_CONFIG_NAME,
	.pgshift = PGSHIFT,
	.segshift = SEGSHIFT,
#ifdef _LP64
	.xsegshift = XSEGSHIFT,
	.lp64 = 1,
#endif
	.segtabsize = PMAP_SEGTABSIZE,
	.nptepg = NPTEPG,
	.pte_bytes = sizeof(pt_entry_t),
	.vaddr_bytes = sizeof(vaddr_t),
	.segtab_bytes = sizeof(pmap_segtab_t),
#ifdef DEBUG
	.debug = 1,
#endif
#ifdef DIAGNOSTIC
	.diagnostic = 1,
#endif
#ifdef MULTIPROCESSOR
	.multiprocessor = 1,
#endif
#ifdef PMAP_PTP_CACHE
	.ptp_cache = 1,
#endif
	.invalid_segtab = (uint64_t)(uintptr_t)PMAP_INVALID_SEGTAB_ADDRESS,
	.source = SEGTAB_C_FILE,
	.caps = 0
#ifdef SHIM_REV_PTP_CACHE
	    | SEGTAB_SHIM_CAP_PTP_CACHE
#endif
#ifdef DEBUG
	    | SEGTAB_SHIM_CAP_COUNTERS
#endif
#ifdef SHIM_REV_SEGALLOC
	    | SEGTAB_SHIM_CAP_PAGE_LISTS
#else
	    | SEGTAB_SHIM_CAP_CARVING | SEGTAB_SHIM_CAP_UNMAP_POOLPAGE
#endif
	    ,
};

/* The file's $NetBSD$ id (sys/cdefs.h keeps it), or NULL. */
static const char *
api_rcsid(void)
{
	return shim_rcsid;
}

static void
bind(uint32_t l, uint32_t pm, uint32_t ci)
{
	world.lwps[l].l_cpu = &world.cpus[ci];
	world.vmspaces[l].vm_map.pmap = &world.pmaps[pm];
}

static void
reset(const struct segtab_shim_hooks *hooks,
    const struct segtab_shim_arena *arena)
{
	world.hooks = *hooks;
	world.arena = *arena;
	for (uint32_t i = 0; i < SEGTAB_SHIM_NCPUS; i++)
		world.cpu_lwp[i] = i % SEGTAB_SHIM_NLWPS;
	shim_this_cpu = 0;
	shim_scheduled = 0;
	world.cas_race = 0;
	world.dead = 0;
	world.panic = (struct segtab_shim_panic){ 0 };
	for (uint32_t i = 0; i < SEGTAB_SHIM_NPMAPS; i++) {
		world.pmaps[i] = (struct pmap){ .pm_index = i };
		pmap_fresh_lists(&world.pmaps[i]);
	}
	for (uint32_t i = 0; i < SEGTAB_SHIM_NCPUS; i++) {
		world.cpus[i] = (struct cpu_info){ .ci_index = i };
		world.cpus[i].ci_pmap_user_segtab = PMAP_INVALID_SEGTAB_ADDRESS;
	}
	for (uint32_t i = 0; i < SEGTAB_SHIM_NLWPS; i++) {
		world.lwps[i].l_index = i;
		world.lwps[i].l_proc = &world.procs[i];
		world.procs[i].p_vmspace = &world.vmspaces[i];
		bind(i, i, i % SEGTAB_SHIM_BOOT_CPUS);
	}
	pmap_segtab_info = (struct pmap_segtab_info){ 0 };
#ifdef SHIM_REV_PTP_CACHE
	LIST_INIT(&pmap_segtab_info.ptp_pgflist);
#endif
	pmap_segtab_lock = (kmutex_t){ 0 };
}

/* Each entry packs its arguments, runs the call under the guard, and says
 * how it ended. */
struct call {
	uint32_t pmap;
	uint64_t va, eva, flags;
	int32_t iflags;
	bool with_callback;
	pt_entry_t *pte;
};

static int32_t
guarded(segtab_shim_body_t body, struct call *c)
{
	if (world.dead)
		return SEGTAB_SHIM_DEAD;
	if (c->pmap >= SEGTAB_SHIM_NPMAPS)
		return SEGTAB_SHIM_BADARG;
	switch (segtab_shim_guarded(my_guard(), body, c)) {
	case 0:
		return SEGTAB_SHIM_OK;
	case SEGTAB_SHIM_UNWIND_ABANDON:
		return SEGTAB_SHIM_ABANDONED;
	default:
		return world.panic.kind == SEGTAB_SHIM_PANIC_WAIT
		    ? SEGTAB_SHIM_WAIT_FOREVER : SEGTAB_SHIM_PANICKED;
	}
}

static void
body_init(void *arg)
{
	struct call *c = arg;
	struct pmap *pm = &world.pmaps[c->pmap];

	pm->pm_segtab = NULL;
	pm->pm_minaddr = (vaddr_t)c->va;
	pmap_fresh_lists(pm);
	pmap_segtab_init(pm);
}

static int32_t
api_segtab_init(uint32_t pmap, uint64_t minaddr)
{
	struct call c = { .pmap = pmap, .va = minaddr };
	return guarded(body_init, &c);
}

static void
body_destroy(void *arg)
{
	struct call *c = arg;

	pmap_segtab_destroy(&world.pmaps[c->pmap],
	    c->with_callback ? shim_pte_callback : NULL, (uintptr_t)c->flags);
}

static int32_t
api_segtab_destroy(uint32_t pmap, bool with_callback, uint64_t flags)
{
	struct call c = { .pmap = pmap, .with_callback = with_callback,
	    .flags = flags };
	return guarded(body_destroy, &c);
}

static void
body_lookup(void *arg)
{
	struct call *c = arg;

	c->pte = pmap_pte_lookup(&world.pmaps[c->pmap], (vaddr_t)c->va);
}

static int32_t
api_pte_lookup(uint32_t pmap, uint64_t va, void **out)
{
	struct call c = { .pmap = pmap, .va = va };
	int32_t r = guarded(body_lookup, &c);
	*out = c.pte;
	return r;
}

static void
body_reserve(void *arg)
{
	struct call *c = arg;

	c->pte = pmap_pte_reserve(&world.pmaps[c->pmap], (vaddr_t)c->va,
	    c->iflags);
}

static int32_t
api_pte_reserve(uint32_t pmap, uint64_t va, int32_t flags, void **out)
{
	struct call c = { .pmap = pmap, .va = va, .iflags = flags };
	int32_t r = guarded(body_reserve, &c);
	*out = c.pte;
	return r;
}

static void
body_process(void *arg)
{
	struct call *c = arg;

	pmap_pte_process(&world.pmaps[c->pmap], (vaddr_t)c->va,
	    (vaddr_t)c->eva, shim_pte_callback, (uintptr_t)c->flags);
}

static int32_t
api_pte_process(uint32_t pmap, uint64_t sva, uint64_t eva, uint64_t flags)
{
	struct call c = { .pmap = pmap, .va = sva, .eva = eva, .flags = flags };
	return guarded(body_process, &c);
}

static void
body_activate(void *arg)
{
	struct call *c = arg;

	pmap_segtab_activate(&world.pmaps[c->pmap],
	    &world.lwps[c->iflags]);
}

static int32_t
api_segtab_activate(uint32_t pmap, uint32_t lwp)
{
	if (lwp >= SEGTAB_SHIM_NLWPS)
		return SEGTAB_SHIM_BADARG;
	struct call c = { .pmap = pmap, .iflags = (int32_t)lwp };
	return guarded(body_activate, &c);
}

static void
body_deactivate(void *arg)
{
	struct call *c = arg;

	pmap_segtab_deactivate(&world.pmaps[c->pmap]);
}

static int32_t
api_segtab_deactivate(uint32_t pmap)
{
	struct call c = { .pmap = pmap };
	return guarded(body_deactivate, &c);
}

static int32_t
api_set_cpu_lwp(uint32_t cpu, uint32_t lwp)
{
	if (cpu >= SEGTAB_SHIM_NCPUS || lwp >= SEGTAB_SHIM_NLWPS)
		return SEGTAB_SHIM_BADARG;
	world.cpu_lwp[cpu] = lwp;
	return SEGTAB_SHIM_OK;
}

static int32_t
api_set_curlwp(uint32_t lwp)
{
	return api_set_cpu_lwp(0, lwp);
}

static int32_t
api_set_this_cpu(uint32_t cpu)
{
	if (cpu >= SEGTAB_SHIM_NCPUS)
		return SEGTAB_SHIM_BADARG;
	shim_this_cpu = cpu;
	shim_scheduled = 1;
	return SEGTAB_SHIM_OK;
}

static int32_t
api_bind_lwp(uint32_t lwp, uint32_t pmap, uint32_t cpu)
{
	if (lwp >= SEGTAB_SHIM_NLWPS || pmap >= SEGTAB_SHIM_NPMAPS
	    || cpu >= SEGTAB_SHIM_NCPUS)
		return SEGTAB_SHIM_BADARG;
	bind(lwp, pmap, cpu);
	return SEGTAB_SHIM_OK;
}

static void
api_arm_cas_race(uint32_t n)
{
	world.cas_race = n;
}

static bool
api_direct_mapped_p(uint64_t va)
{
	return pmap_md_direct_mapped_vaddr_p((vaddr_t)va);
}

static void
api_summary(struct segtab_shim_state *s)
{
	/* Each revision's own layout (see SHIM_REV_* above). */
#ifdef SHIM_REV_SEGALLOC
	s->free_segtab = pmap_segtab_info.segalloc.free_segtab;
#else
	s->free_segtab = pmap_segtab_info.free_segtab;
#endif
#ifdef SHIM_REV_PTP_CACHE
	s->ptp_first = LIST_FIRST(&pmap_segtab_info.ptp_pgflist);
#else
	s->ptp_first = NULL;
#endif
#if defined(DEBUG) && defined(SHIM_REV_SEGALLOC)
	s->nget = pmap_segtab_info.segalloc.nget;
	s->nput = pmap_segtab_info.segalloc.nput;
	s->npage = pmap_segtab_info.segalloc.npage;
#elif defined(DEBUG)
	s->nget = pmap_segtab_info.nget_segtab;
	s->nput = pmap_segtab_info.nput_segtab;
	s->npage = pmap_segtab_info.npage_segtab;
#else
	s->nget = s->nput = s->npage = 0;
#endif
	s->lock_held = pmap_segtab_lock.mtx_locked;
	s->lock_enters = pmap_segtab_lock.mtx_enters;
	s->dead = world.dead;
	for (uint32_t i = 0; i < SEGTAB_SHIM_NPMAPS; i++)
		s->pm_segtab[i] = world.pmaps[i].pm_segtab;
}

static void
api_snapshot(struct segtab_shim_state *s)
{
	api_summary(s);
	s->cur_lwp = world.cpu_lwp[0];
	for (uint32_t i = 0; i < SEGTAB_SHIM_NPMAPS; i++) {
		s->pm_minaddr[i] = world.pmaps[i].pm_minaddr;
		s->pm_addr[i] = &world.pmaps[i];
		/* 2022 only (SEGTAB_SHIM_CAP_PAGE_LISTS); 0 otherwise */
		s->pm_npages[i] = world.pmaps[i].pm_uobject.uo_npages;
	}
	for (uint32_t i = 0; i < SEGTAB_SHIM_NCPUS; i++) {
		s->ci_segtab[i] = world.cpus[i].ci_pmap_user_segtab;
#ifdef _LP64
		s->ci_seg0tab[i] = world.cpus[i].ci_pmap_user_seg0tab;
#else
		s->ci_seg0tab[i] = NULL;
#endif
	}
	for (uint32_t i = 0; i < SEGTAB_SHIM_NLWPS; i++) {
		s->lwp_cpu[i] = world.lwps[i].l_cpu->ci_index;
		s->lwp_pmap[i] = world.vmspaces[i].vm_map.pmap->pm_index;
	}
}

static void
api_panic_info(struct segtab_shim_panic *out)
{
	*out = world.panic;
}

static void *
api_pm_segtab(uint32_t pmap)
{
	return pmap < SEGTAB_SHIM_NPMAPS ? world.pmaps[pmap].pm_segtab : NULL;
}

static uint32_t
api_dead(void)
{
	return world.dead;
}

/*
 * The pages on one of a pmap's lists, in list order (2022 rework:
 * pm_segtab_list or pm_ppg_list); how many there are (at most max are
 * written), or -1 if the revision has no such lists.
 */
static int32_t
api_pmap_pages(uint32_t pmap, int32_t which, struct vm_page **out,
    uint32_t max)
{
	if (pmap >= SEGTAB_SHIM_NPMAPS)
		return -1;
#ifdef SHIM_REV_SEGALLOC
	struct pglist *list = which == SEGTAB_SHIM_LIST_SEGTAB
	    ? &world.pmaps[pmap].pm_segtab_list
	    : &world.pmaps[pmap].pm_ppg_list;
	struct vm_page *pg;
	int32_t n = 0;

	TAILQ_FOREACH(pg, list, pageq.queue) {
		if ((uint32_t)n < max)
			out[n] = pg;
		if (++n > (int32_t)world.arena.npages)
			break;		/* a cycle: say so by the count */
	}
	return n;
#else
	(void)which;
	(void)out;
	(void)max;
	return -1;
#endif
}

const struct segtab_shim_ops SHIM_SYM(ops) = {
	.config = &config,
	.reset = reset,
	.segtab_init = api_segtab_init,
	.segtab_destroy = api_segtab_destroy,
	.pte_lookup = api_pte_lookup,
	.pte_reserve = api_pte_reserve,
	.pte_process = api_pte_process,
	.segtab_activate = api_segtab_activate,
	.segtab_deactivate = api_segtab_deactivate,
	.set_curlwp = api_set_curlwp,
	.set_cpu_lwp = api_set_cpu_lwp,
	.set_this_cpu = api_set_this_cpu,
	.bind_lwp = api_bind_lwp,
	.arm_cas_race = api_arm_cas_race,
	.direct_mapped_p = api_direct_mapped_p,
	.snapshot = api_snapshot,
	.pm_segtab = api_pm_segtab,
	.dead = api_dead,
	.panic_info = api_panic_info,
	.rcsid = api_rcsid,
	.pmap_pages = api_pmap_pages,
	.summary = api_summary,
};
