//! Context tokens: a callback that may sleep receives a `SleepCtx`, the atomic
//! hook an `AtomicCtx`. Only the wrappers in `registry` make them, after the
//! platform's checks ran, so a subscriber cannot call a sleeping API with an
//! atomic token in hand without first making a sleep token it cannot make.
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
}

impl AtomicCtx {
    pub(crate) const fn new() -> Self {
        Self {
            _not_send: PhantomData,
        }
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
