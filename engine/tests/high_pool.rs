//! The pools above 4 GiB (`SEGTAB_POOL=high`, the only mode on macOS) in
//! every `cargo test`: a 32-bit configuration's C then casts its PTE
//! pointers to a `vaddr_t` that loses the high half, and the shim must
//! restore it from the pool's window. `.ci/run` runs the whole suite in
//! this mode as well. One test in its own file: the mode is per process.

use segtab_diff::run::{run, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use segtab_diff::side::Side;
use segtab_diff::{corpus, report};
use shim::placement::{self, Mode};

#[test]
fn every_configuration_agrees_with_its_pools_above_4_gib() {
    // Before any pool exists: the mode is read once per process.
    std::env::set_var("SEGTAB_POOL", "high");
    assert_eq!(placement::mode(), Ok(Mode::High));
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/diff");
    let mut files: Vec<_> = std::fs::read_dir(&seeds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut ran = std::collections::BTreeMap::<String, usize>::new();
    for c in c_reference::CONFIGS {
        let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES).unwrap();
        for base in [pair.c.pool().base(), pair.r.pool().base()] {
            assert!(
                base as u64 > u32::MAX as u64,
                "{}: pool at {base:p}",
                c.name
            );
        }
        for f in &files {
            let Ok((seq, _)) = corpus::load_as(f, None) else {
                continue;
            };
            if seq.config != c.name {
                continue;
            }
            if let RunResult::Diverge(d) = run(&mut pair, &seq, CompareOpts::default()) {
                panic!("{}:\n{}", f.display(), report::text(&d));
            }
            *ran.entry(c.name.to_string()).or_default() += 1;
        }
    }
    // Every configuration ran some seeds (the seed corpus reaches them all).
    assert_eq!(ran.len(), c_reference::CONFIGS.len(), "{ran:?}");
}
