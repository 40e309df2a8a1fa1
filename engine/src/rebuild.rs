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

/// How many of the compiler's own errors a failed build shows.
const COMPILER_ERRORS: usize = 5;

/// The lines of a failed build that say what the shim lacks, with the
/// compiler's first errors (`FILE:LINE: error: ...`, at most
/// [`COMPILER_ERRORS`]: a syntax error, a type the shim gets wrong) after
/// them, and the build's summary line last.
pub fn diagnosis(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    let mut out: Vec<String> = lines
        .iter()
        .filter(|l| {
            l.starts_with("missing interface ")
                || l.starts_with("missing entry point ")
                || l.starts_with("unknown layout ")
        })
        .map(|l| l.to_string())
        .collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| is_compiler_error(l)).collect();
    out.extend(
        errors
            .iter()
            .take(COMPILER_ERRORS)
            .map(|l| format!("compiler: {l}")),
    );
    if errors.len() > COMPILER_ERRORS {
        out.push(format!(
            "compiler: ... {} more errors (SEGTAB_DIAG_ALL=1 SEGTAB_C_SOURCE=FILE cargo build -p c-reference shows them all)",
            errors.len() - COMPILER_ERRORS
        ));
    }
    out.extend(
        lines
            .iter()
            .filter(|l| l.starts_with("segtab-diff: the shim cannot"))
            .map(|l| l.to_string()),
    );
    out
}

/// `FILE:LINE: error: MESSAGE`, as c-reference's build prints the
/// compiler's errors.
fn is_compiler_error(l: &str) -> bool {
    let mut parts = l.splitn(3, ':');
    let (Some(file), Some(line), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !file.is_empty()
        && !file.contains(' ')
        && !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && rest.starts_with(" error: ")
}

/// `cargo build --release` of the `segtab-diff` binary with the C from
/// `source`, into `target`, run in the checkout `root`: what `--c-source`,
/// certify's instrumented build and its mutant builds share. Callers add
/// their environment (compiler wrapper, `SEGTAB_CONFIGS`) and output.
///
/// A tool built by `--port` builds from the same shadow manifest, so the
/// C it builds runs against the same port.
pub fn cargo_build(root: &Path, source: &Path, target: &Path) -> Command {
    if let (Some(manifest), Some(port)) = (
        crate::port::BUILT_PORT_MANIFEST,
        crate::port::BUILT_PORT_DIR,
    ) {
        let mut cmd = crate::port::cargo_build_shadow(Path::new(manifest), Path::new(port), target);
        cmd.current_dir(root).env("SEGTAB_C_SOURCE", source);
        return cmd;
    }
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

/// An exclusive hold on a build directory, released when dropped.
///
/// Several runs may build into one directory: every port shares
/// `target/port/target` (the engine's dependencies are built once), and
/// certify's instrumented and schema builds live in `target/certify`.
/// cargo serialises the builds themselves, but a run then uses what it
/// built (copies the binary, runs it, reads its coverage notes), and
/// another run's build in between would swap a binary of another port or
/// C under it. Each such run holds this lock from its build until it no
/// longer needs what the directory holds.
pub struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    /// Wait for `dir` (created if missing), saying once that another run
    /// holds it; Ctrl-C or SIGTERM while waiting returns the interrupted
    /// error.
    pub fn acquire(dir: &Path, what: &str) -> Result<DirLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(".segtab-diff.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut told = false;
        loop {
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => return Ok(DirLock { _file: file }),
                Err(fs4::TryLockError::WouldBlock) => {
                    if !told {
                        eprintln!(
                            "segtab-diff: another segtab-diff is using {} ({what}); waiting for it...",
                            dir.display()
                        );
                        told = true;
                    }
                    crate::interrupt::check()?;
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(fs4::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()))
                }
            }
        }
    }
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
    // A tool built with --port builds this C against the same port: one
    // directory per (C, port), or two ports would share one binary.
    let port = crate::port::external()
        .map(|p| format!("-{}", p.tag()))
        .unwrap_or_default();
    let target = root
        .join("target")
        .join("c-source")
        .join(format!("{stem}-{:016x}{port}", crate::corpus::fnv1a(&text)));
    let _hold = DirLock::acquire(&target, "building the tool with another C")?;
    eprintln!(
        "segtab-diff: building the tool with the C from {} (into {})...",
        source.display(),
        target.display()
    );
    let out = wait_stoppable(
        own_group(&mut cargo_build(&root, &source, &target))
            .arg("-q")
            // Every compiler error, not only the missing interfaces:
            // diagnosis() shows the first few beside them.
            .env("SEGTAB_DIAG_ALL", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running cargo (is it installed?)")?,
    )?;
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
    run_exe(&exe, args)
}

/// Run `args` with the rebuilt tool `exe`; its exit code.
pub fn run_exe(exe: &Path, args: &[std::ffi::OsString]) -> Result<u8> {
    let mut child = Command::new(exe)
        .args(args)
        .spawn()
        .with_context(|| format!("running {}", exe.display()))?;
    // Ctrl-C or SIGTERM to this process (the terminal also sends it to the
    // child; `kill` or `timeout` only to us) is passed on, so the rebuilt
    // tool stops cleanly as it would alone.
    let mut told = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if crate::interrupt::stopped() && !told {
            told = true;
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Ok(match status.code() {
        Some(c) => c.clamp(0, 255) as u8,
        None if told => crate::interrupt::EXIT,
        None => 2,
    })
}

/// `cmd.status()`, except that after Ctrl-C or SIGTERM the child (a
/// build) is killed and the result is
/// [`Interrupted`](crate::interrupt::Interrupted).
pub fn status_stoppable(cmd: &mut Command) -> Result<std::process::ExitStatus> {
    let mut child = own_group(cmd).spawn()?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if crate::interrupt::stopped() {
            stop_group(&mut child);
            return Err(crate::interrupt::Interrupted.into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A build runs in a process group of its own, so that stopping it stops
/// its compilers too (killing cargo alone leaves them running).
fn own_group(cmd: &mut Command) -> &mut Command {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    cmd
}

/// Stop a child started with [`own_group`] and everything in its group.
fn stop_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Run `cmd` (its stdout and stderr piped) in a process group of its own
/// and collect its output; after Ctrl-C or SIGTERM it is killed and the
/// result is [`Interrupted`](crate::interrupt::Interrupted).
pub fn output_stoppable(cmd: &mut Command) -> Result<std::process::Output> {
    let mut child = own_group(cmd).spawn()?;
    let reader = drain(child.stdout.take());
    let mut r = wait_stoppable(child)?;
    r.stdout = reader.join().unwrap_or_default();
    Ok(r)
}

/// Read `pipe` to its end on a thread of its own (a child blocked on a
/// full pipe would never exit); the join gives what it wrote.
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Wait for `child` (its stderr piped), collecting its output; after
/// Ctrl-C or SIGTERM it is killed and the result is
/// [`Interrupted`](crate::interrupt::Interrupted).
fn wait_stoppable(mut child: std::process::Child) -> Result<std::process::Output> {
    let reader = drain(child.stderr.take());
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if crate::interrupt::stopped() {
            stop_group(&mut child);
            return Err(crate::interrupt::Interrupted.into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Ok(std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: reader.join().unwrap_or_default(),
    })
}

/// This invocation's arguments without `--c-source FILE` / `--c-source=FILE`.
pub fn args_without_c_source() -> Vec<std::ffi::OsString> {
    crate::port::args_without(&["--c-source"])
}

#[cfg(test)]
mod tests {

    /// A second run waits for the first to let go of the directory, and
    /// gets it then.
    #[test]
    fn a_second_hold_on_a_build_directory_waits_for_the_first() {
        let dir = std::env::temp_dir().join(format!("segtab-lock-{}", std::process::id()));
        let first = super::DirLock::acquire(&dir, "test").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.clone();
        let t = std::thread::spawn(move || {
            let second = super::DirLock::acquire(&d, "test").unwrap();
            tx.send(()).unwrap();
            drop(second);
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(600))
                .is_err(),
            "the second hold did not wait"
        );
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the second hold got the directory");
        t.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
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

    /// A file that does not compile for another reason (here a syntax
    /// error) shows the compiler's own first errors.
    #[test]
    fn diagnosis_shows_the_compilers_first_errors() {
        let mut log = String::from("   Compiling c-reference v0.1.0\n");
        for l in 10..20 {
            log += &format!("  broken_segtab.c:{l}: error: expected ';' before '}}' token\n");
        }
        log += "  segtab-diff: the shim cannot build /tmp/broken_segtab.c: 0 missing interfaces (8 of 8 configurations)\n";
        let d = super::diagnosis(&log);
        assert_eq!(
            d[0],
            "compiler: broken_segtab.c:10: error: expected ';' before '}' token"
        );
        assert_eq!(d.len(), 7, "{d:#?}");
        assert!(d[5].contains("5 more errors"), "{d:#?}");
        assert!(d[6].starts_with("segtab-diff: the shim cannot build"));
    }
}
