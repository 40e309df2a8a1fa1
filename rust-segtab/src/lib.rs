//! `rust-segtab`: a faithful `#![no_std]` Rust port of NetBSD's
//! `sys/uvm/pmap/pmap_segtab.c`, revision 1.23 (2020/08/22).
//!
//! The C file manages the segment tables of the machine-independent pmap:
//! a one-level (32-bit) or two-level (`_LP64`) tree of `pmap_segtab_t`
//! whose leaves point at pages of PTEs. This crate reproduces it to the
//! letter — same control flow, same order of calls into the kernel, same
//! integer widths and the same quirks — so that it can be compared step by
//! step with the C compiled against a test shim.
//!
//! * [`Machine`] describes one port + kernel configuration (page and
//!   segment shifts, `pt_entry_t` / `vaddr_t` widths, and the `#ifdef`
//!   options `_LP64`, `DEBUG`, `DIAGNOSTIC`, `MULTIPROCESSOR`,
//!   `PMAP_PTP_CACHE` as constants). Concrete ones are in [`machines`];
//!   declare more with [`define_machine!`].
//! * [`Env`] is everything the C calls outside the file (page allocation,
//!   pool page mapping, the spin lock, `atomic_cas_ptr`, `curlwp`, panic…).
//! * [`PmapSegtab`] holds the file's global state (`pmap_segtab_info`) and
//!   the environment, and carries every function of the file as a method.
//!
//! # Map from C to Rust
//!
//! | C (pmap_segtab.c rev 1.23) | Rust |
//! |---|---|
//! | `pmap_segtab_t` | [`Segtab`] (`M::Segtab`) |
//! | `struct pmap` (`pm_segtab`, `pm_minaddr`) | [`Pmap`] |
//! | `struct cpu_info` (`ci_pmap_user_segtab`, `ci_pmap_user_seg0tab`) | [`CpuInfo`] |
//! | `struct pmap_segtab_info pmap_segtab_info` | private fields of [`PmapSegtab`]; see [`PmapSegtab::free_segtab_head`], [`PmapSegtab::free_list`], [`PmapSegtab::ptp_cache_head`], [`PmapSegtab::counters`] |
//! | `SEGTAB_ADD(n, v)` | private `PmapSegtab::segtab_add` (no-op unless `M::DEBUG`) |
//! | `pmap_segtab_lock` | [`Env::mutex_spin_enter`] / [`Env::mutex_spin_exit`] |
//! | `CTASSERT(NBPG >= sizeof(pmap_segtab_t))` (line 111) | [`Machine::CHECKS`], forced by [`PmapSegtab::new`] |
//! | `pmap_check_stp` | private `PmapSegtab::check_stp` |
//! | `pmap_check_ptes` | private `PmapSegtab::check_ptes` |
//! | `pmap_pte_pagealloc` | private `PmapSegtab::pte_pagealloc` |
//! | `pmap_segmap` | private `PmapSegtab::segmap` |
//! | `pmap_pte_lookup` | [`PmapSegtab::pte_lookup`] |
//! | `pmap_segtab_free` | private `PmapSegtab::segtab_free` |
//! | `pmap_segtab_release` | private `PmapSegtab::segtab_release` |
//! | `pmap_segtab_alloc` | private `PmapSegtab::segtab_alloc` |
//! | `pmap_segtab_init` | [`PmapSegtab::segtab_init`] |
//! | `pmap_segtab_destroy` | [`PmapSegtab::segtab_destroy`] |
//! | `pmap_segtab_activate` | [`PmapSegtab::segtab_activate`] |
//! | `pmap_segtab_deactivate` | [`PmapSegtab::segtab_deactivate`] |
//! | `pmap_pte_process` | [`PmapSegtab::pte_process`] |
//! | `pmap_pte_reserve` | [`PmapSegtab::pte_reserve`] |
//! | `pte_callback_t` | [`PteCallback`] |
//! | `pt_entry_t *` | [`PteRef`] |
//! | `vaddr_t`, `vsize_t`, `pt_entry_t` | [`Machine::Vaddr`], [`Machine::Pte`] (both [`Word`]) |
//! | `NBPG`, `PAGE_MASK`, `NPTEPG`, `PMAP_SEGTABSIZE`, `NSEGPG`, `NBSEG`, `SEGOFSET`, `NBXSEG` | [`Machine`] associated constants |
//! | `pmap_trunc_seg(x)` | [`Machine::trunc_seg`] |
//! | `PMAP_ALLOC_POOLPAGE`, `VM_PAGE_TO_PHYS`, `PHYS_TO_VM_PAGE`, `PMAP_MAP_POOLPAGE`, `PMAP_UNMAP_POOLPAGE`, `uvm_pagefree`, `uvm_wait` | [`Env::alloc_poolpage`], [`Env::page_to_phys`], [`Env::phys_to_page`], [`Env::map_poolpage`], [`Env::unmap_poolpage`], [`Env::page_free`], [`Env::uvm_wait`] |
//! | `LIST_INSERT_HEAD` / `LIST_REMOVE` / `LIST_FIRST` on `ptp_pgflist` | list head in [`PmapSegtab`], links via [`Env::ptp_next`] / [`Env::set_ptp_next`] |
//! | `atomic_cas_ptr` | [`Env::atomic_cas_ptr`] |
//! | `curlwp`, `curcpu()`, `l->l_cpu`, `l->l_proc->p_vmspace->vm_map.pmap` | [`Env::curlwp`], [`Env::curcpu`], [`Env::lwp_cpu`], [`Env::lwp_pmap`] |
//! | `pmap_kernel()`, `pmap_md_direct_mapped_vaddr_p` | [`Env::pmap_kernel`], [`Env::direct_mapped_vaddr_p`] |
//! | `pmap_md_xtab_activate` / `_deactivate` | [`Env::xtab_activate`] / [`Env::xtab_deactivate`] |
//! | `PMAP_INVALID_SEGTAB_ADDRESS` | [`Env::invalid_segtab_address`] |
//! | `panic`, `KASSERT`, `KASSERTMSG` | [`Env::panic`] with a [`PanicSite`]; assertions only when [`Machine::DIAGNOSTIC`], and their condition is not evaluated otherwise |
//! | `PMAP_CANFAIL`, `UVM_PGA_USERESERVE`, `UVM_PGA_ZERO` | [`PMAP_CANFAIL`], [`UVM_PGA_USERESERVE`], [`UVM_PGA_ZERO`] |
//! | `UVMHIST_*`, `UVM_PAGE_OWN` | nothing (they expand to nothing without `UVMHIST` / `UVM_PAGE_TRKOWN`) |
//!
//! # Quirks (kept on purpose)
//!
//! * **Release loop start (lines 270–272).** `pmap_segtab_release` starts
//!   at `i = (va / vinc) & (PMAP_SEGTABSIZE - 1)` and steps `va += vinc`.
//!   With a `pm_minaddr` that is not `vinc`-aligned, callbacks see unaligned
//!   `[va, va + vinc)` ranges; the LP64 recursion passes that unaligned `va`
//!   down, so an inner loop may start mid-table and skip its low slots. A
//!   skipped PTE page is never released: with `DEBUG`, `pmap_check_stp`
//!   then panics ([`PanicSite::CheckStp`]); without, the segtab goes on the
//!   free list still holding the pointer (slot 0 is overwritten by the
//!   free-list link, leaking its page; other slots stay visible to the next
//!   pmap that gets this segtab).
//! * **Top-level index mask (lines 223, 270, 514).** The LP64 upper index
//!   is masked by `NSEGPG - 1` in `pmap_segmap`/`pmap_pte_reserve` but by
//!   `PMAP_SEGTABSIZE - 1` in `pmap_segtab_release` (equal here); addresses
//!   above what the tree covers alias lower slots.
//! * **PTP cache pages are not zeroed (lines 532–541, 579).** A PTE page
//!   taken from the `PMAP_PTP_CACHE` list is used as is; only `DEBUG`'s
//!   `pmap_check_ptes` looks at its contents (and panics if dirty).
//! * **Destroy with a callback (line 420).** `free_stp = func == NULL`:
//!   with a callback, the top segtab is neither freed nor cleared from
//!   `pm_segtab`; lower (LP64) segtabs are freed regardless.
//! * **Callback result ignored (lines 297, 489).**
//! * **Release checks before the callback (lines 291–298).** With `DEBUG`,
//!   PTE pages must be all-zero *before* the callback runs.
//! * **`pmap_pte_process` at the top of the address space (lines
//!   476–478).** `pmap_trunc_seg(sva) + NBSEG` wraps to 0 in `vaddr_t`, and
//!   that 0 is replaced by `eva`.
//! * **`pmap_check_ptes` alignment panic is unconditional (line 177)**,
//!   only the zero check depends on `DEBUG`.
//! * **MULTIPROCESSOR lose paths (lines 518–523, 554–570).** Losing the
//!   segtab race checks and frees the new segtab and uses the winner's.
//!   Losing the PTE-page race: without `PMAP_PTP_CACHE`,
//!   `PMAP_UNMAP_POOLPAGE` then `uvm_pagefree`; with it, the page goes on
//!   the cache list (still mapped, not unmapped).
//! * **Carving (lines 368–384).** When `NBPG / sizeof(pmap_segtab_t) > 1`
//!   (host layout), the first segtab of a new page is returned and the
//!   other `n - 1` are linked in address order in front of the free list,
//!   with `SEGTAB_ADD(nput, n - 1)`.
//! * **Free list through `seg_seg[0]` (lines 252, 345)**, on 32-bit too;
//!   LIFO.
//! * **`uvm_wait` + `goto again` (lines 356–362).** Allocation failure in
//!   `pmap_segtab_alloc` waits and retries forever, even for a
//!   `PMAP_CANFAIL` reserve.
//! * **`PMAP_CANFAIL` on LP64** returns `None` after installing the lower
//!   segtab, which stays.
//! * **Counters** are `uint32_t` and wrap.
//!
//! # Deviations
//!
//! * Dereferencing a NULL `pm_segtab` / segtab (a fault in C) panics with a
//!   Rust panic, not through [`Env::panic`].
//! * The `DEBUG_NOISY` `printf` of `pmap_check_stp` has no environment hook
//!   and is omitted; the panic message is kept.
//! * [`PmapSegtab::pte_lookup`] takes `&mut self` because its `KASSERTMSG`
//!   may call [`Env::panic`]; returned [`PteRef`]s borrow the pmap.
//! * Soundness rests on the [`Env`] contract and on callers changing
//!   [`Pmap::pm_segtab`] only through this crate (the fields are public
//!   raw pointers, as in C).
//!
//! # Example
//!
//! ```
//! use rust_segtab::machines::MipsO32_4k;
//! use rust_segtab::{CpuInfo, Env, PanicSite, Pmap, PmapSegtab, PteRef, Segtab};
//! # use std::alloc::{alloc_zeroed, dealloc, Layout};
//! # use core::ffi::c_void;
//! # type M = MipsO32_4k;
//! # /// A tiny environment: pages from the global allocator, PA = KVA.
//! # struct Tiny { pages: Vec<*mut u8>, cpu: CpuInfo<M>, next: Vec<(usize, Option<usize>)> }
//! # const LAYOUT: Layout = match Layout::from_size_align(4096, 4096) { Ok(l) => l, Err(_) => panic!() };
//! # impl Drop for Tiny { fn drop(&mut self) { for &p in &self.pages { unsafe { dealloc(p, LAYOUT) } } } }
//! # unsafe impl Env<M> for Tiny {
//! #     type Page = usize; type Lwp = (); type Cpu = ();
//! #     fn alloc_poolpage(&mut self, _f: u32) -> Option<usize> {
//! #         let p = unsafe { alloc_zeroed(LAYOUT) }; self.pages.push(p); Some(p as usize) }
//! #     fn page_to_phys(&self, pg: usize) -> u64 { pg as u64 }
//! #     fn phys_to_page(&self, pa: u64) -> usize { pa as usize }
//! #     fn map_poolpage(&mut self, pa: u64) -> *mut u8 {
//! #         *self.pages.iter().find(|p| **p as u64 == pa).unwrap() }
//! #     fn unmap_poolpage(&mut self, kva: *mut u8) -> u64 { kva as u64 }
//! #     fn page_free(&mut self, _pg: usize) {}
//! #     fn uvm_wait(&mut self, _w: &'static str) {}
//! #     fn panic(&mut self, s: PanicSite, m: core::fmt::Arguments<'_>) -> ! { panic!("{s:?}: {m}") }
//! #     fn ptp_next(&self, pg: usize) -> Option<usize> {
//! #         self.next.iter().rev().find(|e| e.0 == pg).and_then(|e| e.1) }
//! #     fn set_ptp_next(&mut self, pg: usize, n: Option<usize>) { self.next.push((pg, n)) }
//! #     fn mutex_spin_enter(&mut self) {}
//! #     fn mutex_spin_exit(&mut self) {}
//! #     unsafe fn atomic_cas_ptr(&mut self, s: *mut *mut c_void, o: *mut c_void, n: *mut c_void) -> *mut c_void {
//! #         unsafe { let p = *s; if p == o { *s = n; } p } }
//! #     fn curlwp(&self) {}
//! #     fn curcpu(&self) {}
//! #     fn lwp_cpu(&self, _l: ()) {}
//! #     fn lwp_pmap(&self, _l: ()) -> *const Pmap<M> { core::ptr::null() }
//! #     fn cpu_info_mut(&mut self, _c: ()) -> &mut CpuInfo<M> { &mut self.cpu }
//! #     fn pmap_kernel(&self) -> *const Pmap<M> { core::ptr::null() }
//! #     fn direct_mapped_vaddr_p(&self, _va: u32) -> bool { false }
//! #     fn xtab_activate(&mut self, _p: *const Pmap<M>, _l: ()) {}
//! #     fn xtab_deactivate(&mut self, _p: *const Pmap<M>) {}
//! #     fn invalid_segtab_address(&self) -> *mut Segtab<u32, 512> { core::ptr::null_mut() }
//! # }
//! # let tiny_env = Tiny { pages: Vec::new(), cpu: CpuInfo::new(), next: Vec::new() };
//! // `tiny_env` implements `Env<MipsO32_4k>` (hidden above).
//! let mut port = PmapSegtab::<MipsO32_4k, _>::new(tiny_env);
//! let mut pmap = Pmap::new(0);
//! port.segtab_init(&mut pmap);
//!
//! // Reserve the PTE for a va, allocating its PTE page, and fill it in.
//! let pte = port.pte_reserve(&mut pmap, 0x0040_3000, 0).unwrap();
//! assert_eq!(pte.index(), 3);
//! pte.write(0x1234_5001);
//! assert_eq!(port.pte_lookup(&pmap, 0x0040_3000).unwrap().read(), 0x1234_5001);
//!
//! // Walk a range, one callback per populated segment.
//! let mut seen = Vec::new();
//! port.pte_process(&mut pmap, 0, 0x0100_0000,
//!     &mut |_pm, sva, eva, pte: PteRef<'_, M>, _flags| {
//!         seen.push((sva, eva, pte.read()));
//!         pte.write(0); // DEBUG checks PTE pages are empty on release
//!         true
//!     }, 0);
//! assert_eq!(seen, vec![(0x0040_0000, 0x0080_0000, 0)]);
//! port.pte_lookup(&pmap, 0x0040_3000).unwrap().write(0);
//!
//! // Tear down: PTE pages and the segtab go back.
//! port.segtab_destroy(&mut pmap, None, 0);
//! assert!(pmap.pm_segtab.is_null());
//! assert_eq!(port.counters(), (0, 1, 1));
//! ```
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod env;
pub mod machine;
pub mod machines;
pub mod pte;
pub mod segtab;
pub mod word;

pub use env::{Env, PanicSite, UVM_PGA_USERESERVE, UVM_PGA_ZERO};
pub use machine::{Machine, Segtab, SegtabLayout};
pub use pte::PteRef;
pub use segtab::{CpuInfo, FreeList, Pmap, PmapSegtab, PteCallback, PMAP_CANFAIL};
pub use word::Word;
