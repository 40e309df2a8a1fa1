//! Reading segment tables, the free segtab list and the PTP cache out of
//! pool memory, with every pointer turned into a page identity.
//!
//! The C reference and the Rust port lay a tree out the same way (a segtab
//! is `PMAP_SEGTABSIZE` host pointers, a PTE page is `NPTEPG` words of
//! `pt_entry_t`), so one walker reads both and two walks compare field by
//! field. Reading is safe whatever the tables contain: every pointer is
//! checked against the pool before it is followed.

use crate::pool::{PagePool, PoolMap};
use std::fmt;

/// Layout facts a walk needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// `_LP64`: the root is a table of segtabs.
    pub lp64: bool,
    /// `PMAP_SEGTABSIZE`.
    pub segtabsize: u32,
    /// `NPTEPG`.
    pub nptepg: u32,
    /// `sizeof(pt_entry_t)`.
    pub pte_bytes: u32,
    /// `PGSHIFT`.
    pub page_shift: u32,
    /// `SEGSHIFT`.
    pub segshift: u32,
    /// `XSEGSHIFT` (LP64; 0 otherwise).
    pub xsegshift: u32,
}

impl Geometry {
    /// Bytes of one segtab on this host (pointers are 8 bytes).
    pub fn segtab_bytes(&self) -> u32 {
        self.segtabsize * 8
    }
}

/// Where a frame-relative address is: frame number and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageRef {
    /// Frame number in the pool (the same on both sides when they agree).
    pub pfn: u32,
    /// Byte offset in the frame (non-zero for carved segtabs).
    pub off: u32,
}

/// A pointer as the harness sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ptr {
    /// NULL.
    #[default]
    Null,
    /// Into a pool frame.
    Page(PageRef),
    /// Anywhere else, by value (e.g. `PMAP_INVALID_SEGTAB_ADDRESS`).
    Foreign(u64),
}

impl Ptr {
    /// Classify a raw host address.
    #[inline]
    pub fn classify(pool: &PagePool, addr: u64) -> Ptr {
        Ptr::classify_in(&pool.map(), addr)
    }

    /// Classify a raw host address against a detached [`PoolMap`].
    #[inline]
    pub fn classify_in(map: &PoolMap, addr: u64) -> Ptr {
        if addr == 0 {
            return Ptr::Null;
        }
        match map.locate(addr) {
            Some((pfn, off)) => Ptr::Page(PageRef { pfn, off }),
            None => Ptr::Foreign(addr),
        }
    }
}

impl fmt::Display for Ptr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ptr::Null => write!(f, "NULL"),
            Ptr::Page(PageRef { pfn, off: 0 }) => write!(f, "pfn {pfn}"),
            Ptr::Page(PageRef { pfn, off }) => write!(f, "pfn {pfn}+{off:#x}"),
            Ptr::Foreign(a) => write!(f, "{a:#x}"),
        }
    }
}

/// A PTE pointer: the PTE page's frame and the entry index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PteLoc {
    /// NULL (a failed lookup or a `PMAP_CANFAIL` reserve).
    Null,
    /// `&pte_page[index]`, with the offset's remainder if it was not a
    /// whole entry (a misaligned pointer is a finding in itself).
    In {
        /// Frame of the PTE page.
        pfn: u32,
        /// Entry index.
        index: u32,
        /// Byte remainder (0 for a well-formed pointer).
        rem: u32,
    },
    /// Outside the pool.
    Foreign(u64),
}

impl PteLoc {
    /// Classify a raw PTE pointer.
    pub fn classify(pool: &PagePool, addr: u64, pte_bytes: u32) -> PteLoc {
        PteLoc::classify_in(&pool.map(), addr, pte_bytes)
    }

    /// Classify a raw PTE pointer against a detached [`PoolMap`].
    pub fn classify_in(map: &PoolMap, addr: u64, pte_bytes: u32) -> PteLoc {
        match Ptr::classify_in(map, addr) {
            Ptr::Null => PteLoc::Null,
            Ptr::Page(PageRef { pfn, off }) => PteLoc::In {
                pfn,
                index: off / pte_bytes,
                rem: off % pte_bytes,
            },
            Ptr::Foreign(a) => PteLoc::Foreign(a),
        }
    }
}

impl fmt::Display for PteLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PteLoc::Null => write!(f, "NULL"),
            PteLoc::In { pfn, index, rem: 0 } => write!(f, "pfn {pfn}[{index}]"),
            PteLoc::In { pfn, index, rem } => write!(f, "pfn {pfn}[{index}]+{rem}"),
            PteLoc::Foreign(a) => write!(f, "{a:#x}"),
        }
    }
}

/// One field of a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// `pm_segtab`.
    Root,
    /// `pm_segtab->seg_seg[x]` (LP64).
    Seg(u32),
    /// `seg_tab[i]` of segtab `x` (x = 0 on 32-bit, where the root is the segtab).
    Tab(u32, u32),
    /// PTE `j` of the page in `seg_tab[i]` of segtab `x`.
    Pte(u32, u32, u32),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Root => write!(f, "pm_segtab"),
            Field::Seg(x) => write!(f, "seg_seg[{x}]"),
            Field::Tab(x, i) => write!(f, "seg_seg[{x}]->seg_tab[{i}]"),
            Field::Pte(x, i, j) => write!(f, "seg_seg[{x}]->seg_tab[{i}]->pte[{j}]"),
        }
    }
}

/// A value of a field: a pointer or a PTE word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// Table slot.
    Ptr(Ptr),
    /// `pt_entry_t` value.
    Word(u64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Ptr(p) => p.fmt(f),
            Value::Word(w) => write!(f, "{w:#x}"),
        }
    }
}

/// Every non-null slot and non-zero PTE of one pmap's tree, sorted by field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableShape {
    /// (field, value), sorted.
    pub fields: Vec<(Field, Value)>,
}

impl TableShape {
    /// Walk the tree rooted at `root` (a `pm_segtab` value).
    pub fn walk(pool: &PagePool, g: &Geometry, root: u64) -> TableShape {
        let mut fields = Vec::new();
        let root_ptr = Ptr::classify(pool, root);
        fields.push((Field::Root, Value::Ptr(root_ptr)));
        if let Some(top) = segtab_at(pool, g, root_ptr) {
            if g.lp64 {
                for x in 0..g.segtabsize {
                    let raw = pool.read_word(top.pfn, top.off + 8 * x, 8);
                    if raw == 0 {
                        continue;
                    }
                    let p = Ptr::classify(pool, raw);
                    fields.push((Field::Seg(x), Value::Ptr(p)));
                    if let Some(st) = segtab_at(pool, g, p) {
                        walk_segtab(pool, g, x, st, &mut fields);
                    }
                }
            } else {
                walk_segtab(pool, g, 0, top, &mut fields);
            }
        }
        TableShape { fields }
    }
}

/// The slots of two segtabs (`a` in `pa`, `b` in `pb`; the same one twice
/// to walk one) that are not NULL on both sides, in order: what a loop over
/// every slot that skips the empty ones visits, found by the pool's
/// uninstrumented scan (most slots are NULL, and under `cargo fuzz` a Rust
/// loop over them cost a coverage callback per slot at every deep pass).
fn nonzero_slots<'a>(
    pa: &'a PagePool,
    a: PageRef,
    pb: &'a PagePool,
    b: PageRef,
    g: &Geometry,
) -> impl Iterator<Item = u32> + 'a {
    let (n, mut from) = (g.segtabsize, 0);
    std::iter::from_fn(move || {
        let i = pa.next_nonzero_slot(a.pfn, a.off, pb, b.pfn, b.off, from, n);
        (i < n).then(|| {
            from = i + 1;
            i
        })
    })
}

/// A segtab pointer that can be read as one: inside the pool, whole.
fn segtab_at(pool: &PagePool, g: &Geometry, p: Ptr) -> Option<PageRef> {
    match p {
        Ptr::Page(r)
            if r.off % 8 == 0 && r.off as usize + g.segtab_bytes() as usize <= pool.page_size() =>
        {
            Some(r)
        }
        _ => None,
    }
}

fn walk_segtab(
    pool: &PagePool,
    g: &Geometry,
    x: u32,
    st: PageRef,
    fields: &mut Vec<(Field, Value)>,
) {
    for i in 0..g.segtabsize {
        let raw = pool.read_word(st.pfn, st.off + 8 * i, 8);
        if raw == 0 {
            continue;
        }
        let p = Ptr::classify(pool, raw);
        fields.push((Field::Tab(x, i), Value::Ptr(p)));
        if let Ptr::Page(r) = p {
            // PTEs are read from the start of the frame whatever the
            // pointer's offset; a misaligned pointer shows in the Tab value.
            page_fields(pool, g, r.pfn, |j, v| fields.push((Field::Pte(x, i, j), v)));
        }
    }
}

/// The non-zero PTEs of frame `pfn`, as compared.
pub fn page_fields(pool: &PagePool, g: &Geometry, pfn: u32, mut f: impl FnMut(u32, Value)) {
    for j in 0..g.nptepg {
        let v = pool.read_word(pfn, j * g.pte_bytes, g.pte_bytes);
        if v != 0 {
            f(j, pte_value(pool, v));
        }
    }
}

/// A PTE word as compared: a word that is an address inside the pool is a
/// stale host pointer (a segtab page read as PTEs, which the release quirk
/// of lines 270-272 can cause), and pointers differ between the sides'
/// arenas, so it is shown as the frame it points to. In 32-bit PTEs such a
/// pointer is two words: the low half is located through the pool's 4 GiB
/// window, the high half (the window's, 0 below 4 GiB) is the same on both
/// sides. Pool offsets in the window have bit 31 clear; the engine's PTE
/// values set bit 31 (or 63) and so are never taken for pointers.
pub fn pte_value(pool: &PagePool, v: u64) -> Value {
    match pool.locate_word(v) {
        Some((pfn, off)) => Value::Ptr(Ptr::Page(PageRef { pfn, off })),
        None => Value::Word(v),
    }
}

/// How far to follow the free list or the PTP cache before calling it a
/// cycle: one more entry than the segtabs the pages used so far can hold.
pub fn list_limit(pool: &PagePool, g: &Geometry) -> usize {
    let per_page = (pool.page_size() / g.segtab_bytes() as usize).max(1);
    (pool.touched() as usize + 1) * per_page + 1
}

/// The free segtab list, following `seg_seg[0]` from `head`. Stops after
/// `limit` entries (a cycle or a runaway list) and says so.
pub fn free_list(pool: &PagePool, g: &Geometry, head: u64, limit: usize) -> (Vec<Ptr>, bool) {
    let mut out = Vec::new();
    let mut cur = head;
    while cur != 0 {
        if out.len() >= limit {
            return (out, true);
        }
        let p = Ptr::classify(pool, cur);
        out.push(p);
        match segtab_at(pool, g, p) {
            Some(r) => cur = pool.read_word(r.pfn, r.off, 8),
            None => break,
        }
    }
    (out, false)
}

/// Whether a segtab on the free list still has a table in it (a slot other
/// than the link in `seg_seg[0]`): the condition `pmap_check_stp` panics on
/// under DEBUG. Without DEBUG the kernel goes on with a corrupt tree (the
/// stale table is handed out again, and its pointers are read as PTE pages
/// and vice versa), so the harness stops the sequence there.
pub fn stale_free_segtab(pool: &PagePool, g: &Geometry, head: u64, limit: usize) -> bool {
    let (list, _) = free_list(pool, g, head, limit);
    list.iter().any(|p| match segtab_at(pool, g, *p) {
        Some(r) => (1..g.segtabsize).any(|i| pool.read_word(r.pfn, r.off + 8 * i, 8) != 0),
        None => false,
    })
}

/// The PTP cache: frames linked through `vm_page.pageq.list.le_next` from
/// `first` (a frame number). Stops after `limit` entries and says so.
pub fn ptp_list(pool: &PagePool, first: Option<u32>, limit: usize) -> (Vec<u32>, bool) {
    let mut out = Vec::new();
    let mut cur = first;
    while let Some(pfn) = cur {
        if out.len() >= limit {
            return (out, true);
        }
        out.push(pfn);
        cur = if pfn == u32::MAX {
            None
        } else {
            pool.list_next(pfn)
        };
    }
    (out, false)
}

/// Compare the trees at `root_a` (in `pool_a`) and `root_b` (in `pool_b`)
/// field by field, calling `diff` for each difference (`None`: the side has
/// no such field). Walks both in lockstep without allocating; a PTE page
/// that is the same frame on both sides is compared with one `memcmp`,
/// word by word only if the bytes differ (stale pointers differ in bytes
/// but not as frames). Returns the number of differences.
pub fn diff_trees(
    pool_a: &PagePool,
    root_a: u64,
    pool_b: &PagePool,
    root_b: u64,
    g: &Geometry,
    diff: impl FnMut(Field, Option<Value>, Option<Value>),
) -> usize {
    diff_trees_in(pool_a, root_a, pool_b, root_b, g, &|_| true, diff)
}

/// [`diff_trees`] comparing the contents of only the PTE pages `pages`
/// admits (every slot of every segtab is still compared): a periodic deep
/// pass compares the pages touched since the last one and a rolling slice
/// of the rest.
pub fn diff_trees_in(
    pool_a: &PagePool,
    root_a: u64,
    pool_b: &PagePool,
    root_b: u64,
    g: &Geometry,
    pages: &dyn Fn(u32) -> bool,
    mut diff: impl FnMut(Field, Option<Value>, Option<Value>),
) -> usize {
    let mut n = 0;
    let mut report = |f: Field, a: Option<Value>, b: Option<Value>| {
        n += 1;
        diff(f, a, b);
    };
    let (ra, rb) = (Ptr::classify(pool_a, root_a), Ptr::classify(pool_b, root_b));
    if ra != rb {
        report(Field::Root, Some(Value::Ptr(ra)), Some(Value::Ptr(rb)));
        return n;
    }
    let (Some(ta), Some(tb)) = (segtab_at(pool_a, g, ra), segtab_at(pool_b, g, rb)) else {
        return n;
    };
    if g.lp64 {
        for x in nonzero_slots(pool_a, ta, pool_b, tb, g) {
            let (wa, wb) = (
                pool_a.read_word(ta.pfn, ta.off + 8 * x, 8),
                pool_b.read_word(tb.pfn, tb.off + 8 * x, 8),
            );
            let (pa, pb) = (Ptr::classify(pool_a, wa), Ptr::classify(pool_b, wb));
            if pa != pb {
                report(Field::Seg(x), Some(Value::Ptr(pa)), Some(Value::Ptr(pb)));
                continue;
            }
            if let (Some(sa), Some(sb)) = (segtab_at(pool_a, g, pa), segtab_at(pool_b, g, pb)) {
                diff_segtabs(pool_a, sa, pool_b, sb, g, x, pages, &mut report);
            }
        }
    } else {
        diff_segtabs(pool_a, ta, pool_b, tb, g, 0, pages, &mut report);
    }
    n
}

#[allow(clippy::too_many_arguments)]
fn diff_segtabs(
    pool_a: &PagePool,
    sa: PageRef,
    pool_b: &PagePool,
    sb: PageRef,
    g: &Geometry,
    x: u32,
    pages: &dyn Fn(u32) -> bool,
    report: &mut impl FnMut(Field, Option<Value>, Option<Value>),
) {
    for i in nonzero_slots(pool_a, sa, pool_b, sb, g) {
        let (wa, wb) = (
            pool_a.read_word(sa.pfn, sa.off + 8 * i, 8),
            pool_b.read_word(sb.pfn, sb.off + 8 * i, 8),
        );
        let (pa, pb) = (Ptr::classify(pool_a, wa), Ptr::classify(pool_b, wb));
        if pa != pb {
            report(Field::Tab(x, i), Some(Value::Ptr(pa)), Some(Value::Ptr(pb)));
            continue;
        }
        if let Ptr::Page(r) = pa {
            if pages(r.pfn) {
                diff_page(pool_a, pool_b, g, r.pfn, |j, a, b| {
                    report(Field::Pte(x, i, j), a, b)
                });
            }
        }
    }
}

/// [`diff_trees`] restricted to the path to `va`: the root, the slots
/// indexing `va`, and the PTE of `va` in the page they lead to (the only
/// entry a step on `va` can have written; the rest of the page is left to
/// the deep comparison).
pub fn diff_path(
    pool_a: &PagePool,
    root_a: u64,
    pool_b: &PagePool,
    root_b: u64,
    g: &Geometry,
    va: u64,
    mut report: impl FnMut(Field, Option<Value>, Option<Value>),
) {
    let (ra, rb) = (Ptr::classify(pool_a, root_a), Ptr::classify(pool_b, root_b));
    if ra != rb {
        return report(Field::Root, Some(Value::Ptr(ra)), Some(Value::Ptr(rb)));
    }
    let (Some(mut sa), Some(mut sb)) = (segtab_at(pool_a, g, ra), segtab_at(pool_b, g, rb)) else {
        return;
    };
    let mask = g.segtabsize as u64 - 1;
    let mut x = 0;
    if g.lp64 {
        x = ((va >> g.xsegshift) & mask) as u32;
        let (pa, pb) = (
            Ptr::classify(pool_a, pool_a.read_word(sa.pfn, sa.off + 8 * x, 8)),
            Ptr::classify(pool_b, pool_b.read_word(sb.pfn, sb.off + 8 * x, 8)),
        );
        if pa != pb {
            return report(Field::Seg(x), Some(Value::Ptr(pa)), Some(Value::Ptr(pb)));
        }
        match (segtab_at(pool_a, g, pa), segtab_at(pool_b, g, pb)) {
            (Some(a), Some(b)) => (sa, sb) = (a, b),
            _ => return,
        }
    }
    let i = ((va >> g.segshift) & mask) as u32;
    let (pa, pb) = (
        Ptr::classify(pool_a, pool_a.read_word(sa.pfn, sa.off + 8 * i, 8)),
        Ptr::classify(pool_b, pool_b.read_word(sb.pfn, sb.off + 8 * i, 8)),
    );
    if pa != pb {
        return report(Field::Tab(x, i), Some(Value::Ptr(pa)), Some(Value::Ptr(pb)));
    }
    if let Ptr::Page(r) = pa {
        let j = ((va >> g.page_shift) & (g.nptepg as u64 - 1)) as u32;
        diff_page_range(pool_a, pool_b, g, r.pfn, j, j + 1, |j, a, b| {
            report(Field::Pte(x, i, j), a, b)
        });
    }
}

/// Compare frame `pfn` of both pools as PTE pages.
pub fn diff_page(
    pool_a: &PagePool,
    pool_b: &PagePool,
    g: &Geometry,
    pfn: u32,
    report: impl FnMut(u32, Option<Value>, Option<Value>),
) {
    diff_page_range(pool_a, pool_b, g, pfn, 0, g.nptepg, report)
}

/// Compare entries `from..to` of frame `pfn` of both pools as PTEs: one
/// `memcmp` of the range, then entry by entry (pointers normalised) only if
/// the bytes differ.
pub fn diff_page_range(
    pool_a: &PagePool,
    pool_b: &PagePool,
    g: &Geometry,
    pfn: u32,
    from: u32,
    to: u32,
    mut report: impl FnMut(u32, Option<Value>, Option<Value>),
) {
    let to = to.min(g.nptepg);
    if from >= to {
        return;
    }
    let bytes = (from * g.pte_bytes) as usize..(to * g.pte_bytes) as usize;
    if pool_a.page_bytes(pfn)[bytes.clone()] == pool_b.page_bytes(pfn)[bytes] {
        return;
    }
    for j in from..to {
        let (va, vb) = (
            pool_a.read_word(pfn, j * g.pte_bytes, g.pte_bytes),
            pool_b.read_word(pfn, j * g.pte_bytes, g.pte_bytes),
        );
        // Equal words are equal PTEs, whatever they look like: only words
        // that differ are read as pointers into each side's own pool (a
        // value such as 1 << 30 may lie in one pool and not the other).
        if va == vb {
            continue;
        }
        let (va, vb) = (
            (va != 0).then(|| pte_value(pool_a, va)),
            (vb != 0).then(|| pte_value(pool_b, vb)),
        );
        if va != vb {
            report(j, va, vb);
        }
    }
}

/// What a deep pass found a frame used for. A frame may hold several
/// segtabs (carving), so it may be in more than one class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PageUse {
    /// Allocated in the pool.
    pub allocated: bool,
    /// Holds a table reachable from a pmap root (a segtab or a PTE page).
    pub tree: bool,
    /// Holds a segtab on the free list.
    pub free_list: bool,
    /// On the PTP cache.
    pub ptp_cache: bool,
}

impl PageUse {
    /// The class as compared and reported: `tree`, `free list`, `ptp
    /// cache`, `free`, `leaked` (allocated, claimed by nothing), or a
    /// combination (`free+tree` is a table in a freed page).
    pub fn class(&self) -> String {
        let mut parts = Vec::new();
        if !self.allocated && (self.tree || self.free_list || self.ptp_cache) {
            parts.push("free");
        }
        if self.tree {
            parts.push("tree");
        }
        if self.free_list {
            parts.push("free list");
        }
        if self.ptp_cache {
            parts.push("ptp cache");
        }
        if parts.is_empty() {
            parts.push(if self.allocated { "leaked" } else { "free" });
        }
        parts.join("+")
    }
}

/// Accounts for every frame the sequence since the last reset could use:
/// which class each belongs to, given the pmap roots (raw `pm_segtab`
/// values), the free list and the PTP cache as a deep pass read them.
/// Index: frame number, up to [`PagePool::reach`]. (Frames beyond were not
/// handed out since the reset, so nothing of this sequence refers to them:
/// they are free on both sides, and reading them cost every input the
/// footprint of the largest one before it.)
pub fn account(
    pool: &PagePool,
    g: &Geometry,
    roots: &[u64],
    free_list: &[Ptr],
    ptp: &[u32],
) -> Vec<PageUse> {
    let n = pool.reach().max(pool.touched()) as usize;
    let mut uses: Vec<PageUse> = (0..n as u32)
        .map(|pfn| PageUse {
            allocated: pool.is_allocated(pfn),
            ..Default::default()
        })
        .collect();
    let mut mark = |pfn: u32, f: fn(&mut PageUse)| {
        if let Some(u) = uses.get_mut(pfn as usize) {
            f(u)
        }
    };
    for &root in roots {
        let Some(top) = segtab_at(pool, g, Ptr::classify(pool, root)) else {
            continue;
        };
        mark(top.pfn, |u| u.tree = true);
        let lower = |st: PageRef, mark: &mut dyn FnMut(u32, fn(&mut PageUse))| {
            for i in nonzero_slots(pool, st, pool, st, g) {
                if let Ptr::Page(r) = Ptr::classify(pool, pool.read_word(st.pfn, st.off + 8 * i, 8))
                {
                    mark(r.pfn, |u| u.tree = true);
                }
            }
        };
        if g.lp64 {
            for x in nonzero_slots(pool, top, pool, top, g) {
                let p = Ptr::classify(pool, pool.read_word(top.pfn, top.off + 8 * x, 8));
                if let Some(st) = segtab_at(pool, g, p) {
                    mark(st.pfn, |u| u.tree = true);
                    lower(st, &mut mark);
                }
            }
        } else {
            lower(top, &mut mark);
        }
    }
    for p in free_list {
        if let Ptr::Page(r) = p {
            mark(r.pfn, |u| u.free_list = true);
        }
    }
    for &pfn in ptp {
        mark(pfn, |u| u.ptp_cache = true);
    }
    uses
}

/// Compares two free lists that agree as pointers slot by slot: every slot
/// of every free segtab, not just the link in `seg_seg[0]` (a stale table
/// left in a free segtab is handed to the next pmap that gets it).
pub fn diff_free_segtabs(
    pool_a: &PagePool,
    list_a: &[Ptr],
    pool_b: &PagePool,
    list_b: &[Ptr],
    g: &Geometry,
    pages: &dyn Fn(u32) -> bool,
    mut report: impl FnMut(usize, u32, Option<Value>, Option<Value>),
) {
    for (k, (pa, pb)) in list_a.iter().zip(list_b).enumerate() {
        let (Some(a), Some(b)) = (segtab_at(pool_a, g, *pa), segtab_at(pool_b, g, *pb)) else {
            continue;
        };
        if !pages(a.pfn) {
            continue;
        }
        // Slot 0 is the link, compared as the list; the others are NULL
        // in a free segtab unless the release quirk left tables there.
        for i in nonzero_slots(pool_a, a, pool_b, b, g).filter(|&i| i != 0) {
            let (wa, wb) = (
                pool_a.read_word(a.pfn, a.off + 8 * i, 8),
                pool_b.read_word(b.pfn, b.off + 8 * i, 8),
            );
            if wa == wb {
                continue;
            }
            let (va, vb) = (
                (wa != 0).then(|| Value::Ptr(Ptr::classify(pool_a, wa))),
                (wb != 0).then(|| Value::Ptr(Ptr::classify(pool_b, wb))),
            );
            if va != vb {
                report(k, i, va, vb);
            }
        }
    }
}

/// The frames holding the segtabs of the trees rooted at `roots` (raw
/// `pm_segtab` values): each root's frame and, on LP64, the frame of every
/// segtab its slots point to. Calls `f` once per frame a root or slot
/// reaches (a frame may come up more than once); it reads one slot per
/// upper-level entry and no PTE page, so it costs what the upper levels
/// hold, not the footprint.
pub fn segtab_frames(pool: &PagePool, g: &Geometry, roots: &[u64], mut f: impl FnMut(u32)) {
    for &root in roots {
        let Some(top) = segtab_at(pool, g, Ptr::classify(pool, root)) else {
            continue;
        };
        f(top.pfn);
        if g.lp64 {
            // Every root's slots on every pass: only the non-NULL ones are
            // visited (the scan is uninstrumented C).
            let map = pool.map();
            for x in nonzero_slots(pool, top, pool, top, g) {
                let raw = pool.read_word(top.pfn, top.off + 8 * x, 8);
                if let Some(st) = segtab_at(pool, g, Ptr::classify_in(&map, raw)) {
                    f(st.pfn);
                }
            }
        }
    }
}

/// Compare frame `pfn` of both pools as memory, whatever it holds: one
/// `memcmp`, then 8-byte word by word only if the bytes differ, where two
/// words agree when they are equal or point at the same frame and offset
/// of their own pool (segtab slots, free-list links and stale pointers hold
/// host addresses, which differ between the pools). Calls `report` with
/// the byte offset and both words of each word that differs; returns
/// whether any did.
///
/// This is the periodic deep pass's detector: when the sides agree, every
/// allocated frame holds the same bytes up to pointer translation, because
/// both allocate the same frame numbers. It says *that* a frame differs;
/// the structural comparisons ([`diff_trees`], [`account`]) say what.
pub fn diff_frame(
    pool_a: &PagePool,
    pool_b: &PagePool,
    pfn: u32,
    mut report: impl FnMut(u32, u64, u64),
) -> bool {
    let (a, b) = (pool_a.page_bytes(pfn), pool_b.page_bytes(pfn));
    if a == b {
        return false;
    }
    let (ma, mb) = (pool_a.map(), pool_b.map());
    let mut any = false;
    for (k, (wa, wb)) in a.chunks_exact(8).zip(b.chunks_exact(8)).enumerate() {
        if wa == wb {
            continue;
        }
        let wa = u64::from_ne_bytes(wa.try_into().expect("8 bytes"));
        let wb = u64::from_ne_bytes(wb.try_into().expect("8 bytes"));
        if ma.same_place(wa, &mb, wb) {
            continue;
        }
        any = true;
        report(8 * k as u32, wa, wb);
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UVM_PGA_ZERO;

    /// mips64-n64-4k's layout: 4 KiB pages, one segtab per page.
    const LP64: Geometry = Geometry {
        lp64: true,
        segtabsize: 512,
        nptepg: 1024,
        pte_bytes: 4,
        page_shift: 12,
        segshift: 22,
        xsegshift: 31,
    };

    /// mips32-o32-8k's layout, here with 4 KiB pages: four 1 KiB segtabs
    /// per page.
    const ILP32: Geometry = Geometry {
        lp64: false,
        segtabsize: 128,
        nptepg: 1024,
        pte_bytes: 4,
        page_shift: 12,
        segshift: 22,
        xsegshift: 0,
    };

    fn pool(frames: usize) -> PagePool {
        let mut p = PagePool::new(12, frames, false, false).unwrap();
        for want in 0..frames as u32 {
            assert_eq!(p.alloc(UVM_PGA_ZERO), Some(want));
        }
        p
    }

    fn addr(p: &PagePool, pfn: u32, off: u32) -> u64 {
        p.kva(pfn) as u64 + off as u64
    }

    fn at(pfn: u32, off: u32) -> Ptr {
        Ptr::Page(PageRef { pfn, off })
    }

    /// Slot `i` of the segtab at `pfn`+`off` points at `to`+`to_off`.
    fn link(p: &mut PagePool, (pfn, off): (u32, u32), i: u32, (to, to_off): (u32, u32)) {
        let a = addr(p, to, to_off);
        p.write_word(pfn, off + 8 * i, 8, a);
    }

    /// Every frame use, on LP64: a tree (root 0 -> segtab 1 at seg_seg[300]
    /// -> PTE pages 2, 3 at seg_tab[5], seg_tab[511]), a free list of
    /// segtabs 4 -> 5, a PTP cache 6 -> 7, a leaked page 8, a free page 9,
    /// and a PTE page 10 still in the tree after it was freed.
    fn lp64_world() -> (PagePool, u64, Vec<Ptr>, Vec<u32>) {
        let mut p = pool(11);
        link(&mut p, (0, 0), 300, (1, 0));
        link(&mut p, (1, 0), 5, (2, 0));
        link(&mut p, (1, 0), 511, (3, 0));
        link(&mut p, (1, 0), 9, (10, 0));
        p.write_word(2, 0, 4, 0x8000_0001);
        p.write_word(2, 4 * 1023, 4, 0x8000_0002);
        p.write_word(3, 4 * 7, 4, 0x8000_0003);
        link(&mut p, (4, 0), 0, (5, 0));
        p.set_list_next(6, Some(7));
        assert!(p.free(9));
        assert!(p.free(10));
        let root = addr(&p, 0, 0);
        (p, root, vec![at(4, 0), at(5, 0)], vec![6, 7])
    }

    #[test]
    fn classes_name_every_use() {
        let u = |allocated, tree, free_list, ptp_cache| PageUse {
            allocated,
            tree,
            free_list,
            ptp_cache,
        };
        for (use_, class) in [
            (u(false, false, false, false), "free"),
            (u(true, false, false, false), "leaked"),
            (u(true, true, false, false), "tree"),
            (u(true, false, true, false), "free list"),
            (u(true, false, false, true), "ptp cache"),
            (u(true, true, true, true), "tree+free list+ptp cache"),
            (u(false, true, false, false), "free+tree"),
            (u(false, false, true, false), "free+free list"),
            (u(false, false, false, true), "free+ptp cache"),
        ] {
            assert_eq!(use_.class(), class, "{use_:?}");
        }
    }

    #[test]
    fn account_finds_every_use() {
        let (p, root, free, ptp) = lp64_world();
        let classes = |roots: &[u64]| -> Vec<String> {
            account(&p, &LP64, roots, &free, &ptp)
                .iter()
                .map(PageUse::class)
                .collect()
        };
        let want = [
            "tree",
            "tree",
            "tree",
            "tree",
            "free list",
            "free list",
            "ptp cache",
            "ptp cache",
            "leaked",
            "free",
            "free+tree",
        ];
        assert_eq!(classes(&[0, root, 0x1234]), want);
        // No root: the tree's frames are leaked (or just free).
        let mut bare = want.map(String::from).to_vec();
        bare[..4].fill("leaked".into());
        bare[10] = "free".into();
        assert_eq!(classes(&[0]), bare);

        // 32-bit, segtabs carved: the root is the second segtab of frame 0.
        let mut p = pool(3);
        link(&mut p, (0, 0x400), 0, (1, 0));
        link(&mut p, (0, 0x400), 127, (2, 0));
        let root = addr(&p, 0, 0x400);
        let uses = account(&p, &ILP32, &[root], &[at(0, 0)], &[]);
        let got: Vec<String> = uses.iter().map(PageUse::class).collect();
        assert_eq!(got, ["tree+free list", "tree", "tree"]);
    }

    #[test]
    fn walks_read_every_field() {
        let (p, root, _, _) = lp64_world();
        let shape = TableShape::walk(&p, &LP64, root);
        let fields: Vec<String> = shape
            .fields
            .iter()
            .filter(|(f, _)| !matches!(f, Field::Pte(300, 9, _)))
            .map(|(f, v)| format!("{f} = {v}"))
            .collect();
        assert_eq!(
            fields,
            [
                "pm_segtab = pfn 0",
                "seg_seg[300] = pfn 1",
                "seg_seg[300]->seg_tab[5] = pfn 2",
                "seg_seg[300]->seg_tab[5]->pte[0] = 0x80000001",
                "seg_seg[300]->seg_tab[5]->pte[1023] = 0x80000002",
                "seg_seg[300]->seg_tab[9] = pfn 10",
                "seg_seg[300]->seg_tab[511] = pfn 3",
                "seg_seg[300]->seg_tab[511]->pte[7] = 0x80000003",
            ]
        );
        // The freed page reads as poison, entry by entry.
        let poisoned = shape
            .fields
            .iter()
            .filter(|(f, _)| matches!(f, Field::Pte(300, 9, _)))
            .count();
        assert_eq!(poisoned, 1024);
        assert_eq!(
            TableShape::walk(&p, &LP64, 0).fields,
            [(Field::Root, Value::Ptr(Ptr::Null))]
        );

        let mut p = pool(3);
        link(&mut p, (0, 0x400), 2, (1, 0));
        link(&mut p, (0, 0x400), 127, (2, 0x10));
        p.write_word(1, 4 * 3, 4, 0x8000_0004);
        let shape = TableShape::walk(&p, &ILP32, addr(&p, 0, 0x400));
        let fields: Vec<String> = shape
            .fields
            .iter()
            .map(|(f, v)| format!("{f} = {v}"))
            .collect();
        assert_eq!(
            fields,
            [
                "pm_segtab = pfn 0+0x400",
                "seg_seg[0]->seg_tab[2] = pfn 1",
                "seg_seg[0]->seg_tab[2]->pte[3] = 0x80000004",
                "seg_seg[0]->seg_tab[127] = pfn 2+0x10",
            ]
        );
        let mut seen = Vec::new();
        page_fields(&p, &ILP32, 1, |j, v| seen.push((j, v)));
        assert_eq!(seen, [(3, Value::Word(0x8000_0004))]);
    }

    #[test]
    fn lists_stop_at_their_end_or_their_limit() {
        let (mut p, _, _, _) = lp64_world();
        let head = addr(&p, 4, 0);
        assert_eq!(
            free_list(&p, &LP64, head, 5),
            (vec![at(4, 0), at(5, 0)], false)
        );
        assert_eq!(free_list(&p, &LP64, head, 1), (vec![at(4, 0)], true));
        assert_eq!(free_list(&p, &LP64, 0, 5), (vec![], false));
        assert_eq!(
            free_list(&p, &LP64, 0xfeed_d000, 5),
            (vec![Ptr::Foreign(0xfeed_d000)], false)
        );
        assert_eq!(ptp_list(&p, Some(6), 5), (vec![6, 7], false));
        assert_eq!(ptp_list(&p, Some(6), 1), (vec![6], true));
        assert_eq!(ptp_list(&p, None, 5), (vec![], false));
        assert_eq!(ptp_list(&p, Some(u32::MAX), 5), (vec![u32::MAX], false));
        // A cycle is cut.
        link(&mut p, (5, 0), 0, (4, 0));
        assert_eq!(
            free_list(&p, &LP64, head, 3),
            (vec![at(4, 0), at(5, 0), at(4, 0)], true)
        );

        // One more entry than the segtabs of the pages touched can hold.
        assert_eq!(list_limit(&p, &LP64), 12 + 1);
        assert_eq!(list_limit(&pool(3), &ILP32), 4 * 4 + 1);
    }

    #[test]
    fn a_table_left_in_a_free_segtab_is_stale() {
        let (mut p, _, _, _) = lp64_world();
        let head = addr(&p, 4, 0);
        assert!(!stale_free_segtab(&p, &LP64, head, 5));
        // The last slot of the second free segtab (the first's link
        // excepted, every slot counts).
        p.write_word(5, 8 * 511, 8, 1);
        assert!(stale_free_segtab(&p, &LP64, head, 5));
        assert!(!stale_free_segtab(&p, &LP64, head, 1), "past the limit");
        p.write_word(5, 8 * 511, 8, 0);
        p.write_word(4, 8, 8, 1);
        assert!(stale_free_segtab(&p, &LP64, head, 1));
    }

    #[test]
    fn segtab_frames_are_the_upper_levels() {
        let (mut p, root, _, _) = lp64_world();
        // A second segtab under the root, and a slot running off its page.
        link(&mut p, (0, 0), 500, (8, 0));
        link(&mut p, (0, 0), 501, (8, 8));
        let mut seen = Vec::new();
        segtab_frames(&p, &LP64, &[0, root, 0x1234], |f| seen.push(f));
        assert_eq!(seen, [0, 1, 8]);
        let mut p = pool(3);
        link(&mut p, (0, 0x400), 2, (1, 0));
        let mut seen = Vec::new();
        segtab_frames(&p, &ILP32, &[addr(&p, 0, 0x400)], |f| seen.push(f));
        assert_eq!(seen, [0], "32-bit: the root's frame only");
    }

    #[test]
    fn diff_frame_reports_words_that_are_not_the_same_place() {
        let (mut a, mut b) = (pool(4), pool(4));
        assert!(!diff_frame(&a, &b, 1, |_, _, _| panic!("equal frames")));
        // The same place in each pool agrees; anything else differs.
        for p in [&mut a, &mut b] {
            let w = addr(p, 2, 0x18);
            p.write_word(1, 8 * 3, 8, w);
        }
        let (x, y) = (addr(&a, 2, 0), addr(&b, 3, 0));
        a.write_word(1, 8 * 5, 8, x);
        b.write_word(1, 8 * 5, 8, y);
        b.write_word(1, 8 * 511, 8, 7);
        let mut got = Vec::new();
        assert!(diff_frame(&a, &b, 1, |off, wa, wb| got.push((off, wa, wb))));
        assert_eq!(got, [(8 * 5, x, y), (8 * 511, 0, 7)]);
    }

    #[test]
    fn values_show_as_reports_print_them() {
        let shown = [
            Ptr::Null.to_string(),
            at(3, 0).to_string(),
            at(3, 0x10).to_string(),
            Ptr::Foreign(0xfeed_dead).to_string(),
            PteLoc::Null.to_string(),
            PteLoc::In {
                pfn: 3,
                index: 5,
                rem: 0,
            }
            .to_string(),
            PteLoc::In {
                pfn: 3,
                index: 5,
                rem: 2,
            }
            .to_string(),
            PteLoc::Foreign(0x10).to_string(),
            Field::Root.to_string(),
            Field::Seg(3).to_string(),
            Field::Tab(3, 5).to_string(),
            Field::Pte(3, 5, 7).to_string(),
            Value::Ptr(at(1, 8)).to_string(),
            Value::Word(0x42).to_string(),
        ];
        assert_eq!(
            shown,
            [
                "NULL",
                "pfn 3",
                "pfn 3+0x10",
                "0xfeeddead",
                "NULL",
                "pfn 3[5]",
                "pfn 3[5]+2",
                "0x10",
                "pm_segtab",
                "seg_seg[3]",
                "seg_seg[3]->seg_tab[5]",
                "seg_seg[3]->seg_tab[5]->pte[7]",
                "pfn 1+0x8",
                "0x42",
            ]
        );
    }
}
