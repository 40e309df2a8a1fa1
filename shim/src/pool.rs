//! A deterministic pool of page frames.
//!
//! Frames live in one anonymous mapping, NBPG-aligned. A frame is handed
//! out LIFO: the most recently freed frame first, then never-used frames in
//! increasing order, so which physical page lands where depends only on the
//! sequence of allocations and frees. Each frame has a C-layout
//! `struct vm_page` (its `pageq.list` link is what the PTP cache threads
//! through). A limit on frames in use and a fail-next-N counter inject
//! allocation failures; every allocation, failure, free and wait is logged.
//!
//! The pool is also a memory-safety oracle for both sides: a freed frame is
//! filled with [`POISON`], and the poison is checked when the frame is
//! handed out again, by [`PagePool::check_free_list`] (the frames a
//! periodic deep pass reads) and by [`PagePool::check_reach`] (every frame
//! the sequence since the last reset could have reached: the end of every
//! sequence and every panic). A store into a free frame is recorded as a
//! [`PoisonViolation`] naming the frame, the offset and the step that freed
//! it. Under AddressSanitizer (`cargo fuzz`), free frames are also poisoned
//! through ASan's manual interface, so any access reports its stack.
//!
//! A check costs what changed: a frame whose contents were verified (or
//! filled) since the last call into the code under test started
//! ([`PagePool::begin_call`]) and that the harness has not written since is
//! not read again; the others are compared a 64-bit word at a time by
//! `native/scan.c`, which is compiled without coverage instrumentation (see
//! there).
//!
//! The mapping lies below 4 GiB where the host allows, else in a 4 GiB
//! window whose base the shim adds back to a 32-bit `vaddr_t`; see
//! [`crate::placement`].

use crate::bindings::vm_page;
use crate::placement::{self, Mapping};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Something that happened in the pool, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolEvent {
    /// A frame was handed out (`PMAP_ALLOC_POOLPAGE`).
    Alloc {
        /// Frame number.
        pfn: u32,
        /// The `UVM_PGA_*` flags asked for.
        flags: i32,
    },
    /// An allocation failed.
    AllocFailed {
        /// The `UVM_PGA_*` flags asked for.
        flags: i32,
        /// By fail-next-N injection rather than the limit.
        injected: bool,
    },
    /// A frame came back (`uvm_pagefree`).
    Free {
        /// Frame number.
        pfn: u32,
    },
    /// A frame that was not allocated was freed (a bug in the caller).
    BadFree {
        /// Frame number (or `u32::MAX` when the page was not in the pool).
        pfn: u32,
    },
    /// `PMAP_MAP_POOLPAGE` of this frame.
    Map {
        /// Frame number (`u32::MAX`: not a pool frame).
        pfn: u32,
    },
    /// `PMAP_UNMAP_POOLPAGE` of this frame.
    Unmap {
        /// Frame number (`u32::MAX`: not a pool frame).
        pfn: u32,
    },
    /// `uvm_wait` was called.
    Wait {
        /// Whether a retry can succeed; if not the caller would sleep forever.
        retry: bool,
    },
}

/// A pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The mapping failed (too large, no room in the window, or a bad
    /// `SEGTAB_POOL`).
    #[error("cannot map {pages} pages of {page_size} bytes{}: {source}", if *narrow { " in the 4 GiB window" } else { "" })]
    Map {
        /// Frames asked for.
        pages: usize,
        /// Bytes per frame.
        page_size: usize,
        /// Whether the pool had to lie in the window (32-bit `vaddr_t`).
        narrow: bool,
        /// The OS error.
        source: std::io::Error,
    },
    /// Nonsense geometry.
    #[error("bad pool geometry: {0}")]
    Geometry(String),
}

/// The physical address of frame 0 where pool pages are not identity-mapped.
/// Non-zero so that PA 0 is never a valid page.
pub const PHYS_BASE: u64 = 0x1000_0000;

/// Waits allowed within one harness call before `uvm_wait` is declared
/// endless even if retries could in principle succeed (a loop in the code
/// under test).
pub const WAIT_BUDGET: u32 = 1024;

/// Where a pool's frames are, detached from the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolMap {
    base: u64,
    capacity: u32,
    page_shift: u32,
}

impl PoolMap {
    /// Frame and offset of a host address, or None outside the pool.
    #[inline]
    pub fn locate(&self, addr: u64) -> Option<(u32, u32)> {
        let off = addr.checked_sub(self.base)?;
        let pfn = off >> self.page_shift;
        (pfn < self.capacity as u64)
            .then(|| (pfn as u32, (off & ((1 << self.page_shift) - 1)) as u32))
    }

    /// Whether `a` (an address in this pool) and `b` (in `other`, whose
    /// frames have the same size) point at the same frame and offset:
    /// [`Self::locate`] of both, equal, without the division into frame and
    /// offset (the deep pass asks this of every slot).
    #[inline]
    pub fn same_place(&self, a: u64, other: &PoolMap, b: u64) -> bool {
        let (oa, ob) = (a.wrapping_sub(self.base), b.wrapping_sub(other.base));
        oa == ob
            && oa < (self.capacity as u64) << self.page_shift
            && ob < (other.capacity as u64) << other.page_shift
    }
}

/// The two pools a pair of sides is being compared over (the C's and the
/// port's), as `[lo, hi)` address ranges: set by the engine before each
/// step ([`set_compared_pools`]), read by the harness's callbacks
/// ([`in_compared_pools`]). Atomics, so that CPU threads (where coroutines
/// are not available) read what the stepping thread set.
static COMPARED: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// Declare the pools of the two sides about to run a step.
pub fn set_compared_pools(a: &PoolMap, b: &PoolMap) {
    for (k, m) in [a, b].into_iter().enumerate() {
        let hi = m.base + ((m.capacity as u64) << m.page_shift);
        COMPARED[2 * k].store(m.base, Ordering::Relaxed);
        COMPARED[2 * k + 1].store(hi, Ordering::Relaxed);
    }
}

/// Whether `w` is an address inside either pool of the pair being compared.
/// The same answer on both sides for the same word: what a callback decides
/// with it, it decides alike for the C and the port.
pub fn in_compared_pools(w: u64) -> bool {
    (0..2).any(|k| {
        let lo = COMPARED[2 * k].load(Ordering::Relaxed);
        let hi = COMPARED[2 * k + 1].load(Ordering::Relaxed);
        lo <= w && w < hi
    })
}

/// The byte a free frame is filled with: `0xa5a5...` is neither zero (an
/// empty table) nor a pool address nor a PTE value the harness writes.
pub const POISON: u8 = 0xa5;

/// A store into a frame while it was free (use after free, or a stray
/// store past the end of a page).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoisonViolation {
    /// The frame.
    pub pfn: u32,
    /// Offset of the first byte that changed.
    pub offset: u32,
    /// The 8 bytes at that (8-aligned) offset, as found.
    pub found: u64,
    /// The step that freed the frame (`None`: never allocated since the
    /// pool was made or reset).
    pub freed_at: Option<u32>,
    /// The step at which the change was seen.
    pub seen_at: u32,
}

impl std::fmt::Display for PoisonViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "free page {} changed at offset {:#x} (now {:#018x}), ",
            self.pfn, self.offset, self.found
        )?;
        match self.freed_at {
            Some(s) => write!(f, "freed at step {s}")?,
            None => write!(f, "never handed out")?,
        }
        write!(f, ", seen at step {}", self.seen_at)
    }
}

/// Index of the first word of `words` that is not `want` (`words.len()`:
/// none). The C loop (`native/scan.c`) is not instrumented by
/// SanitizerCoverage or ASan: a harness check must neither feed libFuzzer's
/// coverage nor cost a callback per compare, and it reads ASan-poisoned free
/// frames without unpoisoning them.
#[cfg(segtab_native_scan)]
fn first_word_not(words: *const u64, n: usize, want: u64) -> usize {
    unsafe extern "C" {
        fn segtab_shim_first_word_not(words: *const u64, n: usize, want: u64) -> usize;
    }
    // SAFETY: callers pass the start of a frame of the pool's mapping and
    // its length in words; the C only reads them.
    unsafe { segtab_shim_first_word_not(words, n, want) }
}

/// The stand-in where `native/scan.c` was not compiled (a cross
/// type-check): the same word loop in Rust, unpoisoning under ASan.
#[cfg(not(segtab_native_scan))]
fn first_word_not(words: *const u64, n: usize, want: u64) -> usize {
    asan::unpoison(words.cast(), n * 8);
    // SAFETY: as above; the frame is readable and not written meanwhile.
    let s = unsafe { std::slice::from_raw_parts(words, n) };
    s.iter().position(|&w| w != want).unwrap_or(n)
}

/// The first index in `from..n` at which `a[i]` or `b[i]` is not zero, or
/// `n` (`native/scan.c`, uninstrumented, as [`first_word_not`]).
#[cfg(segtab_native_scan)]
fn next_nonzero(a: *const u64, b: *const u64, from: usize, n: usize) -> usize {
    unsafe extern "C" {
        fn segtab_shim_next_nonzero(a: *const u64, b: *const u64, from: usize, n: usize) -> usize;
    }
    // SAFETY: callers pass two n-word tables inside pool frames; the C only
    // reads them.
    unsafe { segtab_shim_next_nonzero(a, b, from, n) }
}

/// The stand-in for [`next_nonzero`] where `native/scan.c` was not compiled.
#[cfg(not(segtab_native_scan))]
fn next_nonzero(a: *const u64, b: *const u64, from: usize, n: usize) -> usize {
    // SAFETY: as above.
    (from..n)
        .find(|&i| unsafe { a.add(i).read() | b.add(i).read() } != 0)
        .unwrap_or(n)
}

/// A value of [`PagePool::calls`] no call reaches: "not known clean".
const NOT_CLEAN: u64 = u64::MAX;

#[cfg(segtab_asan)]
mod asan {
    unsafe extern "C" {
        fn __asan_poison_memory_region(addr: *const u8, size: usize);
        fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
    }
    pub(super) fn poison(p: *const u8, n: usize) {
        // SAFETY: ASan's manual poisoning only marks shadow memory for a
        // range of our own mapping.
        unsafe { __asan_poison_memory_region(p, n) }
    }
    pub(super) fn unpoison(p: *const u8, n: usize) {
        // SAFETY: as poison.
        unsafe { __asan_unpoison_memory_region(p, n) }
    }
}
#[cfg(not(segtab_asan))]
mod asan {
    pub(super) fn poison(_: *const u8, _: usize) {}
    pub(super) fn unpoison(_: *const u8, _: usize) {}
}

/// What a free frame must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Never handed out since the pool was made: zero.
    Zero,
    /// Freed: [`POISON`].
    Poison,
    /// In use when the pool was last reset: whatever its last user left
    /// (not checked until it is freed again; resetting does not refill
    /// it, so a reset costs what was used, not its bytes).
    Stale,
}

/// The pool. See the module docs.
pub struct PagePool {
    base: NonNull<u8>,
    /// The memory, given back when the pool is dropped.
    _mapping: Mapping,
    page_shift: u32,
    capacity: u32,
    phys_base: u64,
    pages: Box<[vm_page]>,
    allocated: Vec<bool>,
    free: Vec<u32>,
    next_fresh: u32,
    in_use: u32,
    limit: u32,
    fail_next: u32,
    waits: u32,
    events: Vec<PoolEvent>,
    /// Frames below this were handed out at some time since the pool was
    /// made; frames above were never touched (zero).
    high_water: u32,
    /// What each free frame must hold (see [`Expect`]).
    expect: Vec<Expect>,
    /// The step that last freed each frame.
    freed_at: Vec<Option<u32>>,
    /// The current step (set by the engine), for the reports.
    step: u32,
    /// Stores into free frames seen so far.
    violations: Vec<PoisonViolation>,
    /// Calls into the code under test so far ([`PagePool::begin_call`]).
    /// Only such a call stores into a frame behind the pool's back; the
    /// harness writes through [`PagePool::page_bytes_mut`] and
    /// [`PagePool::write_word`], which forget what was verified.
    calls: u64,
    /// Per frame: the value of `calls` when its contents were last known to
    /// be what `expect` says (filled or checked), or [`NOT_CLEAN`]. Equal
    /// to `calls`: no code has run since, so a check would find the same.
    clean_at: Vec<u64>,
    /// Whether every frame the sequence could reach was checked since the
    /// last call (see [`PagePool::check_reach`]).
    swept: bool,
    /// Whether a call into the code under test may still be running: set
    /// by [`PagePool::begin_call`], cleared by the harness's checks, which
    /// run only between calls. A frame filled or checked inside a call
    /// (an allocation's guard frames, a freed page's poison) is not clean
    /// as of `calls`: the same call may store into it afterwards (a
    /// carving loop past the page it just allocated, a use after the free
    /// it just made), so such frames are left [`NOT_CLEAN`] for the next
    /// check to read.
    in_call: bool,
}

// SAFETY: the pool owns its mapping exclusively; the raw pointers inside
// (`base`, the vm_page links) point only into memory it owns.
unsafe impl Send for PagePool {}

impl PagePool {
    /// A pool of `capacity` frames of `1 << page_shift` bytes.
    ///
    /// `narrow`: the configuration's `vaddr_t` is 32 bits, so the pool must
    /// lie inside the process's 4 GiB window (the shim rebuilds pointers
    /// from 32-bit `vaddr_t`s with the window's base). Other pools go there
    /// too when there is room, so that a host pointer left in a page later
    /// read as 32-bit PTEs (the release quirk can do that) has the same
    /// high half on both sides; see `inspect::pte_value`. `identity`:
    /// physical addresses are the KVAs (booke).
    pub fn new(
        page_shift: u32,
        capacity: usize,
        narrow: bool,
        identity: bool,
    ) -> Result<Self, PoolError> {
        if !(10..=16).contains(&page_shift) || capacity == 0 || capacity > u32::MAX as usize / 2 {
            return Err(PoolError::Geometry(format!(
                "page shift {page_shift}, {capacity} pages"
            )));
        }
        let page_size = 1usize << page_shift;
        // One spare page: room to align, and above the last frame, where a
        // store past the end of the pool lands in memory the pool owns.
        let mapping =
            Mapping::new((capacity + 1) * page_size, narrow).map_err(|source| PoolError::Map {
                pages: capacity,
                page_size,
                narrow,
                source,
            })?;
        let addr = mapping.addr();
        let misalign = (addr as usize).wrapping_neg() & (page_size - 1);
        // SAFETY: the mapping includes one spare page, so rounding up to the
        // page size stays inside it.
        let base = unsafe { addr.add(misalign) };
        let phys_base = if identity { base as u64 } else { PHYS_BASE };
        let pages: Box<[vm_page]> = (0..capacity as u64)
            .map(|pfn| vm_page {
                phys_addr: phys_base + (pfn << page_shift),
                pfn,
                ..Default::default()
            })
            .collect();
        Ok(Self {
            base: NonNull::new(base).expect("mmap returned null"),
            _mapping: mapping,
            page_shift,
            capacity: capacity as u32,
            phys_base,
            pages,
            allocated: vec![false; capacity],
            free: Vec::new(),
            next_fresh: 0,
            in_use: 0,
            limit: capacity as u32,
            fail_next: 0,
            waits: 0,
            events: Vec::new(),
            high_water: 0,
            expect: vec![Expect::Zero; capacity],
            freed_at: vec![None; capacity],
            step: 0,
            violations: Vec::new(),
            calls: 0,
            clean_at: vec![NOT_CLEAN; capacity],
            swept: true,
            in_call: false,
        })
    }

    /// Back to the state of a new pool, in time proportional to the frames
    /// used since the last reset (not to the capacity).
    pub fn reset(&mut self) {
        self.in_call = false;
        if !self.swept {
            // The last sequence ended without a full check (it diverged
            // first): check its frames now and forget what it did, so that
            // a store it made into a free frame is never blamed on a later
            // sequence, and frames beyond a later sequence's reach are known
            // clean (see `check_reach`).
            self.check_reach();
        }
        for pfn in 0..self.next_fresh as usize {
            if self.allocated[pfn] {
                // Free frames keep their poison; frames in use hold what
                // their user left, which nobody checks until they are
                // handed out (zeroed) and freed again.
                self.expect[pfn] = Expect::Stale;
            }
            self.allocated[pfn] = false;
            self.pages[pfn].pageq = Default::default();
            // Rev 1.31 attaches table pages to their pmap (pmap_page_attach
            // KASSERTs the owner is NULL): a new world starts unowned.
            self.pages[pfn].uobject = std::ptr::null_mut();
            self.pages[pfn].offset = 0;
            self.freed_at[pfn] = None;
        }
        self.violations.clear();
        self.step = 0;
        self.free.clear();
        self.next_fresh = 0;
        self.in_use = 0;
        self.limit = self.capacity;
        self.fail_next = 0;
        self.waits = 0;
        self.events.clear();
    }

    /// `PMAP_ALLOC_POOLPAGE(flags)`.
    pub fn alloc(&mut self, flags: i32) -> Option<u32> {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            self.events.push(PoolEvent::AllocFailed {
                flags,
                injected: true,
            });
            return None;
        }
        let pfn = if self.in_use >= self.limit {
            None
        } else if let Some(pfn) = self.free.pop() {
            Some(pfn)
        } else if self.next_fresh < self.capacity {
            self.next_fresh += 1;
            // Guard frames: the two frames above the ones this sequence has
            // hold poison, not zeroes, so a store just past the last page
            // handed out (a carving loop one segtab too far, C line 380) is
            // seen whatever it stores, NULL included; `reach` covers them.
            for g in self.next_fresh..(self.next_fresh + 2).min(self.capacity) {
                if self.expect[g as usize] != Expect::Poison {
                    self.fill_poison(g);
                }
            }
            Some(self.next_fresh - 1)
        } else {
            None
        };
        let Some(pfn) = pfn else {
            self.events.push(PoolEvent::AllocFailed {
                flags,
                injected: false,
            });
            return None;
        };
        // The frame must come back as it was left: a store into it while
        // it was free is a finding. (Checked while still ASan-poisoned:
        // the check is uninstrumented C.)
        self.check_frame(pfn);
        asan::unpoison(self.kva(pfn), self.page_size());
        self.high_water = self.high_water.max(pfn + 1);
        self.allocated[pfn as usize] = true;
        self.in_use += 1;
        if flags & crate::UVM_PGA_ZERO != 0 {
            self.page_bytes_mut(pfn).fill(0);
        }
        self.events.push(PoolEvent::Alloc { pfn, flags });
        Some(pfn)
    }

    /// Frame `pfn` holds what `expect` says as of now: clean as of `calls`
    /// between calls; inside one, not known clean after it (see `in_call`).
    fn mark_clean(&mut self, pfn: u32) {
        self.clean_at[pfn as usize] = if self.in_call { NOT_CLEAN } else { self.calls };
    }

    fn fill_poison(&mut self, pfn: u32) {
        asan::unpoison(self.kva(pfn), self.page_size());
        self.page_bytes_mut(pfn).fill(POISON);
        self.expect[pfn as usize] = Expect::Poison;
        self.mark_clean(pfn);
        asan::poison(self.kva(pfn), self.page_size());
    }

    /// Checks one free frame; records a violation and restores the frame
    /// (leaving its ASan state as it was) if it changed. A frame verified
    /// or filled since the last call began is not read: only a call can
    /// have changed it.
    fn check_frame(&mut self, pfn: u32) -> bool {
        let want = match self.expect[pfn as usize] {
            Expect::Zero => 0,
            Expect::Poison => POISON,
            Expect::Stale => return true,
        };
        if self.clean_at[pfn as usize] == self.calls {
            return true;
        }
        let words = self.page_size() / 8;
        let want_word = u64::from_ne_bytes([want; 8]);
        // Frames are page-aligned, so u64-aligned.
        let i = first_word_not(self.kva(pfn).cast::<u64>(), words, want_word);
        if i == words {
            self.mark_clean(pfn);
            return true;
        }
        // A store was made: unpoison to read and restore the frame (Rust
        // code is ASan-instrumented).
        asan::unpoison(self.kva(pfn), self.page_size());
        // SAFETY: word i < words lies inside frame pfn, aligned.
        let found = unsafe { self.kva(pfn).cast::<u64>().add(i).read() };
        let byte = found.to_ne_bytes().iter().position(|&b| b != want);
        self.violations.push(PoisonViolation {
            pfn,
            offset: (8 * i + byte.unwrap_or(0)) as u32,
            found,
            freed_at: self.freed_at[pfn as usize],
            seen_at: self.step,
        });
        // Report each store once.
        self.page_bytes_mut(pfn).fill(want);
        self.mark_clean(pfn);
        if self.asan_poisoned(pfn) {
            asan::poison(self.kva(pfn), self.page_size());
        }
        false
    }

    /// Checks every free frame that a store could have reached: all
    /// frames ever handed out and the two above them (where a store past
    /// the end of the last page lands). Returns false if one changed (see
    /// [`PagePool::violations`]).
    pub fn check_free(&mut self) -> bool {
        let ok = self.check_free_in(&|_| true);
        self.swept = true;
        ok
    }

    /// [`PagePool::check_free`] for the frames `pages` admits.
    pub fn check_free_in(&mut self, pages: &dyn Fn(u32) -> bool) -> bool {
        let end = (self.high_water.max(self.next_fresh) + 2).min(self.capacity);
        self.check_free_list((0..end).filter(|&p| pages(p)))
    }

    /// The free frames the sequence since the last reset could have stored
    /// into: those handed out since the reset and the two above them.
    /// After a reset frames are handed out in increasing order from 0 (the
    /// free list starts empty), so these are `0..reach()`.
    pub fn reach(&self) -> u32 {
        (self.next_fresh + 2).min(self.capacity)
    }

    /// Checks every free frame in `0..reach()`: the end of a sequence and
    /// every panic. Frames above were checked when the sequence that last
    /// reached them ended (or by [`PagePool::reset`]); this sequence's code
    /// holds no address of theirs (a reset empties every root and list, and
    /// every table page is handed out zeroed, `UVM_PGA_ZERO` at line 205 of
    /// the C), so they need no reading. Returns false if one changed.
    pub fn check_reach(&mut self) -> bool {
        let ok = self.check_free_list(0..self.reach());
        self.swept = true;
        ok
    }

    /// [`PagePool::check_free`] for the given frames (those above the
    /// reach of a store, or in use, are skipped).
    pub fn check_free_list(&mut self, frames: impl IntoIterator<Item = u32>) -> bool {
        // The harness checks between calls: what it verifies now stays
        // verified until the next call begins.
        self.in_call = false;
        let end = (self.high_water.max(self.next_fresh) + 2).min(self.capacity);
        let mut ok = true;
        for pfn in frames {
            if pfn < end && !self.allocated[pfn as usize] {
                ok &= self.check_frame(pfn);
            }
        }
        ok
    }

    /// Stores into free frames seen so far (by allocations and
    /// [`PagePool::check_free`]).
    pub fn violations(&self) -> &[PoisonViolation] {
        &self.violations
    }

    /// Sets the step number the next events belong to (for reports).
    pub fn set_step(&mut self, step: u32) {
        self.step = step;
    }

    /// Frames handed out at some time since the pool was made: free ones
    /// among them must hold the poison.
    pub fn high_water(&self) -> u32 {
        self.high_water
    }

    /// `uvm_pagefree`. A frame that is not allocated is logged as
    /// [`PoolEvent::BadFree`] and otherwise ignored, so a buggy caller
    /// cannot corrupt the pool.
    pub fn free(&mut self, pfn: u32) -> bool {
        if pfn >= self.capacity || !self.allocated[pfn as usize] {
            self.events.push(PoolEvent::BadFree { pfn });
            return false;
        }
        self.allocated[pfn as usize] = false;
        self.in_use -= 1;
        self.free.push(pfn);
        self.freed_at[pfn as usize] = Some(self.step);
        self.fill_poison(pfn);
        self.events.push(PoolEvent::Free { pfn });
        true
    }

    /// `uvm_wait`: true if retrying the allocation can succeed. When it
    /// cannot (nothing is injected, the limit is reached, and one thread
    /// holds the world so nobody else will free a page) the caller would
    /// sleep forever; so would a caller that keeps waiting past
    /// [`WAIT_BUDGET`].
    pub fn wait(&mut self) -> bool {
        self.waits += 1;
        let retry = self.waits <= WAIT_BUDGET
            && (self.fail_next > 0
                || (self.in_use < self.limit
                    && (!self.free.is_empty() || self.next_fresh < self.capacity)));
        self.events.push(PoolEvent::Wait { retry });
        retry
    }

    /// Log a `PMAP_MAP_POOLPAGE` (`map`) or `PMAP_UNMAP_POOLPAGE` of `pa`.
    pub fn note_map(&mut self, map: bool, pa: u64) {
        let pfn = self
            .pfn_of_pa(pa & !(self.page_size() as u64 - 1))
            .unwrap_or(u32::MAX);
        self.events.push(if map {
            PoolEvent::Map { pfn }
        } else {
            PoolEvent::Unmap { pfn }
        });
    }

    /// Start of a harness call: the wait budget applies per call.
    pub fn begin_call(&mut self) {
        self.waits = 0;
        // From here the code under test may store anywhere: nothing
        // verified before is known clean any more.
        self.calls += 1;
        self.swept = false;
        self.in_call = true;
    }

    /// Fail the next `n` allocations.
    pub fn fail_next(&mut self, n: u32) {
        self.fail_next = n;
    }

    /// Allow at most `limit` frames in use (clamped to the capacity).
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit.min(self.capacity);
    }

    /// Frames in use.
    #[inline]
    pub fn in_use(&self) -> u32 {
        self.in_use
    }
    /// Frames that have been handed out at least once since the last reset.
    pub fn touched(&self) -> u32 {
        self.next_fresh
    }
    /// Capacity in frames.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }
    /// Current limit on frames in use.
    pub fn limit(&self) -> u32 {
        self.limit
    }
    /// Remaining injected failures.
    pub fn pending_failures(&self) -> u32 {
        self.fail_next
    }
    /// Whether frame `pfn` is allocated.
    pub fn is_allocated(&self, pfn: u32) -> bool {
        self.allocated.get(pfn as usize).copied().unwrap_or(false)
    }
    /// The event log since the last [`Self::take_events`] or reset.
    pub fn events(&self) -> &[PoolEvent] {
        &self.events
    }
    /// Drain the event log.
    pub fn take_events(&mut self) -> Vec<PoolEvent> {
        std::mem::take(&mut self.events)
    }
    /// Forget the event log.
    pub fn clear_events(&mut self) {
        self.events.clear();
    }

    /// log2 of the page size.
    pub fn page_shift(&self) -> u32 {
        self.page_shift
    }
    /// Bytes per frame.
    pub fn page_size(&self) -> usize {
        1 << self.page_shift
    }
    /// Physical address of frame 0.
    pub fn phys_base(&self) -> u64 {
        self.phys_base
    }
    /// KVA of frame 0.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }
    /// The `struct vm_page` array (for the C world's `PHYS_TO_VM_PAGE`).
    pub fn vm_pages_mut(&mut self) -> *mut vm_page {
        self.pages.as_mut_ptr()
    }
    /// `VM_PAGE_TO_PHYS`.
    pub fn pa(&self, pfn: u32) -> u64 {
        self.phys_base + ((pfn as u64) << self.page_shift)
    }
    /// `PHYS_TO_VM_PAGE`, as a frame number.
    pub fn pfn_of_pa(&self, pa: u64) -> Option<u32> {
        let off = pa.checked_sub(self.phys_base)?;
        let pfn = off >> self.page_shift;
        (pfn < self.capacity as u64 && off & (self.page_size() as u64 - 1) == 0)
            .then_some(pfn as u32)
    }
    /// `PMAP_MAP_POOLPAGE`: the KVA of frame `pfn`.
    pub fn kva(&self, pfn: u32) -> *mut u8 {
        assert!(pfn < self.capacity, "frame {pfn} outside the pool");
        // SAFETY: pfn < capacity, so the offset stays inside the mapping.
        unsafe { self.base.as_ptr().add((pfn as usize) << self.page_shift) }
    }
    /// Which frame, and where in it, a host address points; None outside the pool.
    #[inline]
    pub fn locate(&self, addr: u64) -> Option<(u32, u32)> {
        self.map().locate(addr)
    }
    /// As [`locate`](Self::locate) for a word read from a page: a full host
    /// address, or in a word of at most 32 bits the low half of one (the
    /// high half is the window's, the same for every pool of the process;
    /// see [`placement`]). Below 4 GiB the two are the same.
    pub fn locate_word(&self, v: u64) -> Option<(u32, u32)> {
        self.locate(v).or_else(|| {
            let window = placement::window_of(self.base.as_ptr() as u64);
            (v >> 32 == 0 && window != 0)
                .then(|| self.locate(window + v))
                .flatten()
        })
    }
    /// The frame of a `struct vm_page *` of this pool.
    #[inline]
    pub fn pfn_of_vm_page(&self, pg: *const vm_page) -> Option<u32> {
        let off = (pg as usize).checked_sub(self.pages.as_ptr() as usize)?;
        let size = std::mem::size_of::<vm_page>();
        (off % size == 0 && off / size < self.capacity as usize).then(|| (off / size) as u32)
    }
    /// Pointer to frame `pfn`'s `struct vm_page`.
    pub fn vm_page_ptr(&mut self, pfn: u32) -> *mut vm_page {
        &mut self.pages[pfn as usize]
    }
    /// The `pageq.list.le_next` link of frame `pfn`, as a frame number.
    pub fn list_next(&self, pfn: u32) -> Option<u32> {
        let page = self.pages.get(pfn as usize)?;
        // SAFETY: `pageq` is a one-member union (NetBSD's has a TAILQ member
        // too; the shim keeps only `list`), always initialised.
        let next = unsafe { page.pageq.list.le_next };
        if next.is_null() {
            None
        } else {
            Some(self.pfn_of_vm_page(next).unwrap_or(u32::MAX))
        }
    }

    /// Set the `pageq.list.le_next` link of frame `pfn` (for an environment
    /// that threads the PTP cache through the same `struct vm_page`s as the C).
    pub fn set_list_next(&mut self, pfn: u32, next: Option<u32>) {
        let next_ptr = match next {
            Some(n) if n < self.capacity => &mut self.pages[n as usize] as *mut vm_page,
            _ => std::ptr::null_mut(),
        };
        if let Some(page) = self.pages.get_mut(pfn as usize) {
            page.pageq.list.le_next = next_ptr;
        }
    }

    /// A copyable description of where the frames are, to classify
    /// addresses while the pool itself is borrowed.
    #[inline]
    pub fn map(&self) -> PoolMap {
        PoolMap {
            base: self.base.as_ptr() as u64,
            capacity: self.capacity,
            page_shift: self.page_shift,
        }
    }

    /// Frame `pfn` as bytes, as the harness reads it. Under AddressSanitizer
    /// a poisoned free frame reads as [`POISON`] without touching it (the
    /// real bytes are [`PagePool::check_free`]'s to check), so the
    /// harness's own comparisons do not trip ASan.
    pub fn page_bytes(&self, pfn: u32) -> &[u8] {
        if cfg!(segtab_asan) && self.asan_poisoned(pfn) {
            static POISONED: [u8; 1 << 16] = [POISON; 1 << 16];
            return &POISONED[..self.page_size()];
        }
        self.raw_page_bytes(pfn)
    }

    /// Whether ASan has frame `pfn` poisoned (a free frame holding POISON).
    fn asan_poisoned(&self, pfn: u32) -> bool {
        (pfn as usize) < self.expect.len()
            && !self.allocated[pfn as usize]
            && self.expect[pfn as usize] == Expect::Poison
    }

    /// Frame `pfn` as its real bytes.
    fn raw_page_bytes(&self, pfn: u32) -> &[u8] {
        let p = self.kva(pfn);
        // SAFETY: kva() returned the start of a frame inside the mapping; the
        // frame is page_size bytes, readable, and only mutated through &mut self.
        unsafe { std::slice::from_raw_parts(p, self.page_size()) }
    }
    /// Frame `pfn` as mutable bytes.
    pub fn page_bytes_mut(&mut self, pfn: u32) -> &mut [u8] {
        let p = self.kva(pfn);
        // A tracked write: the frame must be read at its next check.
        self.clean_at[pfn as usize] = NOT_CLEAN;
        // SAFETY: as page_bytes, and &mut self makes this the only live view.
        unsafe { std::slice::from_raw_parts_mut(p, self.page_size()) }
    }
    /// Read a host-order word of `width` (4 or 8) bytes at `off` in frame `pfn`.
    #[inline]
    pub fn read_word(&self, pfn: u32, off: u32, width: u32) -> u64 {
        assert!(
            pfn < self.capacity
                && (width == 4 || width == 8)
                && off as usize + width as usize <= self.page_size(),
            "read_word({pfn}, {off}, {width}) outside the pool"
        );
        if cfg!(segtab_asan) && self.asan_poisoned(pfn) {
            let w = u64::from_ne_bytes([POISON; 8]);
            return if width == 8 { w } else { w as u32 as u64 };
        }
        // SAFETY: the assertion keeps [off, off + width) inside frame pfn of
        // the mapping; unaligned reads are allowed by read_unaligned.
        unsafe {
            let p = self
                .base
                .as_ptr()
                .add(((pfn as usize) << self.page_shift) + off as usize);
            if width == 8 {
                p.cast::<u64>().read_unaligned()
            } else {
                p.cast::<u32>().read_unaligned() as u64
            }
        }
    }
    /// The first slot in `from..n` at which the table of `n` 8-byte slots
    /// at `off` in frame `pfn` of this pool, or the one at `off_b` in frame
    /// `pfn_b` of `other`, is not zero; `n` if none. What a walk over
    /// [`read_word`](Self::read_word)s that skips slots zero on both sides
    /// visits, at the cost of a `memchr` (uninstrumented C), not of a
    /// coverage callback per slot under `cargo fuzz`. Pass the same table
    /// twice to walk one.
    #[allow(clippy::too_many_arguments)]
    pub fn next_nonzero_slot(
        &self,
        pfn: u32,
        off: u32,
        other: &PagePool,
        pfn_b: u32,
        off_b: u32,
        from: u32,
        n: u32,
    ) -> u32 {
        let fits = |p: &PagePool, pfn: u32, off: u32| {
            pfn < p.capacity && off % 8 == 0 && off as usize + 8 * n as usize <= p.page_size()
        };
        assert!(
            fits(self, pfn, off) && fits(other, pfn_b, off_b),
            "next_nonzero_slot({pfn}, {off}, {pfn_b}, {off_b}, {n}) outside the pool"
        );
        if cfg!(segtab_asan) && (self.asan_poisoned(pfn) || other.asan_poisoned(pfn_b)) {
            // read_word's view of a poisoned frame (all POISON), not its
            // bytes: a walk reads what it always read.
            return (from..n)
                .find(|&i| {
                    self.read_word(pfn, off + 8 * i, 8) | other.read_word(pfn_b, off_b + 8 * i, 8)
                        != 0
                })
                .unwrap_or(n);
        }
        let at = |p: &PagePool, pfn: u32, off: u32| {
            // SAFETY: `fits` keeps the table inside frame pfn.
            unsafe { p.kva(pfn).add(off as usize).cast::<u64>() }
        };
        next_nonzero(
            at(self, pfn, off),
            at(other, pfn_b, off_b),
            from as usize,
            n as usize,
        ) as u32
    }

    /// Write a word of `width` bytes at `off` in frame `pfn`.
    pub fn write_word(&mut self, pfn: u32, off: u32, width: u32, value: u64) {
        let b = &mut self.page_bytes_mut(pfn)[off as usize..(off + width) as usize];
        match width {
            4 => b.copy_from_slice(&(value as u32).to_ne_bytes()),
            8 => b.copy_from_slice(&value.to_ne_bytes()),
            _ => panic!("word width {width}"),
        }
    }
}

impl std::fmt::Debug for PagePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagePool")
            .field("page_size", &self.page_size())
            .field("capacity", &self.capacity)
            .field("in_use", &self.in_use)
            .field("limit", &self.limit)
            .field("fail_next", &self.fail_next)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifo_reuse_and_fresh_order() {
        let mut p = PagePool::new(12, 8, false, false).unwrap();
        assert_eq!(p.alloc(0), Some(0));
        assert_eq!(p.alloc(0), Some(1));
        assert_eq!(p.alloc(0), Some(2));
        assert!(p.free(1));
        assert!(p.free(0));
        assert_eq!(p.alloc(0), Some(0), "last freed comes back first");
        assert_eq!(p.alloc(0), Some(1));
        assert_eq!(p.alloc(0), Some(3), "then never-used frames in order");
        assert!(!p.free(7), "free of an unallocated frame is refused");
        assert_eq!(p.events().last(), Some(&PoolEvent::BadFree { pfn: 7 }));
    }

    #[test]
    fn limit_and_injection() {
        let mut p = PagePool::new(12, 4, false, false).unwrap();
        p.set_limit(1);
        assert!(p.alloc(0).is_some());
        assert!(p.alloc(0).is_none());
        assert!(!p.wait(), "nothing can be freed: would wait forever");
        p.set_limit(4);
        p.fail_next(2);
        assert!(p.alloc(0).is_none());
        assert!(p.wait(), "an injected failure passes");
        assert!(p.alloc(0).is_none());
        assert!(p.alloc(0).is_some());
    }

    #[test]
    fn zero_flag_zeroes_reused_frames() {
        let mut p = PagePool::new(12, 2, false, false).unwrap();
        let a = p.alloc(0).unwrap();
        p.write_word(a, 8, 8, 0xdead_beef);
        p.free(a);
        let b = p.alloc(crate::UVM_PGA_ZERO).unwrap();
        assert_eq!(a, b);
        assert_eq!(p.read_word(b, 8, 8), 0);
    }

    #[test]
    fn in_the_window_and_identity() {
        let p = PagePool::new(14, 16, true, true).unwrap();
        let (base, end) = (p.base() as u64, p.kva(15) as u64 + (1 << 14));
        let window = placement::window_of(base);
        assert_eq!(window, placement::window_of(end), "one 4 GiB window");
        assert!(end - window <= 1 << 31, "bit 31 of the offset clear");
        if placement::mode() == Ok(placement::Mode::High) {
            assert!(window > 0, "SEGTAB_POOL=high: above 4 GiB");
        }
        assert_eq!(p.locate_word(base - window + (3 << 14)), Some((3, 0)));
        assert_eq!(p.pa(3), p.kva(3) as u64, "identity-mapped");
        assert_eq!(p.base() as usize % (1 << 14), 0, "NBPG-aligned");
    }

    /// `same_place` is `locate` of both, equal: the same frame and offset
    /// of each pool, whatever the pools' addresses and sizes; an address
    /// outside either pool (below it, one past its end, NULL) is nowhere.
    #[test]
    fn same_place_is_locate_of_both_equal() {
        let (a, b) = (
            PagePool::new(12, 4, false, false).unwrap(),
            PagePool::new(12, 8, false, false).unwrap(),
        );
        let (ma, mb) = (a.map(), b.map());
        let (ba, bb) = (a.base() as u64, b.base() as u64);
        assert_ne!(ba, bb);
        let probes = [
            0,
            8,
            4095,
            4096,
            3 << 12,
            (4 << 12) - 8,
            4 << 12,
            (8 << 12) - 8,
            8 << 12,
        ];
        for ((m, base), (n, other)) in [((ma, ba), (mb, bb)), ((mb, bb), (ma, ba))] {
            let mut same = 0;
            for x in probes {
                for y in probes {
                    let (x, y) = (base + x, other + y);
                    let want = matches!((m.locate(x), n.locate(y)), (Some(p), Some(q)) if p == q);
                    assert_eq!(m.same_place(x, &n, y), want, "{x:#x} / {y:#x}");
                    same += want as u32;
                }
            }
            assert_eq!(same, 6, "each probe inside both pools, with itself");
            for (x, y) in [(0, 0), (base - 8, other - 8), (base + 8, 0), (0, other + 8)] {
                assert!(!m.same_place(x, &n, y), "{x:#x} / {y:#x}");
            }
        }
        // The same address is the same place only in the same pool.
        assert!(ma.same_place(ba + 16, &ma, ba + 16));
        assert!(!ma.same_place(ba + 16, &mb, ba + 16));
    }

    /// A store by the code under test (behind the pool's back, in a call)
    /// into a free frame: found by the word check with its byte offset,
    /// reported once (the frame is restored).
    #[test]
    fn a_store_into_a_free_frame_is_found_once_at_its_offset() {
        for shift in [10, 12, 16] {
            let mut p = PagePool::new(shift, 4, false, false).unwrap();
            let a = p.alloc(0).unwrap();
            p.alloc(0);
            p.free(a);
            p.begin_call();
            let off = (1usize << shift) - 3;
            // SAFETY: inside frame a.
            unsafe { p.kva(a).add(off).write(0x5a) };
            assert!(!p.check_reach());
            let v = p.violations()[0];
            assert_eq!((v.pfn, v.offset as usize), (a, off));
            assert_eq!(v.found.to_ne_bytes()[5], 0x5a);
            assert_eq!(v.found.to_ne_bytes()[4], POISON);
            p.begin_call();
            assert!(p.check_reach(), "reported once");
            // Never handed out, just above the last frame handed out: zero.
            p.begin_call();
            // SAFETY: frame 2 is inside the pool.
            unsafe { p.kva(2).write(1) };
            assert!(!p.check_reach());
            assert_eq!((p.violations()[1].pfn, p.violations()[1].offset), (2, 0));
        }
    }

    /// A frame verified (or filled) since the last call began is not read
    /// again: only a call or a harness write can have changed it.
    #[test]
    fn a_check_reads_only_what_a_call_or_the_harness_may_have_changed() {
        let mut p = PagePool::new(12, 4, false, false).unwrap();
        let a = p.alloc(0).unwrap();
        p.free(a);
        // Not a call: a stand-in for "nothing ran", so this store is not
        // read (the check proves it cannot exist).
        // SAFETY: inside frame a.
        unsafe { p.kva(a).add(8).write(7) };
        assert!(p.check_reach(), "clean since the fill, not read");
        p.begin_call();
        assert!(!p.check_reach(), "a call ran: read");
        // A harness write through the pool is tracked.
        p.write_word(a, 16, 8, 1);
        assert!(!p.check_free(), "written by the harness: read");
        assert_eq!(p.violations().len(), 2);
    }

    /// Frames the pool fills inside a call (the guard frames above a page
    /// it hands out, a page it takes back) are not clean after that call:
    /// the same call may store into them next. The nearby bugs: a carving
    /// loop one segtab past the page it just allocated, and a store into a
    /// page the same call just freed.
    #[test]
    fn a_store_later_in_the_call_that_filled_the_frame_is_found() {
        let mut p = PagePool::new(12, 8, false, false).unwrap();
        p.begin_call();
        let a = p.alloc(0).unwrap();
        // SAFETY: frame a + 1 (a guard frame, poisoned by the alloc) is
        // inside the pool.
        unsafe { p.kva(a + 1).write(0x12) };
        assert!(!p.check_reach(), "a store past the page just allocated");
        assert_eq!(
            (p.violations()[0].pfn, p.violations()[0].offset),
            (a + 1, 0)
        );
        p.begin_call();
        let b = p.alloc(0).unwrap();
        p.free(b);
        // SAFETY: inside frame b.
        unsafe { p.kva(b).add(24).write(0) };
        assert!(!p.check_reach(), "a store into the page just freed");
        assert_eq!((p.violations()[1].pfn, p.violations()[1].offset), (b, 24));
    }

    /// `check_reach` covers the frames handed out since the reset and the
    /// two above; a reset after a sequence that was not swept checks its
    /// frames and forgets the stores, so none is blamed on the next one.
    #[test]
    fn reach_is_this_sequence_and_reset_sweeps_an_unswept_one() {
        let mut p = PagePool::new(12, 16, false, false).unwrap();
        let used: Vec<u32> = (0..6).map(|_| p.alloc(0).unwrap()).collect();
        used.iter().for_each(|&f| assert!(p.free(f)));
        p.begin_call();
        // SAFETY: inside frame 4.
        unsafe { p.kva(4).add(64).write(0) };
        p.reset();
        assert_eq!(p.violations(), &[], "forgotten");
        assert_eq!(p.reach(), 2);
        p.alloc(0);
        p.begin_call();
        assert_eq!(p.reach(), 3);
        assert!(p.check_reach());
        for pfn in 3..6 {
            assert!(p.alloc(0).is_some());
            assert_eq!(p.violations(), &[], "frame {pfn} restored by the reset");
        }
    }

    /// `next_nonzero_slot` visits exactly the slots a loop over every slot
    /// skipping those zero on both sides visits, at any offset and length.
    #[test]
    fn next_nonzero_slot_is_the_loop_that_skips_empty_slots() {
        let mut p = PagePool::new(12, 2, false, false).unwrap();
        let (a, b) = (
            p.alloc(crate::UVM_PGA_ZERO).unwrap(),
            p.alloc(crate::UVM_PGA_ZERO).unwrap(),
        );
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..200u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (pfn, off) = ([a, b][(x & 1) as usize], (x >> 8) as u32 % 512 * 8);
            p.write_word(pfn, off, 8, if round % 3 == 0 { 0 } else { x });
            let (oa, ob) = ((x >> 20) as u32 % 64 * 8, (x >> 30) as u32 % 64 * 8);
            let n = 448;
            let naive: Vec<u32> = (0..n)
                .filter(|&i| p.read_word(a, oa + 8 * i, 8) | p.read_word(b, ob + 8 * i, 8) != 0)
                .collect();
            let mut fast = Vec::new();
            let mut from = 0;
            loop {
                let i = p.next_nonzero_slot(a, oa, &p, b, ob, from, n);
                if i == n {
                    break;
                }
                fast.push(i);
                from = i + 1;
            }
            assert_eq!(fast, naive, "round {round}");
        }
    }

    #[test]
    fn reset_forgets_everything() {
        let mut p = PagePool::new(12, 4, false, false).unwrap();
        p.alloc(0);
        p.alloc(0);
        p.free(0);
        p.fail_next(3);
        p.reset();
        assert_eq!(p.in_use(), 0);
        assert_eq!(p.alloc(0), Some(0));
        assert_eq!(p.events().len(), 1);
    }
}
