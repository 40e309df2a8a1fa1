//! Every layer of the comparison has a test that fails without it.
//!
//! Each test plants a difference that exactly one layer of the comparison
//! can see, through a [`Tamper`] side that wraps the real port side and, at
//! a chosen step, alters one thing: how a call ended, the pool events or
//! callback trace it reports, the schedule of a concurrent step, a summary
//! or snapshot field, or a word of the port's pool memory. The test then
//! requires the divergence at that step, under that category alone, so
//! that switching the layer off (emptying `compare::step`, `Pair::touched`,
//! `compare::summary`, an index computation of `inspect::diff_path`, ...)
//! fails that test. `scripts/mutants.sh` checks that claim with
//! cargo-mutants; `mutants/equivalent.txt` lists the mutants no test can
//! catch, with why.
//!
//! What is planted where:
//!
//! - the end of a step (outcome), per CPU in a concurrent step; the pool
//!   events, callback trace, xtab calls and schedule a step reports;
//! - each summary field and each snapshot-only field, for one step only;
//! - a PTE on the path of the step's VA (deep passes off), at index 0, the
//!   last index and in between at every level, and in the range a callback
//!   was given, at both ends; one undone by the next step;
//! - off the path: caught by the next periodic deep pass (however many
//!   pages, for every page a step touched; every segtab a root reaches,
//!   at every pass; every untouched page within a few passes; the last
//!   step reads everything), after a panic on either
//!   side, and after a destroy that leaves a stale free segtab;
//! - stores into free pages (each side, reported once, above the
//!   high-water mark), and the lists of more than `MAX_TABLE_DIFFS` fields;
//! - healthy sequences with destroys run to the end;
//! - the tree walker on planted trees (counts, NULL slots on one side,
//!   pointers that run off their page).

use c_reference::{Config, XtabEvent, CONFIGS};
use segtab_diff::compare::{self, MAX_TABLE_DIFFS};
use segtab_diff::model::Action;
use segtab_diff::model::{Call, CbKind, LenSpec, MinSpec, Op, Sequence, Step, VaSpec};
use segtab_diff::run::{run, CompareOpts, Divergence, Pair, RunResult};
use segtab_diff::side::{PanicClass, Side, Snapshot, StepEnd, StepTrace, Summary};
use shim::inspect::{Field, Geometry, PteLoc, Ptr};
use shim::sched::{Call as Point, SchedEvent};
use shim::{PagePool, PoolEvent};

/// Pool frames per world in these tests.
const POOL: usize = 256;

// ---------------------------------------------------------------------------
// The tampering side

type StepHook = Box<dyn FnMut(usize, &mut dyn Side, &Action, &mut StepEnd, &mut StepTrace)>;
type ConcurrentHook =
    Box<dyn FnMut(usize, &mut dyn Side, &[Vec<Action>], &mut Vec<Vec<StepEnd>>, &mut StepTrace)>;
type StateHook<T> = Box<dyn FnMut(usize, &mut T)>;
type RootHook = Box<dyn Fn(usize, u32, u64) -> u64>;

/// What a [`Tamper`] alters. Every hook gets the index of the step (the
/// number of `step`/`step_concurrent` calls since the last reset, so the
/// operation's index in a [`run`]); the state hooks get the index of the
/// step that ran last, and run only after one did.
#[derive(Default)]
struct Plan {
    /// After the port ran a step: may change its end, its trace (callbacks)
    /// and its pool.
    step: Option<StepHook>,
    /// After the port ran a concurrent step: may change both ends, the
    /// trace (schedule, callbacks) and the pool.
    concurrent: Option<ConcurrentHook>,
    /// The `pmap_md_xtab_*` log the port hands over.
    xtab: Option<StateHook<Vec<XtabEvent>>>,
    /// The O(1) summary, wherever it is read (alone or in a snapshot).
    summary: Option<StateHook<Summary>>,
    /// The snapshot, after the summary hook.
    snapshot: Option<StateHook<Snapshot>>,
    /// `pm_segtab` as the tree walks read it (pmap, value): how the port's
    /// roots look to the walks, not to the summary.
    root: Option<RootHook>,
}

/// The port side with a plan of alterations.
struct Tamper {
    inner: Box<dyn Side>,
    plan: Plan,
    steps: usize,
}

impl Tamper {
    fn last(&self) -> Option<usize> {
        self.steps.checked_sub(1)
    }
}

impl Side for Tamper {
    fn label(&self) -> &'static str {
        self.inner.label()
    }
    fn config(&self) -> &'static Config {
        self.inner.config()
    }
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }
    fn pool(&self) -> &PagePool {
        self.inner.pool()
    }
    fn pool_mut(&mut self) -> &mut PagePool {
        self.inner.pool_mut()
    }
    fn reset(&mut self) {
        self.inner.reset();
        self.steps = 0;
    }
    fn step(&mut self, a: &Action, trace: &mut StepTrace) -> StepEnd {
        let i = self.steps;
        self.steps += 1;
        let mut end = self.inner.step(a, trace);
        if let Some(h) = self.plan.step.as_mut() {
            h(i, &mut *self.inner, a, &mut end, trace);
        }
        end
    }
    fn step_concurrent(
        &mut self,
        acts: &[Vec<Action>],
        lwp1: u32,
        choices: u64,
        trace: &mut StepTrace,
    ) -> Vec<Vec<StepEnd>> {
        let i = self.steps;
        self.steps += 1;
        let mut ends = self.inner.step_concurrent(acts, lwp1, choices, trace);
        if let Some(h) = self.plan.concurrent.as_mut() {
            h(i, &mut *self.inner, acts, &mut ends, trace);
        }
        ends
    }
    fn take_xtab(&mut self) -> Vec<XtabEvent> {
        let mut x = self.inner.take_xtab();
        if let (Some(i), Some(h)) = (self.last(), self.plan.xtab.as_mut()) {
            h(i, &mut x);
        }
        x
    }
    fn snapshot(&mut self, deep: bool) -> Snapshot {
        let mut s = self.inner.snapshot(deep);
        if let Some(i) = self.last() {
            if let Some(h) = self.plan.summary.as_mut() {
                h(i, &mut s.summary);
            }
            if let Some(h) = self.plan.snapshot.as_mut() {
                h(i, &mut s);
            }
        }
        s
    }
    fn summary(&mut self) -> Summary {
        let mut s = self.inner.summary();
        if let (Some(i), Some(h)) = (self.last(), self.plan.summary.as_mut()) {
            h(i, &mut s);
        }
        s
    }
    fn root_raw(&self, pmap: u32) -> u64 {
        let raw = self.inner.root_raw(pmap);
        match (self.last(), self.plan.root.as_ref()) {
            (Some(i), Some(h)) => h(i, pmap, raw),
            _ => raw,
        }
    }
}

/// Both sides of `config`, the port's wrapped in a [`Tamper`] with `plan`.
fn tampered(config: &Config, plan: Plan) -> Pair {
    let mut pair = Pair::open(config.name, POOL).unwrap();
    let spare = segtab_diff::port_side::open(pair.config, POOL).unwrap();
    let inner = std::mem::replace(&mut pair.r, spare);
    pair.r = Box::new(Tamper {
        inner,
        plan,
        steps: 0,
    });
    pair
}

/// A plan with only a step hook.
fn on_step(
    h: impl FnMut(usize, &mut dyn Side, &Action, &mut StepEnd, &mut StepTrace) + 'static,
) -> Plan {
    Plan {
        step: Some(Box::new(h)),
        ..Plan::default()
    }
}

/// A plan with only a concurrent-step hook.
fn on_concurrent(
    h: impl FnMut(usize, &mut dyn Side, &[Vec<Action>], &mut Vec<Vec<StepEnd>>, &mut StepTrace)
        + 'static,
) -> Plan {
    Plan {
        concurrent: Some(Box::new(h)),
        ..Plan::default()
    }
}

// ---------------------------------------------------------------------------
// Sequences and what they must give

fn create(pmap: u8) -> Op {
    Op::Call(Call::Create {
        pmap,
        min: MinSpec::Zero,
    })
}
fn destroy(pmap: u8) -> Op {
    Op::Call(Call::Destroy {
        pmap,
        cb: None,
        flags: 0,
    })
}
fn enter(pmap: u8, va: u64) -> Op {
    Op::Call(Call::Enter {
        pmap,
        va: VaSpec::Raw(va),
        value: 0x5a5a,
        canfail: false,
    })
}
fn reserve(pmap: u8, va: u64) -> Op {
    Op::Call(Call::Reserve {
        pmap,
        va: VaSpec::Raw(va),
        canfail: false,
    })
}
fn lookup(pmap: u8, va: u64) -> Op {
    Op::Call(Call::Lookup {
        pmap,
        va: VaSpec::Raw(va),
    })
}
fn process(pmap: u8, sva: u64, len: LenSpec, cb: CbKind) -> Op {
    Op::Call(Call::Process {
        pmap,
        sva: VaSpec::Raw(sva),
        len,
        cb,
        flags: 0,
    })
}
fn at_once(a: Call, b: Call, schedule: u64) -> Op {
    Op::Concurrent(Step::pair(a, b, 1, schedule))
}
fn cpu_lookup(pmap: u8, va: u64) -> Call {
    Call::Lookup {
        pmap,
        va: VaSpec::Raw(va),
    }
}
fn cpu_reserve(pmap: u8, va: u64) -> Call {
    Call::Reserve {
        pmap,
        va: VaSpec::Raw(va),
        canfail: false,
    }
}

/// The VA whose path is `seg_seg[x]` (LP64; ignored on 32-bit),
/// `seg_tab[i]`, `pte[j]`.
fn va_at(c: &Config, x: u64, i: u64, j: u64) -> u64 {
    let top = if c.lp64 { x << c.xsegshift } else { 0 };
    top | i << c.segshift | j << c.pgshift
}

/// The PTE path field a touched-path comparison reports for `va` in `pmap`.
fn pte_field(c: &Config, pmap: u32, va: u64) -> String {
    let mask = c.segtabsize as u64 - 1;
    let x = if c.lp64 {
        ((va >> c.xsegshift) & mask) as u32
    } else {
        0
    };
    let i = ((va >> c.segshift) & mask) as u32;
    let j = ((va >> c.pgshift) & (nptepg(c) as u64 - 1)) as u32;
    format!("pmap {pmap} {}", Field::Pte(x, i, j))
}

fn nptepg(c: &Config) -> u32 {
    (1u32 << c.pgshift) / (c.pte_bits / 8)
}

/// A PTE value no side wrote, unlike `old`, that cannot be taken for a
/// pool address.
fn other_pte(c: &Config, old: u64) -> u64 {
    if old == 0 {
        1 << (c.pte_bits - 1) | 0x42
    } else {
        old ^ 0x100
    }
}

/// Overwrite PTE `index` of frame `pfn` of `side`'s pool with another
/// value; returns the old one.
fn plant_pte(side: &mut dyn Side, pfn: u32, index: u32) -> u64 {
    let c = side.config();
    let bytes = c.pte_bits / 8;
    let pool = side.pool_mut();
    let old = pool.read_word(pfn, index * bytes, bytes);
    pool.write_word(pfn, index * bytes, bytes, other_pte(c, old));
    old
}

/// The PTE location a step returned.
fn loc(end: &StepEnd) -> Option<(u32, u32)> {
    match *end {
        StepEnd::Ok(Some(PteLoc::In { pfn, index, rem: 0 })) => Some((pfn, index)),
        _ => None,
    }
}

/// Where `seg_tab[i]` for `va` lies in `side`'s pool (frame, byte offset).
fn slot_of(side: &dyn Side, pmap: u32, va: u64) -> Option<(u32, u32)> {
    let g = side.geometry();
    let pool = side.pool();
    let Ptr::Page(root) = side.root(pmap) else {
        return None;
    };
    let mask = g.segtabsize as u64 - 1;
    let st = if g.lp64 {
        let x = ((va >> g.xsegshift) & mask) as u32;
        match Ptr::classify(pool, pool.read_word(root.pfn, root.off + 8 * x, 8)) {
            Ptr::Page(r) => r,
            _ => return None,
        }
    } else {
        root
    };
    let i = ((va >> g.segshift) & mask) as u32;
    Some((st.pfn, st.off + 8 * i))
}

fn sequence(c: &Config, ops: &[Op]) -> Sequence {
    Sequence {
        config: c.name.to_string(),
        ops: ops.to_vec(),
    }
}

/// `n` copies of `op` (`repeat_n` needs Rust 1.82; the MSRV is 1.80).
fn times(op: Op, n: usize) -> impl Iterator<Item = Op> {
    std::iter::repeat(op).take(n)
}

/// Run `ops` with a deep pass every `deep_every` steps; the divergence.
fn diverge(pair: &mut Pair, ops: &[Op], deep_every: u32) -> Box<Divergence> {
    let seq = sequence(pair.config, ops);
    match run(pair, &seq, CompareOpts { deep_every }) {
        RunResult::Diverge(d) => d,
        RunResult::Agree { steps, panic } => panic!(
            "{}: the planted difference escaped ({steps} steps agreed, end {panic:?})",
            pair.config.name
        ),
    }
}

/// Run `ops` and require agreement; steps run and the end.
fn agree(pair: &mut Pair, ops: &[Op], deep_every: u32) -> (usize, Option<PanicClass>) {
    let seq = sequence(pair.config, ops);
    match run(pair, &seq, CompareOpts { deep_every }) {
        RunResult::Agree { steps, panic } => (steps, panic),
        RunResult::Diverge(d) => panic!("{}", segtab_diff::report::text(&d)),
    }
}

/// The categories reported, sorted, without repeats.
fn categories(d: &Divergence) -> Vec<&str> {
    let mut v: Vec<&str> = d.diffs.iter().map(|f| f.category.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The divergence is at `step` and reports `only` (and nothing else).
#[track_caller]
fn expect(d: &Divergence, step: usize, only: &[&str]) {
    let mut want = only.to_vec();
    want.sort_unstable();
    assert_eq!(
        (d.step, categories(d)),
        (step, want),
        "{}",
        segtab_diff::report::text(d)
    );
}

/// The divergence is at `step` and reports (at least) `category`.
#[track_caller]
fn expect_some(d: &Divergence, step: usize, category: &str) {
    assert!(
        d.step == step && categories(d).contains(&category),
        "wanted {category:?} at step {step}:\n{}",
        segtab_diff::report::text(d)
    );
}

fn field_of<'a>(d: &'a Divergence, category: &str) -> Vec<&'a str> {
    d.diffs
        .iter()
        .filter(|f| f.category == category)
        .map(|f| f.field.as_str())
        .collect()
}

fn mp_configs() -> impl Iterator<Item = &'static Config> {
    CONFIGS.iter().filter(|c| c.multiprocessor)
}

// ---------------------------------------------------------------------------
// What a step returned and did

/// A lookup that returns another PTE (or NULL) leaves no state behind:
/// only the outcome comparison sees it. The divergence names the step, its
/// operation and the class.
#[test]
fn a_different_lookup_result_is_an_outcome() {
    for c in CONFIGS {
        let va = va_at(c, 1, 2, 3);
        let ops = [create(1), enter(1, va), lookup(1, va), lookup(1, va)];
        for null in [false, true] {
            let mut pair = tampered(
                c,
                on_step(move |i, _, _, end, _| {
                    if i == 2 {
                        let (pfn, index) = loc(end).expect("the lookup found the PTE");
                        *end = StepEnd::Ok(Some(if null {
                            PteLoc::Null
                        } else {
                            PteLoc::In {
                                pfn,
                                index: index ^ 1,
                                rem: 0,
                            }
                        }));
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, 0);
            expect(&d, 2, &["outcome"]);
            assert_eq!(field_of(&d, "outcome"), ["return / panic"]);
            assert_eq!(d.trace.len(), 3, "{}", c.name);
            assert_eq!(
                d.trace[2],
                format!("pmap_pte_lookup(pmap 1, {va:#x})"),
                "{}",
                c.name
            );
            assert!(d.trace[1].starts_with("*pmap_pte_reserve(pmap 1, "));
            assert_eq!(d.class(), "pmap_pte_lookup: outcome");
            assert_eq!(d.slug('-'), "pmap-pte-lookup-outcome");
            assert!(d.schedules.is_empty());
        }
    }
}

/// A panic on one side only is an outcome too.
#[test]
fn a_panic_on_one_side_is_an_outcome() {
    let c = &CONFIGS[0];
    let va = va_at(c, 1, 2, 3);
    let ops = [create(1), enter(1, va), lookup(1, va), lookup(1, va)];
    let mut pair = tampered(
        c,
        on_step(|i, _, _, end, _| {
            if i == 2 {
                *end = StepEnd::Panic(PanicClass::Other("planted".into()), "planted".into());
            }
        }),
    );
    let d = diverge(&mut pair, &ops, 0);
    expect_some(&d, 2, "outcome");
}

/// The pool events a step reports: one missing, one extra.
#[test]
fn pool_events_are_compared() {
    for c in CONFIGS {
        let va = va_at(c, 1, 2, 3);
        let ops = [create(1), enter(1, va), lookup(1, va), lookup(1, va)];
        // The port forgets the allocations of the enter.
        let mut pair = tampered(
            c,
            on_step(|i, side, _, _, _| {
                if i == 1 {
                    assert!(!side.pool().events().is_empty());
                    side.pool_mut().clear_events();
                }
            }),
        );
        expect(&diverge(&mut pair, &ops, 0), 1, &["pool events"]);
        drop(pair);
        // The port reports a PMAP_MAP_POOLPAGE the lookup never did.
        let mut pair = tampered(
            c,
            on_step(|i, side, _, _, _| {
                if i == 2 {
                    let pa = side.pool().pa(0);
                    side.pool_mut().note_map(true, pa);
                }
            }),
        );
        let d = diverge(&mut pair, &ops, 0);
        expect(&d, 2, &["pool events"]);
        let r = &d.diffs[0].rust;
        assert!(r.contains("Map"), "{r}");
    }
}

/// The callback trace: a different result, an extra call, a missing one.
#[test]
fn callback_traces_are_compared() {
    for c in CONFIGS {
        let seg = 1u64 << c.segshift;
        let ops = [
            create(1),
            enter(1, 2 * seg),
            enter(1, 3 * seg + (5 << c.pgshift)),
            process(1, 2 * seg, LenSpec::Segs(2), CbKind::Count),
            lookup(1, 0),
        ];
        type Edit = fn(&mut Vec<segtab_diff::callbacks::CbCall>);
        let edits: [(Edit, &str, bool); 3] = [
            (|v| v[0].result += 1, "call 0", true),
            (|v| v.push(v[1]), "call 2", false),
            (
                |v| {
                    v.pop();
                },
                "call 1",
                true,
            ),
        ];
        for (edit, field, c_has) in edits {
            let mut pair = tampered(
                c,
                on_step(move |i, _, _, _, t| {
                    if i == 3 {
                        assert_eq!(t.callbacks.len(), 2);
                        edit(&mut t.callbacks);
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, 0);
            expect(&d, 3, &["callbacks"]);
            assert_eq!(field_of(&d, "callbacks"), [field], "{}", c.name);
            assert_eq!(d.diffs[0].c != "-", c_has);
        }
    }
}

/// More differing callback calls than a report lists: the first
/// [`MAX_TABLE_DIFFS`] are listed.
#[test]
fn many_differing_callbacks_are_listed_up_to_the_limit() {
    let c = &CONFIGS[0];
    let seg = 1u64 << c.segshift;
    let n = MAX_TABLE_DIFFS as u8 + 6;
    let mut ops = vec![create(1)];
    ops.extend((0..n as u64).map(|k| reserve(1, (8 + k) * seg)));
    ops.push(process(1, 8 * seg, LenSpec::Segs(n), CbKind::Record));
    ops.push(lookup(1, 0));
    let at = ops.len() - 2;
    let mut pair = tampered(
        c,
        on_step(move |i, _, _, _, t| {
            if i == at {
                assert_eq!(t.callbacks.len(), n as usize);
                t.callbacks.iter_mut().for_each(|call| call.flags ^= 1);
            }
        }),
    );
    let d = diverge(&mut pair, &ops, 0);
    expect(&d, at, &["callbacks"]);
    let fields = field_of(&d, "callbacks");
    assert_eq!(fields.len(), MAX_TABLE_DIFFS);
    assert_eq!(fields[MAX_TABLE_DIFFS - 1], "call 23");
}

/// The `pmap_md_xtab_*` calls.
#[test]
fn xtab_hooks_are_compared() {
    for c in CONFIGS {
        let ops = [
            create(1),
            Op::Call(Call::Deactivate { pmap: 1 }),
            lookup(1, 0),
            lookup(1, 0),
        ];
        let mut pair = tampered(
            c,
            Plan {
                xtab: Some(Box::new(|i, x| {
                    if i == 1 {
                        assert!(!x.is_empty());
                        x.clear();
                    }
                })),
                ..Plan::default()
            },
        );
        expect(&diverge(&mut pair, &ops, 0), 1, &["xtab hooks"]);
    }
}

/// The schedule of a concurrent step (which CPU reached which call), and
/// each CPU's outcome.
#[test]
fn schedules_are_compared() {
    for c in mp_configs() {
        let seg = 1u64 << c.segshift;
        let ops = [
            create(1),
            at_once(cpu_reserve(1, 2 * seg), cpu_reserve(1, 3 * seg), 0x5555),
            lookup(1, 0),
            lookup(1, 0),
        ];
        let mut pair = tampered(
            c,
            on_concurrent(|i, _, _, _, t| {
                if i == 1 {
                    let last = t.sched.last_mut().expect("the CPUs called out");
                    last.blocked = !last.blocked;
                }
            }),
        );
        let d = diverge(&mut pair, &ops, 0);
        expect(&d, 1, &["schedule"]);
        assert_eq!(d.schedules.len(), 2);
        assert_ne!(d.schedules[0], d.schedules[1]);
        assert_eq!(d.schedules[0], compare::schedule_text(&pair.last_c.sched));
        assert!(d.schedules[0].starts_with("cpu"), "{}", d.schedules[0]);
        assert!(d.class().ends_with(": schedule"), "{}", d.class());
    }
}

#[test]
fn each_cpu_outcome_is_compared() {
    for c in CONFIGS {
        let va = va_at(c, 1, 2, 3);
        for cpu in 0..2 {
            let ops = [
                create(1),
                enter(1, va),
                at_once(cpu_lookup(1, va), cpu_lookup(1, va), 0x3),
                lookup(1, 0),
            ];
            let mut pair = tampered(
                c,
                on_concurrent(move |i, _, _, ends, _| {
                    if i == 2 {
                        assert!(loc(&ends[cpu][0]).is_some(), "{:?}", ends[cpu]);
                        ends[cpu][0] = StepEnd::Ok(Some(PteLoc::Foreign(0xdead_0000)));
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, 0);
            expect(&d, 2, &["outcome"]);
            assert_eq!(
                field_of(&d, "outcome"),
                [format!("cpu{cpu} return / panic")]
            );
        }
    }
}

/// A schedule as text: runs of one CPU's calls, `|` where it changes.
#[test]
fn schedule_text_shows_runs_of_one_cpu() {
    let ev = |cpu, call, blocked| SchedEvent { cpu, call, blocked };
    let log = [
        ev(0, Point::SpinEnter, false),
        ev(0, Point::Cas, false),
        ev(1, Point::SpinEnter, true),
        ev(0, Point::SpinExit, false),
        ev(1, Point::SpinEnter, false),
    ];
    assert_eq!(
        compare::schedule_text(&log),
        "cpu0: SpinEnter Cas | cpu1: SpinEnter(waits) | cpu0: SpinExit | cpu1: SpinEnter"
    );
    assert_eq!(compare::schedule_text(&[]), "");
}

// ---------------------------------------------------------------------------
// Summaries and snapshots

type SummaryEdit = fn(&mut Summary);

/// Each summary field, one at a time, at one step only (the difference is
/// gone by the next step): at a plain step (the summary), at an lwp step
/// (the snapshot) and at a deep step.
const SUMMARY_EDITS: [(SummaryEdit, &str); 6] = [
    (|s| s.roots[3] = Ptr::Foreign(0x1234_5000), "pmap"),
    (|s| s.free_head = Ptr::Foreign(0x1234_5000), "free list"),
    (
        |s| s.ptp_head = s.ptp_head.map_or(Some(77), |_| None),
        "ptp cache",
    ),
    (|s| s.counters.1 += 1, "counters"),
    (|s| s.lock.1 += 1, "lock"),
    (|s| s.pool_in_use += 1, "pool"),
];

#[test]
fn each_summary_field_is_compared() {
    for c in CONFIGS {
        let va = va_at(c, 1, 2, 3);
        let plain = vec![create(1), enter(1, va), lookup(1, va), lookup(1, va)];
        let lwp = vec![
            create(1),
            enter(1, va),
            Op::SwitchLwp { lwp: 1 },
            lookup(1, va),
        ];
        let deep = vec![create(1), enter(1, va), lookup(1, va)];
        for (edit, category) in SUMMARY_EDITS {
            for ops in [&plain, &lwp, &deep] {
                let mut pair = tampered(
                    c,
                    Plan {
                        summary: Some(Box::new(move |i, s| {
                            if i == 2 {
                                edit(s)
                            }
                        })),
                        ..Plan::default()
                    },
                );
                let d = diverge(&mut pair, ops, 0);
                expect(&d, 2, &[category]);
            }
        }
    }
}

type SnapshotEdit = fn(&mut Snapshot);

/// Fields only a snapshot holds, at an lwp step and at a deep step.
#[test]
fn each_snapshot_field_is_compared() {
    let edits: [(SnapshotEdit, &str, &str); 5] = [
        (
            |s| s.ci_segtab[1] = Ptr::Foreign(0x1234_5000),
            "cpu_info",
            "ci_pmap_user_segtab",
        ),
        (
            |s| s.ci_seg0tab[1] = Ptr::Foreign(0x1234_5000),
            "cpu_info",
            "ci_pmap_user_seg0tab",
        ),
        (|s| s.curlwp ^= 2, "lwp", "curlwp"),
        (|s| s.lwps[2].0 ^= 1, "lwp", "(cpu, pmap) per lwp"),
        (|s| s.minaddr[3] ^= 1 << 20, "pmap", "pmap 3 pm_minaddr"),
    ];
    for c in CONFIGS {
        let va = va_at(c, 1, 2, 3);
        let lwp = vec![
            create(1),
            enter(1, va),
            Op::BindLwp {
                lwp: 2,
                pmap: 1,
                cpu: 1,
            },
            lookup(1, va),
        ];
        let deep = vec![create(1), enter(1, va), lookup(1, va)];
        for (edit, category, field) in edits {
            for ops in [&lwp, &deep] {
                let mut pair = tampered(
                    c,
                    Plan {
                        snapshot: Some(Box::new(move |i, s| {
                            if i == 2 {
                                edit(s)
                            }
                        })),
                        ..Plan::default()
                    },
                );
                let d = diverge(&mut pair, ops, 0);
                expect(&d, 2, &[category]);
                assert_eq!(field_of(&d, category), [field], "{}", c.name);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The touched path (deep passes off)

/// Index triples (`seg_seg`, `seg_tab`, `pte`) to plant at: the middle,
/// index 0 and the last index of each level, and mixtures.
fn triples(c: &Config) -> Vec<(u64, u64, u64)> {
    let s = c.segtabsize as u64 - 1;
    let n = nptepg(c) as u64 - 1;
    vec![
        (3, 5, 7),
        (0, 0, 0),
        (s, s, n),
        (s, 0, n),
        (1, s, 0),
        (0, 1, n - 1),
    ]
}

/// A PTE written on the path of the step's VA during the step (a reserve
/// that allocates, an enter, a lookup) is reported at that step, at the
/// exact index the VA maps to, with the deep comparison off.
#[test]
fn a_pte_on_the_touched_path_is_compared_at_its_index() {
    for c in CONFIGS {
        for (x, i, j) in triples(c) {
            let va = va_at(c, x, i, j);
            let ops = [
                create(1),
                reserve(1, va),
                enter(1, va),
                lookup(1, va),
                lookup(1, 0),
            ];
            for at in 1..=3 {
                let mut pair = tampered(
                    c,
                    on_step(move |k, side, _, end, _| {
                        if k == at {
                            let (pfn, index) = loc(end).expect("a PTE");
                            assert_eq!(index as u64, j);
                            plant_pte(side, pfn, index);
                        }
                    }),
                );
                let d = diverge(&mut pair, &ops, 0);
                expect(&d, at, &["table"]);
                assert_eq!(
                    field_of(&d, "table"),
                    [pte_field(c, 1, va)],
                    "{} va {va:#x}",
                    c.name
                );
            }
        }
    }
}

/// The same on the path of either CPU's VA in a concurrent step.
#[test]
fn a_pte_on_a_concurrent_path_is_compared() {
    for c in CONFIGS {
        let (va0, va1) = (va_at(c, 1, 2, 3), va_at(c, 2, 4, 6));
        let ops = [
            create(1),
            create(2),
            at_once(cpu_reserve(1, va0), cpu_reserve(2, va1), 0x2),
            lookup(1, 0),
        ];
        for cpu in 0..2 {
            let mut pair = tampered(
                c,
                on_concurrent(move |k, side, _, ends, _| {
                    if k == 2 {
                        let (pfn, index) = loc(&ends[cpu][0]).expect("a PTE");
                        plant_pte(side, pfn, index);
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, 0);
            expect(&d, 2, &["table"]);
            let want = [pte_field(c, 1, va0), pte_field(c, 2, va1)];
            assert_eq!(field_of(&d, "table"), [want[cpu].as_str()], "{}", c.name);
        }
    }
}

/// A difference a later step undoes is caught at the step itself, not
/// left to the end (which would see nothing).
#[test]
fn a_difference_undone_later_is_caught_where_it_happened() {
    for c in CONFIGS {
        let va = va_at(c, 1, 2, 3);
        let ops = [
            create(1),
            enter(1, va),
            lookup(1, va),
            lookup(1, va),
            lookup(1, 0),
        ];
        let mut planted = None;
        let mut pair = tampered(
            c,
            on_step(move |k, side, _, end, _| {
                if k == 1 {
                    let (pfn, index) = loc(end).expect("a PTE");
                    planted = Some((pfn, index, plant_pte(side, pfn, index)));
                }
                if k == 2 {
                    let (pfn, index, old) = planted.expect("planted");
                    let bytes = side.config().pte_bits / 8;
                    side.pool_mut().write_word(pfn, index * bytes, bytes, old);
                }
            }),
        );
        let d = diverge(&mut pair, &ops, 0);
        expect(&d, 1, &["table"]);
    }
}

/// The PTEs a callback was given: its first and last entry, and index 0
/// and the last index of a page.
#[test]
fn the_ptes_a_callback_got_are_compared_at_both_ends() {
    for c in CONFIGS {
        let seg = 1u64 << c.segshift;
        let pg = 1u64 << c.pgshift;
        let n = nptepg(c);
        // (first page, pages): inside a segment, and the whole segment.
        for (first, pages) in [(3u32, 7u32), (0, n)] {
            let sva = 4 * seg + first as u64 * pg;
            let len = if pages == n {
                LenSpec::Segs(1)
            } else {
                LenSpec::Pages(pages as u16)
            };
            let ops = [
                create(1),
                enter(1, sva),
                enter(1, sva + (pages as u64 - 1) * pg),
                process(1, sva, len, CbKind::SetBit(3)),
                lookup(1, 0),
            ];
            for off in [0, pages - 1] {
                let mut pair = tampered(
                    c,
                    on_step(move |k, side, _, _, t| {
                        if k == 3 {
                            let PteLoc::In { pfn, index, .. } = t.callbacks[0].pte else {
                                panic!("no PTE page");
                            };
                            assert_eq!(index, first);
                            plant_pte(side, pfn, index + off);
                        }
                    }),
                );
                let d = diverge(&mut pair, &ops, 0);
                expect(&d, 3, &["table"]);
                let fields = field_of(&d, "table");
                assert_eq!(fields.len(), 1);
                let want = format!("pte[{}]", first + off);
                assert!(
                    fields[0].starts_with("callback page pfn ") && fields[0].ends_with(&want),
                    "{}: {fields:?}, wanted {want}",
                    c.name
                );
            }
        }
    }
}

/// More differing PTEs than a report lists: the first [`MAX_TABLE_DIFFS`]
/// are listed and the rest counted, on the touched path and in a deep pass.
#[test]
fn many_differing_ptes_are_listed_up_to_the_limit_and_counted() {
    let extra = 6;
    let planted = MAX_TABLE_DIFFS as u32 + extra;
    for c in CONFIGS {
        let seg = 1u64 << c.segshift;
        let pg = 1u64 << c.pgshift;
        let sva = 4 * seg;
        // Touched: a callback given 40 entries, 30 of them changed.
        let touched = vec![
            create(1),
            enter(1, sva),
            process(1, sva, LenSpec::Pages(40), CbKind::Count),
            lookup(1, 0),
        ];
        // Deep: the last step's page, 30 entries changed.
        let deep = vec![create(1), enter(1, sva), lookup(1, sva + pg)];
        for (ops, at) in [(touched, 2), (deep, 2)] {
            let mut pair = tampered(
                c,
                on_step(move |k, side, _, end, t| {
                    if k == at {
                        let (pfn, index) = match t.callbacks.first() {
                            Some(call) => match call.pte {
                                PteLoc::In { pfn, index, .. } => (pfn, index),
                                _ => panic!("no PTE page"),
                            },
                            None => loc(end).expect("a PTE"),
                        };
                        for k in 0..planted {
                            plant_pte(side, pfn, index + k);
                        }
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, 0);
            expect(&d, 2, &["table"]);
            let fields = field_of(&d, "table");
            assert_eq!(fields.len(), MAX_TABLE_DIFFS + 1, "{}", c.name);
            assert_eq!(
                fields[MAX_TABLE_DIFFS],
                format!("... and {extra} more fields")
            );
            assert!(fields[0].ends_with("pte[0]") || fields[0].ends_with("pte[1]"));
        }
    }
}

// ---------------------------------------------------------------------------
// Deep passes: when they run

/// A plant the touched path and the summaries cannot see (a page table
/// dropped from another pmap's tree) is caught by the next deep pass: the
/// one `deep_every` schedules, or the last step's when it is 0.
#[test]
fn a_difference_off_the_path_waits_for_the_next_deep_pass() {
    for c in CONFIGS {
        let vb = va_at(c, 1, 2, 3);
        let va = va_at(c, 2, 4, 6);
        let mut ops = vec![create(1), create(2), enter(2, vb), enter(1, va)];
        ops.extend(times(lookup(1, va), 9));
        let n = ops.len(); // 13 steps: 0..=12
        let plant_at = 4;
        // deep_every -> the step that catches it.
        for (every, caught) in [(4, 7), (3, 5), (1, 4), (5, 4), (7, 6), (0, n - 1)] {
            let mut pair = tampered(
                c,
                on_step(move |k, side, _, _, _| {
                    if k == plant_at {
                        let (pfn, off) = slot_of(side, 2, vb).expect("pmap 2 maps vb");
                        side.pool_mut().write_word(pfn, off, 8, 0);
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, every);
            expect_some(&d, caught, "table");
        }
    }
}

/// A step where both sides panic alike ends the sequence in agreement,
/// after a deep pass: a plant off the path at that step is caught there.
#[test]
fn a_panic_ends_the_sequence_after_a_deep_pass() {
    for c in CONFIGS {
        let seg = 1u64 << c.segshift;
        let vb = va_at(c, 1, 2, 3);
        let ops = [
            create(1),
            create(2),
            enter(2, vb),
            enter(1, seg),
            Op::FailNext { n: 1 },
            reserve(1, 2 * seg),
            lookup(1, seg),
        ];
        let mut pair = Pair::open(c.name, POOL).unwrap();
        assert_eq!(
            agree(&mut pair, &ops, 0),
            (6, Some(PanicClass::ReserveNoPage)),
            "{}",
            c.name
        );
        drop(pair);
        let mut pair = tampered(
            c,
            on_step(move |k, side, _, end, _| {
                if k == 5 {
                    assert!(end.is_panic());
                    let (pfn, off) = slot_of(side, 2, vb).expect("pmap 2 maps vb");
                    side.pool_mut().write_word(pfn, off, 8, 0);
                }
            }),
        );
        expect_some(&diverge(&mut pair, &ops, 0), 5, "table");
    }
}

// ---------------------------------------------------------------------------
// Destroy, and the release quirk

/// Destroying pmaps in a healthy sequence does not stop it: every step
/// runs (`Pair::c_corrupt` is false).
#[test]
fn a_healthy_sequence_runs_on_after_destroys() {
    for c in CONFIGS {
        let (va, vb) = (va_at(c, 1, 2, 3), va_at(c, 2, 4, 6));
        let ops = [
            create(1),
            create(2),
            reserve(1, va),
            reserve(2, vb),
            destroy(1),
            create(1),
            enter(1, vb),
            at_once(
                Call::Destroy {
                    pmap: 2,
                    cb: None,
                    flags: 0,
                },
                cpu_lookup(1, vb),
                0x1,
            ),
            lookup(1, vb),
            reserve(1, va),
            // Under DEBUG a pmap is destroyed with no valid mappings.
            process(1, vb, LenSpec::Pages(1), CbKind::Clear),
            destroy(1),
            lookup(3, 0),
        ];
        let mut pair = Pair::open(c.name, POOL).unwrap();
        assert_eq!(agree(&mut pair, &ops, 0), (ops.len(), None), "{}", c.name);
    }
}

/// A destroy that leaves a table in a free segtab (a pmap whose
/// `pm_minaddr` is past a mapped segment: the release loop starts there,
/// C lines 270-272) stops the sequence after a deep pass: reported as
/// `StaleFreeSegtab` where DEBUG does not panic first, for a destroy run
/// alone or on a CPU of a concurrent step.
#[test]
fn a_stale_free_segtab_stops_the_sequence() {
    for c in CONFIGS {
        let seg = 1u64 << c.segshift;
        let vb = va_at(c, 1, 2, 3);
        let stale = |pmap| {
            Op::Call(Call::Create {
                pmap,
                min: MinSpec::Seg(8),
            })
        };
        let alone = vec![
            stale(1),
            create(2),
            enter(2, vb),
            reserve(1, seg),
            destroy(1),
            lookup(2, vb),
        ];
        let concurrent = vec![
            stale(1),
            create(2),
            enter(2, vb),
            reserve(1, seg),
            at_once(
                cpu_lookup(2, vb),
                Call::Destroy {
                    pmap: 1,
                    cb: None,
                    flags: 0,
                },
                0x1,
            ),
            lookup(2, vb),
        ];
        let want = if c.debug {
            PanicClass::CheckStp
        } else {
            PanicClass::StaleFreeSegtab
        };
        for ops in [&alone, &concurrent] {
            let mut pair = Pair::open(c.name, POOL).unwrap();
            assert_eq!(
                agree(&mut pair, ops, 0),
                (5, Some(want.clone())),
                "{}",
                c.name
            );
            drop(pair);
            if c.debug {
                continue;
            }
            // The deep pass that follows sees what the step left elsewhere.
            let plant = move |k: usize, side: &mut dyn Side| {
                if k == 4 {
                    let (pfn, off) = slot_of(side, 2, vb).expect("pmap 2 maps vb");
                    side.pool_mut().write_word(pfn, off, 8, 0);
                }
            };
            let mut pair = tampered(
                c,
                Plan {
                    step: Some(Box::new(move |k, side, _, _, _| plant(k, side))),
                    concurrent: Some(Box::new(move |k, side, _, _, _| plant(k, side))),
                    ..Plan::default()
                },
            );
            expect_some(&diverge(&mut pair, ops, 0), 4, "table");
        }
    }
}

// ---------------------------------------------------------------------------
// Memory

/// Configurations that free PTE pages on destroy (no PTP cache).
fn freeing_configs() -> impl Iterator<Item = &'static Config> {
    CONFIGS.iter().filter(|c| !c.ptp_cache)
}

/// A store into a page the port freed in this step: reported at the
/// step's deep pass, as the port's, with the step that freed it.
#[test]
fn a_store_into_a_page_freed_this_step_is_a_memory_finding() {
    for c in freeing_configs() {
        let va = va_at(c, 1, 2, 3);
        let ops = [
            create(1),
            reserve(1, va),
            destroy(1),
            lookup(1, 0),
            lookup(1, 0),
        ];
        let mut pair = tampered(
            c,
            on_step(|k, side, _, _, _| {
                if k == 2 {
                    let freed = side.pool().events().iter().find_map(|e| match *e {
                        PoolEvent::Free { pfn } => Some(pfn),
                        _ => None,
                    });
                    let pfn = freed.expect("the destroy freed a page");
                    side.pool_mut().write_word(pfn, 40, 4, 0x1234_5678);
                }
            }),
        );
        let d = diverge(&mut pair, &ops, 3);
        expect(&d, 2, &["memory"]);
        assert_eq!(d.diffs.len(), 1);
        let f = &d.diffs[0];
        assert_eq!(f.field, "Rust port: store into a free page");
        assert_eq!(f.c, "-");
        assert!(
            f.rust.contains("freed at step 2") && f.rust.contains("seen at step 2"),
            "{}",
            f.rust
        );
    }
}

/// The same on the C's side, reported once.
#[test]
fn a_store_into_a_free_page_of_the_c_is_reported_once() {
    for c in freeing_configs() {
        let va = va_at(c, 1, 2, 3);
        let mut pair = Pair::open(c.name, POOL).unwrap();
        pair.reset();
        let steps = [
            Action::Create {
                pmap: 1,
                minaddr: 0,
            },
            Action::Reserve {
                pmap: 1,
                va,
                flags: 0,
            },
            Action::Destroy {
                pmap: 1,
                cb: None,
                flags: 0,
            },
        ];
        for a in &steps {
            let (_, d) = pair.step(a, false);
            assert!(d.is_empty(), "{}: {d:?}", c.name);
        }
        let pool = pair.c.pool_mut();
        let pfn = (0..pool.high_water())
            .find(|&p| !pool.is_allocated(p))
            .expect("a freed page");
        pool.write_word(pfn, 8, 8, 0x77);
        let probe = Action::Lookup { pmap: 1, va };
        let (_, d) = pair.step(&probe, true);
        assert_eq!(d.len(), 1, "{}: {d:?}", c.name);
        assert_eq!(d[0].category, "memory");
        assert_eq!(d[0].field, "C reference: store into a free page");
        assert_eq!(d[0].rust, "-");
        assert!(d[0].c.contains(&format!("free page {pfn} ")), "{}", d[0].c);
        let (_, d) = pair.step(&probe, true);
        assert!(d.is_empty(), "{}: reported again: {d:?}", c.name);
    }
}

/// Pages used differently on the two sides (30 leaked on the port's): the
/// first [`MAX_TABLE_DIFFS`] listed, the rest counted.
#[test]
fn many_differing_pages_are_listed_up_to_the_limit_and_counted() {
    let extra = 6;
    let c = &CONFIGS[0];
    let va = va_at(c, 1, 2, 3);
    let ops = [create(1), enter(1, va), lookup(1, va)];
    let mut pair = tampered(
        c,
        on_step(move |k, side, _, _, _| {
            if k == 2 {
                let pool = side.pool_mut();
                for _ in 0..MAX_TABLE_DIFFS + extra {
                    pool.alloc(0).expect("a page");
                }
                pool.clear_events();
            }
        }),
    );
    let d = diverge(&mut pair, &ops, 0);
    expect(&d, 2, &["pages", "pool"]);
    let fields = field_of(&d, "pages");
    assert_eq!(fields.len(), MAX_TABLE_DIFFS + 1);
    assert_eq!(
        fields[MAX_TABLE_DIFFS],
        format!("... and {extra} more pages")
    );
    // Above the C's highest frame: never handed out there, so free.
    let leaked = d.diffs.iter().find(|f| f.category == "pages").unwrap();
    assert_eq!((&*leaked.c, &*leaked.rust), ("free", "leaked"));
}

/// A pmap whose root is NULL on one side only is reported once, by the
/// summary (`pm_segtab`) and the page classes, not walked as a tree.
#[test]
fn a_null_root_on_one_side_is_left_to_the_summary() {
    for c in CONFIGS {
        let va = va_at(c, 1, 2, 3);
        let ops = [create(1), enter(1, va), lookup(1, va)];
        let mut pair = tampered(
            c,
            Plan {
                root: Some(Box::new(
                    |i, pmap, raw| if i == 2 && pmap == 1 { 0 } else { raw },
                )),
                summary: Some(Box::new(|i, s| {
                    if i == 2 {
                        s.roots[1] = Ptr::Null;
                    }
                })),
                ..Plan::default()
            },
        );
        let d = diverge(&mut pair, &ops, 0);
        expect(&d, 2, &["pages", "pmap"]);
        assert_eq!(field_of(&d, "pmap"), ["pmap 1 pm_segtab"]);
    }
}

/// A panic on one side only is compared in full, as when both panic: the
/// report shows what else differs.
#[test]
fn a_panic_on_one_side_is_compared_in_full() {
    for c in CONFIGS {
        let seg = 1u64 << c.segshift;
        let vb = va_at(c, 1, 2, 3);
        let ops = [
            create(1),
            create(2),
            enter(2, vb),
            enter(1, seg),
            Op::FailNext { n: 1 },
            reserve(1, 2 * seg),
            lookup(1, seg),
        ];
        // Both panic at step 5: the port's returns instead (the C panics
        // alone), or the port's lookup at step 3 panics (the port alone).
        for (at, end) in [
            (5, StepEnd::Ok(Some(PteLoc::Null))),
            (
                3,
                StepEnd::Panic(PanicClass::Other("planted".into()), "planted".into()),
            ),
        ] {
            let mut pair = tampered(
                c,
                on_step(move |k, side, _, e, _| {
                    if k == at {
                        *e = end.clone();
                        let (pfn, off) = slot_of(side, 2, vb).expect("pmap 2 maps vb");
                        side.pool_mut().write_word(pfn, off, 8, 0);
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, 0);
            expect_some(&d, at, "outcome");
            expect_some(&d, at, "table");
        }
    }
}

/// A store into a page freed at the last step is reported at that step.
#[test]
fn a_store_at_the_last_step_is_reported() {
    for c in freeing_configs() {
        let va = va_at(c, 1, 2, 3);
        let ops = [create(1), reserve(1, va), destroy(1)];
        let mut pair = tampered(
            c,
            on_step(|k, side, _, _, _| {
                if k == 2 {
                    let pfn = side
                        .pool()
                        .events()
                        .iter()
                        .find_map(|e| match *e {
                            PoolEvent::Free { pfn } => Some(pfn),
                            _ => None,
                        })
                        .expect("the destroy freed a page");
                    side.pool_mut().write_word(pfn, 16, 4, 0x1234_5678);
                }
            }),
        );
        let d = diverge(&mut pair, &ops, 0);
        expect(&d, 2, &["memory"]);
    }
}

/// A store into a free page the periodic passes do not read (not touched
/// since the last pass, outside the rolling window) is still reported by
/// the end of the sequence: the final full pass checks every free page,
/// and `Pair::deep` reports what it found.
#[test]
fn a_store_into_any_free_page_is_reported_by_the_end() {
    let c = CONFIGS.iter().find(|c| !c.ptp_cache).unwrap();
    let seg = 1u64 << c.segshift;
    let pages = 24u64;
    let mut ops = vec![create(1)];
    ops.extend((0..pages).map(|k| reserve(1, (8 + k) * seg)));
    let freed_at = ops.len();
    ops.push(destroy(1));
    ops.extend(times(lookup(2, 0), 6));
    let plant_at = freed_at + 2;
    // Every page the destroy freed, one at a time.
    let mut freed = Vec::new();
    {
        let mut pair = Pair::open(c.name, POOL).unwrap();
        pair.reset();
        let mut r = segtab_diff::model::Resolver::new(pair.config);
        for op in &ops[..=freed_at] {
            pair.step(&r.action(op), false);
        }
        freed.extend(pair.r.pool().events().iter().filter_map(|e| match *e {
            PoolEvent::Free { pfn } => Some(pfn),
            _ => None,
        }));
    }
    assert!(freed.len() as u64 >= pages);
    for pfn in freed {
        let mut pair = tampered(
            c,
            on_step(move |k, side, _, _, _| {
                if k == plant_at {
                    side.pool_mut().write_word(pfn, 24, 4, 0x1234_5678);
                }
            }),
        );
        let seq = sequence(c, &ops);
        match run(
            &mut pair,
            &seq,
            CompareOpts {
                deep_every: (freed_at + 1) as u32,
            },
        ) {
            RunResult::Diverge(d) => assert!(
                d.step >= plant_at && categories(&d) == ["memory"],
                "pfn {pfn}: {}",
                segtab_diff::report::text(&d)
            ),
            RunResult::Agree { .. } => panic!(
                "pfn {pfn}: a store into a free page escaped; the pool saw {:?}",
                pair.r.pool().violations()
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// Periodic deep passes over many pages

/// A tree of `pages` PTE pages in pmap 1 (one per segment from segment 8),
/// then `filler` steps that touch nothing (lookups in a pmap that does not
/// exist), then `tail`.
fn many_pages(c: &Config, pages: u64, filler: usize, tail: &[Op]) -> Vec<Op> {
    let seg = 1u64 << c.segshift;
    let mut ops = vec![create(1)];
    ops.extend((0..pages).map(|k| reserve(1, (8 + k) * seg)));
    ops.extend(times(lookup(2, 0), filler));
    ops.extend_from_slice(tail);
    ops
}

/// Configurations whose tree holds 24 PTE pages apart.
fn roomy_configs() -> impl Iterator<Item = &'static Config> {
    CONFIGS.iter().filter(|c| c.segtabsize >= 64)
}

/// A periodic deep pass reads every page the steps since the last pass
/// touched, however many pages there are: one a reserve returned, one a
/// callback was given, one a destroy freed. (A lookup's page is not
/// touched: `pmap_pte_lookup` writes nothing; a store there is left to the
/// rolling window and the final pass, below.) The difference is planted in
/// the touched page away from what the touched-path comparison reads.
#[test]
fn a_periodic_pass_reads_every_page_touched_since_the_last() {
    let pages = 24u64;
    for c in roomy_configs() {
        let seg = 1u64 << c.segshift;
        let pg = 1u64 << c.pgshift;
        // Deep passes at step `every - 1` (clears what the reserves
        // touched) and `2 * every - 1` (the step under test).
        let every = pages as usize + 2;
        let at = 2 * every - 1;
        for k in 0..pages {
            let va = (8 + k) * seg + 5 * pg;
            let cases: [(Op, &str); 3] = [
                (reserve(1, va), "table"),
                (process(1, va, LenSpec::Pages(2), CbKind::Count), "table"),
                (destroy(1), "memory"),
            ];
            for (probe, category) in cases {
                if category == "memory" && c.ptp_cache {
                    continue; // PTE pages are cached, not freed
                }
                let ops = many_pages(c, pages, at - 1 - pages as usize, &[probe, lookup(2, 0)]);
                assert_eq!(ops.len(), at + 2);
                let bytes = c.pte_bits / 8;
                let mut pair = tampered(
                    c,
                    on_step(move |i, side, _, end, t| {
                        if i != at {
                            return;
                        }
                        if category == "memory" {
                            // The k-th page the destroy freed.
                            let freed: Vec<u32> = side
                                .pool()
                                .events()
                                .iter()
                                .filter_map(|e| match *e {
                                    PoolEvent::Free { pfn } => Some(pfn),
                                    _ => None,
                                })
                                .collect();
                            let pfn = freed[k as usize];
                            side.pool_mut().write_word(pfn, 32, 4, 0x1234_5678);
                            return;
                        }
                        let pfn = match t.callbacks.first() {
                            Some(call) => match call.pte {
                                PteLoc::In { pfn, .. } => pfn,
                                _ => panic!("no PTE page"),
                            },
                            None => loc(end).expect("a PTE").0,
                        };
                        // Entry 9: neither the reserve's (5) nor the
                        // callback's (5, 6).
                        side.pool_mut()
                            .write_word(pfn, 9 * bytes, bytes, other_pte(c, 0));
                    }),
                );
                let d = diverge(&mut pair, &ops, every as u32);
                expect(&d, at, &[category]);
            }
        }
    }
}

/// A segtab a destroy puts on the free list is read by the very next
/// periodic pass, though no pool event touched its frame: a stale slot in
/// it is reported at the destroy, wherever the rolling window stands.
#[test]
fn a_newly_freed_segtab_is_read_by_the_next_periodic_pass() {
    for c in roomy_configs() {
        let seg = 1u64 << c.segshift;
        for filler in 0..6 {
            let tail = [create(2), reserve(2, 8 * seg), destroy(2), lookup(1, 0)];
            let ops = many_pages(c, 24, filler, &tail);
            let at = ops.len() - 2;
            let mut pair = tampered(
                c,
                on_step(move |i, side, _, _, _| {
                    if i != at {
                        return;
                    }
                    let head = side.snapshot(true).free_list.0[0];
                    let Ptr::Page(r) = head else {
                        panic!("a segtab on the free list")
                    };
                    side.pool_mut()
                        .write_word(r.pfn, r.off + 8 * 5, 8, 0xdead_0000);
                }),
            );
            let d = diverge(&mut pair, &ops, 1);
            expect(&d, at, &["free list"]);
        }
    }
}

/// Every periodic pass reads every segtab a root reaches (on LP64 the
/// lower segtabs too), not only those in the rolling window: a slot set in
/// a segtab no step touched is reported by the very next pass, wherever
/// the window stands.
#[test]
fn every_periodic_pass_reads_every_segtab() {
    for c in roomy_configs() {
        let seg = 1u64 << c.segshift;
        for filler in 0..6 {
            let ops = many_pages(c, 24, filler + 2, &[]);
            let at = 25 + filler;
            let mut pair = tampered(
                c,
                on_step(move |i, side, _, _, _| {
                    if i != at {
                        return;
                    }
                    // An empty slot pointing at a page the tree already
                    // holds: a table difference, no page changes class.
                    let (pfn, off) = slot_of(side, 1, 11 * seg).expect("mapped");
                    let (to, to_off) = slot_of(side, 1, 40 * seg).expect("a segtab");
                    assert_eq!((pfn, to), (to, pfn));
                    let pool = side.pool_mut();
                    assert_eq!(pool.read_word(to, to_off, 8), 0);
                    let w = pool.read_word(pfn, off, 8);
                    pool.write_word(to, to_off, 8, w);
                }),
            );
            let d = diverge(&mut pair, &ops, 1);
            expect(&d, at, &["table"]);
        }
    }
}

/// A page no step touches is still read by some periodic pass before the
/// sequence ends (the passes roll over every page), not only by the final
/// full pass.
#[test]
fn periodic_passes_roll_over_every_page() {
    let pages = 24u64;
    let filler = 48;
    for c in roomy_configs() {
        let seg = 1u64 << c.segshift;
        let bytes = c.pte_bits / 8;
        let plant_at = pages as usize + 1;
        let ops = many_pages(c, pages, filler, &[]);
        let last = ops.len() - 1;
        for k in 0..pages {
            let va = (8 + k) * seg;
            let mut pair = tampered(
                c,
                on_step(move |i, side, _, _, _| {
                    if i == plant_at {
                        let (pfn, off) = slot_of(side, 1, va).expect("mapped");
                        let ptr = side.pool().read_word(pfn, off, 8);
                        let (pte, _) = side.pool().locate(ptr).expect("a pool page");
                        side.pool_mut()
                            .write_word(pte, 9 * bytes, bytes, other_pte(c, 0));
                    }
                }),
            );
            // A deep pass every step from the plant on.
            let d = diverge(&mut pair, &ops, 1);
            assert!(
                d.step >= plant_at && d.step < last && categories(&d) == ["table"],
                "{} page {k}: {}",
                c.name,
                segtab_diff::report::text(&d)
            );
        }
    }
}

/// The last step ends with a full pass: a page no step touched since the
/// last periodic pass, outside the rolling window, is read there.
#[test]
fn the_last_step_reads_every_page() {
    let pages = 24u64;
    for c in roomy_configs() {
        let seg = 1u64 << c.segshift;
        let bytes = c.pte_bits / 8;
        // A periodic pass at step `every - 1`; the plant after it; the end.
        let every = pages as u32 + 2;
        let plant_at = every as usize;
        let ops = many_pages(c, pages, 3, &[]);
        let last = ops.len() - 1;
        assert!(last > plant_at);
        for k in 0..pages {
            let va = (8 + k) * seg;
            let mut pair = tampered(
                c,
                on_step(move |i, side, _, _, _| {
                    if i == plant_at {
                        let (pfn, off) = slot_of(side, 1, va).expect("mapped");
                        let ptr = side.pool().read_word(pfn, off, 8);
                        let (pte, _) = side.pool().locate(ptr).expect("a pool page");
                        side.pool_mut()
                            .write_word(pte, 9 * bytes, bytes, other_pte(c, 0));
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, every);
            expect(&d, last, &["table"]);
        }
    }
}

/// A store just above the highest frame ever handed out (where a store
/// past the end of the last page lands) is caught by the next periodic
/// pass.
#[test]
fn a_store_above_the_high_water_mark_is_caught_by_a_periodic_pass() {
    for c in CONFIGS {
        let ops = [create(1), lookup(2, 0), lookup(2, 0), lookup(2, 0)];
        for above in 0..2 {
            let mut pair = tampered(
                c,
                on_step(move |i, side, _, _, _| {
                    if i == 1 {
                        let pfn = side.pool().high_water() + above;
                        side.pool_mut().write_word(pfn, 8, 4, 0x1234_5678);
                    }
                }),
            );
            let d = diverge(&mut pair, &ops, 1);
            expect(&d, 1, &["memory"]);
        }
    }
}

/// A store into a free page no step touches is caught by some periodic
/// pass before the sequence ends (the poison checks roll over every free
/// page too).
#[test]
fn periodic_passes_roll_over_every_free_page() {
    let pages = 24u64;
    for c in roomy_configs().filter(|c| !c.ptp_cache) {
        let mut ops = many_pages(c, pages, 0, &[destroy(1)]);
        let plant_at = ops.len() + 1;
        ops.extend(times(lookup(2, 0), 48));
        let last = ops.len() - 1;
        for k in 0..pages as usize {
            let mut pair = tampered(c, {
                let mut freed = Vec::new();
                on_step(move |i, side, _, _, _| {
                    if i == pages as usize + 1 {
                        freed = side
                            .pool()
                            .events()
                            .iter()
                            .filter_map(|e| match *e {
                                PoolEvent::Free { pfn } => Some(pfn),
                                _ => None,
                            })
                            .collect();
                    }
                    if i == plant_at {
                        side.pool_mut().write_word(freed[k], 48, 4, 0x1234_5678);
                    }
                })
            });
            let d = diverge(&mut pair, &ops, 1);
            assert!(
                d.step >= plant_at && d.step < last && categories(&d) == ["memory"],
                "{} freed page {k}: {}",
                c.name,
                segtab_diff::report::text(&d)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The tree walker (shim::inspect) on planted trees

/// Open `c`, create pmap 1 and enter `vas` in it on both sides.
fn pair_with(c: &Config, vas: &[u64]) -> Pair {
    let mut pair = Pair::open(c.name, POOL).unwrap();
    pair.reset();
    let mut steps = vec![Action::Create {
        pmap: 1,
        minaddr: 0,
    }];
    steps.extend(vas.iter().map(|&va| Action::Enter {
        pmap: 1,
        va,
        value: other_pte(c, 0),
        flags: 0,
    }));
    for a in &steps {
        let (_, d) = pair.step(a, false);
        assert!(d.is_empty(), "{}: {d:?}", c.name);
    }
    pair
}

/// `diff_trees` returns how many fields differ.
#[test]
fn diff_trees_counts_the_differences() {
    for c in CONFIGS {
        let vas = [va_at(c, 1, 2, 3), va_at(c, 1, 2, 9), va_at(c, 2, 5, 0)];
        let mut pair = pair_with(c, &vas);
        let g = pair.c.geometry();
        for &va in &vas {
            let (pfn, off) = slot_of(&*pair.r, 1, va).unwrap();
            let ptr = pair.r.pool().read_word(pfn, off, 8);
            let (pte, _) = pair.r.pool().locate(ptr).unwrap();
            let j = ((va >> c.pgshift) & (nptepg(c) as u64 - 1)) as u32;
            plant_pte(&mut *pair.r, pte, j);
        }
        let mut reported = 0;
        let n = shim::inspect::diff_trees(
            pair.c.pool(),
            pair.c.root_raw(1),
            pair.r.pool(),
            pair.r.root_raw(1),
            &g,
            |_, _, _| reported += 1,
        );
        assert_eq!((n, reported), (3, 3), "{}", c.name);
    }
}

/// A top-level slot (`seg_seg[x]`, LP64) NULL on one side only, either
/// side, is a table difference at that slot.
#[test]
fn a_top_level_slot_null_on_one_side_is_compared() {
    for c in CONFIGS.iter().filter(|c| c.lp64) {
        let va = va_at(c, 3, 2, 1);
        for port_has_it in [false, true] {
            let mut pair = pair_with(c, &[va]);
            let Ptr::Page(root) = pair.r.root(1) else {
                panic!("no root")
            };
            let slot = |x: u32| root.off + 8 * x;
            let pool = pair.r.pool_mut();
            let x = if port_has_it {
                // The port's seg_seg[4] points where its seg_seg[3] does.
                let w = pool.read_word(root.pfn, slot(3), 8);
                pool.write_word(root.pfn, slot(4), 8, w);
                4
            } else {
                pool.write_word(root.pfn, slot(3), 8, 0);
                3
            };
            let mut diffs = Vec::new();
            pair.deep(&mut diffs);
            let want = format!("pmap 1 {}", Field::Seg(x));
            assert!(
                diffs
                    .iter()
                    .any(|f| f.category == "table" && f.field == want),
                "{}: wanted {want}: {diffs:?}",
                c.name
            );
        }
    }
}

/// A segtab pointer that runs off the end of its page (the same on both
/// sides, so nothing differs) is not followed: walking it would read
/// outside the frame. (A `seg_seg` slot, LP64.)
#[test]
fn a_segtab_pointer_off_its_page_is_not_followed() {
    for c in CONFIGS.iter().filter(|c| c.lp64) {
        let mut pair = pair_with(c, &[va_at(c, 1, 2, 3)]);
        let ps = 1u64 << c.pgshift;
        for side in [&mut pair.c as &mut dyn Side, &mut *pair.r] {
            let Ptr::Page(root) = side.root(1) else {
                panic!("no root")
            };
            let pool = side.pool_mut();
            // Aligned, but a segtab there would end past the page.
            let bad = pool.kva(root.pfn) as u64 + ps - 8;
            pool.write_word(root.pfn, root.off + 8 * 7, 8, bad);
        }
        let mut diffs = Vec::new();
        pair.deep(&mut diffs);
        assert!(diffs.is_empty(), "{}: {diffs:?}", c.name);
        let shape =
            shim::inspect::TableShape::walk(pair.r.pool(), &pair.r.geometry(), pair.r.root_raw(1));
        assert!(!shape.fields.is_empty());
    }
}
