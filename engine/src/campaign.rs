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
//!
//! A hang is a finding in seconds: a watchdog thread in each worker
//! ([`watch`]) reports a step that has not returned for [`suspect`] (1 s,
//! about a thousand times the slowest step of a campaign), naming the step.
//! The parent then kills the worker and confirms the hang in a child
//! process that runs the sequence up to that step with a timeout of
//! [`CONFIRM_HANG`]; only a child that hangs too makes a finding, so a
//! worker that was merely slow (a loaded machine) is restarted, never
//! reported. `--hang-secs` remains as the limit for a worker that shows no
//! sign of life at all.

use crate::census::{Census, ClassKey};
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
    /// Run for the whole budget and group every divergence into classes
    /// (see [`crate::census`]) instead of stopping at the first.
    pub census: bool,
    /// Where a census writes its classes as JSON.
    pub json: Option<PathBuf>,
    /// The executable workers run [default: this one]. `certify` runs the
    /// workers from a build whose C is instrumented for coverage.
    pub worker_exe: Option<PathBuf>,
    /// Workers report the outcome classes their steps reach (see
    /// [`crate::certify::outcomes`]).
    pub outcomes: bool,
    /// Print the seed, summary and reproducer lines on stderr, leaving
    /// stdout to the caller (certify's one-line verdict).
    pub summary_to_stderr: bool,
}

/// How a campaign schedules the CPUs of its concurrent steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sched {
    /// The `schedule` bits each generated step carries (uniform bits: any
    /// interleaving, few with long runs of one CPU).
    #[default]
    Bits,
    /// PCT of this depth (see `run::PctState`): found bugs are saved with
    /// the bits PCT took, so they replay without it.
    Pct {
        /// The bug depth d targeted (d - 1 priority change points).
        depth: u32,
    },
}

/// What a campaign reached, for `certify`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    /// 0: no divergence; 1: a divergence, crash or hang; 130: stopped by
    /// Ctrl-C or SIGTERM (what was found before is in `found`).
    pub exit: u8,
    /// Sequences and operations run.
    pub seqs: u64,
    /// Operations run.
    pub ops: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Reproducers written.
    pub found: Vec<String>,
    /// Outcome features reached (`config feature`), with when each was
    /// first seen (seconds).
    pub outcomes: std::collections::BTreeMap<String, f64>,
    /// About once a second: (seconds, operations so far, outcome features
    /// so far).
    pub timeline: Vec<(f64, u64, usize)>,
}

/// How long one step may run before the worker's watchdog reports it as a
/// suspected hang: 1 s, or `SEGTAB_SUSPECT_MS` milliseconds. A step takes
/// microseconds to a few milliseconds (the largest deep pass of a
/// fuzzing-sized world), so this is far beyond the slowest step seen; the
/// confirmation in a child ([`CONFIRM_HANG`]) keeps a slow machine from
/// making a false finding.
pub fn suspect() -> Duration {
    std::env::var("SEGTAB_SUSPECT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

/// The timeout of the child that confirms a suspected hang, running the
/// sequence up to the suspected step alone: healthy, that takes
/// milliseconds.
pub const CONFIRM_HANG: Duration = Duration::from_secs(3);

/// The worker's watchdog: every `tick`, reads `progress` (steps begun,
/// steps ended, index of the last step begun) and calls `stuck` with the
/// step's index and how long it has run, once per step, when a step has
/// been running for `suspect` without another beginning. Returns when
/// `stop` says so (checked every tick).
pub fn watch(
    progress: impl Fn() -> (u64, u64, u64),
    suspect: Duration,
    tick: Duration,
    mut stuck: impl FnMut(u64, Duration),
    stop: impl Fn() -> bool,
) {
    let (mut seen, mut since, mut told) = (u64::MAX, Instant::now(), u64::MAX);
    while !stop() {
        std::thread::sleep(tick);
        let (begun, ended, index) = progress();
        if begun != seen {
            (seen, since) = (begun, Instant::now());
        }
        // Checked on the tick that first sees a step too, so a limit of
        // zero suspects every step caught running, however fast the
        // machine (a step shorter than a tick is never seen twice).
        if begun != ended && told != begun && since.elapsed() >= suspect {
            told = begun;
            stuck(index, since.elapsed());
        }
    }
}

/// Shrinking runs per finding.
pub const SHRINK_BUDGET: usize = 5000;

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
    worker_with(c, Sched::Bits, inflight)
}

/// [`worker`] with concurrent steps scheduled by `sched`.
pub fn worker_with(c: &Campaign, sched: Sched, inflight: &Path) -> Result<u8> {
    let mut pairs: Vec<Pair> = c
        .configs
        .iter()
        .map(|c| Pair::open(c.name, DEFAULT_POOL_PAGES))
        .collect::<Result<_>>()?;
    let seed = c.seed;
    if let Sched::Pct { depth } = sched {
        // PCT's draws come from the worker's seed too (one stream per
        // configuration), so `--seed` reruns them.
        for (k, p) in pairs.iter_mut().enumerate() {
            let s = seed ^ (k as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03);
            p.pct = Some(crate::run::PctState::new(depth, s));
        }
    }
    // (points, steps) of the PCT steps run so far, for the summary's n.
    let pct_totals = |pairs: &[Pair]| {
        pairs
            .iter()
            .filter_map(|p| p.pct.as_ref())
            .fold((0u64, 0u64), |a, p| (a.0 + p.points, a.1 + p.steps))
    };
    let mut rng = SplitMix64(seed);
    // --seconds 0: no deadline (until a finding, or until the parent stops it).
    let deadline = (c.seconds > 0).then(|| Instant::now() + Duration::from_secs(c.seconds));
    let mut last = Instant::now();
    let (mut seqs, mut ops) = (0u64, 0u64);
    let mut inflight_file = std::fs::File::create(inflight)?;
    let opts = CompareOpts {
        deep_every: c.deep_every,
    };
    let stdout = std::io::stdout();
    // The watchdog: a step that does not return is reported while it runs
    // (the parent kills this process and confirms the hang).
    std::thread::spawn(|| {
        use crate::run::progress::{BEGUN, ENDED, INDEX};
        use std::sync::atomic::Ordering::Relaxed;
        watch(
            || {
                (
                    BEGUN.load(Relaxed),
                    ENDED.load(Relaxed),
                    INDEX.load(Relaxed),
                )
            },
            suspect(),
            (suspect() / 4).clamp(Duration::from_millis(1), Duration::from_millis(50)),
            |step, ran| {
                let mut lock = std::io::stdout().lock();
                let _ = writeln!(
                    lock,
                    "{}",
                    serde_json::json!({"stuck": step, "secs": ran.as_secs_f64()})
                );
                let _ = lock.flush();
            },
            || false,
        )
    });
    let start = Instant::now();
    // Census: classes this worker has minimized, and findings of known
    // classes since the last progress line, per (class, configuration).
    let mut known: std::collections::HashSet<ClassKey> = Default::default();
    let mut counts: std::collections::BTreeMap<(ClassKey, &str), u64> = Default::default();
    // Outcome features reached, and those not yet reported.
    let mut reached: std::collections::HashSet<String> = Default::default();
    let mut fresh: Vec<String> = Vec::new();
    while deadline.map_or(true, |d| Instant::now() < d) {
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
        let result = if c.outcomes {
            let config = pairs[k].config;
            crate::run::run_observed(&mut pairs[k], &seq, opts, |a, e, ev, t| {
                for f in crate::certify::outcomes::features(config, a, e, ev, t) {
                    if !reached.contains(&f) {
                        reached.insert(f.clone());
                        fresh.push(f);
                    }
                }
            })
        } else {
            run_sequence(&mut pairs[k], &seq, opts)
        };
        seqs += 1;
        ops += seq.ops.len() as u64;
        if let (RunResult::Diverge(d), true) = (&result, c.census) {
            let key = ClassKey::of(d);
            if known.contains(&key) {
                *counts.entry((key, pairs[k].config.name)).or_default() += 1;
            } else {
                known.insert(key.clone());
                // Shrinking re-runs the sequence as run (its schedules are
                // the bits PCT took): with the bits, not fresh PCT draws.
                let pct = pairs[k].pct.take();
                let small = crate::census::minimized(&mut pairs[k], d, &key, SHRINK_BUDGET);
                pairs[k].pct = pct;
                let found = found_by(seed, &c.config_arg, &format!("sequence {}", seqs - 1));
                let path = corpus::save(&c.out, &small, &found)?;
                // Does it diverge alone, in a fresh process?
                let alone = std::env::current_exe()
                    .ok()
                    .and_then(|exe| {
                        probe::probe(&exe, &small.sequence, Duration::from_secs(5)).ok()
                    })
                    .map(|p| p != Probe::Agree);
                let mut lock = stdout.lock();
                writeln!(
                    lock,
                    "{}",
                    serde_json::json!({
                        "seqs": seqs, "ops": ops, "new_class": key, "divergence": small,
                        "path": path, "at": start.elapsed().as_secs_f64(), "alone": alone,
                    })
                )?;
                lock.flush()?;
            }
        } else if let RunResult::Diverge(d) = result {
            pairs[k].pct = None;
            let small = shrink::shrink(&mut pairs[k], &d, SHRINK_BUDGET);
            let small = reproducible(pairs[k].config.name, small, *d);
            let found = found_by(seed, &c.config_arg, &format!("sequence {}", seqs - 1));
            let path = corpus::save(&c.out, &small, &found)?;
            eprintln!("found by {found}\n{}", report::text(&small));
            println!(
                "{}",
                serde_json::json!({"seqs": seqs, "ops": ops, "divergence": path,
                    "pct": pct_totals(&pairs)})
            );
            return Ok(1);
        }
        if last.elapsed() >= Duration::from_millis(250) {
            last = Instant::now();
            let mut lock = stdout.lock();
            writeln!(
                lock,
                "{}",
                serde_json::json!({"seqs": seqs, "ops": ops, "counts": count_list(&mut counts),
                    "outcomes": std::mem::take(&mut fresh), "pct": pct_totals(&pairs)})
            )?;
            lock.flush()?;
        }
    }
    println!(
        "{}",
        serde_json::json!({"seqs": seqs, "ops": ops, "counts": count_list(&mut counts),
            "outcomes": fresh, "done": true, "pct": pct_totals(&pairs)})
    );
    Ok(0)
}

/// What a reproducer must do: diverge in a world that ran nothing before
/// it, as `replay` and the `#[test]` run it. The worker found and shrank
/// the divergence in a world it resets between sequences; a divergence that
/// needs what an earlier sequence left would be a reproducer that agrees
/// when replayed. The minimized sequence is run in a fresh world; if it
/// agrees there, the sequence as found is kept when it diverges fresh, and
/// either way the campaign says so (an incomplete reset is a harness bug).
fn reproducible(
    config: &str,
    small: crate::Divergence,
    found: crate::Divergence,
) -> crate::Divergence {
    let fresh = |seq: &crate::Sequence| {
        Pair::open(config, DEFAULT_POOL_PAGES)
            .map(|mut p| {
                matches!(
                    run_sequence(&mut p, seq, CompareOpts::default()),
                    RunResult::Diverge(_)
                )
            })
            .unwrap_or(true)
    };
    if fresh(&small.sequence) {
        return small;
    }
    if fresh(&found.sequence) {
        eprintln!(
            "segtab-diff: warning: the minimized sequence ({} operations) agrees in a fresh world; \
             keeping the sequence as found ({} operations), which diverges there. The world's reset \
             missed some state: please report it.",
            small.sequence.ops.len(),
            found.sequence.ops.len()
        );
        return found;
    }
    eprintln!(
        "segtab-diff: warning: this divergence does not reproduce in a fresh world (it needs what \
         earlier sequences left); the reproducer may agree when replayed. Please report it."
    );
    small
}

/// The census counts since the last progress line, as
/// `[[class, configuration, n], ...]`, and none left.
fn count_list(
    counts: &mut std::collections::BTreeMap<(ClassKey, &str), u64>,
) -> Vec<serde_json::Value> {
    std::mem::take(counts)
        .into_iter()
        .map(|((key, config), n)| serde_json::json!([key, config, n]))
        .collect()
}

/// A worker process as the parent sees it.
struct Worker {
    child: std::process::Child,
    rx: std::sync::mpsc::Receiver<serde_json::Value>,
    inflight: PathBuf,
    k: u32,
    seed: u64,
    seqs: u64,
    ops: u64,
    last: Instant,
    done: bool,
    config: String,
    /// The step its watchdog reported as not returning.
    stuck: Option<u64>,
    /// PCT (points, steps) the worker reported last.
    pct: (u64, u64),
}

impl Drop for Worker {
    /// A worker never outlives the campaign, whatever way it ends (an
    /// error, Ctrl-C).
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The campaign's scratch directory (the workers' sequences in flight),
/// removed however the campaign ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How often a campaign, a census or certify prints a plain status line
/// when stderr is not a terminal (CI logs, `| tee`): 10 s, or
/// `SEGTAB_STATUS_SECS`.
pub fn status_every() -> Duration {
    std::env::var("SEGTAB_STATUS_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(Duration::from_secs(10), Duration::from_secs_f64)
}

/// Whether progress is drawn as bars (stderr is a terminal) rather than
/// printed as plain status lines.
pub fn on_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Start worker `k` of `c.jobs` as a child of this executable, with
/// `seed` for `seconds`.
fn spawn(
    c: &Campaign,
    sched: Sched,
    k: u32,
    seed: u64,
    seconds: u64,
    exe: &Path,
    scratch: &Path,
) -> Result<Worker> {
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
    let exe = c.worker_exe.as_deref().unwrap_or(exe);
    let mut child = Command::new(exe)
        .args([
            "campaign",
            "--seconds",
            &seconds.to_string(),
            "--config",
            &mine.join(","),
        ])
        .args([
            "--seed",
            &seed.to_string(),
            "--deep-every",
            &c.deep_every.to_string(),
        ])
        .args(c.census.then_some("--census"))
        .args(c.outcomes.then_some("--outcomes"))
        .args(match sched {
            Sched::Bits => Vec::new(),
            Sched::Pct { depth } => vec![
                "--scheduler".to_string(),
                "pct".into(),
                "--pct-depth".into(),
                depth.to_string(),
            ],
        })
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
        k,
        seed,
        seqs: 0,
        ops: 0,
        last: Instant::now(),
        done: false,
        config: mine.join(","),
        stuck: None,
        pct: (0, 0),
    })
}

/// Run a campaign in `c.jobs` worker processes with a progress bar.
/// Exit code 0: no divergence; 1: a divergence, crash or hang (reproducers
/// saved under `c.out` and printed). A census runs for the whole budget,
/// restarting a worker that crashed or hung with a fresh seed, and prints
/// its classes.
pub fn run(c: &Campaign) -> Result<u8> {
    Ok(run_stats(c)?.exit)
}

/// [`run`] with concurrent steps scheduled by `sched`.
pub fn run_with(c: &Campaign, sched: Sched) -> Result<u8> {
    Ok(run_stats_with(c, sched)?.exit)
}

/// [`run`], returning what the campaign reached.
pub fn run_stats(c: &Campaign) -> Result<Stats> {
    run_stats_with(c, Sched::Bits)
}

/// [`run_stats`] with concurrent steps scheduled by `sched`.
pub fn run_stats_with(c: &Campaign, sched: Sched) -> Result<Stats> {
    // First, before anything can fail: the seed that replays this run.
    let say = |line: String| {
        if c.summary_to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "campaign: seed {} (rerun with --seed {})",
        c.seed, c.seed
    ));
    let exe = std::env::current_exe()?;
    let scratch = Scratch(std::env::temp_dir().join(format!("segtab-diff-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let scratch = &scratch.0;
    let mut workers = (0..c.jobs)
        .map(|k| {
            spawn(
                c,
                sched,
                k,
                worker_seed(c.seed, k),
                c.seconds,
                &exe,
                scratch,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let seconds = c.seconds;
    let out = &c.out;
    let hang_secs = c.hang_secs;
    // --seconds 0: until a finding or Ctrl-C, with a spinner.
    let bar = if seconds == 0 {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    } else {
        let b = indicatif::ProgressBar::new(seconds);
        b.set_style(
            indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}")
                .unwrap()
                .progress_chars("=> "),
        );
        b
    };
    let plain = !on_terminal();
    let every = status_every();
    let mut next_status = every;
    let mut interrupted = false;

    let start = Instant::now();
    let mut found: Vec<String> = Vec::new();
    let mut census = Census::new();
    // Sequences and operations of workers that have been replaced.
    let (mut past_seqs, mut past_ops) = (0u64, 0u64);
    let mut restarts = 0u32;
    // PCT (points, steps) of workers that have been replaced.
    let mut past_pct = (0u64, 0u64);
    let mut exit = 0u8;
    let mut stats = Stats::default();
    let mut next_sample = 0.0f64;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if crate::interrupt::stopped() {
            interrupted = true;
            break;
        }
        let now = start.elapsed().as_secs_f64();
        let mut replace = Vec::new();
        for (i, w) in workers.iter_mut().enumerate().filter(|(_, w)| !w.done) {
            let mut take = |v: serde_json::Value, w: &mut Worker| -> Result<()> {
                w.seqs = v["seqs"].as_u64().unwrap_or(w.seqs);
                w.ops = v["ops"].as_u64().unwrap_or(w.ops);
                if let (Some(p), Some(n)) = (v["pct"][0].as_u64(), v["pct"][1].as_u64()) {
                    w.pct = (p, n);
                }
                w.last = Instant::now();
                if let Some(step) = v["stuck"].as_u64() {
                    w.stuck = Some(step);
                }
                if let Some(p) = v["divergence"].as_str() {
                    found.push(p.to_string());
                }
                for o in v["outcomes"].as_array().into_iter().flatten() {
                    if let Some(o) = o.as_str() {
                        stats.outcomes.entry(o.to_string()).or_insert(now);
                    }
                }
                note_census(&mut census, &v, now)?;
                Ok(())
            };
            while let Ok(v) = w.rx.try_recv() {
                take(v, w)?;
            }
            let died = if let Some(status) = w.child.try_wait()? {
                while let Ok(v) = w.rx.try_recv() {
                    take(v, w)?;
                }
                w.done = true;
                match status.code() {
                    Some(0) => None,
                    Some(1) => {
                        exit = 1;
                        None
                    }
                    // Stopped from outside (Ctrl-C reaches the whole
                    // process group): the campaign stops, no finding.
                    _ if crate::interrupt::child_was_stopped(&status) => None,
                    // Died (a crash in the C or the port): the sequence in
                    // flight is the finding.
                    _ => Some(format!("crash ({status})")),
                }
            } else if w.stuck.is_some() || w.last.elapsed() > Duration::from_secs(hang_secs) {
                let _ = w.child.kill();
                let _ = w.child.wait();
                w.done = true;
                Some("hang".to_string())
            } else {
                None
            };
            if let Some(what) = died {
                // The work the worker did before: the steps of the
                // sequence in flight up to the one that hung (its progress
                // lines count whole sequences only).
                if let Some(step) = w.stuck {
                    w.seqs += 1;
                    w.ops += step + 1;
                }
                if !c.census && !found.is_empty() {
                    // The campaign stops at its first finding: the other
                    // workers are being stopped, not examined.
                    continue;
                }
                let by = found_by(w.seed, &w.config, &what);
                let how = match (what.as_str(), w.stuck) {
                    ("hang", Some(step)) => format!(
                        "hung in step {step} (no return for {:.1}s, confirmed in a child)",
                        suspect().as_secs_f64()
                    ),
                    ("hang", None) => format!("made no progress for {hang_secs}s (hang)"),
                    _ => format!("died ({what})"),
                };
                let saved = save_inflight(&w.inflight, out, &what, &by, w.stuck, |p| {
                    eprintln!(
                        "segtab-diff: a worker on {} {how}; sequence saved to {} (found by {by}), minimizing...",
                        w.config,
                        p.display()
                    )
                });
                let saved = match saved {
                    // Ctrl-C while confirming: no finding was saved yet.
                    Err(e) if crate::interrupt::is(&e) => {
                        interrupted = true;
                        break;
                    }
                    r => r?,
                };
                let Some((d, p)) = saved else {
                    // A suspected hang the child did not confirm: a slow
                    // step, not a finding. The worker goes on, fresh.
                    eprintln!(
                        "segtab-diff: a worker on {} was suspected of a hang in step {:?}, which \
                         a child did not confirm; restarting it",
                        w.config, w.stuck
                    );
                    replace.push(i);
                    continue;
                };
                exit = 1;
                if c.census {
                    census.record(ClassKey::of(&d), d, Some(p), now);
                    replace.push(i);
                } else {
                    found.push(p.display().to_string());
                }
            }
        }
        // A census goes on: a fresh worker (new seed: the old one would
        // meet the same crash) for the time that is left.
        if interrupted {
            break;
        }
        let left = seconds.saturating_sub(start.elapsed().as_secs());
        for i in replace {
            if left == 0 && seconds != 0 {
                continue;
            }
            restarts += 1;
            let k = workers[i].k;
            let seed = worker_seed(c.seed, k + restarts * c.jobs);
            past_seqs += workers[i].seqs;
            past_ops += workers[i].ops;
            past_pct.0 += workers[i].pct.0;
            past_pct.1 += workers[i].pct.1;
            workers[i] = spawn(c, sched, k, seed, left, &exe, scratch)?;
        }
        let (seqs, ops) = workers
            .iter()
            .fold((past_seqs, past_ops), |a, w| (a.0 + w.seqs, a.1 + w.ops));
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        if secs >= next_sample {
            next_sample = secs.floor() + 1.0;
            stats.timeline.push((secs, ops, stats.outcomes.len()));
        }
        bar.set_position(start.elapsed().as_secs().min(seconds));
        let findings = if c.census {
            format!("{} classes", census.classes().len())
        } else {
            format!("{} divergences", found.len())
        };
        let msg = format!(
            "{:.0} ops/s, {seqs} sequences, {} configurations ({}), {findings}",
            ops as f64 / secs,
            c.configs.len(),
            c.config_arg,
        );
        if plain {
            // No terminal: a plain line at a fixed interval instead of a bar.
            if start.elapsed() >= next_status {
                next_status += every;
                let of = if seconds == 0 {
                    String::new()
                } else {
                    format!(" of {seconds}")
                };
                let phase = if found.is_empty() || c.census {
                    "running"
                } else {
                    "stopping at the first finding"
                };
                eprintln!(
                    "campaign: {:.0} s{of}: {ops} operations, {msg}; {phase}",
                    start.elapsed().as_secs_f64()
                );
            }
        } else {
            bar.set_message(msg);
        }
        if !found.is_empty() && !c.census {
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
    // (A stop that came while a finding was saved ended the loop too.)
    interrupted |= crate::interrupt::stopped();
    if interrupted {
        for w in workers.iter_mut().filter(|w| !w.done) {
            let _ = w.child.kill();
            let _ = w.child.wait();
            w.done = true;
        }
        bar.abandon();
    } else {
        bar.finish();
    }
    let (seqs, ops) = workers
        .iter()
        .fold((past_seqs, past_ops), |a, w| (a.0 + w.seqs, a.1 + w.ops));
    let verdict = if c.census {
        match census.classes().len() {
            0 => "no divergence".to_string(),
            n => format!("{n} class(es) of divergence"),
        }
    } else if found.is_empty() {
        "no divergence".to_string()
    } else {
        // A hang or crash is saved as hang-*.json / crash-*.json.
        let kind = |p: &String| {
            let name = Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            ["hang", "crash"]
                .into_iter()
                .find(|k| name.starts_with(&format!("{k}-")))
                .unwrap_or("divergence")
        };
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for f in &found {
            *counts.entry(kind(f)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(k, n)| match k {
                "crash" => format!("{n} crash(es)"),
                k => format!("{n} {k}(s)"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let verdict = if interrupted {
        format!("INTERRUPTED (Ctrl-C or SIGTERM); {verdict} so far")
    } else {
        verdict
    };
    say(format!(
        "campaign: {seqs} sequences, {ops} operations in {:.1}s ({:.0} ops/s) over {} configuration(s), {} worker(s), seed {}: {verdict}",
        start.elapsed().as_secs_f64(),
        ops as f64 / start.elapsed().as_secs_f64(),
        c.configs.len(),
        c.jobs,
        c.seed,
    ));
    if let Sched::Pct { depth } = sched {
        let (points, steps) = workers
            .iter()
            .fold(past_pct, |a, w| (a.0 + w.pct.0, a.1 + w.pct.1));
        say(pct_summary(depth, points, steps));
    }
    for f in &found {
        say(format!("reproducer: {f}"));
    }
    if c.census {
        print!("{}", census.table(|t| format!("{t:.1} s")));
        if let Some(path) = &c.json {
            write_json(path, &census)?;
        }
        exit = u8::from(!census.is_empty());
    }
    if interrupted {
        exit = crate::interrupt::EXIT;
    }
    stats
        .timeline
        .push((start.elapsed().as_secs_f64(), ops, stats.outcomes.len()));
    stats.exit = exit;
    stats.seqs = seqs;
    stats.ops = ops;
    stats.seconds = start.elapsed().as_secs_f64();
    stats.found = found;
    Ok(stats)
}

/// The summary line of a PCT campaign: d, k, the estimate of n and the
/// bound PCT guarantees for one concurrent step. With k threads and n
/// steps, PCT hits a given bug of depth d with probability at least
/// 1/(k n^(d-1)) (ASPLOS 2010, Theorem 9, which names threads n and steps
/// k: 1/(n k^(d-1)) there): 1/k for the right CPU first, 1/n for each of
/// the d - 1 change points. k = 2 for most steps; a step of 3 or 4 CPUs
/// (decoded in about 1 step in 6) has its own k.
pub fn pct_summary(depth: u32, points: u64, steps: u64) -> String {
    const K: u32 = 2;
    if steps == 0 {
        return format!(
            "campaign: scheduler PCT, d = {depth}, k = {K} CPUs: no concurrent step ran in a MULTIPROCESSOR configuration"
        );
    }
    let n = points as f64 / steps as f64;
    let p = 1.0 / (K as f64 * n.powi(depth as i32 - 1));
    format!(
        "campaign: scheduler PCT, d = {depth}, k = {K} CPUs, n = {n:.1} points per concurrent step (mean over {steps} steps); \
         a given bug of depth {depth} is hit with probability >= 1/(k n^(d-1)) = {p:.4} per step (n as estimated; \
         k = 3 or 4 in the 3-4 CPU steps, about 1 in 6: 1/(3 n^(d-1)) or 1/(4 n^(d-1)) there)"
    )
}

/// Writes a census as `{"classes": [...]}`.
pub fn write_json(path: &Path, census: &Census) -> Result<()> {
    let text = serde_json::to_string_pretty(&census.to_json())?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// A worker's census news: a new class (minimized, written) or counts of
/// known ones.
fn note_census(census: &mut Census, v: &serde_json::Value, now: f64) -> Result<()> {
    if let Some(key) = v.get("new_class") {
        let key: ClassKey = serde_json::from_value(key.clone())?;
        let d: crate::Divergence = serde_json::from_value(v["divergence"].clone())?;
        let path = v["path"].as_str().map(PathBuf::from);
        if census.record(key.clone(), d, path, v["at"].as_f64().unwrap_or(now))
            == crate::census::Recorded::New
        {
            census.set_alone(&key, v["alone"].as_bool());
        }
    }
    for entry in v["counts"].as_array().into_iter().flatten() {
        let key: ClassKey = serde_json::from_value(entry[0].clone())?;
        let config = entry[1].as_str().unwrap_or("?");
        census.count(&key, entry[2].as_u64().unwrap_or(1), config, now);
    }
    Ok(())
}

/// Save the sequence a dead or hung worker was running, minimized in
/// child processes so the crash or hang itself cannot take us down.
/// `found` says where it came from.
///
/// `stuck`: the step the worker's watchdog reported as not returning. The
/// sequence is cut after it and must hang in a child within
/// [`CONFIRM_HANG`] too, or there is no finding (`None`). A finding is saved
/// as soon as it is confirmed (`saved` is told where), then minimized; the
/// minimized file replaces it.
fn save_inflight(
    inflight: &Path,
    out: &Path,
    what: &str,
    found: &str,
    stuck: Option<u64>,
    saved: impl FnOnce(&Path),
) -> Result<Option<(crate::Divergence, PathBuf)>> {
    let bytes = std::fs::read(inflight).unwrap_or_default();
    let mut seq: Sequence = match serde_json::from_slice(&bytes) {
        Ok(seq) => seq,
        // Killed while writing its next sequence: the step suspected had
        // returned after all (a suspect limit below a step's time, e.g.
        // SEGTAB_SUSPECT_MS=0, makes this race likely). No finding.
        Err(_) if stuck.is_some() => return Ok(None),
        Err(e) => {
            return Err(e).context("the worker left no readable sequence in flight");
        }
    };
    let exe = std::env::current_exe()?;
    let p = if let Some(step) = stuck {
        seq.ops.truncate(step as usize + 1);
        match confirm_hang(&exe, &seq)? {
            Some(p) => p,
            None => return Ok(None),
        }
    } else {
        probe::probe(&exe, &seq, Duration::from_secs(2))?
    };
    // A child that crashed where the worker seemed to hang: a crash.
    let what = match &p {
        Probe::Crash(status) if stuck.is_some() => format!("crash ({status})"),
        _ => what.to_string(),
    };
    let what = what.as_str();
    let first = process_divergence(seq.clone(), what);
    let first_path = corpus::save(out, &first, found)?;
    saved(&first_path);
    let seq = match p {
        p @ (Probe::Crash(_) | Probe::Hang) => {
            eprintln!(
                "segtab-diff: minimizing the {what} in child processes ({} operations)...",
                seq.ops.len()
            );
            // A hanging candidate costs its timeout: the suspect limit
            // (every healthy candidate is shorter than the confirmed
            // sequence, which runs in milliseconds), then the result is
            // confirmed with the long one.
            let timeout = if p == Probe::Hang {
                suspect()
            } else {
                Duration::from_secs(2)
            };
            let small = probe::minimize(&exe, &seq, &p, 150, timeout);
            if crate::interrupt::stopped() {
                // Ctrl-C while minimizing: the confirmed finding stays as saved.
                eprintln!(
                    "segtab-diff: interrupted while minimizing; the {what} is kept as found ({})",
                    first_path.display()
                );
                return Ok(Some((first, first_path)));
            }
            let small = if p == Probe::Hang
                && small.ops.len() < seq.ops.len()
                && confirm_hang(&exe, &small)? != Some(Probe::Hang)
            {
                seq
            } else {
                small
            };
            eprintln!(
                "segtab-diff: {} -> {} operations",
                first.sequence.ops.len(),
                small.ops.len()
            );
            small
        }
        // Not reproducible in isolation: keep it as it was.
        _ => seq,
    };
    let (mut d, path) = if seq.ops.len() == first.sequence.ops.len() {
        (first, first_path)
    } else {
        let d = process_divergence(seq, what);
        let path = corpus::save(out, &d, found)?;
        if path != first_path {
            let _ = std::fs::remove_file(&first_path);
        }
        (d, path)
    };
    // Which step, on which side: what a porter needs first.
    probe::describe_hang(&exe, &mut d);
    eprintln!("{}", report::text(&d));
    Ok(Some((d, path)))
}

/// Runs `seq` (cut after a step suspected of hanging) in a child with the
/// long timeout: `Some(Hang)` (or `Some(Crash)`, also a finding) if the
/// suspicion holds, `None` if the child finished (a slow step).
pub fn confirm_hang(exe: &Path, seq: &Sequence) -> Result<Option<Probe>> {
    Ok(match probe::probe(exe, seq, CONFIRM_HANG)? {
        p @ (Probe::Hang | Probe::Crash(_)) => Some(p),
        Probe::Agree | Probe::Diverge => None,
    })
}

/// A finding that took a worker down, as a divergence with no step.
fn process_divergence(seq: Sequence, what: &str) -> crate::Divergence {
    crate::Divergence {
        sequence: seq,
        step: 0,
        trace: Vec::new(),
        schedules: Vec::new(),
        notes: Vec::new(),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;

    /// The watchdog is silent while steps come and go and while no step
    /// runs, and names a step that does not return, once. (Generous
    /// margins: a loaded machine delays the threads, never by 0.5 s.)
    #[test]
    fn the_watchdog_names_a_step_that_does_not_return_and_only_it() {
        let p = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let dog = {
            let (p, stop) = (p.clone(), stop.clone());
            std::thread::spawn(move || {
                watch(
                    || (p[0].load(SeqCst), p[1].load(SeqCst), p[2].load(SeqCst)),
                    Duration::from_millis(500),
                    Duration::from_millis(10),
                    |step, ran| tx.send((step, ran)).unwrap(),
                    || stop.load(SeqCst),
                )
            })
        };
        // Steps of 5 ms for about a second.
        for k in 0..200 {
            p[2].store(k, SeqCst);
            p[0].fetch_add(1, SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            p[1].fetch_add(1, SeqCst);
        }
        // No step running (between sequences, a probe in a child).
        std::thread::sleep(Duration::from_millis(800));
        assert!(rx.try_recv().is_err(), "silent while steps return");
        // Step 7 of a sequence never returns.
        p[2].store(7, SeqCst);
        p[0].fetch_add(1, SeqCst);
        let (step, ran) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the stuck step is reported");
        assert_eq!(step, 7);
        assert!(ran >= Duration::from_millis(500), "{ran:?}");
        std::thread::sleep(Duration::from_millis(600));
        assert!(rx.try_recv().is_err(), "reported once");
        stop.store(true, SeqCst);
        dog.join().unwrap();
    }
}
