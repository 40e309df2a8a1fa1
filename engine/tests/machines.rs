//! The Rust machine of every configuration has the C's constants and
//! `#ifdef` options: the configuration table says what the C was compiled
//! with, and the C itself reports what its compiler saw.

use c_reference::{CWorld, CONFIGS};
use segtab_diff::port_side::machine_facts;

#[test]
fn rust_machines_match_the_c() {
    for c in CONFIGS {
        let m = machine_facts(c.name).unwrap_or_else(|| panic!("{}: no Rust machine", c.name));
        let w = CWorld::open(c.name, 4).unwrap();
        let cc = w.c_config();
        let table = (
            c.lp64,
            c.pgshift,
            c.segshift,
            c.xsegshift,
            c.segtabsize,
            c.pte_bits,
        );
        let compiled = (
            cc.lp64 != 0,
            cc.pgshift,
            cc.segshift,
            cc.xsegshift,
            cc.segtabsize,
            cc.pte_bytes * 8,
        );
        let rust = (
            m.lp64,
            m.pgshift,
            m.segshift,
            m.xsegshift,
            m.segtabsize,
            m.pte_bits,
        );
        assert_eq!(table, compiled, "{}: table vs the C's compiler", c.name);
        assert_eq!(rust, compiled, "{}: Rust machine vs the C", c.name);
        let opts = |d: bool, g: bool, mp: bool, ptp: bool| (d, g, mp, ptp);
        let c_opts = opts(
            cc.debug != 0,
            cc.diagnostic != 0,
            cc.multiprocessor != 0,
            cc.ptp_cache != 0,
        );
        assert_eq!(
            opts(c.debug, c.diagnostic, c.multiprocessor, c.ptp_cache),
            c_opts,
            "{}: table vs the C's DEBUG/DIAGNOSTIC/MULTIPROCESSOR/PMAP_PTP_CACHE",
            c.name
        );
        assert_eq!(
            opts(m.debug, m.diagnostic, m.multiprocessor, m.ptp_cache),
            c_opts,
            "{}: Rust machine vs the C's DEBUG/DIAGNOSTIC/MULTIPROCESSOR/PMAP_PTP_CACHE",
            c.name
        );
    }
}

/// The configurations the matrix promises: carving with an empty loop body
/// (exactly two segtabs per page on this host), and DIAGNOSTIC together with
/// carving.
#[test]
fn the_matrix_covers_the_carving_shapes() {
    assert!(CONFIGS
        .iter()
        .any(|c| !c.lp64 && c.host_segtabs_per_page() == 2));
    assert!(CONFIGS
        .iter()
        .any(|c| c.diagnostic && c.host_segtabs_per_page() > 2));
    assert!(CONFIGS
        .iter()
        .any(|c| c.diagnostic && c.multiprocessor && c.host_segtabs_per_page() > 1));
}
