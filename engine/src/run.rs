//! Running a sequence on both sides, comparing after every step.

use crate::compare::{self, FieldDiff};
use crate::model::{Action, Resolver, Sequence};
use crate::side::{CSide, PanicClass, Side, StepEnd, StepTrace};
use c_reference::{CWorld, Config};
use serde::{Deserialize, Serialize};

/// Pool frames per world unless told otherwise.
pub const DEFAULT_POOL_PAGES: usize = 2048;

/// How thoroughly to compare.
#[derive(Clone, Copy, Debug)]
pub struct CompareOpts {
    /// Walk and compare every table every `deep_every` steps (1: every
    /// step; 0: only at the end and when a step panics).
    pub deep_every: u32,
}

impl Default for CompareOpts {
    fn default() -> Self {
        CompareOpts { deep_every: 1 }
    }
}

/// The C reference and the port for one configuration.
pub struct Pair {
    /// The configuration.
    pub config: &'static Config,
    /// The C side.
    pub c: CSide,
    /// The port side.
    pub r: Box<dyn Side>,
}

impl Pair {
    /// Open both sides of `name`.
    pub fn open(name: &str, pool_pages: usize) -> anyhow::Result<Pair> {
        let world = CWorld::open(name, pool_pages)?;
        let config = world.config();
        let r = crate::port_side::open(config, pool_pages)?;
        Ok(Pair {
            config,
            c: CSide { world },
            r,
        })
    }
}

/// How a sequence ended.
#[derive(Clone, Debug)]
pub enum RunResult {
    /// Both sides agreed at every step.
    Agree {
        /// Steps run.
        steps: usize,
        /// Both panicked alike at the last step.
        panic: Option<PanicClass>,
    },
    /// They did not.
    Diverge(Box<Divergence>),
}

/// A disagreement, with what is needed to report it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Divergence {
    /// The sequence (as run).
    pub sequence: Sequence,
    /// Index of the step that diverged.
    pub step: usize,
    /// The resolved actions up to and including that step, as text.
    pub trace: Vec<String>,
    /// The differing fields.
    pub diffs: Vec<FieldDiff>,
}

impl Divergence {
    /// A class that shrinking must preserve: the operation and what differs.
    pub fn class(&self) -> String {
        let op = self
            .trace
            .last()
            .map(|t| t.split('(').next().unwrap_or(""))
            .unwrap_or("");
        let mut cats: Vec<&str> = self.diffs.iter().map(|d| d.category.as_str()).collect();
        cats.dedup();
        format!("{op}: {}", cats.first().copied().unwrap_or("?"))
    }
}

/// Run `seq` on `pair` (reset first).
pub fn run(pair: &mut Pair, seq: &Sequence, opts: CompareOpts) -> RunResult {
    run_observed(pair, seq, opts, |_, _| {})
}

/// [`run`], calling `observe` with each step's action and the C's end.
pub fn run_observed(
    pair: &mut Pair,
    seq: &Sequence,
    opts: CompareOpts,
    mut observe: impl FnMut(&Action, &StepEnd),
) -> RunResult {
    pair.c.reset();
    pair.r.reset();
    let mut resolver = Resolver::new(pair.config);
    let mut trace: Vec<String> = Vec::new();
    let n = seq.ops.len();
    for (i, op) in seq.ops.iter().enumerate() {
        let a: Action = resolver.action(op);
        trace.push(a.to_string());
        let (mut tc, mut tr) = (StepTrace::default(), StepTrace::default());
        pair.c.pool_mut().clear_events();
        pair.r.pool_mut().clear_events();
        let ec = pair.c.step(&a, &mut tc);
        let er = pair.r.step(&a, &mut tr);
        observe(&a, &ec);
        tc.pool = pair.c.pool_mut().take_events();
        tr.pool = pair.r.pool_mut().take_events();
        tc.xtab = pair.c.take_xtab();
        tr.xtab = pair.r.take_xtab();
        let ends = ec.is_panic() || er.is_panic();
        let deep =
            i + 1 == n || ends || (opts.deep_every != 0 && (i as u32 + 1) % opts.deep_every == 0);
        let mut diffs = Vec::new();
        compare::step(&mut diffs, &ec, &er, &tc, &tr);
        compare::snapshot(&mut diffs, &pair.c.snapshot(deep), &pair.r.snapshot(deep));
        if !diffs.is_empty() {
            return RunResult::Diverge(Box::new(Divergence {
                sequence: seq.clone(),
                step: i,
                trace,
                diffs,
            }));
        }
        if let StepEnd::Panic(class, _) = ec {
            // Both panicked alike: agreement, and the world is dead.
            return RunResult::Agree {
                steps: i + 1,
                panic: Some(class),
            };
        }
    }
    RunResult::Agree {
        steps: n,
        panic: None,
    }
}
