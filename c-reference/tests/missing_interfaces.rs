//! The build's report of what a source needs and the shim lacks
//! (`diagnose.rs`, run by build.rs): one `missing interface NAME (used at
//! FILE:LINE) belongs in shim/include/HEADER` line per interface, from gcc's
//! and clang's wording, on a synthetic source with made-up interfaces and on
//! rev 1.31 built for PMAP_HWPAGEWALKER, which the shim does not model; and
//! none for the interfaces NetBSD's headers of 2023-2026 added (`pte_index()`,
//! `kvtopte()`, the UVMHIST spellings and histories), which the shim has.

#[allow(dead_code)]
#[path = "../diagnose.rs"]
mod diagnose;

use diagnose::{classify, header_for, syntax_check, undefined_symbols, Kind};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn gcc_and_clang_wording_give_the_same_lines() {
    let src = "/r/pmap_segtab.c";
    let text = "static void\nown_helper(void)\n{\n\tpd_entry_t npde = 0;\n}\n";
    let gcc = "\
/r/pmap_segtab.c:15:8: error: unknown type name 'frob_t'
/r/pmap_segtab.c: In function 'x_pmap_segtab_init':
/r/pmap_segtab.c:16:44: error: 'struct pmap' has no member named 'pm_frob'
/r/pmap_segtab.c:16:56: error: implicit declaration of function 'pte_frob' [-Werror=implicit-function-declaration]
/r/pmap_segtab.c:16:98: error: 'PMAP_FROB_BIT' undeclared (first use in this function)
/r/pmap_segtab.c:16:98: note: each undeclared identifier is reported only once for each function it appears in
/r/pmap_segtab.c:17:2: error: 'npde' undeclared (first use in this function)
/r/pmap_segtab.c:18:2: error: implicit declaration of function 'own_helper' [-Werror=implicit-function-declaration]
/r/pmap_segtab.c:19:26: warning: \"PAGE_SIZE\" is not defined, evaluates to 0 [-Wundef]
/r/pmap_segtab.c:20:26: warning: \"MY_OPTION\" is not defined, evaluates to 0 [-Wundef]
/s/csrc/world.c:769:36: error: 'struct x_pmap_segtab_info' has no member named 'nget_segtab'; did you mean 'free_segtab'?
";
    let clang = "\
/r/pmap_segtab.c:15:8: error: unknown type name 'frob_t'
/r/pmap_segtab.c:16:46: error: no member named 'pm_frob' in 'struct pmap'
/r/pmap_segtab.c:16:56: error: call to undeclared function 'pte_frob'; ISO C99 and later do not support implicit function declarations [-Wimplicit-function-declaration]
/r/pmap_segtab.c:16:98: error: use of undeclared identifier 'PMAP_FROB_BIT'
/r/pmap_segtab.c:17:2: error: use of undeclared identifier 'npde'
/r/pmap_segtab.c:18:2: error: call to undeclared function 'own_helper'; ISO C99 and later do not support implicit function declarations [-Wimplicit-function-declaration]
/r/pmap_segtab.c:19:26: warning: 'PAGE_SIZE' is not defined, evaluates to 0 [-Wundef]
/r/pmap_segtab.c:20:26: warning: 'MY_OPTION' is not defined, evaluates to 0 [-Wundef]
/s/csrc/world.c:769:29: error: no member named 'nget_segtab' in 'struct x_pmap_segtab_info'; did you mean 'free_segtab'?
/r/pmap_segtab.c:11:42: note: 'free_segtab' declared here
";
    let want = [
        "missing interface PAGE_SIZE (used at /r/pmap_segtab.c:19) belongs in shim/include/machine/param.h",
        "missing interface PMAP_FROB_BIT (used at /r/pmap_segtab.c:16) belongs in shim/include/machine/pmap.h",
        "missing interface frob_t (used at /r/pmap_segtab.c:15) belongs in shim/include/? (not a known NetBSD interface: find its header in NetBSD's sys/ of the revision's date)",
        "missing interface pmap.pm_frob (used at /r/pmap_segtab.c:16) belongs in shim/include/uvm/pmap/pmap.h",
        "missing interface pte_frob (used at /r/pmap_segtab.c:16) belongs in shim/include/machine/pmap.h",
    ];
    for out in [gcc, clang] {
        let r = classify(out, src, text, "/s");
        let mut lines: Vec<String> = r.missing.iter().map(|m| m.line()).collect();
        lines.sort();
        assert_eq!(lines, want, "{out}");
        // The source's own names are follow-on errors, not interfaces.
        assert!(r.other.iter().any(|l| l.contains("npde")), "{:?}", r.other);
        assert!(
            r.other.iter().any(|l| l.contains("own_helper")),
            "{:?}",
            r.other
        );
        assert_eq!(
            r.layout,
            [
                "unknown layout pmap_segtab_info.nget_segtab (read at shim/csrc/world.c:769): \
              teach shim/csrc/world.c this revision's layout (SHIM_REV_*)"
            ]
        );
    }
}

#[test]
fn known_interfaces_map_to_their_headers() {
    for (name, header) in [
        ("pte_zero_p", "machine/pmap.h"),
        ("pmap_extract", "uvm/uvm_pmap.h"),
        ("uvm_km_alloc", "uvm/uvm_extern.h"),
        ("TAILQ_INSERT_TAIL", "sys/queue.h"),
        ("pmap.pm_ppg_list", "uvm/pmap/pmap.h"),
        (
            "vm_page.uobject",
            "segtab_shim_api.h (struct vm_page, shared with the Rust pool)",
        ),
        ("UVMHIST_CALLARGS", "uvm/uvm_stat.h"),
        ("UVMHIST_DECL", "uvm/uvm_stat.h"),
        ("KERNHIST_INITIALIZER", "sys/kernhist.h"),
        ("pte_index", "machine/pmap.h"),
        ("kvtopte", "uvm/pmap/pmap.h"),
        ("pmapxtabhist", "uvm/pmap/pmap.h"),
        ("pmapsegtabhist", "uvm/pmap/pmap.h"),
        ("__CTASSERT", "sys/cdefs.h"),
        ("struct kcpuset", "sys/kcpuset.h"),
        ("rw_enter", "sys/rwlock.h"),
    ] {
        assert_eq!(header_for(name), header, "{name}");
    }
}

/// The compiler invocation build.rs makes for mips64-n64-4k (DEBUG,
/// DIAGNOSTIC, MULTIPROCESSOR), without the input.
fn compiler(source: &Path, extra: &[&str]) -> Command {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(cc);
    let r = root();
    cmd.args([
        "-std=gnu11",
        "-ffreestanding",
        "-Werror=implicit-function-declaration",
    ])
    .arg(format!("-I{}", r.join("shim/include").display()))
    .arg(format!("-I{}", r.join("c-reference").display()))
    .args([
        "-DSEGTAB_PREFIX=mips64_n64_4k_",
        "-DSHIM_CONFIG_NAME=\"mips64-n64-4k\"",
        "-DSHIM_MACHINE_MIPS=1",
        "-DSHIM_PGSHIFT=12",
        "-DSHIM_SEGSHIFT=22",
        "-DSHIM_SEGTABSIZE=512",
        "-DSHIM_PTE_BITS=32",
        "-DSHIM_INVALID_SEGTAB=0x0ULL",
        "-DSHIM_MULTIPROCESSOR=1",
        "-DSHIM_LP64=1",
        "-DSHIM_XSEGSHIFT=31",
        "-DDEBUG=1",
        "-DDIAGNOSTIC=1",
    ])
    .arg(format!("-DSEGTAB_C_FILE=\"{}\"", source.display()))
    .args(extra);
    cmd
}

fn check(source: &Path, extra: &[&str]) -> diagnose::Report {
    let r = root();
    let shim = r.join("shim");
    syntax_check(
        compiler(source, extra),
        &shim.join("csrc/world.c"),
        source.to_str().unwrap(),
        shim.to_str().unwrap(),
    )
}

#[test]
fn a_synthetic_source_with_made_up_interfaces() {
    let src = root().join("c-reference/tests/data/made-up-interfaces.c");
    let r = check(&src, &[]);
    let names: Vec<(&str, &Kind, u32)> = r
        .missing
        .iter()
        .map(|m| {
            let line = m.used_at.rsplit(':').next().unwrap().parse().unwrap();
            (m.name.as_str(), &m.kind, line)
        })
        .collect();
    assert_eq!(
        names,
        [
            ("PMAP_FROB_ALL", &Kind::Identifier, 43),
            ("frobnicator_t", &Kind::Type, 34),
            ("pmap.pm_frobs", &Kind::Member, 43),
            ("pmap_md_frobnicate", &Kind::Function, 43),
        ],
        "{r:?}"
    );
    assert!(r.layout.is_empty(), "{r:?}");
    for m in &r.missing {
        println!("{}", m.line());
    }
}

#[test]
fn a_symbol_the_shim_declares_but_never_defines_is_named_not_left_to_the_linker() {
    let src = root().join("c-reference/tests/data/made-up-interfaces.c");
    let r = check(&src, &["-DSHIM_TEST_UNDEFINED_ONLY"]);
    assert!(r.is_empty(), "compiles: {r:?}");
    let dir = std::env::temp_dir().join(format!("segtab-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join("world.o");
    let status = compiler(&src, &["-DSHIM_TEST_UNDEFINED_ONLY", "-c", "-o"])
        .arg(&obj)
        .arg(root().join("shim/csrc/world.c"))
        .status()
        .unwrap();
    assert!(status.success());
    let Some(m) = undefined_symbols(&obj, "mips64_n64_4k_", src.to_str().unwrap()) else {
        eprintln!("nm is not available: skipped");
        return;
    };
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        m,
        [format!(
            "missing interface pmap_md_bogus (used at {}:32) belongs in shim/csrc/world.c \
             (declared by a shim header, defined nowhere)",
            src.display()
        )]
    );
}

#[test]
fn rev_1_31_for_a_hardware_page_walker_lacks_the_pde_interfaces() {
    let src = root().join("c-reference/revisions/pmap_segtab-1.31.c");
    let r = check(&src, &["-DPMAP_HWPAGEWALKER"]);
    let names: Vec<&str> = r.missing.iter().map(|m| m.name.as_str()).collect();
    for want in [
        "pd_entry_t",
        "pmap_pdetab_t",
        "PMAP_PDETABSIZE",
        "pmap.pm_pdetab",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    // Every one is a known NetBSD interface with a header to go to.
    assert!(
        r.missing.iter().all(|m| !m.header.starts_with('?')),
        "{:?}",
        r.missing
    );
    // Without PMAP_HWPAGEWALKER it builds.
    assert!(check(&src, &[]).is_empty());
}

#[test]
fn an_entry_point_the_revision_lacks_is_named() {
    let src = root().join("c-reference/tests/data/made-up-interfaces.c");
    let flags = ["-DSHIM_TEST_UNDEFINED_ONLY", "-DSHIM_TEST_NO_DEACTIVATE"];
    let dir = std::env::temp_dir().join(format!("segtab-entry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join("world.o");
    let status = compiler(&src, &[&flags[..], &["-c", "-o"]].concat())
        .arg(&obj)
        .arg(root().join("shim/csrc/world.c"))
        .status()
        .unwrap();
    assert!(status.success());
    let Some(m) = undefined_symbols(&obj, "mips64_n64_4k_", src.to_str().unwrap()) else {
        eprintln!("nm is not available: skipped");
        return;
    };
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        m.contains(
            &"missing entry point pmap_segtab_deactivate (called by shim/csrc/world.c): \
              not in this revision"
                .to_string()
        ),
        "{m:?}"
    );
}

#[test]
fn a_missing_header_is_one_line_naming_where_it_belongs() {
    let src = "/r/pmap_segtab.c";
    let gcc = "/r/pmap_segtab.c:107:10: fatal error: sys/cpu.h: No such file or directory\n";
    let clang = "/r/pmap_segtab.c:107:10: fatal error: 'sys/cpu.h' file not found\n";
    for out in [gcc, clang] {
        let r = classify(out, src, "", "/s");
        let lines: Vec<String> = r.missing.iter().map(|m| m.line()).collect();
        assert_eq!(
            lines,
            ["missing interface <sys/cpu.h> (used at /r/pmap_segtab.c:107) belongs in shim/include/sys/cpu.h"],
            "{out}"
        );
        assert_eq!(r.missing[0].kind, Kind::Header);
        assert!(r.other.is_empty(), "{:?}", r.other);
    }
}

#[test]
fn the_interfaces_of_the_2023_to_2026_headers_are_in_the_shim() {
    // pte_index(), kvtopte(), every UVMHIST spelling, the pmap histories.
    let src = root().join("c-reference/tests/data/later-interfaces.c");
    let r = check(&src, &[]);
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn an_interface_the_shim_still_lacks_is_still_one_missing_line() {
    // The same source calling a hardware-page-walker hook the shim does not
    // model: the build must still stop with one line naming it, not with a
    // compiler error page, and nothing else may be reported.
    let src = root().join("c-reference/tests/data/later-interfaces.c");
    let r = check(&src, &["-DSHIM_TEST_ABSENT"]);
    let lines: Vec<String> = r.missing.iter().map(|m| m.line()).collect();
    // The line of the call, looked up rather than pinned.
    let at = 1 + std::fs::read_to_string(&src)
        .unwrap()
        .lines()
        .position(|l| l.contains("pmap_md_pdetab_init(pm);"))
        .expect("the source calls pmap_md_pdetab_init");
    assert_eq!(
        lines,
        [format!(
            "missing interface pmap_md_pdetab_init (used at {}:{at}) belongs in shim/include/machine/pmap.h",
            src.display()
        )],
        "{r:?}"
    );
    assert!(r.layout.is_empty() && r.other.is_empty(), "{r:?}");
}

#[test]
fn rev_1_31_spelling_the_pte_index_as_later_revisions_do_builds() {
    // NetBSD's later texts of the file (seen in the 2023 riscv work, where
    // <machine/pte.h> 1.13 gained pte_index()) replace 1.31's open-coded
    // (va >> PGSHIFT) & (NPTEPG - 1) by pte_index(va). Not an official
    // revision (none after 1.31 is vendored): 1.31 with that one change,
    // made here, must build against the shim as 1.31 does.
    let orig =
        std::fs::read_to_string(root().join("c-reference/revisions/pmap_segtab-1.31.c")).unwrap();
    let open_coded = "(va >> PGSHIFT) & (NPTEPG - 1);";
    assert_eq!(
        orig.matches(open_coded).count(),
        2,
        "1.31 computes the index twice"
    );
    let later = orig.replace(open_coded, "pte_index(va);");
    let dir = std::env::temp_dir().join(format!("segtab-pte-index-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("pmap_segtab-1.31-pte_index.c");
    std::fs::write(&src, later).unwrap();
    let r = check(&src, &[]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(r.is_empty(), "{r:?}");
}
