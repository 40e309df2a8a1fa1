//! What the compiled revision of `pmap_segtab.c` has.
//!
//! `SEGTAB_C_SOURCE` may name another NetBSD revision than the vendored
//! 1.23. Each keeps its state in its own layout, which `shim/csrc/world.c`
//! reads (chosen at preprocessing time by what the revision defines); this
//! module tells a caller what that revision has, in the configuration
//! compiled, so that state a revision lacks is reported as "not in rev X"
//! (never as a divergence), and state it has that rev 1.23 lacks is shown
//! but not compared.

use crate::Config;
use shim::bindings as b;

/// A piece of state or behaviour a revision may or may not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Rev 1.23's PTP cache (`pmap_segtab_info.ptp_pgflist`, under
    /// `PMAP_PTP_CACHE`). The 2022 rework dropped it.
    PtpCache,
    /// The DEBUG counters `nget`/`nput`/`npage` (rev 1.23: `*_segtab`;
    /// 2022: `segalloc.*`).
    Counters,
    /// Several segtabs carved from one page (rev 1.23 lines 368–384; `#if 0`
    /// in 1.31: one segtab per page).
    Carving,
    /// Freeing a PTE page calls `PMAP_UNMAP_POOLPAGE` first (rev 1.23; the
    /// 2022 rework detaches the page from its pmap instead).
    UnmapPoolpage,
    /// Per-pmap page lists (`pm_segtab_list`, `pm_ppg_list`,
    /// `pm_uobject.uo_npages`): 2022 rework only, not in rev 1.23.
    PageLists,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 5] = [
        Capability::PtpCache,
        Capability::Counters,
        Capability::Carving,
        Capability::UnmapPoolpage,
        Capability::PageLists,
    ];

    /// Its bit in `segtab_shim_config.caps`.
    pub const fn bit(self) -> u32 {
        match self {
            Capability::PtpCache => b::segtab_shim_cap_SEGTAB_SHIM_CAP_PTP_CACHE,
            Capability::Counters => b::segtab_shim_cap_SEGTAB_SHIM_CAP_COUNTERS,
            Capability::Carving => b::segtab_shim_cap_SEGTAB_SHIM_CAP_CARVING,
            Capability::UnmapPoolpage => b::segtab_shim_cap_SEGTAB_SHIM_CAP_UNMAP_POOLPAGE,
            Capability::PageLists => b::segtab_shim_cap_SEGTAB_SHIM_CAP_PAGE_LISTS,
        }
    }

    /// What it is called in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Capability::PtpCache => "PTP cache",
            Capability::Counters => "DEBUG counters",
            Capability::Carving => "segtab carving",
            Capability::UnmapPoolpage => "PMAP_UNMAP_POOLPAGE of freed PTE pages",
            Capability::PageLists => "per-pmap page lists",
        }
    }

    /// Whether rev 1.23 (the port's model) has it in configuration `c`.
    pub const fn in_rev_1_23(self, c: &Config) -> bool {
        match self {
            Capability::PtpCache => c.ptp_cache,
            Capability::Counters => c.debug,
            Capability::Carving | Capability::UnmapPoolpage => true,
            Capability::PageLists => false,
        }
    }
}

/// The revision one configuration was compiled from, and what it has there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// The file's `$NetBSD$` id as its `__KERNEL_RCSID` gives it, if any.
    pub rcsid: Option<String>,
    caps: u32,
    config: &'static Config,
}

impl Revision {
    pub(crate) fn new(rcsid: Option<String>, caps: u32, config: &'static Config) -> Self {
        Self {
            rcsid,
            caps,
            config,
        }
    }

    /// The revision number from the id (`"1.31"`), or `"?"` without one.
    pub fn number(&self) -> &str {
        self.rcsid
            .as_deref()
            .and_then(|id| id.split(",v ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("?")
    }

    /// Whether this revision has `cap` in this configuration.
    pub fn has(&self, cap: Capability) -> bool {
        self.caps & cap.bit() != 0
    }

    /// Whether this is the 2022 rework's design (rev 1.31: `segalloc`,
    /// `pmap_ptpage_t`, per-pmap page lists), whose panics name other
    /// functions and fields (`pmap_ptpage_alloc`, `seg_ppg`) than rev 1.23's.
    pub fn rework_2022(&self) -> bool {
        self.has(Capability::PageLists)
    }

    /// Segtabs per page on this host: `NBPG / sizeof(pmap_segtab_t)` where
    /// the revision carves (rev 1.23 line 368), one where it does not.
    pub fn segtabs_per_page(&self) -> u64 {
        if self.has(Capability::Carving) {
            self.config.host_segtabs_per_page()
        } else {
            1
        }
    }

    /// What rev 1.23 has in this configuration and this revision lacks: to
    /// be reported as [`Revision::not_in`], never compared.
    pub fn lacks(&self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|&c| c.in_rev_1_23(self.config) && !self.has(c))
            .collect()
    }

    /// What this revision has that rev 1.23 lacks: shown, not compared.
    pub fn extra(&self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|&c| !c.in_rev_1_23(self.config) && self.has(c))
            .collect()
    }

    /// `"PTP cache: not in rev 1.31"`.
    pub fn not_in(&self, cap: Capability) -> String {
        format!("{}: not in rev {}", cap.name(), self.number())
    }
}
