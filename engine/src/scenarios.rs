//! Directed sequences: paths of the file that random sequences reach only
//! rarely, written out so a run that starts with them reaches each one in
//! its first milliseconds, in every configuration.
//!
//! certify judges every mutant with these first (engine/src/certify/
//! judge.rs): a mutant on such a path is then caught in every run, not in
//! the runs whose random stream happened to reach it, which is what makes
//! its verdict the same whatever the seed. Each is a plain [`Sequence`] of
//! [`Op`]s, resolved per configuration like any other.

use crate::model::{Call, CbKind, LenSpec, MinSpec, Op, Sequence, Step, VaSpec};

/// Schedules tried for each race: every pattern of the first seven
/// switching decisions (a reserve makes a handful of calls out of the file
/// before its compare-and-swap, lines 518 and 555).
const SCHEDULES: u64 = 128;

/// Two CPUs reserving at once where neither finds the tables it needs:
/// the segtab (`atomic_cas_ptr` at line 518, LP64) and the PTE page (line
/// 555) races, won and lost, with the loser's page freed or returned to
/// the PTP cache, under every schedule of their first decisions. Between
/// races the pmap is destroyed, so the next race takes its segtab from the
/// free list (lines 342-350) rather than a new page.
pub fn races() -> Vec<Vec<Op>> {
    let p = 1;
    let same = VaSpec::XsegEdge {
        xseg: 3,
        below: false,
    };
    let other = VaSpec::Seg { seg: 7, page: 1 };
    let reserve = |va| Call::Reserve {
        pmap: p,
        va,
        canfail: false,
    };
    let enter = Call::Enter {
        pmap: p,
        va: VaSpec::Seg { seg: 7, page: 0 },
        value: 0x8000_0a11,
        canfail: false,
    };
    let kinds: [(Call, Call, u64); 4] = [
        // The same page: both need the segtab and the PTE page.
        (reserve(same), reserve(same), SCHEDULES),
        // Another page of the same segment, entered (pmap_enter's store
        // through the returned PTE), on either CPU: a loser that finds the
        // winner's page (line 569) checks it is zero under DEBUG (line
        // 579) after the winner may have stored into it.
        (enter, reserve(other), SCHEDULES),
        (reserve(other), enter, SCHEDULES),
        // A lookup racing a reserve.
        (
            Call::Reserve {
                pmap: p,
                va: other,
                canfail: true,
            },
            Call::Lookup { pmap: p, va: other },
            SCHEDULES / 4,
        ),
    ];
    // At most 48 races a sequence: a sequence stays under MAX_OPS.
    kinds
        .iter()
        .flat_map(|&(a, b, n)| {
            (0..n)
                .step_by(64)
                .map(move |from| (a, b, from..n.min(from + 64)))
        })
        .map(|(a, b, range)| {
            let mut ops = vec![Op::Call(Call::Create {
                pmap: p,
                min: MinSpec::Zero,
            })];
            for schedule in range {
                ops.push(Op::Concurrent(Step::pair(a, b, 1, schedule)));
                // A mapping left in a page trips DEBUG's zero check when
                // the page is released (line 293), ending the sequence:
                // clear the segment first.
                ops.push(Op::Call(Call::Process {
                    pmap: p,
                    sva: VaSpec::Seg { seg: 7, page: 0 },
                    len: LenSpec::Segs(1),
                    cb: CbKind::Clear,
                    flags: 0,
                }));
                ops.push(Op::Call(Call::Destroy {
                    pmap: p,
                    cb: if schedule % 2 == 0 {
                        None
                    } else {
                        Some(CbKind::Count)
                    },
                    flags: 0,
                }));
                ops.push(Op::Call(Call::Create {
                    pmap: p,
                    min: MinSpec::Zero,
                }));
            }
            ops
        })
        .collect()
}

/// `pmap_segtab_activate` taking each branch in turn on one CPU (lines
/// 427-444): a user pmap whose first xsegment is in use, then the kernel
/// pmap, then the user pmap again, with `pmap_segtab_deactivate` between
/// some of them, so that every store into `cpu_info` replaces a value
/// that differs from the one it stores. An activate only acts for the
/// current lwp of the pmap's own process, so each is set up first.
pub fn activations() -> Vec<Op> {
    let user = 1;
    let kernel = 0;
    let mut ops = vec![
        Op::Call(Call::Create {
            pmap: kernel,
            min: MinSpec::High,
        }),
        Op::Call(Call::Create {
            pmap: user,
            min: MinSpec::Zero,
        }),
        // seg_seg[0] (LP64) and a PTE page at VA 0.
        Op::Call(Call::Reserve {
            pmap: user,
            va: VaSpec::Seg { seg: 0, page: 0 },
            canfail: false,
        }),
        Op::BindLwp {
            lwp: 1,
            pmap: user,
            cpu: 0,
        },
        Op::BindLwp {
            lwp: 2,
            pmap: kernel,
            cpu: 0,
        },
        // CPU 1's lwp, in the user process.
        Op::BindLwp {
            lwp: 3,
            pmap: user,
            cpu: 1,
        },
    ];
    for (lwp, pmap, then_deactivate) in [
        (1, user, false),
        (2, kernel, false),
        (1, user, true),
        (1, user, false),
        (2, kernel, true),
        (2, kernel, false),
        (1, user, false),
    ] {
        ops.push(Op::SwitchLwp { lwp });
        ops.push(Op::Call(Call::Activate { pmap, lwp }));
        if then_deactivate {
            ops.push(Op::Call(Call::Deactivate { pmap }));
        }
    }
    // The same on CPU 1, while CPU 0 looks something up.
    for pmap in [user, kernel, user] {
        ops.push(Op::BindLwp {
            lwp: 3,
            pmap,
            cpu: 1,
        });
        ops.push(Op::Concurrent(Step::pair(
            Call::Lookup {
                pmap: user,
                va: VaSpec::Seg { seg: 0, page: 0 },
            },
            Call::Activate { pmap, lwp: 3 },
            3,
            0,
        )));
    }
    ops
}

/// A release callback that writes the PTEs it is given (`pmap_pte_process`
/// and `pmap_segtab_destroy` callbacks may): `pmap_segtab_release` checks a
/// page is zero *before* its callback (line 293), so the page it frees can
/// hold what the callback wrote; under PMAP_PTP_CACHE the next reserve
/// takes that page back and, under DEBUG, `pmap_check_ptes` (line 579)
/// panics on it. Then the same with nothing written.
pub fn dirty_release() -> Vec<Op> {
    let p = 2;
    let mut ops = Vec::new();
    for cb in [CbKind::SetBit(5), CbKind::Clear, CbKind::Record] {
        ops.extend([
            Op::Call(Call::Create {
                pmap: p,
                min: MinSpec::Zero,
            }),
            // Zero PTE pages (a page holding a mapping would trip the
            // DEBUG check at line 293 before the callback runs).
            Op::Call(Call::Reserve {
                pmap: p,
                va: VaSpec::Seg { seg: 2, page: 3 },
                canfail: false,
            }),
            Op::Call(Call::Reserve {
                pmap: p,
                va: VaSpec::Seg { seg: 9, page: 0 },
                canfail: false,
            }),
            Op::Call(Call::Destroy {
                pmap: p,
                cb: Some(cb),
                flags: 0,
            }),
            Op::Call(Call::Destroy {
                pmap: p,
                cb: None,
                flags: 0,
            }),
            Op::Call(Call::Create {
                pmap: p,
                min: MinSpec::Zero,
            }),
            Op::Call(Call::Reserve {
                pmap: p,
                va: VaSpec::Seg { seg: 4, page: 0 },
                canfail: false,
            }),
            Op::Call(Call::Destroy {
                pmap: p,
                cb: None,
                flags: 0,
            }),
        ]);
    }
    ops
}

/// Decisions of the scheduler tried for [`abandoned_carving`]: a
/// `pmap_segtab_init` that carves a page makes its calls out (lock and
/// unlock of the free-list check, page allocation, mapping, the lock at
/// line 378) within its first decisions.
const CARVING_DECISIONS: u32 = 8;

/// A CPU abandoned while it carves a new segtab page (lines 366-381): in
/// a fresh world (the free list empty) with the pool limited to one more
/// page, CPUs 0 and 1 each create a pmap. The first to allocate takes the
/// page and carves it; the other finds no page and waits forever in
/// `uvm_wait` (line 360), which kills the world. When that happens between
/// the first CPU's carving loop and its lock at line 378, the first is
/// abandoned there, and the page holds exactly what the loop wrote, which
/// the deep pass compares: a loop that links one segtab too many (`i < n`
/// for `i < n - 1`) shows only here, since line 379 overwrites that link
/// on every path that reaches it. One sequence per single switch point
/// (the world dies, so each schedule needs a world of its own). Only
/// where a page holds several segtabs and the CPUs interleave
/// (MULTIPROCESSOR); elsewhere none.
pub fn abandoned_carving(config: &str) -> Vec<Vec<Op>> {
    let Some(c) = c_reference::configs::find(config) else {
        return Vec::new();
    };
    if !c.multiprocessor || c.host_segtabs_per_page() < 2 {
        return Vec::new();
    }
    (0..CARVING_DECISIONS)
        .map(|k| {
            let create = |pmap| Call::Create {
                pmap,
                min: MinSpec::Zero,
            };
            vec![
                Op::Limit { headroom: 1 },
                Op::Concurrent(Step {
                    cpus: vec![vec![create(1)], vec![create(2)]],
                    lwp: 1,
                    schedule: 1 << k,
                }),
            ]
        })
        .collect()
}

/// Every directed sequence for configuration `config`, named.
pub fn all(config: &str) -> Vec<(&'static str, Sequence)> {
    races()
        .into_iter()
        .map(|ops| ("races", ops))
        .chain(
            abandoned_carving(config)
                .into_iter()
                .map(|ops| ("abandoned-carving", ops)),
        )
        .chain([
            ("activations", activations()),
            ("dirty-release", dirty_release()),
        ])
        .map(|(n, ops)| {
            (
                n,
                Sequence {
                    config: config.to_string(),
                    ops,
                },
            )
        })
        .collect()
}

/// A race for `explore`: a sequence whose last step is concurrent, in one
/// configuration, and the preemption bound to explore it with.
#[derive(Clone, Debug)]
pub struct RaceScenario {
    /// Short name (report rows).
    pub name: &'static str,
    /// What it races.
    pub what: &'static str,
    /// The sequence (its configuration named in it).
    pub seq: Sequence,
    /// Preemptions explored.
    pub bound: u32,
}

/// The races certify explores under every schedule with at most `bound`
/// preemptions (`explore`'s context bounding): two CPUs on the same VA,
/// on neighbouring segments of one xsegment, a destroy against a reserve,
/// the PTP cache shared, and steps where a CPU makes further calls inside
/// the other's window (a race's loser returning what it allocated, two
/// pops and a push against one pop). Each is cheap: hundreds to a few
/// thousand schedules. Two have three CPUs (the shim has four,
/// `SEGTAB_SHIM_NCPUS`): three CPUs reserving the same VA, and three CPUs
/// popping the free list at once.
pub fn races_to_explore() -> Vec<RaceScenario> {
    let x = VaSpec::XsegEdge {
        xseg: 3,
        below: false,
    };
    let next_seg = VaSpec::NearSeg { k: 0, segs: 1 };
    let reserve = |pmap, va| Call::Reserve {
        pmap,
        va,
        canfail: false,
    };
    let create = |pmap| {
        Op::Call(Call::Create {
            pmap,
            min: MinSpec::Zero,
        })
    };
    let destroy = |pmap| Call::Destroy {
        pmap,
        cb: None,
        flags: 0,
    };
    let seq = |config: &str, ops: Vec<Op>| Sequence {
        config: config.into(),
        ops,
    };
    let step = |cpus: Vec<Vec<Call>>| {
        Op::Concurrent(Step {
            cpus,
            lwp: 1,
            schedule: 0,
        })
    };
    // A pmap with two PTE pages in the xsegment of `x`, then destroyed:
    // its pages go to the PTP cache (where there is one) and its segtabs
    // to the free list.
    let spare = |pmap: u8| {
        vec![
            create(pmap),
            Op::Call(reserve(pmap, x)),
            Op::Call(reserve(pmap, next_seg)),
            Op::Call(destroy(pmap)),
        ]
    };
    let mut v = Vec::new();
    for config in ["mips64-n64-4k", "riscv64-sv39-shape", "mips32-o32-16k"] {
        v.push(RaceScenario {
            name: "same-va",
            what: "two CPUs reserve the same VA (segtab and PTE-page races)",
            seq: seq(
                config,
                vec![
                    create(1),
                    step(vec![vec![reserve(1, x)], vec![reserve(1, x)]]),
                ],
            ),
            bound: 3,
        });
    }
    v.push(RaceScenario {
        name: "same-xsegment",
        what: "two CPUs reserve neighbouring segments of one xsegment",
        seq: seq(
            "riscv64-sv39-shape",
            vec![
                create(1),
                step(vec![vec![reserve(1, x)], vec![reserve(1, next_seg)]]),
            ],
        ),
        bound: 3,
    });
    for config in ["mips64-n64-4k", "riscv64-sv39-shape"] {
        let mut ops = vec![create(1)];
        ops.extend(spare(3));
        ops.extend([
            create(2),
            Op::Call(reserve(2, x)),
            Op::Call(reserve(2, next_seg)),
            step(vec![
                vec![destroy(2)],
                vec![reserve(1, x), reserve(1, next_seg)],
            ]),
        ]);
        v.push(RaceScenario {
            name: "destroy-vs-reserve",
            what: "a destroy releases pages and segtabs while a reserve takes them",
            seq: seq(config, ops),
            bound: 2,
        });
    }
    for config in ["riscv64-sv39-shape", "mips32-o32-16k"] {
        let mut ops = vec![create(1)];
        ops.extend(spare(2));
        ops.push(step(vec![vec![reserve(1, x)], vec![reserve(1, next_seg)]]));
        v.push(RaceScenario {
            name: "ptp-cache",
            what: "two CPUs take PTE pages from the PTP cache at once",
            seq: seq(config, ops),
            bound: 3,
        });
    }
    for config in ["mips64-n64-4k", "riscv64-sv39-shape"] {
        v.push(RaceScenario {
            name: "loser-window",
            what: "two CPUs reserve the same VA, then each pops a segtab while the other may still be losing",
            seq: seq(
                config,
                vec![
                    create(1),
                    step(vec![
                        vec![reserve(1, x), Call::Create { pmap: 3, min: MinSpec::Zero }],
                        vec![reserve(1, x), Call::Create { pmap: 4, min: MinSpec::Zero }],
                    ]),
                ],
            ),
            // The winner must finish, the loser be inside its window and
            // the winner pop there: three preemptions.
            bound: 3,
        });
    }
    for config in ["mips64-n64-4k", "mips32-o32-16k"] {
        let mut ops = Vec::new();
        for p in 2..6 {
            ops.push(create(p));
        }
        for p in 2..6 {
            ops.push(Op::Call(destroy(p)));
        }
        ops.push(step(vec![
            vec![Call::Create {
                pmap: 1,
                min: MinSpec::Zero,
            }],
            vec![
                Call::Create {
                    pmap: 2,
                    min: MinSpec::Zero,
                },
                Call::Create {
                    pmap: 3,
                    min: MinSpec::Zero,
                },
                destroy(2),
            ],
        ]));
        v.push(RaceScenario {
            name: "pop-pop-push",
            what: "one CPU pops a segtab while the other pops two and pushes the first back (ABA)",
            seq: seq(config, ops),
            bound: 1,
        });
    }
    // Three CPUs: a race with two losers (the second loser may find the
    // winner's segtab or the first loser's page on its way), and three
    // pops of one free list of two segtabs (one CPU allocates a page).
    v.push(RaceScenario {
        name: "three-same-va",
        what: "three CPUs reserve the same VA (two losers of the segtab and PTE-page races)",
        seq: seq(
            "mips64-n64-4k",
            vec![
                create(1),
                step(vec![
                    vec![reserve(1, x)],
                    vec![reserve(1, x)],
                    vec![reserve(1, x)],
                ]),
            ],
        ),
        bound: 3,
    });
    {
        let mut ops = Vec::new();
        for p in 2..4 {
            ops.push(create(p));
        }
        for p in 2..4 {
            ops.push(Op::Call(destroy(p)));
        }
        let pop = |pmap| Call::Create {
            pmap,
            min: MinSpec::Zero,
        };
        ops.push(step(vec![vec![pop(1)], vec![pop(2)], vec![pop(3)]]));
        v.push(RaceScenario {
            name: "three-pops",
            what: "three CPUs pop a free list of two segtabs at once",
            seq: seq("mips32-o32-16k", ops),
            bound: 3,
        });
    }
    v
}
