//! Trivial compiler equivalence (Papadakis, Jia, Harman and Le Traon, ICSE
//! 2015): a mutant whose object code is identical to the original's,
//! compiled with the same flags, behaves identically; it is equivalent,
//! and needs no run.
//!
//! Each mutant is compiled alone, as the file's own translation unit (what
//! `shim/csrc/world.c` `#include`s first), with each chosen configuration's
//! flags and macros (`Config::c_flags`, `Config::c_defines`, the ones
//! `c-reference/build.rs` uses) at `-O3 -g0`, in a directory where the file
//! is always called `pmap_segtab.c`, so `__FILE__` is the same for every
//! mutant. Per configuration the answer is: the mutant's line is not
//! compiled there (`#ifdef`), its code is the same, it differs, or it does
//! not compile. Only where it differs must it be run.
//!
//! Which lines a configuration compiles is asked of the preprocessor: a
//! probe copy of the file carries a marker identifier before the first
//! mutated token of each line, and the markers left after `cc -E` are the
//! lines that configuration compiles.
//!
//! Results are cached by the hash of everything that decides them (the
//! compiler's version, the flags, the shim's headers, the source, the
//! mutant), so a second certify of the same tree compiles nothing.

use super::mutate::Mutant;
use anyhow::{bail, Context, Result};
use c_reference::Config;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// What a mutant is in one configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Its line is not compiled there.
    NotCompiled,
    /// Identical object code.
    Same,
    /// Different object code: it must be run.
    Differs,
    /// It does not compile there (the first error line).
    Fails(String),
}

/// The compiler and include paths of a checkout.
#[derive(Clone, Debug)]
pub struct Compiler {
    /// `$CC`, else `cc`.
    pub cc: String,
    /// `shim/include`.
    pub include: PathBuf,
    /// Scratch directories live here.
    pub work: PathBuf,
    /// Parallel compiles.
    pub jobs: usize,
}

impl Compiler {
    /// The compiler of checkout `root`, with scratch space under `work`.
    pub fn new(root: &Path, work: &Path, jobs: usize) -> Compiler {
        Compiler {
            cc: std::env::var("CC").unwrap_or_else(|_| "cc".into()),
            include: root.join("shim/include"),
            work: work.to_path_buf(),
            jobs: jobs.max(1),
        }
    }

    fn args(&self, cfg: &Config) -> Vec<String> {
        let mut a: Vec<String> = vec!["-O3".into(), "-g0".into()];
        a.extend(cfg.c_flags().iter().map(|s| s.to_string()));
        a.push("-I".into());
        a.push(self.include.display().to_string());
        for (k, v) in cfg.c_defines() {
            a.push(format!("-D{k}={v}"));
        }
        a.push("-DSEGTAB_C_FILE=\"pmap_segtab.c\"".into());
        a
    }

    /// A scratch directory holding `tu.c` and `pmap_segtab.c` = `text`.
    fn stage(&self, slot: usize, text: &str) -> Result<PathBuf> {
        let dir = self.work.join(format!("tce-{slot}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("tu.c"), "#include SEGTAB_C_FILE\n")?;
        std::fs::write(dir.join("pmap_segtab.c"), text)?;
        Ok(dir)
    }

    /// Compile `text` for `cfg` in slot `slot`: the object's bytes, or the
    /// first error line.
    pub fn object(&self, slot: usize, cfg: &Config, text: &str) -> Result<Result<Vec<u8>, String>> {
        self.object_with(slot, cfg, text, &[])
    }

    /// [`Compiler::object`] with more `-D` macros (`NAME=VALUE`).
    pub fn object_with(
        &self,
        slot: usize,
        cfg: &Config,
        text: &str,
        defines: &[String],
    ) -> Result<Result<Vec<u8>, String>> {
        let dir = self.stage(slot, text)?;
        let out = Command::new(&self.cc)
            .args(self.args(cfg))
            .args(defines.iter().map(|d| format!("-D{d}")))
            .args(["-c", "tu.c", "-o", "tu.o"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running the C compiler `{}`", self.cc))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or("the compiler failed")
                .trim()
                .to_string();
            return Ok(Err(first));
        }
        Ok(Ok(std::fs::read(dir.join("tu.o"))?))
    }

    /// The lines of `src` holding a mutant that `cfg` compiles.
    pub fn compiled_lines(
        &self,
        cfg: &Config,
        src: &str,
        mutants: &[Mutant],
    ) -> Result<BTreeSet<u32>> {
        // One marker per line, before the first mutated token on it.
        let mut first: BTreeMap<u32, usize> = BTreeMap::new();
        for m in mutants {
            let e = first.entry(m.line).or_insert(m.start);
            *e = (*e).min(m.start);
        }
        let mut probe = String::with_capacity(src.len() + first.len() * 32);
        let mut pos = 0;
        for (line, at) in &first {
            probe.push_str(&src[pos..*at]);
            probe.push_str(&format!(" segtab_probe_line_{line} "));
            pos = *at;
        }
        probe.push_str(&src[pos..]);
        let dir = self.stage(0, &probe)?;
        let out = Command::new(&self.cc)
            .args(self.args(cfg))
            .args(["-E", "tu.c"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .with_context(|| format!("running the C preprocessor `{} -E`", self.cc))?;
        if !out.status.success() {
            bail!("the C preprocessor failed on the file for {}", cfg.name);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = BTreeSet::new();
        for piece in text.split("segtab_probe_line_").skip(1) {
            let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(l) = digits.parse() {
                lines.insert(l);
            }
        }
        Ok(lines)
    }
}

/// Every mutant's effect in every configuration, by configuration name.
pub type Effects = Vec<BTreeMap<String, Effect>>;

#[derive(Default, Serialize, Deserialize)]
struct Cache {
    /// key → effect.
    entries: BTreeMap<String, Effect>,
}

/// The hash of what decides a compile besides the mutant: the compiler's
/// version, the flags, the shim's headers and the source.
fn context_key(c: &Compiler, cfg: &Config, src: &str) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let v = Command::new(&c.cc)
        .arg("--version")
        .output()
        .with_context(|| format!("running the C compiler `{}`", c.cc))?;
    h.update(&v.stdout);
    for a in c.args(cfg) {
        h.update(a.as_bytes());
        h.update([0]);
    }
    let mut headers = Vec::new();
    collect(&c.include, &mut headers)?;
    headers.sort();
    for p in headers {
        h.update(p.to_string_lossy().as_bytes());
        h.update(std::fs::read(&p)?);
    }
    h.update(src.as_bytes());
    Ok(format!("{:x}", h.finalize()))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Classify every mutant in every configuration of `configs`. `progress`
/// is called with (done, total) after each compile.
pub fn effects(
    c: &Compiler,
    src: &str,
    mutants: &[Mutant],
    configs: &[&'static Config],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Effects> {
    let cache_path = c.work.join("tce-cache.json");
    let mut cache: Cache = std::fs::read_to_string(&cache_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut out: Effects = vec![BTreeMap::new(); mutants.len()];
    // (mutant index, configuration, cache key) still to compile.
    let mut todo: Vec<(usize, &'static Config, String)> = Vec::new();
    let mut originals: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for cfg in configs {
        let lines = c.compiled_lines(cfg, src, mutants)?;
        let ctx = context_key(c, cfg, src)?;
        for (i, m) in mutants.iter().enumerate() {
            if !lines.contains(&m.line) {
                out[i].insert(cfg.name.to_string(), Effect::NotCompiled);
                continue;
            }
            let key = format!("{ctx}:{}", m.id);
            match cache.entries.get(&key) {
                Some(e) => {
                    out[i].insert(cfg.name.to_string(), e.clone());
                }
                None => todo.push((i, cfg, key)),
            }
        }
        if todo.iter().any(|(_, c2, _)| c2.name == cfg.name) {
            match c.object(0, cfg, src)? {
                Ok(o) => {
                    originals.insert(cfg.name, o);
                }
                Err(e) => bail!("the original file does not compile for {}: {e}", cfg.name),
            }
        }
    }
    let total = todo.len();
    let results: Mutex<Vec<(usize, &'static Config, String, Effect)>> = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for slot in 0..c.jobs {
            let (todo, results, next, failed, originals) =
                (&todo, &results, &next, &failed, &originals);
            s.spawn(move || loop {
                if crate::interrupt::stopped() {
                    // Ctrl-C or SIGTERM: no more compiles (none is cached
                    // unfinished: the cache is written only at the end).
                    *failed.lock().unwrap() = Some(crate::interrupt::Interrupted.into());
                    break;
                }
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((i, cfg, key)) = todo.get(k) else {
                    break;
                };
                let text = mutants[*i].apply(src);
                let effect = match c.object(slot + 1, cfg, &text) {
                    Ok(Ok(o)) if Some(&o) == originals.get(cfg.name) => Effect::Same,
                    Ok(Ok(_)) => Effect::Differs,
                    Ok(Err(e)) => Effect::Fails(e),
                    Err(e) => {
                        *failed.lock().unwrap() = Some(e);
                        break;
                    }
                };
                let mut r = results.lock().unwrap();
                r.push((*i, cfg, key.clone(), effect));
                progress(r.len(), total);
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap() {
        return Err(e);
    }
    for (i, cfg, key, effect) in results.into_inner().unwrap() {
        cache.entries.insert(key, effect.clone());
        out[i].insert(cfg.name.to_string(), effect);
    }
    std::fs::write(&cache_path, serde_json::to_string(&cache)?)?;
    Ok(out)
}
