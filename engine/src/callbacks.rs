//! The `pte_callback_t`s a sequence can pass, implemented once and run on
//! both sides, and the trace they leave.

use crate::model::CbKind;
use c_reference::Config;
use shim::inspect::{Geometry, PteLoc};
use shim::pool::PagePool;

/// A callback's address arguments.
#[derive(Clone, Copy, Debug)]
pub struct Args {
    /// sva.
    pub sva: u64,
    /// eva.
    pub eva: u64,
}

/// One callback call, as compared between sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CbCall {
    /// Harness pmap index.
    pub pmap: u32,
    /// sva.
    pub sva: u64,
    /// eva.
    pub eva: u64,
    /// The `pte` argument as page identity and index.
    pub pte: PteLoc,
    /// flags.
    pub flags: u64,
    /// What the callback computed (Count: non-zero PTEs seen).
    pub result: u64,
}

/// The PTEs from the callback's `pte` argument to the end of its page.
pub trait PteWindow {
    /// Entries available.
    fn len(&self) -> u32;
    /// No entries (the pointer was not a well-formed PTE pointer).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Entry `i`.
    fn read(&self, i: u32) -> u64;
    /// Set entry `i`.
    fn write(&mut self, i: u32, v: u64);
    /// Non-zero entries among the first `n`. The callbacks walk whole PTE
    /// pages (up to 4096 entries on 16 KiB pages), so the windows do it in
    /// bulk where they can: entry by entry it was most of a concurrent
    /// step's time there.
    fn count_nonzero(&self, n: u32) -> u64 {
        (0..n).filter(|&i| self.read(i) != 0).count() as u64
    }
    /// Zero the first `n` entries.
    fn clear(&mut self, n: u32) {
        for i in 0..n {
            self.write(i, 0);
        }
    }
    /// Or `bit` into the first `n` entries.
    fn set_bit(&mut self, n: u32, bit: u64) {
        for i in 0..n {
            let v = self.read(i);
            self.write(i, v | bit);
        }
    }
}

/// A window into a pool frame (the C side's PTE pointers).
pub struct PoolWindow<'a> {
    pool: &'a mut PagePool,
    pfn: u32,
    start: u32,
    len: u32,
    bytes: u32,
}

impl<'a> PoolWindow<'a> {
    /// The window at `loc`; empty when `loc` is not a well-formed PTE pointer.
    pub fn new(pool: &'a mut PagePool, loc: PteLoc, g: &Geometry) -> Self {
        let (pfn, start, len) = match loc {
            PteLoc::In { pfn, index, rem: 0 } if index < g.nptepg => (pfn, index, g.nptepg - index),
            _ => (0, 0, 0),
        };
        PoolWindow {
            pool,
            pfn,
            start,
            len,
            bytes: g.pte_bytes,
        }
    }
}

impl PteWindow for PoolWindow<'_> {
    fn len(&self) -> u32 {
        self.len
    }
    fn read(&self, i: u32) -> u64 {
        self.pool
            .read_word(self.pfn, (self.start + i) * self.bytes, self.bytes)
    }
    fn write(&mut self, i: u32, v: u64) {
        self.pool
            .write_word(self.pfn, (self.start + i) * self.bytes, self.bytes, v)
    }
    fn count_nonzero(&self, n: u32) -> u64 {
        let b = self.bytes as usize;
        let range = self.start as usize * b..(self.start + n.min(self.len)) as usize * b;
        // page_bytes reads a frame ASan poisons as POISON, as read_word does.
        let bytes = &self.pool.page_bytes(self.pfn)[range];
        // Whole words, so that the loop vectorises.
        let n = if b == 8 {
            let word = |w: &[u8]| u64::from_ne_bytes(w.try_into().expect("8-byte PTE"));
            bytes.chunks_exact(8).filter(|w| word(w) != 0).count()
        } else {
            let word = |w: &[u8]| u32::from_ne_bytes(w.try_into().expect("4-byte PTE"));
            bytes.chunks_exact(4).filter(|w| word(w) != 0).count()
        };
        n as u64
    }
    fn clear(&mut self, n: u32) {
        let b = self.bytes as usize;
        let range = self.start as usize * b..(self.start + n.min(self.len)) as usize * b;
        self.pool.page_bytes_mut(self.pfn)[range].fill(0);
    }
    fn set_bit(&mut self, n: u32, bit: u64) {
        let b = self.bytes as usize;
        let range = self.start as usize * b..(self.start + n.min(self.len)) as usize * b;
        for w in self.pool.page_bytes_mut(self.pfn)[range].chunks_exact_mut(b) {
            if b == 8 {
                let v = u64::from_ne_bytes(w.try_into().expect("8-byte PTE")) | bit;
                w.copy_from_slice(&v.to_ne_bytes());
            } else {
                let v = u32::from_ne_bytes(w.try_into().expect("4-byte PTE")) | bit as u32;
                w.copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
}

/// Pages in [sva, eva) as a pmap would walk them (`vaddr_t` arithmetic).
pub fn pages_in(a: &Args, c: &Config) -> u64 {
    let bytes = a.eva.wrapping_sub(a.sva) & c.va_mask();
    bytes.div_ceil(1 << c.pgshift)
}

/// Run callback `kind` over the window; returns its result.
pub fn apply(kind: CbKind, a: &Args, c: &Config, w: &mut dyn PteWindow) -> u64 {
    let n = pages_in(a, c).min(w.len() as u64) as u32;
    match kind {
        CbKind::Record => 0,
        CbKind::Clear => {
            w.clear(n);
            n as u64
        }
        CbKind::SetBit(b) => {
            w.set_bit(n, 1u64 << (b as u32 % c.pte_bits));
            n as u64
        }
        CbKind::Count => w.count_nonzero(n),
    }
}
