//! The operation model: what a sequence can do to a world, derived from
//! bytes by `arbitrary` so every byte string is a valid sequence.
//!
//! Operations name VAs and ranges symbolically ([`VaSpec`], [`LenSpec`]) so
//! that random bytes land where bugs live: on segment and xsegment
//! boundaries, at both ends of the address space and in segments already in
//! use. [`Resolver`] turns them into addresses for one configuration; both
//! sides receive the same resolved operation.

use arbitrary::{Arbitrary, Unstructured};
use c_reference::{Config, CONFIGS};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Most operations a decoded sequence keeps.
pub const MAX_OPS: usize = 256;
/// Longest `pmap_pte_process` range, in segments: the loop is per segment,
/// and a sweep of a whole 64-bit space would take hours on either side.
pub const MAX_PROCESS_SEGS: u64 = 1 << 12;

/// What a callback does with the PTEs it is given.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CbKind {
    /// Only record the call.
    Record,
    /// Zero the PTEs of [sva, eva).
    Clear,
    /// OR bit `n % PTE bits` into the PTEs of [sva, eva).
    SetBit(u8),
    /// Count the non-zero PTEs of [sva, eva).
    Count,
}

/// A symbolic virtual address.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VaSpec {
    /// Page `page` of segment `seg` (both reduced to the space).
    Seg {
        /// Segment number.
        seg: u16,
        /// Page in the segment.
        page: u16,
    },
    /// The last page below (or the first page at) a segment boundary.
    SegEdge {
        /// Boundary number.
        seg: u16,
        /// Below the boundary rather than at it.
        below: bool,
    },
    /// The same around an xsegment boundary (LP64) or a 1 GiB boundary.
    XsegEdge {
        /// Boundary number.
        xseg: u8,
        /// Below the boundary rather than at it.
        below: bool,
    },
    /// `pages` pages below the top of the address space.
    Top {
        /// Distance in pages.
        pages: u16,
    },
    /// A VA used before in this sequence, moved by `pages`.
    Used {
        /// Which one (from the most recent).
        k: u8,
        /// Offset in pages.
        pages: i16,
    },
    /// Any address (masked to `vaddr_t`).
    Raw(u64),
    /// A VA reserved or entered before, moved by `pages`, in the pmap it
    /// was reserved in (the operation's own pmap is ignored): lookups,
    /// reserves and walks of segments in use.
    Mapped {
        /// Which one (from the most recent).
        k: u8,
        /// Offset in pages.
        pages: i16,
    },
}

/// The length of a `pmap_pte_process` range.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LenSpec {
    /// A number of pages.
    Pages(u16),
    /// A number of whole segments.
    Segs(u8),
    /// Up to the last page of the address space.
    ToTop,
    /// Any length in bytes, possibly unaligned.
    Bytes(u32),
}

/// `pm_minaddr` for a new pmap.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MinSpec {
    /// 0, as user pmaps have.
    Zero,
    /// Segment-aligned.
    Seg(u16),
    /// Xsegment-aligned (segment-aligned on 32-bit).
    Xseg(u8),
    /// Not aligned (the release loop quirk, C lines 270-272).
    Unaligned(u32),
    /// High in the space (a kernel-like pmap).
    High,
}

/// One operation.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `pm_minaddr = min; pmap_segtab_init(pm)`.
    Create {
        /// Pmap (mod 8; 0 is pmap_kernel()).
        pmap: u8,
        /// pm_minaddr.
        min: MinSpec,
    },
    /// `pmap_segtab_destroy(pm, cb or NULL, flags)`.
    Destroy {
        /// Pmap.
        pmap: u8,
        /// The callback, if any.
        cb: Option<CbKind>,
        /// flags.
        flags: u8,
    },
    /// `pmap_pte_reserve(pm, va, canfail ? PMAP_CANFAIL : 0)`.
    Reserve {
        /// Pmap.
        pmap: u8,
        /// VA.
        va: VaSpec,
        /// PMAP_CANFAIL.
        canfail: bool,
    },
    /// `pmap_pte_lookup(pm, va)`.
    Lookup {
        /// Pmap.
        pmap: u8,
        /// VA.
        va: VaSpec,
    },
    /// `*pmap_pte_reserve(pm, va, flags) = value`, as pmap_enter does.
    Enter {
        /// Pmap.
        pmap: u8,
        /// VA.
        va: VaSpec,
        /// PTE value (0 is avoided: a mapping is non-zero).
        value: u32,
        /// PMAP_CANFAIL.
        canfail: bool,
    },
    /// `pmap_pte_process(pm, sva, sva + len, cb, flags)`.
    Process {
        /// Pmap.
        pmap: u8,
        /// Start.
        sva: VaSpec,
        /// Length.
        len: LenSpec,
        /// Callback.
        cb: CbKind,
        /// flags.
        flags: u8,
    },
    /// `pmap_segtab_activate(pm, l)`.
    Activate {
        /// Pmap.
        pmap: u8,
        /// Lwp (mod 4).
        lwp: u8,
    },
    /// `pmap_segtab_deactivate(pm)`.
    Deactivate {
        /// Pmap.
        pmap: u8,
    },
    /// Make `lwp` curlwp.
    SwitchLwp {
        /// Lwp.
        lwp: u8,
    },
    /// Put `lwp` on `cpu` in the process of `pmap`.
    BindLwp {
        /// Lwp.
        lwp: u8,
        /// Pmap.
        pmap: u8,
        /// Cpu (mod 2).
        cpu: u8,
    },
    /// Allow only `headroom` more pages than are in use now.
    Limit {
        /// Extra pages.
        headroom: u8,
    },
    /// Lift the page limit.
    Unlimit,
    /// Fail the next `n % 8` allocations.
    FailNext {
        /// Count.
        n: u8,
    },
    /// Two calls at once: `a` on CPU 0 (as curlwp), `b` on CPU 1 (as lwp
    /// `lwp`), switching CPUs at calls out of the file as the bits of
    /// `schedule` say (bit 0 first; 1 = switch). Only interleaved in
    /// MULTIPROCESSOR configurations; elsewhere `a` runs, then `b`.
    Concurrent {
        /// CPU 0's call.
        a: CpuOp,
        /// CPU 1's call.
        b: CpuOp,
        /// CPU 1's lwp (mod 4).
        lwp: u8,
        /// The scheduler's decisions.
        schedule: u64,
    },
}

/// A call into the file one CPU of [`Op::Concurrent`] makes (the
/// operations of [`Op`] that enter `pmap_segtab.c`).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CpuOp {
    /// See [`Op::Create`].
    Create {
        /// Pmap.
        pmap: u8,
        /// pm_minaddr.
        min: MinSpec,
    },
    /// See [`Op::Destroy`].
    Destroy {
        /// Pmap.
        pmap: u8,
        /// The callback, if any.
        cb: Option<CbKind>,
        /// flags.
        flags: u8,
    },
    /// See [`Op::Reserve`].
    Reserve {
        /// Pmap.
        pmap: u8,
        /// VA.
        va: VaSpec,
        /// PMAP_CANFAIL.
        canfail: bool,
    },
    /// See [`Op::Lookup`].
    Lookup {
        /// Pmap.
        pmap: u8,
        /// VA.
        va: VaSpec,
    },
    /// See [`Op::Enter`].
    Enter {
        /// Pmap.
        pmap: u8,
        /// VA.
        va: VaSpec,
        /// PTE value.
        value: u32,
        /// PMAP_CANFAIL.
        canfail: bool,
    },
    /// See [`Op::Process`].
    Process {
        /// Pmap.
        pmap: u8,
        /// Start.
        sva: VaSpec,
        /// Length.
        len: LenSpec,
        /// Callback.
        cb: CbKind,
        /// flags.
        flags: u8,
    },
    /// See [`Op::Activate`].
    Activate {
        /// Pmap.
        pmap: u8,
        /// Lwp (mod 4).
        lwp: u8,
    },
    /// See [`Op::Deactivate`].
    Deactivate {
        /// Pmap.
        pmap: u8,
    },
}

impl CpuOp {
    /// The same call as a sequential operation.
    pub fn op(self) -> Op {
        match self {
            CpuOp::Create { pmap, min } => Op::Create { pmap, min },
            CpuOp::Destroy { pmap, cb, flags } => Op::Destroy { pmap, cb, flags },
            CpuOp::Reserve { pmap, va, canfail } => Op::Reserve { pmap, va, canfail },
            CpuOp::Lookup { pmap, va } => Op::Lookup { pmap, va },
            CpuOp::Enter {
                pmap,
                va,
                value,
                canfail,
            } => Op::Enter {
                pmap,
                va,
                value,
                canfail,
            },
            CpuOp::Process {
                pmap,
                sva,
                len,
                cb,
                flags,
            } => Op::Process {
                pmap,
                sva,
                len,
                cb,
                flags,
            },
            CpuOp::Activate { pmap, lwp } => Op::Activate { pmap, lwp },
            CpuOp::Deactivate { pmap } => Op::Deactivate { pmap },
        }
    }
}

/// A sequence: a configuration and operations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sequence {
    /// Configuration name (one of `CONFIGS`).
    pub config: String,
    /// Operations, in order.
    pub ops: Vec<Op>,
}

impl Sequence {
    /// Decode fuzzer bytes: the first byte picks the configuration unless
    /// `pinned` names one, the rest are operations.
    pub fn from_bytes(data: &[u8], pinned: Option<&'static Config>) -> Sequence {
        let mut u = Unstructured::new(data);
        let config = match pinned {
            Some(c) => c,
            None => &CONFIGS[u.arbitrary::<u8>().unwrap_or(0) as usize % CONFIGS.len()],
        };
        let mut ops = Vec::new();
        while ops.len() < MAX_OPS && !u.is_empty() {
            match Op::arbitrary(&mut u) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        Sequence {
            config: config.name.to_string(),
            ops,
        }
    }
}

/// Two calls run at once on two CPUs ([`Op::Concurrent`], resolved).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Concurrent {
    /// CPU 0's and CPU 1's call (each a call into the file).
    pub actions: [Action; 2],
    /// CPU 1's lwp.
    pub lwp: u32,
    /// The scheduler's decisions (0 in configurations without
    /// MULTIPROCESSOR: CPU 0's call, then CPU 1's).
    pub schedule: u64,
}

/// An operation with concrete addresses, as both sides run it. Fields are
/// the C functions' arguments (pmaps, lwps and cpus by harness index).
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// See [`Op::Create`].
    Create { pmap: u32, minaddr: u64 },
    /// See [`Op::Destroy`].
    Destroy {
        pmap: u32,
        cb: Option<CbKind>,
        flags: u64,
    },
    /// See [`Op::Reserve`].
    Reserve { pmap: u32, va: u64, flags: i32 },
    /// See [`Op::Lookup`].
    Lookup { pmap: u32, va: u64 },
    /// See [`Op::Enter`].
    Enter {
        pmap: u32,
        va: u64,
        value: u64,
        flags: i32,
    },
    /// See [`Op::Process`].
    Process {
        pmap: u32,
        sva: u64,
        eva: u64,
        cb: CbKind,
        flags: u64,
    },
    /// See [`Op::Activate`].
    Activate { pmap: u32, lwp: u32 },
    /// See [`Op::Deactivate`].
    Deactivate { pmap: u32 },
    /// See [`Op::SwitchLwp`].
    SwitchLwp { lwp: u32 },
    /// See [`Op::BindLwp`].
    BindLwp { lwp: u32, pmap: u32, cpu: u32 },
    /// See [`Op::Limit`].
    Limit { headroom: u32 },
    /// See [`Op::Unlimit`].
    Unlimit,
    /// See [`Op::FailNext`].
    FailNext { n: u32 },
    /// See [`Op::Concurrent`].
    Concurrent(Box<Concurrent>),
}

impl Action {
    /// The operation's name, for divergence classes.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Destroy { .. } => "destroy",
            Action::Reserve { .. } => "reserve",
            Action::Lookup { .. } => "lookup",
            Action::Enter { .. } => "enter",
            Action::Process { .. } => "process",
            Action::Activate { .. } => "activate",
            Action::Deactivate { .. } => "deactivate",
            Action::SwitchLwp { .. } => "switch-lwp",
            Action::BindLwp { .. } => "bind-lwp",
            Action::Limit { .. } => "limit",
            Action::Unlimit => "unlimit",
            Action::FailNext { .. } => "fail-next",
            Action::Concurrent(_) => "concurrent",
        }
    }

    /// The pmap a call into the file works on, if any.
    pub fn pmap(&self) -> Option<u32> {
        match *self {
            Action::Create { pmap, .. }
            | Action::Destroy { pmap, .. }
            | Action::Reserve { pmap, .. }
            | Action::Lookup { pmap, .. }
            | Action::Enter { pmap, .. }
            | Action::Process { pmap, .. }
            | Action::Activate { pmap, .. }
            | Action::Deactivate { pmap } => Some(pmap),
            _ => None,
        }
    }

    fn pmap_mut(&mut self) -> Option<&mut u32> {
        match self {
            Action::Create { pmap, .. }
            | Action::Destroy { pmap, .. }
            | Action::Reserve { pmap, .. }
            | Action::Lookup { pmap, .. }
            | Action::Enter { pmap, .. }
            | Action::Process { pmap, .. }
            | Action::Activate { pmap, .. }
            | Action::Deactivate { pmap } => Some(pmap),
            _ => None,
        }
    }

    /// Whether the call needs the pmap to itself (`&mut Pmap` in the port:
    /// no other CPU may use the pmap meanwhile).
    pub fn exclusive(&self) -> bool {
        matches!(self, Action::Create { .. } | Action::Destroy { .. })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let canfail = |fl: &i32| if *fl != 0 { ", PMAP_CANFAIL" } else { "" };
        match self {
            Action::Create { pmap, minaddr } => {
                write!(
                    f,
                    "pmap_segtab_init(pmap {pmap}) with pm_minaddr {minaddr:#x}"
                )
            }
            Action::Destroy {
                pmap,
                cb: None,
                flags,
            } => {
                write!(f, "pmap_segtab_destroy(pmap {pmap}, NULL, {flags:#x})")
            }
            Action::Destroy {
                pmap,
                cb: Some(cb),
                flags,
            } => {
                write!(f, "pmap_segtab_destroy(pmap {pmap}, {cb:?}, {flags:#x})")
            }
            Action::Reserve { pmap, va, flags } => {
                write!(
                    f,
                    "pmap_pte_reserve(pmap {pmap}, {va:#x}{})",
                    canfail(flags)
                )
            }
            Action::Lookup { pmap, va } => write!(f, "pmap_pte_lookup(pmap {pmap}, {va:#x})"),
            Action::Enter {
                pmap,
                va,
                value,
                flags,
            } => write!(
                f,
                "*pmap_pte_reserve(pmap {pmap}, {va:#x}{}) = {value:#x}",
                canfail(flags)
            ),
            Action::Process {
                pmap,
                sva,
                eva,
                cb,
                flags,
            } => write!(
                f,
                "pmap_pte_process(pmap {pmap}, {sva:#x}, {eva:#x}, {cb:?}, {flags:#x})"
            ),
            Action::Activate { pmap, lwp } => {
                write!(f, "pmap_segtab_activate(pmap {pmap}, lwp {lwp})")
            }
            Action::Deactivate { pmap } => write!(f, "pmap_segtab_deactivate(pmap {pmap})"),
            Action::SwitchLwp { lwp } => write!(f, "curlwp = lwp {lwp}"),
            Action::BindLwp { lwp, pmap, cpu } => {
                write!(f, "lwp {lwp} on cpu {cpu} in the process of pmap {pmap}")
            }
            Action::Limit { headroom } => write!(f, "page limit: in use + {headroom}"),
            Action::Unlimit => write!(f, "no page limit"),
            Action::FailNext { n } => write!(f, "fail the next {n} allocations"),
            Action::Concurrent(c) => write!(
                f,
                "at once: cpu0 {} | cpu1 (lwp {}) {} | schedule {:#x}",
                c.actions[0], c.lwp, c.actions[1], c.schedule
            ),
        }
    }
}

/// Turns symbolic operations into [`Action`]s for one configuration,
/// remembering the VAs used so far.
#[derive(Clone, Debug)]
pub struct Resolver {
    config: &'static Config,
    used: Vec<u64>,
    mapped: Vec<(u32, u64)>,
    /// curlwp (CPU 0's lwp): CPU 1 of a concurrent step runs another.
    curlwp: u32,
}

impl Resolver {
    /// For `config`.
    pub fn new(config: &'static Config) -> Self {
        Resolver {
            config,
            used: Vec::new(),
            mapped: Vec::new(),
            curlwp: 0,
        }
    }

    fn mask(&self) -> u64 {
        self.config.va_mask()
    }
    fn nbpg(&self) -> u64 {
        1 << self.config.pgshift
    }
    fn nbseg(&self) -> u64 {
        1 << self.config.segshift
    }
    fn xshift(&self) -> u32 {
        if self.config.lp64 {
            self.config.xsegshift
        } else {
            30
        }
    }
    /// Segments the tree can tell apart: beyond them indices alias.
    fn segs_in_space(&self) -> u64 {
        let bits = if self.config.lp64 {
            self.config.xsegshift + self.config.segtabsize.trailing_zeros()
        } else {
            32
        };
        1u64 << (bits.min(63) - self.config.segshift).min(40)
    }

    /// Resolve a VA.
    pub fn va(&mut self, v: VaSpec) -> u64 {
        let m = self.mask();
        let va = match v {
            VaSpec::Seg { seg, page } => {
                let seg = seg as u64 % self.segs_in_space();
                let page = page as u64 % (self.nbseg() / self.nbpg());
                seg * self.nbseg() + page * self.nbpg()
            }
            VaSpec::SegEdge { seg, below } => {
                let b = (seg as u64 % self.segs_in_space()) * self.nbseg();
                if below {
                    b.wrapping_sub(self.nbpg())
                } else {
                    b
                }
            }
            VaSpec::XsegEdge { xseg, below } => {
                let b = (xseg as u64 % 16).wrapping_mul(1u64 << self.xshift());
                if below {
                    b.wrapping_sub(self.nbpg())
                } else {
                    b
                }
            }
            VaSpec::Top { pages } => m.wrapping_sub((pages as u64 + 1) * self.nbpg() - 1),
            VaSpec::Used { k, pages } => {
                if self.used.is_empty() {
                    0
                } else {
                    let i = self.used.len() - 1 - (k as usize % self.used.len());
                    self.used[i].wrapping_add((pages as i64 as u64).wrapping_mul(self.nbpg()))
                }
            }
            VaSpec::Raw(r) => r,
            // Resolved with its pmap by `target`; alone it is the first page.
            VaSpec::Mapped { .. } => 0,
        } & m;
        self.used.push(va);
        if self.used.len() > 64 {
            self.used.remove(0);
        }
        va
    }

    /// Resolve `sva + len` (wrapping in `vaddr_t`; the length is bounded so
    /// the per-segment loop stays short).
    pub fn eva(&self, sva: u64, len: LenSpec) -> u64 {
        let m = self.mask();
        let max = MAX_PROCESS_SEGS * self.nbseg();
        let len = match len {
            LenSpec::Pages(p) => p as u64 * self.nbpg(),
            LenSpec::Segs(s) => s as u64 * self.nbseg(),
            LenSpec::ToTop => return m & !(self.nbpg() - 1),
            LenSpec::Bytes(b) => b as u64,
        };
        sva.wrapping_add(len.min(max)) & m
    }

    /// Resolve a `pm_minaddr`.
    pub fn minaddr(&self, s: MinSpec) -> u64 {
        let m = self.mask();
        (match s {
            MinSpec::Zero => 0,
            MinSpec::Seg(k) => (k as u64 % self.segs_in_space()) * self.nbseg(),
            MinSpec::Xseg(k) => (k as u64 % 16).wrapping_mul(1u64 << self.xshift()),
            MinSpec::Unaligned(x) => x as u64 | 1,
            MinSpec::High => m & !(self.mask() >> 2),
        }) & m
    }

    /// Resolve a pmap and a VA together ([`VaSpec::Mapped`] picks both).
    fn target(&mut self, pmap: u8, va: VaSpec) -> (u32, u64) {
        if let VaSpec::Mapped { k, pages } = va {
            if !self.mapped.is_empty() {
                let (p, base) =
                    self.mapped[self.mapped.len() - 1 - (k as usize % self.mapped.len())];
                let v = base.wrapping_add((pages as i64 as u64).wrapping_mul(self.nbpg()))
                    & self.mask();
                self.used.push(v);
                return (p, v);
            }
        }
        (pmap as u32 % c_reference::NPMAPS, self.va(va))
    }

    fn remember(&mut self, pmap: u32, va: u64) {
        self.mapped.push((pmap, va));
        if self.mapped.len() > 64 {
            self.mapped.remove(0);
        }
    }

    /// Resolve one operation.
    pub fn action(&mut self, op: &Op) -> Action {
        let pm = |p: u8| p as u32 % c_reference::NPMAPS;
        let canfail = |c: bool| if c { shim::PMAP_CANFAIL } else { 0 };
        match *op {
            Op::Create { pmap, min } => Action::Create {
                pmap: pm(pmap),
                minaddr: self.minaddr(min),
            },
            Op::Destroy { pmap, cb, flags } => Action::Destroy {
                pmap: pm(pmap),
                cb,
                flags: flags as u64,
            },
            Op::Reserve {
                pmap,
                va,
                canfail: c,
            } => {
                let (pmap, va) = self.target(pmap, va);
                self.remember(pmap, va);
                Action::Reserve {
                    pmap,
                    va,
                    flags: canfail(c),
                }
            }
            Op::Lookup { pmap, va } => {
                let (pmap, va) = self.target(pmap, va);
                Action::Lookup { pmap, va }
            }
            Op::Enter {
                pmap,
                va,
                value,
                canfail: c,
            } => {
                let width = self.config.pte_bits;
                let value = (value as u64 | 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - width);
                // The top bit keeps a PTE value from looking like a pool
                // address (pool offsets in their 4 GiB window have bit 31
                // clear; see shim::inspect::pte_value).
                let value = value | 1 | (1 << (width - 1));
                let (pmap, va) = self.target(pmap, va);
                self.remember(pmap, va);
                Action::Enter {
                    pmap,
                    va,
                    value,
                    flags: canfail(c),
                }
            }
            Op::Process {
                pmap,
                sva,
                len,
                cb,
                flags,
            } => {
                let (pmap, mut sva) = self.target(pmap, sva);
                let eva = self.eva(sva, len);
                // Keep the per-segment loop short: start at most
                // MAX_PROCESS_SEGS segments below the end.
                let span = MAX_PROCESS_SEGS * self.nbseg();
                if eva > sva && eva - sva > span {
                    sva = eva - span;
                }
                Action::Process {
                    pmap,
                    sva,
                    eva,
                    cb,
                    flags: flags as u64,
                }
            }
            Op::Activate { pmap, lwp } => Action::Activate {
                pmap: pm(pmap),
                lwp: lwp as u32 % 4,
            },
            Op::Deactivate { pmap } => Action::Deactivate { pmap: pm(pmap) },
            Op::SwitchLwp { lwp } => {
                self.curlwp = lwp as u32 % 4;
                Action::SwitchLwp { lwp: self.curlwp }
            }
            Op::BindLwp { lwp, pmap, cpu } => Action::BindLwp {
                lwp: lwp as u32 % 4,
                pmap: pm(pmap),
                cpu: cpu as u32 % 2,
            },
            Op::Limit { headroom } => Action::Limit {
                headroom: headroom as u32 % 16,
            },
            Op::Unlimit => Action::Unlimit,
            Op::FailNext { n } => Action::FailNext { n: n as u32 % 8 },
            Op::Concurrent {
                a,
                b,
                lwp,
                schedule,
            } => {
                let a = self.action(&a.op());
                let mut b = self.action(&b.op());
                // A create or destroy needs its pmap to itself (the port
                // takes &mut Pmap): move the other CPU to another pmap.
                if let (Some(pa), Some(pb)) = (a.pmap(), b.pmap()) {
                    if pa == pb && (a.exclusive() || b.exclusive()) {
                        *b.pmap_mut().expect("b has a pmap") = (pb + 1) % c_reference::NPMAPS;
                    }
                }
                // One lwp cannot run on two CPUs.
                let mut lwp = lwp as u32 % 4;
                if lwp == self.curlwp {
                    lwp = (lwp + 1) % 4;
                }
                Action::Concurrent(Box::new(Concurrent {
                    actions: [a, b],
                    lwp,
                    schedule: if self.config.multiprocessor {
                        schedule
                    } else {
                        0
                    },
                }))
            }
        }
    }
}
