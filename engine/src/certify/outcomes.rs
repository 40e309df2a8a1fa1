//! Outcome classes: the paths of `pmap_segtab.c` a reviewer wants to see
//! exercised (every panic and KASSERT site, allocation failure and
//! `uvm_wait`, the lost-CAS race paths, the carving loop, the walk to the
//! top of the address space), and for each configuration whether the
//! certify run reached it or why it cannot be reached there.
//!
//! Two kinds of evidence: what the campaign's workers observe of each step
//! ([`features`]: the C's end, its pool events, the schedule of a
//! concurrent step), and the C's line counts from gcov. Line numbers are
//! those of rev 1.23.

use super::coverage::FileCov;
use crate::model::Action;
use crate::side::{StepEnd, StepTrace};
use c_reference::Config;
use serde::Serialize;
use shim::inspect::PteLoc;
use shim::sched::Call;
use shim::PoolEvent;
use std::collections::BTreeSet;

/// The outcome features one step reaches, each prefixed with the
/// configuration's name.
pub fn features(
    config: &Config,
    a: &Action,
    e: &StepEnd,
    events: &[PoolEvent],
    trace: &StepTrace,
) -> Vec<String> {
    let mut f = Vec::new();
    let mut add = |s: String| f.push(format!("{} {s}", config.name));
    if let StepEnd::Panic(class, _) = e {
        add(format!("panic {class:?}"));
    }
    for ev in events {
        match ev {
            PoolEvent::AllocFailed { .. } => add("alloc-failed".into()),
            PoolEvent::Wait { retry: true } => add("uvm-wait".into()),
            PoolEvent::Wait { retry: false } => add("uvm-wait-forever".into()),
            _ => {}
        }
    }
    if let (Action::Reserve { .. }, StepEnd::Ok(Some(PteLoc::Null))) = (a, e) {
        if events
            .iter()
            .any(|ev| matches!(ev, PoolEvent::AllocFailed { .. }))
        {
            add("canfail-null".into());
        }
    }
    if let Action::Concurrent(_) = a {
        add("concurrent".into());
        let cas: BTreeSet<u8> = trace
            .sched
            .iter()
            .filter(|s| s.call == Call::Cas)
            .map(|s| s.cpu)
            .collect();
        if cas.len() == 2 {
            add("race-both-cas".into());
        }
        if trace.sched.iter().any(|s| s.blocked) {
            add("lock-contended".into());
        }
    }
    if let Action::Process { sva, eva, .. } = a {
        if sva < eva && top_segment(config, *eva - 1) {
            add("top-of-space-walk".into());
        }
    }
    f
}

/// `va` lies in the last segment of the address space, where
/// `pmap_trunc_seg(va) + NBSEG` wraps to 0 (line 477).
fn top_segment(config: &Config, va: u64) -> bool {
    let bits = if config.lp64 { 64 } else { 32 };
    let top = if bits == 64 {
        u64::MAX
    } else {
        u32::MAX as u64
    };
    va >> config.segshift == top >> config.segshift
}

/// What decides whether a class was reached.
#[derive(Clone, Copy, Debug)]
enum Evidence {
    /// A feature the workers report (without the configuration prefix).
    Feature(&'static str),
    /// Any of these lines executed.
    Lines(&'static [u32]),
}

/// A class of outcomes.
struct Class {
    id: &'static str,
    what: &'static str,
    /// The C lines it is about.
    lines: &'static [u32],
    evidence: Evidence,
    /// Why it cannot be reached in a configuration, if it cannot.
    unreachable: fn(&Config) -> Option<&'static str>,
}

fn always(_: &Config) -> Option<&'static str> {
    None
}
fn needs_debug(c: &Config) -> Option<&'static str> {
    (!c.debug).then_some("DEBUG is off: the check is compiled out")
}
fn needs_diag(c: &Config) -> Option<&'static str> {
    (!c.diagnostic).then_some("DIAGNOSTIC is off: KASSERT compiles to nothing")
}
fn needs_diag_lp64(c: &Config) -> Option<&'static str> {
    needs_diag(c).or((!c.lp64).then_some("ILP32: no xsegment level (#ifdef _LP64)"))
}
fn needs_diag_ptp(c: &Config) -> Option<&'static str> {
    needs_diag(c).or((!c.ptp_cache).then_some("no PMAP_PTP_CACHE"))
}
fn needs_mp(c: &Config) -> Option<&'static str> {
    (!c.multiprocessor)
        .then_some("no MULTIPROCESSOR: no CAS, the two calls run one after the other")
}
fn needs_mp_lp64(c: &Config) -> Option<&'static str> {
    needs_mp(c).or((!c.lp64).then_some("ILP32: no xsegment level (#ifdef _LP64)"))
}
fn needs_carving(c: &Config) -> Option<&'static str> {
    (c.host_segtabs_per_page() < 2).then_some("one segtab per page here: n == 1, nothing to carve")
}
fn needs_carving_loop(c: &Config) -> Option<&'static str> {
    needs_carving(c).or((c.host_segtabs_per_page() == 2)
        .then_some("two segtabs per page here: n - 1 == 1, the loop body never runs"))
}
fn invariant(_: &Config) -> Option<&'static str> {
    Some("PTE pages are whole pool pages mapped by PMAP_MAP_POOLPAGE: never misaligned unless the file itself is broken")
}

const CLASSES: &[Class] = &[
    Class {
        id: "panic-check-stp",
        what: "pmap_check_stp panics: a segtab with tables is freed or handed out",
        lines: &[161],
        evidence: Evidence::Feature("panic CheckStp"),
        unreachable: needs_debug,
    },
    Class {
        id: "panic-check-ptes-align",
        what: "pmap_check_ptes panics: PTE page not page aligned",
        lines: &[178],
        evidence: Evidence::Feature("panic CheckPtesAlign"),
        unreachable: invariant,
    },
    Class {
        id: "panic-check-ptes-nonzero",
        what: "pmap_check_ptes panics: a released/reserved PTE page is not zero",
        lines: &[194],
        evidence: Evidence::Feature("panic CheckPtesNonzero"),
        unreachable: needs_debug,
    },
    Class {
        id: "panic-reserve-no-page",
        what: "pmap_pte_reserve panics: no page and no PMAP_CANFAIL",
        lines: &[545],
        evidence: Evidence::Feature("panic ReserveNoPage"),
        unreachable: always,
    },
    Class {
        id: "kassert-220-fires",
        what: "KASSERTMSG: kernel pmap with a direct-mapped VA (fires)",
        lines: &[220],
        evidence: Evidence::Feature("panic Kassert(220)"),
        unreachable: needs_diag,
    },
    Class {
        id: "kassert-432-fires",
        what: "KASSERT: activate a pmap not the lwp's (fires)",
        lines: &[432],
        evidence: Evidence::Feature("panic Kassert(432)"),
        unreachable: needs_diag,
    },
    Class {
        id: "kassert-280-evaluated",
        what: "KASSERT after recursive release (evaluated; an invariant)",
        lines: &[280],
        evidence: Evidence::Lines(&[280]),
        unreachable: needs_diag_lp64,
    },
    Class {
        id: "kassert-285-evaluated",
        what: "KASSERT vinc == NBSEG (evaluated; an invariant)",
        lines: &[285],
        evidence: Evidence::Lines(&[285]),
        unreachable: needs_diag,
    },
    Class {
        id: "kassert-529-evaluated",
        what: "KASSERT segtab slot after reserve (evaluated; an invariant)",
        lines: &[529],
        evidence: Evidence::Lines(&[529]),
        unreachable: needs_diag_lp64,
    },
    Class {
        id: "kassert-536-evaluated",
        what: "KASSERT PTP cache head after removal (evaluated; an invariant)",
        lines: &[536],
        evidence: Evidence::Lines(&[536]),
        unreachable: needs_diag_ptp,
    },
    Class {
        id: "kassert-574-evaluated",
        what: "KASSERT PTE page slot after reserve (evaluated; an invariant)",
        lines: &[574],
        evidence: Evidence::Lines(&[574]),
        unreachable: needs_diag,
    },
    Class {
        id: "alloc-failed",
        what: "a page allocation fails (limit or injection)",
        lines: &[205],
        evidence: Evidence::Feature("alloc-failed"),
        unreachable: always,
    },
    Class {
        id: "canfail-null",
        what: "pmap_pte_reserve with PMAP_CANFAIL returns NULL",
        lines: &[544],
        evidence: Evidence::Feature("canfail-null"),
        unreachable: always,
    },
    Class {
        id: "uvm-wait",
        what: "pmap_segtab_alloc waits (uvm_wait) and retries",
        lines: &[360, 361],
        evidence: Evidence::Lines(&[360]),
        unreachable: always,
    },
    Class {
        id: "uvm-wait-forever",
        what: "uvm_wait with no page ever coming back (panics as WaitForever)",
        lines: &[360],
        evidence: Evidence::Feature("panic WaitForever"),
        unreachable: always,
    },
    Class {
        id: "concurrent-both-cas",
        what: "two CPUs both reach atomic_cas_ptr in one step",
        lines: &[518, 554],
        evidence: Evidence::Feature("race-both-cas"),
        unreachable: needs_mp,
    },
    Class {
        id: "race-segtab-cas-lost",
        what: "reserve loses the segtab CAS and frees its segtab",
        lines: &[520, 521, 522],
        evidence: Evidence::Lines(&[520, 521, 522]),
        unreachable: needs_mp_lp64,
    },
    Class {
        id: "race-pte-cas-lost",
        what: "reserve loses the PTE page CAS and gives its page back",
        lines: &[561, 566, 569],
        evidence: Evidence::Lines(&[569]),
        unreachable: needs_mp,
    },
    Class {
        id: "lock-contended",
        what: "a CPU waits for pmap_segtab_lock held by the other",
        lines: &[251, 343],
        evidence: Evidence::Feature("lock-contended"),
        unreachable: needs_mp,
    },
    Class {
        id: "carving",
        what: "a new segtab page is carved and the rest linked to the free list",
        lines: &[379, 380, 381],
        evidence: Evidence::Lines(&[380]),
        unreachable: needs_carving,
    },
    Class {
        id: "carving-loop-body",
        what: "the carving loop links segtabs of the page together",
        lines: &[374],
        evidence: Evidence::Lines(&[374]),
        unreachable: needs_carving_loop,
    },
    Class {
        id: "top-of-space-walk",
        what: "pmap_pte_process walks the last segment (pmap_trunc_seg(va) + NBSEG wraps to 0)",
        lines: &[477, 478],
        evidence: Evidence::Feature("top-of-space-walk"),
        unreachable: always,
    },
];

/// One class in one configuration.
#[derive(Clone, Debug, Serialize)]
pub struct ClassResult {
    /// Stable name.
    pub id: &'static str,
    /// What it is.
    pub what: &'static str,
    /// The C lines (rev 1.23).
    pub lines: Vec<u32>,
    /// `reached`, `unreachable` or `gap`.
    pub status: &'static str,
    /// Evidence or reason.
    pub detail: String,
}

/// The classes of configuration `config`: `features` are what its workers
/// reported (prefixed), `cov` its line counts if measured.
pub fn classes(
    config: &Config,
    features: &BTreeSet<String>,
    cov: Option<&FileCov>,
) -> Vec<ClassResult> {
    CLASSES
        .iter()
        .map(|k| {
            let reached = match k.evidence {
                Evidence::Feature(f) => {
                    let key = format!("{} {f}", config.name);
                    features
                        .contains(&key)
                        .then(|| "observed by the campaign".to_string())
                }
                Evidence::Lines(ls) => cov.and_then(|c| {
                    let n: u64 = ls.iter().map(|&l| c.count(l)).sum();
                    (n > 0).then(|| format!("line(s) {} executed {n} times", join(ls)))
                }),
            };
            let not_compiled = cov.is_some_and(|c| k.lines.iter().all(|&l| !c.compiled(l)));
            let (status, detail) = match (reached, (k.unreachable)(config)) {
                (Some(ev), _) => ("reached", ev),
                (None, Some(why)) => ("unreachable", why.to_string()),
                (None, None) if not_compiled => (
                    "unreachable",
                    "not compiled in this configuration".to_string(),
                ),
                (None, None) => (
                    "gap",
                    match (k.evidence, cov) {
                        (Evidence::Lines(_), None) => {
                            "no line counts (coverage not measured)".into()
                        }
                        _ => "reachable here but not reached by this run".into(),
                    },
                ),
            };
            ClassResult {
                id: k.id,
                what: k.what,
                lines: k.lines.to_vec(),
                status,
                detail,
            }
        })
        .collect()
}

fn join(ls: &[u32]) -> String {
    ls.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Why an executable line a run did not reach cannot be reached in
/// `config`, if it cannot (else it is a gap).
pub fn unreached_reason(config: &Config, line: u32) -> Option<&'static str> {
    match line {
        370..=384 if config.host_segtabs_per_page() < 2 => needs_carving(config),
        373..=375 if config.host_segtabs_per_page() == 2 => needs_carving_loop(config),
        178 => invariant(config),
        _ => None,
    }
}

/// Every class id, for tests and the report's legend.
pub fn class_ids() -> Vec<&'static str> {
    CLASSES.iter().map(|c| c.id).collect()
}

/// Panic classes the campaign saw for `config` (for the report).
pub fn panics_seen(config: &Config, features: &BTreeSet<String>) -> Vec<String> {
    let p = format!("{} panic ", config.name);
    features
        .iter()
        .filter_map(|f| f.strip_prefix(&p).map(str::to_string))
        .collect()
}
