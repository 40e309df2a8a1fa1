//! Running a sequence on both sides, comparing after every step.
//!
//! Every step compares, cheaply: how it ended, its pool events, xtab
//! hooks and callback trace (all proportional to the step's own work), the
//! fields on the path to the VA it touched and the PTE pages its callbacks
//! were given, and O(1) summaries (every root, the free-list and PTP-cache
//! heads, the DEBUG counters, cpu_info, lwps, the lock, pages in use).
//! Every `deep_every` steps, after a panic and at the end of the sequence
//! the comparison is deep: every table, every PTE, the whole free list and
//! PTP cache. `deep_every = 1` deep-compares every step.

use crate::c_side::CSide;
use crate::compare::{self, FieldDiff};
use crate::model::{Action, Op, Resolver, Sequence};
use crate::side::{PanicClass, Side, Snapshot, StepEnd, StepTrace};
use c_reference::{CWorld, Config};
use serde::{Deserialize, Serialize};
use shim::inspect::{self, PteLoc, Ptr};
use shim::PoolEvent;

/// Steps begun and ended in this process ([`Pair::step`] and its kin), and
/// the index in its sequence of the step [`run_observed`] began last. A
/// watchdog thread tells a call that does not return (an endless loop in
/// either side) from a slow sequence by them: see `campaign::worker`.
pub mod progress {
    use std::sync::atomic::AtomicU64;
    /// Steps begun.
    pub static BEGUN: AtomicU64 = AtomicU64::new(0);
    /// Steps that returned.
    pub static ENDED: AtomicU64 = AtomicU64::new(0);
    /// Index of the last step begun by `run_observed`, in its sequence.
    pub static INDEX: AtomicU64 = AtomicU64::new(0);
    /// What the step begun last is running: [`SIDE_C`], [`SIDE_PORT`] or
    /// [`SIDE_COMPARE`] (a hang report names the side that did not return).
    pub static SIDE: AtomicU64 = AtomicU64::new(0);
    /// The C reference's call.
    pub const SIDE_C: u64 = 1;
    /// The port's call.
    pub const SIDE_PORT: u64 = 2;
    /// The comparison after both returned.
    pub const SIDE_COMPARE: u64 = 3;
    /// The code of the last call out of the port (`shim::sched::Call`);
    /// the C's is `c_reference::LAST_CALL`. -1: none in this step.
    pub static PORT_LAST_CALL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
    /// A side begins its call: [`SIDE`] says so, its last call is none yet.
    pub fn enter(side: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        match side {
            SIDE_C => c_reference::LAST_CALL.store(-1, Relaxed),
            SIDE_PORT => PORT_LAST_CALL.store(-1, Relaxed),
            _ => {}
        }
        SIDE.store(side, Relaxed);
    }
    /// The last call out of the file `side` made in this step, by name.
    pub fn last_call(side: u64) -> Option<String> {
        use std::sync::atomic::Ordering::Relaxed;
        let code = match side {
            SIDE_C => c_reference::LAST_CALL.load(Relaxed),
            SIDE_PORT => PORT_LAST_CALL.load(Relaxed),
            _ => -1,
        };
        shim::sched::Call::from_code(code).map(|c| format!("{c:?}"))
    }
    /// [`SIDE`] as words.
    pub fn side_name(side: u64) -> &'static str {
        match side {
            SIDE_C => "the C reference",
            SIDE_PORT => "the Rust port",
            SIDE_COMPARE => "the comparison of the two sides (the engine)",
            _ => "neither side (the engine, between steps)",
        }
    }
}

/// Pool frames per world unless told otherwise.
pub const DEFAULT_POOL_PAGES: usize = 2048;
/// Deep comparison period unless told otherwise.
pub const DEFAULT_DEEP_EVERY: u32 = 16;

/// How thoroughly to compare.
#[derive(Clone, Copy, Debug)]
pub struct CompareOpts {
    /// Walk and compare every table every `deep_every` steps (1: every
    /// step; 0: only at the end and when a step panics).
    pub deep_every: u32,
}

impl Default for CompareOpts {
    fn default() -> Self {
        CompareOpts {
            deep_every: DEFAULT_DEEP_EVERY,
        }
    }
}

/// The C reference and the port for one configuration.
pub struct Pair {
    /// The configuration.
    pub config: &'static Config,
    /// The C side.
    pub c: CSide,
    /// The port side.
    pub r: Box<dyn Side>,
    /// What the C did in the last step (callbacks, xtab hooks; pool events
    /// only when they differed).
    pub last_c: StepTrace,
    /// The port's schedule in the last step (concurrent steps only).
    pub last_r_sched: Vec<shim::sched::SchedEvent>,
    /// Where the port's CPUs started their later calls in the last step.
    pub last_r_starts: Vec<(u8, u8, u32)>,
    /// The port's scheduler decisions in the last step (concurrent steps only).
    pub last_r_decisions: u32,
    /// Concurrent steps scheduled by PCT instead of their `schedule` bits
    /// (campaign `--scheduler pct`); `None`: the bits.
    pub pct: Option<PctState>,
    /// Poison violations of each pool already reported.
    seen_violations: (usize, usize),
    /// Frames touched since the last deep pass (a flag per frame, and the
    /// list of those set).
    dirty: Vec<bool>,
    dirty_list: Vec<u32>,
    /// Frames on the free list or PTP cache at the last deep pass (a flag
    /// per frame, and the list of those set).
    listed: Vec<bool>,
    listed_list: Vec<u32>,
    /// Where the next periodic pass's rolling window of frames starts.
    roll: u32,
    /// State rev 1.23 has in this configuration and the compiled C
    /// revision does not (its PTP cache, its DEBUG counters): reported as
    /// "not in rev X" ([`Pair::notes`]), never compared.
    c_lacks: Vec<c_reference::Capability>,
}

/// PCT for the concurrent steps of a [`Pair`] (see `shim::sched`'s
/// module docs): each concurrent step of a MULTIPROCESSOR configuration
/// draws fresh priorities for its k CPUs (2 to 4) and `depth - 1` change
/// points uniform over `n`, the mean number of points of the concurrent
/// steps run so far (16 before the first). The C runs first under PCT; the
/// port then follows the bits the C took, so both sides follow one
/// schedule, and [`run`] writes those bits into the sequence it reports,
/// which therefore replays exactly without PCT.
#[derive(Clone, Debug)]
pub struct PctState {
    /// The bug depth d targeted.
    pub depth: u32,
    rng: crate::rng::SplitMix64,
    /// Points reached and concurrent steps run under PCT (the estimate of n).
    pub points: u64,
    /// Concurrent steps run under PCT.
    pub steps: u64,
    /// The bits the last PCT step took (taken by [`run`]).
    taken: Option<u64>,
}

/// PCT's estimate of points per concurrent step before one has run.
pub const PCT_FIRST_N: u32 = 16;

impl PctState {
    /// PCT of depth `depth` (>= 1), drawing from `seed`.
    pub fn new(depth: u32, seed: u64) -> Self {
        PctState {
            depth: depth.max(1),
            rng: crate::rng::SplitMix64(seed),
            points: 0,
            steps: 0,
            taken: None,
        }
    }

    /// The current estimate of n, points per concurrent step.
    pub fn n(&self) -> u32 {
        if self.steps == 0 {
            PCT_FIRST_N
        } else {
            (self.points as f64 / self.steps as f64).round().max(1.0) as u32
        }
    }

    fn draw(&mut self, ncpus: usize) -> shim::sched::Pct {
        let n = self.n();
        let rng = &mut self.rng;
        shim::sched::Pct::draw(self.depth, ncpus, n, || rng.next_u64())
    }
}

/// A periodic deep pass reads the contents of the frames touched since the
/// previous pass and of `ROLL` more, the next in a window that cycles over
/// every frame handed out so far: its cost follows what changed plus a
/// constant, and in a world of `n` frames every frame is read at least
/// every `n / ROLL` passes.
pub const ROLL: u32 = 8;

impl Pair {
    /// Open both sides of `name`.
    pub fn open(name: &str, pool_pages: usize) -> anyhow::Result<Pair> {
        let world = CWorld::open(name, pool_pages)?;
        let config = world.config();
        let world_lacks = world.revision().lacks();
        let r = crate::port_side::open(config, pool_pages)?;
        Ok(Pair {
            config,
            c: CSide { world },
            r,
            last_c: StepTrace::default(),
            last_r_sched: Vec::new(),
            last_r_starts: Vec::new(),
            last_r_decisions: 0,
            pct: None,
            seen_violations: (0, 0),
            dirty: vec![false; pool_pages],
            dirty_list: Vec::new(),
            listed: vec![false; pool_pages],
            listed_list: Vec::new(),
            roll: 0,
            c_lacks: world_lacks,
        })
    }

    /// What the compiled C revision lacks or adds against rev 1.23 in this
    /// configuration (empty for rev 1.23): reports print it.
    pub fn notes(&self) -> Vec<String> {
        let rev = self.c.world.revision();
        let mut notes: Vec<String> = rev
            .lacks()
            .into_iter()
            .map(|cap| {
                use c_reference::Capability as Cap;
                let how = match cap {
                    // State: masked on the C side (Pair::mask).
                    Cap::PtpCache | Cap::Counters => "state, not compared",
                    // What the file does: the port doing it is a divergence.
                    _ => "behaviour: compared, so it shows as divergences",
                };
                format!("{} ({how})", rev.not_in(cap))
            })
            .collect();
        notes.extend(rev.extra().into_iter().map(|cap| {
            format!(
                "{}: in rev {} only, not in rev 1.23 (shown, not compared)",
                cap.name(),
                rev.number()
            )
        }));
        // The 2022 rework's per-pmap page lists, as they stand: shown so a
        // reader can follow the C, never compared.
        let w = &self.c.world;
        for pmap in 0..c_reference::NPMAPS {
            use c_reference::PageList;
            let (Some(st), Some(pt)) = (
                w.pmap_pages(pmap, PageList::Segtab),
                w.pmap_pages(pmap, PageList::Ptpage),
            ) else {
                break;
            };
            if !st.is_empty() || !pt.is_empty() {
                notes.push(format!(
                    "pmap {pmap} page lists (rev {} only): segtab pages {st:?}, PTE pages {pt:?}",
                    rev.number()
                ));
            }
        }
        notes
    }

    /// Blanks, on the C side, the summary fields of state the C revision
    /// does not have: the port's values stand in, so they never differ.
    fn mask(&self, c: &mut crate::side::Summary, r: &crate::side::Summary) {
        use c_reference::Capability as Cap;
        for cap in &self.c_lacks {
            match cap {
                Cap::PtpCache => c.ptp_head = r.ptp_head,
                Cap::Counters => c.counters = r.counters,
                _ => {}
            }
        }
    }

    /// [`Pair::mask`] for a snapshot (the PTP cache list too).
    fn mask_snapshot(&self, c: &mut Snapshot, r: &Snapshot) {
        self.mask(&mut c.summary, &r.summary);
        if self.c_lacks.contains(&c_reference::Capability::PtpCache) {
            c.ptp = r.ptp.clone();
        }
    }

    /// Both sides back to their initial state.
    pub fn reset(&mut self) {
        self.c.reset();
        self.r.reset();
        self.seen_violations = (0, 0);
        // Each flag set is on its list (`mark_frame`): clearing through the
        // lists costs what the last input touched, not the pool's size.
        for pfn in self.dirty_list.drain(..) {
            self.dirty[pfn as usize] = false;
        }
        for pfn in self.listed_list.drain(..) {
            self.listed[pfn as usize] = false;
        }
        self.roll = 0;
    }

    /// Run one action on both sides and compare; `deep` walks everything.
    /// Returns the C's end and the differing fields.
    pub fn step(&mut self, a: &Action, deep: bool) -> (StepEnd, Vec<FieldDiff>) {
        self.step_with(a, if deep { Pass::Periodic } else { Pass::None })
    }

    /// The last step of a sequence: its deep pass is the full one (what
    /// [`Pair::step`] with `deep` and then [`Pair::deep`] compare, with
    /// one snapshot and one walk instead of two).
    pub fn step_last(&mut self, a: &Action) -> (StepEnd, Vec<FieldDiff>) {
        self.step_with(a, Pass::Full)
    }

    fn step_with(&mut self, a: &Action, pass: Pass) -> (StepEnd, Vec<FieldDiff>) {
        use std::sync::atomic::Ordering::Relaxed;
        // What the harness's callbacks treat as a pool address
        // (callbacks::leave_alone): this pair's two pools.
        shim::pool::set_compared_pools(&self.c.pool().map(), &self.r.pool().map());
        progress::BEGUN.fetch_add(1, Relaxed);
        let r = self.step_inner(a, pass);
        progress::ENDED.fetch_add(1, Relaxed);
        r
    }

    fn step_inner(&mut self, a: &Action, pass: Pass) -> (StepEnd, Vec<FieldDiff>) {
        let (mut tc, mut tr) = (StepTrace::default(), StepTrace::default());
        self.c.pool_mut().clear_events();
        self.r.pool_mut().clear_events();
        let mut diffs = Vec::new();
        let (ec, er) = match a {
            Action::Concurrent(cc) => {
                let cpus = &cc.cpus[..];
                // Without MULTIPROCESSOR the resolver made the schedule 0
                // (one call after the other): nothing for PCT to choose.
                let pct = match &mut self.pct {
                    Some(p) if self.config.multiprocessor => Some(p),
                    _ => None,
                };
                progress::enter(progress::SIDE_C);
                let schedule = if let Some(p) = pct {
                    let policy = shim::sched::Policy::Pct(p.draw(cpus.len()));
                    let ecs = self
                        .c
                        .step_concurrent_policy(cpus, cc.lwp, &policy, &mut tc);
                    p.points += tc.points as u64;
                    p.steps += 1;
                    p.taken = Some(tc.taken);
                    (tc.taken, ecs)
                } else {
                    let ecs = self.c.step_concurrent(cpus, cc.lwp, cc.schedule, &mut tc);
                    (cc.schedule, ecs)
                };
                let (bits, ecs) = schedule;
                progress::enter(progress::SIDE_PORT);
                let ers = self.r.step_concurrent(cpus, cc.lwp, bits, &mut tr);
                let single = cc.one_call_each();
                for (i, (ec, er)) in ecs.iter().zip(&ers).enumerate() {
                    for (k, (ec, er)) in ec.iter().zip(er).enumerate() {
                        let field = if single {
                            format!("cpu{i} return / panic")
                        } else {
                            format!("cpu{i} call {k} return / panic")
                        };
                        compare::outcome(&mut diffs, &field, ec, er);
                    }
                }
                for ends in [&ecs, &ers] {
                    for (calls, ends) in cpus.iter().zip(ends) {
                        for (a, e) in calls.iter().zip(ends) {
                            self.mark_end(a, e);
                        }
                    }
                }
                (combined_end(&ecs), combined_end(&ers))
            }
            _ => {
                progress::enter(progress::SIDE_C);
                let ec = self.c.step(a, &mut tc);
                progress::enter(progress::SIDE_PORT);
                (ec, self.r.step(a, &mut tr))
            }
        };
        progress::enter(progress::SIDE_COMPARE);
        // Compare the logs in place; they are moved into the trace only
        // for a report.
        if self.c.pool().events() != self.r.pool().events() {
            tc.pool = self.c.pool_mut().take_events();
            tr.pool = self.r.pool_mut().take_events();
        }
        tc.xtab = self.c.take_xtab();
        tr.xtab = self.r.take_xtab();
        if matches!(a, Action::Concurrent(_)) {
            compare::traces(&mut diffs, &tc, &tr);
        } else {
            compare::step(&mut diffs, &ec, &er, &tc, &tr);
        }
        if !matches!(a, Action::Concurrent(_)) {
            self.mark_end(a, &ec);
            self.mark_end(a, &er);
        }
        self.mark_dirty(&tc);
        let full = pass == Pass::Full || ec.is_panic() || er.is_panic();
        let deep = pass != Pass::None || full;
        if !deep {
            self.touched(a, &tc, &mut diffs);
        }
        let lwp_state = matches!(
            a,
            Action::Activate { .. }
                | Action::Deactivate { .. }
                | Action::SwitchLwp { .. }
                | Action::BindLwp { .. }
                | Action::Create { .. }
                | Action::Concurrent(_)
        );
        if deep {
            self.deep_pass(&mut diffs, full);
        } else if lwp_state {
            let (mut cs, rs) = (self.c.snapshot(false), self.r.snapshot(false));
            self.mask_snapshot(&mut cs, &rs);
            compare::snapshot(&mut diffs, &cs, &rs);
        } else {
            let (mut cs, rs) = (self.c.summary(), self.r.summary());
            self.mask(&mut cs, &rs);
            compare::summary(&mut diffs, &cs, &rs);
        }
        self.memory(&mut diffs);
        self.last_c = tc;
        self.last_r_sched = tr.sched;
        self.last_r_starts = tr.starts;
        self.last_r_decisions = tr.decisions;
        (ec, diffs)
    }

    /// Everything compared: the snapshot with the whole free list and PTP
    /// cache, every table, every free segtab's slots, every cached page's
    /// contents, what every pool page is used for, and the poison of every
    /// free page.
    pub fn deep(&mut self, diffs: &mut Vec<FieldDiff>) {
        self.deep_pass(diffs, true);
        // A store into a free page only this pass saw is a finding too.
        self.memory(diffs);
    }

    /// A deep pass. Both kinds compare the snapshot with the whole free
    /// list and PTP cache, and check the poison of the free frames they
    /// read.
    ///
    /// A full pass (end of sequence, panics, or a step that already
    /// differs) walks every table, classifies every frame and reads every
    /// page.
    ///
    /// A periodic pass (`full` false) costs what changed, not the
    /// footprint: it reads, as raw memory on both sides, the frames
    /// touched since the last pass, the frames of every segtab reachable
    /// from a root (so every slot of every tree is still compared each
    /// pass), segtabs and pages newly on the free list or PTP cache, and a
    /// rolling window of [`ROLL`] others. When the sides agree, every
    /// allocated frame holds the same words up to pointer translation, so
    /// this detects any difference in what it reads; the frame classes are
    /// a function of the roots, lists, allocation flags and slots, all of
    /// which it compares. Only when a frame differs does it run the full
    /// structural comparison, to name the table, list or class.
    fn deep_pass(&mut self, diffs: &mut Vec<FieldDiff>, full: bool) {
        let (mut cs, rs) = (self.c.snapshot(true), self.r.snapshot(true));
        self.mask_snapshot(&mut cs, &rs);
        compare::snapshot(diffs, &cs, &rs);
        // A step that already differs gets the full report: it costs
        // nothing while the sides agree.
        let full = full || !diffs.is_empty();
        // The rolling window covers what this sequence could reach: frames
        // beyond were checked when the sequence that last reached them
        // ended (see `PagePool::check_reach`).
        let frames = self.c.pool().reach().max(self.r.pool().reach()).max(1);
        let start = self.roll % frames;
        // Both kinds read the touched frames as raw memory (a full pass
        // too: the structure does not read a leaked page's contents).
        let walked = self.periodic(diffs, &cs, &rs, start, frames);
        if full {
            if !walked {
                self.structure(diffs, &cs, &rs);
            }
            // Frames the periodic part checked are not read again (the
            // pool knows no call ran since).
            self.c.pool_mut().check_reach();
            self.r.pool_mut().check_reach();
        }
        for &pfn in &self.dirty_list {
            self.dirty[pfn as usize] = false;
        }
        self.dirty_list.clear();
        self.note_listed(&cs);
        self.roll = (start + ROLL) % frames;
    }

    /// Every table walked, every frame classified, every free segtab and
    /// cached page read.
    fn structure(&self, diffs: &mut Vec<FieldDiff>, cs: &Snapshot, rs: &Snapshot) {
        let all = |_: u32| true;
        compare::trees(diffs, &self.c, &*self.r, &all);
        compare::pages(diffs, &self.c, &*self.r, cs, rs, &all);
    }

    /// The periodic pass's reading: see [`Pair::deep_pass`]. Returns
    /// whether it walked the structure (a frame differed).
    fn periodic(
        &mut self,
        diffs: &mut Vec<FieldDiff>,
        cs: &Snapshot,
        rs: &Snapshot,
        start: u32,
        frames: u32,
    ) -> bool {
        let (dirty, list) = (&mut self.dirty, &mut self.dirty_list);
        let mut mark = |pfn: u32| mark_frame(dirty, list, pfn);
        for k in 0..ROLL.min(frames) {
            mark((start + k) % frames);
        }
        let roots: Vec<u64> = (0..c_reference::NPMAPS)
            .map(|p| self.c.root_raw(p))
            .collect();
        inspect::segtab_frames(self.c.pool(), &self.c.geometry(), &roots, &mut mark);
        for p in &cs.free_list.0 {
            if let Ptr::Page(r) = *p {
                if !self.listed.get(r.pfn as usize).copied().unwrap_or(true) {
                    mark(r.pfn);
                }
            }
        }
        for &pfn in &cs.ptp.0 {
            if !self.listed.get(pfn as usize).copied().unwrap_or(true) {
                mark(pfn);
            }
        }
        let (pc, pr) = (self.c.pool(), self.r.pool());
        let mut found: Vec<(u32, u32, String, String)> = Vec::new();
        for &pfn in &self.dirty_list {
            if pfn >= pc.capacity() {
                continue;
            }
            let (ac, ar) = (pc.is_allocated(pfn), pr.is_allocated(pfn));
            if ac != ar {
                let state = |a: bool| if a { "allocated" } else { "free" }.to_string();
                found.push((pfn, 0, state(ac), state(ar)));
            } else if ac {
                inspect::diff_frame(pc, pr, pfn, |off, a, b| {
                    let show = |pool: &shim::PagePool, w: u64| Ptr::classify(pool, w).to_string();
                    found.push((pfn, off, show(pc, a), show(pr, b)));
                });
            }
        }
        let walked = !found.is_empty();
        if walked {
            let before = diffs.len();
            self.structure(diffs, cs, rs);
            if diffs.len() == before {
                // Nothing a structure holds: a leaked page, or bytes no
                // table or list reaches.
                let g = self.c.geometry();
                let uses = inspect::account(pc, &g, &roots, &cs.free_list.0, &cs.ptp.0);
                let mut table = compare::TableDiffs::with_category(diffs, "pages");
                for (pfn, off, c, r) in found {
                    let class = uses.get(pfn as usize).map(|u| u.class());
                    let class = class.as_deref().unwrap_or("never used");
                    table.add_shown(format_args!("pfn {pfn} ({class}) word +{off:#x}"), || {
                        (c, r)
                    });
                }
            }
        }
        self.c
            .pool_mut()
            .check_free_list(self.dirty_list.iter().copied());
        self.r
            .pool_mut()
            .check_free_list(self.dirty_list.iter().copied());
        walked
    }

    /// Remembers which frames the free list and PTP cache hold, so the
    /// next periodic pass reads those newly put there.
    fn note_listed(&mut self, cs: &Snapshot) {
        for &pfn in &self.listed_list {
            self.listed[pfn as usize] = false;
        }
        self.listed_list.clear();
        let pages = cs.free_list.0.iter().filter_map(|p| match *p {
            Ptr::Page(r) => Some(r.pfn),
            _ => None,
        });
        for pfn in pages.chain(cs.ptp.0.iter().copied()) {
            mark_frame(&mut self.listed, &mut self.listed_list, pfn);
        }
    }

    /// Notes the PTE page a reserve returned: it may have come from the
    /// PTP cache (not zeroed, lines 532-540), and `Enter` writes into it. A
    /// lookup's page is left alone: `pmap_pte_lookup` writes nothing, and
    /// the step compared the entry it returned.
    fn mark_end(&mut self, a: &Action, e: &StepEnd) {
        if matches!(a, Action::Lookup { .. }) {
            return;
        }
        if let StepEnd::Ok(Some(PteLoc::In { pfn, .. })) = *e {
            mark_frame(&mut self.dirty, &mut self.dirty_list, pfn);
        }
    }

    /// Notes the pages a step touched (allocated, freed, mapped, handed out
    /// as PTEs, given to callbacks), for the next periodic deep pass.
    fn mark_dirty(&mut self, tc: &StepTrace) {
        let (dirty, list) = (&mut self.dirty, &mut self.dirty_list);
        let mut mark = |pfn: u32| mark_frame(dirty, list, pfn);
        for pool in [self.c.pool(), self.r.pool()] {
            for ev in pool.events() {
                match *ev {
                    PoolEvent::Alloc { pfn, .. }
                    | PoolEvent::Free { pfn }
                    | PoolEvent::BadFree { pfn }
                    | PoolEvent::Map { pfn }
                    | PoolEvent::Unmap { pfn } => mark(pfn),
                    PoolEvent::AllocFailed { .. } | PoolEvent::Wait { .. } => {}
                }
            }
        }
        for call in &tc.callbacks {
            if let PteLoc::In { pfn, .. } = call.pte {
                mark(pfn);
            }
        }
    }

    /// Stores into free pages seen since the last step (by allocations and
    /// deep passes), on either side: each is a finding.
    fn memory(&mut self, diffs: &mut Vec<FieldDiff>) {
        for (side, pool, seen) in [
            ("C reference", self.c.pool(), &mut self.seen_violations.0),
            ("Rust port", self.r.pool(), &mut self.seen_violations.1),
        ] {
            for v in &pool.violations()[*seen..] {
                diffs.push(FieldDiff {
                    category: "memory".into(),
                    field: format!("{side}: store into a free page"),
                    c: if side.starts_with('C') {
                        v.to_string()
                    } else {
                        "-".into()
                    },
                    rust: if side.starts_with('C') {
                        "-".into()
                    } else {
                        v.to_string()
                    },
                });
            }
            *seen = pool.violations().len();
        }
    }

    /// Sets the step number both pools note in their reports.
    pub fn set_step(&mut self, step: usize) {
        self.c.pool_mut().set_step(step as u32);
        self.r.pool_mut().set_step(step as u32);
    }

    /// Whether the C's free list holds a segtab with tables in it.
    pub fn c_corrupt(&self) -> bool {
        let w = &self.c.world;
        let g = w.geometry();
        let limit = inspect::list_limit(w.pool(), g);
        inspect::stale_free_segtab(w.pool(), g, w.state().free_segtab as u64, limit)
    }

    /// Whether destroying `pmap` now would leave a segtab with tables on
    /// the C's free list (the release quirk, lines 270-272: release starts
    /// at `pm_minaddr`'s index, so slots below it stay set in a segtab that
    /// is freed). `free_top`: the destroy has no callback, so the root is
    /// freed too. In a concurrent step the other CPU may take that segtab
    /// off the free list in the same step (a create makes it a root, a
    /// reserve a second-level table), where [`Pair::c_corrupt`] after the
    /// step cannot see it; so it is predicted before the step.
    pub fn c_destroy_leaves_stale(&self, pmap: u32, free_top: bool) -> bool {
        let w = &self.c.world;
        let g = w.geometry();
        let st = w.state();
        let Some(&root) = st.pm_segtab.get(pmap as usize) else {
            return false;
        };
        let minaddr = st.pm_minaddr[pmap as usize];
        let pool = w.pool();
        let size = g.segtabsize as u64;
        let slot = |stp: u64, i: u64| -> u64 {
            match inspect::Ptr::classify(pool, stp) {
                inspect::Ptr::Page(r) if r.off as u64 + 8 * size <= pool.page_size() as u64 => {
                    pool.read_word(r.pfn, r.off + 8 * i as u32, 8)
                }
                _ => 0,
            }
        };
        let below = |stp: u64, start: u64| (0..start).any(|j| slot(stp, j) != 0);
        let root = root as u64;
        if root == 0 {
            return false;
        }
        let top_shift = if g.lp64 { g.xsegshift } else { g.segshift };
        let start = (minaddr >> top_shift) & (size - 1);
        if free_top && below(root, start) {
            return true;
        }
        if !g.lp64 {
            return false;
        }
        // Each second-level segtab the release reaches is freed, and is
        // released from the index of the VA it was reached with.
        (start..size).any(|i| {
            let stp = slot(root, i);
            let va = minaddr.wrapping_add((i - start) << g.xsegshift);
            stp != 0 && below(stp, (va >> g.segshift) & (size - 1))
        })
    }

    /// Run one action on one side only (benchmarks).
    pub fn step_one(side: &mut dyn Side, a: &Action) -> StepEnd {
        let mut t = StepTrace::default();
        side.pool_mut().clear_events();
        let e = match a {
            Action::Concurrent(cc) => {
                combined_end(&side.step_concurrent(&cc.cpus, cc.lwp, cc.schedule, &mut t))
            }
            a => side.step(a, &mut t),
        };
        side.take_xtab();
        e
    }

    /// The incremental part: the path to the VA the step used, and the
    /// PTE pages its callbacks were given, each walked on both sides in
    /// lockstep (a `memcmp` per page when they agree).
    fn touched(&self, a: &Action, tc: &StepTrace, diffs: &mut Vec<FieldDiff>) {
        let (c, r): (&dyn Side, &dyn Side) = (&self.c, &*self.r);
        let g = c.geometry();
        let mut table = compare::TableDiffs::new(diffs);
        let singles: Vec<&Action> = match a {
            Action::Concurrent(cc) => cc.actions().collect(),
            a => vec![a],
        };
        for a in singles {
            match *a {
                Action::Reserve { pmap, va, .. }
                | Action::Lookup { pmap, va }
                | Action::Enter { pmap, va, .. } => {
                    inspect::diff_path(
                        c.pool(),
                        c.root_raw(pmap),
                        r.pool(),
                        r.root_raw(pmap),
                        &g,
                        va,
                        |f, x, y| table.add(format_args!("pmap {pmap} {f}"), x, y),
                    );
                }
                _ => {}
            }
        }
        // The callbacks agreed (compared above), so their pages have the
        // same frame numbers on both sides; compare the entries each call
        // was given for [sva, eva).
        for call in &tc.callbacks {
            if let PteLoc::In { pfn, index, rem: 0 } = call.pte {
                let args = crate::callbacks::Args {
                    sva: call.sva,
                    eva: call.eva,
                };
                let n = crate::callbacks::pages_in(&args, self.config).min(g.nptepg as u64) as u32;
                inspect::diff_page_range(
                    c.pool(),
                    r.pool(),
                    &g,
                    pfn,
                    index,
                    index.saturating_add(n),
                    |j, x, y| table.add(format_args!("callback page pfn {pfn} pte[{j}]"), x, y),
                );
            }
        }
    }
}

/// Notes frame `pfn` as touched since the last deep pass (once).
fn mark_frame(dirty: &mut [bool], list: &mut Vec<u32>, pfn: u32) {
    if let Some(d) = dirty.get_mut(pfn as usize) {
        if !*d {
            *d = true;
            list.push(pfn);
        }
    }
}

/// Whether a destroy of a concurrent step may leave a segtab with tables on
/// the C's free list (the release quirk; see
/// [`Pair::c_destroy_leaves_stale`]), judged before the step: predicted on
/// the tree as it is, or, when the same CPU works on that pmap earlier in
/// the step, assumed as soon as it reserves there (after its last create of
/// it, which replaces the tree). If one may, each CPU's calls are cut after
/// its first such destroy, and a CPU without one keeps its first call only
/// (what a step of one call per CPU does), so that no call starts after
/// the segtab may have been taken from the free list: `Some(the calls
/// kept)`.
fn stale_guard(pair: &Pair, cc: &crate::model::Concurrent) -> Option<Vec<Vec<Action>>> {
    let mut cut: Vec<Option<usize>> = vec![None; cc.cpus.len()];
    for (i, calls) in cc.cpus.iter().enumerate() {
        for (k, x) in calls.iter().enumerate() {
            let Action::Destroy { pmap, cb, .. } = *x else {
                continue;
            };
            let before = &calls[..k];
            let last_create = before
                .iter()
                .rposition(|b| matches!(b, Action::Create { pmap: q, .. } if *q == pmap));
            let reserved = before[last_create.map_or(0, |c| c + 1)..].iter().any(|b| {
                matches!(b, Action::Reserve { pmap: q, .. } | Action::Enter { pmap: q, .. } if *q == pmap)
            });
            let stale = reserved
                || (last_create.is_none() && pair.c_destroy_leaves_stale(pmap, cb.is_none()));
            if stale {
                cut[i] = Some(k);
                break;
            }
        }
    }
    if cut.iter().all(Option::is_none) {
        return None;
    }
    Some(
        cc.cpus
            .iter()
            .zip(&cut)
            .map(|(calls, c)| calls[..c.map_or(1, |k| k + 1)].to_vec())
            .collect(),
    )
}

/// The end of a concurrent step as a whole: the first panic of a call (the
/// world is dead), a deadlock, or a normal return.
fn combined_end(ends: &[Vec<StepEnd>]) -> StepEnd {
    if let Some(p) = ends.iter().flatten().find(|e| e.is_panic()) {
        return p.clone();
    }
    if ends
        .iter()
        .flatten()
        .any(|e| matches!(e, StepEnd::Abandoned(shim::sched::Abandon::Deadlock)))
    {
        return StepEnd::Panic(
            PanicClass::Deadlock,
            "every unfinished CPU waits for pmap_segtab_lock".into(),
        );
    }
    StepEnd::Ok(None)
}

/// The deep pass a step ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// None: the incremental comparison only.
    None,
    /// Periodic: what changed (see [`Pair::deep_pass`]).
    Periodic,
    /// Full: everything.
    Full,
}

/// How a sequence ended.
#[derive(Clone, Debug)]
pub enum RunResult {
    /// Both sides agreed at every step.
    Agree {
        /// Steps run.
        steps: usize,
        /// Both panicked alike at the last step.
        panic: Option<PanicClass>,
    },
    /// They did not.
    Diverge(Box<Divergence>),
}

/// A disagreement, with what is needed to report it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Divergence {
    /// The sequence (as run).
    pub sequence: Sequence,
    /// Index of the step that diverged.
    pub step: usize,
    /// The resolved actions up to and including that step, as text.
    pub trace: Vec<String>,
    /// The differing fields.
    pub diffs: Vec<FieldDiff>,
    /// A concurrent diverging step: each side's schedule (which CPU
    /// reached which call out of the file), C first.
    #[serde(default)]
    pub schedules: Vec<String>,
    /// What the C revision lacks or adds against rev 1.23 (not compared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Divergence {
    /// The class as lowercase words joined by `sep` (file and test names).
    pub fn slug(&self, sep: char) -> String {
        let class = self.class().to_ascii_lowercase();
        let words: Vec<&str> = class
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        words.join(&sep.to_string())
    }

    /// A class that shrinking must preserve: the operation and what differs.
    pub fn class(&self) -> String {
        if self.trace.is_empty() {
            // A crash or hang: no step to name.
            return self
                .diffs
                .first()
                .map(|d| d.category.clone())
                .unwrap_or_default();
        }
        let op = self
            .trace
            .last()
            .map(|t| t.split('(').next().unwrap_or(""))
            .unwrap_or("");
        let cat = self
            .diffs
            .first()
            .map(|d| d.category.as_str())
            .unwrap_or("?");
        format!("{op}: {cat}")
    }
}

/// The resolved actions of the first `upto + 1` operations, as text.
pub fn trace_of(config: &'static Config, seq: &Sequence, upto: usize) -> Vec<String> {
    let mut r = Resolver::new(config);
    seq.ops
        .iter()
        .take(upto + 1)
        .map(|op| r.action(op).to_string())
        .collect()
}

/// Run `seq` on `pair` (reset first).
pub fn run(pair: &mut Pair, seq: &Sequence, opts: CompareOpts) -> RunResult {
    run_observed(pair, seq, opts, |_, _, _, _| {})
}

/// [`run`], calling `observe` with each step's action, the C's end and the
/// C's pool events of the step (what the seed selection calls coverage).
pub fn run_observed(
    pair: &mut Pair,
    seq: &Sequence,
    opts: CompareOpts,
    mut observe: impl FnMut(&Action, &StepEnd, &[shim::PoolEvent], &StepTrace),
) -> RunResult {
    pair.reset();
    let mut resolver = Resolver::new(pair.config);
    let n = seq.ops.len();
    // The sequence as run: under PCT, each concurrent step's schedule is
    // the bits the C took (see PctState), so a reproducer replays it.
    let mut as_run: Option<Sequence> = None;
    for (i, op) in seq.ops.iter().enumerate() {
        let mut a: Action = resolver.action(op);
        pair.set_step(i);
        progress::INDEX.store(i as u64, std::sync::atomic::Ordering::Relaxed);
        // A concurrent destroy that leaves a stale segtab on the free list,
        // which the other CPU may take at once (see
        // `Pair::c_destroy_leaves_stale`).
        // With several calls per CPU, a CPU could also walk that segtab
        // in a later call (destroy the pmap it became the root of), in the
        // C as in a faithful port reading memory the step freed: such a
        // step keeps the calls up to the destroy, and one call on the
        // other CPUs (see `stale_guard`), and the sequence ends after it.
        let stale_ahead = match &mut a {
            Action::Concurrent(cc) => match stale_guard(pair, cc) {
                Some(kept) => {
                    cc.cpus = kept;
                    true
                }
                None => false,
            },
            _ => false,
        };
        let (ec, diffs) = if i + 1 == n {
            // The end of the sequence: read everything, in the step's own
            // deep pass.
            pair.step_last(&a)
        } else {
            let deep = opts.deep_every != 0 && (i as u32 + 1) % opts.deep_every == 0;
            pair.step(&a, deep)
        };
        // Under PCT the step records the decisions the C took: the
        // sequence as run carries them, so a reproducer replays them.
        if let Some(bits) = pair.pct.as_mut().and_then(|p| p.taken.take()) {
            let s = as_run.get_or_insert_with(|| seq.clone());
            if let Some(Op::Concurrent(step)) = s.ops.get_mut(i) {
                step.schedule = bits;
            }
        }
        let seq = as_run.as_ref().unwrap_or(seq);
        observe(&a, &ec, pair.c.pool().events(), &pair.last_c);
        if !diffs.is_empty() {
            let trace = trace_of(pair.config, seq, i);
            let schedules = if matches!(a, Action::Concurrent(_)) {
                vec![
                    compare::schedule_text_calls(&pair.last_c.sched, &pair.last_c.starts),
                    compare::schedule_text_calls(&pair.last_r_sched, &pair.last_r_starts),
                ]
            } else {
                Vec::new()
            };
            return RunResult::Diverge(Box::new(Divergence {
                sequence: seq.clone(),
                step: i,
                trace,
                diffs,
                schedules,
                notes: pair.notes(),
            }));
        }
        if let StepEnd::Panic(class, _) = ec {
            // Both panicked alike: agreement, and the world is dead.
            return RunResult::Agree {
                steps: i + 1,
                panic: Some(class),
            };
        }
        let destroyed = match &a {
            Action::Destroy { .. } => true,
            Action::Concurrent(cc) => cc.actions().any(|x| matches!(x, Action::Destroy { .. })),
            _ => false,
        };
        if destroyed && (stale_ahead || pair.c_corrupt()) {
            // A segtab went to the free list with tables still in it (the
            // release quirk, C lines 270-272; under DEBUG pmap_check_stp
            // would have panicked in the step). From here on the C would
            // read memory it freed: the kernel runs on with a corrupt tree
            // and soon dereferences PTE values as pointers, in the C as in
            // a faithful port. Compare everything once more, then stop.
            let mut diffs = Vec::new();
            pair.deep(&mut diffs);
            if !diffs.is_empty() {
                let trace = trace_of(pair.config, seq, i);
                return RunResult::Diverge(Box::new(Divergence {
                    sequence: seq.clone(),
                    step: i,
                    trace,
                    diffs,
                    schedules: Vec::new(),
                    notes: pair.notes(),
                }));
            }
            return RunResult::Agree {
                steps: i + 1,
                panic: Some(PanicClass::StaleFreeSegtab),
            };
        }
    }
    RunResult::Agree {
        steps: n,
        panic: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use c_reference::Capability as Cap;
    use shim::inspect::PageRef;

    /// Two snapshots that differ in every field a revision may lack (the
    /// PTP cache head and list, the DEBUG counters) and in one it cannot
    /// (the lock).
    fn apart() -> (Snapshot, Snapshot) {
        let mut c = Snapshot::default();
        let mut r = Snapshot::default();
        c.summary.ptp_head = Some(3);
        c.ptp = (vec![3, 4], false);
        c.summary.counters = (1, 2, 3);
        c.summary.lock = (false, 1);
        r.summary.ptp_head = None;
        r.summary.counters = (4, 5, 6);
        r.summary.lock = (false, 2);
        r.free_list = (vec![Ptr::Page(PageRef { pfn: 9, off: 0 })], false);
        c.free_list = r.free_list.clone();
        (c, r)
    }

    /// State the compiled C revision lacks takes the port's values on the
    /// C side, each capability its own fields only; everything else is
    /// still compared.
    #[test]
    fn what_the_c_revision_lacks_is_masked_and_nothing_else() {
        let mut pair = Pair::open("riscv64-sv39-shape", 64).unwrap();
        assert!(pair.c_lacks.is_empty(), "rev 1.23 lacks nothing");
        assert!(pair.notes().is_empty(), "rev 1.23 has nothing to note");
        let cases: [(&[Cap], bool, bool); 4] = [
            (&[], false, false),
            (&[Cap::PtpCache], true, false),
            (&[Cap::Counters], false, true),
            (&[Cap::Carving, Cap::PtpCache, Cap::Counters], true, true),
        ];
        for (lacks, ptp, counters) in cases {
            pair.c_lacks = lacks.to_vec();
            let (c0, r) = apart();
            // The summary alone (every step) and in a snapshot (deep passes
            // and lwp steps).
            let mut c = c0.summary;
            pair.mask(&mut c, &r.summary);
            let mut s = c0.clone();
            pair.mask_snapshot(&mut s, &r);
            for (what, got) in [("summary", c), ("snapshot", s.summary)] {
                assert_eq!(got.ptp_head == r.summary.ptp_head, ptp, "{lacks:?} {what}");
                assert_eq!(
                    got.counters == r.summary.counters,
                    counters,
                    "{lacks:?} {what}"
                );
                assert_eq!(got.lock, c0.summary.lock, "{lacks:?} {what}");
            }
            assert_eq!(s.ptp == r.ptp, ptp, "{lacks:?} PTP cache list");
            assert_eq!(s.free_list, c0.free_list, "{lacks:?}");
            let mut diffs = Vec::new();
            compare::snapshot(&mut diffs, &s, &r);
            let cats: Vec<&str> = diffs.iter().map(|d| d.category.as_str()).collect();
            assert!(cats.contains(&"lock"), "{lacks:?}: {cats:?}");
            assert_eq!(!cats.contains(&"ptp cache"), ptp, "{lacks:?}: {cats:?}");
            assert_eq!(!cats.contains(&"counters"), counters, "{lacks:?}: {cats:?}");
        }
    }
}
