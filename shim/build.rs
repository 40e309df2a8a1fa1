//! Tells the pool whether AddressSanitizer is linked in (`cargo fuzz`'s
//! default), so free frames can be poisoned through ASan's manual interface
//! and the scheduler announces its stack switches; the scheduler whether its
//! CPUs can be coroutines; and compiles `native/scan.c`, the pool's poison
//! check, without any sanitizer or coverage instrumentation (see that file
//! for why).
fn main() {
    println!("cargo:rustc-check-cfg=cfg(segtab_asan)");
    println!("cargo:rustc-check-cfg=cfg(segtab_coro)");
    println!("cargo:rustc-check-cfg=cfg(segtab_native_scan)");
    println!("cargo:rerun-if-env-changed=CARGO_CFG_SANITIZE");
    println!("cargo:rerun-if-changed=native/scan.c");
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
    // Only for the host: CI type-checks the shim for targets this machine
    // has no C compiler for, and there the pool's Rust word loop stands in.
    let (host, target) = (
        std::env::var("HOST").unwrap_or_default(),
        std::env::var("TARGET").unwrap_or_default(),
    );
    if host == target {
        let mut b = cc::Build::new();
        b.file("native/scan.c")
            // The check runs on every free frame at every deep pass: fast
            // even in a debug build of the tests.
            .opt_level(3)
            .flag("-std=c99")
            // No sanitizer. The cc crate appends $CFLAGS after this flag,
            // so under OSS-Fuzz's -fsanitize=address,fuzzer-no-link the
            // functions' no_sanitize attributes are what keep them plain.
            .flag_if_supported("-fno-sanitize=all");
        match b.try_compile("segtab_shim_scan") {
            Ok(()) => println!("cargo:rustc-cfg=segtab_native_scan"),
            Err(e) => println!(
                "cargo:warning=shim: native/scan.c not compiled ({e}); the pool's poison check \
                 falls back to a Rust word loop (instrumented under cargo fuzz)"
            ),
        }
    }
}
