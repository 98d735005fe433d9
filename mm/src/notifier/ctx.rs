//! Context tokens: a callback that may sleep receives a `SleepCtx`, the atomic
//! hook an `AtomicCtx`. The wrappers in `registry` make them after the
//! platform's checks ran; elsewhere only platform code that proves the
//! context its own way may (`assume`, unsafe: a spinlock guard, a passed
//! `might_sleep()`). APIs take the token of the only context they may run
//! in, so the wrong call does not compile:
//!
//! ```compile_fail
//! use mm::notifier::{AtomicCtx, SleepCtx};
//! fn wait_for_device(_: &SleepCtx) {}
//! fn atomic_hook(ctx: &AtomicCtx) {
//!     wait_for_device(ctx); // error: an atomic token is not a sleep token
//! }
//! ```
//!
//! ```compile_fail
//! let _ = mm::notifier::SleepCtx::new(); // error: private; only the wrappers make one
//! ```
use core::marker::PhantomData;
use core::panic::Location;

use super::windows::NotifierViolation;

/// Proof that the callback runs in sleepable context (`mmap_lock` held, no
/// spinlock, IRQs on). Not `Send`: it names the running task's context.
#[derive(Debug)]
pub struct SleepCtx {
    _not_send: PhantomData<*const ()>,
}

/// Proof that the callback runs in atomic context (the page-table lock is
/// held, preemption off): no sleeping, bounded polling only.
#[derive(Debug)]
pub struct AtomicCtx {
    _not_send: PhantomData<*const ()>,
}

impl SleepCtx {
    pub(crate) const fn new() -> Self {
        Self {
            _not_send: PhantomData,
        }
    }

    /// A token for sleepable code outside the notifier wrappers.
    ///
    /// # Safety
    /// The caller may sleep here (no spinlock held, IRQs on, not in an
    /// interrupt handler), as a passed `might_sleep()` check shows.
    pub const unsafe fn assume() -> Self {
        Self::new()
    }
}

impl AtomicCtx {
    pub(crate) const fn new() -> Self {
        Self {
            _not_send: PhantomData,
        }
    }

    /// A token for atomic code outside the notifier wrappers.
    ///
    /// # Safety
    /// The caller is in atomic context for as long as it holds the token (a
    /// spinlock held, preemption off), as a lock guard it borrows from shows.
    pub const unsafe fn assume() -> Self {
        Self::new()
    }
}

/// What the platform (the kernel on target, a model in host tests) checks
/// for the wrappers. Each method reports with the caller's location.
pub trait ContextChecks {
    /// Stops with a report if the caller may not sleep here (a spinlock
    /// held, IRQs off, in an interrupt handler). The kernel's `might_sleep()`.
    fn might_sleep(&self, caller: &'static Location<'static>);
    /// Stops with a report unless the caller is in atomic context with the
    /// address space's page-table lock held.
    fn assert_atomic(&self, caller: &'static Location<'static>);
    /// Reports a broken notifier rule and stops.
    fn violation(&self, v: NotifierViolation, caller: &'static Location<'static>) -> !;
}
