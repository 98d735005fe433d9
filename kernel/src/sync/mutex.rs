//! `Mutex<T>`: a sleeping lock. An uncontended acquire is one compare-and-swap of the owner
//! word. A contended one first spins briefly while the owner is running on another CPU and
//! nobody is queued (the owner is likely to release soon; sleeping would cost a wake-up),
//! then queues the task and sleeps. Release hands the lock straight to the oldest waiter
//! (FIFO, so no queued waiter starves), which wakes up owning it.
//!
//! Contract: sleepable context only. `lock` calls `might_sleep()` first and checks the
//! locks held, so taking a mutex under a spinlock, with IRQs off or in an interrupt
//! handler is reported even when the mutex is free. May be held across sleeps.
use super::{validate, waitqueue::WaitQueue};
use crate::{arch, sched, task};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::panic::Location;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use policy::{LockClass, LockKind, UNCLASSIFIED};

/// Owner-word flag: tasks wait in the queue (the owner's release must hand over).
const WAITERS: usize = 1;

/// Polls of the owner word before a contended acquirer gives up spinning and sleeps.
const SPIN_POLLS: u32 = 2000;

/// A sleeping lock around a `T` (see the module doc for the contract).
pub struct Mutex<T> {
    /// The owning task's address, | `WAITERS`; 0 when free.
    owner: AtomicUsize,
    waiters: WaitQueue,
    class: &'static LockClass,
    /// Acquisitions that had to sleep (queue), for tests and benchmarks.
    contended: AtomicU64,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, held by one task at a time.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the data.
unsafe impl<T: Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    /// A mutex of the unclassified class.
    pub const fn new(value: T) -> Self {
        Self::new_in(&UNCLASSIFIED, value)
    }

    /// A mutex of `class`: ordering rules of the class apply.
    pub const fn new_in(class: &'static LockClass, value: T) -> Self {
        Self {
            owner: AtomicUsize::new(0),
            waiters: WaitQueue::new(),
            class,
            contended: AtomicU64::new(0),
            data: UnsafeCell::new(value),
        }
    }

    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Acquires the mutex, sleeping while another task holds it. Sleepable context only.
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let at = Location::caller();
        validate::acquire_sleeping(self.class, LockKind::Mutex, self.addr(), at);
        let me = task::current() as *const task::Task as usize;
        if self
            .owner
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(me, at);
        }
        MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }

    /// Spins while the owner runs on a CPU and nobody is queued; true if it got the lock.
    fn spin_while_owner_runs(&self, me: usize) -> bool {
        for _ in 0..SPIN_POLLS {
            let owner = self.owner.load(Ordering::Relaxed);
            if owner == 0 {
                if self
                    .owner
                    .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            if owner & WAITERS != 0 {
                return false;
            }
            // SAFETY: a non-zero owner word is the address of a task in the static task
            // table (`lock` stores `task::current()`); reading its atomics is always sound.
            let holder = unsafe { &*(owner as *const task::Task) };
            if !holder.on_cpu.load(Ordering::Relaxed) || holder.state() != task::State::Running {
                return false;
            }
            core::hint::spin_loop();
        }
        false
    }

    fn lock_slow(&self, me: usize, at: &'static Location<'static>) {
        if self.spin_while_owner_runs(me) {
            return;
        }
        self.contended.fetch_add(1, Ordering::Relaxed);
        loop {
            let flags = arch::irq_save();
            {
                let mut list = self.waiters.lock();
                let owner = self.owner.load(Ordering::Relaxed);
                if owner == 0 {
                    let taken = self
                        .owner
                        .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok();
                    drop(list);
                    arch::irq_restore(flags);
                    if taken {
                        return;
                    }
                    continue;
                }
                if owner & WAITERS == 0
                    && self
                        .owner
                        .compare_exchange(
                            owner,
                            owner | WAITERS,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_err()
                {
                    drop(list);
                    arch::irq_restore(flags);
                    continue;
                }
                list.enqueue_current(0);
            }
            sched::block_masked(at);
            arch::irq_restore(flags);
            // The releaser handed the lock over before waking us.
            if self.owner.load(Ordering::Acquire) & !WAITERS == me {
                return;
            }
        }
    }

    fn unlock(&self) {
        validate::release(self.addr());
        let me = task::current() as *const task::Task as usize;
        if self
            .owner
            .compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        let mut list = self.waiters.lock();
        let owner = self.owner.load(Ordering::Relaxed);
        assert!(
            owner & !WAITERS == me,
            "mutex released by task `{}`, which does not own it",
            task::current().name()
        );
        let next = list
            .dequeue()
            .expect("mutex: WAITERS set with nobody queued");
        let more = if list.is_empty() { 0 } else { WAITERS };
        self.owner
            .store(next as *const task::Task as usize | more, Ordering::Release);
        sched::wake(next);
    }

    /// Acquisitions so far that had to sleep.
    pub fn contentions(&self) -> u64 {
        self.contended.load(Ordering::Relaxed)
    }

    /// Some task holds it (a racy snapshot, for assertions and tests).
    pub fn is_locked(&self) -> bool {
        self.owner.load(Ordering::Relaxed) != 0
    }

    /// The data, without locking: `&mut self` proves nobody else can hold it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Holds a [`Mutex`]; dropping it hands the mutex to the next waiter, if any.
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// Released by the task that took it.
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard owns the mutex.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard owns the mutex.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}
