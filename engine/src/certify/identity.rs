//! What was certified: the C file, the port, the toolchains, the machine.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

/// The identity block of a report.
#[derive(Clone, Debug, Serialize)]
pub struct Identity {
    /// The C file certified against.
    pub c_file: String,
    /// Its SHA-256.
    pub c_sha256: String,
    /// Its `$NetBSD$` id line, if it has one.
    pub c_netbsd_id: Option<String>,
    /// Whether it is the vendored rev 1.23, byte for byte.
    pub c_is_vendored: bool,
    /// The port certified: the checkout's `rust-segtab/`, or the crate
    /// given with `--port` (package, version, path, sources hash, commit).
    pub port: crate::port::PortId,
    /// The checkout's git commit (the engine, the shim, and the built-in
    /// port).
    pub git_commit: String,
    /// Uncommitted changes in the checkout.
    pub git_dirty: bool,
    /// `rustc -V`.
    pub rustc: String,
    /// `cargo -V`.
    pub cargo: String,
    /// `gcc --version`, first line.
    pub cc: String,
    /// The seed of the campaign and of the mutant sample.
    pub seed: u64,
    /// CPU model and count, memory, OS.
    pub machine: String,
    /// When the run started (UTC, RFC 3339).
    pub started: String,
    /// How long it took, seconds (filled in at the end).
    pub duration_secs: f64,
    /// The command line.
    pub command: String,
}

/// SHA-256 in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `$NetBSD: ... $` id of a C file.
pub fn netbsd_id(text: &str) -> Option<String> {
    let s = text.find("$NetBSD:")?;
    let e = text[s + 1..].find('$')? + s + 2;
    Some(text[s..e].to_string())
}

fn first_line(cmd: &str, args: &[&str], dir: &Path) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Read the machine's description.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        })
        .map(|kb| format!(", {} GiB", kb / (1 << 20)))
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    format!("{model}, {cores} cores{mem}, {os}")
}

/// How a report names a file: its path relative to the checkout `root`, or
/// its file name when it lies outside, never a path of the machine that
/// made the report.
pub fn display_name(root: &Path, file: &Path) -> String {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (root, file) = (canon(root), canon(file));
    match file.strip_prefix(&root) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The identity of a run of the checkout at `root` against `c_file`.
pub fn collect(root: &Path, c_file: &Path, seed: u64, started: String) -> Identity {
    let bytes = std::fs::read(c_file).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(root)
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(true);
    Identity {
        c_file: display_name(root, c_file),
        c_sha256: sha256_hex(&bytes),
        c_netbsd_id: netbsd_id(&text),
        c_is_vendored: bytes == c_reference::VENDORED_SOURCE,
        port: crate::port::current().clone(),
        git_commit: first_line("git", &["rev-parse", "HEAD"], root),
        git_dirty: dirty,
        rustc: first_line("rustc", &["-V"], root),
        cargo: first_line("cargo", &["-V"], root),
        cc: first_line("gcc", &["--version"], root),
        seed,
        machine: machine(),
        started,
        duration_secs: 0.0,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

/// Now, as RFC 3339 UTC (without a date crate: civil-from-days).
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
