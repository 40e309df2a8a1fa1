//! The incremental comparison must not let through anything the full one
//! would catch: differences planted on one side, away from what the
//! following steps touch, must still be reported by a *periodic* deep
//! comparison (every K steps; it reads the pages touched since the last
//! one and a rolling window of ROLL others), not only by the final, full
//! one. Every deep pass in these tests is a periodic one.

use segtab_diff::model::{Action, CbKind};
use segtab_diff::run::{Pair, ROLL};
use segtab_diff::side::Side;
use shim::inspect::{PteLoc, Ptr};
use shim::PagePool;

/// The period of the deep comparison in these tests.
const DEEP_EVERY: usize = 4;

/// Run `actions` with a periodic deep comparison every [`DEEP_EVERY`]
/// steps and at the last; return the first step that reported a difference
/// and the categories it reported.
fn first_diff(pair: &mut Pair, actions: &[Action]) -> Option<(usize, Vec<String>)> {
    for (i, a) in actions.iter().enumerate() {
        let deep = (i + 1) % DEEP_EVERY == 0 || i + 1 == actions.len();
        let (_, diffs) = pair.step(a, deep);
        if !diffs.is_empty() {
            return Some((i, diffs.into_iter().map(|d| d.category).collect()));
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

/// Periodic passes the tests allow: the worlds here use fewer than
/// `PASSES * ROLL` frames, so the rolling window reaches every one.
const PASSES: usize = 6;

/// Plant a difference in every configuration where `plant` can, run steps
/// elsewhere, and require a periodic deep pass to report it under
/// `category`.
fn each(plant: impl Fn(&mut Pair, &[PteLoc]) -> bool, what: &str, category: &str) {
    each_with(plant, what, category, |pair| {
        elsewhere(pair, PASSES * DEEP_EVERY)
    })
}

/// [`each`] with other steps after the plant.
fn each_with(
    plant: impl Fn(&mut Pair, &[PteLoc]) -> bool,
    what: &str,
    category: &str,
    steps: impl Fn(&Pair) -> Vec<Action>,
) {
    let mut planted = 0;
    for c in c_reference::CONFIGS {
        let mut pair = Pair::open(c.name, 256).unwrap();
        let locs = setup(&mut pair);
        if !plant(&mut pair, &locs) {
            continue;
        }
        planted += 1;
        let acts = steps(&pair);
        let frames = pair.c.pool().high_water() + 2;
        assert!(
            (frames as usize) < PASSES * ROLL as usize,
            "{}: {frames} frames; raise PASSES",
            c.name
        );
        let Some((at, cats)) = first_diff(&mut pair, &acts) else {
            panic!(
                "{}: planted {what} escaped the periodic deep passes",
                c.name
            );
        };

        assert!(
            cats.iter().any(|x| x == category),
            "{}: planted {what} reported at step {at} as {cats:?}, not {category:?}",
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
        "table",
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
        "table",
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
        "free list",
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
        "ptp cache",
    );
}

/// The head of the port's free list, as a frame and offset.
fn free_head(pair: &mut Pair) -> Option<shim::PageRef> {
    match pair.r.summary().free_head {
        Ptr::Page(h) => Some(h),
        _ => None,
    }
}

#[test]
fn a_stale_slot_in_a_free_segtab_is_caught() {
    each(
        |pair, _| {
            // Not the link: a table left behind in slot 3 of a free segtab.
            let Some(h) = free_head(pair) else {
                return false;
            };
            let pool = pair.r.pool_mut();
            pool.write_word(h.pfn, h.off + 8 * 3, 8, pool.base() as u64);
            true
        },
        "free segtab slot",
        "free list",
    );
}

#[test]
fn a_changed_ptp_cache_page_is_caught() {
    each(
        |pair, _| {
            // The last cached page (the head is the next one reused).
            let Some(mut last) = pair.r.summary().ptp_head else {
                return false;
            };
            let pool = pair.r.pool_mut();
            while let Some(next) = pool.list_next(last) {
                last = next;
            }
            pool.write_word(last, 64, 4, 0x8000_0055);
            true
        },
        "PTP cache page contents",
        "ptp cache",
    );
}

#[test]
fn a_store_into_a_free_page_is_caught() {
    each(
        |pair, _| {
            // A frame the port freed (the destroy in the setup freed PTE
            // pages or, with the PTP cache, at least segtab pages are
            // free-listed; take any free frame below the high-water mark).
            let pool = pair.r.pool_mut();
            let Some(pfn) = (0..pool.high_water()).find(|&p| !pool.is_allocated(p)) else {
                return false;
            };
            pool.write_word(pfn, 40, 4, 0x1234_5678);
            true
        },
        "store into a free page",
        "memory",
    );
}

#[test]
fn a_leaked_page_is_caught() {
    each_with(
        |pair, _| {
            // A page allocated on each side that nothing refers to, but
            // not the same one: as many pages in use, different leak sets.
            let (Some(_), Some(a), Some(_)) = (
                pair.c.pool_mut().alloc(shim::UVM_PGA_ZERO),
                pair.r.pool_mut().alloc(shim::UVM_PGA_ZERO),
                pair.r.pool_mut().alloc(shim::UVM_PGA_ZERO),
            ) else {
                return false;
            };
            pair.r.pool_mut().free(a);
            true
        },
        "leaked page",
        "pages",
        // Lookups only: a new allocation would take different pages on the
        // two sides and show the plant as an outcome first.
        |pair| {
            elsewhere(pair, 3)
                .into_iter()
                .filter(|a| matches!(a, Action::Lookup { .. }))
                .cycle()
                .take(PASSES * DEEP_EVERY)
                .collect()
        },
    );
}

/// Bytes no table or list reaches differ (a page allocated on both sides
/// that nothing refers to, so every structure agrees): a periodic pass
/// names the frame, its class and each differing word, where two host
/// pointers to the same frame and offset of their own pools agree.
#[test]
fn a_difference_no_structure_reaches_is_named_by_frame_and_word() {
    for c in c_reference::CONFIGS {
        let mut pair = Pair::open(c.name, 256).unwrap();
        setup(&mut pair);
        let (Some(pfn), Some(same)) = (
            pair.c.pool_mut().alloc(shim::UVM_PGA_ZERO),
            pair.r.pool_mut().alloc(shim::UVM_PGA_ZERO),
        ) else {
            panic!("{}: no page to leak", c.name);
        };
        assert_eq!(pfn, same, "{}", c.name);
        for (side, at) in [(&mut pair.c as &mut dyn Side, 3), (&mut *pair.r, 4)] {
            let pool = side.pool_mut();
            // The same place in each pool: no difference.
            let here = pool.kva(2) as u64 + 0x10;
            pool.write_word(pfn, 0x18, 8, here);
            // Different places: frame 3 on the C side, 4 on the port's.
            let there = pool.kva(at) as u64 + 0x10;
            pool.write_word(pfn, 0x20, 8, there);
        }
        pair.r.pool_mut().write_word(pfn, 0x48, 8, 0x1234);
        let acts: Vec<Action> = elsewhere(&pair, 3)
            .into_iter()
            .filter(|a| matches!(a, Action::Lookup { .. }))
            .cycle()
            .take(PASSES * DEEP_EVERY)
            .collect();
        let mut found = None;
        for (i, a) in acts.iter().enumerate() {
            let (_, diffs) = pair.step(a, (i + 1) % DEEP_EVERY == 0);
            if !diffs.is_empty() {
                found = Some((i, diffs));
                break;
            }
        }
        let Some((i, diffs)) = found else {
            panic!("{}: the leaked page's bytes escaped", c.name)
        };
        let got: Vec<(&str, &str, &str, &str)> = diffs
            .iter()
            .map(|d| (&*d.category, &*d.field, &*d.c, &*d.rust))
            .collect();
        let (w20, w48) = (
            format!("pfn {pfn} (leaked) word +0x20"),
            format!("pfn {pfn} (leaked) word +0x48"),
        );
        assert_eq!(
            got,
            [
                ("pages", &*w20, "pfn 3+0x10", "pfn 4+0x10"),
                ("pages", &*w48, "NULL", "0x1234")
            ],
            "{} step {i}",
            c.name
        );
    }
}
