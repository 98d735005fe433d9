//! A notifier subscriber that records every callback, for the suites that check the
//! order start → atomic hook → end (`aspace`, `fork`). Atomic-safe: a spinlock and no
//! allocation in the hook.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::sync::SpinLock;
use mm::notifier::{AtomicCtx, Notifier, SleepCtx};
use mm::VaRange;

/// One callback and its range (start, end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ev {
    /// `invalidate_range_start`.
    Start(u64, u64),
    /// `invalidate_secondary_tlbs` (the atomic hook).
    Hook(u64, u64),
    /// `invalidate_range_end`.
    End(u64, u64),
}

const SLOTS: usize = 64;

/// The first 64 callbacks, and how many times `release` ran.
pub struct Recorder {
    events: SpinLock<[Option<Ev>; SLOTS]>,
    n: AtomicU32,
    /// `release` calls.
    pub released: AtomicU32,
}

impl Recorder {
    /// Nothing recorded.
    pub const fn new() -> Self {
        Self {
            events: SpinLock::new([None; SLOTS]),
            n: AtomicU32::new(0),
            released: AtomicU32::new(0),
        }
    }

    fn push(&self, e: Ev) {
        let i = self.n.fetch_add(1, Ordering::Relaxed) as usize;
        if i < SLOTS {
            self.events.lock()[i] = Some(e);
        }
    }

    /// What was recorded, in order.
    pub fn events(&self) -> Vec<Ev> {
        self.events.lock().iter().flatten().copied().collect()
    }

    /// What was recorded, in order; the record starts again empty.
    pub fn take(&self) -> Vec<Ev> {
        let mut ev = self.events.lock();
        let out = ev.iter().flatten().copied().collect();
        *ev = [None; SLOTS];
        self.n.store(0, Ordering::Relaxed);
        out
    }
}

/// A range as (start, end).
pub fn span(r: &VaRange) -> (u64, u64) {
    (r.start.as_u64(), r.end.as_u64())
}

impl Notifier for Recorder {
    fn invalidate_range_start(&self, r: &VaRange, _: &SleepCtx) {
        let (a, b) = span(r);
        self.push(Ev::Start(a, b));
    }
    fn invalidate_secondary_tlbs(&self, r: &VaRange, _: &AtomicCtx) {
        let (a, b) = span(r);
        self.push(Ev::Hook(a, b));
    }
    fn invalidate_range_end(&self, r: &VaRange, _: &SleepCtx) {
        let (a, b) = span(r);
        self.push(Ev::End(a, b));
    }
    fn release(&self, _: &SleepCtx) {
        self.released.fetch_add(1, Ordering::Relaxed);
    }
}

/// A subscriber that takes a sleeping lock in its atomic hook (caught: the hook runs
/// under the PTL) and in `invalidate_range_end` (fine: sleepable).
pub struct SleepsInHook;

static HOOK_MUTEX: kernel::sync::Mutex<()> = kernel::sync::Mutex::new(());

impl Notifier for SleepsInHook {
    fn invalidate_range_start(&self, _: &VaRange, _: &SleepCtx) {}
    fn invalidate_secondary_tlbs(&self, _: &VaRange, _: &AtomicCtx) {
        let _g = HOOK_MUTEX.lock(); // a sleeping lock in atomic context
    }
    fn invalidate_range_end(&self, _: &VaRange, _: &SleepCtx) {
        let _g = HOOK_MUTEX.lock(); // fine here
    }
    fn release(&self, _: &SleepCtx) {}
}
