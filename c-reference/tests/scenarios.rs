//! C-only scenarios, run for every configuration: each public function of
//! pmap_segtab.c, page carving, PTP-cache reuse, PMAP_CANFAIL under
//! exhaustion, uvm_wait, DEBUG/DIAGNOSTIC panics caught, and the API's
//! refusals of bad input.
//!
//! Built from another revision (`SEGTAB_C_SOURCE`, see
//! scripts/revision-check.sh), a scenario about state the revision lacks is
//! skipped and says so ("not in rev X"), and expectations that differ by the
//! revision's design follow what it has (`CWorld::revision`).

use c_reference::{CWorld, Capability, Config, Error, Outcome, PanicKind, XtabEvent, CONFIGS};
use shim::inspect::{Field, PteLoc, Ptr, Value};
use shim::pool::PoolEvent;
use shim::{PagePool, PMAP_CANFAIL};
use std::collections::BTreeSet;

const POOL: usize = 256;

fn each(mut f: impl FnMut(&'static Config, &mut CWorld)) {
    for c in CONFIGS {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        f(c, &mut w);
    }
}

/// Whether the compiled revision has `cap` here; if not, say it is skipped.
fn requires(c: &Config, w: &CWorld, cap: Capability) -> bool {
    let rev = w.revision();
    if !rev.has(cap) {
        eprintln!("{}: skipped, {}", c.name, rev.not_in(cap));
    }
    rev.has(cap)
}

fn nbseg(c: &Config) -> u64 {
    1 << c.segshift
}

fn user_va(c: &Config, seg: u64, page: u64) -> u64 {
    (0x0040_0000u64.max(nbseg(c)) + seg * nbseg(c) + (page << c.pgshift)) & c.va_mask()
}

fn no_cb() -> Option<&'static mut fn(&mut PagePool, c_reference::CallbackArgs)> {
    None
}

#[test]
fn vendored_file_is_rev_1_23_byte_for_byte() {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(c_reference::VENDORED_SOURCE);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, c_reference::VENDORED_SHA256);
    assert!(std::str::from_utf8(c_reference::VENDORED_SOURCE)
        .unwrap()
        .contains("$NetBSD: pmap_segtab.c,v 1.23 2020/08/22 15:34:51 skrll Exp $"));
}

#[test]
fn c_constants_match_the_matrix() {
    each(|c, w| {
        let cc = w.c_config();
        assert_eq!(cc.pgshift, c.pgshift, "{}", c.name);
        assert_eq!(cc.segshift, c.segshift, "{}", c.name);
        assert_eq!(cc.segtabsize, c.segtabsize, "{}", c.name);
        assert_eq!(cc.nptepg as u64, c.nptepg(), "{}", c.name);
        assert_eq!(cc.pte_bytes * 8, c.pte_bits, "{}", c.name);
        assert_eq!(cc.vaddr_bytes, if c.lp64 { 8 } else { 4 }, "{}", c.name);
        assert_eq!(cc.segtab_bytes as u64, c.host_segtab_bytes(), "{}", c.name);
        assert_eq!(cc.lp64 != 0, c.lp64, "{}", c.name);
        if c.lp64 {
            assert_eq!(cc.xsegshift, c.xsegshift, "{}", c.name);
        }
        assert_eq!(cc.debug != 0, c.debug, "{}", c.name);
        assert_eq!(cc.diagnostic != 0, c.diagnostic, "{}", c.name);
        assert_eq!(cc.multiprocessor != 0, c.multiprocessor, "{}", c.name);
        assert_eq!(cc.ptp_cache != 0, c.ptp_cache, "{}", c.name);
        assert_eq!(cc.invalid_segtab, c.invalid_segtab, "{}", c.name);
        assert!(w.c_source().ends_with(".c"));
        for va in [
            0u64,
            0x8000_0000,
            0x9fff_ffff,
            0xa000_0000,
            0xe400_0000,
            0xffff_ffff_8000_0000,
            0x8000_0000_0000_1000,
        ] {
            let va = va & c.va_mask();
            assert_eq!(
                w.direct_mapped_p(va),
                c.direct_mapped(va),
                "{} {va:#x}",
                c.name
            );
        }
    });
}

#[test]
fn every_option_is_on_somewhere_and_off_elsewhere() {
    for f in [
        |c: &Config| c.debug,
        |c: &Config| c.diagnostic,
        |c: &Config| c.multiprocessor,
        |c: &Config| c.ptp_cache,
        |c: &Config| c.lp64,
    ] {
        assert!(CONFIGS.iter().any(f) && !CONFIGS.iter().all(f));
    }
    assert!(CONFIGS
        .iter()
        .any(|c| !c.lp64 && c.host_segtabs_per_page() > 2));
}

#[test]
fn init_carves_a_page_into_segtabs() {
    each(|c, w| {
        w.segtab_init(1, 0).unwrap().unwrap();
        let s = w.state();
        assert!(!s.pm_segtab[1].is_null());
        // One where the revision does not carve (1.31: `#if 0`).
        let n = w.revision().segtabs_per_page();
        assert_eq!(w.pool().in_use(), 1, "{}", c.name);
        let (free, cut) = w.free_segtabs();
        assert!(!cut);
        assert_eq!(
            free.len() as u64,
            n - 1,
            "{}: the rest of the page is on the free list",
            c.name
        );
        if n > 1 {
            // Linked in address order, stp + 1 first (lines 373-381).
            let offs: Vec<u32> = free
                .iter()
                .map(|p| match p {
                    Ptr::Page(r) => r.off,
                    other => panic!("{other:?}"),
                })
                .collect();
            let want: Vec<u32> = (1..n as u32).map(|i| i * c.segtabsize * 8).collect();
            assert_eq!(offs, want);
        }
        if c.debug {
            assert_eq!(
                (s.npage, s.nput, s.nget),
                (1, n as u32 - 1, 0),
                "{}",
                c.name
            );
            // A second pmap comes from the free list when there is one.
            w.segtab_init(2, 0).unwrap().unwrap();
            let s = w.state();
            if n > 1 {
                assert_eq!((s.npage, s.nget), (1, 1));
            } else {
                assert_eq!((s.npage, s.nget), (2, 0));
            }
        } else {
            assert_eq!((s.npage, s.nput, s.nget), (0, 0, 0));
        }
    });
}

#[test]
fn many_pmaps_share_carved_pages() {
    let c = c_reference::configs::find("mips32-o32-16k").unwrap();
    let mut w = CWorld::open(c.name, POOL).unwrap();
    if !requires(c, &w, Capability::Carving) {
        return;
    }
    for pm in 0..8 {
        w.segtab_init(pm, 0).unwrap().unwrap();
    }
    assert_eq!(
        w.pool().in_use(),
        1,
        "64 segtabs per 16 KiB page on the host"
    );
    assert_eq!(w.free_segtabs().0.len(), 64 - 8);
}

#[test]
fn reserve_lookup_and_pte_writes() {
    each(|c, w| {
        w.segtab_init(1, 0).unwrap().unwrap();
        let va = user_va(c, 3, 5);
        assert_eq!(w.pte_lookup(1, va).unwrap().unwrap(), PteLoc::Null);
        let loc = w.pte_reserve(1, va, 0).unwrap().unwrap();
        let PteLoc::In { pfn, index, rem: 0 } = loc else {
            panic!("{loc:?}")
        };
        assert_eq!(index as u64, (va >> c.pgshift) & (c.nptepg() - 1));
        assert_eq!(w.pte_lookup(1, va).unwrap().unwrap(), loc);
        // Same segment, other page: same PTE page, no allocation.
        let before = w.pool().in_use();
        let loc2 = w.pte_reserve(1, va + (1 << c.pgshift), 0).unwrap().unwrap();
        assert_eq!(
            loc2,
            PteLoc::In {
                pfn,
                index: index + 1,
                rem: 0
            }
        );
        assert_eq!(w.pool().in_use(), before);
        // A PTE written as pmap_enter would shows in the walk.
        let bytes = c.pte_bits / 8;
        w.pool_mut().write_word(pfn, index * bytes, bytes, 0x1f);
        let shape = w.table(1);
        assert!(shape.fields.iter().any(
            |(f, v)| matches!(f, Field::Pte(_, _, j) if *j == index) && *v == Value::Word(0x1f)
        ));
        let pages: BTreeSet<u32> = shape
            .fields
            .iter()
            .filter_map(|(f, v)| match (f, v) {
                (Field::Tab(..), Value::Ptr(Ptr::Page(r))) => Some(r.pfn),
                _ => None,
            })
            .collect();
        assert_eq!(pages, BTreeSet::from([pfn]), "{}", c.name);
    });
}

#[test]
fn process_calls_back_once_per_populated_segment() {
    each(|c, w| {
        w.segtab_init(1, 0).unwrap().unwrap();
        let a = user_va(c, 0, 7);
        let b = user_va(c, 2, 0);
        w.pte_reserve(1, a, 0).unwrap().unwrap();
        w.pte_reserve(1, b, 0).unwrap().unwrap();
        let mut calls = Vec::new();
        let sva = a;
        let eva = b + 3 * (1 << c.pgshift);
        w.pte_process(
            1,
            sva,
            eva,
            0x55,
            &mut |_p: &mut PagePool, args: c_reference::CallbackArgs| calls.push(args),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            calls.len(),
            2,
            "{}: the empty middle segment is skipped",
            c.name
        );
        assert_eq!(
            (calls[0].sva, calls[0].eva),
            (a, (a & !(nbseg(c) - 1)) + nbseg(c))
        );
        assert_eq!((calls[1].sva, calls[1].eva), (b, eva));
        assert!(calls.iter().all(|x| x.flags == 0x55 && x.pmap == 1));
    });
}

#[test]
fn process_stops_at_the_top_of_the_address_space() {
    each(|c, w| {
        w.segtab_init(1, 0).unwrap().unwrap();
        let top_seg = c.va_mask() & !(nbseg(c) - 1);
        w.pte_reserve(1, top_seg, 0).unwrap().unwrap();
        let mut calls = Vec::new();
        let eva = c.va_mask() & !((1u64 << c.pgshift) - 1);
        w.pte_process(
            1,
            top_seg,
            eva,
            0,
            &mut |_p: &mut PagePool, a: c_reference::CallbackArgs| calls.push((a.sva, a.eva)),
        )
        .unwrap()
        .unwrap();
        assert_eq!(calls, vec![(top_seg, eva)], "{}", c.name);
    });
}

#[test]
fn destroy_without_callback_returns_everything() {
    each(|c, w| {
        w.segtab_init(1, 0).unwrap().unwrap();
        for seg in [0, 1, 9] {
            w.pte_reserve(1, user_va(c, seg, 0), 0).unwrap().unwrap();
        }
        w.segtab_destroy(1, no_cb(), 0).unwrap().unwrap();
        assert!(w.state().pm_segtab[1].is_null());
        let (ptp, _) = w.ptp_cache();
        let frees = w
            .pool()
            .events()
            .iter()
            .filter(|e| matches!(e, PoolEvent::Free { .. }))
            .count();
        if w.revision().has(Capability::PtpCache) {
            assert_eq!(
                (ptp.len(), frees),
                (3, 0),
                "{}: PTE pages go to the PTP cache",
                c.name
            );
        } else {
            assert_eq!(
                (ptp.len(), frees),
                (0, 3),
                "{}: PTE pages are freed",
                c.name
            );
        }
        // The segtabs are back on the free list: the root, and on LP64 the
        // one second-level segtab (all three segments share xseg 0).
        let tree_segtabs = if c.lp64 { 2 } else { 1 };
        assert_eq!(
            w.free_segtabs().0.len() as u64,
            w.revision().segtabs_per_page() - 1 + tree_segtabs,
            "{}",
            c.name
        );
        assert!(matches!(w.pte_lookup(1, 0), Err(Error::NoSegtab(1))));
    });
}

#[test]
fn destroy_with_callback_visits_pte_pages_and_keeps_the_top_segtab() {
    each(|c, w| {
        w.segtab_init(1, 0).unwrap().unwrap();
        let segs = [1u64, 4];
        for &seg in &segs {
            w.pte_reserve(1, user_va(c, seg, 0), 0).unwrap().unwrap();
        }
        let root = w.state().pm_segtab[1];
        let mut seen = Vec::new();
        let r = w
            .segtab_destroy(
                1,
                Some(&mut |p: &mut PagePool, a: c_reference::CallbackArgs| {
                    seen.push((
                        a.sva,
                        a.eva,
                        PteLoc::classify(p, a.pte, c.pte_bits / 8),
                        a.flags,
                    ))
                }),
                7,
            )
            .unwrap();
        assert_eq!(seen.len(), 2, "{}", c.name);
        for (k, &(sva, eva, loc, flags)) in seen.iter().enumerate() {
            let base = user_va(c, segs[k], 0);
            assert_eq!((sva, eva, flags), (base, base + nbseg(c), 7), "{}", c.name);
            assert!(matches!(
                loc,
                PteLoc::In {
                    index: 0,
                    rem: 0,
                    ..
                }
            ));
        }
        // free_stp = (func == NULL) (line 420): the top segtab stays.
        assert_eq!(w.state().pm_segtab[1], root, "{}", c.name);
        if w.revision().rework_2022() && c.diagnostic {
            // ... which the 2022 rework's pmap_segtab_destroy then
            // KASSERTs against (rev 1.31 line 933).
            let Outcome::Panicked(p) = r else {
                panic!("{}: {r:?}", c.name)
            };
            assert!(
                matches!(&p.kind, PanicKind::Kassert { expr, .. } if expr == "pmap->pm_segtab == NULL"),
                "{p:?}"
            );
            return;
        }
        assert_eq!(r, Outcome::Ok(()), "{}", c.name);
        let shape = w.table(1);
        assert!(
            shape.fields.iter().all(|(f, _)| matches!(f, Field::Root)),
            "{}: only the empty top segtab is left: {:?}",
            c.name,
            shape.fields
        );
    });
}

#[test]
fn activate_and_deactivate_set_cpu_info() {
    each(|c, w| {
        w.segtab_init(0, 0xc000_0000 & c.va_mask())
            .unwrap()
            .unwrap(); // pmap_kernel()
        w.segtab_init(1, 0).unwrap().unwrap();
        w.pte_reserve(1, user_va(c, 0, 0), 0).unwrap().unwrap();
        w.take_xtab();
        // lwp 1 runs on cpu 1 in the process of pmap 1; make it curlwp.
        w.set_curlwp(1).unwrap();
        w.segtab_activate(1, 1).unwrap().unwrap();
        let s = w.state();
        assert_eq!(s.ci_segtab[1], s.pm_segtab[1], "{}", c.name);
        if c.lp64 {
            // SAFETY: pm_segtab[1] is a live segtab in the pool.
            let seg0 = unsafe { *(s.pm_segtab[1] as *const *mut std::ffi::c_void) };
            assert_eq!(s.ci_seg0tab[1], seg0);
            assert!(!seg0.is_null());
        }
        assert_eq!(w.take_xtab(), vec![XtabEvent::Activate { pmap: 1, lwp: 1 }]);
        // Not curlwp: nothing happens (line 429).
        w.segtab_init(2, 0).unwrap().unwrap();
        w.segtab_activate(2, 2).unwrap().unwrap();
        assert!(w.take_xtab().is_empty());
        // The kernel pmap gets PMAP_INVALID_SEGTAB_ADDRESS.
        w.bind_lwp(1, 0, 1).unwrap();
        w.segtab_activate(0, 1).unwrap().unwrap();
        let s = w.state();
        assert_eq!(s.ci_segtab[1] as u64, c.invalid_segtab, "{}", c.name);
        if c.lp64 {
            assert_eq!(s.ci_seg0tab[1] as u64, c.invalid_segtab);
        }
        w.segtab_deactivate(1).unwrap().unwrap();
        let s = w.state();
        assert_eq!(s.ci_segtab[1] as u64, c.invalid_segtab);
        assert!(s.ci_seg0tab[1].is_null());
        assert_eq!(
            w.take_xtab(),
            vec![
                XtabEvent::Activate { pmap: 0, lwp: 1 },
                XtabEvent::Deactivate { pmap: 1 }
            ]
        );
    });
}

#[test]
fn activate_of_a_pmap_not_the_lwps_is_a_kassert_under_diagnostic() {
    each(|c, w| {
        w.segtab_init(2, 0).unwrap().unwrap();
        // curlwp 0 belongs to pmap 0's process, not pmap 2's.
        let r = w.segtab_activate(2, 0).unwrap();
        if c.diagnostic {
            let Outcome::Panicked(p) = r else {
                panic!("{}: {r:?}", c.name)
            };
            assert!(
                matches!(&p.kind, PanicKind::Kassert { expr, .. } if expr.contains("l->l_proc->p_vmspace->vm_map.pmap")),
                "{p:?}"
            );
            assert!(w.is_dead());
        } else {
            assert_eq!(r, Outcome::Ok(()), "{}", c.name);
        }
    });
}

#[test]
fn ptp_cache_reuses_pages_without_zeroing() {
    for c in CONFIGS.iter().filter(|c| c.ptp_cache) {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        if !requires(c, &w, Capability::PtpCache) {
            continue;
        }
        w.segtab_init(1, 0).unwrap().unwrap();
        let va = user_va(c, 2, 3);
        let PteLoc::In { pfn, index, .. } = w.pte_reserve(1, va, 0).unwrap().unwrap() else {
            panic!()
        };
        w.segtab_destroy(1, no_cb(), 0).unwrap().unwrap();
        assert_eq!(w.ptp_cache().0, vec![pfn]);
        // Dirty the cached page, as a PTE left behind would.
        let bytes = c.pte_bits / 8;
        w.pool_mut().write_word(pfn, index * bytes, bytes, 0x77);
        w.pool_mut().clear_events();
        w.segtab_init(1, 0).unwrap().unwrap();
        let r = w.pte_reserve(1, va, 0).unwrap();
        if c.debug {
            // pmap_check_ptes (line 579) sees the stale entry.
            let Outcome::Panicked(p) = r else {
                panic!("{}: {r:?}", c.name)
            };
            assert!(
                matches!(&p.kind, PanicKind::Call { fmt } if fmt.contains("not 0")),
                "{p:?}"
            );
        } else {
            assert_eq!(
                r,
                Outcome::Ok(PteLoc::In { pfn, index, rem: 0 }),
                "{}",
                c.name
            );
            assert!(w.ptp_cache().0.is_empty());
            assert!(
                !w.pool()
                    .events()
                    .iter()
                    .any(|e| matches!(e, PoolEvent::Alloc { pfn: p, .. } if *p == pfn)),
                "came from the cache, not the pool"
            );
            assert_eq!(
                w.pool().read_word(pfn, index * bytes, bytes),
                0x77,
                "not zeroed"
            );
        }
    }
}

#[test]
fn canfail_returns_null_and_plain_reserve_panics_when_pages_run_out() {
    each(|c, w| {
        w.segtab_init(1, 0).unwrap().unwrap();
        let va = user_va(c, 1, 0);
        if c.lp64 {
            // Allocate the xseg segtab first so only the PTE page is missing.
            w.pte_reserve(1, user_va(c, 0, 0), 0).unwrap().unwrap();
        }
        let used = w.pool().in_use();
        w.pool_mut().set_limit(used);
        assert_eq!(
            w.pte_reserve(1, va, PMAP_CANFAIL).unwrap(),
            Outcome::Ok(PteLoc::Null),
            "{}",
            c.name
        );
        let r = w.pte_reserve(1, va, 0).unwrap();
        let Outcome::Panicked(p) = r else {
            panic!("{}: {r:?}", c.name)
        };
        assert!(
            matches!(&p.kind, PanicKind::Call { fmt } if fmt.contains("cannot allocate page table page"))
        );
        // The 2022 rework allocates PTE pages in pmap_ptpage_alloc.
        let site = if w.revision().rework_2022() {
            "pmap_ptpage_alloc"
        } else {
            "pmap_pte_reserve"
        };
        assert!(p.msg.contains(site), "{}", p.msg);
        // A dead world refuses calls until reset.
        assert!(matches!(w.pte_lookup(1, va), Err(Error::Dead(_))));
        w.reset();
        assert!(!w.is_dead());
        w.segtab_init(1, 0).unwrap().unwrap();
    });
}

#[test]
fn segtab_alloc_waits_and_retries_then_would_wait_forever() {
    each(|c, w| {
        // Two injected failures: uvm_wait returns twice, the third try works.
        w.pool_mut().fail_next(2);
        w.segtab_init(1, 0).unwrap().unwrap();
        let waits = w
            .pool()
            .events()
            .iter()
            .filter(|e| matches!(e, PoolEvent::Wait { retry: true }))
            .count();
        assert_eq!(waits, 2, "{}", c.name);
        // Nothing left and nothing can be freed: the kernel would sleep forever.
        let (free, _) = w.free_segtabs();
        for _ in 0..free.len() {
            // Re-initialising pmap 2 drops its old segtab on the floor; all
            // that matters here is emptying the free list.
            w.segtab_init(2, 0).unwrap().unwrap();
        }
        let used = w.pool().in_use();
        w.pool_mut().set_limit(used);
        let r = w.segtab_init(7, 0).unwrap();
        assert!(matches!(r, Outcome::WaitForever(_)), "{}: {r:?}", c.name);
        assert!(w.is_dead());
    });
}

#[test]
fn debug_check_stp_panics_on_release_of_a_skipped_segtab() {
    // With an unaligned pm_minaddr the release loop starts mid-table (line
    // 270) and leaves lower entries in place; under DEBUG pmap_check_stp
    // (line 161) then panics.
    each(|c, w| {
        let minaddr = (3 * nbseg(c) + 0x1000) & c.va_mask();
        w.segtab_init(1, minaddr).unwrap().unwrap();
        w.pte_reserve(1, user_va(c, 0, 0) & !(nbseg(c) * 64 - 1), 0)
            .unwrap()
            .unwrap();
        let r = w.segtab_destroy(1, no_cb(), 0).unwrap();
        if c.debug {
            let Outcome::Panicked(p) = r else {
                panic!("{}: {r:?}", c.name)
            };
            // 2022: pmap_check_stb reads seg_ppg.
            let field = if w.revision().rework_2022() {
                "pm_segtab.seg_ppg"
            } else {
                "pm_segtab.seg_tab"
            };
            assert!(
                matches!(&p.kind, PanicKind::Call { fmt } if fmt.contains(field)),
                "{p:?}"
            );
        } else {
            assert_eq!(r, Outcome::Ok(()), "{}", c.name);
        }
    });
}

#[test]
fn kernel_pmap_direct_mapped_va_is_a_kassert_under_diagnostic() {
    each(|c, w| {
        w.segtab_init(0, 0).unwrap().unwrap();
        let va = c.direct_map[0].0.max(0x1000);
        let r = w.pte_lookup(0, va).unwrap();
        if c.diagnostic {
            let Outcome::Panicked(p) = r else {
                panic!("{}: {r:?}", c.name)
            };
            assert!(
                matches!(&p.kind, PanicKind::Kassert { expr, .. } if expr.contains("pmap_md_direct_mapped_vaddr_p")),
                "{p:?}"
            );
        } else {
            assert!(matches!(r, Outcome::Ok(_)), "{}", c.name);
        }
    });
}

#[test]
fn multiprocessor_lose_the_race_paths() {
    for c in CONFIGS.iter().filter(|c| c.multiprocessor) {
        let mut w = CWorld::open(c.name, POOL).unwrap();
        w.segtab_init(1, 0).unwrap().unwrap();
        w.pool_mut().clear_events();
        // The next CAS loses: another CPU installs its page first.
        w.arm_cas_race(1);
        let va = user_va(c, 0, 0);
        let loc = w.pte_reserve(1, va, 0).unwrap().unwrap();
        assert!(matches!(loc, PteLoc::In { .. }));
        let ev: Vec<_> = w.pool().events().to_vec();
        if c.lp64 {
            // Our segtab lost (freed to the free list); the racer's page is used.
            let (free, _) = w.free_segtabs();
            assert!(
                !free.is_empty(),
                "{}: the losing segtab is on the free list",
                c.name
            );
        } else {
            // Our PTE page lost: freed (or cached under PMAP_PTP_CACHE).
            let freed = ev.iter().any(|e| matches!(e, PoolEvent::Free { .. }));
            assert!(
                freed || (c.ptp_cache && w.ptp_cache().0.len() == 1),
                "{}: {ev:?}",
                c.name
            );
        }
        assert_eq!(w.pte_lookup(1, va).unwrap().unwrap(), loc);
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let e = CWorld::open("vax", 16).unwrap_err();
    assert!(
        e.to_string().contains("unknown configuration \"vax\""),
        "{e}"
    );
    assert!(e.to_string().contains("mips64-n64-4k"));
    let mut w = CWorld::open("mips64-n64-4k", 16).unwrap();
    assert!(matches!(
        CWorld::open("mips64-n64-4k", 16),
        Err(Error::Busy(_))
    ));
    assert!(matches!(
        w.pte_reserve(9, 0, 0),
        Err(Error::BadIndex { what: "pmap", .. })
    ));
    assert!(matches!(w.pte_reserve(3, 0, 0), Err(Error::NoSegtab(3))));
    assert!(matches!(w.segtab_activate(3, 0), Err(Error::NoSegtab(3))));
    assert!(matches!(
        w.bind_lwp(0, 0, 5),
        Err(Error::BadIndex { what: "cpu", .. })
    ));
    // An exhausted arena is an outcome, not a crash.
    let mut pm = 0;
    loop {
        match w.segtab_init(pm % 8, 0).unwrap() {
            Outcome::Ok(()) => pm += 1,
            Outcome::WaitForever(_) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(w.segtab_init(1, 0), Err(Error::Dead(_))));
}
