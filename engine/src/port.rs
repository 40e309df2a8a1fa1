//! `--port DIR`: run any subcommand against another port crate.
//!
//! The port is compiled into the tool (`engine/src/port_side.rs` is the
//! only file that names it, as the crate `rust_segtab`), so testing another
//! port means another build. Cargo cannot `[patch]` a path dependency, so
//! this writes a shadow manifest under `target/port/<package>-<hash>/`: the
//! engine's own sources (`engine/src/lib.rs`, `engine/src/bin/`) as package
//! `segtab-diff`, its dependencies with absolute paths, and the dependency
//! `rust-segtab` pointing at DIR (whatever its package is called). It is
//! built in a target directory of its own (`target/port/target/`, shared by
//! all ports so that another port rebuilds only itself and the engine), the
//! tool is copied beside the manifest, and the same command (without
//! `--port`) runs there.
//!
//! What the engine needs from a port is the contract of
//! `docs/port-contract.md`. A port that lacks part of it is a tool error
//! (exit 2) whose message is one line per missing item, never a page of
//! rustc output.
//!
//! The built tool knows which port it runs ([`current`]): reports,
//! reproducers and certify's identity name it.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The port directory this tool was built against by `--port` (absolute),
/// set at build time; `None` for the built-in `rust-segtab/`.
pub const BUILT_PORT_DIR: Option<&str> = option_env!("SEGTAB_PORT_DIR");

/// The shadow manifest this tool was built from by `--port`, so builds it
/// starts itself (certify's) use the same port.
pub const BUILT_PORT_MANIFEST: Option<&str> = option_env!("SEGTAB_PORT_MANIFEST");

/// The engine file that uses the port: every item of the contract is used
/// there and nowhere else.
pub const CONTRACT_USER: &str = "engine/src/port_side.rs";

/// How many of the port's own compiler errors a failed build shows.
const PORT_ERRORS: usize = 5;

/// What a report says about the port it ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortId {
    /// The package name (`[package] name`).
    pub package: String,
    /// Its version.
    pub version: String,
    /// Its directory relative to the checkout, else the directory's name.
    pub path: String,
    /// SHA-256 over its `Cargo.toml`, `build.rs` and `src/**/*.rs`, sorted
    /// by path (see [`sources_sha256`]).
    pub sources_sha256: String,
    /// `git rev-parse HEAD` of its directory, when it lies in a git work tree.
    pub git_commit: Option<String>,
    /// Uncommitted changes to tracked files under its directory.
    pub git_dirty: bool,
    /// Whether it is the checkout's own `rust-segtab/` (no `--port`).
    pub builtin: bool,
}

impl PortId {
    /// `<package>-<16 hex of the sources hash>`: the name of what is built
    /// for this port alone (its shadow under `target/port/`, its
    /// `--c-source` and certify coverage builds).
    pub fn tag(&self) -> String {
        format!(
            "{}-{}",
            self.package,
            &self.sources_sha256[..self.sources_sha256.len().min(16)]
        )
    }

    /// One line: `my-port 0.2.0 at ../my-port (sources sha256 0123abcd…, git 4567ef01, dirty)`.
    pub fn line(&self) -> String {
        let git = match &self.git_commit {
            Some(c) => format!(
                ", git {}{}",
                &c[..c.len().min(12)],
                if self.git_dirty { " dirty" } else { "" }
            ),
            None => String::new(),
        };
        format!(
            "{} {} at {} (sources sha256 {}{git}){}",
            self.package,
            self.version,
            self.path,
            &self.sources_sha256[..self.sources_sha256.len().min(16)],
            if self.builtin { "" } else { " via --port" }
        )
    }
}

/// The port this tool runs: the one `--port` built it against, else the
/// checkout's `rust-segtab/`.
pub fn current() -> &'static PortId {
    static ID: std::sync::OnceLock<PortId> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let (dir, builtin) = match BUILT_PORT_DIR {
            Some(d) => (PathBuf::from(d), false),
            None => (
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust-segtab"),
                true,
            ),
        };
        let mut id = describe(&dir).unwrap_or_else(|_| PortId {
            package: "rust-segtab".into(),
            version: "unknown".into(),
            path: dir.display().to_string(),
            sources_sha256: "unknown".into(),
            git_commit: None,
            git_dirty: false,
            builtin,
        });
        id.builtin = builtin;
        id
    })
}

/// Whether this tool runs a port given with `--port` (reports name it).
pub fn external() -> Option<&'static PortId> {
    BUILT_PORT_DIR.map(|_| current())
}

/// The `[package]` name and version and whether the crate has a library,
/// from `DIR/Cargo.toml` (a line-based reading: enough for a manifest a
/// porter writes; `version.workspace = true` reads as `workspace`).
fn manifest(dir: &Path) -> Result<(String, String)> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|_| {
        anyhow::anyhow!(
            "--port {}: no Cargo.toml there (it must be the directory of a Rust library crate)",
            dir.display()
        )
    })?;
    let (mut section, mut name, mut version) = (String::new(), None, None);
    let mut lib_path = None;
    for l in text.lines() {
        let l = l.split('#').next().unwrap_or("").trim();
        if l.starts_with('[') {
            section = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim().trim_matches('"').to_string());
        match (section.as_str(), k) {
            ("package", "name") => name = Some(v),
            ("package", "version") => version = Some(v),
            ("package", "version.workspace") => version = Some("workspace".into()),
            ("lib", "path") => lib_path = Some(v),
            _ => {}
        }
    }
    let Some(name) = name else {
        bail!(
            "--port {}: its Cargo.toml has no [package] name (a workspace? give the port crate's own directory)",
            dir.display()
        );
    };
    let lib = dir.join(lib_path.as_deref().unwrap_or("src/lib.rs"));
    if !lib.is_file() {
        bail!(
            "--port {}: package {name} has no library ({} missing): a port is a lib crate",
            dir.display(),
            lib.display()
        );
    }
    Ok((name, version.unwrap_or_else(|| "0.0.0".into())))
}

/// The files whose contents name a port's sources: `Cargo.toml`,
/// `build.rs` and every `.rs` under `src/`, as paths relative to `dir`,
/// sorted.
fn source_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(base.join(rel)) else {
            return;
        };
        for e in rd.flatten() {
            let r = rel.join(e.file_name());
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                walk(base, &r, out);
            } else if r.extension().is_some_and(|x| x == "rs") {
                out.push(r);
            }
        }
    }
    let mut out: Vec<PathBuf> = ["Cargo.toml", "build.rs"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| dir.join(p).is_file())
        .collect();
    walk(dir, Path::new("src"), &mut out);
    out.sort();
    out
}

/// SHA-256 over a port's sources: for each of [`source_files`], its
/// relative path, a NUL, its length as 8 little-endian bytes, its bytes.
pub fn sources_sha256(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in source_files(dir) {
        let bytes = std::fs::read(dir.join(&f)).unwrap_or_default();
        h.update(f.to_string_lossy().as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The identity of the port crate at `dir`.
pub fn describe(dir: &Path) -> Result<PortId> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|_| anyhow::anyhow!("--port {}: no such directory", dir.display()))?;
    let (package, version) = manifest(&dir)?;
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&dir)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let git_commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty());
    let git_dirty = git_commit.is_some()
        && git(&["status", "--porcelain", "--untracked-files=no", "--", "."])
            .is_some_and(|s| !s.is_empty());
    let root = std::env::current_dir()
        .ok()
        .and_then(|d| crate::corpus::repository(&d))
        .or_else(|| crate::corpus::repository(Path::new(env!("CARGO_MANIFEST_DIR"))));
    let path = root
        .and_then(|r| std::fs::canonicalize(r).ok())
        .and_then(|r| dir.strip_prefix(&r).ok().map(|p| p.display().to_string()))
        // Outside the checkout: its name, never a path of the machine
        // that made the report (as certify names a C file).
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string())
        });
    Ok(PortId {
        package,
        version,
        path,
        sources_sha256: sources_sha256(&dir),
        git_commit,
        git_dirty,
        builtin: false,
    })
}

/// `s` as a TOML basic string.
fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A manifest line `... path = "REL" ...` of the manifest in `dir` (named
/// `what` in errors) with REL made absolute, for a shadow manifest that
/// lies elsewhere.
fn absolute_path(l: &str, dir: &Path, what: &str) -> Result<String> {
    let i = l.find("path = \"").context("no path")?;
    let start = i + "path = \"".len();
    let end = start
        + l[start..]
            .find('"')
            .with_context(|| format!("{what}: a path without its closing quote"))?;
    let abs = std::fs::canonicalize(dir.join(&l[start..end]))
        .with_context(|| format!("{what}: {}", &l[start..end]))?;
    let abs = abs.to_string_lossy().replace('\\', "\\\\");
    Ok(format!("{}{}{}", &l[..start], abs, &l[end..]))
}

/// The shadow manifest: package `segtab-diff` from the engine's sources at
/// `root/engine`, its `[dependencies]` with paths made absolute, and
/// `rust-segtab` pointing at the port `dir` (package `package`).
fn shadow_manifest(root: &Path, dir: &Path, package: &str) -> Result<String> {
    let engine = root.join("engine");
    let text = std::fs::read_to_string(engine.join("Cargo.toml"))
        .with_context(|| format!("reading {}", engine.join("Cargo.toml").display()))?;
    let mut deps = Vec::new();
    let mut section = "";
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            section = t;
            continue;
        }
        if section != "[dependencies]" || t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with("rust-segtab ") || t.starts_with("rust-segtab=") {
            deps.push(format!(
                "rust-segtab = {{ path = {}, package = {} }}",
                toml_str(&dir.to_string_lossy()),
                toml_str(package)
            ));
        } else if l.contains("path = \"") {
            deps.push(absolute_path(l, &engine, "engine/Cargo.toml")?);
        } else {
            deps.push(l.to_string());
        }
    }
    let src = engine.join("src");
    Ok(format!(
        "# Written by segtab-diff --port: the engine built against the port at\n\
         # {dir}. Regenerated on every run; do not edit.\n\
         [workspace]\n\n\
         [package]\n\
         name = \"segtab-diff\"\n\
         version = \"{version}\"\n\
         edition = \"2021\"\n\
         publish = false\n\
         autobins = false\n\
         autotests = false\n\
         autobenches = false\n\
         autoexamples = false\n\n\
         [lib]\n\
         name = \"segtab_diff\"\n\
         path = {lib}\n\n\
         [[bin]]\n\
         name = \"segtab-diff\"\n\
         path = {bin}\n\n\
         [dependencies]\n\
         {deps}\n\n\
         [profile.release]\n\
         debug = 1\n",
        dir = dir.display(),
        version = env!("CARGO_PKG_VERSION"),
        lib = toml_str(&src.join("lib.rs").to_string_lossy()),
        bin = toml_str(&src.join("bin/segtab-diff.rs").to_string_lossy()),
        deps = deps.join("\n"),
    ))
}

/// The cargo-fuzz package to fuzz with (`scripts/fuzz.sh --port DIR` runs
/// `cargo fuzz run --fuzz-dir` on it): the checkout's `fuzz/` for the
/// built-in port; for a tool built with `--port`, a shadow of `fuzz/`
/// beside the port's shadow manifest, its `diff` target the checkout's
/// `fuzz/fuzz_targets/diff.rs`, its `segtab-diff` dependency the shadow
/// engine (so the port replaces `rust-segtab/` there as in the tool), its
/// other paths made absolute, and the checkout's `fuzz/Cargo.lock`. The
/// build must see `SEGTAB_PORT_DIR` and `SEGTAB_PORT_MANIFEST` (printed by
/// the `fuzz-dir` subcommand) so that the target's reports name the port.
pub fn fuzz_dir(root: &Path) -> Result<PathBuf> {
    let fuzz = root.join("fuzz");
    let Some(manifest) = BUILT_PORT_MANIFEST else {
        return Ok(fuzz);
    };
    let home = Path::new(manifest)
        .parent()
        .context("the port's shadow manifest has no directory")?;
    let text = std::fs::read_to_string(fuzz.join("Cargo.toml"))
        .with_context(|| format!("reading {}", fuzz.join("Cargo.toml").display()))?;
    let mut out = String::from(
        "# Written by segtab-diff --port fuzz-dir: fuzz/ built against the port's\n\
         # shadow engine. Regenerated on every run; do not edit.\n",
    );
    for l in text.lines() {
        let t = l.trim_start();
        if t.starts_with("segtab-diff ") || t.starts_with("segtab-diff=") {
            out.push_str(&format!(
                "segtab-diff = {{ path = {} }}\n",
                toml_str(&home.to_string_lossy())
            ));
        } else if l.contains("path = \"") {
            out.push_str(&absolute_path(l, &fuzz, "fuzz/Cargo.toml")?);
            out.push('\n');
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    let dir = home.join("fuzz");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let target = dir.join("Cargo.toml");
    if std::fs::read_to_string(&target).ok().as_deref() != Some(out.as_str()) {
        std::fs::write(&target, out)?;
    }
    let lock = dir.join("Cargo.lock");
    if !lock.exists() {
        let _ = std::fs::copy(fuzz.join("Cargo.lock"), &lock);
    }
    Ok(dir)
}

/// The shadow manifest of the port at `dir` inside the checkout `root`
/// (`target/port/<package>-<hash>/Cargo.toml`; the tool built against it
/// is copied beside it).
pub struct Shadow {
    /// `target/port/<package>-<hash>/Cargo.toml`.
    pub manifest: PathBuf,
    /// The port directory (absolute).
    pub dir: PathBuf,
    /// The port's identity.
    pub id: PortId,
}

/// Check the port directory and write its shadow manifest (no build).
pub fn prepare(root: &Path, dir: &Path) -> Result<Shadow> {
    let id = describe(dir)?;
    let dir = std::fs::canonicalize(dir)?;
    let home = root.join("target").join("port").join(id.tag());
    std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    let manifest = home.join("Cargo.toml");
    let text = shadow_manifest(root, &dir, &id.package)?;
    if std::fs::read_to_string(&manifest).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&manifest, text)?;
    }
    // The checkout's versions of everything, so the tool is the same one:
    // copied again whenever the checkout's is newer (cargo rewrites the
    // copy when it resolves, pruning what the shadow does not use).
    let lock = home.join("Cargo.lock");
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let ours = root.join("Cargo.lock");
    if mtime(&lock).is_none() || mtime(&ours) > mtime(&lock) {
        let _ = std::fs::copy(&ours, &lock);
    }
    Ok(Shadow { manifest, dir, id })
}

/// `cargo build --release` of `segtab-diff` from the shadow `manifest`
/// into `target`, with the environment that tells the built tool which
/// port it runs.
pub fn cargo_build_shadow(manifest: &Path, port_dir: &Path, target: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "--release", "--bin", "segtab-diff"])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target)
        .env("SEGTAB_PORT_DIR", port_dir)
        .env("SEGTAB_PORT_MANIFEST", manifest);
    if let Some(d) = manifest.parent() {
        cmd.current_dir(d);
    }
    cmd
}

/// Build the tool against the port at `dir` (and the C of `c_source`, if
/// given) and return the binary.
pub fn build(dir: &Path, c_source: Option<&Path>) -> Result<PathBuf> {
    // A missing or malformed DIR fails here, before any build.
    describe(dir)?;
    let cwd = std::env::current_dir()?;
    let Some(root) = crate::corpus::repository(&cwd)
        .or_else(|| crate::corpus::repository(Path::new(env!("CARGO_MANIFEST_DIR"))))
    else {
        bail!("--port needs a segtab-diff checkout to build the port into the tool: run it from inside one");
    };
    let shadow = prepare(&root, dir)?;
    let home = shadow.manifest.parent().unwrap_or(&root).to_path_buf();
    let c_source = c_source
        .map(|c| {
            std::fs::canonicalize(c)
                .with_context(|| format!("--c-source {}: cannot read it", c.display()))
        })
        .transpose()?;
    // One target directory for every port (per C file): the engine's
    // dependencies and the C are built once, and another port rebuilds
    // only itself and the engine. Each port's tool is then copied beside
    // its manifest, so runs of two ports never share a binary.
    let ports = home.parent().unwrap_or(&home).to_path_buf();
    let (target, exe) = match &c_source {
        None => (ports.join("target"), home.join("segtab-diff")),
        Some(c) => {
            let text = std::fs::read(c)
                .with_context(|| format!("--c-source {}: cannot read it", c.display()))?;
            let stem = c
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "source".into());
            let tag = format!("c-{stem}-{:016x}", crate::corpus::fnv1a(&text));
            (
                ports.join(format!("target-{tag}")),
                home.join(format!("segtab-diff-{tag}")),
            )
        }
    };
    eprintln!(
        "segtab-diff: building the tool with the port {} (into {})...",
        shadow.id.line(),
        target.display()
    );
    // Every port builds into `target`: held from the build to the copy of
    // its binary, so another port's build cannot replace it in between.
    let _hold = crate::rebuild::DirLock::acquire(&target, "building the tool with a port")?;
    let mut cmd = cargo_build_shadow(&shadow.manifest, &shadow.dir, &target);
    cmd.args(["-q", "--message-format=json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(c) = &c_source {
        cmd.env("SEGTAB_C_SOURCE", c).env("SEGTAB_DIAG_ALL", "1");
    }
    let out =
        crate::rebuild::output_stoppable(&mut cmd).context("running cargo (is it installed?)")?;
    if !out.status.success() {
        let json = String::from_utf8_lossy(&out.stdout);
        let log = String::from_utf8_lossy(&out.stderr);
        let (lacks, own) = diagnose(&json, &root, &shadow.dir);
        let mut lines = lacks.clone();
        lines.extend(own.iter().cloned());
        if let Some(c) = &c_source {
            lines.extend(crate::rebuild::diagnosis(&log));
            if lines.is_empty() {
                lines.push(format!("(building with the C from {} failed)", c.display()));
            }
        }
        if lines.is_empty() {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "building the tool with the port at {} failed:\n{}",
                shadow.dir.display(),
                tail.join("\n")
            );
        }
        let what = if !lacks.is_empty() {
            format!(
                "the port at {} does not meet the contract (docs/port-contract.md): {} missing or mismatched item{}",
                shadow.dir.display(),
                lacks.len(),
                if lacks.len() == 1 { "" } else { "s" }
            )
        } else if !own.is_empty() {
            format!("the port at {} does not compile", shadow.dir.display())
        } else {
            format!(
                "the shim cannot build {} with the port",
                c_source.as_deref().unwrap_or(Path::new("?")).display()
            )
        };
        bail!("{what}:\n{}", lines.join("\n"));
    }
    let built = target.join("release").join("segtab-diff");
    let tmp = exe.with_extension(format!("tmp{}", std::process::id()));
    std::fs::copy(&built, &tmp)
        .and_then(|_| std::fs::rename(&tmp, &exe))
        .with_context(|| format!("copying {} to {}", built.display(), exe.display()))?;
    Ok(exe)
}

/// Build against the port at `dir` (and `c_source`), then run `args`
/// (this invocation's arguments without `--port`, and without
/// `--c-source` when it is built in) with the built tool; its exit code.
pub fn run(dir: &Path, c_source: Option<&Path>, args: &[std::ffi::OsString]) -> Result<u8> {
    let exe = build(dir, c_source)?;
    crate::rebuild::run_exe(&exe, args)
}

/// The lines of a failed build from cargo's JSON messages: what the port
/// lacks (errors in the engine's use of it, one line per item) and the
/// port's own first errors (errors in its files).
fn diagnose(json: &str, root: &Path, port: &Path) -> (Vec<String>, Vec<String>) {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let engine = root.join("engine");
    let (mut lacks, mut own) = (Vec::<String>::new(), Vec::<String>::new());
    let mut seen = std::collections::HashSet::new();
    let mut own_total = 0;
    // Names the engine file defines itself (the machines it declares with
    // `define_machine!`): not found only because something else is missing.
    let user = std::fs::read_to_string(root.join(CONTRACT_USER)).unwrap_or_default();
    let defined: std::collections::HashSet<String> = user
        .split("pub struct ")
        .skip(1)
        .filter_map(|r| {
            let n: String = r
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!n.is_empty()).then_some(n)
        })
        .collect();
    let glob = user.contains("rust_segtab::machines::*");
    for l in json.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        if v["reason"] != "compiler-message" || v["message"]["level"] != "error" {
            continue;
        }
        let m = &v["message"];
        let text = m["message"].as_str().unwrap_or("");
        let code = m["code"]["code"].as_str().unwrap_or("");
        let spans = m["spans"].as_array().cloned().unwrap_or_default();
        let primary = spans
            .iter()
            .find(|s| s["is_primary"] == true)
            .or(spans.first());
        let Some(primary) = primary else { continue };
        let file = PathBuf::from(primary["file_name"].as_str().unwrap_or(""));
        let file = if file.is_absolute() {
            file
        } else {
            root.join(&file)
        };
        let line = primary["line_start"].as_u64().unwrap_or(0);
        let shown = |f: &Path| {
            f.strip_prefix(&root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| f.display().to_string())
        };
        if file.starts_with(&engine) {
            let at = format!("{}:{line}", shown(&file));
            let items = missing_items(code, text, &spans);
            if items.is_empty() {
                let key = format!("{code} {text}");
                if seen.insert(key) {
                    lacks.push(format!(
                        "port does not fit the contract: {text} (at {at}{})",
                        if code.is_empty() {
                            String::new()
                        } else {
                            format!(", {code}")
                        }
                    ));
                }
            }
            for (item, at_line) in items {
                // A bare name not found in scope: one of the engine's own
                // machines (a cascade), or one the machines glob should
                // have brought.
                let item = if item.contains("::") || item.contains('.') || item.starts_with('(') {
                    item
                } else if defined.contains(&item) {
                    continue;
                } else if glob {
                    if seen.contains("rust_segtab::machines") {
                        continue;
                    }
                    format!("rust_segtab::machines::{item}")
                } else {
                    item
                };
                if seen.insert(item.clone()) {
                    let at = format!("{}:{}", shown(&file), at_line.unwrap_or(line));
                    lacks.push(format!("port lacks {item} (used by {at})"));
                }
            }
        } else if file.starts_with(port)
            || v["package_id"]
                .as_str()
                .is_some_and(|p| !p.contains("segtab-diff"))
        {
            own_total += 1;
            if own.len() < PORT_ERRORS {
                let f = file
                    .strip_prefix(port)
                    .map(Path::to_path_buf)
                    .unwrap_or(file.clone());
                own.push(format!("port: {}:{line}: error: {text}", f.display()));
            }
        }
    }
    if own_total > PORT_ERRORS {
        own.push(format!(
            "port: ... {} more errors (cargo build in the port's directory shows them all)",
            own_total - PORT_ERRORS
        ));
    }
    (lacks, own)
}

/// The names inside backquotes in `s`.
fn ticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// `Pmap<M>` -> `Pmap`.
fn bare(ty: &str) -> &str {
    let ty = ty.split('<').next().unwrap_or(ty);
    ty.rsplit("::").next().unwrap_or(ty)
}

/// The contract items a rustc error in the engine says the port lacks,
/// each with the line that uses it when the error has several.
fn missing_items(
    code: &str,
    text: &str,
    spans: &[serde_json::Value],
) -> Vec<(String, Option<u64>)> {
    let t = ticked(text);
    match code {
        // unresolved import(s): one span per name, labelled `no `X` in ...`.
        "E0432" => {
            let mut out = Vec::new();
            for s in spans {
                let label = s["label"].as_str().unwrap_or("");
                let line = s["line_start"].as_u64();
                let lt = ticked(label);
                let name = match (lt.first(), label.contains(" in the root")) {
                    (Some(n), true) => format!("rust_segtab::{n}"),
                    (Some(n), false) if lt.len() >= 2 => format!("{}::{n}", lt[1]),
                    (Some(n), false) => n.to_string(),
                    _ => continue,
                };
                out.push((name, line));
            }
            if out.is_empty() {
                out.extend(t.iter().map(|n| (n.to_string(), None)));
            }
            out
        }
        // failed to resolve: could not find `X` in `Y`.
        "E0433" => match (t.first(), t.get(1)) {
            (Some(x), Some(y)) => vec![(format!("{y}::{x}"), None)],
            (Some(x), _) => vec![(x.to_string(), None)],
            _ => Vec::new(),
        },
        // cannot find type / value / macro / struct `X` in ...
        "E0412" | "E0425" | "E0422" | "E0423" | "E0531" | "E0405" => match t.first() {
            Some(x) if t.get(1).is_some_and(|c| c.contains("rust_segtab")) => {
                vec![(format!("rust_segtab::{x}"), None)]
            }
            Some(x) => vec![(x.to_string(), None)],
            None => Vec::new(),
        },
        // no method / associated item named `X` found for ... `T`.
        "E0599" => match (t.first(), t.get(1)) {
            (Some(x), Some(ty)) => {
                let ty = if text.contains("type parameter") {
                    "Machine or Env".to_string()
                } else {
                    bare(ty).to_string()
                };
                vec![(format!("{ty}::{x}"), None)]
            }
            _ => Vec::new(),
        },
        // associated type `X` not found for `M`.
        "E0220" => match t.first() {
            Some(x) => vec![(format!("Machine::{x}"), None)],
            None => Vec::new(),
        },
        // method / type `X` is not a member of trait `Env`.
        "E0407" | "E0437" | "E0438" => match (t.first(), t.get(1)) {
            (Some(x), Some(tr)) => vec![(format!("{}::{x}", bare(tr)), None)],
            _ => Vec::new(),
        },
        // no field `X` on type `T`.
        "E0609" | "E0560" => match (t.first(), t.get(1)) {
            (Some(x), Some(ty)) => vec![(format!("{}.{x}", bare(ty)), None)],
            _ => Vec::new(),
        },
        // not all trait items implemented, missing: `a`, `b`: the port's
        // trait asks for more than the contract's.
        "E0046" => t
            .iter()
            .map(|x| {
                (
                    format!(
                        "(nothing: its trait requires `{x}`, which the contract does not have)"
                    ),
                    None,
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// This invocation's arguments without the options `names` (`--x V` and
/// `--x=V`).
pub fn args_without(names: &[&str]) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let s = a.to_string_lossy();
        if names.iter().any(|n| s == *n) {
            args.next();
        } else if !names.iter().any(|n| s.starts_with(&format!("{n}="))) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unresolved_import_names_each_item_and_its_line() {
        let spans = serde_json::json!([
            {"label": "no `PmapSegtab` in the root", "line_start": 10, "is_primary": true},
            {"label": "no `Slot` in the root", "line_start": 11, "is_primary": true}
        ]);
        let items = missing_items(
            "E0432",
            "unresolved imports `rust_segtab::PmapSegtab`, `rust_segtab::Slot`",
            spans.as_array().unwrap(),
        );
        assert_eq!(
            items,
            [
                ("rust_segtab::PmapSegtab".to_string(), Some(10)),
                ("rust_segtab::Slot".to_string(), Some(11))
            ]
        );
    }

    #[test]
    fn a_missing_method_names_its_type() {
        let items = missing_items(
            "E0599",
            "no method named `pte_lookup` found for struct `PmapSegtab<M, PoolEnv<M>>` in the current scope",
            &[],
        );
        assert_eq!(items, [("PmapSegtab::pte_lookup".to_string(), None)]);
        let items = missing_items(
            "E0433",
            "failed to resolve: could not find `machines` in `rust_segtab`",
            &[],
        );
        assert_eq!(items, [("rust_segtab::machines".to_string(), None)]);
    }

    #[test]
    fn the_shadow_manifest_points_rust_segtab_at_the_port() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let m = shadow_manifest(&root, Path::new("/p/my-port"), "my-port").unwrap();
        assert!(
            m.contains("rust-segtab = { path = \"/p/my-port\", package = \"my-port\" }"),
            "{m}"
        );
        let shim = format!("shim = {{ path = \"{}\" }}", root.join("shim").display());
        assert!(m.contains(&shim), "{m}");
        assert!(m.contains(&format!(
            "path = \"{}\"",
            root.join("engine/src/lib.rs").display()
        )));
        assert!(!m.contains("../"), "{m}");
        assert!(
            !m.contains("proptest"),
            "dev-dependencies are not needed: {m}"
        );
    }

    #[test]
    fn the_builtin_port_is_named() {
        let id = current();
        assert_eq!(id.package, "rust-segtab");
        assert!(id.builtin);
        assert_eq!(id.path, "rust-segtab");
        assert_eq!(id.sources_sha256.len(), 64);
        assert!(id
            .line()
            .starts_with("rust-segtab 0.1.0 at rust-segtab (sources sha256 "));
    }

    #[test]
    fn a_directory_that_is_no_port_is_one_line() {
        let e = describe(Path::new("/nonexistent/port")).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "--port /nonexistent/port: no such directory"
        );
        let e = describe(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path()).unwrap_err();
        assert!(format!("{e:#}").contains("no Cargo.toml there"), "{e:#}");
    }
}
