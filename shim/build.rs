//! Tells the pool whether AddressSanitizer is linked in (`cargo fuzz`'s
//! default), so free frames can be poisoned through ASan's manual interface.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(segtab_asan)");
    println!("cargo:rerun-if-env-changed=CARGO_CFG_SANITIZE");
    let sanitizers = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitizers.split(',').any(|s| s == "address") {
        println!("cargo:rustc-cfg=segtab_asan");
    }
}
