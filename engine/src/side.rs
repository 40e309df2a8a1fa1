//! What the engine needs of a side, the same for the C reference and the
//! port: run one [`Action`], report how it ended, and expose its state.

use crate::callbacks::CbCall;
use crate::model::{Action, CbKind};
use c_reference::{
    CCall, CWorld, CallbackArgs, Config, CpuOutcome, Outcome, PanicInfo, PanicKind, XtabEvent,
    NCPUS, NLWPS, NPMAPS,
};
use shim::inspect::{Geometry, PteLoc, Ptr};
use shim::pool::{PagePool, PoolEvent};
use shim::sched::Scheduler;
use shim::sched::{Abandon, SchedEvent};
use std::sync::Mutex;

/// A panic, reduced to what both sides can agree on: the site in rev 1.23.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PanicClass {
    /// A `KASSERT`/`KASSERTMSG` at this line of rev 1.23.
    Kassert(u32),
    /// `pmap_check_stp` (line 161).
    CheckStp,
    /// `pmap_check_ptes`: not page aligned (line 178).
    CheckPtesAlign,
    /// `pmap_check_ptes`: an entry is not 0 (line 194).
    CheckPtesNonzero,
    /// `pmap_pte_reserve`: no page and no `PMAP_CANFAIL` (line 545).
    ReserveNoPage,
    /// `uvm_wait` would never return.
    WaitForever,
    /// The spin mutex protocol was broken.
    Lock,
    /// A concurrent step in which every unfinished CPU waits for the spin
    /// lock (a CPU finished holding it).
    Deadlock,
    /// Not a panic: a segtab reached the free list with tables still in
    /// it (the release quirk, C lines 270-272), after which the C would
    /// read memory it freed; the harness stops the sequence there.
    StaleFreeSegtab,
    /// Anything else (a panic the C does not have, e.g. a Rust bug).
    Other(String),
}

/// The KASSERT expressions of rev 1.23 by line: a C panic names its
/// expression, which survives a patched file's line shifts.
pub const KASSERTS: &[(u32, &str)] = &[
    (
        220,
        "pmap != pmap_kernel() || !pmap_md_direct_mapped_vaddr_p(va)",
    ),
    (280, "stp->seg_seg[i] == NULL"),
    (285, "vinc == NBSEG"),
    (432, "pm == l->l_proc->p_vmspace->vm_map.pmap"),
    (
        529,
        "stp == pmap->pm_segtab->seg_seg[(va >> XSEGSHIFT) & (NSEGPG - 1)]",
    ),
    (536, "LIST_FIRST(&pmap_segtab_info.ptp_pgflist) != pg"),
    (
        574,
        "pte == stp->seg_tab[(va >> SEGSHIFT) & (PMAP_SEGTABSIZE - 1)]",
    ),
];

impl PanicClass {
    /// Classify a panic of the C.
    pub fn of_c(p: &PanicInfo) -> PanicClass {
        match &p.kind {
            PanicKind::Kassert { line, expr } => PanicClass::Kassert(
                KASSERTS
                    .iter()
                    .find(|(_, e)| e == expr)
                    .map(|(l, _)| *l)
                    .unwrap_or(*line),
            ),
            PanicKind::WaitForever => PanicClass::WaitForever,
            PanicKind::Lock => PanicClass::Lock,
            PanicKind::Call { fmt } => {
                if fmt.contains("pm_segtab.seg_tab") {
                    PanicClass::CheckStp
                } else if fmt.contains("not page aligned") {
                    PanicClass::CheckPtesAlign
                } else if fmt.contains("not 0") {
                    PanicClass::CheckPtesNonzero
                } else if fmt.contains("cannot allocate page table page") {
                    PanicClass::ReserveNoPage
                } else {
                    PanicClass::Other(fmt.clone())
                }
            }
        }
    }
}

/// How a step ended on one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEnd {
    /// Returned; the PTE pointer for lookup/reserve/enter.
    Ok(Option<PteLoc>),
    /// Panicked (or would wait forever); the world is dead.
    Panic(PanicClass, String),
    /// The harness refused the call (e.g. NULL pm_segtab): nothing ran.
    Refused(String),
    /// A concurrent step stopped this CPU in mid-call: the other CPU
    /// panicked, or every CPU waited for the lock (deadlock).
    Abandoned(Abandon),
}

impl StepEnd {
    /// Compare, panic texts included: each side has normalised its own
    /// (pointers as pool frames and harness pmaps, the file as NetBSD
    /// names it; see [`panic_text`](crate::panic_text)). Refusals are the
    /// harness's and compare by kind only.
    pub fn agrees(&self, other: &StepEnd) -> bool {
        match (self, other) {
            (StepEnd::Panic(a, ma), StepEnd::Panic(b, mb)) => {
                a == b && crate::panic_text::same(ma, mb)
            }
            (StepEnd::Refused(_), StepEnd::Refused(_)) => true,
            (a, b) => a == b,
        }
    }
    /// Whether the world is dead after this.
    pub fn is_panic(&self) -> bool {
        matches!(self, StepEnd::Panic(..))
    }
}

/// What one step did, besides its end: the observable side effects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepTrace {
    /// Page pool events, in order.
    pub pool: Vec<PoolEvent>,
    /// `pmap_md_xtab_*` calls.
    pub xtab: Vec<XtabEvent>,
    /// Callback calls (a concurrent step: CPU 0's, then CPU 1's; the
    /// schedule says how they interleaved).
    pub callbacks: Vec<CbCall>,
    /// A concurrent step: which CPU reached which call out of the file,
    /// in order.
    pub sched: Vec<SchedEvent>,
}

/// The O(1) summary every step compares: what any step can change.
/// (`cpu_info` and the lwps change only through activate, deactivate and
/// the lwp operations, which compare the whole [`Snapshot`].)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// `pm_segtab` of each pmap.
    pub roots: [Ptr; NPMAPS as usize],
    /// Head of the free segtab list.
    pub free_head: Ptr,
    /// Head of the PTP cache.
    pub ptp_head: Option<u32>,
    /// DEBUG counters (nget, nput, npage).
    pub counters: (u32, u32, u32),
    /// Is the segtab lock held; times it was taken.
    pub lock: (bool, u32),
    /// Pages in use in the pool.
    pub pool_in_use: u32,
}

/// The state a comparison reads after a step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// What every step compares.
    pub summary: Summary,
    /// `pm_minaddr` of each pmap.
    pub minaddr: [u64; NPMAPS as usize],
    /// The free segtab list, head first; and whether the walk was cut
    /// (deep comparison only).
    pub free_list: (Vec<Ptr>, bool),
    /// The PTP cache, head first; and whether the walk was cut (deep only).
    pub ptp: (Vec<u32>, bool),
    /// `ci_pmap_user_segtab` per cpu.
    pub ci_segtab: [Ptr; NCPUS as usize],
    /// `ci_pmap_user_seg0tab` per cpu (NULL on 32-bit).
    pub ci_seg0tab: [Ptr; NCPUS as usize],
    /// curlwp.
    pub curlwp: u32,
    /// (cpu, pmap) of each lwp.
    pub lwps: [(u32, u32); NLWPS as usize],
}

/// One side of the comparison.
pub trait Side {
    /// "C" or "Rust".
    fn label(&self) -> &'static str;
    /// The configuration.
    fn config(&self) -> &'static Config;
    /// Layout facts.
    fn geometry(&self) -> Geometry;
    /// The pool.
    fn pool(&self) -> &PagePool;
    /// The pool, mutably.
    fn pool_mut(&mut self) -> &mut PagePool;
    /// Back to the initial state.
    fn reset(&mut self);
    /// Run one action; `trace` collects callbacks.
    fn step(&mut self, a: &Action, trace: &mut StepTrace) -> StepEnd;
    /// Run two calls into the file at once: `acts[0]` on CPU 0 as the
    /// current lwp, `acts[1]` on CPU 1 as lwp `lwp1`, each on its own
    /// thread under a [`Scheduler`](shim::sched::Scheduler) that takes its
    /// decisions from `choices`. `trace.sched` receives the schedule.
    fn step_concurrent(
        &mut self,
        acts: [&Action; 2],
        lwp1: u32,
        choices: u64,
        trace: &mut StepTrace,
    ) -> [StepEnd; 2];
    /// Drain the `pmap_md_xtab_*` log.
    fn take_xtab(&mut self) -> Vec<XtabEvent>;
    /// Read the state; `deep` walks the free list and the PTP cache.
    /// (`&mut`: the port's shared state is read without its lock, which
    /// needs exclusive access.)
    fn snapshot(&mut self, deep: bool) -> Snapshot;
    /// Read the O(1) summary.
    fn summary(&mut self) -> Summary;
    /// The `pm_segtab` of one pmap, classified (cheap).
    fn root(&self, pmap: u32) -> Ptr {
        Ptr::classify(self.pool(), self.root_raw(pmap))
    }
    /// The `pm_segtab` of one pmap, raw.
    fn root_raw(&self, pmap: u32) -> u64;
}

/// Apply an action's pool-level part (limits, injection) identically on
/// both sides; true if the action was one of those.
pub fn pool_action(pool: &mut PagePool, a: &Action) -> bool {
    match *a {
        Action::Limit { headroom } => pool.set_limit(pool.in_use() + headroom),
        Action::Unlimit => pool.set_limit(u32::MAX),
        Action::FailNext { n } => pool.fail_next(n),
        _ => return false,
    }
    true
}

fn end_of<T>(o: Outcome<T>, f: impl FnOnce(T) -> Option<PteLoc>) -> StepEnd {
    match o {
        Outcome::Ok(v) => StepEnd::Ok(f(v)),
        Outcome::Panicked(p) | Outcome::WaitForever(p) => {
            let class = PanicClass::of_c(&p);
            let mut msg = p.msg;
            // A KASSERT names its rev-1.23 line, whatever `__LINE__` the
            // compiler gave a macro spanning two lines (gcc: the first,
            // clang: the last) or a patched file shifted it to.
            if let (PanicKind::Kassert { line, .. }, PanicClass::Kassert(site)) = (&p.kind, &class)
            {
                if line != site {
                    msg = msg.replacen(&format!(", line {line} "), &format!(", line {site} "), 1);
                }
            }
            StepEnd::Panic(class, msg)
        }
    }
}

/// The C reference as a side.
pub struct CSide {
    /// The world.
    pub world: CWorld,
}

impl CSide {
    /// A panic's text with the C's pointers and `__FILE__` normalised.
    fn normalized(&self, end: StepEnd) -> StepEnd {
        match end {
            StepEnd::Panic(class, msg) => {
                let st = self.world.state();
                let pmaps = st.pm_addr.map(|p| p as u64);
                let source = self.world.c_source();
                let names = crate::panic_text::Names {
                    pool: self.world.pool().map(),
                    pmaps: &pmaps,
                    source: Some(&source),
                    prefix: Some(self.world.config().ident),
                };
                StepEnd::Panic(class, crate::panic_text::normalize(&msg, &names))
            }
            other => other,
        }
    }
}

fn args_of(a: &CallbackArgs) -> crate::callbacks::Args {
    crate::callbacks::Args {
        sva: a.sva,
        eva: a.eva,
    }
}

impl Side for CSide {
    fn label(&self) -> &'static str {
        "C"
    }
    fn config(&self) -> &'static Config {
        self.world.config()
    }
    fn geometry(&self) -> Geometry {
        *self.world.geometry()
    }
    fn pool(&self) -> &PagePool {
        self.world.pool()
    }
    fn pool_mut(&mut self) -> &mut PagePool {
        self.world.pool_mut()
    }
    fn reset(&mut self) {
        self.world.reset()
    }
    fn take_xtab(&mut self) -> Vec<XtabEvent> {
        self.world.take_xtab()
    }
    fn root_raw(&self, pmap: u32) -> u64 {
        self.world.pm_segtab(pmap) as u64
    }

    fn step(&mut self, a: &Action, trace: &mut StepTrace) -> StepEnd {
        if pool_action(self.world.pool_mut(), a) {
            return StepEnd::Ok(None);
        }
        let config = self.config();
        let geometry = self.geometry();
        let refused = |e: c_reference::Error| StepEnd::Refused(e.to_string());
        let calls = &mut trace.callbacks;
        let w = &mut self.world;
        let end = match *a {
            Action::Create { pmap, minaddr } => {
                w.segtab_init(pmap, minaddr).map(|o| end_of(o, |_| None))
            }
            Action::Destroy { pmap, cb, flags } => match cb {
                None => w
                    .segtab_destroy(pmap, None::<&mut fn(&mut PagePool, CallbackArgs)>, flags)
                    .map(|o| end_of(o, |_| None)),
                Some(kind) => {
                    let mut f = harness_callback(kind, config, geometry, calls);
                    w.segtab_destroy(pmap, Some(&mut f), flags)
                        .map(|o| end_of(o, |_| None))
                }
            },
            Action::Reserve { pmap, va, flags } => {
                w.pte_reserve(pmap, va, flags).map(|o| end_of(o, Some))
            }
            Action::Lookup { pmap, va } => w.pte_lookup(pmap, va).map(|o| end_of(o, Some)),
            Action::Enter {
                pmap,
                va,
                value,
                flags,
            } => w.pte_reserve(pmap, va, flags).map(|o| {
                end_of(o, |loc| {
                    if let PteLoc::In { pfn, index, rem: 0 } = loc {
                        if index < geometry.nptepg {
                            w_write(w.pool_mut(), pfn, index, geometry.pte_bytes, value);
                        }
                    }
                    Some(loc)
                })
            }),
            Action::Process {
                pmap,
                sva,
                eva,
                cb,
                flags,
            } => {
                let mut f = harness_callback(cb, config, geometry, calls);
                w.pte_process(pmap, sva, eva, flags, &mut f)
                    .map(|o| end_of(o, |_| None))
            }
            Action::Activate { pmap, lwp } => {
                w.segtab_activate(pmap, lwp).map(|o| end_of(o, |_| None))
            }
            Action::Deactivate { pmap } => w.segtab_deactivate(pmap).map(|o| end_of(o, |_| None)),
            Action::SwitchLwp { lwp } => w.set_curlwp(lwp).map(|_| StepEnd::Ok(None)),
            Action::BindLwp { lwp, pmap, cpu } => {
                w.bind_lwp(lwp, pmap, cpu).map(|_| StepEnd::Ok(None))
            }
            Action::Concurrent(_) => Ok(StepEnd::Refused(
                "a concurrent step runs through step_concurrent".into(),
            )),
            Action::Limit { .. } | Action::Unlimit | Action::FailNext { .. } => unreachable!(),
        }
        .unwrap_or_else(refused);
        self.normalized(end)
    }

    fn step_concurrent(
        &mut self,
        acts: [&Action; 2],
        lwp1: u32,
        choices: u64,
        trace: &mut StepTrace,
    ) -> [StepEnd; 2] {
        let config = self.config();
        let geometry = self.geometry();
        let calls = acts.map(c_call);
        let kinds = acts.map(|a| match *a {
            Action::Destroy { cb, .. } => cb,
            Action::Process { cb, .. } => Some(cb),
            _ => None,
        });
        let traces: [Mutex<Vec<CbCall>>; 2] = Default::default();
        let sink = |cpu: usize, pool: &mut PagePool, args: CallbackArgs| {
            let kind = kinds[cpu].expect("a callback only where the call passes one");
            let mut calls = traces[cpu].lock().unwrap_or_else(|e| e.into_inner());
            harness_callback(kind, config, geometry, &mut calls)(pool, args);
        };
        let sched = Scheduler::new(2, choices);
        let calls = match calls {
            [Some(a), Some(b)] => [a, b],
            _ => {
                let refused = || StepEnd::Refused("not a call into the file".into());
                return [refused(), refused()];
            }
        };
        let report = match self.world.run_concurrent(&sched, calls, lwp1, &sink) {
            Ok(r) => r,
            Err(e) => {
                let refused = || StepEnd::Refused(e.to_string());
                return [refused(), refused()];
            }
        };
        trace.sched = report.log;
        for t in traces {
            trace
                .callbacks
                .extend(t.into_inner().unwrap_or_else(|e| e.into_inner()));
        }
        let mut ends = report.results.into_iter().map(|o| match o {
            CpuOutcome::Done(o) => end_of(o, |loc| loc),
            CpuOutcome::Abandoned(a) => StepEnd::Abandoned(a),
            CpuOutcome::Refused(e) => StepEnd::Refused(e.to_string()),
        });
        let ends = [ends.next().expect("cpu 0"), ends.next().expect("cpu 1")];
        store_entered(self.world.pool_mut(), &geometry, acts, &ends);
        ends.map(|e| self.normalized(e))
    }

    fn summary(&mut self) -> Summary {
        let w = &self.world;
        let s = w.state();
        let pool = w.pool();
        let cls = |p: *mut std::ffi::c_void| Ptr::classify(pool, p as u64);
        Summary {
            roots: s.pm_segtab.map(cls),
            free_head: cls(s.free_segtab),
            ptp_head: (!s.ptp_first.is_null())
                .then(|| pool.pfn_of_vm_page(s.ptp_first).unwrap_or(u32::MAX)),
            counters: (s.nget, s.nput, s.npage),
            lock: (s.lock_held != 0, s.lock_enters),
            pool_in_use: pool.in_use(),
        }
    }

    fn snapshot(&mut self, deep: bool) -> Snapshot {
        let summary = self.summary();
        let w = &self.world;
        let s = w.state();
        let pool = w.pool();
        let cls = |p: *mut std::ffi::c_void| Ptr::classify(pool, p as u64);
        let (mut free_list, mut ptp) = Default::default();
        if deep {
            free_list = w.free_segtabs();
            ptp = w.ptp_cache();
        }
        Snapshot {
            summary,
            minaddr: s.pm_minaddr,
            free_list,
            ptp,
            ci_segtab: s.ci_segtab.map(cls),
            ci_seg0tab: s.ci_seg0tab.map(cls),
            curlwp: s.cur_lwp,
            lwps: std::array::from_fn(|i| (s.lwp_cpu[i], s.lwp_pmap[i])),
        }
    }
}

/// `pmap_enter`'s store into the PTE of the `Enter` calls of a concurrent
/// step: after both CPUs, in CPU order, on both sides.
pub fn store_entered(pool: &mut PagePool, g: &Geometry, acts: [&Action; 2], ends: &[StepEnd; 2]) {
    for (a, e) in acts.iter().zip(ends) {
        if let (Action::Enter { value, .. }, StepEnd::Ok(Some(PteLoc::In { pfn, index, rem: 0 }))) =
            (a, e)
        {
            if *index < g.nptepg {
                w_write(pool, *pfn, *index, g.pte_bytes, *value);
            }
        }
    }
}

/// The C harness call for a call into the file (`Enter` is a reserve; the
/// store into the PTE is the harness's).
fn c_call(a: &Action) -> Option<CCall> {
    Some(match *a {
        Action::Create { pmap, minaddr } => CCall::Init { pmap, minaddr },
        Action::Destroy { pmap, cb, flags } => CCall::Destroy {
            pmap,
            with_callback: cb.is_some(),
            flags,
        },
        Action::Reserve { pmap, va, flags }
        | Action::Enter {
            pmap, va, flags, ..
        } => CCall::Reserve { pmap, va, flags },
        Action::Lookup { pmap, va } => CCall::Lookup { pmap, va },
        Action::Process {
            pmap,
            sva,
            eva,
            flags,
            ..
        } => CCall::Process {
            pmap,
            sva,
            eva,
            flags,
        },
        Action::Activate { pmap, lwp } => CCall::Activate { pmap, lwp },
        Action::Deactivate { pmap } => CCall::Deactivate { pmap },
        _ => return None,
    })
}

/// The C side's `pte_callback_t` sink for callback `kind`: runs it on the
/// PTEs through the pool and records the call.
fn harness_callback<'a>(
    kind: CbKind,
    config: &'static Config,
    geometry: Geometry,
    calls: &'a mut Vec<CbCall>,
) -> impl FnMut(&mut PagePool, CallbackArgs) + 'a {
    move |pool, args| {
        let loc = PteLoc::classify(pool, args.pte, geometry.pte_bytes);
        let mut win = crate::callbacks::PoolWindow::new(pool, loc, &geometry);
        let result = crate::callbacks::apply(kind, &args_of(&args), config, &mut win);
        calls.push(CbCall {
            pmap: args.pmap,
            sva: args.sva,
            eva: args.eva,
            pte: loc,
            flags: args.flags,
            result,
        });
    }
}

fn w_write(pool: &mut PagePool, pfn: u32, index: u32, bytes: u32, value: u64) {
    pool.write_word(pfn, index * bytes, bytes, value);
}
