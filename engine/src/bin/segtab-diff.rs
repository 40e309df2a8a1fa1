//! `segtab-diff`: campaigns, replay, minimisation and benchmarks.
//!
//! This file is the command line only: arguments, and which library
//! function each subcommand calls.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use segtab_diff::campaign::{self, Campaign};
use segtab_diff::{bench, corpus, replay, seeds};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "segtab-diff",
    version,
    about = "Differential testing of the Rust port of NetBSD pmap_segtab.c against the C original",
    after_help = GLOBAL_HELP
)]
struct Cli {
    /// Run against another C file (see `segtab-diff --help`).
    #[arg(long, global = true, value_name = "FILE")]
    c_source: Option<PathBuf>,
    /// Run against another port crate (see `segtab-diff --help`).
    #[arg(long, global = true, value_name = "DIR")]
    port: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// What every subcommand shares, said once (`segtab-diff --help`).
const GLOBAL_HELP: &str = "\
Options every subcommand takes:
  --c-source FILE  Run the command against this C file instead of the one
                   built in: the tool is rebuilt with it (SEGTAB_C_SOURCE)
                   in a target directory of its own inside the checkout,
                   then run. A file that does not build exits 2 with one
                   line per missing interface and the compiler's first
                   errors. For certify: the file to certify against (it
                   builds what it needs itself) [default: $SEGTAB_C_SOURCE,
                   else the vendored pmap_segtab.c].
  --port DIR       Run the command against the port crate at DIR instead
                   of rust-segtab/: the tool is rebuilt against it (a
                   shadow manifest under target/port/) and run. DIR must
                   provide the contract of docs/port-contract.md; a port
                   that lacks part of it exits 2 with one line per missing
                   item. Combines with --c-source. Reports, reproducers and
                   certify's identity name the port.
  --config NAME    A configuration (`segtab-diff configs`); campaign, bench
                   and certify also take a comma-separated list or `all`;
                   replay, census and explore use it to decode raw fuzzer
                   inputs of a fuzzer pinned with SEGTAB_FUZZ_CONFIG.
  --out DIR        Where findings go [default: corpus/regressions/ inside a
                   checkout, else ./segtab-diff-out/].

Exit codes: 0 nothing found; 1 a divergence, crash or hang (or a weak
oracle for certify); 2 a tool error; 130 stopped by Ctrl-C or SIGTERM
(findings so far kept, summary printed).";

#[derive(Subcommand)]
enum Cmd {
    /// Run random sequences on both sides for a while (stable Rust, no fuzzer).
    /// Exit 0: no divergence; 1: divergence (minimized reproducer written); 2: tool error.
    Campaign {
        /// How long to run; 0: until a finding (or, with --census, until
        /// Ctrl-C).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// A configuration name, or "all".
        #[arg(long, default_value = "all")]
        config: String,
        /// Seed of the first worker (worker k uses seed + k). Without it
        /// the campaign draws a fresh seed, prints it first and records it
        /// in every reproducer, so any run can be replayed with --seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Worker processes (a crash or hang in one is caught and reported).
        #[arg(long, default_value_t = default_jobs())]
        jobs: u32,
        /// Where reproducers go [default: corpus/regressions/ when run
        /// inside a segtab-diff checkout, else ./segtab-diff-out/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seconds without progress after which a worker is declared hung.
        #[arg(long, default_value_t = 20)]
        hang_secs: u64,
        /// Deep-compare every table every K steps (1 = every step; other
        /// steps compare what they touched plus O(1) summaries).
        #[arg(long, default_value_t = segtab_diff::run::DEFAULT_DEEP_EVERY)]
        deep_every: u32,
        /// Run for the whole budget and group every divergence into
        /// classes (operation, differing categories, each side's panic site
        /// or return), with one minimized reproducer per class: what
        /// changed between two revisions. Exit 1 if any class was found.
        #[arg(long)]
        census: bool,
        /// With --census: also write the classes as JSON to this file.
        #[arg(long, requires = "census")]
        json: Option<PathBuf>,
        #[arg(long, hide = true)]
        worker: Option<PathBuf>,
        /// (Worker mode) report the outcome classes reached.
        #[arg(long, hide = true)]
        outcomes: bool,
        /// How the CPUs of concurrent steps are scheduled: `bits` (each
        /// step's own schedule bits) or `pct` (PCT: random priorities,
        /// d - 1 priority change points; reproducers record the bits it
        /// took and replay without it).
        #[arg(long, default_value = "bits", value_parser = ["bits", "pct"])]
        scheduler: String,
        /// PCT's bug depth d (d - 1 change points per concurrent step).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
        pct_depth: u32,
    },
    /// The census of a directory of findings (reproducers, or raw inputs
    /// such as libFuzzer artifacts): every file is run (in a child process
    /// first, so crashes and hangs are classes too) and the divergences
    /// grouped into classes, one minimized reproducer each. Exit 0: no
    /// class; 1: some; 2: tool error.
    Census {
        /// The directory (or files).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Decode raw inputs for this configuration (inputs of a fuzzer
        /// pinned with SEGTAB_FUZZ_CONFIG).
        #[arg(long)]
        config: Option<String>,
        /// Where the minimized reproducers go [default: as for campaign].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the classes as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Decode files named on the command line that are neither
        /// reproducers (.json) nor libFuzzer artefacts as raw fuzzer bytes.
        #[arg(long)]
        raw: bool,
    },
    /// Replay reproducers (JSON) or raw fuzzer inputs and print their reports.
    /// Inside a segtab-diff checkout, divergences its ledger
    /// (corpus/known-divergences.json) lists are expected.
    Replay {
        /// Files or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Decode raw inputs for this configuration (inputs found by a
        /// fuzzer pinned with SEGTAB_FUZZ_CONFIG have no configuration byte).
        #[arg(long)]
        config: Option<String>,
        /// Decode files named on the command line that are neither
        /// reproducers (.json) nor libFuzzer artefacts (crash-*, timeout-*,
        /// oom-*, leak-*, slow-unit-*, corpus entries) as raw fuzzer bytes;
        /// without it such a file is an error (exit 2).
        #[arg(long)]
        raw: bool,
    },
    /// Run every schedule of a reproducer's last step (which must be
    /// concurrent) with at most C preemptions, on both sides, each compared
    /// as a campaign compares a step (iterative context bounding). Exit 0:
    /// every schedule run agrees; 1: a divergence (its schedule printed, its
    /// reproducer written); 2: tool error.
    Explore {
        /// A reproducer (JSON) or a raw fuzzer input.
        file: PathBuf,
        /// At most this many preemptions (switches away from a CPU that
        /// could continue) per schedule.
        #[arg(long, default_value_t = 2)]
        preemptions: u32,
        /// Stop after this many seconds (the output says how far it got).
        #[arg(long)]
        seconds: Option<f64>,
        /// Decode a raw input for this configuration (inputs of a fuzzer
        /// pinned with SEGTAB_FUZZ_CONFIG).
        #[arg(long)]
        config: Option<String>,
        /// Where a diverging schedule's reproducer goes [default: as for campaign].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Shrink a reproducer to a minimal sequence with the same divergence.
    Minimize {
        /// The file.
        file: PathBuf,
        /// Where the minimized reproducer goes [default: as for campaign].
        #[arg(long)]
        out: Option<PathBuf>,
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
        /// calls at once on two CPUs, small footprint; then steps of 1 to
        /// 4 calls per CPU on 2 CPUs, and of 1 and 2 on 3 and 4 CPUs, next
        /// to their calls as sequential steps), fixed
        /// (what one input costs whatever it does: world resets, the end
        /// pass).
        #[arg(long, default_value = "small,medium,large,concurrent,fixed")]
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
        /// Report a step that does not return (and its side) on stdout.
        #[arg(long)]
        watch: bool,
    },
    /// List the machine configurations and the C file they were built from.
    Configs,
    /// (scripts/fuzz.sh --port) print the cargo-fuzz package to build, then
    /// the SEGTAB_PORT_DIR and SEGTAB_PORT_MANIFEST its build must see, one
    /// per line (empty for the built-in port).
    #[command(hide = true)]
    FuzzDir,
    /// (certify, in a mutant-schema build) judge one mutant: select it, run
    /// the seed corpus then random sequences until the first divergence or
    /// the budget. Exit 1: caught; 0: survived.
    #[command(hide = true)]
    JudgeMutant {
        /// The mutant's number in the schema.
        #[arg(long)]
        mutant: u32,
        /// Configurations where its code differs.
        #[arg(long)]
        config: String,
        /// Its share of the budget.
        #[arg(long)]
        seconds: f64,
        /// Seed of the random sequences.
        #[arg(long)]
        seed: u64,
    },
    /// Produce the evidence a reviewer signs: a campaign, the oracle's
    /// self-test on automatic mutants of the C, C and port coverage, the
    /// outcome classes reached, and the identity of everything, as
    /// DIR/report.json and DIR/report.html. Run inside a checkout (it
    /// builds the C). Exit 0: equivalent within the budget and the oracle
    /// strong enough; 1: a divergence or a weak oracle; 2: tool error.
    Certify {
        /// Budget for the campaign and the mutants together (the builds
        /// and the port coverage run come on top). Every mutant is judged:
        /// a budget too small for that is an error that says what is needed.
        #[arg(long, default_value_t = 1200)]
        seconds: u64,
        /// A configuration name, a comma-separated list, or "all".
        #[arg(long, default_value = "all")]
        config: String,
        /// Where report.json and report.html go.
        #[arg(long, default_value = "certify-report")]
        out: PathBuf,
        /// Seed of the campaign [default: fresh]. The mutants do not
        /// depend on it: each is judged with a seed derived from its id.
        #[arg(long)]
        seed: Option<u64>,
        /// Worker processes.
        #[arg(long, default_value_t = default_jobs())]
        jobs: u32,
        /// Each mutant's share: it runs until caught or this many seconds
        /// (every killable mutant has died within 2.5 s so far: the margin
        /// keeps a slower machine's table the same).
        #[arg(long, default_value_t = 5.0)]
        mutant_seconds: f64,
    },
    /// Write a seed corpus of raw fuzzer inputs that together reach every
    /// operation, outcome and configuration.
    SeedCorpus {
        /// Output directory [default: corpus/diff/ inside a segtab-diff
        /// checkout, else ./segtab-diff-out/diff/].
        #[arg(long)]
        out: Option<PathBuf>,
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
    // Ctrl-C and SIGTERM stop these cleanly (findings kept, summary
    // printed, children stopped, temporary files removed; exit 130).
    // Workers and probes are stopped by their parent.
    let stoppable = match &cli.cmd {
        Cmd::Campaign { worker, .. } => worker.is_none(),
        Cmd::Census { .. } | Cmd::Minimize { .. } | Cmd::Certify { .. } => true,
        _ => cli.c_source.is_some() || cli.port.is_some(),
    };
    if stoppable {
        segtab_diff::interrupt::install();
    }
    // certify builds every C it needs itself (instrumented, and once per
    // mutant): it takes --c-source as the file to certify against
    // [default: $SEGTAB_C_SOURCE, else the vendored c-reference/pmap_segtab.c].
    let certify = matches!(cli.cmd, Cmd::Certify { .. });
    let global_c_source = cli.c_source.clone();
    if let Some(dir) = &cli.port {
        // The tool is rebuilt against the port (and the C of --c-source,
        // except for certify, which builds its C itself and takes
        // --c-source as it would without --port).
        let c_source = if certify {
            None
        } else {
            cli.c_source.as_deref()
        };
        let strip: &[&str] = if c_source.is_some() {
            &["--port", "--c-source"]
        } else {
            &["--port"]
        };
        return match segtab_diff::port::run(dir, c_source, &segtab_diff::port::args_without(strip))
        {
            Ok(code) => ExitCode::from(code),
            Err(e) => tool_error(e),
        };
    }
    if let (Some(source), false) = (&cli.c_source, certify) {
        return match segtab_diff::rebuild::run(
            source,
            &segtab_diff::rebuild::args_without_c_source(),
        ) {
            Ok(code) => ExitCode::from(code),
            Err(e) => tool_error(e),
        };
    }
    let r = match cli.cmd {
        Cmd::Campaign {
            seconds,
            config,
            seed,
            jobs,
            out,
            hang_secs,
            deep_every,
            census,
            json,
            worker,
            outcomes,
            scheduler,
            pct_depth,
        } => {
            let sched = match scheduler.as_str() {
                "pct" => campaign::Sched::Pct { depth: pct_depth },
                _ => campaign::Sched::Bits,
            };
            let configs = match select(&config) {
                Ok(c) => c,
                Err(e) => return tool_error(e),
            };
            let c = Campaign {
                seconds,
                configs,
                config_arg: config,
                seed: seed.unwrap_or_else(campaign::fresh_seed),
                jobs: jobs.max(1),
                out: out.unwrap_or_else(|| corpus::Places::here().out),
                hang_secs,
                deep_every,
                census,
                json,
                worker_exe: None,
                outcomes,
                summary_to_stderr: false,
            };
            match worker {
                Some(inflight) => campaign::worker_with(&c, sched, &inflight),
                None => campaign::run_with(&c, sched),
            }
        }
        Cmd::Replay { files, config, raw } => (|| {
            let pinned = pinned(config.as_deref())?;
            let ledger = corpus::Places::here().ledger()?;
            replay::replay(&files, pinned, &ledger, raw)
        })(),
        Cmd::Census {
            files,
            config,
            out,
            json,
            raw,
        } => (|| {
            let pinned = pinned(config.as_deref())?;
            let out = out.unwrap_or_else(|| corpus::Places::here().out);
            replay::census(&files, pinned, &out, json.as_deref(), raw)
        })(),
        Cmd::Explore {
            file,
            preemptions,
            seconds,
            config,
            out,
        } => (|| {
            let pinned = pinned(config.as_deref())?;
            let o = segtab_diff::explore::Options {
                preemptions,
                seconds,
                out: out.unwrap_or_else(|| corpus::Places::here().out),
            };
            segtab_diff::explore::explore(&file, pinned, &o)
        })(),
        Cmd::Minimize { file, out, budget } => {
            let out = out.unwrap_or_else(|| corpus::Places::here().out);
            replay::minimize(&file, &out, budget)
        }
        Cmd::Certify {
            seconds,
            config,
            out,
            seed,
            jobs,
            mutant_seconds,
        } => (|| {
            let configs = select(&config)?;
            let root = segtab_diff::certify::checkout()?;
            let c_source = global_c_source
                .or_else(|| std::env::var_os("SEGTAB_C_SOURCE").map(PathBuf::from))
                .unwrap_or_else(|| root.join("c-reference/pmap_segtab.c"));
            let c_source = std::fs::canonicalize(&c_source)
                .with_context(|| format!("reading {}", c_source.display()))?;
            let o = segtab_diff::certify::Options {
                seconds,
                configs,
                config_arg: config,
                out,
                seed: seed.unwrap_or_else(campaign::fresh_seed),
                c_source,
                jobs: jobs.max(1),
                mutant_seconds,
                root,
            };
            segtab_diff::certify::run(&o)
        })(),
        Cmd::JudgeMutant {
            mutant,
            config,
            seconds,
            seed,
        } => select(&config)
            .and_then(|c| segtab_diff::certify::judge::child(mutant, &c, seconds, seed)),
        Cmd::FuzzDir => {
            let root = std::env::current_dir()
                .ok()
                .and_then(|d| segtab_diff::corpus::repository(&d))
                .ok_or_else(|| {
                    anyhow::anyhow!("fuzz-dir needs a segtab-diff checkout: run it inside one")
                });
            root.and_then(|root| segtab_diff::port::fuzz_dir(&root))
                .map(|dir| {
                    println!("{}", dir.display());
                    println!("{}", segtab_diff::port::BUILT_PORT_DIR.unwrap_or(""));
                    println!("{}", segtab_diff::port::BUILT_PORT_MANIFEST.unwrap_or(""));
                    0
                })
        }
        Cmd::Configs => {
            for c in c_reference::CONFIGS {
                println!("{:<20} {}", c.name, c.summary);
            }
            match c_reference::CWorld::open(c_reference::CONFIGS[0].name, 1) {
                Ok(w) => {
                    println!("C reference compiled from {}", w.c_source());
                    let rev = w.revision();
                    if let Some(id) = &rev.rcsid {
                        println!("{id}");
                    }
                }
                Err(e) => eprintln!("cannot open the C reference: {e}"),
            }
            println!("Rust port: {}", segtab_diff::port::current().line());
            Ok(0)
        }
        Cmd::SeedCorpus {
            out,
            candidates,
            seed,
        } => {
            let out = out.unwrap_or_else(|| corpus::Places::here().seeds);
            seeds::seed_corpus(&out, candidates, seed)
        }
        Cmd::Probe { file, watch } => replay::probe_file(&file, watch),
        Cmd::Bench {
            config,
            workloads,
            ops,
            json,
        } => select(&config).and_then(|c| bench::run(&c, &workloads, ops, json.as_deref())),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => tool_error(e),
    }
}

fn tool_error(e: anyhow::Error) -> ExitCode {
    if segtab_diff::interrupt::is(&e) {
        eprintln!("segtab-diff: interrupted (Ctrl-C or SIGTERM)");
        return ExitCode::from(segtab_diff::interrupt::EXIT);
    }
    eprintln!("segtab-diff: error: {e:#}");
    ExitCode::from(2)
}

/// The configuration raw fuzzer inputs decode for (`--config`), if named.
fn pinned(name: Option<&str>) -> Result<Option<&'static c_reference::Config>> {
    name.map(|n| select(n)?.into_iter().next().context("no configuration"))
        .transpose()
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
