//! Shrinking a finding to a minimal sequence with the same class.
//!
//! A divergence is re-run in process. A crash or a hang cannot be: the
//! caller runs each candidate in a child process (`segtab-diff probe`)
//! under a timeout and passes [`reduce`] that test instead.
//!
//! Delta debugging over the operation list (drop chunks, halving the chunk
//! size), then simplification of each operation's arguments towards small
//! values, keeping a candidate only if it still diverges with the same
//! [`Divergence::class`].

use crate::model::{LenSpec, Op, Sequence, VaSpec};
use crate::run::{run, CompareOpts, Divergence, Pair, RunResult};

/// Shrink `d`; `budget` caps the runs.
pub fn shrink(pair: &mut Pair, d: &Divergence, budget: usize) -> Divergence {
    let class = d.class();
    shrink_keeping(pair, d, budget, |nd| nd.class() == class)
}

/// Shrink `d`, keeping only candidates whose divergence `same` accepts
/// (a census keeps its whole class key, not just the first category).
pub fn shrink_keeping(
    pair: &mut Pair,
    d: &Divergence,
    budget: usize,
    same: impl Fn(&Divergence) -> bool,
) -> Divergence {
    let mut best = d.clone();
    // Everything after the diverging step is irrelevant.
    best.sequence.ops.truncate(best.step + 1);
    let start = best.sequence.clone();
    let seq = reduce(&start, budget, |cand| {
        match run(pair, cand, CompareOpts::default()) {
            // Keep only up to the step that now diverges.
            RunResult::Diverge(nd) if same(&nd) => Some(nd.step + 1),
            _ => None,
        }
    });
    // Re-run the result for its report.
    match run(pair, &seq, CompareOpts::default()) {
        RunResult::Diverge(nd) if same(&nd) => *nd,
        _ => best,
    }
}

/// Delta debugging over a sequence: drop chunks of operations (halving
/// the chunk size), then simplify each operation's arguments. `test`
/// returns `Some(len)` when a candidate still shows the finding (and how
/// many leading operations matter), `None` otherwise. At most `budget`
/// tests.
pub fn reduce(
    seq: &Sequence,
    budget: usize,
    mut test: impl FnMut(&Sequence) -> Option<usize>,
) -> Sequence {
    // After Ctrl-C or SIGTERM no candidate is tried: the best so far is
    // returned at once (see crate::interrupt).
    let mut test = |cand: &Sequence| {
        if crate::interrupt::stopped() {
            None
        } else {
            test(cand)
        }
    };
    let mut best = seq.clone();
    let mut runs = 0;
    let mut chunk = best.ops.len().div_ceil(2).max(1);
    while runs < budget {
        let mut i = 0;
        let mut progressed = false;
        while i < best.ops.len() && runs < budget {
            let mut cand = best.clone();
            let end = (i + chunk).min(cand.ops.len());
            cand.ops.drain(i..end);
            if !cand.ops.is_empty() {
                runs += 1;
                if let Some(keep) = test(&cand) {
                    cand.ops.truncate(keep);
                    best = cand;
                    progressed = true;
                    continue;
                }
            }
            i += chunk;
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    for i in 0..best.ops.len() {
        for simpler in simplify(&best.ops[i]) {
            if runs >= budget || i >= best.ops.len() {
                break;
            }
            let mut cand = best.clone();
            cand.ops[i] = simpler;
            runs += 1;
            if let Some(keep) = test(&cand) {
                cand.ops.truncate(keep);
                best = cand;
                break;
            }
        }
    }
    best
}

fn simpler_va(v: VaSpec) -> Vec<VaSpec> {
    match v {
        VaSpec::Raw(_)
        | VaSpec::Used { .. }
        | VaSpec::Mapped { .. }
        | VaSpec::Top { .. }
        | VaSpec::XsegEdge { .. }
        | VaSpec::SegEdge { .. } => {
            vec![
                VaSpec::Seg { seg: 1, page: 0 },
                VaSpec::Seg { seg: 0, page: 0 },
            ]
        }
        VaSpec::Seg { seg, page } if seg > 1 || page > 0 => {
            vec![VaSpec::Seg {
                seg: seg.min(1),
                page: 0,
            }]
        }
        _ => vec![],
    }
}

fn simplify(op: &Op) -> Vec<Op> {
    let mut out = Vec::new();
    match *op {
        Op::Reserve { pmap, va, canfail } => {
            out.extend(
                simpler_va(va)
                    .into_iter()
                    .map(|va| Op::Reserve { pmap, va, canfail }),
            );
        }
        Op::Enter {
            pmap,
            va,
            value,
            canfail,
        } => {
            out.extend(simpler_va(va).into_iter().map(|va| Op::Enter {
                pmap,
                va,
                value,
                canfail,
            }));
            if value != 0 {
                out.push(Op::Enter {
                    pmap,
                    va,
                    value: 0,
                    canfail,
                });
            }
        }
        Op::Lookup { pmap, va } => {
            out.extend(simpler_va(va).into_iter().map(|va| Op::Lookup { pmap, va }))
        }
        Op::Process {
            pmap,
            sva,
            len,
            cb,
            flags,
        } => {
            out.extend(simpler_va(sva).into_iter().map(|sva| Op::Process {
                pmap,
                sva,
                len,
                cb,
                flags,
            }));
            if !matches!(len, LenSpec::Segs(1)) {
                out.push(Op::Process {
                    pmap,
                    sva,
                    len: LenSpec::Segs(1),
                    cb,
                    flags,
                });
            }
        }
        Op::Concurrent {
            a,
            b,
            lwp,
            schedule,
        } => {
            // Fewer switches: keep only the first k decisions, then clear
            // one switch at a time (a schedule of 0 runs a, then b).
            let with = |schedule| Op::Concurrent {
                a,
                b,
                lwp,
                schedule,
            };
            for k in [0u32, 1, 2, 4, 8, 16, 32] {
                let s = schedule & ((1u64 << k) - 1);
                if s != schedule {
                    out.push(with(s));
                }
            }
            let mut bits = schedule;
            while bits != 0 && out.len() < 48 {
                let bit = bits & bits.wrapping_neg();
                out.push(with(schedule & !bit));
                bits &= !bit;
            }
        }
        _ => {}
    }
    out
}
