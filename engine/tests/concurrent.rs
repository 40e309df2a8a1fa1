//! Concurrent steps end to end: two CPUs in one world on both sides, under
//! the same schedules, compared after the step.

use segtab_diff::model::{Action, Concurrent};
use segtab_diff::run::{Pair, DEFAULT_POOL_PAGES};
use segtab_diff::side::{StepEnd, StepTrace};
use shim::sched::Call;

fn mp_configs() -> impl Iterator<Item = &'static c_reference::Config> {
    c_reference::CONFIGS.iter().filter(|c| c.multiprocessor)
}

fn at_once(a: Action, b: Action, schedule: u64) -> Action {
    Action::Concurrent(Box::new(Concurrent::pair(a, b, 1, schedule)))
}

/// Two CPUs reserve the same VA under every schedule of their first eight
/// decisions: the sides agree at every step, and some schedules make a CPU
/// lose the race (a page allocated and given back, C lines 554-570).
#[test]
fn same_va_races_agree_under_every_schedule() {
    for c in mp_configs() {
        let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
        let va = 3 << c.segshift | 5 << c.pgshift;
        let mut lost = 0;
        for schedule in 0..256u64 {
            pair.reset();
            let (_, d) = pair.step(
                &Action::Create {
                    pmap: 1,
                    minaddr: 0,
                },
                true,
            );
            assert!(d.is_empty(), "{}: {d:?}", c.name);
            let reserve = Action::Reserve {
                pmap: 1,
                va,
                flags: 0,
            };
            let step = at_once(reserve.clone(), reserve, schedule);
            let (end, d) = pair.step(&step, true);
            assert!(d.is_empty(), "{} schedule {schedule:#x}: {d:?}", c.name);
            assert_eq!(end, StepEnd::Ok(None), "{}", c.name);
            let sched = &pair.last_c.sched;
            // Both CPUs reached atomic_cas_ptr: one of them lost a race and
            // gave its page back (freed, or cached with PMAP_PTP_CACHE).
            let cas = |cpu| sched.iter().any(|e| e.cpu == cpu && e.call == Call::Cas);
            if cas(0) && cas(1) {
                lost += 1;
            }
        }
        assert!(lost > 0, "{}: no schedule lost a race", c.name);
    }
}

/// A CPU that wants the lock another holds waits (the schedule shows it),
/// and both sides make it wait at the same call.
#[test]
fn second_cpu_waits_for_the_lock() {
    for c in mp_configs() {
        let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
        let mut waited = false;
        for schedule in 0..64u64 {
            pair.reset();
            let init = |pmap| Action::Create { pmap, minaddr: 0 };
            let (_, d) = pair.step(&at_once(init(1), init(2), schedule), true);
            assert!(d.is_empty(), "{} schedule {schedule:#x}: {d:?}", c.name);
            waited |= pair.last_c.sched.iter().any(|e| e.blocked);
        }
        assert!(waited, "{}: no schedule made a CPU wait", c.name);
    }
}

/// The port's side on its own: a panic on one CPU abandons the other, and
/// the step reports both ends.
#[test]
fn a_panic_abandons_the_other_cpu() {
    let c = mp_configs().next().unwrap();
    let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
    pair.step(
        &Action::Create {
            pmap: 1,
            minaddr: 0,
        },
        true,
    );
    pair.step(
        &Action::Create {
            pmap: 2,
            minaddr: 0,
        },
        true,
    );
    // No page at all: CPU 0's reserve panics (no PMAP_CANFAIL) at its first
    // allocation; switch to CPU 1 right after.
    pair.step(&Action::Limit { headroom: 0 }, true);
    let va = 7 << c.segshift;
    let step = at_once(
        Action::Reserve {
            pmap: 1,
            va,
            flags: 0,
        },
        Action::Reserve {
            pmap: 2,
            va,
            flags: 0,
        },
        0,
    );
    let mut t = StepTrace::default();
    let ends = pair.r.step_concurrent(
        match &step {
            Action::Concurrent(cc) => &cc.cpus,
            _ => unreachable!(),
        },
        1,
        0,
        &mut t,
    );
    assert!(ends[0][0].is_panic(), "{ends:?}");
    assert!(matches!(ends[1][0], StepEnd::Abandoned(_)), "{ends:?}");
    // And the whole comparison agrees on it.
    pair.reset();
    pair.step(
        &Action::Create {
            pmap: 1,
            minaddr: 0,
        },
        true,
    );
    pair.step(
        &Action::Create {
            pmap: 2,
            minaddr: 0,
        },
        true,
    );
    pair.step(&Action::Limit { headroom: 0 }, true);
    let (end, d) = pair.step(&step, true);
    assert!(d.is_empty(), "{d:?}");
    assert!(end.is_panic());
}
