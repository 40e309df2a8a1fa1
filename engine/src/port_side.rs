//! The Rust port as a side: `rust_segtab::PmapSegtab` over an environment
//! backed by the same kind of page pool the C uses, so equal behaviour
//! yields equal frame numbers.

use crate::callbacks::{self, CbCall, PteWindow};
use crate::model::{Action, CbKind};
use crate::side::{pool_action, PanicClass, Side, Snapshot, StepEnd, StepTrace, Summary};
use c_reference::{Config, XtabEvent, NCPUS, NLWPS, NPMAPS};
use rust_segtab::{
    CpuInfo, Env, Machine, PanicSite, PhysAddr, Pmap, PmapSegtab, PteRef, Slot, SpinHeld, Word,
};
use shim::bindings::SEGTAB_SHIM_BOOT_CPUS as BOOT_CPUS;
use shim::inspect::{self, Geometry, PteLoc, Ptr};
use shim::pool::{PagePool, PoolMap};
use shim::sched::Call;
use shim::sched::Scheduler;
use std::cell::Cell;
use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

/// Payload of a port panic: `Env::panic` unwinds with it and the engine
/// catches it around every call.
#[derive(Debug)]
pub struct PortPanic {
    /// The class.
    pub class: PanicClass,
    /// The message.
    pub msg: String,
}

thread_local! {
    /// How many CPUs of this thread are inside a port call: the CPUs of a
    /// concurrent step may be coroutines of one thread, and one finishing
    /// its call must not make the other's panics loud.
    static IN_PORT: Cell<u32> = const { Cell::new(0) };
}

/// Keep the default panic hook quiet for panics the engine catches inside
/// port calls (they are outcomes, reported by the comparison).
pub fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_PORT.with(|c| c.get()) == 0 {
                default(info)
            }
        }));
    });
}

/// A value the CPUs of one world share, touched by one CPU at a time.
///
/// The scheduler (`shim::sched`) runs one CPU at a time (coroutines of one
/// thread, or threads handed over through a mutex), so accesses never
/// overlap and each happens after the previous one; the `busy` flag turns
/// a violation of that into a panic rather than a data race.
struct Shared<T> {
    busy: AtomicBool,
    cell: UnsafeCell<T>,
}

// SAFETY: `with` admits one accessor at a time (the busy flag, with
// acquire/release), and `get` is only used when no CPU thread exists.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn new(v: T) -> Self {
        Shared {
            busy: AtomicBool::new(false),
            cell: UnsafeCell::new(v),
        }
    }

    /// Runs `f` with exclusive access. `f` must not call back into the
    /// environment (it would find the value busy and panic).
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        assert!(
            !self.busy.swap(true, Ordering::Acquire),
            "two CPUs inside the environment at once (scheduler bug)"
        );
        struct Clear<'a>(&'a AtomicBool);
        impl Drop for Clear<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _clear = Clear(&self.busy);
        // SAFETY: the busy flag makes this the only access.
        f(unsafe { &mut *self.cell.get() })
    }

    /// Shared access from the harness.
    ///
    /// # Safety
    ///
    /// No CPU thread is running (they are scoped inside a step that holds
    /// the side mutably), so nothing calls `with` while the reference lives.
    unsafe fn get(&self) -> &T {
        debug_assert!(!self.busy.load(Ordering::Relaxed));
        // SAFETY: the caller's contract.
        unsafe { &*self.cell.get() }
    }

    fn get_mut(&mut self) -> &mut T {
        self.cell.get_mut()
    }
}

/// The spin lock's state, as the C shim's `kmutex_t` has it.
#[derive(Default)]
struct LockState {
    /// The CPU holding it.
    owner: Option<usize>,
    /// Times it was taken.
    enters: u32,
}

/// Why a CPU's call was abandoned: it unwinds out of the port with this.
#[derive(Debug)]
pub struct Abandoned(pub shim::sched::Abandon);

/// The CPU running this thread (0 outside a concurrent step).
fn this_cpu() -> usize {
    shim::sched::this_cpu().unwrap_or(0)
}

/// A call out of the port: a point where the scheduler may run another
/// CPU. Skipped while unwinding (a panicking CPU must not yield again).
fn point(call: shim::sched::Call) {
    crate::run::progress::PORT_LAST_CALL.store(call.code(), std::sync::atomic::Ordering::Relaxed);
    if !std::thread::panicking() {
        if let Err(a) = shim::sched::point(call) {
            std::panic::panic_any(Abandoned(a));
        }
    }
}

/// The environment: pool, cpus, lwps and the lock, as the C shim has them.
pub struct PoolEnv<M: Machine> {
    pool: Shared<PagePool>,
    config: &'static Config,
    cpus: [CpuInfo<M>; NCPUS as usize],
    /// (cpu, pmap) of each lwp.
    lwps: [(u32, u32); NLWPS as usize],
    /// The lwp each simulated CPU runs (`curlwp`): CPU 0 runs the
    /// sequence's current lwp, CPU 1 the one a concurrent step names,
    /// CPUs 2 and 3 those `c_reference::step_lwps` gives them.
    run_lwp: [u32; NCPUS as usize],
    lock: Shared<LockState>,
    /// Address of each harness pmap (only compared).
    addrs: [usize; NPMAPS as usize],
    xtab: Shared<Vec<XtabEvent>>,
}

impl<M: Machine> fmt::Debug for PoolEnv<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolEnv")
            .field("config", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl<M: Machine> PoolEnv<M> {
    /// An environment over `pool` for the pmaps at `pmaps` (call `reset`
    /// before use).
    fn new(pool: PagePool, config: &'static Config, addrs: [usize; NPMAPS as usize]) -> Self {
        PoolEnv {
            pool: Shared::new(pool),
            config,
            cpus: std::array::from_fn(|_| CpuInfo::new()),
            lwps: [(0, 0); NLWPS as usize],
            run_lwp: [0; NCPUS as usize],
            lock: Shared::new(LockState::default()),
            addrs,
            xtab: Shared::new(Vec::new()),
        }
    }

    fn die(&self, class: PanicClass, msg: String) -> ! {
        std::panic::panic_any(PortPanic { class, msg })
    }
    fn pmap_index(&self, pm: *const Pmap<M>) -> u32 {
        self.addrs
            .iter()
            .position(|&a| a == pm as usize)
            .unwrap_or(u32::MAX as usize) as u32
    }
    fn pool(&self) -> &PagePool {
        // SAFETY: called only from the harness between calls into the port.
        unsafe { self.pool.get() }
    }
    fn reset(&mut self) {
        self.pool.get_mut().reset();
        let inv = self.config.invalid_segtab as usize as *mut M::Segtab;
        self.cpus = std::array::from_fn(|_| CpuInfo::with(inv));
        // The two-CPU shim's binding (SEGTAB_SHIM_BOOT_CPUS), which older
        // reproducers assume.
        self.lwps = std::array::from_fn(|i| ((i as u32) % BOOT_CPUS, i as u32));
        self.run_lwp = [0; NCPUS as usize];
        *self.lock.get_mut() = LockState::default();
        self.xtab.get_mut().clear();
    }
}

// SAFETY: map_poolpage returns the KVA of an allocated frame of the pool's
// own NBPG-aligned mapping (exclusively the port's while allocated, zeroed
// by `alloc` under UVM_PGA_ZERO); unmap/phys conversions are exact inverses
// over the pool; the lock admits one CPU at a time (the scheduler blocks a
// CPU that would enter it while another holds it, and its hand-over is a
// mutex: acquire/release); atomic_cas_ptr is `cas_publish` after a
// scheduling point; cpu_info hands out each CPU's own structure.
unsafe impl<M: Machine> Env<M> for PoolEnv<M> {
    type Page = u32;
    type Lwp = u32;
    type Cpu = u32;

    fn alloc_poolpage(&self, flags: u32) -> Option<u32> {
        point(Call::Alloc);
        planted_hang("alloc");
        self.pool.with(|p| p.alloc(flags as i32))
    }
    fn page_to_phys(&self, pg: u32) -> PhysAddr {
        PhysAddr::new(self.pool.with(|p| p.pa(pg)))
    }
    fn phys_to_page(&self, pa: PhysAddr) -> u32 {
        self.pool
            .with(|p| p.pfn_of_pa(pa.as_u64()))
            .unwrap_or(u32::MAX)
    }
    fn map_poolpage(&self, pa: PhysAddr) -> *mut u8 {
        point(Call::Map);
        let kva = self.pool.with(|p| {
            p.note_map(true, pa.as_u64());
            p.pfn_of_pa(pa.as_u64()).map(|pfn| p.kva(pfn))
        });
        match kva {
            Some(kva) => kva,
            None => self.die(
                PanicClass::Other("PMAP_MAP_POOLPAGE of a non-pool PA".into()),
                format!("pa {pa:?}"),
            ),
        }
    }
    fn unmap_poolpage(&self, kva: *mut u8) -> PhysAddr {
        point(Call::Unmap);
        let pa = self.pool.with(|p| {
            p.locate(kva as u64).map(|(pfn, off)| {
                let pa = p.pa(pfn) + off as u64;
                p.note_map(false, pa);
                pa
            })
        });
        match pa {
            Some(pa) => PhysAddr::new(pa),
            None => self.die(
                PanicClass::Other("PMAP_UNMAP_POOLPAGE of a non-pool VA".into()),
                format!("va {kva:p}"),
            ),
        }
    }
    fn page_free(&self, pg: u32) {
        point(Call::Free);
        self.pool.with(|p| p.free(pg));
    }
    fn uvm_wait(&self, _wmsg: &'static str) {
        point(Call::Wait);
        if !self.pool.with(|p| p.wait()) {
            // As the C shim words it.
            self.die(
                PanicClass::WaitForever,
                "uvm_wait: would wait forever".into(),
            );
        }
    }
    fn panic(&self, site: PanicSite, msg: fmt::Arguments<'_>) -> ! {
        let class = match site {
            PanicSite::Kassert { line } => PanicClass::Kassert(line),
            PanicSite::CheckStp => PanicClass::CheckStp,
            PanicSite::CheckPtesAlign => PanicClass::CheckPtesAlign,
            PanicSite::CheckPtesNonzero => PanicClass::CheckPtesNonzero,
            PanicSite::ReserveNoPage => PanicClass::ReserveNoPage,
        };
        self.die(class, msg.to_string())
    }
    fn ptp_next(&self, _held: &SpinHeld, pg: u32) -> Option<u32> {
        self.pool.with(|p| p.list_next(pg))
    }
    fn set_ptp_next(&self, _held: &SpinHeld, pg: u32, next: Option<u32>) {
        self.pool.with(|p| p.set_list_next(pg, next))
    }
    fn mutex_spin_enter(&self) {
        if let Err(a) = shim::sched::lock_enter() {
            std::panic::panic_any(Abandoned(a));
        }
        let me = this_cpu();
        let refused = self.lock.with(|l| match l.owner {
            Some(o) if o == me => Some("mutex_spin_enter: locking against myself"),
            Some(_) => Some("mutex_spin_enter: held by another cpu"),
            None => {
                l.owner = Some(me);
                l.enters += 1;
                None
            }
        });
        if let Some(msg) = refused {
            self.die(PanicClass::Lock, msg.into());
        }
    }
    unsafe fn mutex_spin_exit(&self) {
        // As the C shim: the scheduler may switch here, before the release
        // (rev 1.23 calls nothing else while it holds the lock, so this is
        // where another CPU can find it held); a CPU abandoned here stops
        // inside the locked region, lock held.
        if !std::thread::panicking() {
            if let Err(a) = shim::sched::lock_exit() {
                std::panic::panic_any(Abandoned(a));
            }
        }
        let me = this_cpu();
        let refused = self.lock.with(|l| match l.owner {
            None => Some("mutex_spin_exit: mutex not held"),
            Some(o) if o != me => Some("mutex_spin_exit: held by another cpu"),
            Some(_) => {
                l.owner = None;
                None
            }
        });
        if let Some(msg) = refused {
            self.die(PanicClass::Lock, msg.into());
        }
    }
    fn atomic_cas_ptr(&self, slot: &Slot, old: *mut c_void, new: *mut c_void) -> *mut c_void {
        point(Call::Cas);
        slot.cas_publish(old, new)
    }
    fn curlwp(&self) -> u32 {
        self.run_lwp[this_cpu()]
    }
    fn curcpu(&self) -> u32 {
        self.lwps[self.curlwp() as usize].0
    }
    fn lwp_cpu(&self, l: u32) -> u32 {
        self.lwps[l as usize].0
    }
    fn lwp_pmap(&self, l: u32) -> *const Pmap<M> {
        self.addrs[self.lwps[l as usize].1 as usize] as *const Pmap<M>
    }
    fn cpu_info(&self, ci: u32) -> &CpuInfo<M> {
        &self.cpus[ci as usize]
    }
    fn pmap_kernel(&self) -> *const Pmap<M> {
        self.addrs[0] as *const Pmap<M>
    }
    fn direct_mapped_vaddr_p(&self, va: M::Vaddr) -> bool {
        self.config.direct_mapped(va.to_u64())
    }
    fn xtab_activate(&self, pm: *const Pmap<M>, l: u32) {
        point(Call::Xtab);
        let pmap = self.pmap_index(pm);
        self.xtab
            .with(|x| x.push(XtabEvent::Activate { pmap, lwp: l }));
    }
    fn xtab_deactivate(&self, pm: *const Pmap<M>) {
        point(Call::Xtab);
        let pmap = self.pmap_index(pm);
        self.xtab.with(|x| x.push(XtabEvent::Deactivate { pmap }));
    }
    fn invalid_segtab_address(&self) -> *mut M::Segtab {
        self.config.invalid_segtab as usize as *mut M::Segtab
    }
}

/// The port for machine `M`, with its pmaps.
///
/// Each pmap sits behind its own `RwLock`, as a kernel's callers guarantee
/// by other means: `segtab_init`/`segtab_destroy` take it for writing,
/// everything else for reading, so two CPUs of a concurrent step may
/// reserve in one pmap at once. The locks are only ever *tried* (a
/// concurrent step never pairs a create or destroy with another operation
/// on the same pmap; the resolver sees to it), so they cannot block a CPU
/// behind the scheduler's back.
pub struct PortSide<M: Machine> {
    st: PmapSegtab<M, PoolEnv<M>>,
    spare: Option<PoolEnv<M>>,
    pmaps: Box<[RwLock<Pmap<M>>]>,
    /// Address of each pmap (what `pmap_kernel()`, `lwp_pmap` and the
    /// callbacks see).
    addrs: [usize; NPMAPS as usize],
    geometry: Geometry,
}

/// A window of PTEs through a `PteRef`.
struct RefWindow<'a, M: Machine> {
    pte: PteRef<'a, M>,
    len: u32,
}

impl<'a, M: Machine> RefWindow<'a, M> {
    /// Entry `i` of the window. `PteRef::offset` would check the page
    /// bounds again for every entry of a page-long walk; `len` already
    /// stops at the page's end.
    fn entry(&self, i: u32) -> Option<PteRef<'a, M>> {
        if i >= self.len {
            return None;
        }
        let p = self.pte.as_ptr().wrapping_add(i as usize);
        // SAFETY: `len` is at most NPTEPG - index(pte) (trace_cb), so entry
        // `i < len` lies in the same PTE page as `pte`, which PteRef's
        // contract keeps valid and aligned for 'a.
        Some(unsafe { PteRef::from_raw(std::ptr::NonNull::new_unchecked(p)) })
    }
}

impl<M: Machine> PteWindow for RefWindow<'_, M> {
    fn len(&self) -> u32 {
        self.len
    }
    fn read(&self, i: u32) -> u64 {
        self.entry(i).map(|p| p.read().to_u64()).unwrap_or(0)
    }
    fn write(&mut self, i: u32, v: u64) {
        if let Some(p) = self.entry(i) {
            p.write(M::Pte::from_u64(v));
        }
    }
    fn host_word(&self, i: u32) -> u64 {
        match self.entry(i) {
            // SAFETY: the entry lies in a PTE page, a whole pool page, which
            // is 8-aligned: the aligned 8 bytes around it are in that page.
            Some(p) => unsafe { ((p.as_ptr() as usize & !7) as *const u64).read() },
            None => 0,
        }
    }
    fn host_word_index(&self, i: u32) -> u64 {
        (self.pte.as_ptr().wrapping_add(i as usize) as usize / 8) as u64
    }
}

fn pmap_addrs<M: Machine>(pmaps: &[RwLock<Pmap<M>>]) -> [usize; NPMAPS as usize] {
    std::array::from_fn(|i| {
        let g = pmaps[i].read().unwrap_or_else(|e| e.into_inner());
        &*g as *const Pmap<M> as usize
    })
}

impl<M: Machine> PortSide<M> {
    /// A port world for `config` (whose constants must be `M`'s).
    pub fn new(config: &'static Config, pool_pages: usize) -> Result<Self, shim::PoolError> {
        let pool = PagePool::new(
            config.pgshift,
            pool_pages,
            !config.lp64,
            config.identity_map,
        )?;
        let pmaps: Box<[RwLock<Pmap<M>>]> = (0..NPMAPS)
            .map(|_| RwLock::new(Pmap::new(M::Vaddr::ZERO)))
            .collect();
        let addrs = pmap_addrs(&pmaps);
        let env = PoolEnv::new(pool, config, addrs);
        let geometry = Geometry {
            lp64: M::LP64,
            segtabsize: <M::Segtab as rust_segtab::SegtabLayout>::LEN as u32,
            nptepg: (M::NBPG / std::mem::size_of::<M::Pte>()) as u32,
            pte_bytes: std::mem::size_of::<M::Pte>() as u32,
            page_shift: M::PGSHIFT,
            segshift: M::SEGSHIFT,
            xsegshift: if M::LP64 { M::XSEGSHIFT } else { 0 },
        };
        let spare = Some(dummy_env(config, addrs));
        let mut s = PortSide {
            st: PmapSegtab::new(env),
            spare,
            pmaps,
            addrs,
            geometry,
        };
        s.reset();
        Ok(s)
    }

    fn pmap_ref(&self, pmap: u32) -> RwLockReadGuard<'_, Pmap<M>> {
        self.pmaps[pmap as usize]
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// What one CPU needs to run one port call.
struct Cpu<'a, M: Machine> {
    st: &'a PmapSegtab<M, PoolEnv<M>>,
    pmaps: &'a [RwLock<Pmap<M>>],
    addrs: [usize; NPMAPS as usize],
    map: PoolMap,
    g: Geometry,
    config: &'static Config,
}

impl<M: Machine> Cpu<'_, M> {
    /// Runs one call into the port on this thread, catching its panics
    /// (the port's and the environment's) as the step's end.
    fn run(&self, a: &Action, calls: &mut Vec<CbCall>, store: bool) -> StepEnd {
        // A CPU whose turn comes after another CPU panicked never starts
        // (as on the C side).
        if let Err(a) = shim::sched::check() {
            return StepEnd::Abandoned(a);
        }
        install_quiet_hook();
        IN_PORT.with(|c| c.set(c.get() + 1));
        let r = catch_unwind(AssertUnwindSafe(|| self.call(a, calls, store)));
        IN_PORT.with(|c| c.set(c.get() - 1));
        match r {
            Ok(end) => end,
            Err(payload) => {
                let payload = match payload.downcast::<Abandoned>() {
                    Ok(ab) => return StepEnd::Abandoned(ab.0),
                    Err(p) => p,
                };
                // This CPU panicked: the world is dead for the others too.
                shim::sched::died();
                let names = crate::panic_text::Names {
                    pool: self.map,
                    pmaps: &self.addrs.map(|a| a as u64),
                    source: None,
                    prefix: None,
                };
                match payload.downcast::<PortPanic>() {
                    Ok(p) => StepEnd::Panic(p.class, crate::panic_text::normalize(&p.msg, &names)),
                    Err(other) => {
                        let msg = other
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| other.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "non-string panic".into());
                        StepEnd::Panic(PanicClass::Other(format!("Rust panic: {msg}")), msg)
                    }
                }
            }
        }
    }

    fn read(&self, pmap: u32) -> Result<RwLockReadGuard<'_, Pmap<M>>, StepEnd> {
        match self.pmaps[pmap as usize].try_read() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) => Err(StepEnd::Refused(format!(
                "pmap {pmap} is being created or destroyed on the other CPU"
            ))),
        }
    }

    fn write(&self, pmap: u32) -> Result<RwLockWriteGuard<'_, Pmap<M>>, StepEnd> {
        match self.pmaps[pmap as usize].try_write() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) => Err(StepEnd::Refused(format!(
                "pmap {pmap} is in use on the other CPU"
            ))),
        }
    }

    /// A pmap with a segtab, read-locked (the C would dereference NULL).
    fn live(&self, pmap: u32) -> Result<RwLockReadGuard<'_, Pmap<M>>, StepEnd> {
        let g = self.read(pmap)?;
        if g.pm_segtab().is_null() {
            return Err(StepEnd::Refused(
                c_reference::Error::NoSegtab(pmap).to_string(),
            ));
        }
        Ok(g)
    }

    /// `store`: an `Enter` stores its value into the PTE at once (on its
    /// CPU, before the CPU's next call, as on the C side).
    fn call(&self, a: &Action, calls: &mut Vec<CbCall>, store: bool) -> StepEnd {
        let va = |v: u64| M::Vaddr::from_u64(v);
        let (st, map, g) = (self.st, self.map, self.g);
        let (config, addrs) = (self.config, self.addrs);
        let r: Result<StepEnd, StepEnd> = (|| {
            Ok(match *a {
                Action::Create { pmap, minaddr } => {
                    let mut p = self.write(pmap)?;
                    *p = Pmap::new(va(minaddr));
                    st.segtab_init(&mut p);
                    StepEnd::Ok(None)
                }
                Action::Destroy {
                    pmap,
                    cb: kind,
                    flags,
                } => {
                    let mut p = self.write(pmap)?;
                    match kind {
                        None => st.segtab_destroy(&mut p, None, flags as usize),
                        Some(kind) => {
                            let mut f = trace_cb::<M>(map, g, config, addrs, kind, calls);
                            st.segtab_destroy(&mut p, Some(&mut f), flags as usize)
                        }
                    }
                    StepEnd::Ok(None)
                }
                Action::Reserve { pmap, va: v, flags } => {
                    let p = self.live(pmap)?;
                    let r = st.pte_reserve(&p, va(v), flags).map(|p| p.as_ptr() as u64);
                    StepEnd::Ok(Some(loc_raw(&map, r, g.pte_bytes)))
                }
                Action::Lookup { pmap, va: v } => {
                    let p = self.live(pmap)?;
                    let r = st.pte_lookup(&p, va(v)).map(|p| p.as_ptr() as u64);
                    StepEnd::Ok(Some(loc_raw(&map, r, g.pte_bytes)))
                }
                Action::Enter {
                    pmap,
                    va: v,
                    value,
                    flags,
                } => {
                    let p = self.live(pmap)?;
                    let r = st.pte_reserve(&p, va(v), flags);
                    if let (Some(pte), true) = (r, store) {
                        pte.write(M::Pte::from_u64(value));
                    }
                    StepEnd::Ok(Some(loc_raw(
                        &map,
                        r.map(|p| p.as_ptr() as u64),
                        g.pte_bytes,
                    )))
                }
                Action::Process {
                    pmap,
                    sva,
                    eva,
                    cb: kind,
                    flags,
                } => {
                    let p = self.live(pmap)?;
                    let mut f = trace_cb::<M>(map, g, config, addrs, kind, calls);
                    st.pte_process(&p, va(sva), va(eva), &mut f, flags as usize);
                    StepEnd::Ok(None)
                }
                Action::Activate { pmap, lwp } => {
                    let p = self.live(pmap)?;
                    st.segtab_activate(&p, lwp);
                    StepEnd::Ok(None)
                }
                Action::Deactivate { pmap } => {
                    let p = self.read(pmap)?;
                    st.segtab_deactivate(&p);
                    StepEnd::Ok(None)
                }
                _ => StepEnd::Refused(format!("{} is not a call into the port", a.name())),
            })
        })();
        r.unwrap_or_else(|e| e)
    }
}

fn trace_cb<'a, M: Machine>(
    map: PoolMap,
    g: Geometry,
    config: &'static Config,
    addrs: [usize; NPMAPS as usize],
    kind: CbKind,
    calls: &'a mut Vec<CbCall>,
) -> impl for<'p> FnMut(*const Pmap<M>, M::Vaddr, M::Vaddr, PteRef<'p, M>, usize) -> bool + 'a {
    move |pm, sva, eva, pte, flags| {
        point(Call::Callback);
        let loc = PteLoc::classify_in(&map, pte.as_ptr() as u64, g.pte_bytes);
        let len = match loc {
            PteLoc::In { index, rem: 0, .. } if index < g.nptepg => g.nptepg - index,
            _ => 0,
        };
        let mut w = RefWindow { pte, len };
        let args = callbacks::Args {
            sva: sva.to_u64(),
            eva: eva.to_u64(),
        };
        let result = callbacks::apply(kind, &args, config, &mut w);
        calls.push(CbCall {
            pmap: addrs
                .iter()
                .position(|&a| a == pm as usize)
                .unwrap_or(u32::MAX as usize) as u32,
            sva: sva.to_u64(),
            eva: eva.to_u64(),
            pte: loc,
            flags: flags as u64,
            result,
        });
        true
    }
}

impl<M: Machine> Side for PortSide<M> {
    fn label(&self) -> &'static str {
        "Rust"
    }
    fn config(&self) -> &'static Config {
        self.st.env().config
    }
    fn geometry(&self) -> Geometry {
        self.geometry
    }
    fn pool(&self) -> &PagePool {
        self.st.env().pool()
    }
    fn pool_mut(&mut self) -> &mut PagePool {
        self.st.env_mut().pool.get_mut()
    }
    fn reset(&mut self) {
        // The port keeps what the C keeps in pmap_segtab_info: a fresh
        // instance is its reset. `spare` stands in while the live
        // environment is moved out, so no pool is mapped per reset.
        let spare = self.spare.take().expect("spare environment");
        let mut env = std::mem::replace(&mut self.st, PmapSegtab::new(spare)).into_env();
        env.reset();
        let spare = std::mem::replace(&mut self.st, PmapSegtab::new(env)).into_env();
        self.spare = Some(spare);
        for p in self.pmaps.iter_mut() {
            *p.get_mut().unwrap_or_else(|e| e.into_inner()) = Pmap::new(M::Vaddr::ZERO);
            p.clear_poison();
        }
    }
    fn take_xtab(&mut self) -> Vec<XtabEvent> {
        std::mem::take(self.st.env_mut().xtab.get_mut())
    }
    fn root_raw(&self, pmap: u32) -> u64 {
        // Every step compares a root or two: read it without the RwLock.
        // SAFETY: addrs[pmap] is the address of the Pmap inside
        // pmaps[pmap] (taken when the box was made; it never moves). A
        // `&mut Pmap` exists only inside a step, which holds `&mut self`,
        // so none exists while this `&self` does; pm_segtab is an atomic.
        let pm = unsafe { &*(self.addrs[pmap as usize] as *const Pmap<M>) };
        pm.pm_segtab() as u64
    }

    fn step(&mut self, a: &Action, trace: &mut StepTrace) -> StepEnd {
        if matches!(a, Action::Lookup { .. }) {
            planted_hang("lookup");
        }
        if pool_action(self.pool_mut(), a) {
            return StepEnd::Ok(None);
        }
        match *a {
            Action::SwitchLwp { lwp } => {
                self.st.env_mut().run_lwp[0] = lwp;
                return StepEnd::Ok(None);
            }
            Action::BindLwp { lwp, pmap, cpu } => {
                self.st.env_mut().lwps[lwp as usize] = (cpu, pmap);
                return StepEnd::Ok(None);
            }
            _ => {}
        }
        self.pool_mut().begin_call();
        self.cpu().run(a, &mut trace.callbacks, true)
    }

    fn step_concurrent(
        &mut self,
        cpus: &[Vec<Action>],
        lwp1: u32,
        choices: u64,
        trace: &mut StepTrace,
    ) -> Vec<Vec<StepEnd>> {
        if lwp1 as usize >= NLWPS as usize || lwp1 == self.st.env().run_lwp[0] {
            // As the C harness refuses it: one lwp cannot run on two CPUs.
            let why = format!("lwp {lwp1} cannot be CPU 1's lwp");
            return cpus
                .iter()
                .map(|c| c.iter().map(|_| StepEnd::Refused(why.clone())).collect())
                .collect();
        }
        self.pool_mut().begin_call();
        let lwps = c_reference::step_lwps(self.st.env().run_lwp[0], lwp1, cpus.len());
        for (cpu, &l) in lwps.iter().enumerate().skip(1) {
            let env = self.st.env_mut();
            env.run_lwp[cpu] = l;
            if cpu >= 2 {
                // As the C harness: an extra CPU's lwp is put on it.
                env.lwps[l as usize].0 = cpu as u32;
            }
        }
        // A CPU's first call is refused or not on the state before the
        // CPUs start, as the C harness decides it; a later one when its
        // CPU comes to it.
        let no_segtab = |cpu: &Cpu<'_, M>, a: &Action| match *a {
            Action::Reserve { pmap, .. }
            | Action::Lookup { pmap, .. }
            | Action::Enter { pmap, .. }
            | Action::Process { pmap, .. }
            | Action::Activate { pmap, .. } => cpu.live(pmap).err(),
            _ => None,
        };
        let cpu = self.cpu();
        let first: Vec<Option<StepEnd>> = cpus
            .iter()
            .map(|c| c.first().and_then(|a| no_segtab(&cpu, a)))
            .collect();
        let sched = Scheduler::new(cpus.len(), choices);
        let report = sched.run(|i| {
            let mut calls = Vec::new();
            let mut ends = Vec::with_capacity(cpus[i].len());
            let mut starts = Vec::new();
            let mut stop: Option<shim::sched::Abandon> = None;
            for (k, a) in cpus[i].iter().enumerate() {
                if k > 0 {
                    starts.push((i as u8, k as u8, shim::sched::log_len() as u32));
                }
                let end = if let Some(ab) = stop {
                    StepEnd::Abandoned(ab)
                } else if k == 0 {
                    match &first[i] {
                        Some(r) => r.clone(),
                        None => cpu.run(a, &mut calls, true),
                    }
                } else if let Err(ab) = shim::sched::check() {
                    StepEnd::Abandoned(ab)
                } else {
                    match no_segtab(&cpu, a) {
                        Some(r) => r,
                        None => cpu.run(a, &mut calls, true),
                    }
                };
                match &end {
                    StepEnd::Abandoned(ab) => stop = Some(*ab),
                    StepEnd::Panic(..) => stop = Some(shim::sched::Abandon::Dead),
                    _ => {}
                }
                ends.push(end);
            }
            (ends, calls, starts)
        });
        trace.sched = report.log;
        trace.decisions = report.decisions;
        trace.taken = report.taken;
        trace.points = report.points;
        let ends = report
            .results
            .into_iter()
            .map(|(ends, calls, starts)| {
                trace.callbacks.extend(calls);
                trace.starts.extend(starts);
                ends
            })
            .collect();
        trace.starts.sort_by_key(|s| s.2);
        ends
    }

    fn summary(&mut self) -> Summary {
        let map = self.st.env().pool().map();
        let cls = |p: u64| Ptr::classify_in(&map, p);
        // &mut self: no CPU thread runs, so the pmaps are read without
        // their locks (this is every step's hot path).
        let mut roots = [Ptr::Null; NPMAPS as usize];
        for (r, p) in roots.iter_mut().zip(self.pmaps.iter_mut()) {
            *r = cls(p.get_mut().unwrap_or_else(|e| e.into_inner()).pm_segtab() as u64);
        }
        let info = self.st.info();
        let env = self.st.env();
        let lock = unsafe { env.lock.get() };
        Summary {
            roots,
            free_head: cls(info.free_segtab as u64),
            ptp_head: info.ptp_first,
            counters: (info.nget_segtab, info.nput_segtab, info.npage_segtab),
            lock: (lock.owner.is_some(), lock.enters),
            pool_in_use: env.pool().in_use(),
        }
    }

    fn snapshot(&mut self, deep: bool) -> Snapshot {
        let summary = self.summary();
        let info = self.st.info();
        let minaddr = std::array::from_fn(|i| self.pmap_ref(i as u32).pm_minaddr().to_u64());
        let env = self.st.env();
        let pool = env.pool();
        let cls = |p: u64| Ptr::classify(pool, p);
        let limit = inspect::list_limit(pool, &self.geometry);
        let (mut free_list, mut ptp) = Default::default();
        if deep {
            free_list = inspect::free_list(pool, &self.geometry, info.free_segtab as u64, limit);
            ptp = inspect::ptp_list(pool, info.ptp_first, limit);
        }
        Snapshot {
            summary,
            minaddr,
            free_list,
            ptp,
            ci_segtab: env.cpus.each_ref().map(|c| cls(c.user_segtab() as u64)),
            ci_seg0tab: env.cpus.each_ref().map(|c| {
                if M::LP64 {
                    cls(c.user_seg0tab() as u64)
                } else {
                    Ptr::Null
                }
            }),
            curlwp: env.run_lwp[0],
            lwps: env.lwps,
        }
    }
}

impl<M: Machine> PortSide<M> {
    fn cpu(&self) -> Cpu<'_, M> {
        Cpu {
            st: &self.st,
            pmaps: &self.pmaps,
            addrs: self.addrs,
            map: self.st.env().pool().map(),
            g: self.geometry,
            config: self.st.env().config,
        }
    }
}

fn loc_raw(map: &PoolMap, p: Option<u64>, pte_bytes: u32) -> PteLoc {
    match p {
        None => PteLoc::Null,
        Some(a) => PteLoc::classify_in(map, a, pte_bytes),
    }
}

/// A placeholder environment that stands in while `reset` swaps
/// instances; it owns a one-page pool and never runs anything.
fn dummy_env<M: Machine>(config: &'static Config, addrs: [usize; NPMAPS as usize]) -> PoolEnv<M> {
    let pool = PagePool::new(config.pgshift, 1, false, false).expect("one-page pool");
    PoolEnv::new(pool, config, addrs)
}

rust_segtab::define_machine! {
    /// mips32 o32 with 8 KiB pages: the carving loop under DEBUG (declared
    /// here with the port's macro, as a porter would declare a machine).
    pub struct MipsO32_8k {
        name: "mips32-o32-8k", lp64: false, pgshift: 13, segshift: 24,
        xsegshift: 0, segtabsize: 128, pte: u32, vaddr: u32,
        debug: true, diagnostic: true, multiprocessor: false, ptp_cache: true,
    }
}

rust_segtab::define_machine! {
    /// A 32-bit shape: mips o32 4 KiB geometry with PMAP_SEGTABSIZE 256, so
    /// exactly two segtabs share a page on a 64-bit host (carving with an
    /// empty loop body), under DIAGNOSTIC and MULTIPROCESSOR.
    pub struct Ilp32_4k2SegShape {
        name: "ilp32-4k-2seg-shape", lp64: false, pgshift: 12, segshift: 22,
        xsegshift: 0, segtabsize: 256, pte: u32, vaddr: u32,
        debug: true, diagnostic: true, multiprocessor: true, ptp_cache: false,
    }
}

/// A Rust machine's constants and options, to check against the C's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineFacts {
    /// `_LP64`.
    pub lp64: bool,
    /// `PGSHIFT`.
    pub pgshift: u32,
    /// `SEGSHIFT`.
    pub segshift: u32,
    /// `XSEGSHIFT` (0 unless LP64).
    pub xsegshift: u32,
    /// `PMAP_SEGTABSIZE`.
    pub segtabsize: u32,
    /// `pt_entry_t` bits.
    pub pte_bits: u32,
    /// `DEBUG`.
    pub debug: bool,
    /// `DIAGNOSTIC`.
    pub diagnostic: bool,
    /// `MULTIPROCESSOR`.
    pub multiprocessor: bool,
    /// `PMAP_PTP_CACHE`.
    pub ptp_cache: bool,
}

fn facts<M: Machine>() -> MachineFacts {
    MachineFacts {
        lp64: M::LP64,
        pgshift: M::PGSHIFT,
        segshift: M::SEGSHIFT,
        xsegshift: if M::LP64 { M::XSEGSHIFT } else { 0 },
        segtabsize: M::PMAP_SEGTABSIZE as u32,
        pte_bits: 8 * std::mem::size_of::<M::Pte>() as u32,
        debug: M::DEBUG,
        diagnostic: M::DIAGNOSTIC,
        multiprocessor: M::MULTIPROCESSOR,
        ptp_cache: M::PTP_CACHE,
    }
}

/// The facts of the Rust machine that runs configuration `name`.
pub fn machine_facts(name: &str) -> Option<MachineFacts> {
    use rust_segtab::machines::*;
    Some(match name {
        "mips64-n64-4k" => facts::<MipsN64_4k>(),
        "mips64-n64-16k" => facts::<MipsN64_16k>(),
        "riscv64-sv39-shape" => facts::<Riscv64Sv39Shape>(),
        "mips32-o32-4k" => facts::<MipsO32_4k>(),
        "mips32-o32-8k" => facts::<MipsO32_8k>(),
        "mips32-o32-16k" => facts::<MipsO32_16k>(),
        "ilp32-4k-2seg-shape" => facts::<Ilp32_4k2SegShape>(),
        "powerpc-booke" => facts::<PowerpcBooke>(),
        _ => return None,
    })
}

/// Open the port for a configuration.
pub fn open(config: &'static Config, pool_pages: usize) -> Result<Box<dyn Side>, shim::PoolError> {
    use rust_segtab::machines::*;
    Ok(match config.name {
        "mips64-n64-4k" => Box::new(PortSide::<MipsN64_4k>::new(config, pool_pages)?),
        "mips64-n64-16k" => Box::new(PortSide::<MipsN64_16k>::new(config, pool_pages)?),
        "riscv64-sv39-shape" => Box::new(PortSide::<Riscv64Sv39Shape>::new(config, pool_pages)?),
        "mips32-o32-4k" => Box::new(PortSide::<MipsO32_4k>::new(config, pool_pages)?),
        "mips32-o32-8k" => Box::new(PortSide::<MipsO32_8k>::new(config, pool_pages)?),
        "mips32-o32-16k" => Box::new(PortSide::<MipsO32_16k>::new(config, pool_pages)?),
        "ilp32-4k-2seg-shape" => Box::new(PortSide::<Ilp32_4k2SegShape>::new(config, pool_pages)?),
        "powerpc-booke" => Box::new(PortSide::<PowerpcBooke>::new(config, pool_pages)?),
        other => {
            unreachable!("configuration {other} has no Rust machine; add it to port_side::open")
        }
    })
}

/// A hang planted for the tests of hang findings and of Ctrl-C
/// (`engine/tests/interrupt.rs`): with `SEGTAB_PLANT_PORT_HANG=lookup`
/// the port's every lookup never returns, as an endless loop in a port
/// would; with `alloc`, every page allocation, after its call out of the
/// file. Unset (always, outside those tests), it costs one check.
fn planted_hang(kind: &str) {
    static PLANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let planted = PLANTED.get_or_init(|| std::env::var("SEGTAB_PLANT_PORT_HANG").ok());
    if planted.as_deref() == Some(kind) {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}
