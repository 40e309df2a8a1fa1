//! The [`Machine`] trait (per-port constants and `#ifdef` options) and the
//! [`Segtab`] union (`pmap_segtab_t`).

use core::marker::PhantomData;
use core::mem::size_of;

use crate::sync::Slot;
use crate::word::Word;

/// `pmap_segtab_t`: one segment table.
///
/// The C type is a union of two arrays, `seg_seg[PMAP_SEGTABSIZE]`
/// (pointers to lower segtabs on LP64, and the free-list link in
/// `seg_seg[0]`) and `seg_tab[PMAP_SEGTABSIZE]` (pointers to PTE pages):
/// slot `i` of either is the same pointer-sized word. Here it is one
/// array of [`Slot`]s, each an atomic pointer because other CPUs load and
/// CAS them concurrently (C lines 518 and 554). `AtomicPtr` has the size
/// and bit validity of `*mut T`, so the layout is the C's and an all-zero
/// page is an empty segtab (in normal builds; under loom, slots are model
/// objects made by [`Segtab::new`]).
#[repr(C)]
pub struct Segtab<P, const N: usize> {
    slots: [Slot; N],
    _pte: PhantomData<fn() -> P>,
}

impl<P, const N: usize> Segtab<P, N> {
    /// An empty segtab (every slot NULL). A kernel never builds one this
    /// way (segtabs are carved from zeroed pages); tests and loom
    /// environments do.
    pub fn new() -> Self {
        Segtab {
            slots: core::array::from_fn(|_| Slot::null()),
            _pte: PhantomData,
        }
    }

    /// Slot `i` (`seg_seg[i]` / `seg_tab[i]`); panics if `i >= N` (the C
    /// masks every index, so this never fires).
    #[inline]
    pub fn slot(&self, i: usize) -> &Slot {
        &self.slots[i]
    }
}

impl<P, const N: usize> Default for Segtab<P, N> {
    fn default() -> Self {
        Self::new()
    }
}

mod sealed {
    pub trait Sealed {}
    impl<P, const N: usize> Sealed for super::Segtab<P, N> {}
}

/// Helper trait giving the length of a [`Segtab`] type and its slots.
/// Implemented only for [`Segtab`] (sealed).
pub trait SegtabLayout: sealed::Sealed + Sized + Default + 'static {
    /// The `pt_entry_t` type that `seg_tab` points to.
    type Pte;
    /// `PMAP_SEGTABSIZE`: number of slots.
    const LEN: usize;

    /// Slot `i` of `this` (see [`Segtab::slot`]).
    fn slot_of(this: &Self, i: usize) -> &Slot;
}

impl<P: 'static, const N: usize> SegtabLayout for Segtab<P, N> {
    type Pte = P;
    const LEN: usize = N;

    #[inline]
    fn slot_of(this: &Self, i: usize) -> &Slot {
        this.slot(i)
    }
}

/// A machine (NetBSD port + kernel options) the file is compiled for.
///
/// The boolean options mirror `#ifdef _LP64`, `DEBUG`, `DIAGNOSTIC`,
/// `MULTIPROCESSOR` and `PMAP_PTP_CACHE`; they are constants so untaken
/// paths compile away. The derived constants have defaults and must not
/// be overridden ([`Machine::CHECKS`] verifies that they were not).
///
/// Usually declared with [`define_machine!`](crate::define_machine).
pub trait Machine: 'static + Sized {
    /// `vaddr_t` / `vsize_t` (`u32` on 32-bit machines, `u64` on LP64).
    type Vaddr: Word;
    /// `pt_entry_t`.
    type Pte: Word;
    /// `pmap_segtab_t`, i.e. `Segtab<Self::Pte, PMAP_SEGTABSIZE>`.
    type Segtab: SegtabLayout<Pte = Self::Pte>;

    /// Human-readable name of the configuration.
    const NAME: &'static str;
    /// `PGSHIFT`.
    const PGSHIFT: u32;
    /// `SEGSHIFT`.
    const SEGSHIFT: u32;
    /// `XSEGSHIFT` (ignored unless [`Machine::LP64`]).
    const XSEGSHIFT: u32;
    /// `_LP64` (two-level segment tables).
    const LP64: bool;
    /// `DEBUG` (counters, `pmap_check_stp` / `pmap_check_ptes` loops).
    const DEBUG: bool;
    /// `DIAGNOSTIC` (`KASSERT`, `KASSERTMSG`).
    const DIAGNOSTIC: bool;
    /// `MULTIPROCESSOR` (`atomic_cas_ptr` installs).
    const MULTIPROCESSOR: bool;
    /// `PMAP_PTP_CACHE` (idle PTE-page list).
    const PTP_CACHE: bool;

    /// `NBPG` = `1 << PGSHIFT`.
    const NBPG: usize = 1usize << Self::PGSHIFT;
    /// `PAGE_MASK` = `NBPG - 1`.
    const PAGE_MASK: usize = Self::NBPG - 1;
    /// `NPTEPG` = `NBPG / sizeof(pt_entry_t)`.
    const NPTEPG: usize = Self::NBPG / size_of::<Self::Pte>();
    /// `PMAP_SEGTABSIZE`.
    const PMAP_SEGTABSIZE: usize = <Self::Segtab as SegtabLayout>::LEN;
    /// `NSEGPG` (equal to `PMAP_SEGTABSIZE`).
    const NSEGPG: usize = Self::PMAP_SEGTABSIZE;
    /// `NBSEG` = `1 << SEGSHIFT`.
    const NBSEG: u64 = 1u64 << Self::SEGSHIFT;
    /// `SEGOFSET` = `NBSEG - 1`.
    const SEGOFSET: u64 = Self::NBSEG - 1;
    /// `NBXSEG` = `1 << XSEGSHIFT` (0 when not LP64).
    const NBXSEG: u64 = if Self::LP64 {
        1u64 << Self::XSEGSHIFT
    } else {
        0
    };

    /// Compile-time checks, evaluated when the port is instantiated
    /// (referenced by `PmapSegtab::new`). Mirrors C line 111
    /// `CTASSERT(NBPG >= sizeof(pmap_segtab_t))` using the *host* pointer
    /// size, plus consistency checks of the constants.
    const CHECKS: () = {
        // Under loom a slot is a model object, not a pointer: the layout
        // checks hold only for the real thing.
        #[cfg(not(loom))]
        assert!(
            Self::NBPG >= size_of::<Self::Segtab>(),
            "CTASSERT(NBPG >= sizeof(pmap_segtab_t)) failed (host layout)"
        );
        assert!(Self::NBPG == 1usize << Self::PGSHIFT, "NBPG overridden");
        assert!(Self::PAGE_MASK == Self::NBPG - 1, "PAGE_MASK overridden");
        assert!(
            Self::NPTEPG == Self::NBPG / size_of::<Self::Pte>(),
            "NPTEPG overridden"
        );
        assert!(
            Self::PMAP_SEGTABSIZE == <Self::Segtab as SegtabLayout>::LEN,
            "PMAP_SEGTABSIZE overridden"
        );
        assert!(Self::NSEGPG == Self::PMAP_SEGTABSIZE, "NSEGPG overridden");
        assert!(Self::NBSEG == 1u64 << Self::SEGSHIFT, "NBSEG overridden");
        assert!(Self::SEGOFSET == Self::NBSEG - 1, "SEGOFSET overridden");
        assert!(
            Self::PMAP_SEGTABSIZE.is_power_of_two(),
            "PMAP_SEGTABSIZE must be a power of two"
        );
        assert!(
            Self::NPTEPG.is_power_of_two(),
            "NPTEPG must be a power of two"
        );
        assert!(Self::PGSHIFT < Self::SEGSHIFT, "PGSHIFT < SEGSHIFT");
        assert!(
            Self::SEGSHIFT < <Self::Vaddr as Word>::BITS,
            "SEGSHIFT must fit vaddr_t"
        );
        #[cfg(not(loom))]
        assert!(
            size_of::<Self::Segtab>() == Self::PMAP_SEGTABSIZE * size_of::<*mut u8>(),
            "pmap_segtab_t layout"
        );
        if Self::LP64 {
            assert!(
                <Self::Vaddr as Word>::BITS == 64,
                "LP64 needs a 64-bit vaddr_t"
            );
            assert!(Self::XSEGSHIFT > Self::SEGSHIFT, "XSEGSHIFT > SEGSHIFT");
            assert!(Self::XSEGSHIFT < 64, "XSEGSHIFT must fit vaddr_t");
            assert!(Self::NBXSEG == 1u64 << Self::XSEGSHIFT, "NBXSEG overridden");
        } else {
            assert!(Self::NBXSEG == 0, "NBXSEG overridden");
        }
    };

    /// `NBSEG` as a `vaddr_t`.
    #[inline]
    fn nbseg() -> Self::Vaddr {
        Self::Vaddr::from_u64(Self::NBSEG)
    }

    /// `pmap_trunc_seg(va)` = `va & ~SEGOFSET`.
    #[inline]
    fn trunc_seg(va: Self::Vaddr) -> Self::Vaddr {
        va.and(Self::Vaddr::from_u64(Self::SEGOFSET).not())
    }
}
