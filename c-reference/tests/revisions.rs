//! The vendored revisions of `revisions/` are NetBSD's texts byte for byte
//! (hashes from `revisions/README.md`, as published in shared/netbsd/revisions).

use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const REVISIONS: &[(&str, &[u8], &str, &str)] = &[
    (
        "pmap_segtab-1.21.c",
        include_bytes!("../revisions/pmap_segtab-1.21.c"),
        "67cbf247e33f5bcd85a1e272173b5df14a9a5fa2db1c6876371025260e5f82c2",
        "$NetBSD: pmap_segtab.c,v 1.21 2020/08/22 13:59:16 skrll Exp $",
    ),
    (
        "pmap_segtab-1.31.c",
        include_bytes!("../revisions/pmap_segtab-1.31.c"),
        "f5e14f1feeb7d2b18ed5a481d527d7722b2b7723dac9c19b9a30e3ad9d7327c1",
        "$NetBSD: pmap_segtab.c,v 1.31 2022/12/21 11:39:46 skrll Exp $",
    ),
];

#[test]
fn vendored_revisions_are_netbsds_texts_byte_for_byte() {
    let readme = include_str!("../revisions/README.md");
    for (file, text, sha, id) in REVISIONS {
        assert_eq!(sha256_hex(text), *sha, "{file} was changed");
        assert!(
            std::str::from_utf8(text).unwrap().contains(id),
            "{file} is not {id}"
        );
        assert!(
            readme.contains(sha),
            "revisions/README.md lacks {file}'s hash"
        );
    }
}

/// Whatever file was compiled (`SEGTAB_C_SOURCE`), the world says which
/// revision it is and what it has: state it lacks is "not in rev X", state
/// rev 1.23 lacks is listed apart, and the 2022 rework's page lists account
/// for every table page of a pmap.
#[test]
fn compiled_revision_reports_what_it_has() {
    use c_reference::{CWorld, Capability, PageList, CONFIGS};
    for c in CONFIGS {
        let mut w = CWorld::open(c.name, 64).unwrap();
        let rev = w.revision();
        let source = std::fs::read_to_string(w.c_source()).unwrap();
        let id = rev.rcsid.clone().expect("every NetBSD revision has an id");
        assert!(source.contains(&id), "{}: {id}", c.name);
        match rev.number() {
            "1.23" | "1.21" => {
                assert!(rev.lacks().is_empty(), "{}: {:?}", c.name, rev.lacks());
                assert!(rev.extra().is_empty(), "{}: {:?}", c.name, rev.extra());
                assert_eq!(w.pmap_pages(1, PageList::Segtab), None);
            }
            "1.31" => {
                let mut want = vec![Capability::Carving, Capability::UnmapPoolpage];
                if c.ptp_cache {
                    want.insert(0, Capability::PtpCache);
                }
                assert_eq!(rev.lacks(), want, "{}", c.name);
                assert_eq!(rev.extra(), vec![Capability::PageLists], "{}", c.name);
                assert_eq!(
                    rev.not_in(Capability::Carving),
                    "segtab carving: not in rev 1.31"
                );
                w.segtab_init(1, 0).unwrap().unwrap();
                let va = 3u64 << c.segshift;
                w.pte_reserve(1, va, 0).unwrap().unwrap();
                let segtabs = w.pmap_pages(1, PageList::Segtab).unwrap();
                let ptpages = w.pmap_pages(1, PageList::Ptpage).unwrap();
                assert_eq!(segtabs.len(), if c.lp64 { 2 } else { 1 }, "{}", c.name);
                assert_eq!(ptpages.len(), 1, "{}", c.name);
                assert_eq!(
                    w.state().pm_npages[1] as usize,
                    segtabs.len() + ptpages.len(),
                    "{}",
                    c.name
                );
                w.segtab_destroy(1, None::<&mut fn(&mut shim::PagePool, _)>, 0)
                    .unwrap()
                    .unwrap();
                assert_eq!(w.pmap_pages(1, PageList::Ptpage), Some(vec![]));
                assert_eq!(w.state().pm_npages[1], 0);
            }
            other => eprintln!("{}: rev {other}: no expectations here", c.name),
        }
    }
}
