//! The port of `pmap_segtab.c`: [`PmapSegtab`] (the state of C's
//! `pmap_segtab_info` plus the environment) and every function of the file,
//! and the parts of `struct pmap` / `struct cpu_info` it touches.
//!
//! # Memory invariant
//!
//! All raw memory accesses of the port go through the small helpers at the
//! top of this module. They rely on this invariant: every non-null segtab
//! pointer reachable from a [`Pmap::pm_segtab`] handed to this instance,
//! from the free list, or from a `seg_seg[]` slot, and every non-null PTE
//! page pointer in a `seg_tab[]` slot, was obtained from
//! [`Env::map_poolpage`] (or stored by [`Env::atomic_cas_ptr`]) for a page
//! that is still allocated, so by the [`Env`] contract it is valid,
//! suitably aligned and accessed by no one else. Callers keep it by
//! changing `pm_segtab` only through [`PmapSegtab::segtab_init`] /
//! [`PmapSegtab::segtab_destroy`] (a fresh [`Pmap`] has it NULL) and by not
//! sharing a pmap between two instances.

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ptr::{self, NonNull};

use crate::env::{Env, PanicSite, UVM_PGA_USERESERVE, UVM_PGA_ZERO};
use crate::machine::{Machine, SegtabLayout};
use crate::pte::PteRef;
use crate::word::Word;

/// `PMAP_CANFAIL`: [`PmapSegtab::pte_reserve`] may return `None`.
pub const PMAP_CANFAIL: i32 = 0x20;

/// File name used in `KASSERT` messages.
const FILE: &str = "sys/uvm/pmap/pmap_segtab.c";

type St<M> = <M as Machine>::Segtab;

/// `pte_callback_t`: `(pmap, sva, eva, pte, flags)`; the result is ignored
/// (as rev 1.23 does).
pub type PteCallback<'c, M> = dyn FnMut(
        *const Pmap<M>,
        <M as Machine>::Vaddr,
        <M as Machine>::Vaddr,
        PteRef<'_, M>,
        usize,
    ) -> bool
    + 'c;

/// The fields of `struct pmap` that `pmap_segtab.c` uses.
#[repr(C)]
pub struct Pmap<M: Machine> {
    /// `pm_segtab`: the top segment table (NULL before `segtab_init`).
    pub pm_segtab: *mut M::Segtab,
    /// `pm_minaddr`: lowest user address; where `segtab_destroy` starts.
    pub pm_minaddr: M::Vaddr,
}

impl<M: Machine> Pmap<M> {
    /// A pmap with a NULL segtab and the given `pm_minaddr`.
    pub fn new(pm_minaddr: M::Vaddr) -> Self {
        Pmap {
            pm_segtab: ptr::null_mut(),
            pm_minaddr,
        }
    }
}

impl<M: Machine> Default for Pmap<M> {
    fn default() -> Self {
        Self::new(M::Vaddr::ZERO)
    }
}

impl<M: Machine> fmt::Debug for Pmap<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pmap")
            .field("pm_segtab", &self.pm_segtab)
            .field("pm_minaddr", &self.pm_minaddr)
            .finish()
    }
}

/// The fields of `struct cpu_info` that `pmap_segtab.c` uses.
#[repr(C)]
pub struct CpuInfo<M: Machine> {
    /// `ci_pmap_user_segtab`.
    pub ci_pmap_user_segtab: *mut M::Segtab,
    /// `ci_pmap_user_seg0tab` (only written on LP64).
    pub ci_pmap_user_seg0tab: *mut M::Segtab,
}

impl<M: Machine> CpuInfo<M> {
    /// Both pointers NULL.
    pub fn new() -> Self {
        CpuInfo {
            ci_pmap_user_segtab: ptr::null_mut(),
            ci_pmap_user_seg0tab: ptr::null_mut(),
        }
    }
}

impl<M: Machine> Default for CpuInfo<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Machine> fmt::Debug for CpuInfo<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuInfo")
            .field("ci_pmap_user_segtab", &self.ci_pmap_user_segtab)
            .field("ci_pmap_user_seg0tab", &self.ci_pmap_user_seg0tab)
            .finish()
    }
}

// ---------------------------------------------------------------------
// Raw memory helpers. These are the only places that touch segtab / PTE
// memory; each relies on the module's memory invariant.
// ---------------------------------------------------------------------

/// Refuses a NULL segtab (the C would fault dereferencing it).
#[inline]
fn live<M: Machine>(stp: *mut St<M>) -> *mut St<M> {
    assert!(
        !stp.is_null(),
        "NULL pmap_segtab_t dereferenced (the C would fault)"
    );
    stp
}

/// `stp->seg_seg[i]`.
#[inline]
fn seg_seg_get<M: Machine>(stp: *mut St<M>, i: usize) -> *mut St<M> {
    let slot = St::<M>::seg_seg_slot(live::<M>(stp), i);
    // SAFETY: stp is non-null and live by the memory invariant, i < LEN
    // (checked by seg_seg_slot), and slots are pointer-aligned; a zeroed
    // slot reads as NULL.
    unsafe { slot.read() }
}

/// `stp->seg_seg[i] = v`.
#[inline]
fn seg_seg_set<M: Machine>(stp: *mut St<M>, i: usize, v: *mut St<M>) {
    let slot = St::<M>::seg_seg_slot(live::<M>(stp), i);
    // SAFETY: as in seg_seg_get; the port owns the segtab exclusively.
    unsafe { slot.write(v) }
}

/// `stp->seg_tab[i]`.
#[inline]
fn seg_tab_get<M: Machine>(stp: *mut St<M>, i: usize) -> *mut M::Pte {
    let slot = St::<M>::seg_tab_slot(live::<M>(stp), i);
    // SAFETY: as in seg_seg_get.
    unsafe { slot.read() }
}

/// `stp->seg_tab[i] = v`.
#[inline]
fn seg_tab_set<M: Machine>(stp: *mut St<M>, i: usize, v: *mut M::Pte) {
    let slot = St::<M>::seg_tab_slot(live::<M>(stp), i);
    // SAFETY: as in seg_seg_set.
    unsafe { slot.write(v) }
}

/// `pte[i]` for a PTE page that `pmap_check_ptes` found page aligned.
#[inline]
fn pte_get<M: Machine>(pte: *mut M::Pte, i: usize) -> M::Pte {
    assert!(i < M::NPTEPG);
    // SAFETY: pte is the start of a live, NBPG-aligned PTE page (memory
    // invariant; alignment checked by the caller) holding NPTEPG entries,
    // and i < NPTEPG.
    unsafe { pte.add(i).read() }
}

/// Handle for `pte` (a pointer inside a live PTE page).
#[inline]
fn pte_ref<'a, M: Machine>(pte: *mut M::Pte) -> PteRef<'a, M> {
    let nn = NonNull::new(pte).expect("NULL pt_entry_t pointer");
    // SAFETY: pte points into a live PTE page (memory invariant) that the
    // returned handle's lifetime (bounded by the caller's borrow of the
    // pmap or by the callback invocation) keeps from being released.
    unsafe { PteRef::from_raw(nn) }
}

/// `pmap->pm_segtab` through a raw pmap pointer.
#[inline]
fn pm_segtab_get<M: Machine>(pm: *const Pmap<M>) -> *mut St<M> {
    // SAFETY: every caller derives `pm` from a reference it holds for the
    // duration of the call.
    unsafe { (*pm).pm_segtab }
}

/// `pmap->pm_minaddr` through a raw pmap pointer.
#[inline]
fn pm_minaddr_get<M: Machine>(pm: *const Pmap<M>) -> M::Vaddr {
    // SAFETY: every caller derives `pm` from a reference it holds for the
    // duration of the call.
    unsafe { (*pm).pm_minaddr }
}

/// Address of `pmap->pm_segtab` through a raw pmap pointer.
#[inline]
fn pm_segtab_slot<M: Machine>(pm: *mut Pmap<M>) -> *mut *mut St<M> {
    // SAFETY: `pm` is derived from a `&mut Pmap` held by the caller, so the
    // place is in bounds; no access happens here.
    unsafe { ptr::addr_of_mut!((*pm).pm_segtab) }
}

/// Reads a segtab slot (`*stp_p`).
#[inline]
fn slot_get<M: Machine>(stp_p: *mut *mut St<M>) -> *mut St<M> {
    // SAFETY: stp_p is either &pmap->pm_segtab (from a held &mut) or a
    // slot inside a live segtab (memory invariant).
    unsafe { stp_p.read() }
}

/// Writes a segtab slot (`*stp_p = v`).
#[inline]
fn slot_set<M: Machine>(stp_p: *mut *mut St<M>, v: *mut St<M>) {
    // SAFETY: as in slot_get.
    unsafe { stp_p.write(v) }
}

/// `(va >> shift) & (len - 1)` as an index.
#[inline]
fn index_of<V: Word>(va: V, shift: u32, len: usize) -> usize {
    va.shr(shift).to_usize() & (len - 1)
}

/// The port of `pmap_segtab.c`: the state of C's `pmap_segtab_info` and
/// `pmap_segtab_lock` user, plus the environment. No global state: two
/// instances coexist.
pub struct PmapSegtab<M: Machine, E: Env<M>> {
    /// The environment (kernel services).
    pub env: E,
    /// `pmap_segtab_info.free_segtab`.
    free_segtab: *mut St<M>,
    /// `pmap_segtab_info.nget_segtab` (DEBUG).
    nget_segtab: u32,
    /// `pmap_segtab_info.nput_segtab` (DEBUG).
    nput_segtab: u32,
    /// `pmap_segtab_info.npage_segtab` (DEBUG).
    npage_segtab: u32,
    /// `pmap_segtab_info.ptp_pgflist` head (PMAP_PTP_CACHE).
    ptp_pgflist: Option<E::Page>,
    _machine: PhantomData<fn() -> M>,
}

/// Iterator over the segtab free list (see [`PmapSegtab::free_list`]).
pub struct FreeList<'a, M: Machine> {
    next: *mut St<M>,
    left: usize,
    _life: PhantomData<&'a ()>,
}

impl<M: Machine> Iterator for FreeList<'_, M> {
    type Item = *mut M::Segtab;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next.is_null() || self.left == 0 {
            return None;
        }
        self.left -= 1;
        let cur = self.next;
        self.next = seg_seg_get::<M>(cur, 0);
        Some(cur)
    }
}

macro_rules! kassert {
    ($self:ident, $line:expr, $cond:expr, $text:expr) => {
        if M::DIAGNOSTIC && !($cond) {
            $self.env.panic(
                PanicSite::Kassert { line: $line },
                format_args!(
                    "kernel diagnostic assertion \"{}\" failed: file \"{}\", line {}",
                    $text, FILE, $line
                ),
            )
        }
    };
    ($self:ident, $line:expr, $cond:expr, $text:expr, $($msg:tt)+) => {
        if M::DIAGNOSTIC && !($cond) {
            $self.env.panic(
                PanicSite::Kassert { line: $line },
                format_args!(
                    "kernel diagnostic assertion \"{}\" failed: file \"{}\", line {} {}",
                    $text, FILE, $line, format_args!($($msg)+)
                ),
            )
        }
    };
}

impl<M: Machine, E: Env<M>> PmapSegtab<M, E> {
    /// A port instance with an empty free list and PTP cache.
    #[allow(clippy::let_unit_value)]
    pub fn new(env: E) -> Self {
        // Force the compile-time checks (CTASSERT, line 111).
        let () = M::CHECKS;
        PmapSegtab {
            env,
            free_segtab: ptr::null_mut(),
            nget_segtab: 0,
            nput_segtab: 0,
            npage_segtab: 0,
            ptp_pgflist: None,
            _machine: PhantomData,
        }
    }

    // ----- inspection -------------------------------------------------

    /// `pmap_segtab_info.free_segtab`.
    pub fn free_segtab_head(&self) -> *mut M::Segtab {
        self.free_segtab
    }

    /// Walks the free list through `seg_seg[0]`, yielding at most `limit`
    /// segtabs.
    pub fn free_list(&self, limit: usize) -> FreeList<'_, M> {
        FreeList {
            next: self.free_segtab,
            left: limit,
            _life: PhantomData,
        }
    }

    /// Head of `pmap_segtab_info.ptp_pgflist` (always `None` without
    /// PMAP_PTP_CACHE).
    pub fn ptp_cache_head(&self) -> Option<E::Page> {
        self.ptp_pgflist
    }

    /// `(nget_segtab, nput_segtab, npage_segtab)`; zeros without DEBUG.
    pub fn counters(&self) -> (u32, u32, u32) {
        (self.nget_segtab, self.nput_segtab, self.npage_segtab)
    }

    // ----- private helpers ---------------------------------------------

    /// `SEGTAB_ADD(n, v)`.
    #[inline]
    fn segtab_add(counter: &mut u32, v: u32) {
        if M::DEBUG {
            *counter = counter.wrapping_add(v);
        }
    }

    /// `LIST_INSERT_HEAD(&pmap_segtab_info.ptp_pgflist, pg, pageq.list)`.
    fn ptp_insert_head(&mut self, pg: E::Page) {
        self.env.set_ptp_next(pg, self.ptp_pgflist);
        self.ptp_pgflist = Some(pg);
    }

    /// `pmap_check_stp` (lines 145–166).
    fn check_stp(&mut self, stp: *mut St<M>, caller: &str, why: &str) {
        if M::DEBUG {
            for i in 0..M::PMAP_SEGTABSIZE {
                let p = seg_tab_get::<M>(stp, i);
                if !p.is_null() {
                    // The DEBUG_NOISY printf of the remaining slots has no
                    // environment hook and is omitted.
                    self.env.panic(
                        PanicSite::CheckStp,
                        format_args!(
                            "{}: pm_segtab.seg_tab[{}] != 0 ({:p}): {}",
                            caller, i, p, why
                        ),
                    );
                }
            }
        }
    }

    /// `pmap_check_ptes` (lines 171–198).
    fn check_ptes(&mut self, pte: *mut M::Pte, caller: &str) {
        if (pte as usize & M::PAGE_MASK) != 0 {
            self.env.panic(
                PanicSite::CheckPtesAlign,
                format_args!("{}: pte entry at {:p} not page aligned", caller, pte),
            );
        }
        if M::DEBUG {
            for i in 0..M::NPTEPG {
                let v = pte_get::<M>(pte, i);
                if v != M::Pte::ZERO {
                    self.env.panic(
                        PanicSite::CheckPtesNonzero,
                        format_args!(
                            "{}: pte[{}] entry at {:p} not 0 ({:#x})",
                            caller,
                            i,
                            pte.wrapping_add(i),
                            v
                        ),
                    );
                }
            }
        }
    }

    /// `pmap_pte_pagealloc` (lines 200–214).
    fn pte_pagealloc(&mut self) -> Option<E::Page> {
        self.env.alloc_poolpage(UVM_PGA_ZERO | UVM_PGA_USERESERVE)
    }

    /// `pmap_segmap` (lines 216–229).
    fn segmap(&mut self, pmap: *const Pmap<M>, va: M::Vaddr) -> *mut M::Pte {
        let mut stp = pm_segtab_get(pmap);
        kassert!(
            self,
            220,
            pmap != self.env.pmap_kernel() || !self.env.direct_mapped_vaddr_p(va),
            "pmap != pmap_kernel() || !pmap_md_direct_mapped_vaddr_p(va)",
            "pmap {:p} va {:#x}",
            pmap,
            va
        );
        if M::LP64 {
            stp = seg_seg_get::<M>(stp, index_of(va, M::XSEGSHIFT, M::NSEGPG));
            if stp.is_null() {
                return ptr::null_mut();
            }
        }
        seg_tab_get::<M>(stp, index_of(va, M::SEGSHIFT, M::PMAP_SEGTABSIZE))
    }

    /// `pmap_pte_lookup` on a raw pmap pointer (lines 231–239).
    fn pte_lookup_raw(&mut self, pmap: *const Pmap<M>, va: M::Vaddr) -> *mut M::Pte {
        let pte = self.segmap(pmap, va);
        if pte.is_null() {
            return ptr::null_mut();
        }
        pte.wrapping_add(index_of(va, M::PGSHIFT, M::NPTEPG))
    }

    /// `pmap_segtab_free` (lines 244–256).
    fn segtab_free(&mut self, stp: *mut St<M>) {
        self.env.mutex_spin_enter();
        seg_seg_set::<M>(stp, 0, self.free_segtab);
        self.free_segtab = stp;
        Self::segtab_add(&mut self.nput_segtab, 1);
        self.env.mutex_spin_exit();
    }

    /// `pmap_segtab_release` (lines 258–321).
    #[allow(clippy::too_many_arguments)]
    fn segtab_release(
        &mut self,
        pmap: *const Pmap<M>,
        stp_p: *mut *mut St<M>,
        free_stp: bool,
        mut callback: Option<&mut PteCallback<'_, M>>,
        flags: usize,
        mut va: M::Vaddr,
        vinc: M::Vaddr,
    ) {
        let stp = slot_get::<M>(stp_p);
        let nbseg = M::nbseg();
        let start = va.div(vinc).to_usize() & (M::PMAP_SEGTABSIZE - 1);
        for i in start..M::PMAP_SEGTABSIZE {
            // The C for-loop's `i++, va += vinc` runs after every
            // iteration, `continue` included.
            let cur_va = va;
            va = va.wrapping_add(vinc);

            if M::LP64 && vinc > nbseg {
                if !seg_seg_get::<M>(stp, i).is_null() {
                    self.segtab_release(
                        pmap,
                        St::<M>::seg_seg_slot(live::<M>(stp), i),
                        true,
                        callback.as_deref_mut(),
                        flags,
                        cur_va,
                        vinc.div(M::Vaddr::from_u64(M::NSEGPG as u64)),
                    );
                    kassert!(
                        self,
                        280,
                        seg_seg_get::<M>(stp, i).is_null(),
                        "stp->seg_seg[i] == NULL"
                    );
                }
                continue;
            }
            kassert!(self, 285, vinc == nbseg, "vinc == NBSEG");

            // get pointer to segment map
            let pte = seg_tab_get::<M>(stp, i);
            if pte.is_null() {
                continue;
            }
            self.check_ptes(pte, "pmap_segtab_release");

            // If our caller wants a callback, do so.
            if let Some(cb) = callback.as_deref_mut() {
                cb(
                    pmap,
                    cur_va,
                    cur_va.wrapping_add(vinc),
                    pte_ref::<M>(pte),
                    flags,
                );
            }

            let pa = self.env.unmap_poolpage(pte.cast::<u8>());
            let pg = self.env.phys_to_page(pa);
            if M::PTP_CACHE {
                self.env.mutex_spin_enter();
                self.ptp_insert_head(pg);
                self.env.mutex_spin_exit();
            } else {
                self.env.page_free(pg);
            }

            seg_tab_set::<M>(stp, i, ptr::null_mut());
        }

        if free_stp {
            self.check_stp(
                stp,
                "pmap_segtab_release",
                if vinc == nbseg {
                    "release seg"
                } else {
                    "release xseg"
                },
            );
            self.segtab_free(stp);
            slot_set::<M>(stp_p, ptr::null_mut());
        }
    }

    /// `pmap_segtab_alloc` (lines 335–391).
    fn segtab_alloc(&mut self) -> *mut St<M> {
        let mut found_on_freelist = false;
        let stp = loop {
            // again:
            self.env.mutex_spin_enter();
            let mut stp = self.free_segtab;
            if !stp.is_null() {
                self.free_segtab = seg_seg_get::<M>(stp, 0);
                seg_seg_set::<M>(stp, 0, ptr::null_mut());
                Self::segtab_add(&mut self.nget_segtab, 1);
                found_on_freelist = true;
            }
            self.env.mutex_spin_exit();

            if stp.is_null() {
                let Some(stp_pg) = self.pte_pagealloc() else {
                    // XXX What else can we do?  Could we deadlock here?
                    self.env.uvm_wait("segtab");
                    continue; // goto again
                };
                Self::segtab_add(&mut self.npage_segtab, 1);
                let stp_pa = self.env.page_to_phys(stp_pg);

                stp = self.env.map_poolpage(stp_pa).cast::<St<M>>();
                let n = M::NBPG / size_of::<St<M>>();
                if n > 1 {
                    // link all the segtabs in this page together
                    for i in 1..n - 1 {
                        seg_seg_set::<M>(stp.wrapping_add(i), 0, stp.wrapping_add(i + 1));
                    }
                    // Now link the new segtabs into the free segtab list.
                    self.env.mutex_spin_enter();
                    seg_seg_set::<M>(stp.wrapping_add(n - 1), 0, self.free_segtab);
                    self.free_segtab = stp.wrapping_add(1);
                    Self::segtab_add(&mut self.nput_segtab, (n - 1) as u32);
                    self.env.mutex_spin_exit();
                }
            }
            break stp;
        };

        self.check_stp(
            stp,
            "pmap_segtab_alloc",
            if found_on_freelist {
                "from free list"
            } else {
                "allocated"
            },
        );
        stp
    }

    // ----- public API ---------------------------------------------------

    /// `pmap_segtab_init` (lines 396–401): allocates the top segtab.
    pub fn segtab_init(&mut self, pmap: &mut Pmap<M>) {
        pmap.pm_segtab = self.segtab_alloc();
    }

    /// `pmap_segtab_destroy` (lines 408–421).
    ///
    /// Without a callback the whole tree, top segtab included, is freed and
    /// `pm_segtab` cleared; with one, the top segtab is kept (`free_stp =
    /// func == NULL`).
    pub fn segtab_destroy(
        &mut self,
        pmap: &mut Pmap<M>,
        callback: Option<&mut PteCallback<'_, M>>,
        flags: usize,
    ) {
        let pm: *mut Pmap<M> = pmap;
        if pm_segtab_get(pm).is_null() {
            return;
        }
        let vinc = if M::LP64 {
            M::Vaddr::from_u64(M::NBXSEG)
        } else {
            M::nbseg()
        };
        let minaddr = pm_minaddr_get(pm);
        let free_stp = callback.is_none();
        self.segtab_release(
            pm,
            pm_segtab_slot(pm),
            free_stp,
            callback,
            flags,
            minaddr,
            vinc,
        );
    }

    /// `pmap_segtab_activate` (lines 426–445).
    pub fn segtab_activate(&mut self, pm: &Pmap<M>, l: E::Lwp) {
        let pm_p: *const Pmap<M> = pm;
        if l == self.env.curlwp() {
            let ci = self.env.lwp_cpu(l);
            self.env.xtab_activate(pm_p, l);
            kassert!(
                self,
                432,
                pm_p == self.env.lwp_pmap(l),
                "pm == l->l_proc->p_vmspace->vm_map.pmap"
            );
            if pm_p == self.env.pmap_kernel() {
                let inv = self.env.invalid_segtab_address();
                self.env.cpu_info_mut(ci).ci_pmap_user_segtab = inv;
                if M::LP64 {
                    let inv = self.env.invalid_segtab_address();
                    self.env.cpu_info_mut(ci).ci_pmap_user_seg0tab = inv;
                }
            } else {
                self.env.cpu_info_mut(ci).ci_pmap_user_segtab = pm.pm_segtab;
                if M::LP64 {
                    let seg0 = seg_seg_get::<M>(pm.pm_segtab, 0);
                    self.env.cpu_info_mut(ci).ci_pmap_user_seg0tab = seg0;
                }
            }
        }
    }

    /// `pmap_segtab_deactivate` (lines 448–459).
    pub fn segtab_deactivate(&mut self, pm: &Pmap<M>) {
        self.env.xtab_deactivate(pm);

        let ci = self.env.curcpu();
        let inv = self.env.invalid_segtab_address();
        self.env.cpu_info_mut(ci).ci_pmap_user_segtab = inv;
        if M::LP64 {
            let ci = self.env.curcpu();
            self.env.cpu_info_mut(ci).ci_pmap_user_seg0tab = ptr::null_mut();
        }
    }

    /// `pmap_pte_lookup` (lines 231–239): the PTE for `va`, or `None` if
    /// its PTE page (or, on LP64, its lower segtab) is absent.
    ///
    /// Takes `&mut self` because the `KASSERTMSG` at line 220 may call
    /// [`Env::panic`].
    pub fn pte_lookup<'p>(&mut self, pmap: &'p Pmap<M>, va: M::Vaddr) -> Option<PteRef<'p, M>> {
        let pte = self.pte_lookup_raw(pmap, va);
        if pte.is_null() {
            None
        } else {
            Some(pte_ref::<M>(pte))
        }
    }

    /// `pmap_pte_process` (lines 467–497): calls `callback(pmap, sva,
    /// lastseg_va, ptep, flags)` for every segment of `[sva, eva)` whose
    /// PTE page exists.
    pub fn pte_process(
        &mut self,
        pmap: &mut Pmap<M>,
        mut sva: M::Vaddr,
        eva: M::Vaddr,
        callback: &mut PteCallback<'_, M>,
        flags: usize,
    ) {
        let pm: *const Pmap<M> = pmap;
        while sva < eva {
            let mut lastseg_va = M::trunc_seg(sva).wrapping_add(M::nbseg());
            if lastseg_va == M::Vaddr::ZERO || lastseg_va > eva {
                lastseg_va = eva;
            }

            // If VA belongs to an unallocated segment, skip to the next
            // segment boundary.
            let ptep = self.pte_lookup_raw(pm, sva);
            if !ptep.is_null() {
                // Callback to deal with the ptes for this segment.
                callback(pm, sva, lastseg_va, pte_ref::<M>(ptep), flags);
            }
            sva = lastseg_va;
        }
    }

    /// `pmap_pte_reserve` (lines 503–584): the PTE for `va`, allocating
    /// the lower segtab (LP64) and the PTE page if needed. Returns `None`
    /// only when no page is available and `flags & PMAP_CANFAIL`;
    /// otherwise panics through [`Env::panic`] ([`PanicSite::ReserveNoPage`]).
    pub fn pte_reserve<'p>(
        &mut self,
        pmap: &'p mut Pmap<M>,
        va: M::Vaddr,
        flags: i32,
    ) -> Option<PteRef<'p, M>> {
        let pm: *mut Pmap<M> = pmap;
        let mut stp = pm_segtab_get(pm);

        let mut pte = self.pte_lookup_raw(pm, va);
        if pte.is_null() {
            if M::LP64 {
                let xidx = index_of(va, M::XSEGSHIFT, M::NSEGPG);
                let stp_p = St::<M>::seg_seg_slot(live::<M>(stp), xidx);
                stp = slot_get::<M>(stp_p);
                if stp.is_null() {
                    let mut nstp = self.segtab_alloc();
                    if M::MULTIPROCESSOR {
                        // SAFETY: stp_p is a slot inside the live top
                        // segtab (memory invariant).
                        let ostp = unsafe {
                            self.env.atomic_cas_ptr(
                                stp_p.cast::<*mut c_void>(),
                                ptr::null_mut(),
                                nstp.cast::<c_void>(),
                            )
                        }
                        .cast::<St<M>>();
                        if !ostp.is_null() {
                            self.check_stp(nstp, "pmap_pte_reserve", "reserve");
                            self.segtab_free(nstp);
                            nstp = ostp;
                        }
                    } else {
                        slot_set::<M>(stp_p, nstp);
                    }
                    stp = nstp;
                }
                kassert!(
                    self,
                    529,
                    stp == seg_seg_get::<M>(pm_segtab_get(pm), xidx),
                    "stp == pmap->pm_segtab->seg_seg[(va >> XSEGSHIFT) & (NSEGPG - 1)]"
                );
            }
            let mut pg: Option<E::Page> = None;
            if M::PTP_CACHE {
                self.env.mutex_spin_enter();
                pg = self.ptp_pgflist;
                if let Some(p) = pg {
                    // LIST_REMOVE of the list head.
                    self.ptp_pgflist = self.env.ptp_next(p);
                    kassert!(
                        self,
                        536,
                        self.ptp_pgflist != Some(p),
                        "LIST_FIRST(&pmap_segtab_info.ptp_pgflist) != pg"
                    );
                }
                self.env.mutex_spin_exit();
            }
            if pg.is_none() {
                pg = self.pte_pagealloc();
            }
            let Some(pg) = pg else {
                if flags & PMAP_CANFAIL != 0 {
                    return None;
                }
                self.env.panic(
                    PanicSite::ReserveNoPage,
                    format_args!(
                        "pmap_pte_reserve: cannot allocate page table page for va {:x}",
                        va
                    ),
                );
            };

            let pa = self.env.page_to_phys(pg);
            pte = self.env.map_poolpage(pa).cast::<M::Pte>();
            let tidx = index_of(va, M::SEGSHIFT, M::PMAP_SEGTABSIZE);
            let pte_p = St::<M>::seg_tab_slot(live::<M>(stp), tidx);
            if M::MULTIPROCESSOR {
                // SAFETY: pte_p is a slot inside a live segtab (memory
                // invariant).
                let opte = unsafe {
                    self.env.atomic_cas_ptr(
                        pte_p.cast::<*mut c_void>(),
                        ptr::null_mut(),
                        pte.cast::<c_void>(),
                    )
                }
                .cast::<M::Pte>();
                // If another thread allocated the segtab needed for this
                // va free the page we just allocated.
                if !opte.is_null() {
                    if M::PTP_CACHE {
                        self.env.mutex_spin_enter();
                        self.ptp_insert_head(pg);
                        self.env.mutex_spin_exit();
                    } else {
                        self.env.unmap_poolpage(pte.cast::<u8>());
                        self.env.page_free(pg);
                    }
                    pte = opte;
                }
            } else {
                seg_tab_set::<M>(stp, tidx, pte);
            }
            kassert!(
                self,
                574,
                pte == seg_tab_get::<M>(stp, tidx),
                "pte == stp->seg_tab[(va >> SEGSHIFT) & (PMAP_SEGTABSIZE - 1)]"
            );

            self.check_ptes(pte, "pmap_pte_reserve");
            pte = pte.wrapping_add(index_of(va, M::PGSHIFT, M::NPTEPG));
        }

        Some(pte_ref::<M>(pte))
    }
}

impl<M: Machine, E: Env<M> + fmt::Debug> fmt::Debug for PmapSegtab<M, E>
where
    E::Page: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PmapSegtab")
            .field("machine", &M::NAME)
            .field("env", &self.env)
            .field("free_segtab", &self.free_segtab)
            .field("counters", &self.counters())
            .field("ptp_pgflist", &self.ptp_pgflist)
            .finish()
    }
}
