//! Judging mutants of a mutant schema: one child process per mutant, the
//! schema's `segtab-diff judge-mutant`, which selects the mutant and runs
//! the differential campaign on the configurations where its code differs
//! until the first divergence, or its share of the budget.
//!
//! The child runs the directed sequences of [`crate::scenarios`] first
//! (the races and activations random sequences reach rarely), then the
//! seed corpus (`corpus/diff/`, the inputs chosen to reach every operation
//! and outcome), then random sequences from a seed derived from the
//! mutant's id, never from certify's `--seed`: what a
//! mutant is judged on does not depend on the seed of the run, so two runs
//! give the same table. The parent reads its progress lines: a child that
//! prints nothing for the hang time is hung (caught: the mutant hangs a
//! side, which the campaign would report as a finding), one that dies
//! without a verdict crashed (caught likewise).

use crate::corpus;
use crate::model::Sequence;
use crate::rng::SplitMix64;
use crate::run::{run as run_sequence, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use anyhow::{Context, Result};
use c_reference::Config;
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The seed a mutant is judged with: a hash of its id.
pub fn seed_of(id: &str) -> u64 {
    corpus::fnv1a(id.as_bytes())
}

/// The child: select `mutant`, run `configs` for at most `seconds`. Prints
/// a JSON progress line at least every 100 ms, and one final line: exit 1
/// with `caught` (the divergence's class), or 0 with `survived`.
pub fn child(mutant: u32, configs: &[&'static Config], seconds: f64, seed: u64) -> Result<u8> {
    c_reference::select_mutant(mutant);
    let mut pairs: Vec<Pair> = configs
        .iter()
        .map(|c| Pair::open(c.name, DEFAULT_POOL_PAGES))
        .collect::<Result<_>>()?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let opts = CompareOpts::default();
    let stdout = std::io::stdout();
    let mut last = Instant::now();
    let (mut seqs, mut ops) = (0u64, 0u64);
    // The seed corpus, in name order, each input on its own configuration
    // when that is one of ours.
    let seeds: Vec<Vec<u8>> = std::env::current_dir()
        .ok()
        .and_then(|d| corpus::repository(&d))
        .map(|root| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("corpus/diff"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
        })
        .unwrap_or_default();
    // First the directed sequences on every configuration, then the seed
    // corpus (each input's operations on every configuration in turn:
    // operations are symbolic, resolved per configuration), then random.
    let mut directed = pairs
        .iter()
        .enumerate()
        .flat_map(|(k, p)| {
            crate::scenarios::all(p.config.name)
                .into_iter()
                .map(move |(_, s)| (k, s))
        })
        .collect::<Vec<_>>()
        .into_iter();
    let mut seed_iter = seeds.iter().enumerate();
    let mut rng = SplitMix64(seed);
    while Instant::now() < deadline {
        let next = directed.next().or_else(|| {
            seed_iter.next().map(|(i, bytes)| {
                let k = i % pairs.len();
                let mut seq = Sequence::from_bytes(bytes, None);
                seq.config = pairs[k].config.name.to_string();
                (k, seq)
            })
        });
        let (k, seq) = match next {
            Some(x) => x,
            None => {
                let k = (seqs % pairs.len() as u64) as usize;
                let len = 16 + (rng.next_u64() % 700) as usize;
                (
                    k,
                    Sequence::from_bytes(&rng.bytes(len), Some(pairs[k].config)),
                )
            }
        };
        let result = run_sequence(&mut pairs[k], &seq, opts);
        seqs += 1;
        ops += seq.ops.len() as u64;
        if let RunResult::Diverge(d) = result {
            let mut lock = stdout.lock();
            writeln!(
                lock,
                "{}",
                serde_json::json!({"caught": d.class(), "config": seq.config, "step": d.step,
                    "seqs": seqs, "ops": ops, "at": start.elapsed().as_secs_f64()})
            )?;
            lock.flush()?;
            return Ok(1);
        }
        if last.elapsed() >= Duration::from_millis(100) {
            last = Instant::now();
            let mut lock = stdout.lock();
            writeln!(lock, "{}", serde_json::json!({"seqs": seqs, "ops": ops}))?;
            lock.flush()?;
        }
    }
    println!(
        "{}",
        serde_json::json!({"survived": true, "seqs": seqs, "ops": ops,
            "at": start.elapsed().as_secs_f64()})
    );
    Ok(0)
}

/// One mutant to judge.
#[derive(Clone, Debug)]
pub struct Job {
    /// Its number in the schema.
    pub number: u32,
    /// Its id (for the seed).
    pub id: String,
    /// Where its code differs.
    pub configs: Vec<&'static Config>,
}

/// How a judged mutant ended.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Verdict {
    /// Caught (a divergence, crash or hang).
    pub caught: bool,
    /// `divergence`, `crash`, `hang`, `survived` or `error`.
    pub how: &'static str,
    /// The divergence's class, the crash's last words, ...
    pub detail: String,
    /// Seconds from the child's start to the verdict (time to kill).
    pub seconds: f64,
    /// Sequences and operations it ran.
    pub seqs: u64,
    /// Operations.
    pub ops: u64,
}

/// How to run the children.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The schema build of the tool.
    pub exe: PathBuf,
    /// The checkout (the children run there, for the seed corpus).
    pub root: PathBuf,
    /// Each mutant's share, seconds.
    pub share: f64,
    /// Seconds without a progress line that make a hang.
    pub hang: f64,
    /// Children at once.
    pub parallel: usize,
}

/// Judge one mutant in a child.
pub fn judge(s: &Settings, job: &Job) -> Result<Verdict> {
    let names: Vec<&str> = job.configs.iter().map(|c| c.name).collect();
    let t = Instant::now();
    let mut child = Command::new(&s.exe)
        .arg("judge-mutant")
        .args(["--mutant", &job.number.to_string()])
        .args(["--config", &names.join(",")])
        .args(["--seconds", &format!("{}", s.share)])
        .args(["--seed", &seed_of(&job.id).to_string()])
        .current_dir(&s.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", s.exe.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (mut seqs, mut ops) = (0u64, 0u64);
    let mut last: Option<serde_json::Value> = None;
    let hang = Duration::from_secs_f64(s.hang);
    // A child past its share by this much is stuck somewhere that still
    // prints (it never should be).
    let limit = Duration::from_secs_f64(s.share + 30.0 + s.hang);
    let mut hung = false;
    let mut stopped = false;
    let mut quiet = Duration::ZERO;
    let tick = Duration::from_millis(100).min(hang);
    loop {
        if crate::interrupt::stopped() {
            // Ctrl-C or SIGTERM: the child goes, the mutant is not judged.
            stopped = true;
            break;
        }
        match rx.recv_timeout(tick) {
            Ok(v) => {
                quiet = Duration::ZERO;
                seqs = v["seqs"].as_u64().unwrap_or(seqs);
                ops = v["ops"].as_u64().unwrap_or(ops);
                if v.get("caught").is_some() || v.get("survived").is_some() {
                    last = Some(v);
                }
                if t.elapsed() > limit {
                    hung = true;
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                quiet += tick;
                if quiet >= hang {
                    hung = true;
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    if hung || stopped {
        let _ = child.kill();
    }
    let status = child.wait()?;
    if stopped || crate::interrupt::child_was_stopped(&status) {
        let _ = reader.join();
        let _ = err_reader.join();
        return Err(crate::interrupt::Interrupted.into());
    }
    let _ = reader.join();
    let err = err_reader.join().unwrap_or_default();
    let last_words = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    let v = |how, caught, detail: String, seconds| Verdict {
        caught,
        how,
        detail,
        seconds,
        seqs,
        ops,
    };
    if hung {
        return Ok(v(
            "hang",
            true,
            format!(
                "no progress for {:.0} s after {seqs} sequences (a side hangs)",
                s.hang
            ),
            seconds - s.hang,
        ));
    }
    Ok(match (status.code(), last) {
        (Some(1), Some(l)) if l.get("caught").is_some() => v(
            "divergence",
            true,
            format!(
                "{} ({}, step {})",
                l["caught"].as_str().unwrap_or(""),
                l["config"].as_str().unwrap_or(""),
                l["step"]
            ),
            l["at"].as_f64().unwrap_or(seconds),
        ),
        (Some(0), Some(l)) if l.get("survived").is_some() => v(
            "survived",
            false,
            format!("{seqs} sequences, {ops} operations in {:.1} s", s.share),
            l["at"].as_f64().unwrap_or(seconds),
        ),
        (Some(2), _) => v(
            "error",
            false,
            format!("the judge could not run: {last_words}"),
            seconds,
        ),
        (code, _) => v(
            "crash",
            true,
            format!(
                "the process died ({}) after {seqs} sequences: {last_words}",
                match code {
                    Some(c) => format!("exit {c}"),
                    None => signal_name(&status),
                }
            ),
            seconds,
        ),
    })
}

#[cfg(unix)]
fn signal_name(st: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match st.signal() {
        Some(n) => format!("signal {n}"),
        None => "no exit code".into(),
    }
}

#[cfg(not(unix))]
fn signal_name(_: &std::process::ExitStatus) -> String {
    "no exit code".into()
}

/// Judge every job, `s.parallel` at a time; `done(i, verdict)` is called
/// as each ends. Results in job order.
pub fn judge_all(
    s: &Settings,
    jobs: &[Job],
    done: &(dyn Fn(usize, &Verdict) + Sync),
) -> Result<Vec<Verdict>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<Verdict>>> =
        std::sync::Mutex::new(vec![None; jobs.len()]);
    let failed: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
    std::thread::scope(|sc| {
        for _ in 0..s.parallel.max(1) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if failed.lock().unwrap().is_some() {
                    break;
                }
                match judge(s, job) {
                    Ok(v) => {
                        done(i, &v);
                        results.lock().unwrap()[i] = Some(v);
                    }
                    Err(e) => {
                        *failed.lock().unwrap() = Some(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap() {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|v| v.expect("every job judged"))
        .collect())
}

/// The schema build of the tool: `cargo build` with the schema as the C,
/// only `configs`, into `target`. Returns the binary.
pub fn build(
    root: &Path,
    schema: &Path,
    target: &Path,
    configs: &[&'static Config],
    log: &Path,
) -> Result<PathBuf> {
    let names: Vec<&str> = configs.iter().map(|c| c.name).collect();
    let status = crate::rebuild::status_stoppable(
        crate::rebuild::cargo_build(root, schema, target)
            .env("SEGTAB_CONFIGS", names.join(","))
            .stdout(std::fs::File::create(log)?)
            .stderr(std::fs::File::create(log.with_extension("err"))?),
    )
    .context("running cargo for the mutant schema")?;
    if !status.success() {
        let err = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("error") || l.contains("missing interface"))
            .take(8)
            .collect();
        anyhow::bail!(
            "the mutant schema did not build (a bug of the schema generator; log {}):\n{}",
            log.with_extension("err").display(),
            lines.join("\n")
        );
    }
    Ok(target.join("release/segtab-diff"))
}
