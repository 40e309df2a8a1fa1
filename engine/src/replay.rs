//! `segtab-diff replay`, `minimize` and `probe`: re-running saved findings
//! (reproducers, raw fuzzer inputs) and shrinking them. Crashes and hangs
//! run in child processes ([`probe`](crate::probe)), so they cannot take
//! this process down.

use crate::census::{Census, ClassKey};
use crate::corpus;
use crate::probe::{self, Probe};
use crate::run::{run, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use crate::{report, shrink};
use anyhow::{bail, Context, Result};
use c_reference::Config;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Files named, and the files under directories named (recursively, in
/// name order), leaving out hidden files and the ledger.
pub fn expand(files: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') || name == "known-divergences.json" {
                continue;
            }
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.is_file() {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            walk(f, &mut out)?;
        } else if f.exists() {
            out.push(f.clone());
        } else {
            bail!("{} does not exist", f.display());
        }
    }
    Ok(out)
}

/// Replay `files` (and directories) and print each one's result; raw
/// inputs decode for `pinned` when given. Divergences listed in `ledger`
/// are expected. Exit code 1 if anything diverged (or a ledger entry went
/// stale), else 2 if a file could not be read, else 0.
pub fn replay(
    files: &[PathBuf],
    pinned: Option<&'static Config>,
    ledger: &[corpus::LedgerEntry],
) -> Result<u8> {
    let mut bad = 0;
    let mut unreadable = 0;
    let mut pairs: std::collections::HashMap<String, Pair> = Default::default();
    for f in expand(files)? {
        let seq = match corpus::load_as(&f, pinned) {
            Ok((s, class)) if corpus::out_of_process(&class) => {
                // A crash or hang is replayed in a child process.
                let exe = std::env::current_exe()?;
                let p = probe::probe(&exe, &s, Duration::from_secs(5))?;
                match p {
                    Probe::Agree => {
                        println!("{}: agree (was a {class})", f.display())
                    }
                    other => {
                        bad += 1;
                        println!("{}: still a {class}: {other:?}", f.display());
                    }
                }
                continue;
            }
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("{}: skipped: {e:#}", f.display());
                unreadable += 1;
                continue;
            }
        };
        if !pairs.contains_key(&seq.config) {
            pairs.insert(
                seq.config.clone(),
                Pair::open(&seq.config, DEFAULT_POOL_PAGES)?,
            );
        }
        let pair = pairs.get_mut(&seq.config).unwrap();
        let known = ledger.iter().find(|e| f.ends_with(&e.reproducer));
        match (run(pair, &seq, CompareOpts::default()), known) {
            (RunResult::Agree { steps, panic }, None) => {
                println!(
                    "{}: agree ({} steps{})",
                    f.display(),
                    steps,
                    panic
                        .map(|p| format!(", both panic: {p:?}"))
                        .unwrap_or_default()
                )
            }
            (RunResult::Agree { .. }, Some(e)) => {
                bad += 1;
                println!(
                    "{}: listed in the ledger as {:?} but no longer diverges: remove the entry",
                    f.display(),
                    e.class
                );
            }
            (RunResult::Diverge(d), Some(e)) if d.class() == e.class => {
                println!(
                    "{}: known divergence ({}): {}",
                    f.display(),
                    e.class,
                    e.reason
                )
            }
            (RunResult::Diverge(d), _) => {
                bad += 1;
                println!("{}:\n{}", f.display(), report::text(&d));
            }
        }
    }
    Ok(if bad > 0 {
        1
    } else if unreadable > 0 {
        2
    } else {
        0
    })
}

/// Run one file in this process: exit code 0 (agree) or 1 (diverge). The
/// child side of [`probe::probe`].
pub fn probe_file(file: &Path) -> Result<u8> {
    let seq = corpus::load(file)?;
    let mut pair = Pair::open(&seq.config, DEFAULT_POOL_PAGES)?;
    Ok(match run(&mut pair, &seq, CompareOpts::default()) {
        RunResult::Agree { .. } => 0,
        RunResult::Diverge(_) => 1,
    })
}

/// Shrink the finding in `file` to a minimal sequence with the same
/// divergence (crashes and hangs in child processes) and save it under
/// `out`. Exit code 0 if the sides agree (nothing to minimize), else 1.
pub fn minimize(file: &Path, out: &Path, budget: usize) -> Result<u8> {
    let seq = corpus::load(file)?;
    // A crash or hang would take this process down: shrink it in children.
    let exe = std::env::current_exe()?;
    let timeout = Duration::from_secs(5);
    if let p @ (Probe::Crash(_) | Probe::Hang) = probe::probe(&exe, &seq, timeout)? {
        let what = if p == Probe::Hang { "hang" } else { "crash" };
        let small = probe::minimize(&exe, &seq, &p, budget.min(300), Duration::from_secs(2));
        let d = process_finding(small.clone(), &p);
        let path = corpus::save(out, &d, &format!("minimized from {}", file.display()))?;
        println!(
            "{what}: {} -> {} operations; written to {}",
            seq.ops.len(),
            small.ops.len(),
            path.display()
        );
        for (i, t) in crate::run::trace_of(
            c_reference::configs::find(&small.config).unwrap(),
            &small,
            small.ops.len().saturating_sub(1),
        )
        .iter()
        .enumerate()
        {
            println!("  {i:3}  {t}");
        }
        return Ok(1);
    }
    let mut pair = Pair::open(&seq.config, DEFAULT_POOL_PAGES)?;
    match run(&mut pair, &seq, CompareOpts::default()) {
        RunResult::Agree { .. } => {
            println!("{}: the sides agree; nothing to minimize", file.display());
            Ok(0)
        }
        RunResult::Diverge(d) => {
            let small = shrink::shrink(&mut pair, &d, budget);
            let path = corpus::save(out, &small, &format!("minimized from {}", file.display()))?;
            println!("{}", report::text(&small));
            println!(
                "{} -> {} operations; written to {}",
                d.sequence.ops.len(),
                small.sequence.ops.len(),
                path.display()
            );
            Ok(1)
        }
    }
}

/// The census of `files` (and directories): every file that diverges,
/// crashes or hangs counts in a class; the first of each class is
/// minimized (keeping its class) and saved under `out`. Each file runs in
/// a child process first, so a crash or hang is a class, not the end of
/// the census. Exit code 1 if any class was found, else 2 if a file could
/// not be read, else 0.
pub fn census(
    files: &[PathBuf],
    pinned: Option<&'static Config>,
    out: &Path,
    json: Option<&Path>,
) -> Result<u8> {
    let exe = std::env::current_exe()?;
    let timeout = Duration::from_secs(5);
    let mut census = Census::new();
    let mut unreadable = 0;
    let mut pairs: std::collections::HashMap<String, Pair> = Default::default();
    let files = expand(files)?;
    for (i, f) in files.iter().enumerate() {
        let at = (i + 1) as f64;
        let seq = match corpus::load_as(f, pinned) {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("{}: skipped: {e:#}", f.display());
                unreadable += 1;
                continue;
            }
        };
        let found = format!("census of {}", f.display());
        let mut verdict = probe::probe(&exe, &seq, timeout)?;
        if verdict == Probe::Hang {
            // A loaded machine can make a healthy child slow: a hang is a
            // class only if it is one with a much longer timeout too.
            verdict = probe::probe(&exe, &seq, 6 * timeout)?;
        }
        match verdict {
            Probe::Agree => {}
            p @ (Probe::Crash(_) | Probe::Hang) => {
                let d = |sequence| process_finding(sequence, &p);
                let key = ClassKey::of(&d(seq.clone()));
                if !census.count(&key, 1, &seq.config, at) {
                    let small = probe::minimize(&exe, &seq, &p, 150, Duration::from_secs(2));
                    let small = d(small);
                    let path = corpus::save(out, &small, &found)?;
                    census.record(key, small, Some(path), at);
                }
            }
            Probe::Diverge => {
                if !pairs.contains_key(&seq.config) {
                    let pair = Pair::open(&seq.config, DEFAULT_POOL_PAGES)?;
                    pairs.insert(seq.config.clone(), pair);
                }
                let pair = pairs.get_mut(&seq.config).expect("opened above");
                let RunResult::Diverge(d) = run(pair, &seq, CompareOpts::default()) else {
                    eprintln!("{}: diverged in a child, agrees here; skipped", f.display());
                    continue;
                };
                let key = ClassKey::of(&d);
                if !census.count(&key, 1, &seq.config, at) {
                    let small =
                        crate::census::minimized(pair, &d, &key, crate::campaign::SHRINK_BUDGET);
                    let path = corpus::save(out, &small, &found)?;
                    census.record(key, small, Some(path), at);
                }
            }
        }
    }
    println!("census: {} file(s)", files.len());
    print!("{}", census.table(|t| format!("file {t:.0}")));
    if let Some(path) = json {
        crate::campaign::write_json(path, &census)?;
    }
    Ok(if !census.is_empty() {
        1
    } else if unreadable > 0 {
        2
    } else {
        0
    })
}

/// A finding that took the child process down (`p`: a crash or a hang),
/// as a divergence with no step to name.
fn process_finding(sequence: crate::model::Sequence, p: &Probe) -> crate::Divergence {
    let what = if *p == Probe::Hang { "hang" } else { "crash" };
    crate::Divergence {
        sequence,
        step: 0,
        trace: Vec::new(),
        schedules: Vec::new(),
        notes: Vec::new(),
        diffs: vec![crate::compare::FieldDiff {
            category: what.into(),
            field: "process".into(),
            c: format!("{p:?}"),
            rust: String::new(),
        }],
    }
}
