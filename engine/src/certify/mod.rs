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
//! 4. self-tests the oracle: mutants of the C made by operators
//!    ([`mutate`]), a seeded sample of them each built in a child and run
//!    briefly; every one must be caught or listed as equivalent in
//!    `mutants/c-equivalent.txt`;
//! 5. measures the port's region coverage under the same campaign, when
//!    cargo-llvm-cov is installed;
//! 6. writes `report.json` and a self-contained `report.html`
//!    ([`html`]), and prints a one-line verdict.
//!
//! Exit 0: no divergence within the budget and the oracle is strong enough
//! (every judged mutant caught, at least [`MIN_JUDGED`] judged); 1: a
//! divergence or a weak oracle; 2: a tool error.

pub mod coverage;
pub mod html;
pub mod identity;
pub mod mutate;
pub mod outcomes;

use crate::campaign::{self, Campaign};
use anyhow::{bail, Context, Result};
use c_reference::Config;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The least number of mutants that must be judged (built and run, not
/// equivalent, not stillborn) for the oracle to count as measured.
pub const MIN_JUDGED: usize = 1;
/// The mutation score the oracle needs: every judged mutant caught.
pub const MIN_SCORE: f64 = 1.0;
/// The report's schema name.
pub const SCHEMA: &str = "segtab-diff-certify/1";

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
    /// Campaign seconds per mutant.
    pub mutant_seconds: u64,
    /// The checkout (built from, and holding `mutants/c-equivalent.txt`).
    pub root: PathBuf,
}

/// Thresholds, stated in the report.
#[derive(Clone, Debug, Serialize)]
pub struct Thresholds {
    /// Divergences allowed.
    pub divergences: u32,
    /// Least mutation score over judged mutants.
    pub mutation_score_min: f64,
    /// Least judged mutants.
    pub judged_mutants_min: usize,
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

/// One mutant's fate.
#[derive(Clone, Debug, Serialize)]
pub struct MutantResult {
    /// Stable id.
    pub id: String,
    /// Operator.
    pub op: &'static str,
    /// Line.
    pub line: u32,
    /// `caught`, `survived`, `equivalent`, `stillborn` (does not
    /// compile), `error` (the mutant's campaign could not run).
    pub status: &'static str,
    /// Why (campaign summary, equivalence reason, build error, ...).
    pub detail: String,
    /// Seconds spent on it.
    pub seconds: f64,
    /// The change.
    pub diff: String,
}

/// The mutation part of the report.
#[derive(Clone, Debug, Serialize)]
pub struct MutationPart {
    /// Mutants the operators make of the file.
    pub population: usize,
    /// Per operator.
    pub per_operator: BTreeMap<&'static str, usize>,
    /// Operators and what they do.
    pub operators: BTreeMap<&'static str, &'static str>,
    /// On lines no chosen configuration compiles: left out of the sample.
    pub not_compiled: usize,
    /// Sampled and judged or classified.
    pub sampled: usize,
    /// Caught by the campaign.
    pub caught: usize,
    /// Listed as equivalent.
    pub equivalent: usize,
    /// Did not compile.
    pub stillborn: usize,
    /// Could not be run.
    pub errors: usize,
    /// Not caught and not listed.
    pub survived: usize,
    /// Campaign seconds per mutant.
    pub seconds_each: u64,
    /// Every sampled mutant.
    pub results: Vec<MutantResult>,
}

impl MutationPart {
    /// The population only: no mutant was run.
    fn skipped(c_text: &str, seconds_each: u64) -> MutationPart {
        let all = mutate::mutants(c_text);
        MutationPart {
            population: all.len(),
            per_operator: mutate::counts(&all),
            operators: mutate::Operator::ALL
                .iter()
                .map(|op| (op.name(), op.describe()))
                .collect(),
            not_compiled: 0,
            sampled: 0,
            caught: 0,
            equivalent: 0,
            stillborn: 0,
            errors: 0,
            survived: 0,
            seconds_each,
            results: Vec::new(),
        }
    }
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

fn spinner(msg: &str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    b.enable_steady_tick(Duration::from_millis(200));
    b.set_message(msg.to_string());
    b
}

/// Run a certification; returns the exit code (errors are exit 2).
pub fn run(o: &Options) -> Result<u8> {
    let t0 = Instant::now();
    let started = identity::now_utc();
    std::fs::create_dir_all(&o.out)?;
    let c_text = std::fs::read_to_string(&o.c_source)
        .with_context(|| format!("reading {}", o.c_source.display()))?;
    let mut ident = identity::collect(&o.root, &o.c_source, o.seed, started);
    eprintln!(
        "certify: {} ({}) against the port at {}{}, configurations {}, seed {}, budget {} s",
        o.c_source.display(),
        ident.c_netbsd_id.as_deref().unwrap_or("no $NetBSD$ id"),
        &ident.git_commit[..ident.git_commit.len().min(12)],
        if ident.git_dirty { " (dirty)" } else { "" },
        o.config_arg,
        o.seed,
        o.seconds
    );
    let work = o.root.join("target/certify");
    std::fs::create_dir_all(&work)?;

    // 1. The instrumented build.
    let bar = spinner(
        "[1/5] building the engine with the C instrumented for coverage (target/certify/cov)",
    );
    let cov = coverage::build(&o.root, &o.c_source, &work.join("cov-build.log"))?;
    bar.finish_with_message(format!(
        "[1/5] coverage build ready ({})",
        cov.exe.display()
    ));
    coverage::reset(&cov.data)?;

    // 2. The campaign.
    let campaign_secs = (o.seconds / 2).max(5);
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

    // 4. Mutants.
    let mutant_deadline =
        Instant::now() + Duration::from_secs(o.seconds.saturating_sub(campaign_secs));
    let diverged = !campaign_part.divergences.is_empty() || stats.exit != 0;
    let mutation = if diverged {
        // The verdict is settled; a mutant can say nothing more.
        eprintln!("[4/5] mutants: not run (the campaign diverged)");
        MutationPart::skipped(c_text.as_str(), o.mutant_seconds)
    } else {
        mutants(o, &c_text, &filecov, mutant_deadline, &work)?
    };
    let judged = mutation.sampled - mutation.equivalent - mutation.stillborn - mutation.errors;
    let score = (judged > 0).then(|| mutation.caught as f64 / judged as f64);

    // 5. Port coverage.
    let bar = spinner("[5/5] port coverage (cargo-llvm-cov)");
    let port = port_coverage(o, campaign_secs.min(20), &work);
    bar.finish_with_message(format!("[5/5] port coverage: {}", port.note));

    let divergent = diverged;
    let weak = score.map_or(true, |s| s < MIN_SCORE) || judged < MIN_JUDGED;
    let (verdict, exit) = if divergent {
        ("divergent", 1)
    } else if weak {
        ("weak-oracle", 1)
    } else {
        ("equivalent", 0)
    };
    ident.duration_secs = t0.elapsed().as_secs_f64();
    let score_text = score.map_or("not measured".to_string(), |s| format!("{:.0}%", 100.0 * s));
    let verdict_line = match verdict {
        "divergent" => format!(
            "certify: DIVERGENT: {}",
            campaign_part
                .divergences
                .first()
                .map_or("a worker failed".to_string(), |d| format!("{} ({})", d.class, d.path))
        ),
        "weak-oracle" => format!(
            "certify: WEAK ORACLE: no divergence in {:.0} s, but mutation score {score_text} ({} caught of {judged} judged, {} survived; need {:.0}% of at least {MIN_JUDGED})",
            campaign_part.seconds,
            mutation.caught,
            mutation.survived,
            100.0 * MIN_SCORE
        ),
        _ => format!(
            "certify: EQUIVALENT within {:.0} s ({} operations over {} configurations), mutation score {score_text} ({}/{judged})",
            campaign_part.seconds,
            campaign_part.operations,
            o.configs.len(),
            mutation.caught
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
            judged_mutants_min: MIN_JUDGED,
            not_gating: "C line/branch coverage, outcome-class gaps and port coverage are reported for the reviewer; they do not gate the verdict".into(),
        },
        identity: ident,
        configs: o.configs.iter().map(|c| c.name.to_string()).collect(),
        budget_seconds: o.seconds,
        campaign: campaign_part,
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

/// The equivalent mutants: `id<TAB or spaces>reason` per line, `#`
/// comments.
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

fn mutants(
    o: &Options,
    c_text: &str,
    filecov: &BTreeMap<&str, coverage::FileCov>,
    deadline: Instant,
    work: &Path,
) -> Result<MutationPart> {
    let all = mutate::mutants(c_text);
    let equiv = equivalents(&o.root);
    // Lines compiled in some chosen configuration (all lines when no
    // coverage was read), and lines executed by the campaign.
    let measured = !filecov.is_empty();
    let compiled = |l: u32| !measured || filecov.values().any(|f| f.compiled(l));
    let executed = |l: u32| !measured || filecov.values().any(|f| f.count(l) > 0);
    let eligible: Vec<&mutate::Mutant> = all.iter().filter(|m| compiled(m.line)).collect();
    let order = mutate::sample_order(eligible.len(), o.seed);
    let src_dir = work.join("mutant-src");
    std::fs::create_dir_all(&src_dir)?;
    let src = src_dir.join("pmap_segtab.c");
    let target = work.join("mutants");
    let names = o
        .configs
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(",");
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut results: Vec<MutantResult> = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        // Always judge one: a budget too small for any would certify
        // nothing about the oracle.
        let judged = results
            .iter()
            .filter(|r| matches!(r.status, "caught" | "survived"))
            .count();
        if Instant::now() >= deadline && judged >= MIN_JUDGED {
            break;
        }
        let m = eligible[i];
        let t = Instant::now();
        let caught = results.iter().filter(|r| r.status == "caught").count();
        bar.set_message(format!(
            "[4/5] mutant {} of {} sampled so far ({caught} caught): {}",
            n + 1,
            eligible.len(),
            m.id
        ));
        let (status, detail) = if let Some(reason) = equiv.get(&m.id) {
            ("equivalent", reason.clone())
        } else if !executed(m.line) {
            (
                "survived",
                "its line was never executed by the certify campaign (a coverage gap)".to_string(),
            )
        } else {
            std::fs::write(&src, m.apply(c_text))?;
            judge(o, &src, &target, &names, work)?
        };
        results.push(MutantResult {
            id: m.id.clone(),
            op: m.op.name(),
            line: m.line,
            status,
            detail,
            seconds: t.elapsed().as_secs_f64(),
            diff: m.diff(c_text),
        });
    }
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    bar.finish_with_message(format!(
        "[4/5] mutants: {} sampled of {}, {} caught, {} survived, {} equivalent, {} stillborn",
        results.len(),
        eligible.len(),
        count("caught"),
        count("survived"),
        count("equivalent"),
        count("stillborn")
    ));
    Ok(MutationPart {
        population: all.len(),
        per_operator: mutate::counts(&all),
        operators: mutate::Operator::ALL
            .iter()
            .map(|op| (op.name(), op.describe()))
            .collect(),
        not_compiled: all.len() - eligible.len(),
        sampled: results.len(),
        caught: count("caught"),
        equivalent: count("equivalent"),
        stillborn: count("stillborn"),
        errors: count("error"),
        survived: count("survived"),
        seconds_each: o.mutant_seconds,
        results,
    })
}

/// Build the mutant at `src` (only the chosen configurations) in a child
/// and run a short campaign with it: 1 = caught.
fn judge(
    o: &Options,
    src: &Path,
    target: &Path,
    names: &str,
    work: &Path,
) -> Result<(&'static str, String)> {
    let log = work.join("mutant-build.log");
    let status = crate::rebuild::cargo_build(&o.root, src, target)
        .env("SEGTAB_CONFIGS", names)
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(work.join("mutant-build.err"))?)
        .status()
        .context("running cargo for a mutant")?;
    if !status.success() {
        let err = coverage::tail(&work.join("mutant-build.err"), 400);
        let first = err
            .lines()
            .find(|l| l.contains("error") || l.contains("missing interface"))
            .unwrap_or("the build failed")
            .trim()
            .to_string();
        return Ok(("stillborn", first));
    }
    let exe = target.join("release/segtab-diff");
    let scratch = work.join("mutant-out");
    let _ = std::fs::remove_dir_all(&scratch);
    let (out_path, err_path) = (work.join("mutant-run.out"), work.join("mutant-run.err"));
    let mut child = Command::new(&exe)
        .args(["campaign", "--seconds", &o.mutant_seconds.to_string()])
        .args(["--config", names, "--seed", &o.seed.to_string()])
        .args(["--jobs", &o.jobs.to_string(), "--out"])
        .arg(&scratch)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .context("running a mutant's campaign")?;
    // A mutant that crashes or hangs a worker is caught as soon as the
    // campaign says so; minimizing that in child processes can take
    // minutes, which the verdict does not need.
    let limit = Duration::from_secs(o.mutant_seconds + 60);
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let Some(status) = status else {
        let died = err
            .lines()
            .find(|l| l.contains("a worker on"))
            .map(str::to_string);
        return Ok(match died {
            Some(l) => (
                "caught",
                format!("crash or hang, stopped while minimizing: {l}"),
            ),
            None => (
                "error",
                format!("the campaign ran past {} s", limit.as_secs()),
            ),
        });
    };
    let out = std::process::Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: err.into_bytes(),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .rfind(|l| l.starts_with("campaign:"))
        .unwrap_or("")
        .to_string();
    Ok(match out.status.code() {
        Some(1) => {
            // Name what caught it: the reproducer's class.
            let class = std::fs::read_dir(&scratch)
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|e| e.ok())
                .and_then(|e| crate::corpus::load_with_class(&e.path()).ok())
                .map(|(_, c)| c)
                .unwrap_or_default();
            ("caught", format!("{class} — {summary}"))
        }
        Some(0) => ("survived", summary),
        _ => (
            "error",
            format!(
                "campaign exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        ),
    })
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
    let status = Command::new("cargo")
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
        .stderr(logf)
        .status();
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
