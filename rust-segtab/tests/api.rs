//! The port's API that the differential engine does not reach (it builds
//! each pmap with `Pmap::new(minaddr)` and never formats or compares the
//! port's own values): setters, panic sites, equality and the `Debug`
//! forms. cargo-mutants (`scripts/mutants.sh`) found these untested.

mod common;

use common::*;
use rust_segtab::machines::*;
use rust_segtab::{CpuInfo, Ordering, PanicSite, PhysAddr, Pmap, PteRef, SegtabInfo, Slot};
use std::ptr::NonNull;

/// A kernel that sets `pm_minaddr` after creating the pmap gets what it set,
/// and `pmap_segtab_destroy` starts there (C line 420): a table below it
/// stays behind in the freed segtab, the release quirk of lines 270-272.
#[test]
fn set_pm_minaddr_is_where_destroy_starts() {
    quiet_panics();
    let mut p = port::<MipsO32_16k>(64);
    let mut pm = Pmap::<MipsO32_16k>::new(0);
    assert_eq!(pm.pm_minaddr(), 0);
    let seg = 1u32 << 26;
    pm.set_pm_minaddr(8 * seg);
    assert_eq!(pm.pm_minaddr(), 8 * seg);
    p.segtab_init(&mut pm);
    p.pte_reserve(&pm, seg, 0).expect("a PTE");
    let root = pm.pm_segtab();
    p.segtab_destroy(&mut pm, None, 0);
    // The freed segtab (now the head of the free list) still holds the
    // PTE page of segment 1: the loop started at segment 8.
    let info = p.info();
    assert_eq!(info.free_segtab, root);
    // SAFETY: the segtab is on the port's free list, in a live arena page.
    let slot = unsafe { (*root).slot(1) };
    assert!(!slot.load::<u32>(Ordering::Relaxed).is_null());
}

/// The C line each panic site names.
#[test]
fn panic_sites_name_their_c_lines() {
    assert_eq!(PanicSite::CheckStp.line(), 161);
    assert_eq!(PanicSite::CheckPtesAlign.line(), 178);
    assert_eq!(PanicSite::CheckPtesNonzero.line(), 194);
    assert_eq!(PanicSite::ReserveNoPage.line(), 545);
    assert_eq!(PanicSite::Kassert { line: 529 }.line(), 529);
}

#[test]
fn segtab_info_equality_is_field_by_field() {
    let base = SegtabInfo::<u8, u32> {
        free_segtab: std::ptr::null_mut(),
        nget_segtab: 1,
        nput_segtab: 2,
        npage_segtab: 3,
        ptp_first: Some(4),
    };
    assert_eq!(base, base.clone());
    let mut byte = 0u8;
    type Change = fn(&mut SegtabInfo<u8, u32>, *mut u8);
    let changes: [Change; 5] = [
        |i, p| i.free_segtab = p,
        |i, _| i.nget_segtab += 1,
        |i, _| i.nput_segtab += 1,
        |i, _| i.npage_segtab += 1,
        |i, _| i.ptp_first = None,
    ];
    for change in changes {
        let mut other = base;
        change(&mut other, &mut byte);
        assert_ne!(base, other);
    }
    let text = format!("{base:?}");
    assert!(
        text.starts_with("SegtabInfo") && text.contains("npage_segtab: 3"),
        "{text}"
    );
}

#[test]
fn pte_refs_are_equal_when_they_name_the_same_entry() {
    #[repr(C, align(4096))]
    struct Page([u32; 1024]);
    let mut page = Box::new(Page([0; 1024]));
    let base = page.0.as_mut_ptr();
    // SAFETY: `page` is one NBPG-aligned page of NPTEPG entries for
    // MipsN64_4k, alive and only touched through these refs.
    let (a, b, c) = unsafe {
        (
            PteRef::<MipsN64_4k>::from_raw(NonNull::new(base.add(3)).unwrap()),
            PteRef::<MipsN64_4k>::from_raw(NonNull::new(base.add(3)).unwrap()),
            PteRef::<MipsN64_4k>::from_raw(NonNull::new(base.add(4)).unwrap()),
        )
    };
    assert!(a == b);
    assert!(a != c);
    let text = format!("{a:?}");
    assert!(
        text.starts_with("PteRef(") && text.ends_with("[3])"),
        "{text}"
    );
}

#[test]
fn debug_and_hex_forms_show_the_values() {
    let pa = PhysAddr::new(0x4000_1000);
    assert_eq!(format!("{pa:?}"), "PhysAddr(0x40001000)");
    assert_eq!(format!("{pa:x}"), "40001000");
    assert_eq!(format!("{pa:#x}"), "0x40001000");
    let pm = Pmap::<MipsN64_4k>::new(0x2000);
    let text = format!("{pm:?}");
    assert!(
        text.starts_with("Pmap") && text.contains("pm_minaddr: 8192"),
        "{text}"
    );
    let ci = CpuInfo::<MipsN64_4k>::new();
    let text = format!("{ci:?}");
    assert!(
        text.starts_with("CpuInfo") && text.contains("ci_pmap_user_segtab"),
        "{text}"
    );
    assert_eq!(
        format!("{:?}", Slot::null()),
        format!("{:p}", std::ptr::null::<u8>())
    );
    let p = port::<MipsN64_4k>(8);
    let text = format!("{p:?}");
    assert!(text.starts_with("PmapSegtab"), "{text}");
}
