//! Concurrent steps end to end: two CPUs in one world on both sides, under
//! the same schedules, compared after the step.

use segtab_diff::model::{Action, Concurrent};
use segtab_diff::run::{Pair, DEFAULT_POOL_PAGES};
use segtab_diff::side::{Side, StepEnd, StepTrace};
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
/// The pair back to a fresh world with `pmaps` created, each create
/// compared and agreeing.
fn fresh_with_pmaps(pair: &mut Pair, pmaps: impl IntoIterator<Item = u32>) {
    pair.reset();
    for pmap in pmaps {
        let (_, d) = pair.step(&Action::Create { pmap, minaddr: 0 }, true);
        assert!(d.is_empty(), "{}: {d:?}", pair.config.name);
    }
}

#[test]
fn same_va_races_agree_under_every_schedule() {
    for c in mp_configs() {
        let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
        let va = 3 << c.segshift | 5 << c.pgshift;
        let mut lost = 0;
        for schedule in 0..256u64 {
            fresh_with_pmaps(&mut pair, [1]);
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

fn on_cpus(cpus: Vec<Vec<Action>>, schedule: u64) -> Action {
    Action::Concurrent(Box::new(Concurrent {
        cpus,
        lwp: 1,
        schedule,
    }))
}

/// Three and four CPUs reserve the same VA under every schedule of their
/// first eight decisions, in every configuration: the sides agree at every
/// step; with MULTIPROCESSOR every CPU reaches calls out of the file and
/// CPUs 2 and 3 lose races too (they reach the CAS after another CPU).
#[test]
fn three_and_four_cpus_race_and_agree() {
    for c in c_reference::CONFIGS {
        let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
        let va = 3 << c.segshift | 5 << c.pgshift;
        for n in [3usize, 4] {
            let mut lost_on_extra = 0;
            let mut reached = [false; 4];
            for schedule in 0..256u64 {
                fresh_with_pmaps(&mut pair, [1]);
                let reserve = Action::Reserve {
                    pmap: 1,
                    va,
                    flags: 0,
                };
                let step = on_cpus(vec![vec![reserve.clone()]; n], schedule);
                let (end, d) = pair.step(&step, true);
                assert!(
                    d.is_empty(),
                    "{} {n} CPUs schedule {schedule:#x}: {d:?}",
                    c.name
                );
                assert_eq!(end, StepEnd::Ok(None), "{}", c.name);
                let sched = &pair.last_c.sched;
                if c.multiprocessor {
                    for cpu in 0..n as u8 {
                        reached[cpu as usize] |= sched.iter().any(|e| e.cpu == cpu);
                    }
                    let cas = |cpu: u8| {
                        sched
                            .iter()
                            .position(|e| e.cpu == cpu && e.call == Call::Cas)
                    };
                    let first = (0..n as u8).filter_map(cas).min();
                    if (2..n as u8).any(|cpu| cas(cpu).is_some_and(|p| Some(p) != first)) {
                        lost_on_extra += 1;
                    }
                }
            }
            if c.multiprocessor {
                assert!(
                    reached[..n].iter().all(|r| *r),
                    "{} {n}: {reached:?}",
                    c.name
                );
                assert!(
                    lost_on_extra > 0,
                    "{} {n} CPUs: CPU 2 or 3 never lost",
                    c.name
                );
            }
        }
    }
}

/// Each CPU runs as its own lwp (CPU 2 as lwp 2, CPU 3 as lwp 3 when CPU
/// 0 runs lwp 0 and CPU 1 lwp 1): activating its lwp's pmap (lwp i is in
/// the process of pmap i) sets that CPU's `cpu_info`, which both sides
/// compare for every CPU.
#[test]
fn every_cpu_has_its_own_lwp_and_cpu_info() {
    for c in c_reference::CONFIGS {
        let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
        for p in 1..=4 {
            let (_, d) = pair.step(
                &Action::Create {
                    pmap: p,
                    minaddr: 0,
                },
                true,
            );
            assert!(d.is_empty(), "{}: {d:?}", c.name);
        }
        let act = |pmap, lwp| vec![Action::Activate { pmap, lwp }];
        let look = vec![Action::Lookup { pmap: 4, va: 0 }];
        let step = on_cpus(vec![look, act(1, 1), act(2, 2), act(3, 3)], 0x5);
        let (end, d) = pair.step(&step, true);
        assert!(d.is_empty(), "{}: {d:?}", c.name);
        assert_eq!(end, StepEnd::Ok(None), "{}", c.name);
        let s = pair.c.snapshot(true);
        for cpu in 1..4 {
            assert!(
                matches!(s.ci_segtab[cpu], shim::inspect::Ptr::Page(_)),
                "{}: cpu{cpu}'s segtab not set: {:?}",
                c.name,
                s.ci_segtab
            );
        }
    }
}

/// A panic on one of three CPUs abandons both others, on both sides, under
/// every schedule of the first six decisions, and the comparison agrees.
#[test]
fn a_panic_abandons_every_other_cpu() {
    let c = mp_configs().next().unwrap();
    let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
    let va = 7 << c.segshift;
    let reserve = |pmap| Action::Reserve { pmap, va, flags: 0 };
    for schedule in 0..64u64 {
        fresh_with_pmaps(&mut pair, 1..=3);
        pair.step(&Action::Limit { headroom: 0 }, true);
        let cpus = vec![vec![reserve(1)], vec![reserve(2)], vec![reserve(3)]];
        let mut t = StepTrace::default();
        let ends = pair.r.step_concurrent(&cpus, 1, schedule, &mut t);
        let panics = ends.iter().flatten().filter(|e| e.is_panic()).count();
        let abandoned = ends
            .iter()
            .flatten()
            .filter(|e| matches!(e, StepEnd::Abandoned(_)))
            .count();
        assert_eq!((panics, abandoned), (1, 2), "{schedule:#x}: {ends:?}");
        pair.reset();
        for p in 1..=3 {
            pair.step(
                &Action::Create {
                    pmap: p,
                    minaddr: 0,
                },
                true,
            );
        }
        pair.step(&Action::Limit { headroom: 0 }, true);
        let (end, d) = pair.step(&on_cpus(cpus, schedule), true);
        assert!(d.is_empty(), "{schedule:#x}: {d:?}");
        assert!(end.is_panic());
    }
}
