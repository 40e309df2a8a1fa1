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

/// Run `seq` in `exe probe` with a timeout. After Ctrl-C or SIGTERM
/// ([`crate::interrupt`]) the child is killed, its file removed, and the
/// result is the [`Interrupted`](crate::interrupt::Interrupted) error.
pub fn probe(exe: &Path, seq: &Sequence, timeout: Duration) -> Result<Probe> {
    crate::interrupt::check()?;
    static N: AtomicU64 = AtomicU64::new(0);
    let file = std::env::temp_dir().join(format!(
        "segtab-probe-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, serde_json::to_vec(seq)?)?;
    let child = Command::new(exe)
        .arg("probe")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()));
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            return Err(e);
        }
    };
    let start = Instant::now();
    let result = loop {
        if let Some(status) = child.try_wait()? {
            if crate::interrupt::child_was_stopped(&status) {
                break Err(crate::interrupt::Interrupted);
            }
            break Ok(match status.code() {
                Some(0) => Probe::Agree,
                Some(1) => Probe::Diverge,
                _ => Probe::Crash(status.to_string()),
            });
        }
        if crate::interrupt::stopped() {
            let _ = child.kill();
            let _ = child.wait();
            break Err(crate::interrupt::Interrupted);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break Ok(Probe::Hang);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = std::fs::remove_file(&file);
    Ok(result?)
}

/// Where a sequence hangs: the step that does not return and the side
/// running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HangSite {
    /// The step's index in the sequence.
    pub step: u64,
    /// [`crate::run::progress::SIDE`] while it hung.
    pub side: u64,
    /// The last call out of the file that side made in the step
    /// (`shim::sched::Call`, by name), if any.
    pub last_call: Option<String>,
}

/// Run `seq` in `exe probe --watch` and, if a step does not return within
/// the suspect limit ([`crate::campaign::suspect`]), say which and on
/// which side; the child is killed then, or after `timeout`. `None` if the
/// sequence ran to its end (or Ctrl-C came).
pub fn hang_site(exe: &Path, seq: &Sequence, timeout: Duration) -> Option<HangSite> {
    use std::io::BufRead;
    if crate::interrupt::stopped() {
        return None;
    }
    static N: AtomicU64 = AtomicU64::new(0);
    let file = std::env::temp_dir().join(format!(
        "segtab-probe-{}-w{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, serde_json::to_vec(seq).ok()?).ok()?;
    let child = Command::new(exe)
        .args(["probe", "--watch"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        let _ = std::fs::remove_file(&file);
        return None;
    };
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let (Some(step), Some(side)) = (v["stuck"].as_u64(), v["side"].as_u64()) {
                    let last_call = v["last_call"].as_str().map(str::to_string);
                    let _ = tx.send(HangSite {
                        step,
                        side,
                        last_call,
                    });
                    break;
                }
            }
        }
    });
    let start = Instant::now();
    let site = loop {
        if let Ok(site) = rx.try_recv() {
            break Some(site);
        }
        if start.elapsed() > timeout || crate::interrupt::stopped() {
            break None;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break rx.recv_timeout(Duration::from_millis(100)).ok();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&file);
    site
}

/// A hang finding (`d`, its first difference of category `hang`) made
/// actionable: the step that does not return and the side it hung in,
/// found by running the sequence once more in a watched child (see
/// [`hang_site`]), as a second difference. Nothing changes if the child
/// does not hang this time.
pub fn describe_hang(exe: &Path, d: &mut crate::Divergence) {
    use crate::run::progress::{side_name, SIDE_C, SIDE_PORT};
    if d.diffs.first().map_or(true, |f| f.category != "hang") {
        return;
    }
    let Some(site) = hang_site(exe, &d.sequence, crate::campaign::CONFIRM_HANG) else {
        return;
    };
    d.step = site.step as usize;
    let (c, rust) = match site.side {
        SIDE_C => ("did not return", "not reached (runs after the C)"),
        SIDE_PORT => ("returned", "did not return"),
        _ => ("returned", "returned"),
    };
    let last = match (site.side, &site.last_call) {
        (SIDE_C | SIDE_PORT, Some(call)) => format!(", its last call out of the file: {call}"),
        (SIDE_C | SIDE_PORT, None) => ", no call out of the file in this step".to_string(),
        _ => String::new(),
    };
    d.diffs.push(crate::compare::FieldDiff {
        category: "hang".into(),
        field: format!("step {} in {}{last}", site.step, side_name(site.side)),
        c: c.into(),
        rust: rust.into(),
    });
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
