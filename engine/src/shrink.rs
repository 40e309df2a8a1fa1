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

use crate::model::{Call, LenSpec, Op, Sequence, Step, VaSpec};
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
    // Simplify each operation, again while that helps (a concurrent step
    // loses a call, a switch, ... one at a time).
    let mut progressed = true;
    while progressed && runs < budget {
        progressed = false;
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
                    progressed = true;
                    break;
                }
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

/// Simpler forms of one operation: a call's arguments; for a concurrent
/// step fewer calls (a CPU's call dropped, or one call alone as a
/// sequential step: fewer CPUs), simpler calls, fewer switches.
fn simplify(op: &Op) -> Vec<Op> {
    let mut out = Vec::new();
    match op {
        Op::Call(c) => out.extend(simplify_call(c).into_iter().map(Op::Call)),
        Op::Concurrent(step) => {
            let with = |cpus: Vec<Vec<Call>>, schedule| {
                Op::Concurrent(Step {
                    cpus,
                    lwp: step.lwp,
                    schedule,
                })
            };
            // Fewer calls: drop one call of a CPU that makes several.
            for (i, calls) in step.cpus.iter().enumerate() {
                if calls.len() > 1 {
                    for k in (0..calls.len()).rev() {
                        let mut cpus = step.cpus.clone();
                        cpus[i].remove(k);
                        out.push(with(cpus, step.schedule));
                    }
                }
            }
            // Fewer CPUs: drop a CPU beyond the second (its calls go;
            // the others keep theirs)...
            if step.cpus.len() > 2 {
                for i in (1..step.cpus.len()).rev() {
                    let mut cpus = step.cpus.clone();
                    cpus.remove(i);
                    out.push(with(cpus, step.schedule));
                }
            }
            // ... or one of the calls alone.
            out.extend(step.calls().map(|c| Op::Call(*c)));
            // Fewer switches: keep only the first k decisions, then clear
            // one switch at a time (a schedule of 0 runs CPU 0's calls,
            // then CPU 1's).
            let schedule = step.schedule;
            for k in [0u32, 1, 2, 4, 8, 16, 32] {
                let s = schedule & ((1u64 << k) - 1);
                if s != schedule {
                    out.push(with(step.cpus.clone(), s));
                }
            }
            let mut bits = schedule;
            while bits != 0 && out.len() < 64 {
                let bit = bits & bits.wrapping_neg();
                out.push(with(step.cpus.clone(), schedule & !bit));
                bits &= !bit;
            }
            // Simpler calls.
            for (i, calls) in step.cpus.iter().enumerate() {
                for (k, c) in calls.iter().enumerate() {
                    for simpler in simplify_call(c) {
                        let mut cpus = step.cpus.clone();
                        cpus[i][k] = simpler;
                        out.push(with(cpus, schedule));
                    }
                }
            }
        }
        _ => {}
    }
    out
}

fn simplify_call(c: &Call) -> Vec<Call> {
    let mut out = Vec::new();
    match *c {
        Call::Reserve { pmap, va, canfail } => {
            out.extend(
                simpler_va(va)
                    .into_iter()
                    .map(|va| Call::Reserve { pmap, va, canfail }),
            );
        }
        Call::Enter {
            pmap,
            va,
            value,
            canfail,
        } => {
            out.extend(simpler_va(va).into_iter().map(|va| Call::Enter {
                pmap,
                va,
                value,
                canfail,
            }));
            if value != 0 {
                out.push(Call::Enter {
                    pmap,
                    va,
                    value: 0,
                    canfail,
                });
            }
        }
        Call::Lookup { pmap, va } => out.extend(
            simpler_va(va)
                .into_iter()
                .map(|va| Call::Lookup { pmap, va }),
        ),
        Call::Process {
            pmap,
            sva,
            len,
            cb,
            flags,
        } => {
            out.extend(simpler_va(sva).into_iter().map(|sva| Call::Process {
                pmap,
                sva,
                len,
                cb,
                flags,
            }));
            if !matches!(len, LenSpec::Segs(1)) {
                out.push(Call::Process {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A step of three or four CPUs shrinks by dropping a CPU (not CPU 0),
    /// down to two; a step of two CPUs is never offered with fewer than two
    /// in that form.
    #[test]
    fn a_wide_step_shrinks_by_dropping_a_cpu() {
        let c = |pmap| Call::Deactivate { pmap };
        let step = |n: u8| {
            Op::Concurrent(Step {
                cpus: (0..n).map(|i| vec![c(i)]).collect(),
                lwp: 1,
                schedule: 0,
            })
        };
        let widths = |op: &Op| -> Vec<usize> {
            simplify(op)
                .iter()
                .filter_map(|o| match o {
                    Op::Concurrent(s) => Some(s.cpus.len()),
                    _ => None,
                })
                .collect()
        };
        assert!(widths(&step(4)).contains(&3));
        assert!(widths(&step(3)).contains(&2));
        let kept_cpu0 = simplify(&step(3)).iter().all(|o| match o {
            Op::Concurrent(s) => s.cpus[0] == vec![c(0)],
            _ => true,
        });
        assert!(kept_cpu0);
        assert!(widths(&step(2)).iter().all(|&w| w == 2));
    }
}
