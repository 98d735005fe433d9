//! `policy`: the pure, host-testable half of the kernel's locking and scheduling (DESIGN.md §1-§2):
//! lock classes and their declared order, the per-task held-lock record and its rule checks
//! (lockdep-lite), the learned lock-order graph, the sleepable-context rule, the spinlocks' raw
//! hand-off lock, the run-queue ring, CPU placement and work stealing, and the rwsem admission policy.
//!
//! The kernel (`kernel/src/sync`, `kernel/src/sched`) supplies what only a CPU has: the
//! per-CPU and per-task state these checks read, blocking, waking and interrupts.

#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod class;
pub mod context;
pub mod graph;
pub mod handoff;
pub mod held;
pub mod placement;
pub mod runqueue;
pub mod rwsem;
pub mod violation;

pub use class::{LockClass, LockKind, Nesting, Order, MMAP_LOCK, PTL, UNCLASSIFIED};
pub use context::ExecContext;
pub use graph::LockGraph;
pub use handoff::HandoffLock;
pub use held::{HeldLock, HeldLocks};
pub use runqueue::RunQueue;
pub use violation::{AtomicReason, Violation};
