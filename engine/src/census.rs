//! The census: every distinct behaviour change a run finds, not just the
//! first.
//!
//! Pointing the service at another revision of the C (or a port at a new
//! one) is how a porter learns what changed upstream. A campaign stops at
//! its first divergence; a census keeps going, groups divergences into
//! classes and keeps the shortest reproducer of each. A class is the
//! operation that diverged, the categories that differ, and what each side
//! did (its panic site, or how it returned) when that differs: two
//! findings in one class are, as far as the comparison can tell, the same
//! behaviour change.

use crate::run::Divergence;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What makes two divergences the same behaviour change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ClassKey {
    /// The operation of the diverging step (`pmap_segtab_destroy`, `at
    /// once`, ...), or `crash` / `hang` for a side that died.
    pub op: String,
    /// The categories that differ, sorted.
    pub categories: Vec<String>,
    /// How the C's step ended, when the ends differ (`panic
    /// Kassert(220)`, `returned NULL`, ...); `-` when they agree.
    pub c: String,
    /// How the port's step ended, likewise.
    pub rust: String,
}

impl ClassKey {
    /// The class of `d`.
    pub fn of(d: &Divergence) -> ClassKey {
        let op = match d.trace.last() {
            Some(t) => operation(t),
            None => d
                .diffs
                .first()
                .map(|f| f.category.clone())
                .unwrap_or_default(),
        };
        let mut categories: Vec<String> = d.diffs.iter().map(|f| f.category.clone()).collect();
        categories.sort();
        categories.dedup();
        let ends = |pick: fn(&crate::compare::FieldDiff) -> &str| {
            let v: Vec<String> = d
                .diffs
                .iter()
                .filter(|f| f.category == "outcome")
                .map(|f| {
                    let who = f.field.split(' ').next().filter(|w| w.starts_with("cpu"));
                    let end = end_kind(pick(f));
                    match who {
                        Some(cpu) => format!("{cpu} {end}"),
                        None => end,
                    }
                })
                .collect();
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        ClassKey {
            op,
            categories,
            c: ends(|f| &f.c),
            rust: ends(|f| &f.rust),
        }
    }

    /// One line: `op: categories [C: ... | Rust: ...]`.
    pub fn label(&self) -> String {
        let mut s = format!("{}: {}", self.op, self.categories.join("+"));
        if self.c != "-" || self.rust != "-" {
            s.push_str(&format!(" [C: {} | Rust: {}]", self.c, self.rust));
        }
        s
    }
}

/// The operation named by a trace line: its function, or `at once` (with
/// both CPUs' functions) for a concurrent step.
fn operation(line: &str) -> String {
    let line = line.trim_start_matches('*');
    if let Some(rest) = line.strip_prefix("at once: ") {
        let fns: Vec<&str> = rest
            .split(" | ")
            .take(2)
            .map(|half| {
                // `cpu1 (lwp 2) pmap_pte_lookup(pmap 0, ...)`: the first
                // word that is a call.
                half.split_whitespace()
                    .find(|w| w.starts_with(|c: char| c.is_ascii_alphabetic()) && w.contains('('))
                    .and_then(|w| w.split('(').next())
                    .unwrap_or("")
            })
            .collect();
        return format!("at once ({})", fns.join(" | "));
    }
    line.split('(').next().unwrap_or("").trim().to_string()
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

    /// Count a finding of class `key` (`d` already minimized if new).
    pub fn record(&mut self, key: ClassKey, d: Divergence, at: f64, count: u64) -> Recorded {
        let config = d.sequence.config.clone();
        match self.index.get(&key) {
            Some(&i) => {
                let c = &mut self.classes[i];
                c.count += count;
                c.first_seen = c.first_seen.min(at);
                if !c.configs.contains(&config) {
                    c.configs.push(config);
                    c.configs.sort();
                }
                if d.step < c.reproducer.step {
                    c.reproducer = d;
                    c.path = None;
                }
                Recorded::Counted
            }
            None => {
                self.index.insert(key.clone(), self.classes.len());
                self.classes.push(Class {
                    key,
                    count,
                    first_seen: at,
                    configs: vec![config],
                    reproducer: d,
                    path: None,
                });
                Recorded::New
            }
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

    /// The table a census prints: class, count, first seen, shortest
    /// reproducer (its length in steps, and its file).
    pub fn table(&self, first_seen_unit: &str) -> String {
        let mut out = String::new();
        if self.classes.is_empty() {
            out.push_str("census: no divergence\n");
            return out;
        }
        out.push_str(&format!(
            "{:>3}  {:>7}  {:>10}  {:>5}  class / configurations / reproducer\n",
            "#", "count", "first", "steps"
        ));
        for (i, c) in self.classes.iter().enumerate() {
            out.push_str(&format!(
                "{:>3}  {:>7}  {:>9.1}{}  {:>5}  {}\n",
                i + 1,
                c.count,
                c.first_seen,
                first_seen_unit,
                c.reproducer.step + 1,
                c.key.label()
            ));
            out.push_str(&format!("{:>34}{}\n", "", c.configs.join(", ")));
            if let Some(p) = &c.path {
                out.push_str(&format!("{:>34}{}\n", "", p.display()));
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
                    "categories": c.key.categories,
                    "c": c.key.c,
                    "rust": c.key.rust,
                    "count": c.count,
                    "first_seen": c.first_seen,
                    "configs": c.configs,
                    "reproducer_steps": c.reproducer.step + 1,
                    "reproducer_path": c.path.as_ref().map(|p| p.display().to_string()),
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
            operation("pmap_segtab_destroy(pmap 1, Record, 0xab)"),
            "pmap_segtab_destroy"
        );
        assert_eq!(
            operation("*pmap_pte_reserve(pmap 1, 0x1000) = 0x5"),
            "pmap_pte_reserve"
        );
        assert_eq!(
            operation("at once: cpu0 pmap_segtab_init(pmap 7) with pm_minaddr 0x0 | cpu1 (lwp 2) pmap_pte_lookup(pmap 0, 0x1) | schedule 0x0"),
            "at once (pmap_segtab_init | pmap_pte_lookup)"
        );
    }
}
