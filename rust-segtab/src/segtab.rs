//! The port of `pmap_segtab.c`: [`PmapSegtab`] (the state of C's
//! `pmap_segtab_info` plus the environment) and every function of the file.
//!
//! # Memory invariant
//!
//! All raw memory accesses of the port go through the small helpers at the
//! top of this module. They rely on this invariant: every non-null segtab
//! pointer reachable from the `pm_segtab` of a [`Pmap`] this instance
//! initialised, from the free list, or from a `seg_seg[]` slot, and every
//! non-null PTE page pointer in a `seg_tab[]` slot, was obtained from
//! [`Env::map_poolpage`] (or stored by [`Env::atomic_cas_ptr`] under its
//! contract) for a page that is still allocated, so by the [`Env`]
//! contract it is valid, suitably aligned and accessed by no one else but
//! through atomic slots and atomic PTE accesses. Safe callers cannot break
//! it: a [`Pmap`]'s fields are private, only `segtab_init` and
//! `segtab_destroy` (which take `&mut Pmap`) change `pm_segtab`, and every
//! entry point checks that the pmap's tree was built by this instance.
//!
//! # Concurrency
//!
//! Every entry point takes `&self`; `PmapSegtab` is `Sync` when the
//! environment is. What other CPUs may touch at the same time is accessed
//! atomically ([`Slot`]s of segtabs, PTEs through [`PteRef`]); what the
//! C guards with `pmap_segtab_lock` is reachable only through the lock
//! guard (`crate::info`). The orderings, each justified where it is
//! used: `Release` when a page becomes reachable (CAS or store into a
//! slot), `Acquire` when a CPU loads a slot to walk into the page behind
//! it, `Relaxed` for the free-list links (ordered by the lock) and for
//! tables this CPU owns exclusively.

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicU32;

use crate::env::{Env, PanicSite, UVM_PGA_USERESERVE, UVM_PGA_ZERO};
use crate::info::{Info, SegtabInfo, SegtabLock};
use crate::machine::{Machine, SegtabLayout};
use crate::pmap::{new_owner_id, Pmap};
use crate::pte::PteRef;
use crate::sync::{LockCell, Ordering, Slot};
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

// ---------------------------------------------------------------------
// Raw memory helpers. These are the only places that touch segtab / PTE
// memory; each relies on the module's memory invariant.
// ---------------------------------------------------------------------

/// Slot `i` of the segtab at `stp` (`&stp->seg_seg[i]` / `&stp->seg_tab[i]`).
/// Refuses a NULL segtab (the C would fault dereferencing it).
#[inline]
fn slot<'a, M: Machine>(stp: *mut St<M>, i: usize) -> &'a Slot {
    assert!(
        !stp.is_null(),
        "NULL pmap_segtab_t dereferenced (the C would fault)"
    );
    // SAFETY: stp is non-null and points to a live segtab (memory
    // invariant) that stays allocated while the caller uses the slot: the
    // caller either owns the segtab or holds a borrow of the pmap whose
    // tree contains it (tables leave a tree only through &mut Pmap).
    St::<M>::slot_of(unsafe { &*stp }, i)
}

/// `stp->seg_seg[i]`.
#[inline]
fn seg_seg<M: Machine>(stp: *mut St<M>, i: usize, order: Ordering) -> *mut St<M> {
    slot::<M>(stp, i).load(order)
}

/// `stp->seg_tab[i]`.
#[inline]
fn seg_tab<M: Machine>(stp: *mut St<M>, i: usize, order: Ordering) -> *mut M::Pte {
    slot::<M>(stp, i).load(order)
}

/// `pte[i]` for a PTE page that `pmap_check_ptes` found page aligned.
#[inline]
fn pte_get<M: Machine>(pte: *mut M::Pte, i: usize) -> M::Pte {
    assert!(i < M::NPTEPG);
    // SAFETY: pte is the start of a live, NBPG-aligned PTE page (memory
    // invariant; alignment checked by the caller) holding NPTEPG entries,
    // i < NPTEPG, and PTEs are only accessed atomically.
    unsafe { <M::Pte as Word>::load_relaxed(pte.add(i)) }
}

/// Handle for `pte` (a pointer inside a live PTE page).
#[inline]
fn pte_ref<'a, M: Machine>(pte: *mut M::Pte) -> PteRef<'a, M> {
    let nn = NonNull::new(pte).expect("NULL pt_entry_t pointer");
    // SAFETY: pte points into a live PTE page (memory invariant) that the
    // returned handle's lifetime (bounded by the caller's borrow of the
    // pmap or by the callback invocation) keeps from being released, and
    // PTEs are only accessed atomically.
    unsafe { PteRef::from_raw(nn) }
}

/// `(va >> shift) & (len - 1)` as an index.
#[inline]
fn index_of<V: Word>(va: V, shift: u32, len: usize) -> usize {
    va.shr(shift).to_usize() & (len - 1)
}

/// The port of `pmap_segtab.c`: the state of C's `pmap_segtab_info` and
/// `pmap_segtab_lock` user, plus the environment. No global state: two
/// instances coexist (each with its own pmaps).
pub struct PmapSegtab<M: Machine, E: Env<M>> {
    env: E,
    /// `pmap_segtab_info` but `npage_segtab`: only under the lock.
    info: LockCell<Info<E::Page>>,
    /// `pmap_segtab_info.npage_segtab` (DEBUG), which the C increments
    /// outside the lock (line 364).
    npage: AtomicU32,
    /// Stamped into the pmaps this instance initialises.
    id: usize,
    _machine: PhantomData<fn() -> M>,
}

// SAFETY: the only state not already Sync is `info`, which is reached only
// through a SegtabLock (the environment's spin lock is held: mutual
// exclusion with acquire/release, by the Env contract) or through `&mut
// self`. Its raw free-list pointer refers to pool pages any CPU may use
// under the lock, and `E::Page: Send`.
unsafe impl<M: Machine, E: Env<M> + Sync> Sync for PmapSegtab<M, E> {}
// SAFETY: moving the port moves the environment and the lock-protected
// state with it; no thread-bound resource is held between calls.
unsafe impl<M: Machine, E: Env<M> + Send> Send for PmapSegtab<M, E> {}

/// Iterator over the segtab free list (see [`PmapSegtab::free_list`]).
pub struct FreeList<'a, M: Machine> {
    next: *mut St<M>,
    left: usize,
    _life: PhantomData<&'a mut ()>,
}

impl<M: Machine> Iterator for FreeList<'_, M> {
    type Item = *mut M::Segtab;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next.is_null() || self.left == 0 {
            return None;
        }
        self.left -= 1;
        let cur = self.next;
        // Relaxed: the iterator borrows the port mutably, so no CPU is
        // inside the lock.
        self.next = seg_seg::<M>(cur, 0, Ordering::Relaxed);
        Some(cur)
    }
}

/// C's `%#x`: like `{:#x}`, but a zero prints as `0` (the `#` flag adds
/// `0x` to non-zero values only).
struct CAltHex<V>(V);

impl<V: Word> fmt::Display for CAltHex<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == V::ZERO {
            f.write_str("0")
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

// `__KASSERTSTR` is "kernel %sassertion \"%s\" failed: file \"%s\", line %d "
// followed by the KASSERTMSG text: a plain KASSERT's message ends in a space.
macro_rules! kassert {
    ($self:ident, $line:expr, $cond:expr, $text:expr) => {
        if M::DIAGNOSTIC && !($cond) {
            $self.env.panic(
                PanicSite::Kassert { line: $line },
                format_args!(
                    "kernel diagnostic assertion \"{}\" failed: file \"{}\", line {} ",
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
            info: LockCell::new(Info::new()),
            npage: AtomicU32::new(0),
            id: new_owner_id(),
            _machine: PhantomData,
        }
    }

    /// The environment.
    pub fn env(&self) -> &E {
        &self.env
    }

    /// The environment, mutably (no CPU is inside the port).
    pub fn env_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Gives the environment back.
    pub fn into_env(self) -> E {
        self.env
    }

    // ----- inspection (exclusive access: no lock) ---------------------

    /// A copy of `pmap_segtab_info`. Takes `&mut self`: with no other CPU
    /// inside the port, it is read without taking the lock (taking it
    /// would be an environment call the C never makes).
    pub fn info(&mut self) -> SegtabInfo<M::Segtab, E::Page> {
        let npage = *self.npage.get_mut();
        // SAFETY: &mut self: no other CPU can hold a SegtabLock.
        unsafe {
            self.info.with_mut(|i| SegtabInfo {
                free_segtab: i.free_segtab.cast(),
                nget_segtab: i.nget,
                nput_segtab: i.nput,
                npage_segtab: npage,
                ptp_first: i.ptp_first,
            })
        }
    }

    /// `(nget_segtab, nput_segtab, npage_segtab)`; zeros without DEBUG.
    pub fn counters(&mut self) -> (u32, u32, u32) {
        let i = self.info();
        (i.nget_segtab, i.nput_segtab, i.npage_segtab)
    }

    /// Walks the free list through `seg_seg[0]`, yielding at most `limit`
    /// segtabs.
    pub fn free_list(&mut self, limit: usize) -> FreeList<'_, M> {
        FreeList {
            next: self.info().free_segtab,
            left: limit,
            _life: PhantomData,
        }
    }

    // ----- private helpers ---------------------------------------------

    /// `mutex_spin_enter(&pmap_segtab_lock)`: the guard is the only way to
    /// the free list, the PTP cache and the DEBUG counters.
    #[inline]
    fn lock(&self) -> SegtabLock<'_, M, E> {
        SegtabLock::enter(&self.env, &self.info)
    }

    /// Refuses a pmap whose tree another instance built.
    #[inline]
    fn check_owner(&self, pmap: &Pmap<M>) {
        assert!(
            pmap.owner() == self.id || pmap.pm_segtab().is_null(),
            "pmap's segment table belongs to another PmapSegtab"
        );
    }

    /// `pmap_check_stp` (lines 145–166). `stp` is exclusively this CPU's
    /// (just taken off the free list, just allocated, or being freed), so
    /// its slots are read `Relaxed`.
    fn check_stp(&self, stp: *mut St<M>, caller: &str, why: &str) {
        if M::DEBUG {
            for i in 0..M::PMAP_SEGTABSIZE {
                let p = seg_tab::<M>(stp, i, Ordering::Relaxed);
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
    fn check_ptes(&self, pte: *mut M::Pte, caller: &str) {
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
                            "{}: pte[{}] entry at {:p} not 0 ({})",
                            caller,
                            i,
                            pte.wrapping_add(i),
                            CAltHex(v)
                        ),
                    );
                }
            }
        }
    }

    /// `pmap_pte_pagealloc` (lines 200–214).
    fn pte_pagealloc(&self) -> Option<E::Page> {
        self.env.alloc_poolpage(UVM_PGA_ZERO | UVM_PGA_USERESERVE)
    }

    /// `pmap_segmap` (lines 216–229). Slots are loaded `Acquire`: another
    /// CPU may just have installed the table behind them (pairs with the
    /// `Release` of [`Slot::cas_publish`]).
    fn segmap(&self, pmap: &Pmap<M>, va: M::Vaddr) -> *mut M::Pte {
        let mut stp = pmap.pm_segtab();
        kassert!(
            self,
            220,
            !ptr::eq(pmap, self.env.pmap_kernel()) || !self.env.direct_mapped_vaddr_p(va),
            "pmap != pmap_kernel() || !pmap_md_direct_mapped_vaddr_p(va)",
            "pmap {:p} va {}",
            pmap as *const Pmap<M>,
            CAltHex(va)
        );
        if M::LP64 {
            stp = seg_seg::<M>(
                stp,
                index_of(va, M::XSEGSHIFT, M::NSEGPG),
                Ordering::Acquire,
            );
            if stp.is_null() {
                return ptr::null_mut();
            }
        }
        seg_tab::<M>(
            stp,
            index_of(va, M::SEGSHIFT, M::PMAP_SEGTABSIZE),
            Ordering::Acquire,
        )
    }

    /// `pmap_pte_lookup` on the raw result (lines 231–239).
    fn pte_lookup_raw(&self, pmap: &Pmap<M>, va: M::Vaddr) -> *mut M::Pte {
        let pte = self.segmap(pmap, va);
        if pte.is_null() {
            return ptr::null_mut();
        }
        pte.wrapping_add(index_of(va, M::PGSHIFT, M::NPTEPG))
    }

    /// `pmap_segtab_free` (lines 244–256). The link is stored `Relaxed`:
    /// the lock orders it for whoever pops this segtab.
    fn segtab_free(&self, stp: *mut St<M>) {
        let mut g = self.lock();
        slot::<M>(stp, 0).store(g.free_segtab(), Ordering::Relaxed);
        g.set_free_segtab(stp);
        g.add_nput(1);
        drop(g);
    }

    /// `pmap_segtab_release` (lines 258–321). Runs with `&mut Pmap` held
    /// by `segtab_destroy`, so no other CPU walks this tree: its slots are
    /// read and cleared `Relaxed`.
    #[allow(clippy::too_many_arguments)]
    fn segtab_release(
        &self,
        pmap: *const Pmap<M>,
        stp_p: &Slot,
        free_stp: bool,
        mut callback: Option<&mut PteCallback<'_, M>>,
        flags: usize,
        mut va: M::Vaddr,
        vinc: M::Vaddr,
    ) {
        let stp: *mut St<M> = stp_p.load(Ordering::Relaxed);
        let nbseg = M::nbseg();
        let start = va.div(vinc).to_usize() & (M::PMAP_SEGTABSIZE - 1);
        for i in start..M::PMAP_SEGTABSIZE {
            // The C for-loop's `i++, va += vinc` runs after every
            // iteration, `continue` included.
            let cur_va = va;
            va = va.wrapping_add(vinc);

            if M::LP64 && vinc > nbseg {
                if !seg_seg::<M>(stp, i, Ordering::Relaxed).is_null() {
                    self.segtab_release(
                        pmap,
                        slot::<M>(stp, i),
                        true,
                        callback.as_deref_mut(),
                        flags,
                        cur_va,
                        vinc.div(M::Vaddr::from_u64(M::NSEGPG as u64)),
                    );
                    kassert!(
                        self,
                        280,
                        seg_seg::<M>(stp, i, Ordering::Relaxed).is_null(),
                        "stp->seg_seg[i] == NULL"
                    );
                }
                continue;
            }
            kassert!(self, 285, vinc == nbseg, "vinc == NBSEG");

            // get pointer to segment map
            let pte = seg_tab::<M>(stp, i, Ordering::Relaxed);
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
                let mut g = self.lock();
                g.ptp_insert_head(pg);
                drop(g);
            } else {
                self.env.page_free(pg);
            }

            slot::<M>(stp, i).store(ptr::null_mut::<M::Pte>(), Ordering::Relaxed);
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
            stp_p.store(ptr::null_mut::<St<M>>(), Ordering::Relaxed);
        }
    }

    /// `pmap_segtab_alloc` (lines 335–391).
    fn segtab_alloc(&self) -> *mut St<M> {
        let mut found_on_freelist = false;
        let stp = loop {
            // again:
            let mut g = self.lock();
            let mut stp = g.free_segtab();
            if !stp.is_null() {
                // Relaxed: the link was stored under this lock.
                g.set_free_segtab(seg_seg::<M>(stp, 0, Ordering::Relaxed));
                slot::<M>(stp, 0).store(ptr::null_mut::<St<M>>(), Ordering::Relaxed);
                g.add_nget(1);
                found_on_freelist = true;
            }
            drop(g);

            if stp.is_null() {
                let Some(stp_pg) = self.pte_pagealloc() else {
                    // XXX What else can we do?  Could we deadlock here?
                    self.env.uvm_wait("segtab");
                    continue; // goto again
                };
                if M::DEBUG {
                    // SEGTAB_ADD(npage, 1), outside the lock as in the C.
                    self.npage
                        .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                }
                let stp_pa = self.env.page_to_phys(stp_pg);

                stp = self.env.map_poolpage(stp_pa).cast::<St<M>>();
                let n = M::NBPG / size_of::<St<M>>();
                if n > 1 {
                    // link all the segtabs in this page together. The
                    // page is this CPU's alone until the lock below
                    // publishes it: Relaxed.
                    for i in 1..n - 1 {
                        slot::<M>(stp.wrapping_add(i), 0)
                            .store(stp.wrapping_add(i + 1), Ordering::Relaxed);
                    }
                    // Now link the new segtabs into the free segtab list.
                    let mut g = self.lock();
                    slot::<M>(stp.wrapping_add(n - 1), 0).store(g.free_segtab(), Ordering::Relaxed);
                    g.set_free_segtab(stp.wrapping_add(1));
                    g.add_nput((n - 1) as u32);
                    drop(g);
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
    ///
    /// A tree the pmap already had is leaked, as in the C.
    pub fn segtab_init(&self, pmap: &mut Pmap<M>) {
        let stp = self.segtab_alloc();
        // Relaxed: &mut Pmap; whoever shares the pmap afterwards orders it.
        pmap.segtab_slot().store(stp, Ordering::Relaxed);
        pmap.set_owner(self.id);
    }

    /// `pmap_segtab_destroy` (lines 408–421).
    ///
    /// Without a callback the whole tree, top segtab included, is freed and
    /// `pm_segtab` cleared; with one, the top segtab is kept (`free_stp =
    /// func == NULL`). `&mut Pmap`: no other CPU may walk a pmap being torn
    /// down.
    pub fn segtab_destroy(
        &self,
        pmap: &mut Pmap<M>,
        callback: Option<&mut PteCallback<'_, M>>,
        flags: usize,
    ) {
        self.check_owner(pmap);
        if pmap.pm_segtab().is_null() {
            return;
        }
        let vinc = if M::LP64 {
            M::Vaddr::from_u64(M::NBXSEG)
        } else {
            M::nbseg()
        };
        let free_stp = callback.is_none();
        let pm: &Pmap<M> = pmap;
        self.segtab_release(
            pm,
            pm.segtab_slot(),
            free_stp,
            callback,
            flags,
            pm.pm_minaddr(),
            vinc,
        );
    }

    /// `pmap_segtab_activate` (lines 426–445).
    pub fn segtab_activate(&self, pm: &Pmap<M>, l: E::Lwp) {
        self.check_owner(pm);
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
                self.env.cpu_info(ci).set_user_segtab(inv);
                if M::LP64 {
                    let inv = self.env.invalid_segtab_address();
                    self.env.cpu_info(ci).set_user_seg0tab(inv);
                }
            } else {
                self.env.cpu_info(ci).set_user_segtab(pm.pm_segtab());
                if M::LP64 {
                    // Acquire: another CPU may have just installed it; this
                    // CPU's refill handler will walk into it.
                    let seg0 = seg_seg::<M>(pm.pm_segtab(), 0, Ordering::Acquire);
                    self.env.cpu_info(ci).set_user_seg0tab(seg0);
                }
            }
        }
    }

    /// `pmap_segtab_deactivate` (lines 448–459).
    pub fn segtab_deactivate(&self, pm: &Pmap<M>) {
        self.env.xtab_deactivate(pm);

        let ci = self.env.curcpu();
        let inv = self.env.invalid_segtab_address();
        self.env.cpu_info(ci).set_user_segtab(inv);
        if M::LP64 {
            let ci = self.env.curcpu();
            self.env.cpu_info(ci).set_user_seg0tab(ptr::null_mut());
        }
    }

    /// `pmap_pte_lookup` (lines 231–239): the PTE for `va`, or `None` if
    /// its PTE page (or, on LP64, its lower segtab) is absent.
    pub fn pte_lookup<'p>(&self, pmap: &'p Pmap<M>, va: M::Vaddr) -> Option<PteRef<'p, M>> {
        self.check_owner(pmap);
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
        &self,
        pmap: &Pmap<M>,
        mut sva: M::Vaddr,
        eva: M::Vaddr,
        callback: &mut PteCallback<'_, M>,
        flags: usize,
    ) {
        self.check_owner(pmap);
        let pm: *const Pmap<M> = pmap;
        while sva < eva {
            let mut lastseg_va = M::trunc_seg(sva).wrapping_add(M::nbseg());
            if lastseg_va == M::Vaddr::ZERO || lastseg_va > eva {
                lastseg_va = eva;
            }

            // If VA belongs to an unallocated segment, skip to the next
            // segment boundary.
            let ptep = self.pte_lookup_raw(pmap, sva);
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
    ///
    /// Several CPUs may reserve in one pmap at once (`&Pmap`): with
    /// `MULTIPROCESSOR` the loser of a race for a slot gives its page back
    /// and uses the winner's (lines 518–523, 554–570).
    pub fn pte_reserve<'p>(
        &self,
        pmap: &'p Pmap<M>,
        va: M::Vaddr,
        flags: i32,
    ) -> Option<PteRef<'p, M>> {
        self.check_owner(pmap);
        let mut stp = pmap.pm_segtab();

        let mut pte = self.pte_lookup_raw(pmap, va);
        if pte.is_null() {
            if M::LP64 {
                let xidx = index_of(va, M::XSEGSHIFT, M::NSEGPG);
                let stp_p = slot::<M>(stp, xidx);
                // Acquire: as in segmap.
                stp = stp_p.load(Ordering::Acquire);
                if stp.is_null() {
                    let mut nstp = self.segtab_alloc();
                    if M::MULTIPROCESSOR {
                        let ostp: *mut St<M> = self
                            .env
                            .atomic_cas_ptr(stp_p, ptr::null_mut(), nstp.cast::<c_void>())
                            .cast();
                        if !ostp.is_null() {
                            self.check_stp(nstp, "pmap_pte_reserve", "reserve");
                            self.segtab_free(nstp);
                            nstp = ostp;
                        }
                    } else {
                        // Release: publishes the empty segtab, as the CAS
                        // does (a uniprocessor's refill handler may walk it).
                        stp_p.store(nstp, Ordering::Release);
                    }
                    stp = nstp;
                }
                kassert!(
                    self,
                    529,
                    stp == seg_seg::<M>(pmap.pm_segtab(), xidx, Ordering::Relaxed),
                    "stp == pmap->pm_segtab->seg_seg[(va >> XSEGSHIFT) & (NSEGPG - 1)]"
                );
            }
            let mut pg: Option<E::Page> = None;
            if M::PTP_CACHE {
                let mut g = self.lock();
                pg = g.ptp_first();
                if let Some(p) = pg {
                    let first = g.ptp_remove_head(p);
                    if M::DIAGNOSTIC && first == Some(p) {
                        // KASSERT inside the lock: the C panics holding it.
                        g.panic(
                            PanicSite::Kassert { line: 536 },
                            format_args!(
                                "kernel diagnostic assertion \"{}\" failed: file \"{}\", line {} ",
                                "LIST_FIRST(&pmap_segtab_info.ptp_pgflist) != pg", FILE, 536
                            ),
                        );
                    }
                }
                drop(g);
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
            let pte_p = slot::<M>(stp, tidx);
            if M::MULTIPROCESSOR {
                let opte: *mut M::Pte = self
                    .env
                    .atomic_cas_ptr(pte_p, ptr::null_mut(), pte.cast::<c_void>())
                    .cast();
                // If another thread allocated the segtab needed for this
                // va free the page we just allocated.
                if !opte.is_null() {
                    if M::PTP_CACHE {
                        let mut g = self.lock();
                        g.ptp_insert_head(pg);
                        drop(g);
                    } else {
                        self.env.unmap_poolpage(pte.cast::<u8>());
                        self.env.page_free(pg);
                    }
                    pte = opte;
                }
            } else {
                // Release: as for the segtab above.
                pte_p.store(pte, Ordering::Release);
            }
            kassert!(
                self,
                574,
                pte == seg_tab::<M>(stp, tidx, Ordering::Relaxed),
                "pte == stp->seg_tab[(va >> SEGSHIFT) & (PMAP_SEGTABSIZE - 1)]"
            );

            self.check_ptes(pte, "pmap_pte_reserve");
            pte = pte.wrapping_add(index_of(va, M::PGSHIFT, M::NPTEPG));
        }

        Some(pte_ref::<M>(pte))
    }
}

impl<M: Machine, E: Env<M> + fmt::Debug> fmt::Debug for PmapSegtab<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PmapSegtab")
            .field("machine", &M::NAME)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}
