//! The environment the port runs in: [`Env`] (the kernel services the C
//! file calls), [`PanicSite`] and [`SpinHeld`].

use core::ffi::c_void;
use core::fmt;

use crate::addr::PhysAddr;
use crate::machine::Machine;
use crate::pmap::{CpuInfo, Pmap};
use crate::sync::Slot;

/// `UVM_PGA_USERESERVE`: the allocation may use the page reserve.
pub const UVM_PGA_USERESERVE: u32 = 0x1;
/// `UVM_PGA_ZERO`: the page must be returned zero-filled.
pub const UVM_PGA_ZERO: u32 = 0x2;

/// Which C site called `panic()`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum PanicSite {
    /// A failed `KASSERT`/`KASSERTMSG` at the given C line (220, 280, 285,
    /// 432, 529, 536 or 574). Only with [`Machine::DIAGNOSTIC`].
    Kassert {
        /// C line number of the assertion.
        line: u32,
    },
    /// `pmap_check_stp`: a `seg_tab[]` slot is not NULL (line 161).
    CheckStp,
    /// `pmap_check_ptes`: PTE array not page aligned (line 178).
    CheckPtesAlign,
    /// `pmap_check_ptes`: a PTE is not 0 (line 194).
    CheckPtesNonzero,
    /// `pmap_pte_reserve`: no page for a PTE page and no `PMAP_CANFAIL`
    /// (line 545).
    ReserveNoPage,
}

impl PanicSite {
    /// The C line of the `panic()` / assertion.
    pub fn line(self) -> u32 {
        match self {
            PanicSite::Kassert { line } => line,
            PanicSite::CheckStp => 161,
            PanicSite::CheckPtesAlign => 178,
            PanicSite::CheckPtesNonzero => 194,
            PanicSite::ReserveNoPage => 545,
        }
    }
}

/// Proof that the calling CPU holds `pmap_segtab_lock`: only the port's
/// lock guard makes one, and the PTP-cache link accessors require it.
pub struct SpinHeld {
    _private: (),
}

impl SpinHeld {
    pub(crate) const PROOF: SpinHeld = SpinHeld { _private: () };
}

/// The kernel services `pmap_segtab.c` uses, provided by the kernel or a
/// test harness. Every method takes `&self`: several CPUs call into one
/// environment at once, each on its own behalf (`curcpu()`, `curlwp` are
/// the calling CPU's).
///
/// # Safety
///
/// The port dereferences memory and hands out `&mut` access to the state
/// of `pmap_segtab_info` on the strength of this contract:
///
/// * **Pages.** [`map_poolpage`](Env::map_poolpage) returns, for the
///   physical address of a page obtained from
///   [`alloc_poolpage`](Env::alloc_poolpage) and not yet freed, a non-null
///   pointer aligned to `M::NBPG` and valid for reads and writes of
///   `M::NBPG` bytes, which no one but the port (through its atomic slots
///   and [`PteRef`](crate::PteRef)s) accesses while the page is allocated.
///   It stays valid until the page is given back with
///   [`page_free`](Env::page_free) (pages on the PTP cache list stay
///   allocated). Repeated calls for the same page return the same pointer.
/// * A page allocated with [`UVM_PGA_ZERO`] is zero-filled, and the
///   zeroing happens before `alloc_poolpage` returns on the calling CPU.
/// * [`page_to_phys`](Env::page_to_phys) and
///   [`phys_to_page`](Env::phys_to_page) are inverse;
///   [`unmap_poolpage`](Env::unmap_poolpage) returns the physical address
///   whose `map_poolpage` gave `kva`.
/// * **The lock.** [`mutex_spin_enter`](Env::mutex_spin_enter) returns only
///   when the calling CPU holds `pmap_segtab_lock` and no other CPU does,
///   and everything another CPU did before its matching
///   [`mutex_spin_exit`](Env::mutex_spin_exit) happens before the return
///   (acquire/release, as NetBSD's `mutex_spin_enter`/`_exit` give). The
///   lock is not recursive: entering it twice on one CPU must not return.
/// * **CAS.** [`atomic_cas_ptr`](Env::atomic_cas_ptr) calls
///   [`Slot::cas_publish`] on the given slot exactly once with the given
///   `old` and `new` and returns its result. Before that it may store
///   into the slot (simulating another CPU) only NULL, or with `Release`
///   a pointer satisfying the page guarantees above for a zero-filled
///   page it allocated.
/// * [`cpu_info`](Env::cpu_info) returns the calling CPU's own structure
///   when given `curcpu()` or `lwp_cpu(curlwp())`. The pmap pointers
///   [`lwp_pmap`](Env::lwp_pmap) and [`pmap_kernel`](Env::pmap_kernel)
///   return, and the pmap pointers given to the xtab hooks, are only
///   compared, never dereferenced, by the port.
/// * [`invalid_segtab_address`](Env::invalid_segtab_address) is only
///   stored, never dereferenced.
/// * [`panic`](Env::panic) never returns (it may unwind; the port then
///   leaves `pmap_segtab_lock` as the C would: held if the panic came
///   from inside it).
pub unsafe trait Env<M: Machine> {
    /// `struct vm_page *`.
    type Page: Copy + Eq + fmt::Debug + Send;
    /// `struct lwp *`.
    type Lwp: Copy + Eq;
    /// `struct cpu_info *`.
    type Cpu: Copy + Eq;

    /// `PMAP_ALLOC_POOLPAGE(flags)`; flags are `UVM_PGA_*`.
    fn alloc_poolpage(&self, flags: u32) -> Option<Self::Page>;
    /// `VM_PAGE_TO_PHYS(pg)`.
    fn page_to_phys(&self, pg: Self::Page) -> PhysAddr;
    /// `PHYS_TO_VM_PAGE(pa)`.
    fn phys_to_page(&self, pa: PhysAddr) -> Self::Page;
    /// `PMAP_MAP_POOLPAGE(pa)`: kernel virtual address of the page.
    fn map_poolpage(&self, pa: PhysAddr) -> *mut u8;
    /// `PMAP_UNMAP_POOLPAGE(kva)`: returns the physical address.
    fn unmap_poolpage(&self, kva: *mut u8) -> PhysAddr;
    /// `uvm_pagefree(pg)`.
    fn page_free(&self, pg: Self::Page);
    /// `uvm_wait(wmsg)`: may return (the caller retries) or diverge by
    /// panicking.
    fn uvm_wait(&self, wmsg: &'static str);
    /// `panic(fmt, ...)`.
    fn panic(&self, site: PanicSite, msg: fmt::Arguments<'_>) -> !;
    /// `LIST_NEXT(pg, pageq.list)` (PTP cache list), under the lock.
    fn ptp_next(&self, held: &SpinHeld, pg: Self::Page) -> Option<Self::Page>;
    /// Sets `LIST_NEXT(pg, pageq.list)`, under the lock.
    fn set_ptp_next(&self, held: &SpinHeld, pg: Self::Page, next: Option<Self::Page>);
    /// `mutex_spin_enter(&pmap_segtab_lock)`. The port calls it only
    /// through its lock guard, which gives access to the free list, the
    /// PTP cache and the DEBUG counters.
    fn mutex_spin_enter(&self);
    /// `mutex_spin_exit(&pmap_segtab_lock)`.
    ///
    /// # Safety
    ///
    /// The calling CPU holds the lock (the port calls it only when its
    /// guard is dropped).
    unsafe fn mutex_spin_exit(&self);
    /// `atomic_cas_ptr(slot, old, new)`: returns the previous value.
    ///
    /// A kernel keeps the default, the port's own CAS with the orderings
    /// justified at [`Slot::cas_publish`]. A harness may override it to
    /// observe the call or to let another CPU win first (see the trait's
    /// safety contract).
    fn atomic_cas_ptr(&self, slot: &Slot, old: *mut c_void, new: *mut c_void) -> *mut c_void {
        slot.cas_publish(old, new)
    }
    /// `curlwp`.
    fn curlwp(&self) -> Self::Lwp;
    /// `curcpu()`.
    fn curcpu(&self) -> Self::Cpu;
    /// `l->l_cpu`.
    fn lwp_cpu(&self, l: Self::Lwp) -> Self::Cpu;
    /// `l->l_proc->p_vmspace->vm_map.pmap`.
    fn lwp_pmap(&self, l: Self::Lwp) -> *const Pmap<M>;
    /// The `struct cpu_info` behind `ci`.
    fn cpu_info(&self, ci: Self::Cpu) -> &CpuInfo<M>;
    /// `pmap_kernel()`.
    fn pmap_kernel(&self) -> *const Pmap<M>;
    /// `pmap_md_direct_mapped_vaddr_p(va)`.
    fn direct_mapped_vaddr_p(&self, va: M::Vaddr) -> bool;
    /// `pmap_md_xtab_activate(pm, l)`.
    fn xtab_activate(&self, pm: *const Pmap<M>, l: Self::Lwp);
    /// `pmap_md_xtab_deactivate(pm)`.
    fn xtab_deactivate(&self, pm: *const Pmap<M>);
    /// `PMAP_INVALID_SEGTAB_ADDRESS` (NULL on mips, 0xfeeddead on booke).
    fn invalid_segtab_address(&self) -> *mut M::Segtab;
}
