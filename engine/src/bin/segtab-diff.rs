//! `segtab-diff`: campaigns, replay, minimisation and benchmarks.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use segtab_diff::corpus;
use segtab_diff::model::{Action, Sequence};
use segtab_diff::rng::SplitMix64;
use segtab_diff::run::{run, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use segtab_diff::{report, shrink};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "segtab-diff",
    version,
    about = "Differential testing of the Rust port of NetBSD pmap_segtab.c against the C original"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run random sequences on both sides for a while (stable Rust, no fuzzer).
    /// Exit 0: no divergence; 1: divergence (minimized reproducer written); 2: tool error.
    Campaign {
        /// How long to run.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// A configuration name, or "all".
        #[arg(long, default_value = "all")]
        config: String,
        /// Seed of the first worker (worker k uses seed + k).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Worker processes (a crash or hang in one is caught and reported).
        #[arg(long, default_value_t = default_jobs())]
        jobs: u32,
        /// Where reproducers go.
        #[arg(long, default_value_os_t = corpus::default_dir().join("regressions"))]
        out: PathBuf,
        /// Seconds without progress after which a worker is declared hung.
        #[arg(long, default_value_t = 20)]
        hang_secs: u64,
        /// Deep-compare every table every K steps (1 = every step; other
        /// steps compare what they touched plus O(1) summaries).
        #[arg(long, default_value_t = segtab_diff::run::DEFAULT_DEEP_EVERY)]
        deep_every: u32,
        #[arg(long, hide = true)]
        worker: Option<PathBuf>,
    },
    /// Replay reproducers (JSON) or raw fuzzer inputs and print their reports.
    Replay {
        /// Files or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Decode raw inputs for this configuration (inputs found by a
        /// fuzzer pinned with SEGTAB_FUZZ_CONFIG have no configuration byte).
        #[arg(long)]
        config: Option<String>,
    },
    /// Shrink a reproducer to a minimal sequence with the same divergence.
    Minimize {
        /// The file.
        file: PathBuf,
        /// Where the minimized reproducer goes.
        #[arg(long, default_value_os_t = corpus::default_dir().join("regressions"))]
        out: PathBuf,
        /// Most runs to spend.
        #[arg(long, default_value_t = 5000)]
        budget: usize,
    },
    /// Measure throughput with and without per-step comparison, and reset cost.
    Bench {
        /// A configuration name, a comma-separated list, or "all".
        #[arg(long, default_value = "all")]
        config: String,
        /// Workloads: any of small, medium, large, concurrent (steps of two
        /// calls at once on two CPUs, small footprint).
        #[arg(long, default_value = "small,medium,large,concurrent")]
        workloads: String,
        /// Measured operations per workload.
        #[arg(long, default_value_t = 100_000)]
        ops: u64,
        /// Also write the figures as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Run one file and exit 0 (agree) or 1 (diverge); used in a child
    /// process to minimize and replay crashes and hangs.
    #[command(hide = true)]
    Probe {
        /// The file.
        file: PathBuf,
    },
    /// List the machine configurations and the C file they were built from.
    Configs,
    /// Write a seed corpus of raw fuzzer inputs that together reach every
    /// operation, outcome and configuration.
    SeedCorpus {
        /// Output directory.
        #[arg(long, default_value_os_t = corpus::default_dir().join("diff"))]
        out: PathBuf,
        /// Candidates to try.
        #[arg(long, default_value_t = 20000)]
        candidates: u64,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

fn default_jobs() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Campaign {
            seconds,
            config,
            seed,
            jobs,
            out,
            hang_secs,
            deep_every,
            worker,
        } => {
            let configs = match select(&config) {
                Ok(c) => c,
                Err(e) => return tool_error(e),
            };
            match worker {
                Some(inflight) => worker_main(seconds, &configs, seed, &out, &inflight, deep_every),
                None => campaign(
                    seconds,
                    &config,
                    &configs,
                    seed,
                    jobs.max(1),
                    &out,
                    hang_secs,
                    deep_every,
                ),
            }
        }
        Cmd::Replay { files, config } => replay(&files, config.as_deref()),
        Cmd::Minimize { file, out, budget } => minimize(&file, &out, budget),
        Cmd::Configs => {
            for c in c_reference::CONFIGS {
                println!("{:<20} {}", c.name, c.summary);
            }
            match c_reference::CWorld::open(c_reference::CONFIGS[0].name, 1) {
                Ok(w) => println!("C reference compiled from {}", w.c_source()),
                Err(e) => eprintln!("cannot open the C reference: {e}"),
            }
            Ok(0)
        }
        Cmd::SeedCorpus {
            out,
            candidates,
            seed,
        } => seed_corpus(&out, candidates, seed),
        Cmd::Probe { file } => (|| {
            let seq = corpus::load(&file)?;
            let mut pair = Pair::open(&seq.config, DEFAULT_POOL_PAGES)?;
            Ok(match run(&mut pair, &seq, CompareOpts::default()) {
                RunResult::Agree { .. } => 0,
                RunResult::Diverge(_) => 1,
            })
        })(),
        Cmd::Bench {
            config,
            workloads,
            ops,
            json,
        } => bench(&config, &workloads, ops, json.as_deref()),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => tool_error(e),
    }
}

fn tool_error(e: anyhow::Error) -> ExitCode {
    eprintln!("segtab-diff: error: {e:#}");
    ExitCode::from(2)
}

fn select(name: &str) -> Result<Vec<&'static c_reference::Config>> {
    if name == "all" {
        return Ok(c_reference::CONFIGS.iter().collect());
    }
    name.split(',')
        .map(|n| {
            c_reference::configs::find(n).with_context(|| {
                format!(
                    "unknown configuration {n:?}; known: all, {}",
                    c_reference::CONFIGS
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect()
}

/// One worker process: runs sequences, prints a JSON progress line about
/// every 250 ms, writes the sequence in flight to `inflight` so the parent
/// can report it if this process dies or hangs.
fn worker_main(
    seconds: u64,
    configs: &[&'static c_reference::Config],
    seed: u64,
    out: &std::path::Path,
    inflight: &std::path::Path,
    deep_every: u32,
) -> Result<u8> {
    let mut pairs: Vec<Pair> = configs
        .iter()
        .map(|c| Pair::open(c.name, DEFAULT_POOL_PAGES))
        .collect::<Result<_>>()?;
    let mut rng = SplitMix64(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut last = Instant::now();
    let (mut seqs, mut ops) = (0u64, 0u64);
    let mut inflight_file = std::fs::File::create(inflight)?;
    let opts = CompareOpts { deep_every };
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
        let result = run(&mut pairs[k], &seq, opts);
        seqs += 1;
        ops += seq.ops.len() as u64;
        if let RunResult::Diverge(d) = result {
            let small = shrink::shrink(&mut pairs[k], &d, 5000);
            let path = corpus::save(out, &small, &format!("campaign seed {seed}"))?;
            eprintln!("{}", report::text(&small));
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

#[allow(clippy::too_many_arguments)]
fn campaign(
    seconds: u64,
    config_arg: &str,
    configs: &[&'static c_reference::Config],
    seed: u64,
    jobs: u32,
    out: &std::path::Path,
    hang_secs: u64,
    deep_every: u32,
) -> Result<u8> {
    let exe = std::env::current_exe()?;
    let scratch = std::env::temp_dir().join(format!("segtab-diff-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    struct W {
        child: std::process::Child,
        rx: std::sync::mpsc::Receiver<serde_json::Value>,
        inflight: PathBuf,
        seqs: u64,
        ops: u64,
        last: Instant,
        done: bool,
        config: String,
    }
    let mut workers = Vec::new();
    for k in 0..jobs {
        // Spread configurations over workers when there are enough of them.
        let mine: Vec<&str> = if configs.len() >= jobs as usize {
            configs
                .iter()
                .skip(k as usize)
                .step_by(jobs as usize)
                .map(|c| c.name)
                .collect()
        } else {
            configs.iter().map(|c| c.name).collect()
        };
        let inflight = scratch.join(format!("inflight-{k}.json"));
        let mut child = Command::new(&exe)
            .args([
                "campaign",
                "--seconds",
                &seconds.to_string(),
                "--config",
                &mine.join(","),
            ])
            .args([
                "--seed",
                &(seed + k as u64).to_string(),
                "--deep-every",
                &deep_every.to_string(),
            ])
            .arg("--out")
            .arg(out)
            .arg("--worker")
            .arg(&inflight)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting a worker")?;
        let stdout = child.stdout.take().unwrap();
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
        workers.push(W {
            child,
            rx,
            inflight,
            seqs: 0,
            ops: 0,
            last: Instant::now(),
            done: false,
            config: mine.join(","),
        });
    }
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
                        let p = save_inflight(&w.inflight, out, &format!("crash ({status})"))?;
                        eprintln!("segtab-diff: a worker on {} died ({status}); sequence in flight saved to {}", w.config, p.display());
                        found.push(p.display().to_string());
                    }
                }
            } else if w.last.elapsed() > Duration::from_secs(hang_secs) {
                let _ = w.child.kill();
                let _ = w.child.wait();
                w.done = true;
                exit = 1;
                let p = save_inflight(&w.inflight, out, "hang")?;
                eprintln!("segtab-diff: a worker on {} made no progress for {hang_secs}s (hang); sequence in flight saved to {}", w.config, p.display());
                found.push(p.display().to_string());
            }
        }
        let (seqs, ops): (u64, u64) = workers
            .iter()
            .fold((0, 0), |a, w| (a.0 + w.seqs, a.1 + w.ops));
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        bar.set_position(start.elapsed().as_secs().min(seconds));
        bar.set_message(format!(
            "{:.0} ops/s, {seqs} sequences, {} configurations ({config_arg}), {} divergences",
            ops as f64 / secs,
            configs.len(),
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
        "campaign: {seqs} sequences, {ops} operations in {:.1}s ({:.0} ops/s) over {} configuration(s), {} worker(s): {}",
        start.elapsed().as_secs_f64(),
        ops as f64 / start.elapsed().as_secs_f64(),
        configs.len(),
        jobs,
        if found.is_empty() { "no divergence".to_string() } else { format!("{} divergence(s)", found.len()) }
    );
    for f in &found {
        println!("reproducer: {f}");
    }
    Ok(exit)
}

/// Save the sequence a dead or hung worker was running, minimized in
/// child processes so the crash or hang itself cannot take us down.
fn save_inflight(inflight: &std::path::Path, out: &std::path::Path, what: &str) -> Result<PathBuf> {
    use segtab_diff::probe::{self, Probe};
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
    let d = segtab_diff::Divergence {
        sequence: seq,
        step: 0,
        trace: Vec::new(),
        schedules: Vec::new(),
        diffs: vec![segtab_diff::compare::FieldDiff {
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
    corpus::save(out, &d, what)
}

/// Files named, and the files under directories named (recursively, in
/// name order), leaving out hidden files and the ledger.
fn expand(files: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> Result<()> {
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

fn replay(files: &[PathBuf], config: Option<&str>) -> Result<u8> {
    let pinned = match config {
        Some(name) => Some(
            select(name)?
                .into_iter()
                .next()
                .context("no configuration")?,
        ),
        None => None,
    };
    let ledger = corpus::ledger(&corpus::default_dir())?;
    let mut bad = 0;
    let mut unreadable = 0;
    let mut pairs: std::collections::HashMap<String, Pair> = Default::default();
    for f in expand(files)? {
        let seq = match corpus::load_as(&f, pinned) {
            Ok((s, class)) if corpus::out_of_process(&class) => {
                // A crash or hang is replayed in a child process.
                let exe = std::env::current_exe()?;
                let p = segtab_diff::probe::probe(&exe, &s, Duration::from_secs(5))?;
                match p {
                    segtab_diff::probe::Probe::Agree => {
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
    // 1 if anything diverged (or a ledger entry went stale), else 2 if a
    // file could not be read, else 0.
    Ok(if bad > 0 {
        1
    } else if unreadable > 0 {
        2
    } else {
        0
    })
}

fn minimize(file: &std::path::Path, out: &std::path::Path, budget: usize) -> Result<u8> {
    use segtab_diff::probe::{self, Probe};
    let seq = corpus::load(file)?;
    // A crash or hang would take this process down: shrink it in children.
    let exe = std::env::current_exe()?;
    let timeout = Duration::from_secs(5);
    if let p @ (Probe::Crash(_) | Probe::Hang) = probe::probe(&exe, &seq, timeout)? {
        let what = if p == Probe::Hang { "hang" } else { "crash" };
        let small = probe::minimize(&exe, &seq, &p, budget.min(300), Duration::from_secs(2));
        let d = segtab_diff::Divergence {
            sequence: small.clone(),
            step: 0,
            trace: Vec::new(),
            schedules: Vec::new(),
            diffs: vec![segtab_diff::compare::FieldDiff {
                category: what.into(),
                field: "process".into(),
                c: format!("{p:?}"),
                rust: String::new(),
            }],
        };
        let path = corpus::save(out, &d, &format!("minimized from {}", file.display()))?;
        println!(
            "{what}: {} -> {} operations; written to {}",
            seq.ops.len(),
            small.ops.len(),
            path.display()
        );
        for (i, t) in segtab_diff::run::trace_of(
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

/// Greedy seed selection: keep a random input if it reaches a (configuration,
/// operation, outcome) the kept ones do not.
fn seed_corpus(out: &std::path::Path, candidates: u64, seed: u64) -> Result<u8> {
    use segtab_diff::side::StepEnd;
    use std::collections::{BTreeSet, HashMap};
    std::fs::create_dir_all(out)?;
    let mut pairs: HashMap<&str, Pair> = HashMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut rng = SplitMix64(seed);
    let mut kept = 0;
    for _ in 0..candidates {
        let len = 24 + (rng.next_u64() % 400) as usize;
        let bytes = rng.bytes(len);
        let seq = Sequence::from_bytes(&bytes, None);
        let config = c_reference::configs::find(&seq.config).unwrap();
        let pair = match pairs.entry(config.name) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Pair::open(config.name, DEFAULT_POOL_PAGES)?)
            }
        };
        let mut feats = BTreeSet::new();
        let r = segtab_diff::run::run_observed(
            pair,
            &seq,
            CompareOpts::default(),
            |a, e, events, trace| {
                let end = match e {
                    StepEnd::Ok(Some(shim::inspect::PteLoc::Null)) => "null".to_string(),
                    StepEnd::Ok(_) => "ok".to_string(),
                    StepEnd::Panic(c, _) => format!("{c:?}"),
                    StepEnd::Refused(_) => "refused".to_string(),
                    StepEnd::Abandoned(a) => format!("abandoned {a:?}"),
                };
                if let Action::Concurrent(cc) = a {
                    // Interleavings: which calls each CPU made, whether a
                    // CPU waited for the lock, and where the CPUs switched.
                    let waits = trace.sched.iter().any(|e| e.blocked);
                    feats.insert(format!(
                        "{} concurrent {} {} {end} waits={waits}",
                        config.name,
                        cc.actions[0].name(),
                        cc.actions[1].name()
                    ));
                    for w in trace.sched.windows(2) {
                        if w[0].cpu != w[1].cpu {
                            feats.insert(format!(
                                "{} switch {:?} -> {:?}",
                                config.name, w[0].call, w[1].call
                            ));
                        }
                    }
                }
                let op = match a {
                    Action::Destroy { cb: Some(_), .. } => "destroy-cb",
                    // Only activating curlwp does anything (line 429); the
                    // kernel pmap takes its own branch (line 433).
                    Action::Activate { pmap: 0, .. } if !trace.xtab.is_empty() => "activate-kernel",
                    Action::Activate { .. } if !trace.xtab.is_empty() => "activate-curlwp",
                    Action::Process { .. } if !trace.callbacks.is_empty() => "process-cb",
                    other => other.name(),
                };
                feats.insert(format!("{} {op} {end}", config.name));
                // What the step made the allocator do: page allocations, frees,
                // waits, maps and unmaps reach different lines of the C.
                for ev in events {
                    let kind = format!("{ev:?}");
                    let kind = kind.split([' ', '{']).next().unwrap_or("");
                    feats.insert(format!("{} {op} {end} {kind}", config.name));
                }
            },
        );
        if let RunResult::Diverge(d) = r {
            eprintln!("{}", report::text(&d));
            bail!("the sides diverge; fix that before seeding");
        }
        let new: Vec<String> = feats.difference(&seen).cloned().collect();
        if !new.is_empty() {
            seen.extend(new);
            let hash = corpus::fnv1a(&bytes);
            std::fs::write(out.join(format!("seed-{hash:016x}")), &bytes)?;
            kept += 1;
        }
    }
    println!(
        "kept {kept} seeds reaching {} (configuration, operation, outcome) triples in {}",
        seen.len(),
        out.display()
    );
    Ok(0)
}

fn bench(config: &str, workloads: &str, ops: u64, json: Option<&std::path::Path>) -> Result<u8> {
    use segtab_diff::bench;
    let configs = select(config)?;
    let mut rows = Vec::new();
    for w in workloads.split(',') {
        let want = match w {
            "small" => 10,
            "medium" => 1_000,
            "large" => 100_000,
            "concurrent" => 10,
            other => bail!("unknown workload {other:?}; known: small, medium, large, concurrent"),
        };
        for c in &configs {
            eprint!("bench {} {w} ...\r", c.name);
            rows.push(bench::measure(c, w, want, ops)?);
        }
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "segtab-diff bench: {cpu}, {cores} cores; ops/s in thousands (k); one thread \
         (a concurrent step runs its CPUs on threads of their own, one at a time)"
    );
    print!("{}", bench::table(&rows));
    if let Some(path) = json {
        let doc = serde_json::json!({ "machine": { "cpu": cpu, "cores": cores }, "rows": rows });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    Ok(0)
}
