//! `SpinLock<T>` and `SpinLockIrq<T>`: spinlocks (`policy::HandoffLock`: any running waiter
//! may take it, a starving one is handed it; no convoy behind a waiter whose virtual CPU is
//! not running) that make their holder atomic. `SpinLock` disables preemption while held
//! (a holder is never preempted, so waiters spin only for a critical section's length);
//! `SpinLockIrq` also masks IRQs on this CPU, for data an interrupt handler shares.
//!
//! Contract: any context may take them (`SpinLock` only if no interrupt handler takes the
//! same lock: use `SpinLockIrq` for that). Under either, nothing may sleep: a sleeping lock,
//! `sleep` or `yield_now` taken under one is reported by lock validation.
use super::validate;
use crate::{arch, percpu, sched::preempt};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::panic::Location;
use core::sync::atomic::Ordering;
use policy::{HandoffLock, LockClass, LockKind, UNCLASSIFIED};

/// A spinlock that disables preemption while held.
pub struct SpinLock<T> {
    raw: HandoffLock,
    class: &'static LockClass,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which exists on one CPU at a time.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the data.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A lock of the unclassified class (no ordering rules; context rules still apply).
    pub const fn new(value: T) -> Self {
        Self::new_in(&UNCLASSIFIED, value)
    }

    /// A lock of `class`: ordering rules of the class apply.
    pub const fn new_in(class: &'static LockClass, value: T) -> Self {
        Self {
            raw: HandoffLock::new(),
            class,
            data: UnsafeCell::new(value),
        }
    }

    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Disables preemption, checks the acquisition against the locks held, then spins
    /// until the lock is ours (a starving waiter is handed it before newcomers). Any
    /// context; does not sleep.
    #[track_caller]
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        preempt::disable();
        validate::acquire(self.class, LockKind::Spin, self.addr(), Location::caller());
        super::spin_until_ours(&self.raw);
        SpinLockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Takes the lock only if it is free right now.
    #[track_caller]
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        preempt::disable();
        if !self.raw.try_lock() {
            preempt::enable();
            return None;
        }
        validate::acquire(self.class, LockKind::Spin, self.addr(), Location::caller());
        Some(SpinLockGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// Some CPU holds it (a racy snapshot, for assertions and tests).
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The data, without locking: `&mut self` proves nobody else can hold it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Holds a [`SpinLock`]; dropping it releases the lock, then re-enables preemption (and
/// runs a reschedule that became due meanwhile).
pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
    /// Released on the CPU (and task) that took it.
    _not_send: PhantomData<*const ()>,
}

impl<T> SpinLockGuard<'_, T> {
    /// Proof of atomic context for as long as the lock is held: what an API
    /// that may only run atomically (the SMMU's invalidation) asks for.
    pub fn atomic_ctx(&self) -> &mm::notifier::AtomicCtx {
        // SAFETY: holding a spinlock keeps preemption off until the guard
        // drops, and the token borrows the guard.
        const CTX: mm::notifier::AtomicCtx = unsafe { mm::notifier::AtomicCtx::assume() };
        &CTX
    }
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock();
        validate::release(self.lock.addr());
        preempt::enable();
    }
}

/// A spinlock that masks IRQs on this CPU (and disables preemption) while held.
pub struct SpinLockIrq<T> {
    raw: HandoffLock,
    class: &'static LockClass,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which exists on one CPU at a time.
unsafe impl<T: Send> Sync for SpinLockIrq<T> {}
// SAFETY: moving the lock moves the data, which is `Send`.
unsafe impl<T: Send> Send for SpinLockIrq<T> {}

impl<T> SpinLockIrq<T> {
    /// A lock of the unclassified class (no ordering rules; context rules still apply).
    pub const fn new(value: T) -> Self {
        Self::new_in(&UNCLASSIFIED, value)
    }

    /// A lock of `class`: ordering rules of the class apply.
    pub const fn new_in(class: &'static LockClass, value: T) -> Self {
        Self {
            raw: HandoffLock::new(),
            class,
            data: UnsafeCell::new(value),
        }
    }

    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Masks IRQs, disables preemption, checks, spins until the lock is ours. Any context.
    #[track_caller]
    pub fn lock(&self) -> SpinLockIrqGuard<'_, T> {
        let flags = arch::irq_save();
        preempt::disable();
        percpu::this_cpu()
            .irq_off_depth
            .fetch_add(1, Ordering::Relaxed);
        validate::acquire(
            self.class,
            LockKind::SpinIrq,
            self.addr(),
            Location::caller(),
        );
        super::spin_until_ours(&self.raw);
        SpinLockIrqGuard {
            lock: self,
            flags,
            _not_send: PhantomData,
        }
    }

    /// Some CPU holds it (a racy snapshot, for assertions and tests).
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The data, without locking: `&mut self` proves nobody else can hold it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Holds a [`SpinLockIrq`]; dropping it releases the lock, restores the IRQ mask, then
/// re-enables preemption.
pub struct SpinLockIrqGuard<'a, T> {
    lock: &'a SpinLockIrq<T>,
    flags: u64,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for SpinLockIrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinLockIrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinLockIrqGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock();
        validate::release(self.lock.addr());
        percpu::this_cpu()
            .irq_off_depth
            .fetch_sub(1, Ordering::Relaxed);
        arch::irq_restore(self.flags);
        preempt::enable();
    }
}
