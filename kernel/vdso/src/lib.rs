//! The vDSO (Linux's `arch/arm64/kernel/vdso`): a small shared object the kernel maps
//! into every process, announced by `AT_SYSINFO_EHDR`. C libraries look its symbols up
//! (version `LINUX_2.6.39`) and call them instead of a system call:
//!
//! - `__kernel_clock_gettime`, `__kernel_gettimeofday`, `__kernel_clock_getres` read the
//!   generic timer's virtual counter (`CNTVCT_EL0`, which the kernel lets EL0 read) and
//!   the data page the kernel keeps just below the image ([`VdsoData`]); a clock they do
//!   not serve falls back to the system call;
//! - `__kernel_rt_sigreturn` is where a signal handler installed without `SA_RESTORER`
//!   returns (the image's entry point, so the kernel finds it).
//!
//! Position independent and without relocations: the data page is reached PC-relative
//! (`adrp`), nothing goes through a GOT, and the link refuses undefined symbols.
#![no_std]
#![cfg(target_arch = "aarch64")]

use core::arch::{asm, global_asm};
use core::num::NonZeroU64;
use core::sync::atomic::{fence, Ordering};

/// The data page, written by the kernel, read here (the layout is shared with
/// `kernel/src/user/vdso.rs`).
#[repr(C)]
pub struct VdsoData {
    /// Odd while the kernel writes the page (a sequence count).
    pub seq: u32,
    /// Layout version (1).
    pub version: u32,
    /// `CNTFRQ_EL0`: counter ticks per second.
    pub frequency: u64,
    /// Counter value at which the monotonic clock reads 0.
    pub base: u64,
    /// `CLOCK_REALTIME` minus `CLOCK_MONOTONIC`, in nanoseconds.
    pub realtime_offset_ns: u64,
}

/// `struct timespec`.
#[repr(C)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds.
    pub nsec: i64,
}

/// `struct timeval`.
#[repr(C)]
pub struct Timeval {
    /// Seconds.
    pub sec: i64,
    /// Microseconds.
    pub usec: i64,
}

/// `struct timezone`.
#[repr(C)]
pub struct Timezone {
    /// Minutes west of Greenwich.
    pub minuteswest: i32,
    /// Type of DST correction.
    pub dsttime: i32,
}

const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_MONOTONIC_RAW: i32 = 4;
const CLOCK_REALTIME_COARSE: i32 = 5;
const CLOCK_MONOTONIC_COARSE: i32 = 6;
const CLOCK_BOOTTIME: i32 = 7;
const CLOCK_TAI: i32 = 11;

const NR_GETTIMEOFDAY: usize = 169;
const NR_CLOCK_GETTIME: usize = 113;
const NR_CLOCK_GETRES: usize = 114;
const EFAULT: i32 = 14;

/// The data page: the page before the image (`vdso.lds` defines `__vdso_data` there).
fn data() -> *const VdsoData {
    let p: *const VdsoData;
    // SAFETY: computes an address (PC-relative, resolved at link time); reads nothing.
    unsafe {
        asm!(
            "adrp {p}, __vdso_data",
            "add {p}, {p}, :lo12:__vdso_data",
            p = out(reg) p,
            options(pure, nomem, nostack)
        )
    };
    p
}

fn counter() -> u64 {
    let c: u64;
    // SAFETY: reads the virtual counter, which the kernel enables at EL0 (CNTKCTL_EL1);
    // the ISB keeps the read from running ahead of the code before it.
    unsafe { asm!("isb", "mrs {c}, cntvct_el0", c = out(reg) c, options(nostack, nomem)) };
    c
}

/// A system call with two arguments (the fallback for what the page cannot answer).
fn syscall2(nr: usize, a: usize, b: usize) -> i32 {
    let r: isize;
    // SAFETY: the caller's arguments go to the kernel unchanged, as a direct call
    // would pass them; the kernel checks them.
    unsafe {
        asm!("svc #0", in("x8") nr, inlateout("x0") a as isize => r, in("x1") b, options(nostack))
    };
    r as i32
}

/// Nanoseconds of the monotonic clock and the real-time offset, read consistently
/// (retried while the kernel updates the page); `None` before the kernel filled it.
fn read_clock() -> Option<(u64, u64)> {
    let d = data();
    loop {
        // SAFETY: the data page is mapped read-only below the image in every process
        // that maps the image; the kernel only ever writes it under `seq`.
        let (seq, freq, base, offset) = unsafe {
            let seq = core::ptr::read_volatile(&(*d).seq);
            fence(Ordering::Acquire);
            (
                seq,
                core::ptr::read_volatile(&(*d).frequency),
                core::ptr::read_volatile(&(*d).base),
                core::ptr::read_volatile(&(*d).realtime_offset_ns),
            )
        };
        let ticks = counter().wrapping_sub(base);
        fence(Ordering::Acquire);
        // SAFETY: as above.
        let again = unsafe { core::ptr::read_volatile(&(*d).seq) };
        if seq & 1 != 0 || seq != again {
            continue;
        }
        let freq = NonZeroU64::new(freq)?;
        // Seconds and the remainder apart: the remainder is below the frequency
        // (under 2^32 on every board), so its product with 10^9 cannot overflow.
        let secs = ticks / freq;
        let rem = ticks % freq;
        let ns = secs * 1_000_000_000 + rem * 1_000_000_000 / freq;
        return Some((ns, offset));
    }
}

/// `clock_gettime(clock, ts)` for the counter clocks; any other clock, or a page not yet
/// filled, goes to the system call.
///
/// # Safety
/// `ts` must be valid for a write of a `Timespec`, as for the system call (a bad pointer
/// faults here, where the system call would return `-EFAULT`).
#[no_mangle]
pub unsafe extern "C" fn __kernel_clock_gettime(clock: i32, ts: *mut Timespec) -> i32 {
    let realtime = match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_TAI => true,
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => false,
        _ => return syscall2(NR_CLOCK_GETTIME, clock as usize, ts as usize),
    };
    let Some((ns, offset)) = read_clock() else {
        return syscall2(NR_CLOCK_GETTIME, clock as usize, ts as usize);
    };
    if ts.is_null() {
        return -EFAULT;
    }
    let ns = if realtime { ns + offset } else { ns };
    // SAFETY: the caller's contract.
    unsafe {
        (*ts).sec = (ns / 1_000_000_000) as i64;
        (*ts).nsec = (ns % 1_000_000_000) as i64;
    }
    0
}

/// `gettimeofday(tv, tz)`: the real-time clock in microseconds; the time zone is UTC.
///
/// # Safety
/// `tv` and `tz` must each be null or valid for a write, as for the system call.
#[no_mangle]
pub unsafe extern "C" fn __kernel_gettimeofday(tv: *mut Timeval, tz: *mut Timezone) -> i32 {
    let Some((ns, offset)) = read_clock() else {
        return syscall2(NR_GETTIMEOFDAY, tv as usize, tz as usize);
    };
    let ns = ns + offset;
    // SAFETY: the caller's contract.
    unsafe {
        if !tv.is_null() {
            (*tv).sec = (ns / 1_000_000_000) as i64;
            (*tv).usec = (ns % 1_000_000_000 / 1000) as i64;
        }
        if !tz.is_null() {
            (*tz).minuteswest = 0;
            (*tz).dsttime = 0;
        }
    }
    0
}

/// `clock_getres(clock, res)`: 1 ns for the counter clocks (the resolution Linux reports
/// for its high-resolution clocks); any other clock goes to the system call.
///
/// # Safety
/// `res` must be null or valid for a write of a `Timespec`.
#[no_mangle]
pub unsafe extern "C" fn __kernel_clock_getres(clock: i32, res: *mut Timespec) -> i32 {
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_BOOTTIME | CLOCK_TAI => {
            if !res.is_null() {
                // SAFETY: the caller's contract.
                unsafe {
                    (*res).sec = 0;
                    (*res).nsec = 1;
                }
            }
            0
        }
        _ => syscall2(NR_CLOCK_GETRES, clock as usize, res as usize),
    }
}

// The signal-return trampoline: `rt_sigreturn` (139) with the frame the kernel built on
// the stack. The image's entry point (`vdso.lds`), so the kernel finds it.
global_asm!(
    ".section .text.sigreturn, \"ax\"",
    ".globl __kernel_rt_sigreturn",
    ".type __kernel_rt_sigreturn, %function",
    "__kernel_rt_sigreturn:",
    "    mov x8, #139",
    "    svc #0",
    ".size __kernel_rt_sigreturn, . - __kernel_rt_sigreturn",
);
