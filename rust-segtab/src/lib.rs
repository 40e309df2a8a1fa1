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
//! | `pmap_segtab_t` | [`Segtab`] (`M::Segtab`): `PMAP_SEGTABSIZE` atomic [`Slot`]s, `seg_seg[i]` and `seg_tab[i]` being slot `i` |
//! | `struct pmap` (`pm_segtab`, `pm_minaddr`) | [`Pmap`] (private fields; [`Pmap::pm_segtab`], [`Pmap::pm_minaddr`]) |
//! | `struct cpu_info` (`ci_pmap_user_segtab`, `ci_pmap_user_seg0tab`) | [`CpuInfo`] (atomic slots, `#[repr(C)]`) |
//! | `struct pmap_segtab_info pmap_segtab_info` | private state of [`PmapSegtab`], reachable only under the lock guard; read with exclusive access by [`PmapSegtab::info`] ([`SegtabInfo`]) and [`PmapSegtab::free_list`] |
//! | `SEGTAB_ADD(n, v)` | the lock guard's `add_nget`/`add_nput`; `npage` is an atomic (the C counts it outside the lock, line 364) |
//! | `pmap_segtab_lock` | [`Env::mutex_spin_enter`] / [`Env::mutex_spin_exit`], wrapped in a guard that gives the only access to `pmap_segtab_info` |
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
//! | `PMAP_ALLOC_POOLPAGE`, `VM_PAGE_TO_PHYS`, `PHYS_TO_VM_PAGE`, `PMAP_MAP_POOLPAGE`, `PMAP_UNMAP_POOLPAGE`, `uvm_pagefree`, `uvm_wait` | [`Env::alloc_poolpage`], [`Env::page_to_phys`], [`Env::phys_to_page`], [`Env::map_poolpage`], [`Env::unmap_poolpage`], [`Env::page_free`], [`Env::uvm_wait`]; `paddr_t` is [`PhysAddr`] |
//! | `LIST_INSERT_HEAD` / `LIST_REMOVE` / `LIST_FIRST` on `ptp_pgflist` | list head under the lock, links via [`Env::ptp_next`] / [`Env::set_ptp_next`] (which demand a [`SpinHeld`] proof) |
//! | `atomic_cas_ptr` | [`Env::atomic_cas_ptr`] over a [`Slot`] (default: [`Slot::cas_publish`]) |
//! | `curlwp`, `curcpu()`, `l->l_cpu`, `l->l_proc->p_vmspace->vm_map.pmap` | [`Env::curlwp`], [`Env::curcpu`], [`Env::lwp_cpu`], [`Env::lwp_pmap`], [`Env::cpu_info`] |
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
//! * **A lost PTE-page race checks the winner's page (line 576).** With
//!   `MULTIPROCESSOR` and `DEBUG`, the CPU that loses the CAS runs
//!   `pmap_check_ptes` on the page the winner installed; if the winner has
//!   already entered a PTE there, the loser panics with
//!   [`PanicSite::CheckPtesNonzero`]. The port keeps it.
//!
//! # Deviations
//!
//! * Dereferencing a NULL `pm_segtab` / segtab (a fault in C) panics with a
//!   Rust panic, not through [`Env::panic`]; so does handing a pmap to a
//!   `PmapSegtab` other than the one that built its tree.
//! * The `DEBUG_NOISY` `printf` of `pmap_check_stp` has no environment hook
//!   and is omitted; the panic message is kept.
//! * Slots and PTEs are accessed atomically (the C uses plain accesses):
//!   needed for the same code to be defined on a multiprocessor. The
//!   orderings are justified in [`sync`] and at each use in [`segtab`].
//! * `npage_segtab` is an atomic counter: the C increments it outside the
//!   lock (line 364), which loses counts when CPUs race; the port's count
//!   is exact.
//!
//! # Concurrency
//!
//! Every entry point takes `&self`, and `PmapSegtab<M, E>` is `Sync` when
//! `E` is. The free list, the PTP cache head and the DEBUG counters are
//! reachable only through a guard that [`Env::mutex_spin_enter`] gives
//! (or with `&mut PmapSegtab`). `segtab_init` and `segtab_destroy` take
//! `&mut Pmap`; lookups, reserves, walks and activation take `&Pmap`, so
//! several CPUs may reserve in one pmap at once, as the `MULTIPROCESSOR`
//! paths of the C expect. With `RUSTFLAGS="--cfg loom"` the atomics and
//! the lock-protected cell come from the `loom` model checker
//! (`tests/loom.rs`).
//!
//! # A kernel's `Env`
//!
//! A kernel implements [`Env`] once, over its own services. This one keeps
//! pages in an arena with a bump allocator, implements `pmap_segtab_lock`
//! as a test-and-set spin lock with acquire/release orderings, keeps the
//! default [`Env::atomic_cas_ptr`] (the port's own CAS), and answers
//! `curcpu()` from a per-thread CPU number. Two CPUs (threads) then reserve
//! the same PTE in one pmap at once.
//!
//! ```
//! use core::fmt;
//! use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
//! use rust_segtab::machines::MipsN64_4k;
//! use rust_segtab::{CpuInfo, Env, Machine, PanicSite, PhysAddr, Pmap, PmapSegtab, SpinHeld};
//! type M = MipsN64_4k;
//!
//! const NPAGES: usize = 64;
//! #[repr(C, align(4096))]
//! struct Frame([u8; 4096]);
//!
//! /// Pages, a spin lock and two CPUs.
//! struct KernelEnv {
//!     frames: Box<[core::cell::UnsafeCell<Frame>]>,
//!     next_free: AtomicUsize,          // bump allocator (never reuses)
//!     ptp_next: [AtomicUsize; NPAGES], // LIST_NEXT links, index + 1 (0: end)
//!     lock: AtomicBool,                // pmap_segtab_lock
//!     cpus: [CpuInfo<M>; 2],
//! }
//! // SAFETY: a frame is handed out once and then only touched by the port.
//! unsafe impl Sync for KernelEnv {}
//!
//! thread_local!(static CPU: core::cell::Cell<usize> = const { core::cell::Cell::new(0) });
//! const PA_BASE: u64 = 0x1000_0000;
//!
//! // SAFETY: frames are 4096-aligned, zeroed at creation and handed out
//! // once (so UVM_PGA_ZERO holds); the lock is a real spin lock with
//! // acquire/release; atomic_cas_ptr is the default.
//! unsafe impl Env<M> for KernelEnv {
//!     type Page = usize;
//!     type Lwp = usize; // one lwp per CPU: lwp i runs on CPU i
//!     type Cpu = usize;
//!     fn alloc_poolpage(&self, _flags: u32) -> Option<usize> {
//!         let i = self.next_free.fetch_add(1, Ordering::Relaxed);
//!         (i < NPAGES).then_some(i)
//!     }
//!     fn page_to_phys(&self, pg: usize) -> PhysAddr { PhysAddr::new(PA_BASE + pg as u64 * 4096) }
//!     fn phys_to_page(&self, pa: PhysAddr) -> usize { ((pa.as_u64() - PA_BASE) / 4096) as usize }
//!     fn map_poolpage(&self, pa: PhysAddr) -> *mut u8 {
//!         self.frames[self.phys_to_page(pa)].get().cast()
//!     }
//!     fn unmap_poolpage(&self, kva: *mut u8) -> PhysAddr {
//!         self.page_to_phys((kva as usize - self.frames.as_ptr() as usize) / 4096)
//!     }
//!     fn page_free(&self, _pg: usize) {}
//!     fn uvm_wait(&self, wmsg: &'static str) { panic!("out of pages ({wmsg})") }
//!     fn panic(&self, site: PanicSite, msg: fmt::Arguments<'_>) -> ! { panic!("{site:?}: {msg}") }
//!     fn ptp_next(&self, _: &SpinHeld, pg: usize) -> Option<usize> {
//!         self.ptp_next[pg].load(Ordering::Relaxed).checked_sub(1)
//!     }
//!     fn set_ptp_next(&self, _: &SpinHeld, pg: usize, next: Option<usize>) {
//!         self.ptp_next[pg].store(next.map_or(0, |n| n + 1), Ordering::Relaxed)
//!     }
//!     fn mutex_spin_enter(&self) {
//!         while self.lock.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
//!             core::hint::spin_loop();
//!         }
//!     }
//!     unsafe fn mutex_spin_exit(&self) { self.lock.store(false, Ordering::Release) }
//!     fn curlwp(&self) -> usize { CPU.with(|c| c.get()) }
//!     fn curcpu(&self) -> usize { CPU.with(|c| c.get()) }
//!     fn lwp_cpu(&self, l: usize) -> usize { l }
//!     fn lwp_pmap(&self, _l: usize) -> *const Pmap<M> { core::ptr::null() }
//!     fn cpu_info(&self, ci: usize) -> &CpuInfo<M> { &self.cpus[ci] }
//!     fn pmap_kernel(&self) -> *const Pmap<M> { core::ptr::null() }
//!     fn direct_mapped_vaddr_p(&self, _va: u64) -> bool { false }
//!     fn xtab_activate(&self, _pm: *const Pmap<M>, _l: usize) {}
//!     fn xtab_deactivate(&self, _pm: *const Pmap<M>) {}
//!     fn invalid_segtab_address(&self) -> *mut <M as Machine>::Segtab { core::ptr::null_mut() }
//! }
//!
//! let env = KernelEnv {
//!     frames: (0..NPAGES).map(|_| core::cell::UnsafeCell::new(Frame([0; 4096]))).collect(),
//!     next_free: AtomicUsize::new(0),
//!     ptp_next: [const { AtomicUsize::new(0) }; NPAGES],
//!     lock: AtomicBool::new(false),
//!     cpus: [CpuInfo::new(), CpuInfo::new()],
//! };
//! let port = PmapSegtab::<M, _>::new(env);
//! let mut pmap = Pmap::new(0);
//! port.segtab_init(&mut pmap);
//!
//! // Two CPUs reserve the same VA at once: both get the same PTE.
//! let (a, b) = std::thread::scope(|s| {
//!     let cpu = |n: usize| {
//!         let (port, pmap) = (&port, &pmap);
//!         move || {
//!             CPU.with(|c| c.set(n));
//!             port.pte_reserve(pmap, 0x0040_3000, 0).unwrap().as_ptr() as usize
//!         }
//!     };
//!     let (a, b) = (s.spawn(cpu(0)), s.spawn(cpu(1)));
//!     (a.join().unwrap(), b.join().unwrap())
//! });
//! assert_eq!(a, b);
//! let pte = port.pte_lookup(&pmap, 0x0040_3000).unwrap();
//! pte.write(0x1234_5001);
//! assert_eq!(pte.read(), 0x1234_5001);
//! pte.write(0); // DEBUG checks that PTE pages are empty when released
//!
//! // Walk a range: one callback per populated segment.
//! let mut seen = Vec::new();
//! port.pte_process(&pmap, 0, 0x0100_0000,
//!     &mut |_pm, sva, eva, pte, _flags| { seen.push((sva, eva, pte.read())); true }, 0);
//! assert_eq!(seen, vec![(0x0040_0000, 0x0080_0000, 0)]);
//!
//! // Tear down (exclusive: &mut Pmap): PTE pages and segtabs go back.
//! port.segtab_destroy(&mut pmap, None, 0);
//! assert!(pmap.pm_segtab().is_null());
//! ```
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod addr;
pub mod env;
mod info;
pub mod machine;
pub mod machines;
pub mod pmap;
pub mod pte;
pub mod segtab;
pub mod sync;
pub mod word;

pub use addr::PhysAddr;
pub use env::{Env, PanicSite, SpinHeld, UVM_PGA_USERESERVE, UVM_PGA_ZERO};
pub use info::SegtabInfo;
pub use machine::{Machine, Segtab, SegtabLayout};
pub use pmap::{CpuInfo, Pmap};
pub use pte::PteRef;
pub use segtab::{FreeList, PmapSegtab, PteCallback, PMAP_CANFAIL};
pub use sync::{Ordering, Slot};
pub use word::Word;
