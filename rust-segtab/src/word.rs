//! Machine words: the C unsigned integer types `vaddr_t`, `vsize_t` and
//! `pt_entry_t` of the modelled machine.
//!
//! All arithmetic is *wrapping*, like C unsigned arithmetic, and performed
//! at the width of the modelled type (32 bits on a 32-bit machine even on a
//! 64-bit host), so address computations overflow exactly where the C does
//! on the target.

use core::fmt::{Debug, LowerHex};
use core::hash::Hash;

/// An unsigned machine word (`u32` or `u64`) with C unsigned semantics.
pub trait Word:
    Copy + Eq + Ord + Debug + Default + Hash + LowerHex + Send + Sync + 'static
{
    /// Width in bits.
    const BITS: u32;
    /// The value 0.
    const ZERO: Self;
    /// The value 1.
    const ONE: Self;
    /// The largest value.
    const MAX: Self;

    /// Converts from `u64`, truncating like a C conversion to a narrower
    /// unsigned type.
    fn from_u64(x: u64) -> Self;
    /// Zero-extends to `u64`.
    fn to_u64(self) -> u64;
    /// Converts to `usize`, truncating on hosts where `usize` is narrower
    /// (like a C conversion to `size_t`).
    #[inline]
    fn to_usize(self) -> usize {
        self.to_u64() as usize
    }
    /// `self + rhs`, wrapping modulo 2^BITS.
    fn wrapping_add(self, rhs: Self) -> Self;
    /// `self - rhs`, wrapping modulo 2^BITS.
    fn wrapping_sub(self, rhs: Self) -> Self;
    /// `self * rhs`, wrapping modulo 2^BITS.
    fn wrapping_mul(self, rhs: Self) -> Self;
    /// `self / rhs` (panics when `rhs` is zero; C would trap).
    fn div(self, rhs: Self) -> Self;
    /// `self >> n`; `n` must be below `BITS` (as in C).
    fn shr(self, n: u32) -> Self;
    /// `self << n` (wrapping); `n` must be below `BITS` (as in C).
    fn shl(self, n: u32) -> Self;
    /// `self & rhs`.
    fn and(self, rhs: Self) -> Self;
    /// `self | rhs`.
    fn or(self, rhs: Self) -> Self;
    /// `~self`.
    fn not(self) -> Self;
    /// Loads `*p` as one atomic access with `Relaxed` ordering (a PTE that
    /// another CPU or a hardware walker may touch at the same time).
    ///
    /// # Safety
    ///
    /// `p` is aligned and valid for reads, and every concurrent access to
    /// `*p` is atomic.
    unsafe fn load_relaxed(p: *const Self) -> Self;
    /// Stores `v` in `*p` as one atomic access with `Relaxed` ordering.
    ///
    /// # Safety
    ///
    /// `p` is aligned and valid for writes, and every concurrent access to
    /// `*p` is atomic.
    unsafe fn store_relaxed(p: *mut Self, v: Self);
}

macro_rules! impl_word {
    ($($t:ty => $atomic:ty),*) => {$(
        impl Word for $t {
            const BITS: u32 = <$t>::BITS;
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const MAX: Self = <$t>::MAX;
            #[inline]
            fn from_u64(x: u64) -> Self {
                x as $t
            }
            #[inline]
            fn to_u64(self) -> u64 {
                self as u64
            }
            #[inline]
            fn wrapping_add(self, rhs: Self) -> Self {
                <$t>::wrapping_add(self, rhs)
            }
            #[inline]
            fn wrapping_sub(self, rhs: Self) -> Self {
                <$t>::wrapping_sub(self, rhs)
            }
            #[inline]
            fn wrapping_mul(self, rhs: Self) -> Self {
                <$t>::wrapping_mul(self, rhs)
            }
            #[inline]
            fn div(self, rhs: Self) -> Self {
                self / rhs
            }
            #[inline]
            fn shr(self, n: u32) -> Self {
                self >> n
            }
            #[inline]
            fn shl(self, n: u32) -> Self {
                self << n
            }
            #[inline]
            fn and(self, rhs: Self) -> Self {
                self & rhs
            }
            #[inline]
            fn or(self, rhs: Self) -> Self {
                self | rhs
            }
            #[inline]
            fn not(self) -> Self {
                !self
            }
            #[inline]
            unsafe fn load_relaxed(p: *const Self) -> Self {
                // SAFETY: aligned, valid and only accessed atomically, by
                // the caller's contract; the atomic type has the same size
                // and alignment as the integer on the hosts we build for.
                unsafe { <$atomic>::from_ptr(p.cast_mut()) }.load(core::sync::atomic::Ordering::Relaxed)
            }
            #[inline]
            unsafe fn store_relaxed(p: *mut Self, v: Self) {
                // SAFETY: as in load_relaxed.
                unsafe { <$atomic>::from_ptr(p) }.store(v, core::sync::atomic::Ordering::Relaxed)
            }
        }
    )*};
}

impl_word!(u32 => core::sync::atomic::AtomicU32, u64 => core::sync::atomic::AtomicU64);

#[cfg(test)]
mod tests {
    use super::Word;

    #[test]
    fn truncation_and_wrap() {
        assert_eq!(<u32 as Word>::from_u64(0x1_0000_0005), 5);
        assert_eq!(Word::wrapping_add(0xffc0_0000u32, 0x40_0000), 0);
        assert_eq!(Word::to_u64(u32::MAX), 0xffff_ffff);
        assert_eq!(Word::shr(0x8000_0000_0000_0000u64, 63), 1);
        assert_eq!(Word::not(0u32), u32::MAX);
        assert_eq!(Word::div(10u64, 3), 3);
    }
}
