//! The mutant schema (engine/src/certify/schema.rs), trivial compiler
//! equivalence (tce.rs) and certify's verdict rules: every mutant of every
//! revision sits in a unit the schema can switch; with mutant k selected
//! the schema is the mutant, text for text; the schema compiles in every
//! configuration, and so does each mutant's guarded code with its number
//! fixed; TCE tells identical code from different code and from code that
//! does not compile; the verdict follows the rules the report states.

use segtab_diff::certify::{self, mutate, schema, tce};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sources() -> Vec<(String, String)> {
    let r = root();
    [
        "c-reference/pmap_segtab.c",
        "c-reference/revisions/pmap_segtab-1.21.c",
        "c-reference/revisions/pmap_segtab-1.31.c",
    ]
    .iter()
    .map(|p| (p.to_string(), std::fs::read_to_string(r.join(p)).unwrap()))
    .collect()
}

fn entries(ms: &[mutate::Mutant]) -> Vec<schema::Entry<'_>> {
    ms.iter()
        .enumerate()
        .map(|(i, m)| schema::Entry {
            mutant: m,
            number: i as u32 + 1,
            only: None,
        })
        .collect()
}

/// The end of the C literal or parenthesised group starting at `i` (`(`):
/// the index after its matching `)`, skipping string and character
/// literals.
fn group_end(t: &[u8], i: usize) -> usize {
    let (mut d, mut j) = (0i32, i);
    while j < t.len() {
        match t[j] {
            b'"' | b'\'' => {
                let q = t[j];
                j += 1;
                while t[j] != q {
                    if t[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
            }
            b'(' | b'{' => d += 1,
            b')' | b'}' => {
                d -= 1;
                if d == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    panic!("unbalanced group at {i}");
}

/// The program the schema is with mutant `k` selected, by reading its
/// switches independently of the generator: each ternary chain
/// `(\nID == n ? (__typeof__(F))(COPY) :\n ... (ORIG))` and each statement
/// chain `{\nif (ID == n) { COPY } else\n ... { ORIG }}` becomes the arm
/// `k` takes.
fn select(schema_text: &str, k: u32) -> String {
    let body = schema_text.split_once("#line 1\n").unwrap().1;
    let t: String = body
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("#line "))
        .collect();
    let b = t.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let tern = "(\nSEGTAB_MUTANT_ID == ";
    let stmt = "{\nif (SEGTAB_MUTANT_ID == ";
    while i < t.len() {
        let rest = &t[i..];
        let (is_tern, skip) = if rest.starts_with(tern) {
            (true, 2)
        } else if rest.starts_with(stmt) {
            (false, 2)
        } else {
            out.push(b[i] as char);
            i += 1;
            continue;
        };
        let mut j = i + skip;
        let mut chosen: Option<String> = None;
        loop {
            let arm = &t[j..];
            if let Some(a) = arm.strip_prefix("SEGTAB_MUTANT_ID == ").filter(|_| is_tern) {
                let n: u32 = a[..a.find(' ').unwrap()].parse().unwrap();
                let cast = j + arm.find("(__typeof__(").unwrap();
                let copy = group_end(b, cast);
                let copy_end = group_end(b, copy);
                if n == k {
                    chosen = Some(t[copy + 1..copy_end - 1].to_string());
                }
                assert_eq!(&t[copy_end..copy_end + 3], " :\n");
                j = copy_end + 3;
            } else if let Some(a) = arm
                .strip_prefix("if (SEGTAB_MUTANT_ID == ")
                .filter(|_| !is_tern)
            {
                let n: u32 = a[..a.find(')').unwrap()].parse().unwrap();
                let open = j + arm.find(") { ").unwrap() + 2;
                let end = group_end(b, open);
                if n == k {
                    chosen = Some(t[open + 2..end - 2].to_string());
                }
                assert_eq!(&t[end..end + 6], " else\n");
                j = end + 6;
            } else {
                // The original: `(ORIG))` or `{ ORIG }}`.
                let end = group_end(b, j);
                let orig = if is_tern {
                    &t[j + 1..end - 1]
                } else {
                    &t[j + 2..end - 2]
                };
                out.push_str(chosen.as_deref().unwrap_or(orig));
                i = end + 1;
                break;
            }
        }
    }
    out
}

#[test]
fn every_mutant_of_every_revision_has_a_unit() {
    for (name, src) in sources() {
        let ms = mutate::mutants(&src);
        let units = schema::units(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        let at = schema::assign(&src, &units, &ms);
        let lost: Vec<&str> = ms
            .iter()
            .zip(&at)
            .filter(|(_, u)| u.is_none())
            .map(|(m, _)| m.id.as_str())
            .collect();
        assert!(lost.is_empty(), "{name}: mutants in no unit: {lost:?}");
        // Drops are whole statements; negations of `if` whole conditions.
        for (m, u) in ms.iter().zip(&at) {
            let u = units[u.unwrap()];
            if m.op == mutate::Operator::Drop {
                assert_eq!(u.kind, schema::UnitKind::Stmt, "{name}: {}", m.id);
                assert_eq!(
                    (u.start, u.end),
                    (m.start, m.start + m.original.len()),
                    "{name}: {}",
                    m.id
                );
            }
        }
    }
}

#[test]
fn selecting_a_mutant_gives_the_mutant_text_for_text() {
    for (name, src) in sources() {
        let ms = mutate::mutants(&src);
        let text = schema::generate(&src, &entries(&ms)).unwrap();
        assert_eq!(
            select(&text, 0),
            src,
            "{name}: the schema with no mutant selected"
        );
        for (i, m) in ms.iter().enumerate() {
            assert_eq!(
                select(&text, i as u32 + 1),
                m.apply(&src),
                "{name}: mutant {} selected",
                m.id
            );
        }
        // Line numbers: every `#line` names the line the next line has in
        // the original, so __LINE__ (KASSERT's panic text) is unchanged.
        let mut line = 0u32;
        for l in text.split_once("#line 1\n").unwrap().1.lines() {
            if let Some(n) = l.strip_prefix("#line ") {
                line = n.trim().parse::<u32>().unwrap() - 1;
            } else if !l.starts_with("#if") && !l.starts_with("#endif") {
                line += 1;
            }
        }
        assert_eq!(
            line as usize,
            src.lines().count(),
            "{name}: the last line's number"
        );
    }
}

fn compiler(tag: &str) -> tce::Compiler {
    let work =
        std::env::temp_dir().join(format!("segtab-schema-test-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    tce::Compiler::new(&root(), &work, 2)
}

#[test]
fn the_schema_compiles_everywhere_and_each_guarded_mutant_alone() {
    let src = std::str::from_utf8(c_reference::VENDORED_SOURCE).unwrap();
    let ms = mutate::mutants(src);
    let cc = compiler("compile");
    // Every mutant switched in (gcc compiles each of them alone; certify
    // fences out of a configuration any that TCE finds does not compile
    // there, as a stricter compiler may).
    let text = schema::generate(src, &entries(&ms)).unwrap();
    for cfg in c_reference::CONFIGS {
        cc.object(1, cfg, &text)
            .unwrap()
            .unwrap_or_else(|e| panic!("the schema does not compile for {}: {e}", cfg.name));
    }
    // Each mutant's guarded code, selected at compile time, compiles (one
    // of each operator, and every 37th).
    let n64 = c_reference::configs::find("mips64-n64-4k").unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in ms.iter().enumerate() {
        if !seen.insert(m.op) && i % 37 != 0 {
            continue;
        }
        cc.object_with(1, n64, &text, &[format!("SEGTAB_MUTANT_ID={}", i + 1)])
            .unwrap()
            .unwrap_or_else(|e| panic!("{} selected does not compile: {e}", m.id));
    }
    // A mutant fenced out of every configuration is not compiled at all.
    let mut fenced = entries(&ms);
    fenced[0].only = Some(vec![]);
    let text = schema::generate(src, &fenced).unwrap();
    assert!(text.contains("#if 0\n"));
    cc.object(1, n64, &text).unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&cc.work);
}

#[test]
fn tce_tells_same_from_different_from_broken() {
    let src = std::str::from_utf8(c_reference::VENDORED_SOURCE).unwrap();
    let ms = mutate::mutants(src);
    let cc = compiler("tce");
    let pick = |id: &str| ms.iter().find(|m| m.id == id).unwrap().clone();
    let picked = vec![
        // The DEBUG_NOISY loop whose body is an empty UVMHIST_LOG: gone
        // after optimisation whatever its bound.
        pick("ror:188:29:<-><="),
        // The lookup's index mask: different code.
        ms.iter()
            .find(|m| m.op == mutate::Operator::Mask && m.line == 238)
            .unwrap()
            .clone(),
        // A change that does not compile (gcc only warns about the
        // operators' swaps of pointer and integer arguments, so made here).
        {
            let mut m = pick("ror:188:29:<-><=");
            m.replacement = "<@".into();
            m.id = "made-up:188:29:<-><@".into();
            m
        },
        // UVM_PAGE_TRKOWN is defined by no configuration.
        ms.iter().find(|m| m.line == 208).unwrap().clone(),
    ];
    let n64 = c_reference::configs::find("mips64-n64-4k").unwrap();
    let e = tce::effects(&cc, src, &picked, &[n64], &|_, _| {}).unwrap();
    assert_eq!(e[0][n64.name], tce::Effect::Same, "{}", picked[0].id);
    assert_eq!(e[1][n64.name], tce::Effect::Differs, "{}", picked[1].id);
    assert!(
        matches!(e[2][n64.name], tce::Effect::Fails(_)),
        "{}: {:?}",
        picked[2].id,
        e[2]
    );
    assert_eq!(e[3][n64.name], tce::Effect::NotCompiled, "{}", picked[3].id);
    // The cache answers the second time without compiling.
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let again = tce::effects(&cc, src, &picked, &[n64], &|_, _| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(again, e);
    assert_eq!(calls.into_inner(), 0);
    let _ = std::fs::remove_dir_all(&cc.work);
}

fn part(caught: usize, survived: usize, listed: usize, errors: usize) -> certify::MutationPart {
    certify::MutationPart {
        made: 10,
        per_operator: Default::default(),
        operators: Default::default(),
        not_compiled: 1,
        eligible: 9,
        stillborn: 0,
        equivalent_tce: 1,
        judged: caught + survived + listed,
        caught,
        equivalent_list: listed,
        survived,
        errors,
        not_run: 0,
        listed_but_caught: vec![],
        seconds_each: 1.0,
        hang_seconds: 5.0,
        tce_seconds: 0.0,
        tce_compiles: 0,
        build_seconds: 0.0,
        judge_seconds: 0.0,
        parallel: 2,
        kill_times: vec![],
        results: vec![],
    }
}

#[test]
fn verdict_rules() {
    use certify::verdict;
    // Every killable mutant caught: equivalent, score 100 %.
    assert_eq!(verdict(false, &part(7, 0, 1, 0)), ("equivalent", 0));
    assert_eq!(certify::score(&part(7, 0, 1, 0)), Some(1.0));
    // One survivor not listed: weak, whatever the rest.
    assert_eq!(verdict(false, &part(99, 1, 0, 0)), ("weak-oracle", 1));
    // Nothing caught is no evidence.
    assert_eq!(verdict(false, &part(0, 0, 3, 0)), ("weak-oracle", 1));
    // A mutant that could not be judged: no verdict, a tool error.
    assert_eq!(verdict(false, &part(7, 0, 0, 1)), ("incomplete", 2));
    // A divergence settles it.
    assert_eq!(verdict(true, &part(0, 5, 0, 0)), ("divergent", 1));
    let kt = certify::kill_times(&[]);
    assert_eq!(kt.len(), 5);
}
