//! A hang is a finding in seconds, and a slow step never is one: each
//! worker's watchdog reports a step that has not returned for the suspect
//! limit, and the parent reports a hang only if a child running the
//! sequence up to that step hangs too (see `campaign`'s module docs). A
//! real endless loop needs a C built with it (`--c-source`), which a test
//! cannot afford; the watchdog itself is tested in `campaign::tests`.

use std::process::Command;

/// With a suspect limit of zero, every step the watchdog sees running is
/// suspected, as on a machine so loaded that steps stall: the children
/// confirm none, so the campaign ends with no finding, its workers
/// restarted.
#[test]
fn suspected_hangs_that_a_child_does_not_confirm_are_no_finding() {
    let out = std::env::temp_dir().join(format!("segtab-hang-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_segtab-diff"))
        .args([
            "campaign",
            "--seconds",
            "4",
            "--seed",
            "11",
            "--jobs",
            "1",
            "--config",
            "mips64-n64-16k",
            "--out",
        ])
        .arg(&out)
        .env("SEGTAB_SUSPECT_MS", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("no divergence"), "{stdout}");
    assert!(
        std::fs::read_dir(&out).map_or(true, |d| d.count() == 0),
        "nothing saved"
    );
    // With a limit of zero the watchdog suspects any step its 1 ms tick
    // finds running: thousands of ticks in 4 s, however fast the machine.
    let suspected = stderr.matches("which a child did not confirm").count();
    assert!(
        suspected > 0,
        "no step was suspected: the test tested nothing\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
