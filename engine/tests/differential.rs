//! The port against the C, in every configuration: property tests over
//! random operation sequences (the same `arbitrary` model the fuzzer and
//! the campaign use), the checked-in corpus, and the ledger's rules.

use proptest::prelude::*;
use segtab_diff::model::Sequence;
use segtab_diff::run::{run, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use segtab_diff::{corpus, report};
use std::path::{Path, PathBuf};

fn agree(pair: &mut Pair, seq: &Sequence) -> Result<(), TestCaseError> {
    match run(pair, seq, CompareOpts::default()) {
        RunResult::Agree { .. } => Ok(()),
        RunResult::Diverge(d) => Err(TestCaseError::fail(report::text(&d))),
    }
}

fn differential(config: &'static str) {
    let pair = std::cell::RefCell::new(Pair::open(config, DEFAULT_POOL_PAGES).unwrap());
    let cfg = c_reference::configs::find(config).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..900), |bytes| {
            let seq = Sequence::from_bytes(&bytes, Some(cfg));
            agree(&mut pair.borrow_mut(), &seq)
        })
        .unwrap();
}

#[test]
fn differential_mips64_n64_4k() {
    differential("mips64-n64-4k");
}
#[test]
fn differential_mips64_n64_16k() {
    differential("mips64-n64-16k");
}
#[test]
fn differential_riscv64_sv39_shape() {
    differential("riscv64-sv39-shape");
}
#[test]
fn differential_mips32_o32_4k() {
    differential("mips32-o32-4k");
}
#[test]
fn differential_mips32_o32_8k() {
    differential("mips32-o32-8k");
}
#[test]
fn differential_mips32_o32_16k() {
    differential("mips32-o32-16k");
}
#[test]
fn differential_ilp32_4k_2seg_shape() {
    differential("ilp32-4k-2seg-shape");
}
#[test]
fn differential_powerpc_booke() {
    differential("powerpc-booke");
}

#[test]
fn every_configuration_has_a_port_machine_with_the_same_geometry() {
    for c in c_reference::CONFIGS {
        let pair = Pair::open(c.name, 16).unwrap();
        assert_eq!(pair.r.geometry(), *pair.c.world.geometry(), "{}", c.name);
    }
}

/// This checkout's `corpus/`.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

fn corpus_files() -> Vec<PathBuf> {
    let root = corpus_dir();
    let mut out = Vec::new();
    for sub in ["regressions", "diff"] {
        let dir = root.join(sub);
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// Every reproducer ever found and every seed must agree, unless the
/// ledger lists it, in which case it must still diverge the listed way.
#[test]
fn corpus_replays_in_agreement() {
    let ledger = corpus::ledger(&corpus_dir()).unwrap();
    let files = corpus_files();
    assert!(!files.is_empty(), "the corpus is empty");
    let mut pairs: std::collections::HashMap<String, Pair> = Default::default();
    let mut failures = Vec::new();
    for f in &files {
        let (seq, class) = corpus::load_with_class(f).unwrap_or_else(|e| panic!("{e:#}"));
        if corpus::out_of_process(&class) {
            // A crash or hang found once: replay it in a child process so a
            // regression cannot take the test run down.
            let exe = Path::new(env!("CARGO_BIN_EXE_segtab-diff"));
            let p =
                segtab_diff::probe::probe(exe, &seq, std::time::Duration::from_secs(10)).unwrap();
            if p != segtab_diff::probe::Probe::Agree {
                failures.push(format!("{}: was a {class}, now {p:?}", f.display()));
            }
            continue;
        }
        let pair = pairs
            .entry(seq.config.clone())
            .or_insert_with(|| Pair::open(&seq.config, DEFAULT_POOL_PAGES).unwrap());
        let known = ledger
            .iter()
            .find(|e| f.ends_with(Path::new(&e.reproducer)));
        match (run(pair, &seq, CompareOpts::default()), known) {
            (RunResult::Agree { .. }, None) => {}
            (RunResult::Agree { .. }, Some(e)) => failures.push(format!(
                "{}: ledger entry {:?} no longer reproduces",
                f.display(),
                e.class
            )),
            (RunResult::Diverge(d), Some(e)) if d.class() == e.class => {}
            (RunResult::Diverge(d), _) => {
                failures.push(format!("{}:\n{}", f.display(), report::text(&d)))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn malformed_corpus_files_get_clear_errors() {
    let dir = std::env::temp_dir().join(format!("segtab-diff-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let e = corpus::load(&bad).unwrap_err().to_string();
    assert!(e.contains("is not a reproducer"), "{e}");
    let unknown = dir.join("unknown.json");
    std::fs::write(&unknown, r#"{"config":"vax","ops":[]}"#).unwrap();
    let e = format!("{:#}", corpus::load(&unknown).unwrap_err());
    assert!(e.contains("unknown configuration \"vax\""), "{e}");
    // Raw bytes always decode.
    let raw = dir.join("raw.bin");
    std::fs::write(&raw, [0xffu8; 40]).unwrap();
    assert!(corpus::load(&raw).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}
