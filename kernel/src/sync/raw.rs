//! The scheduler's own lock: a `policy::HandoffLock` that masks IRQs while held and does
//! nothing else (no preempt count, no validation), so the run queues, sleep lists and wait queues
//! can use it from any context, interrupt handlers and the middle of a switch included.
//! Not for general use: hold it for a few instructions, never sleep under it.
use crate::arch;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use policy::HandoffLock;

pub struct RawSpinIrq<T> {
    lock: HandoffLock,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which exists on one CPU at a time.
unsafe impl<T: Send> Sync for RawSpinIrq<T> {}

impl<T> RawSpinIrq<T> {
    pub const fn new(value: T) -> Self {
        Self {
            lock: HandoffLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Masks IRQs on this CPU and spins until the lock is ours. Any context.
    pub fn lock(&self) -> RawSpinIrqGuard<'_, T> {
        let flags = arch::irq_save();
        super::spin_until_ours(&self.lock);
        RawSpinIrqGuard { lock: self, flags }
    }
}

/// Holds the lock; releasing it restores the IRQ mask the caller had.
pub struct RawSpinIrqGuard<'a, T> {
    lock: &'a RawSpinIrq<T>,
    flags: u64,
}

impl<T> Deref for RawSpinIrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for RawSpinIrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for RawSpinIrqGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.lock.unlock();
        arch::irq_restore(self.flags);
    }
}
