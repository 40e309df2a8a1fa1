//! Model checking the port's concurrency with loom.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" cargo test -p rust-segtab --release --test loom --target-dir target/loom
//! ```
//!
//! Under `--cfg loom` the port's slots are loom atomics and the state of
//! `pmap_segtab_info` a loom cell (see `rust_segtab::sync`); this file
//! gives it a loom environment (spin lock, allocator, per-page "zeroed"
//! markers, PTP-cache links) and lets two or three CPUs reserve, look up,
//! create and destroy pmaps in every interleaving loom explores. After the
//! CPUs join, every page is accounted for. `broken_cas_is_caught` shows
//! that the checker notices a CAS that publishes with `Relaxed`.
#![cfg(loom)]

use std::alloc::{alloc, dealloc, Layout};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::mem::size_of;
use std::panic::{catch_unwind, AssertUnwindSafe};

use loom::cell::UnsafeCell;
use loom::model::Builder;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Mutex};

use rust_segtab::{
    define_machine, CpuInfo, Env, Machine, Ordering, PanicSite, PhysAddr, Pmap, PmapSegtab,
    SegtabLayout, Slot, SpinHeld, Word,
};

// ---------------------------------------------------------------------
// Machines
// ---------------------------------------------------------------------
//
// Small trees so the model stays small: PMAP_SEGTABSIZE 4 and tiny pages.
// Under loom a slot is a loom object of pointer size (an index into the
// model's object store), so `size_of::<Segtab>()` is what it is on the
// host and the loom environment checks `NBPG >= size_of::<Segtab>()`
// itself (the port's layout CTASSERTs are `cfg(not(loom))`).
//
// DEBUG is off in all of them: DEBUG's `pmap_check_ptes` reads a PTE
// page as `NPTEPG` raw integers, but here every page holds `Segtab`s of
// loom objects (a page does not know whether it will be a segtab or a PTE
// page), so those reads would look at loom's object indices, not zeros.
// Nothing else in the port reads or writes PTE memory, and these tests
// never write PTEs.

define_machine! {
    /// LP64, two levels, one segtab per 32-byte page.
    pub struct LoomLp64 {
        name: "loom-lp64", lp64: true, pgshift: 5, segshift: 8,
        xsegshift: 10, segtabsize: 4, pte: u32, vaddr: u64,
        debug: false, diagnostic: true, multiprocessor: true, ptp_cache: false,
    }
}

define_machine! {
    /// LoomLp64 with PMAP_PTP_CACHE.
    pub struct LoomLp64Ptp {
        name: "loom-lp64-ptp", lp64: true, pgshift: 5, segshift: 8,
        xsegshift: 10, segtabsize: 4, pte: u32, vaddr: u64,
        debug: false, diagnostic: true, multiprocessor: true, ptp_cache: true,
    }
}

define_machine! {
    /// 32-bit, one level, two segtabs carved from each 64-byte page.
    pub struct Loom32 {
        name: "loom-32", lp64: false, pgshift: 6, segshift: 10,
        xsegshift: 0, segtabsize: 4, pte: u32, vaddr: u32,
        debug: false, diagnostic: true, multiprocessor: true, ptp_cache: false,
    }
}

define_machine! {
    /// Loom32 with PMAP_PTP_CACHE.
    pub struct Loom32Ptp {
        name: "loom-32-ptp", lp64: false, pgshift: 6, segshift: 10,
        xsegshift: 0, segtabsize: 4, pte: u32, vaddr: u32,
        debug: false, diagnostic: true, multiprocessor: true, ptp_cache: true,
    }
}

/// A machine whose segtabs the loom environment can build in place.
trait LoomMachine: Machine<Segtab: Default> {}
impl<M: Machine<Segtab: Default>> LoomMachine for M {}

/// `va = x * NBXSEG + s * NBSEG + p * NBPG`.
fn va<M: LoomMachine>(x: u64, s: u64, p: u64) -> M::Vaddr {
    M::Vaddr::from_u64(x * M::NBXSEG + s * M::NBSEG + p * M::NBPG as u64)
}

// ---------------------------------------------------------------------
// The loom environment
// ---------------------------------------------------------------------

const NPAGES: usize = 12;
const NCPU: usize = 3;

/// Page marker values.
const NEVER: u8 = 0;
const ZEROED: u8 = 1;
const FREED: u8 = 2;

/// An NBPG-aligned allocation of NBPG bytes holding `segtabs_per_page()`
/// `Segtab`s while the page is allocated.
struct Frame(*mut u8);

struct AllocState {
    in_use: [bool; NPAGES],
    /// Freed pages, reused LIFO.
    free_stack: Vec<usize>,
    /// Pages never allocated yet start here.
    next_fresh: usize,
}

/// The environment. With `BROKEN`, `atomic_cas_ptr` publishes with
/// `Relaxed` instead of [`Slot::cas_publish`] (see `broken_cas_is_caught`).
struct LoomEnv<M: LoomMachine, const BROKEN: bool> {
    frames: Vec<Frame>,
    alloc: Mutex<AllocState>,
    /// Written (`with_mut`) when the allocator constructs ("zero-fills")
    /// the page and when it is freed; read (`with`) by a CPU that obtains
    /// the page as a PTE page. Loom reports a causality violation if the
    /// read is not ordered after the write.
    zeroed: Vec<UnsafeCell<u8>>,
    /// `LIST_NEXT` of the PTP cache; touched only under the spin lock,
    /// which loom checks.
    links: Vec<UnsafeCell<Option<usize>>>,
    /// `pmap_segtab_lock`.
    lock: AtomicBool,
    /// Never stored: loaded by `tick`.
    clock: AtomicUsize,
    cpus: Vec<CpuInfo<M>>,
    _m: PhantomData<fn() -> M>,
}

// SAFETY: the raw frames are owned by the env; a frame's memory is touched
// by the allocator only while the page is free (or being handed out) and
// otherwise by the port through its atomic slots; the rest is loom
// synchronisation objects.
unsafe impl<M: LoomMachine, const B: bool> Sync for LoomEnv<M, B> {}
// SAFETY: as above.
unsafe impl<M: LoomMachine, const B: bool> Send for LoomEnv<M, B> {}

loom::thread_local! {
    /// `curcpu()` / `curlwp` of the calling loom thread.
    static CPU: std::cell::Cell<usize> = std::cell::Cell::new(0);
}

fn set_cpu(n: usize) {
    CPU.with(|c| c.set(n));
}

fn segtabs_per_page<M: LoomMachine>() -> usize {
    M::NBPG / size_of::<M::Segtab>()
}

impl<M: LoomMachine, const B: bool> LoomEnv<M, B> {
    fn new() -> Self {
        let k = segtabs_per_page::<M>();
        assert!(k >= 1, "NBPG < sizeof(pmap_segtab_t) under loom");
        assert!(M::NBPG % std::mem::align_of::<M::Segtab>() == 0);
        LoomEnv {
            frames: (0..NPAGES)
                .map(|_| {
                    // SAFETY: non-zero size.
                    let p = unsafe { alloc(Self::layout()) };
                    assert!(!p.is_null());
                    Frame(p)
                })
                .collect(),
            alloc: Mutex::new(AllocState {
                in_use: [false; NPAGES],
                free_stack: Vec::new(),
                next_fresh: 0,
            }),
            zeroed: (0..NPAGES).map(|_| UnsafeCell::new(NEVER)).collect(),
            links: (0..NPAGES).map(|_| UnsafeCell::new(None)).collect(),
            lock: AtomicBool::new(false),
            clock: AtomicUsize::new(0),
            cpus: (0..NCPU).map(|_| CpuInfo::new()).collect(),
            _m: PhantomData,
        }
    }

    fn layout() -> Layout {
        Layout::from_size_align(M::NBPG, M::NBPG).unwrap()
    }

    fn segtab_at(&self, pg: usize, k: usize) -> *mut M::Segtab {
        self.frames[pg]
            .0
            .wrapping_add(k * size_of::<M::Segtab>())
            .cast()
    }

    /// Advances the calling thread's loom clock. Loom ticks a thread's
    /// vector clock when it *starts* a synchronising operation, so whatever
    /// a thread does after a release (an unlock, a Release CAS) and before
    /// its next loom operation carries the release's timestamp: another
    /// thread that acquires that release would be taken to see it. A
    /// relaxed load of an atomic no one stores is a loom operation that
    /// synchronises with nothing; calling it right after each release the
    /// environment performs keeps the port's and the allocator's later
    /// accesses out of that release. (Without it, zero-filling a page
    /// after the allocator's unlock was seen as ordered before every later
    /// allocation on another CPU, and a port that read a published slot
    /// `Relaxed` in `pmap_pte_reserve` went unnoticed.)
    fn tick(&self) {
        self.clock.load(Ordering::Relaxed);
    }

    /// Builds the page's segtabs in place: the loom stand-in for zero-fill.
    fn construct(&self, pg: usize) {
        for k in 0..segtabs_per_page::<M>() {
            // SAFETY: the frame is NBPG bytes, aligned, and k segtabs fit;
            // the page is this CPU's (just taken off the free pool).
            unsafe { self.segtab_at(pg, k).write(M::Segtab::default()) };
        }
    }

    fn destruct(&self, pg: usize) {
        for k in 0..segtabs_per_page::<M>() {
            // SAFETY: constructed by `construct`, not yet dropped.
            unsafe { std::ptr::drop_in_place(self.segtab_at(pg, k)) };
        }
    }

    /// The page whose frame contains `p`.
    fn page_containing(&self, p: *const u8) -> usize {
        let a = p as usize;
        self.frames
            .iter()
            .position(|f| (f.0 as usize) <= a && a < f.0 as usize + M::NBPG)
            .expect("pointer outside the pool")
    }

    /// A CPU obtained `pte` (a PTE pointer) from the port: its page must
    /// have been "zero-filled" before, as seen from this CPU.
    fn check_published(&self, pte: *const u8) {
        let pg = self.page_containing(pte);
        // SAFETY: loom checks that this read is ordered after the writes.
        let m = self.zeroed[pg].with(|p| unsafe { *p }); // MARKER_READ
        assert_eq!(m, ZEROED, "PTE page {pg} obtained but not zero-filled");
    }

    fn in_use_pages(&self) -> BTreeSet<usize> {
        let a = self.alloc.lock().unwrap();
        (0..NPAGES).filter(|&i| a.in_use[i]).collect()
    }

    /// `LIST_NEXT` read by the test (with exclusive access to the world).
    fn ptp_link(&self, pg: usize) -> Option<usize> {
        // SAFETY: loom checks the access.
        self.links[pg].with(|p| unsafe { *p })
    }

    /// Where a segtab pointer lies: (page, index in the page).
    fn locate_segtab(&self, stp: *mut M::Segtab) -> (usize, usize) {
        let pg = self.page_containing(stp.cast());
        let off = stp as usize - self.frames[pg].0 as usize;
        assert_eq!(off % size_of::<M::Segtab>(), 0, "misaligned segtab");
        let k = off / size_of::<M::Segtab>();
        assert!(k < segtabs_per_page::<M>());
        (pg, k)
    }
}

impl<M: LoomMachine, const B: bool> Drop for LoomEnv<M, B> {
    fn drop(&mut self) {
        let in_use = self.alloc.lock().unwrap().in_use;
        for (pg, f) in self.frames.iter().enumerate() {
            if in_use[pg] {
                for k in 0..segtabs_per_page::<M>() {
                    let stp: *mut M::Segtab = f.0.wrapping_add(k * size_of::<M::Segtab>()).cast();
                    // SAFETY: constructed at allocation, not yet dropped.
                    unsafe { std::ptr::drop_in_place(stp) };
                }
            }
            // SAFETY: allocated in `new` with this layout.
            unsafe { dealloc(f.0, Self::layout()) };
        }
    }
}

impl<M: LoomMachine, const B: bool> fmt::Debug for LoomEnv<M, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoomEnv")
    }
}

const PA_BASE: u64 = 0x10_0000;

// SAFETY: frames are NBPG-aligned, NBPG bytes, valid while allocated and
// handed out once until freed; `alloc_poolpage` constructs empty segtabs
// in the page (the loom form of zero-fill) before returning; page/phys
// and map/unmap are inverse; the spin lock is a loom test-and-set lock
// with Acquire/Release; `atomic_cas_ptr` is `cas_publish` (unless BROKEN,
// which breaks the contract on purpose); cpu_info(curcpu()) is the
// calling CPU's.
unsafe impl<M: LoomMachine, const BROKEN: bool> Env<M> for LoomEnv<M, BROKEN> {
    type Page = usize;
    type Lwp = usize;
    type Cpu = usize;

    fn alloc_poolpage(&self, _flags: u32) -> Option<usize> {
        let pg = {
            let mut a = self.alloc.lock().unwrap();
            let pg = match a.free_stack.pop() {
                Some(pg) => pg,
                None if a.next_fresh < NPAGES => {
                    a.next_fresh += 1;
                    a.next_fresh - 1
                }
                None => return None,
            };
            a.in_use[pg] = true;
            pg
        };
        // Zero-fill outside the allocator's lock, as a kernel zeroes a
        // page it owns: only the CAS (or the segtab lock) may order this
        // for other CPUs. The tick puts the zero-fill after the unlock in
        // loom's clocks (see `tick`).
        self.tick();
        self.construct(pg);
        // SAFETY: loom checks the access.
        self.zeroed[pg].with_mut(|p| unsafe { *p = ZEROED }); // MARKER_WRITE
        Some(pg)
    }

    fn page_to_phys(&self, pg: usize) -> PhysAddr {
        PhysAddr::new(PA_BASE + (pg * M::NBPG) as u64)
    }

    fn phys_to_page(&self, pa: PhysAddr) -> usize {
        (pa.as_u64() - PA_BASE) as usize / M::NBPG
    }

    fn map_poolpage(&self, pa: PhysAddr) -> *mut u8 {
        self.frames[self.phys_to_page(pa)].0
    }

    fn unmap_poolpage(&self, kva: *mut u8) -> PhysAddr {
        let pg = self.page_containing(kva);
        assert_eq!(self.frames[pg].0, kva, "unmap of a KVA inside a page");
        self.page_to_phys(pg)
    }

    fn page_free(&self, pg: usize) {
        // SAFETY: loom checks the access.
        self.zeroed[pg].with_mut(|p| unsafe { *p = FREED });
        self.destruct(pg);
        let mut a = self.alloc.lock().unwrap();
        assert!(a.in_use[pg], "double free of page {pg}");
        a.in_use[pg] = false;
        a.free_stack.push(pg);
    }

    fn uvm_wait(&self, wmsg: &'static str) {
        panic!("loom env out of pages ({wmsg})")
    }

    fn panic(&self, site: PanicSite, msg: fmt::Arguments<'_>) -> ! {
        panic!("{site:?}: {msg}")
    }

    fn ptp_next(&self, _: &SpinHeld, pg: usize) -> Option<usize> {
        // SAFETY: loom checks that the spin lock orders the accesses.
        self.links[pg].with(|p| unsafe { *p })
    }

    fn set_ptp_next(&self, _: &SpinHeld, pg: usize, next: Option<usize>) {
        // SAFETY: as above.
        self.links[pg].with_mut(|p| unsafe { *p = next })
    }

    fn mutex_spin_enter(&self) {
        while self
            .lock
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            loom::thread::yield_now();
        }
    }

    unsafe fn mutex_spin_exit(&self) {
        self.lock.store(false, Ordering::Release);
        self.tick();
    }

    fn atomic_cas_ptr(&self, slot: &Slot, old: *mut c_void, new: *mut c_void) -> *mut c_void {
        if BROKEN {
            // SAFETY: `Slot` is `#[repr(transparent)]` over the atomic
            // pointer, which under `--cfg loom` is loom's `AtomicPtr`.
            let a =
                unsafe { &*(slot as *const Slot).cast::<loom::sync::atomic::AtomicPtr<c_void>>() };
            match a.compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(p) | Err(p) => p,
            }
        } else {
            let prev = slot.cas_publish(old, new);
            self.tick();
            prev
        }
    }

    fn curlwp(&self) -> usize {
        CPU.with(|c| c.get())
    }

    fn curcpu(&self) -> usize {
        CPU.with(|c| c.get())
    }

    fn lwp_cpu(&self, l: usize) -> usize {
        l
    }

    fn lwp_pmap(&self, _l: usize) -> *const Pmap<M> {
        std::ptr::null()
    }

    fn cpu_info(&self, ci: usize) -> &CpuInfo<M> {
        &self.cpus[ci]
    }

    fn pmap_kernel(&self) -> *const Pmap<M> {
        std::ptr::null()
    }

    fn direct_mapped_vaddr_p(&self, _va: M::Vaddr) -> bool {
        false
    }

    fn xtab_activate(&self, _pm: *const Pmap<M>, _l: usize) {}

    fn xtab_deactivate(&self, _pm: *const Pmap<M>) {}

    fn invalid_segtab_address(&self) -> *mut M::Segtab {
        std::ptr::null_mut()
    }
}

type Port<M, const B: bool> = PmapSegtab<M, LoomEnv<M, B>>;

/// The port and one pmap shared by the CPUs.
struct World<M: LoomMachine, const B: bool> {
    port: Port<M, B>,
    pmap: Pmap<M>,
}

fn world<M: LoomMachine, const B: bool>() -> Arc<World<M, B>> {
    let port = PmapSegtab::new(LoomEnv::<M, B>::new());
    let mut pmap = Pmap::new(M::Vaddr::ZERO);
    port.segtab_init(&mut pmap);
    Arc::new(World { port, pmap })
}

fn slot<'a, M: LoomMachine>(stp: *mut M::Segtab, i: usize) -> &'a Slot {
    assert!(!stp.is_null());
    // SAFETY: a live segtab of the world under check.
    <M::Segtab as SegtabLayout>::slot_of(unsafe { &*stp }, i)
}

// ---------------------------------------------------------------------
// Invariants, checked after the CPUs joined
// ---------------------------------------------------------------------

/// Every allocated page is exactly one of: a page of segtabs (each of its
/// segtabs reachable from a live pmap or on the free list, exactly once),
/// a PTE page reachable from exactly one slot, or a page on the PTP cache.
fn check_world<M: LoomMachine, const B: bool>(port: &mut Port<M, B>, live: &[&Pmap<M>]) {
    let k = segtabs_per_page::<M>();
    let n = M::PMAP_SEGTABSIZE;
    let free: Vec<*mut M::Segtab> = port.free_list(NPAGES * k + 1).collect();
    assert!(free.len() <= NPAGES * k, "free list loops");
    let ptp_first = port.info().ptp_first;
    let env = port.env();

    let mut segtabs: BTreeMap<(usize, usize), &'static str> = BTreeMap::new();
    let mut pte_pages = BTreeSet::new();
    let mut add_segtab = |stp: *mut M::Segtab, what: &'static str| {
        let at = env.locate_segtab(stp);
        if let Some(before) = segtabs.insert(at, what) {
            panic!("segtab {at:?} is both {before} and {what}");
        }
    };
    let mut add_pte_page = |pte: *mut M::Pte| {
        let pg = env.page_containing(pte.cast());
        assert_eq!(pte.cast::<u8>(), env.frames[pg].0, "PTE page misaligned");
        assert!(pte_pages.insert(pg), "PTE page {pg} in two slots");
    };
    for pm in live {
        let top = pm.pm_segtab();
        add_segtab(top, "a pmap's top");
        for i in 0..n {
            let p: *mut c_void = slot::<M>(top, i).load(Ordering::Acquire);
            if p.is_null() {
                continue;
            }
            if M::LP64 {
                let lower = p.cast::<M::Segtab>();
                add_segtab(lower, "a lower segtab");
                for j in 0..n {
                    let pte: *mut M::Pte = slot::<M>(lower, j).load(Ordering::Acquire);
                    if !pte.is_null() {
                        add_pte_page(pte);
                    }
                }
            } else {
                add_pte_page(p.cast());
            }
        }
    }
    for &stp in &free {
        add_segtab(stp, "on the free list");
        for i in 1..n {
            assert!(
                slot::<M>(stp, i)
                    .load::<c_void>(Ordering::Relaxed)
                    .is_null(),
                "a free segtab still points somewhere"
            );
        }
    }
    let seg_pages: BTreeSet<usize> = segtabs.keys().map(|&(pg, _)| pg).collect();
    for &pg in &seg_pages {
        for j in 0..k {
            assert!(segtabs.contains_key(&(pg, j)), "segtab ({pg}, {j}) lost");
        }
    }
    let mut cached = BTreeSet::new();
    let mut c = ptp_first;
    while let Some(pg) = c {
        assert!(cached.insert(pg), "PTP cache loops");
        c = env.ptp_link(pg);
    }
    assert!(M::PTP_CACHE || cached.is_empty());
    assert!(seg_pages.is_disjoint(&pte_pages));
    assert!(seg_pages.is_disjoint(&cached));
    assert!(pte_pages.is_disjoint(&cached));
    let accounted: BTreeSet<usize> = seg_pages
        .iter()
        .chain(&pte_pages)
        .chain(&cached)
        .copied()
        .collect();
    assert_eq!(env.in_use_pages(), accounted, "pages leaked or unaccounted");
    for &pg in pte_pages.iter().chain(&cached) {
        // SAFETY: loom checks the access.
        let m = env.zeroed[pg].with(|p| unsafe { *p });
        assert_eq!(m, ZEROED);
    }
}

/// A model with the given preemption bound (`LOOM_MAX_PREEMPTIONS`, when
/// set, overrides it).
fn builder(preemption_bound: usize) -> Builder {
    let mut b = Builder::new();
    b.preemption_bound.get_or_insert(preemption_bound);
    b
}

/// Reserves `va` in the shared pmap on CPU `cpu`; returns the PTE address.
fn reserve_on<M: LoomMachine, const B: bool>(
    w: &Arc<World<M, B>>,
    cpu: usize,
    va: M::Vaddr,
) -> loom::thread::JoinHandle<usize> {
    let w = w.clone();
    loom::thread::spawn(move || {
        set_cpu(cpu);
        let r = w.port.pte_reserve(&w.pmap, va, 0).expect("reserve");
        w.port.env().check_published(r.as_ptr().cast());
        r.as_ptr() as usize
    })
}

/// After the CPUs joined: the world is consistent, and each `(va, pte)`
/// the CPUs got is what a lookup finds now.
fn finish<M: LoomMachine, const B: bool>(mut w: Arc<World<M, B>>, got: &[(M::Vaddr, usize)]) {
    let w = Arc::get_mut(&mut w).expect("CPUs still hold the world");
    for &(va, p) in got {
        let now = w.port.pte_lookup(&w.pmap, va).expect("lookup").as_ptr() as usize;
        assert_eq!(now, p, "CPUs disagree on the PTE of {va:#x}");
    }
    check_world(&mut w.port, &[&w.pmap]);
}

// ---------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------

/// (a) Two CPUs reserve the same VA of one pmap: both get the same PTE;
/// the loser's page (and, on LP64, its lower segtab) is given back.
fn same_va<M: LoomMachine>(bound: usize) {
    builder(bound).check(|| {
        let w = world::<M, false>();
        let v = va::<M>(0, 1, 1);
        let a = reserve_on(&w, 1, v);
        let b = reserve_on(&w, 2, v);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(a, b, "two CPUs got different PTEs for one VA");
        finish(w, &[(v, a)]);
    });
}

/// (b) Two CPUs reserve different VAs: `x` selects the same lower segtab
/// (LP64) / the same PTE page (32-bit) or different ones.
fn different_vas<M: LoomMachine>(bound: usize, same_table: bool) {
    builder(bound).check(move || {
        let w = world::<M, false>();
        let v1 = va::<M>(0, 0, 1);
        let v2 = match (same_table, M::LP64) {
            (true, true) => va::<M>(0, 2, 0), // same lower segtab, another PTE page
            (true, false) => va::<M>(0, 0, 3), // same PTE page, another PTE
            (false, true) => va::<M>(1, 0, 1), // another lower segtab
            (false, false) => va::<M>(0, 2, 1), // another PTE page
        };
        let a = reserve_on(&w, 1, v1);
        let b = reserve_on(&w, 2, v2);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_ne!(a, b);
        finish(w, &[(v1, a), (v2, b)]);
    });
}

/// (c) CPU 1 creates, fills and destroys a pmap of its own (segtab alloc,
/// carving, free list, PTP cache) while CPU 2 reserves and looks up in the
/// shared pmap.
fn own_pmap_lifecycle<M: LoomMachine>(bound: usize) {
    builder(bound).check(|| {
        let w = world::<M, false>();
        let w1 = w.clone();
        let t1 = loom::thread::spawn(move || {
            set_cpu(1);
            let mut own = Pmap::<M>::new(M::Vaddr::ZERO);
            w1.port.segtab_init(&mut own);
            let r = w1.port.pte_reserve(&own, va::<M>(0, 1, 0), 0).unwrap();
            w1.port.env().check_published(r.as_ptr().cast());
            w1.port.segtab_destroy(&mut own, None, 0);
            assert!(own.pm_segtab().is_null());
        });
        let v = va::<M>(0, 2, 1);
        let w2 = w.clone();
        let t2 = loom::thread::spawn(move || {
            set_cpu(2);
            let r = w2.port.pte_reserve(&w2.pmap, v, 0).unwrap();
            w2.port.env().check_published(r.as_ptr().cast());
            let l = w2.port.pte_lookup(&w2.pmap, v).unwrap();
            assert_eq!(l, r);
            r.as_ptr() as usize
        });
        t1.join().unwrap();
        let p = t2.join().unwrap();
        finish(w, &[(v, p)]);
    });
}

/// (d) Three CPUs: two reserve the same VA while a third looks it up.
fn three_cpus<M: LoomMachine>(bound: usize) {
    builder(bound).check(|| {
        let w = world::<M, false>();
        let v = va::<M>(0, 1, 2);
        let a = reserve_on(&w, 0, v);
        let b = reserve_on(&w, 1, v);
        let w3 = w.clone();
        let c = loom::thread::spawn(move || {
            set_cpu(2);
            w3.port.pte_lookup(&w3.pmap, v).map(|r| {
                w3.port.env().check_published(r.as_ptr().cast());
                r.as_ptr() as usize
            })
        });
        let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
        assert_eq!(a, b);
        assert!(c.is_none() || c == Some(a));
        finish(w, &[(v, a)]);
    });
}

// Preemption bounds: the 32-bit trees (one level, two segtabs a page)
// to 8, the LP64 ones (a lower segtab and a PTE page to race for) to 6-7,
// the three-CPU scenario to 4. Interleavings explored at these bounds
// (loom 0.7.3): (a) 32: 500, 32-ptp: 3,556, lp64: 36,580, lp64-ptp:
// 218,982; (b) 32: 876, lp64: 20,540; (c) 32: 5,902, lp64: 56,673;
// (d) 266,727. The file takes about 50 s in --release on 2 cores; one
// more preemption multiplies the LP64 and three-CPU counts by 2-6
// (`LOOM_MAX_PREEMPTIONS` overrides every bound).

#[test]
fn a_same_va_lp64() {
    same_va::<LoomLp64>(7);
}

#[test]
fn a_same_va_lp64_ptp_cache() {
    same_va::<LoomLp64Ptp>(7);
}

#[test]
fn a_same_va_32() {
    same_va::<Loom32>(8);
}

#[test]
fn a_same_va_32_ptp_cache() {
    same_va::<Loom32Ptp>(8);
}

#[test]
fn b_different_vas_lp64() {
    different_vas::<LoomLp64>(7, true);
    different_vas::<LoomLp64Ptp>(7, false);
}

#[test]
fn b_different_vas_32() {
    different_vas::<Loom32>(8, true);
    different_vas::<Loom32Ptp>(8, false);
}

#[test]
fn c_own_pmap_lifecycle_lp64() {
    own_pmap_lifecycle::<LoomLp64Ptp>(6);
}

#[test]
fn c_own_pmap_lifecycle_32() {
    own_pmap_lifecycle::<Loom32Ptp>(8);
    own_pmap_lifecycle::<Loom32>(8);
}

#[test]
fn d_three_cpus() {
    three_cpus::<Loom32Ptp>(4);
    three_cpus::<LoomLp64>(4);
}

// ---------------------------------------------------------------------
// The checker has teeth
// ---------------------------------------------------------------------

std::thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs scenario (a) with an `atomic_cas_ptr` that publishes with
/// `Relaxed`; returns loom's panic message.
fn broken_same_va<M: LoomMachine>() -> String {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                prev(info)
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut b = builder(2);
        b.location = true; // name the accesses in the report
        b.check(|| {
            let w = world::<M, true>();
            let v = va::<M>(0, 1, 1);
            let a = reserve_on(&w, 1, v);
            let b = reserve_on(&w, 2, v);
            let (a, b) = (a.join().unwrap(), b.join().unwrap());
            assert_eq!(a, b);
            finish(w, &[(v, a)]);
        })
    }));
    QUIET.with(|q| q.set(false));
    let e = r.expect_err("loom accepted a CAS that publishes with Relaxed");
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else {
        String::from("<non-string panic>")
    }
}

/// Line (1-based) of this file holding `tag`.
fn line_of(tag: &str) -> usize {
    let mut lines = include_str!("loom.rs")
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(tag) && !l.contains("line_of"));
    let (i, _) = lines.next().expect("tag not found");
    assert!(lines.next().is_none(), "tag not unique");
    i + 1
}

#[test]
fn broken_cas_is_caught() {
    // The violation loom reports is the one the marker exists for: a CPU
    // read the marker of a PTE page (in `check_published`) that another
    // CPU "zero-filled" (in `alloc_poolpage`) and published by a CAS with
    // no Release/Acquire pairing.
    let read = format!(
        "read: thread #2 @ rust-segtab/tests/loom.rs:{}:",
        line_of(concat!("MARKER", "_READ"))
    );
    let write = format!("loom.rs:{}:", line_of(concat!("MARKER", "_WRITE")));
    for msg in [broken_same_va::<Loom32>(), broken_same_va::<LoomLp64>()] {
        assert!(
            msg.contains("Causality violation: Concurrent read and write accesses."),
            "unexpected failure: {msg}"
        );
        assert!(
            msg.contains(&read) || msg.contains(&read.replace("#2", "#1")),
            "{msg}"
        );
        assert!(msg.contains(&write), "{msg}");
    }
}
