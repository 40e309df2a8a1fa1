//! Shrinking a divergence to a minimal sequence with the same class.
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
    let mut best = d.clone();
    // Everything after the diverging step is irrelevant.
    best.sequence.ops.truncate(best.step + 1);
    let mut runs = 0;
    let test = |pair: &mut Pair, seq: &Sequence, runs: &mut usize| -> Option<Divergence> {
        *runs += 1;
        match run(pair, seq, CompareOpts::default()) {
            RunResult::Diverge(nd) if nd.class() == class => Some(*nd),
            _ => None,
        }
    };
    let mut chunk = best.sequence.ops.len().div_ceil(2).max(1);
    while chunk >= 1 && runs < budget {
        let mut i = 0;
        let mut progressed = false;
        while i < best.sequence.ops.len() && runs < budget {
            let mut cand = best.sequence.clone();
            let end = (i + chunk).min(cand.ops.len());
            cand.ops.drain(i..end);
            if !cand.ops.is_empty() {
                if let Some(nd) = test(pair, &cand, &mut runs) {
                    best = nd;
                    best.sequence.ops.truncate(best.step + 1);
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
    // Simpler arguments.
    for i in 0..best.sequence.ops.len() {
        for simpler in simplify(&best.sequence.ops[i]) {
            if runs >= budget {
                break;
            }
            let mut cand = best.sequence.clone();
            cand.ops[i] = simpler;
            if let Some(nd) = test(pair, &cand, &mut runs) {
                best = nd;
                best.sequence.ops.truncate(best.step + 1);
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
        _ => {}
    }
    out
}
