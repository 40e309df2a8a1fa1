//! `certify`'s parts that need no build: the C mutation operators, the
//! report's schema and its HTML. (Certify on a broken C, which needs a
//! build with `SEGTAB_C_SOURCE`, is `scripts/certify-check.sh`.)

use segtab_diff::certify::{self, mutate, outcomes};
use std::collections::BTreeMap;

const SNIPPET: &str = r#"#include <x.h>
#define M(a) ((a) < 1)
/* a comment: a < b && c */
int
f(int a, int b)
{
	int i;
	// a > b
	for (i = 0; i < a; i++)
		g(a, b);
#if 0
	if (a != b) h();
#endif
	if (a == b)
		return a & (b - 1);
	UVMHIST_LOG(x, a < b, "s<", 0);
	return a >> 2;
}
"#;

#[test]
fn operators_on_a_snippet() {
    let ms = mutate::mutants(SNIPPET);
    let counts = mutate::counts(&ms);
    let expect: BTreeMap<&str, usize> = [
        ("ror", 2),
        ("lcr", 0),
        ("aor", 4),
        ("mask", 2),
        ("shift", 2),
        ("bound", 4),
        ("drop", 1),
        ("swap", 1),
        ("negate", 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        counts,
        expect,
        "{:#?}",
        ms.iter().map(|m| &m.id).collect::<Vec<_>>()
    );
    let ids: Vec<&str> = ms.iter().map(|m| m.id.as_str()).collect();
    for want in [
        "ror:9:16:<-><=",
        "ror:14:8:==->!=",
        "mask:15:19:1->2",
        "shift:17:14:2->(2 + 1)",
        "swap:10:5:a, b->b, a",
        "drop:10:3:g(a, b);->;",
        "negate:14:6:a == b->!(a == b)",
        "bound:9:11:0->(0) + 1",
        "aor:15:12:&->|",
    ] {
        assert!(ids.contains(&want), "missing {want} in {ids:#?}");
    }
}

/// Every mutant changes the text in exactly one contiguous place, at its
/// recorded position.
fn one_place(src: &str, m: &mutate::Mutant) {
    let out = m.apply(src);
    assert_ne!(out, src, "{}", m.id);
    let pre = src
        .bytes()
        .zip(out.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let suf = src
        .bytes()
        .rev()
        .zip(out.bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (a, b) = (src.len(), out.len());
    // The differing region of each side lies within the replaced span.
    assert!(pre >= m.start.min(a), "{}", m.id);
    assert!(
        a - suf.min(a - pre) <= m.start + m.original.len(),
        "{}: differs outside its span",
        m.id
    );
    assert!(b - suf.min(b - pre) <= m.start + m.text().len(), "{}", m.id);
}

#[test]
fn operators_on_pmap_segtab_c() {
    let src = std::str::from_utf8(c_reference::VENDORED_SOURCE).unwrap();
    let ms = mutate::mutants(src);
    let counts = mutate::counts(&ms);
    // Every operator finds work in the file, and the population is the
    // size certify reports (a change here changes every report's ids).
    for (op, n) in &counts {
        assert!(*n > 0, "operator {op} makes no mutant of pmap_segtab.c");
    }
    assert_eq!(
        counts,
        [
            ("aor", 49),
            ("bound", 26),
            ("drop", 82),
            ("lcr", 2),
            ("mask", 18),
            ("negate", 44),
            ("ror", 44),
            ("shift", 16),
            ("swap", 20),
        ]
        .into_iter()
        .collect::<BTreeMap<_, _>>()
    );
    let lines: Vec<&str> = src.lines().collect();
    let mut ids = std::collections::BTreeSet::new();
    for m in &ms {
        one_place(src, m);
        assert!(ids.insert(m.id.clone()), "duplicate id {}", m.id);
        let l = lines[m.line as usize - 1].trim_start();
        assert!(!l.starts_with('#'), "{} is on a preprocessor line", m.id);
        assert!(
            !l.starts_with("* ") && !l.starts_with("/*") && l != "*",
            "{} is in a comment",
            m.id
        );
        assert!(
            !l.starts_with("UVMHIST"),
            "{} is in a UVMHIST statement",
            m.id
        );
        // Inside a function body: the file's functions start at line 145.
        assert!(m.line >= 145, "{} is outside function bodies", m.id);
    }
    // The #if 0 printf (lines 471-474) is never mutated.
    assert!(ms.iter().all(|m| !(471..=474).contains(&m.line)));
    // The hand-written fixture mutants/c/lookup-index-mask.patch is one of
    // the operators' mutants.
    assert!(
        ids.contains("mask:238:44:1->2"),
        "{:?}",
        ids.iter()
            .filter(|i| i.contains(":238:"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_equivalent_list_names_real_mutants() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = std::str::from_utf8(c_reference::VENDORED_SOURCE).unwrap();
    let ids: std::collections::BTreeSet<String> =
        mutate::mutants(src).into_iter().map(|m| m.id).collect();
    for (id, reason) in certify::equivalents(&root) {
        assert!(
            ids.contains(&id),
            "mutants/c-equivalent.txt lists {id}, which the operators do not make"
        );
        assert!(reason.len() > 10, "{id} needs a reason");
        for name in certify::equivalence_scope(&reason).unwrap_or_default() {
            assert!(
                c_reference::configs::find(name).is_some(),
                "{id} is limited to {name}, which is no configuration"
            );
        }
    }
}

fn sample_report() -> certify::Report {
    let config = &c_reference::CONFIGS[0];
    let src = std::str::from_utf8(c_reference::VENDORED_SOURCE).unwrap();
    let m = mutate::mutants(src).remove(0);
    certify::Report {
        schema: certify::SCHEMA,
        verdict: "weak-oracle".into(),
        verdict_line: "certify: WEAK ORACLE: <test>".into(),
        exit_code: 1,
        thresholds: certify::Thresholds {
            divergences: 0,
            mutation_score_min: certify::MIN_SCORE,
            all_mutants_judged: true,
            not_gating: "coverage".into(),
        },
        identity: certify::identity::collect(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../c-reference/pmap_segtab.c"),
            1,
            certify::identity::now_utc(),
        ),
        configs: vec![config.name.into()],
        budget_seconds: 10,
        campaign: certify::CampaignPart {
            seconds: 5.0,
            sequences: 10,
            operations: 100,
            ops_per_sec: 20.0,
            concurrent_configs: vec![],
            divergences: vec![],
            timeline: vec![(1.0, 10.0, 3), (2.0, 12.0, 5)],
        },
        explore: vec![certify::ExploreRun {
            name: "same-va".into(),
            what: "two CPUs reserve the same VA".into(),
            config: config.name.into(),
            calls: "1+1".into(),
            bound: 2,
            schedules: 57,
            pruned: 3,
            max_decisions: 18,
            exhausted: true,
            seconds: 0.1,
            divergence: None,
        }],
        mutation_score: Some(0.5),
        mutation: certify::MutationPart {
            made: 1,
            per_operator: mutate::counts(std::slice::from_ref(&m)),
            operators: BTreeMap::new(),
            not_compiled: 0,
            eligible: 1,
            stillborn: 0,
            equivalent_tce: 0,
            judged: 1,
            caught: 0,
            equivalent_list: 0,
            survived: 1,
            errors: 0,
            not_run: 0,
            listed_but_caught: vec![],
            seconds_each: 3.0,
            hang_seconds: 5.0,
            tce_seconds: 1.0,
            tce_compiles: 3,
            build_seconds: 40.0,
            judge_seconds: 3.0,
            parallel: 2,
            kill_times: vec![("within 0.01 s".into(), 0)],
            results: vec![certify::MutantResult {
                id: m.id.clone(),
                number: 1,
                op: m.op.name(),
                line: m.line,
                status: "survived",
                how: "survived".into(),
                detail: "<b>".into(),
                seconds: 1.0,
                configs: vec![config.name.into()],
                tce: BTreeMap::new(),
                diff: m.diff(src),
            }],
        },
        coverage: [(
            config.name.to_string(),
            certify::ConfigCoverage {
                measured: true,
                lines_total: 10,
                lines_hit: 9,
                line_pct: 90.0,
                branches_total: 4,
                branches_hit: 2,
                branch_pct: 50.0,
                unreached: vec![certify::Unreached {
                    line: 178,
                    text: "panic(...)".into(),
                    status: "unreachable",
                    reason: "r".into(),
                }],
            },
        )]
        .into_iter()
        .collect(),
        port_coverage: certify::PortCoverage {
            measured: false,
            note: "not measured (cargo-llvm-cov not installed)".into(),
            regions_hit: 0,
            regions_total: 0,
            region_pct: 0.0,
            files: vec![],
        },
        outcomes: [(
            config.name.to_string(),
            outcomes::classes(config, &Default::default(), None),
        )]
        .into_iter()
        .collect(),
    }
}

#[test]
fn report_json_schema() {
    let v = serde_json::to_value(sample_report()).unwrap();
    for key in [
        "schema",
        "verdict",
        "verdict_line",
        "exit_code",
        "thresholds",
        "identity",
        "configs",
        "campaign",
        "mutation_score",
        "mutation",
        "coverage",
        "port_coverage",
        "outcomes",
    ] {
        assert!(v.get(key).is_some(), "report.json lacks {key}");
    }
    assert_eq!(v["schema"], certify::SCHEMA);
    let name = c_reference::CONFIGS[0].name;
    for k in [
        "line_pct",
        "branch_pct",
        "lines_hit",
        "lines_total",
        "unreached",
    ] {
        assert!(v["coverage"][name].get(k).is_some(), "coverage lacks {k}");
    }
    for k in [
        "c_sha256",
        "c_netbsd_id",
        "git_commit",
        "git_dirty",
        "rustc",
        "seed",
        "machine",
        "duration_secs",
    ] {
        assert!(v["identity"].get(k).is_some(), "identity lacks {k}");
    }
    assert_eq!(v["identity"]["c_sha256"], c_reference::VENDORED_SHA256);
    assert_eq!(v["identity"]["c_is_vendored"], true);
    for k in [
        "made",
        "eligible",
        "judged",
        "caught",
        "equivalent_tce",
        "equivalent_list",
        "survived",
        "kill_times",
        "build_seconds",
        "judge_seconds",
        "results",
        "per_operator",
    ] {
        assert!(v["mutation"].get(k).is_some(), "mutation lacks {k}");
    }
    // Every outcome class, in every configuration, with a status.
    let classes = v["outcomes"][name].as_array().unwrap();
    assert_eq!(classes.len(), outcomes::class_ids().len());
    for c in classes {
        assert!(["reached", "unreachable", "gap"].contains(&c["status"].as_str().unwrap()));
    }
}

#[test]
fn html_is_self_contained_and_escaped() {
    let h = certify::html::render(&sample_report());
    assert!(h.starts_with("<!DOCTYPE html>"));
    for id in [
        "verdict",
        "thresholds",
        "identity",
        "campaign",
        "explore",
        "coverage",
        "outcomes",
        "mutation",
        "mutants",
        "kill-times",
        "port-coverage-warning",
    ] {
        assert!(h.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(h.contains("WEAK ORACLE: &lt;test&gt;"));
    assert!(!h.contains("<b>"), "unescaped text");
    // Nothing fetched: no external references of any kind.
    for bad in ["http://", "https://", "<script", "src=", "<link"] {
        let without_svg_ns = h.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!without_svg_ns.contains(bad), "report.html contains {bad}");
    }
}

#[test]
fn outcome_classes_explain_unreachable_paths() {
    let n64 = c_reference::configs::find("mips64-n64-4k").unwrap();
    let o8k = c_reference::configs::find("mips32-o32-8k").unwrap();
    let get = |c, id: &str| {
        outcomes::classes(c, &Default::default(), None)
            .into_iter()
            .find(|x| x.id == id)
            .unwrap()
    };
    // One segtab per page: no carving; 16 (8 here) per page: carving is
    // reachable, so not reaching it is a gap.
    assert_eq!(get(n64, "carving").status, "unreachable");
    assert_eq!(get(o8k, "carving").status, "gap");
    // No MULTIPROCESSOR in o32-8k: no race paths.
    assert_eq!(get(o8k, "race-pte-cas-lost").status, "unreachable");
    assert_eq!(get(o8k, "race-segtab-cas-lost").status, "unreachable");
    let f: std::collections::BTreeSet<String> = [format!("{} top-of-space-walk", n64.name)]
        .into_iter()
        .collect();
    let top = outcomes::classes(n64, &f, None)
        .into_iter()
        .find(|x| x.id == "top-of-space-walk")
        .unwrap();
    assert_eq!(top.status, "reached");
}

#[test]
fn the_identity_names_the_c_file_without_machine_paths() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let inside = root.join("c-reference/revisions/pmap_segtab-1.31.c");
    assert_eq!(
        certify::identity::display_name(&root, &inside),
        "c-reference/revisions/pmap_segtab-1.31.c"
    );
    let outside = std::env::temp_dir().join("patched_segtab.c");
    std::fs::write(&outside, "/* x */\n").unwrap();
    assert_eq!(
        certify::identity::display_name(&root, &outside),
        "patched_segtab.c"
    );
    let id = certify::identity::collect(&root, &inside, 1, certify::identity::now_utc());
    assert_eq!(id.c_file, "c-reference/revisions/pmap_segtab-1.31.c");
    let _ = std::fs::remove_file(outside);
}

/// certify's explore step: every race scenario of the chosen
/// configurations, each space exhausted within its bound, no divergence,
/// seconds in all, and the counts in the JSON report.
#[test]
fn certify_explores_the_race_scenarios() {
    let t = std::time::Instant::now();
    let runs = certify::explore_races(&c_reference::CONFIGS.iter().collect::<Vec<_>>()).unwrap();
    assert!(runs.len() >= 8, "{runs:?}");
    for r in &runs {
        assert!(
            r.exhausted && r.divergence.is_none() && r.schedules > 1,
            "{r:?}"
        );
    }
    assert!(
        runs.iter().any(|r| r.calls != "1+1"),
        "a step with several calls per CPU"
    );
    assert!(t.elapsed().as_secs() < 60, "{:?}", t.elapsed());
    let mut rep = sample_report();
    rep.explore = runs;
    let json = serde_json::to_value(&rep).unwrap();
    assert!(json["explore"][0]["schedules"].as_u64().unwrap() > 1);
}
