//! report.html: one self-contained page (inline CSS, inline SVG, no
//! script, nothing fetched) for a reviewer who never ran the tool.

use super::Report;
use std::fmt::Write as _;

/// Seconds without needless decimals.
fn fmt_secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.verdict{font-size:1.25em;padding:.8em 1em;border-radius:6px;margin:1em 0}\
.equivalent{background:#e3f6e3;border:2px solid #3a3}.divergent,.weak-oracle{background:#fde8e8;border:2px solid #c33}\
.reached,.caught{color:#161}.gap,.survived,.error,.not-run{color:#b00;font-weight:bold}.unreachable,.equivalent-tce,.equivalent-list,.stillborn,.not-compiled{color:#666}\
.warning{background:#fff4d6;border:2px solid #d9a400;padding:.6em 1em;margin:1em 0}\
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:12px}details{margin:.3em 0}code{font-size:12px}\
.bar{display:inline-block;height:10px;background:#4a8;vertical-align:middle}.barbg{display:inline-block;width:120px;height:10px;background:#eee;vertical-align:middle}";

fn pct_bar(p: f64) -> String {
    format!(
        "<span class=\"barbg\"><span class=\"bar\" style=\"width:{:.0}px\"></span></span> {p:.1}%",
        1.2 * p.clamp(0.0, 100.0)
    )
}

/// A line plot of `points` (x, y) as inline SVG.
fn plot(title: &str, xlabel: &str, ylabel: &str, points: &[(f64, f64)]) -> String {
    let (w, h, l, b) = (520.0, 200.0, 60.0, 30.0);
    let xmax = points.iter().map(|p| p.0).fold(1e-9, f64::max);
    let ymax = points.iter().map(|p| p.1).fold(1e-9, f64::max) * 1.1;
    let sx = |x: f64| l + (w - l - 10.0) * x / xmax;
    let sy = |y: f64| h - b - (h - b - 10.0) * y / ymax;
    let mut s = format!(
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\">\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
         <line x1=\"{l}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#888\"/>\
         <line x1=\"{l}\" y1=\"10\" x2=\"{l}\" y2=\"{y0}\" stroke=\"#888\"/>",
        t = esc(title),
        y0 = h - b,
        x1 = w - 10.0
    );
    for k in 0..=4 {
        let y = ymax * k as f64 / 4.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            l - 4.0,
            sy(y) + 3.0,
            short(y)
        );
        let x = xmax * k as f64 / 4.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{:.0}</text>",
            sx(x),
            h - b + 12.0,
            x
        );
    }
    let path: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
        .collect();
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"#27a\" stroke-width=\"2\" points=\"{}\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\
         <text x=\"12\" y=\"{}\" font-size=\"11\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{}</text></svg>\
         <figcaption>{}</figcaption></figure>",
        path.join(" "),
        (w + l) / 2.0,
        h - 4.0,
        esc(xlabel),
        (h - b) / 2.0,
        (h - b) / 2.0,
        esc(ylabel),
        esc(title)
    );
    s
}

/// Horizontal bars (label, value out of 100) as inline SVG.
fn bars(title: &str, rows: &[(String, f64, f64)]) -> String {
    let (w, rh) = (520.0, 22.0);
    let h = 20.0 + rh * rows.len() as f64;
    let mut s = format!(
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    for (i, (label, a, b)) in rows.iter().enumerate() {
        let y = 10.0 + rh * i as f64;
        let _ = write!(
            s,
            "<text x=\"150\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>\
             <rect x=\"155\" y=\"{}\" width=\"300\" height=\"8\" fill=\"#eee\"/>\
             <rect x=\"155\" y=\"{}\" width=\"{:.1}\" height=\"8\" fill=\"#4a8\"/>\
             <rect x=\"155\" y=\"{}\" width=\"300\" height=\"6\" fill=\"#eee\"/>\
             <rect x=\"155\" y=\"{}\" width=\"{:.1}\" height=\"6\" fill=\"#a84\"/>\
             <text x=\"460\" y=\"{}\" font-size=\"10\">{a:.0}% / {b:.0}%</text>",
            y + 12.0,
            esc(label),
            y + 2.0,
            y + 2.0,
            3.0 * a,
            y + 11.0,
            y + 11.0,
            3.0 * b,
            y + 12.0
        );
    }
    let _ = write!(
        s,
        "</svg><figcaption>{} (green: lines, brown: branches)</figcaption></figure>",
        esc(title)
    );
    s
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The page.
pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let id = &r.identity;
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>segtab-diff certify: {}</title><style>{CSS}</style></head><body>\
         <h1>Equivalence sign-off: Rust port of pmap_segtab.c</h1>\
         <div id=\"verdict\" class=\"verdict {}\"><strong>Verdict: {}</strong><br>{}</div>",
        esc(&r.verdict),
        esc(&r.verdict),
        esc(&r.verdict.to_uppercase()),
        esc(&r.verdict_line)
    );
    if !r.port_coverage.measured {
        let _ = write!(
            h,
            "<div id=\"port-coverage-warning\" class=\"warning\"><strong>Warning: the port's coverage was not measured</strong> \
             ({}). This report cannot say how much of the Rust port the campaign exercised; install cargo-llvm-cov \
             (<code>cargo install cargo-llvm-cov --locked</code>, <code>rustup component add llvm-tools-preview</code>) and rerun to measure it.</div>",
            esc(&r.port_coverage.note)
        );
    }
    // What the verdict means.
    let _ = write!(
        h,
        "<p>The port and the C file were run on the same operations (one CPU at a time and two CPUs at once) \
         and compared after every step. <em>Equivalent</em> means: no difference was found within the budget, \
         <em>and</em> the comparison proved strong enough, by catching deliberately broken copies of the C \
         (mutants). Exit code {}.</p>\
         <h2>Thresholds</h2><table id=\"thresholds\"><tr><th>requirement</th><th>threshold</th><th>this run</th></tr>\
         <tr><td>divergences between C and port</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\
         <tr><td>mutation score (caught / judged, less those listed as equivalent)</td><td class=\"n\">&ge; {:.0}%</td><td class=\"n\">{}</td></tr>\
         <tr><td>mutants judged or shown equivalent</td><td class=\"n\">every one{}</td><td class=\"n\">{} of {}</td></tr></table><p>{}</p>",
        r.exit_code,
        r.thresholds.divergences,
        r.campaign.divergences.len(),
        100.0 * r.thresholds.mutation_score_min,
        r.mutation_score
            .map_or("not measured".into(), |s| format!("{:.0}%", 100.0 * s)),
        if r.thresholds.all_mutants_judged { "" } else { " (not required)" },
        r.mutation.eligible - r.mutation.errors - r.mutation.not_run,
        r.mutation.eligible,
        esc(&r.thresholds.not_gating)
    );
    // Identity.
    let _ = write!(h, "<h2>What was certified</h2><table id=\"identity\">");
    let rows: Vec<(&str, String)> = vec![
        ("C file", id.c_file.clone()),
        ("C SHA-256", id.c_sha256.clone()),
        (
            "C $NetBSD$ id",
            id.c_netbsd_id.clone().unwrap_or_else(|| "none".into()),
        ),
        (
            "C is the vendored rev 1.23",
            if id.c_is_vendored { "yes" } else { "no" }.into(),
        ),
        ("port", id.port.line()),
        (
            "checkout (git commit)",
            format!(
                "{}{}",
                id.git_commit,
                if id.git_dirty {
                    " (uncommitted changes)"
                } else {
                    ""
                }
            ),
        ),
        (
            "toolchains",
            format!("{}; {}; {}", id.rustc, id.cargo, id.cc),
        ),
        ("seed", id.seed.to_string()),
        ("machine", id.machine.clone()),
        ("started", id.started.clone()),
        ("duration", format!("{:.0} s", id.duration_secs)),
        (
            "budget (campaign + mutants)",
            format!("{} s", r.budget_seconds),
        ),
        ("configurations", r.configs.join(", ")),
        ("command", id.command.clone()),
    ];
    for (k, v) in rows {
        let _ = write!(
            h,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            esc(k),
            esc(&v)
        );
    }
    h.push_str("</table>");
    // Campaign.
    let c = &r.campaign;
    let _ = write!(
        h,
        "<h2>Campaign</h2><table id=\"campaign\"><tr><th>seconds</th><th>sequences</th><th>operations</th><th>ops/s</th>\
         <th>configurations with concurrent steps</th><th>divergences</th></tr>\
         <tr><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0}</td><td>{}</td><td class=\"n\">{}</td></tr></table>",
        c.seconds,
        c.sequences,
        c.operations,
        c.ops_per_sec,
        esc(&c.concurrent_configs.join(", ")),
        c.divergences.len()
    );
    for d in &c.divergences {
        let _ = write!(
            h,
            "<div class=\"divergence\"><p><strong class=\"gap\">Divergence: {}</strong> (reproducer <code>{}</code>)</p><pre>{}</pre></div>",
            esc(&d.class),
            esc(&d.path),
            esc(&d.report)
        );
    }
    // Races explored.
    if !r.explore.is_empty() {
        h.push_str(
            "<h2>Races explored</h2><p>Each race scenario's concurrent step run under every schedule \
             with at most C preemptions (switches at calls out of the file), both sides compared at each.</p>\
             <table id=\"explore\"><tr><th>scenario</th><th>configuration</th><th>calls per CPU</th><th>C</th>\
             <th>schedules</th><th>pruned</th><th>decisions (max)</th><th>space</th><th>seconds</th><th>result</th></tr>",
        );
        for e in &r.explore {
            let _ = write!(
                h,
                "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{:.2}</td><td>{}</td></tr>",
                esc(&e.what),
                esc(&e.name),
                esc(&e.config),
                esc(&e.calls),
                e.bound,
                e.schedules,
                e.pruned,
                e.max_decisions,
                if e.exhausted { "exhausted" } else { "<strong class=\"gap\">not exhausted</strong>" },
                e.seconds,
                match &e.divergence {
                    None => "agree".to_string(),
                    Some(d) => format!("<strong class=\"gap\">diverges: {}</strong>", esc(d)),
                }
            );
        }
        h.push_str("</table>");
    }
    let ops: Vec<(f64, f64)> = c.timeline.iter().map(|t| (t.0, t.1)).collect();
    let newc: Vec<(f64, f64)> = c.timeline.iter().map(|t| (t.0, t.2 as f64)).collect();
    h.push_str(&plot("Throughput over time", "seconds", "ops/s", &ops));
    h.push_str(&plot(
        "Outcome features reached over time (new coverage)",
        "seconds",
        "features",
        &newc,
    ));
    // Coverage.
    let _ = write!(
        h,
        "<h2>C coverage of {} per configuration</h2>\
         <table id=\"coverage\"><tr><th>configuration</th><th>lines</th><th>line coverage</th><th>branches</th>\
         <th>branch coverage</th><th>unreached: unreachable here</th><th>unreached: gaps</th></tr>",
        esc(
            std::path::Path::new(&id.c_file)
                .file_name()
                .map_or("the C file".into(), |n| n.to_string_lossy())
                .as_ref()
        )
    );
    let mut cov_rows = Vec::new();
    for (name, cc) in &r.coverage {
        if !cc.measured {
            let _ = write!(
                h,
                "<tr><td>{}</td><td colspan=\"6\">not measured (no counters)</td></tr>",
                esc(name)
            );
            continue;
        }
        let un = cc
            .unreached
            .iter()
            .filter(|u| u.status == "unreachable")
            .count();
        let gaps = cc.unreached.len() - un;
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}/{}</td><td>{}</td><td class=\"n\">{}/{}</td><td>{}</td><td class=\"n\">{un}</td><td class=\"n {}\">{gaps}</td></tr>",
            esc(name),
            cc.lines_hit,
            cc.lines_total,
            pct_bar(cc.line_pct),
            cc.branches_hit,
            cc.branches_total,
            pct_bar(cc.branch_pct),
            if gaps > 0 { "gap" } else { "reached" }
        );
        cov_rows.push((name.clone(), cc.line_pct, cc.branch_pct));
    }
    h.push_str("</table>");
    h.push_str(&bars("Coverage per configuration", &cov_rows));
    for (name, cc) in &r.coverage {
        if cc.unreached.is_empty() {
            continue;
        }
        let _ = write!(
            h,
            "<details><summary>{}: {} unreached lines</summary><table><tr><th>line</th><th>text</th><th>status</th><th>why</th></tr>",
            esc(name),
            cc.unreached.len()
        );
        for u in &cc.unreached {
            let _ = write!(
                h,
                "<tr><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td></tr>",
                u.line,
                esc(&u.text),
                u.status,
                u.status,
                esc(&u.reason)
            );
        }
        h.push_str("</table></details>");
    }
    // Outcome classes.
    h.push_str("<h2>Outcome classes per configuration</h2><p>Every panic and KASSERT site, allocation failure and <code>uvm_wait</code>, the lost-CAS race paths, the carving loop and the walk to the top of the address space: reached, unreachable in that configuration (and why), or a gap.</p><table id=\"outcomes\"><tr><th>class</th><th>C lines</th>");
    for name in r.outcomes.keys() {
        let _ = write!(h, "<th>{}</th>", esc(name));
    }
    h.push_str("</tr>");
    if let Some(first) = r.outcomes.values().next() {
        for (i, k) in first.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td title=\"{}\">{}</td><td>{}</td>",
                esc(k.what),
                esc(k.id),
                k.lines
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for v in r.outcomes.values() {
                let x = &v[i];
                let _ = write!(
                    h,
                    "<td class=\"{}\" title=\"{}\">{}</td>",
                    x.status,
                    esc(&x.detail),
                    x.status
                );
            }
            h.push_str("</tr>");
        }
    }
    h.push_str("</table><details><summary>What each class is, and the evidence</summary><table><tr><th>configuration</th><th>class</th><th>what</th><th>status</th><th>evidence or reason</th></tr>");
    for (name, v) in &r.outcomes {
        for x in v {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                esc(name),
                esc(x.id),
                esc(x.what),
                x.status,
                x.status,
                esc(&x.detail)
            );
        }
    }
    h.push_str("</table></details>");
    // Mutation.
    let m = &r.mutation;
    let _ = write!(
        h,
        "<h2>Oracle self-test (every mutant of the C)</h2>\
         <p>Operators rewrite the C file one place at a time, making {} mutants. Every one is accounted for: \
         a mutant on a line no chosen configuration compiles is <em>not compiled</em>; one compiled alone with each \
         configuration's flags whose object code is the original's is <em>equivalent by TCE</em> (trivial compiler \
         equivalence); one that compiles nowhere is <em>stillborn</em>. Every other one is built into a single mutant \
         schema (each behind a test of its number) and <em>judged</em>: the schema runs it, on the configurations \
         where its code differs, until the first divergence, crash or hang (<em>caught</em>) or {} s \
         (a hang is {} s without progress). A survivor listed with a reason in <code>mutants/c-equivalent.txt</code> \
         is <em>equivalent by the list</em>; any other survivor makes the oracle weak. Mutants are judged with seeds \
         derived from their ids, so the table does not depend on the run's seed.</p>\
         <table id=\"mutation\"><tr><th>made</th><th>not compiled</th><th>eligible</th><th>stillborn</th>\
         <th>equivalent (TCE)</th><th>judged</th><th>caught</th><th>equivalent (list)</th><th>survived</th><th>errors</th><th>score</th></tr>\
         <tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>\
         <table id=\"mutation-times\"><tr><th>TCE</th><th>schema build</th><th>judging ({} at once)</th><th>per judged mutant</th></tr>\
         <tr><td class=\"n\">{:.1} s ({} compiles)</td><td class=\"n\">{:.0} s</td><td class=\"n\">{:.0} s</td><td class=\"n\">{:.2} s</td></tr></table>",
        m.made,
        fmt_secs(m.seconds_each),
        fmt_secs(m.hang_seconds),
        m.made,
        m.not_compiled,
        m.eligible,
        m.stillborn,
        m.equivalent_tce,
        m.judged,
        m.caught,
        m.equivalent_list,
        m.survived,
        m.errors + m.not_run,
        r.mutation_score
            .map_or("not measured".into(), |s| format!("{:.0}%", 100.0 * s)),
        m.parallel,
        m.tce_seconds,
        m.tce_compiles,
        m.build_seconds,
        m.judge_seconds,
        if m.judged > 0 { m.judge_seconds * m.parallel as f64 / m.judged as f64 } else { 0.0 }
    );
    if !m.listed_but_caught.is_empty() {
        let _ = write!(
            h,
            "<p class=\"warning\">Listed as equivalent in mutants/c-equivalent.txt, yet caught (remove the entries): {}</p>",
            esc(&m.listed_but_caught.join(", "))
        );
    }
    let judged = (m.caught + m.survived).max(1) as f64;
    let _ = write!(
        h,
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"30\" role=\"img\" aria-label=\"mutation score\">\
         <rect x=\"0\" y=\"5\" width=\"500\" height=\"18\" fill=\"#eee\"/>\
         <rect x=\"0\" y=\"5\" width=\"{:.1}\" height=\"18\" fill=\"#4a8\"/>\
         <rect x=\"{:.1}\" y=\"5\" width=\"{:.1}\" height=\"18\" fill=\"#c33\"/></svg>\
         <figcaption>Mutation score: caught (green) and survived (red) of the judged mutants not listed as equivalent</figcaption></figure>",
        500.0 * m.caught as f64 / judged,
        500.0 * m.caught as f64 / judged,
        500.0 * m.survived as f64 / judged
    );
    // Time to kill: how many caught mutants die within each bound.
    let most = m
        .kill_times
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let _ = write!(
        h,
        "<figure><svg id=\"kill-times\" xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"{}\" role=\"img\" aria-label=\"time to kill\">",
        m.kill_times.len() * 24 + 6
    );
    for (i, (label, n)) in m.kill_times.iter().enumerate() {
        let y = i * 24 + 4;
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>\
             <rect x=\"110\" y=\"{y}\" width=\"{:.1}\" height=\"18\" fill=\"#48a\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{n}</text>",
            y + 14,
            esc(label),
            340.0 * *n as f64 / most,
            116.0 + 340.0 * *n as f64 / most,
            y + 14
        );
    }
    h.push_str(
        "</svg><figcaption>Time to kill: caught mutants whose run found them within 0.01 s, 0.1 s, 1 s, 10 s \
         (cumulative), and after</figcaption></figure>",
    );
    h.push_str("<table><tr><th>operator</th><th>what</th><th>mutants</th></tr>");
    for (op, n) in &m.per_operator {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>",
            esc(op),
            esc(m.operators.get(op).copied().unwrap_or(""))
        );
    }
    h.push_str(
        "</table><table id=\"mutants\"><tr><th>#</th><th>mutant</th><th>status</th><th>ran in</th><th>detail</th><th>s</th></tr>",
    );
    for x in &m.results {
        let _ = write!(
            h,
            "<tr><td class=\"n\">{}</td><td><code>{}</code><details><summary>diff</summary><pre>{}</pre></details></td><td class=\"{}\">{}{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            x.number,
            esc(&x.id),
            esc(&x.diff),
            x.status,
            x.status,
            if x.how.is_empty() || x.status != "caught" { String::new() } else { format!(" ({})", esc(&x.how)) },
            esc(&x.configs.join(", ")),
            esc(&x.detail),
            if x.how.is_empty() { String::new() } else { format!("{:.2}", x.seconds) }
        );
    }
    h.push_str("</table>");
    // Port coverage.
    let p = &r.port_coverage;
    let _ = write!(
        h,
        "<h2>Port coverage</h2><p id=\"port-coverage\">{}",
        esc(&p.note)
    );
    if p.measured {
        let _ = write!(
            h,
            ": {}/{} regions ({:.1}%)</p><table><tr><th>file</th><th>regions</th><th>coverage</th></tr>",
            p.regions_hit, p.regions_total, p.region_pct
        );
        for (f, a, b) in &p.files {
            let pc = if *b > 0 {
                100.0 * *a as f64 / *b as f64
            } else {
                0.0
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{a}/{b}</td><td>{}</td></tr>",
                esc(f),
                pct_bar(pc)
            );
        }
        h.push_str("</table>");
    } else {
        h.push_str("</p>");
    }
    let _ = writeln!(
        h,
        "<hr><p>Generated by <code>segtab-diff certify</code> (schema {}); the same data is in report.json.</p></body></html>",
        esc(r.schema)
    );
    h
}

/// The page of an interrupted certification: it says it is partial, where
/// it stopped and what it got to; it signs nothing off.
pub fn render_partial(p: &super::Partial) -> String {
    let mut rows = String::new();
    let mut row = |k: &str, v: String| {
        rows += &format!("<tr><th>{}</th><td>{}</td></tr>\n", esc(k), esc(&v));
    };
    row("interrupted in", p.interrupted_in.clone());
    row("after", format!("{:.0} s", p.seconds));
    row("configurations", p.configs.join(", "));
    if let Some(i) = &p.identity {
        row("C file", i.c_file.clone());
        row("port", i.port.line());
        row("checkout commit", i.git_commit.clone());
    }
    if let Some(c) = &p.campaign {
        row(
            "campaign",
            format!(
                "{} operations in {:.0} s, {} divergence(s)",
                c.operations,
                c.seconds,
                c.divergences.len()
            ),
        );
        for d in &c.divergences {
            row("divergence", format!("{} ({})", d.class, d.path));
        }
    }
    row(
        "mutants judged",
        format!(
            "{} of {} ({} caught)",
            p.mutants_judged, p.mutants_to_judge, p.mutants_caught
        ),
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>segtab-diff certify: PARTIAL (interrupted)</title></head>\n\
         <body><h1>PARTIAL REPORT: interrupted, no verdict</h1>\n<p>{}</p>\n<table>\n{rows}</table>\n\
         <p>Run <code>segtab-diff certify</code> again to the end for a verdict.</p></body></html>\n",
        esc(&p.verdict_line)
    )
}
