//! `setitimer` / `getitimer`: per process, a real-time timer (`ITIMER_REAL`, SIGALRM; C
//! libraries build `alarm` on it, aarch64 has no such call) and a CPU-time timer
//! (`ITIMER_PROF`, SIGPROF, counting the CPU time of all the process's threads, as
//! Linux's). Each re-arms with its interval. One kernel task, started with the first
//! timer, sleeps until the earliest real-time deadline (at most 10 ms at a time, so that
//! a timer armed meanwhile, or a CPU-time timer, waits no longer than that) and fires
//! the expired ones.
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use super::signal::{self, SigInfo};
use super::Process;
use crate::sync::{SpinLock, WaitQueue};
use drivers::timer;

/// One process's timer: deadline and interval in counter ticks (0: disarmed / one-shot),
/// on its clock ([`Which`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ITimer {
    /// When it fires next (counter ticks of its clock; 0: not armed).
    pub deadline: u64,
    /// The period it re-arms with (0: once).
    pub interval: u64,
}

/// Which timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// `ITIMER_REAL`: the counter; SIGALRM.
    Real = 0,
    /// `ITIMER_PROF`: the process's CPU time; SIGPROF.
    Prof = 1,
}

impl Which {
    /// What the timer counts, now.
    fn now(self, process: &Process) -> u64 {
        match self {
            Which::Real => timer::counter(),
            Which::Prof => process.cpu_time(),
        }
    }
    fn signal(self) -> i32 {
        match self {
            Which::Real => signal::SIGALRM,
            Which::Prof => signal::SIGPROF,
        }
    }
}

/// A process's timers, by [`Which`].
pub type ITimers = [ITimer; 2];

/// Processes whose timer is armed.
static ARMED: SpinLock<Vec<Weak<Process>>> = SpinLock::new(Vec::new());
static KICK: WaitQueue = WaitQueue::new();
/// Bumped whenever a timer is armed (what an idle timer task waits for).
static GEN: AtomicU64 = AtomicU64::new(0);
static STARTED: spin::Once<()> = spin::Once::new();

/// What is left of `process`'s timer `which`: (time to the deadline, interval), in ticks.
pub fn get(process: &Process, which: Which) -> (u64, u64) {
    let now = which.now(process);
    let t = process.itimer.lock()[which as usize];
    if t.deadline == 0 {
        return (0, t.interval);
    }
    // An expired timer not yet fired reads as 1 tick left, as Linux never reads 0 then.
    (t.deadline.saturating_sub(now).max(1), t.interval)
}

/// Arms (`value` ticks from now, then every `interval`) or disarms (`value` 0) the timer;
/// returns the old setting as [`get`] does.
pub fn set(process: &Arc<Process>, which: Which, value: u64, interval: u64) -> (u64, u64) {
    let old = get(process, which);
    let deadline = if value == 0 {
        0
    } else {
        which.now(process).saturating_add(value)
    };
    process.itimer.lock()[which as usize] = ITimer { deadline, interval };
    if deadline != 0 {
        {
            let mut armed = ARMED.lock();
            armed.retain(|w| {
                w.strong_count() > 0 && !core::ptr::eq(w.as_ptr(), Arc::as_ptr(process))
            });
            armed.push(Arc::downgrade(process));
        }
        STARTED.call_once(|| {
            crate::task::spawn("itimer", run);
        });
        GEN.fetch_add(1, Ordering::AcqRel);
        KICK.wake_all();
    }
    old
}

fn run() {
    loop {
        let seen = GEN.load(Ordering::Acquire);
        let now = timer::counter();
        let mut due: Vec<(Arc<Process>, Which)> = Vec::new();
        let mut next = u64::MAX;
        {
            let mut armed = ARMED.lock();
            armed.retain(|w| {
                let Some(p) = w.upgrade() else { return false };
                if p.family.is_zombie() {
                    return false;
                }
                // Read before the timers' lock: the CPU time takes the thread list's.
                let cpu = p.cpu_time();
                let mut timers = p.itimer.lock();
                let mut keep = false;
                for which in [Which::Real, Which::Prof] {
                    let t = &mut timers[which as usize];
                    if t.deadline == 0 {
                        continue;
                    }
                    let at = if which == Which::Real { now } else { cpu };
                    if t.deadline <= at {
                        t.deadline = if t.interval == 0 { 0 } else { at + t.interval };
                        due.push((p.clone(), which));
                    }
                    if t.deadline != 0 {
                        keep = true;
                        // A CPU-time deadline has no wall-clock time: look again soon.
                        next = next.min(match which {
                            Which::Real => t.deadline,
                            Which::Prof => now + timer::ns_to_ticks(10_000_000),
                        });
                    }
                }
                keep
            });
        }
        for (p, which) in due {
            let _ = signal::send_to_process(&p, SigInfo::from_process(which.signal(), 0x80, 0));
        }
        if next == u64::MAX {
            KICK.wait_until(|| GEN.load(Ordering::Acquire) != seen);
            continue;
        }
        let left = timer::ticks_to_ns(next.saturating_sub(timer::counter()));
        crate::sched::sleep(Duration::from_nanos(left.clamp(1, 10_000_000)));
    }
}
