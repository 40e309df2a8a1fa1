//! `segtab-diff explore`: every schedule of a last, concurrent, step within
//! a preemption bound. (That it exits 1 against a C with a planted race
//! bug needs the tool rebuilt with that C, minutes here: see
//! scripts/explore-check.sh.)

use segtab_diff::explore::explore_sequence;
use segtab_diff::model::{Op, Sequence};
use segtab_diff::run::{Pair, DEFAULT_POOL_PAGES};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/explore/same-va-reserve-race.json")
}

/// `segtab-diff explore --preemptions 2 FILE`, which must agree (exit 0):
/// the number of schedules its first line reports, and its stdout.
fn cli_explore(file: &Path) -> (u64, String) {
    let out = exe()
        .args(["explore", "--preemptions", "2"])
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let n: u64 = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout:?}"));
    (n, stdout)
}

fn exe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_segtab-diff"))
}

/// Two CPUs reserving the same VA (the PTE-page race, C lines 539-570)
/// agree under every schedule with at most 2 preemptions, and there are
/// many of them; the counts follow the bound.
#[test]
fn a_same_va_reserve_race_agrees_under_every_bounded_schedule() {
    let seq = segtab_diff::corpus::load(&fixture()).unwrap();
    let mut pair = Pair::open(&seq.config, DEFAULT_POOL_PAGES).unwrap();
    let mut runs = Vec::new();
    for bound in 0..=3 {
        let e = explore_sequence(&mut pair, &seq, bound, None).unwrap();
        assert!(e.divergence.is_none(), "bound {bound}: {:?}", e.divergence);
        assert!(e.exhausted, "bound {bound}");
        assert!(!e.hit_decision_limit);
        runs.push(e.runs);
    }
    // No preemption: one schedule; one more preemption allowed: strictly more.
    assert_eq!(runs[0], 1);
    assert!(runs.windows(2).all(|w| w[0] < w[1]), "{runs:?}");

    let (n, stdout) = cli_explore(&fixture());
    assert!(n > 1, "{stdout}");
    assert_eq!(n, runs[2], "the CLI and the library agree");
    assert!(stdout.contains("space exhausted"), "{stdout}");
}

/// A last step that is not concurrent, or a file that cannot be read, is a
/// tool error (exit 2).
#[test]
fn explore_refuses_what_it_cannot_explore() {
    let mut seq = segtab_diff::corpus::load(&fixture()).unwrap();
    seq.ops.pop();
    let dir = std::env::temp_dir().join(format!("explore-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("not-concurrent.json");
    std::fs::write(&f, serde_json::to_string(&seq).unwrap()).unwrap();
    for file in [f.clone(), dir.join("missing.json")] {
        let out = exe().arg("explore").arg(&file).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut pair = Pair::open(&seq.config, DEFAULT_POOL_PAGES).unwrap();
    assert!(explore_sequence(&mut pair, &seq, 2, None).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A budget stops the walk early and says so; the schedules it ran are a
/// prefix of the full walk.
#[test]
fn a_budget_stops_the_walk() {
    let seq: Sequence = segtab_diff::corpus::load(&fixture()).unwrap();
    assert!(matches!(seq.ops.last(), Some(Op::Concurrent(_))));
    let mut pair = Pair::open(&seq.config, DEFAULT_POOL_PAGES).unwrap();
    let e = explore_sequence(&mut pair, &seq, 6, Some(std::time::Duration::ZERO)).unwrap();
    assert_eq!(e.runs, 1);
    assert!(!e.exhausted);
}

/// certify's race scenarios (engine/src/scenarios.rs) agree under every
/// schedule within their bound, exhaust their space and stay cheap; the
/// steps whose CPUs make several calls are explored like the others.
#[test]
fn the_race_scenarios_agree_under_every_bounded_schedule() {
    let mut total = 0;
    for s in segtab_diff::scenarios::races_to_explore() {
        let mut pair = Pair::open(&s.seq.config, DEFAULT_POOL_PAGES).unwrap();
        let e = explore_sequence(&mut pair, &s.seq, s.bound, None).unwrap();
        eprintln!(
            "{} {}: {} schedules (C = {}), {} pruned, {} decisions at most, {:.2} s",
            s.name, s.seq.config, e.runs, s.bound, e.pruned, e.max_decisions, e.seconds
        );
        assert!(
            e.divergence.is_none(),
            "{} {}: {:?}",
            s.name,
            s.seq.config,
            e.divergence.map(|d| segtab_diff::report::text(&d.1))
        );
        assert!(e.exhausted, "{} {}", s.name, s.seq.config);
        assert!(e.runs > 1, "{} {}", s.name, s.seq.config);
        total += e.runs;
    }
    assert!(total > 100, "{total}");
}

/// Each race scenario is also a reproducer in corpus/explore/ (for
/// `segtab-diff explore FILE` and scripts/port-mutants.sh); `SEGTAB_BLESS=1`
/// writes them.
#[test]
fn the_race_scenarios_are_in_the_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/explore");
    for s in segtab_diff::scenarios::races_to_explore() {
        let path = dir.join(format!("race-{}-{}.json", s.name, s.seq.config));
        if std::env::var_os("SEGTAB_BLESS").is_some() {
            let r = segtab_diff::corpus::Reproducer {
                sequence: s.seq.clone(),
                class: String::new(),
                found: format!(
                    "engine/src/scenarios.rs races_to_explore: {} (explore with --preemptions {})",
                    s.what, s.bound
                ),
                port: None,
            };
            std::fs::write(&path, serde_json::to_string_pretty(&r).unwrap() + "\n").unwrap();
        }
        let seq = segtab_diff::corpus::load(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (SEGTAB_BLESS=1 writes it)", path.display()));
        assert_eq!(
            seq,
            s.seq,
            "{} (SEGTAB_BLESS=1 rewrites it)",
            path.display()
        );
    }
}

/// A reproducer whose last step has three CPUs replays and agrees on the
/// vendored C, and `explore` runs it under every schedule within its bound
/// (the CLI and the library count the same schedules).
#[test]
fn a_three_cpu_reproducer_replays_and_explores() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus/explore/race-three-same-va-mips64-n64-4k.json");
    let seq = segtab_diff::corpus::load(&path).unwrap();
    let Some(Op::Concurrent(step)) = seq.ops.last() else {
        panic!("last step not concurrent");
    };
    assert_eq!(step.cpus.len(), 3);
    let out = exe().arg("replay").arg(&path).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pair = Pair::open(&seq.config, DEFAULT_POOL_PAGES).unwrap();
    let e = explore_sequence(&mut pair, &seq, 2, None).unwrap();
    assert!(e.divergence.is_none());
    assert!(e.exhausted && e.runs > 1);
    let (n, stdout) = cli_explore(&path);
    assert_eq!(n, e.runs, "{stdout}");
    assert!(stdout.contains("space exhausted"), "{stdout}");
}
