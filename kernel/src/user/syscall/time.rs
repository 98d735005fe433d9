//! Time: `clock_gettime`, `clock_getres`, `gettimeofday` and `nanosleep` from the
//! generic timer (CNTVCT_EL0). The vDSO (`kernel/vdso`) answers the first three from
//! the counter too, without a system call; these are what it falls back to.
//! There is no real-time clock: CLOCK_REALTIME counts from boot as if boot
//! were the epoch.
use super::errno::{Errno, EINTR, EINVAL, EOPNOTSUPP};
use super::{Args, Result};
use crate::user::signal::RestartBlock;
use crate::user::{current_thread, uaccess};
use core::time::Duration;
use mm::VirtAddr;

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;
const CLOCK_TAI: u64 = 11;

/// A `clockid_t` argument: an `int`, whose register's upper half is ignored.
fn clock_id(raw: u64) -> u64 {
    u64::from(raw as u32)
}

/// Time since boot (the same for every clock but the CPU-time ones).
pub fn now(_realtime: bool) -> Duration {
    Duration::from_nanos(drivers::timer::ticks_to_ns(drivers::timer::counter()))
}

/// `clock_gettime(clockid, tp)`: real-time and monotonic clocks read the time
/// since boot; the CPU-time clocks the thread's or process's run time.
pub fn clock_gettime(a: Args) -> Result {
    let [clock, ts, ..] = a.0;
    let t = match clock_id(clock) {
        // No TAI offset is ever set: TAI reads as the real-time clock.
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_TAI => now(true),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            now(false)
        }
        CLOCK_THREAD_CPUTIME_ID => Duration::from_nanos(drivers::timer::ticks_to_ns(
            crate::task::current().cpu_time(),
        )),
        CLOCK_PROCESS_CPUTIME_ID => Duration::from_nanos(drivers::timer::ticks_to_ns(
            current_thread().map_or(0, |t| t.process.cpu_time()),
        )),
        _ => return Err(EINVAL),
    };
    uaccess::write_timespec(
        VirtAddr::new(ts),
        t.as_secs() as i64,
        i64::from(t.subsec_nanos()),
    )?;
    Ok(0)
}

/// `clock_getres(clockid, res)`: 1 ns for every clock (Linux's resolution for its
/// high-resolution and CPU-time clocks; the coarse clocks read the counter here too);
/// a null `res` only checks the clock.
pub fn clock_getres(a: Args) -> Result {
    let [clock, res, ..] = a.0;
    match clock_id(clock) {
        CLOCK_REALTIME
        | CLOCK_MONOTONIC
        | CLOCK_PROCESS_CPUTIME_ID
        | CLOCK_THREAD_CPUTIME_ID
        | CLOCK_MONOTONIC_RAW
        | CLOCK_REALTIME_COARSE
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_BOOTTIME
        | CLOCK_TAI => {}
        _ => return Err(EINVAL),
    }
    if res != 0 {
        uaccess::write_timespec(VirtAddr::new(res), 0, 1)?;
    }
    Ok(0)
}

/// `gettimeofday(tv, tz)`: the real-time clock in microseconds; the time zone (if
/// asked) is UTC without DST. Either pointer may be null.
pub fn gettimeofday(a: Args) -> Result {
    let [tv, tz, ..] = a.0;
    if tv != 0 {
        let t = now(true);
        uaccess::write_timespec(
            VirtAddr::new(tv),
            t.as_secs() as i64,
            i64::from(t.subsec_micros()),
        )?;
    }
    if tz != 0 {
        uaccess::copy_to(VirtAddr::new(tz), &[0u8; 8])?;
    }
    Ok(0)
}

/// `nanosleep(req, rem)`: sleeps for `*req` on the monotonic clock.
pub fn nanosleep(a: Args) -> Result {
    let [req, rem, ..] = a.0;
    sleep(req, rem, false)
}

const TIMER_ABSTIME: u64 = 1;

/// `clock_nanosleep(clock, flags, req, rem)`: relative, or until an
/// absolute time of `clock` with TIMER_ABSTIME.
pub fn clock_nanosleep(a: Args) -> Result {
    let [clock, flags, req, rem, ..] = a.0;
    match clock_id(clock) {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_TAI => {}
        // Clocks that exist but cannot be slept on (Linux: no `nsleep`).
        CLOCK_MONOTONIC_RAW
        | CLOCK_REALTIME_COARSE
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_THREAD_CPUTIME_ID => return Err(EOPNOTSUPP),
        _ => return Err(EINVAL),
    }
    let flags = u64::from(flags as u32);
    // clock_nanosleep returns the error number itself, not -1/errno: the
    // raw call still returns it negated, as every call here does.
    sleep(req, rem, flags & TIMER_ABSTIME != 0)
}

/// Sleeps in slices of at most 10 ms so an ending process is not held up.
fn sleep(req: u64, rem: u64, absolute: bool) -> Result {
    let (sec, nsec) = uaccess::read_timespec(VirtAddr::new(req))?;
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(EINVAL);
    }
    let asked = Duration::new(sec as u64, nsec as u32);
    let deadline = if absolute {
        asked
    } else {
        now(false).saturating_add(asked)
    };
    sleep_until(deadline, rem, absolute)
}

/// Sleeps until `deadline` on the monotonic clock. Interrupted by a signal: the time
/// left goes to `rem`; an absolute sleep starts again as it was asked if no handler
/// runs, a relative one goes on through `restart_syscall` until the same deadline (the
/// thread's restart block), as Linux's `hrtimer_nanosleep_restart`.
fn sleep_until(deadline: Duration, rem: u64, absolute: bool) -> Result {
    let thread = current_thread();
    loop {
        let now = now(false);
        if now >= deadline {
            return Ok(0);
        }
        let signalled = crate::user::signal::current_has_pending();
        if signalled || thread.is_some_and(|t| t.process.exiting()) {
            let left = deadline - now;
            if rem != 0 && !absolute {
                let _ = uaccess::write_timespec(
                    VirtAddr::new(rem),
                    left.as_secs() as i64,
                    i64::from(left.subsec_nanos()),
                );
            }
            if !signalled {
                return Err(EINTR);
            }
            if absolute {
                // EINTR if a handler runs, else the same call again.
                return Err(Errno(crate::user::signal::ERESTARTNOHAND));
            }
            if let Some(t) = thread {
                t.signals.set_restart_block(RestartBlock::Sleep {
                    deadline_ns: deadline.as_nanos() as u64,
                    rem,
                });
            }
            return Err(Errno(crate::user::signal::ERESTART_RESTARTBLOCK));
        }
        crate::sched::sleep((deadline - now).min(Duration::from_millis(10)));
    }
}

/// `restart_syscall()`: resumes what an interrupted call left in the thread's restart
/// block (a relative sleep, until its deadline); with none, `EINTR`.
pub fn restart_syscall() -> Result {
    match current_thread().and_then(|t| t.signals.take_restart_block()) {
        Some(RestartBlock::Sleep { deadline_ns, rem }) => {
            sleep_until(Duration::from_nanos(deadline_ns), rem, false)
        }
        None => Err(EINTR),
    }
}

const ITIMER_REAL: u64 = 0;
const ITIMER_PROF: u64 = 2;

/// The timer a `which` argument (an `int`) names: `ITIMER_REAL` or `ITIMER_PROF`
/// (`ITIMER_VIRTUAL`, user time only, is not kept apart from system time here: EINVAL).
fn which(raw: u64) -> core::result::Result<crate::user::itimer::Which, Errno> {
    match u64::from(raw as u32) {
        ITIMER_REAL => Ok(crate::user::itimer::Which::Real),
        ITIMER_PROF => Ok(crate::user::itimer::Which::Prof),
        _ => Err(EINVAL),
    }
}

fn read_timeval(at: u64) -> core::result::Result<(i64, i64), Errno> {
    let sec = uaccess::read_u64(VirtAddr::new(at))? as i64;
    let usec = uaccess::read_u64(VirtAddr::new(at + 8))? as i64;
    Ok((sec, usec))
}

fn timeval_ticks(sec: i64, usec: i64) -> core::result::Result<u64, Errno> {
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(EINVAL);
    }
    let ns = (sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(usec as u64 * 1000);
    Ok(drivers::timer::ns_to_ticks(ns))
}

fn write_itimerval(at: u64, value: u64, interval: u64) -> Result {
    let mut b = [0u8; 32];
    for (i, t) in [interval, value].iter().enumerate() {
        let ns = drivers::timer::ticks_to_ns(*t);
        // Rounded up to a microsecond: a running timer never reads as zero.
        let us = ns.div_ceil(1000);
        b[16 * i..16 * i + 8].copy_from_slice(&(us / 1_000_000).to_le_bytes());
        b[16 * i + 8..16 * i + 16].copy_from_slice(&(us % 1_000_000).to_le_bytes());
    }
    uaccess::copy_to(VirtAddr::new(at), &b)?;
    Ok(0)
}

/// `getitimer(which, value)`: `ITIMER_REAL` or `ITIMER_PROF`.
pub fn getitimer(a: Args) -> Result {
    let [which_raw, value, ..] = a.0;
    let which = which(which_raw)?;
    let p = current_thread().expect("a user thread").process.clone();
    let (left, interval) = crate::user::itimer::get(&p, which);
    write_itimerval(value, left, interval)
}

/// `setitimer(which, new, old)`: `ITIMER_REAL` (SIGALRM) or `ITIMER_PROF` (SIGPROF, on
/// the process's CPU time) at expiry, then every interval.
pub fn setitimer(a: Args) -> Result {
    let [which_raw, new, old, ..] = a.0;
    let which = which(which_raw)?;
    let (mut value, mut interval) = (0, 0);
    if new != 0 {
        let (isec, iusec) = read_timeval(new)?;
        let (vsec, vusec) = read_timeval(new + 16)?;
        interval = timeval_ticks(isec, iusec)?;
        value = timeval_ticks(vsec, vusec)?;
    }
    let p = current_thread().expect("a user thread").process.clone();
    let (left, int) = if new != 0 {
        crate::user::itimer::set(&p, which, value, interval)
    } else {
        crate::user::itimer::get(&p, which)
    };
    if old != 0 {
        write_itimerval(old, left, int)?;
    }
    Ok(0)
}
