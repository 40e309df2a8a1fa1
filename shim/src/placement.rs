//! Where page pools live in the host's address space.
//!
//! The C casts PTE pointers to `vaddr_t` (pmap_segtab.c lines 301 and
//! 566), which in a 32-bit configuration keeps 32 bits, as on the target,
//! and the shim turns that `vaddr_t` back into a pointer
//! (`PMAP_UNMAP_POOLPAGE`, `csrc/world.c`). So every pool lies inside one
//! 4 GiB-aligned *window*, and the shim adds the window's base back:
//!
//! - [`Mode::Low`]: below 4 GiB (the window at 0), so a KVA fits `vaddr_t`
//!   as it is on the target. Tried first, with a hinted `mmap` (Linux of
//!   any architecture honours a hint when the range is free; `MAP_32BIT`
//!   exists only on x86-64).
//! - [`Mode::High`]: where the low 4 GiB cannot be had (macOS reserves
//!   them for `__PAGEZERO`), one 4 GiB-aligned window above them is
//!   reserved for the process and every pool is carved out of it.
//!   `SEGTAB_POOL=high` forces this mode where the first would work, so it
//!   is tested on Linux too.
//!
//! In both modes pools occupy offsets 256 MiB to 2 GiB of the window: the
//! low 32 bits of a pool address have bit 31 clear, and the engine's PTE
//! values always set it, so a 32-bit PTE is never taken for a pool address;
//! nor is a small value a test writes. All pools of a process share the
//! window, so the high half of a host pointer left in a page read as 32-bit
//! PTEs is the same on both sides.
//!
//! Once a pool finds no room below 4 GiB (always, on macOS), later pools
//! go straight to the window. Pools made before that stay low, so a
//! process that maps more than about 1.75 GiB of pools can have the two
//! sides' pools in different windows: a host pointer read as 32-bit PTEs
//! then differs in its high half. An LP64 configuration's pool may go
//! anywhere when the window is full (its 64-bit `vaddr_t` holds any
//! pointer); a 32-bit configuration's cannot. The host must be 64-bit.

#[cfg(not(target_pointer_width = "64"))]
compile_error!("segtab-diff models 32- and 64-bit targets on a 64-bit host only");

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// How pools are placed (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Below 4 GiB where there is room, else in the high window.
    Low,
    /// Always in a 4 GiB-aligned window above 4 GiB (`SEGTAB_POOL=high`).
    High,
}

/// The mode this process places pools in: `SEGTAB_POOL=high` or unset
/// (read once: all pools of a process must agree).
pub fn mode() -> Result<Mode, String> {
    static MODE: OnceLock<Result<Mode, String>> = OnceLock::new();
    MODE.get_or_init(|| match std::env::var("SEGTAB_POOL") {
        Err(std::env::VarError::NotPresent) => Ok(Mode::Low),
        Ok(v) if v.is_empty() || v == "low" => Ok(Mode::Low),
        Ok(v) if v == "high" => Ok(Mode::High),
        Ok(v) => Err(format!("SEGTAB_POOL={v:?}: expected `high` or nothing")),
        Err(e) => Err(format!("SEGTAB_POOL: {e}")),
    })
    .clone()
}

/// The window's size and alignment.
const WINDOW: u64 = 1 << 32;
/// The part of a window pools may use (bit 31 of an offset stays clear).
const USABLE: u64 = 1 << 31;
/// Pools in the window start at multiples of this (the largest page).
const ALIGN: u64 = 1 << 16;
/// Lowest offset in the window a pool may start at: small values never
/// look like pool addresses, and below 4 GiB a non-PIE executable and the
/// `brk` heap above it keep their room.
const LOW_FLOOR: u64 = 1 << 28;
/// Distance between the addresses tried below 4 GiB.
const LOW_STEP: u64 = 64 << 20;

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
const NORESERVE: libc::c_int = libc::MAP_NORESERVE;
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
const NORESERVE: libc::c_int = 0;

const ANON: libc::c_int = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | NORESERVE;

/// A pool's memory: readable, writable, zero-filled, and given back on drop.
#[derive(Debug)]
pub struct Mapping {
    addr: *mut u8,
    len: usize,
    /// Carved from the window at this offset (else a mapping of its own).
    window_offset: Option<u64>,
}

// SAFETY: a Mapping is an exclusive handle on memory nobody else maps.
unsafe impl Send for Mapping {}

impl Mapping {
    /// `len` bytes for a pool; `narrow`: the configuration's `vaddr_t` is
    /// 32 bits, so the pool must lie in the window.
    pub fn new(len: usize, narrow: bool) -> io::Result<Mapping> {
        // Set when the low 2 GiB had no room: saves futile attempts and
        // keeps later pools together in the window.
        static NO_ROOM_LOW: AtomicBool = AtomicBool::new(false);
        let mode = mode().map_err(io::Error::other)?;
        if mode == Mode::Low && !NO_ROOM_LOW.load(Ordering::Relaxed) {
            if let Some(addr) = map_low(len) {
                return Ok(Mapping {
                    addr,
                    len,
                    window_offset: None,
                });
            }
            // (A pool too large for the low window says nothing of the others.)
            if len as u64 <= USABLE - LOW_FLOOR {
                NO_ROOM_LOW.store(true, Ordering::Relaxed);
            }
        }
        match carve(len) {
            Ok(m) => Ok(m),
            Err(e) if narrow => Err(e),
            Err(_) => map_anywhere(len),
        }
    }

    /// Where the memory starts.
    pub fn addr(&self) -> *mut u8 {
        self.addr
    }
    /// Its length.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether it is empty (never: pools have at least one frame).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        match self.window_offset {
            Some(off) => give_back(off, self.len),
            // SAFETY: unmapping exactly the mapping this handle owns.
            None => unsafe {
                libc::munmap(self.addr.cast(), self.len);
            },
        }
    }
}

/// The 4 GiB-aligned base of the window a pool address lies in (0 below
/// 4 GiB): what the C's 32-bit `vaddr_t` lost.
pub fn window_of(addr: u64) -> u64 {
    addr & !(WINDOW - 1)
}

fn mmap(hint: u64, len: usize, prot: libc::c_int, flags: libc::c_int) -> Option<*mut u8> {
    // SAFETY: an anonymous mapping. Without MAP_FIXED the kernel never
    // replaces existing memory; with it, callers pass only ranges of the
    // window this module reserved and owns.
    let p = unsafe { libc::mmap(hint as *mut libc::c_void, len, prot, flags, -1, 0) };
    (p != libc::MAP_FAILED).then_some(p.cast())
}

fn munmap(addr: u64, len: u64) {
    if len > 0 {
        // SAFETY: only ranges this module mapped and no one else uses.
        unsafe { libc::munmap(addr as *mut libc::c_void, len as usize) };
    }
}

const RW: libc::c_int = libc::PROT_READ | libc::PROT_WRITE;

/// Below 2 GiB by hinted `mmap`, trying addresses from the top down; None
/// if the kernel puts every attempt elsewhere.
fn map_low(len: usize) -> Option<*mut u8> {
    let len64 = len as u64;
    if len64 > USABLE - LOW_FLOOR {
        return None;
    }
    let mut hint = (USABLE - len64) & !(LOW_STEP - 1);
    while hint >= LOW_FLOOR {
        if let Some(p) = mmap(hint, len, RW, ANON) {
            if p as u64 + len64 <= USABLE {
                return Some(p);
            }
            munmap(p as u64, len64);
        }
        hint -= LOW_STEP;
    }
    None
}

fn map_anywhere(len: usize) -> io::Result<Mapping> {
    match mmap(0, len, RW, ANON) {
        Some(addr) => Ok(Mapping {
            addr,
            len,
            window_offset: None,
        }),
        None => Err(io::Error::last_os_error()),
    }
}

/// The process's window: its base and the free ranges of its usable part
/// (offset, length), in address order.
struct Window {
    base: u64,
    free: Vec<(u64, u64)>,
}

static THE_WINDOW: Mutex<Option<Window>> = Mutex::new(None);

/// Reserve a window: map more than needed without access, keep the
/// aligned usable part and give back the rest.
fn reserve() -> io::Result<Window> {
    let span = WINDOW + USABLE;
    let p = mmap(0, span as usize, libc::PROT_NONE, ANON).ok_or_else(|| {
        io::Error::other(format!(
            "cannot reserve a 4 GiB window: {}",
            io::Error::last_os_error()
        ))
    })? as u64;
    let base = (p + WINDOW - 1) & !(WINDOW - 1);
    munmap(p, base - p);
    munmap(base + USABLE, p + span - (base + USABLE));
    Ok(Window {
        base,
        free: vec![(LOW_FLOOR, USABLE - LOW_FLOOR)],
    })
}

fn lock() -> std::sync::MutexGuard<'static, Option<Window>> {
    THE_WINDOW.lock().unwrap_or_else(|e| e.into_inner())
}

/// `len` bytes of the window, first fit.
fn carve(len: usize) -> io::Result<Mapping> {
    let need = (len as u64 + ALIGN - 1) & !(ALIGN - 1);
    let mut guard = lock();
    if guard.is_none() {
        *guard = Some(reserve()?);
    }
    let w = guard.as_mut().expect("reserved above");
    let Some(i) = w.free.iter().position(|&(_, l)| l >= need) else {
        return Err(io::Error::other(format!(
            "no {need} bytes free in the 4 GiB window at {:#x}",
            w.base
        )));
    };
    let (off, l) = w.free[i];
    let Some(addr) = mmap(w.base + off, need as usize, RW, ANON | libc::MAP_FIXED) else {
        return Err(io::Error::last_os_error());
    };
    if l == need {
        w.free.remove(i);
    } else {
        w.free[i] = (off + need, l - need);
    }
    Ok(Mapping {
        addr,
        len: need as usize,
        window_offset: Some(off),
    })
}

/// Return a carved range: its pages are discarded (inaccessible again,
/// zero when carved next) and the range merges with its free neighbours.
fn give_back(off: u64, len: usize) {
    let len = len as u64;
    let mut guard = lock();
    let Some(w) = guard.as_mut() else { return };
    if mmap(
        w.base + off,
        len as usize,
        libc::PROT_NONE,
        ANON | libc::MAP_FIXED,
    )
    .is_none()
    {
        // The range stays mapped and is not reused: only address space lost.
        return;
    }
    let i = w.free.partition_point(|&(o, _)| o < off);
    w.free.insert(i, (off, len));
    if i + 1 < w.free.len() && w.free[i].0 + w.free[i].1 == w.free[i + 1].0 {
        w.free[i].1 += w.free[i + 1].1;
        w.free.remove(i + 1);
    }
    if i > 0 && w.free[i - 1].0 + w.free[i - 1].1 == w.free[i].0 {
        w.free[i - 1].1 += w.free[i].1;
        w.free.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carved_pools_share_one_window_and_are_reused() {
        let a = carve(3 * 4096).unwrap();
        let b = carve(5 << 16).unwrap();
        let (pa, pb) = (a.addr() as u64, b.addr() as u64);
        assert!(pa >= WINDOW, "the window lies above 4 GiB: {pa:#x}");
        assert_eq!(window_of(pa), window_of(pb), "one window");
        for p in [pa, pb] {
            assert_eq!(p % ALIGN, 0);
            assert!(p - window_of(p) >= LOW_FLOOR, "no small offsets");
            assert!(p - window_of(p) + (5 << 16) <= USABLE, "bit 31 clear");
        }
        // SAFETY: both are fresh read-write mappings of these lengths.
        unsafe {
            assert_eq!(*a.addr(), 0, "zero-filled");
            *a.addr() = 7;
            *b.addr().add(b.len() - 1) = 7;
        }
        drop(a);
        let c = carve(4096).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { *c.addr() }, 0, "a range given back is zero again");
    }

    #[test]
    fn low_mappings_end_below_2_gib() {
        // Where the host allows it (not macOS), a low mapping is found.
        if let Some(p) = map_low(1 << 20) {
            assert!(p as u64 + (1 << 20) <= USABLE);
            munmap(p as u64, 1 << 20);
        }
        assert!(
            map_low(USABLE as usize).is_none(),
            "too large for the low window"
        );
    }
}
