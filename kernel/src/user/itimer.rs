//! `setitimer(ITIMER_REAL)` / `getitimer`: a per-process real-time timer that sends
//! SIGALRM when it expires and re-arms with its interval (aarch64 has no `alarm` call: C
//! libraries build it on this). One kernel task, started with the first timer, sleeps
//! until the earliest deadline of every armed timer (at most 10 ms at a time, so that a
//! timer armed meanwhile waits no longer than that) and fires the expired ones.
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use super::signal::{self, SigInfo};
use super::Process;
use crate::sync::{SpinLock, WaitQueue};
use drivers::timer;

/// One process's timer: deadline and interval in counter ticks (0: disarmed / one-shot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ITimer {
    /// When it fires next (counter ticks; 0: not armed).
    pub deadline: u64,
    /// The period it re-arms with (0: once).
    pub interval: u64,
}

/// Processes whose timer is armed.
static ARMED: SpinLock<Vec<Weak<Process>>> = SpinLock::new(Vec::new());
static KICK: WaitQueue = WaitQueue::new();
/// Bumped whenever a timer is armed (what an idle timer task waits for).
static GEN: AtomicU64 = AtomicU64::new(0);
static STARTED: spin::Once<()> = spin::Once::new();

/// What is left of `process`'s timer: (time to the deadline, interval), in ticks.
pub fn get(process: &Process) -> (u64, u64) {
    let t = *process.itimer.lock();
    if t.deadline == 0 {
        return (0, t.interval);
    }
    // An expired timer not yet fired reads as 1 tick left, as Linux never reads 0 then.
    (
        t.deadline.saturating_sub(timer::counter()).max(1),
        t.interval,
    )
}

/// Arms (`value` ticks from now, then every `interval`) or disarms (`value` 0) the timer;
/// returns the old setting as [`get`] does.
pub fn set(process: &Arc<Process>, value: u64, interval: u64) -> (u64, u64) {
    let old = get(process);
    let deadline = if value == 0 {
        0
    } else {
        timer::counter().saturating_add(value)
    };
    *process.itimer.lock() = ITimer { deadline, interval };
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
        let mut due: Vec<Arc<Process>> = Vec::new();
        let mut next = u64::MAX;
        {
            let mut armed = ARMED.lock();
            armed.retain(|w| {
                let Some(p) = w.upgrade() else { return false };
                if p.family.is_zombie() {
                    return false;
                }
                let mut t = p.itimer.lock();
                if t.deadline == 0 {
                    return false;
                }
                if t.deadline <= now {
                    t.deadline = if t.interval == 0 { 0 } else { now + t.interval };
                    let keep = t.deadline != 0;
                    if keep {
                        next = next.min(t.deadline);
                    }
                    drop(t);
                    due.push(p);
                    return keep;
                }
                next = next.min(t.deadline);
                true
            });
        }
        for p in due {
            let _ = signal::send_to_process(&p, SigInfo::from_process(signal::SIGALRM, 0x80, 0));
        }
        if next == u64::MAX {
            KICK.wait_until(|| GEN.load(Ordering::Acquire) != seen);
            continue;
        }
        let left = timer::ticks_to_ns(next.saturating_sub(timer::counter()));
        crate::sched::sleep(Duration::from_nanos(left.clamp(1, 10_000_000)));
    }
}
