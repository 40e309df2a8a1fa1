//! A Rust-only test environment for `rust-segtab`: an arena of NBPG-aligned
//! pages with LIFO reuse, a page limit, fail-next-N, a recorded event log,
//! panics raised with `std::panic::panic_any` so tests can catch them, and
//! an optional plan of lost `atomic_cas_ptr` races.
//!
//! The port calls its environment through `&self`, so the state the
//! environment changes (the arena, the event log, the lock depth, the race
//! plan, fail-next-N) sits in `Cell`s and `RefCell`s. `TestEnv` is
//! therefore not `Sync`: these tests drive one CPU. The settings tests
//! change between calls (`kernel`, `curlwp`, ...) are plain fields, set
//! through `PmapSegtab::env_mut`.
#![allow(dead_code)]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rust_segtab::{
    CpuInfo, Env, Machine, Ordering, PanicSite, PhysAddr, Pmap, PmapSegtab, SegtabLayout, Slot,
    SpinHeld, Word, UVM_PGA_ZERO,
};

/// Fake physical address of page 0.
pub const PA_BASE: u64 = 0x4000_0000;

/// A page handle (index into the arena).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Page(pub usize);

/// Payload of `Env::panic`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegtabPanic {
    pub site: PanicSite,
    pub msg: String,
}

/// Payload of `uvm_wait` when no page can ever become free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WouldWaitForever(pub &'static str);

/// One recorded environment call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Alloc { flags: u32, page: Option<Page> },
    PageToPhys(Page),
    PhysToPage(u64),
    Map(u64),
    Unmap(Page),
    Free(Page),
    Wait(&'static str),
    Panic(PanicSite),
    SetPtpNext(Page, Option<Page>),
    PtpNext(Page),
    Enter,
    Exit,
    Cas { lost: bool },
    XtabActivate,
    XtabDeactivate,
}

/// The page arena.
#[derive(Default)]
struct Arena {
    pages: Vec<*mut u8>,
    in_use: Vec<bool>,
    /// `LIST_NEXT` links of the PTP cache.
    next: Vec<Option<Page>>,
    free_stack: Vec<usize>,
}

pub struct TestEnv<M: Machine> {
    arena: RefCell<Arena>,
    /// Maximum number of pages in use at once.
    pub limit: usize,
    /// The next `fail_next` allocations fail (uvm_wait then returns).
    fail_next: Cell<u32>,
    events: RefCell<Vec<Ev>>,
    lock_depth: Cell<u32>,
    /// Plan for `atomic_cas_ptr`: `true` = another CPU installs a page of
    /// its own first, so the CAS fails. Empty = no race.
    races: RefCell<VecDeque<bool>>,
    pub curlwp: usize,
    pub lwp_cpu: Vec<usize>,
    pub lwp_pmap: Vec<*const Pmap<M>>,
    pub curcpu: usize,
    pub cpus: Vec<CpuInfo<M>>,
    pub kernel: *const Pmap<M>,
    /// `[lo, hi)` range of direct-mapped vaddrs.
    pub direct: Option<(u64, u64)>,
    pub invalid: *mut M::Segtab,
    _m: PhantomData<M>,
}

impl<M: Machine> fmt::Debug for TestEnv<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TestEnv({} pages, {} in use)",
            self.arena.borrow().pages.len(),
            self.in_use_count()
        )
    }
}

impl<M: Machine> TestEnv<M> {
    pub fn new(limit: usize) -> Self {
        TestEnv {
            arena: RefCell::new(Arena::default()),
            limit,
            fail_next: Cell::new(0),
            events: RefCell::new(Vec::new()),
            lock_depth: Cell::new(0),
            races: RefCell::new(VecDeque::new()),
            curlwp: 0,
            lwp_cpu: vec![0, 1],
            lwp_pmap: vec![std::ptr::null(), std::ptr::null()],
            curcpu: 0,
            cpus: vec![CpuInfo::new(), CpuInfo::new()],
            kernel: std::ptr::null(),
            direct: None,
            invalid: std::ptr::null_mut(),
            _m: PhantomData,
        }
    }

    fn layout() -> Layout {
        Layout::from_size_align(M::NBPG, M::NBPG).unwrap()
    }

    fn push(&self, ev: Ev) {
        self.events.borrow_mut().push(ev);
    }

    /// The environment calls recorded since the last `clear_events`.
    pub fn events(&self) -> Vec<Ev> {
        self.events.borrow().clone()
    }

    pub fn clear_events(&self) {
        self.events.borrow_mut().clear();
    }

    /// The next `n` allocations fail.
    pub fn set_fail_next(&self, n: u32) {
        self.fail_next.set(n);
    }

    /// Appends to the plan of `atomic_cas_ptr` races (`true`: lost).
    pub fn plan_races(&self, lost: impl IntoIterator<Item = bool>) {
        self.races.borrow_mut().extend(lost);
    }

    /// `pmap_segtab_lock` depth (0 or 1).
    pub fn lock_depth(&self) -> u32 {
        self.lock_depth.get()
    }

    pub fn in_use_count(&self) -> usize {
        self.arena.borrow().in_use.iter().filter(|&&b| b).count()
    }

    pub fn page_kva(&self, pg: Page) -> *mut u8 {
        self.arena.borrow().pages[pg.0]
    }

    pub fn page_of_kva(&self, kva: *const u8) -> Option<Page> {
        self.arena
            .borrow()
            .pages
            .iter()
            .position(|&p| std::ptr::eq(p, kva))
            .map(Page)
    }

    /// Page containing `p` (any address inside it).
    pub fn page_containing(&self, p: *const u8) -> Option<Page> {
        let a = p as usize;
        self.arena
            .borrow()
            .pages
            .iter()
            .position(|&b| (b as usize) <= a && a < b as usize + M::NBPG)
            .map(Page)
    }

    pub fn is_in_use(&self, pg: Page) -> bool {
        self.arena.borrow().in_use[pg.0]
    }

    /// `LIST_NEXT(pg)` of the PTP cache, read by the test (the port's
    /// `Env::ptp_next` needs a lock proof only the port can make).
    pub fn ptp_link(&self, pg: Page) -> Option<Page> {
        self.arena.borrow().next[pg.0]
    }

    /// Takes a page from the arena (LIFO reuse), zeroing it if asked.
    fn grab(&self, zero: bool) -> Option<Page> {
        if self.in_use_count() >= self.limit {
            return None;
        }
        let mut a = self.arena.borrow_mut();
        let idx = match a.free_stack.pop() {
            Some(i) => i,
            None => {
                // SAFETY: layout has non-zero size.
                let p = unsafe { alloc_zeroed(Self::layout()) };
                assert!(!p.is_null());
                a.pages.push(p);
                a.in_use.push(false);
                a.next.push(None);
                a.pages.len() - 1
            }
        };
        a.in_use[idx] = true;
        if zero {
            // SAFETY: the page is NBPG bytes, owned by the arena.
            unsafe { std::ptr::write_bytes(a.pages[idx], 0, M::NBPG) };
        }
        Some(Page(idx))
    }

    /// Fills a page with a byte (to show that reused pages are zeroed).
    pub fn scribble(&self, pg: Page, byte: u8) {
        // SAFETY: the page is NBPG bytes, owned by the arena.
        unsafe { std::ptr::write_bytes(self.page_kva(pg), byte, M::NBPG) };
    }
}

impl<M: Machine> Drop for TestEnv<M> {
    fn drop(&mut self) {
        for &p in &self.arena.get_mut().pages {
            // SAFETY: allocated in grab with the same layout.
            unsafe { dealloc(p, Self::layout()) };
        }
    }
}

// SAFETY: pages are NBPG-aligned arena allocations of NBPG bytes, valid
// until the env is dropped, zeroed when UVM_PGA_ZERO is asked; map/unmap
// and page/phys are inverse; the lock is only ever entered by the one CPU
// these tests drive (TestEnv is not Sync) and is checked not recursive; the
// CAS calls `cas_publish` once, after storing (Release) only a zero-filled
// page of its own.
unsafe impl<M: Machine> Env<M> for TestEnv<M> {
    type Page = Page;
    type Lwp = usize;
    type Cpu = usize;

    fn alloc_poolpage(&self, flags: u32) -> Option<Page> {
        let page = if self.fail_next.get() > 0 {
            self.fail_next.set(self.fail_next.get() - 1);
            None
        } else {
            self.grab(flags & UVM_PGA_ZERO != 0)
        };
        self.push(Ev::Alloc { flags, page });
        page
    }

    fn page_to_phys(&self, pg: Page) -> PhysAddr {
        PhysAddr::new(PA_BASE + (pg.0 as u64) * M::NBPG as u64)
    }

    fn phys_to_page(&self, pa: PhysAddr) -> Page {
        Page(((pa.as_u64() - PA_BASE) / M::NBPG as u64) as usize)
    }

    fn map_poolpage(&self, pa: PhysAddr) -> *mut u8 {
        self.push(Ev::Map(pa.as_u64()));
        let pg = self.phys_to_page(pa);
        assert!(self.is_in_use(pg), "mapping a free page");
        self.page_kva(pg)
    }

    fn unmap_poolpage(&self, kva: *mut u8) -> PhysAddr {
        let pg = self.page_of_kva(kva).expect("unmap of unknown kva");
        self.push(Ev::Unmap(pg));
        self.page_to_phys(pg)
    }

    fn page_free(&self, pg: Page) {
        self.push(Ev::Free(pg));
        let mut a = self.arena.borrow_mut();
        assert!(a.in_use[pg.0], "double free of {pg:?}");
        a.in_use[pg.0] = false;
        a.free_stack.push(pg.0);
    }

    fn uvm_wait(&self, wmsg: &'static str) {
        self.push(Ev::Wait(wmsg));
        if self.fail_next.get() == 0 && self.in_use_count() >= self.limit {
            std::panic::panic_any(WouldWaitForever(wmsg));
        }
    }

    fn panic(&self, site: PanicSite, msg: fmt::Arguments<'_>) -> ! {
        self.push(Ev::Panic(site));
        std::panic::panic_any(SegtabPanic {
            site,
            msg: msg.to_string(),
        })
    }

    fn ptp_next(&self, _held: &SpinHeld, pg: Page) -> Option<Page> {
        assert_eq!(self.lock_depth.get(), 1, "ptp_next outside the lock");
        self.ptp_link(pg)
    }

    fn set_ptp_next(&self, _held: &SpinHeld, pg: Page, next: Option<Page>) {
        assert_eq!(self.lock_depth.get(), 1, "set_ptp_next outside the lock");
        self.push(Ev::SetPtpNext(pg, next));
        self.arena.borrow_mut().next[pg.0] = next;
    }

    fn mutex_spin_enter(&self) {
        assert_eq!(
            self.lock_depth.get(),
            0,
            "pmap_segtab_lock is not recursive"
        );
        self.lock_depth.set(1);
        self.push(Ev::Enter);
    }

    unsafe fn mutex_spin_exit(&self) {
        assert_eq!(self.lock_depth.get(), 1, "exit without enter");
        self.lock_depth.set(0);
        self.push(Ev::Exit);
    }

    fn atomic_cas_ptr(&self, slot: &Slot, old: *mut c_void, new: *mut c_void) -> *mut c_void {
        let lose = self.races.borrow_mut().pop_front().unwrap_or(false);
        self.push(Ev::Cas { lost: lose });
        if lose {
            // Another CPU allocates a zeroed page and installs it first.
            let pg = self.grab(true).expect("racing CPU found no page");
            slot.store(self.page_kva(pg), Ordering::Release);
        }
        slot.cas_publish(old, new)
    }

    fn curlwp(&self) -> usize {
        self.curlwp
    }

    fn curcpu(&self) -> usize {
        self.curcpu
    }

    fn lwp_cpu(&self, l: usize) -> usize {
        self.lwp_cpu[l]
    }

    fn lwp_pmap(&self, l: usize) -> *const Pmap<M> {
        self.lwp_pmap[l]
    }

    fn cpu_info(&self, ci: usize) -> &CpuInfo<M> {
        &self.cpus[ci]
    }

    fn pmap_kernel(&self) -> *const Pmap<M> {
        self.kernel
    }

    fn direct_mapped_vaddr_p(&self, va: M::Vaddr) -> bool {
        match self.direct {
            Some((lo, hi)) => lo <= va.to_u64() && va.to_u64() < hi,
            None => false,
        }
    }

    fn xtab_activate(&self, _pm: *const Pmap<M>, _l: usize) {
        self.push(Ev::XtabActivate);
    }

    fn xtab_deactivate(&self, _pm: *const Pmap<M>) {
        self.push(Ev::XtabDeactivate);
    }

    fn invalid_segtab_address(&self) -> *mut M::Segtab {
        self.invalid
    }
}

pub type Port<M> = PmapSegtab<M, TestEnv<M>>;

pub fn port<M: Machine>(limit: usize) -> Port<M> {
    PmapSegtab::new(TestEnv::new(limit))
}

/// Pages on the PTP cache list, head first.
pub fn ptp_cache<M: Machine>(p: &mut Port<M>) -> Vec<Page> {
    let mut v = Vec::new();
    let mut c = p.info().ptp_first;
    while let Some(pg) = c {
        assert!(v.len() <= p.env().in_use_count(), "PTP cache list loops");
        v.push(pg);
        c = p.env().ptp_link(pg);
    }
    v
}

/// Slot `i` of a live segtab (test-side inspection).
pub fn slot_of<'a, M: Machine>(stp: *mut M::Segtab, i: usize) -> &'a Slot {
    assert!(!stp.is_null());
    // SAFETY: stp is a live segtab of the port under test, which outlives
    // the test's use of the slot.
    <M::Segtab as SegtabLayout>::slot_of(unsafe { &*stp }, i)
}

/// `stp->seg_tab[i]`.
pub fn seg_tab_raw<M: Machine>(stp: *mut M::Segtab, i: usize) -> *mut M::Pte {
    slot_of::<M>(stp, i).load(Ordering::Acquire)
}

/// `stp->seg_seg[i]`.
pub fn seg_seg_raw<M: Machine>(stp: *mut M::Segtab, i: usize) -> *mut M::Segtab {
    slot_of::<M>(stp, i).load(Ordering::Acquire)
}

/// Sets `ci_pmap_user_seg0tab`, which the port's API only lets the port
/// write. `CpuInfo` is `#[repr(C)]` with `ci_pmap_user_segtab` then
/// `ci_pmap_user_seg0tab`, both `Slot`s (documented so that assembly can
/// read them), so its second slot is that field.
pub fn set_user_seg0tab<M: Machine>(ci: &CpuInfo<M>, p: *mut M::Segtab) {
    // SAFETY: by the repr(C) layout above, the CpuInfo starts with two
    // Slots; we only touch the second through a shared reference, which
    // is what the port itself does (atomic stores).
    let slots = unsafe { &*(ci as *const CpuInfo<M>).cast::<[Slot; 2]>() };
    slots[1].store(p, Ordering::Relaxed);
}

/// Runs `f`, expecting an `Env::panic`; returns its payload.
pub fn expect_segtab_panic<R>(f: impl FnOnce() -> R) -> SegtabPanic {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a segtab panic"),
        Err(e) => match e.downcast::<SegtabPanic>() {
            Ok(p) => *p,
            Err(e) => std::panic::resume_unwind(e),
        },
    }
}

/// Runs `f`, expecting uvm_wait's "would wait forever".
pub fn expect_wait_forever<R>(f: impl FnOnce() -> R) -> WouldWaitForever {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected uvm_wait to give up"),
        Err(e) => match e.downcast::<WouldWaitForever>() {
            Ok(p) => *p,
            Err(e) => std::panic::resume_unwind(e),
        },
    }
}

/// Runs `f`, expecting a plain Rust panic (`panic!`/`assert!`, not
/// through the environment); returns its message.
pub fn expect_rust_panic<R>(f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a Rust panic"),
        Err(e) => {
            if let Some(s) = e.downcast_ref::<String>() {
                s.clone()
            } else if let Some(s) = e.downcast_ref::<&'static str>() {
                (*s).to_string()
            } else {
                std::panic::resume_unwind(e)
            }
        }
    }
}

std::thread_local! {
    /// Set while a test expects a plain Rust panic on this thread.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the panic message of this thread silenced.
pub fn quietly<R>(f: impl FnOnce() -> R) -> R {
    quiet_panics();
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    r.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Silences the default panic hook for our payload types (keeps output clean).
pub fn quiet_panics() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            if p.is::<SegtabPanic>() || p.is::<WouldWaitForever>() || QUIET.with(|q| q.get()) {
                return;
            }
            prev(info);
        }));
    });
}

pub fn va<M: Machine>(x: u64) -> M::Vaddr {
    M::Vaddr::from_u64(x)
}

/// Collects `(sva, eva, pte index, page start)` for every callback call.
pub type Calls<M> = Vec<(<M as Machine>::Vaddr, <M as Machine>::Vaddr, usize, usize)>;
