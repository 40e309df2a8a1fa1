//! The synchronisation primitives the port is built on, in one place so
//! that `--cfg loom` can swap in the model checker's versions.
//!
//! * [`Slot`]: one pointer slot another CPU may read or CAS concurrently
//!   (`seg_seg[i]` / `seg_tab[i]`, `pm_segtab`, the `cpu_info` fields).
//!   In normal builds it is `core::sync::atomic::AtomicPtr`,
//!   which has the size and bit validity of a raw pointer, so a segtab of
//!   slots keeps the C layout and a zero-filled page is an empty segtab.
//!   Under loom it is `loom::sync::atomic::AtomicPtr`, a model object that
//!   must be created with `new` (a zeroed page is not one).
//! * `LockCell`: data that only `pmap_segtab_lock` protects
//!   (`pmap_segtab_info`). Under loom it is `loom::cell::UnsafeCell`, so
//!   the model checker reports any access not ordered by the lock.

use core::ffi::c_void;

#[cfg(not(loom))]
use core::sync::atomic::AtomicPtr;
#[cfg(loom)]
use loom::sync::atomic::AtomicPtr;

pub use core::sync::atomic::Ordering;

/// One pointer slot shared between CPUs (see the module docs).
///
/// The slot is untyped (`void *`) because `pmap_segtab_t` is a union: the
/// same slot is `seg_seg[i]` (a lower segtab, or the free-list link in
/// slot 0) or `seg_tab[i]` (a PTE page). The port gives each access its
/// type.
#[repr(transparent)]
pub struct Slot(AtomicPtr<c_void>);

impl Slot {
    /// A NULL slot.
    #[cfg(not(loom))]
    pub const fn null() -> Self {
        Slot(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// A NULL slot.
    #[cfg(loom)]
    pub fn null() -> Self {
        Slot(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// Loads the slot.
    #[inline]
    pub fn load<T>(&self, order: Ordering) -> *mut T {
        self.0.load(order).cast()
    }

    /// Stores `p` in the slot.
    #[inline]
    pub fn store<T>(&self, p: *mut T, order: Ordering) {
        self.0.store(p.cast(), order)
    }

    /// Installs `new` if the slot holds `old`; returns what it held.
    ///
    /// This is the port's `atomic_cas_ptr` (see
    /// [`Env::atomic_cas_ptr`](crate::Env::atomic_cas_ptr)). Orderings:
    /// `new` is a page that was zero-filled (by the allocator) or carved
    /// and checked by this CPU, and another CPU that loads the slot will
    /// walk into it, so the success store is `Release`. A CPU that loses
    /// goes on to use the winner's page (C line 522 `nstp = ostp`, line 567
    /// `pte = opte`), so the failure load is `Acquire`. NetBSD's
    /// `atomic_cas_ptr(3)` promises no ordering at all; the C gets away
    /// with it because its readers reach the page through a data
    /// dependency on the loaded pointer (ordered on every NetBSD port but
    /// Alpha) and because PTE pages come zeroed from a page allocator that
    /// took locks. Rust has no `consume`, so the port states the pairing
    /// explicitly: this `Release` with the `Acquire` loads of the walk.
    #[inline]
    pub fn cas_publish(&self, old: *mut c_void, new: *mut c_void) -> *mut c_void {
        match self
            .0
            .compare_exchange(old, new, Ordering::Release, Ordering::Acquire)
        {
            Ok(prev) | Err(prev) => prev,
        }
    }
}

impl Default for Slot {
    fn default() -> Self {
        Slot::null()
    }
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:p}", self.load::<c_void>(Ordering::Relaxed))
    }
}

/// Data protected by `pmap_segtab_lock` (see the module docs).
pub(crate) struct LockCell<T> {
    #[cfg(not(loom))]
    cell: core::cell::UnsafeCell<T>,
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<T>,
}

impl<T> LockCell<T> {
    pub(crate) fn new(v: T) -> Self {
        LockCell {
            #[cfg(not(loom))]
            cell: core::cell::UnsafeCell::new(v),
            #[cfg(loom)]
            cell: loom::cell::UnsafeCell::new(v),
        }
    }

    /// Runs `f` on the data.
    ///
    /// # Safety
    ///
    /// The caller holds `pmap_segtab_lock`, or has exclusive access to the
    /// whole port (`&mut`), so no other CPU touches the data during `f`.
    #[inline]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(not(loom))]
        {
            // SAFETY: exclusive by the caller's contract.
            f(unsafe { &mut *self.cell.get() })
        }
        #[cfg(loom)]
        {
            // SAFETY: exclusive by the caller's contract; loom checks it.
            self.cell.with_mut(|p| f(unsafe { &mut *p }))
        }
    }
}
