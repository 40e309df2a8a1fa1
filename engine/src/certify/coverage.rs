//! C coverage of the file under test, per configuration, as the certify
//! campaign reached it.
//!
//! The approach of `scripts/coverage.sh`, driven from Rust: the engine is
//! built into its own target directory with gcc `--coverage` on the C side
//! only, through a compiler wrapper that gives each configuration's copy
//! of `world.c` (which `#include`s the file) its own notes file and data
//! directory. The certify campaign's workers run that build, so the
//! counters are exactly what the campaign executed; then `gcov --json-format`
//! reads them per configuration.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the coverage build and its data live.
pub struct CovBuild {
    /// The instrumented `segtab-diff`.
    pub exe: PathBuf,
    /// Per-configuration data directories (`DATA/<ident>/`).
    pub data: PathBuf,
}

/// The host triple (`rustc -vV`).
pub fn host() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV names no host")
}

/// Build the engine with the C instrumented (`target/certify/cov`),
/// compiled from `c_source`. Incremental: only the C and the engine
/// rebuild when the source changes.
pub fn build(root: &Path, c_source: &Path, log: &Path) -> Result<CovBuild> {
    let out = root.join("target/certify");
    // One build and one set of notes per port: the builds of two ports
    // (or of a port and rust-segtab/) each keep their own cached C objects,
    // so in a shared directory the notes of the one built last would not
    // match the data the other's binary writes (gcov: stamp mismatch).
    let port = crate::port::external()
        .map(|p| format!("-{}", p.tag()))
        .unwrap_or_default();
    let target = out.join(format!("cov{port}"));
    let data = out.join(format!("cov-data{port}"));
    std::fs::create_dir_all(&data)?;
    let gcc = std::env::var("SEGTAB_COV_GCC").unwrap_or_else(|_| "gcc".into());
    let wrap = out.join("cc-wrap");
    std::fs::write(
        &wrap,
        format!(
            "#!/bin/sh\n\
             # world.c compiles (one per configuration, keyed by its symbol prefix) get\n\
             # their own coverage notes and data; everything else compiles as usual.\n\
             ident=\n\
             for a in \"$@\"; do\n\
             \x20   case \"$a\" in -DSEGTAB_PREFIX=*) ident=${{a#-DSEGTAB_PREFIX=}}; ident=${{ident%_}} ;; esac\n\
             done\n\
             if [ -n \"$ident\" ]; then\n\
             \x20   mkdir -p \"{d}/$ident\"\n\
             \x20   exec {gcc} \"$@\" -O0 --coverage -fprofile-update=atomic \\\n\
             \x20       -fprofile-note=\"{d}/$ident/world.gcno\" -fprofile-dir=\"{d}/$ident\"\n\
             fi\n\
             exec {gcc} \"$@\"\n",
            d = data.display()
        ),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrap, std::fs::Permissions::from_mode(0o755))?;
    }
    let host = host()?;
    let hostvar = host.to_uppercase().replace('-', "_");
    // A cached build does not rewrite the notes: rebuild the C if one is
    // missing.
    let missing = c_reference::CONFIGS
        .iter()
        .any(|c| !data.join(c.ident).join("world.gcno").exists());
    if missing {
        let _ = Command::new("cargo")
            .args(["clean", "-q", "-p", "c-reference", "--release", "--target"])
            .arg(&host)
            .arg("--target-dir")
            .arg(&target)
            .current_dir(root)
            .status();
    }
    let logf = std::fs::File::create(log)?;
    let status = crate::rebuild::status_stoppable(
        crate::rebuild::cargo_build(root, c_source, &target)
            .arg("--target")
            .arg(&host)
            .env("CC", &wrap)
            .env(format!("CC_{hostvar}"), &wrap)
            .env(
                format!("CARGO_TARGET_{hostvar}_RUSTFLAGS"),
                "-C link-arg=--coverage",
            )
            .env_remove("SEGTAB_CONFIGS")
            .stdout(logf.try_clone()?)
            .stderr(logf),
    )
    .context("running cargo")?;
    if !status.success() {
        bail!(
            "the coverage build failed (log: {}):\n{}",
            log.display(),
            tail(log, 15)
        );
    }
    Ok(CovBuild {
        exe: target.join(&host).join("release/segtab-diff"),
        data,
    })
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}

/// The `.gcda` files under `dir` (gcc mirrors the object's path under
/// `-fprofile-dir`), but not in the gcov scratch directory.
fn gcdas(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "gcov") {
            gcdas(&p, out);
        } else if p.extension().is_some_and(|x| x == "gcda") {
            out.push(p);
        }
    }
}

/// Remove the counters of earlier runs.
pub fn reset(data: &Path) -> Result<()> {
    let mut v = Vec::new();
    gcdas(data, &mut v);
    for p in v {
        std::fs::remove_file(p)?;
    }
    Ok(())
}

/// Line and branch coverage of the file under test in one configuration.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FileCov {
    /// Executable lines (compiled in this configuration).
    pub lines_total: u32,
    /// Of those, executed.
    pub lines_hit: u32,
    /// Branch outcomes (gcov's arcs from conditional jumps).
    pub branches_total: u32,
    /// Of those, taken.
    pub branches_hit: u32,
    /// Execution count of each executable line.
    pub counts: BTreeMap<u32, u64>,
}

impl FileCov {
    /// Line coverage, percent.
    pub fn line_pct(&self) -> f64 {
        pct(self.lines_hit, self.lines_total)
    }
    /// Branch coverage, percent.
    pub fn branch_pct(&self) -> f64 {
        pct(self.branches_hit, self.branches_total)
    }
    /// Whether `line` is compiled here.
    pub fn compiled(&self, line: u32) -> bool {
        self.counts.contains_key(&line)
    }
    /// How often `line` ran (0 if not compiled).
    pub fn count(&self, line: u32) -> u64 {
        self.counts.get(&line).copied().unwrap_or(0)
    }
}

fn pct(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

/// Read the counters of configuration `ident` with gcov; `None` when no
/// process of that configuration wrote any (it did not run).
pub fn read(data: &Path, ident: &str, c_source: &Path) -> Result<Option<FileCov>> {
    let d = data.join(ident);
    let mut found = Vec::new();
    gcdas(&d, &mut found);
    let Some(gcda) = found.into_iter().next() else {
        return Ok(None);
    };
    let w = d.join("gcov");
    let _ = std::fs::remove_dir_all(&w);
    std::fs::create_dir_all(&w)?;
    std::fs::copy(&gcda, w.join("world.gcda"))?;
    std::fs::copy(d.join("world.gcno"), w.join("world.gcno"))?;
    let gcov = std::env::var("SEGTAB_COV_GCOV").unwrap_or_else(|_| "gcov".into());
    let out = Command::new(gcov)
        .args([
            "--json-format",
            "--stdout",
            "--branch-probabilities",
            "-o",
            ".",
            "world.gcda",
        ])
        .current_dir(&w)
        .output()
        .context("running gcov")?;
    if !out.status.success() {
        bail!("gcov failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let name = c_source
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    // One JSON document per line (one per data file).
    for doc in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(doc) else {
            continue;
        };
        for f in v["files"].as_array().into_iter().flatten() {
            let file = f["file"].as_str().unwrap_or("");
            if !file.ends_with(&name) {
                continue;
            }
            let mut fc = FileCov::default();
            for l in f["lines"].as_array().into_iter().flatten() {
                let n = l["line_number"].as_u64().unwrap_or(0) as u32;
                let c = l["count"].as_u64().unwrap_or(0);
                // A line may appear once per function inlined into it.
                *fc.counts.entry(n).or_default() += c;
                for b in l["branches"].as_array().into_iter().flatten() {
                    if b["throw"].as_bool() == Some(true) {
                        continue;
                    }
                    fc.branches_total += 1;
                    if b["count"].as_u64().unwrap_or(0) > 0 {
                        fc.branches_hit += 1;
                    }
                }
            }
            fc.lines_total = fc.counts.len() as u32;
            fc.lines_hit = fc.counts.values().filter(|&&c| c > 0).count() as u32;
            return Ok(Some(fc));
        }
    }
    bail!("gcov reported no data for {name} in {ident}")
}
