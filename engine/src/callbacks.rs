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
    /// The 8-byte host word holding entry `i` (the entry itself with 8-byte
    /// PTEs, it and its neighbour with 4-byte ones), as it is now.
    fn host_word(&self, i: u32) -> u64;
    /// Which host word of the page entry `i` lies in.
    fn host_word_index(&self, i: u32) -> u64;
    /// Or `bit` into the first `n` entries, except those in a host word
    /// that holds an address inside either compared pool (see
    /// [`leave_alone`]).
    fn set_bit(&mut self, n: u32, bit: u64) {
        let mut skip = WordSkip::default();
        for i in 0..n {
            if skip.entry(i, self) {
                continue;
            }
            let v = self.read(i);
            self.write(i, v | bit);
        }
    }
}

/// Whether `SetBit` leaves the entries of a host word alone: when the word
/// holds an address inside either pool of the compared pair. The C's quirks
/// leave stale segtab pointers where PTEs are read (a released segtab's
/// slots lead to a page the PTP cache keeps, and the cache does not zero);
/// ORing a bit into such a pointer makes the two sides' words differ by
/// more than where their pools lie (found by certify on mips64-n64-16k:
/// `corpus/regressions/stale-pointer-setbit-ptp-cache.json`), which says
/// nothing about the code under test. The predicate is the same for both
/// sides (an address in either pool), so a data value that happens to lie
/// in one pool is left alone on both.
pub fn leave_alone(word: u64) -> bool {
    shim::pool::in_compared_pools(word)
}

/// The decision of [`leave_alone`] for the host word of each entry, taken
/// once per word before any of its entries changes.
#[derive(Default)]
struct WordSkip {
    word: Option<u64>,
    skip: bool,
}

impl WordSkip {
    fn entry<W: PteWindow + ?Sized>(&mut self, i: u32, w: &W) -> bool {
        let at = w.host_word_index(i);
        if self.word != Some(at) {
            self.word = Some(at);
            self.skip = leave_alone(w.host_word(i));
        }
        self.skip
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
    fn host_word(&self, i: u32) -> u64 {
        self.pool
            .read_word(self.pfn, ((self.start + i) * self.bytes) & !7, 8)
    }
    fn host_word_index(&self, i: u32) -> u64 {
        ((self.start + i) * self.bytes / 8) as u64
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
        let (first, end) = (
            self.start as usize * b,
            (self.start + n.min(self.len)) as usize * b,
        );
        let page = self.pool.page_bytes_mut(self.pfn);
        // Whole host words (the page is 8-aligned), each left alone or not
        // as a whole, decided before any of its entries changes.
        let mut at = first & !7;
        while at < end {
            let word = u64::from_ne_bytes(page[at..at + 8].try_into().expect("8 bytes"));
            if !leave_alone(word) {
                for e in (at.max(first)..(at + 8).min(end)).step_by(b) {
                    let w = &mut page[e..e + b];
                    if b == 8 {
                        let v = u64::from_ne_bytes(w.try_into().expect("8-byte PTE")) | bit;
                        w.copy_from_slice(&v.to_ne_bytes());
                    } else {
                        let v = u32::from_ne_bytes(w.try_into().expect("4-byte PTE")) | bit as u32;
                        w.copy_from_slice(&v.to_ne_bytes());
                    }
                }
            }
            at += 8;
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

#[cfg(test)]
mod tests {
    use super::*;
    use shim::inspect::Geometry;

    fn geometry(pte_bytes: u32) -> Geometry {
        Geometry {
            lp64: true,
            segtabsize: 512,
            nptepg: 4096 / pte_bytes,
            pte_bytes,
            page_shift: 12,
            segshift: 21,
            xsegshift: 30,
        }
    }

    /// SetBit ORs its bit into every entry but those of a host word holding
    /// an address inside either compared pool (a stale segtab pointer): the
    /// whole 8-byte word is left as it was, with 4-byte and 8-byte PTEs.
    #[test]
    fn set_bit_leaves_a_stale_pool_pointer_alone() {
        for pte_bytes in [4u32, 8] {
            let mut p = PagePool::new(12, 8, false, false).unwrap();
            let other = PagePool::new(12, 8, false, false).unwrap();
            shim::pool::set_compared_pools(&p.map(), &other.map());
            let pfn = p.alloc(shim::UVM_PGA_ZERO).unwrap();
            let stale = p.base() as u64 + 3 * 4096 + 0x40;
            let theirs = other.base() as u64 + 0x80;
            p.write_word(pfn, 16, 8, stale);
            p.write_word(pfn, 32, 8, theirs);
            p.write_word(pfn, 48, 8, 0x1234);
            let g = geometry(pte_bytes);
            let loc = PteLoc::In {
                pfn,
                index: 0,
                rem: 0,
            };
            let mut w = PoolWindow::new(&mut p, loc, &g);
            w.set_bit(16 / pte_bytes * 4, 1 << 1);
            assert_eq!(p.read_word(pfn, 16, 8), stale, "{pte_bytes}-byte PTEs");
            assert_eq!(p.read_word(pfn, 32, 8), theirs, "{pte_bytes}-byte PTEs");
            let bit = if pte_bytes == 8 { 2 } else { 2 | 2 << 32 };
            assert_eq!(
                p.read_word(pfn, 48, 8),
                0x1234 | bit,
                "{pte_bytes}-byte PTEs"
            );
            assert_eq!(p.read_word(pfn, 0, 8), bit, "{pte_bytes}-byte PTEs");
        }
    }
}
