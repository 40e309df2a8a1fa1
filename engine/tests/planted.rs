//! The incremental comparison must not let through anything the full one
//! would catch: differences planted on one side, away from what the
//! following steps touch, must still be reported (by the next deep
//! comparison at the latest: every K steps and at the end).

use segtab_diff::model::{Action, CbKind};
use segtab_diff::run::Pair;
use segtab_diff::side::Side;
use shim::inspect::{PteLoc, Ptr};
use shim::PagePool;

/// Run `actions` with deep comparison only at the last step; return the
/// index of the first step that reported a difference.
fn first_diff(pair: &mut Pair, actions: &[Action]) -> Option<usize> {
    for (i, a) in actions.iter().enumerate() {
        let (_, diffs) = pair.step(a, i + 1 == actions.len());
        if !diffs.is_empty() {
            return Some(i);
        }
    }
    None
}

fn setup(pair: &mut Pair) -> Vec<PteLoc> {
    pair.reset();
    let c = pair.config;
    let seg = 1u64 << c.segshift;
    let mut locs = Vec::new();
    let mut acts = vec![
        Action::Create {
            pmap: 1,
            minaddr: 0,
        },
        Action::Create {
            pmap: 2,
            minaddr: 0,
        },
    ];
    for k in 1..6u64 {
        acts.push(Action::Enter {
            pmap: 1,
            va: k * seg + 0x3000,
            value: 0x8000_0011,
            flags: 0,
        });
        acts.push(Action::Reserve {
            pmap: 2,
            va: k * seg,
            flags: 0,
        });
    }
    // Fill the free list and (where configured) the PTP cache.
    acts.push(Action::Destroy {
        pmap: 2,
        cb: None,
        flags: 0,
    });
    for a in &acts {
        let (end, diffs) = pair.step(a, true);
        assert!(
            diffs.is_empty(),
            "{}: setup diverged at {a}: {diffs:?}",
            c.name
        );
        if let segtab_diff::side::StepEnd::Ok(Some(l)) = end {
            locs.push(l);
        }
    }
    locs
}

/// Steps that touch only segment 40 of pmap 1.
fn elsewhere(pair: &Pair, n: usize) -> Vec<Action> {
    let seg = 1u64 << pair.config.segshift;
    (0..n)
        .map(|k| match k % 3 {
            0 => Action::Lookup {
                pmap: 1,
                va: 40 * seg,
            },
            1 => Action::Enter {
                pmap: 1,
                va: 40 * seg + 0x1000,
                value: 0x8000_0007,
                flags: 0,
            },
            _ => Action::Process {
                pmap: 1,
                sva: 40 * seg,
                eva: 41 * seg,
                cb: CbKind::Count,
                flags: 0,
            },
        })
        .collect()
}

fn each(plant: impl Fn(&mut Pair, &[PteLoc]) -> bool, what: &str) {
    let mut planted = 0;
    for c in c_reference::CONFIGS {
        let mut pair = Pair::open(c.name, 256).unwrap();
        let locs = setup(&mut pair);
        if !plant(&mut pair, &locs) {
            continue;
        }
        planted += 1;
        let acts = elsewhere(&pair, 12);
        let at = first_diff(&mut pair, &acts);
        assert!(
            at.is_some(),
            "{}: planted {what} escaped the comparison",
            c.name
        );
    }
    assert!(planted > 0, "{what}: nothing planted");
}

#[test]
fn a_pte_changed_on_one_side_is_caught() {
    each(
        |pair, locs| {
            let Some(&PteLoc::In { pfn, index, .. }) = locs.first() else {
                return false;
            };
            let bytes = pair.config.pte_bits / 8;
            pair.r
                .pool_mut()
                .write_word(pfn, index * bytes, bytes, 0x8000_0099);
            true
        },
        "PTE",
    );
}

#[test]
fn a_dropped_page_table_is_caught() {
    each(
        |pair, _| {
            // Clear the first non-null seg_tab slot of pmap 1 on the C side.
            let g = pair.c.geometry();
            let Ptr::Page(root) = pair.c.root(1) else {
                return false;
            };
            let pool: &mut PagePool = pair.c.pool_mut();
            let st = if g.lp64 {
                match Ptr::classify(pool, pool.read_word(root.pfn, root.off, 8)) {
                    Ptr::Page(r) => r,
                    _ => return false,
                }
            } else {
                root
            };
            for i in 0..g.segtabsize {
                if pool.read_word(st.pfn, st.off + 8 * i, 8) != 0 {
                    pool.write_word(st.pfn, st.off + 8 * i, 8, 0);
                    return true;
                }
            }
            false
        },
        "page-table slot",
    );
}

#[test]
fn a_truncated_free_list_is_caught() {
    each(
        |pair, _| {
            let g = pair.r.geometry();
            let head = pair.r.summary().free_head;
            let Ptr::Page(h) = head else { return false };
            let pool = pair.r.pool_mut();
            if pool.read_word(h.pfn, h.off, 8) == 0 {
                return false;
            }
            let _ = g;
            pool.write_word(h.pfn, h.off, 8, 0);
            true
        },
        "free-list link",
    );
}

#[test]
fn a_broken_ptp_cache_is_caught() {
    each(
        |pair, _| {
            let Some(head) = pair.r.summary().ptp_head else {
                return false;
            };
            let pool = pair.r.pool_mut();
            if pool.list_next(head).is_none() {
                return false;
            }
            pool.set_list_next(head, None);
            true
        },
        "PTP cache link",
    );
}
