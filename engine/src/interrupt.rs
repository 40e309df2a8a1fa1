//! Ctrl-C (SIGINT) and SIGTERM: stop cleanly, losing nothing.
//!
//! `campaign`, `census`, `minimize` and `certify` call [`install`]; from
//! then on the signal only sets a flag ([`stopped`]) that their loops
//! check. They stop their child processes (workers, probes, mutant
//! judges), keep the findings already made in `--out`, print a summary,
//! remove their temporary files, and exit with [`EXIT`] (130, as a shell
//! reports a process killed by SIGINT). Work interrupted deep inside (a
//! probe, a build) returns the [`Interrupted`] error, which the callers
//! turn into that same clean stop.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// The exit code of an interrupted run.
pub const EXIT: u8 = 130;

/// Catch SIGINT and SIGTERM (and SIGHUP) from now on: they set the flag
/// instead of killing the process. Idempotent.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ctrlc::set_handler(request) {
            eprintln!(
                "segtab-diff: cannot catch Ctrl-C ({e}); an interrupted run may lose its findings"
            );
        }
    });
}

/// Ask the loops to stop, as the signal does.
pub fn request() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once a stop was asked for.
pub fn check() -> anyhow::Result<()> {
    if stopped() {
        return Err(Interrupted.into());
    }
    Ok(())
}

/// The error of work cut short by Ctrl-C or SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Whether `e` is (or wraps) [`Interrupted`].
pub fn is(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<Interrupted>().is_some())
}

/// Whether a child was stopped from outside by SIGINT, SIGTERM or SIGHUP
/// (Ctrl-C in a terminal reaches the whole process group): that is the
/// user stopping the run, never a crash of the C or the port. Also asks
/// this process to stop, in case its own signal is still on its way.
pub fn child_was_stopped(status: &std::process::ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if matches!(status.signal(), Some(1 | 2 | 15)) {
            request();
            return true;
        }
    }
    let _ = status;
    false
}
