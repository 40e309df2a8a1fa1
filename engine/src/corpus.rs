//! Reproducer files and the known-divergence ledger.
//!
//! A reproducer is JSON: `{"sequence": ..., "class": ..., "found": ...}`
//! (the sequence alone is accepted too). Raw fuzzer inputs (any other
//! file) are decoded the way the fuzz target decodes them.

use crate::model::Sequence;
use crate::run::Divergence;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A saved divergence.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reproducer {
    /// The sequence.
    pub sequence: Sequence,
    /// Its class when found.
    #[serde(default)]
    pub class: String,
    /// How it was found (campaign seed, fuzz target, ...).
    #[serde(default)]
    pub found: String,
    /// The port it was found against, when not the checkout's own
    /// `rust-segtab/` (`--port DIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<crate::port::PortId>,
}

/// Load a reproducer or a raw fuzzer input.
pub fn load(path: &Path) -> Result<Sequence> {
    load_with_class(path).map(|(s, _)| s)
}

/// Whether a finding's class is one that cannot be re-run in process.
pub fn out_of_process(class: &str) -> bool {
    class.starts_with("hang") || class.starts_with("crash")
}

/// Load a reproducer (with the class it was saved with, if any) or a raw
/// fuzzer input.
pub fn load_with_class(path: &Path) -> Result<(Sequence, String)> {
    load_as(path, None)
}

/// As [`load_with_class`]; a raw input found by a fuzzer pinned to one
/// configuration (`SEGTAB_FUZZ_CONFIG`) has no configuration byte, so it is
/// decoded for `pinned`.
pub fn load_as(
    path: &Path,
    pinned: Option<&'static c_reference::Config>,
) -> Result<(Sequence, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json {
        if let Ok(r) = serde_json::from_slice::<Reproducer>(&bytes) {
            return Ok((check(r.sequence, path)?, r.class));
        }
        let seq: Sequence = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a reproducer (expected JSON with a \"sequence\" or a sequence)",
                path.display()
            )
        })?;
        return Ok((check(seq, path)?, String::new()));
    }
    Ok((Sequence::from_bytes(&bytes, pinned), String::new()))
}

fn check(seq: Sequence, path: &Path) -> Result<Sequence> {
    if c_reference::configs::find(&seq.config).is_none() {
        bail!(
            "{}: unknown configuration {:?} (known: {})",
            path.display(),
            seq.config,
            c_reference::CONFIGS
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(seq)
}

/// Write a reproducer under `dir`, named by class and content; returns its path.
pub fn save(dir: &Path, d: &Divergence, found: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let r = Reproducer {
        sequence: d.sequence.clone(),
        class: d.class(),
        found: found.into(),
        port: crate::port::external().cloned(),
    };
    let json = serde_json::to_string_pretty(&r)?;
    let path = dir.join(format!(
        "{}-{:016x}.json",
        d.slug('-'),
        fnv1a(json.as_bytes())
    ));
    // Write then rename, so an interrupted run never leaves half a file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// A reproducer under `dir` (not recursively) whose sequence is `seq`,
/// if there is one.
pub fn find_same(dir: &Path, seq: &Sequence) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    entries.into_iter().find(|p| {
        std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice::<Reproducer>(&b).ok())
            .is_some_and(|r| r.sequence == *seq)
    })
}

/// FNV-1a: a stable content hash for file names.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// An intended difference between the port and the C.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The reproducer file (relative to the corpus directory).
    pub reproducer: String,
    /// The divergence class it must still show.
    pub class: String,
    /// Why the port differs on purpose.
    pub reason: String,
    /// The C line concerned.
    pub c_line: u32,
}

/// The known-divergence ledger (`corpus/known-divergences.json`).
pub fn ledger(corpus: &Path) -> Result<Vec<LedgerEntry>> {
    let path = corpus.join("known-divergences.json");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path)?;
    serde_json::from_str(&text).with_context(|| format!("{} is malformed", path.display()))
}

/// The segtab-diff checkout `dir` lies in, if any: the nearest ancestor
/// (or `dir` itself) holding a Cargo workspace with `corpus/` and
/// `engine/`. Found at run time from where the tool runs, never from where
/// it was compiled: an installed binary must not write into the checkout
/// it was built from, nor a scratch copy (a mutant, another revision) into
/// the original.
pub fn repository(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| {
            d.join("corpus").is_dir()
                && d.join("engine").is_dir()
                && std::fs::read_to_string(d.join("Cargo.toml"))
                    .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
}

/// Where findings go and where the ledger is, for a tool run from `cwd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Places {
    /// The checkout's `corpus/`, when run inside one.
    pub corpus: Option<PathBuf>,
    /// Default for reproducers: `corpus/regressions/` in a checkout (so
    /// `cargo test` replays them), else `./segtab-diff-out/`.
    pub out: PathBuf,
    /// Default for a seed corpus: `corpus/diff/` in a checkout, else
    /// `./segtab-diff-out/diff/`.
    pub seeds: PathBuf,
}

/// Directory the tool writes into outside a checkout.
pub const OUT_DIR: &str = "segtab-diff-out";

impl Places {
    /// The places for a tool run from `cwd`.
    pub fn for_cwd(cwd: &Path) -> Places {
        match repository(cwd) {
            Some(repo) => {
                let corpus = repo.join("corpus");
                Places {
                    out: corpus.join("regressions"),
                    seeds: corpus.join("diff"),
                    corpus: Some(corpus),
                }
            }
            None => Places {
                corpus: None,
                out: PathBuf::from(OUT_DIR),
                seeds: Path::new(OUT_DIR).join("diff"),
            },
        }
    }

    /// The places for the current directory.
    pub fn here() -> Places {
        Places::for_cwd(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
    }

    /// The known-divergence ledger: the checkout's, or none outside one.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>> {
        match &self.corpus {
            Some(c) => ledger(c),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_inside_and_outside_a_checkout() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let repo = here.parent().unwrap();
        assert_eq!(repository(here).as_deref(), Some(repo));
        assert_eq!(repository(&repo.join("corpus/diff")).as_deref(), Some(repo));
        let p = Places::for_cwd(&here.join("src"));
        assert_eq!(p.out, repo.join("corpus/regressions"));
        assert_eq!(p.seeds, repo.join("corpus/diff"));

        let tmp = std::env::temp_dir().join(format!("segtab-places-{}", std::process::id()));
        // A directory with corpus/ and engine/ but no workspace is not a checkout.
        std::fs::create_dir_all(tmp.join("corpus")).unwrap();
        std::fs::create_dir_all(tmp.join("engine")).unwrap();
        std::fs::write(tmp.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        let outside = Places::for_cwd(&tmp);
        std::fs::remove_dir_all(&tmp).unwrap();
        // (Unless the temporary directory itself lies in a checkout.)
        if repository(&std::env::temp_dir()).is_none() {
            assert_eq!(outside.corpus, None);
            assert_eq!(outside.out, Path::new(OUT_DIR));
            assert_eq!(outside.seeds, Path::new(OUT_DIR).join("diff"));
            assert!(outside.ledger().unwrap().is_empty());
        }
    }
}
