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
