//! `segtab-diff explore`: every schedule of a reproducer's last,
//! concurrent, step with at most C preemptions, on both sides.
//!
//! **Iterative context bounding** (Musuvathi and Qadeer, PLDI 2007): a
//! preemption is a switch away from a CPU that could have continued. The
//! scheduler (`shim::sched`) takes a *decision* exactly at the points where
//! the running CPU could continue and another CPU could run; with two CPUs
//! a decision has two choices, keep running (bit 0) or switch to the other
//! CPU (bit 1), so every 1 bit is a preemption. With three or four CPUs a
//! switch while more than one other CPU can run also decides which
//! (`shim::sched`: each candidate after the first, in cyclic order, is one
//! more bit, 1 passing over the one before it), and those bits count too:
//! a switch to the k-th runnable CPU after the running one costs k
//! preemptions. The bound is then a bound on switches weighted by how far
//! they skip, not CHESS's count; every interleaving is still reached with
//! C large enough. Switches forced because the
//! running CPU finished or waits for `pmap_segtab_lock` take no decision
//! and cost nothing.
//!
//! **The enumeration** is a depth-first walk of the tree of decisions,
//! driven by the `u64` schedule of `Op::Concurrent` (one bit per decision,
//! bit 0 first). Each run reports how many decisions it met (`n`); the
//! schedules it stands for are all the `u64`s that agree with it on bits
//! `0..n` (later bits are never read). The next schedule in DFS order is
//! found by backtracking: the deepest decision `i < n` taken as 0 whose
//! sibling (1) stays within the bound becomes 1, and every decision after
//! it starts at 0 again. A decision whose sibling would exceed the bound is
//! a pruned branch (counted once: the walk never returns below it). Every
//! run is therefore a different path through the tree, and when the walk
//! ends every path with at most C preemptions has been run, except below
//! the scheduler's 64th decision, after which it keeps the running CPU
//! (`shim::sched::MAX_DECISIONS`): a run that meets that limit is reported
//! and the space is then not called exhausted.
//!
//! Each schedule replays the whole sequence from a reset world (the steps
//! before the last one are deterministic, so they rebuild the same state)
//! and is compared exactly as a campaign compares it ([`crate::run::run`]
//! with the default options, the final full deep pass included).

use crate::corpus;
use crate::model::{Op, Sequence};
use crate::report;
use crate::run::{run_observed, CompareOpts, Divergence, Pair, RunResult, DEFAULT_POOL_PAGES};
use anyhow::{bail, Result};
use shim::sched::MAX_DECISIONS;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What `explore` is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// At most this many preemptions per schedule.
    pub preemptions: u32,
    /// Stop after this long (a partial run says how far it got).
    pub seconds: Option<f64>,
    /// Where a diverging schedule's reproducer goes.
    pub out: PathBuf,
}

/// How far an exploration got.
#[derive(Clone, Debug, Default)]
pub struct Explored {
    /// Schedules run (distinct paths through the decision tree).
    pub runs: u64,
    /// Branches not taken because they would exceed the preemption bound.
    pub pruned: u64,
    /// Every schedule within the bound was run.
    pub exhausted: bool,
    /// Some run met the scheduler's 64-decision limit: schedules that
    /// switch after the 64th decision are out of reach.
    pub hit_decision_limit: bool,
    /// The most decisions one run met.
    pub max_decisions: u32,
    /// The first diverging schedule and its divergence.
    pub divergence: Option<(u64, Box<Divergence>)>,
    /// Wall time.
    pub seconds: f64,
}

/// The schedule after `bits` in depth-first order, given that the run of
/// `bits` met `n` decisions, within `bound` preemptions; `pruned` counts the
/// branches the bound cuts on the way. `None`: the walk is over.
pub fn next_schedule(bits: u64, n: u32, bound: u32, pruned: &mut u64) -> Option<u64> {
    let n = n.min(64);
    for i in (0..n).rev() {
        let bit = 1u64 << i;
        if bits & bit != 0 {
            // Both children of decision i are done (0 was taken first).
            continue;
        }
        let before = (bits & (bit - 1)).count_ones();
        if before < bound {
            return Some((bits & (bit - 1)) | bit);
        }
        *pruned += 1;
    }
    None
}

/// `seq` with the schedule of its last step replaced.
fn with_schedule(seq: &Sequence, bits: u64) -> Sequence {
    let mut s = seq.clone();
    if let Some(Op::Concurrent(step)) = s.ops.last_mut() {
        step.schedule = bits;
    }
    s
}

/// Explores `seq` on `pair` (see the module docs). Errors if the last step
/// is not concurrent or the sequence ends before reaching it.
pub fn explore_sequence(
    pair: &mut Pair,
    seq: &Sequence,
    bound: u32,
    budget: Option<Duration>,
) -> Result<Explored> {
    let Some(Op::Concurrent(_)) = seq.ops.last() else {
        bail!("the last step is not concurrent (explore needs an Op::Concurrent last)");
    };
    let start = Instant::now();
    let n_ops = seq.ops.len();
    let mut e = Explored::default();
    let mut bits = 0u64;
    loop {
        let s = with_schedule(seq, bits);
        // The last step's decisions, as the C met them (the port met the
        // same ones, or the schedules differ and that is a divergence).
        let mut last: Option<u32> = None;
        let mut step = 0usize;
        let r = run_observed(pair, &s, CompareOpts::default(), |_, _, _, t| {
            step += 1;
            if step == n_ops {
                last = Some(t.decisions);
            }
        });
        e.runs += 1;
        match r {
            RunResult::Diverge(d) => {
                e.divergence = Some((bits, d));
                break;
            }
            RunResult::Agree { steps, panic } if steps < n_ops => {
                bail!(
                    "the sequence ends at step {} ({}) before its last, concurrent, step",
                    steps.saturating_sub(1),
                    panic.map_or("no panic".into(), |p| format!("both sides: {p:?}"))
                );
            }
            RunResult::Agree { .. } => {}
        }
        let n = last.unwrap_or(0);
        e.max_decisions = e.max_decisions.max(n);
        if n >= MAX_DECISIONS {
            e.hit_decision_limit = true;
        }
        match next_schedule(bits, n, bound, &mut e.pruned) {
            Some(b) => bits = b,
            None => {
                e.exhausted = !e.hit_decision_limit;
                break;
            }
        }
        if budget.is_some_and(|b| start.elapsed() >= b) {
            break;
        }
    }
    e.seconds = start.elapsed().as_secs_f64();
    Ok(e)
}

/// The `explore` subcommand: exit 0 (every schedule run agrees), 1 (a
/// divergence: its schedule printed, its reproducer written) or an error
/// (the caller exits 2).
pub fn explore(
    file: &Path,
    pinned: Option<&'static c_reference::Config>,
    o: &Options,
) -> Result<u8> {
    let (seq, _) = corpus::load_as(file, pinned)?;
    let config = c_reference::configs::find(&seq.config)
        .ok_or_else(|| anyhow::anyhow!("unknown configuration {:?}", seq.config))?;
    let mut pair = Pair::open(config.name, DEFAULT_POOL_PAGES)?;
    if !config.multiprocessor {
        // model.rs resolves every schedule to 0 there: one schedule.
        println!(
            "explore: {} has no MULTIPROCESSOR: its concurrent steps run one call after the other (one schedule)",
            config.name
        );
    }
    let budget = o.seconds.map(Duration::from_secs_f64);
    let e = explore_sequence(&mut pair, &seq, o.preemptions, budget)?;
    let how_far = if e.exhausted {
        "space exhausted".to_string()
    } else if e.divergence.is_some() {
        "stopped at the first divergence".to_string()
    } else if e.hit_decision_limit {
        format!(
            "not exhausted: a run met the scheduler's {MAX_DECISIONS}-decision limit (switches after it are out of reach)"
        )
    } else {
        "not exhausted: stopped by --seconds".to_string()
    };
    println!(
        "explore: {} schedules run, {} branches pruned by the bound of {} preemptions, at most {} decisions per run, {:.2} s; {how_far}",
        e.runs, e.pruned, o.preemptions, e.max_decisions, e.seconds
    );
    match e.divergence {
        None => {
            println!("explore: every schedule run agrees");
            Ok(0)
        }
        Some((bits, d)) => {
            println!("{}", report::text(&d));
            let found = format!(
                "explore --preemptions {} {}: schedule {bits:#x} (schedule {} run)",
                o.preemptions,
                file.display(),
                e.runs
            );
            let path = corpus::save(&o.out, &d, &found)?;
            if d.step + 1 < d.sequence.ops.len() {
                // The steps before the last do not depend on its schedule.
                println!(
                    "explore: the sequence diverges at step {}, before its concurrent step, under any schedule; written to {}",
                    d.step,
                    path.display()
                );
            } else {
                println!(
                    "explore: divergence under schedule {bits:#x} ({} preemptions); written to {}",
                    bits.count_ones(),
                    path.display()
                );
            }
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk over a fixed tree where every run meets `n` decisions:
    /// every bit string of length `n` with at most `bound` ones, each once,
    /// in DFS order (0 before 1).
    fn walk(n: u32, bound: u32) -> (Vec<u64>, u64) {
        let (mut bits, mut pruned, mut out) = (0u64, 0u64, Vec::new());
        loop {
            out.push(bits);
            match next_schedule(bits, n, bound, &mut pruned) {
                Some(b) => bits = b,
                None => return (out, pruned),
            }
        }
    }

    fn choose(n: u64, k: u64) -> u64 {
        (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
    }

    #[test]
    fn the_walk_runs_each_bounded_schedule_once() {
        for n in 0..10u32 {
            for bound in 0..4u32 {
                let (runs, _) = walk(n, bound);
                let want: u64 = (0..=bound.min(n) as u64).map(|k| choose(n as u64, k)).sum();
                assert_eq!(runs.len() as u64, want, "n {n} bound {bound}");
                let mut sorted = runs.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), runs.len(), "a schedule ran twice");
                assert!(runs.iter().all(|b| b.count_ones() <= bound));
                assert!(runs.iter().all(|b| n == 64 || b >> n == 0));
            }
        }
    }

    #[test]
    fn without_a_bound_cut_nothing_is_pruned() {
        let (runs, pruned) = walk(5, 5);
        assert_eq!((runs.len(), pruned), (32, 0));
        let (runs, pruned) = walk(5, 1);
        // 0, then each single switch; below every 1, the 0s after it
        // cannot become 1.
        assert_eq!(runs.len(), 6);
        assert!(pruned > 0);
    }

    /// A tree whose shape depends on the path (a switch adds decisions,
    /// as a CPU switched to meets points of its own).
    #[test]
    fn a_path_dependent_tree_is_walked_in_full() {
        let n_of = |bits: u64| 3 + bits.count_ones() * 2;
        let (mut bits, mut pruned, mut seen) = (0u64, 0u64, Vec::new());
        loop {
            seen.push(bits);
            match next_schedule(bits, n_of(bits), 2, &mut pruned) {
                Some(b) => bits = b,
                None => break,
            }
        }
        // Depth 3 with no switch; a switch at i gives 2 more decisions.
        // Count by brute force: every prefix-closed path with <= 2 ones.
        fn count(prefix: u64, depth: u32, ones: u32, n_of: &dyn Fn(u64) -> u32) -> u64 {
            if depth >= n_of(prefix) {
                return 1;
            }
            let mut c = count(prefix, depth + 1, ones, n_of);
            if ones < 2 {
                c += count(prefix | 1 << depth, depth + 1, ones + 1, n_of);
            }
            c
        }
        assert_eq!(seen.len() as u64, count(0, 0, 0, &n_of));
    }
}
