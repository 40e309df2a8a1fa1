//! One configuration's C world: its ops table, its page pool and the hooks
//! the C calls back through.

use crate::configs::{Config, CONFIGS};
use shim::bindings::{
    segtab_shim_arena, segtab_shim_hooks, segtab_shim_ops, segtab_shim_panic, segtab_shim_state,
    vm_page,
};
use shim::inspect::{self, Geometry, PteLoc, Ptr, TableShape};
use shim::pool::{PagePool, PoolError};
use shim::sched::{self, Abandon, Call, RunReport, Scheduler};
use std::cell::RefCell;
use std::ffi::{c_void, CStr};
use std::sync::{Mutex, MutexGuard};

/// Harness pmaps (index 0 is `pmap_kernel()`).
pub const NPMAPS: u32 = shim::bindings::SEGTAB_SHIM_NPMAPS;
/// Harness lwps.
pub const NLWPS: u32 = shim::bindings::SEGTAB_SHIM_NLWPS;
/// Harness cpus.
pub const NCPUS: u32 = shim::bindings::SEGTAB_SHIM_NCPUS;

/// The lwp each CPU of a concurrent step of `ncpus` CPUs runs as: CPU 0
/// as curlwp `cur`, CPU 1 as `lwp1`, CPUs 2 and 3 as the lowest lwps
/// neither of them runs (one lwp never runs on two CPUs; with
/// `NLWPS` = `NCPUS` = 4 a step of four CPUs runs every lwp). Both sides
/// use this, so an extra CPU's `curlwp` is the same in the C and the port;
/// both put the lwps of CPUs 2 and 3 on those CPUs (`l_cpu`) for the step
/// (and after it), in their own processes.
pub fn step_lwps(cur: u32, lwp1: u32, ncpus: usize) -> Vec<u32> {
    let mut lwps = vec![cur, lwp1];
    let mut free = (0..NLWPS).filter(|l| *l != cur && *l != lwp1);
    while lwps.len() < ncpus {
        lwps.push(free.next().expect("an lwp for every CPU"));
    }
    lwps.truncate(ncpus);
    lwps
}

/// A misuse of the API; the C is never entered when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such configuration.
    #[error("unknown configuration {0:?}; known: {known}", known = CONFIGS.iter().map(|c| c.name).collect::<Vec<_>>().join(", "))]
    UnknownConfig(String),
    /// The configuration was left out of this build (`SEGTAB_CONFIGS`).
    #[error("configuration {0} was not compiled into this build (SEGTAB_CONFIGS at build time)")]
    NotBuilt(&'static str),
    /// This thread already has this configuration open.
    #[error("configuration {0} is already open in this thread (the C keeps global state: one world per configuration)")]
    Busy(&'static str),
    /// The world panicked earlier; [`CWorld::reset`] it.
    #[error("the world panicked earlier ({0}); reset it before using it again")]
    Dead(String),
    /// A pmap, lwp or cpu index out of range.
    #[error("{what} index {index} out of range (0..{limit})")]
    BadIndex {
        /// pmap, lwp or cpu.
        what: &'static str,
        /// Given.
        index: u32,
        /// Exclusive bound.
        limit: u32,
    },
    /// The pmap has no segment table (never initialised, or destroyed
    /// without a callback): the C would dereference NULL.
    #[error("pmap {0} has no segment table (NULL pm_segtab)")]
    NoSegtab(u32),
    /// The page pool could not be made.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A concurrent step would run one lwp on two CPUs.
    #[error("lwp {0} is already curlwp of CPU 0; two CPUs cannot run one lwp")]
    SameLwp(u32),
}

/// How a panic came about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PanicKind {
    /// `panic(fmt, ...)`; the format string names the site.
    Call {
        /// The format string.
        fmt: String,
    },
    /// A failed `KASSERT`/`KASSERTMSG`.
    Kassert {
        /// `__LINE__`.
        line: u32,
        /// The expression text.
        expr: String,
    },
    /// `uvm_wait` would never return.
    WaitForever,
    /// The spin mutex protocol was broken.
    Lock,
}

/// A panic that came back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PanicInfo {
    /// Class.
    pub kind: PanicKind,
    /// Formatted message.
    pub msg: String,
}

impl std::fmt::Display for PanicInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

/// How a call into the C ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Returned normally.
    Ok(T),
    /// Panicked; the world is dead until reset.
    Panicked(PanicInfo),
    /// Would have slept forever in `uvm_wait`; the world is dead until reset.
    WaitForever(PanicInfo),
}

impl<T> Outcome<T> {
    /// The value, if the call returned.
    pub fn ok(self) -> Option<T> {
        match self {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }
    /// Unwrap, with the panic message if there was one.
    #[track_caller]
    pub fn unwrap(self) -> T {
        match self {
            Outcome::Ok(v) => v,
            Outcome::Panicked(p) => panic!("C reference panicked: {}", p.msg),
            Outcome::WaitForever(p) => panic!("C reference would wait forever: {}", p.msg),
        }
    }
}

/// The arguments of one `pte_callback_t` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackArgs {
    /// Which harness pmap.
    pub pmap: u32,
    /// Start VA.
    pub sva: u64,
    /// End VA.
    pub eva: u64,
    /// The PTE pointer, raw.
    pub pte: u64,
    /// `flags`.
    pub flags: u64,
}

/// A call of `pmap_md_xtab_activate` / `_deactivate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XtabEvent {
    /// `pmap_md_xtab_activate(pm, l)`.
    Activate {
        /// pmap index.
        pmap: u32,
        /// lwp index.
        lwp: u32,
    },
    /// `pmap_md_xtab_deactivate(pm)`.
    Deactivate {
        /// pmap index.
        pmap: u32,
    },
}

/// One harness call, run on one CPU of a concurrent step
/// ([`CWorld::run_concurrent`]); the arguments are those of the single-CPU
/// method of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CCall {
    /// [`CWorld::segtab_init`].
    Init {
        /// pmap index.
        pmap: u32,
        /// `pm_minaddr`.
        minaddr: u64,
    },
    /// [`CWorld::segtab_destroy`]; the callback is the step's.
    Destroy {
        /// pmap index.
        pmap: u32,
        /// Pass the callback (else NULL).
        with_callback: bool,
        /// `flags`.
        flags: u64,
    },
    /// [`CWorld::pte_lookup`].
    Lookup {
        /// pmap index.
        pmap: u32,
        /// VA.
        va: u64,
    },
    /// [`CWorld::pte_reserve`].
    Reserve {
        /// pmap index.
        pmap: u32,
        /// VA.
        va: u64,
        /// `flags` (`PMAP_CANFAIL`).
        flags: i32,
    },
    /// [`CWorld::pte_process`]; the callback is the step's.
    Process {
        /// pmap index.
        pmap: u32,
        /// Start VA.
        sva: u64,
        /// End VA.
        eva: u64,
        /// `flags`.
        flags: u64,
    },
    /// [`CWorld::segtab_activate`] (`l == curlwp` compares with this CPU's).
    Activate {
        /// pmap index.
        pmap: u32,
        /// lwp index.
        lwp: u32,
    },
    /// [`CWorld::segtab_deactivate`] (of this CPU's `curcpu()`).
    Deactivate {
        /// pmap index.
        pmap: u32,
    },
}

/// How one CPU's call of a concurrent step ended.
#[derive(Debug)]
pub enum CpuOutcome {
    /// The call ran: returned (with the PTE pointer for `Lookup` and
    /// `Reserve`, `None` otherwise), panicked (the world is dead; this CPU
    /// panicked first) or would have waited forever.
    Done(Outcome<Option<PteLoc>>),
    /// The call was cut short at a call out of the file, or never started,
    /// because another CPU panicked ([`Abandon::Dead`]) or in a deadlock.
    Abandoned(Abandon),
    /// The call was refused before the CPUs started, as the single-CPU
    /// method would refuse it; the C was not entered on this CPU.
    Refused(Error),
}

impl CpuOutcome {
    /// The outcome, if the call ran to its end (or panic).
    pub fn done(self) -> Option<Outcome<Option<PteLoc>>> {
        match self {
            CpuOutcome::Done(o) => Some(o),
            _ => None,
        }
    }
}

type Trampoline = unsafe fn(*mut c_void, &mut PagePool, CallbackArgs);

/// The ops table, shareable with the CPUs of a concurrent step.
#[derive(Clone, Copy)]
struct SharedOps(&'static segtab_shim_ops);

// SAFETY: the table is a `const` struct in the C, never written; its
// pointers are to functions and to another const struct.
unsafe impl Sync for SharedOps {}
unsafe impl Send for SharedOps {}

impl SharedOps {
    fn get(self) -> &'static segtab_shim_ops {
        self.0
    }
}

/// What a CPU of a concurrent step brings back.
struct RawCpu {
    rc: i32,
    out: u64,
    abandon: Option<Abandon>,
}

/// Enter the C for `call` on the calling thread's CPU.
///
/// # Safety
/// The call passed [`CWorld::check_call`] and the world's hooks are live.
unsafe fn call_c(ops: &segtab_shim_ops, call: &CCall, out: &mut *mut c_void) -> i32 {
    // SAFETY: the caller's contract (the same checks as the single-CPU
    // methods).
    unsafe {
        match *call {
            CCall::Init { pmap, minaddr } => (ops.segtab_init.unwrap())(pmap, minaddr),
            CCall::Destroy {
                pmap,
                with_callback,
                flags,
            } => (ops.segtab_destroy.unwrap())(pmap, with_callback, flags),
            CCall::Lookup { pmap, va } => (ops.pte_lookup.unwrap())(pmap, va, out),
            CCall::Reserve { pmap, va, flags } => (ops.pte_reserve.unwrap())(pmap, va, flags, out),
            CCall::Process {
                pmap,
                sva,
                eva,
                flags,
            } => (ops.pte_process.unwrap())(pmap, sva, eva, flags),
            CCall::Activate { pmap, lwp } => (ops.segtab_activate.unwrap())(pmap, lwp),
            CCall::Deactivate { pmap } => (ops.segtab_deactivate.unwrap())(pmap),
        }
    }
}

/// [`CWorld::check_call`] on a CPU of a running step, between its calls:
/// the indices, and a segtab where the call needs one (a dead world is
/// the scheduler's abandonment there, not a refusal).
fn check_call_now(ops: &segtab_shim_ops, call: &CCall) -> Result<(), Error> {
    let pmap = match *call {
        CCall::Init { pmap, .. } | CCall::Destroy { pmap, .. } | CCall::Deactivate { pmap } => {
            return check_index("pmap", pmap, NPMAPS)
        }
        CCall::Lookup { pmap, .. } | CCall::Reserve { pmap, .. } | CCall::Process { pmap, .. } => {
            pmap
        }
        CCall::Activate { pmap, lwp } => {
            check_index("lwp", lwp, NLWPS)?;
            pmap
        }
    };
    check_index("pmap", pmap, NPMAPS)?;
    // SAFETY: bounds-checked read in the C.
    if unsafe { (ops.pm_segtab.unwrap())(pmap) }.is_null() {
        return Err(Error::NoSegtab(pmap));
    }
    Ok(())
}

fn check_index(what: &'static str, index: u32, limit: u32) -> Result<(), Error> {
    if index >= limit {
        return Err(Error::BadIndex { what, index, limit });
    }
    Ok(())
}

/// What the C's hooks reach through `hooks.ctx`. Boxed so its address is
/// stable for as long as the world lives.
struct HookCtx {
    pool: PagePool,
    cb_data: *mut c_void,
    cb_call: Option<Trampoline>,
    xtab: Vec<XtabEvent>,
}

static LOCKS: [Mutex<()>; CONFIGS.len()] = [const { Mutex::new(()) }; CONFIGS.len()];

thread_local! {
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// A per-pmap page list of the 2022 rework.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageList {
    /// `pm_segtab_list`: the pmap's segtab pages.
    Segtab,
    /// `pm_ppg_list`: the pmap's PTE pages.
    Ptpage,
}

/// One configuration of the C reference, with its page pool.
pub struct CWorld {
    index: usize,
    config: &'static Config,
    ops: &'static segtab_shim_ops,
    ctx: Box<HookCtx>,
    geometry: Geometry,
    _lock: MutexGuard<'static, ()>,
}

impl std::fmt::Debug for CWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CWorld")
            .field("config", &self.config.name)
            .field("pool", &self.ctx.pool)
            .finish()
    }
}

impl CWorld {
    /// Open configuration `name` with a pool of `pool_pages` frames.
    pub fn open(name: &str, pool_pages: usize) -> Result<Self, Error> {
        let index = CONFIGS
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::UnknownConfig(name.to_string()))?;
        let config = &CONFIGS[index];
        let ops = crate::ops_table(index).ok_or(Error::NotBuilt(config.name))?;
        if HELD.with(|h| h.borrow().contains(&index)) {
            return Err(Error::Busy(config.name));
        }
        let pool = PagePool::new(
            config.pgshift,
            pool_pages,
            !config.lp64,
            config.identity_map,
        )?;
        let lock = LOCKS[index].lock().unwrap_or_else(|e| e.into_inner());
        HELD.with(|h| h.borrow_mut().push(index));
        // SAFETY: `config` points to a static const struct in the C.
        let cc = unsafe { &*ops.config };
        let geometry = Geometry {
            lp64: cc.lp64 != 0,
            segtabsize: cc.segtabsize,
            nptepg: cc.nptepg,
            pte_bytes: cc.pte_bytes,
            page_shift: cc.pgshift,
            segshift: cc.segshift,
            xsegshift: cc.xsegshift,
        };
        let mut w = CWorld {
            index,
            config,
            ops,
            ctx: Box::new(HookCtx {
                pool,
                cb_data: std::ptr::null_mut(),
                cb_call: None,
                xtab: Vec::new(),
            }),
            geometry,
            _lock: lock,
        };
        w.reset();
        Ok(w)
    }

    /// The configuration.
    pub fn config(&self) -> &'static Config {
        self.config
    }

    /// The constants as the C compiler saw them.
    pub fn c_config(&self) -> &'static shim::bindings::segtab_shim_config {
        // SAFETY: static const struct in the C.
        unsafe { &*self.ops.config }
    }

    /// The C file this configuration was compiled from.
    pub fn c_source(&self) -> String {
        // SAFETY: a string literal in the C.
        unsafe { CStr::from_ptr(self.c_config().source) }
            .to_string_lossy()
            .into_owned()
    }

    /// The revision compiled and what it has in this configuration (see
    /// [`crate::revision`]).
    pub fn revision(&self) -> crate::Revision {
        // SAFETY: rcsid returns NULL or a string literal of the C file.
        let id = unsafe { (self.ops.rcsid.unwrap())() };
        let rcsid = (!id.is_null()).then(|| {
            // SAFETY: non-NULL: a NUL-terminated literal.
            unsafe { CStr::from_ptr(id) }.to_string_lossy().into_owned()
        });
        crate::Revision::new(rcsid, self.c_config().caps, self.config)
    }

    /// The pages on pmap `pmap`'s page list `which`, in list order, as frame
    /// numbers (`u32::MAX` for a page outside the pool); `None` when the
    /// revision has no per-pmap page lists (rev 1.23 and older).
    pub fn pmap_pages(&self, pmap: u32, which: PageList) -> Option<Vec<u32>> {
        let which = match which {
            PageList::Segtab => shim::bindings::segtab_shim_list_SEGTAB_SHIM_LIST_SEGTAB,
            PageList::Ptpage => shim::bindings::segtab_shim_list_SEGTAB_SHIM_LIST_PTPAGE,
        } as i32;
        let max = self.ctx.pool.capacity();
        let mut out = vec![std::ptr::null_mut(); max as usize];
        // SAFETY: out has room for max pointers; pmap_pages writes at most
        // that many and only reads the C world.
        let n = unsafe { (self.ops.pmap_pages.unwrap())(pmap, which, out.as_mut_ptr(), max) };
        let n = usize::try_from(n).ok()?;
        Some(
            out[..n.min(max as usize)]
                .iter()
                .map(|&pg| self.ctx.pool.pfn_of_vm_page(pg).unwrap_or(u32::MAX))
                .collect(),
        )
    }

    /// Layout facts for walking tables.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The page pool (to inject failures, read the event log, read memory).
    pub fn pool(&self) -> &PagePool {
        &self.ctx.pool
    }

    /// The page pool, mutably.
    pub fn pool_mut(&mut self) -> &mut PagePool {
        &mut self.ctx.pool
    }

    /// The `pmap_md_xtab_*` calls so far (drained).
    pub fn take_xtab(&mut self) -> Vec<XtabEvent> {
        std::mem::take(&mut self.ctx.xtab)
    }

    /// Back to the initial state: empty free list and PTP cache, zero
    /// counters, no segtabs, lwp i on cpu i % NCPUS bound to pmap i, curlwp
    /// 0, a fresh pool. Costs time proportional to the pages used.
    pub fn reset(&mut self) {
        self.ctx.pool.reset();
        self.ctx.xtab.clear();
        let hooks = segtab_shim_hooks {
            ctx: &mut *self.ctx as *mut HookCtx as *mut c_void,
            alloc_page: Some(hook_alloc),
            free_page: Some(hook_free),
            wait: Some(hook_wait),
            callback: Some(hook_callback),
            map_event: Some(hook_map_event),
            xtab: Some(hook_xtab),
            sched: Some(hook_sched),
        };
        let arena = segtab_shim_arena {
            base: self.ctx.pool.base() as *mut c_void,
            npages: self.ctx.pool.capacity() as u64,
            phys_base: self.ctx.pool.phys_base(),
            pages: self.ctx.pool.vm_pages_mut(),
        };
        // SAFETY: the C copies both structs; hooks.ctx stays valid because
        // the HookCtx is boxed and lives as long as self.
        unsafe { (self.ops.reset.unwrap())(&hooks, &arena) };
    }

    /// Everything the C exposes, read in one call.
    pub fn state(&self) -> segtab_shim_state {
        let mut s = segtab_shim_state::default();
        // SAFETY: snapshot only writes *s.
        unsafe { (self.ops.snapshot.unwrap())(&mut s) };
        s
    }

    /// The fields of [`CWorld::state`] every step compares (the free list
    /// and PTP cache heads, the DEBUG counters, the lock, `dead`, every
    /// `pm_segtab`); the rest are left zero. Cheaper than a whole snapshot.
    pub fn summary_state(&self) -> segtab_shim_state {
        let mut s = segtab_shim_state::default();
        // SAFETY: summary only writes *s.
        unsafe { (self.ops.summary.unwrap())(&mut s) };
        s
    }

    /// The C's record of the last panic.
    pub fn panic_record(&self) -> segtab_shim_panic {
        let mut p = segtab_shim_panic::default();
        // SAFETY: only writes *p.
        unsafe { (self.ops.panic_info.unwrap())(&mut p) };
        p
    }

    /// Whether a panic has left the world dead.
    pub fn is_dead(&self) -> bool {
        // SAFETY: reads a flag.
        unsafe { (self.ops.dead.unwrap())() != 0 }
    }

    /// `pm_segtab` of pmap `pmap` (NULL for an index out of range).
    pub fn pm_segtab(&self, pmap: u32) -> *mut c_void {
        // SAFETY: bounds-checked read in the C.
        unsafe { (self.ops.pm_segtab.unwrap())(pmap) }
    }

    fn check_alive(&self) -> Result<(), Error> {
        if self.is_dead() {
            return Err(Error::Dead(panic_info(&self.panic_record()).msg));
        }
        Ok(())
    }

    fn check_pmap(&self, pmap: u32) -> Result<(), Error> {
        if pmap >= NPMAPS {
            return Err(Error::BadIndex {
                what: "pmap",
                index: pmap,
                limit: NPMAPS,
            });
        }
        self.check_alive()
    }

    fn check_segtab(&self, pmap: u32) -> Result<(), Error> {
        self.check_pmap(pmap)?;
        if self.pm_segtab(pmap).is_null() {
            return Err(Error::NoSegtab(pmap));
        }
        Ok(())
    }

    fn outcome<T>(&self, rc: i32, v: T) -> Outcome<T> {
        let code = rc as u32;
        if code == shim::bindings::segtab_shim_outcome_SEGTAB_SHIM_OK {
            return Outcome::Ok(v);
        }
        let p = panic_info(&self.panic_record());
        if code == shim::bindings::segtab_shim_outcome_SEGTAB_SHIM_WAIT_FOREVER {
            Outcome::WaitForever(p)
        } else {
            Outcome::Panicked(p)
        }
    }

    /// Run a C entry with `cb` installed as the callback sink.
    fn with_callback<F, R>(&mut self, cb: Option<&mut F>, call: impl FnOnce(&Self) -> R) -> R
    where
        F: FnMut(&mut PagePool, CallbackArgs),
    {
        unsafe fn trampoline<F: FnMut(&mut PagePool, CallbackArgs)>(
            data: *mut c_void,
            pool: &mut PagePool,
            a: CallbackArgs,
        ) {
            // SAFETY: data is the &mut F installed below, live for the call.
            let f = unsafe { &mut *(data as *mut F) };
            f(pool, a)
        }
        self.ctx.pool.begin_call();
        match cb {
            Some(f) => {
                self.ctx.cb_data = f as *mut F as *mut c_void;
                self.ctx.cb_call = Some(trampoline::<F>);
            }
            None => {
                self.ctx.cb_data = std::ptr::null_mut();
                self.ctx.cb_call = None;
            }
        }
        let r = call(self);
        self.ctx.cb_data = std::ptr::null_mut();
        self.ctx.cb_call = None;
        r
    }

    /// `pm_minaddr = minaddr; pmap_segtab_init(pm)`.
    pub fn segtab_init(&mut self, pmap: u32, minaddr: u64) -> Result<Outcome<()>, Error> {
        self.check_pmap(pmap)?;
        let rc = self.with_callback(None::<&mut fn(&mut PagePool, CallbackArgs)>, |w| {
            // SAFETY: index checked; the world is alive.
            unsafe { (w.ops.segtab_init.unwrap())(pmap, minaddr) }
        });
        Ok(self.outcome(rc, ()))
    }

    /// `pmap_segtab_destroy(pm, callback or NULL, flags)`.
    pub fn segtab_destroy<F: FnMut(&mut PagePool, CallbackArgs)>(
        &mut self,
        pmap: u32,
        callback: Option<&mut F>,
        flags: u64,
    ) -> Result<Outcome<()>, Error> {
        self.check_pmap(pmap)?;
        let with = callback.is_some();
        let rc = self.with_callback(callback, |w| {
            // SAFETY: index checked; destroy returns at once on a NULL segtab.
            unsafe { (w.ops.segtab_destroy.unwrap())(pmap, with, flags) }
        });
        Ok(self.outcome(rc, ()))
    }

    /// `pmap_pte_lookup(pm, va)`.
    pub fn pte_lookup(&mut self, pmap: u32, va: u64) -> Result<Outcome<PteLoc>, Error> {
        self.check_segtab(pmap)?;
        let mut out: *mut c_void = std::ptr::null_mut();
        let rc = self.with_callback(None::<&mut fn(&mut PagePool, CallbackArgs)>, |w| {
            // SAFETY: the pmap has a segtab.
            unsafe { (w.ops.pte_lookup.unwrap())(pmap, va, &mut out) }
        });
        let loc = PteLoc::classify(&self.ctx.pool, out as u64, self.geometry.pte_bytes);
        Ok(self.outcome(rc, loc))
    }

    /// `pmap_pte_reserve(pm, va, flags)`.
    pub fn pte_reserve(
        &mut self,
        pmap: u32,
        va: u64,
        flags: i32,
    ) -> Result<Outcome<PteLoc>, Error> {
        self.check_segtab(pmap)?;
        let mut out: *mut c_void = std::ptr::null_mut();
        let rc = self.with_callback(None::<&mut fn(&mut PagePool, CallbackArgs)>, |w| {
            // SAFETY: the pmap has a segtab.
            unsafe { (w.ops.pte_reserve.unwrap())(pmap, va, flags, &mut out) }
        });
        let loc = PteLoc::classify(&self.ctx.pool, out as u64, self.geometry.pte_bytes);
        Ok(self.outcome(rc, loc))
    }

    /// `pmap_pte_process(pm, sva, eva, callback, flags)`.
    pub fn pte_process<F: FnMut(&mut PagePool, CallbackArgs)>(
        &mut self,
        pmap: u32,
        sva: u64,
        eva: u64,
        flags: u64,
        callback: &mut F,
    ) -> Result<Outcome<()>, Error> {
        self.check_segtab(pmap)?;
        let rc = self.with_callback(Some(callback), |w| {
            // SAFETY: the pmap has a segtab.
            unsafe { (w.ops.pte_process.unwrap())(pmap, sva, eva, flags) }
        });
        Ok(self.outcome(rc, ()))
    }

    /// `pmap_segtab_activate(pm, l)`.
    pub fn segtab_activate(&mut self, pmap: u32, lwp: u32) -> Result<Outcome<()>, Error> {
        self.check_segtab(pmap)?;
        if lwp >= NLWPS {
            return Err(Error::BadIndex {
                what: "lwp",
                index: lwp,
                limit: NLWPS,
            });
        }
        let rc = self.with_callback(None::<&mut fn(&mut PagePool, CallbackArgs)>, |w| {
            // SAFETY: indices checked, the pmap has a segtab.
            unsafe { (w.ops.segtab_activate.unwrap())(pmap, lwp) }
        });
        Ok(self.outcome(rc, ()))
    }

    /// `pmap_segtab_deactivate(pm)`.
    pub fn segtab_deactivate(&mut self, pmap: u32) -> Result<Outcome<()>, Error> {
        self.check_pmap(pmap)?;
        let rc = self.with_callback(None::<&mut fn(&mut PagePool, CallbackArgs)>, |w| {
            // SAFETY: index checked; deactivate does not read the segtab.
            unsafe { (w.ops.segtab_deactivate.unwrap())(pmap) }
        });
        Ok(self.outcome(rc, ()))
    }

    /// Make `lwp` curlwp (and its cpu curcpu()).
    pub fn set_curlwp(&mut self, lwp: u32) -> Result<(), Error> {
        if lwp >= NLWPS {
            return Err(Error::BadIndex {
                what: "lwp",
                index: lwp,
                limit: NLWPS,
            });
        }
        // SAFETY: index checked.
        unsafe { (self.ops.set_curlwp.unwrap())(lwp) };
        Ok(())
    }

    /// Put `lwp` on `cpu` in a process whose vmspace's pmap is `pmap`.
    pub fn bind_lwp(&mut self, lwp: u32, pmap: u32, cpu: u32) -> Result<(), Error> {
        for (what, index, limit) in [
            ("lwp", lwp, NLWPS),
            ("pmap", pmap, NPMAPS),
            ("cpu", cpu, NCPUS),
        ] {
            if index >= limit {
                return Err(Error::BadIndex { what, index, limit });
            }
        }
        // SAFETY: indices checked.
        unsafe { (self.ops.bind_lwp.unwrap())(lwp, pmap, cpu) };
        Ok(())
    }

    /// The next `n` `atomic_cas_ptr` calls lose to another CPU that installs
    /// a freshly allocated zeroed page first.
    pub fn arm_cas_race(&mut self, n: u32) {
        // SAFETY: plain store in the C.
        unsafe { (self.ops.arm_cas_race.unwrap())(n) };
    }

    /// The checks the single-CPU method for `call` makes before entering
    /// the C.
    fn check_call(&self, call: &CCall) -> Result<(), Error> {
        match *call {
            CCall::Init { pmap, .. } | CCall::Destroy { pmap, .. } | CCall::Deactivate { pmap } => {
                self.check_pmap(pmap)
            }
            CCall::Lookup { pmap, .. }
            | CCall::Reserve { pmap, .. }
            | CCall::Process { pmap, .. } => self.check_segtab(pmap),
            CCall::Activate { pmap, lwp } => {
                self.check_segtab(pmap)?;
                if lwp >= NLWPS {
                    return Err(Error::BadIndex {
                        what: "lwp",
                        index: lwp,
                        limit: NLWPS,
                    });
                }
                Ok(())
            }
        }
    }

    /// One concurrent step: `calls[0]` on CPU 0 (running as curlwp) and
    /// `calls[1]` on CPU 1 (running as lwp `lwp1`): [`CWorld::run_sequences`]
    /// with one call per CPU and nothing done after a call.
    ///
    /// # Panics
    /// If `sched` does not have 2 CPUs, or if a body thread panics.
    pub fn run_concurrent<F>(
        &mut self,
        sched: &Scheduler,
        calls: [CCall; 2],
        lwp1: u32,
        callback: &F,
    ) -> Result<RunReport<CpuOutcome>, Error>
    where
        F: Fn(usize, &mut PagePool, CallbackArgs) + Sync,
    {
        let seqs = calls.map(|c| vec![c]);
        let r = self.run_sequences(sched, &seqs, lwp1, callback, &|_, _, _, _| {})?;
        Ok(RunReport {
            results: r.results.into_iter().map(|mut v| v.remove(0)).collect(),
            log: r.log,
            deadlock: r.deadlock,
            decisions: r.decisions,
            taken: r.taken,
            points: r.points,
        })
    }

    /// One concurrent step: CPU `i` makes the calls `calls[i]` one after
    /// the other (CPU 0 running as curlwp, CPU 1 as lwp `lwp1`), at once,
    /// in this one world, each CPU in a context of its own (a coroutine on
    /// this thread, or a thread: `sched`'s backend), interleaved by `sched`
    /// (2 to `NCPUS` CPUs) at every call out of pmap_segtab.c.
    ///
    /// Each CPU's first call is checked against the state at the start, as
    /// its single-CPU method would check it; each later call when its CPU
    /// comes to it (a pmap without a segtab; the world's death is an
    /// abandonment there). A refused call does not run (the CPU goes on to
    /// its next). `callback(cpu, pool, args)` is the pte callback of
    /// `Process` and of `Destroy { with_callback: true }`, told which CPU
    /// called; `after(cpu, k, pool, out)` runs on the CPU right after its
    /// call `k` ended, before its next call, with `Some` pointer (the PTE
    /// pointer of `Lookup` and `Reserve`) if it returned normally (the
    /// harness's store of an `Enter`). Allocator, map and xtab events go to the shared pool and
    /// xtab log, in the order they happened; `report.log` says which CPU
    /// reached which call when.
    ///
    /// A CPU that panics ends that call with `Done(Panicked)` /
    /// `Done(WaitForever)` and the world is dead; the other CPU is then
    /// `Abandoned(Dead)` at its next call out of the file (or before it
    /// starts a call). Once a CPU's call panicked or was abandoned, its
    /// later calls are `Abandoned` (`Dead` after a panic) and do not run.
    /// CPU k >= 2 runs as [`step_lwps`]'s lwp k, which is put on CPU k
    /// (`l_cpu`) and stays there. `lwp1` stays CPU 1's lwp
    /// afterwards (single-CPU calls run on CPU 0).
    ///
    /// `Err` (and nothing run) if `lwp1` is out of range or is curlwp.
    ///
    /// # Panics
    /// If `sched` does not have 2 CPUs or `calls` is not one list per CPU,
    /// or if a body thread panics.
    pub fn run_sequences<F, A>(
        &mut self,
        sched: &Scheduler,
        calls: &[Vec<CCall>],
        lwp1: u32,
        callback: &F,
        after: &A,
    ) -> Result<RunReport<Vec<CpuOutcome>>, Error>
    where
        F: Fn(usize, &mut PagePool, CallbackArgs) + Sync,
        A: Fn(usize, usize, &mut PagePool, Option<u64>) + Sync,
    {
        assert!(
            (2..=NCPUS as usize).contains(&sched.ncpus()),
            "a concurrent step runs on 2 to {NCPUS} CPUs"
        );
        assert_eq!(calls.len(), sched.ncpus(), "one list of calls per CPU");
        if lwp1 >= NLWPS {
            return Err(Error::BadIndex {
                what: "lwp",
                index: lwp1,
                limit: NLWPS,
            });
        }
        if lwp1 == self.state().cur_lwp {
            return Err(Error::SameLwp(lwp1));
        }
        // The first calls are refused or not on the state at the start.
        let first: Vec<Option<Error>> = calls
            .iter()
            .map(|c| c.first().and_then(|c| self.check_call(c).err()))
            .collect();
        let first_refused: Vec<bool> = first.iter().map(Option::is_some).collect();
        let mut first = first;

        unsafe fn trampoline<F: Fn(usize, &mut PagePool, CallbackArgs)>(
            data: *mut c_void,
            pool: &mut PagePool,
            a: CallbackArgs,
        ) {
            // SAFETY: data is the &F installed below, live for the step.
            let f = unsafe { &*(data as *const F) };
            f(sched::this_cpu().unwrap_or(0), pool, a)
        }
        let lwps = step_lwps(self.state().cur_lwp, lwp1, sched.ncpus());
        let lwp_pmap = self.state().lwp_pmap;
        for (cpu, &l) in lwps.iter().enumerate().skip(1) {
            // SAFETY: indexes checked (cpu < ncpus <= NCPUS, l < NLWPS).
            unsafe { (self.ops.set_cpu_lwp.unwrap())(cpu as u32, l) };
            if cpu >= 2 {
                // CPUs 2 and 3 run lwps put on them (l_cpu) for the step,
                // in their processes; the two-CPU steps leave the binding
                // as it was (older reproducers).
                // SAFETY: indexes checked; the pmap index is the C's own.
                unsafe { (self.ops.bind_lwp.unwrap())(l, lwp_pmap[l as usize], cpu as u32) };
            }
        }
        self.ctx.pool.begin_call();
        self.ctx.cb_data = callback as *const F as *mut c_void;
        self.ctx.cb_call = Some(trampoline::<F>);

        /// The hook context, reached by the running CPU between its calls.
        #[derive(Clone, Copy)]
        struct SharedCtx(*mut HookCtx);
        // SAFETY: only the CPU the scheduler runs touches it (one at a
        // time, handed over under the scheduler's lock), and nothing else
        // touches it until `run` has finished them all.
        unsafe impl Sync for SharedCtx {}
        unsafe impl Send for SharedCtx {}
        impl SharedCtx {
            fn get(self) -> *mut HookCtx {
                self.0
            }
        }
        let ctx = SharedCtx(&mut *self.ctx as *mut HookCtx);

        let ops = SharedOps(self.ops);
        // The CPUs may be coroutines of this thread, each of which made the
        // thread its CPU (set_this_cpu): whatever happens, this thread is
        // CPU 0 again afterwards, as single-CPU calls expect.
        struct BackToCpu0(&'static segtab_shim_ops);
        impl Drop for BackToCpu0 {
            fn drop(&mut self) {
                // SAFETY: 0 < SEGTAB_SHIM_NCPUS; no CPU of the step runs.
                unsafe { (self.0.set_this_cpu.unwrap())(0) };
            }
        }
        let _cpu0 = BackToCpu0(self.ops);
        /// How one call of a CPU ended, inside the run.
        enum RawEnd {
            Ran(RawCpu),
            Refused(Option<Error>),
            Abandoned(Abandon),
        }
        // The CPUs reach the HookCtx only through the C's hooks.ctx (one at
        // a time, handed over by the scheduler) and `after`; nothing here
        // touches self until `run` has finished them all.
        let raw = sched.run(|cpu| {
            let ops = ops.get();
            let mut ends: Vec<RawEnd> = Vec::with_capacity(calls[cpu].len());
            let mut stop: Option<Abandon> = None;
            for (k, call) in calls[cpu].iter().enumerate() {
                let mut one = || -> (RawEnd, Option<u64>) {
                    if let Some(a) = stop {
                        return (RawEnd::Abandoned(a), None);
                    }
                    if k == 0 {
                        if first_refused[cpu] {
                            return (RawEnd::Refused(None), None);
                        }
                    } else {
                        if let Err(a) = sched::check() {
                            stop = Some(a);
                            return (RawEnd::Abandoned(a), None);
                        }
                        if let Err(e) = check_call_now(ops, call) {
                            return (RawEnd::Refused(Some(e)), None);
                        }
                    }
                    let mut out: *mut c_void = std::ptr::null_mut();
                    // SAFETY: cpu < ncpus <= SEGTAB_SHIM_NCPUS; the call was
                    // checked and the hooks are live (the HookCtx is boxed
                    // in self).
                    let rc = unsafe {
                        (ops.set_this_cpu.unwrap())(cpu as u32);
                        call_c(ops, call, &mut out)
                    };
                    let code = rc as u32;
                    use shim::bindings::*;
                    if code == segtab_shim_outcome_SEGTAB_SHIM_PANICKED
                        || code == segtab_shim_outcome_SEGTAB_SHIM_WAIT_FOREVER
                    {
                        sched::died();
                        stop = Some(Abandon::Dead);
                    }
                    let abandon = (code == segtab_shim_outcome_SEGTAB_SHIM_ABANDONED
                        || code == segtab_shim_outcome_SEGTAB_SHIM_DEAD)
                        .then(|| sched::check().err().unwrap_or(Abandon::Dead));
                    if let Some(a) = abandon {
                        stop = Some(a);
                    }
                    let ok = code == segtab_shim_outcome_SEGTAB_SHIM_OK;
                    let raw = RawCpu {
                        rc,
                        out: out as u64,
                        abandon,
                    };
                    (RawEnd::Ran(raw), ok.then_some(out as u64))
                };
                let (end, out) = one();
                // SAFETY: this CPU runs alone (see SharedCtx); no hook of
                // the C is active between two calls.
                let pool = unsafe { &mut (*ctx.get()).pool };
                after(cpu, k, pool, out);
                ends.push(end);
            }
            ends
        });
        self.ctx.cb_data = std::ptr::null_mut();
        self.ctx.cb_call = None;

        let results = raw
            .results
            .into_iter()
            .enumerate()
            .map(|(cpu, ends)| {
                ends.into_iter()
                    .enumerate()
                    .map(|(k, r)| match r {
                        RawEnd::Refused(None) => {
                            CpuOutcome::Refused(first[cpu].take().expect("refused"))
                        }
                        RawEnd::Refused(Some(e)) => CpuOutcome::Refused(e),
                        RawEnd::Abandoned(a)
                        | RawEnd::Ran(RawCpu {
                            abandon: Some(a), ..
                        }) => CpuOutcome::Abandoned(a),
                        RawEnd::Ran(RawCpu { rc, out, .. }) => {
                            let loc = matches!(
                                calls[cpu][k],
                                CCall::Lookup { .. } | CCall::Reserve { .. }
                            )
                            .then(|| {
                                PteLoc::classify(&self.ctx.pool, out, self.geometry.pte_bytes)
                            });
                            CpuOutcome::Done(self.outcome(rc, loc))
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(RunReport {
            results,
            log: raw.log,
            deadlock: raw.deadlock,
            decisions: raw.decisions,
            taken: raw.taken,
            points: raw.points,
        })
    }

    /// `pmap_md_direct_mapped_vaddr_p(va)` as the C sees it.
    pub fn direct_mapped_p(&self, va: u64) -> bool {
        // SAFETY: pure function.
        unsafe { (self.ops.direct_mapped_p.unwrap())(va) }
    }

    /// The tree of pmap `pmap`.
    pub fn table(&self, pmap: u32) -> TableShape {
        let root = self.state().pm_segtab[pmap as usize] as u64;
        TableShape::walk(&self.ctx.pool, &self.geometry, root)
    }

    /// The free segtab list, head first (and whether it was cut short).
    pub fn free_segtabs(&self) -> (Vec<Ptr>, bool) {
        let head = self.state().free_segtab as u64;
        inspect::free_list(&self.ctx.pool, &self.geometry, head, self.list_limit())
    }

    /// The PTP cache, head first, as frame numbers (and whether cut short).
    pub fn ptp_cache(&self) -> (Vec<u32>, bool) {
        let first = self.state().ptp_first;
        let first =
            (!first.is_null()).then(|| self.ctx.pool.pfn_of_vm_page(first).unwrap_or(u32::MAX));
        inspect::ptp_list(&self.ctx.pool, first, self.list_limit())
    }

    fn list_limit(&self) -> usize {
        inspect::list_limit(&self.ctx.pool, &self.geometry)
    }

    /// Which compiled configuration this is (index into CONFIGS).
    pub fn config_index(&self) -> usize {
        self.index
    }
}

impl Drop for CWorld {
    fn drop(&mut self) {
        // try_with: a world kept in a thread-local may be dropped after
        // HELD itself at thread exit.
        let _ = HELD.try_with(|h| h.borrow_mut().retain(|&i| i != self.index));
    }
}

fn cstr(buf: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[allow(non_upper_case_globals)]
fn panic_info(p: &segtab_shim_panic) -> PanicInfo {
    use shim::bindings::*;
    let kind = match p.kind as u32 {
        segtab_shim_panic_kind_SEGTAB_SHIM_PANIC_KASSERT => PanicKind::Kassert {
            line: p.line as u32,
            expr: cstr(&p.expr),
        },
        segtab_shim_panic_kind_SEGTAB_SHIM_PANIC_WAIT => PanicKind::WaitForever,
        segtab_shim_panic_kind_SEGTAB_SHIM_PANIC_LOCK => PanicKind::Lock,
        _ => PanicKind::Call { fmt: cstr(&p.fmt) },
    };
    PanicInfo {
        kind,
        msg: cstr(&p.msg),
    }
}

/// Recover the HookCtx from the C's `ctx`.
///
/// # Safety
/// `ctx` is the `hooks.ctx` installed by `reset`, i.e. a live `HookCtx`, and
/// no other reference to it is in use while the C is running.
unsafe fn hook_ctx<'a>(ctx: *mut c_void) -> &'a mut HookCtx {
    // SAFETY: the caller's contract.
    unsafe { &mut *(ctx as *mut HookCtx) }
}

unsafe extern "C" fn hook_alloc(ctx: *mut c_void, flags: i32) -> *mut vm_page {
    // SAFETY: called by the C with the ctx installed by reset.
    let c = unsafe { hook_ctx(ctx) };
    match c.pool.alloc(flags) {
        Some(pfn) => c.pool.vm_page_ptr(pfn),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn hook_free(ctx: *mut c_void, pg: *mut vm_page) {
    // SAFETY: as hook_alloc.
    let c = unsafe { hook_ctx(ctx) };
    let pfn = c.pool.pfn_of_vm_page(pg).unwrap_or(u32::MAX);
    c.pool.free(pfn);
}

unsafe extern "C" fn hook_wait(ctx: *mut c_void, _wmsg: *const std::ffi::c_char) -> i32 {
    // SAFETY: as hook_alloc.
    let c = unsafe { hook_ctx(ctx) };
    if c.pool.wait() {
        0
    } else {
        1
    }
}

unsafe extern "C" fn hook_callback(
    ctx: *mut c_void,
    pmap: u32,
    sva: u64,
    eva: u64,
    pte: *mut c_void,
    flags: u64,
) {
    // SAFETY: as hook_alloc.
    let c = unsafe { hook_ctx(ctx) };
    if let Some(call) = c.cb_call {
        let args = CallbackArgs {
            pmap,
            sva,
            eva,
            pte: pte as u64,
            flags,
        };
        // SAFETY: cb_data/cb_call were installed together by with_callback
        // and point to a closure that outlives the C call.
        unsafe { call(c.cb_data, &mut c.pool, args) };
    }
}

unsafe extern "C" fn hook_map_event(ctx: *mut c_void, map: i32, pa: u64) {
    // SAFETY: as hook_alloc.
    let c = unsafe { hook_ctx(ctx) };
    c.pool.note_map(map != 0, pa);
}

/// The code ([`Call::code`]) of the last call out of the C file (the
/// scheduler's hook sees every one), in any world of this process: what a
/// hang report names. -1 until the first; the engine resets it.
pub static LAST_CALL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// The scheduler's hook: a no-op (one thread-local read) outside
/// `Scheduler::run`. Touches no HookCtx: another CPU may run before it
/// returns.
unsafe extern "C" fn hook_sched(_ctx: *mut c_void, call: i32) -> i32 {
    LAST_CALL.store(call, std::sync::atomic::Ordering::Relaxed);
    if sched::this_cpu().is_none() {
        return 0;
    }
    let r = match Call::from_code(call) {
        Some(Call::SpinEnter) => sched::lock_enter(),
        Some(Call::SpinExit) => sched::lock_exit(),
        Some(c) => sched::point(c),
        None => Ok(()),
    };
    i32::from(r.is_err())
}

unsafe extern "C" fn hook_xtab(ctx: *mut c_void, activate: i32, pmap: u32, lwp: i32) {
    // SAFETY: as hook_alloc.
    let c = unsafe { hook_ctx(ctx) };
    c.xtab.push(if activate != 0 {
        XtabEvent::Activate {
            pmap,
            lwp: lwp as u32,
        }
    } else {
        XtabEvent::Deactivate { pmap }
    });
}
