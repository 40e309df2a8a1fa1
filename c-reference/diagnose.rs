// Missing shim interfaces, reported one line each instead of a screen of
// compiler errors or a linker dump.
//
// build.rs runs the compiler over each configuration's world.c with
// -fsyntax-only first, captures its diagnostics and, when the file under
// test needs something the shim does not provide, prints
//
//     missing interface NAME (used at FILE:LINE) belongs in shim/include/HEADER
//
// per interface (and `unknown layout ...` where world.c cannot read the
// revision's own state), then fails with a one-line summary. The lines are
// stable and start with those words so a wrapper can pick them out of
// cargo's output. tests/missing_interfaces.rs includes this file to test
// the parser on gcc's and clang's wording and on real compiles.
//
// Written to be `include!`d or used as a module: it needs only std.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What kind of thing the source uses and the shim lacks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A function called without a declaration.
    Function,
    /// An identifier (macro, constant, variable) never declared.
    Identifier,
    /// A type name, or a struct/union whose definition is missing.
    Type,
    /// A member of a shim struct (`S.member`).
    Member,
    /// A macro tested in `#if` that the shim should define (-Wundef).
    Macro,
    /// A header the file includes that the shim does not have.
    Header,
}

/// One thing the file under test needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Missing {
    /// `pte_zero_p`, `pmap.pm_uobject`, `struct kcpuset`.
    pub name: String,
    /// Where the file under test uses it (`path:line`).
    pub used_at: String,
    /// The shim header it belongs in (relative to shim/include), or a hint.
    pub header: String,
    /// What it is.
    pub kind: Kind,
}

impl Missing {
    /// The machine-readable line.
    pub fn line(&self) -> String {
        let place = match self.header.strip_prefix("../") {
            Some(csrc) => format!("shim/{csrc}"),
            None => format!("shim/include/{}", self.header),
        };
        format!(
            "missing interface {} (used at {}) belongs in {place}",
            self.name, self.used_at
        )
    }
}

/// Everything a failed syntax check said, sorted out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Interfaces the file under test needs and the shim lacks.
    pub missing: Vec<Missing>,
    /// State world.c reads that this revision keeps elsewhere: lines
    /// `unknown layout NAME (read at FILE:LINE) ...`.
    pub layout: Vec<String>,
    /// Errors neither of the above explains (`FILE:LINE: error: ...`).
    pub other: Vec<String>,
}

impl Report {
    /// Nothing the build must stop for.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.layout.is_empty() && self.other.is_empty()
    }
}

/// The shim header a NetBSD kernel interface belongs in, by name: the
/// headers NetBSD declares them in, as the shim mirrors them.
pub fn header_for(name: &str) -> String {
    const EXACT: &[(&str, &[&str])] = &[
        (
            "sys/cdefs.h",
            &[
                "__KERNEL_RCSID",
                "__CTASSERT",
                "CTASSERT",
                "__diagused",
                "__debugused",
                "__unused",
                "__used",
                "__predict_true",
                "__predict_false",
                "__cacheline_aligned",
                "__aligned",
                "__packed",
                "__dead",
                "__printflike",
                "__BIT",
                "__BITS",
                "__SHIFTIN",
                "__SHIFTOUT",
                "__arraycount",
            ],
        ),
        (
            "sys/types.h",
            &[
                "vaddr_t",
                "vsize_t",
                "paddr_t",
                "psize_t",
                "voff_t",
                "u_int",
                "u_long",
                "register_t",
                "vm_prot_t",
                "PRIxVADDR",
                "PRIxPADDR",
                "PRIxVSIZE",
            ],
        ),
        (
            "machine/param.h",
            &[
                "PAGE_SIZE",
                "PAGE_MASK",
                "PAGE_SHIFT",
                "NBPG",
                "PGSHIFT",
                "PGOFSET",
                "round_page",
                "trunc_page",
            ],
        ),
        (
            "machine/pmap.h",
            &[
                "pt_entry_t",
                "pd_entry_t",
                "PRIxPTE",
                "SEGSHIFT",
                "NBSEG",
                "SEGOFSET",
                "XSEGSHIFT",
                "NBXSEG",
                "XSEGOFSET",
                "XSEGLENGTH",
                "NSEGPG",
                "NXSEGPG",
                "NPTEPG",
                "NPDEPG",
                "PMAP_SEGTABSIZE",
                "PMAP_PDETABSIZE",
                "PMAP_INVALID_SEGTAB_ADDRESS",
                "PMAP_ALLOC_POOLPAGE",
                "PMAP_MAP_POOLPAGE",
                "PMAP_UNMAP_POOLPAGE",
                "PMAP_MAP_PTEPAGE",
                "PMAP_MAP_SEGTABPAGE",
                "PMAP_MAP_PDETABPAGE",
            ],
        ),
        (
            "uvm/pmap/pmap.h",
            &[
                "pmap_segtab_t",
                "pmap_ptpage_t",
                "pmap_pdetab_t",
                "pte_callback_t",
                "pmap_t",
                "pmap_trunc_seg",
                "pmap_round_seg",
                "pmap_kernel",
                "PMAP_CANFAIL",
                "pmap_lock",
                "pmap_unlock",
                "pmap_kern_segtab",
                "pmap_kern_pdetab",
                "pmaphist",
                "pmapxtabhist",
                "pmapsegtabhist",
                "kvtopte",
                "pmapexechist",
                "pmap_limits",
                "pmap_pte_lookup",
                "pmap_pte_reserve",
                "pmap_pte_process",
                "pmap_segtab_init",
                "pmap_segtab_destroy",
                "pmap_segtab_activate",
                "pmap_segtab_deactivate",
                "pmap_pde_lookup",
                "pmap_pdetab_fixup",
            ],
        ),
        (
            "uvm/uvm_page.h",
            &[
                "VM_PAGE_TO_PHYS",
                "PHYS_TO_VM_PAGE",
                "uvm_pagefree",
                "uvm_pagealloc",
                "uvm_wait",
                "UVM_PAGE_OWN",
                "pgflist",
                "pglist",
                "vm_page_t",
            ],
        ),
        (
            "uvm/uvm_extern.h",
            &["uvm_km_alloc", "uvm_km_free", "kernel_map", "uvm_flag_t"],
        ),
        (
            "uvm/uvm_pmap.h",
            &[
                "pmap_extract",
                "pmap_kenter_pa",
                "pmap_kremove",
                "pmap_update",
            ],
        ),
        ("uvm/uvm_object.h", &["uvm_object"]),
        (
            "sys/systm.h",
            &[
                "panic",
                "printf",
                "KASSERT",
                "KASSERTMSG",
                "KDASSERT",
                "KDASSERTMSG",
            ],
        ),
        (
            "sys/proc.h",
            &[
                "curlwp", "curcpu", "lwp", "proc", "cpu_info", "vmspace", "vm_map",
            ],
        ),
        ("sys/mutex.h", &["kmutex_t"]),
        (
            "sys/rwlock.h",
            &["krwlock_t", "krw_t", "RW_WRITER", "RW_READER"],
        ),
        ("sys/kcpuset.h", &["kcpuset_t", "kcpuset"]),
    ];
    const PREFIX: &[(&str, &str)] = &[
        ("pte_", "machine/pmap.h"),
        ("pmap_md_", "machine/pmap.h"),
        ("PMAP_", "machine/pmap.h"),
        ("UVM_KMF_", "uvm/uvm_extern.h"),
        ("UVM_FLAG_", "uvm/uvm_extern.h"),
        ("UVM_PGA_", "uvm/uvm_page.h"),
        ("UVMHIST_", "uvm/uvm_stat.h"),
        ("KERNHIST_", "sys/kernhist.h"),
        ("LIST_", "sys/queue.h"),
        ("TAILQ_", "sys/queue.h"),
        ("SLIST_", "sys/queue.h"),
        ("STAILQ_", "sys/queue.h"),
        ("atomic_", "sys/atomic.h"),
        ("membar_", "sys/atomic.h"),
        ("mutex_", "sys/mutex.h"),
        ("rw_", "sys/rwlock.h"),
        ("kcpuset_", "sys/kcpuset.h"),
        ("uvm_km_", "uvm/uvm_extern.h"),
        ("uvm_", "uvm/uvm_extern.h"),
        ("__", "sys/cdefs.h"),
        ("PRIx", "sys/types.h"),
    ];
    let bare = name.strip_prefix("struct ").unwrap_or(name);
    let bare = bare.strip_prefix("union ").unwrap_or(bare);
    // Members: by the struct they belong to.
    if let Some((owner, _)) = bare.split_once('.') {
        return match owner {
            "pmap" | "pmap_t" | "pmap_segtab" | "pmap_segtab_t" | "pmap_ptpage_t" => {
                "uvm/pmap/pmap.h"
            }
            "vm_page" => "segtab_shim_api.h (struct vm_page, shared with the Rust pool)",
            "cpu_info" | "lwp" | "proc" | "vmspace" | "vm_map" => "sys/proc.h",
            "uvm_object" => "uvm/uvm_object.h",
            "kmutex" => "sys/mutex.h",
            "krwlock" => "sys/rwlock.h",
            _ => "the header that defines that struct",
        }
        .to_string();
    }
    for (header, names) in EXACT {
        if names.contains(&bare) {
            return header.to_string();
        }
    }
    for (prefix, header) in PREFIX {
        if bare.starts_with(prefix) {
            return header.to_string();
        }
    }
    "? (not a known NetBSD interface: find its header in NetBSD's sys/ of the revision's date)"
        .to_string()
}

/// Whether `header_for` knows `name` (for -Wundef, which also fires for
/// kernel options a file tests on purpose).
fn known(name: &str) -> bool {
    !header_for(name).starts_with('?')
}

/// The text between the first pair of ASCII quotes after `after`.
fn quoted(msg: &str, after: &str) -> Option<String> {
    let rest = &msg[msg.find(after)? + after.len()..];
    let rest = &rest[rest.find(['\'', '"'])? + 1..];
    let end = rest.find(['\'', '"'])?;
    Some(rest[..end].to_string())
}

struct Diag {
    file: String,
    line: u32,
    severity: String,
    msg: String,
    /// Locations of the notes that follow it (macro expansions).
    notes: Vec<(String, u32)>,
}

fn parse_lines(out: &str) -> Vec<Diag> {
    let mut v: Vec<Diag> = Vec::new();
    for l in out.lines() {
        // FILE:LINE:COL: SEVERITY: MESSAGE
        let mut parts = l.splitn(5, ':');
        let (Some(file), Some(line), Some(_col), Some(sev), Some(msg)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let Ok(line) = line.parse::<u32>() else {
            continue;
        };
        let sev = sev.trim().trim_start_matches("fatal ").to_string();
        let msg = msg.trim().to_string();
        if sev == "note" {
            // Only macro expansions lead from a shim macro to its use.
            if msg.contains("expansion of macro") || msg.contains("expanded from macro") {
                if let Some(d) = v.last_mut() {
                    d.notes.push((file.to_string(), line));
                }
            }
            continue;
        }
        v.push(Diag {
            file: file.to_string(),
            line,
            severity: sev,
            msg,
            notes: Vec::new(),
        });
    }
    v
}

/// Whether the file under test declares `name` itself (a KNF function
/// definition `name(` at the start of a line, a macro, a typedef, or a
/// variable with an initializer): then an error about it follows from
/// another one (a type the shim lacks, an `#if` branch the shim does not
/// model), not from a missing interface.
fn declared_by(text: &str, name: &str) -> bool {
    // `type name = ...`, `type *name;`, `type * const name = ...`: only
    // identifiers, spaces and `*` before the name.
    let declarator = |t: &str, end: &str| -> bool {
        t.find(&format!("{name}{end}")).is_some_and(|k| {
            let before = t[..k].trim_end();
            !before.is_empty()
                && before
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ' ' || ch == '*')
                && before.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
        })
    };
    text.lines().any(|l| {
        let t = l.trim();
        l.starts_with(&format!("{name}("))
            || t.starts_with(&format!("#define {name}"))
            || t.starts_with(&format!("}} {name};"))
            || declarator(t, " = ")
            || declarator(t, ";")
    })
}

/// Sort a compiler's diagnostics (gcc or clang, run with LC_ALL=C) about
/// `source` (the file under test) into a [`Report`]. `text` is the source's
/// text (to tell its own names from interfaces).
pub fn classify(out: &str, source: &str, text: &str, shim_root: &str) -> Report {
    let mut r = Report::default();
    let short = |file: &str| -> String {
        file.strip_prefix(shim_root)
            .map(|s| format!("shim{s}"))
            .unwrap_or_else(|| file.to_string())
    };
    for d in parse_lines(out) {
        // Where the file under test uses it: the error itself, or the first
        // macro expansion in the file under test.
        let at = std::iter::once((d.file.clone(), d.line))
            .chain(d.notes.iter().cloned())
            .find(|(f, _)| f == source)
            .unwrap_or((d.file.clone(), d.line));
        let used_at = format!("{}:{}", short(&at.0), at.1);
        let m = &d.msg;
        let found = if d.severity == "warning" {
            // -Wundef: only names the shim should define.
            quoted(m, "")
                .filter(|n| m.contains("is not defined, evaluates to 0") && known(n))
                .map(|n| (n, Kind::Macro))
        } else if d.severity != "error" {
            None
        } else if let Some(h) = m
            .strip_suffix(": No such file or directory")
            .map(str::to_string)
            .or_else(|| {
                m.strip_suffix(" file not found")
                    .and_then(|q| quoted(q, ""))
            })
        {
            // gcc: `sys/cpu.h: No such file or directory`; clang:
            // `'sys/cpu.h' file not found`.
            Some((h, Kind::Header))
        } else if let Some(n) = quoted(m, "implicit declaration of function")
            .or_else(|| quoted(m, "call to undeclared function"))
            .or_else(|| quoted(m, "call to undeclared library function"))
        {
            Some((n, Kind::Function))
        } else if let Some(n) = quoted(m, "use of undeclared identifier")
            .or_else(|| m.contains("undeclared").then(|| quoted(m, "")).flatten())
        {
            Some((n, Kind::Identifier))
        } else if let Some(n) = quoted(m, "unknown type name") {
            Some((n, Kind::Type))
        } else if let Some(member) = quoted(m, "no member named") {
            // clang: no member named 'x' in 'struct s'; gcc: 'struct s'
            // {aka ...} has no member named 'x'
            let owner = if m.starts_with("no member named") {
                quoted(m, " in ")
            } else {
                quoted(m, "{aka ").or_else(|| quoted(m, ""))
            };
            owner.map(|o| {
                let o = o.trim_start_matches("struct ").trim_start_matches("union ");
                (format!("{o}.{member}"), Kind::Member)
            })
        } else if let Some(n) = quoted(m, "incomplete type")
            .or_else(|| quoted(m, "invalid use of undefined type"))
            .or_else(|| quoted(m, "incomplete definition of type"))
        {
            Some((n, Kind::Type))
        } else if m.starts_with("storage size of") {
            // gcc names the variable, not its type
            quoted(m, "storage size of").map(|v| (format!("type of {v}"), Kind::Type))
        } else {
            quoted(m, "function-like macro").map(|n| (n, Kind::Macro))
        };
        match found {
            // The revision's own state that world.c reads where the
            // revision does not keep it: world.c must learn the layout.
            Some((name, Kind::Member))
                if d.file != source && name.contains("pmap_segtab_info.") =>
            {
                r.layout.push(format!(
                    "unknown layout {} (read at {used_at}): teach shim/csrc/world.c this revision's layout (SHIM_REV_*)",
                    name.split_once("pmap_segtab_info").map_or(name.clone(), |(_, f)| format!("pmap_segtab_info{f}")),
                ));
            }
            Some((name, Kind::Header)) => {
                // A header belongs where its own path says.
                r.missing.push(Missing {
                    name: format!("<{name}>"),
                    used_at,
                    header: name,
                    kind: Kind::Header,
                });
            }
            Some((name, kind))
                if (at.0 == source || kind == Kind::Macro) && !declared_by(text, &name) =>
            {
                let header = header_for(&name);
                r.missing.push(Missing {
                    name,
                    used_at,
                    header,
                    kind,
                });
            }
            _ if d.severity == "error" => {
                r.other
                    .push(format!("{}:{}: error: {}", short(&d.file), d.line, d.msg));
            }
            _ => {}
        }
    }
    r.missing.sort();
    r.missing.dedup();
    r.layout.sort();
    r.layout.dedup();
    r.other.sort();
    r.other.dedup();
    r
}

/// Run `cmd` (a compiler invocation without the input) with
/// -fsyntax-only over `input`, in the C locale, and classify what it says.
pub fn syntax_check(mut cmd: Command, input: &Path, source: &str, shim_root: &str) -> Report {
    let text = std::fs::read_to_string(source).unwrap_or_default();
    cmd.env("LC_ALL", "C")
        .env("LANG", "C")
        .arg("-fsyntax-only")
        .arg("-fdiagnostics-color=never")
        .arg("-Wundef")
        .arg(input);
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            return Report {
                other: vec![format!("cannot run the compiler: {e}")],
                ..Report::default()
            }
        }
    };
    let mut r = classify(
        &String::from_utf8_lossy(&out.stderr),
        source,
        &text,
        shim_root,
    );
    if !out.status.success() && r.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        r.other
            .push(err.lines().take(20).collect::<Vec<_>>().join("\n"));
    }
    if out.status.success() {
        // Warnings alone do not stop the build; only -Wundef on a name the
        // shim should define does.
        r.other.clear();
    }
    r
}

/// Merge the reports of several configurations: one line per missing
/// interface (at its first use), then the layouts world.c cannot read, each
/// with the configurations it came from when not all of them. Errors that
/// follow from others are listed only when nothing else explains the
/// failure (or when `all` is set); returns the lines and how many were
/// left out.
pub fn merge(reports: &[(&str, Report)], all: bool) -> (Vec<String>, usize) {
    let line_no = |at: &str| -> u64 {
        at.rsplit(':')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let mut missing: BTreeMap<String, (Missing, Vec<&str>)> = BTreeMap::new();
    let mut rest: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut other: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (config, r) in reports {
        for m in &r.missing {
            let e = missing
                .entry(m.name.clone())
                .or_insert_with(|| (m.clone(), Vec::new()));
            if line_no(&m.used_at) < line_no(&e.0.used_at) {
                e.0 = m.clone();
            }
            if !e.1.contains(config) {
                e.1.push(config);
            }
        }
        for l in &r.layout {
            rest.entry(l.clone()).or_default().push(config);
        }
        for l in &r.other {
            other.entry(l.clone()).or_default().push(config);
        }
    }
    let tag = |l: String, cs: &[&str]| -> String {
        if cs.len() == reports.len() {
            l
        } else {
            format!("{l} [{}]", cs.join(", "))
        }
    };
    let mut out: Vec<String> = missing
        .into_values()
        .map(|(m, cs)| tag(m.line(), &cs))
        .chain(rest.into_iter().map(|(l, cs)| tag(l, &cs)))
        .collect();
    let mut left_out = 0;
    if out.is_empty() || all {
        out.extend(other.into_iter().map(|(l, cs)| tag(l, &cs)));
    } else {
        left_out = other.len();
    }
    (out, left_out)
}

/// The file's entry points, which shim/csrc/world.c calls.
pub const ENTRY_POINTS: &[&str] = &[
    "pmap_pte_lookup",
    "pmap_pte_reserve",
    "pmap_pte_process",
    "pmap_segtab_init",
    "pmap_segtab_destroy",
    "pmap_segtab_activate",
    "pmap_segtab_deactivate",
];

/// After a successful compile: symbols of this configuration (`prefix`)
/// that the archive uses and does not define, so the link would fail; one
/// line each instead. A shim symbol declared but defined nowhere is a
/// missing interface (used at the source's first call or declaration); an
/// entry point the harness calls and the file does not define is
/// `missing entry point NAME (called by shim/csrc/world.c): not in this
/// revision`. `None` if `nm` cannot be run (the linker will still say it).
pub fn undefined_symbols(archive: &Path, prefix: &str, source: &str) -> Option<Vec<String>> {
    let out = Command::new("nm")
        .env("LC_ALL", "C")
        .arg(archive)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut defined = std::collections::BTreeSet::new();
    let mut undefined = std::collections::BTreeSet::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            ["U", sym] => {
                undefined.insert(sym.to_string());
            }
            [_, _, sym] => {
                defined.insert(sym.to_string());
            }
            _ => {}
        }
    }
    let src = std::fs::read_to_string(source).unwrap_or_default();
    Some(
        undefined
            .into_iter()
            .filter(|s| s.starts_with(prefix) && !defined.contains(s))
            .map(|s| {
                let name = s[prefix.len()..].to_string();
                if ENTRY_POINTS.contains(&name.as_str()) {
                    return format!(
                        "missing entry point {name} (called by shim/csrc/world.c): \
                         not in this revision"
                    );
                }
                // its first call or declaration, comments aside
                let line = src
                    .lines()
                    .position(|l| {
                        let t = l.trim_start();
                        !t.starts_with('*')
                            && !t.starts_with('/')
                            && l.contains(&format!("{name}("))
                    })
                    .map_or("?".to_string(), |i| (i + 1).to_string());
                Missing {
                    used_at: format!("{source}:{line}"),
                    header: "../csrc/world.c (declared by a shim header, defined nowhere)"
                        .to_string(),
                    name,
                    kind: Kind::Function,
                }
                .line()
            })
            .collect(),
    )
}
