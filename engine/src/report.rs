//! A divergence, explained: the trace as text, both states side by side,
//! and a ready-to-paste Rust test.

use crate::run::Divergence;
use std::fmt::Write;

/// The human report.
pub fn text(d: &Divergence) -> String {
    if d.trace.is_empty() {
        if let Some(first) = d
            .diffs
            .first()
            .filter(|f| f.category == "hang" || f.category == "crash")
        {
            return process_text(d, &first.category);
        }
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "DIVERGENCE in {} at step {} ({})",
        d.sequence.config,
        d.step,
        d.class()
    );
    for n in &d.notes {
        let _ = writeln!(s, "C revision: {n}");
    }
    if let Some(p) = crate::port::external() {
        let _ = writeln!(s, "Rust port: {}", p.line());
    }
    let _ = writeln!(s, "\noperations:");
    for (i, t) in d.trace.iter().enumerate() {
        let mark = if i == d.step { ">>" } else { "  " };
        let _ = writeln!(s, "{mark} {i:3}  {t}");
    }
    let w_field = d
        .diffs
        .iter()
        .map(|f| f.field.len())
        .max()
        .unwrap_or(5)
        .clamp(5, 48);
    let w_c = d
        .diffs
        .iter()
        .map(|f| f.c.len())
        .max()
        .unwrap_or(1)
        .clamp(1, 60);
    let _ = writeln!(s, "\nstate after step {} (only differing fields):", d.step);
    let _ = writeln!(
        s,
        "  {:<12} {:<w_field$}  {:<w_c$}  | Rust port",
        "category", "field", "C reference"
    );
    for f in &d.diffs {
        let _ = writeln!(
            s,
            "* {:<12} {:<w_field$}  {:<w_c$}  | {}",
            f.category, f.field, f.c, f.rust
        );
    }
    if let [c, r] = &d.schedules[..] {
        let _ = writeln!(
            s,
            "\nschedule of step {} (which CPU ran between which calls out of the file):",
            d.step
        );
        let _ = writeln!(s, "  C reference: {c}");
        let _ = writeln!(s, "  Rust port:   {r}");
        let _ = writeln!(s, "\nthe C reference's interleaving, a column per CPU:");
        s.push_str(&columns(c));
        if r != c {
            let _ = writeln!(s, "the Rust port's:");
            s.push_str(&columns(r));
        }
    }
    let _ = writeln!(s, "\nreproduce as a test:\n{}", rust_test(d));
    s
}

/// A `#[test]` that replays the sequence (a hang's fails, naming the
/// step and the side, when a step does not return within 5 s).
pub fn rust_test(d: &Divergence) -> String {
    let json = serde_json::to_string(&d.sequence).unwrap_or_default();
    let name = d.slug('_');
    if d.trace.is_empty() && d.diffs.first().is_some_and(|f| f.category == "hang") {
        return format!(
            "#[test]\nfn hang_in_{}() {{\n    let seq: segtab_diff::Sequence = serde_json::from_str(\n        r#\"{json}\"#,\n    )\n    .unwrap();\n    segtab_diff::assert_returns(&seq, std::time::Duration::from_secs(5));\n}}\n",
            d.sequence.config.replace('-', "_")
        );
    }
    format!(
        "#[test]\nfn divergence_{name}() {{\n    let seq: segtab_diff::Sequence = serde_json::from_str(\n        r#\"{json}\"#,\n    )\n    .unwrap();\n    segtab_diff::assert_agree(&seq);\n}}\n"
    )
}

/// The report of a finding that took a process down (a hang or a crash):
/// which side, at which step when known, the operations, and a test.
fn process_text(d: &Divergence, what: &str) -> String {
    let mut s = String::new();
    let site = d.diffs.get(1);
    let _ = writeln!(
        s,
        "{} in {}{}",
        what.to_ascii_uppercase(),
        d.sequence.config,
        match site {
            Some(f) => format!(
                ": {} (C reference: {}; Rust port: {})",
                f.field, f.c, f.rust
            ),
            None => format!(" ({})", d.diffs[0].c),
        }
    );
    if let Some(p) = crate::port::external() {
        let _ = writeln!(s, "Rust port: {}", p.line());
    }
    let trace = c_reference::configs::find(&d.sequence.config)
        .map(|c| crate::run::trace_of(c, &d.sequence, d.sequence.ops.len().saturating_sub(1)))
        .unwrap_or_default();
    let _ = writeln!(s, "\noperations:");
    for (i, t) in trace.iter().enumerate() {
        let mark = if site.is_some() && i == d.step {
            ">>"
        } else {
            "  "
        };
        let _ = writeln!(s, "{mark} {i:3}  {t}");
    }
    let _ = writeln!(s, "\nreproduce as a test:\n{}", rust_test(d));
    s
}

/// A schedule as [`crate::compare::schedule_text_calls`] writes it
/// (`cpu0: A B | cpu1: C | ...`) drawn with a column per CPU: each row is
/// one CPU's run between two switches, in the order they ran.
pub fn columns(schedule: &str) -> String {
    let runs: Vec<(usize, &str)> = schedule
        .split(" | ")
        .filter_map(|seg| {
            let (cpu, calls) = seg.split_once(':')?;
            Some((cpu.strip_prefix("cpu")?.parse().ok()?, calls.trim()))
        })
        .collect();
    let ncpus = runs.iter().map(|r| r.0 + 1).max().unwrap_or(0);
    if ncpus == 0 {
        return String::new();
    }
    let mut width = vec![4usize; ncpus];
    for &(cpu, calls) in &runs {
        width[cpu] = width[cpu].max(calls.len());
    }
    let mut s = String::from("  ");
    for (cpu, w) in width.iter().enumerate() {
        let _ = write!(s, "{:<w$}  ", format!("cpu{cpu}"));
    }
    s = s.trim_end().to_string();
    s.push('\n');
    for &(cpu, calls) in &runs {
        let mut line = String::from("  ");
        for (i, w) in width.iter().enumerate() {
            let cell = if i == cpu { calls } else { "" };
            let _ = write!(line, "{cell:<w$}  ");
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_schedule_is_drawn_with_a_column_per_cpu() {
        let t = super::columns(
            "cpu0: SpinEnter | cpu2: [call 1] Cas | cpu1: SpinEnter(waits) | cpu0: SpinExit",
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert!(
            lines[0].contains("cpu0") && lines[0].contains("cpu2"),
            "{t}"
        );
        let col = |l: &str, w: &str| l.find(w).unwrap();
        assert_eq!(col(lines[2], "[call 1]"), col(lines[0], "cpu2"), "{t}");
        assert_eq!(
            col(lines[3], "SpinEnter(waits)"),
            col(lines[0], "cpu1"),
            "{t}"
        );
    }
}
