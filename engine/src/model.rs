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
    /// The same page `segs` segments away from a VA used before: the
    /// neighbouring PTE pages of one segtab (a race's loser returning its
    /// page while another CPU needs one next door).
    NearSeg {
        /// Which one (from the most recent).
        k: u8,
        /// Offset in segments.
        segs: i8,
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

/// One call into `pmap_segtab.c`: what a sequential step makes, and what
/// each CPU of a concurrent step makes (one to [`MAX_CPU_CALLS`] of them).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Call {
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
}

impl Call {
    /// The pmap the call names (before resolution).
    pub fn pmap(&self) -> u8 {
        match *self {
            Call::Create { pmap, .. }
            | Call::Destroy { pmap, .. }
            | Call::Reserve { pmap, .. }
            | Call::Lookup { pmap, .. }
            | Call::Enter { pmap, .. }
            | Call::Process { pmap, .. }
            | Call::Activate { pmap, .. }
            | Call::Deactivate { pmap } => pmap,
        }
    }

    /// The VA the call names, if any.
    pub fn va(&self) -> Option<VaSpec> {
        match *self {
            Call::Reserve { va, .. } | Call::Lookup { va, .. } | Call::Enter { va, .. } => Some(va),
            Call::Process { sva, .. } => Some(sva),
            _ => None,
        }
    }
}

/// Most CPUs a concurrent step runs (the shim's `SEGTAB_SHIM_NCPUS`).
pub const MAX_STEP_CPUS: usize = c_reference::NCPUS as usize;
/// Most calls one CPU of a concurrent step makes.
pub const MAX_CPU_CALLS: usize = 4;

/// A concurrent step: CPU `i` makes the calls `cpus[i]`, one after the
/// other, while the other CPUs make theirs, switching CPUs at calls out of
/// the file as the bits of `schedule` say (bit 0 first; 1 = switch). CPU 0
/// runs as curlwp, CPU 1 as lwp `lwp`, CPUs 2 and 3 as the lowest lwps
/// neither runs (`c_reference::step_lwps`). Only interleaved in
/// MULTIPROCESSOR configurations; elsewhere CPU 0's calls run, then CPU
/// 1's, and so on.
///
/// JSON: `{"cpus": [[call, ...], ...], "lwp", "schedule"}`; the form of
/// two CPUs making one call each, `{"a", "b", "lwp", "schedule"}`, is
/// read and written as before.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// Each CPU's calls (2 to [`MAX_STEP_CPUS`] CPUs, 1 to
    /// [`MAX_CPU_CALLS`] calls each).
    pub cpus: Vec<Vec<Call>>,
    /// CPU 1's lwp (mod 4).
    pub lwp: u8,
    /// The scheduler's decisions.
    pub schedule: u64,
}

impl Step {
    /// Two CPUs making one call each (the steps before sequences).
    pub fn pair(a: Call, b: Call, lwp: u8, schedule: u64) -> Step {
        Step {
            cpus: vec![vec![a], vec![b]],
            lwp,
            schedule,
        }
    }

    /// Every call of the step, CPU 0's first.
    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.cpus.iter().flatten()
    }

    /// Decoded from fuzzer bytes: later calls (and CPU 1's first, half
    /// the time) are often related to the step's earlier ones (the same
    /// pmap, a VA near one used), so that a CPU's further calls land in
    /// the windows of the others' (a race's loser returning its page, a
    /// pop racing two pops and a push).
    fn decode(u: &mut Unstructured<'_>) -> arbitrary::Result<Step> {
        let mut cpus: Vec<Vec<Call>> = Vec::with_capacity(MAX_STEP_CPUS);
        fn one_cpu(u: &mut Unstructured<'_>, cpus: &mut Vec<Vec<Call>>) -> arbitrary::Result<()> {
            let n = match u.int_in_range(0u8..=7)? {
                0..=2 => 1,
                3 | 4 => 2,
                5 | 6 => 3,
                _ => 4,
            };
            let mut calls: Vec<Call> = Vec::with_capacity(n);
            for k in 0..n {
                let earlier: Vec<Call> = cpus.iter().flatten().chain(&calls).copied().collect();
                let relate = !earlier.is_empty()
                    && if k == 0 {
                        u.ratio(1u8, 2)?
                    } else {
                        u.ratio(3u8, 4)?
                    };
                let call = if relate {
                    related(u, &earlier, &calls)?
                } else {
                    Call::arbitrary(u)?
                };
                calls.push(call);
            }
            cpus.push(calls);
            Ok(())
        }
        // Two CPUs first, decoded as before there were more.
        for _ in 0..2 {
            one_cpu(u, &mut cpus)?;
        }
        let lwp = u.arbitrary()?;
        // Half the schedules are any bits; the other half switch at one to
        // three decisions only (preemptions, in explore's terms), at any of
        // the first 32: most interleaving bugs need few preemptions, and a
        // CPU that is to run three calls inside another's window needs
        // every other decision to keep it running.
        let schedule = if u.arbitrary()? {
            u.arbitrary()?
        } else {
            let mut s = 0u64;
            for _ in 0..u.int_in_range(1u8..=3)? {
                s |= 1 << u.int_in_range(0u8..=31)?;
            }
            s
        };
        // Then, last (so that the bytes of a two-CPU step mean what they
        // did), a third CPU in 1 step of 8 and a fourth in 1 of 16; input
        // that has run out decodes as two CPUs.
        let extra = match u.int_in_range(0u8..=15)? {
            0..=13 => 0,
            14 => 1,
            _ => 2,
        };
        for _ in 0..extra.min(MAX_STEP_CPUS - 2) {
            one_cpu(u, &mut cpus)?;
        }
        Ok(Step {
            cpus,
            lwp,
            schedule,
        })
    }
}

/// A call related to an `earlier` call of the same step: the same pmap,
/// at or near its VA, or a create or destroy next to it (`own`: the
/// calling CPU's calls so far, whose creates it may destroy).
fn related(u: &mut Unstructured<'_>, earlier: &[Call], own: &[Call]) -> arbitrary::Result<Call> {
    let base = *u.choose(earlier)?;
    let pmap = base.pmap();
    let small = |u: &mut Unstructured<'_>| -> arbitrary::Result<i16> { u.int_in_range(-3i16..=3) };
    let near = |u: &mut Unstructured<'_>| -> arbitrary::Result<VaSpec> {
        Ok(match u.int_in_range(0u8..=4)? {
            0 => base.va().unwrap_or(VaSpec::Used { k: 0, pages: 0 }),
            1 => VaSpec::Used {
                k: u.int_in_range(0u8..=3)?,
                pages: small(u)?,
            },
            2 => VaSpec::NearSeg {
                k: u.int_in_range(0u8..=3)?,
                segs: u.int_in_range(-2i8..=2)?,
            },
            3 => VaSpec::Mapped {
                k: u.int_in_range(0u8..=3)?,
                pages: small(u)?,
            },
            _ => VaSpec::XsegEdge {
                xseg: u.int_in_range(0u8..=4)?,
                below: u.arbitrary()?,
            },
        })
    };
    Ok(match u.int_in_range(0u8..=9)? {
        0..=2 => Call::Reserve {
            pmap,
            va: near(u)?,
            canfail: u.arbitrary()?,
        },
        3 | 4 => Call::Enter {
            pmap,
            va: near(u)?,
            value: u.arbitrary()?,
            canfail: u.arbitrary()?,
        },
        5 => Call::Lookup { pmap, va: near(u)? },
        6 => Call::Process {
            pmap,
            sva: near(u)?,
            len: if u.arbitrary()? {
                LenSpec::Segs(u.int_in_range(1u8..=3)?)
            } else {
                LenSpec::Pages(u.int_in_range(1u16..=8)?)
            },
            cb: u.arbitrary()?,
            flags: u.arbitrary()?,
        },
        // A pmap of its own: pops a segtab off the free list.
        7 => Call::Create {
            pmap: pmap.wrapping_add(u.int_in_range(1u8..=3)?),
            min: if u.ratio(3u8, 4)? {
                MinSpec::Zero
            } else {
                u.arbitrary()?
            },
        },
        // Pushes segtabs onto the free list: a pmap this CPU created in
        // the step if there is one.
        _ => {
            let created: Vec<u8> = own
                .iter()
                .filter_map(|c| match c {
                    Call::Create { pmap, .. } => Some(*pmap),
                    _ => None,
                })
                .collect();
            Call::Destroy {
                pmap: if created.is_empty() {
                    pmap.wrapping_add(1)
                } else {
                    *u.choose(&created)?
                },
                cb: if u.ratio(3u8, 4)? {
                    None
                } else {
                    u.arbitrary()?
                },
                flags: 0,
            }
        }
    })
}

/// One operation: a call into the file on CPU 0, a change to the world
/// the harness makes, or a concurrent step.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "OpRepr", into = "OpRepr")]
pub enum Op {
    /// A call into the file (JSON: the call itself, `{"Create": ...}`).
    Call(Call),
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
    /// Calls at once on several CPUs (see [`Step`]).
    Concurrent(Step),
}

impl From<Call> for Op {
    fn from(c: Call) -> Op {
        Op::Call(c)
    }
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Op> {
        // As the derived decoding weighed them: each of the 8 calls, each
        // of the 5 world changes and the concurrent step once in 14.
        Ok(match u.int_in_range(0u8..=13)? {
            0..=7 => Op::Call(Call::arbitrary(u)?),
            8 => Op::SwitchLwp {
                lwp: u.arbitrary()?,
            },
            9 => Op::BindLwp {
                lwp: u.arbitrary()?,
                pmap: u.arbitrary()?,
                cpu: u.arbitrary()?,
            },
            10 => Op::Limit {
                headroom: u.arbitrary()?,
            },
            11 => Op::Unlimit,
            12 => Op::FailNext { n: u.arbitrary()? },
            _ => Op::Concurrent(Step::decode(u)?),
        })
    }
}

/// [`Op`] as JSON: a call untagged (`{"Create": ...}`, as before calls had
/// a type of their own), anything else by its variant.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum OpRepr {
    Call(Call),
    Other(OtherRepr),
}

#[derive(Serialize, Deserialize)]
enum OtherRepr {
    SwitchLwp { lwp: u8 },
    BindLwp { lwp: u8, pmap: u8, cpu: u8 },
    Limit { headroom: u8 },
    Unlimit,
    FailNext { n: u8 },
    Concurrent(StepRepr),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StepRepr {
    Pair {
        a: Call,
        b: Call,
        lwp: u8,
        schedule: u64,
    },
    Cpus {
        cpus: Vec<Vec<Call>>,
        lwp: u8,
        schedule: u64,
    },
}

impl From<OpRepr> for Op {
    fn from(r: OpRepr) -> Op {
        match r {
            OpRepr::Call(c) => Op::Call(c),
            OpRepr::Other(o) => match o {
                OtherRepr::SwitchLwp { lwp } => Op::SwitchLwp { lwp },
                OtherRepr::BindLwp { lwp, pmap, cpu } => Op::BindLwp { lwp, pmap, cpu },
                OtherRepr::Limit { headroom } => Op::Limit { headroom },
                OtherRepr::Unlimit => Op::Unlimit,
                OtherRepr::FailNext { n } => Op::FailNext { n },
                OtherRepr::Concurrent(StepRepr::Pair {
                    a,
                    b,
                    lwp,
                    schedule,
                }) => Op::Concurrent(Step::pair(a, b, lwp, schedule)),
                OtherRepr::Concurrent(StepRepr::Cpus {
                    cpus,
                    lwp,
                    schedule,
                }) => Op::Concurrent(Step {
                    cpus,
                    lwp,
                    schedule,
                }),
            },
        }
    }
}

impl From<Op> for OpRepr {
    fn from(op: Op) -> OpRepr {
        OpRepr::Other(match op {
            Op::Call(c) => return OpRepr::Call(c),
            Op::SwitchLwp { lwp } => OtherRepr::SwitchLwp { lwp },
            Op::BindLwp { lwp, pmap, cpu } => OtherRepr::BindLwp { lwp, pmap, cpu },
            Op::Limit { headroom } => OtherRepr::Limit { headroom },
            Op::Unlimit => OtherRepr::Unlimit,
            Op::FailNext { n } => OtherRepr::FailNext { n },
            Op::Concurrent(s) => OtherRepr::Concurrent(
                if s.cpus.len() == 2 && s.cpus.iter().all(|c| c.len() == 1) {
                    StepRepr::Pair {
                        a: s.cpus[0][0],
                        b: s.cpus[1][0],
                        lwp: s.lwp,
                        schedule: s.schedule,
                    }
                } else {
                    StepRepr::Cpus {
                        cpus: s.cpus,
                        lwp: s.lwp,
                        schedule: s.schedule,
                    }
                },
            ),
        })
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

/// Calls run at once on several CPUs ([`Op::Concurrent`], resolved).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Concurrent {
    /// Each CPU's calls (each a call into the file), CPU 0's first.
    pub cpus: Vec<Vec<Action>>,
    /// CPU 1's lwp.
    pub lwp: u32,
    /// The scheduler's decisions (0 in configurations without
    /// MULTIPROCESSOR: CPU 0's calls, then CPU 1's).
    pub schedule: u64,
}

impl Concurrent {
    /// Two CPUs making one call each.
    pub fn pair(a: Action, b: Action, lwp: u32, schedule: u64) -> Concurrent {
        Concurrent {
            cpus: vec![vec![a], vec![b]],
            lwp,
            schedule,
        }
    }

    /// Every call, CPU 0's first.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.cpus.iter().flatten()
    }

    /// Each CPU making exactly one call (the form a report names by CPU
    /// only).
    pub fn one_call_each(&self) -> bool {
        self.cpus.iter().all(|c| c.len() == 1)
    }
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
            Action::Concurrent(c) => {
                write!(f, "at once: ")?;
                for (i, calls) in c.cpus.iter().enumerate() {
                    if i == 1 {
                        write!(f, " | cpu1 (lwp {}) ", c.lwp)?;
                    } else if i > 1 {
                        write!(f, " | cpu{i} ")?;
                    } else {
                        write!(f, "cpu0 ")?;
                    }
                    for (k, a) in calls.iter().enumerate() {
                        if k > 0 {
                            write!(f, "; ")?;
                        }
                        write!(f, "{a}")?;
                    }
                }
                write!(f, " | schedule {:#x}", c.schedule)
            }
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
            VaSpec::NearSeg { k, segs } => {
                if self.used.is_empty() {
                    0
                } else {
                    let i = self.used.len() - 1 - (k as usize % self.used.len());
                    self.used[i].wrapping_add((segs as i64 as u64).wrapping_mul(self.nbseg()))
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
        let op = match *op {
            Op::Call(ref c) => c,
            Op::SwitchLwp { lwp } => {
                self.curlwp = lwp as u32 % 4;
                return Action::SwitchLwp { lwp: self.curlwp };
            }
            Op::BindLwp { lwp, pmap, cpu } => {
                return Action::BindLwp {
                    lwp: lwp as u32 % 4,
                    pmap: pm(pmap),
                    cpu: cpu as u32 % 2,
                }
            }
            Op::Limit { headroom } => {
                return Action::Limit {
                    headroom: headroom as u32 % 16,
                }
            }
            Op::Unlimit => return Action::Unlimit,
            Op::FailNext { n } => return Action::FailNext { n: n as u32 % 8 },
            Op::Concurrent(ref step) => return self.concurrent(step),
        };
        self.call(op)
    }

    /// Resolve one call into the file.
    pub fn call(&mut self, op: &Call) -> Action {
        let pm = |p: u8| p as u32 % c_reference::NPMAPS;
        let canfail = |c: bool| if c { shim::PMAP_CANFAIL } else { 0 };
        match *op {
            Call::Create { pmap, min } => Action::Create {
                pmap: pm(pmap),
                minaddr: self.minaddr(min),
            },
            Call::Destroy { pmap, cb, flags } => Action::Destroy {
                pmap: pm(pmap),
                cb,
                flags: flags as u64,
            },
            Call::Reserve {
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
            Call::Lookup { pmap, va } => {
                let (pmap, va) = self.target(pmap, va);
                Action::Lookup { pmap, va }
            }
            Call::Enter {
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
            Call::Process {
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
            Call::Activate { pmap, lwp } => Action::Activate {
                pmap: pm(pmap),
                lwp: lwp as u32 % 4,
            },
            Call::Deactivate { pmap } => Action::Deactivate { pmap: pm(pmap) },
        }
    }

    /// Resolve a concurrent step: each CPU's calls in order, CPU 0's
    /// first; then a create or destroy gets its pmap to itself (the port
    /// takes `&mut Pmap`): a call of a later CPU that would share a pmap
    /// with another CPU's create or destroy moves to the next pmap free of
    /// that conflict.
    fn concurrent(&mut self, step: &Step) -> Action {
        let mut cpus: Vec<Vec<Action>> = Vec::with_capacity(step.cpus.len());
        // A hand-written step of more CPUs than the shim has keeps the first.
        for calls in step.cpus.iter().take(MAX_STEP_CPUS) {
            let mut out = Vec::with_capacity(calls.len());
            for c in calls {
                let mut a = self.call(c);
                let clash = |p: u32, excl: bool, cpus: &[Vec<Action>]| {
                    cpus.iter()
                        .flatten()
                        .any(|o| o.pmap() == Some(p) && (excl || o.exclusive()))
                };
                let excl = a.exclusive();
                if let Some(p) = a.pmap_mut() {
                    for _ in 0..c_reference::NPMAPS {
                        if !clash(*p, excl, &cpus) {
                            break;
                        }
                        *p = (*p + 1) % c_reference::NPMAPS;
                    }
                    // With three or four CPUs every pmap may be taken
                    // (CPUs 0 and 1 use at most 8 calls' pmaps between
                    // them, so this never happens to them): the call is
                    // dropped, and a CPU left without calls too.
                    if clash(*p, excl, &cpus) {
                        continue;
                    }
                }
                out.push(a);
            }
            if !out.is_empty() {
                cpus.push(out);
            }
        }
        // One lwp cannot run on two CPUs.
        let mut lwp = step.lwp as u32 % 4;
        if lwp == self.curlwp {
            lwp = (lwp + 1) % 4;
        }
        Action::Concurrent(Box::new(Concurrent {
            cpus,
            lwp,
            schedule: if self.config.multiprocessor {
                step.schedule
            } else {
                0
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step of one call per CPU reads and writes the form it had before
    /// sequences; a longer one the `cpus` form; both round-trip.
    #[test]
    fn steps_keep_their_json_forms() {
        let old = r#"{"Concurrent":{"a":{"Lookup":{"pmap":1,"va":{"Raw":4096}}},"b":{"Deactivate":{"pmap":2}},"lwp":1,"schedule":5}}"#;
        let op: Op = serde_json::from_str(old).unwrap();
        let a = Call::Lookup {
            pmap: 1,
            va: VaSpec::Raw(4096),
        };
        let b = Call::Deactivate { pmap: 2 };
        assert_eq!(op, Op::Concurrent(Step::pair(a, b, 1, 5)));
        assert_eq!(serde_json::to_string(&op).unwrap(), old);
        let long = Op::Concurrent(Step {
            cpus: vec![vec![a, b], vec![b]],
            lwp: 2,
            schedule: 0,
        });
        let text = serde_json::to_string(&long).unwrap();
        assert!(text.contains("\"cpus\""), "{text}");
        assert_eq!(serde_json::from_str::<Op>(&text).unwrap(), long);
        // A call is its own variant, as before calls had a type.
        let call: Op = serde_json::from_str(r#"{"Deactivate":{"pmap":2}}"#).unwrap();
        assert_eq!(call, Op::Call(b));
        assert_eq!(serde_json::to_string(&Op::Unlimit).unwrap(), "\"Unlimit\"");
    }

    /// Decoded steps often give a CPU several calls, often on the pmap of
    /// an earlier call of the step; resolved, no pmap a create or destroy
    /// works on is shared with another CPU.
    #[test]
    fn decoded_steps_have_related_calls_and_exclusive_pmaps() {
        let mut rng = crate::rng::SplitMix64(7);
        let (mut steps, mut multi, mut same_pmap, mut wide) = (0, 0, 0, 0);
        for _ in 0..2000 {
            let bytes = rng.bytes(300);
            let seq = Sequence::from_bytes(&bytes, None);
            let config = c_reference::configs::find(&seq.config).unwrap();
            let mut r = Resolver::new(config);
            for op in &seq.ops {
                let a = r.action(op);
                let (Op::Concurrent(step), Action::Concurrent(cc)) = (op, &a) else {
                    continue;
                };
                steps += 1;
                assert!((2..=MAX_STEP_CPUS).contains(&step.cpus.len()));
                if step.cpus.len() > 2 {
                    wide += 1;
                }
                assert!(step
                    .cpus
                    .iter()
                    .all(|c| (1..=MAX_CPU_CALLS).contains(&c.len())));
                if step.cpus.iter().any(|c| c.len() > 1) {
                    multi += 1;
                }
                let pm: Vec<Vec<u32>> = cc
                    .cpus
                    .iter()
                    .map(|c| c.iter().filter_map(Action::pmap).collect())
                    .collect();
                if pm[0].iter().any(|p| pm[1].contains(p)) {
                    same_pmap += 1;
                }
                for (i, calls) in cc.cpus.iter().enumerate() {
                    for x in calls.iter().filter(|x| x.exclusive()) {
                        let p = x.pmap().unwrap();
                        for (j, other) in pm.iter().enumerate() {
                            assert!(i == j || !other.contains(&p), "{a}");
                        }
                    }
                }
            }
        }
        assert!(steps > 500, "{steps}");
        assert!(multi * 2 > steps, "{multi} of {steps}");
        assert!(same_pmap * 4 > steps, "{same_pmap} of {steps}");
        // A third CPU in about 1 step of 8, a fourth in 1 of 16.
        assert!(wide * 20 > steps && wide * 4 < steps, "{wide} of {steps}");
    }
}
