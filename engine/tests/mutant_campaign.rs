//! A short differential campaign as a test: what `scripts/mutants.sh` runs
//! against each cargo-mutants mutant of the port, so that a mutant is
//! judged by the comparison with the C, not only by the port's own tests.
//!
//! It does nothing unless `SEGTAB_CAMPAIGN_SECS` is set (to the seconds to
//! run, e.g. 10): then it runs random sequences of the `arbitrary` model,
//! round-robin over every configuration, with the default comparison (a
//! deep pass every 16 steps and at the end), from a fixed seed
//! (`SEGTAB_CAMPAIGN_SEED` to change it), and fails with the report of the
//! first divergence.

use segtab_diff::model::Sequence;
use segtab_diff::rng::SplitMix64;
use segtab_diff::run::{run, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use std::time::{Duration, Instant};

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

#[test]
fn campaign() {
    let Some(secs) = env_u64("SEGTAB_CAMPAIGN_SECS") else {
        eprintln!("campaign: SEGTAB_CAMPAIGN_SECS is not set; nothing to do");
        return;
    };
    let seed = env_u64("SEGTAB_CAMPAIGN_SEED").unwrap_or(0x5e67_ab1e);
    let mut pairs: Vec<Pair> = c_reference::CONFIGS
        .iter()
        .map(|c| Pair::open(c.name, DEFAULT_POOL_PAGES).expect("open configuration"))
        .collect();
    let mut rng = SplitMix64(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut seqs, mut ops) = (0u64, 0u64);
    while Instant::now() < deadline {
        let k = (seqs % pairs.len() as u64) as usize;
        let len = 16 + (rng.next_u64() % 700) as usize;
        let seq = Sequence::from_bytes(&rng.bytes(len), Some(pairs[k].config));
        if let RunResult::Diverge(d) = run(&mut pairs[k], &seq, CompareOpts::default()) {
            panic!(
                "campaign (seed {seed:#x}, sequence {seqs}): {}",
                segtab_diff::report::text(&d)
            );
        }
        seqs += 1;
        ops += seq.ops.len() as u64;
    }
    eprintln!("campaign: {seqs} sequences, {ops} operations in {secs} s, no divergence");
}
