//! The port on real threads: a `Sync` environment (a mutex-protected page
//! arena, a test-and-set spin lock with acquire/release, per-thread
//! `curcpu()`), the `Sync`/`Send` bounds, and CPUs reserving and looking up
//! overlapping addresses of one shared pmap at once.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering as StdOrdering};
use std::sync::Mutex;

use rust_segtab::machines::*;
use rust_segtab::{
    define_machine, CpuInfo, Env, Machine, Ordering, PanicSite, PhysAddr, Pmap, PmapSegtab, PteRef,
    SegtabLayout, Slot, SpinHeld, Word, UVM_PGA_ZERO,
};

const PA_BASE: u64 = 0x8000_0000;
const NCPU: usize = 4;

/// A page of the arena (its KVA). Pages are handed to the port, which
/// accesses them only atomically; the arena itself only allocates, zeroes
/// and frees them under its mutex.
struct Frame(*mut u8);
// SAFETY: the pointer is an owned heap allocation; see above.
unsafe impl Send for Frame {}

#[derive(Default)]
struct Arena {
    frames: Vec<Frame>,
    in_use: Vec<bool>,
    /// `LIST_NEXT` of the PTP cache (index + 1; 0: end).
    next: Vec<usize>,
    free_stack: Vec<usize>,
}

/// An environment several CPUs (threads) may call at once.
struct SyncEnv<M: Machine> {
    arena: Mutex<Arena>,
    limit: usize,
    /// `pmap_segtab_lock`.
    lock: AtomicBool,
    cpus: Vec<CpuInfo<M>>,
    /// `atomic_cas_ptr` calls that found the slot taken (lost races).
    cas_lost: AtomicUsize,
    /// The pmap of every lwp's process (one process here).
    user_pmap: AtomicPtr<Pmap<M>>,
    _m: PhantomData<fn() -> M>,
}

std::thread_local! {
    /// `curcpu()` / `curlwp` of the calling thread.
    static CPU: Cell<usize> = const { Cell::new(0) };
}

impl<M: Machine> SyncEnv<M> {
    fn new(limit: usize) -> Self {
        SyncEnv {
            arena: Mutex::new(Arena::default()),
            limit,
            lock: AtomicBool::new(false),
            cpus: (0..NCPU).map(|_| CpuInfo::new()).collect(),
            cas_lost: AtomicUsize::new(0),
            user_pmap: AtomicPtr::new(std::ptr::null_mut()),
            _m: PhantomData,
        }
    }

    fn layout() -> Layout {
        Layout::from_size_align(M::NBPG, M::NBPG).unwrap()
    }

    fn arena(&self) -> std::sync::MutexGuard<'_, Arena> {
        self.arena.lock().unwrap()
    }

    fn in_use_count(&self) -> usize {
        self.arena().in_use.iter().filter(|&&b| b).count()
    }

    /// The page whose frame contains `p`.
    fn page_containing(&self, p: *const u8) -> Option<usize> {
        let a = p as usize;
        self.arena()
            .frames
            .iter()
            .position(|f| (f.0 as usize) <= a && a < f.0 as usize + M::NBPG)
    }

    fn ptp_link(&self, pg: usize) -> Option<usize> {
        self.arena().next[pg].checked_sub(1)
    }
}

impl<M: Machine> Drop for SyncEnv<M> {
    fn drop(&mut self) {
        for f in &self.arena.get_mut().unwrap().frames {
            // SAFETY: allocated in alloc_poolpage with this layout.
            unsafe { dealloc(f.0, Self::layout()) };
        }
    }
}

impl<M: Machine> fmt::Debug for SyncEnv<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SyncEnv({} in use)", self.in_use_count())
    }
}

// SAFETY: frames are NBPG-aligned allocations of NBPG bytes, valid until
// the env is dropped, handed out once until freed, zero-filled (under the
// arena mutex, before alloc_poolpage returns) when UVM_PGA_ZERO is asked;
// page/phys and map/unmap are inverse; the spin lock is a test-and-set
// lock with Acquire on entry and Release on exit; atomic_cas_ptr calls
// cas_publish once and returns its result; cpu_info(curcpu()) is the calling thread's own.
unsafe impl<M: Machine> Env<M> for SyncEnv<M> {
    type Page = usize;
    type Lwp = usize;
    type Cpu = usize;

    fn alloc_poolpage(&self, flags: u32) -> Option<usize> {
        let mut a = self.arena();
        if a.in_use.iter().filter(|&&b| b).count() >= self.limit {
            return None;
        }
        let idx = match a.free_stack.pop() {
            Some(i) => i,
            None => {
                // SAFETY: the layout has a non-zero size.
                let p = unsafe { alloc_zeroed(Self::layout()) };
                assert!(!p.is_null());
                a.frames.push(Frame(p));
                a.in_use.push(false);
                a.next.push(0);
                a.frames.len() - 1
            }
        };
        a.in_use[idx] = true;
        if flags & UVM_PGA_ZERO != 0 {
            // SAFETY: the frame is NBPG bytes and free until we return it.
            unsafe { std::ptr::write_bytes(a.frames[idx].0, 0, M::NBPG) };
        }
        Some(idx)
    }

    fn page_to_phys(&self, pg: usize) -> PhysAddr {
        PhysAddr::new(PA_BASE + pg as u64 * M::NBPG as u64)
    }

    fn phys_to_page(&self, pa: PhysAddr) -> usize {
        ((pa.as_u64() - PA_BASE) / M::NBPG as u64) as usize
    }

    fn map_poolpage(&self, pa: PhysAddr) -> *mut u8 {
        let pg = self.phys_to_page(pa);
        let a = self.arena();
        assert!(a.in_use[pg], "mapping a free page");
        a.frames[pg].0
    }

    fn unmap_poolpage(&self, kva: *mut u8) -> PhysAddr {
        let pg = self
            .arena()
            .frames
            .iter()
            .position(|f| f.0 == kva)
            .expect("unmap of unknown kva");
        self.page_to_phys(pg)
    }

    fn page_free(&self, pg: usize) {
        let mut a = self.arena();
        assert!(a.in_use[pg], "double free of page {pg}");
        a.in_use[pg] = false;
        a.free_stack.push(pg);
    }

    fn uvm_wait(&self, wmsg: &'static str) {
        panic!("out of pages ({wmsg})")
    }

    fn panic(&self, site: PanicSite, msg: fmt::Arguments<'_>) -> ! {
        panic!("{site:?}: {msg}")
    }

    fn ptp_next(&self, _: &SpinHeld, pg: usize) -> Option<usize> {
        assert!(self.lock.load(StdOrdering::Relaxed));
        self.ptp_link(pg)
    }

    fn set_ptp_next(&self, _: &SpinHeld, pg: usize, next: Option<usize>) {
        assert!(self.lock.load(StdOrdering::Relaxed));
        self.arena().next[pg] = next.map_or(0, |n| n + 1);
    }

    fn mutex_spin_enter(&self) {
        while self
            .lock
            .compare_exchange_weak(false, true, StdOrdering::Acquire, StdOrdering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }

    unsafe fn mutex_spin_exit(&self) {
        debug_assert!(self.lock.load(StdOrdering::Relaxed));
        self.lock.store(false, StdOrdering::Release)
    }

    fn atomic_cas_ptr(&self, slot: &Slot, old: *mut c_void, new: *mut c_void) -> *mut c_void {
        // The port's own CAS, counting the races lost.
        let prev = slot.cas_publish(old, new);
        if prev != old {
            self.cas_lost.fetch_add(1, StdOrdering::Relaxed);
        }
        prev
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
        self.user_pmap.load(StdOrdering::Relaxed)
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

// ---------------------------------------------------------------------
// Sync / Send
// ---------------------------------------------------------------------

fn assert_sync<T: Sync>() {}
fn assert_send<T: Send>() {}

#[test]
fn port_is_sync_and_send_with_a_sync_env() {
    type M = MipsN64_4k;
    assert_sync::<SyncEnv<M>>();
    assert_send::<SyncEnv<M>>();
    assert_sync::<PmapSegtab<M, SyncEnv<M>>>();
    assert_send::<PmapSegtab<M, SyncEnv<M>>>();
    assert_sync::<PmapSegtab<MipsO32_16k, SyncEnv<MipsO32_16k>>>();
    assert_sync::<Pmap<M>>();
    assert_send::<Pmap<M>>();
    assert_sync::<CpuInfo<M>>();
    assert_sync::<PteRef<'static, M>>();
    assert_send::<PteRef<'static, M>>();
}

// ---------------------------------------------------------------------
// CPUs sharing one pmap
// ---------------------------------------------------------------------

define_machine! {
    /// MipsN64_16k with MULTIPROCESSOR: LP64, PTP cache, no DEBUG.
    pub struct MipsN64_16kMp {
        name: "test-mips64-n64-16k-mp", lp64: true, pgshift: 14, segshift: 26,
        xsegshift: 37, segtabsize: 2048, pte: u32, vaddr: u64,
        debug: false, diagnostic: true, multiprocessor: true, ptp_cache: true,
    }
}

define_machine! {
    /// MipsO32_4k with MULTIPROCESSOR: 32-bit, DEBUG, no PTP cache.
    pub struct MipsO32_4kMp {
        name: "test-mips32-o32-4k-mp", lp64: false, pgshift: 12, segshift: 22,
        xsegshift: 0, segtabsize: 512, pte: u32, vaddr: u32,
        debug: true, diagnostic: true, multiprocessor: true, ptp_cache: false,
    }
}

/// (threads, rounds, iterations per thread and round)
fn sizes() -> (usize, usize, usize) {
    if cfg!(miri) {
        (2, 1, 8)
    } else {
        (4, 256, 96)
    }
}

/// VAs in a few segments (and, on LP64, two xsegments) plus the top page
/// (under Miri, where every slot and PTE access is a costly atomic, two
/// segments of one xsegment plus the top page),
/// each with its own PTE.
fn vas<M: Machine>() -> Vec<M::Vaddr> {
    let mut v = Vec::new();
    let (xsegs, segs) = if cfg!(miri) { (1, 2) } else { (2, 3) };
    let xsegs = if M::LP64 { xsegs } else { 1 };
    for x in 0..xsegs {
        for s in 0..segs {
            for p in 0..2u64 {
                let a = x * M::NBXSEG + s * M::NBSEG + (p + 1) * M::NBPG as u64;
                v.push(M::Vaddr::from_u64(a));
            }
        }
    }
    v.push(M::Vaddr::MAX.and(M::Vaddr::from_u64(M::PAGE_MASK as u64).not()));
    v
}

fn pte_value<M: Machine>(k: usize) -> M::Pte {
    M::Pte::from_u64(0x100 + ((k as u64) << 4) + 1)
}

/// The pages holding the segtabs on the free list, and how many segtabs
/// the list holds.
fn free_list_pages<M: Machine, E: Env<M>>(port: &mut PmapSegtab<M, E>) -> (BTreeSet<usize>, usize) {
    let mut pages = BTreeSet::new();
    let mut n = 0;
    for stp in port.free_list(usize::MAX) {
        pages.insert(stp as usize & !M::PAGE_MASK);
        n += 1;
        assert!(n < 1 << 20, "free list loops");
    }
    (pages, n)
}

fn smoke<M: Machine>() -> usize {
    assert!(M::MULTIPROCESSOR);
    let (nthreads, rounds, iters) = sizes();
    let vas = vas::<M>();
    let mut port = PmapSegtab::<M, _>::new(SyncEnv::<M>::new(4096));
    for round in 0..rounds {
        let mut pm = Pmap::<M>::new(M::Vaddr::ZERO);
        port.segtab_init(&mut pm);
        port.env().user_pmap.store(&mut pm, StdOrdering::Relaxed);
        let (port_r, pm_r, vas_r) = (&port, &pm, &vas);
        let barrier = std::sync::Barrier::new(nthreads);
        let barrier = &barrier;
        let seen: Vec<Vec<Option<usize>>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..nthreads)
                .map(|t| {
                    s.spawn(move || {
                        CPU.with(|c| c.set(t));
                        let mut seen = vec![None; vas_r.len()];
                        barrier.wait(); // all CPUs start together
                                        // Phase 1: reserve and look up, racing for the
                                        // same segtab and PTE-page slots.
                        for i in 0..iters {
                            // Each thread walks the VAs in its own order,
                            // so they meet on the same and on neighbouring
                            // segments.
                            let k = (i * (2 * t + 1) + t + round) % vas_r.len();
                            let va = vas_r[k];
                            let r = if (i + t) % 3 == 2 {
                                match port_r.pte_lookup(pm_r, va) {
                                    Some(r) => r,
                                    None => {
                                        assert!(seen[k].is_none(), "lookup lost a reserved PTE");
                                        continue;
                                    }
                                }
                            } else {
                                port_r.pte_reserve(pm_r, va, 0).expect("reserve")
                            };
                            let p = r.as_ptr() as usize;
                            if let Some(q) = seen[k] {
                                assert_eq!(p, q, "the PTE of a VA moved");
                            }
                            seen[k] = Some(p);
                            assert_eq!(
                                r.index(),
                                (va.to_u64() >> M::PGSHIFT) as usize & (M::NPTEPG - 1)
                            );
                            assert_eq!(r.read(), M::Pte::ZERO);
                        }
                        // Phase 2, once no CPU reserves any more: enter
                        // PTEs. Not during phase 1: with DEBUG, a CPU that
                        // loses the PTE-page CAS runs pmap_check_ptes on
                        // the winner's page (C line 576, after the CAS
                        // block), which panics if the winner has already
                        // entered a PTE there -- in the C as in the port.
                        barrier.wait();
                        for (k, p) in seen.iter().enumerate() {
                            let Some(p) = *p else { continue };
                            let r = port_r.pte_lookup(pm_r, vas_r[k]).expect("lookup");
                            assert_eq!(r.as_ptr() as usize, p);
                            let v = r.read();
                            assert!(v == M::Pte::ZERO || v == pte_value::<M>(k));
                            r.write(pte_value::<M>(k));
                        }
                        // Activation reads the populated tree too.
                        port_r.segtab_activate(pm_r, t);
                        assert_eq!(port_r.env().cpu_info(t).user_segtab(), pm_r.pm_segtab());
                        port_r.segtab_deactivate(pm_r);
                        seen
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // Every CPU agrees with every other and with a lookup now.
        for (k, &va) in vas.iter().enumerate() {
            let now = port.pte_lookup(&pm, va).map(|r| r.as_ptr() as usize);
            let mut by_some_cpu = false;
            for s in &seen {
                if let Some(p) = s[k] {
                    assert_eq!(Some(p), now, "CPUs disagree on the PTE of {va:#x}");
                    by_some_cpu = true;
                }
            }
            // (A VA no CPU touched may still share a PTE page with one
            // that was.)
            if let Some(r) = port.pte_lookup(&pm, va) {
                let want = if by_some_cpu {
                    pte_value::<M>(k)
                } else {
                    M::Pte::ZERO
                };
                assert_eq!(r.read(), want);
                r.write(M::Pte::ZERO); // DEBUG checks PTE pages on release
            }
        }
        port.segtab_destroy(&mut pm, None, 0);
        assert!(pm.pm_segtab().is_null());
        // Every page is on the free list (segtabs) or the PTP cache.
        let (st_pages, _) = free_list_pages(&mut port);

        let mut cached = Vec::new();
        let mut c = port.info().ptp_first;
        while let Some(pg) = c {
            assert!(cached.len() < 4096, "PTP cache loops");
            cached.push(pg);
            c = port.env().ptp_link(pg);
        }
        assert!(M::PTP_CACHE || cached.is_empty());
        assert_eq!(port.env().in_use_count(), st_pages.len() + cached.len());
    }
    // How many CAS races were lost (segtab or PTE-page slots): on a 2-core
    // host, a few to about a hundred per machine, never asserted (a
    // single-core host may see none).
    port.env().cas_lost.load(StdOrdering::Relaxed)
}

#[test]
fn cpus_share_a_pmap_mips_n64_4k() {
    smoke::<MipsN64_4k>();
}

#[test]
fn cpus_share_a_pmap_riscv64() {
    smoke::<Riscv64Sv39Shape>();
}

#[test]
fn cpus_share_a_pmap_mips_o32_16k() {
    smoke::<MipsO32_16k>();
}

#[test]
fn cpus_share_a_pmap_booke() {
    smoke::<PowerpcBooke>();
}

#[test]
#[cfg_attr(
    miri,
    ignore = "2048-slot segtabs: half a minute of atomics under Miri; the same paths run on the other LP64 machines"
)]
fn cpus_share_a_pmap_mips_n64_16k_mp() {
    smoke::<MipsN64_16kMp>();
}

#[test]
fn cpus_share_a_pmap_mips_o32_4k_mp() {
    smoke::<MipsO32_4kMp>();
}

/// Segtab slot loads of a populated tree agree with what the CPUs saw
/// (a sanity check of the test's own inspection).
#[test]
fn tree_matches_lookups() {
    type M = MipsN64_4k;
    let port = PmapSegtab::<M, _>::new(SyncEnv::<M>::new(64));
    let mut pm = Pmap::<M>::new(0);
    port.segtab_init(&mut pm);
    let va = M::NBXSEG + 2 * M::NBSEG + 3 * M::NBPG as u64;
    let r = port.pte_reserve(&pm, va, 0).unwrap();
    // SAFETY: pm's live top segtab and its lower segtab, owned by `port`.
    let lower: *mut <M as Machine>::Segtab =
        SegtabLayout::slot_of(unsafe { &*pm.pm_segtab() }, 1).load(Ordering::Acquire);
    // SAFETY: as above.
    let pte: *mut u32 = SegtabLayout::slot_of(unsafe { &*lower }, 2).load(Ordering::Acquire);
    assert_eq!(r.page_kva(), pte);
    assert_eq!(r.index(), 3);
    assert!(port.env().page_containing(pte.cast()).is_some());
    port.segtab_destroy(&mut pm, None, 0);
}
