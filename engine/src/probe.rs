//! Running a sequence in a child process, for findings that take the
//! process down: a crash (a signal in the C or the port) or a hang (an
//! endless loop in either). The child is `segtab-diff probe FILE`.

use crate::model::Sequence;
use crate::shrink;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How a sequence ended in a child process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The sides agreed.
    Agree,
    /// The sides diverged.
    Diverge,
    /// The child died (the status).
    Crash(String),
    /// The child ran past the timeout and was killed.
    Hang,
}

impl Probe {
    /// Same kind of finding (crash statuses may differ in detail).
    pub fn same_kind(&self, other: &Probe) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Run `seq` in `exe probe` with a timeout.
pub fn probe(exe: &Path, seq: &Sequence, timeout: Duration) -> Result<Probe> {
    static N: AtomicU64 = AtomicU64::new(0);
    let file = std::env::temp_dir().join(format!(
        "segtab-probe-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, serde_json::to_vec(seq)?)?;
    let mut child = Command::new(exe)
        .arg("probe")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let start = Instant::now();
    let result = loop {
        if let Some(status) = child.try_wait()? {
            break match status.code() {
                Some(0) => Probe::Agree,
                Some(1) => Probe::Diverge,
                _ => Probe::Crash(status.to_string()),
            };
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break Probe::Hang;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = std::fs::remove_file(&file);
    Ok(result)
}

/// Shrink a sequence that crashes or hangs, keeping the kind of finding,
/// with at most `budget` child runs of at most `timeout` each.
pub fn minimize(
    exe: &Path,
    seq: &Sequence,
    want: &Probe,
    budget: usize,
    timeout: Duration,
) -> Sequence {
    shrink::reduce(seq, budget, |cand| match probe(exe, cand, timeout) {
        Ok(p) if p.same_kind(want) => Some(cand.ops.len()),
        _ => None,
    })
}
