//! The differential fuzz target: bytes -> an operation sequence (the
//! engine's `arbitrary` model) -> run on the C reference and the port,
//! compared after every step. A divergence panics with the engine's report.
//!
//! All configurations by default (the first byte picks one); set
//! `SEGTAB_FUZZ_CONFIG=<name>` to pin one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segtab_diff::model::Sequence;
use segtab_diff::run::{run, CompareOpts, Pair, RunResult, DEFAULT_POOL_PAGES};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

fn pinned() -> Option<&'static c_reference::Config> {
    static PINNED: OnceLock<Option<&'static c_reference::Config>> = OnceLock::new();
    *PINNED.get_or_init(|| {
        let name = std::env::var("SEGTAB_FUZZ_CONFIG").ok()?;
        match c_reference::configs::find(&name) {
            Some(c) => Some(c),
            None => {
                eprintln!(
                    "SEGTAB_FUZZ_CONFIG={name:?} is not a configuration; known: {}",
                    c_reference::CONFIGS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
                );
                std::process::exit(2);
            }
        }
    })
}

/// AddressSanitizer's defaults for this target; `ASAN_OPTIONS` in the
/// environment still overrides them. Stack use-after-return detection is
/// off: with it, every CPU coroutine of a concurrent step runs on a fake
/// stack of its own that ASan scans after each coroutine ends (the
/// coroutine's last switch is a no-return call), which measured 1.5x the
/// time per input even with the fake stacks reused (shim/src/sched.rs). No
/// pointer into a returned frame matters here: the C keeps none past a
/// call, safe Rust cannot, and what a wrong pointer can reach, the pool's
/// pages, is poisoned and checked by ASan and by the engine. Turn it back
/// on with `ASAN_OPTIONS=detect_stack_use_after_return=1`.
#[no_mangle]
pub extern "C" fn __asan_default_options() -> *const std::ffi::c_char {
    c"detect_stack_use_after_return=0".as_ptr()
}

thread_local! {
    // Worlds are reset, not rebuilt, between inputs: reset costs what the
    // last input used.
    static PAIRS: RefCell<HashMap<&'static str, Pair>> = RefCell::new(HashMap::new());
}

fuzz_target!(|data: &[u8]| {
    let seq = Sequence::from_bytes(data, pinned());
    PAIRS.with(|pairs| {
        let mut pairs = pairs.borrow_mut();
        let config = c_reference::configs::find(&seq.config).unwrap();
        let pair = pairs
            .entry(config.name)
            .or_insert_with(|| Pair::open(config.name, DEFAULT_POOL_PAGES).expect("open configuration"));
        if let RunResult::Diverge(d) = run(pair, &seq, CompareOpts::default()) {
            panic!("{}", segtab_diff::report::text(&d));
        }
    });
});
