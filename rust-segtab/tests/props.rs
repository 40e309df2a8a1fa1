//! Model-based property tests: random sequences of reserve / write / lookup
//! / process / destroy against a simple model of the two-level table.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use proptest::prelude::*;
use rust_segtab::machines::*;
use rust_segtab::{Machine, Pmap, PteRef, Word};

#[derive(Clone, Debug)]
enum Op {
    Reserve(u64, u32),
    Lookup(u64),
    /// sva, number of segments, extra pages
    Process(u64, u64, u64),
    /// last segments up to the top of the address space
    ProcessTop(u64, u64),
    Recycle,
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u64..3, 0u64..4, 0u64..6, 0u64..0x1000).prop_map(|(x, s, p, o)| (x, s, p, o)).prop_map(|t| t.0 << 40 | t.1 << 36 | t.2 << 8 | t.3),
        1 => any::<u64>(),
        1 => (0u64..8).prop_map(|k| u64::MAX - (k << 12)),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (addr(), any::<u32>()).prop_map(|(a, v)| Op::Reserve(a, v)),
        3 => addr().prop_map(Op::Lookup),
        2 => (addr(), 0u64..40, 0u64..8).prop_map(|(a, n, x)| Op::Process(a, n, x)),
        1 => (0u64..4, 0u64..3).prop_map(|(n, k)| Op::ProcessTop(n, k)),
        1 => Just(Op::Recycle),
    ];
    let max = if cfg!(miri) { 6 } else { 40 };
    prop::collection::vec(op, 1..max)
}

/// Spreads the generated address bits onto the machine's segment and page
/// fields, so that collisions in the same segment are frequent.
fn place<M: Machine>(a: u64) -> M::Vaddr {
    let (x, s, p, o) = (
        a >> 40 & 0xffffff,
        a >> 36 & 0xf,
        a >> 8 & 0xfffffff,
        a & 0xff,
    );
    let spread = if a >> 40 < 3 && (a >> 8) & 0xfff_ffff < 6 {
        let xs = if M::LP64 { x << M::XSEGSHIFT } else { 0 };
        xs | s << M::SEGSHIFT | p << M::PGSHIFT | o << 2
    } else {
        a
    };
    M::Vaddr::from_u64(spread)
}

/// Slots per segtab, from the type's size (not the port's constants).
fn slots<M: Machine>() -> u64 {
    (std::mem::size_of::<M::Segtab>() / std::mem::size_of::<*mut u8>()) as u64
}

/// Key of the PTE page a va maps to (including the index wrap-around
/// quirk), computed by division and remainder from the geometry, not with
/// the port's shifts and masks.
fn seg_key<M: Machine>(va: M::Vaddr) -> (usize, usize) {
    let v = va.to_u64() as u128;
    let x = if M::LP64 {
        (v / (1u128 << M::XSEGSHIFT)) % slots::<M>() as u128
    } else {
        0
    };
    (
        x as usize,
        ((v / (1u128 << M::SEGSHIFT)) % slots::<M>() as u128) as usize,
    )
}

fn pte_idx<M: Machine>(va: M::Vaddr) -> usize {
    let ptes_per_page = (1u64 << M::PGSHIFT) / std::mem::size_of::<M::Pte>() as u64;
    ((va.to_u64() / (1u64 << M::PGSHIFT)) % ptes_per_page) as usize
}

fn run<M: Machine>(ops: Vec<Op>) {
    let p = port::<M>(10_000);
    let mut pm = Pmap::<M>::new(M::Vaddr::ZERO);
    p.segtab_init(&mut pm);
    let mut segs: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut vals: BTreeMap<((usize, usize), usize), u64> = BTreeMap::new();
    let bits = M::Vaddr::BITS;
    for op in ops {
        match op {
            Op::Reserve(a, v) => {
                let va = place::<M>(a);
                let r = p.pte_reserve(&pm, va, 0).unwrap();
                assert_eq!(r.index(), pte_idx::<M>(va));
                let key = seg_key::<M>(va);
                let expect = *vals.get(&(key, pte_idx::<M>(va))).unwrap_or(&0);
                assert_eq!(r.read().to_u64(), expect);
                let v = M::Pte::from_u64(v as u64 | 1);
                r.write(v);
                segs.insert(key);
                vals.insert((key, pte_idx::<M>(va)), v.to_u64());
            }
            Op::Lookup(a) => {
                let va = place::<M>(a);
                let key = seg_key::<M>(va);
                match p.pte_lookup(&pm, va) {
                    None => assert!(!segs.contains(&key)),
                    Some(r) => {
                        assert!(segs.contains(&key));
                        assert_eq!(r.index(), pte_idx::<M>(va));
                        let expect = *vals.get(&(key, pte_idx::<M>(va))).unwrap_or(&0);
                        assert_eq!(r.read().to_u64(), expect);
                    }
                }
            }
            Op::Process(..) | Op::ProcessTop(..) => {
                let (sva, eva) = match op {
                    Op::Process(a, n, x) => {
                        let sva = place::<M>(a);
                        let len = n * M::NBSEG + x * M::NBPG as u64;
                        (sva, sva.wrapping_add(M::Vaddr::from_u64(len)))
                    }
                    Op::ProcessTop(n, k) => {
                        let eva = M::Vaddr::MAX.wrapping_sub(M::Vaddr::from_u64(k));
                        (
                            eva.wrapping_sub(M::Vaddr::from_u64(n * M::NBSEG + 0x3000)),
                            eva,
                        )
                    }
                    _ => unreachable!(),
                };
                let mut got = Vec::new();
                p.pte_process(
                    &pm,
                    sva,
                    eva,
                    &mut |_, s, e, pte: PteRef<'_, M>, f| {
                        assert_eq!(f, 9);
                        got.push((s.to_u64(), e.to_u64(), pte.index()));
                        true
                    },
                    9,
                );
                // independent model with u128 arithmetic
                let mut want = Vec::new();
                let (mut cur, end) = (sva.to_u64() as u128, eva.to_u64() as u128);
                let limit = 1u128 << bits;
                let nbseg = M::NBSEG as u128;
                while cur < end {
                    let mut next = (cur / nbseg + 1) * nbseg;
                    if next >= limit || next > end {
                        next = end;
                    }
                    let cva = M::Vaddr::from_u64(cur as u64);
                    if segs.contains(&seg_key::<M>(cva)) {
                        want.push((cur as u64, next as u64, pte_idx::<M>(cva)));
                    }
                    cur = next;
                }
                assert_eq!(got, want);
            }
            Op::Recycle => {
                // clear the PTEs (DEBUG checks them), destroy, re-init
                for ((x, s), i) in vals.keys() {
                    let va = if M::LP64 {
                        (*x as u64) << M::XSEGSHIFT
                    } else {
                        0
                    } | (*s as u64) << M::SEGSHIFT
                        | (*i as u64) << M::PGSHIFT;
                    p.pte_lookup(&pm, M::Vaddr::from_u64(va))
                        .unwrap()
                        .write(M::Pte::ZERO);
                }
                vals.clear();
                segs.clear();
                p.segtab_destroy(&mut pm, None, 0);
                assert!(pm.pm_segtab().is_null());
                p.segtab_init(&mut pm);
            }
        }
    }
}

fn cases() -> u32 {
    if cfg!(miri) {
        4
    } else {
        96
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn model_mips_n64_4k(ops in ops()) { run::<MipsN64_4k>(ops); }

    #[test]
    fn model_riscv64(ops in ops()) { run::<Riscv64Sv39Shape>(ops); }

    #[test]
    fn model_mips_o32_4k(ops in ops()) { run::<MipsO32_4k>(ops); }

    #[test]
    fn model_mips_o32_16k(ops in ops()) { run::<MipsO32_16k>(ops); }

    #[test]
    fn model_booke(ops in ops()) { run::<PowerpcBooke>(ops); }

    #[test]
    fn model_mips_n64_16k(ops in ops()) { run::<MipsN64_16k>(ops); }
}
