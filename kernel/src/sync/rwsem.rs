//! `RwSemaphore<T>`: a sleeping reader/writer lock (the shape of `mmap_lock`). Readers
//! share it; once anyone waits, newcomers queue behind them, so a waiting writer blocks new
//! readers and writers do not starve. A release hands the lock to the queue's front: one
//! writer, or every reader up to the next writer. The policy is `policy::rwsem`'s.
//!
//! Contract: sleepable context only (`might_sleep()` first, and the locks held are checked
//! before the semaphore is tried); may be held across sleeps.
use super::{validate, waitqueue::WaitQueue};
use crate::{arch, sched};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::panic::Location;
use core::sync::atomic::{AtomicUsize, Ordering};
use policy::rwsem::{self, Grant, Want, ONE_READER, WAITERS, WRITER};
use policy::{LockClass, LockKind, UNCLASSIFIED};

const WANT_READ: u8 = 0;
const WANT_WRITE: u8 = 1;

/// A sleeping reader-writer lock around a `T`: many readers or one writer.
pub struct RwSemaphore<T> {
    /// Readers × `ONE_READER` | `WRITER` | `WAITERS` (`policy::rwsem`).
    state: AtomicUsize,
    waiters: WaitQueue,
    class: &'static LockClass,
    data: UnsafeCell<T>,
}

// SAFETY: readers get `&T` concurrently (hence `Sync` for T), a writer `&mut T` alone.
unsafe impl<T: Send + Sync> Sync for RwSemaphore<T> {}
// SAFETY: moving the semaphore moves the data.
unsafe impl<T: Send> Send for RwSemaphore<T> {}

impl<T> RwSemaphore<T> {
    /// A semaphore of the unclassified class.
    pub const fn new(value: T) -> Self {
        Self::new_in(&UNCLASSIFIED, value)
    }

    /// A semaphore of `class` (an address space's is `policy::MMAP_LOCK`).
    pub const fn new_in(class: &'static LockClass, value: T) -> Self {
        Self {
            state: AtomicUsize::new(0),
            waiters: WaitQueue::new(),
            class,
            data: UnsafeCell::new(value),
        }
    }

    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Shared access; sleeps while a writer holds or waits for it. Sleepable context only.
    #[track_caller]
    pub fn read(&self) -> RwSemReadGuard<'_, T> {
        let at = Location::caller();
        validate::acquire_sleeping(self.class, LockKind::RwRead, self.addr(), at);
        if !self.try_fast(rwsem::read_fast) {
            self.acquire_slow(Want::Read, at);
        }
        RwSemReadGuard {
            sem: self,
            _not_send: PhantomData,
        }
    }

    /// Exclusive access; sleeps while anyone holds or waits for it. Sleepable context only.
    #[track_caller]
    pub fn write(&self) -> RwSemWriteGuard<'_, T> {
        let at = Location::caller();
        validate::acquire_sleeping(self.class, LockKind::RwWrite, self.addr(), at);
        if !self.try_fast(rwsem::write_fast) {
            self.acquire_slow(Want::Write, at);
        }
        RwSemWriteGuard {
            sem: self,
            _not_send: PhantomData,
        }
    }

    fn try_fast(&self, policy: fn(usize) -> Option<usize>) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while let Some(new) = policy(s) {
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    fn acquire_slow(&self, want: Want, at: &'static Location<'static>) {
        let policy = match want {
            Want::Read => rwsem::read_fast,
            Want::Write => rwsem::write_fast,
        };
        let flags = arch::irq_save();
        {
            let mut list = self.waiters.lock();
            // Enter, or set WAITERS on a state in which we may not enter: one the holders
            // still hold, so the last of them sees WAITERS and hands over. Setting it on a
            // state that became free since a failed attempt would leave nobody to wake us.
            loop {
                let s = self.state.load(Ordering::Relaxed);
                if let Some(new) = policy(s) {
                    if self
                        .state
                        .compare_exchange(s, new, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        drop(list);
                        arch::irq_restore(flags);
                        return;
                    }
                } else if s & WAITERS != 0
                    || self
                        .state
                        .compare_exchange(s, s | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    break;
                }
            }
            list.enqueue_current(match want {
                Want::Read => WANT_READ,
                Want::Write => WANT_WRITE,
            });
        }
        // Woken by `hand_over`, which already made us a holder.
        sched::block_masked(at);
        arch::irq_restore(flags);
    }

    fn read_unlock(&self) {
        validate::release(self.addr());
        let left = self.state.fetch_sub(ONE_READER, Ordering::Release) - ONE_READER;
        if rwsem::read_release_must_grant(left) {
            self.hand_over();
        }
    }

    fn write_unlock(&self) {
        validate::release(self.addr());
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // WRITER | WAITERS: nobody else changes the state until we hand over.
            self.state.store(WAITERS, Ordering::Release);
            self.hand_over();
        }
    }

    /// The lock has no holder and waiters are queued (state == WAITERS): admit the front.
    fn hand_over(&self) {
        let mut list = self.waiters.lock();
        let wants = list.wants().map(|w| match w {
            WANT_WRITE => Want::Write,
            _ => Want::Read,
        });
        let grant = rwsem::grant(wants).expect("rwsem: WAITERS set with nobody queued");
        let n = match grant {
            Grant::Writer => 1,
            Grant::Readers(n) => n,
        };
        self.state.store(
            rwsem::granted_state(grant, list.len() > n),
            Ordering::Release,
        );
        for _ in 0..n {
            let t = list.dequeue().expect("counted above");
            sched::wake(t);
        }
    }

    /// Readers holding it now (racy: a hint).
    pub fn readers(&self) -> usize {
        rwsem::readers(self.state.load(Ordering::Relaxed))
    }

    /// True while a writer holds it.
    pub fn is_write_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WRITER != 0
    }

    /// The data, without locking: `&mut self` proves nobody else can hold it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Shared access to an [`RwSemaphore`].
pub struct RwSemReadGuard<'a, T> {
    sem: &'a RwSemaphore<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for RwSemReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: readers only read; no writer holds the lock while we do.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T> Drop for RwSemReadGuard<'_, T> {
    fn drop(&mut self) {
        self.sem.read_unlock();
    }
}

/// Exclusive access to an [`RwSemaphore`].
pub struct RwSemWriteGuard<'a, T> {
    sem: &'a RwSemaphore<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for RwSemWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer holds the lock alone.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T> DerefMut for RwSemWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the writer holds the lock alone.
        unsafe { &mut *self.sem.data.get() }
    }
}

impl<T> Drop for RwSemWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.sem.write_unlock();
    }
}
