//! PCT for concurrent steps (`campaign --scheduler pct`): the C runs under
//! PCT, the port follows the bits the C took, and those bits alone replay
//! the step.

use segtab_diff::model::{Action, Concurrent};
use segtab_diff::run::{Pair, PctState, DEFAULT_POOL_PAGES};
use shim::sched::Call as Point;

fn reserve_race(va: u64) -> Action {
    let reserve = Action::Reserve {
        pmap: 1,
        va,
        flags: 0,
    };
    // The schedule is ignored under PCT.
    Action::Concurrent(Box::new(Concurrent::pair(reserve.clone(), reserve, 1, 0)))
}

#[test]
fn pct_steps_agree_and_their_bits_replay_them() {
    for c in c_reference::CONFIGS.iter().filter(|c| c.multiprocessor) {
        let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
        let va = 3 << c.segshift | 5 << c.pgshift;
        let create = Action::Create {
            pmap: 1,
            minaddr: 0,
        };
        let mut lost = 0;
        for depth in 1..=3 {
            pair.pct = Some(PctState::new(depth, 42 + depth as u64));
            for _ in 0..40 {
                pair.reset();
                assert!(pair.step(&create, true).1.is_empty());
                let (_, d) = pair.step(&reserve_race(va), true);
                assert!(d.is_empty(), "{} depth {depth}: {d:?}", c.name);
                let (log, taken) = (pair.last_c.sched.clone(), pair.last_c.taken);
                assert_eq!(log, pair.last_r_sched, "the port followed the C");
                let cas = |cpu| log.iter().any(|e| e.cpu == cpu && e.call == Point::Cas);
                lost += usize::from(cas(0) && cas(1));
                // Without PCT, the bits it took give the same step.
                let pct = pair.pct.take();
                pair.reset();
                assert!(pair.step(&create, true).1.is_empty());
                let mut again = reserve_race(va);
                if let Action::Concurrent(cc) = &mut again {
                    cc.schedule = taken;
                }
                let (_, d) = pair.step(&again, true);
                assert!(d.is_empty(), "{}: {d:?}", c.name);
                assert_eq!(pair.last_c.sched, log, "{}: bits {taken:#x}", c.name);
                pair.pct = pct;
            }
            let p = pair.pct.as_ref().unwrap();
            assert_eq!(p.steps, 40);
            assert!(p.n() > 1, "{}: n = {}", c.name, p.n());
        }
        assert!(lost > 0, "{}: PCT never made a CPU lose the race", c.name);
    }
}

/// The port side, made to report a wrong schedule whenever both CPUs
/// reached `atomic_cas_ptr` (a lost race): a bug only some interleavings
/// show.
struct LosesRaces(Box<dyn segtab_diff::side::Side>);

impl segtab_diff::side::Side for LosesRaces {
    fn label(&self) -> &'static str {
        self.0.label()
    }
    fn config(&self) -> &'static c_reference::Config {
        self.0.config()
    }
    fn geometry(&self) -> shim::inspect::Geometry {
        self.0.geometry()
    }
    fn pool(&self) -> &shim::PagePool {
        self.0.pool()
    }
    fn pool_mut(&mut self) -> &mut shim::PagePool {
        self.0.pool_mut()
    }
    fn reset(&mut self) {
        self.0.reset()
    }
    fn step(
        &mut self,
        a: &Action,
        t: &mut segtab_diff::side::StepTrace,
    ) -> segtab_diff::side::StepEnd {
        self.0.step(a, t)
    }
    fn step_concurrent(
        &mut self,
        acts: &[Vec<Action>],
        lwp1: u32,
        choices: u64,
        t: &mut segtab_diff::side::StepTrace,
    ) -> Vec<Vec<segtab_diff::side::StepEnd>> {
        let ends = self.0.step_concurrent(acts, lwp1, choices, t);
        let cas = |cpu| t.sched.iter().any(|e| e.cpu == cpu && e.call == Point::Cas);
        if cas(0) && cas(1) {
            t.sched.pop();
        }
        ends
    }
    fn take_xtab(&mut self) -> Vec<c_reference::XtabEvent> {
        self.0.take_xtab()
    }
    fn snapshot(&mut self, deep: bool) -> segtab_diff::side::Snapshot {
        self.0.snapshot(deep)
    }
    fn summary(&mut self) -> segtab_diff::side::Summary {
        self.0.summary()
    }
    fn root_raw(&self, pmap: u32) -> u64 {
        self.0.root_raw(pmap)
    }
}

/// A divergence found under PCT is reported with the bits PCT took, and
/// that sequence diverges again the same way without PCT.
#[test]
fn a_pct_divergence_replays_from_its_bits() {
    use segtab_diff::model::{Call, MinSpec, Op, Sequence, Step, VaSpec};
    use segtab_diff::run::{run, CompareOpts, RunResult};
    let c = c_reference::configs::find("mips64-n64-4k").unwrap();
    let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
    let port = std::mem::replace(
        &mut pair.r,
        segtab_diff::port_side::open(c, DEFAULT_POOL_PAGES).unwrap(),
    );
    pair.r = Box::new(LosesRaces(port));
    let reserve = Call::Reserve {
        pmap: 1,
        va: VaSpec::Seg { seg: 3, page: 5 },
        canfail: false,
    };
    let seq = Sequence {
        config: c.name.into(),
        ops: vec![
            Op::Call(Call::Create {
                pmap: 1,
                min: MinSpec::Zero,
            }),
            // Never loses the race by its bits (schedule 0): only PCT can.
            Op::Concurrent(Step::pair(reserve, reserve, 1, 0)),
        ],
    };
    assert!(matches!(
        run(&mut pair, &seq, CompareOpts::default()),
        RunResult::Agree { .. }
    ));
    pair.pct = Some(PctState::new(2, 7));
    let d = (0..500)
        .find_map(|_| match run(&mut pair, &seq, CompareOpts::default()) {
            RunResult::Diverge(d) => Some(d),
            RunResult::Agree { .. } => None,
        })
        .expect("PCT makes a CPU lose the race within 500 runs");
    let Op::Concurrent(Step { schedule, .. }) = d.sequence.ops[1] else {
        panic!("the step stays concurrent")
    };
    assert_ne!(schedule, 0, "the reported sequence carries PCT's bits");
    pair.pct = None;
    match run(&mut pair, &d.sequence, CompareOpts::default()) {
        RunResult::Diverge(again) => {
            assert_eq!(again.class(), d.class());
            assert_eq!(again.schedules, d.schedules);
        }
        RunResult::Agree { .. } => panic!("the bits PCT took do not replay it"),
    }
}
