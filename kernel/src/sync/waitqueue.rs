//! Wait queues: a FIFO of blocked tasks (linked through `Task::wait_next`) under an
//! IRQ-safe raw lock. A waiter marks itself Blocked and queues itself under the lock, then
//! switches away with IRQs still masked, so a wake-up between the two cannot be lost.
//!
//! Contract: `wait_until` sleeps (sleepable context only, `might_sleep()` first); the
//! `wake_*` calls never sleep and may be called from any context, interrupt handlers too.
use super::raw::{RawSpinIrq, RawSpinIrqGuard};
use super::validate;
use crate::task::{self, State, Task};
use crate::{arch, sched};
use core::panic::Location;
use core::ptr;
use core::sync::atomic::Ordering;

/// The queued tasks, oldest first.
pub(crate) struct WaitList {
    head: *mut Task,
    tail: *mut Task,
    len: usize,
}

// SAFETY: the list holds pointers into the static task table and is only used under its
// queue's lock.
unsafe impl Send for WaitList {}

impl WaitList {
    const fn new() -> Self {
        Self {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Marks the current task Blocked and queues it last, tagged with `want`. The caller
    /// must then drop the guard and call `block` with IRQs still masked.
    pub(crate) fn enqueue_current(&mut self, want: u8) {
        let me = task::current();
        me.wait_want.store(want, Ordering::Relaxed);
        me.wait_next.store(ptr::null_mut(), Ordering::Relaxed);
        me.state.store(State::Blocked as u8, Ordering::Release);
        let me = ptr::from_ref(me).cast_mut();
        // SAFETY: `tail` is a queued task (table entry) while the list is not empty.
        match unsafe { self.tail.as_ref() } {
            Some(tail) => tail.wait_next.store(me, Ordering::Relaxed),
            None => self.head = me,
        }
        self.tail = me;
        self.len += 1;
    }

    /// Unqueues the oldest waiter (still Blocked: the caller wakes it).
    pub(crate) fn dequeue(&mut self) -> Option<&'static Task> {
        // SAFETY: `head` is a queued task (table entry) or null.
        let first = unsafe { self.head.as_ref() }?;
        self.head = first.wait_next.load(Ordering::Relaxed);
        if self.head.is_null() {
            self.tail = ptr::null_mut();
        }
        self.len -= 1;
        Some(first)
    }

    /// The `want` tags of the waiters, oldest first.
    pub(crate) fn wants(&self) -> impl Iterator<Item = u8> + '_ {
        let mut cur = self.head;
        core::iter::from_fn(move || {
            // SAFETY: `cur` is null or a queued task (a static table entry); the
            // list is borrowed, so no task is unlinked while we walk it.
            let t = unsafe { cur.as_ref() }?;
            cur = t.wait_next.load(Ordering::Relaxed);
            Some(t.wait_want.load(Ordering::Relaxed))
        })
    }
}

/// A queue of tasks waiting for something.
pub struct WaitQueue {
    list: RawSpinIrq<WaitList>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            list: RawSpinIrq::new(WaitList::new()),
        }
    }

    /// Sleeps until `condition` holds. It is evaluated with the queue locked (IRQs masked,
    /// so it must be short and must not sleep), first at once and then after each wake-up.
    /// Sleepable context only.
    #[track_caller]
    pub fn wait_until(&self, mut condition: impl FnMut() -> bool) {
        let at = Location::caller();
        validate::might_sleep_at(at);
        loop {
            let flags = arch::irq_save();
            {
                let mut list = self.list.lock();
                if condition() {
                    drop(list);
                    arch::irq_restore(flags);
                    return;
                }
                list.enqueue_current(0);
            }
            sched::block_masked(at);
            arch::irq_restore(flags);
        }
    }

    /// Wakes the oldest waiter; false if none. Any context.
    pub fn wake_one(&self) -> bool {
        let mut list = self.list.lock();
        match list.dequeue() {
            Some(t) => {
                sched::wake(t);
                true
            }
            None => false,
        }
    }

    /// Wakes every waiter; returns how many. Any context.
    pub fn wake_all(&self) -> usize {
        let mut list = self.list.lock();
        let mut n = 0;
        while let Some(t) = list.dequeue() {
            sched::wake(t);
            n += 1;
        }
        n
    }

    /// Waiters queued now (racy: a hint).
    pub fn waiters(&self) -> usize {
        self.list.lock().len()
    }

    /// The locked list, for primitives that decide under it (mutex, rwsem, completion).
    pub(crate) fn lock(&self) -> RawSpinIrqGuard<'_, WaitList> {
        self.list.lock()
    }
}
