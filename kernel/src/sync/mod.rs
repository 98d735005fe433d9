//! Locks and waiting, in two families (DESIGN.md §1). Atomic: `SpinLock`, `SpinLockIrq`
//! (preemption off while held, IRQs too for the latter; never sleep under them). Sleepable:
//! `Mutex`, `RwSemaphore`, `Completion`, `WaitQueue` (`might_sleep()` first, always).
//! `validate` checks the rules between them; lock classes come from `policy`.
pub mod completion;
pub mod mutex;
pub(crate) mod raw;
mod rwsem;
pub mod spinlock;
pub mod validate;
pub mod waitqueue;

/// How long a spinning waiter lets others overtake it before it claims the next turn
/// (`policy::handoff`): 4 ms of the generic timer, as Linux's rwsem hand-off.
fn spin_patience() -> u64 {
    drivers::timer::frequency() / 250
}

/// Spins until `raw` is ours, with the generic timer as the hand-off clock.
pub(crate) fn spin_until_ours(raw: &policy::HandoffLock) {
    raw.lock(drivers::timer::counter, spin_patience());
}

pub use completion::Completion;
pub use mutex::{Mutex, MutexGuard};
pub use policy::{LockClass, LockKind, Nesting, Violation, MMAP_LOCK, PTL, UNCLASSIFIED};
pub use rwsem::{RwSemReadGuard, RwSemWriteGuard, RwSemaphore};
pub use spinlock::{SpinLock, SpinLockGuard, SpinLockIrq, SpinLockIrqGuard};
pub use validate::{might_sleep, ENABLED as VALIDATION};
pub use waitqueue::WaitQueue;
