//! Panic and KASSERT texts, made comparable between the sides.
//!
//! The C formats its messages with the shim's `vsnprintf`, the port with
//! `core::fmt`; both print pointers, which differ between the sides' pools
//! and pmap arrays, and the C's `__FILE__` is wherever the file was
//! compiled from. Each side annotates every hex number in its text that is
//! an address of its own (`0x7f3a1000⟨pfn 3⟩`, `0x55d0⟨pmap 0⟩`) and
//! writes the file as NetBSD names it; [`same`] then requires the texts to
//! be equal byte for byte, except that two numbers match when they are
//! equal or when both are addresses of the same thing. A value that merely
//! lies in one side's pool (a VA such as `1 << 30`) is therefore still
//! compared by value.

use shim::pool::PoolMap;

/// NetBSD's name for the file, as `__FILE__` is in a kernel build.
pub const NETBSD_FILE: &str = "sys/uvm/pmap/pmap_segtab.c";

/// What a side's pointers mean.
pub struct Names<'a> {
    /// The side's pool.
    pub pool: PoolMap,
    /// Address of each harness pmap (`pmaps[i]`).
    pub pmaps: &'a [u64],
    /// The path the C was compiled from (`__FILE__`), if this is the C.
    pub source: Option<&'a str>,
    /// The symbol prefix the shim gives the C's external functions in this
    /// configuration (`__func__` of `pmap_pte_reserve` is then
    /// `mips64_n64_4k_pmap_pte_reserve`), if this is the C.
    pub prefix: Option<&'a str>,
}

/// `msg` with pointers and the file name normalised.
pub fn normalize(msg: &str, names: &Names<'_>) -> String {
    let mut msg = match names.source {
        Some(src) if !src.is_empty() => msg.replace(src, NETBSD_FILE),
        _ => msg.to_string(),
    };
    if let Some(prefix) = names.prefix {
        msg = msg.replace(&format!("{prefix}_pmap_"), "pmap_");
    }
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg.as_str();
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        let digits = rest[at + 2..]
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let token = &rest[at..at + 2 + digits];
        rest = &rest[at + 2 + digits..];
        let Ok(v) = u64::from_str_radix(&token[2..], 16) else {
            out.push_str(token);
            continue;
        };
        out.push_str(token);
        if let Some((pfn, off)) = names.pool.locate(v) {
            if off == 0 {
                out.push_str(&format!("⟨pfn {pfn}⟩"));
            } else {
                out.push_str(&format!("⟨pfn {pfn}+{off:#x}⟩"));
            }
        } else if let Some(i) = names.pmaps.iter().position(|&p| p == v && v != 0) {
            out.push_str(&format!("⟨pmap {i}⟩"));
        }
    }
    out.push_str(rest);
    out
}

/// A normalised text as text, hex numbers and their annotations.
fn parts(s: &str) -> Vec<(&str, &str, &str)> {
    // (text before, number, annotation)
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("0x") {
        let digits = rest[at + 2..]
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let num = &rest[at..at + 2 + digits];
        let mut after = &rest[at + 2 + digits..];
        let mut note = "";
        if let Some(body) = after.strip_prefix('⟨') {
            if let Some(end) = body.find('⟩') {
                note = &body[..end];
                after = &body[end + '⟩'.len_utf8()..];
            }
        }
        out.push((&rest[..at], num, note));
        rest = after;
    }
    out.push((rest, "", ""));
    out
}

/// Whether two normalised texts say the same (see the module docs).
pub fn same(a: &str, b: &str) -> bool {
    let (pa, pb) = (parts(a), parts(b));
    pa.len() == pb.len()
        && pa.iter().zip(&pb).all(|((ta, na, xa), (tb, nb, xb))| {
            ta == tb && (na == nb || (!xa.is_empty() && xa == xb))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_pmaps_and_the_file() {
        let pool = shim::PagePool::new(12, 4, false, false).unwrap();
        let base = pool.base() as u64;
        let names = Names {
            pool: pool.map(),
            pmaps: &[0x1000, 0x2000],
            source: Some("/src/c-reference/pmap_segtab.c"),
            prefix: Some("mips64_n64_4k"),
        };
        assert_eq!(
            normalize("mips64_n64_4k_pmap_pte_reserve: cannot", &names),
            "pmap_pte_reserve: cannot"
        );
        let msg = format!(
            "kernel diagnostic assertion \"x\" failed: file \"/src/c-reference/pmap_segtab.c\", \
             line 220 pmap {:#x} va {:#x} at {:#x}",
            0x1000,
            0x4000_0000u64,
            base + 0x1008
        );
        let n = normalize(&msg, &names);
        assert!(n.starts_with(
            "kernel diagnostic assertion \"x\" failed: file \"sys/uvm/pmap/pmap_segtab.c\", \
             line 220 pmap 0x1000⟨pmap 0⟩ va 0x40000000 at 0x"
        ));
        assert!(n.ends_with("⟨pfn 1+0x8⟩"), "{n}");
        // The other side: its own addresses, the same things.
        assert!(same(&n, &n.replace("0x1000⟨", "0x9000⟨")));
        let other =
            "kernel diagnostic assertion \"x\" failed: file \"sys/uvm/pmap/pmap_segtab.c\", \
             line 220 pmap 0x9000⟨pmap 0⟩ va 0x40000000 at 0x77770008⟨pfn 1+0x8⟩";
        assert!(same(&n, other));
        // A value that is an address on one side only compares by value.
        assert!(same("va 0x45a79000⟨pfn 3⟩", "va 0x45a79000"));
        assert!(!same("va 0x45a79000⟨pfn 3⟩", "va 0x45a7a000"));
        assert!(!same("pmap 0x1⟨pmap 0⟩", "pmap 0x2⟨pmap 1⟩"));
        assert!(!same("line 280 ", "line 280"));
    }
}
