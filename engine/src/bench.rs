//! `segtab-diff bench`: what per-step comparison costs.
//!
//! For each configuration and a small, medium and large footprint (about
//! 10, 1,000 and 100,000 PTE pages in use, fewer where the 32-bit tree has
//! fewer segments), a fixed seeded mix of lookups, pmap_enter-style writes,
//! one-segment pmap_pte_process calls and reserves in mapped segments is
//! timed: the port alone, the C alone, both without comparison, both with
//! the per-step incremental comparison (deep at the end), with a deep
//! comparison every 16 steps, and with a deep comparison every step. Reset
//! cost is timed after the run, and for an empty world, to show it follows
//! the pages used.
//!
//! The `fixed` workload measures what every input costs whatever it does,
//! as the fuzz target pays it (worlds of `DEFAULT_POOL_PAGES` frames, reset
//! between inputs, after a larger input has used a few hundred frames):
//! resetting the C world, resetting the port's, the end-of-sequence full
//! deep pass, and a whole one-operation input through [`run`].

use crate::model::{Action, Call, CbKind, MinSpec, Op, Sequence};
use crate::rng::SplitMix64;
use crate::run::{run as run_sequence, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use crate::side::Side;
use anyhow::Result;
use c_reference::Config;
use serde::Serialize;
use std::time::Instant;

/// One row of figures.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Configuration.
    pub config: String,
    /// small / medium / large.
    pub workload: String,
    /// PTE pages in use during the measured operations.
    pub footprint_pages: u64,
    /// Measured operations.
    pub ops: u64,
    /// Port alone, operations per second.
    pub rust_ops_s: f64,
    /// C alone.
    pub c_ops_s: f64,
    /// Both, no comparison.
    pub both_ops_s: f64,
    /// Both, incremental comparison every step (deep at the end).
    pub compared_ops_s: f64,
    /// Both, incremental every step and deep every 16 steps.
    pub deep16_ops_s: f64,
    /// Both, deep comparison every step (small and medium only).
    pub deep_every_step_ops_s: Option<f64>,
    /// compared / both.
    pub compared_ratio: f64,
    /// Resetting both worlds after the run, microseconds.
    pub reset_us: f64,
    /// Pages the run had touched (both sides).
    pub reset_pages: u64,
    /// Resetting both worlds when nothing was used, microseconds.
    pub reset_empty_us: f64,
}

/// What one input costs whatever it does (see the module docs), in
/// microseconds, each a mean over the inputs measured.
#[derive(Clone, Debug, Serialize)]
pub struct FixedRow {
    /// Configuration.
    pub config: String,
    /// Frames handed out by the earlier, larger input (per side).
    pub primed_pages: u32,
    /// Inputs measured.
    pub inputs: u32,
    /// Resetting the C world after a one-operation input.
    pub reset_c_us: f64,
    /// Resetting the port's world after it.
    pub reset_rust_us: f64,
    /// The end-of-sequence full deep pass (both sides, compared).
    pub end_pass_us: f64,
    /// A whole one-operation input (`pmap_segtab_init`) through `run`:
    /// reset, the step, its full deep pass.
    pub input_us: f64,
}

/// Measure the fixed cost of one input in one configuration, over
/// `inputs` inputs.
pub fn fixed(c: &'static Config, inputs: u32) -> Result<FixedRow> {
    let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES)?;
    // An earlier, larger input, as a fuzzing process has always run one:
    // what it used must not weigh on the inputs after it.
    let (setup, _, _) = workload(c, 200, 0, 1, false);
    for a in &setup {
        Pair::step_one(&mut pair.c, a);
        Pair::step_one(&mut *pair.r, a);
    }
    let primed_pages = pair.c.pool().touched();
    let one = Action::Create {
        pmap: 1,
        minaddr: 0,
    };
    let us = |t: Instant| t.elapsed().as_secs_f64() * 1e6;
    let (mut reset_c, mut reset_r, mut end) = (0.0, 0.0, 0.0);
    for _ in 0..inputs {
        let t = Instant::now();
        pair.c.reset();
        reset_c += us(t);
        let t = Instant::now();
        pair.r.reset();
        reset_r += us(t);
        // The engine's own bookkeeping (and both worlds again, now empty).
        pair.reset();
        let (_, d) = pair.step(&one, false);
        anyhow::ensure!(d.is_empty(), "{}: the sides diverge: {d:?}", c.name);
        let t = Instant::now();
        let mut d = Vec::new();
        pair.deep(&mut d);
        end += us(t);
        anyhow::ensure!(d.is_empty(), "{}: the sides diverge: {d:?}", c.name);
    }
    let seq = Sequence {
        config: c.name.into(),
        ops: vec![Op::Call(Call::Create {
            pmap: 1,
            min: MinSpec::Zero,
        })],
    };
    let t = Instant::now();
    for _ in 0..inputs {
        match run_sequence(&mut pair, &seq, CompareOpts::default()) {
            RunResult::Agree { .. } => {}
            RunResult::Diverge(d) => anyhow::bail!("{}: {}", c.name, d.class()),
        }
    }
    let input = us(t);
    let n = inputs.max(1) as f64;
    Ok(FixedRow {
        config: c.name.into(),
        primed_pages,
        inputs,
        reset_c_us: reset_c / n,
        reset_rust_us: reset_r / n,
        end_pass_us: end / n,
        input_us: input / n,
    })
}

/// The fixed-cost table.
pub fn fixed_table(rows: &[FixedRow]) -> String {
    let mut s = format!(
        "per input (us, mean of {} inputs, after an input that used the frames shown):\n\
         {:<20} {:>7} {:>10} {:>12} {:>10} {:>9} {:>8}\n",
        rows.first().map_or(0, |r| r.inputs),
        "config",
        "frames",
        "reset C",
        "reset port",
        "end pass",
        "input",
        "inputs/s"
    );
    for r in rows {
        s += &format!(
            "{:<20} {:>7} {:>10.2} {:>12.2} {:>10.2} {:>9.2} {:>8.0}\n",
            r.config,
            r.primed_pages,
            r.reset_c_us,
            r.reset_rust_us,
            r.end_pass_us,
            r.input_us,
            1e6 / r.input_us.max(1e-9)
        );
    }
    s
}

/// What a concurrent workload sets up before its steps: pmaps 1-7 created
/// and a PTE page reserved in each of `segs`.
fn concurrent_setup(segs: &[(u32, u64)]) -> Vec<Action> {
    let creates = (1..=7).map(|pmap| Action::Create { pmap, minaddr: 0 });
    let reserves = segs
        .iter()
        .map(|&(pmap, va)| Action::Reserve { pmap, va, flags: 0 });
    creates.chain(reserves).collect()
}

/// The segments a workload maps: (pmap, segment base VA).
fn segments(c: &Config, want: u64) -> Vec<(u32, u64)> {
    let seg = 1u64 << c.segshift;
    if c.lp64 {
        (1..=want).map(|k| (1, k * seg)).collect()
    } else {
        // One 32-bit tree has PMAP_SEGTABSIZE segments: spread over pmaps
        // 1..7, skipping segment 0.
        let per = c.segtabsize as u64 - 1;
        (0..want.min(7 * per))
            .map(|k| (1 + (k / per) as u32, (1 + k % per) * seg))
            .collect()
    }
}

/// Setup and measured actions; with `concurrent`, each measured step is
/// two of them at once on two CPUs (interleaved by a random schedule in
/// MULTIPROCESSOR configurations), as `Op::Concurrent` makes them.
pub fn workload(
    c: &Config,
    want: u64,
    ops: u64,
    seed: u64,
    concurrent: bool,
) -> (Vec<Action>, Vec<Action>, u64) {
    let segs = segments(c, want);
    let setup = concurrent_setup(&segs);
    let mut rng = SplitMix64(seed);
    let one = |rng: &mut SplitMix64| one_call(c, &segs, rng);
    let measured = (0..ops)
        .map(|_| {
            if concurrent {
                let (a, b) = (one(&mut rng), one(&mut rng));
                let schedule = if c.multiprocessor {
                    one_schedule(&mut rng)
                } else {
                    0
                };
                Action::Concurrent(Box::new(crate::model::Concurrent::pair(a, b, 1, schedule)))
            } else {
                one(&mut rng)
            }
        })
        .collect();
    (setup, measured, segs.len() as u64)
}

/// One measured call: a lookup, an enter, a one-segment process or a
/// reserve, in a mapped segment.
fn one_call(c: &Config, segs: &[(u32, u64)], rng: &mut SplitMix64) -> Action {
    let pages_per_seg = 1u64 << (c.segshift - c.pgshift);
    let (pmap, base) = segs[(rng.next_u64() % segs.len() as u64) as usize];
    let va = base + ((rng.next_u64() % pages_per_seg) << c.pgshift);
    match rng.next_u64() % 20 {
        0..=7 => Action::Lookup { pmap, va },
        8..=13 => Action::Enter {
            pmap,
            va,
            value: 0x8000_0000 | (rng.next_u64() & 0x7fff_fff0) | 1,
            flags: 0,
        },
        14..=16 => Action::Process {
            pmap,
            sva: va,
            eva: base + (1 << c.segshift),
            cb: CbKind::Count,
            flags: 0,
        },
        _ => Action::Reserve { pmap, va, flags: 0 },
    }
}

/// What a concurrent step of `per_cpu` calls on each of `cpus` CPUs costs,
/// next to the same calls run one by one as sequential steps (both sides,
/// compared per step as a campaign compares, no deep pass), in
/// microseconds per step.
#[derive(Clone, Debug, Serialize)]
pub struct SeqRow {
    /// Configuration.
    pub config: String,
    /// CPUs of a step.
    pub cpus: usize,
    /// Calls each CPU makes in a step.
    pub calls_per_cpu: usize,
    /// Steps measured.
    pub steps: u64,
    /// One concurrent step (`cpus` × `calls_per_cpu` calls).
    pub step_us: f64,
    /// Its calls as sequential steps, summed.
    pub singles_us: f64,
    /// step / singles.
    pub ratio: f64,
}

/// Measure [`SeqRow`] for one configuration (MULTIPROCESSOR: the CPUs
/// interleave under random schedules).
pub fn sequence_cost(
    c: &'static Config,
    ncpus: usize,
    per_cpu: usize,
    steps: u64,
) -> Result<SeqRow> {
    let segs = segments(c, 10);
    let setup = concurrent_setup(&segs);
    // Two CPUs: the seeds of the two-CPU shim's table.
    let mut rng = SplitMix64(0x5e9 + per_cpu as u64 + 16 * (ncpus as u64 - 2));
    let mut conc = Vec::new();
    let mut singles = Vec::new();
    for _ in 0..steps {
        let cpus: Vec<Vec<Action>> = (0..ncpus)
            .map(|_| (0..per_cpu).map(|_| one_call(c, &segs, &mut rng)).collect())
            .collect();
        singles.extend(cpus.iter().flatten().cloned());
        let schedule = if c.multiprocessor { rng.next_u64() } else { 0 };
        conc.push(Action::Concurrent(Box::new(crate::model::Concurrent {
            cpus,
            lwp: 1,
            schedule,
        })));
    }
    let mut pair = Pair::open(c.name, DEFAULT_POOL_PAGES)?;
    let mut time = |acts: &[Action]| -> Result<f64> {
        pair.reset();
        for a in &setup {
            pair.step(a, false);
        }
        let t = Instant::now();
        for a in acts {
            let (_, d) = pair.step(a, false);
            anyhow::ensure!(d.is_empty(), "{}: the sides diverge: {d:?}", c.name);
        }
        Ok(t.elapsed().as_secs_f64() * 1e6 / steps.max(1) as f64)
    };
    let step_us = time(&conc)?;
    let singles_us = time(&singles)?;
    Ok(SeqRow {
        config: c.name.into(),
        cpus: ncpus,
        calls_per_cpu: per_cpu,
        steps,
        step_us,
        singles_us,
        ratio: step_us / singles_us.max(1e-9),
    })
}

/// The sequence-cost table.
pub fn seq_table(rows: &[SeqRow]) -> String {
    let mut s = format!(
        "concurrent steps of k CPUs making n calls each against their k*n calls as sequential steps \
         (us per step, compared, mean of {} steps):\n{:<20} {:>2} {:>3} {:>10} {:>12} {:>6}\n",
        rows.first().map_or(0, |r| r.steps),
        "config",
        "k",
        "n",
        "step",
        "k*n singles",
        "ratio"
    );
    for r in rows {
        s += &format!(
            "{:<20} {:>2} {:>3} {:>10.2} {:>12.2} {:>6.2}\n",
            r.config, r.cpus, r.calls_per_cpu, r.step_us, r.singles_us, r.ratio
        );
    }
    s
}

fn one_schedule(rng: &mut SplitMix64) -> u64 {
    rng.next_u64()
}

fn rate(ops: usize, t: Instant) -> f64 {
    ops as f64 / t.elapsed().as_secs_f64().max(1e-9)
}

/// Measure one configuration and footprint.
pub fn measure(c: &'static Config, name: &str, want: u64, ops: u64) -> Result<Row> {
    let concurrent = name == "concurrent";
    let (setup, measured, footprint) = workload(c, want, ops, 0x5e97ab, concurrent);
    let pool_pages = (footprint + footprint / 32 + 256) as usize;
    let mut pair = Pair::open(c.name, pool_pages)?;

    let side_alone = |which: u8, pair: &mut Pair| {
        pair.reset();
        let side: &mut dyn crate::side::Side = if which == 0 {
            &mut *pair.r
        } else {
            &mut pair.c
        };
        for a in &setup {
            Pair::step_one(side, a);
        }
        let t = Instant::now();
        for a in &measured {
            Pair::step_one(side, a);
        }
        rate(measured.len(), t)
    };
    let rust_ops_s = side_alone(0, &mut pair);
    let c_ops_s = side_alone(1, &mut pair);

    pair.reset();
    for a in &setup {
        Pair::step_one(&mut pair.c, a);
        Pair::step_one(&mut *pair.r, a);
    }
    let t = Instant::now();
    for a in &measured {
        Pair::step_one(&mut pair.c, a);
        Pair::step_one(&mut *pair.r, a);
    }
    let both_ops_s = rate(measured.len(), t);

    let compared = |pair: &mut Pair, deep_every: usize, limit: usize| -> Result<f64> {
        pair.reset();
        for a in &setup {
            let (_, d) = pair.step(a, false);
            anyhow::ensure!(
                d.is_empty(),
                "{}: the sides diverge in the benchmark setup: {d:?}",
                c.name
            );
        }
        let run = &measured[..limit.min(measured.len())];
        let t = Instant::now();
        for (i, a) in run.iter().enumerate() {
            let deep = i + 1 == run.len() || (deep_every != 0 && (i + 1) % deep_every == 0);
            let (_, d) = pair.step(a, deep);
            anyhow::ensure!(
                d.is_empty(),
                "{}: the sides diverge in the benchmark: {d:?}",
                c.name
            );
        }
        Ok(rate(run.len(), t))
    };
    let deep_every_step_ops_s = if footprint <= 2000 {
        Some(compared(&mut pair, 1, 2000)?)
    } else {
        None
    };
    let deep16_ops_s = compared(
        &mut pair,
        16,
        if footprint <= 2000 { usize::MAX } else { 2000 },
    )?;
    let compared_ops_s = compared(&mut pair, 0, usize::MAX)?;

    let reset_pages = (pair.c.pool().touched() + pair.r.pool().touched()) as u64;
    let t = Instant::now();
    pair.reset();
    let reset_us = t.elapsed().as_secs_f64() * 1e6;
    let t = Instant::now();
    pair.reset();
    let reset_empty_us = t.elapsed().as_secs_f64() * 1e6;

    Ok(Row {
        config: c.name.into(),
        workload: name.into(),
        footprint_pages: footprint,
        ops: measured.len() as u64,
        rust_ops_s,
        c_ops_s,
        both_ops_s,
        compared_ops_s,
        deep16_ops_s,
        deep_every_step_ops_s,
        compared_ratio: compared_ops_s / both_ops_s,
        reset_us,
        reset_pages,
        reset_empty_us,
    })
}

/// The table.
pub fn table(rows: &[Row]) -> String {
    let k = |x: f64| {
        if x >= 10e3 {
            format!("{:.0}k", x / 1e3)
        } else {
            format!("{:.2}k", x / 1e3)
        }
    };
    let mut s = format!(
        "{:<20} {:<7} {:>8} {:>7} {:>8} {:>8} {:>8} {:>9} {:>6} {:>8} {:>9} {:>10} {:>9}\n",
        "config",
        "load",
        "PTEpages",
        "ops",
        "rust/s",
        "C/s",
        "both/s",
        "compared",
        "ratio",
        "deep16",
        "deepEvery",
        "reset(us)",
        "pages"
    );
    for r in rows {
        s += &format!(
            "{:<20} {:<7} {:>8} {:>7} {:>8} {:>8} {:>8} {:>9} {:>6.2} {:>8} {:>9} {:>10.1} {:>9}\n",
            r.config,
            r.workload,
            r.footprint_pages,
            r.ops,
            k(r.rust_ops_s),
            k(r.c_ops_s),
            k(r.both_ops_s),
            k(r.compared_ops_s),
            r.compared_ratio,
            k(r.deep16_ops_s),
            r.deep_every_step_ops_s.map(k).unwrap_or_else(|| "-".into()),
            r.reset_us,
            r.reset_pages
        );
    }
    s
}

/// `segtab-diff bench`: measure `workloads` (comma-separated: small,
/// medium, large, concurrent) over `configs`, print the table with the
/// machine it ran on, and write it as JSON to `json` if given.
pub fn run(
    configs: &[&'static Config],
    workloads: &str,
    ops: u64,
    json: Option<&std::path::Path>,
) -> Result<u8> {
    let mut rows = Vec::new();
    let mut fixed_rows = Vec::new();
    let mut seq_rows = Vec::new();
    for w in workloads.split(',') {
        if w == "fixed" {
            for c in configs {
                eprint!("bench {} fixed ...\r", c.name);
                fixed_rows.push(fixed(c, 20_000)?);
            }
            continue;
        }
        let want = match w {
            "small" => 10,
            "medium" => 1_000,
            "large" => 100_000,
            "concurrent" => 10,
            other => {
                anyhow::bail!(
                    "unknown workload {other:?}; known: small, medium, large, concurrent, fixed"
                )
            }
        };
        for c in configs {
            eprint!("bench {} {w} ...\r", c.name);
            rows.push(measure(c, w, want, ops)?);
            if w == "concurrent" {
                for n in 1..=crate::model::MAX_CPU_CALLS {
                    seq_rows.push(sequence_cost(c, 2, n, (ops / 4).max(1))?);
                }
                // Three and four CPUs, one call each and two.
                for k in 3..=crate::model::MAX_STEP_CPUS {
                    for n in [1, 2] {
                        seq_rows.push(sequence_cost(c, k, n, (ops / 4).max(1))?);
                    }
                }
            }
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
    let cpus = match shim::sched::Backend::process_default() {
        shim::sched::Backend::Coroutines => "coroutines of that thread",
        shim::sched::Backend::Threads => {
            "threads of their own (SEGTAB_SCHED=threads or no coroutines here)"
        }
    };
    println!(
        "segtab-diff bench: {cpu}, {cores} cores; ops/s in thousands (k); one thread \
         (a concurrent step runs its CPUs as {cpus}, one at a time)"
    );
    if !rows.is_empty() {
        print!("{}", table(&rows));
    }
    if !seq_rows.is_empty() {
        print!("{}", seq_table(&seq_rows));
    }
    if !fixed_rows.is_empty() {
        print!("{}", fixed_table(&fixed_rows));
    }
    if let Some(path) = json {
        use anyhow::Context;
        let doc = serde_json::json!({ "machine": { "cpu": cpu, "cores": cores }, "rows": rows,
            "fixed": fixed_rows, "sequences": seq_rows });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    Ok(0)
}
