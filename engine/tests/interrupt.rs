//! Ctrl-C (SIGINT) and SIGTERM stop a run cleanly: exit 130, a summary,
//! the findings already made in --out, no child left running and no
//! temporary file left behind. Each test runs the real binary, waits until
//! it is where the signal should hit, and signals it as a shell would.
//! The input rules of replay and census are here too.
//!
//! A hang is planted in the port (`SEGTAB_PLANT_PORT_HANG=lookup`: every
//! lookup of the port never returns) with a short suspect limit.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_segtab-diff");

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("segtab-int-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Start the tool; every line of its stdout and stderr comes on the receiver.
fn start(args: &[&str], env: &[(&str, &str)]) -> (Child, Receiver<String>) {
    start_in(args, env, false)
}

/// [`start`], in a process group of its own when `group` (as a shell
/// starts a foreground job: Ctrl-C reaches every process of it).
fn start_in(args: &[&str], env: &[(&str, &str)], group: bool) -> (Child, Receiver<String>) {
    let mut cmd = Command::new(EXE);
    if group {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    let mut child = cmd
        .args(args)
        .envs(env.iter().copied())
        .env("SEGTAB_STATUS_SECS", "0.5")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for r in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(r).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
    }
    (child, rx)
}

/// Lines until one contains `marker` (panics after 60 s).
fn wait_for(rx: &Receiver<String>, marker: &str, seen: &mut Vec<String>) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = l.contains(marker);
            seen.push(l);
            if hit {
                return;
            }
        }
    }
    panic!("never saw {marker:?}:\n{}", seen.join("\n"));
}

/// Send `sig` and wait for the exit; returns the exit code and all output.
fn signal(
    mut child: Child,
    rx: Receiver<String>,
    sig: &str,
    mut seen: Vec<String>,
) -> (i32, String) {
    let pid = child.id();
    // `sig` is -INT or -TERM for the process, or -PGID for SIGINT to its
    // whole process group (a terminal's Ctrl-C).
    let args = if sig == format!("-{pid}") {
        vec!["-INT".to_string(), "--".into(), sig.to_string()]
    } else {
        vec![sig.to_string(), pid.to_string()]
    };
    assert!(Command::new("kill").args(&args).status().unwrap().success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("did not stop within 30 s of {sig}:\n{}", seen.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    seen.extend(rx.iter());
    // No scratch directory, no probe file of this process.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            *n == format!("segtab-diff-{pid}") || n.starts_with(&format!("segtab-probe-{pid}-"))
        })
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    // No child of it still running.
    let orphans = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(orphans.trim().is_empty(), "children left: {orphans}");
    (status.code().unwrap_or(-1), seen.join("\n"))
}

fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigint_stops_a_campaign_with_its_summary() {
    let out = scratch("campaign");
    let (child, rx) = start(
        &[
            "campaign",
            "--seconds",
            "120",
            "--jobs",
            "2",
            "--seed",
            "5",
            "--config",
            "mips64-n64-16k",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let mut seen = Vec::new();
    // A status line (no terminal here): the workers are running.
    wait_for(&rx, "ops/s", &mut seen);
    let (code, text) = signal(child, rx, "-INT", seen);
    assert_eq!(code, 130, "{text}");
    assert!(text.contains("INTERRUPTED"), "{text}");
    assert!(text.contains("seed 5"), "{text}");
    assert!(
        !text.contains(" 0 operations"),
        "the work done is counted: {text}"
    );
    assert!(files(&out).is_empty(), "no finding, no file");
}

/// Ctrl-C in a terminal: SIGINT to the whole process group, workers
/// included. Their deaths are the user stopping the run, not crashes.
#[test]
fn ctrl_c_to_the_whole_group_stops_a_campaign_without_findings() {
    let out = scratch("group");
    let (child, rx) = start_in(
        &[
            "campaign",
            "--seconds",
            "120",
            "--jobs",
            "2",
            "--seed",
            "6",
            "--config",
            "mips64-n64-16k",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        true,
    );
    let mut seen = Vec::new();
    wait_for(&rx, "ops/s", &mut seen);
    let group = format!("-{}", child.id());
    let (code, text) = signal(child, rx, &group, seen);
    assert_eq!(code, 130, "{text}");
    assert!(text.contains("INTERRUPTED"), "{text}");
    assert!(!text.contains("crash"), "{text}");
    assert!(files(&out).is_empty(), "no finding: {:?}", files(&out));
}

#[test]
fn sigterm_while_minimizing_a_hang_keeps_the_hang() {
    let out = scratch("hang");
    let (child, rx) = start(
        &[
            "campaign",
            "--seconds",
            "0",
            "--jobs",
            "1",
            "--seed",
            "3",
            "--config",
            "mips64-n64-16k",
            "--out",
            out.to_str().unwrap(),
        ],
        &[
            ("SEGTAB_PLANT_PORT_HANG", "lookup"),
            ("SEGTAB_SUSPECT_MS", "300"),
        ],
    );
    let mut seen = Vec::new();
    wait_for(&rx, "minimizing the hang", &mut seen);
    let (code, text) = signal(child, rx, "-TERM", seen);
    assert_eq!(code, 130, "{text}");
    assert!(text.contains("INTERRUPTED"), "{text}");
    let found = files(&out);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("hang-") && f.ends_with(".json")),
        "the hang is kept: {found:?}\n{text}"
    );
    assert!(!found.iter().any(|f| f.ends_with(".tmp")), "{found:?}");
    let _ = std::fs::remove_dir_all(&out);
}

/// A campaign (until a finding) with the port's `kind` of hang planted
/// (`SEGTAB_PLANT_PORT_HANG`, port_side.rs) and a 300 ms suspect limit; it
/// must end in a finding (exit 1). Returns its stdout and stderr.
fn campaign_with_planted_hang(out: &std::path::Path, kind: &str) -> String {
    let run = Command::new(EXE)
        .args([
            "campaign",
            "--seconds",
            "0",
            "--jobs",
            "1",
            "--seed",
            "3",
            "--config",
            "mips64-n64-16k",
            "--out",
        ])
        .arg(out)
        .env("SEGTAB_PLANT_PORT_HANG", kind)
        .env("SEGTAB_SUSPECT_MS", "300")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{text}");
    text
}

/// A hang left to finish: the report names the side and the step, comes
/// with a test, and the summary counts the work done before it.
#[test]
fn a_hang_names_its_side_and_comes_with_a_test() {
    let out = scratch("hang-report");
    let text = campaign_with_planted_hang(&out, "lookup");
    assert!(
        text.contains("in the Rust port, no call out of the file in this step (C reference: returned; Rust port: did not return)"),
        "{text}"
    );
    assert!(text.contains("segtab_diff::assert_returns(&seq"), "{text}");
    assert!(text.contains("pmap_pte_lookup"), "{text}");
    assert!(!text.contains(" 0 operations"), "{text}");
    let _ = std::fs::remove_dir_all(&out);
}

/// A hang after a call out of the file names that call.
#[test]
fn a_hang_names_the_last_call_out_of_the_file() {
    let out = scratch("hang-alloc");
    let text = campaign_with_planted_hang(&out, "alloc");
    assert!(
        text.contains("in the Rust port, its last call out of the file: Alloc"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn sigint_while_minimize_shrinks_a_hang_writes_what_it_has() {
    let out = scratch("minimize");
    let dir = scratch("minimize-in");
    std::fs::create_dir_all(&dir).unwrap();
    let lookup = r#"{"Lookup":{"pmap":1,"va":{"Seg":{"seg":1,"page":0}}}}"#;
    let create = r#"{"Create":{"pmap":1,"min":"Zero"}}"#;
    let ops: Vec<&str> = std::iter::repeat([create, lookup])
        .take(20)
        .flatten()
        .collect();
    let file = dir.join("hang.json");
    std::fs::write(
        &file,
        format!(r#"{{"config":"mips64-n64-16k","ops":[{}]}}"#, ops.join(",")),
    )
    .unwrap();
    let (child, rx) = start(
        &[
            "minimize",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[("SEGTAB_PLANT_PORT_HANG", "lookup")],
    );
    let mut seen = Vec::new();
    wait_for(&rx, "minimizing in child processes", &mut seen);
    std::thread::sleep(Duration::from_millis(500));
    let (code, text) = signal(child, rx, "-INT", seen);
    assert_eq!(code, 130, "{text}");
    assert!(text.contains("INTERRUPTED"), "{text}");
    assert!(
        files(&out).iter().any(|f| f.starts_with("hang-")),
        "the hang is written: {text}"
    );
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_stops_a_census() {
    let dir = scratch("census-in");
    std::fs::create_dir_all(&dir).unwrap();
    for k in 0..3 {
        std::fs::write(
            dir.join(format!("h{k}.json")),
            format!(
                r#"{{"config":"mips64-n64-16k","ops":[{{"Lookup":{{"pmap":{k},"va":{{"Seg":{{"seg":1,"page":0}}}}}}}}]}}"#
            ),
        )
        .unwrap();
    }
    let out = scratch("census");
    let (child, rx) = start(
        &[
            "census",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[("SEGTAB_PLANT_PORT_HANG", "lookup")],
    );
    std::thread::sleep(Duration::from_millis(2500));
    let (code, text) = signal(child, rx, "-TERM", Vec::new());
    assert_eq!(code, 130, "{text}");
    assert!(text.contains("census: INTERRUPTED"), "{text}");
    // No terminal: status lines while the first file's probe runs.
    assert!(
        text.contains("s: file 1 of 3, 0 class(es) so far"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn replay_and_census_refuse_what_is_not_an_input() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    for cmd in ["replay", "census"] {
        let run = Command::new(EXE).arg(cmd).arg(&readme).output().unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{cmd}: {err}");
        assert!(
            err.contains("README.md") && err.contains("--raw"),
            "{cmd}: {err}"
        );
    }
    // With --raw it is decoded as fuzzer bytes.
    let run = Command::new(EXE)
        .args(["replay", "--raw"])
        .arg(&readme)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    // An empty directory is an error.
    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = Command::new(EXE)
        .arg("replay")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stderr).contains("empty directory"));
    // libFuzzer's names are inputs.
    let crash = empty.join("crash-0123abcd");
    std::fs::write(&crash, b"\x00\x01\x02\x03").unwrap();
    let run = Command::new(EXE)
        .arg("replay")
        .arg(&crash)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let _ = std::fs::remove_dir_all(&empty);
}

/// minimize of a finding that is already minimal writes nothing.
#[test]
fn minimize_of_a_minimal_hang_writes_nothing() {
    let dir = scratch("minimal-in");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hang.json");
    std::fs::write(
        &file,
        r#"{"config":"mips64-n64-16k","ops":[{"Lookup":{"pmap":1,"va":{"Seg":{"seg":1,"page":0}}}}]}"#,
    )
    .unwrap();
    let out = scratch("minimal");
    let run = Command::new(EXE)
        .arg("minimize")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env("SEGTAB_PLANT_PORT_HANG", "lookup")
        .env("SEGTAB_SUSPECT_MS", "300")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{text}");
    assert!(text.contains("already minimal"), "{text}");
    assert!(text.contains("HANG in mips64-n64-16k"), "{text}");
    assert!(files(&out).is_empty(), "nothing written: {text}");
    let _ = std::fs::remove_dir_all(&dir);
}
