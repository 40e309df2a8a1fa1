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
