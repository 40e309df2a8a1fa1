//! The environment the port runs in: [`Env`] (the kernel services the C
//! file calls) and [`PanicSite`].

use core::ffi::c_void;
use core::fmt;

use crate::machine::Machine;
use crate::segtab::{CpuInfo, Pmap};

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

/// The kernel services `pmap_segtab.c` uses, provided by the kernel or a
/// test harness.
///
/// # Safety
///
/// The port dereferences memory on the strength of this contract:
///
/// * [`map_poolpage`](Env::map_poolpage) returns, for the physical address
///   of a page obtained from [`alloc_poolpage`](Env::alloc_poolpage) and not
///   yet freed, a non-null pointer aligned to `M::NBPG` and valid for reads
///   and writes of `M::NBPG` bytes, which no one but the port (and the
///   environment's own [`atomic_cas_ptr`](Env::atomic_cas_ptr)) accesses
///   while the page is allocated. It stays valid until the page is given
///   back with [`page_free`](Env::page_free) (pages on the PTP cache list
///   stay allocated). Repeated calls for the same page return the same
///   pointer.
/// * A page allocated with [`UVM_PGA_ZERO`] is zero-filled.
/// * [`page_to_phys`](Env::page_to_phys) and
///   [`phys_to_page`](Env::phys_to_page) are inverse;
///   [`unmap_poolpage`](Env::unmap_poolpage) returns the physical address
///   whose `map_poolpage` gave `kva`.
/// * [`atomic_cas_ptr`](Env::atomic_cas_ptr) behaves as a compare-and-swap
///   on `*slot`. If it stores anything other than the caller's `new`, it
///   stores either NULL or a pointer satisfying the `map_poolpage`
///   guarantees for a page it allocated (a zero-filled page is a valid
///   empty segtab / PTE page).
/// * [`cpu_info_mut`](Env::cpu_info_mut) and the pmap pointers it returns
///   are only compared, never dereferenced, by the port.
/// * [`invalid_segtab_address`](Env::invalid_segtab_address) is only stored,
///   never dereferenced.
/// * [`panic`](Env::panic) never returns (it may unwind).
pub unsafe trait Env<M: Machine> {
    /// `struct vm_page *`.
    type Page: Copy + Eq + fmt::Debug;
    /// `struct lwp *`.
    type Lwp: Copy + Eq;
    /// `struct cpu_info *`.
    type Cpu: Copy + Eq;

    /// `PMAP_ALLOC_POOLPAGE(flags)`; flags are `UVM_PGA_*`.
    fn alloc_poolpage(&mut self, flags: u32) -> Option<Self::Page>;
    /// `VM_PAGE_TO_PHYS(pg)`.
    fn page_to_phys(&self, pg: Self::Page) -> u64;
    /// `PHYS_TO_VM_PAGE(pa)`.
    fn phys_to_page(&self, pa: u64) -> Self::Page;
    /// `PMAP_MAP_POOLPAGE(pa)`: kernel virtual address of the page.
    fn map_poolpage(&mut self, pa: u64) -> *mut u8;
    /// `PMAP_UNMAP_POOLPAGE(kva)`: returns the physical address.
    fn unmap_poolpage(&mut self, kva: *mut u8) -> u64;
    /// `uvm_pagefree(pg)`.
    fn page_free(&mut self, pg: Self::Page);
    /// `uvm_wait(wmsg)`: may return (the caller retries) or diverge by
    /// panicking.
    fn uvm_wait(&mut self, wmsg: &'static str);
    /// `panic(fmt, ...)`.
    fn panic(&mut self, site: PanicSite, msg: fmt::Arguments<'_>) -> !;
    /// `LIST_NEXT(pg, pageq.list)` (PTP cache list).
    fn ptp_next(&self, pg: Self::Page) -> Option<Self::Page>;
    /// Sets `LIST_NEXT(pg, pageq.list)`.
    fn set_ptp_next(&mut self, pg: Self::Page, next: Option<Self::Page>);
    /// `mutex_spin_enter(&pmap_segtab_lock)`.
    fn mutex_spin_enter(&mut self);
    /// `mutex_spin_exit(&pmap_segtab_lock)`.
    fn mutex_spin_exit(&mut self);
    /// `atomic_cas_ptr(slot, old, new)`: returns the previous value.
    ///
    /// # Safety
    ///
    /// `slot` is valid for reads and writes of one pointer.
    unsafe fn atomic_cas_ptr(
        &mut self,
        slot: *mut *mut c_void,
        old: *mut c_void,
        new: *mut c_void,
    ) -> *mut c_void;
    /// `curlwp`.
    fn curlwp(&self) -> Self::Lwp;
    /// `curcpu()`.
    fn curcpu(&self) -> Self::Cpu;
    /// `l->l_cpu`.
    fn lwp_cpu(&self, l: Self::Lwp) -> Self::Cpu;
    /// `l->l_proc->p_vmspace->vm_map.pmap`.
    fn lwp_pmap(&self, l: Self::Lwp) -> *const Pmap<M>;
    /// The `struct cpu_info` behind `ci`.
    fn cpu_info_mut(&mut self, ci: Self::Cpu) -> &mut CpuInfo<M>;
    /// `pmap_kernel()`.
    fn pmap_kernel(&self) -> *const Pmap<M>;
    /// `pmap_md_direct_mapped_vaddr_p(va)`.
    fn direct_mapped_vaddr_p(&self, va: M::Vaddr) -> bool;
    /// `pmap_md_xtab_activate(pm, l)`.
    fn xtab_activate(&mut self, pm: *const Pmap<M>, l: Self::Lwp);
    /// `pmap_md_xtab_deactivate(pm)`.
    fn xtab_deactivate(&mut self, pm: *const Pmap<M>);
    /// `PMAP_INVALID_SEGTAB_ADDRESS` (NULL on mips, 0xfeeddead on booke).
    fn invalid_segtab_address(&self) -> *mut M::Segtab;
}
