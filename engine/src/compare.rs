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
    category: &'static str,
    listed: usize,
    more: usize,
}

impl<'a> TableDiffs<'a> {
    /// Collect into `out`.
    pub fn new(out: &'a mut Vec<FieldDiff>) -> Self {
        Self::with_category(out, "table")
    }

    /// Collect into `out` under another category (free list, PTP cache).
    pub fn with_category(out: &'a mut Vec<FieldDiff>, category: &'static str) -> Self {
        TableDiffs {
            out,
            category,
            listed: 0,
            more: 0,
        }
    }

    /// One differing field (`None`: that side has no such field).
    pub fn add(&mut self, field: impl std::fmt::Display, c: Option<Value>, r: Option<Value>) {
        let show = |v: Option<Value>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        self.add_shown(field, || (show(c), show(r)));
    }

    /// One differing field, each side's value already shown (made only
    /// if listed).
    pub fn add_shown(
        &mut self,
        field: impl std::fmt::Display,
        values: impl FnOnce() -> (String, String),
    ) {
        if self.listed == MAX_TABLE_DIFFS {
            self.more += 1;
            return;
        }
        self.listed += 1;
        let (c, rust) = values();
        self.out.push(FieldDiff {
            category: self.category.into(),
            field: field.to_string(),
            c,
            rust,
        });
    }
}

impl Drop for TableDiffs<'_> {
    fn drop(&mut self) {
        if self.more > 0 {
            self.out.push(FieldDiff {
                category: self.category.into(),
                field: format!("... and {} more fields", self.more),
                c: String::new(),
                rust: String::new(),
            });
        }
    }
}

/// What a step returned and did.
pub fn step(out: &mut Vec<FieldDiff>, ec: &StepEnd, er: &StepEnd, tc: &StepTrace, tr: &StepTrace) {
    outcome(out, "return / panic", ec, er);
    traces(out, tc, tr);
}

/// How a call ended (`field` names the CPU in a concurrent step).
pub fn outcome(out: &mut Vec<FieldDiff>, field: &str, ec: &StepEnd, er: &StepEnd) {
    if !ec.agrees(er) {
        out.push(FieldDiff {
            category: "outcome".into(),
            field: field.into(),
            c: format!("{ec:?}"),
            rust: format!("{er:?}"),
        });
    }
}

/// A schedule as text: runs of one CPU's calls, `|` where the CPU changes.
pub fn schedule_text(log: &[shim::sched::SchedEvent]) -> String {
    let mut s = String::new();
    let mut cur = None;
    for e in log {
        if cur != Some(e.cpu) {
            if cur.is_some() {
                s.push_str(" | ");
            }
            s.push_str(&format!("cpu{}:", e.cpu));
            cur = Some(e.cpu);
        }
        s.push_str(&format!(" {:?}", e.call));
        if e.blocked {
            s.push_str("(waits)");
        }
    }
    s
}

/// [`schedule_text`] with `[call k]` where a CPU's later call `k` starts
/// (`starts`: (cpu, call index, log position), as [`StepTrace::starts`]),
/// so a step of several calls per CPU reads call by call.
pub fn schedule_text_calls(log: &[shim::sched::SchedEvent], starts: &[(u8, u8, u32)]) -> String {
    if starts.is_empty() {
        return schedule_text(log);
    }
    let mut s = String::new();
    let mut cur = None;
    for (i, e) in log.iter().enumerate() {
        if cur != Some(e.cpu) {
            if cur.is_some() {
                s.push_str(" | ");
            }
            s.push_str(&format!("cpu{}:", e.cpu));
            cur = Some(e.cpu);
        }
        for &(_, k, _) in starts
            .iter()
            .filter(|st| st.0 == e.cpu && st.2 as usize == i)
        {
            s.push_str(&format!(" [call {k}]"));
        }
        s.push_str(&format!(" {:?}", e.call));
        if e.blocked {
            s.push_str("(waits)");
        }
    }
    s
}

/// What a step did besides its end: pool events, xtab hooks, callbacks
/// and, for a concurrent step, the schedule.
pub fn traces(out: &mut Vec<FieldDiff>, tc: &StepTrace, tr: &StepTrace) {
    if tc.sched != tr.sched {
        out.push(FieldDiff {
            category: "schedule".into(),
            field: "which CPU reached which call out of the file".into(),
            c: schedule_text(&tc.sched),
            rust: schedule_text(&tr.sched),
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

/// Every table of every pmap whose roots agree, walked in lockstep; the
/// contents of the PTE pages `pages` admits.
pub fn trees(out: &mut Vec<FieldDiff>, c: &dyn Side, r: &dyn Side, pages: &dyn Fn(u32) -> bool) {
    let g = c.geometry();
    let mut diffs = TableDiffs::new(out);
    for pm in 0..c_reference::NPMAPS {
        let (rc, rr) = (c.root_raw(pm), r.root_raw(pm));
        if rc == 0 || rr == 0 {
            continue; // NULL roots are compared with the summaries
        }
        inspect::diff_trees_in(c.pool(), rc, r.pool(), rr, &g, pages, |field, a, b| {
            diffs.add(format_args!("pmap {pm} {field}"), a, b)
        });
    }
}

/// What every pool page is used for (deep passes): the class of each frame
/// on both sides, the slots of every free segtab, and the contents of every
/// page on the PTP cache. Free pages' poison is the pool's to check.
pub fn pages(
    out: &mut Vec<FieldDiff>,
    c: &dyn Side,
    r: &dyn Side,
    cs: &crate::side::Snapshot,
    rs: &crate::side::Snapshot,
    contents: &dyn Fn(u32) -> bool,
) {
    let g = c.geometry();
    let roots =
        |s: &dyn Side| -> Vec<u64> { (0..c_reference::NPMAPS).map(|p| s.root_raw(p)).collect() };
    let ac = inspect::account(c.pool(), &g, &roots(c), &cs.free_list.0, &cs.ptp.0);
    let ar = inspect::account(r.pool(), &g, &roots(r), &rs.free_list.0, &rs.ptp.0);
    let mut listed = 0;
    let mut more = 0;
    for pfn in 0..ac.len().max(ar.len()) {
        if ac.get(pfn) == ar.get(pfn) {
            continue;
        }
        // A frame past one side's accounting was never handed out there:
        // free and unreferenced, the same class as a frame handed out and
        // freed (how far each pool has touched is not behaviour).
        let class = |a: &[inspect::PageUse]| a.get(pfn).copied().unwrap_or_default().class();
        let (x, y) = (class(&ac), class(&ar));
        if x != y {
            if listed < MAX_TABLE_DIFFS {
                listed += 1;
                out.push(FieldDiff {
                    category: "pages".into(),
                    field: format!("pfn {pfn} is used as"),
                    c: x,
                    rust: y,
                });
            } else {
                more += 1;
            }
        }
    }
    if more > 0 {
        out.push(FieldDiff {
            category: "pages".into(),
            field: format!("... and {more} more pages"),
            c: String::new(),
            rust: String::new(),
        });
    }
    if cs.free_list == rs.free_list {
        let mut diffs = TableDiffs::with_category(out, "free list");
        inspect::diff_free_segtabs(
            c.pool(),
            &cs.free_list.0,
            r.pool(),
            &rs.free_list.0,
            &g,
            contents,
            |k, i, a, b| diffs.add(format_args!("free segtab {k} seg_tab[{i}]"), a, b),
        );
    }
    if cs.ptp == rs.ptp {
        let mut diffs = TableDiffs::with_category(out, "ptp cache");
        for &pfn in &cs.ptp.0 {
            if pfn < c.pool().capacity() && contents(pfn) {
                inspect::diff_page(c.pool(), r.pool(), &g, pfn, |j, a, b| {
                    diffs.add(format_args!("ptp cache page pfn {pfn} pte[{j}]"), a, b)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shim::sched::{Call, SchedEvent};

    #[test]
    fn a_schedule_reads_call_by_call() {
        let ev = |cpu, call| SchedEvent {
            cpu,
            call,
            blocked: false,
        };
        let log = [
            ev(0, Call::SpinEnter),
            ev(1, Call::SpinEnter),
            ev(1, Call::SpinExit),
            ev(1, Call::Alloc),
            ev(0, Call::SpinExit),
        ];
        assert_eq!(
            schedule_text_calls(&log, &[(1, 1, 3)]),
            "cpu0: SpinEnter | cpu1: SpinEnter SpinExit [call 1] Alloc | cpu0: SpinExit"
        );
        assert_eq!(schedule_text_calls(&log, &[]), schedule_text(&log));
    }
}
