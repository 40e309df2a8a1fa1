//! Field-by-field comparison of the two sides after a step.

use crate::side::Side;
use crate::side::{Snapshot, StepEnd, StepTrace, Summary};
use serde::{Deserialize, Serialize};
use shim::inspect::{self, Value};
use std::fmt::Debug;

/// One field on which the sides disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// Category (outcome, pool events, table, free list, ...).
    pub category: String,
    /// The field within it.
    pub field: String,
    /// The C's value.
    pub c: String,
    /// The port's value.
    pub rust: String,
}

/// Most differing PTE/table fields listed per step (the rest are counted).
pub const MAX_TABLE_DIFFS: usize = 24;

fn push<T: Debug + PartialEq>(out: &mut Vec<FieldDiff>, category: &str, field: &str, c: &T, r: &T) {
    if c != r {
        out.push(FieldDiff {
            category: category.into(),
            field: field.into(),
            c: format!("{c:?}"),
            rust: format!("{r:?}"),
        });
    }
}

/// Table differences of one step: lists the first [`MAX_TABLE_DIFFS`] and
/// counts the rest (a broken tree can differ in thousands of PTEs).
pub struct TableDiffs<'a> {
    out: &'a mut Vec<FieldDiff>,
    listed: usize,
    more: usize,
}

impl<'a> TableDiffs<'a> {
    /// Collect into `out`.
    pub fn new(out: &'a mut Vec<FieldDiff>) -> Self {
        TableDiffs {
            out,
            listed: 0,
            more: 0,
        }
    }

    /// One differing field (`None`: that side has no such field).
    pub fn add(&mut self, field: impl std::fmt::Display, c: Option<Value>, r: Option<Value>) {
        if self.listed == MAX_TABLE_DIFFS {
            self.more += 1;
            return;
        }
        self.listed += 1;
        let show = |v: Option<Value>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        self.out.push(FieldDiff {
            category: "table".into(),
            field: field.to_string(),
            c: show(c),
            rust: show(r),
        });
    }
}

impl Drop for TableDiffs<'_> {
    fn drop(&mut self) {
        if self.more > 0 {
            self.out.push(FieldDiff {
                category: "table".into(),
                field: format!("... and {} more table fields", self.more),
                c: String::new(),
                rust: String::new(),
            });
        }
    }
}

/// What a step returned and did.
pub fn step(out: &mut Vec<FieldDiff>, ec: &StepEnd, er: &StepEnd, tc: &StepTrace, tr: &StepTrace) {
    if !ec.agrees(er) {
        out.push(FieldDiff {
            category: "outcome".into(),
            field: "return / panic".into(),
            c: format!("{ec:?}"),
            rust: format!("{er:?}"),
        });
    }
    push(
        out,
        "pool events",
        "alloc/free/wait log of this step",
        &tc.pool,
        &tr.pool,
    );
    push(
        out,
        "xtab hooks",
        "pmap_md_xtab_* calls",
        &tc.xtab,
        &tr.xtab,
    );
    if tc.callbacks != tr.callbacks {
        let n = tc.callbacks.len().max(tr.callbacks.len());
        let mut listed = 0;
        for i in 0..n {
            let (c, r) = (tc.callbacks.get(i), tr.callbacks.get(i));
            if c != r && listed < MAX_TABLE_DIFFS {
                listed += 1;
                out.push(FieldDiff {
                    category: "callbacks".into(),
                    field: format!("call {i}"),
                    c: c.map(|x| format!("{x:?}")).unwrap_or_else(|| "-".into()),
                    rust: r.map(|x| format!("{x:?}")).unwrap_or_else(|| "-".into()),
                });
            }
        }
    }
}

/// The O(1) summary after a step.
pub fn summary(out: &mut Vec<FieldDiff>, c: &Summary, r: &Summary) {
    if c == r {
        return;
    }
    if c.roots != r.roots {
        for (i, (a, b)) in c.roots.iter().zip(&r.roots).enumerate() {
            push(out, "pmap", &format!("pmap {i} pm_segtab"), a, b);
        }
    }
    push(
        out,
        "free list",
        "free segtab list head",
        &c.free_head,
        &r.free_head,
    );
    push(out, "ptp cache", "PTP cache head", &c.ptp_head, &r.ptp_head);
    push(
        out,
        "counters",
        "DEBUG (nget, nput, npage)",
        &c.counters,
        &r.counters,
    );
    push(
        out,
        "lock",
        "pmap_segtab_lock (held, enters)",
        &c.lock,
        &r.lock,
    );
    push(out, "pool", "pages in use", &c.pool_in_use, &r.pool_in_use);
}

/// The state after a step.
pub fn snapshot(out: &mut Vec<FieldDiff>, c: &Snapshot, r: &Snapshot) {
    summary(out, &c.summary, &r.summary);
    if c.minaddr != r.minaddr {
        for (i, (a, b)) in c.minaddr.iter().zip(&r.minaddr).enumerate() {
            push(out, "pmap", &format!("pmap {i} pm_minaddr"), a, b);
        }
    }
    push(
        out,
        "free list",
        "free segtab list (head first, cut)",
        &c.free_list,
        &r.free_list,
    );
    push(
        out,
        "ptp cache",
        "PTP cache (head first, cut)",
        &c.ptp,
        &r.ptp,
    );
    push(
        out,
        "cpu_info",
        "ci_pmap_user_segtab",
        &c.ci_segtab,
        &r.ci_segtab,
    );
    push(
        out,
        "cpu_info",
        "ci_pmap_user_seg0tab",
        &c.ci_seg0tab,
        &r.ci_seg0tab,
    );
    push(out, "lwp", "curlwp", &c.curlwp, &r.curlwp);
    push(out, "lwp", "(cpu, pmap) per lwp", &c.lwps, &r.lwps);
}

/// Every table of every pmap whose roots agree, walked in lockstep.
pub fn trees(out: &mut Vec<FieldDiff>, c: &dyn Side, r: &dyn Side) {
    let g = c.geometry();
    let mut diffs = TableDiffs::new(out);
    for pm in 0..c_reference::NPMAPS {
        let (rc, rr) = (c.root_raw(pm), r.root_raw(pm));
        if rc == 0 || rr == 0 {
            continue; // NULL roots are compared with the summaries
        }
        inspect::diff_trees(c.pool(), rc, r.pool(), rr, &g, |field, a, b| {
            diffs.add(format_args!("pmap {pm} {field}"), a, b)
        });
    }
}
