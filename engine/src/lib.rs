//! segtab-diff's differential engine: the C reference and the Rust port of
//! `pmap_segtab.c` run the same operations, and after every step their
//! return values, tables, PTEs, free lists, PTP caches, counters, cpu_info,
//! page-pool events and callback traces are compared.
//!
//! - [`model`]: the operation model (`arbitrary`), and its resolution to
//!   concrete addresses;
//! - [`side`]: what both sides offer; [`c_side`]: the C reference;
//!   [`port_side`]: the port;
//! - [`callbacks`]: the callbacks a sequence can pass;
//! - [`compare`], [`run`]: per-step comparison;
//! - [`shrink`], [`report`], [`corpus`]: minimising, explaining and keeping
//!   divergences; [`probe`]: running a sequence in a child process;
//! - the `segtab-diff` commands: [`campaign`] (worker processes),
//!   [`replay`] (replay, minimize), [`seeds`] (the fuzzer's seed corpus),
//!   [`bench`]; [`interrupt`]: Ctrl-C and SIGTERM stop them cleanly.

#![warn(missing_docs)]

pub mod bench;
pub mod c_side;
pub mod callbacks;
pub mod campaign;
pub mod census;
pub mod certify;
pub mod compare;
pub mod corpus;
pub mod explore;
pub mod interrupt;
pub mod model;
pub mod panic_text;
pub mod port;
pub mod port_side;
pub mod probe;
pub mod rebuild;
pub mod replay;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenarios;
pub mod seeds;
pub mod shrink;
pub mod side;

pub use model::{Op, Sequence};
pub use run::{run, CompareOpts, Divergence, Pair, RunResult};

/// Run `seq` on a fresh pair and panic with the report if the sides
/// disagree (for regression tests and fuzz targets).
pub fn assert_agree(seq: &Sequence) {
    let mut pair = Pair::open(&seq.config, run::DEFAULT_POOL_PAGES).expect("open configuration");
    if let RunResult::Diverge(d) = run::run(&mut pair, seq, CompareOpts::default()) {
        panic!("{}", report::text(&d));
    }
}

/// [`assert_agree`], failing (with the step and the side that did not
/// return) if a step runs longer than `limit`: the test of a hang. The
/// stuck thread is left behind; the test process ends with the test run.
pub fn assert_returns(seq: &Sequence, limit: std::time::Duration) {
    use run::progress::{side_name, INDEX, SIDE};
    use std::sync::atomic::Ordering::Relaxed;
    let (tx, rx) = std::sync::mpsc::channel();
    let s = seq.clone();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| assert_agree(&s));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(())) => {}
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!(
            "HANG: step {} ({}) did not return within {limit:?} in {}",
            INDEX.load(Relaxed),
            seq.ops
                .get(INDEX.load(Relaxed) as usize)
                .map_or("?".to_string(), |o| format!("{o:?}")),
            side_name(SIDE.load(Relaxed)),
        ),
    }
}
