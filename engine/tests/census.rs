//! The census as a user runs it: `campaign --census` and `census DIR` on
//! the faithful port (no class), and the exit codes. (What a census finds
//! in another revision is `scripts/revision-check.sh`'s to check, run by
//! `.ci/run`: the C is chosen at build time.)

use std::path::Path;
use std::process::Command;

fn tool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_segtab-diff"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("segtab-census-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_campaign_census_of_the_faithful_port_finds_no_class() {
    let dir = scratch("campaign");
    let json = dir.join("census.json");
    let out = tool()
        .args([
            "campaign",
            "--census",
            "--seconds",
            "2",
            "--seed",
            "1",
            "--jobs",
            "1",
        ])
        .args(["--config", "mips64-n64-4k,mips32-o32-8k", "--out"])
        .arg(dir.join("out"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("census: no divergence"), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["classes"], serde_json::json!([]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_census_of_seeds_finds_no_class_and_a_bad_file_is_a_tool_error() {
    let dir = scratch("dir");
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/diff");
    let mut files: Vec<_> = std::fs::read_dir(&seeds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files.iter().take(12) {
        std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
    }
    let run = |dir: &Path| {
        tool()
            .arg("census")
            .arg(dir)
            .arg("--out")
            .arg(dir.join("out"))
            .output()
            .unwrap()
    };
    let out = run(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("census: 12 file(s)") && text.contains("no divergence"),
        "{text}"
    );
    std::fs::write(dir.join("zz-bad.json"), "{ not json").unwrap();
    let out = run(&dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("zz-bad.json: skipped"));
    std::fs::remove_dir_all(&dir).unwrap();
}
