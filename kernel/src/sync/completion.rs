//! `Completion`: "wait until it is done" (a device finished, a task exited). `complete`
//! releases one waiter (or a later `wait`), `complete_all` every present and future one.
//!
//! Contract: `wait` sleeps (sleepable context only); `complete` and `complete_all` never
//! sleep and may be called from any context, interrupt handlers included.
use super::waitqueue::WaitQueue;
use crate::sched;
use core::sync::atomic::{AtomicU32, Ordering};

/// `done` value once `complete_all` ran.
const ALL: u32 = u32::MAX;

/// A count of "done" events that tasks sleep on until one is posted.
pub struct Completion {
    /// Completions not yet consumed by a `wait` (under the queue's lock).
    done: AtomicU32,
    waiters: WaitQueue,
}

impl Default for Completion {
    fn default() -> Self {
        Self::new()
    }
}

impl Completion {
    /// Nothing completed, nobody waiting.
    pub const fn new() -> Self {
        Self {
            done: AtomicU32::new(0),
            waiters: WaitQueue::new(),
        }
    }

    /// Lets one `wait` through (the oldest waiter, or the next caller). Any context.
    pub fn complete(&self) {
        let mut list = self.waiters.lock();
        let done = self.done.load(Ordering::Relaxed);
        if done != ALL {
            self.done.store(done + 1, Ordering::Relaxed);
        }
        if let Some(t) = list.dequeue() {
            sched::wake(t);
        }
    }

    /// Lets every `wait` through, now and later. Any context.
    pub fn complete_all(&self) {
        let mut list = self.waiters.lock();
        self.done.store(ALL, Ordering::Relaxed);
        while let Some(t) = list.dequeue() {
            sched::wake(t);
        }
    }

    /// Sleeps until a completion is available and consumes it. Sleepable context only.
    #[track_caller]
    pub fn wait(&self) {
        self.waiters
            .wait_until(|| match self.done.load(Ordering::Relaxed) {
                0 => false,
                ALL => true,
                n => {
                    self.done.store(n - 1, Ordering::Relaxed);
                    true
                }
            });
    }

    /// True if a `wait` would return at once.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Relaxed) != 0
    }

    /// Forgets past completions (no waiter may be queued).
    pub fn reinit(&self) {
        self.done.store(0, Ordering::Relaxed);
    }
}
