//! `struct pmap_segtab_info` and `pmap_segtab_lock` (C lines 113–133): the
//! state every CPU shares, reachable only through [`SegtabLock`], the
//! guard the environment's spin lock gives.
//!
//! The free list, the PTP cache head and the DEBUG counters `nget` and
//! `nput` live in a
//! [`LockCell`]; the only ways in are a live [`SegtabLock`] (the lock is
//! held) and [`PmapSegtab::info`](crate::PmapSegtab::info) (which takes
//! `&mut`, so no other CPU can be inside). Touching them without the lock
//! does not compile. The one exception is `npage_segtab`, which the C
//! itself increments outside the lock (line 364): the port keeps it in an
//! atomic next to this state rather than add a lock round trip the C does
//! not make.

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;

use crate::env::{Env, PanicSite, SpinHeld};
use crate::machine::Machine;
use crate::sync::LockCell;

/// The fields of `pmap_segtab_info`.
pub(crate) struct Info<P> {
    /// `free_segtab`: head of the free list, linked through `seg_seg[0]`.
    pub(crate) free_segtab: *mut c_void,
    /// `nget_segtab` (DEBUG).
    pub(crate) nget: u32,
    /// `nput_segtab` (DEBUG).
    pub(crate) nput: u32,
    /// `LIST_FIRST(&ptp_pgflist)` (PMAP_PTP_CACHE).
    pub(crate) ptp_first: Option<P>,
}

impl<P> Info<P> {
    pub(crate) const fn new() -> Self {
        Info {
            free_segtab: core::ptr::null_mut(),
            nget: 0,
            nput: 0,
            ptp_first: None,
        }
    }
}

/// A copy of `pmap_segtab_info`, read with exclusive access
/// ([`PmapSegtab::info`](crate::PmapSegtab::info)).
pub struct SegtabInfo<S, P> {
    /// `free_segtab`: head of the free list.
    pub free_segtab: *mut S,
    /// `nget_segtab` (0 without DEBUG).
    pub nget_segtab: u32,
    /// `nput_segtab` (0 without DEBUG).
    pub nput_segtab: u32,
    /// `npage_segtab` (0 without DEBUG).
    pub npage_segtab: u32,
    /// First page of the PTP cache (`None` without PMAP_PTP_CACHE).
    pub ptp_first: Option<P>,
}

// By hand: derives would demand `S: Clone + PartialEq`, and a segtab is
// neither (only pointers to it are copied and compared).
impl<S, P: Copy> Clone for SegtabInfo<S, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S, P: Copy> Copy for SegtabInfo<S, P> {}
impl<S, P: PartialEq> PartialEq for SegtabInfo<S, P> {
    fn eq(&self, o: &Self) -> bool {
        self.free_segtab == o.free_segtab
            && self.nget_segtab == o.nget_segtab
            && self.nput_segtab == o.nput_segtab
            && self.npage_segtab == o.npage_segtab
            && self.ptp_first == o.ptp_first
    }
}
impl<S, P: Eq> Eq for SegtabInfo<S, P> {}

impl<S, P: fmt::Debug> fmt::Debug for SegtabInfo<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegtabInfo")
            .field("free_segtab", &self.free_segtab)
            .field("nget_segtab", &self.nget_segtab)
            .field("nput_segtab", &self.nput_segtab)
            .field("npage_segtab", &self.npage_segtab)
            .field("ptp_first", &self.ptp_first)
            .finish()
    }
}

/// Makes the guard `!Send` (a raw pointer) and ties it to its machine.
type CpuBound<M> = PhantomData<(*const (), fn() -> M)>;

/// `pmap_segtab_lock` held: entered by [`SegtabLock::enter`], exited
/// when dropped. Not `Send`: a spin lock is released by the CPU that took
/// it.
pub(crate) struct SegtabLock<'a, M: Machine, E: Env<M>> {
    env: &'a E,
    info: &'a LockCell<Info<E::Page>>,
    _cpu_bound: CpuBound<M>,
}

impl<'a, M: Machine, E: Env<M>> SegtabLock<'a, M, E> {
    /// `mutex_spin_enter(&pmap_segtab_lock)`.
    #[inline]
    pub(crate) fn enter(env: &'a E, info: &'a LockCell<Info<E::Page>>) -> Self {
        env.mutex_spin_enter();
        SegtabLock {
            env,
            info,
            _cpu_bound: PhantomData,
        }
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Info<E::Page>) -> R) -> R {
        // SAFETY: this guard exists only while the lock is held (Env
        // contract: mutual exclusion, acquire/release), and `f` cannot
        // reach the guard to nest a second access.
        unsafe { self.info.with_mut(f) }
    }

    /// `pmap_segtab_info.free_segtab`.
    #[inline]
    pub(crate) fn free_segtab(&self) -> *mut M::Segtab {
        self.with(|i| i.free_segtab.cast())
    }

    /// `pmap_segtab_info.free_segtab = stp`.
    #[inline]
    pub(crate) fn set_free_segtab(&mut self, stp: *mut M::Segtab) {
        self.with(|i| i.free_segtab = stp.cast())
    }

    /// `SEGTAB_ADD(nget, v)`: a no-op without DEBUG (line 120).
    #[inline]
    pub(crate) fn add_nget(&mut self, v: u32) {
        if M::DEBUG {
            self.with(|i| i.nget = i.nget.wrapping_add(v))
        }
    }

    /// `SEGTAB_ADD(nput, v)`.
    #[inline]
    pub(crate) fn add_nput(&mut self, v: u32) {
        if M::DEBUG {
            self.with(|i| i.nput = i.nput.wrapping_add(v))
        }
    }

    /// `LIST_FIRST(&pmap_segtab_info.ptp_pgflist)`.
    #[inline]
    pub(crate) fn ptp_first(&self) -> Option<E::Page> {
        self.with(|i| i.ptp_first)
    }

    /// `LIST_INSERT_HEAD(&pmap_segtab_info.ptp_pgflist, pg, pageq.list)`.
    #[inline]
    pub(crate) fn ptp_insert_head(&mut self, pg: E::Page) {
        let first = self.ptp_first();
        self.env.set_ptp_next(&SpinHeld::PROOF, pg, first);
        self.with(|i| i.ptp_first = Some(pg))
    }

    /// `LIST_REMOVE(pg, pageq.list)` of the head `pg`; returns the new
    /// head.
    #[inline]
    pub(crate) fn ptp_remove_head(&mut self, pg: E::Page) -> Option<E::Page> {
        let next = self.env.ptp_next(&SpinHeld::PROOF, pg);
        self.with(|i| i.ptp_first = next);
        next
    }

    /// `panic()` with the lock held: the C never releases it, so neither
    /// does the port (the guard is forgotten, not dropped, before a panic
    /// that may unwind).
    pub(crate) fn panic(self, site: PanicSite, msg: fmt::Arguments<'_>) -> ! {
        let env = self.env;
        core::mem::forget(self);
        env.panic(site, msg)
    }
}

impl<M: Machine, E: Env<M>> Drop for SegtabLock<'_, M, E> {
    /// `mutex_spin_exit(&pmap_segtab_lock)`.
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard was made by `enter`, so this CPU holds the lock.
        unsafe { self.env.mutex_spin_exit() }
    }
}
