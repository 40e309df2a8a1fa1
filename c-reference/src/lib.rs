//! NetBSD `pmap_segtab.c` rev 1.23, unmodified, running in user space.
//!
//! `build.rs` compiles the vendored file (or the one `SEGTAB_C_SOURCE`
//! names) once per configuration of [`configs::CONFIGS`], under the shim of
//! `shim/include`; this crate opens one of those copies as a [`CWorld`]:
//! the C's globals plus a page pool, driven through a safe API.
//!
//! The C keeps its state in globals (`pmap_segtab_info`,
//! `pmap_segtab_lock`), so there is one world per configuration per
//! process. [`CWorld::open`] takes that configuration's lock for as long as
//! the world lives; opening it twice from one thread is an error, not a
//! deadlock. Resetting is cheap instead ([`CWorld::reset`]: proportional to
//! the pages the last run used).
//!
//! [`CWorld::run_concurrent`] runs two calls at once on two simulated CPUs
//! of one world, each in a context of its own (a coroutine of the calling
//! thread by default, see [`shim::sched::Backend`]), one at a time under the
//! deterministic [`shim::sched::Scheduler`], which may switch CPUs at every
//! call out of the file.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

/// The machine configurations (the matrix in docs/configurations.md).
pub mod configs;
pub mod revision;
mod world;

pub use configs::{Config, Port, CONFIGS};
pub use revision::{Capability, Revision};
pub use world::{
    step_lwps, CCall, CWorld, CallbackArgs, CpuOutcome, Error, Outcome, PageList, PanicInfo,
    PanicKind, XtabEvent, LAST_CALL, NCPUS, NLWPS, NPMAPS,
};

include!(concat!(env!("OUT_DIR"), "/configs_gen.rs"));

unsafe extern "C" {
    /// Defined in shim/csrc/guard.c; read only by a mutant schema.
    static mut segtab_mutant: core::ffi::c_uint;
}

/// Select mutant `id` of a mutant schema compiled in as the C (certify's
/// mutation switching; 0 runs the original code). Call it before any world
/// runs: it changes what every configuration's C does from then on. A build
/// of an ordinary C file never reads it.
pub fn select_mutant(id: u32) {
    // SAFETY: a plain C `unsigned int`, written before the worlds of this
    // process run the C (the schema reads it on every guarded path, on
    // whatever thread runs a CPU, after this store has happened-before the
    // thread's creation or the scheduler's handoff to it).
    unsafe { core::ptr::addr_of_mut!(segtab_mutant).write_volatile(id) }
}

/// The mutant selected by [`select_mutant`].
pub fn selected_mutant() -> u32 {
    // SAFETY: as in `select_mutant`.
    unsafe { core::ptr::addr_of!(segtab_mutant).read_volatile() }
}

/// SHA-256 of rev 1.23 as published (shared/README.md).
pub const VENDORED_SHA256: &str =
    "8c686bba31d7c12cd510e289d631c0991096cb47eea17918a1924bf935539c50";

/// The vendored file's text.
pub const VENDORED_SOURCE: &[u8] = include_bytes!("../pmap_segtab.c");
