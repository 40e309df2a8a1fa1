//! The port mutants of `mutants/port/` are fixtures for
//! `scripts/port-mutants.sh`, the C mutants of `mutants/c/` for
//! `scripts/c-mutants.sh`: each must still apply to the file it mutates,
//! or the script would measure nothing. (Building and campaigning against
//! each is the scripts' job, run by `.ci/run`.)

use std::path::Path;
use std::process::Command;

#[test]
fn port_mutants_apply() {
    mutants_apply("mutants/port", &[], 3);
}

#[test]
fn c_mutants_apply() {
    // Their paths are relative to c-reference/.
    mutants_apply("mutants/c", &["--directory=c-reference"], 5);
}

fn mutants_apply(dir: &str, args: &[&str], at_least: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join(dir);
    let mut patches: Vec<_> = std::fs::read_dir(&dir)
        .expect("mutants directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    assert!(
        patches.len() >= at_least,
        "{}: fixtures missing",
        dir.display()
    );
    for p in patches {
        // `git apply --check` works outside a repository too.
        let out = match Command::new("git")
            .args(["apply", "--check"])
            .args(args)
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
            "{} no longer applies: {}",
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
