//! The census: every distinct behaviour change a run finds, not just the
//! first.
//!
//! Pointing the service at another revision of the C (or a port at a new
//! one) is how a porter learns what changed upstream. A campaign stops at
//! its first divergence; a census keeps going, groups divergences into
//! classes and keeps the shortest reproducer of each. A class is the
//! operation that diverged, the first category that differs, and what
//! each side did there (its panic site or how it returned; for a schedule,
//! the call where the CPUs' paths part): two findings in one class are, as
//! far as the comparison can tell, the same behaviour change. The other
//! categories a reproducer differs in are listed with its class.

use crate::run::Divergence;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What makes two divergences the same behaviour change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct ClassKey {
    /// The operation of the diverging step (`pmap_segtab_destroy`, `at
    /// once`, ...), or `crash` / `hang` for a side that died.
    pub op: String,
    /// The first category that differs, in the order the comparison
    /// reads them (the step's end and its calls out of the file before the
    /// state they leave): the others are usually its consequences, and
    /// which of them show depends on the configuration (DEBUG counters,
    /// say), so they are listed with the class but do not split it.
    pub category: String,
    /// How the C's step ended, when the ends differ (`panic
    /// Kassert(220)`, `returned NULL`, ...); `-` when they agree.
    pub c: String,
    /// How the port's step ended, likewise.
    pub rust: String,
}

impl ClassKey {
    /// The class of `d`. A concurrent step whose outcome differs on one
    /// CPU is classed by that CPU's call, as a sequential step would be:
    /// the same behaviour change whichever way it was reached (the
    /// shortest reproducer is kept either way).
    pub fn of(d: &Divergence) -> ClassKey {
        let category = d
            .diffs
            .first()
            .map(|f| f.category.clone())
            .unwrap_or_default();
        let Some(line) = d.trace.last() else {
            // A crash or hang: no step to name.
            return ClassKey {
                op: category.clone(),
                category,
                c: "-".into(),
                rust: "-".into(),
            };
        };
        // A schedule that differs: where it first does, and what each
        // side's CPU called there.
        if category == "schedule" {
            let f = &d.diffs[0];
            let (cpu, c, rust) = first_difference(&f.c, &f.rust);
            return ClassKey {
                op: operation(line, cpu),
                category,
                c,
                rust,
            };
        }
        let outcomes: Vec<(Option<CallAt>, String, String)> = d
            .diffs
            .iter()
            .filter(|f| f.category == "outcome")
            .map(|f| {
                // `cpu1 return / panic`, or `cpu1 call 2 return / panic`
                // when the CPUs make several calls.
                let mut words = f.field.split(' ');
                let cpu = words
                    .next()
                    .and_then(|w| w.strip_prefix("cpu"))
                    .and_then(|n| n.parse::<usize>().ok());
                let call = match (words.next(), words.next()) {
                    (Some("call"), Some(k)) => k.parse::<usize>().ok(),
                    _ => None,
                };
                (
                    cpu.map(|c| (c, call.unwrap_or(0))),
                    end_kind(&f.c),
                    end_kind(&f.rust),
                )
            })
            .collect();
        // The CPU whose end differs in itself, not one abandoned because
        // the other panicked.
        let pick = outcomes
            .iter()
            .find(|(_, c, r)| c != "abandoned" && r != "abandoned")
            .or(outcomes.first());
        let (cpu, c, rust) = match pick {
            Some((cpu, c, r)) => (*cpu, c.clone(), r.clone()),
            None => (
                callback_maker(d, line).map(|c| (c, 0)),
                "-".to_string(),
                "-".to_string(),
            ),
        };
        ClassKey {
            op: operation_of_call(line, cpu),
            category,
            c,
            rust,
        }
    }

    /// One line: `op: category [C: ... | Rust: ...]`.
    pub fn label(&self) -> String {
        let mut s = format!("{}: {}", self.op, self.category);
        if self.c != "-" || self.rust != "-" {
            s.push_str(&format!(" [C: {} | Rust: {}]", self.c, self.rust));
        }
        s
    }
}

/// Without an outcome to go by, in a concurrent step whose callbacks
/// differ, the one call that makes callbacks.
fn callback_maker(d: &Divergence, line: &str) -> Option<usize> {
    if !line.starts_with("at once: ") || !d.diffs.iter().any(|f| f.category == "callbacks") {
        return None;
    }
    let makers: Vec<usize> = (0..2)
        .filter(|&n| {
            matches!(
                operation(line, Some(n)).as_str(),
                "pmap_pte_process" | "pmap_segtab_destroy"
            )
        })
        .collect();
    (makers.len() == 1).then(|| makers[0])
}

/// Where two schedules (as `compare::schedule_text` writes them: `cpu0:
/// SpinEnter Alloc | cpu1: SpinEnter(waits)`) first differ: the CPU, and
/// the call each side made there (`ends` where one stops).
fn first_difference(c: &str, rust: &str) -> (Option<usize>, String, String) {
    fn events(text: &str) -> Vec<(usize, &str)> {
        let mut out = Vec::new();
        for run in text.split(" | ") {
            let Some((cpu, calls)) = run.split_once(": ") else {
                continue;
            };
            let cpu = cpu.trim_start_matches("cpu").parse().unwrap_or(0);
            // `[call k]` marks where a CPU's later call starts: not a call.
            out.extend(
                calls
                    .split_whitespace()
                    .filter(|w| !w.starts_with('[') && !w.ends_with(']'))
                    .map(|call| (cpu, call)),
            );
        }
        out
    }
    let (a, b) = (events(c), events(rust));
    let i = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    // Which CPU made the call is the schedule's choice, not behaviour: the
    // class names the call only.
    let show = |e: Option<&(usize, &str)>| match e {
        Some((_, call)) => format!("calls {call}"),
        None => "ends".to_string(),
    };
    let cpu = a.get(i).or(b.get(i)).map(|e| e.0);
    (cpu, show(a.get(i)), show(b.get(i)))
}

/// The operation named by a trace line: its function; for a concurrent
/// step the call of CPU `cpu`, or without one both calls, sorted, as `at
/// once (f | g)`.
fn operation(line: &str, cpu: Option<usize>) -> String {
    let call = |text: &str| -> String {
        // `cpu1 (lwp 2) *pmap_pte_reserve(pmap 0, ...) = 0x5`: the first
        // word that is a call.
        text.split_whitespace()
            .map(|w| w.trim_start_matches('*'))
            .find(|w| w.starts_with(|c: char| c.is_ascii_alphabetic()) && w.contains('('))
            .and_then(|w| w.split('(').next())
            .unwrap_or("nothing")
            .to_string()
    };
    let Some(rest) = line.strip_prefix("at once: ") else {
        return call(line);
    };
    // One part per CPU (2 to 4), then `schedule 0x..`.
    let halves: Vec<String> = rest
        .split(" | ")
        .filter(|h| !h.starts_with("schedule "))
        .map(call)
        .collect();
    match cpu.and_then(|n| halves.get(n)) {
        Some(f) => f.clone(),
        None => {
            let mut fns = halves.clone();
            fns.sort();
            format!("at once ({})", fns.join(" | "))
        }
    }
}

/// (CPU, call index) of a call in a concurrent step.
type CallAt = (usize, usize);

/// [`operation`] of call `k` of CPU `cpu` in a concurrent step whose
/// CPUs make several calls (`cpu0 f(..); g(..) | cpu1 ...`).
fn operation_of_call(line: &str, at: Option<CallAt>) -> String {
    let Some((cpu, k)) = at else {
        return operation(line, None);
    };
    let Some(rest) = line.strip_prefix("at once: ") else {
        return operation(line, Some(cpu));
    };
    match rest
        .split(" | ")
        .nth(cpu)
        .and_then(|half| half.split("; ").nth(k))
    {
        Some(text) if k > 0 => operation(text, None),
        _ => operation(line, Some(cpu)),
    }
}

/// A step's end as a class word, from its `Debug` text: the panic site
/// (not its message, which names addresses), or how it returned.
fn end_kind(debug: &str) -> String {
    if let Some(rest) = debug.strip_prefix("Panic(") {
        let site = rest.split(", \"").next().unwrap_or(rest);
        return format!("panic {site}");
    }
    if debug == "Ok(None)" {
        return "returned NULL".into();
    }
    if debug.starts_with("Ok(Some(") {
        return "returned a PTE".into();
    }
    if debug == "Ok" || debug.starts_with("Ok(") {
        return "returned".into();
    }
    // Refused(..), Abandoned(..): the variant says it.
    debug
        .split('(')
        .next()
        .unwrap_or(debug)
        .to_ascii_lowercase()
}

/// `d` shrunk keeping its whole class `key` (not just its first category,
/// as a campaign's reproducer keeps), in at most `budget` runs.
pub fn minimized(
    pair: &mut crate::run::Pair,
    d: &Divergence,
    key: &ClassKey,
    budget: usize,
) -> Divergence {
    crate::shrink::shrink_keeping(pair, d, budget, |nd| ClassKey::of(nd) == *key)
}

/// Every category the reproducer differs in, sorted.
fn categories(d: &Divergence) -> Vec<String> {
    let mut v: Vec<String> = d.diffs.iter().map(|f| f.category.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// One class of the census.
#[derive(Clone, Debug)]
pub struct Class {
    /// What the findings share.
    pub key: ClassKey,
    /// Findings in this class.
    pub count: u64,
    /// Seconds into the run (or index in the directory) of the first.
    pub first_seen: f64,
    /// Configurations it was seen in, sorted.
    pub configs: Vec<String>,
    /// The shortest reproducer kept.
    pub reproducer: Divergence,
    /// Where the reproducer was written, if it was.
    pub path: Option<PathBuf>,
    /// Whether the reproducer diverges when run alone in a fresh process
    /// (`None`: not checked). A finding that needs earlier sequences points
    /// at state a reset does not clear.
    pub alone: Option<bool>,
}

/// Classes in the order first seen.
#[derive(Clone, Debug, Default)]
pub struct Census {
    classes: Vec<Class>,
    index: BTreeMap<ClassKey, usize>,
}

/// What [`Census::record`] did with a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Its class is new.
    New,
    /// Its class was known; the finding was counted (and kept if its
    /// reproducer is shorter).
    Counted,
}

impl Census {
    /// An empty census.
    pub fn new() -> Census {
        Census::default()
    }

    /// Whether `key` has been seen.
    pub fn knows(&self, key: &ClassKey) -> bool {
        self.index.contains_key(key)
    }

    /// A finding of class `key`: `d` (minimized) and where it was written.
    /// A known class keeps the shorter reproducer.
    pub fn record(
        &mut self,
        key: ClassKey,
        d: Divergence,
        path: Option<PathBuf>,
        at: f64,
    ) -> Recorded {
        let config = d.sequence.config.clone();
        match self.index.get(&key) {
            Some(&i) => {
                self.count(&key, 1, &config, at);
                let c = &mut self.classes[i];
                if d.step < c.reproducer.step {
                    c.reproducer = d;
                    c.path = path;
                }
                Recorded::Counted
            }
            None => {
                self.index.insert(key.clone(), self.classes.len());
                self.classes.push(Class {
                    key,
                    count: 1,
                    first_seen: at,
                    configs: vec![config],
                    reproducer: d,
                    path,
                    alone: None,
                });
                Recorded::New
            }
        }
    }

    /// `n` more findings of a known class, in `config`; false if the
    /// class is unknown.
    pub fn count(&mut self, key: &ClassKey, n: u64, config: &str, at: f64) -> bool {
        let Some(&i) = self.index.get(key) else {
            return false;
        };
        let c = &mut self.classes[i];
        c.count += n;
        c.first_seen = c.first_seen.min(at);
        if !c.configs.iter().any(|x| x == config) {
            c.configs.push(config.to_string());
            c.configs.sort();
        }
        true
    }

    /// Notes whether the reproducer of `key` diverges alone.
    pub fn set_alone(&mut self, key: &ClassKey, alone: Option<bool>) {
        if let Some(&i) = self.index.get(key) {
            self.classes[i].alone = alone;
        }
    }

    /// The classes, first seen first.
    pub fn classes(&self) -> &[Class] {
        &self.classes
    }

    /// The classes, mutably (to note where reproducers were written).
    pub fn classes_mut(&mut self) -> &mut [Class] {
        &mut self.classes
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The table a census prints: class, count, first seen (as `first`
    /// shows it: seconds into a run, a file's number), shortest
    /// reproducer (its length in steps, and its file).
    pub fn table(&self, first: impl Fn(f64) -> String) -> String {
        let mut out = String::new();
        if self.classes.is_empty() {
            out.push_str("census: no divergence\n");
            return out;
        }
        out.push_str(&format!(
            "census: {} class(es)\n{:>3}  {:>7}  {:>10}  {:>5}  class / configurations / reproducer\n",
            self.classes.len(),
            "#",
            "count",
            "first seen",
            "steps"
        ));
        for (i, c) in self.classes.iter().enumerate() {
            out.push_str(&format!(
                "{:>3}  {:>7}  {:>10}  {:>5}  {}\n",
                i + 1,
                c.count,
                first(c.first_seen),
                c.reproducer.step + 1,
                c.key.label()
            ));
            let pad = " ".repeat(33);
            let also: Vec<String> = categories(&c.reproducer)
                .into_iter()
                .filter(|x| *x != c.key.category)
                .collect();
            if !also.is_empty() {
                out.push_str(&format!("{pad}also differs: {}\n", also.join(", ")));
            }
            out.push_str(&format!("{pad}{}\n", c.configs.join(", ")));
            if let Some(p) = &c.path {
                let note = match c.alone {
                    Some(false) => " (agrees when run alone: needs the sequences before it)",
                    _ => "",
                };
                out.push_str(&format!("{pad}{}{note}\n", p.display()));
            }
        }
        out
    }

    /// `{"classes": [...]}`, as `--json` writes it.
    pub fn to_json(&self) -> serde_json::Value {
        let classes: Vec<serde_json::Value> = self
            .classes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "class": c.key.label(),
                    "op": c.key.op,
                    "category": c.key.category,
                    "categories": categories(&c.reproducer),
                    "c": c.key.c,
                    "rust": c.key.rust,
                    "count": c.count,
                    "first_seen": c.first_seen,
                    "configs": c.configs,
                    "reproducer_steps": c.reproducer.step + 1,
                    "reproducer_path": c.path.as_ref().map(|p| p.display().to_string()),
                    "reproduces_alone": c.alone,
                    "trace": c.reproducer.trace,
                    "diffs": c.reproducer.diffs,
                    "sequence": c.reproducer.sequence,
                })
            })
            .collect();
        serde_json::json!({ "classes": classes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_kinds() {
        assert_eq!(
            end_kind("Panic(Kassert(220), \"assertion ...\")"),
            "panic Kassert(220)"
        );
        assert_eq!(
            end_kind("Panic(CheckPtesNonzero, \"x\")"),
            "panic CheckPtesNonzero"
        );
        assert_eq!(end_kind("Ok(None)"), "returned NULL");
        assert_eq!(end_kind("Ok(Some(In { pfn: 1 }))"), "returned a PTE");
        assert_eq!(end_kind("Refused(\"no segtab\")"), "refused");
    }

    #[test]
    fn operations() {
        assert_eq!(
            operation("pmap_segtab_destroy(pmap 1, Record, 0xab)", None),
            "pmap_segtab_destroy"
        );
        assert_eq!(
            operation("*pmap_pte_reserve(pmap 1, 0x1000) = 0x5", None),
            "pmap_pte_reserve"
        );
        let both = "at once: cpu0 *pmap_pte_reserve(pmap 7, 0x0) = 0x1 | cpu1 (lwp 2) pmap_pte_lookup(pmap 0, 0x1) | schedule 0x0";
        assert_eq!(operation(both, Some(0)), "pmap_pte_reserve");
        assert_eq!(operation(both, Some(1)), "pmap_pte_lookup");
        assert_eq!(
            operation(both, None),
            "at once (pmap_pte_lookup | pmap_pte_reserve)"
        );
    }

    fn finding(step: usize, last: &str, diffs: &[(&str, &str, &str, &str)]) -> Divergence {
        Divergence {
            sequence: crate::model::Sequence {
                config: "mips64-n64-4k".into(),
                ops: Vec::new(),
            },
            step,
            trace: vec![last.to_string(); step + 1],
            diffs: diffs
                .iter()
                .map(|&(category, field, c, rust)| crate::compare::FieldDiff {
                    category: category.into(),
                    field: field.into(),
                    c: c.into(),
                    rust: rust.into(),
                })
                .collect(),
            schedules: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn findings_group_into_classes() {
        let destroy = "pmap_segtab_destroy(pmap 1, Record, 0xab)";
        let panic = |line: u32| format!("Panic(Kassert({line}), \"at 0x1⟨pfn 3⟩\")");
        let (p1, p2) = (panic(220), panic(432));
        let a = finding(5, destroy, &[("outcome", "return / panic", &p1, &p2)]);
        let b = finding(2, destroy, &[("outcome", "return / panic", &p1, &p2)]);
        let c = finding(
            3,
            destroy,
            &[("outcome", "return / panic", &p1, "Ok(None)")],
        );
        let both = "at once: cpu0 pmap_pte_lookup(pmap 1, 0x0) | cpu1 (lwp 2) pmap_segtab_destroy(pmap 1, None, 0x0) | schedule 0x3";
        let d = finding(1, both, &[("outcome", "cpu1 return / panic", &p1, &p2)]);
        let mut census = Census::new();
        for (f, at) in [(a, 0.5), (b, 1.0), (c, 1.5), (d, 2.0)] {
            census.record(ClassKey::of(&f), f, None, at);
        }
        let classes = census.classes();
        assert_eq!(classes.len(), 2, "{:#?}", census.table(|t| t.to_string()));
        // The concurrent destroy is the same change as the sequential one.
        assert_eq!(classes[0].count, 3);
        assert_eq!(classes[0].reproducer.step, 1, "the shortest is kept");
        assert_eq!(
            classes[0].key.label(),
            "pmap_segtab_destroy: outcome [C: panic Kassert(220) | Rust: panic Kassert(432)]"
        );
        assert_eq!(classes[1].key.rust, "returned NULL");
        assert!(census.count(&classes[1].key.clone(), 4, "powerpc-booke", 9.0));
        let json = census.to_json();
        assert_eq!(json["classes"].as_array().unwrap().len(), 2);
        assert_eq!(json["classes"][1]["count"], 5);
        assert_eq!(json["classes"][1]["configs"][1], "powerpc-booke");
    }

    /// A concurrent step with two calls: a lookup on CPU 0, `call` on 1.
    fn both(call: &str) -> String {
        format!("at once: cpu0 pmap_pte_lookup(pmap 1, 0x0) | cpu1 (lwp 2) {call} | schedule 0x3")
    }

    #[test]
    fn a_schedule_is_classed_where_it_first_parts() {
        let line = both("*pmap_pte_reserve(pmap 1, 0x0) = 0x5");
        let sched = |c: &str, r: &str| {
            ClassKey::of(&finding(
                0,
                &line,
                &[("schedule", "which CPU", c, r), ("table", "x", "1", "2")],
            ))
        };
        // CPU 0 calls something else at its second call.
        let k = sched(
            "cpu0: SpinEnter Alloc | cpu1: SpinEnter(waits)",
            "cpu0: SpinEnter Free",
        );
        assert_eq!(
            k.label(),
            "pmap_pte_lookup: schedule [C: calls Alloc | Rust: calls Free]"
        );
        // The C stops where the port's CPU 1 goes on.
        let k = sched("cpu0: SpinEnter", "cpu0: SpinEnter | cpu1: Map");
        assert_eq!(
            (k.op.as_str(), k.c.as_str(), k.rust.as_str()),
            ("pmap_pte_reserve", "ends", "calls Map")
        );
        assert_eq!(
            first_difference("cpu1: Alloc Free", "cpu1: Alloc | cpu0: Free"),
            (Some(1), "calls Free".into(), "calls Free".into()),
            "which CPU made the call is not part of the class"
        );
    }

    #[test]
    fn a_later_call_of_a_cpu_is_classed_by_itself() {
        let line =
            both("pmap_pte_lookup(pmap 1, 0x0); pmap_segtab_init(pmap 3) with pm_minaddr 0x0");
        let d = finding(
            0,
            &line,
            &[(
                "outcome",
                "cpu1 call 1 return / panic",
                "Panic(Kassert(220), \"x\")",
                "Ok(None)",
            )],
        );
        assert_eq!(
            ClassKey::of(&d).label(),
            "pmap_segtab_init: outcome [C: panic Kassert(220) | Rust: returned NULL]"
        );
    }

    #[test]
    fn a_concurrent_step_is_classed_by_the_call_that_differs() {
        // The CPU whose end differs in itself, not the one abandoned.
        let p = "Panic(Kassert(220), \"x\")";
        let line = both("pmap_segtab_destroy(pmap 1, None, 0x0)");
        for (c0, r0) in [
            ("Abandoned(Dead)", "Ok(None)"),
            ("Ok(None)", "Abandoned(Dead)"),
        ] {
            let d = finding(
                0,
                &line,
                &[
                    ("outcome", "cpu0 return / panic", c0, r0),
                    ("outcome", "cpu1 return / panic", p, "Ok(None)"),
                ],
            );
            assert_eq!(
                ClassKey::of(&d).label(),
                "pmap_segtab_destroy: outcome [C: panic Kassert(220) | Rust: returned NULL]"
            );
        }
        let d = finding(
            0,
            &line,
            &[("outcome", "cpu0 return / panic", "Abandoned(Dead)", p)],
        );
        assert_eq!(
            ClassKey::of(&d).label(),
            "pmap_pte_lookup: outcome [C: abandoned | Rust: panic Kassert(220)]"
        );
        // Callbacks without an outcome: the one call that makes them.
        let cb = [("callbacks", "call 0", "a", "b")];
        let key = |line: &str, diffs: &[(&str, &str, &str, &str)]| {
            ClassKey::of(&finding(0, line, diffs)).label()
        };
        assert_eq!(key(&line, &cb), "pmap_segtab_destroy: callbacks");
        let process = both("pmap_pte_process(pmap 1, 0x0, 0x1000, Count, 0)");
        assert_eq!(key(&process, &cb), "pmap_pte_process: callbacks");
        let two = "at once: cpu0 pmap_segtab_destroy(pmap 2, None, 0x0) | cpu1 (lwp 2) pmap_pte_process(pmap 1, 0x0, 0x1000, Count, 0) | schedule 0x0";
        assert_eq!(
            key(two, &cb),
            "at once (pmap_pte_process | pmap_segtab_destroy): callbacks"
        );
        // Without differing callbacks, both calls name it.
        assert_eq!(
            key(&process, &[("table", "pmap 1 x", "1", "2")]),
            "at once (pmap_pte_lookup | pmap_pte_process): table"
        );
        assert_eq!(
            key("pmap_pte_process(pmap 1, 0x0, 0x1000, Count, 0)", &cb),
            "pmap_pte_process: callbacks"
        );
        // A crash or hang: no step.
        let mut d = finding(0, "x", &[("crash", "worker", "", "")]);
        d.trace.clear();
        assert_eq!(ClassKey::of(&d).label(), "crash: crash");
    }

    #[test]
    fn the_census_prints_and_writes_each_class() {
        let destroy = "pmap_segtab_destroy(pmap 1, Record, 0xab)";
        let lookup = "pmap_pte_lookup(pmap 1, 0x0)";
        let a = finding(
            4,
            destroy,
            &[
                ("outcome", "return / panic", "Ok(None)", "Refused(\"x\")"),
                ("table", "t", "1", "2"),
                ("pool", "p", "1", "2"),
            ],
        );
        let b = finding(2, lookup, &[("table", "t", "1", "2")]);
        let mut census = Census::new();
        assert!(census.is_empty());
        assert_eq!(census.table(|t| t.to_string()), "census: no divergence\n");
        let (ka, kb) = (ClassKey::of(&a), ClassKey::of(&b));
        assert!(!census.knows(&ka));
        assert!(
            !census.count(&ka, 1, "x", 0.0),
            "an unknown class is not counted"
        );
        assert_eq!(
            census.record(ka.clone(), a.clone(), Some("a.json".into()), 3.0),
            Recorded::New
        );
        assert!(census.knows(&ka) && !census.knows(&kb) && !census.is_empty());
        // As short: the first is kept.
        let mut a2 = a.clone();
        a2.sequence.config = "mips32-o32-8k".into();
        assert_eq!(
            census.record(ka.clone(), a2, Some("a2.json".into()), 1.0),
            Recorded::Counted
        );
        assert_eq!(census.record(kb.clone(), b, None, 7.0), Recorded::New);
        census.set_alone(&ka, Some(false));
        census.set_alone(&kb, Some(false));
        let c = &census.classes()[0];
        assert_eq!((c.count, c.first_seen), (2, 1.0));
        assert_eq!(c.configs, ["mips32-o32-8k", "mips64-n64-4k"]);
        assert_eq!(c.path.as_deref(), Some(std::path::Path::new("a.json")));
        census.classes_mut()[1].path = Some("b.json".into());
        census.set_alone(&kb, None);
        let pad = " ".repeat(33);
        assert_eq!(
            census.table(|t| format!("{t:.1} s")),
            [
                "census: 2 class(es)".to_string(),
                "  #    count  first seen  steps  class / configurations / reproducer".into(),
                "  1        2       1.0 s      5  pmap_segtab_destroy: outcome [C: returned NULL | Rust: refused]".into(),
                format!("{pad}also differs: pool, table"),
                format!("{pad}mips32-o32-8k, mips64-n64-4k"),
                format!("{pad}a.json (agrees when run alone: needs the sequences before it)"),
                "  2        1       7.0 s      3  pmap_pte_lookup: table".into(),
                format!("{pad}mips64-n64-4k"),
                format!("{pad}b.json\n"),
            ]
            .join("\n")
        );
        let json = census.to_json();
        let first = &json["classes"][0];
        assert_eq!(first["class"], ka.label());
        assert_eq!(
            first["categories"],
            serde_json::json!(["outcome", "pool", "table"])
        );
        assert_eq!(first["reproducer_steps"], 5);
        assert_eq!(first["reproducer_path"], "a.json");
        assert_eq!(first["reproduces_alone"], false);
        assert_eq!(first["c"], "returned NULL");
        assert_eq!(
            json["classes"][1]["reproduces_alone"],
            serde_json::Value::Null
        );
    }
}
