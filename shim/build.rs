//! Tells the pool whether AddressSanitizer is linked in (`cargo fuzz`'s
//! default), so free frames can be poisoned through ASan's manual interface
//! and the scheduler announces its stack switches; and the scheduler whether
//! its CPUs can be coroutines.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(segtab_asan)");
    println!("cargo:rustc-check-cfg=cfg(segtab_coro)");
    println!("cargo:rerun-if-env-changed=CARGO_CFG_SANITIZE");
    let sanitizers = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitizers.split(',').any(|s| s == "address") {
        println!("cargo:rustc-cfg=segtab_asan");
    }
    // The architectures Cargo.toml takes corosensei for (its context switch
    // is tried here on x86-64; aarch64 Linux and macOS are the other
    // platforms this project names). Elsewhere CPUs run on threads.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch == "x86_64" || arch == "aarch64" {
        println!("cargo:rustc-cfg=segtab_coro");
    }
}
