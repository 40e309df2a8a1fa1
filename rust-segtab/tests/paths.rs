//! Unit tests for each function and path of the port, on several machines.

mod common;

use std::cell::RefCell;

use common::*;
use rust_segtab::machines::*;
use rust_segtab::{
    define_machine, Machine, Ordering, PanicSite, PhysAddr, Pmap, PteRef, Word, PMAP_CANFAIL,
    UVM_PGA_USERESERVE, UVM_PGA_ZERO,
};

define_machine! {
    /// o32 16K with DEBUG and DIAGNOSTIC on: carving with counters.
    pub struct O32_16kDebug {
        name: "test-o32-16k-debug", lp64: false, pgshift: 14, segshift: 26,
        xsegshift: 0, segtabsize: 32, pte: u32, vaddr: u32,
        debug: true, diagnostic: true, multiprocessor: false, ptp_cache: false,
    }
}

const FLAGS: u32 = UVM_PGA_ZERO | UVM_PGA_USERESERVE;

fn nbseg<M: Machine>() -> u64 {
    M::NBSEG
}

// ---------------------------------------------------------------------
// reserve / lookup / destroy round trip on every machine
// ---------------------------------------------------------------------

fn roundtrip<M: Machine>() {
    quiet_panics();
    let mut p = port::<M>(256);
    let mut pm = Pmap::<M>::new(va::<M>(0));
    p.segtab_init(&mut pm);
    assert!(!pm.pm_segtab().is_null());
    let top = M::Vaddr::MAX.to_u64() & !(M::NBPG as u64 - 1);
    let mut vas = vec![
        0u64,
        M::NBPG as u64,
        nbseg::<M>() + 5 * M::NBPG as u64,
        3 * nbseg::<M>() + 7,
        top,
    ];
    if M::LP64 {
        vas.push(M::NBXSEG + 2 * nbseg::<M>());
    }
    for (k, &a) in vas.iter().enumerate() {
        let r = p.pte_reserve(&pm, va::<M>(a), 0).expect("reserve");
        assert_eq!(r.index(), ((a >> M::PGSHIFT) as usize) & (M::NPTEPG - 1));
        assert_eq!(r.page_kva() as usize % M::NBPG, 0);
        r.write(M::Pte::from_u64(0x100 + k as u64));
    }
    for (k, &a) in vas.iter().enumerate() {
        let r = p.pte_lookup(&pm, va::<M>(a)).expect("lookup");
        assert_eq!(r.read(), M::Pte::from_u64(0x100 + k as u64));
        // reserve again finds the same entry, allocating nothing
        let n = p.env().events().len();
        let r2 = p.pte_reserve(&pm, va::<M>(a), 0).unwrap();
        assert_eq!(r2.as_ptr(), p.pte_lookup(&pm, va::<M>(a)).unwrap().as_ptr());
        assert_eq!(p.env().events().len(), n);
    }
    // an unreserved segment
    assert!(p.pte_lookup(&pm, va::<M>(9 * nbseg::<M>())).is_none());
    for &a in &vas {
        p.pte_lookup(&pm, va::<M>(a)).unwrap().write(M::Pte::ZERO);
    }
    p.segtab_destroy(&mut pm, None, 0);
    assert!(pm.pm_segtab().is_null());
    // destroying again is a no-op
    p.env().clear_events();
    p.segtab_destroy(&mut pm, None, 0);
    assert!(p.env().events().is_empty());
    // every PTE page went back (to the env, or to the PTP cache)
    let cached = ptp_cache::<M>(&mut p).len();
    let segtabs: usize = if M::LP64 { 4 } else { 1 };
    let per_page = M::NBPG / std::mem::size_of::<M::Segtab>();
    let segtab_pages = segtabs.div_ceil(per_page);
    assert_eq!(p.env().in_use_count(), segtab_pages + cached);
    if !M::PTP_CACHE {
        assert_eq!(cached, 0);
    }
}

#[test]
fn roundtrip_all_machines() {
    roundtrip::<MipsN64_4k>();
    roundtrip::<MipsN64_16k>();
    roundtrip::<Riscv64Sv39Shape>();
    roundtrip::<MipsO32_4k>();
    roundtrip::<MipsO32_16k>();
    roundtrip::<PowerpcBooke>();
    roundtrip::<O32_16kDebug>();
}

#[test]
fn pte_ref_offset_and_index() {
    let p = port::<MipsO32_4k>(8);
    let mut pm = Pmap::new(0);
    p.segtab_init(&mut pm);
    let r = p.pte_reserve(&pm, 0x3ff000, 0).unwrap();
    assert_eq!(r.index(), 1023);
    assert!(r.offset(1).is_none());
    let r0 = p.pte_reserve(&pm, 0x0, 0).unwrap();
    assert_eq!(r0.index(), 0);
    let r5 = r0.offset(5).unwrap();
    assert_eq!(r5.index(), 5);
    r5.write(77);
    assert_eq!(p.pte_lookup(&pm, 0x5000).unwrap().read(), 77);
    p.pte_lookup(&pm, 0x5000).unwrap().write(0);
    p.segtab_destroy(&mut pm, None, 0);
}

// ---------------------------------------------------------------------
// exact event order
// ---------------------------------------------------------------------

#[test]
fn alloc_and_release_event_order_o32() {
    let mut p = port::<MipsO32_4k>(8);
    let mut pm = Pmap::new(0);
    p.segtab_init(&mut pm);
    let pa0 = PA_BASE;
    assert_eq!(
        p.env().events(),
        vec![
            Ev::Enter,
            Ev::Exit,
            Ev::Alloc {
                flags: FLAGS,
                page: Some(Page(0))
            },
            Ev::Map(pa0)
        ]
    );
    p.env().clear_events();
    p.pte_reserve(&pm, 0x0040_0000, 0).unwrap();
    assert_eq!(
        p.env().events(),
        vec![
            Ev::Alloc {
                flags: FLAGS,
                page: Some(Page(1))
            },
            Ev::Map(pa0 + 0x1000)
        ]
    );
    p.env().clear_events();
    let calls = RefCell::new(Vec::new());
    p.segtab_destroy(
        &mut pm,
        Some(
            &mut |pmp: *const Pmap<MipsO32_4k>, s, e, pte: PteRef<'_, MipsO32_4k>, f| {
                calls
                    .borrow_mut()
                    .push((pmp as usize, s, e, pte.index(), f));
                true
            },
        ),
        0x55,
    );
    let pm_addr = &pm as *const _ as usize;
    assert_eq!(
        *calls.borrow(),
        vec![(pm_addr, 0x0040_0000, 0x0080_0000, 0, 0x55)]
    );
    assert_eq!(
        p.env().events(),
        vec![Ev::Unmap(Page(1)), Ev::Free(Page(1))]
    );
    // with a callback the top segtab is kept (free_stp = func == NULL)
    assert!(!pm.pm_segtab().is_null());
    assert!(p.info().free_segtab.is_null());
    p.env().clear_events();
    p.segtab_destroy(&mut pm, None, 0);
    assert_eq!(p.env().events(), vec![Ev::Enter, Ev::Exit]);
    assert!(pm.pm_segtab().is_null());
    assert_eq!(p.counters(), (0, 1, 1));
}

#[test]
fn release_event_order_lp64_ptp_cache() {
    // MipsN64_16k: LP64, PTP cache, no MP, no DEBUG.
    type M = MipsN64_16k;
    let mut p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm); // page 0
    p.pte_reserve(&pm, 0x4000, 0).unwrap(); // lower segtab page 1, pte page 2
    p.env().clear_events();
    p.segtab_destroy(&mut pm, None, 0);
    assert_eq!(
        p.env().events(),
        vec![
            Ev::Unmap(Page(2)),
            Ev::Enter,
            Ev::SetPtpNext(Page(2), None),
            Ev::Exit,
            // inner segtab_free
            Ev::Enter,
            Ev::Exit,
            // top segtab_free
            Ev::Enter,
            Ev::Exit,
        ]
    );
    assert_eq!(p.info().ptp_first, Some(Page(2)));
    let fl: Vec<_> = p.free_list(10).collect();
    assert_eq!(fl.len(), 2);
    assert_eq!(fl[0] as *mut u8, p.env().page_kva(Page(0)));
    assert_eq!(fl[1] as *mut u8, p.env().page_kva(Page(1)));
    assert_eq!(p.counters(), (0, 0, 0)); // DEBUG off
}

// ---------------------------------------------------------------------
// destroy with a callback on LP64: lower segtabs freed, top kept
// ---------------------------------------------------------------------

#[test]
fn destroy_with_callback_lp64() {
    type M = MipsN64_4k;
    let mut p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    let a = M::NBXSEG + 3 * M::NBSEG + 0x2000;
    p.pte_reserve(&pm, a, 0).unwrap();
    p.pte_reserve(&pm, 0x1000, 0).unwrap();
    let top = pm.pm_segtab();
    let mut calls = Vec::new();
    p.segtab_destroy(
        &mut pm,
        Some(&mut |_, s, e, pte: PteRef<'_, M>, f| {
            calls.push((s, e, pte.index(), f));
            false
        }),
        7,
    );
    assert_eq!(
        calls,
        vec![
            (0, M::NBSEG, 0, 7),
            (M::NBXSEG + 3 * M::NBSEG, M::NBXSEG + 4 * M::NBSEG, 0, 7)
        ]
    );
    assert_eq!(pm.pm_segtab(), top);
    assert!(seg_seg_raw::<M>(top, 0).is_null());
    assert!(seg_seg_raw::<M>(top, 1).is_null());
    assert_eq!(p.free_list(10).count(), 2);
    assert_eq!(p.counters(), (0, 2, 3));
    // a new pmap reuses the most recently freed lower segtab (LIFO)
    let head = p.info().free_segtab;
    let mut pm2 = Pmap::<M>::new(0);
    p.segtab_init(&mut pm2);
    assert_eq!(pm2.pm_segtab(), head);
    assert_eq!(p.counters(), (1, 2, 3));
}

// ---------------------------------------------------------------------
// free list, carving, counters
// ---------------------------------------------------------------------

#[test]
fn free_list_is_lifo() {
    type M = MipsO32_4k;
    let mut p = port::<M>(16);
    let mut pms: Vec<Pmap<M>> = (0..3).map(|_| Pmap::new(0)).collect();
    for pm in pms.iter_mut() {
        p.segtab_init(pm);
    }
    let stps: Vec<_> = pms.iter().map(|pm| pm.pm_segtab()).collect();
    p.segtab_destroy(&mut pms[0], None, 0);
    p.segtab_destroy(&mut pms[1], None, 0);
    let fl: Vec<_> = p.free_list(10).collect();
    assert_eq!(fl, vec![stps[1], stps[0]]);
    assert_eq!(p.free_list(1).count(), 1);
    p.env().clear_events();
    let mut pm = Pmap::new(0);
    p.segtab_init(&mut pm);
    assert_eq!(pm.pm_segtab(), stps[1]);
    assert_eq!(p.env().events(), vec![Ev::Enter, Ev::Exit]);
    // the link was cleared
    assert!(seg_seg_raw::<M>(pm.pm_segtab(), 0).is_null());
    assert_eq!(p.counters(), (1, 2, 3));
}

#[test]
fn carving_with_counters() {
    type M = O32_16kDebug;
    let n = M::NBPG / std::mem::size_of::<<M as Machine>::Segtab>();
    assert_eq!(n, 64);
    let mut p = port::<M>(4);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    assert_eq!(
        p.env().events(),
        vec![
            Ev::Enter,
            Ev::Exit,
            Ev::Alloc {
                flags: FLAGS,
                page: Some(Page(0))
            },
            Ev::Map(PA_BASE),
            Ev::Enter,
            Ev::Exit
        ]
    );
    let base = pm.pm_segtab();
    assert_eq!(base as *mut u8, p.env().page_kva(Page(0)));
    let fl: Vec<_> = p.free_list(1000).collect();
    assert_eq!(fl.len(), n - 1);
    for (k, s) in fl.iter().enumerate() {
        assert_eq!(*s, base.wrapping_add(k + 1));
    }
    assert_eq!(p.counters(), (0, (n - 1) as u32, 1));
    // the next n-1 pmaps come from the same page, in address order
    let mut others: Vec<Pmap<M>> = (0..n - 1).map(|_| Pmap::new(0)).collect();
    for (k, pm2) in others.iter_mut().enumerate() {
        p.segtab_init(pm2);
        assert_eq!(pm2.pm_segtab(), base.wrapping_add(k + 1));
    }
    assert!(p.info().free_segtab.is_null());
    assert_eq!(p.counters(), ((n - 1) as u32, (n - 1) as u32, 1));
    assert_eq!(p.env().in_use_count(), 1);
    // one more needs a second page, carved again
    let mut last = Pmap::<M>::new(0);
    p.segtab_init(&mut last);
    assert_eq!(last.pm_segtab() as *mut u8, p.env().page_kva(Page(1)));
    assert_eq!(p.counters(), ((n - 1) as u32, 2 * (n - 1) as u32, 2));
    // segtabs carved from a page work as page tables
    let r = p
        .pte_reserve(&others[10], 0x0400_0000 * 5 + 0x8000, 0)
        .unwrap();
    r.write(9);
    assert_eq!(
        p.pte_lookup(&others[10], 0x0400_0000 * 5 + 0x8000)
            .unwrap()
            .read(),
        9
    );
}

#[test]
fn carving_without_debug_keeps_zero_counters() {
    type M = MipsO32_16k;
    let mut p = port::<M>(4);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    assert_eq!(p.free_list(1000).count(), 63);
    assert_eq!(p.counters(), (0, 0, 0));
}

// ---------------------------------------------------------------------
// PTP cache
// ---------------------------------------------------------------------

fn ptp_cache_not_zeroed<M: Machine>() {
    let mut p = port::<M>(32);
    let mut pm = Pmap::<M>::new(va::<M>(0));
    p.segtab_init(&mut pm);
    let a = va::<M>(2 * M::NBSEG + 3 * M::NBPG as u64);
    p.pte_reserve(&pm, a, 0)
        .unwrap()
        .write(M::Pte::from_u64(0x1234));
    let pte_ptr = p.pte_lookup(&pm, a).unwrap().as_ptr();
    let pg = p.env().page_containing(pte_ptr.cast()).unwrap();
    p.segtab_destroy(&mut pm, None, 0);
    assert_eq!(p.info().ptp_first, Some(pg));
    assert!(p.env().is_in_use(pg));
    let mut pm2 = Pmap::<M>::new(va::<M>(0));
    p.segtab_init(&mut pm2);
    p.env().clear_events();
    // another segment: the cached page is reused as is
    let b = va::<M>(5 * M::NBSEG);
    let r = p.pte_reserve(&pm2, b, 0).unwrap();
    assert!(!p
        .env()
        .events()
        .iter()
        .any(|e| matches!(e, Ev::Alloc { .. })));
    assert_eq!(r.page_kva().cast::<u8>(), p.env().page_kva(pg));
    assert_eq!(r.offset(3).unwrap().read(), M::Pte::from_u64(0x1234));
    assert_eq!(p.info().ptp_first, None);
}

#[test]
fn ptp_cache_reuse_without_zeroing() {
    ptp_cache_not_zeroed::<MipsN64_16k>();
    ptp_cache_not_zeroed::<MipsO32_16k>();
}

#[test]
fn ptp_cache_lifo_order() {
    type M = MipsN64_16k;
    let mut p = port::<M>(32);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    for k in 0..3u64 {
        p.pte_reserve(&pm, k * M::NBSEG, 0).unwrap();
    }
    let pages: Vec<Page> = (0..3u64)
        .map(|k| {
            let r = p.pte_lookup(&pm, k * M::NBSEG).unwrap();
            p.env().page_containing(r.as_ptr().cast()).unwrap()
        })
        .collect();
    p.segtab_destroy(&mut pm, None, 0);
    // released in slot order, inserted at the head: last released first
    assert_eq!(p.info().ptp_first, Some(pages[2]));
    let mut pm2 = Pmap::<M>::new(0);
    p.segtab_init(&mut pm2);
    let r = p.pte_reserve(&pm2, 0, 0).unwrap();
    assert_eq!(r.page_kva().cast::<u8>(), p.env().page_kva(pages[2]));
    assert_eq!(p.info().ptp_first, Some(pages[1]));
}

#[test]
fn debug_nonzero_pte_panics_in_release() {
    quiet_panics();
    type M = MipsO32_4k;
    let p = port::<M>(8);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    p.pte_reserve(&pm, 0x1000, 0).unwrap().write(0xabc);
    let e = expect_segtab_panic(|| p.segtab_destroy(&mut pm, None, 0));
    assert_eq!(e.site, PanicSite::CheckPtesNonzero);
    assert!(
        e.msg.starts_with("pmap_segtab_release: pte[1] entry at 0x"),
        "{}",
        e.msg
    );
    assert!(e.msg.ends_with("not 0 (0xabc)"), "{}", e.msg);
}

#[test]
fn debug_dirty_cached_page_panics_in_reserve() {
    quiet_panics();
    // Riscv64Sv39Shape: DEBUG and PTP cache. A callback that writes after
    // the release check leaves a dirty page on the cache list.
    type M = Riscv64Sv39Shape;
    let mut p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    p.pte_reserve(&pm, 0x3000, 0).unwrap();
    p.segtab_destroy(
        &mut pm,
        Some(&mut |_, _, _, pte: PteRef<'_, M>, _| {
            pte.offset(7).unwrap().write(0x5a5a);
            true
        }),
        0,
    );
    assert!(p.info().ptp_first.is_some());
    let e = expect_segtab_panic(|| {
        p.pte_reserve(&pm, 0x40_0000, 0);
    });
    assert_eq!(e.site, PanicSite::CheckPtesNonzero);
    assert!(
        e.msg.starts_with("pmap_pte_reserve: pte[7] entry at"),
        "{}",
        e.msg
    );
    assert!(e.msg.ends_with("(0x5a5a)"), "{}", e.msg);
}

// ---------------------------------------------------------------------
// exhaustion: CANFAIL, panic, uvm_wait retry
// ---------------------------------------------------------------------

#[test]
fn canfail_returns_none_32bit() {
    quiet_panics();
    type M = MipsO32_4k;
    let p = port::<M>(1);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    p.env().clear_events();
    assert!(p.pte_reserve(&pm, 0x40_0000, PMAP_CANFAIL).is_none());
    assert_eq!(
        p.env().events(),
        vec![Ev::Alloc {
            flags: FLAGS,
            page: None
        }]
    );
    let e = expect_segtab_panic(|| {
        p.pte_reserve(&pm, 0x40_0000, 0);
    });
    assert_eq!(e.site, PanicSite::ReserveNoPage);
    assert_eq!(
        e.msg,
        "pmap_pte_reserve: cannot allocate page table page for va 400000"
    );
}

#[test]
fn canfail_lp64_keeps_lower_segtab() {
    type M = MipsN64_4k;
    let p = port::<M>(2);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    assert!(p.pte_reserve(&pm, M::NBXSEG * 4, PMAP_CANFAIL).is_none());
    assert!(!seg_seg_raw::<M>(pm.pm_segtab(), 4).is_null());
    assert_eq!(p.env().in_use_count(), 2);
}

#[test]
fn uvm_wait_retry_then_success() {
    type M = MipsN64_4k;
    let p = port::<M>(8);
    p.env().set_fail_next(2);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    assert_eq!(
        p.env().events(),
        vec![
            Ev::Enter,
            Ev::Exit,
            Ev::Alloc {
                flags: FLAGS,
                page: None
            },
            Ev::Wait("segtab"),
            Ev::Enter,
            Ev::Exit,
            Ev::Alloc {
                flags: FLAGS,
                page: None
            },
            Ev::Wait("segtab"),
            Ev::Enter,
            Ev::Exit,
            Ev::Alloc {
                flags: FLAGS,
                page: Some(Page(0))
            },
            Ev::Map(PA_BASE),
        ]
    );
    assert!(!pm.pm_segtab().is_null());
}

#[test]
fn uvm_wait_forever_when_exhausted() {
    quiet_panics();
    type M = MipsN64_4k;
    let p = port::<M>(1);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    // the lower segtab cannot be allocated, even with CANFAIL
    let w = expect_wait_forever(|| p.pte_reserve(&pm, 0x1000, PMAP_CANFAIL).is_none());
    assert_eq!(w.0, "segtab");
}

// ---------------------------------------------------------------------
// MULTIPROCESSOR: losing the atomic_cas_ptr race
// ---------------------------------------------------------------------

#[test]
fn mp_lose_segtab_race_lp64() {
    type M = MipsN64_4k; // MP, no PTP cache, DEBUG, DIAGNOSTIC
    let mut p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm); // page 0
    p.env().plan_races([true, false]);
    p.env().clear_events();
    let r = p.pte_reserve(&pm, 0x2000, 0).unwrap();
    let r_ptr = r.as_ptr();
    // page 1 = our nstp, page 2 = the other CPU's segtab, page 3 = pte page
    assert_eq!(
        p.env().events(),
        vec![
            Ev::Enter,
            Ev::Exit,
            Ev::Alloc {
                flags: FLAGS,
                page: Some(Page(1))
            },
            Ev::Map(PA_BASE + 0x1000),
            Ev::Cas { lost: true },
            Ev::Enter, // segtab_free(nstp)
            Ev::Exit,
            Ev::Alloc {
                flags: FLAGS,
                page: Some(Page(3))
            },
            Ev::Map(PA_BASE + 0x3000),
            Ev::Cas { lost: false },
        ]
    );
    let lower = seg_seg_raw::<M>(pm.pm_segtab(), 0);
    assert_eq!(lower as *mut u8, p.env().page_kva(Page(2)));
    assert_eq!(p.info().free_segtab as *mut u8, p.env().page_kva(Page(1)));
    assert_eq!(
        seg_tab_raw::<M>(lower, 0) as *mut u8,
        p.env().page_kva(Page(3))
    );
    assert_eq!(p.pte_lookup(&pm, 0x2000).unwrap().as_ptr(), r_ptr);
    assert_eq!(p.counters(), (0, 1, 2));
}

#[test]
fn mp_lose_pte_race_without_ptp_cache() {
    fn run<M: Machine>() {
        let p = port::<M>(16);
        let mut pm = Pmap::<M>::new(va::<M>(0));
        p.segtab_init(&mut pm);
        if M::LP64 {
            p.env().plan_races([false]);
        }
        p.env().plan_races([true]);
        let a = va::<M>(M::NBSEG + 0x3000);
        p.env().clear_events();
        let ours = p.env().in_use_count(); // index of our PTE page (LP64: +1)
        let r_ptr = p.pte_reserve(&pm, a, 0).unwrap().as_ptr();
        let our_pg = Page(if M::LP64 { ours + 1 } else { ours });
        let their_pg = Page(our_pg.0 + 1);
        let ev = &p.env().events();
        let tail = &ev[ev.len() - 4..];
        assert_eq!(
            tail,
            &[
                Ev::Map(PA_BASE + (our_pg.0 * M::NBPG) as u64),
                Ev::Cas { lost: true },
                Ev::Unmap(our_pg),
                Ev::Free(our_pg),
            ]
        );
        assert!(!p.env().is_in_use(our_pg));
        assert_eq!(p.env().page_containing(r_ptr.cast()), Some(their_pg));
        assert_eq!(p.pte_lookup(&pm, a).unwrap().as_ptr(), r_ptr);
    }
    run::<MipsN64_4k>();
    run::<PowerpcBooke>();
}

#[test]
fn mp_lose_pte_race_with_ptp_cache() {
    fn run<M: Machine>() {
        let mut p = port::<M>(16);
        let mut pm = Pmap::<M>::new(va::<M>(0));
        p.segtab_init(&mut pm);
        if M::LP64 {
            p.env().plan_races([false]);
        }
        p.env().plan_races([true]);
        let a = va::<M>(0x4000);
        p.env().clear_events();
        p.pte_reserve(&pm, a, 0).unwrap();
        let our_pg = match p
            .env()
            .events()
            .iter()
            .rev()
            .find(|e| matches!(e, Ev::Map(_)))
        {
            Some(Ev::Map(pa)) => rust_segtab::Env::phys_to_page(p.env(), PhysAddr::new(*pa)),
            _ => unreachable!(),
        };
        let ev = &p.env().events();
        assert_eq!(
            &ev[ev.len() - 4..],
            &[
                Ev::Cas { lost: true },
                Ev::Enter,
                Ev::SetPtpNext(our_pg, None),
                Ev::Exit,
            ]
        );
        assert_eq!(p.info().ptp_first, Some(our_pg));
        // the next PTE page comes from the cache
        p.env().clear_events();
        let b = va::<M>(3 * M::NBSEG);
        let r = p.pte_reserve(&pm, b, 0).unwrap();
        assert_eq!(r.page_kva().cast::<u8>(), p.env().page_kva(our_pg));
        assert!(!p
            .env()
            .events()
            .iter()
            .any(|e| matches!(e, Ev::Alloc { .. })));
        assert_eq!(p.info().ptp_first, None);
    }
    run::<Riscv64Sv39Shape>();
    run::<MipsO32_16k>();
}

// ---------------------------------------------------------------------
// activate / deactivate
// ---------------------------------------------------------------------

#[test]
fn activate_user_and_kernel_lp64() {
    quiet_panics();
    type M = MipsN64_4k;
    let mut p = port::<M>(16);
    let kpm = Box::new(Pmap::<M>::new(0));
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    p.pte_reserve(&pm, 0x1000, 0).unwrap();
    p.env_mut().kernel = &*kpm;
    p.env_mut().invalid = std::ptr::without_provenance_mut(0xfeed_0000);
    p.env_mut().curlwp = 0;
    p.env_mut().lwp_cpu = vec![1, 0];
    p.env_mut().lwp_pmap = vec![&pm, &*kpm];

    p.env().clear_events();
    p.segtab_activate(&pm, 0);
    assert_eq!(p.env().events(), vec![Ev::XtabActivate]);
    assert_eq!(p.env().cpus[1].user_segtab(), pm.pm_segtab());
    assert_eq!(
        p.env().cpus[1].user_seg0tab(),
        seg_seg_raw::<M>(pm.pm_segtab(), 0)
    );
    assert!(!p.env().cpus[1].user_seg0tab().is_null());
    assert!(p.env().cpus[0].user_segtab().is_null());

    // not curlwp: nothing at all
    p.env().clear_events();
    p.segtab_activate(&kpm, 1);
    assert!(p.env().events().is_empty());

    // kernel pmap on curlwp
    p.env_mut().curlwp = 1;
    p.segtab_activate(&kpm, 1);
    assert_eq!(p.env().cpus[0].user_segtab(), p.env().invalid);
    assert_eq!(p.env().cpus[0].user_seg0tab(), p.env().invalid);

    // KASSERT(pm == l->l_proc->p_vmspace->vm_map.pmap), line 432
    let e = expect_segtab_panic(|| p.segtab_activate(&pm, 1));
    assert_eq!(e.site, PanicSite::Kassert { line: 432 });

    // deactivate: curcpu's segtab invalid, seg0tab NULL
    p.env_mut().curcpu = 1;
    p.env().clear_events();
    p.segtab_deactivate(&pm);
    assert_eq!(p.env().events(), vec![Ev::XtabDeactivate]);
    assert_eq!(p.env().cpus[1].user_segtab(), p.env().invalid);
    assert!(p.env().cpus[1].user_seg0tab().is_null());
}

#[test]
fn activate_deactivate_32bit_booke() {
    type M = PowerpcBooke;
    let mut p = port::<M>(16);
    let kpm = Box::new(Pmap::<M>::new(0));
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    p.env_mut().kernel = &*kpm;
    p.env_mut().invalid = std::ptr::without_provenance_mut(0xfeeddead);
    p.env_mut().lwp_pmap = vec![&pm, &*kpm];
    let marker = std::ptr::without_provenance_mut(0x1234_0000);
    set_user_seg0tab(&p.env().cpus[0], marker);
    p.segtab_activate(&pm, 0);
    assert_eq!(p.env().cpus[0].user_segtab(), pm.pm_segtab());
    assert_eq!(p.env().cpus[0].user_seg0tab(), marker); // untouched (no _LP64)
    p.env_mut().lwp_pmap[0] = &*kpm;
    p.segtab_activate(&kpm, 0);
    assert_eq!(p.env().cpus[0].user_segtab() as usize, 0xfeeddead);
    p.segtab_deactivate(&pm);
    assert_eq!(p.env().cpus[0].user_segtab() as usize, 0xfeeddead);
    assert_eq!(p.env().cpus[0].user_seg0tab(), marker);
}

#[test]
fn activate_kassert_off_without_diagnostic() {
    type M = Riscv64Sv39Shape; // no DIAGNOSTIC
    let mut p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    p.env_mut().lwp_pmap = vec![std::ptr::null(), std::ptr::null()];
    p.segtab_activate(&pm, 0);
    assert_eq!(p.env().cpus[0].user_segtab(), pm.pm_segtab());
    assert!(p.env().cpus[0].user_seg0tab().is_null());
}

// ---------------------------------------------------------------------
// KASSERTMSG at line 220
// ---------------------------------------------------------------------

#[test]
fn segmap_kassert_direct_mapped_kernel_va() {
    quiet_panics();
    type M = MipsN64_4k;
    let mut p = port::<M>(16);
    let mut kpm = Box::new(Pmap::<M>::new(0));
    p.segtab_init(&mut kpm);
    p.env_mut().kernel = &*kpm;
    p.env_mut().direct = Some((0x8000_0000, 0xc000_0000));
    assert!(p.pte_lookup(&kpm, 0x1000).is_none());
    let e = expect_segtab_panic(|| p.pte_lookup(&kpm, 0x8000_1000).is_none());
    assert_eq!(e.site, PanicSite::Kassert { line: 220 });
    assert!(e.msg.contains("va 0x80001000"), "{}", e.msg);
    // a user pmap may use any va
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    assert!(p.pte_lookup(&pm, 0x8000_1000).is_none());
}

#[test]
fn segmap_kassert_off_without_diagnostic() {
    type M = Riscv64Sv39Shape;
    let mut p = port::<M>(16);
    let mut kpm = Box::new(Pmap::<M>::new(0));
    p.segtab_init(&mut kpm);
    p.env_mut().kernel = &*kpm;
    p.env_mut().direct = Some((0, u64::MAX));
    assert!(p.pte_lookup(&kpm, 0x1000).is_none());
}

// ---------------------------------------------------------------------
// pmap_pte_process
// ---------------------------------------------------------------------

type Call<M> = (<M as Machine>::Vaddr, <M as Machine>::Vaddr, usize, usize);

fn process<M: Machine>(p: &Port<M>, pm: &Pmap<M>, s: u64, e: u64) -> Vec<Call<M>> {
    let mut v = Vec::new();
    p.pte_process(
        pm,
        va::<M>(s),
        va::<M>(e),
        &mut |_, a, b, pte: PteRef<'_, M>, f| {
            v.push((a, b, pte.index(), f));
            true
        },
        3,
    );
    v
}

#[test]
fn process_ranges_32bit_top_of_address_space() {
    type M = MipsO32_4k;
    let p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    for a in [0x1000u32, 0x0080_0000, 0xffc0_0000] {
        p.pte_reserve(&pm, a, 0).unwrap();
    }
    // 0xffc00000 aliases slot 511 (PMAP_SEGTABSIZE * NBSEG = 2 GiB on this
    // host model), and so does 0x7fc00000.
    let calls = process(&p, &pm, 0x3000, 0xffff_f000);
    assert_eq!(
        calls,
        vec![
            (0x3000, 0x0040_0000, 3, 3),
            (0x0080_0000, 0x00c0_0000, 0, 3),
            (0x7fc0_0000, 0x8000_0000, 0, 3),
            (0x8000_0000, 0x8040_0000, 0, 3),
            (0x8080_0000, 0x80c0_0000, 0, 3),
            (0xffc0_0000, 0xffff_f000, 0, 3),
        ]
    );
    // top segment with eva at the very end: lastseg_va wraps to 0 -> eva
    let calls = process(&p, &pm, 0xffc0_1000, 0xffff_ffff);
    assert_eq!(calls, vec![(0xffc0_1000, 0xffff_ffff, 1, 3)]);
    // empty and inverted ranges do nothing
    assert!(process(&p, &pm, 0x5000, 0x5000).is_empty());
    assert!(process(&p, &pm, 0x6000, 0x5000).is_empty());
    // eva inside a segment
    let calls = process(&p, &pm, 0x0080_2000, 0x0080_5000);
    assert_eq!(calls, vec![(0x0080_2000, 0x0080_5000, 2, 3)]);
}

#[test]
fn process_top_of_address_space_lp64() {
    type M = Riscv64Sv39Shape;
    let p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    let top = u64::MAX - M::NBSEG + 1; // last segment
    p.pte_reserve(&pm, top + 0x5000, 0).unwrap();
    let calls = process(&p, &pm, top - M::NBSEG, u64::MAX);
    assert_eq!(calls, vec![(top, u64::MAX, 0, 3)]);
    // sva unaligned in the top segment: index of sva
    let calls = process(&p, &pm, top + 0x7000, u64::MAX);
    assert_eq!(calls, vec![(top + 0x7000, u64::MAX, 7, 3)]);
}

// ---------------------------------------------------------------------
// check_ptes alignment panic (unconditional), unaligned pm_minaddr quirk
// ---------------------------------------------------------------------

#[test]
fn check_ptes_alignment_panics_without_debug() {
    quiet_panics();
    type M = MipsO32_16k; // DEBUG off: the alignment check stays
    let p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0);
    p.segtab_init(&mut pm);
    let r = p.pte_reserve(&pm, 0, 0).unwrap();
    let bad = r.as_ptr().wrapping_add(1);
    // slot 3 of the live top segtab: deliberately corrupt it.
    slot_of::<M>(pm.pm_segtab(), 3).store(bad, Ordering::Release);
    let e = expect_segtab_panic(|| p.segtab_destroy(&mut pm, None, 0));
    assert_eq!(e.site, PanicSite::CheckPtesAlign);
    assert!(
        e.msg.starts_with("pmap_segtab_release: pte entry at 0x"),
        "{}",
        e.msg
    );
    assert!(e.msg.ends_with("not page aligned"), "{}", e.msg);
}

#[test]
fn unaligned_minaddr_callback_vas() {
    type M = MipsO32_4k;
    let p = port::<M>(16);
    let mut pm = Pmap::<M>::new(0x1000);
    p.segtab_init(&mut pm);
    p.pte_reserve(&pm, 0x0040_0000, 0).unwrap();
    let mut calls = Vec::new();
    p.segtab_destroy(
        &mut pm,
        Some(&mut |_, s, e, _, _| {
            calls.push((s, e));
            true
        }),
        0,
    );
    // va = pm_minaddr + i * vinc keeps the 0x1000 offset
    assert_eq!(calls, vec![(0x0040_1000, 0x0080_1000)]);
}

#[test]
fn minaddr_skips_low_segments_debug_panics() {
    quiet_panics();
    type M = MipsO32_4k;
    let p = port::<M>(16);
    let mut pm = Pmap::<M>::new(2 * 0x0040_0000 + 0x1000);
    p.segtab_init(&mut pm);
    p.pte_reserve(&pm, 0x0040_0000, 0).unwrap(); // slot 1: skipped
    p.pte_reserve(&pm, 0x00c0_0000, 0).unwrap(); // slot 3: released
    let e = expect_segtab_panic(|| p.segtab_destroy(&mut pm, None, 0));
    assert_eq!(e.site, PanicSite::CheckStp);
    assert!(
        e.msg
            .starts_with("pmap_segtab_release: pm_segtab.seg_tab[1] != 0 (0x"),
        "{}",
        e.msg
    );
    assert!(e.msg.ends_with("): release seg"), "{}", e.msg);
}

#[test]
fn minaddr_skips_low_segments_stale_entry_without_debug() {
    type M = MipsO32_16k; // no DEBUG: the stale segtab goes on the free list
    let mut p = port::<M>(16);
    let mut pm = Pmap::<M>::new(2 * M::NBSEG as u32);
    p.segtab_init(&mut pm);
    let stale = p.pte_reserve(&pm, M::NBSEG as u32, 0).unwrap().as_ptr();
    p.pte_reserve(&pm, 3 * M::NBSEG as u32, 0).unwrap();
    let stp = pm.pm_segtab();
    p.segtab_destroy(&mut pm, None, 0);
    assert_eq!(p.info().free_segtab, stp);
    let mut pm2 = Pmap::<M>::new(0);
    p.segtab_init(&mut pm2);
    assert_eq!(pm2.pm_segtab(), stp);
    // the new pmap sees the old pmap's PTE page for segment 1
    assert_eq!(p.pte_lookup(&pm2, M::NBSEG as u32).unwrap().as_ptr(), stale);
    assert!(p.pte_lookup(&pm2, 3 * M::NBSEG as u32).is_none());
}

#[test]
fn minaddr_lp64_recursion_starts_mid_table() {
    quiet_panics();
    type M = MipsN64_4k; // DEBUG: check_stp panics on the skipped entry
    let p = port::<M>(16);
    let mut pm = Pmap::<M>::new(M::NBSEG + 0x1000);
    p.segtab_init(&mut pm);
    p.pte_reserve(&pm, 0x2000, 0).unwrap(); // xseg 0, seg 0: skipped
    let e = expect_segtab_panic(|| p.segtab_destroy(&mut pm, None, 0));
    assert_eq!(e.site, PanicSite::CheckStp);
    assert!(e.msg.contains("seg_tab[0] != 0"), "{}", e.msg);
    assert!(e.msg.ends_with("release seg"), "{}", e.msg);
}

#[test]
fn minaddr_lp64_without_debug_leaves_stale_lower_segtab() {
    type M = MipsN64_16k;
    let mut p = port::<M>(16);
    let mut pm = Pmap::<M>::new(M::NBSEG + 0x1000);
    p.segtab_init(&mut pm);
    // xseg 1, seg 0: the recursion starts at index ((NBXSEG+NBSEG)/NBSEG)&2047 = 1
    let stale = p.pte_reserve(&pm, M::NBXSEG + 0x4000, 0).unwrap().as_ptr();
    p.pte_reserve(&pm, M::NBXSEG + 2 * M::NBSEG, 0).unwrap();
    let lower = seg_seg_raw::<M>(pm.pm_segtab(), 1);
    let mut calls = Vec::new();
    p.segtab_destroy(
        &mut pm,
        Some(&mut |_, s, e, _, _| {
            calls.push((s, e));
            true
        }),
        0,
    );
    assert_eq!(
        calls,
        vec![(
            M::NBXSEG + 2 * M::NBSEG + 0x1000,
            M::NBXSEG + 3 * M::NBSEG + 0x1000
        )]
    );
    // the skipped slot 0 was overwritten by the free-list link (NULL, as
    // the list was empty): its PTE page is leaked, still allocated
    assert_eq!(p.info().free_segtab, lower);
    assert!(seg_tab_raw::<M>(lower, 0).is_null());
    let stale_pg = p.env().page_containing(stale.cast()).unwrap();
    assert!(p.env().is_in_use(stale_pg));
    assert_eq!(p.info().ptp_first.map(|pg| pg == stale_pg), Some(false));
}

// ---------------------------------------------------------------------
// two instances are independent
// ---------------------------------------------------------------------

#[test]
fn two_instances_coexist() {
    type M = MipsO32_4k;
    let mut a = port::<M>(8);
    let mut b = port::<M>(8);
    let mut pa = Pmap::<M>::new(0);
    let mut pb = Pmap::<M>::new(0);
    a.segtab_init(&mut pa);
    b.segtab_init(&mut pb);
    a.segtab_destroy(&mut pa, None, 0);
    assert!(!a.info().free_segtab.is_null());
    assert!(b.info().free_segtab.is_null());
    assert_eq!(a.counters(), (0, 1, 1));
    assert_eq!(b.counters(), (0, 0, 1));
}

#[test]
fn pmap_of_another_instance_panics() {
    fn run<M: Machine>() {
        let mut a = port::<M>(16);
        let mut b = port::<M>(16);
        let mut pa = Pmap::<M>::new(va::<M>(0));
        a.segtab_init(&mut pa);
        let v = va::<M>(M::NBSEG + 0x2000);
        let pte = a.pte_reserve(&pa, v, 0).unwrap().as_ptr();
        let (a_info, b_info) = (a.info(), b.info());
        let a_in_use = a.env().in_use_count();
        a.env().clear_events();
        let msg = "pmap's segment table belongs to another PmapSegtab";
        let check = |m: String| assert!(m.contains(msg), "{m}");
        quietly(|| {
            check(expect_rust_panic(|| b.pte_lookup(&pa, v)));
            check(expect_rust_panic(|| b.pte_reserve(&pa, v, 0)));
            check(expect_rust_panic(|| {
                b.pte_process(&pa, v, v, &mut |_, _, _, _, _| true, 0)
            }));
            check(expect_rust_panic(|| b.segtab_activate(&pa, 0)));
            check(expect_rust_panic(|| b.segtab_destroy(&mut pa, None, 0)));
        });
        // b refused before any environment call: nothing moved between
        // the two instances' free lists, PTP caches or page pools.
        assert!(b.env().events().is_empty());
        assert!(a.env().events().is_empty());
        assert_eq!(b.env().lock_depth(), 0);
        assert_eq!(format!("{:?}", a.info()), format!("{a_info:?}"));
        assert_eq!(format!("{:?}", b.info()), format!("{b_info:?}"));
        assert_eq!(a.env().in_use_count(), a_in_use);
        assert_eq!(b.env().in_use_count(), 0);
        // a still owns the tree, intact.
        assert_eq!(a.pte_lookup(&pa, v).unwrap().as_ptr(), pte);
        a.segtab_destroy(&mut pa, None, 0);
        assert!(pa.pm_segtab().is_null());
        assert!(!a.info().free_segtab.is_null());
        assert!(b.info().free_segtab.is_null());
        // An empty pmap belongs to no one: b may give it a tree.
        b.segtab_init(&mut pa);
        assert!(b.pte_lookup(&pa, v).is_none());
        check(quietly(|| expect_rust_panic(|| a.pte_lookup(&pa, v))));
        b.segtab_destroy(&mut pa, None, 0);
    }
    run::<MipsN64_4k>();
    run::<MipsO32_16k>();
    run::<Riscv64Sv39Shape>();
}
