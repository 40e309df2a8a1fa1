//! [`PhysAddr`]: a physical address at the [`Env`](crate::Env) seam.
//!
//! The C passes `paddr_t` and `vaddr_t` as plain integers, and a
//! `PMAP_MAP_POOLPAGE(pa)` given a kernel virtual address compiles. Here a
//! physical address has its own type (as `x86_64::PhysAddr` does), so a
//! KVA (`*mut u8`) never passes for one.

use core::fmt;

/// A physical address (`paddr_t`).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(u64);

impl PhysAddr {
    /// Wraps a raw physical address.
    #[inline]
    pub const fn new(pa: u64) -> Self {
        PhysAddr(pa)
    }

    /// The raw value.
    #[inline]
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysAddr({:#x})", self.0)
    }
}

impl fmt::LowerHex for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}
