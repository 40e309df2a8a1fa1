//! `segtab-diff certify`: the evidence a reviewer signs before the port
//! ships.
//!
//! One run, in order:
//!
//! 1. builds the engine with the C under test instrumented for coverage
//!    ([`coverage::build`]);
//! 2. runs a campaign (concurrent steps included) whose workers are that
//!    build, reporting the outcome classes they reach ([`outcomes`]);
//! 3. reads the C's line and branch coverage per configuration, and
//!    explains every unreached line;
//! 4. self-tests the oracle on *every* mutant the operators make of the C
//!    ([`mutate`]): trivial compiler equivalence ([`tce`]) sets aside the
//!    mutants whose object code is the original's, one mutant schema
//!    ([`schema`]) builds every other one into a single binary, and each is
//!    judged in a child ([`judge`]) on the configurations where its code
//!    differs; every one must be caught or listed as equivalent in
//!    `mutants/c-equivalent.txt`;
//! 5. measures the port's region coverage under the same campaign, when
//!    cargo-llvm-cov is installed;
//! 6. writes `report.json` and a self-contained `report.html`
//!    ([`html`]), and prints a one-line verdict.
//!
//! Exit 0: no divergence within the budget and the oracle is strong enough
//! (every mutant judged, and every judged mutant caught or listed as
//! equivalent); 1: a divergence or a weak oracle; 2: a tool error, a budget
//! too small to judge every mutant among them.
//!
//! Nothing in the mutant phase depends on `--seed`: the mutants are all of
//! them, and each is judged with a seed derived from its id, so two runs on
//! the same tree give the same table.

pub mod coverage;
pub mod html;
pub mod identity;
pub mod judge;
pub mod mutate;
pub mod outcomes;
pub mod schema;
pub mod tce;

use crate::campaign::{self, Campaign};
use anyhow::{bail, Context, Result};
use c_reference::Config;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The mutation score the oracle needs: every judged mutant not listed as
/// equivalent caught.
pub const MIN_SCORE: f64 = 1.0;
/// The least campaign certify runs besides the mutants, seconds.
pub const MIN_CAMPAIGN_SECS: u64 = 30;
/// Seconds without a progress line after which a mutant's child is hung.
pub const HANG_SECS: f64 = 5.0;
/// The report's schema name.
pub const SCHEMA: &str = "segtab-diff-certify/2";

/// What to certify.
#[derive(Clone, Debug)]
pub struct Options {
    /// Budget for the campaign and the mutants together, seconds.
    pub seconds: u64,
    /// The configurations.
    pub configs: Vec<&'static Config>,
    /// How the user named them.
    pub config_arg: String,
    /// Where report.json and report.html go.
    pub out: PathBuf,
    /// Seed of the campaign and of the mutant sample.
    pub seed: u64,
    /// The C file certified against.
    pub c_source: PathBuf,
    /// Worker processes.
    pub jobs: u32,
    /// Each mutant's share: seconds of campaign at most.
    pub mutant_seconds: f64,
    /// The checkout (built from, and holding `mutants/c-equivalent.txt`).
    pub root: PathBuf,
}

/// Thresholds, stated in the report.
#[derive(Clone, Debug, Serialize)]
pub struct Thresholds {
    /// Divergences allowed.
    pub divergences: u32,
    /// Least mutation score over judged mutants not listed as equivalent.
    pub mutation_score_min: f64,
    /// Every eligible mutant must be judged or shown equivalent.
    pub all_mutants_judged: bool,
    /// What does not gate the verdict.
    pub not_gating: String,
}

/// A divergence the campaign found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The reproducer.
    pub path: String,
    /// Its class (operation: category).
    pub class: String,
    /// The start of the replayed report (which step, which fields).
    pub report: String,
}

/// The campaign part of the report.
#[derive(Clone, Debug, Serialize)]
pub struct CampaignPart {
    /// Seconds run.
    pub seconds: f64,
    /// Sequences run.
    pub sequences: u64,
    /// Operations run.
    pub operations: u64,
    /// Mean throughput.
    pub ops_per_sec: f64,
    /// Concurrent steps were generated (the campaign makes them; this
    /// says whether the run reached one in each MULTIPROCESSOR
    /// configuration).
    pub concurrent_configs: Vec<String>,
    /// What diverged.
    pub divergences: Vec<Finding>,
    /// (seconds, ops/s over the last interval, outcome features so far).
    pub timeline: Vec<(f64, f64, usize)>,
}

/// One race scenario explored under every schedule within its bound.
#[derive(Clone, Debug, Serialize)]
pub struct ExploreRun {
    /// Scenario (engine/src/scenarios.rs `races_to_explore`).
    pub name: String,
    /// What it races.
    pub what: String,
    /// Configuration.
    pub config: String,
    /// Each CPU's calls in the explored step, e.g. `1+1` or `2+3`.
    pub calls: String,
    /// Preemptions explored (C).
    pub bound: u32,
    /// Schedules run (every one within the bound when `exhausted`).
    pub schedules: u64,
    /// Branches cut by the bound.
    pub pruned: u64,
    /// The most scheduler decisions one run met.
    pub max_decisions: u32,
    /// Every schedule within the bound was run.
    pub exhausted: bool,
    /// Seconds.
    pub seconds: f64,
    /// The first diverging schedule's class, if one diverged.
    pub divergence: Option<String>,
}

/// Explores every race scenario of `configs` (see [`ExploreRun`]); a few
/// seconds in all.
pub fn explore_races(configs: &[&'static Config]) -> Result<Vec<ExploreRun>> {
    let mut out = Vec::new();
    for s in crate::scenarios::races_to_explore() {
        if !configs.iter().any(|c| c.name == s.seq.config) {
            continue;
        }
        let mut pair = crate::run::Pair::open(&s.seq.config, crate::run::DEFAULT_POOL_PAGES)?;
        let e = crate::explore::explore_sequence(
            &mut pair,
            &s.seq,
            s.bound,
            Some(std::time::Duration::from_secs(30)),
        )?;
        let calls = match s.seq.ops.last() {
            Some(crate::model::Op::Concurrent(step)) => step
                .cpus
                .iter()
                .map(|c| c.len().to_string())
                .collect::<Vec<_>>()
                .join("+"),
            _ => String::new(),
        };
        out.push(ExploreRun {
            name: s.name.into(),
            what: s.what.into(),
            config: s.seq.config.clone(),
            calls,
            bound: s.bound,
            schedules: e.runs,
            pruned: e.pruned,
            max_decisions: e.max_decisions,
            exhausted: e.exhausted,
            seconds: e.seconds,
            divergence: e
                .divergence
                .map(|(bits, d)| format!("{} (schedule {bits:#x})", d.class())),
        });
    }
    Ok(out)
}

/// One mutant's fate.
#[derive(Clone, Debug, Serialize)]
pub struct MutantResult {
    /// Stable id.
    pub id: String,
    /// Its number in the schema (index in the operators' list + 1).
    pub number: u32,
    /// Operator.
    pub op: &'static str,
    /// Line.
    pub line: u32,
    /// `caught`, `survived`, `equivalent-tce`, `equivalent-list`,
    /// `stillborn` (compiles nowhere), `not-compiled` (on lines no chosen
    /// configuration compiles), `error` (could not be judged), `not-run`
    /// (the campaign diverged first).
    pub status: &'static str,
    /// For a judged mutant: `divergence`, `crash`, `hang` or `survived`.
    pub how: String,
    /// Why (the divergence's class, the equivalence reason, the build
    /// error, ...).
    pub detail: String,
    /// Seconds from its child's start to its verdict (time to kill).
    pub seconds: f64,
    /// The configurations it ran in (where its code differs).
    pub configs: Vec<String>,
    /// Configurations by what TCE found there: `same`, `differs`,
    /// `fails`, `not-compiled`.
    pub tce: BTreeMap<String, String>,
    /// The change.
    pub diff: String,
}

/// The mutation part of the report.
#[derive(Clone, Debug, Serialize)]
pub struct MutationPart {
    /// Mutants the operators make of the file.
    pub made: usize,
    /// Per operator.
    pub per_operator: BTreeMap<&'static str, usize>,
    /// Operators and what they do.
    pub operators: BTreeMap<&'static str, &'static str>,
    /// On lines no chosen configuration compiles.
    pub not_compiled: usize,
    /// Compiled in some chosen configuration.
    pub eligible: usize,
    /// Compile nowhere.
    pub stillborn: usize,
    /// Equivalent by trivial compiler equivalence.
    pub equivalent_tce: usize,
    /// Run in a child.
    pub judged: usize,
    /// Caught by their run.
    pub caught: usize,
    /// Survived, and listed in mutants/c-equivalent.txt.
    pub equivalent_list: usize,
    /// Survived, not listed.
    pub survived: usize,
    /// Could not be judged.
    pub errors: usize,
    /// Not run: the campaign diverged first.
    pub not_run: usize,
    /// Listed as equivalent, yet caught: the list is stale.
    pub listed_but_caught: Vec<String>,
    /// Each mutant's share, seconds.
    pub seconds_each: f64,
    /// Seconds without progress that make a hang.
    pub hang_seconds: f64,
    /// Time to find the TCE equivalents (compiles, cached after).
    pub tce_seconds: f64,
    /// Compiles TCE made (0 when all came from its cache).
    pub tce_compiles: usize,
    /// The schema build, seconds.
    pub build_seconds: f64,
    /// Judging every mutant, seconds (wall clock, `jobs` at once).
    pub judge_seconds: f64,
    /// Children at once.
    pub parallel: usize,
    /// Judged mutants caught within 0.01, 0.1, 1 and 10 s, and later.
    pub kill_times: Vec<(String, usize)>,
    /// Every mutant.
    pub results: Vec<MutantResult>,
}

/// One configuration's C coverage.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigCoverage {
    /// Whether the configuration's counters were read.
    pub measured: bool,
    /// Executable lines.
    pub lines_total: u32,
    /// Executed lines.
    pub lines_hit: u32,
    /// Percent.
    pub line_pct: f64,
    /// Branch outcomes.
    pub branches_total: u32,
    /// Taken.
    pub branches_hit: u32,
    /// Percent.
    pub branch_pct: f64,
    /// Every executable line not reached, explained.
    pub unreached: Vec<Unreached>,
}

/// A line the run did not reach.
#[derive(Clone, Debug, Serialize)]
pub struct Unreached {
    /// Line number.
    pub line: u32,
    /// Its text.
    pub text: String,
    /// `unreachable` (in this configuration) or `gap`.
    pub status: &'static str,
    /// Why.
    pub reason: String,
}

/// The port's coverage.
#[derive(Clone, Debug, Serialize)]
pub struct PortCoverage {
    /// Whether it was measured.
    pub measured: bool,
    /// What was measured, or why not.
    pub note: String,
    /// Regions of rust-segtab/src covered / total.
    pub regions_hit: u64,
    /// Total regions.
    pub regions_total: u64,
    /// Percent.
    pub region_pct: f64,
    /// Per file: (file, hit, total).
    pub files: Vec<(String, u64, u64)>,
}

/// The whole report (report.json).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Schema name.
    pub schema: &'static str,
    /// `equivalent`, `divergent` or `weak-oracle`.
    pub verdict: String,
    /// The one line printed on stdout.
    pub verdict_line: String,
    /// The exit code.
    pub exit_code: u8,
    /// What the verdict requires.
    pub thresholds: Thresholds,
    /// What was certified, where, when.
    pub identity: identity::Identity,
    /// The configurations.
    pub configs: Vec<String>,
    /// Budget, seconds (campaign + mutants).
    pub budget_seconds: u64,
    /// The campaign.
    pub campaign: CampaignPart,
    /// Race scenarios explored under every schedule within a bound.
    pub explore: Vec<ExploreRun>,
    /// caught / (sampled - equivalent - stillborn - errors); `None` when
    /// no mutant was judged.
    pub mutation_score: Option<f64>,
    /// The oracle self-test.
    pub mutation: MutationPart,
    /// C coverage per configuration.
    pub coverage: BTreeMap<String, ConfigCoverage>,
    /// Port coverage.
    pub port_coverage: PortCoverage,
    /// Outcome classes per configuration.
    pub outcomes: BTreeMap<String, Vec<outcomes::ClassResult>>,
}

/// A step of certify that shows only that it is running (a build, a
/// coverage read): a spinner on a terminal; else its message at once, a
/// plain line at a fixed interval while it runs
/// ([`campaign::status_every`]), and its last message.
struct Spinner {
    bar: indicatif::ProgressBar,
    plain: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl Spinner {
    fn finish_with_message(self, msg: impl Into<std::borrow::Cow<'static, str>>) {
        let msg = msg.into();
        if let Some((stop, t)) = self.plain {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = t.join();
            eprintln!("{msg}");
        }
        self.bar.finish_with_message(msg);
    }
}

fn spinner(msg: &str) -> Spinner {
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    b.enable_steady_tick(Duration::from_millis(200));
    b.set_message(msg.to_string());
    let plain = (!campaign::on_terminal()).then(|| {
        eprintln!("{msg}...");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, msg, every) = (stop.clone(), msg.to_string(), campaign::status_every());
        let t = std::thread::spawn(move || {
            let start = Instant::now();
            let mut next = every;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if start.elapsed() >= next {
                    next += every;
                    eprintln!("{msg}: {:.0} s so far", start.elapsed().as_secs_f64());
                }
            }
        });
        (stop, t)
    });
    Spinner { bar: b, plain }
}

/// Whether a plain status line is due: every [`campaign::status_every`].
struct Ticker {
    start: Instant,
    next: std::sync::Mutex<Duration>,
    every: Duration,
}

impl Ticker {
    fn new() -> Ticker {
        let every = campaign::status_every();
        Ticker {
            start: Instant::now(),
            next: std::sync::Mutex::new(every),
            every,
        }
    }

    fn due(&self) -> bool {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if self.start.elapsed() >= *next {
            while *next <= self.start.elapsed() {
                *next += self.every;
            }
            return true;
        }
        false
    }
}

/// What an interrupted certification got to, for its partial report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Partial {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Always `interrupted`.
    pub verdict: &'static str,
    /// Always true: this report is partial and signs nothing off.
    pub partial: bool,
    /// The one-line verdict printed.
    pub verdict_line: String,
    /// The step it was in when Ctrl-C or SIGTERM came.
    pub interrupted_in: String,
    /// Seconds from the start.
    pub seconds: f64,
    /// The identity of everything, as in a full report.
    pub identity: Option<identity::Identity>,
    /// The configurations.
    pub configs: Vec<String>,
    /// The campaign, if it ran (to its end or to the interruption).
    pub campaign: Option<CampaignPart>,
    /// Mutants judged before the interruption, and how many were caught.
    pub mutants_judged: usize,
    /// Of those, caught.
    pub mutants_caught: usize,
    /// Mutants to judge in all (0 before the plan was made).
    pub mutants_to_judge: usize,
}

static PARTIAL: std::sync::Mutex<Option<Partial>> = std::sync::Mutex::new(None);

fn partial(f: impl FnOnce(&mut Partial)) {
    if let Ok(mut p) = PARTIAL.lock() {
        f(p.get_or_insert_with(Partial::default));
    }
}

/// Run a certification; returns the exit code (errors are exit 2).
/// Interrupted (Ctrl-C, SIGTERM: see [`crate::interrupt`]), it writes a
/// partial report saying so and where it stopped, and returns 130.
pub fn run(o: &Options) -> Result<u8> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&o.out)?;
    partial(|p| {
        p.configs = o.configs.iter().map(|c| c.name.to_string()).collect();
        p.interrupted_in = "[0/5] planning".into();
    });
    let r = run_steps(o);
    match r {
        Err(e) if !crate::interrupt::is(&e) && !crate::interrupt::stopped() => Err(e),
        Ok(code) if !crate::interrupt::stopped() => Ok(code),
        _ => {
            let mut p = PARTIAL
                .lock()
                .map(|p| p.clone().unwrap_or_default())
                .unwrap_or_default();
            p.schema = SCHEMA;
            p.verdict = "interrupted";
            p.partial = true;
            p.seconds = t0.elapsed().as_secs_f64();
            p.verdict_line = format!(
                "certify: INTERRUPTED (Ctrl-C or SIGTERM) in {} after {:.0} s: no verdict; {}{} mutants judged ({} caught)",
                p.interrupted_in,
                p.seconds,
                p.campaign.as_ref().map_or(String::new(), |c| format!(
                    "campaign: {} operations, {} divergence(s); ",
                    c.operations,
                    c.divergences.len()
                )),
                if p.mutants_to_judge > 0 {
                    format!("{} of {}", p.mutants_judged, p.mutants_to_judge)
                } else {
                    "0".to_string()
                },
                p.mutants_caught,
            );
            std::fs::write(
                o.out.join("report.json"),
                serde_json::to_string_pretty(&p)? + "\n",
            )?;
            std::fs::write(o.out.join("report.html"), html::render_partial(&p))?;
            println!("{}", p.verdict_line);
            eprintln!("partial report: {}", o.out.join("report.html").display());
            Ok(crate::interrupt::EXIT)
        }
    }
}

fn run_steps(o: &Options) -> Result<u8> {
    let t0 = Instant::now();
    let started = identity::now_utc();
    let c_text = std::fs::read_to_string(&o.c_source)
        .with_context(|| format!("reading {}", o.c_source.display()))?;
    let mut ident = identity::collect(&o.root, &o.c_source, o.seed, started);
    partial(|p| p.identity = Some(ident.clone()));
    eprintln!(
        "certify: {} ({}) against the port {}, checkout at {}{}, configurations {}, seed {}, budget {} s",
        ident.c_file,
        ident.c_netbsd_id.as_deref().unwrap_or("no $NetBSD$ id"),
        ident.port.line(),
        &ident.git_commit[..ident.git_commit.len().min(12)],
        if ident.git_dirty { " (dirty)" } else { "" },
        o.config_arg,
        o.seed,
        o.seconds
    );
    let work = o.root.join("target/certify");
    // Its builds (the instrumented C, the mutant schema) and their coverage
    // notes live here, whatever the port or C: one certify at a time.
    let _hold = crate::rebuild::DirLock::acquire(&work, "certify")?;

    // 0. The budget: the mutant phase's worst case, bounded before any
    // build by the mutants the chosen configurations compile (the
    // preprocessor says which; TCE can only make fewer to run).
    let all = mutate::mutants(&c_text);
    let cc = tce::Compiler::new(&o.root, &work, o.jobs as usize);
    let mut compiled = BTreeSet::new();
    for cfg in &o.configs {
        compiled.extend(cc.compiled_lines(cfg, &c_text, &all)?);
    }
    let eligible = all.iter().filter(|m| compiled.contains(&m.line)).count();
    let worst = worst_case_secs(eligible, o.mutant_seconds, o.jobs as usize);
    let needed = worst.ceil() as u64 + MIN_CAMPAIGN_SECS;
    if o.seconds < needed {
        bail!(
            "a budget of {} s cannot judge all {eligible} mutants the chosen configurations compile \
             ({} at once, up to {} s each) besides a {MIN_CAMPAIGN_SECS} s campaign: \
             certify needs --seconds {needed} or more (or a smaller --mutant-seconds)",
            o.seconds,
            o.jobs,
            o.mutant_seconds,
        );
    }

    // 1. The build of the C instrumented for coverage.
    crate::interrupt::check()?;
    partial(|p| p.interrupted_in = "[1/5] the coverage build".into());
    let bar = spinner(
        "[1/5] building the engine with the C instrumented for coverage (target/certify/cov)",
    );
    let cov = coverage::build(&o.root, &o.c_source, &work.join("cov-build.log"))?;
    bar.finish_with_message(format!(
        "[1/5] coverage build ready ({})",
        cov.exe.display()
    ));
    coverage::reset(&cov.data)?;

    // 2. The campaign: what the mutants may not need.
    crate::interrupt::check()?;
    partial(|p| p.interrupted_in = "[2/5] the campaign".into());
    let campaign_secs = o.seconds - worst.ceil() as u64;
    eprintln!("[2/5] campaign: {campaign_secs} s over {}", o.config_arg);
    let repro = o.out.join("reproducers");
    let _ = std::fs::remove_dir_all(&repro);
    let c = Campaign {
        seconds: campaign_secs,
        configs: o.configs.clone(),
        config_arg: o
            .configs
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(","),
        seed: o.seed,
        jobs: o.jobs,
        out: repro.clone(),
        hang_secs: 20,
        deep_every: crate::run::DEFAULT_DEEP_EVERY,
        census: false,
        json: None,
        worker_exe: Some(cov.exe.clone()),
        outcomes: true,
        summary_to_stderr: true,
    };
    let stats = campaign::run_stats(&c)?;
    let divergences = stats
        .found
        .iter()
        .map(|p| finding(&cov.exe, Path::new(p)))
        .collect::<Vec<_>>();
    let features: BTreeSet<String> = stats.outcomes.keys().cloned().collect();
    let mut timeline = Vec::new();
    let mut last = (0.0, 0u64);
    for &(t, ops, n) in &stats.timeline {
        let dt = t - last.0;
        if dt > 0.05 {
            timeline.push((t, (ops - last.1) as f64 / dt, n));
            last = (t, ops);
        }
    }
    let campaign_part = CampaignPart {
        seconds: stats.seconds,
        sequences: stats.seqs,
        operations: stats.ops,
        ops_per_sec: stats.ops as f64 / stats.seconds.max(1e-3),
        concurrent_configs: o
            .configs
            .iter()
            .filter(|c| features.contains(&format!("{} concurrent", c.name)))
            .map(|c| c.name.to_string())
            .collect(),
        divergences,
        timeline,
    };
    partial(|p| p.campaign = Some(campaign_part.clone()));
    if stats.exit == crate::interrupt::EXIT {
        return Err(crate::interrupt::Interrupted.into());
    }
    partial(|p| p.interrupted_in = "[3/5] reading C coverage".into());

    // 2b. Races explored: every schedule within a preemption bound of
    // each race scenario (seconds), where the campaign only samples.
    let explore = explore_races(&o.configs)?;
    for e in &explore {
        eprintln!(
            "[2/5] explore {} {} ({} calls): {} schedules within {} preemptions{}, {:.2} s{}",
            e.name,
            e.config,
            e.calls,
            e.schedules,
            e.bound,
            if e.exhausted {
                ", space exhausted"
            } else {
                ", NOT exhausted"
            },
            e.seconds,
            e.divergence
                .as_ref()
                .map_or(String::new(), |d| format!(": DIVERGES: {d}"))
        );
    }
    let explore_diverged = explore.iter().find_map(|e| {
        e.divergence
            .as_ref()
            .map(|d| format!("explore {} {}: {d}", e.name, e.config))
    });

    // 3. C coverage and outcome classes.
    let bar = spinner("[3/5] reading C coverage (gcov)");
    let src_lines: Vec<&str> = c_text.lines().collect();
    let mut cov_by: BTreeMap<String, ConfigCoverage> = BTreeMap::new();
    let mut filecov: BTreeMap<&str, coverage::FileCov> = BTreeMap::new();
    let mut outcome_map = BTreeMap::new();
    for cfg in &o.configs {
        let fc = coverage::read(&cov.data, cfg.ident, &o.c_source)?;
        let entry = match &fc {
            Some(fc) => ConfigCoverage {
                measured: true,
                lines_total: fc.lines_total,
                lines_hit: fc.lines_hit,
                line_pct: fc.line_pct(),
                branches_total: fc.branches_total,
                branches_hit: fc.branches_hit,
                branch_pct: fc.branch_pct(),
                unreached: fc
                    .counts
                    .iter()
                    .filter(|(_, &n)| n == 0)
                    .map(|(&l, _)| {
                        let (status, reason) = match outcomes::unreached_reason(cfg, l) {
                            Some(r) => ("unreachable", r.to_string()),
                            None => ("gap", "reachable here; not reached by this run".into()),
                        };
                        Unreached {
                            line: l,
                            text: src_lines
                                .get(l as usize - 1)
                                .map(|s| s.trim().to_string())
                                .unwrap_or_default(),
                            status,
                            reason,
                        }
                    })
                    .collect(),
            },
            None => ConfigCoverage {
                measured: false,
                lines_total: 0,
                lines_hit: 0,
                line_pct: 0.0,
                branches_total: 0,
                branches_hit: 0,
                branch_pct: 0.0,
                unreached: Vec::new(),
            },
        };
        outcome_map.insert(
            cfg.name.to_string(),
            outcomes::classes(cfg, &features, fc.as_ref()),
        );
        if let Some(fc) = fc {
            filecov.insert(cfg.name, fc);
        }
        cov_by.insert(cfg.name.to_string(), entry);
    }
    bar.finish_with_message("[3/5] C coverage read");

    // 4. Mutants: TCE, the schema, and a run of each.
    let diverged =
        !campaign_part.divergences.is_empty() || stats.exit != 0 || explore_diverged.is_some();
    let (plan, build_seconds, judge_seconds) = if diverged {
        // The verdict is settled; a mutant can say nothing more.
        eprintln!("[4/5] mutants: not run (the campaign diverged)");
        (unjudged(all, &compiled, &c_text), 0.0, 0.0)
    } else {
        crate::interrupt::check()?;
        partial(|p| p.interrupted_in = "[4/5] trivial compiler equivalence".into());
        eprintln!("[4/5] mutants: compiling each alone (trivial compiler equivalence)");
        let mut plan = plan(&o.root, &c_text, all, &o.configs, o.jobs as usize, &work)?;
        eprintln!(
            "[4/5] mutants: {} made, {} to judge ({} TCE-equivalent, {} not compiled, {} stillborn), TCE {:.1} s",
            plan.all.len(),
            plan.jobs.len(),
            plan.results.iter().filter(|r| r.status == "equivalent-tce").count(),
            plan.results.iter().filter(|r| r.status == "not-compiled").count(),
            plan.results.iter().filter(|r| r.status == "stillborn").count(),
            plan.tce_seconds
        );
        crate::interrupt::check()?;
        partial(|p| {
            p.interrupted_in = "[4/5] the mutant schema build".into();
            p.mutants_to_judge = plan.jobs.len();
        });
        let bar = spinner("[4/5] building every mutant into one binary (the mutant schema)");
        let tb = Instant::now();
        let schema_path = work.join("schema/pmap_segtab.c");
        std::fs::create_dir_all(schema_path.parent().unwrap_or(&work))?;
        std::fs::write(&schema_path, schema_source(&c_text, &plan, &o.configs)?)?;
        let schema_exe = judge::build(
            &o.root,
            &schema_path,
            &work.join("schema-build"),
            &o.configs,
            &work.join("schema-build.log"),
        )?;
        let build_seconds = tb.elapsed().as_secs_f64();
        bar.finish_with_message(format!("[4/5] mutant schema built in {build_seconds:.0} s"));
        crate::interrupt::check()?;
        partial(|p| p.interrupted_in = "[4/5] judging the mutants".into());
        let judge_seconds = judge_plan(o, &mut plan, &schema_exe)?;
        (plan, build_seconds, judge_seconds)
    };
    let mutation = summarise(plan, o, build_seconds, judge_seconds);
    eprintln!(
        "[4/5] mutants: {} judged in {:.0} s: {} caught, {} listed as equivalent, {} survived, {} errors",
        mutation.judged,
        judge_seconds,
        mutation.caught,
        mutation.equivalent_list,
        mutation.survived,
        mutation.errors
    );
    let score = score(&mutation);

    // 5. Port coverage.
    crate::interrupt::check()?;
    partial(|p| p.interrupted_in = "[5/5] port coverage".into());
    let bar = spinner("[5/5] port coverage (cargo-llvm-cov)");
    let port = port_coverage(o, campaign_secs.min(20), &work);
    bar.finish_with_message(format!("[5/5] port coverage: {}", port.note));

    let (verdict, exit) = verdict(diverged, &mutation);
    ident.duration_secs = t0.elapsed().as_secs_f64();
    let score_text = score.map_or("not measured".to_string(), |s| format!("{:.0}%", 100.0 * s));
    let killable = mutation.judged - mutation.equivalent_list;
    let verdict_line = match verdict {
        "divergent" => format!(
            "certify: DIVERGENT: {}",
            campaign_part
                .divergences
                .first()
                .map(|d| format!("{} ({})", d.class, d.path))
                .or(explore_diverged)
                .unwrap_or_else(|| "a worker failed".to_string())
        ),
        "incomplete" => format!(
            "certify: ERROR: {} of {} mutants could not be judged; no verdict (see the mutant table)",
            mutation.errors + mutation.not_run,
            mutation.eligible
        ),
        "weak-oracle" => format!(
            "certify: WEAK ORACLE: no divergence in {:.0} s, but {} of {killable} mutants survived (mutation score {score_text}; need {:.0}%): {}",
            campaign_part.seconds,
            mutation.survived,
            100.0 * MIN_SCORE,
            mutation
                .results
                .iter()
                .filter(|r| r.status == "survived")
                .map(|r| r.id.as_str())
                .take(3)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!(
            "certify: EQUIVALENT within {:.0} s ({} operations over {} configurations), mutation score {score_text}: {} of {killable} mutants caught, every one of the {} made judged or shown equivalent ({} TCE, {} listed)",
            campaign_part.seconds,
            campaign_part.operations,
            o.configs.len(),
            mutation.caught,
            mutation.made,
            mutation.equivalent_tce,
            mutation.equivalent_list
        ),
    };
    let report = Report {
        schema: SCHEMA,
        verdict: verdict.into(),
        verdict_line: verdict_line.clone(),
        exit_code: exit,
        thresholds: Thresholds {
            divergences: 0,
            mutation_score_min: MIN_SCORE,
            all_mutants_judged: true,
            not_gating: "C line/branch coverage, outcome-class gaps and port coverage are reported for the reviewer; they do not gate the verdict".into(),
        },
        identity: ident,
        configs: o.configs.iter().map(|c| c.name.to_string()).collect(),
        budget_seconds: o.seconds,
        campaign: campaign_part,
        explore,
        mutation_score: score,
        mutation,
        coverage: cov_by,
        port_coverage: port,
        outcomes: outcome_map,
    };
    write(&o.out, &report)?;
    println!("{verdict_line}");
    eprintln!("report: {}", o.out.join("report.html").display());
    Ok(exit)
}

/// Write report.json and report.html.
pub fn write(out: &Path, r: &Report) -> Result<()> {
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(r)? + "\n",
    )?;
    std::fs::write(out.join("report.html"), html::render(r))?;
    Ok(())
}

/// Name a divergence: its class and the start of its replayed report.
fn finding(exe: &Path, path: &Path) -> Finding {
    let class = crate::corpus::load_with_class(path)
        .map(|(_, c)| c)
        .unwrap_or_default();
    let out = Command::new(exe)
        .arg("replay")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).to_string();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s
        })
        .unwrap_or_default();
    let report: String = out.lines().take(60).collect::<Vec<_>>().join("\n");
    Finding {
        path: path.display().to_string(),
        class,
        report,
    }
}

/// The configurations an entry of `mutants/c-equivalent.txt` is limited
/// to: a reason that starts `[name,name] ` holds only when every
/// configuration the mutant runs in is one of those (a mutant can be
/// equivalent without MULTIPROCESSOR and killable with it). `None`: all.
pub fn equivalence_scope(reason: &str) -> Option<Vec<&str>> {
    let rest = reason.strip_prefix('[')?;
    let (names, _) = rest.split_once(']')?;
    Some(names.split(',').map(str::trim).collect())
}

/// The equivalent mutants: `id<TAB or spaces>reason` per line, `#`
/// comments; see [`equivalence_scope`] for a reason limited to some
/// configurations.
pub fn equivalents(root: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root.join("mutants/c-equivalent.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (id, reason) = l.split_once("  ").or_else(|| l.split_once('\t'))?;
            Some((id.trim().to_string(), reason.trim().to_string()))
        })
        .collect()
}

/// The mutant phase, decided before anything runs: every mutant the
/// operators make, what trivial compiler equivalence says of it in each
/// chosen configuration, and the ones left to judge.
pub struct Plan {
    /// Every mutant, in the operators' order (number = index + 1).
    pub all: Vec<mutate::Mutant>,
    /// One row per mutant; the ones to judge are `not-run` until judged.
    pub results: Vec<MutantResult>,
    /// (row, job) for every mutant to judge.
    pub jobs: Vec<(usize, judge::Job)>,
    /// Seconds TCE took.
    pub tce_seconds: f64,
    /// Compiles it made.
    pub tce_compiles: usize,
}

/// The worst-case time to judge `n` mutants: each its whole share (and a
/// child's start), `parallel` at once.
pub fn worst_case_secs(n: usize, share: f64, parallel: usize) -> f64 {
    let rounds = n.div_ceil(parallel.max(1));
    rounds as f64 * (share + 0.5)
}

/// The rows of a run that judged no mutant (the campaign diverged first):
/// every mutant a chosen configuration compiles is `not-run`.
fn unjudged(all: Vec<mutate::Mutant>, compiled: &BTreeSet<u32>, c_text: &str) -> Plan {
    let results = all
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let on = compiled.contains(&m.line);
            MutantResult {
                id: m.id.clone(),
                number: i as u32 + 1,
                op: m.op.name(),
                line: m.line,
                status: if on { "not-run" } else { "not-compiled" },
                how: String::new(),
                detail: if on {
                    "not run: the campaign diverged first".into()
                } else {
                    "on a line no chosen configuration compiles".into()
                },
                seconds: 0.0,
                configs: Vec::new(),
                tce: BTreeMap::new(),
                diff: m.diff(c_text),
            }
        })
        .collect();
    Plan {
        all,
        results,
        jobs: Vec::new(),
        tce_seconds: 0.0,
        tce_compiles: 0,
    }
}

/// Classify `all`, every mutant of `c_text` (`mutate::mutants`), for
/// `configs` (TCE), using `work` for scratch space and the cache.
pub fn plan(
    root: &Path,
    c_text: &str,
    all: Vec<mutate::Mutant>,
    configs: &[&'static Config],
    jobs: usize,
    work: &Path,
) -> Result<Plan> {
    let t = Instant::now();
    let equiv = equivalents(root);
    let cc = tce::Compiler::new(root, work, jobs);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{pos}/{len}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("trivial compiler equivalence: compiling each mutant alone");
    let compiles = std::sync::atomic::AtomicUsize::new(0);
    let (plain, tick) = (!campaign::on_terminal(), Ticker::new());
    let effects = tce::effects(&cc, c_text, &all, configs, &|done, total| {
        if plain && tick.due() {
            eprintln!("[4/5] trivial compiler equivalence: {done} of {total} compiles");
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        compiles.store(total, std::sync::atomic::Ordering::Relaxed);
    })?;
    bar.finish_and_clear();
    let units = schema::units(c_text)?;
    let unit_of = schema::assign(c_text, &units, &all);
    let mut results = Vec::with_capacity(all.len());
    let mut jobs_out = Vec::new();
    for (i, m) in all.iter().enumerate() {
        let eff = &effects[i];
        let tce_map: BTreeMap<String, String> = eff
            .iter()
            .map(|(c, e)| {
                let v = match e {
                    tce::Effect::NotCompiled => "not-compiled",
                    tce::Effect::Same => "same",
                    tce::Effect::Differs => "differs",
                    tce::Effect::Fails(_) => "fails",
                };
                (c.clone(), v.to_string())
            })
            .collect();
        let differs: Vec<&'static Config> = configs
            .iter()
            .copied()
            .filter(|c| eff.get(c.name) == Some(&tce::Effect::Differs))
            .collect();
        let compiled = eff.values().any(|e| *e != tce::Effect::NotCompiled);
        let builds = eff
            .values()
            .any(|e| matches!(e, tce::Effect::Same | tce::Effect::Differs));
        let (status, detail) = if !compiled {
            (
                "not-compiled",
                "on a line no chosen configuration compiles".to_string(),
            )
        } else if !builds {
            let why = eff
                .values()
                .find_map(|e| match e {
                    tce::Effect::Fails(w) => Some(w.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            ("stillborn", format!("does not compile: {why}"))
        } else if differs.is_empty() {
            (
                "equivalent-tce",
                "TCE: object code identical to the original's in every configuration that compiles it".to_string(),
            )
        } else if unit_of[i].is_none() {
            (
                "error",
                "in no statement or condition the schema can switch (a gap of schema.rs)"
                    .to_string(),
            )
        } else {
            jobs_out.push((
                i,
                judge::Job {
                    number: i as u32 + 1,
                    id: m.id.clone(),
                    configs: differs.clone(),
                },
            ));
            let listed = equiv.get(&m.id).filter(|r| {
                equivalence_scope(r).map_or(true, |scope| {
                    differs.iter().all(|c| scope.contains(&c.name))
                })
            });
            (
                "not-run",
                listed
                    .map(|r| format!("listed as equivalent: {r}"))
                    .unwrap_or_default(),
            )
        };
        results.push(MutantResult {
            id: m.id.clone(),
            number: i as u32 + 1,
            op: m.op.name(),
            line: m.line,
            status,
            how: String::new(),
            detail,
            seconds: 0.0,
            configs: differs.iter().map(|c| c.name.to_string()).collect(),
            tce: tce_map,
            diff: m.diff(c_text),
        });
    }
    Ok(Plan {
        all,
        results,
        jobs: jobs_out,
        tce_seconds: t.elapsed().as_secs_f64(),
        tce_compiles: compiles.into_inner(),
    })
}

/// The schema source of a plan: every mutant to judge, fenced where it
/// does not compile.
pub fn schema_source(c_text: &str, p: &Plan, configs: &[&'static Config]) -> Result<String> {
    let entries: Vec<schema::Entry> = p
        .jobs
        .iter()
        .map(|(row, job)| {
            let r = &p.results[*row];
            let fails = r.tce.values().any(|v| v == "fails");
            schema::Entry {
                mutant: &p.all[*row],
                number: job.number,
                only: fails.then(|| {
                    configs
                        .iter()
                        .filter(|c| r.tce.get(c.name).map(String::as_str) != Some("fails"))
                        .map(|c| c.ident.to_string())
                        .collect()
                }),
            }
        })
        .collect();
    schema::generate(c_text, &entries)
}

/// The verdict and exit code of a run: DIVERGENT (1) settles it; a mutant
/// that could not be judged makes the run an error (2), not a verdict; a
/// survivor not listed as equivalent is a WEAK ORACLE (1), and so is a run
/// that judged nothing; otherwise EQUIVALENT (0).
pub fn verdict(diverged: bool, m: &MutationPart) -> (&'static str, u8) {
    if diverged {
        ("divergent", 1)
    } else if m.errors > 0 || m.not_run > 0 {
        ("incomplete", 2)
    } else if m.survived > 0 || m.caught == 0 {
        ("weak-oracle", 1)
    } else {
        ("equivalent", 0)
    }
}

/// caught / (judged - listed survivors): `None` when that is no mutant.
pub fn score(m: &MutationPart) -> Option<f64> {
    let n = m.judged.saturating_sub(m.equivalent_list);
    (n > 0).then(|| m.caught as f64 / n as f64)
}

/// The histogram of times to kill.
pub fn kill_times(results: &[MutantResult]) -> Vec<(String, usize)> {
    let caught: Vec<f64> = results
        .iter()
        .filter(|r| r.status == "caught")
        .map(|r| r.seconds)
        .collect();
    let mut v: Vec<(String, usize)> = [0.01, 0.1, 1.0, 10.0]
        .iter()
        .map(|&b| {
            (
                format!("within {b} s"),
                caught.iter().filter(|&&s| s <= b).count(),
            )
        })
        .collect();
    v.push((
        "after 10 s".into(),
        caught.iter().filter(|&&s| s > 10.0).count(),
    ));
    v
}

/// Count a plan's rows into the report's part.
pub fn summarise(p: Plan, o: &Options, build_seconds: f64, judge_seconds: f64) -> MutationPart {
    let r = &p.results;
    let count = |s: &str| r.iter().filter(|x| x.status == s).count();
    let judged = r
        .iter()
        .filter(|x| matches!(x.status, "caught" | "survived" | "equivalent-list"))
        .count();
    MutationPart {
        made: p.all.len(),
        per_operator: mutate::counts(&p.all),
        operators: mutate::Operator::ALL
            .iter()
            .map(|op| (op.name(), op.describe()))
            .collect(),
        not_compiled: count("not-compiled"),
        eligible: p.all.len() - count("not-compiled"),
        stillborn: count("stillborn"),
        equivalent_tce: count("equivalent-tce"),
        judged,
        caught: count("caught"),
        equivalent_list: count("equivalent-list"),
        survived: count("survived"),
        errors: count("error"),
        not_run: count("not-run"),
        listed_but_caught: r
            .iter()
            .filter(|x| x.status == "caught" && x.detail.contains("[listed as equivalent"))
            .map(|x| x.id.clone())
            .collect(),
        seconds_each: o.mutant_seconds,
        hang_seconds: HANG_SECS,
        tce_seconds: p.tce_seconds,
        tce_compiles: p.tce_compiles,
        build_seconds,
        judge_seconds,
        parallel: o.jobs as usize,
        kill_times: kill_times(r),
        results: p.results,
    }
}

/// Judge every mutant of the plan with the schema build `exe`, filling in
/// its rows.
fn judge_plan(o: &Options, p: &mut Plan, exe: &Path) -> Result<f64> {
    let t = Instant::now();
    let settings = judge::Settings {
        exe: exe.to_path_buf(),
        root: o.root.clone(),
        share: o.mutant_seconds,
        hang: HANG_SECS,
        parallel: o.jobs as usize,
    };
    // The schema with no mutant selected must agree with the port: else
    // every "caught" below would be the schema's own bug.
    let zero = judge::judge(
        &judge::Settings {
            share: o.mutant_seconds.min(2.0),
            ..settings.clone()
        },
        &judge::Job {
            number: 0,
            id: "original".into(),
            configs: o.configs.clone(),
        },
    )?;
    if zero.caught {
        bail!(
            "the mutant schema with no mutant selected does not agree with the port ({}: {}); a bug of the schema generator",
            zero.how,
            zero.detail
        );
    }
    let n = p.jobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let caught = std::sync::atomic::AtomicUsize::new(0);
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [4/5] mutant {pos} of {len}: {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let plain = !campaign::on_terminal();
    let tick = Ticker::new();
    let jobs: Vec<judge::Job> = p.jobs.iter().map(|(_, j)| j.clone()).collect();
    let verdicts = judge::judge_all(&settings, &jobs, &|i, v| {
        let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if v.caught {
            caught.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let c = caught.load(std::sync::atomic::Ordering::Relaxed);
        partial(|p| (p.mutants_judged, p.mutants_caught) = (d, c));
        let msg = format!("{c} caught; {} {} ({:.2} s)", jobs[i].id, v.how, v.seconds);
        if plain {
            // No terminal (CI logs): a plain line at a fixed interval.
            if tick.due() || d == n {
                eprintln!("[4/5] mutant {d} of {n}: {msg}");
            }
        } else {
            bar.set_position(d as u64);
            bar.set_message(msg);
        }
    })?;
    bar.finish_and_clear();
    for ((row, _), v) in p.jobs.iter().zip(verdicts) {
        let r = &mut p.results[*row];
        let listed = r
            .detail
            .strip_prefix("listed as equivalent: ")
            .map(str::to_string);
        r.how = v.how.to_string();
        r.seconds = v.seconds;
        (r.status, r.detail) = match (v.how, listed) {
            ("error", _) => ("error", v.detail),
            (_, Some(reason)) if !v.caught => ("equivalent-list", reason),
            (_, Some(_)) => (
                "caught",
                format!("{} [listed as equivalent in mutants/c-equivalent.txt, yet caught: the entry is wrong]", v.detail),
            ),
            (_, None) if v.caught => ("caught", v.detail),
            (_, None) => ("survived", v.detail),
        };
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Region coverage of rust-segtab under a campaign with the same seed,
/// with cargo-llvm-cov if installed.
fn port_coverage(o: &Options, seconds: u64, work: &Path) -> PortCoverage {
    let none = |note: String| PortCoverage {
        measured: false,
        note,
        regions_hit: 0,
        regions_total: 0,
        region_pct: 0.0,
        files: Vec::new(),
    };
    let have = Command::new("cargo")
        .args(["llvm-cov", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        return none("not measured (cargo-llvm-cov not installed)".into());
    }
    if let Some(p) = crate::port::external() {
        // The llvm-cov run builds the checkout's workspace, whose port is
        // rust-segtab/, not this one.
        return none(format!(
            "not measured (port coverage covers the built-in rust-segtab only; this run certifies {} via --port)",
            p.package
        ));
    }
    let json = work.join("port-cov.json");
    let names = o
        .configs
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(",");
    let log = work.join("port-cov.log");
    let Ok(logf) = std::fs::File::create(&log) else {
        return none("not measured (cannot write its log)".into());
    };
    // `run` reports only the package it runs: collect, then report the
    // port's crate too.
    // Stopped with the rest by Ctrl-C or SIGTERM (the port's coverage
    // is then not measured).
    let status = crate::rebuild::status_stoppable(
        Command::new("cargo")
            .args([
                "llvm-cov",
                "run",
                "--release",
                "-p",
                "segtab-diff",
                "--bin",
                "segtab-diff",
            ])
            .arg("--no-report")
            .args([
                "--",
                "campaign",
                "--seconds",
                &seconds.to_string(),
                "--config",
                &names,
            ])
            .args([
                "--seed",
                &o.seed.to_string(),
                "--jobs",
                &o.jobs.to_string(),
                "--out",
            ])
            .arg(work.join("port-cov-out"))
            .current_dir(&o.root)
            .env_remove("SEGTAB_C_SOURCE")
            .env_remove("SEGTAB_CONFIGS")
            .stdout(logf.try_clone().expect("log file"))
            .stderr(logf),
    )
    .map_err(|e| std::io::Error::other(format!("{e:#}")));
    let status = status.and_then(|s| {
        if !s.success() {
            return Ok(s);
        }
        Command::new("cargo")
            .args([
                "llvm-cov",
                "report",
                "--release",
                "-p",
                "segtab-diff",
                "-p",
                "rust-segtab",
            ])
            .args(["--json", "--summary-only", "--output-path"])
            .arg(&json)
            .current_dir(&o.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    });
    if !status.is_ok_and(|s| s.success()) {
        return none(format!(
            "not measured (cargo llvm-cov failed; log {})",
            log.display()
        ));
    }
    let Ok(v) = std::fs::read_to_string(&json)
        .map_err(anyhow::Error::from)
        .and_then(|t| Ok(serde_json::from_str::<serde_json::Value>(&t)?))
    else {
        return none("not measured (no JSON from cargo llvm-cov)".into());
    };
    let mut files = Vec::new();
    for f in v["data"][0]["files"].as_array().into_iter().flatten() {
        let name = f["filename"].as_str().unwrap_or("");
        if let Some(p) = name.find("rust-segtab/src/") {
            let r = &f["summary"]["regions"];
            files.push((
                name[p..].to_string(),
                r["covered"].as_u64().unwrap_or(0),
                r["count"].as_u64().unwrap_or(0),
            ));
        }
    }
    let (hit, total) = files.iter().fold((0, 0), |a, f| (a.0 + f.1, a.1 + f.2));
    PortCoverage {
        measured: total > 0,
        note: format!(
            "regions of rust-segtab/src reached by a {seconds} s campaign with the same seed and configurations (cargo llvm-cov run, vendored C)"
        ),
        regions_hit: hit,
        regions_total: total,
        region_pct: if total > 0 {
            100.0 * hit as f64 / total as f64
        } else {
            0.0
        },
        files,
    }
}

/// The checkout certify runs in: the current directory's, else the one
/// this binary was built from.
pub fn checkout() -> Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    if let Some(r) = crate::corpus::repository(&cwd) {
        return Ok(r);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match crate::corpus::repository(&built) {
        Some(r) => Ok(r),
        None => bail!("certify builds the C: run it inside a segtab-diff checkout"),
    }
}
