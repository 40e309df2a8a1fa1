//! `segtab-diff campaign`: random sequences on both sides for a while, in
//! worker processes so a crash or hang in either side is a finding, not
//! the end of the run.
//!
//! The parent ([`run`]) starts `jobs` copies of the running executable as
//! `campaign --worker FILE ...` (the CLI's hidden worker mode, which calls
//! [`worker`]), reads their JSON progress lines, and watches for workers
//! that die or stop making progress. A worker writes the sequence it is
//! running to FILE before running it, so the parent can save and minimize
//! what a dead or hung worker was doing.

use crate::corpus;
use crate::model::Sequence;
use crate::probe::{self, Probe};
use crate::rng::SplitMix64;
use crate::run::{run as run_sequence, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use crate::{report, shrink};
use anyhow::{Context, Result};
use c_reference::Config;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a campaign runs and where its findings go.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// How long to run.
    pub seconds: u64,
    /// The configurations, and how the user named them (for the progress line).
    pub configs: Vec<&'static Config>,
    /// The `--config` argument as given.
    pub config_arg: String,
    /// Seed of the first worker (worker k uses seed + k, wrapping).
    pub seed: u64,
    /// Worker processes.
    pub jobs: u32,
    /// Where reproducers go.
    pub out: PathBuf,
    /// Seconds without progress after which a worker is declared hung.
    pub hang_secs: u64,
    /// Deep-compare every K steps.
    pub deep_every: u32,
}

/// A seed no earlier campaign is likely to have used: the process's
/// randomly keyed hasher (OS entropy) over the time and the process id.
pub fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .hash(&mut h);
    std::process::id().hash(&mut h);
    h.finish()
}

/// The seed of worker `k`.
fn worker_seed(seed: u64, k: u32) -> u64 {
    seed.wrapping_add(k as u64)
}

/// How a finding records where it came from: the command that reruns the
/// worker that found it (worker k of a campaign with seed S has seed S + k
/// and its share of the configurations).
fn found_by(seed: u64, config: &str, what: &str) -> String {
    format!("campaign --seed {seed} --config {config} --jobs 1: {what}")
}

/// One worker process: runs sequences, prints a JSON progress line about
/// every 250 ms, writes the sequence in flight to `inflight` so the parent
/// can report it if this process dies or hangs.
pub fn worker(c: &Campaign, inflight: &Path) -> Result<u8> {
    let mut pairs: Vec<Pair> = c
        .configs
        .iter()
        .map(|c| Pair::open(c.name, DEFAULT_POOL_PAGES))
        .collect::<Result<_>>()?;
    let seed = c.seed;
    let mut rng = SplitMix64(seed);
    let deadline = Instant::now() + Duration::from_secs(c.seconds);
    let mut last = Instant::now();
    let (mut seqs, mut ops) = (0u64, 0u64);
    let mut inflight_file = std::fs::File::create(inflight)?;
    let opts = CompareOpts {
        deep_every: c.deep_every,
    };
    let stdout = std::io::stdout();
    while Instant::now() < deadline {
        let k = (seqs % pairs.len() as u64) as usize;
        let len = 16 + (rng.next_u64() % 700) as usize;
        let seq = Sequence::from_bytes(&rng.bytes(len), Some(pairs[k].config));
        {
            use std::io::Seek;
            let json = serde_json::to_vec(&seq)?;
            inflight_file.set_len(0)?;
            inflight_file.rewind()?;
            inflight_file.write_all(&json)?;
        }
        let result = run_sequence(&mut pairs[k], &seq, opts);
        seqs += 1;
        ops += seq.ops.len() as u64;
        if let RunResult::Diverge(d) = result {
            let small = shrink::shrink(&mut pairs[k], &d, 5000);
            let found = found_by(seed, &c.config_arg, &format!("sequence {}", seqs - 1));
            let path = corpus::save(&c.out, &small, &found)?;
            eprintln!("found by {found}\n{}", report::text(&small));
            println!(
                "{}",
                serde_json::json!({"seqs": seqs, "ops": ops, "divergence": path})
            );
            return Ok(1);
        }
        if last.elapsed() >= Duration::from_millis(250) {
            last = Instant::now();
            let mut lock = stdout.lock();
            writeln!(lock, "{}", serde_json::json!({"seqs": seqs, "ops": ops}))?;
            lock.flush()?;
        }
    }
    println!(
        "{}",
        serde_json::json!({"seqs": seqs, "ops": ops, "done": true})
    );
    Ok(0)
}

/// A worker process as the parent sees it.
struct Worker {
    child: std::process::Child,
    rx: std::sync::mpsc::Receiver<serde_json::Value>,
    inflight: PathBuf,
    seed: u64,
    seqs: u64,
    ops: u64,
    last: Instant,
    done: bool,
    config: String,
}

/// Start worker `k` of `c.jobs` as a child of this executable.
fn spawn(c: &Campaign, k: u32, exe: &Path, scratch: &Path) -> Result<Worker> {
    let jobs = c.jobs as usize;
    // Spread configurations over workers when there are enough of them.
    let mine: Vec<&str> = if c.configs.len() >= jobs {
        c.configs
            .iter()
            .skip(k as usize)
            .step_by(jobs)
            .map(|c| c.name)
            .collect()
    } else {
        c.configs.iter().map(|c| c.name).collect()
    };
    let inflight = scratch.join(format!("inflight-{k}.json"));
    let mut child = Command::new(exe)
        .args([
            "campaign",
            "--seconds",
            &c.seconds.to_string(),
            "--config",
            &mine.join(","),
        ])
        .args([
            "--seed",
            &worker_seed(c.seed, k).to_string(),
            "--deep-every",
            &c.deep_every.to_string(),
        ])
        .arg("--out")
        .arg(&c.out)
        .arg("--worker")
        .arg(&inflight)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a worker")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    Ok(Worker {
        child,
        rx,
        inflight,
        seed: worker_seed(c.seed, k),
        seqs: 0,
        ops: 0,
        last: Instant::now(),
        done: false,
        config: mine.join(","),
    })
}

/// Run a campaign in `c.jobs` worker processes with a progress bar.
/// Exit code 0: no divergence; 1: a divergence, crash or hang (reproducers
/// saved under `c.out` and printed).
pub fn run(c: &Campaign) -> Result<u8> {
    // First, before anything can fail: the seed that replays this run.
    println!("campaign: seed {} (rerun with --seed {})", c.seed, c.seed);
    let exe = std::env::current_exe()?;
    let scratch = std::env::temp_dir().join(format!("segtab-diff-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut workers = (0..c.jobs)
        .map(|k| spawn(c, k, &exe, &scratch))
        .collect::<Result<Vec<_>>>()?;
    let seconds = c.seconds;
    let out = &c.out;
    let hang_secs = c.hang_secs;
    let bar = indicatif::ProgressBar::new(seconds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    let start = Instant::now();
    let mut found: Vec<String> = Vec::new();
    let mut exit = 0u8;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        for w in workers.iter_mut().filter(|w| !w.done) {
            while let Ok(v) = w.rx.try_recv() {
                w.seqs = v["seqs"].as_u64().unwrap_or(w.seqs);
                w.ops = v["ops"].as_u64().unwrap_or(w.ops);
                w.last = Instant::now();
                if let Some(p) = v["divergence"].as_str() {
                    found.push(p.to_string());
                }
            }
            if let Some(status) = w.child.try_wait()? {
                while let Ok(v) = w.rx.try_recv() {
                    if let Some(p) = v["divergence"].as_str() {
                        found.push(p.to_string());
                    }
                }
                w.done = true;
                match status.code() {
                    Some(0) => {}
                    Some(1) => exit = 1,
                    _ => {
                        // Died (a crash in the C or the port): the sequence in
                        // flight is the finding.
                        exit = 1;
                        let what = format!("crash ({status})");
                        let by = found_by(w.seed, &w.config, &what);
                        let p = save_inflight(&w.inflight, out, &what, &by)?;
                        eprintln!("segtab-diff: a worker on {} died ({status}); sequence in flight saved to {} (found by {by})", w.config, p.display());
                        found.push(p.display().to_string());
                    }
                }
            } else if w.last.elapsed() > Duration::from_secs(hang_secs) {
                let _ = w.child.kill();
                let _ = w.child.wait();
                w.done = true;
                exit = 1;
                let by = found_by(w.seed, &w.config, "hang");
                let p = save_inflight(&w.inflight, out, "hang", &by)?;
                eprintln!("segtab-diff: a worker on {} made no progress for {hang_secs}s (hang); sequence in flight saved to {} (found by {by})", w.config, p.display());
                found.push(p.display().to_string());
            }
        }
        let (seqs, ops): (u64, u64) = workers
            .iter()
            .fold((0, 0), |a, w| (a.0 + w.seqs, a.1 + w.ops));
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        bar.set_position(start.elapsed().as_secs().min(seconds));
        bar.set_message(format!(
            "{:.0} ops/s, {seqs} sequences, {} configurations ({}), {} divergences",
            ops as f64 / secs,
            c.configs.len(),
            c.config_arg,
            found.len()
        ));
        if !found.is_empty() {
            for w in workers.iter_mut().filter(|w| !w.done) {
                let _ = w.child.kill();
                let _ = w.child.wait();
                w.done = true;
            }
        }
        if workers.iter().all(|w| w.done) {
            break;
        }
    }
    bar.finish();
    let _ = std::fs::remove_dir_all(&scratch);
    let (seqs, ops): (u64, u64) = workers
        .iter()
        .fold((0, 0), |a, w| (a.0 + w.seqs, a.1 + w.ops));
    println!(
        "campaign: {seqs} sequences, {ops} operations in {:.1}s ({:.0} ops/s) over {} configuration(s), {} worker(s), seed {}: {}",
        start.elapsed().as_secs_f64(),
        ops as f64 / start.elapsed().as_secs_f64(),
        c.configs.len(),
        c.jobs,
        c.seed,
        if found.is_empty() { "no divergence".to_string() } else { format!("{} divergence(s)", found.len()) }
    );
    for f in &found {
        println!("reproducer: {f}");
    }
    Ok(exit)
}

/// Save the sequence a dead or hung worker was running, minimized in
/// child processes so the crash or hang itself cannot take us down.
/// `found` says where it came from.
fn save_inflight(inflight: &Path, out: &Path, what: &str, found: &str) -> Result<PathBuf> {
    let bytes = std::fs::read(inflight).unwrap_or_default();
    let seq: Sequence =
        serde_json::from_slice(&bytes).context("the worker left no readable sequence in flight")?;
    let exe = std::env::current_exe()?;
    let timeout = Duration::from_secs(2);
    let seq = match probe::probe(&exe, &seq, timeout)? {
        p @ (Probe::Crash(_) | Probe::Hang) => {
            eprintln!(
                "segtab-diff: minimizing the {what} in child processes ({} operations)...",
                seq.ops.len()
            );
            let small = probe::minimize(&exe, &seq, &p, 150, timeout);
            eprintln!(
                "segtab-diff: {} -> {} operations",
                seq.ops.len(),
                small.ops.len()
            );
            small
        }
        // Not reproducible in isolation: keep it as it was.
        _ => seq,
    };
    let d = crate::Divergence {
        sequence: seq,
        step: 0,
        trace: Vec::new(),
        schedules: Vec::new(),
        diffs: vec![crate::compare::FieldDiff {
            category: if what.starts_with("hang") {
                "hang".into()
            } else {
                "crash".into()
            },
            field: "process".into(),
            c: what.into(),
            rust: String::new(),
        }],
    };
    corpus::save(out, &d, found)
}
