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

/// The workspace's `corpus/` directory.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}
