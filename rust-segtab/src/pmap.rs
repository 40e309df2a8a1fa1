//! The parts of `struct pmap` and `struct cpu_info` that `pmap_segtab.c`
//! touches: [`Pmap`] and [`CpuInfo`].
//!
//! Both are `#[repr(C)]` and made of [`Slot`]s, so a kernel can embed them
//! where its own structures keep these fields, and assembly (a TLB refill
//! handler reading `ci_pmap_user_segtab`) sees plain pointers.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering as CoreOrdering};

use crate::machine::Machine;
use crate::sync::{Ordering, Slot};
use crate::word::Word;

/// Identities of `PmapSegtab` instances (0: none). A plain `core` atomic
/// even under loom: it is a counter, not shared state under test.
static NEXT_OWNER: AtomicUsize = AtomicUsize::new(1);

pub(crate) fn new_owner_id() -> usize {
    NEXT_OWNER.fetch_add(1, CoreOrdering::Relaxed)
}

/// The fields of `struct pmap` that `pmap_segtab.c` uses.
///
/// Only this crate writes `pm_segtab`: [`PmapSegtab::segtab_init`] and
/// [`PmapSegtab::segtab_destroy`] (which take `&mut Pmap`, so no other CPU
/// is using the pmap). The fields are private and the type is neither
/// `Clone` nor `Copy`, so safe code cannot forge a pmap pointing at a tree
/// it does not own, or duplicate one and free its tree twice. A pmap also
/// remembers which `PmapSegtab` built its tree; handing it to another
/// instance panics instead of mixing two free lists.
///
/// [`PmapSegtab::segtab_init`]: crate::PmapSegtab::segtab_init
/// [`PmapSegtab::segtab_destroy`]: crate::PmapSegtab::segtab_destroy
#[repr(C)]
pub struct Pmap<M: Machine> {
    /// `pm_segtab`. Read by every CPU walking the pmap; written only
    /// through `&mut Pmap`.
    pm_segtab: Slot,
    /// `pm_minaddr`.
    pm_minaddr: M::Vaddr,
    /// The `PmapSegtab` whose pages `pm_segtab` points into (0: none).
    owner: usize,
}

impl<M: Machine> Pmap<M> {
    /// A pmap with a NULL `pm_segtab` and the given `pm_minaddr`.
    pub fn new(pm_minaddr: M::Vaddr) -> Self {
        Pmap {
            pm_segtab: Slot::null(),
            pm_minaddr,
            owner: 0,
        }
    }

    /// `pm_segtab`: the top segment table (NULL before `segtab_init` and
    /// after a destroy without callback).
    pub fn pm_segtab(&self) -> *mut M::Segtab {
        // Relaxed: pm_segtab only changes through &mut Pmap, and whoever
        // shared this &Pmap with other CPUs ordered that before.
        self.pm_segtab.load(Ordering::Relaxed)
    }

    /// `pm_minaddr`: the lowest user address, where `segtab_destroy`
    /// starts.
    pub fn pm_minaddr(&self) -> M::Vaddr {
        self.pm_minaddr
    }

    /// Changes `pm_minaddr` (the kernel sets it when it creates the pmap).
    pub fn set_pm_minaddr(&mut self, va: M::Vaddr) {
        self.pm_minaddr = va;
    }

    pub(crate) fn segtab_slot(&self) -> &Slot {
        &self.pm_segtab
    }

    pub(crate) fn owner(&self) -> usize {
        self.owner
    }

    pub(crate) fn set_owner(&mut self, owner: usize) {
        self.owner = owner;
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
            .field("pm_segtab", &self.pm_segtab())
            .field("pm_minaddr", &self.pm_minaddr)
            .finish()
    }
}

/// The fields of `struct cpu_info` that `pmap_segtab.c` uses.
///
/// Each CPU writes only its own (`curcpu()`, or `l->l_cpu` of `curlwp`);
/// its TLB refill handler reads them. The stores are `Relaxed`: nothing
/// else is published through them (the tables they point to were
/// published when they were installed in the tree).
#[repr(C)]
pub struct CpuInfo<M: Machine> {
    /// `ci_pmap_user_segtab`.
    ci_pmap_user_segtab: Slot,
    /// `ci_pmap_user_seg0tab` (only written on LP64).
    ci_pmap_user_seg0tab: Slot,
    _m: core::marker::PhantomData<fn() -> M>,
}

impl<M: Machine> CpuInfo<M> {
    /// Both pointers NULL.
    pub fn new() -> Self {
        Self::with(core::ptr::null_mut())
    }

    /// `ci_pmap_user_segtab = user_segtab`, `ci_pmap_user_seg0tab = NULL`
    /// (how a kernel boots a CPU: `PMAP_INVALID_SEGTAB_ADDRESS` until a
    /// user pmap is activated).
    pub fn with(user_segtab: *mut M::Segtab) -> Self {
        let ci = CpuInfo {
            ci_pmap_user_segtab: Slot::null(),
            ci_pmap_user_seg0tab: Slot::null(),
            _m: core::marker::PhantomData,
        };
        ci.ci_pmap_user_segtab.store(user_segtab, Ordering::Relaxed);
        ci
    }

    /// `ci_pmap_user_segtab`.
    pub fn user_segtab(&self) -> *mut M::Segtab {
        self.ci_pmap_user_segtab.load(Ordering::Relaxed)
    }

    /// `ci_pmap_user_seg0tab`.
    pub fn user_seg0tab(&self) -> *mut M::Segtab {
        self.ci_pmap_user_seg0tab.load(Ordering::Relaxed)
    }

    /// Sets `ci_pmap_user_segtab` (what `pmap_segtab_activate` does; a
    /// kernel also sets it when it boots the CPU). Only the CPU this
    /// structure belongs to may call it.
    pub fn set_user_segtab(&self, p: *mut M::Segtab) {
        self.ci_pmap_user_segtab.store(p, Ordering::Relaxed)
    }

    /// Sets `ci_pmap_user_seg0tab` (LP64). Only the CPU this structure
    /// belongs to may call it.
    pub fn set_user_seg0tab(&self, p: *mut M::Segtab) {
        self.ci_pmap_user_seg0tab.store(p, Ordering::Relaxed)
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
            .field("ci_pmap_user_segtab", &self.user_segtab())
            .field("ci_pmap_user_seg0tab", &self.user_seg0tab())
            .finish()
    }
}
