//! Two CPUs in one C world (`CWorld::run_concurrent`), on every
//! MULTIPROCESSOR configuration: the atomic_cas_ptr races of
//! pmap_pte_reserve run for real, the segtab lock makes a CPU wait, a panic
//! on one CPU abandons the other.

use c_reference::{
    CCall, CWorld, CallbackArgs, Capability, Config, CpuOutcome, Error, Outcome, PageList, CONFIGS,
};
use shim::inspect::{Field, PteLoc};
use shim::pool::PoolEvent;
use shim::sched::{Abandon, Call, RunReport, SchedEvent, Scheduler};
use shim::PagePool;
use std::sync::Mutex;

const POOL: usize = 256;

fn mp() -> impl Iterator<Item = &'static Config> {
    CONFIGS.iter().filter(|c| c.multiprocessor)
}

fn nbseg(c: &Config) -> u64 {
    1 << c.segshift
}

fn user_va(c: &Config, seg: u64, page: u64) -> u64 {
    (0x0040_0000u64.max(nbseg(c)) + seg * nbseg(c) + (page << c.pgshift)) & c.va_mask()
}

fn no_cb(_: usize, _: &mut PagePool, _: CallbackArgs) {}

fn ev(cpu: u8, call: Call, blocked: bool) -> SchedEvent {
    SchedEvent { cpu, call, blocked }
}

fn run(w: &mut CWorld, choices: u64, calls: [CCall; 2]) -> RunReport<CpuOutcome> {
    w.run_concurrent(&Scheduler::new(2, choices), calls, 1, &no_cb)
        .unwrap()
}

/// The PTE pointer of a reserve or lookup that returned.
fn pte(o: &CpuOutcome) -> PteLoc {
    match o {
        CpuOutcome::Done(Outcome::Ok(Some(loc))) => *loc,
        other => panic!("expected a PTE pointer, got {other:?}"),
    }
}

/// The decision at which CPU 0 reaches `call` for the first time: with
/// CPU 1 not started, every point of CPU 0 is a decision.
fn decision_of_cpu0(log: &[SchedEvent], call: Call) -> u32 {
    let i = log
        .iter()
        .position(|e| e.call == call)
        .unwrap_or_else(|| panic!("no {call:?} in {log:?}"));
    assert!(log[..=i].iter().all(|e| e.cpu == 0));
    i as u32
}

#[test]
fn two_cpus_reserving_one_va_race_and_agree() {
    for c in mp() {
        for at in [Call::Alloc, Call::Cas] {
            let mut w = CWorld::open(c.name, POOL).unwrap();
            let va = user_va(c, 0, 3);
            let calls = [CCall::Reserve {
                pmap: 1,
                va,
                flags: 0,
            }; 2];

            // Without a switch CPU 0 runs alone, then CPU 1 finds the PTE.
            w.segtab_init(1, 0).unwrap().unwrap();
            let alone = run(&mut w, 0, calls);
            assert_eq!(pte(&alone.results[0]), pte(&alone.results[1]), "{}", c.name);
            assert!(alone.log.iter().all(|e| e.cpu == 0), "{}", c.name);
            let k = decision_of_cpu0(&alone.log, at);

            // Switch before CPU 0's first `at`: CPU 1 reserves the VA to
            // the end; CPU 0 goes on and loses its compare-and-swap(s).
            w.reset();
            w.segtab_init(1, 0).unwrap().unwrap();
            let free_before = w.free_segtabs().0.len();
            w.pool_mut().clear_events();
            let r = run(&mut w, 1 << k, calls);
            let what = format!("{} switch at {at:?}: {:?}", c.name, r.log);
            assert!(!r.deadlock, "{what}");
            let loc = pte(&r.results[0]);
            assert_eq!(pte(&r.results[1]), loc, "{what}");
            assert!(matches!(loc, PteLoc::In { .. }), "{what}");
            assert_eq!(w.pte_lookup(1, va).unwrap().unwrap(), loc, "{what}");

            // CPU 1 ran from CPU 0's switch to its own end, uninterrupted.
            assert_eq!(r.log[k as usize], ev(0, at, false), "{what}");
            let first1 = k as usize + 1;
            let last1 = r.log.iter().rposition(|e| e.cpu == 1).unwrap();
            assert!(r.log[first1..=last1].iter().all(|e| e.cpu == 1), "{what}");
            assert!(r.log[last1 + 1..].iter().all(|e| e.cpu == 0), "{what}");
            // Both CPUs reached the compare-and-swap (CPU 0's effects all
            // come after CPU 1's: a point is before its call's effect).
            let cas: Vec<u8> = r
                .log
                .iter()
                .filter(|e| e.call == Call::Cas)
                .map(|e| e.cpu)
                .collect();
            assert!(cas.contains(&0) && cas.contains(&1), "{what}");

            // CPU 0's PTE page lost: freed (unmapped first where the
            // revision unmaps, rev 1.23 line 563), or cached (where the
            // revision has rev 1.23's PTP cache: not in the 2022 rework).
            let ev = w.pool().events().to_vec();
            let rev = w.revision();
            if rev.has(Capability::PtpCache) {
                assert_eq!(w.ptp_cache().0.len(), 1, "{what}: {ev:?}");
                assert!(
                    !ev.iter().any(|e| matches!(e, PoolEvent::Free { .. })),
                    "{what}: {ev:?}"
                );
            } else if !rev.has(Capability::UnmapPoolpage) {
                // The 2022 rework reads the PTE slot only after its segtab
                // CAS (rev 1.31's pmap_pte_reserve reads *ppg_p after
                // pmap_segtab_reserve): a CPU 0 that lost the segtab race
                // finds CPU 1's PTE page and allocates none. A PTE page it
                // did allocate is detached and freed, never unmapped; either
                // way pmap 1 ends with CPU 1's pages only.
                let frees = ev
                    .iter()
                    .filter(|e| matches!(e, PoolEvent::Free { .. }))
                    .count();
                assert!(frees <= 1, "{what}: {ev:?}");
                assert!(
                    !ev.iter().any(|e| matches!(e, PoolEvent::Unmap { .. })),
                    "{what}: {ev:?}"
                );
                assert_eq!(
                    w.pmap_pages(1, PageList::Ptpage).unwrap().len(),
                    1,
                    "{what}"
                );
                assert_eq!(
                    w.pmap_pages(1, PageList::Segtab).unwrap().len(),
                    if c.lp64 { 2 } else { 1 },
                    "{what}"
                );
            } else {
                let unmap = ev.iter().position(|e| matches!(e, PoolEvent::Unmap { .. }));
                let free = ev.iter().position(|e| matches!(e, PoolEvent::Free { .. }));
                assert!(unmap.is_some() && unmap < free, "{what}: {ev:?}");
                assert_eq!(
                    ev.iter()
                        .filter(|e| matches!(e, PoolEvent::Free { .. }))
                        .count(),
                    1
                );
            }
            if c.lp64 {
                // ... and so did its segtab (put on the free list).
                assert_eq!(w.free_segtabs().0.len(), free_before + 1, "{what}");
            } else {
                assert_eq!(w.free_segtabs().0.len(), free_before, "{what}");
            }
            let s = w.state();
            assert_eq!(s.lock_held, 0, "{what}");
            assert_eq!(s.dead, 0, "{what}");
        }
    }
}

#[test]
fn every_schedule_of_a_reserve_race_agrees() {
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        let va = user_va(c, 2, 1);
        let calls = [CCall::Reserve {
            pmap: 1,
            va,
            flags: 0,
        }; 2];
        let mut logs = std::collections::HashSet::new();
        for choices in 0..256u64 {
            w.reset();
            w.segtab_init(1, 0).unwrap().unwrap();
            let r = run(&mut w, choices, calls);
            let what = format!("{} choices {choices:#b}: {:?}", c.name, r.log);
            assert!(!r.deadlock, "{what}");
            let loc = pte(&r.results[0]);
            assert_eq!(pte(&r.results[1]), loc, "{what}");
            assert_eq!(w.pte_lookup(1, va).unwrap().unwrap(), loc, "{what}");
            assert_eq!(w.state().lock_held, 0, "{what}");
            // Every page in use is the tree's, the free list's or the PTP
            // cache's: nothing leaked, whoever lost.
            if c.host_segtabs_per_page() == 1 {
                let tree = w.table(1);
                let in_tree = tree
                    .fields
                    .iter()
                    .filter(|(f, _)| matches!(f, Field::Root | Field::Seg(_) | Field::Tab(..)))
                    .count();
                assert_eq!(
                    w.pool().in_use() as usize,
                    in_tree + w.free_segtabs().0.len() + w.ptp_cache().0.len(),
                    "{what}"
                );
            }
            logs.insert(r.log);
        }
        assert!(logs.len() > 8, "{}: only {} schedules", c.name, logs.len());
    }
}

#[test]
fn second_cpu_waits_for_the_segtab_lock() {
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        let calls = [
            CCall::Init {
                pmap: 1,
                minaddr: 0,
            },
            CCall::Init {
                pmap: 2,
                minaddr: 0,
            },
        ];
        // bit 0: CPU 0 at SpinEnter keeps running (takes the lock);
        // bit 1: at SpinExit, the lock still held, CPU 1 runs;
        // bit 2: CPU 1 at SpinEnter keeps running: the lock is held, it
        // blocks, and CPU 0 runs on without a decision.
        let r = run(&mut w, 0b010, calls);
        let what = format!("{}: {:?}", c.name, r.log);
        assert!(!r.deadlock, "{what}");
        // CPU 0 then resumes inside mutex_spin_exit, releases the lock and
        // goes on to allocate the page (the free list was empty).
        assert_eq!(
            r.log[..5],
            [
                ev(0, Call::SpinEnter, false),
                ev(0, Call::SpinExit, false),
                ev(1, Call::SpinEnter, false),
                ev(1, Call::SpinEnter, true),
                ev(0, Call::Alloc, false),
            ],
            "{what}"
        );
        // Every enter is matched by one exit, per CPU.
        for cpu in 0..2 {
            let n = |call| {
                r.log
                    .iter()
                    .filter(|e| e.cpu == cpu && e.call == call && !e.blocked)
                    .count()
            };
            assert_eq!(n(Call::SpinEnter), n(Call::SpinExit), "{what}");
        }
        for o in &r.results {
            assert!(
                matches!(o, CpuOutcome::Done(Outcome::Ok(None))),
                "{what}: {o:?}"
            );
        }
        let (a, b) = (w.pm_segtab(1), w.pm_segtab(2));
        assert!(!a.is_null() && !b.is_null() && a != b, "{what}");
        let s = w.state();
        assert_eq!(s.lock_held, 0, "{what}");
        assert_eq!(
            s.lock_enters as usize,
            r.log
                .iter()
                .filter(|e| e.call == Call::SpinEnter && !e.blocked)
                .count(),
            "{what}"
        );
        // The world goes on, single-CPU.
        let va = user_va(c, 0, 0);
        assert!(matches!(
            w.pte_reserve(2, va, 0).unwrap().unwrap(),
            PteLoc::In { .. }
        ));
    }
}

#[test]
fn a_blocked_cpu_takes_the_lock_once_released() {
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        let calls = [
            CCall::Init {
                pmap: 1,
                minaddr: 0,
            },
            CCall::Init {
                pmap: 2,
                minaddr: 0,
            },
        ];
        // As above, then bit 3: CPU 0 switches at its first point after the
        // release, and CPU 1 takes the lock without blocking again.
        let r = run(&mut w, 0b1010, calls);
        let what = format!("{}: {:?}", c.name, r.log);
        let blocked = r.log.iter().position(|e| e.blocked).expect(&what);
        assert_eq!(r.log[blocked], ev(1, Call::SpinEnter, true), "{what}");
        // CPU 1's next event is its SpinExit: it took the lock at once.
        let next1 = r.log[blocked + 1..].iter().find(|e| e.cpu == 1).unwrap();
        assert_eq!(*next1, ev(1, Call::SpinExit, false), "{what}");
        for o in &r.results {
            assert!(
                matches!(o, CpuOutcome::Done(Outcome::Ok(None))),
                "{what}: {o:?}"
            );
        }
        assert_eq!(w.state().lock_held, 0);
    }
}

#[test]
fn a_panic_on_one_cpu_abandons_the_other() {
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        w.segtab_init(1, 0).unwrap().unwrap();
        w.segtab_init(2, 0).unwrap().unwrap();
        // pmap 1 has the segtab for the segment CPU 0 will need (LP64), so
        // CPU 0's only allocation is the PTE page, which fails.
        w.pte_reserve(1, user_va(c, 0, 0), 0).unwrap().unwrap();
        w.pool_mut().fail_next(1);
        w.pool_mut().clear_events();
        let calls = [
            CCall::Reserve {
                pmap: 1,
                va: user_va(c, 1, 0),
                flags: 0,
            },
            CCall::Reserve {
                pmap: 2,
                va: user_va(c, 0, 0),
                flags: 0,
            },
        ];
        // bit 0: CPU 0 switches at its first point; bit 1: CPU 1 switches
        // back at its own first point (before its effect); CPU 0 runs on
        // and panics.
        let r = run(&mut w, 0b11, calls);
        let what = format!("{}: {:?}", c.name, r.log);
        match &r.results[0] {
            CpuOutcome::Done(Outcome::Panicked(p)) => {
                assert!(
                    p.msg.contains("cannot allocate page table page"),
                    "{what}: {p:?}"
                )
            }
            other => panic!("{what}: CPU 0 {other:?}"),
        }
        assert!(
            matches!(r.results[1], CpuOutcome::Abandoned(Abandon::Dead)),
            "{what}: CPU 1 {:?}",
            r.results[1]
        );
        assert!(!r.deadlock);
        assert_eq!(r.log.iter().filter(|e| e.cpu == 1).count(), 1, "{what}");
        assert!(w.is_dead());
        let rec = w.panic_record();
        assert_eq!(
            rec.kind as u32,
            shim::bindings::segtab_shim_panic_kind_SEGTAB_SHIM_PANIC_CALL
        );
        // CPU 1 never allocated.
        let allocs = w
            .pool()
            .events()
            .iter()
            .filter(|e| matches!(e, PoolEvent::Alloc { .. }))
            .count();
        assert_eq!(allocs, 0, "{what}");
        // Dead: every later call is refused, concurrent or not.
        assert!(matches!(w.segtab_init(3, 0), Err(Error::Dead(_))));
        let again = run(&mut w, 0, calls);
        assert!(again
            .results
            .iter()
            .all(|o| matches!(o, CpuOutcome::Refused(Error::Dead(_)))));
        assert!(again.log.is_empty());
        // Reset revives it.
        w.reset();
        w.segtab_init(1, 0).unwrap().unwrap();
        assert!(!w.is_dead());
    }
}

#[test]
fn a_cpu_whose_turn_comes_after_the_panic_never_starts() {
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        w.segtab_init(1, 0).unwrap().unwrap();
        w.segtab_init(2, 0).unwrap().unwrap();
        w.pte_reserve(1, user_va(c, 0, 0), 0).unwrap().unwrap();
        w.pool_mut().fail_next(1);
        let calls = [
            CCall::Reserve {
                pmap: 1,
                va: user_va(c, 1, 0),
                flags: 0,
            },
            CCall::Lookup {
                pmap: 2,
                va: user_va(c, 0, 0),
            },
        ];
        let r = run(&mut w, 0, calls);
        assert!(matches!(
            r.results[0],
            CpuOutcome::Done(Outcome::Panicked(_))
        ));
        assert!(matches!(r.results[1], CpuOutcome::Abandoned(Abandon::Dead)));
        assert!(w.is_dead());
    }
}

#[test]
fn process_on_both_cpus_tells_the_callback_which_cpu() {
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        w.segtab_init(1, 0).unwrap().unwrap();
        for seg in 0..4 {
            w.pte_reserve(1, user_va(c, seg, 0), 0).unwrap().unwrap();
        }
        let seen = Mutex::new(Vec::new());
        let cb = |cpu: usize, _: &mut PagePool, a: CallbackArgs| {
            seen.lock().unwrap().push((cpu, a.sva));
        };
        let (sva, eva) = (user_va(c, 0, 0), user_va(c, 4, 0));
        let calls = [CCall::Process {
            pmap: 1,
            sva,
            eva,
            flags: 7,
        }; 2];
        // Switch at every point.
        let r = w
            .run_concurrent(&Scheduler::new(2, !0), calls, 1, &cb)
            .unwrap();
        let what = format!("{}: {:?}", c.name, r.log);
        assert!(r
            .results
            .iter()
            .all(|o| matches!(o, CpuOutcome::Done(Outcome::Ok(None)))));
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 8, "{what}");
        // The callbacks came in the order of the log's Callback points,
        // alternating CPUs.
        let order: Vec<usize> = r
            .log
            .iter()
            .filter(|e| e.call == Call::Callback)
            .map(|e| e.cpu as usize)
            .collect();
        assert_eq!(
            order,
            seen.iter().map(|&(cpu, _)| cpu).collect::<Vec<_>>(),
            "{what}"
        );
        assert_eq!(order, vec![0, 1, 0, 1, 0, 1, 0, 1], "{what}");
        for cpu in 0..2 {
            let svas: Vec<u64> = seen.iter().filter(|s| s.0 == cpu).map(|s| s.1).collect();
            assert_eq!(svas, (0..4).map(|s| user_va(c, s, 0)).collect::<Vec<_>>());
        }
    }
}

#[test]
fn each_cpu_activates_as_its_own_lwp() {
    use c_reference::XtabEvent;
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        w.segtab_init(1, 0).unwrap().unwrap();
        w.segtab_init(2, 0).unwrap().unwrap();
        w.bind_lwp(0, 1, 0).unwrap();
        w.bind_lwp(1, 2, 1).unwrap();
        let calls = [
            CCall::Activate { pmap: 1, lwp: 0 },
            CCall::Activate { pmap: 2, lwp: 1 },
        ];
        // bit 0: CPU 0 switches at its Xtab point: CPU 1's goes first.
        let r = run(&mut w, 1, calls);
        assert_eq!(
            r.log,
            vec![ev(0, Call::Xtab, false), ev(1, Call::Xtab, false)]
        );
        assert!(r
            .results
            .iter()
            .all(|o| matches!(o, CpuOutcome::Done(Outcome::Ok(None)))));
        assert_eq!(
            w.take_xtab(),
            vec![
                XtabEvent::Activate { pmap: 2, lwp: 1 },
                XtabEvent::Activate { pmap: 1, lwp: 0 },
            ]
        );
        let s = w.state();
        assert_eq!(s.ci_segtab[0], w.pm_segtab(1), "{}", c.name);
        assert_eq!(s.ci_segtab[1], w.pm_segtab(2), "{}", c.name);
        // CPU 0 activating lwp 1 (not its curlwp) does nothing; CPU 1
        // deactivating clears its own cpu_info only.
        let r = run(
            &mut w,
            0,
            [
                CCall::Activate { pmap: 2, lwp: 1 },
                CCall::Deactivate { pmap: 2 },
            ],
        );
        assert!(r
            .results
            .iter()
            .all(|o| matches!(o, CpuOutcome::Done(Outcome::Ok(None)))));
        assert_eq!(
            w.take_xtab(),
            vec![XtabEvent::Deactivate { pmap: 2 }],
            "{}",
            c.name
        );
        let s = w.state();
        assert_eq!(s.ci_segtab[0], w.pm_segtab(1), "{}", c.name);
        assert_eq!(s.ci_segtab[1] as u64, c.invalid_segtab, "{}", c.name);
        // Single-CPU calls still run as CPU 0, as lwp 0.
        assert_eq!(s.cur_lwp, 0);
        w.segtab_activate(1, 0).unwrap().unwrap();
        assert_eq!(w.take_xtab(), vec![XtabEvent::Activate { pmap: 1, lwp: 0 }]);
    }
}

#[test]
fn refused_calls_do_not_run_and_misuse_is_an_error() {
    let c = mp().next().unwrap();
    let mut w = CWorld::open(c.name, POOL).unwrap();
    let r = run(
        &mut w,
        !0,
        [
            CCall::Reserve {
                pmap: 3,
                va: 0,
                flags: 0,
            },
            CCall::Init {
                pmap: 2,
                minaddr: 0,
            },
        ],
    );
    assert!(matches!(
        r.results[0],
        CpuOutcome::Refused(Error::NoSegtab(3))
    ));
    assert!(matches!(r.results[1], CpuOutcome::Done(Outcome::Ok(None))));
    assert!(r.log.iter().all(|e| e.cpu == 1));
    assert_eq!(r.decisions, 0);
    let r = run(
        &mut w,
        0,
        [
            CCall::Init {
                pmap: 9,
                minaddr: 0,
            },
            CCall::Activate { pmap: 2, lwp: 7 },
        ],
    );
    assert!(matches!(
        r.results[0],
        CpuOutcome::Refused(Error::BadIndex { what: "pmap", .. })
    ));
    assert!(matches!(
        r.results[1],
        CpuOutcome::Refused(Error::BadIndex { what: "lwp", .. })
    ));
    let calls = [CCall::Init {
        pmap: 1,
        minaddr: 0,
    }; 2];
    assert!(matches!(
        w.run_concurrent(&Scheduler::new(2, 0), calls, 0, &no_cb),
        Err(Error::SameLwp(0))
    ));
    assert!(matches!(
        w.run_concurrent(&Scheduler::new(2, 0), calls, 4, &no_cb),
        Err(Error::BadIndex { what: "lwp", .. })
    ));
    // The world is still this thread's only copy of the configuration.
    assert!(matches!(CWorld::open(c.name, 16), Err(Error::Busy(_))));
}

#[test]
fn the_same_choices_give_the_same_run() {
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        let calls = [
            CCall::Init {
                pmap: 1,
                minaddr: 0,
            },
            CCall::Init {
                pmap: 2,
                minaddr: 0,
            },
        ];
        let mut first = None;
        for _ in 0..10 {
            w.reset();
            let r = run(&mut w, 0x9e37_79b9_7f4a_7c15, calls);
            let key = (
                r.log.clone(),
                w.pool().events().to_vec(),
                w.pm_segtab(1) as u64,
                w.pm_segtab(2) as u64,
            );
            match &first {
                None => first = Some(key),
                Some(f) => assert_eq!(*f, key, "{}", c.name),
            }
        }
    }
}

/// The CPUs are coroutines of one thread by default and OS threads with
/// `SEGTAB_SCHED=threads` (`shim::sched::Backend`): the C must not be able
/// to tell. Races, the lock, callbacks and a panic (a longjmp on one CPU's
/// stack while the other is suspended inside the C) under every schedule of
/// the first 6 decisions and a few longer ones: the same log, outcomes,
/// allocator events, callback order, tables and panic record on both, and
/// afterwards single-CPU calls run as CPU 0 on both.
#[test]
fn coroutines_and_threads_give_the_same_runs() {
    use shim::sched::Backend;
    if !Backend::COROUTINES_BUILT {
        eprintln!("coroutine CPUs are not built on this architecture: nothing to compare");
        return;
    }
    let mut choices: Vec<u64> = (0..64).collect();
    choices.extend([
        !0,
        0x5555_5555_5555_5555,
        0x9e37_79b9_7f4a_7c15,
        0b1101_0110,
    ]);
    for c in mp() {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        let scenarios: [(&str, [CCall; 2], Option<u32>); 4] = [
            (
                "reserve race",
                [CCall::Reserve {
                    pmap: 1,
                    va: user_va(c, 4, 1),
                    flags: 0,
                }; 2],
                None,
            ),
            (
                "init and process",
                [
                    CCall::Init {
                        pmap: 2,
                        minaddr: 0,
                    },
                    CCall::Process {
                        pmap: 1,
                        sva: user_va(c, 0, 0),
                        eva: user_va(c, 3, 0),
                        flags: 5,
                    },
                ],
                None,
            ),
            (
                "destroy with callback and reserve",
                [
                    CCall::Destroy {
                        pmap: 1,
                        with_callback: true,
                        flags: 1,
                    },
                    CCall::Reserve {
                        pmap: 3,
                        va: user_va(c, 1, 2),
                        flags: 0,
                    },
                ],
                None,
            ),
            (
                "a panic on either CPU",
                [
                    CCall::Reserve {
                        pmap: 1,
                        va: user_va(c, 5, 0),
                        flags: 0,
                    },
                    CCall::Reserve {
                        pmap: 3,
                        va: user_va(c, 6, 0),
                        flags: 0,
                    },
                ],
                Some(1),
            ),
        ];
        for (name, calls, fail) in &scenarios {
            let mut all = String::new();
            for &ch in &choices {
                let mut seen = Vec::new();
                for backend in [Backend::Threads, Backend::Coroutines] {
                    w.reset();
                    for p in [1, 3] {
                        w.segtab_init(p, 0).unwrap().unwrap();
                    }
                    for seg in 0..3 {
                        w.pte_reserve(1, user_va(c, seg, 0), 0).unwrap().unwrap();
                    }
                    if let Some(n) = fail {
                        w.pool_mut().fail_next(*n);
                    }
                    w.pool_mut().clear_events();
                    let cbs = Mutex::new(Vec::new());
                    let cb = |cpu: usize, _: &mut PagePool, a: CallbackArgs| {
                        cbs.lock().unwrap().push((cpu, a.sva, a.eva));
                    };
                    let sched = Scheduler::with_backend(2, ch, backend);
                    assert_eq!(sched.backend(), backend);
                    let r = w.run_concurrent(&sched, *calls, 1, &cb).unwrap();
                    let dead = w.is_dead();
                    let rec = w.panic_record();
                    let after = (!dead).then(|| {
                        // CPU 0 is curlwp lwp 0: activating lwp 0 switches.
                        w.bind_lwp(0, 3, 0).unwrap();
                        w.segtab_activate(3, 0).unwrap().unwrap();
                        w.take_xtab()
                    });
                    seen.push(format!(
                        "{:?}\n{:?}\n{:?}\n{:?}\n{:?} {:?} {:?}\n{dead} {} {:?}\n{:?}\n{:?}",
                        r.log,
                        r.results,
                        r.deadlock,
                        w.pool().events(),
                        w.pm_segtab(1),
                        w.pm_segtab(2),
                        w.pm_segtab(3),
                        rec.kind,
                        rec.line,
                        cbs.into_inner().unwrap(),
                        after,
                    ));
                }
                assert_eq!(
                    seen[0], seen[1],
                    "{}: {name}, choices {ch:#x}: threads (left) and coroutines (right) differ",
                    c.name
                );
                all.push_str(&seen[1]);
            }
            // The scenarios reach what they are about.
            let want: &[&str] = match *name {
                "reserve race" => &["cpu: 1, call: Cas"],
                "init and process" => &["Callback"],
                "destroy with callback and reserve" => &["Callback", "cpu: 1, call: Alloc"],
                _ => &["Panicked", "Abandoned(Dead)"],
            };
            for w in want {
                assert!(all.contains(w), "{}: {name} never shows {w}", c.name);
            }
        }
    }
}
