//! Concrete machines, and the [`define_machine!`](crate::define_machine)
//! macro to declare more.
//!
//! Constants come from NetBSD's headers as of August 2020; see each type.
//! On a 64-bit host pointers are 8 bytes, so a 32-bit machine's segtab is
//! twice its target size and the number of segtabs carved from one page
//! (C lines 368–384) is counted from the host layout.

/// Declares a zero-sized type implementing [`Machine`](crate::Machine).
///
/// ```
/// rust_segtab::define_machine! {
///     /// A 32-bit machine with 8 KiB pages.
///     pub struct MipsO32_8k {
///         name: "mips32-o32-8k", lp64: false, pgshift: 13, segshift: 24,
///         xsegshift: 0, segtabsize: 128, pte: u32, vaddr: u32,
///         debug: true, diagnostic: true, multiprocessor: false, ptp_cache: false,
///     }
/// }
/// use rust_segtab::Machine;
/// assert_eq!(MipsO32_8k::NPTEPG, 2048);
/// ```
#[macro_export]
macro_rules! define_machine {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            name: $sname:expr,
            lp64: $lp64:expr,
            pgshift: $pgshift:expr,
            segshift: $segshift:expr,
            xsegshift: $xsegshift:expr,
            segtabsize: $n:expr,
            pte: $pte:ty,
            vaddr: $vaddr:ty,
            debug: $debug:expr,
            diagnostic: $diag:expr,
            multiprocessor: $mp:expr,
            ptp_cache: $ptp:expr $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        $vis struct $name;

        impl $crate::Machine for $name {
            type Vaddr = $vaddr;
            type Pte = $pte;
            type Segtab = $crate::Segtab<$pte, { $n }>;
            const NAME: &'static str = $sname;
            const PGSHIFT: u32 = $pgshift;
            const SEGSHIFT: u32 = $segshift;
            const XSEGSHIFT: u32 = $xsegshift;
            const LP64: bool = $lp64;
            const DEBUG: bool = $debug;
            const DIAGNOSTIC: bool = $diag;
            const MULTIPROCESSOR: bool = $mp;
            const PTP_CACHE: bool = $ptp;
        }
    };
}

define_machine! {
    /// mips64 n64, 4 KiB pages (DEBUG, DIAGNOSTIC, MULTIPROCESSOR).
    /// One segtab per page.
    pub struct MipsN64_4k {
        name: "mips64-n64-4k", lp64: true, pgshift: 12, segshift: 22,
        xsegshift: 31, segtabsize: 512, pte: u32, vaddr: u64,
        debug: true, diagnostic: true, multiprocessor: true, ptp_cache: false,
    }
}

define_machine! {
    /// mips64 n64, 16 KiB pages (DIAGNOSTIC, PMAP_PTP_CACHE).
    /// One segtab per page.
    pub struct MipsN64_16k {
        name: "mips64-n64-16k", lp64: true, pgshift: 14, segshift: 26,
        xsegshift: 37, segtabsize: 2048, pte: u32, vaddr: u64,
        debug: false, diagnostic: true, multiprocessor: false, ptp_cache: true,
    }
}

define_machine! {
    /// The *shape* an LP64 machine with 64-bit PTEs would have (riscv64
    /// Sv39 sizes). Not a shipped NetBSD kernel: riscv in 2020 defined
    /// `PMAP_HWPAGEWALKER`, which rev 1.23 does not implement.
    /// (DEBUG, MULTIPROCESSOR, PMAP_PTP_CACHE.)
    pub struct Riscv64Sv39Shape {
        name: "riscv64-sv39-shape", lp64: true, pgshift: 12, segshift: 21,
        xsegshift: 30, segtabsize: 512, pte: u64, vaddr: u64,
        debug: true, diagnostic: false, multiprocessor: true, ptp_cache: true,
    }
}

define_machine! {
    /// mips32 o32, 4 KiB pages (DEBUG, DIAGNOSTIC). On the target two
    /// segtabs fit a page; on a 64-bit host one does.
    pub struct MipsO32_4k {
        name: "mips32-o32-4k", lp64: false, pgshift: 12, segshift: 22,
        xsegshift: 0, segtabsize: 512, pte: u32, vaddr: u32,
        debug: true, diagnostic: true, multiprocessor: false, ptp_cache: false,
    }
}

define_machine! {
    /// mips32 o32, 16 KiB pages (MULTIPROCESSOR, PMAP_PTP_CACHE). On a
    /// 64-bit host 64 segtabs are carved from one page (128 on the target).
    pub struct MipsO32_16k {
        name: "mips32-o32-16k", lp64: false, pgshift: 14, segshift: 26,
        xsegshift: 0, segtabsize: 32, pte: u32, vaddr: u32,
        debug: false, diagnostic: false, multiprocessor: true, ptp_cache: true,
    }
}

define_machine! {
    /// powerpc booke (DEBUG, DIAGNOSTIC, MULTIPROCESSOR).
    ///
    /// Host model: real booke has `PMAP_SEGTABSIZE` 1024 (4 KiB with 4-byte
    /// pointers), but with 8-byte host pointers that is 8 KiB and fails the
    /// file's own `CTASSERT(NBPG >= sizeof(pmap_segtab_t))` (line 111), so
    /// this model uses 512. Its `PMAP_INVALID_SEGTAB_ADDRESS` (0xfeeddead)
    /// comes from the [`Env`](crate::Env).
    pub struct PowerpcBooke {
        name: "powerpc-booke", lp64: false, pgshift: 12, segshift: 22,
        xsegshift: 0, segtabsize: 512, pte: u32, vaddr: u32,
        debug: true, diagnostic: true, multiprocessor: true, ptp_cache: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Machine;
    use core::mem::size_of;

    #[allow(clippy::let_unit_value)]
    fn check<M: Machine>() -> (usize, usize, usize) {
        let () = M::CHECKS;
        (
            M::NPTEPG,
            M::PMAP_SEGTABSIZE,
            M::NBPG / size_of::<M::Segtab>(),
        )
    }

    #[test]
    fn constants() {
        assert_eq!(check::<MipsN64_4k>(), (1024, 512, 1));
        assert_eq!(check::<MipsN64_16k>(), (4096, 2048, 1));
        assert_eq!(check::<Riscv64Sv39Shape>(), (512, 512, 1));
        assert_eq!(check::<MipsO32_4k>(), (1024, 512, 1));
        assert_eq!(check::<MipsO32_16k>(), (4096, 32, 64));
        assert_eq!(check::<PowerpcBooke>(), (1024, 512, 1));
        assert_eq!(MipsN64_4k::NBXSEG, 1 << 31);
        assert_eq!(MipsO32_4k::NBXSEG, 0);
        assert_eq!(
            MipsN64_16k::NBXSEG / MipsN64_16k::NSEGPG as u64,
            MipsN64_16k::NBSEG
        );
        assert_eq!(Riscv64Sv39Shape::NBXSEG / 512, Riscv64Sv39Shape::NBSEG);
        assert_eq!(MipsO32_4k::trunc_seg(0x0040_1234), 0x0040_0000);
    }
}
