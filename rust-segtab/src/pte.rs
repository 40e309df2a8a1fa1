//! [`PteRef`]: a handle to one `pt_entry_t` inside a PTE page.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ptr::NonNull;

use crate::machine::Machine;

/// A handle to one `pt_entry_t` inside a PTE page (the C `pt_entry_t *`).
///
/// The lifetime ties the handle to the borrow that produced it (the pmap
/// for [`pte_lookup`](crate::PmapSegtab::pte_lookup) /
/// [`pte_reserve`](crate::PmapSegtab::pte_reserve), the call for
/// callbacks), during which the PTE page cannot be released.
///
/// Accesses are plain (non-volatile) reads and writes, as in the C file,
/// which accesses PTEs with ordinary loads and stores: the model has no
/// hardware walker or other agent observing the memory concurrently, and
/// nothing here is MMIO.
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
    /// reads and writes, and is accessed by nothing else concurrently, for
    /// `'a`.
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
        // SAFETY: by the `from_raw` contract the pointer is aligned and
        // valid for reads for 'a.
        unsafe { self.ptr.as_ptr().read() }
    }

    /// Writes the entry.
    pub fn write(self, v: M::Pte) {
        // SAFETY: by the `from_raw` contract the pointer is aligned and
        // valid for writes for 'a, with no concurrent access.
        unsafe { self.ptr.as_ptr().write(v) }
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
