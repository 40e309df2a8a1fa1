//! A port crate for `segtab-diff --port DIR`: the template.
//!
//! The engine drives a port through exactly the items below (the contract,
//! `docs/port-contract.md`, lists each method, constant and field it uses
//! on them). This template re-exports the checkout's own port, so it
//! passes as it is:
//!
//! ```sh
//! segtab-diff --port examples/port-template replay corpus/diff
//! ```
//!
//! A port of your own defines these items itself (or wraps another crate's)
//! with the same names, paths and signatures. `#![no_std]` is fine: the
//! engine brings `std`.
#![no_std]

// The port's entry points: `PmapSegtab<M, E>` (new, env, env_mut,
// into_env, info, segtab_init, segtab_destroy, pte_reserve, pte_lookup,
// pte_process, segtab_activate, segtab_deactivate).
pub use rust_segtab::PmapSegtab;

// What it runs over: the machine (`Machine`: its constants and its `Pte`,
// `Vaddr` and `Segtab` types; `SegtabLayout::LEN`) and the environment
// (`Env`, which the engine implements over its page pool).
pub use rust_segtab::{Env, Machine, SegtabLayout};

// The types at the `Env` seam and in the inspection the engine reads.
pub use rust_segtab::{CpuInfo, PanicSite, PhysAddr, Pmap, PteRef, Slot, SpinHeld, Word};

// `define_machine!`: the engine declares two of its machines with it.
pub use rust_segtab::define_machine;

/// The machines of the configurations the engine runs.
pub mod machines {
    pub use rust_segtab::machines::{
        MipsN64_16k, MipsN64_4k, MipsO32_16k, MipsO32_4k, PowerpcBooke, Riscv64Sv39Shape,
    };
}
