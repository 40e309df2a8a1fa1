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
    /// One line for the README matrix.
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
        summary: "powerpc booke, 4 KiB pages, identity-mapped pool (PMAP_SEGTABSIZE 512 on the host, see README)",
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
