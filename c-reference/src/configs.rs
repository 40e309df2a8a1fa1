// The machine configurations of the C reference: one row per compiled copy
// of `pmap_segtab.c`.
//
// This file is the single source of the matrix: `build.rs` includes it to
// derive each copy's `-D` flags, the library re-exports it, and the engine
// builds the Rust port's environment from the same rows. It must stay
// free of dependencies (build scripts `include!` it).

/// Which NetBSD port's `machine/*.h` facts a configuration follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Port {
    /// `sys/arch/mips`: KSEG0 (and XKPHYS on n64) direct-mapped, invalid segtab NULL.
    Mips,
    /// `sys/arch/powerpc/booke`: pool pages identity-mapped, invalid segtab 0xfeeddead.
    Booke,
    /// The shape of an LP64 machine with 64-bit PTEs (riscv64 Sv39 geometry).
    Riscv,
}

/// One machine configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Name used on the command line and in reproducers.
    pub name: &'static str,
    /// Symbol prefix of this configuration's copy of the C (`<ident>_ops`).
    pub ident: &'static str,
    /// One line for the matrix of docs/configurations.md.
    pub summary: &'static str,
    /// Whose headers the constants follow.
    pub port: Port,
    /// `_LP64`: 64-bit `vaddr_t` and the three-level (xseg) tree.
    pub lp64: bool,
    /// `PGSHIFT`.
    pub pgshift: u32,
    /// `SEGSHIFT`.
    pub segshift: u32,
    /// `XSEGSHIFT` (LP64 only; 0 otherwise).
    pub xsegshift: u32,
    /// `PMAP_SEGTABSIZE`.
    pub segtabsize: u32,
    /// Width of `pt_entry_t` in bits.
    pub pte_bits: u32,
    /// `DEBUG`.
    pub debug: bool,
    /// `DIAGNOSTIC`.
    pub diagnostic: bool,
    /// `MULTIPROCESSOR` (what `opt_multiprocessor.h` says).
    pub multiprocessor: bool,
    /// `PMAP_PTP_CACHE`.
    pub ptp_cache: bool,
    /// `PMAP_INVALID_SEGTAB_ADDRESS`.
    pub invalid_segtab: u64,
    /// `pmap_md_direct_mapped_vaddr_p`: half-open VA ranges (empty range = unused).
    pub direct_map: [(u64, u64); 2],
    /// Pool pages are identity-mapped (`PMAP_MAP_POOLPAGE(pa) == pa`).
    pub identity_map: bool,
}

impl Config {
    /// `NBPG`.
    pub const fn nbpg(&self) -> u64 {
        1 << self.pgshift
    }
    /// Bytes of one `pmap_segtab_t` on this (64-bit) host.
    pub const fn host_segtab_bytes(&self) -> u64 {
        self.segtabsize as u64 * 8
    }
    /// Segtabs carved from one page on this host (`NBPG / sizeof(*stp)`).
    pub const fn host_segtabs_per_page(&self) -> u64 {
        self.nbpg() / self.host_segtab_bytes()
    }
    /// Segtabs per page on the target (its pointer width).
    pub const fn target_segtabs_per_page(&self) -> u64 {
        let ptr = if self.lp64 { 8 } else { 4 };
        self.nbpg() / (self.segtabsize as u64 * ptr)
    }
    /// `NPTEPG`.
    pub const fn nptepg(&self) -> u64 {
        self.nbpg() / (self.pte_bits as u64 / 8)
    }
    /// Mask of `vaddr_t`.
    pub const fn va_mask(&self) -> u64 {
        if self.lp64 {
            u64::MAX
        } else {
            u32::MAX as u64
        }
    }
    /// `pmap_md_direct_mapped_vaddr_p(va)` for this configuration.
    pub fn direct_mapped(&self, va: u64) -> bool {
        self.direct_map.iter().any(|&(lo, hi)| va >= lo && va < hi)
    }

    /// The `-D` macros (name, value) this configuration's copy of the C is
    /// compiled with, besides `SEGTAB_C_FILE`: one list for `build.rs` and
    /// for every other compile of the file (certify's trivial-compiler-
    /// equivalence check must see exactly what the build sees).
    pub fn c_defines(&self) -> Vec<(String, String)> {
        let mut d: Vec<(String, String)> = vec![
            ("SEGTAB_PREFIX".into(), format!("{}_", self.ident)),
            ("SHIM_CONFIG_NAME".into(), format!("\"{}\"", self.name)),
            // Lets generated sources (certify's mutant schema) keep code
            // that compiles in some configurations only out of the others.
            (
                format!("SHIM_CONFIG_{}", self.ident.to_uppercase()),
                "1".into(),
            ),
            (
                match self.port {
                    Port::Mips => "SHIM_MACHINE_MIPS",
                    Port::Booke => "SHIM_MACHINE_BOOKE",
                    Port::Riscv => "SHIM_MACHINE_RISCV",
                }
                .into(),
                "1".into(),
            ),
            ("SHIM_PGSHIFT".into(), self.pgshift.to_string()),
            ("SHIM_SEGSHIFT".into(), self.segshift.to_string()),
            ("SHIM_SEGTABSIZE".into(), self.segtabsize.to_string()),
            ("SHIM_PTE_BITS".into(), self.pte_bits.to_string()),
            (
                "SHIM_INVALID_SEGTAB".into(),
                format!("{:#x}ULL", self.invalid_segtab),
            ),
            (
                "SHIM_MULTIPROCESSOR".into(),
                if self.multiprocessor { "1" } else { "0" }.into(),
            ),
        ];
        // Only the windows the port has: world.c tests each defined one,
        // so no comparison there is always true or always false.
        for (i, (lo, hi)) in self.direct_map.iter().enumerate() {
            if lo >= hi {
                continue;
            }
            d.push((format!("SHIM_DMAP{i}_LO"), format!("{lo:#x}ULL")));
            d.push((format!("SHIM_DMAP{i}_HI"), format!("{hi:#x}ULL")));
        }
        if self.lp64 {
            d.push(("SHIM_LP64".into(), "1".into()));
            d.push(("SHIM_XSEGSHIFT".into(), self.xsegshift.to_string()));
            if self.port == Port::Mips {
                // What the target compiler predefines for the n64 ABI: rev
                // 1.21 tests it (with PAGE_SIZE == 8192) for its alignment
                // panic; rev 1.23 and the shim do not look at it.
                d.push(("__mips_n64".into(), "1".into()));
            }
        }
        for (on, name) in [
            (self.debug, "DEBUG"),
            (self.diagnostic, "DIAGNOSTIC"),
            (self.ptp_cache, "PMAP_PTP_CACHE"),
        ] {
            if on {
                d.push((name.into(), "1".into()));
            }
        }
        d
    }

    /// Compiler flags of every copy of the C besides the `-D` macros.
    pub fn c_flags(&self) -> Vec<&'static str> {
        let mut f = vec![
            "-std=gnu11",
            "-ffreestanding",
            "-fno-strict-aliasing",
            // A function the shim does not declare is a missing interface,
            // never an implicit declaration that fails at link time.
            "-Werror=implicit-function-declaration",
            "-Wno-unused-function",
            // Expected in the unmodified file: DEBUG-only parameters, and on
            // 32-bit configurations PTE pointers cast to the 32-bit vaddr_t
            // (lines 301, 566), which the shim undoes with the arena's 4 GiB
            // window (shim/src/placement.rs).
            "-Wno-unused-parameter",
            "-Wno-pointer-to-int-cast",
            "-Wno-int-to-pointer-cast",
        ];
        if !self.lp64 {
            // The target is ILP32: _LP64 is not defined there.
            f.push("-U_LP64");
        }
        f
    }
}

const NO_RANGE: (u64, u64) = (0, 0);
/// mips KSEG0 as a 32-bit address, and sign-extended on n64.
const KSEG0_32: (u64, u64) = (0x8000_0000, 0xa000_0000);
const KSEG0_64: (u64, u64) = (0xffff_ffff_8000_0000, 0xffff_ffff_a000_0000);
/// mips n64 XKPHYS: VA bits 63..62 == 0b10.
const XKPHYS: (u64, u64) = (0x8000_0000_0000_0000, 0xc000_0000_0000_0000);

/// Every configuration compiled into the binary.
pub const CONFIGS: &[Config] = &[
    Config {
        name: "mips64-n64-4k",
        ident: "mips64_n64_4k",
        summary: "mips64 n64, 4 KiB pages",
        port: Port::Mips,
        lp64: true,
        pgshift: 12,
        segshift: 22,
        xsegshift: 31,
        segtabsize: 512,
        pte_bits: 32,
        debug: true,
        diagnostic: true,
        multiprocessor: true,
        ptp_cache: false,
        invalid_segtab: 0,
        direct_map: [XKPHYS, KSEG0_64],
        identity_map: false,
    },
    Config {
        name: "mips64-n64-16k",
        ident: "mips64_n64_16k",
        summary: "mips64 n64, 16 KiB pages",
        port: Port::Mips,
        lp64: true,
        pgshift: 14,
        segshift: 26,
        xsegshift: 37,
        segtabsize: 2048,
        pte_bits: 32,
        debug: false,
        diagnostic: true,
        multiprocessor: false,
        ptp_cache: true,
        invalid_segtab: 0,
        direct_map: [XKPHYS, KSEG0_64],
        identity_map: false,
    },
    Config {
        name: "riscv64-sv39-shape",
        ident: "riscv64_sv39_shape",
        summary: "LP64 with 64-bit PTEs in riscv64 Sv39 geometry (a shape, not a shipped 2020 kernel)",
        port: Port::Riscv,
        lp64: true,
        pgshift: 12,
        segshift: 21,
        xsegshift: 30,
        segtabsize: 512,
        pte_bits: 64,
        debug: true,
        diagnostic: false,
        multiprocessor: true,
        ptp_cache: true,
        invalid_segtab: 0xffff_ffc0_0000_0000 - 4096,
        direct_map: [(0xffff_ffc0_0000_0000, 0xffff_ffe0_0000_0000), NO_RANGE],
        identity_map: false,
    },
    Config {
        name: "mips32-o32-4k",
        ident: "mips32_o32_4k",
        summary: "mips32 o32, 4 KiB pages",
        port: Port::Mips,
        lp64: false,
        pgshift: 12,
        segshift: 22,
        xsegshift: 0,
        segtabsize: 512,
        pte_bits: 32,
        debug: true,
        diagnostic: true,
        multiprocessor: false,
        ptp_cache: false,
        invalid_segtab: 0,
        direct_map: [KSEG0_32, NO_RANGE],
        identity_map: false,
    },
    Config {
        name: "mips32-o32-8k",
        ident: "mips32_o32_8k",
        summary: "mips32 o32, 8 KiB pages (8 segtabs per page on the host; DEBUG counts the carving, DIAGNOSTIC asserts around it)",
        port: Port::Mips,
        lp64: false,
        pgshift: 13,
        segshift: 24,
        xsegshift: 0,
        segtabsize: 128,
        pte_bits: 32,
        debug: true,
        diagnostic: true,
        multiprocessor: false,
        ptp_cache: true,
        invalid_segtab: 0,
        direct_map: [KSEG0_32, NO_RANGE],
        identity_map: false,
    },
    Config {
        name: "mips32-o32-16k",
        ident: "mips32_o32_16k",
        summary: "mips32 o32, 16 KiB pages (many segtabs per page: the carving loop runs)",
        port: Port::Mips,
        lp64: false,
        pgshift: 14,
        segshift: 26,
        xsegshift: 0,
        segtabsize: 32,
        pte_bits: 32,
        debug: false,
        diagnostic: false,
        multiprocessor: true,
        ptp_cache: true,
        invalid_segtab: 0,
        direct_map: [KSEG0_32, NO_RANGE],
        identity_map: false,
    },
    Config {
        name: "ilp32-4k-2seg-shape",
        ident: "ilp32_4k_2seg_shape",
        summary: "a 32-bit shape: mips o32 4 KiB geometry with PMAP_SEGTABSIZE 256 (user VAs above 1 GiB alias), so exactly two segtabs share a page on the host (carving with an empty loop body) under DIAGNOSTIC and MULTIPROCESSOR",
        port: Port::Mips,
        lp64: false,
        pgshift: 12,
        segshift: 22,
        xsegshift: 0,
        segtabsize: 256,
        pte_bits: 32,
        debug: true,
        diagnostic: true,
        multiprocessor: true,
        ptp_cache: false,
        invalid_segtab: 0,
        direct_map: [KSEG0_32, NO_RANGE],
        identity_map: false,
    },
    Config {
        name: "powerpc-booke",
        ident: "powerpc_booke",
        summary: "powerpc booke, 4 KiB pages, identity-mapped pool (PMAP_SEGTABSIZE 512 on the host, see docs/configurations.md)",
        port: Port::Booke,
        lp64: false,
        pgshift: 12,
        segshift: 22,
        xsegshift: 0,
        segtabsize: 512,
        pte_bits: 32,
        debug: true,
        diagnostic: true,
        multiprocessor: true,
        ptp_cache: false,
        invalid_segtab: 0xfeed_dead,
        // booke direct-maps everything outside [VM_MIN_KERNEL_ADDRESS, VM_MAX_KERNEL_ADDRESS).
        direct_map: [(0, 0xe400_0000), (0xfeff_f000, 0x1_0000_0000)],
        identity_map: true,
    },
];

/// The configuration called `name`.
pub fn find(name: &str) -> Option<&'static Config> {
    CONFIGS.iter().find(|c| c.name == name)
}
