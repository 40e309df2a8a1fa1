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
            for i in 0..n {
                w.write(i, 0);
            }
            n as u64
        }
        CbKind::SetBit(b) => {
            let bit = 1u64 << (b as u32 % c.pte_bits);
            for i in 0..n {
                let v = w.read(i);
                w.write(i, v | bit);
            }
            n as u64
        }
        CbKind::Count => (0..n).filter(|&i| w.read(i) != 0).count() as u64,
    }
}
