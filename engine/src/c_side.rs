//! The C reference as a [`Side`]: `pmap_segtab.c` compiled for a
//! configuration, run in its [`CWorld`], with its panics classified and
//! their texts normalised the way the port's are.

use crate::callbacks::CbCall;
use crate::model::{Action, CbKind};
use crate::side::{pool_action, w_write, PanicClass, Side, Snapshot, StepEnd};
use crate::side::{StepTrace, Summary};
use c_reference::{CCall, CWorld, CallbackArgs, Config, CpuOutcome, Outcome, PanicKind, XtabEvent};
use shim::inspect::{Geometry, PteLoc, Ptr};
use shim::pool::PagePool;
use shim::sched::{Policy, Scheduler};
use std::sync::Mutex;

fn end_of<T>(o: Outcome<T>, f: impl FnOnce(T) -> Option<PteLoc>) -> StepEnd {
    match o {
        Outcome::Ok(v) => StepEnd::Ok(f(v)),
        Outcome::Panicked(p) | Outcome::WaitForever(p) => {
            let class = PanicClass::of_c(&p);
            let mut msg = p.msg;
            // A KASSERT names its rev-1.23 line, whatever `__LINE__` the
            // compiler gave a macro spanning two lines (gcc: the first,
            // clang: the last) or a patched file shifted it to.
            if let (PanicKind::Kassert { line, .. }, PanicClass::Kassert(site)) = (&p.kind, &class)
            {
                if line != site {
                    msg = msg.replacen(&format!(", line {line} "), &format!(", line {site} "), 1);
                }
            }
            StepEnd::Panic(class, msg)
        }
    }
}

/// The C reference as a side.
pub struct CSide {
    /// The world.
    pub world: CWorld,
}

impl CSide {
    /// The summary of a state read from the C (a whole snapshot, or the
    /// summary op's fields).
    fn summary_of(&self, s: &shim::bindings::segtab_shim_state) -> Summary {
        let pool = self.world.pool();
        let cls = |p: *mut std::ffi::c_void| Ptr::classify(pool, p as u64);
        Summary {
            roots: s.pm_segtab.map(cls),
            free_head: cls(s.free_segtab),
            ptp_head: (!s.ptp_first.is_null())
                .then(|| pool.pfn_of_vm_page(s.ptp_first).unwrap_or(u32::MAX)),
            counters: (s.nget, s.nput, s.npage),
            lock: (s.lock_held != 0, s.lock_enters),
            pool_in_use: pool.in_use(),
        }
    }

    /// A panic's text with the C's pointers and `__FILE__` normalised.
    fn normalized(&self, end: StepEnd) -> StepEnd {
        match end {
            StepEnd::Panic(class, msg) => {
                let st = self.world.state();
                let pmaps = st.pm_addr.map(|p| p as u64);
                let source = self.world.c_source();
                let names = crate::panic_text::Names {
                    pool: self.world.pool().map(),
                    pmaps: &pmaps,
                    source: Some(&source),
                    prefix: Some(self.world.config().ident),
                };
                StepEnd::Panic(class, crate::panic_text::normalize(&msg, &names))
            }
            other => other,
        }
    }
}

fn args_of(a: &CallbackArgs) -> crate::callbacks::Args {
    crate::callbacks::Args {
        sva: a.sva,
        eva: a.eva,
    }
}

impl CSide {
    /// [`Side::step_concurrent`] deciding by `policy`: under PCT the C
    /// runs first and `trace.taken` holds the bits it took, which the
    /// port then follows (`Pair::step`).
    pub fn step_concurrent_policy(
        &mut self,
        cpus: &[Vec<Action>],
        lwp1: u32,
        policy: &Policy,
        trace: &mut StepTrace,
    ) -> Vec<Vec<StepEnd>> {
        let config = self.config();
        let geometry = self.geometry();
        let refuse_all = |why: String| -> Vec<Vec<StepEnd>> {
            cpus.iter()
                .map(|c| c.iter().map(|_| StepEnd::Refused(why.clone())).collect())
                .collect()
        };
        let Some(calls) = cpus
            .iter()
            .map(|c| c.iter().map(c_call).collect::<Option<Vec<CCall>>>())
            .collect::<Option<Vec<Vec<CCall>>>>()
        else {
            return refuse_all("not a call into the file".into());
        };
        // Each CPU's callbacks, in its own order; the callback is the one
        // of the CPU's call running now, which `after` moves on.
        let current: Vec<std::sync::atomic::AtomicUsize> =
            cpus.iter().map(|_| Default::default()).collect();
        let kind_of = |a: &Action| match *a {
            Action::Destroy { cb, .. } => cb,
            Action::Process { cb, .. } => Some(cb),
            _ => None,
        };
        let traces: Vec<Mutex<Vec<CbCall>>> = cpus.iter().map(|_| Default::default()).collect();
        use std::sync::atomic::Ordering::Relaxed;
        let sink = |cpu: usize, pool: &mut PagePool, args: CallbackArgs| {
            let k = current[cpu].load(Relaxed);
            let kind = kind_of(&cpus[cpu][k]).expect("a callback only where the call passes one");
            let mut calls = traces[cpu].lock().unwrap_or_else(|e| e.into_inner());
            harness_callback(kind, config, geometry, &mut calls)(pool, args);
        };
        // After call k of a CPU: an Enter stores its value (pmap_enter's
        // store, on its CPU, before its next call); the next call's
        // callbacks are its own.
        let starts: Mutex<Vec<(u8, u8, u32)>> = Mutex::new(Vec::new());
        let after = |cpu: usize, k: usize, pool: &mut PagePool, out: Option<u64>| {
            current[cpu].store(k + 1, Relaxed);
            if k + 1 < cpus[cpu].len() {
                let at = shim::sched::log_len() as u32;
                let mut s = starts.lock().unwrap_or_else(|e| e.into_inner());
                s.push((cpu as u8, k as u8 + 1, at));
            }
            if let (Action::Enter { value, .. }, Some(out)) = (&cpus[cpu][k], out) {
                let value = *value;
                if let PteLoc::In { pfn, index, rem: 0 } =
                    PteLoc::classify(pool, out, geometry.pte_bytes)
                {
                    if index < geometry.nptepg {
                        w_write(pool, pfn, index, geometry.pte_bytes, value);
                    }
                }
            }
        };
        let sched = Scheduler::with_policy(cpus.len(), policy.clone());
        let report = match self
            .world
            .run_sequences(&sched, &calls, lwp1, &sink, &after)
        {
            Ok(r) => r,
            Err(e) => return refuse_all(e.to_string()),
        };
        trace.sched = report.log;
        trace.starts = starts.into_inner().unwrap_or_else(|e| e.into_inner());
        trace.starts.sort_by_key(|s| s.2);
        trace.decisions = report.decisions;
        trace.taken = report.taken;
        trace.points = report.points;
        for t in traces {
            trace
                .callbacks
                .extend(t.into_inner().unwrap_or_else(|e| e.into_inner()));
        }
        let ends: Vec<Vec<StepEnd>> = report
            .results
            .into_iter()
            .map(|cpu| {
                cpu.into_iter()
                    .map(|o| match o {
                        CpuOutcome::Done(o) => end_of(o, |loc| loc),
                        CpuOutcome::Abandoned(a) => StepEnd::Abandoned(a),
                        CpuOutcome::Refused(e) => StepEnd::Refused(e.to_string()),
                    })
                    .map(|e| self.normalized(e))
                    .collect()
            })
            .collect();
        ends
    }
}

impl Side for CSide {
    fn label(&self) -> &'static str {
        "C"
    }
    fn config(&self) -> &'static Config {
        self.world.config()
    }
    fn geometry(&self) -> Geometry {
        *self.world.geometry()
    }
    fn pool(&self) -> &PagePool {
        self.world.pool()
    }
    fn pool_mut(&mut self) -> &mut PagePool {
        self.world.pool_mut()
    }
    fn reset(&mut self) {
        self.world.reset()
    }
    fn take_xtab(&mut self) -> Vec<XtabEvent> {
        self.world.take_xtab()
    }
    fn root_raw(&self, pmap: u32) -> u64 {
        self.world.pm_segtab(pmap) as u64
    }

    fn step(&mut self, a: &Action, trace: &mut StepTrace) -> StepEnd {
        if pool_action(self.world.pool_mut(), a) {
            return StepEnd::Ok(None);
        }
        let config = self.config();
        let geometry = self.geometry();
        let refused = |e: c_reference::Error| StepEnd::Refused(e.to_string());
        let calls = &mut trace.callbacks;
        let w = &mut self.world;
        let end = match *a {
            Action::Create { pmap, minaddr } => {
                w.segtab_init(pmap, minaddr).map(|o| end_of(o, |_| None))
            }
            Action::Destroy { pmap, cb, flags } => match cb {
                None => w
                    .segtab_destroy(pmap, None::<&mut fn(&mut PagePool, CallbackArgs)>, flags)
                    .map(|o| end_of(o, |_| None)),
                Some(kind) => {
                    let mut f = harness_callback(kind, config, geometry, calls);
                    w.segtab_destroy(pmap, Some(&mut f), flags)
                        .map(|o| end_of(o, |_| None))
                }
            },
            Action::Reserve { pmap, va, flags } => {
                w.pte_reserve(pmap, va, flags).map(|o| end_of(o, Some))
            }
            Action::Lookup { pmap, va } => w.pte_lookup(pmap, va).map(|o| end_of(o, Some)),
            Action::Enter {
                pmap,
                va,
                value,
                flags,
            } => w.pte_reserve(pmap, va, flags).map(|o| {
                end_of(o, |loc| {
                    if let PteLoc::In { pfn, index, rem: 0 } = loc {
                        if index < geometry.nptepg {
                            w_write(w.pool_mut(), pfn, index, geometry.pte_bytes, value);
                        }
                    }
                    Some(loc)
                })
            }),
            Action::Process {
                pmap,
                sva,
                eva,
                cb,
                flags,
            } => {
                let mut f = harness_callback(cb, config, geometry, calls);
                w.pte_process(pmap, sva, eva, flags, &mut f)
                    .map(|o| end_of(o, |_| None))
            }
            Action::Activate { pmap, lwp } => {
                w.segtab_activate(pmap, lwp).map(|o| end_of(o, |_| None))
            }
            Action::Deactivate { pmap } => w.segtab_deactivate(pmap).map(|o| end_of(o, |_| None)),
            Action::SwitchLwp { lwp } => w.set_curlwp(lwp).map(|_| StepEnd::Ok(None)),
            Action::BindLwp { lwp, pmap, cpu } => {
                w.bind_lwp(lwp, pmap, cpu).map(|_| StepEnd::Ok(None))
            }
            Action::Concurrent(_) => Ok(StepEnd::Refused(
                "a concurrent step runs through step_concurrent".into(),
            )),
            Action::Limit { .. } | Action::Unlimit | Action::FailNext { .. } => unreachable!(),
        }
        .unwrap_or_else(refused);
        self.normalized(end)
    }

    fn step_concurrent(
        &mut self,
        cpus: &[Vec<Action>],
        lwp1: u32,
        choices: u64,
        trace: &mut StepTrace,
    ) -> Vec<Vec<StepEnd>> {
        self.step_concurrent_policy(cpus, lwp1, &Policy::Bits(choices), trace)
    }

    fn summary(&mut self) -> Summary {
        self.summary_of(&self.world.summary_state())
    }

    fn snapshot(&mut self, deep: bool) -> Snapshot {
        let w = &self.world;
        // One read of the C's state serves the summary and the rest.
        let s = w.state();
        let summary = self.summary_of(&s);
        let pool = w.pool();
        let cls = |p: *mut std::ffi::c_void| Ptr::classify(pool, p as u64);
        let (mut free_list, mut ptp) = Default::default();
        if deep {
            free_list = w.free_segtabs();
            ptp = w.ptp_cache();
        }
        Snapshot {
            summary,
            minaddr: s.pm_minaddr,
            free_list,
            ptp,
            ci_segtab: s.ci_segtab.map(cls),
            ci_seg0tab: s.ci_seg0tab.map(cls),
            curlwp: s.cur_lwp,
            lwps: std::array::from_fn(|i| (s.lwp_cpu[i], s.lwp_pmap[i])),
        }
    }
}

/// The C harness call for a call into the file (`Enter` is a reserve; the
/// store into the PTE is the harness's).
fn c_call(a: &Action) -> Option<CCall> {
    Some(match *a {
        Action::Create { pmap, minaddr } => CCall::Init { pmap, minaddr },
        Action::Destroy { pmap, cb, flags } => CCall::Destroy {
            pmap,
            with_callback: cb.is_some(),
            flags,
        },
        Action::Reserve { pmap, va, flags }
        | Action::Enter {
            pmap, va, flags, ..
        } => CCall::Reserve { pmap, va, flags },
        Action::Lookup { pmap, va } => CCall::Lookup { pmap, va },
        Action::Process {
            pmap,
            sva,
            eva,
            flags,
            ..
        } => CCall::Process {
            pmap,
            sva,
            eva,
            flags,
        },
        Action::Activate { pmap, lwp } => CCall::Activate { pmap, lwp },
        Action::Deactivate { pmap } => CCall::Deactivate { pmap },
        _ => return None,
    })
}

/// The C side's `pte_callback_t` sink for callback `kind`: runs it on the
/// PTEs through the pool and records the call.
fn harness_callback<'a>(
    kind: CbKind,
    config: &'static Config,
    geometry: Geometry,
    calls: &'a mut Vec<CbCall>,
) -> impl FnMut(&mut PagePool, CallbackArgs) + 'a {
    move |pool, args| {
        let loc = PteLoc::classify(pool, args.pte, geometry.pte_bytes);
        let mut win = crate::callbacks::PoolWindow::new(pool, loc, &geometry);
        let result = crate::callbacks::apply(kind, &args_of(&args), config, &mut win);
        calls.push(CbCall {
            pmap: args.pmap,
            sva: args.sva,
            eva: args.eva,
            pte: loc,
            flags: args.flags,
            result,
        });
    }
}
