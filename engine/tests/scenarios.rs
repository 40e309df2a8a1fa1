//! The directed sequences (engine/src/scenarios.rs) agree on every
//! configuration, and reach the paths they are written for.

use segtab_diff::run::{run_observed, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use segtab_diff::scenarios;

fn outcomes(config: &str) -> Vec<String> {
    let mut pair = Pair::open(config, DEFAULT_POOL_PAGES).unwrap();
    let mut seen = Vec::new();
    for (name, seq) in scenarios::all(config) {
        let r = run_observed(&mut pair, &seq, CompareOpts::default(), |a, e, _, _| {
            seen.push(format!("{name}: {a} -> {e:?}"));
        });
        assert!(
            matches!(r, RunResult::Agree { .. }),
            "{config}: {name} diverges on the unmodified C"
        );
    }
    seen
}

#[test]
fn directed_sequences_agree_everywhere() {
    for c in c_reference::CONFIGS {
        let seen = outcomes(c.name);
        assert!(!seen.is_empty());
    }
}

#[test]
fn no_race_sequence_is_cut_short() {
    // Every race runs: none ends its sequence early at a release of a page
    // still holding a mapping (DEBUG's check at line 293).
    for c in c_reference::CONFIGS {
        let seen = outcomes(c.name);
        let races = seen.iter().filter(|s| s.starts_with("races")).count();
        let concurrent = seen
            .iter()
            .filter(|s| s.starts_with("races") && s.contains("at once"))
            .count();
        assert!(
            !seen
                .iter()
                .any(|s| s.starts_with("races") && s.contains("pmap_segtab_release: pte[")),
            "{}: a race sequence ended at a release",
            c.name
        );
        assert!(races > 3 * concurrent.max(1), "{}: {races} steps", c.name);
    }
}

#[test]
fn abandoned_carving_kills_the_world_under_a_carving_cpu() {
    // Where CPUs interleave and a page holds several segtabs, some of the
    // sequences end with the world dead (the CPU without a page waits
    // forever) while the other CPU is still inside its create; elsewhere
    // there are none. certify relies on these for the carving loop's
    // mutants (mutants/c-equivalent.txt, line 373).
    for c in c_reference::CONFIGS {
        let n = scenarios::abandoned_carving(c.name).len();
        if c.multiprocessor && c.host_segtabs_per_page() >= 2 {
            assert!(n > 0, "{}", c.name);
            let seen = outcomes(c.name);
            assert!(
                seen.iter()
                    .any(|s| s.starts_with("abandoned-carving") && s.contains("WaitForever")),
                "{}: no world died inside a carving create",
                c.name
            );
        } else {
            assert_eq!(n, 0, "{}", c.name);
        }
    }
}
