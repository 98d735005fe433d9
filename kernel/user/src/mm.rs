//! Memory system calls (mmap, munmap, mprotect, mremap, madvise, brk) with
//! Linux's flag values, and probes that ask the kernel whether an address is
//! readable or writable without touching it from user space (a fault would
//! kill the program: neither kernel delivers a handler-run signal here).
use core::sync::atomic::AtomicU32;

use crate::errno::Errno;
use crate::sys::{nr, raw};
use crate::thread::futex_wait;
use crate::time::{Clock, Timespec};

/// The page size both kernels use, in bytes (4 KiB granule).
pub const PAGE: usize = 4096;

/// `prot` bits (include/uapi/asm-generic/mman-common.h).
pub mod prot {
    /// PROT_NONE: no access; any touch faults.
    pub const NONE: u32 = 0;
    /// PROT_READ: the pages may be read.
    pub const READ: u32 = 1;
    /// PROT_WRITE: the pages may be written.
    pub const WRITE: u32 = 2;
    /// PROT_EXEC: the pages may be executed.
    pub const EXEC: u32 = 4;
    /// Read and write: the usual data mapping.
    pub const RW: u32 = READ | WRITE;
}

/// `flags` bits.
pub mod map {
    /// MAP_SHARED: writes are seen by every mapping of the object.
    pub const SHARED: u32 = 0x01;
    /// MAP_PRIVATE: copy-on-write, writes stay in this mapping.
    pub const PRIVATE: u32 = 0x02;
    /// MAP_SHARED_VALIDATE: MAP_SHARED, and unknown flags are refused (EOPNOTSUPP).
    pub const SHARED_VALIDATE: u32 = 0x03;
    /// MAP_FIXED: exactly at `addr`, replacing whatever was mapped there.
    pub const FIXED: u32 = 0x10;
    /// MAP_ANONYMOUS: zero-filled memory backed by no file (`fd` ignored).
    pub const ANONYMOUS: u32 = 0x20;
    /// MAP_NORESERVE: no swap reserved (no effect on either kernel here).
    pub const NORESERVE: u32 = 0x4000;
    /// MAP_POPULATE: fault every page in before returning.
    pub const POPULATE: u32 = 0x8000;
    /// MAP_FIXED_NOREPLACE: exactly at `addr`, or EEXIST if anything is mapped there.
    pub const FIXED_NOREPLACE: u32 = 0x10_0000;
    /// The common case: private anonymous memory.
    pub const ANON: u32 = PRIVATE | ANONYMOUS;
}

/// `mremap` flags.
pub mod mremap_flags {
    /// MREMAP_MAYMOVE: the mapping may move if it cannot grow in place.
    pub const MAYMOVE: u32 = 1;
    /// MREMAP_FIXED: move to `new_addr` (with MAYMOVE), replacing what is there.
    pub const FIXED: u32 = 2;
}

/// `madvise` advice.
pub mod advice {
    /// MADV_NORMAL: no special treatment.
    pub const NORMAL: u32 = 0;
    /// MADV_DONTNEED: drop the pages; private anonymous memory reads back as zeros.
    pub const DONTNEED: u32 = 4;
    /// MADV_NOHUGEPAGE: no transparent huge pages for the range.
    pub const NOHUGEPAGE: u32 = 15;
}

/// `mmap(addr, len, prot, flags, fd, offset)`.
pub fn mmap(
    addr: usize,
    len: usize,
    prot: u32,
    flags: u32,
    fd: i32,
    offset: usize,
) -> Result<usize, Errno> {
    // SAFETY: a new mapping never overlaps a Rust object unless the caller
    // asks for MAP_FIXED over one, and the tests only map over their own
    // mappings, reached through raw addresses.
    unsafe {
        raw(
            nr::MMAP,
            [
                addr,
                len,
                prot as usize,
                flags as usize,
                fd as usize,
                offset,
            ],
        )
    }
}

/// Private anonymous memory, read/write, where the kernel chooses.
pub fn mmap_anon(len: usize) -> Result<usize, Errno> {
    mmap(0, len, prot::RW, map::ANON, -1, 0)
}

/// `munmap(addr, len)`: removes every mapping in the range.
pub fn munmap(addr: usize, len: usize) -> Result<(), Errno> {
    // SAFETY: unmapping only removes pages the program reaches by raw address:
    // no Rust object lives in a mapping the tests make and remove.
    unsafe { raw(nr::MUNMAP, [addr, len, 0, 0, 0, 0]) }.map(drop)
}

/// `mprotect(addr, len, prot)`: changes the protection of the mapped range.
pub fn mprotect(addr: usize, len: usize, prot: u32) -> Result<(), Errno> {
    // SAFETY: a protection change only affects pages the program reaches by raw
    // address (a denied access faults); no Rust object lives in them.
    unsafe { raw(nr::MPROTECT, [addr, len, prot as usize, 0, 0, 0]) }.map(drop)
}

/// `mremap(old, old_len, new_len, flags, new_addr)`: grows, shrinks or moves a
/// mapping; the address it ends up at.
pub fn mremap(
    old: usize,
    old_len: usize,
    new_len: usize,
    flags: u32,
    new_addr: usize,
) -> Result<usize, Errno> {
    // SAFETY: the old and new ranges are mappings the program reaches by raw
    // address; no Rust object lives in them.
    unsafe {
        raw(
            nr::MREMAP,
            [old, old_len, new_len, flags as usize, new_addr, 0],
        )
    }
}

/// `madvise(addr, len, advice)`.
pub fn madvise(addr: usize, len: usize, advice: u32) -> Result<(), Errno> {
    // SAFETY: advice (even MADV_DONTNEED, which zeroes private pages) only
    // affects pages the program reaches by raw address; no Rust object lives in them.
    unsafe { raw(nr::MADVISE, [addr, len, advice as usize, 0, 0, 0]) }.map(drop)
}

/// `brk(addr)`: the new break, or the old one if the kernel refused.
pub fn brk(addr: usize) -> usize {
    // SAFETY: the heap above the break belongs to no Rust object here.
    unsafe { raw(nr::BRK, [addr, 0, 0, 0, 0, 0]) }.unwrap_or(0)
}

/// Reads the `u64` at `addr`.
///
/// # Safety
/// `addr` must be mapped readable (or the program dies, which a test of
/// faults wants) and 8-byte aligned.
pub unsafe fn peek(addr: usize) -> u64 {
    // SAFETY: the caller guarantees that `addr` is 8-byte aligned and mapped
    // readable, or wants the fault that kills the program.
    unsafe { (addr as *const u64).read_volatile() }
}

/// Writes the `u64` at `addr`.
///
/// # Safety
/// `addr` must be mapped writable, 8-byte aligned, and hold no Rust object.
pub unsafe fn poke(addr: usize, value: u64) {
    // SAFETY: the caller guarantees that `addr` is 8-byte aligned, mapped
    // writable and holds no Rust object.
    unsafe { (addr as *mut u64).write_volatile(value) }
}

/// Fills `pages` pages at `addr` with `tag(page index)` in every word.
///
/// # Safety
/// As [`poke`], for the whole range.
pub unsafe fn fill(addr: usize, pages: usize, tag: impl Fn(usize) -> u64) {
    for page in 0..pages {
        for word in 0..PAGE / 8 {
            // SAFETY: the word is inside the `pages` pages at `addr`, which the
            // caller guarantees are mapped writable and hold no Rust object;
            // `addr` is page aligned, so the word is 8-byte aligned.
            unsafe { poke(addr + page * PAGE + word * 8, tag(page)) };
        }
    }
}

/// The first word of the `pages` pages at `addr` that is not
/// `tag(page index)`: `(offset, value)`.
///
/// # Safety
/// As [`peek`], for the whole range.
pub unsafe fn find_mismatch(
    addr: usize,
    pages: usize,
    tag: impl Fn(usize) -> u64,
) -> Option<(usize, u64)> {
    for page in 0..pages {
        for word in 0..PAGE / 8 {
            let offset = page * PAGE + word * 8;
            // SAFETY: the word is inside the `pages` pages at `addr`, which the
            // caller guarantees are mapped readable; 8-byte aligned.
            let value = unsafe { peek(addr + offset) };
            if value != tag(page) {
                return Some((offset, value));
            }
        }
    }
    None
}

/// What the kernel found at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Readable, and the 32-bit word there is the one expected.
    Holds,
    /// Readable, and the word differs.
    Differs,
    /// Not readable: the kernel refused with this error (EFAULT).
    Refused(Errno),
}

/// Asks the kernel to read the 32-bit word at `addr` (4-byte aligned) and
/// compare it with `expected`, through `futex(FUTEX_WAIT)` with a zero
/// timeout: -EAGAIN if it differs, -ETIMEDOUT if it matches, -EFAULT if the
/// address cannot be read. Nothing in this process touches the address.
pub fn probe_read(addr: usize, expected: u32) -> Probe {
    // SAFETY: the kernel reads the word only through its user-access checks;
    // a refused address is the answer, not undefined behaviour here.
    let word = unsafe { &*(addr as *const AtomicU32) };
    match futex_wait(word, expected, Some(&Timespec::ZERO), true) {
        Err(Errno::ETIMEDOUT) => Probe::Holds,
        Err(Errno::EAGAIN) => Probe::Differs,
        Err(e) => Probe::Refused(e),
        // Woken (nobody wakes it): treat as a match.
        Ok(_) => Probe::Holds,
    }
}

/// True if the kernel can read `addr` (the 32-bit word there is anything).
pub fn readable(addr: usize) -> bool {
    !matches!(probe_read(addr, 0), Probe::Refused(_))
}

/// Asks the kernel to write 16 bytes at `addr` (`clock_gettime` stores a
/// `struct timespec` there): Ok if it could, the error otherwise. Clobbers
/// those 16 bytes.
pub fn probe_write(addr: usize) -> Result<(), Errno> {
    // SAFETY: clock_gettime writes 16 bytes at `addr`, which the caller
    // gives up; a refused address is the answer.
    unsafe {
        raw(
            nr::CLOCK_GETTIME,
            [Clock::Monotonic as usize, addr, 0, 0, 0, 0],
        )
    }
    .map(drop)
}
