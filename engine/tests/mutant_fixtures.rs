//! The port mutants of `mutants/port/` are fixtures for
//! `scripts/port-mutants.sh`: each must still apply to the port as it is,
//! or the script would measure nothing. (Building and campaigning against
//! each is the script's job, run by `.ci/run`.)

use std::path::Path;
use std::process::Command;

#[test]
fn port_mutants_apply() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("mutants/port");
    let mut patches: Vec<_> = std::fs::read_dir(&dir)
        .expect("mutants/port")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    assert!(patches.len() >= 3, "the three lock-discipline mutants");
    for p in patches {
        // `git apply --check` works outside a repository too.
        let out = match Command::new("git")
            .args(["apply", "--check"])
            .arg(&p)
            .current_dir(&root)
            .output()
        {
            Ok(o) => o,
            Err(e) => {
                eprintln!("git not available ({e}); not checking {}", p.display());
                return;
            }
        };
        assert!(
            out.status.success(),
            "{} no longer applies to the port: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("# "),
            "{}: first line says what the mutant breaks",
            p.display()
        );
    }
}
