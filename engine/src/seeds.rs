//! `segtab-diff seed-corpus`: the fuzzer's seed inputs, chosen greedily so
//! that together they reach every (configuration, operation, outcome) the
//! random candidates reach.

use crate::model::{Action, Sequence};
use crate::rng::SplitMix64;
use crate::run::{CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use crate::side::StepEnd;
use crate::{corpus, report};
use anyhow::{bail, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Greedy seed selection: keep a random input if it reaches a (configuration,
/// operation, outcome) the kept ones do not. Writes raw inputs to `out`.
pub fn seed_corpus(out: &Path, candidates: u64, seed: u64) -> Result<u8> {
    std::fs::create_dir_all(out)?;
    let mut pairs: HashMap<&str, Pair> = HashMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut rng = SplitMix64(seed);
    let mut kept = 0;
    for _ in 0..candidates {
        let len = 24 + (rng.next_u64() % 400) as usize;
        let bytes = rng.bytes(len);
        let seq = Sequence::from_bytes(&bytes, None);
        let config = c_reference::configs::find(&seq.config).unwrap();
        let pair = match pairs.entry(config.name) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Pair::open(config.name, DEFAULT_POOL_PAGES)?)
            }
        };
        let mut feats = BTreeSet::new();
        let r =
            crate::run::run_observed(pair, &seq, CompareOpts::default(), |a, e, events, trace| {
                let end = match e {
                    StepEnd::Ok(Some(shim::inspect::PteLoc::Null)) => "null".to_string(),
                    StepEnd::Ok(_) => "ok".to_string(),
                    StepEnd::Panic(c, _) => format!("{c:?}"),
                    StepEnd::Refused(_) => "refused".to_string(),
                    StepEnd::Abandoned(a) => format!("abandoned {a:?}"),
                };
                if let Action::Concurrent(cc) = a {
                    // Interleavings: which calls each CPU made, whether a
                    // CPU waited for the lock, and where the CPUs switched.
                    let waits = trace.sched.iter().any(|e| e.blocked);
                    // Each CPU's calls, `+` between the calls of one CPU.
                    let names: Vec<String> = cc
                        .cpus
                        .iter()
                        .map(|c| c.iter().map(Action::name).collect::<Vec<_>>().join("+"))
                        .collect();
                    feats.insert(format!(
                        "{} concurrent {} {end} waits={waits}",
                        config.name,
                        names.join(" ")
                    ));
                    for w in trace.sched.windows(2) {
                        if w[0].cpu != w[1].cpu {
                            feats.insert(format!(
                                "{} switch {:?} -> {:?}",
                                config.name, w[0].call, w[1].call
                            ));
                        }
                    }
                }
                let op = match a {
                    Action::Destroy { cb: Some(_), .. } => "destroy-cb",
                    // Only activating curlwp does anything (line 429); the
                    // kernel pmap takes its own branch (line 433).
                    Action::Activate { pmap: 0, .. } if !trace.xtab.is_empty() => "activate-kernel",
                    Action::Activate { .. } if !trace.xtab.is_empty() => "activate-curlwp",
                    Action::Process { .. } if !trace.callbacks.is_empty() => "process-cb",
                    other => other.name(),
                };
                feats.insert(format!("{} {op} {end}", config.name));
                // What the step made the allocator do: page allocations, frees,
                // waits, maps and unmaps reach different lines of the C.
                for ev in events {
                    let kind = format!("{ev:?}");
                    let kind = kind.split([' ', '{']).next().unwrap_or("");
                    feats.insert(format!("{} {op} {end} {kind}", config.name));
                }
            });
        if let RunResult::Diverge(d) = r {
            eprintln!("{}", report::text(&d));
            bail!("the sides diverge; fix that before seeding");
        }
        let new: Vec<String> = feats.difference(&seen).cloned().collect();
        if !new.is_empty() {
            seen.extend(new);
            let hash = corpus::fnv1a(&bytes);
            std::fs::write(out.join(format!("seed-{hash:016x}")), &bytes)?;
            kept += 1;
        }
    }
    println!(
        "kept {kept} seeds reaching {} (configuration, operation, outcome) triples in {}",
        seen.len(),
        out.display()
    );
    Ok(0)
}
