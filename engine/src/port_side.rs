//! The Rust port as a side: `rust_segtab::PmapSegtab` over an environment
//! backed by the same kind of page pool the C uses, so equal behaviour
//! yields equal frame numbers.

use crate::callbacks::{self, CbCall, PteWindow};
use crate::model::{Action, CbKind};
use crate::side::{pool_action, PanicClass, Side, Snapshot, StepEnd, StepTrace, Summary};
use c_reference::{Config, XtabEvent, NCPUS, NLWPS, NPMAPS};
use rust_segtab::{CpuInfo, Env, Machine, PanicSite, Pmap, PmapSegtab, PteRef, Word};
use shim::inspect::{self, Geometry, PteLoc, Ptr};
use shim::pool::{PagePool, PoolMap};
use std::cell::Cell;
use std::ffi::c_void;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Payload of a port panic: `Env::panic` unwinds with it and the engine
/// catches it around every call.
#[derive(Debug)]
pub struct PortPanic {
    /// The class.
    pub class: PanicClass,
    /// The message.
    pub msg: String,
}

thread_local! {
    static IN_PORT: Cell<bool> = const { Cell::new(false) };
}

/// Keep the default panic hook quiet for panics the engine catches inside
/// port calls (they are outcomes, reported by the comparison).
pub fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_PORT.with(|c| c.get()) {
                default(info)
            }
        }));
    });
}

/// The environment: pool, cpus, lwps and the lock, as the C shim has them.
pub struct PoolEnv<M: Machine> {
    pool: PagePool,
    config: &'static Config,
    cpus: [CpuInfo<M>; NCPUS as usize],
    lwps: [(u32, u32); NLWPS as usize],
    curlwp: u32,
    lock_held: bool,
    lock_enters: u32,
    cas_race: u32,
    pmaps: *const Pmap<M>,
    xtab: Vec<XtabEvent>,
}

impl<M: Machine> fmt::Debug for PoolEnv<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolEnv").field("pool", &self.pool).finish()
    }
}

impl<M: Machine> PoolEnv<M> {
    /// An environment over `pool` for the pmaps at `pmaps` (call `reset`
    /// before use).
    fn new(pool: PagePool, config: &'static Config, pmaps: *const Pmap<M>) -> Self {
        PoolEnv {
            pool,
            config,
            cpus: std::array::from_fn(|_| CpuInfo::new()),
            lwps: [(0, 0); NLWPS as usize],
            curlwp: 0,
            lock_held: false,
            lock_enters: 0,
            cas_race: 0,
            pmaps,
            xtab: Vec::new(),
        }
    }

    fn die(&self, class: PanicClass, msg: String) -> ! {
        std::panic::panic_any(PortPanic { class, msg })
    }
    fn pmap_index(&self, pm: *const Pmap<M>) -> u32 {
        ((pm as usize).wrapping_sub(self.pmaps as usize) / std::mem::size_of::<Pmap<M>>()) as u32
    }
    fn reset(&mut self) {
        self.pool.reset();
        self.cpus = std::array::from_fn(|_| CpuInfo {
            ci_pmap_user_segtab: self.config.invalid_segtab as usize as *mut M::Segtab,
            ci_pmap_user_seg0tab: std::ptr::null_mut(),
        });
        self.lwps = std::array::from_fn(|i| ((i as u32) % NCPUS, i as u32));
        self.curlwp = 0;
        self.lock_held = false;
        self.lock_enters = 0;
        self.cas_race = 0;
        self.xtab.clear();
    }
}

// SAFETY: map_poolpage returns the KVA of an allocated frame of the pool's
// own NBPG-aligned mapping (exclusively the port's while allocated);
// unmap/phys conversions are exact inverses over the pool; atomic_cas_ptr
// only touches the slot it is given.
unsafe impl<M: Machine> Env<M> for PoolEnv<M> {
    type Page = u32;
    type Lwp = u32;
    type Cpu = u32;

    fn alloc_poolpage(&mut self, flags: u32) -> Option<u32> {
        self.pool.alloc(flags as i32)
    }
    fn page_to_phys(&self, pg: u32) -> u64 {
        self.pool.pa(pg)
    }
    fn phys_to_page(&self, pa: u64) -> u32 {
        self.pool.pfn_of_pa(pa).unwrap_or(u32::MAX)
    }
    fn map_poolpage(&mut self, pa: u64) -> *mut u8 {
        self.pool.note_map(true, pa);
        match self.pool.pfn_of_pa(pa) {
            Some(pfn) => self.pool.kva(pfn),
            None => self.die(
                PanicClass::Other("PMAP_MAP_POOLPAGE of a non-pool PA".into()),
                format!("pa {pa:#x}"),
            ),
        }
    }
    fn unmap_poolpage(&mut self, kva: *mut u8) -> u64 {
        match self.pool.locate(kva as u64) {
            Some((pfn, off)) => {
                let pa = self.pool.pa(pfn) + off as u64;
                self.pool.note_map(false, pa);
                pa
            }
            None => self.die(
                PanicClass::Other("PMAP_UNMAP_POOLPAGE of a non-pool VA".into()),
                format!("va {kva:p}"),
            ),
        }
    }
    fn page_free(&mut self, pg: u32) {
        self.pool.free(pg);
    }
    fn uvm_wait(&mut self, wmsg: &'static str) {
        if !self.pool.wait() {
            self.die(
                PanicClass::WaitForever,
                format!("uvm_wait({wmsg}): would wait forever"),
            );
        }
    }
    fn panic(&mut self, site: PanicSite, msg: fmt::Arguments<'_>) -> ! {
        let class = match site {
            PanicSite::Kassert { line } => PanicClass::Kassert(line),
            PanicSite::CheckStp => PanicClass::CheckStp,
            PanicSite::CheckPtesAlign => PanicClass::CheckPtesAlign,
            PanicSite::CheckPtesNonzero => PanicClass::CheckPtesNonzero,
            PanicSite::ReserveNoPage => PanicClass::ReserveNoPage,
        };
        self.die(class, msg.to_string())
    }
    fn ptp_next(&self, pg: u32) -> Option<u32> {
        self.pool.list_next(pg)
    }
    fn set_ptp_next(&mut self, pg: u32, next: Option<u32>) {
        self.pool.set_list_next(pg, next)
    }
    fn mutex_spin_enter(&mut self) {
        if self.lock_held {
            self.die(
                PanicClass::Lock,
                "mutex_spin_enter: locking against myself".into(),
            );
        }
        self.lock_held = true;
        self.lock_enters += 1;
    }
    fn mutex_spin_exit(&mut self) {
        if !self.lock_held {
            self.die(PanicClass::Lock, "mutex_spin_exit: mutex not held".into());
        }
        self.lock_held = false;
    }
    unsafe fn atomic_cas_ptr(
        &mut self,
        slot: *mut *mut c_void,
        old: *mut c_void,
        new: *mut c_void,
    ) -> *mut c_void {
        if self.cas_race > 0 {
            // Another CPU got there first with a page of its own (as the C
            // shim's atomic_cas_ptr does).
            self.cas_race -= 1;
            let pg = self
                .pool
                .alloc(shim::UVM_PGA_ZERO | shim::UVM_PGA_USERESERVE);
            // SAFETY: the caller guarantees slot is valid for reads and writes.
            if let Some(pfn) = pg {
                if unsafe { slot.read() }.is_null() {
                    unsafe { slot.write(self.pool.kva(pfn) as *mut c_void) };
                }
            }
        }
        // SAFETY: as above.
        let cur = unsafe { slot.read() };
        if cur == old {
            // SAFETY: as above.
            unsafe { slot.write(new) };
        }
        cur
    }
    fn curlwp(&self) -> u32 {
        self.curlwp
    }
    fn curcpu(&self) -> u32 {
        self.lwps[self.curlwp as usize].0
    }
    fn lwp_cpu(&self, l: u32) -> u32 {
        self.lwps[l as usize].0
    }
    fn lwp_pmap(&self, l: u32) -> *const Pmap<M> {
        self.pmaps.wrapping_add(self.lwps[l as usize].1 as usize)
    }
    fn cpu_info_mut(&mut self, ci: u32) -> &mut CpuInfo<M> {
        &mut self.cpus[ci as usize]
    }
    fn pmap_kernel(&self) -> *const Pmap<M> {
        self.pmaps
    }
    fn direct_mapped_vaddr_p(&self, va: M::Vaddr) -> bool {
        self.config.direct_mapped(va.to_u64())
    }
    fn xtab_activate(&mut self, pm: *const Pmap<M>, l: u32) {
        let pmap = self.pmap_index(pm);
        self.xtab.push(XtabEvent::Activate { pmap, lwp: l });
    }
    fn xtab_deactivate(&mut self, pm: *const Pmap<M>) {
        let pmap = self.pmap_index(pm);
        self.xtab.push(XtabEvent::Deactivate { pmap });
    }
    fn invalid_segtab_address(&self) -> *mut M::Segtab {
        self.config.invalid_segtab as usize as *mut M::Segtab
    }
}

/// The port for machine `M`, with its pmaps.
pub struct PortSide<M: Machine> {
    st: PmapSegtab<M, PoolEnv<M>>,
    spare: Option<PoolEnv<M>>,
    pmaps: Box<[Pmap<M>]>,
    geometry: Geometry,
}

/// A window of PTEs through a `PteRef`.
struct RefWindow<'a, M: Machine> {
    pte: PteRef<'a, M>,
    len: u32,
}

impl<M: Machine> PteWindow for RefWindow<'_, M> {
    fn len(&self) -> u32 {
        self.len
    }
    fn read(&self, i: u32) -> u64 {
        self.pte
            .offset(i as usize)
            .map(|p| p.read().to_u64())
            .unwrap_or(0)
    }
    fn write(&mut self, i: u32, v: u64) {
        if let Some(p) = self.pte.offset(i as usize) {
            p.write(M::Pte::from_u64(v));
        }
    }
}

impl<M: Machine> PortSide<M> {
    /// A port world for `config` (whose constants must be `M`'s).
    pub fn new(config: &'static Config, pool_pages: usize) -> Result<Self, shim::PoolError> {
        let pool = PagePool::new(
            config.pgshift,
            pool_pages,
            !config.lp64,
            config.identity_map,
        )?;
        let pmaps: Box<[Pmap<M>]> = (0..NPMAPS).map(|_| Pmap::new(M::Vaddr::ZERO)).collect();
        let env = PoolEnv::new(pool, config, pmaps.as_ptr());
        let geometry = Geometry {
            lp64: M::LP64,
            segtabsize: <M::Segtab as rust_segtab::SegtabLayout>::LEN as u32,
            nptepg: (M::NBPG / std::mem::size_of::<M::Pte>()) as u32,
            pte_bytes: std::mem::size_of::<M::Pte>() as u32,
            page_shift: M::PGSHIFT,
            segshift: M::SEGSHIFT,
            xsegshift: if M::LP64 { M::XSEGSHIFT } else { 0 },
        };
        let spare = Some(dummy_env(&env));
        let mut s = PortSide {
            st: PmapSegtab::new(env),
            spare,
            pmaps,
            geometry,
        };
        s.reset();
        Ok(s)
    }

    fn call<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> Result<R, StepEnd> {
        install_quiet_hook();
        IN_PORT.with(|c| c.set(true));
        let r = catch_unwind(AssertUnwindSafe(|| f(self)));
        IN_PORT.with(|c| c.set(false));
        r.map_err(|payload| match payload.downcast::<PortPanic>() {
            Ok(p) => StepEnd::Panic(p.class, p.msg),
            Err(other) => {
                let msg = other
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| other.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "non-string panic".into());
                StepEnd::Panic(PanicClass::Other(format!("Rust panic: {msg}")), msg)
            }
        })
    }
}

fn trace_cb<'a, M: Machine>(
    map: PoolMap,
    g: Geometry,
    config: &'static Config,
    pmaps: *const Pmap<M>,
    kind: CbKind,
    calls: &'a mut Vec<CbCall>,
) -> impl for<'p> FnMut(*const Pmap<M>, M::Vaddr, M::Vaddr, PteRef<'p, M>, usize) -> bool + 'a {
    move |pm, sva, eva, pte, flags| {
        let loc = PteLoc::classify_in(&map, pte.as_ptr() as u64, g.pte_bytes);
        let len = match loc {
            PteLoc::In { index, rem: 0, .. } if index < g.nptepg => g.nptepg - index,
            _ => 0,
        };
        let mut w = RefWindow { pte, len };
        let args = callbacks::Args {
            sva: sva.to_u64(),
            eva: eva.to_u64(),
        };
        let result = callbacks::apply(kind, &args, config, &mut w);
        calls.push(CbCall {
            pmap: ((pm as usize).wrapping_sub(pmaps as usize) / std::mem::size_of::<Pmap<M>>())
                as u32,
            sva: sva.to_u64(),
            eva: eva.to_u64(),
            pte: loc,
            flags: flags as u64,
            result,
        });
        true
    }
}

impl<M: Machine> Side for PortSide<M> {
    fn label(&self) -> &'static str {
        "Rust"
    }
    fn config(&self) -> &'static Config {
        self.st.env.config
    }
    fn geometry(&self) -> Geometry {
        self.geometry
    }
    fn pool(&self) -> &PagePool {
        &self.st.env.pool
    }
    fn pool_mut(&mut self) -> &mut PagePool {
        &mut self.st.env.pool
    }
    fn reset(&mut self) {
        // The port keeps what the C keeps in pmap_segtab_info: a fresh
        // instance is its reset.
        // instance is its reset. `spare` stands in while the live
        // environment is moved out, so no pool is mapped per reset.
        let spare = self.spare.take().expect("spare environment");
        let mut env = std::mem::replace(&mut self.st, PmapSegtab::new(spare)).env;
        env.reset();
        let spare = std::mem::replace(&mut self.st, PmapSegtab::new(env)).env;
        self.spare = Some(spare);
        for p in self.pmaps.iter_mut() {
            *p = Pmap::new(M::Vaddr::ZERO);
        }
    }
    fn take_xtab(&mut self) -> Vec<XtabEvent> {
        std::mem::take(&mut self.st.env.xtab)
    }
    fn root_raw(&self, pmap: u32) -> u64 {
        self.pmaps[pmap as usize].pm_segtab as u64
    }

    fn step(&mut self, a: &Action, trace: &mut StepTrace) -> StepEnd {
        if pool_action(&mut self.st.env.pool, a) {
            return StepEnd::Ok(None);
        }
        self.st.env.pool.begin_call();
        let va = |v: u64| M::Vaddr::from_u64(v);
        let need_segtab = |s: &Self, pmap: u32| -> Result<(), StepEnd> {
            if s.pmaps[pmap as usize].pm_segtab.is_null() {
                Err(StepEnd::Refused(
                    c_reference::Error::NoSegtab(pmap).to_string(),
                ))
            } else {
                Ok(())
            }
        };
        let config = self.config();
        let g = self.geometry;
        let map = self.st.env.pool.map();
        let pmaps_ptr = self.pmaps.as_ptr();
        let r: Result<StepEnd, StepEnd> = (|| match *a {
            Action::Create { pmap, minaddr } => self.call(|s| {
                let p = &mut s.pmaps[pmap as usize];
                p.pm_segtab = std::ptr::null_mut();
                p.pm_minaddr = va(minaddr);
                s.st.segtab_init(p);
                StepEnd::Ok(None)
            }),
            Action::Destroy { pmap, cb, flags } => self.call(|s| {
                let p = &mut s.pmaps[pmap as usize];
                match cb {
                    None => s.st.segtab_destroy(p, None, flags as usize),
                    Some(kind) => {
                        let mut f =
                            trace_cb::<M>(map, g, config, pmaps_ptr, kind, &mut trace.callbacks);
                        s.st.segtab_destroy(p, Some(&mut f), flags as usize)
                    }
                }
                StepEnd::Ok(None)
            }),
            Action::Reserve { pmap, va: v, flags } => {
                need_segtab(self, pmap)?;
                self.call(|s| {
                    let r =
                        s.st.pte_reserve(&mut s.pmaps[pmap as usize], va(v), flags)
                            .map(|p| p.as_ptr());
                    StepEnd::Ok(Some(loc_raw(&map, r.map(|p| p as u64), g.pte_bytes)))
                })
            }
            Action::Lookup { pmap, va: v } => {
                need_segtab(self, pmap)?;
                self.call(|s| {
                    let r =
                        s.st.pte_lookup(&s.pmaps[pmap as usize], va(v))
                            .map(|p| p.as_ptr());
                    StepEnd::Ok(Some(loc_raw(&map, r.map(|p| p as u64), g.pte_bytes)))
                })
            }
            Action::Enter {
                pmap,
                va: v,
                value,
                flags,
            } => {
                need_segtab(self, pmap)?;
                self.call(|s| {
                    let r = s.st.pte_reserve(&mut s.pmaps[pmap as usize], va(v), flags);
                    if let Some(p) = r {
                        p.write(M::Pte::from_u64(value));
                    }
                    StepEnd::Ok(Some(loc_raw(
                        &map,
                        r.map(|p| p.as_ptr() as u64),
                        g.pte_bytes,
                    )))
                })
            }
            Action::Process {
                pmap,
                sva,
                eva,
                cb,
                flags,
            } => {
                need_segtab(self, pmap)?;
                self.call(|s| {
                    let mut f = trace_cb::<M>(map, g, config, pmaps_ptr, cb, &mut trace.callbacks);
                    s.st.pte_process(
                        &mut s.pmaps[pmap as usize],
                        va(sva),
                        va(eva),
                        &mut f,
                        flags as usize,
                    );
                    StepEnd::Ok(None)
                })
            }
            Action::Activate { pmap, lwp } => {
                need_segtab(self, pmap)?;
                self.call(|s| {
                    s.st.segtab_activate(&s.pmaps[pmap as usize], lwp);
                    StepEnd::Ok(None)
                })
            }
            Action::Deactivate { pmap } => self.call(|s| {
                s.st.segtab_deactivate(&s.pmaps[pmap as usize]);
                StepEnd::Ok(None)
            }),
            Action::SwitchLwp { lwp } => {
                self.st.env.curlwp = lwp;
                Ok(StepEnd::Ok(None))
            }
            Action::BindLwp { lwp, pmap, cpu } => {
                self.st.env.lwps[lwp as usize] = (cpu, pmap);
                Ok(StepEnd::Ok(None))
            }
            Action::CasRace { n } => {
                self.st.env.cas_race = n;
                Ok(StepEnd::Ok(None))
            }
            Action::Limit { .. } | Action::Unlimit | Action::FailNext { .. } => unreachable!(),
        })();
        r.unwrap_or_else(|e| e)
    }

    fn summary(&self) -> Summary {
        let env = &self.st.env;
        let map = env.pool.map();
        let cls = |p: u64| Ptr::classify_in(&map, p);
        Summary {
            roots: std::array::from_fn(|i| cls(self.pmaps[i].pm_segtab as u64)),
            free_head: cls(self.st.free_segtab_head() as u64),
            ptp_head: self.st.ptp_cache_head(),
            counters: self.st.counters(),
            lock: (env.lock_held, env.lock_enters),
            pool_in_use: env.pool.in_use(),
        }
    }

    fn snapshot(&self, deep: bool) -> Snapshot {
        let env = &self.st.env;
        let pool = &env.pool;
        let cls = |p: u64| Ptr::classify(pool, p);
        let limit = inspect::list_limit(pool, &self.geometry);
        let (mut free_list, mut ptp) = Default::default();
        if deep {
            let head = self.st.free_segtab_head() as u64;
            free_list = inspect::free_list(pool, &self.geometry, head, limit);
            ptp = inspect::ptp_list(pool, self.st.ptp_cache_head(), limit);
        }
        Snapshot {
            summary: self.summary(),
            minaddr: std::array::from_fn(|i| self.pmaps[i].pm_minaddr.to_u64()),
            free_list,
            ptp,
            ci_segtab: env
                .cpus
                .each_ref()
                .map(|c| cls(c.ci_pmap_user_segtab as u64)),
            ci_seg0tab: env.cpus.each_ref().map(|c| {
                if M::LP64 {
                    cls(c.ci_pmap_user_seg0tab as u64)
                } else {
                    Ptr::Null
                }
            }),
            curlwp: env.curlwp,
            lwps: env.lwps,
        }
    }
}

fn loc_raw(map: &PoolMap, p: Option<u64>, pte_bytes: u32) -> PteLoc {
    match p {
        None => PteLoc::Null,
        Some(a) => PteLoc::classify_in(map, a, pte_bytes),
    }
}

/// A placeholder environment that stands in while `reset` swaps
/// instances; it owns a one-page pool and never runs anything.
fn dummy_env<M: Machine>(e: &PoolEnv<M>) -> PoolEnv<M> {
    let pool = PagePool::new(e.config.pgshift, 1, false, false).expect("one-page pool");
    PoolEnv::new(pool, e.config, e.pmaps)
}

rust_segtab::define_machine! {
    /// mips32 o32 with 8 KiB pages: the carving loop under DEBUG (declared
    /// here with the port's macro, as a porter would declare a machine).
    pub struct MipsO32_8k {
        name: "mips32-o32-8k", lp64: false, pgshift: 13, segshift: 24,
        xsegshift: 0, segtabsize: 128, pte: u32, vaddr: u32,
        debug: true, diagnostic: false, multiprocessor: false, ptp_cache: true,
    }
}

/// Open the port for a configuration.
pub fn open(config: &'static Config, pool_pages: usize) -> Result<Box<dyn Side>, shim::PoolError> {
    use rust_segtab::machines::*;
    Ok(match config.name {
        "mips64-n64-4k" => Box::new(PortSide::<MipsN64_4k>::new(config, pool_pages)?),
        "mips64-n64-16k" => Box::new(PortSide::<MipsN64_16k>::new(config, pool_pages)?),
        "riscv64-sv39-shape" => Box::new(PortSide::<Riscv64Sv39Shape>::new(config, pool_pages)?),
        "mips32-o32-4k" => Box::new(PortSide::<MipsO32_4k>::new(config, pool_pages)?),
        "mips32-o32-8k" => Box::new(PortSide::<MipsO32_8k>::new(config, pool_pages)?),
        "mips32-o32-16k" => Box::new(PortSide::<MipsO32_16k>::new(config, pool_pages)?),
        "powerpc-booke" => Box::new(PortSide::<PowerpcBooke>::new(config, pool_pages)?),
        other => {
            unreachable!("configuration {other} has no Rust machine; add it to port_side::open")
        }
    })
}
