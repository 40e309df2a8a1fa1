//! What the engine needs of a side, the same for the C reference and the
//! port: run one [`Action`], report how it ended, and expose its state.
//! The sides themselves are [`c_side`](crate::c_side) and
//! [`port_side`](crate::port_side).

use crate::callbacks::CbCall;
use crate::model::Action;
use c_reference::{Config, PanicInfo, PanicKind, XtabEvent, NCPUS, NLWPS, NPMAPS};
use shim::inspect::{Geometry, PteLoc, Ptr};
use shim::pool::{PagePool, PoolEvent};
use shim::sched::{Abandon, SchedEvent};

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
    /// A concurrent step: how many decisions the scheduler took (points
    /// where another CPU could have run; see `shim::sched`). `explore`
    /// enumerates schedules over these.
    pub decisions: u32,
    /// A concurrent step: the decisions taken, as schedule bits (what a
    /// PCT step replays as).
    pub taken: u64,
    /// A concurrent step: points reached (PCT's steps).
    pub points: u32,
    /// Where each CPU's later calls (the second on) started in `sched`:
    /// (cpu, call index, log position); reports only, not compared.
    pub starts: Vec<(u8, u8, u32)>,
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
    /// Run calls into the file at once: CPU `i` makes the calls `cpus[i]`
    /// one after the other (CPU 0 as the current lwp, CPU 1 as lwp
    /// `lwp1`), each CPU in a context of its own (a coroutine or a
    /// thread) under a [`Scheduler`](shim::sched::Scheduler) that takes
    /// its decisions from `choices`. Each call is refused or not when its
    /// CPU comes to it (no segtab); an `Enter` stores its value as soon as
    /// its reserve returns, on its CPU. A call after its CPU panicked or
    /// was abandoned does not run and ends `Abandoned`. One end per call;
    /// `trace.sched` receives the schedule.
    fn step_concurrent(
        &mut self,
        cpus: &[Vec<Action>],
        lwp1: u32,
        choices: u64,
        trace: &mut StepTrace,
    ) -> Vec<Vec<StepEnd>>;
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

pub(crate) fn w_write(pool: &mut PagePool, pfn: u32, index: u32, bytes: u32, value: u64) {
    pool.write_word(pfn, index * bytes, bytes, value);
}
