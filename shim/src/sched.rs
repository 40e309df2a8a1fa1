//! A deterministic scheduler for running several simulated CPUs in one
//! world, one at a time.
//!
//! The C keeps a kernel's globals, shared by its CPUs; the port's
//! environment does the same. [`Scheduler::run`] gives each CPU a context
//! of its own and passes a baton between them: exactly one CPU runs at any
//! time, and it can lose the baton only at a *point*, a call out of the code
//! under test ([`point`], [`lock_enter`], [`lock_exit`]). Every decision is
//! taken by the scheduler's [`Policy`] (the bits of `choices`, or PCT's
//! priorities and change points), so a run is a pure function of its
//! input.
//!
//! # Contexts: coroutines or threads
//!
//! By default ([`Backend::Coroutines`]) each CPU is a stackful coroutine
//! (the `corosensei` crate) on the calling thread: a hand-over is two stack
//! switches in user space (nanoseconds), where waking an OS thread cost
//! tens of microseconds and most of a concurrent step's time. A CPU
//! suspends only inside the scheduler and only the scheduler's driver loop
//! resumes one, so the switches happen exactly where the thread version
//! handed the baton over, and the schedule is the same. What a thread gave
//! each CPU for free must now be switched with it:
//!
//! - the scheduler's own thread-local (which CPU runs, see [`this_cpu`]) is
//!   set again by a CPU each time it resumes;
//! - the C shim keeps `curlwp`/`curcpu()` and the panic guard behind a
//!   thread-local CPU number (`shim_this_cpu` in `shim/csrc/world.c`): its
//!   `sched_hook` restores it after every call into the scheduler, and the
//!   caller of `run` resets it to CPU 0 afterwards;
//! - the C's panics `longjmp` to the guard its CPU armed with `setjmp`
//!   inside the CPU's body, so on the CPU's own coroutine stack: a jump
//!   never leaves a stack (the driver never resumes a CPU except where it
//!   suspended, and the scheduler never suspends one while it unwinds);
//! - a Rust panic of a body is caught inside the coroutine (as on a
//!   thread, in `cpu_body`), so no unwind crosses a switch;
//! - under AddressSanitizer (`cfg(segtab_asan)`, set by build.rs for
//!   `-Zsanitizer=address`, `cargo fuzz`'s default) every switch is
//!   announced with `__sanitizer_start_switch_fiber` /
//!   `__sanitizer_finish_switch_fiber`, or ASan would take the coroutine
//!   stacks for wild stack accesses (and the C's `longjmp`, which ASan
//!   intercepts, for a jump off the thread's stack).
//!
//! [`Backend::Threads`] is the former implementation, each CPU on an OS
//! thread handed the baton through a `Mutex`/`Condvar` (which orders what
//! one CPU wrote before what the next reads). It is used where the crate
//! is built without coroutines (`cfg(segtab_coro)` is unset: an
//! architecture corosensei's switch has not been tried on here), for the
//! whole process when `SEGTAB_SCHED=threads` is set, and by the tests,
//! which run every scenario on both.
//!
//! A CPU coroutine is never dropped while suspended in normal operation:
//! an abandoned CPU (another CPU died, or a deadlock) is *resumed* and
//! leaves its call through its own path (the C's `longjmp` to its guard,
//! the port's `Abandoned` unwind), as a thread did. Only if the driver
//! itself failed would a suspended coroutine be left; it is then reset
//! without unwinding (see `coro::Fiber`'s `Drop`): corosensei's default,
//! unwinding the suspended stack, would unwind through the C frames below
//! the scheduler hook, which is undefined behaviour (an `extern "C"` hook
//! aborts instead).
//!
//! # Decisions
//!
//! At a point, if at least one *other* CPU is runnable (not finished, not
//! waiting for the spin lock), the next bit of `choices` (bit 0 first) is
//! consumed: 1 switches, 0 keeps running. A switch goes to the next
//! runnable CPU in cyclic order when only one other is runnable (always,
//! with two CPUs); with more, the candidates are the runnable CPUs after
//! the running one in cyclic order, and each but the last takes one more
//! decision, 1 passing it over, 0 switching to it (three runnable others:
//! `10` the first, `110` the second, `111` the third). After 64 decisions
//! the running CPU keeps running (and a switch in progress goes to the
//! candidate it has reached). When the
//! running CPU blocks on the lock or finishes, the baton goes to the next
//! runnable CPU in cyclic order without consuming a bit.
//!
//! # Policies: bits or PCT
//!
//! [`Policy::Bits`] (the default, [`Scheduler::new`]) reads each decision
//! from the next bit of `choices`, as above. [`Policy::Pct`] takes it by
//! PCT (probabilistic concurrency testing: Burckhardt, Kothari, Musuvathi
//! and Nagarakatte, ASPLOS 2010): every CPU has a priority, distinct, and
//! the highest-priority runnable CPU runs; at the `j`-th change point (a
//! point index, counting every point reached, see [`RunReport::points`])
//! the running CPU's priority drops to `j`, below every initial one. PCT's
//! choices are written as the same decisions (keep running or switch, and
//! with more than one other runnable CPU which one: the highest-priority
//! one), and the bits it took are reported ([`RunReport::taken`]): running the
//! same bodies again with [`Policy::Bits`]`(taken)` takes the same
//! decisions, which is how the other side of a comparison and a reproducer
//! follow a PCT schedule exactly. The 64-decision limit holds for every
//! policy.
//!
//! # The spin lock
//!
//! The scheduler models one spin lock (`pmap_segtab_lock`). [`lock_enter`]
//! is a point (`SpinEnter`) and then waits while another CPU owns the lock;
//! [`lock_exit`] is a point (`SpinExit`) taken **while still owning the
//! lock**, then releases it. Every point is therefore *before* the effect
//! of its call, and a CPU can be switched out holding the lock: that is the
//! only way another CPU can ever find the lock held, since rev 1.23 makes
//! no other call out of the file inside a locked region.
//!
//! # Abandoning
//!
//! [`died`] (this CPU panicked) makes every other CPU get
//! `Err(`[`Abandon::Dead`]`)` when it next resumes or reaches a point; the
//! CPU that died gets `Ok(())` from every later call, without effect. If no
//! CPU is runnable but some have not finished (they all wait for the lock,
//! e.g. because its owner finished holding it), that is a deadlock: every
//! waiting CPU gets `Err(`[`Abandon::Deadlock`]`)` from [`lock_enter`]. In
//! both cases the baton still passes one CPU at a time, in cyclic order, to
//! each CPU that has not finished, so the abandoned CPUs unwind one after
//! the other.
//!
//! Outside a [`Scheduler::run`] body (the normal single-CPU case) every
//! free function is a no-op returning `Ok(())` and costs one thread-local
//! read.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};

/// A call out of pmap_segtab.c at which another CPU may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// `mutex_spin_enter(&pmap_segtab_lock)`.
    SpinEnter,
    /// `mutex_spin_exit(&pmap_segtab_lock)`.
    SpinExit,
    /// `atomic_cas_ptr`.
    Cas,
    /// `PMAP_ALLOC_POOLPAGE`.
    Alloc,
    /// `uvm_pagefree`.
    Free,
    /// `PMAP_MAP_POOLPAGE`.
    Map,
    /// `PMAP_UNMAP_POOLPAGE`.
    Unmap,
    /// `uvm_wait`.
    Wait,
    /// `pmap_md_xtab_activate` / `pmap_md_xtab_deactivate`.
    Xtab,
    /// The `pte_callback_t` given to `pmap_pte_process` / `pmap_segtab_destroy`.
    Callback,
}

impl Call {
    /// Every call, in the order of their codes (`enum segtab_shim_call`).
    pub const ALL: [Call; 10] = [
        Call::SpinEnter,
        Call::SpinExit,
        Call::Cas,
        Call::Alloc,
        Call::Free,
        Call::Map,
        Call::Unmap,
        Call::Wait,
        Call::Xtab,
        Call::Callback,
    ];

    /// The call with code `code` (`enum segtab_shim_call` of the C API).
    pub fn from_code(code: i32) -> Option<Call> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Call::ALL.get(i).copied())
    }

    /// This call's code (`enum segtab_shim_call` of the C API).
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// One point: which CPU reached which call, and whether the lock made it wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchedEvent {
    /// The CPU.
    pub cpu: u8,
    /// The call it reached.
    pub call: Call,
    /// `true`: the CPU found the spin lock held by another CPU and stopped
    /// running until it is released (logged once per attempt, after the
    /// `SpinEnter` point itself).
    pub blocked: bool,
}

/// Why a CPU must stop running the C/port code at once (unwind out of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Abandon {
    /// Another CPU panicked: the world is dead.
    Dead,
    /// Every CPU that has not finished waits for the spin lock.
    Deadlock,
}

impl std::fmt::Display for Abandon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Abandon::Dead => "another CPU panicked",
            Abandon::Deadlock => "deadlock: every CPU left waits for the spin lock",
        })
    }
}

/// What one [`Scheduler::run`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport<R> {
    /// `body(cpu)` for each CPU, by CPU.
    pub results: Vec<R>,
    /// Every point, in the order they were reached.
    pub log: Vec<SchedEvent>,
    /// The run ended in a deadlock (see [`Abandon::Deadlock`]).
    pub deadlock: bool,
    /// How many decisions were taken (bits of `choices` consumed; at
    /// most 64).
    pub decisions: u32,
    /// The decisions taken, as bits (bit `i`: decision `i` switched):
    /// [`Policy::Bits`]`(taken)` replays the run.
    pub taken: u64,
    /// Points reached by CPUs that were not abandoned or quiet (the
    /// steps PCT counts).
    pub points: u32,
}

/// How a [`Scheduler`] takes its decisions (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// One bit per decision, bit 0 first; 1 switches.
    Bits(u64),
    /// PCT: priorities and change points.
    Pct(Pct),
}

/// The parameters of one PCT run (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pct {
    /// Initial priority of each CPU: distinct, each at least the depth
    /// (greater runs first).
    pub priorities: Vec<u32>,
    /// Change points in order (`d - 1` of them for depth `d`): at the point
    /// with index `change_points[j]` the running CPU's priority becomes
    /// `j + 1`, below every initial priority.
    pub change_points: Vec<u32>,
}

impl Pct {
    /// A PCT run of depth `depth` (>= 1) over `ncpus` CPUs and an estimate
    /// of `n` points per run, drawn from `rand` (any uniform 64-bit
    /// source): a random permutation of the priorities `depth ..
    /// depth + ncpus` and `depth - 1` change points uniform in `0..n`.
    pub fn draw(depth: u32, ncpus: usize, n: u32, mut rand: impl FnMut() -> u64) -> Pct {
        let depth = depth.max(1);
        let mut priorities: Vec<u32> = (0..ncpus as u32).map(|i| depth + i).collect();
        // Fisher-Yates.
        for i in (1..priorities.len()).rev() {
            let j = (rand() % (i as u64 + 1)) as usize;
            priorities.swap(i, j);
        }
        let n = n.max(1) as u64;
        let change_points = (1..depth).map(|_| (rand() % n) as u32).collect();
        Pct {
            priorities,
            change_points,
        }
    }
}

/// Decisions taken from `choices` at most.
pub const MAX_DECISIONS: u32 = 64;

struct State {
    current: usize,
    finished: Vec<bool>,
    blocked: Vec<bool>,
    owner: Option<usize>,
    used: u32,
    /// Decisions taken as bits (see [`RunReport::taken`]).
    taken: u64,
    /// Points reached, for PCT's change points.
    points: u32,
    /// Current priorities (PCT only).
    priority: Vec<u32>,
    log: Vec<SchedEvent>,
    died: Option<usize>,
    deadlock: bool,
}

/// How the calls of one CPU behave.
enum Mode {
    Normal,
    /// This CPU died: its later calls have no effect.
    Quiet,
    Abandoned(Abandon),
}

impl State {
    fn new(ncpus: usize) -> Self {
        State {
            current: 0,
            finished: vec![false; ncpus],
            blocked: vec![false; ncpus],
            owner: None,
            used: 0,
            taken: 0,
            points: 0,
            priority: Vec::new(),
            log: Vec::new(),
            died: None,
            deadlock: false,
        }
    }

    fn ncpus(&self) -> usize {
        self.finished.len()
    }

    fn mode(&self, cpu: usize) -> Mode {
        match self.died {
            Some(d) if d == cpu => Mode::Quiet,
            Some(_) => Mode::Abandoned(Abandon::Dead),
            None if self.deadlock => Mode::Abandoned(Abandon::Deadlock),
            None => Mode::Normal,
        }
    }

    fn check(&self, cpu: usize) -> Result<(), Abandon> {
        match self.mode(cpu) {
            Mode::Abandoned(a) => Err(a),
            _ => Ok(()),
        }
    }

    fn runnable(&self, cpu: usize) -> bool {
        !self.finished[cpu] && !self.blocked[cpu]
    }

    /// The first CPU after `me` in cyclic order (`me` itself last if
    /// `include_me`) that `ok` accepts.
    fn next_after(&self, me: usize, include_me: bool, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.ncpus();
        let last = if include_me { n } else { n - 1 };
        (1..=last).map(|k| (me + k) % n).find(|&i| ok(i))
    }

    fn log(&mut self, cpu: usize, call: Call, blocked: bool) {
        self.log.push(SchedEvent {
            cpu: cpu as u8,
            call,
            blocked,
        });
    }

    /// `me` blocks or finishes: hand the baton on without a decision.
    fn pass_baton(&mut self, me: usize) {
        let abandoning = self.died.is_some() || self.deadlock;
        let next = if abandoning {
            self.next_after(me, true, |i| !self.finished[i])
        } else if let Some(i) = self.next_after(me, true, |i| self.runnable(i)) {
            Some(i)
        } else if let Some(i) = self.next_after(me, true, |i| !self.finished[i]) {
            // Nobody can run, yet somebody has not finished: they all wait
            // for the lock.
            self.deadlock = true;
            Some(i)
        } else {
            None
        };
        if let Some(i) = next {
            self.current = i;
        }
    }
}

/// What carries the CPUs of a [`Scheduler::run`] (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Stackful coroutines on the calling thread, switched in user space.
    Coroutines,
    /// One OS thread per CPU (CPU 0 on the calling thread), handed the
    /// baton through a `Mutex`/`Condvar`.
    Threads,
}

impl Backend {
    /// Whether this build can run CPUs as coroutines (`cfg(segtab_coro)`).
    pub const COROUTINES_BUILT: bool = cfg!(segtab_coro);

    /// The backend [`Scheduler::new`] uses: coroutines where built, unless
    /// the environment variable `SEGTAB_SCHED` is `threads` (read once per
    /// process).
    pub fn process_default() -> Backend {
        static DEFAULT: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();
        *DEFAULT.get_or_init(|| {
            let threads = std::env::var_os("SEGTAB_SCHED").is_some_and(|v| v == "threads");
            if Backend::COROUTINES_BUILT && !threads {
                Backend::Coroutines
            } else {
                Backend::Threads
            }
        })
    }
}

/// A deterministic baton-passing scheduler (see the module docs).
pub struct Scheduler {
    ncpus: usize,
    policy: Policy,
    backend: Backend,
    state: Mutex<State>,
    turn: Condvar,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("ncpus", &self.ncpus)
            .field("policy", &self.policy)
            .field("backend", &self.backend)
            .finish()
    }
}

/// This thread's running CPU: its scheduler, its number and, for a
/// coroutine, its context (null on a CPU thread).
type Running = (*const Scheduler, usize, *const coro::CpuCtx);

thread_local! {
    /// The running CPU of this thread, while a body runs on it. A coroutine
    /// CPU sets it again each time it resumes (the other CPUs of the thread
    /// set it to themselves meanwhile).
    static CURRENT: Cell<Running> =
        const { Cell::new((std::ptr::null(), 0, std::ptr::null())) };
}

/// The scheduler and CPU of this thread, if it runs a body.
#[inline]
fn current() -> Option<(&'static Scheduler, usize)> {
    let (s, cpu, _) = CURRENT.with(Cell::get);
    // SAFETY: CURRENT is non-null only while `Scheduler::run` of `*s` runs
    // this thread's body, and `run` does not return before every body has
    // cleared it (threads are scoped inside `run`, coroutines are driven to
    // their end by it); the 'static lifetime never escapes this module's
    // functions.
    (!s.is_null()).then(|| (unsafe { &*s }, cpu))
}

/// Clears CURRENT and finishes the CPU even if its body unwinds.
struct Finish<'a> {
    sched: &'a Scheduler,
    cpu: usize,
    panicked: bool,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set((std::ptr::null(), 0, std::ptr::null())));
        let mut st = self.sched.lock();
        if self.panicked && st.died.is_none() {
            st.died = Some(self.cpu);
        }
        st.finished[self.cpu] = true;
        st.blocked[self.cpu] = false;
        st.pass_baton(self.cpu);
        drop(st);
        self.sched.wake();
    }
}

impl Scheduler {
    /// `ncpus` CPUs (2 in practice, at most 256); `choices` supplies one
    /// bit per decision, bit 0 first. The CPUs run on
    /// [`Backend::process_default`].
    pub fn new(ncpus: usize, choices: u64) -> Self {
        Self::with_backend(ncpus, choices, Backend::process_default())
    }

    /// As [`new`](Self::new), on `backend`; [`Backend::Threads`] if
    /// coroutines are asked for and not built (see [`backend`](Self::backend)).
    pub fn with_backend(ncpus: usize, choices: u64, backend: Backend) -> Self {
        Self::with_policy_on(ncpus, Policy::Bits(choices), backend)
    }

    /// `ncpus` CPUs deciding by `policy`, on [`Backend::process_default`].
    pub fn with_policy(ncpus: usize, policy: Policy) -> Self {
        Self::with_policy_on(ncpus, policy, Backend::process_default())
    }

    /// As [`with_policy`](Self::with_policy), on `backend` (see
    /// [`with_backend`](Self::with_backend)).
    pub fn with_policy_on(ncpus: usize, policy: Policy, backend: Backend) -> Self {
        assert!(
            (1..=256).contains(&ncpus),
            "a scheduler has 1 to 256 CPUs, not {ncpus}"
        );
        let backend = if Backend::COROUTINES_BUILT {
            backend
        } else {
            Backend::Threads
        };
        if let Policy::Pct(p) = &policy {
            assert_eq!(p.priorities.len(), ncpus, "a PCT priority per CPU");
        }
        Scheduler {
            ncpus,
            policy,
            backend,
            state: Mutex::new(State::new(ncpus)),
            turn: Condvar::new(),
        }
    }

    /// How many CPUs.
    pub fn ncpus(&self) -> usize {
        self.ncpus
    }

    /// The decision bits ([`Policy::Bits`]; 0 under PCT).
    pub fn choices(&self) -> u64 {
        match self.policy {
            Policy::Bits(b) => b,
            Policy::Pct(_) => 0,
        }
    }

    /// How decisions are taken.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A fresh state for a run.
    fn fresh(&self) -> State {
        let mut st = State::new(self.ncpus);
        if let Policy::Pct(p) = &self.policy {
            st.priority = p.priorities.clone();
        }
        st
    }

    /// What carries the CPUs.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked while holding it;
        // no code here panics with it held, so the state is consistent.
        // (With coroutines the lock is never contended: one thread.)
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells waiting CPU threads that `current` changed. Coroutines wait
    /// for nothing: the driver resumes `current` when the running one
    /// suspends or finishes.
    fn wake(&self) {
        if self.backend == Backend::Threads {
            self.turn.notify_all();
        }
    }

    /// Until `current` is `me`: wait (a thread) or suspend (a coroutine,
    /// resumed by the driver only once it is `me`'s turn).
    fn wait_turn<'a>(&'a self, mut st: MutexGuard<'a, State>, me: usize) -> MutexGuard<'a, State> {
        while st.current != me {
            match self.backend {
                Backend::Threads => {
                    st = self.turn.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                Backend::Coroutines => {
                    drop(st);
                    coro::switch_out();
                    st = self.lock();
                }
            }
        }
        st
    }

    /// Runs `body(cpu)` for cpu in `0..ncpus`, each as its own CPU (a
    /// coroutine or a thread, see [`Backend`]), one at a time: CPU 0 runs
    /// first; a CPU runs until it reaches a point where the scheduler
    /// switches, or until its body returns (then the next runnable CPU
    /// runs). Inside a body, [`point`], [`lock_enter`], ... reach this
    /// scheduler through a thread-local.
    ///
    /// Every run starts afresh (the same `choices`, no lock owner, an empty
    /// log), so running twice gives the same schedule, on either backend.
    ///
    /// A body that panics (a Rust unwind) counts as finished and as having
    /// [`died`]: the other CPUs are abandoned with [`Abandon::Dead`] and
    /// `run` never hangs; once every CPU has ended, the panic of the
    /// lowest-numbered CPU that panicked is resumed (the report is lost).
    ///
    /// # Panics
    /// If called from inside a body of a run (runs do not nest).
    pub fn run<R: Send>(&self, body: impl Fn(usize) -> R + Sync) -> RunReport<R> {
        assert!(
            current().is_none(),
            "Scheduler::run called from inside a scheduled body"
        );
        *self.lock() = self.fresh();
        let body = &body;
        let outcomes: Vec<std::thread::Result<R>> = match self.backend {
            Backend::Coroutines => coro::run(self, &|cpu| self.cpu_body(cpu, body)),
            Backend::Threads => {
                let slots: Vec<Mutex<Option<std::thread::Result<R>>>> =
                    (0..self.ncpus).map(|_| Mutex::new(None)).collect();
                let job = |cpu: usize| {
                    let r = self.cpu_body(cpu, body);
                    *slots[cpu].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                };
                cpus::run(self.ncpus, &job);
                slots
                    .into_iter()
                    .map(|m| {
                        m.into_inner()
                            .unwrap_or_else(|e| e.into_inner())
                            .expect("every CPU thread reports")
                    })
                    .collect()
            }
        };
        let st = std::mem::replace(&mut *self.lock(), self.fresh());
        let mut results = Vec::with_capacity(self.ncpus);
        for o in outcomes {
            match o {
                Ok(r) => results.push(r),
                Err(payload) => panic::resume_unwind(payload),
            }
        }
        RunReport {
            results,
            log: st.log,
            deadlock: st.deadlock,
            decisions: st.used,
            taken: st.taken,
            points: st.points,
        }
    }

    /// One CPU, on its thread or coroutine, whose CURRENT entry the caller
    /// set (a coroutine: with its context) or leaves to this (a thread).
    /// Never unwinds: the body's panic is caught here, inside the CPU's
    /// context, so it never crosses a switch.
    fn cpu_body<R>(
        &self,
        cpu: usize,
        body: &(impl Fn(usize) -> R + Sync),
    ) -> std::thread::Result<R> {
        let mut finish = Finish {
            sched: self,
            cpu,
            panicked: true,
        };
        drop(self.wait_turn(self.lock(), cpu));
        if self.backend == Backend::Threads {
            CURRENT.with(|c| c.set((self as *const Scheduler, cpu, std::ptr::null())));
        }
        let r = panic::catch_unwind(AssertUnwindSafe(|| body(cpu)));
        finish.panicked = r.is_err();
        drop(finish);
        r
    }

    fn point(&self, me: usize, call: Call) -> Result<(), Abandon> {
        let mut st = self.lock();
        match st.mode(me) {
            Mode::Normal => {}
            Mode::Quiet => return Ok(()),
            Mode::Abandoned(a) => return Err(a),
        }
        st.log(me, call, false);
        let index = st.points;
        st.points += 1;
        if let Policy::Pct(p) = &self.policy {
            // PCT lowers the running CPU's priority at a change point
            // whether or not a decision follows (ASPLOS 2010, Fig. 2).
            for (j, &k) in p.change_points.iter().enumerate() {
                if k == index {
                    st.priority[me] = j as u32 + 1;
                }
            }
        }
        if st.used >= MAX_DECISIONS {
            return Ok(());
        }
        let Some(next) = st.next_after(me, false, |i| st.runnable(i)) else {
            return Ok(());
        };
        // PCT: the highest-priority runnable CPU.
        let top = match &self.policy {
            Policy::Pct(_) => (0..st.ncpus())
                .filter(|&i| st.runnable(i))
                .max_by_key(|&i| st.priority[i]),
            Policy::Bits(_) => None,
        };
        let switch = match &self.policy {
            Policy::Bits(choices) => (choices >> st.used) & 1 == 1,
            // Keep running iff no runnable CPU outranks this one.
            Policy::Pct(_) => top != Some(me),
        };
        if switch {
            st.taken |= 1 << st.used;
        }
        st.used += 1;
        if !switch {
            return Ok(());
        }
        // Which CPU: the runnable ones after this one in cyclic order,
        // `next` first. With one (always, with two CPUs) there is nothing
        // to decide; with more, each candidate but the last takes a
        // decision of its own (1: pass it over), so a switch to the k-th
        // candidate reads k further ones and a 0 (fewer if it is the last).
        let n = st.ncpus();
        let others: Vec<usize> = (1..n)
            .map(|k| (me + k) % n)
            .filter(|&i| st.runnable(i))
            .collect();
        debug_assert_eq!(others.first(), Some(&next));
        let want = top.and_then(|t| others.iter().position(|&i| i == t));
        let mut pick = 0;
        while pick + 1 < others.len() && st.used < MAX_DECISIONS {
            let skip = match &self.policy {
                Policy::Bits(choices) => (choices >> st.used) & 1 == 1,
                Policy::Pct(_) => want.is_some_and(|w| pick < w),
            };
            if skip {
                st.taken |= 1 << st.used;
            }
            st.used += 1;
            if !skip {
                break;
            }
            pick += 1;
        }
        st.current = others[pick];
        self.wake();
        let st = self.wait_turn(st, me);
        st.check(me)
    }

    fn lock_enter(&self, me: usize) -> Result<(), Abandon> {
        self.point(me, Call::SpinEnter)?;
        let mut st = self.lock();
        match st.mode(me) {
            Mode::Normal => {}
            Mode::Quiet => return Ok(()),
            Mode::Abandoned(a) => return Err(a),
        }
        loop {
            match st.owner {
                None => break,
                // The caller panics ("locking against myself").
                Some(o) if o == me => return Ok(()),
                Some(_) => {}
            }
            st.blocked[me] = true;
            st.log(me, Call::SpinEnter, true);
            st.pass_baton(me);
            self.wake();
            st = self.wait_turn(st, me);
            if let Err(a) = st.check(me) {
                st.blocked[me] = false;
                return Err(a);
            }
        }
        st.owner = Some(me);
        Ok(())
    }

    fn lock_exit(&self, me: usize) -> Result<(), Abandon> {
        self.point(me, Call::SpinExit)?;
        let mut st = self.lock();
        if st.owner == Some(me) {
            st.owner = None;
            st.blocked.iter_mut().for_each(|b| *b = false);
        }
        Ok(())
    }

    fn died(&self, me: usize) {
        let mut st = self.lock();
        if st.died.is_none() {
            st.died = Some(me);
        }
    }
}

/// The CPU this thread runs as, inside a [`Scheduler::run`] body.
#[inline]
pub fn this_cpu() -> Option<usize> {
    current().map(|(_, cpu)| cpu)
}

/// A point: log `call`, then maybe switch to another CPU (see the module
/// docs). `Err` if this CPU must abandon what it is doing.
#[inline]
pub fn point(call: Call) -> Result<(), Abandon> {
    match current() {
        None => Ok(()),
        Some((s, cpu)) => s.point(cpu, call),
    }
}

/// `mutex_spin_enter`: [`point`]`(SpinEnter)`; then, while another CPU owns
/// the lock, this CPU is blocked (logged with `blocked: true`) and another
/// one runs; then this CPU owns the lock. If this CPU already owns it,
/// returns `Ok` at once (the caller panics, "locking against myself").
/// `Err(Deadlock)` if nobody could ever release it.
#[inline]
pub fn lock_enter() -> Result<(), Abandon> {
    match current() {
        None => Ok(()),
        Some((s, cpu)) => s.lock_enter(cpu),
    }
}

/// `mutex_spin_exit`: [`point`]`(SpinExit)` while still owning the lock,
/// then release it (if this CPU owns it), making the CPUs that wait for it
/// runnable. On `Err` the lock stays owned (nobody will take it: the run is
/// being abandoned).
#[inline]
pub fn lock_exit() -> Result<(), Abandon> {
    match current() {
        None => Ok(()),
        Some((s, cpu)) => s.lock_exit(cpu),
    }
}

/// This CPU panicked: every other CPU gets `Err(Abandon::Dead)` when it next
/// resumes or reaches a point. The first CPU to die is the one that counts.
#[inline]
pub fn died() {
    if let Some((s, cpu)) = current() {
        s.died(cpu);
    }
}

/// How many points the current run has logged so far (0 outside a run):
/// where a CPU's next call starts in [`RunReport::log`], for reports that
/// show the interleaving call by call. Takes no decision.
pub fn log_len() -> usize {
    match current() {
        None => 0,
        Some((s, _)) => s.lock().log.len(),
    }
}

/// Whether this CPU must abandon, without logging or switching: `Err` after
/// another CPU [`died`] or in a deadlock. A body can call it first, so that
/// a CPU whose turn comes only after the world died does nothing.
#[inline]
pub fn check() -> Result<(), Abandon> {
    match current() {
        None => Ok(()),
        Some((s, cpu)) => s.lock().check(cpu),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    /// Every scenario below runs on both backends: the schedule, the log
    /// and the outcomes must not depend on what carries the CPUs.
    macro_rules! scenarios {
        ($backend:expr) => {
            use super::*;

            fn sched(ncpus: usize, choices: u64) -> Scheduler {
                let s = Scheduler::with_backend(ncpus, choices, $backend);
                if Backend::COROUTINES_BUILT {
                    assert_eq!(s.backend(), $backend);
                }
                s
            }

            fn ev(cpu: u8, call: Call, blocked: bool) -> SchedEvent {
                SchedEvent { cpu, call, blocked }
            }

            #[test]
            fn outside_run_everything_is_a_no_op() {
                assert_eq!(this_cpu(), None);
                for c in Call::ALL {
                    assert_eq!(point(c), Ok(()));
                }
                assert_eq!(lock_enter(), Ok(()));
                assert_eq!(lock_enter(), Ok(()));
                assert_eq!(lock_exit(), Ok(()));
                died();
                assert_eq!(check(), Ok(()));
                assert_eq!(point(Call::Alloc), Ok(()));
            }

            #[test]
            fn call_codes_round_trip() {
                for (i, c) in Call::ALL.iter().enumerate() {
                    assert_eq!(c.code(), i as i32);
                    assert_eq!(Call::from_code(i as i32), Some(*c));
                }
                assert_eq!(Call::from_code(-1), None);
                assert_eq!(Call::from_code(10), None);
            }

            /// Each CPU reaches Alloc, Map, Free; `trace` records who ran what.
            fn three_points(choices: u64) -> (RunReport<usize>, Vec<(usize, u32)>) {
                let trace = StdMutex::new(Vec::new());
                let s = sched(2, choices);
                let r = s.run(|cpu| {
                    assert_eq!(this_cpu(), Some(cpu));
                    for (i, c) in [Call::Alloc, Call::Map, Call::Free].into_iter().enumerate() {
                        trace.lock().unwrap().push((cpu, i as u32));
                        point(c).unwrap();
                    }
                    cpu * 10
                });
                (r, trace.into_inner().unwrap())
            }

            /// A lock-using body under `policy`: CPU i takes the lock,
            /// allocates, releases, then maps.
            fn locked_run(policy: Policy) -> RunReport<usize> {
                let s = Scheduler::with_policy_on(2, policy, $backend);
                s.run(|cpu| {
                    lock_enter().unwrap();
                    point(Call::Alloc).unwrap();
                    lock_exit().unwrap();
                    point(Call::Map).unwrap();
                    cpu
                })
            }

            /// PCT: the higher-priority CPU runs until a change point
            /// lowers it; the bits it took replay the run exactly.
            #[test]
            fn pct_follows_priorities_and_its_bits_replay_it() {
                let pct = |priorities: Vec<u32>, change_points: Vec<u32>| {
                    Policy::Pct(Pct {
                        priorities,
                        change_points,
                    })
                };
                // CPU 1 outranks CPU 0: switched to at CPU 0's first point.
                let (r, trace) = {
                    let trace = StdMutex::new(Vec::new());
                    let s = Scheduler::with_policy_on(2, pct(vec![1, 2], vec![]), $backend);
                    let r = s.run(|cpu| {
                        for c in [Call::Alloc, Call::Map, Call::Free] {
                            trace.lock().unwrap().push(cpu);
                            point(c).unwrap();
                        }
                    });
                    (r, trace.into_inner().unwrap())
                };
                assert_eq!(trace, vec![0, 1, 1, 1, 0, 0]);
                assert_eq!(r.taken & 1, 1);
                assert_eq!(r.points, 6);
                // Depth 2: CPU 0 first (priority 3), lowered to 1 at point 1.
                let r = locked_run(pct(vec![3, 2], vec![1]));
                let cpus: Vec<u8> = r.log.iter().map(|e| e.cpu).collect();
                assert_eq!(cpus[..2], [0, 0]);
                assert_eq!(r.log[2].cpu, 1, "{:?}", r.log);
                for (prio, cps) in [
                    (vec![2, 3], vec![]),
                    (vec![3, 2], vec![0]),
                    (vec![4, 5], vec![2, 4]),
                ] {
                    let r = locked_run(pct(prio, cps));
                    let again = locked_run(Policy::Bits(r.taken));
                    assert_eq!((&r.log, r.decisions), (&again.log, again.decisions));
                    assert_eq!(again.taken, r.taken);
                }
            }

            #[test]
            fn pct_draws_distinct_priorities_at_least_the_depth() {
                let mut x = 7u64;
                let mut rand = || {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    x >> 11
                };
                for d in 1..5 {
                    let p = Pct::draw(d, 3, 10, &mut rand);
                    let mut sorted = p.priorities.clone();
                    sorted.sort();
                    assert_eq!(sorted, vec![d, d + 1, d + 2]);
                    assert_eq!(p.change_points.len() as u32, d - 1);
                    assert!(p.change_points.iter().all(|&k| k < 10));
                }
            }

            #[test]
            fn no_switch_runs_cpu0_then_cpu1() {
                let (r, trace) = three_points(0);
                assert_eq!(r.results, vec![0, 10]);
                assert!(!r.deadlock);
                // Only CPU 0's points are decisions: CPU 1 ran alone.
                assert_eq!(r.decisions, 3);
                assert_eq!(trace, vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
                let cpus: Vec<u8> = r.log.iter().map(|e| e.cpu).collect();
                assert_eq!(cpus, vec![0, 0, 0, 1, 1, 1]);
            }

            #[test]
            fn interleaving_follows_the_bits() {
                // bit 0 (CPU 0 at Alloc): switch; bit 1 (CPU 1 at Alloc): keep;
                // bit 2 (CPU 1 at Map): switch; bit 3 (CPU 0 at Map): keep;
                // bit 4 (CPU 0 at Free): keep; CPU 0 finishes, CPU 1 resumes.
                let (r, trace) = three_points(0b00101);
                assert_eq!(trace, vec![(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (1, 2)]);
                assert_eq!(
                    r.log,
                    vec![
                        ev(0, Call::Alloc, false),
                        ev(1, Call::Alloc, false),
                        ev(1, Call::Map, false),
                        ev(0, Call::Map, false),
                        ev(0, Call::Free, false),
                        ev(1, Call::Free, false),
                    ]
                );
                assert_eq!(r.decisions, 5);
                // Deterministic: the same input gives the same run.
                for _ in 0..20 {
                    assert_eq!(three_points(0b00101).1, trace);
                }
                // The scheduler can be reused.
                let s = sched(2, 0b1);
                let a = s.run(|_| point(Call::Cas).unwrap());
                let b = s.run(|_| point(Call::Cas).unwrap());
                assert_eq!(a, b);
            }

            #[test]
            fn cyclic_order_with_three_cpus() {
                // Each switch (1) takes the first candidate (0): cyclic.
                let s = sched(3, 0x5555_5555_5555_5555);
                let r = s.run(|_| {
                    point(Call::Alloc).unwrap();
                    point(Call::Free).unwrap();
                });
                let cpus: Vec<u8> = r.log.iter().map(|e| e.cpu).collect();
                assert_eq!(cpus, vec![0, 1, 2, 0, 1, 2]);
                // Each switch passes the first candidate over: the second.
                let s = sched(3, !0);
                let r = s.run(|_| {
                    point(Call::Alloc).unwrap();
                    point(Call::Free).unwrap();
                });
                let cpus: Vec<u8> = r.log.iter().map(|e| e.cpu).collect();
                assert_eq!(cpus, vec![0, 2, 1, 0, 2, 1]);
                // Replaying what was taken takes the same turns.
                let again = sched(3, r.taken).run(|_| {
                    point(Call::Alloc).unwrap();
                    point(Call::Free).unwrap();
                });
                assert_eq!(again.log, r.log);
            }

            #[test]
            fn a_switch_among_three_others_picks_any_of_them() {
                // CPU 0 at its first point: switch, then pass over k
                // candidates (1, 2, 3 in cyclic order).
                for (k, bits) in [(0usize, 0b01u64), (1, 0b011), (2, 0b111)] {
                    let r = sched(4, bits).run(|_| {
                        point(Call::Alloc).unwrap();
                    });
                    assert_eq!(r.log[1].cpu as usize, k + 1, "{bits:#b}: {:?}", r.log);
                    assert_eq!(r.taken, bits);
                }
            }

            #[test]
            fn pct_switches_to_the_highest_priority_cpu() {
                // CPU 0 runs first; at its first point CPU 2 outranks it
                // and CPU 1: PCT goes there directly.
                let p = Pct {
                    priorities: vec![5, 3, 9, 4],
                    change_points: vec![],
                };
                let r = Scheduler::with_policy_on(4, Policy::Pct(p), $backend).run(|_| {
                    point(Call::Alloc).unwrap();
                });
                let cpus: Vec<u8> = r.log.iter().map(|e| e.cpu).collect();
                assert_eq!(cpus[..2], [0, 2], "{cpus:?}");
            }

            #[test]
            fn after_64_decisions_the_cpu_keeps_running() {
                let s = sched(2, !0);
                let r = s.run(|_| {
                    for _ in 0..100 {
                        point(Call::Map).unwrap();
                    }
                });
                assert_eq!(r.decisions, MAX_DECISIONS);
                let switches = r.log.windows(2).filter(|w| w[0].cpu != w[1].cpu).count();
                // 64 switches, then CPU 0 (whose turn it is again) runs to the end,
                // then CPU 1.
                assert_eq!(switches, 65);
                assert_eq!(r.log.len(), 200);
            }

            #[test]
            fn a_cpu_blocks_on_a_lock_held_across_a_point() {
                // CPU 0: enter (bit 0 = 0), Alloc (bit 1 = 1: switch holding the
                // lock); CPU 1: enter (bit 2 = 0), finds the lock held, blocks:
                // CPU 0 runs on (its exit point takes no decision, CPU 1 being
                // blocked), releases, finishes; CPU 1 takes the lock.
                let order = StdMutex::new(Vec::new());
                let s = sched(2, 0b0010);
                let r = s.run(|cpu| {
                    lock_enter().unwrap();
                    order.lock().unwrap().push((cpu, "in"));
                    if cpu == 0 {
                        point(Call::Alloc).unwrap();
                    }
                    order.lock().unwrap().push((cpu, "out"));
                    lock_exit().unwrap();
                });
                assert!(!r.deadlock);
                assert_eq!(
                    order.into_inner().unwrap(),
                    vec![(0, "in"), (0, "out"), (1, "in"), (1, "out")]
                );
                assert_eq!(
                    r.log,
                    vec![
                        ev(0, Call::SpinEnter, false),
                        ev(0, Call::Alloc, false),
                        ev(1, Call::SpinEnter, false),
                        ev(1, Call::SpinEnter, true),
                        ev(0, Call::SpinExit, false),
                        ev(1, Call::SpinExit, false),
                    ]
                );
            }

            #[test]
            fn a_blocked_cpu_is_not_chosen_until_the_lock_is_released() {
                // All ones: every decision switches, but CPU 1 is blocked while CPU 0
                // holds the lock, so CPU 0's points there take no decision.
                let s = sched(2, !0);
                let r = s.run(|cpu| {
                    if cpu == 0 {
                        lock_enter().unwrap();
                        point(Call::Alloc).unwrap(); // switch: CPU 1 blocks
                        point(Call::Map).unwrap(); // CPU 1 blocked: no decision
                        lock_exit().unwrap(); // no decision (CPU 1 blocked until the release)
                        point(Call::Free).unwrap(); // switch to CPU 1
                    } else {
                        lock_enter().unwrap();
                        lock_exit().unwrap();
                    }
                });
                assert_eq!(
                    r.log,
                    vec![
                        ev(0, Call::SpinEnter, false), // bit 0: switch
                        ev(1, Call::SpinEnter, false), // bit 1: switch
                        ev(0, Call::Alloc, false),     // bit 2: switch
                        ev(1, Call::SpinEnter, true),
                        ev(0, Call::Map, false),
                        ev(0, Call::SpinExit, false),
                        ev(0, Call::Free, false), // bit 3: switch; CPU 1 takes the lock
                        ev(1, Call::SpinExit, false), // bit 4: switch; CPU 0 finishes
                    ]
                );
                assert_eq!(r.decisions, 5);
            }

            #[test]
            fn lock_enter_by_the_owner_returns_at_once() {
                let s = sched(2, 0);
                let r = s.run(|cpu| {
                    if cpu == 0 {
                        lock_enter().unwrap();
                        let again = lock_enter();
                        lock_exit().unwrap();
                        again
                    } else {
                        Ok(())
                    }
                });
                assert_eq!(r.results, vec![Ok(()), Ok(())]);
                assert!(!r.deadlock);
            }

            #[test]
            fn finishing_with_the_lock_held_is_a_deadlock() {
                let s = sched(2, 0);
                let r = s.run(|cpu| {
                    if cpu == 0 {
                        lock_enter().map(|()| "holds")
                    } else {
                        let e = lock_enter();
                        // Abandoned: later calls say so too.
                        assert_eq!(point(Call::Alloc), Err(Abandon::Deadlock));
                        assert_eq!(check(), Err(Abandon::Deadlock));
                        e.map(|()| "entered")
                    }
                });
                assert!(r.deadlock);
                assert_eq!(r.results, vec![Ok("holds"), Err(Abandon::Deadlock)]);
                assert_eq!(
                    r.log,
                    vec![
                        ev(0, Call::SpinEnter, false),
                        ev(1, Call::SpinEnter, false),
                        ev(1, Call::SpinEnter, true),
                    ]
                );
            }

            #[test]
            fn deadlock_with_three_cpus_abandons_every_waiter() {
                let s = sched(3, 0);
                let r = s.run(|_| lock_enter());
                assert!(r.deadlock);
                assert_eq!(
                    r.results,
                    vec![Ok(()), Err(Abandon::Deadlock), Err(Abandon::Deadlock)]
                );
            }

            #[test]
            fn died_abandons_the_other_cpu() {
                // bit 0: CPU 0 switches at Alloc; bit 1: CPU 1 switches back at Map;
                // CPU 0 dies; CPU 1 resumes with Err(Dead).
                let s = sched(2, 0b11);
                let r = s.run(|cpu| {
                    if cpu == 0 {
                        point(Call::Alloc).unwrap();
                        died();
                        // The dead CPU's own later calls do nothing.
                        assert_eq!(point(Call::Free), Ok(()));
                        assert_eq!(lock_enter(), Ok(()));
                        assert_eq!(check(), Ok(()));
                        Ok(())
                    } else {
                        let r = point(Call::Map);
                        assert_eq!(point(Call::Unmap), Err(Abandon::Dead));
                        r
                    }
                });
                assert_eq!(r.results, vec![Ok(()), Err(Abandon::Dead)]);
                assert!(!r.deadlock);
                assert_eq!(
                    r.log,
                    vec![ev(0, Call::Alloc, false), ev(1, Call::Map, false)]
                );
            }

            #[test]
            fn died_wakes_a_cpu_blocked_on_the_lock() {
                let s = sched(2, 0b10);
                let r = s.run(|cpu| {
                    if cpu == 0 {
                        lock_enter().unwrap();
                        point(Call::Alloc).unwrap(); // switch: CPU 1 blocks
                        died(); // dies holding the lock
                        Ok(())
                    } else {
                        lock_enter()
                    }
                });
                assert_eq!(r.results, vec![Ok(()), Err(Abandon::Dead)]);
                assert!(!r.deadlock);
            }

            #[test]
            fn a_cpu_whose_turn_comes_after_a_death_can_tell() {
                let s = sched(2, 0);
                let r = s.run(|cpu| {
                    if cpu == 0 {
                        died();
                        Ok(())
                    } else {
                        check()
                    }
                });
                assert_eq!(r.results, vec![Ok(()), Err(Abandon::Dead)]);
            }

            #[test]
            fn a_panicking_body_abandons_the_others_and_is_resumed() {
                let seen = StdMutex::new(None);
                let s = sched(2, 0b11);
                let r = panic::catch_unwind(AssertUnwindSafe(|| {
                    s.run(|cpu| {
                        if cpu == 0 {
                            point(Call::Alloc).unwrap();
                            lock_enter().unwrap();
                            panic!("body of cpu 0");
                        } else {
                            let r = point(Call::Map).and_then(|()| lock_enter());
                            *seen.lock().unwrap() = Some(r);
                        }
                    })
                }));
                let payload = r.unwrap_err();
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"body of cpu 0"));
                assert_eq!(*seen.lock().unwrap(), Some(Err(Abandon::Dead)));
                // The scheduler is usable again.
                let ok = s.run(|cpu| cpu);
                assert_eq!(ok.results, vec![0, 1]);
            }

            #[test]
            fn handoffs_order_plain_memory() {
                // Non-atomic shared data, written by whichever CPU runs: the
                // Mutex/Condvar handoff must order the accesses.
                struct Shared(std::cell::UnsafeCell<u64>);
                // SAFETY: only the CPU holding the baton touches it.
                unsafe impl Sync for Shared {}
                let x = &Shared(std::cell::UnsafeCell::new(0));
                let s = sched(2, 0x5555_5555_5555_5555);
                let r = s.run(|_| {
                    for _ in 0..1000 {
                        // SAFETY: one CPU runs at a time.
                        unsafe { *x.0.get() += 1 };
                        point(Call::Cas).unwrap();
                    }
                });
                assert_eq!(r.results.len(), 2);
                assert_eq!(unsafe { *x.0.get() }, 2000);
            }

            #[test]
            fn runs_do_not_nest() {
                let s = sched(1, 0);
                let r = panic::catch_unwind(AssertUnwindSafe(|| {
                    s.run(|_| {
                        let inner = sched(1, 0);
                        inner.run(|_| ());
                    })
                }));
                assert!(r.is_err());
            }
        };
    }

    mod on_threads {
        scenarios!(Backend::Threads);
    }

    #[test]
    fn coroutine_cpus_are_the_calling_thread_and_thread_cpus_are_not() {
        let me = std::thread::current().id();
        let ids = |backend| {
            let s = Scheduler::with_backend(2, !0, backend);
            s.run(|cpu| {
                point(Call::Alloc).unwrap();
                assert_eq!(this_cpu(), Some(cpu));
                std::thread::current().id()
            })
            .results
        };
        // CPU 0 runs on the calling thread either way.
        assert_eq!(ids(Backend::Threads)[0], me);
        assert_ne!(ids(Backend::Threads)[1], me);
        if Backend::COROUTINES_BUILT {
            // Many runs: the stacks are reused, the thread stays the caller.
            for _ in 0..1000 {
                assert_eq!(ids(Backend::Coroutines), vec![me, me]);
            }
        }
        assert_eq!(this_cpu(), None);
    }

    mod on_coroutines {
        scenarios!(Backend::Coroutines);
    }
}

/// The threads CPUs run on. Spawning two threads per concurrent step costs
/// far more than the step (hundreds of microseconds on a loaded VM), so
/// each thread that runs schedules keeps its own CPU threads and hands them
/// work, as a scoped spawn would: [`run`](cpus::run) returns only when
/// every CPU's job has returned.
mod cpus {
    use std::cell::RefCell;
    use std::sync::mpsc::{channel, Receiver, Sender};

    /// A job borrowed from the caller of `run`, which outlives its use.
    struct Job(&'static (dyn Fn(usize) + Sync), usize);

    struct Cpus {
        jobs: Vec<Sender<Job>>,
        done: Receiver<()>,
        done_tx: Sender<()>,
    }

    thread_local! {
        static CPUS: RefCell<Option<Cpus>> = const { RefCell::new(None) };
    }

    fn spawn(i: usize, done: Sender<()>) -> Sender<Job> {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name(format!("sched-cpu{i}"))
            .spawn(move || {
                for Job(f, cpu) in rx {
                    // A job must not unwind (`cpu_thread` catches the
                    // body's panics): if it did, `run` could return while
                    // another CPU still borrows its frame.
                    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(cpu)));
                    if ok.is_err() {
                        eprintln!("sched: a CPU job unwound; aborting");
                        std::process::abort();
                    }
                    if done.send(()).is_err() {
                        return;
                    }
                }
            })
            .expect("spawning a CPU thread");
        tx
    }

    /// Runs `job(cpu)` for every cpu in `0..n` on the calling thread's CPU
    /// threads and waits until all have returned.
    pub(super) fn run(n: usize, job: &(dyn Fn(usize) + Sync)) {
        // SAFETY: the 'static lifetime is a lie told to the channel only:
        // this function does not return before every CPU thread has sent
        // `done` for this job, i.e. finished with it (a thread that cannot
        // report aborts the process instead), so the borrow is never used
        // after `job`'s frame ends.
        let job: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(job) };
        CPUS.with(|c| {
            let mut c = c.borrow_mut();
            let cpus = c.get_or_insert_with(|| {
                let (done_tx, done) = channel();
                Cpus {
                    jobs: Vec::new(),
                    done,
                    done_tx,
                }
            });
            while cpus.jobs.len() < n.saturating_sub(1) {
                let i = cpus.jobs.len() + 1;
                cpus.jobs.push(spawn(i, cpus.done_tx.clone()));
            }
            // CPU 0 runs on the calling thread (one hand-over fewer per
            // step); CPUs 1.. on the CPU threads.
            for (i, tx) in cpus.jobs.iter().take(n - 1).enumerate() {
                if tx.send(Job(job, i + 1)).is_err() {
                    // Jobs before this one are in flight and borrow the
                    // caller's frame: returning is not an option.
                    eprintln!("sched: a CPU thread is gone; aborting");
                    std::process::abort();
                }
            }
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(0)));
            for _ in 1..n {
                if cpus.done.recv().is_err() {
                    eprintln!("sched: lost a CPU thread; aborting");
                    std::process::abort();
                }
            }
            if let Err(p) = ok {
                std::panic::resume_unwind(p);
            }
        });
    }
}

/// The CPUs of a run as stackful coroutines on the calling thread (see the
/// module docs). The driver, [`run`](coro::run), resumes the CPU whose turn
/// it is (`State::current`) until every CPU has finished; a CPU gives the
/// baton back only by suspending in `Scheduler::wait_turn`.
#[cfg(segtab_coro)]
mod coro {
    use super::{Scheduler, CURRENT};
    use corosensei::stack::DefaultStack;
    #[cfg(segtab_asan)]
    use corosensei::stack::Stack;
    use corosensei::{Coroutine, CoroutineResult, Yielder};
    use std::cell::{Cell, RefCell};

    /// Stack of one CPU coroutine. The C and the port need a few KiB; a
    /// Rust panic with a backtrace (`RUST_BACKTRACE`) symbolizes on it, and
    /// ASan's redzones grow every frame: the size of a thread's default
    /// stack, of which only the pages touched are ever backed.
    const STACK_BYTES: usize = 2 << 20;

    /// What a suspended CPU needs to suspend and to be itself again,
    /// kept on its own coroutine stack for the life of its body.
    pub(super) struct CpuCtx {
        sched: *const Scheduler,
        cpu: usize,
        yielder: *const Yielder<(), ()>,
        /// The driver's stack, as ASan last reported it, for the switch back.
        #[cfg(segtab_asan)]
        parent: Cell<(*const u8, usize)>,
    }

    thread_local! {
        /// Stacks of finished coroutines, for the next run on this thread:
        /// mapping a stack (mmap and mprotect of its guard page) costs more
        /// than a concurrent step.
        ///
        /// Under ASan each stack keeps the fake stack (use-after-return
        /// frames) its last coroutine ran on: ASan maps a fresh one for a
        /// context it has not seen and unmaps it when the context ends, and
        /// that mapping, its page faults and its unmapping cost more than
        /// the step itself (measured: 2.6x the fuzzer's time per input).
        static STACKS: RefCell<Vec<(DefaultStack, FakeStack)>> = const { RefCell::new(Vec::new()) };
    }

    /// ASan's fake stack of a context, as its fiber interface hands it out
    /// (null: none yet; always null without ASan).
    type FakeStack = *mut std::ffi::c_void;

    /// Stack shadow cleared when a stack is reused (see `Fiber::drop`).
    #[cfg(segtab_asan)]
    const UNPOISON_BYTES: usize = 256 << 10;

    /// AddressSanitizer's fiber interface (`<sanitizer/common_interface_defs.h>`).
    #[cfg(segtab_asan)]
    mod asan {
        use std::ffi::c_void;
        unsafe extern "C" {
            pub fn __sanitizer_start_switch_fiber(
                fake_stack_save: *mut *mut c_void,
                bottom: *const c_void,
                size: usize,
            );
            pub fn __sanitizer_finish_switch_fiber(
                fake_stack_save: *mut c_void,
                bottom_old: *mut *const c_void,
                size_old: *mut usize,
            );
            // As pool.rs declares it (one signature per symbol).
            pub fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
        }
    }

    /// About to switch to the stack `[bottom, bottom + size)`. `save`: where
    /// this context's fake stack (ASan's use-after-return frames) is kept
    /// until it is switched back to; `None` for a context that will never
    /// run again (its fake stack is freed).
    #[cfg(segtab_asan)]
    fn start_switch(save: Option<&mut *mut std::ffi::c_void>, to: (*const u8, usize)) {
        let save = save.map_or(std::ptr::null_mut(), |s| s as *mut _);
        // SAFETY: ASan's documented protocol; `to` is a live stack.
        unsafe { asan::__sanitizer_start_switch_fiber(save, to.0.cast(), to.1) }
    }

    /// Arrived on this context's stack: restore its fake stack (`saved`,
    /// null on the first entry); returns the stack switched from.
    #[cfg(segtab_asan)]
    fn finish_switch(saved: *mut std::ffi::c_void) -> (*const u8, usize) {
        let (mut bottom, mut size) = (std::ptr::null(), 0);
        // SAFETY: ASan's documented protocol, right after a switch.
        unsafe { asan::__sanitizer_finish_switch_fiber(saved, &mut bottom, &mut size) };
        (bottom.cast(), size)
    }

    /// Suspends the running CPU coroutine: back to the driver, which
    /// resumes the CPU whose turn it is; returns when it is this CPU's turn
    /// again, with this CPU's CURRENT entry restored.
    pub(super) fn switch_out() {
        let (_, _, ctx) = CURRENT.with(Cell::get);
        assert!(
            !ctx.is_null(),
            "sched: a coroutine CPU switches out of no coroutine"
        );
        // A CPU unwinding a panic must not switch: the panic count is the
        // thread's, the next CPU would see it. No caller does: the port's
        // environment skips its points while panicking (`point` and
        // `mutex_spin_exit` in engine/src/port_side.rs), and the C side
        // never unwinds (it longjmps, after the hook has returned).
        debug_assert!(!std::thread::panicking());
        // SAFETY: CURRENT's context is the running coroutine's own, which
        // lives on its stack until its body returns (after its last
        // switch_out).
        let ctx = unsafe { &*ctx };
        #[cfg(segtab_asan)]
        let mut fake = std::ptr::null_mut();
        #[cfg(segtab_asan)]
        start_switch(Some(&mut fake), ctx.parent.get());
        // SAFETY: the yielder is this coroutine's (its body's argument).
        unsafe { &*ctx.yielder }.suspend(());
        #[cfg(segtab_asan)]
        ctx.parent.set(finish_switch(fake));
        CURRENT.with(|c| c.set((ctx.sched, ctx.cpu, ctx as *const CpuCtx)));
    }

    /// One CPU's coroutine and where its stack lies (for ASan). `'a`:
    /// what its body borrows from the caller of [`run`].
    struct Fiber<'a, R> {
        co: Option<Coroutine<(), (), std::thread::Result<R>, DefaultStack>>,
        #[cfg(segtab_asan)]
        stack: (*const u8, usize),
        /// The fake stack the body runs on, kept by its last switch out for
        /// the stack's next coroutine (boxed: the body writes it through a
        /// pointer taken before the fiber moves).
        #[cfg(segtab_asan)]
        fake: Box<std::cell::Cell<FakeStack>>,
        _body: std::marker::PhantomData<&'a ()>,
    }

    impl<'a, R> Fiber<'a, R> {
        /// CPU `cpu` of `sched`, to run `cpu_body(cpu)` when first resumed.
        fn new(
            sched: &'a Scheduler,
            cpu: usize,
            cpu_body: &'a dyn Fn(usize) -> std::thread::Result<R>,
        ) -> Self {
            let (stack, fake) = match STACKS.with(|s| s.borrow_mut().pop()) {
                Some(s) => s,
                None => (
                    DefaultStack::new(STACK_BYTES).expect("mapping a CPU coroutine's stack"),
                    std::ptr::null_mut(),
                ),
            };
            #[cfg(not(segtab_asan))]
            let _ = fake;
            #[cfg(segtab_asan)]
            let fake = Box::new(std::cell::Cell::new(fake));
            #[cfg(segtab_asan)]
            let fake_slot: *const std::cell::Cell<FakeStack> = &*fake;
            #[cfg(segtab_asan)]
            let bounds = (
                stack.limit().get() as *const u8,
                stack.base().get() - stack.limit().get(),
            );
            let sched: *const Scheduler = sched;
            let body = move |y: &Yielder<(), ()>, ()| {
                let ctx = CpuCtx {
                    sched,
                    cpu,
                    yielder: y,
                    // First entry: run on the fake stack this stack's
                    // last coroutine left (null: ASan makes one); learn
                    // the driver's stack.
                    // SAFETY: the slot is boxed in the Fiber, which
                    // outlives its coroutine's body.
                    #[cfg(segtab_asan)]
                    parent: Cell::new(finish_switch(unsafe { (*fake_slot).get() })),
                };
                CURRENT.with(|c| c.set((sched, cpu, &ctx as *const CpuCtx)));
                // Catches the body's panics (Scheduler::cpu_body) and
                // clears CURRENT (its Finish).
                let r = cpu_body(cpu);
                // The last switch back: this context never runs again,
                // but its fake stack goes with its stack to the next one
                // (with `None`, ASan would unmap it).
                #[cfg(segtab_asan)]
                {
                    let mut kept = std::ptr::null_mut();
                    start_switch(Some(&mut kept), ctx.parent.get());
                    // SAFETY: as above.
                    unsafe { (*fake_slot).set(kept) };
                }
                r
            };
            // SAFETY: the closure borrows `sched` and `cpu_body` for 'a;
            // `run` drives every fiber to its end, or drops it (Drop below:
            // reset, never resumed), before it returns, within 'a.
            let co = unsafe { Coroutine::with_stack_unchecked(stack, body) };
            Fiber {
                co: Some(co),
                #[cfg(segtab_asan)]
                stack: bounds,
                #[cfg(segtab_asan)]
                fake,
                _body: std::marker::PhantomData,
            }
        }

        fn resume(&mut self) -> CoroutineResult<(), std::thread::Result<R>> {
            let co = self
                .co
                .as_mut()
                .expect("a fiber is resumed before it is dropped");
            #[cfg(segtab_asan)]
            let mut fake = std::ptr::null_mut();
            #[cfg(segtab_asan)]
            start_switch(Some(&mut fake), self.stack);
            let r = co.resume(());
            #[cfg(segtab_asan)]
            finish_switch(fake);
            r
        }
    }

    impl<R> Drop for Fiber<'_, R> {
        /// A finished coroutine gives its stack back for the next run. One
        /// left suspended (only if the driver failed) must not be unwound
        /// (corosensei's default on drop): below its suspension lie the
        /// frames of the code under test, C frames among them (the
        /// scheduler hook of `shim/csrc/world.c`), and unwinding through an
        /// `extern "C"` frame aborts. It is reset instead: nothing on its
        /// stack runs again, no destructor, no C, and the stack is unmapped
        /// rather than reused, as the C's guard of that CPU may still point
        /// into it (the next call on that CPU arms it afresh).
        fn drop(&mut self) {
            let Some(mut co) = self.co.take() else { return };
            if !co.done() {
                if co.started() {
                    // SAFETY: see above; leaking what its frames own is the
                    // intended cost, and nothing on the stack runs again.
                    unsafe { co.force_reset() };
                }
                // Never started: dropping it drops its closure, unrun.
                return;
            }
            let stack = co.into_stack();
            // The next coroutine on this stack starts with clean shadow
            // where it runs. Frames that returned cleared their own
            // redzones; a longjmp or a panic leaves through a call ASan
            // marks (`__asan_handle_no_return`), which clears the stack
            // from there to its top. What is left is belt and braces, so
            // only the top of the stack, where every call runs, is cleared:
            // clearing all of it (256 KiB of shadow) makes ASan hand the
            // shadow pages back to the kernel and fault them in again on
            // every step.
            #[cfg(segtab_asan)]
            {
                let top = self.stack.0 as usize + self.stack.1;
                let n = UNPOISON_BYTES.min(self.stack.1);
                // SAFETY: the range is inside the mapping, which is ours.
                unsafe { asan::__asan_unpoison_memory_region((top - n) as *const u8, n) };
            }
            #[cfg(segtab_asan)]
            let fake = self.fake.get();
            #[cfg(not(segtab_asan))]
            let fake = std::ptr::null_mut();
            STACKS.with(|s| s.borrow_mut().push((stack, fake)));
        }
    }

    /// Runs `cpu_body(cpu)` for every CPU of `sched` as coroutines on this
    /// thread, resuming whichever CPU `sched`'s state says runs, until all
    /// have finished; their results by CPU.
    pub(super) fn run<R>(
        sched: &Scheduler,
        cpu_body: &dyn Fn(usize) -> std::thread::Result<R>,
    ) -> Vec<std::thread::Result<R>> {
        // No CPU runs once this returns, even by a panic of the driver
        // (fibers left suspended are reset, not run): CURRENT must not
        // point into one of their stacks then. (Declared first: dropped
        // after the fibers.)
        struct NoneRuns;
        impl Drop for NoneRuns {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set((std::ptr::null(), 0, std::ptr::null())));
            }
        }
        let _none_runs = NoneRuns;
        let n = sched.ncpus();
        let mut fibers: Vec<Fiber<'_, R>> =
            (0..n).map(|cpu| Fiber::new(sched, cpu, cpu_body)).collect();
        let mut out: Vec<Option<std::thread::Result<R>>> = (0..n).map(|_| None).collect();
        loop {
            let cur = {
                let st = sched.lock();
                if st.finished.iter().all(|&f| f) {
                    break;
                }
                st.current
            };
            // A CPU suspends only when the baton has left it, and a
            // finished CPU never holds it while others have not finished
            // (pass_baton): `cur` is a CPU that can run.
            if let CoroutineResult::Return(r) = fibers[cur].resume() {
                out[cur] = Some(r);
            }
        }
        out.into_iter()
            .map(|o| o.expect("every CPU coroutine returns"))
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::super::Backend;
        use super::*;

        /// The path `run` takes only if the driver itself fails: a CPU
        /// suspended in the scheduler is dropped. Nothing on its stack may
        /// run again (below it would be C frames): no destructor, no code
        /// after the suspension.
        #[test]
        fn a_suspended_coroutine_dropped_is_reset_not_unwound() {
            struct Flag<'a>(&'a Cell<bool>);
            impl Drop for Flag<'_> {
                fn drop(&mut self) {
                    self.0.set(true);
                }
            }
            let s = Scheduler::with_backend(2, 0, Backend::Coroutines);
            let (dropped, after) = (Cell::new(false), Cell::new(false));
            let body = |_cpu: usize| -> std::thread::Result<()> {
                let _flag = Flag(&dropped);
                switch_out();
                after.set(true);
                Ok(())
            };
            let mut f = Fiber::new(&s, 0, &body);
            assert!(matches!(f.resume(), CoroutineResult::Yield(())));
            CURRENT.with(|c| c.set((std::ptr::null(), 0, std::ptr::null())));
            drop(f);
            assert!(!dropped.get(), "the suspended stack was unwound");
            assert!(!after.get(), "the suspended CPU ran on");
            // The scheduler and the thread are fine afterwards.
            let r = s.run(|cpu| cpu);
            assert_eq!(r.results, vec![0, 1]);
        }
    }
}

/// Without coroutines (see `cfg(segtab_coro)` in build.rs) every run uses
/// threads; these are never reached.
#[cfg(not(segtab_coro))]
mod coro {
    use super::Scheduler;

    /// No coroutine context exists in this build.
    pub(super) enum CpuCtx {}

    pub(super) fn switch_out() {
        unreachable!("no coroutine CPUs in this build")
    }

    pub(super) fn run<R>(
        _sched: &Scheduler,
        _cpu_body: &dyn Fn(usize) -> std::thread::Result<R>,
    ) -> Vec<std::thread::Result<R>> {
        unreachable!("no coroutine CPUs in this build")
    }
}
