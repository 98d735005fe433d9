//! Clocks and sleeping: `clock_gettime`, `nanosleep`, and the generic timer's
//! virtual counter (readable at EL0 on both kernels).
use core::arch::asm;

use crate::errno::Errno;
use crate::sys::{nr, raw};

/// `struct timespec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    /// Whole seconds (`tv_sec`).
    pub sec: i64,
    /// Nanoseconds, 0 to 999 999 999 (`tv_nsec`).
    pub nsec: i64,
}

impl Timespec {
    /// Zero seconds.
    pub const ZERO: Timespec = Timespec { sec: 0, nsec: 0 };

    /// `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Timespec {
        Timespec {
            sec: (ms / 1000) as i64,
            nsec: ((ms % 1000) * 1_000_000) as i64,
        }
    }

    /// Nanoseconds since zero (saturating at 0 for negative times).
    pub fn as_nanos(self) -> u64 {
        (self.sec.max(0) as u64) * 1_000_000_000 + self.nsec.max(0) as u64
    }
}

/// Clock ids (include/uapi/linux/time.h).
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// CLOCK_REALTIME: wall-clock time.
    Realtime = 0,
    /// CLOCK_MONOTONIC: time since boot, never set back.
    Monotonic = 1,
}

/// `clock_gettime(clock)`: the clock's current time.
pub fn clock_gettime(clock: Clock) -> Result<Timespec, Errno> {
    let mut t = Timespec::default();
    // SAFETY: writes one timespec into `t`.
    unsafe {
        raw(
            nr::CLOCK_GETTIME,
            [clock as usize, &mut t as *mut Timespec as usize, 0, 0, 0, 0],
        )?
    };
    Ok(t)
}

/// Monotonic time in nanoseconds (panics if the clock fails).
pub fn now_ns() -> u64 {
    clock_gettime(Clock::Monotonic)
        .expect("clock_gettime(CLOCK_MONOTONIC)")
        .as_nanos()
}

/// `nanosleep(t)`: sleeps for `t` (EINTR if woken early).
pub fn nanosleep(t: &Timespec) -> Result<(), Errno> {
    // SAFETY: reads one timespec; no remainder pointer.
    unsafe {
        raw(
            nr::NANOSLEEP,
            [t as *const Timespec as usize, 0, 0, 0, 0, 0],
        )
    }
    .map(drop)
}

/// Sleeps for `ms` milliseconds; an early wake-up is not retried.
pub fn sleep_ms(ms: u64) {
    let _ = nanosleep(&Timespec::from_millis(ms));
}

/// `CNTVCT_EL0`.
pub fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reads the virtual counter, which both kernels let EL0 read.
    unsafe { asm!("isb", "mrs {t}, cntvct_el0", t = out(reg) t, options(nostack)) };
    t
}
