//! A Rust-only test environment for `rust-segtab`: an arena of NBPG-aligned
//! pages with LIFO reuse, a page limit, fail-next-N, a recorded event log,
//! panics raised with `std::panic::panic_any` so tests can catch them, and
//! an optional plan of lost `atomic_cas_ptr` races.
#![allow(dead_code)]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::VecDeque;
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rust_segtab::{CpuInfo, Env, Machine, PanicSite, Pmap, PmapSegtab, Word, UVM_PGA_ZERO};

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

pub struct TestEnv<M: Machine> {
    pages: Vec<*mut u8>,
    in_use: Vec<bool>,
    next: Vec<Option<Page>>,
    free_stack: Vec<usize>,
    /// Maximum number of pages in use at once.
    pub limit: usize,
    /// The next `fail_next` allocations fail (uvm_wait then returns).
    pub fail_next: u32,
    pub events: Vec<Ev>,
    /// Record ptp_next reads (off by default: they are `&self`).
    pub lock_depth: u32,
    /// Plan for `atomic_cas_ptr`: `true` = another CPU installs a page of
    /// its own first, so the CAS fails. Empty = no race.
    pub races: VecDeque<bool>,
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
            self.pages.len(),
            self.in_use_count()
        )
    }
}

impl<M: Machine> TestEnv<M> {
    pub fn new(limit: usize) -> Self {
        TestEnv {
            pages: Vec::new(),
            in_use: Vec::new(),
            next: Vec::new(),
            free_stack: Vec::new(),
            limit,
            fail_next: 0,
            events: Vec::new(),
            lock_depth: 0,
            races: VecDeque::new(),
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

    pub fn in_use_count(&self) -> usize {
        self.in_use.iter().filter(|&&b| b).count()
    }

    pub fn page_kva(&self, pg: Page) -> *mut u8 {
        self.pages[pg.0]
    }

    pub fn page_of_kva(&self, kva: *const u8) -> Option<Page> {
        self.pages
            .iter()
            .position(|&p| std::ptr::eq(p, kva))
            .map(Page)
    }

    /// Page containing `p` (any address inside it).
    pub fn page_containing(&self, p: *const u8) -> Option<Page> {
        let a = p as usize;
        self.pages
            .iter()
            .position(|&b| (b as usize) <= a && a < b as usize + M::NBPG)
            .map(Page)
    }

    pub fn is_in_use(&self, pg: Page) -> bool {
        self.in_use[pg.0]
    }

    pub fn clear_events(&mut self) {
        self.events.clear();
    }

    /// Takes a page from the arena (LIFO reuse), zeroing it if asked.
    fn grab(&mut self, zero: bool) -> Option<Page> {
        if self.in_use_count() >= self.limit {
            return None;
        }
        let idx = match self.free_stack.pop() {
            Some(i) => i,
            None => {
                // SAFETY: layout has non-zero size.
                let p = unsafe { alloc_zeroed(Self::layout()) };
                assert!(!p.is_null());
                self.pages.push(p);
                self.in_use.push(false);
                self.next.push(None);
                self.pages.len() - 1
            }
        };
        self.in_use[idx] = true;
        if zero {
            // SAFETY: the page is NBPG bytes, owned by the arena.
            unsafe { std::ptr::write_bytes(self.pages[idx], 0, M::NBPG) };
        }
        Some(Page(idx))
    }

    /// Fills a page with a byte (to show that reused pages are zeroed).
    pub fn scribble(&mut self, pg: Page, byte: u8) {
        // SAFETY: the page is NBPG bytes, owned by the arena.
        unsafe { std::ptr::write_bytes(self.pages[pg.0], byte, M::NBPG) };
    }
}

impl<M: Machine> Drop for TestEnv<M> {
    fn drop(&mut self) {
        for &p in &self.pages {
            // SAFETY: allocated in grab with the same layout.
            unsafe { dealloc(p, Self::layout()) };
        }
    }
}

// SAFETY: pages are NBPG-aligned arena allocations of NBPG bytes, valid
// until the env is dropped; map/unmap and page/phys are inverse; the CAS
// stores only `new` or a zeroed page of its own.
unsafe impl<M: Machine> Env<M> for TestEnv<M> {
    type Page = Page;
    type Lwp = usize;
    type Cpu = usize;

    fn alloc_poolpage(&mut self, flags: u32) -> Option<Page> {
        let page = if self.fail_next > 0 {
            self.fail_next -= 1;
            None
        } else {
            self.grab(flags & UVM_PGA_ZERO != 0)
        };
        self.events.push(Ev::Alloc { flags, page });
        page
    }

    fn page_to_phys(&self, pg: Page) -> u64 {
        PA_BASE + (pg.0 as u64) * M::NBPG as u64
    }

    fn phys_to_page(&self, pa: u64) -> Page {
        Page(((pa - PA_BASE) / M::NBPG as u64) as usize)
    }

    fn map_poolpage(&mut self, pa: u64) -> *mut u8 {
        self.events.push(Ev::Map(pa));
        let pg = self.phys_to_page(pa);
        assert!(self.in_use[pg.0], "mapping a free page");
        self.pages[pg.0]
    }

    fn unmap_poolpage(&mut self, kva: *mut u8) -> u64 {
        let pg = self.page_of_kva(kva).expect("unmap of unknown kva");
        self.events.push(Ev::Unmap(pg));
        self.page_to_phys(pg)
    }

    fn page_free(&mut self, pg: Page) {
        self.events.push(Ev::Free(pg));
        assert!(self.in_use[pg.0], "double free of {pg:?}");
        self.in_use[pg.0] = false;
        self.free_stack.push(pg.0);
    }

    fn uvm_wait(&mut self, wmsg: &'static str) {
        self.events.push(Ev::Wait(wmsg));
        if self.fail_next == 0 && self.in_use_count() >= self.limit {
            std::panic::panic_any(WouldWaitForever(wmsg));
        }
    }

    fn panic(&mut self, site: PanicSite, msg: fmt::Arguments<'_>) -> ! {
        self.events.push(Ev::Panic(site));
        std::panic::panic_any(SegtabPanic {
            site,
            msg: msg.to_string(),
        })
    }

    fn ptp_next(&self, pg: Page) -> Option<Page> {
        self.next[pg.0]
    }

    fn set_ptp_next(&mut self, pg: Page, next: Option<Page>) {
        self.events.push(Ev::SetPtpNext(pg, next));
        self.next[pg.0] = next;
    }

    fn mutex_spin_enter(&mut self) {
        assert_eq!(self.lock_depth, 0, "pmap_segtab_lock is not recursive");
        self.lock_depth += 1;
        self.events.push(Ev::Enter);
    }

    fn mutex_spin_exit(&mut self) {
        assert_eq!(self.lock_depth, 1, "exit without enter");
        self.lock_depth -= 1;
        self.events.push(Ev::Exit);
    }

    unsafe fn atomic_cas_ptr(
        &mut self,
        slot: *mut *mut c_void,
        old: *mut c_void,
        new: *mut c_void,
    ) -> *mut c_void {
        let lose = self.races.pop_front().unwrap_or(false);
        self.events.push(Ev::Cas { lost: lose });
        if lose {
            // Another CPU allocates a zeroed page and installs it first.
            let pg = self.grab(true).expect("racing CPU found no page");
            // SAFETY: slot is valid for writes (caller's contract).
            unsafe { slot.write(self.pages[pg.0].cast()) };
        }
        // SAFETY: slot is valid for reads and writes (caller's contract).
        unsafe {
            let prev = slot.read();
            if prev == old {
                slot.write(new);
            }
            prev
        }
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

    fn cpu_info_mut(&mut self, ci: usize) -> &mut CpuInfo<M> {
        &mut self.cpus[ci]
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

    fn xtab_activate(&mut self, _pm: *const Pmap<M>, _l: usize) {
        self.events.push(Ev::XtabActivate);
    }

    fn xtab_deactivate(&mut self, _pm: *const Pmap<M>) {
        self.events.push(Ev::XtabDeactivate);
    }

    fn invalid_segtab_address(&self) -> *mut M::Segtab {
        self.invalid
    }
}

pub type Port<M> = PmapSegtab<M, TestEnv<M>>;

pub fn port<M: Machine>(limit: usize) -> Port<M> {
    PmapSegtab::new(TestEnv::new(limit))
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

/// Silences the default panic hook for our payload types (keeps output clean).
pub fn quiet_panics() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            if p.is::<SegtabPanic>() || p.is::<WouldWaitForever>() {
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
