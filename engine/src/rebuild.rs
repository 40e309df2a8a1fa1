//! `--c-source FILE`: run any subcommand against another C file.
//!
//! The C is compiled into the tool (`SEGTAB_C_SOURCE` at build time,
//! `c-reference/build.rs`), so trying another revision or a patched file
//! means another build. This does it for the user: it builds the tool with
//! that file into a target directory of its own (named after the file's
//! contents, so switching back and forth rebuilds nothing), then runs the
//! same command there. A file the shim cannot build is a tool error (exit
//! 2) whose message is the build's one line per missing interface, never a
//! page of compiler or linker output.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The lines of a failed build that say what the shim lacks.
fn diagnosis(log: &str) -> Vec<String> {
    log.lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("missing interface ")
                || l.starts_with("missing entry point ")
                || l.starts_with("unknown layout ")
                || l.starts_with("segtab-diff: the shim cannot")
        })
        .map(str::to_string)
        .collect()
}

/// `cargo build --release` of the `segtab-diff` binary with the C from
/// `source`, into `target`, run in the checkout `root`: what `--c-source`,
/// certify's instrumented build and its mutant builds share. Callers add
/// their environment (compiler wrapper, `SEGTAB_CONFIGS`) and output.
pub fn cargo_build(root: &Path, source: &Path, target: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--release",
        "-p",
        "segtab-diff",
        "--bin",
        "segtab-diff",
    ])
    .arg("--target-dir")
    .arg(target)
    .current_dir(root)
    .env("SEGTAB_C_SOURCE", source);
    cmd
}

/// Build the tool against `source` and return the binary. The build needs
/// a segtab-diff checkout (found from the current directory).
pub fn build(source: &Path) -> Result<PathBuf> {
    let source = std::fs::canonicalize(source)
        .with_context(|| format!("--c-source {}: cannot read it", source.display()))?;
    let text = std::fs::read(&source)
        .with_context(|| format!("--c-source {}: cannot read it", source.display()))?;
    let cwd = std::env::current_dir()?;
    let Some(root) = crate::corpus::repository(&cwd) else {
        bail!(
            "--c-source needs a segtab-diff checkout to build the C into the tool: \
             run it from inside one (or build there with SEGTAB_C_SOURCE={} cargo build --release -p segtab-diff)",
            source.display()
        );
    };
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "source".into());
    let target = root
        .join("target")
        .join("c-source")
        .join(format!("{stem}-{:016x}", crate::corpus::fnv1a(&text)));
    eprintln!(
        "segtab-diff: building the tool with the C from {} (into {})...",
        source.display(),
        target.display()
    );
    let out = cargo_build(&root, &source, &target)
        .arg("-q")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running cargo (is it installed?)")?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        let lines = diagnosis(&log);
        if lines.is_empty() {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "building with {} failed:\n{}",
                source.display(),
                tail.join("\n")
            );
        }
        bail!(
            "the shim cannot build {}:\n{}",
            source.display(),
            lines.join("\n")
        );
    }
    Ok(target.join("release").join("segtab-diff"))
}

/// Build against `source`, then run `args` (this invocation's arguments
/// without `--c-source`) with the built tool; its exit code.
pub fn run(source: &Path, args: &[std::ffi::OsString]) -> Result<u8> {
    let exe = build(source)?;
    let status = Command::new(&exe)
        .args(args)
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    Ok(status.code().map_or(2, |c| c.clamp(0, 255) as u8))
}

/// This invocation's arguments without `--c-source FILE` / `--c-source=FILE`.
pub fn args_without_c_source() -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--c-source" {
            args.next();
        } else if !a.to_string_lossy().starts_with("--c-source=") {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn diagnosis_keeps_only_the_missing_interface_lines() {
        let log = "   Compiling c-reference v0.1.0\n\
                   error: failed to run custom build command for `c-reference`\n\
                   \x20 missing interface pte_frob (used at x.c:3) belongs in shim/include/machine/pmap.h\n\
                   \x20 segtab-diff: the shim cannot build x.c: 1 missing interface (8 of 8 configurations)\n\
                   warning: build failed, waiting for other jobs to finish...\n";
        assert_eq!(
            super::diagnosis(log),
            [
                "missing interface pte_frob (used at x.c:3) belongs in shim/include/machine/pmap.h",
                "segtab-diff: the shim cannot build x.c: 1 missing interface (8 of 8 configurations)"
            ]
        );
    }
}
