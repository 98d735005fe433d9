//! The preempt count: preemption is off while the current task's count is non-zero
//! (a spinlock held, or an explicit `disable`). The count lives in the task, so reading
//! and writing it needs no guard against migration. Leaving the last level runs a
//! reschedule that a tick or wake-up asked for meanwhile.
use crate::{arch, percpu, task};
use core::sync::atomic::{compiler_fence, Ordering};

/// Disables preemption on this CPU until the matching [`enable`]. Any context.
pub fn disable() {
    let t = task::current();
    t.preempt_count.store(
        t.preempt_count.load(Ordering::Relaxed) + 1,
        Ordering::Relaxed,
    );
    compiler_fence(Ordering::SeqCst);
}

/// Re-enables preemption; at count zero, with IRQs on and outside interrupt handlers,
/// switches now if a reschedule is pending. Any context.
pub fn enable() {
    if dec() == 0 && percpu::this_cpu().need_resched.load(Ordering::Relaxed) && arch::irqs_enabled()
    {
        super::reschedule();
    }
}

/// Re-enables preemption without acting on a pending reschedule (the scheduler's own
/// paths, which are about to switch or just did).
pub fn enable_no_resched() {
    dec();
}

fn dec() -> u32 {
    compiler_fence(Ordering::SeqCst);
    let t = task::current();
    let count = t.preempt_count.load(Ordering::Relaxed);
    assert!(count > 0, "preempt count underflow in task `{}`", t.name());
    t.preempt_count.store(count - 1, Ordering::Relaxed);
    count - 1
}

/// The current task's preempt count.
pub fn count() -> u32 {
    task::current().preempt_count()
}

/// Preemption off for the guard's lifetime.
pub struct PreemptGuard(());

impl PreemptGuard {
    /// Disables preemption (nesting) until the guard drops.
    pub fn new() -> Self {
        disable();
        Self(())
    }
}

impl Default for PreemptGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PreemptGuard {
    fn drop(&mut self) {
        enable();
    }
}
