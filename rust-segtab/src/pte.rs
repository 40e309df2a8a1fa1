//! [`PteRef`]: a handle to one `pt_entry_t` inside a PTE page.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ptr::NonNull;

use crate::machine::Machine;
use crate::word::Word;

/// A handle to one `pt_entry_t` inside a PTE page (the C `pt_entry_t *`).
///
/// The lifetime ties the handle to the borrow that produced it (the pmap
/// for [`pte_lookup`](crate::PmapSegtab::pte_lookup) /
/// [`pte_reserve`](crate::PmapSegtab::pte_reserve), the call for
/// callbacks), during which the PTE page cannot be released.
///
/// Accesses are single `Relaxed` atomic loads and stores. The C uses
/// plain loads and stores, but on a multiprocessor two CPUs can hold a
/// pointer to the same PTE page (both reserved the same segment, C lines
/// 554–568), and a TLB refill handler or hardware walker reads PTEs while
/// the kernel writes them: in Rust such accesses must be atomic to be
/// defined. `Relaxed` is enough because a PTE publishes nothing; the page
/// it points into was published by the slot that holds it.
pub struct PteRef<'a, M: Machine> {
    ptr: NonNull<M::Pte>,
    _life: PhantomData<&'a M::Pte>,
}

impl<M: Machine> Clone for PteRef<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M: Machine> Copy for PteRef<'_, M> {}

impl<M: Machine> PartialEq for PteRef<'_, M> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}
impl<M: Machine> Eq for PteRef<'_, M> {}

impl<M: Machine> fmt::Debug for PteRef<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PteRef({:p}[{}])", self.page_kva(), self.index())
    }
}

impl<'a, M: Machine> PteRef<'a, M> {
    /// Wraps a raw PTE pointer.
    ///
    /// # Safety
    ///
    /// `ptr` is aligned and points into a page of `M::NPTEPG` entries
    /// (starting at an `M::NBPG`-aligned address) that stays valid for
    /// reads and writes for `'a`, and which is accessed only atomically
    /// while other threads may touch it.
    pub unsafe fn from_raw(ptr: NonNull<M::Pte>) -> Self {
        PteRef {
            ptr,
            _life: PhantomData,
        }
    }

    /// The raw `pt_entry_t *`.
    pub fn as_ptr(self) -> *mut M::Pte {
        self.ptr.as_ptr()
    }

    /// Reads the entry.
    pub fn read(self) -> M::Pte {
        // SAFETY: by the `from_raw` contract the pointer is aligned,
        // valid for reads for 'a, and only accessed atomically.
        unsafe { <M::Pte as Word>::load_relaxed(self.ptr.as_ptr()) }
    }

    /// Writes the entry.
    pub fn write(self, v: M::Pte) {
        // SAFETY: by the `from_raw` contract the pointer is aligned,
        // valid for writes for 'a, and only accessed atomically.
        unsafe { <M::Pte as Word>::store_relaxed(self.ptr.as_ptr(), v) }
    }

    /// Index of the entry within its PTE page (from the address).
    pub fn index(self) -> usize {
        (self.ptr.as_ptr() as usize & M::PAGE_MASK) / size_of::<M::Pte>()
    }

    /// Address of the start of the PTE page.
    pub fn page_kva(self) -> *mut M::Pte {
        self.ptr.as_ptr().wrapping_sub(self.index())
    }

    /// The entry `n` places further on, if it is still inside the page.
    pub fn offset(self, n: usize) -> Option<PteRef<'a, M>> {
        let idx = self.index().checked_add(n)?;
        if idx >= M::NPTEPG {
            return None;
        }
        // SAFETY: idx < NPTEPG, so the result stays inside the same page,
        // which the `from_raw` contract makes valid for 'a.
        Some(unsafe { PteRef::from_raw(NonNull::new_unchecked(self.ptr.as_ptr().add(n))) })
    }
}

// SAFETY: a PteRef is a pointer into a PTE page that every party accesses
// atomically (`from_raw` contract), so sharing or sending the handle within
// its lifetime cannot cause a data race.
unsafe impl<M: Machine> Send for PteRef<'_, M> {}
// SAFETY: as for Send.
unsafe impl<M: Machine> Sync for PteRef<'_, M> {}
