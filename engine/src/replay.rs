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

/// The names libFuzzer gives its artefacts (`scripts/fuzz.sh` may put a
/// configuration's name before them).
pub const ARTEFACT_PREFIXES: &[&str] = &["crash-", "timeout-", "oom-", "leak-", "slow-unit-"];

/// Whether `path`, named on the command line, is an input replay and
/// census take without `--raw`: a reproducer (`.json`), a libFuzzer
/// artefact (`crash-*`, `timeout-*`, `oom-*`, `leak-*`, `slow-unit-*`,
/// also after a configuration's name) or a libFuzzer corpus entry (its
/// name is the SHA-1 of its bytes). Files found in a directory named on
/// the command line are taken as they are (a corpus directory).
pub fn known_input(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let artefact = |n: &str| ARTEFACT_PREFIXES.iter().any(|p| n.starts_with(p));
    let after_config = c_reference::CONFIGS.iter().any(|c| {
        name.strip_prefix(c.name)
            .and_then(|n| n.strip_prefix('-'))
            .is_some_and(artefact)
    });
    path.extension().is_some_and(|e| e == "json")
        || artefact(&name)
        || after_config
        || (name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// [`expand`], then the input rules: an empty directory is an error, and
/// so is a file named on the command line that is not a [`known_input`]
/// unless `raw` (`--raw`) says to decode it as raw fuzzer bytes anyway.
pub fn inputs(files: &[PathBuf], raw: bool) -> Result<Vec<PathBuf>> {
    for f in files {
        if f.is_file() && !raw && !known_input(f) {
            bail!(
                "{} is neither a reproducer (.json) nor a libFuzzer artefact (crash-*, timeout-*, \
                 oom-*, leak-*, slow-unit-*, or a file of a corpus directory); to decode it as \
                 raw fuzzer bytes anyway, pass --raw",
                f.display()
            );
        }
        if f.is_dir() && expand(std::slice::from_ref(f))?.is_empty() {
            bail!("{} is an empty directory: nothing to run", f.display());
        }
    }
    expand(files)
}

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
    raw: bool,
) -> Result<u8> {
    let mut bad = 0;
    let mut unreadable = 0;
    let mut pairs: std::collections::HashMap<String, Pair> = Default::default();
    for f in inputs(files, raw)? {
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
/// child side of [`probe::probe`]. With `watch` (the child side of
/// [`probe::hang_site`]), a watchdog prints `{"stuck": STEP, "side": SIDE}`
/// on stdout when a step does not return within the suspect limit.
pub fn probe_file(file: &Path, watch: bool) -> Result<u8> {
    let seq = corpus::load(file)?;
    if watch {
        std::thread::spawn(|| {
            use crate::run::progress::{last_call, BEGUN, ENDED, INDEX, SIDE};
            use std::io::Write;
            use std::sync::atomic::Ordering::Relaxed;
            let suspect = crate::campaign::suspect();
            crate::campaign::watch(
                || {
                    (
                        BEGUN.load(Relaxed),
                        ENDED.load(Relaxed),
                        INDEX.load(Relaxed),
                    )
                },
                suspect,
                (suspect / 4).clamp(Duration::from_millis(1), Duration::from_millis(50)),
                |step, _| {
                    let mut out = std::io::stdout().lock();
                    let side = SIDE.load(Relaxed);
                    let _ = writeln!(
                        out,
                        "{}",
                        serde_json::json!({"stuck": step, "side": side, "last_call": last_call(side)})
                    );
                    let _ = out.flush();
                },
                || false,
            )
        });
    }
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
    let found = format!("minimized from {}", file.display());
    if let p @ (Probe::Crash(_) | Probe::Hang) = probe::probe(&exe, &seq, timeout)? {
        let what = if p == Probe::Hang { "hang" } else { "crash" };
        eprintln!(
            "minimize: {} is a {what}; minimizing in child processes (Ctrl-C keeps the smallest so far)...",
            file.display()
        );
        let small = probe::minimize(&exe, &seq, &p, budget.min(300), Duration::from_secs(2));
        let mut d = process_finding(small.clone(), &p);
        if crate::interrupt::stopped() {
            // Every candidate kept was a hang (crash) in a child: the
            // smallest so far is the finding, not lost.
            let path = corpus::save(out, &d, &format!("{found} (interrupted)"))?;
            println!(
                "minimize: INTERRUPTED; the {what} so far ({} -> {} operations) written to {}",
                seq.ops.len(),
                small.ops.len(),
                path.display()
            );
            return Ok(crate::interrupt::EXIT);
        }
        probe::describe_hang(&exe, &mut d);
        println!("{}", crate::report::text(&d));
        let Some(path) = save_new(file, out, &d, &seq, &found)? else {
            return Ok(1);
        };
        println!(
            "{what}: {} -> {} operations; written to {}",
            seq.ops.len(),
            small.ops.len(),
            path.display()
        );
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
            println!("{}", report::text(&small));
            if crate::interrupt::stopped() {
                let path = corpus::save(out, &small, &format!("{found} (interrupted)"))?;
                println!(
                    "minimize: INTERRUPTED; {} -> {} operations so far, written to {}",
                    d.sequence.ops.len(),
                    small.sequence.ops.len(),
                    path.display()
                );
                return Ok(crate::interrupt::EXIT);
            }
            let Some(path) = save_new(file, out, &small, &d.sequence, &found)? else {
                return Ok(1);
            };
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

/// Save a minimized finding `d` of `file` (whose sequence was `input`)
/// under `out`, unless it is no smaller than the input (already minimal)
/// or a reproducer with the same sequence is already there: then nothing
/// is written and that is said. The path written, if any.
fn save_new(
    file: &Path,
    out: &Path,
    d: &crate::Divergence,
    input: &crate::model::Sequence,
    found: &str,
) -> Result<Option<PathBuf>> {
    if d.sequence.ops.len() >= input.ops.len() && d.sequence.ops == input.ops {
        println!(
            "minimize: {} is already minimal ({} operations); nothing written",
            file.display(),
            input.ops.len()
        );
        return Ok(None);
    }
    if let Some(same) = corpus::find_same(out, &d.sequence) {
        println!(
            "minimize: the minimized sequence ({} operations) is already present as {}; nothing written",
            d.sequence.ops.len(),
            same.display()
        );
        return Ok(None);
    }
    corpus::save(out, d, found).map(Some)
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
    raw: bool,
) -> Result<u8> {
    let exe = std::env::current_exe()?;
    let timeout = Duration::from_secs(5);
    let mut census = Census::new();
    let mut unreadable = 0;
    let mut pairs: std::collections::HashMap<String, Pair> = Default::default();
    let files = inputs(files, raw)?;
    // Without a terminal, a status line at a fixed interval, from a
    // thread (one file's probes can take a while).
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    let (file_no, classes, finished) = (
        std::sync::Arc::new(AtomicUsize::new(0)),
        std::sync::Arc::new(AtomicUsize::new(0)),
        std::sync::Arc::new(AtomicBool::new(false)),
    );
    let status = (!crate::campaign::on_terminal()).then(|| {
        let (file_no, classes, finished) = (file_no.clone(), classes.clone(), finished.clone());
        let (n, every) = (files.len(), crate::campaign::status_every());
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut next = every;
            while !finished.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if start.elapsed() >= next {
                    next += every;
                    eprintln!(
                        "census: {:.0} s: file {} of {n}, {} class(es) so far",
                        start.elapsed().as_secs_f64(),
                        file_no.load(Relaxed),
                        classes.load(Relaxed)
                    );
                }
            }
        })
    });
    let mut done = 0;
    for (i, f) in files.iter().enumerate() {
        if crate::interrupt::stopped() {
            break;
        }
        file_no.store(i + 1, Relaxed);
        classes.store(census.classes().len(), Relaxed);
        match census_one(
            &exe,
            f,
            pinned,
            out,
            timeout,
            (i + 1) as f64,
            &mut census,
            &mut pairs,
        ) {
            Ok(true) => {}
            Ok(false) => unreadable += 1,
            Err(e) if crate::interrupt::is(&e) => break,
            Err(e) => return Err(e),
        }
        done = i + 1;
    }
    finished.store(true, Relaxed);
    if let Some(t) = status {
        let _ = t.join();
    }
    let interrupted = crate::interrupt::stopped();
    if interrupted {
        println!(
            "census: INTERRUPTED (Ctrl-C or SIGTERM) after {done} of {} file(s); the classes so far:",
            files.len()
        );
    } else {
        println!("census: {} file(s)", files.len());
    }
    print!("{}", census.table(|t| format!("file {t:.0}")));
    if let Some(path) = json {
        crate::campaign::write_json(path, &census)?;
    }
    Ok(if interrupted {
        crate::interrupt::EXIT
    } else if !census.is_empty() {
        1
    } else if unreadable > 0 {
        2
    } else {
        0
    })
}

/// One file of a census: counted in its class, or minimized and saved as
/// the first of a new one. `Ok(false)`: the file could not be read.
#[allow(clippy::too_many_arguments)]
fn census_one(
    exe: &Path,
    f: &Path,
    pinned: Option<&'static Config>,
    out: &Path,
    timeout: Duration,
    at: f64,
    census: &mut Census,
    pairs: &mut std::collections::HashMap<String, Pair>,
) -> Result<bool> {
    let exe = exe.to_path_buf();
    {
        let seq = match corpus::load_as(f, pinned) {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("{}: skipped: {e:#}", f.display());
                return Ok(false);
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
                    return Ok(true);
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
    Ok(true)
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
