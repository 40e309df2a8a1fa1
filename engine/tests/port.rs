//! `--port DIR`: the tool rebuilt against another port crate.
//!
//! The tests that build (the template passes, a port lacking an item exits
//! 2 with a `port lacks` line, a planted bug is found and the report names
//! the port) are `#[ignore]`d: the first build of the tool against a port
//! takes minutes (later ports rebuild only themselves and the engine).
//! `.ci/run` runs them (`cargo test -p segtab-diff --test port -- --ignored`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_segtab-diff");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .current_dir(root())
        .output()
        .expect("running segtab-diff")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("segtab-port-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A copy of the template at `dir` standing on the checkout's port by an
/// absolute path, its lib.rs passed through `edit`.
fn template_copy(dir: &Path, edit: impl Fn(&str) -> String) {
    let t = root().join("examples/port-template");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = std::fs::read_to_string(t.join("Cargo.toml"))
        .unwrap()
        .replace(
            "path = \"../../rust-segtab\"",
            &format!("path = \"{}\"", root().join("rust-segtab").display()),
        )
        .replace("name = \"port-template\"", "name = \"my-port\"");
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    let lib = std::fs::read_to_string(t.join("src/lib.rs")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), edit(&lib)).unwrap();
}

/// A DIR that is not there, or not a crate, is one line and exit 2, before
/// any build.
#[test]
fn a_directory_that_is_no_port_exits_2_at_once() {
    let t = std::time::Instant::now();
    let o = run(&["--port", "/nonexistent/my-port", "configs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "segtab-diff: error: --port /nonexistent/my-port: no such directory"
    );
    let o = run(&["--port", "corpus", "configs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no Cargo.toml there"), "{}", text(&o));
    let d = scratch("nolib");
    std::fs::write(
        d.join("Cargo.toml"),
        "[package]\nname = \"x\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let o = run(&["--port", d.to_str().unwrap(), "configs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("package x has no library"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
    assert!(t.elapsed().as_secs() < 10, "no build may run");
}

/// The template re-exports the checkout's port: the corpus agrees.
#[test]
#[ignore = "builds the tool against a port (minutes the first time); .ci/run runs it"]
fn the_template_port_agrees() {
    let o = run(&[
        "--port",
        "examples/port-template",
        "replay",
        "corpus/regressions",
        "corpus/explore",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "building the tool with the port port-template 0.1.0 at examples/port-template"
        ),
        "{out}"
    );
    assert!(out.contains(": agree"), "{out}");
}

/// A port without `PmapSegtab` exits 2 naming it, without rustc's page.
#[test]
#[ignore = "builds the tool against a port (minutes the first time); .ci/run runs it"]
fn a_port_lacking_an_item_exits_2_naming_it() {
    let d = scratch("lacks");
    template_copy(&d, |lib| {
        lib.replace("pub use rust_segtab::PmapSegtab;", "")
            .replace("pub use rust_segtab::define_machine;", "")
    });
    let o = run(&["--port", d.to_str().unwrap(), "configs"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    let lacks: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("port lacks "))
        .collect();
    // The lines name where port_side.rs uses each item; find them there
    // rather than pin line numbers that every edit of that file moves.
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/port_side.rs"),
    )
    .unwrap();
    // The first line with `needle` at or after the first with `from`.
    let line_of = |from: &str, needle: &str| {
        let start = src.lines().position(|l| l.contains(from)).unwrap_or(0);
        1 + start
            + src
                .lines()
                .skip(start)
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("port_side.rs no longer uses {needle}"))
    };
    let expected = [
        format!(
            "port lacks rust_segtab::PmapSegtab (used by engine/src/port_side.rs:{})",
            line_of("use rust_segtab::{", "PmapSegtab")
        ),
        format!(
            "port lacks rust_segtab::define_machine (used by engine/src/port_side.rs:{})",
            line_of("rust_segtab::define_machine!", "define_machine!")
        ),
    ];
    assert_eq!(lacks, expected, "{out}");
    assert!(!out.contains("error["), "rustc's output leaked: {out}");
    let _ = std::fs::remove_dir_all(&d);
}

/// A copy of the checkout's rust-segtab outside it, under `dir`, its
/// sources passed through `patch` (a file of mutants/port/, or none).
fn port_copy(dir: &Path, patch: Option<&str>) -> PathBuf {
    let port = dir.join("rust-segtab");
    std::fs::create_dir_all(port.join("src")).unwrap();
    std::fs::copy(
        root().join("rust-segtab/Cargo.toml"),
        port.join("Cargo.toml"),
    )
    .unwrap();
    for e in std::fs::read_dir(root().join("rust-segtab/src")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), port.join("src").join(e.file_name())).unwrap();
    }
    if let Some(patch) = patch {
        let st = Command::new("git")
            .arg("apply")
            .arg(root().join(patch))
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(st.success(), "{patch} does not apply");
    }
    port
}

/// The campaign: 20 s over every configuration, seed 1, against
/// the port at `port`, findings to `out`.
fn campaign_20s(port: &Path, out: &Path) -> Output {
    run(&[
        "--port",
        port.to_str().unwrap(),
        "campaign",
        "--seconds",
        "20",
        "--config",
        "all",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ])
}

/// The files of a directory with the given extension.
fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == ext));
    v.sort();
    v
}

/// An out-of-tree copy of rust-segtab with a planted bug (a port mutant)
/// is caught by a 20 s campaign, every reproducer it writes diverges again
/// when replayed against the port (in a world that ran nothing before it),
/// and the report and the reproducer name the port. certify on it says
/// DIVERGENT and names the port in its identity.
#[test]
#[ignore = "builds the tool against a port (minutes the first time); .ci/run runs it"]
fn a_planted_bug_in_a_port_is_found_and_the_port_named() {
    let d = scratch("planted");
    let port = port_copy(&d, Some("mutants/port/carving-past-the-page.patch"));
    let out_dir = d.join("out");
    let o = campaign_20s(&port, &out_dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("warning"), "{out}");
    let jsons = files_with(&out_dir, "json");
    assert!(!jsons.is_empty(), "no reproducer: {out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jsons[0]).unwrap()).unwrap();
    assert_eq!(v["port"]["package"], "rust-segtab", "{v}");
    assert_eq!(v["port"]["builtin"], false, "{v}");
    // Outside the checkout, the directory's name: no path of this machine.
    assert_eq!(v["port"]["path"], "rust-segtab", "{v}");
    assert_eq!(
        v["port"]["sources_sha256"].as_str().map(str::len),
        Some(64),
        "{v}"
    );
    let txt = files_with(&out_dir, "txt")
        .first()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .unwrap_or_else(|| out.clone());
    assert!(txt.contains("Rust port: rust-segtab 0.1.0 at "), "{txt}");
    // Each reproducer alone, as a porter replays it.
    for j in &jsons {
        let o = run(&[
            "--port",
            port.to_str().unwrap(),
            "replay",
            j.to_str().unwrap(),
        ]);
        let out = text(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{} agrees on replay: {out}",
            j.display()
        );
        assert!(out.contains("DIVERGENCE in "), "{out}");
    }
    // certify stops at the campaign's divergence: seconds, not its budget.
    let report = d.join("certify");
    let o = run(&[
        "--port",
        port.to_str().unwrap(),
        "certify",
        "--config",
        "ilp32-4k-2seg-shape",
        "--seconds",
        "320",
        "--mutant-seconds",
        "2",
        "--seed",
        "1",
        "--out",
        report.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("certify: DIVERGENT: "), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(r["verdict"], "divergent", "{r}");
    assert_eq!(r["identity"]["port"]["package"], "rust-segtab", "{r}");
    assert_eq!(r["identity"]["port"]["builtin"], false, "{r}");
    let _ = std::fs::remove_dir_all(&d);
}

/// The same copy unmodified agrees with the C for the same 20 s campaign.
#[test]
#[ignore = "builds the tool against a port (minutes the first time); .ci/run runs it"]
fn an_unmodified_copy_of_the_port_agrees() {
    let d = scratch("copy");
    let port = port_copy(&d, None);
    let out_dir = d.join("out");
    let o = campaign_20s(&port, &out_dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("no divergence"), "{out}");
    assert!(
        out.contains("rust-segtab 0.1.0 at rust-segtab"),
        "the port is named: {out}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// `scripts/fuzz.sh --port DIR` fuzzes the port: the tool built against it
/// prints a cargo-fuzz package whose engine depends on the port, not on
/// rust-segtab/ (resolved by cargo metadata; the fuzz build itself needs
/// nightly and minutes, and is run by hand: docs/port-contract.md).
#[test]
#[ignore = "builds the tool against a port (minutes the first time); .ci/run runs it"]
fn the_fuzz_package_of_a_port_depends_on_the_port() {
    let o = run(&["--port", "examples/port-template", "fuzz-dir"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let dir = Path::new(lines[0]);
    assert!(dir.join("Cargo.toml").is_file(), "{out}");
    assert!(lines[1].ends_with("examples/port-template"), "{out}");
    assert!(lines[2].ends_with("Cargo.toml"), "{out}");
    let meta = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        meta.status.success(),
        "{}",
        String::from_utf8_lossy(&meta.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let names: Vec<&str> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"port-template"), "{names:?}");
    assert!(names.contains(&"segtab-diff-fuzz"), "{names:?}");
    // The template re-exports rust-segtab/, so both are there; the engine's
    // dependency must be the port.
    let engine = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "segtab-diff")
        .unwrap();
    let dep = engine["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rename"] == "rust-segtab" || d["name"] == "port-template")
        .expect("the engine depends on the port");
    assert_eq!(dep["name"], "port-template", "{dep}");
    // Without --port: the checkout's fuzz/.
    let o = run(&["fuzz-dir"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        out.lines().next(),
        Some(root().join("fuzz").to_str().unwrap()),
        "{out}"
    );
}
