//! `sleep`: the task leaves the CPU and sits on its CPU's sleep list (sorted by deadline)
//! until the timer interrupt on that CPU finds its deadline passed and wakes it. The tick
//! code arms the timer for the earlier of the next tick and the first deadline, so a sleep
//! ends within interrupt latency of its deadline, not at the next tick.
use crate::percpu::MAX_CPUS;
use crate::sync::{raw::RawSpinIrq, validate};
use crate::task::{self, State, Task};
use crate::{arch, tick};
use core::panic::Location;
use core::ptr;
use core::sync::atomic::Ordering;
use core::time::Duration;
use drivers::timer;

/// Sleepers of one CPU, linked through `Task::sleep_next`, earliest deadline first.
struct SleepList {
    head: *mut Task,
}

// SAFETY: the list holds pointers into the static task table; it is only used under its
// lock.
unsafe impl Send for SleepList {}

static SLEEPERS: [RawSpinIrq<SleepList>; MAX_CPUS] = [const {
    RawSpinIrq::new(SleepList {
        head: ptr::null_mut(),
    })
}; MAX_CPUS];

impl SleepList {
    fn insert(&mut self, task: &'static Task) {
        let deadline = task.wake_at.load(Ordering::Relaxed);
        let mut link: *mut *mut Task = &mut self.head;
        // SAFETY: every pointer in the list is a task in the static table, linked under
        // this list's lock, which we hold.
        unsafe {
            while !(*link).is_null() && (**link).wake_at.load(Ordering::Relaxed) <= deadline {
                link = (**link).sleep_next.as_ptr();
            }
            task.sleep_next.store(*link, Ordering::Relaxed);
            *link = task as *const Task as *mut Task;
        }
    }

    /// Unlinks every task due at `now`; returns them as a chain (through `sleep_next`).
    fn take_due(&mut self, now: u64) -> *mut Task {
        let first = self.head;
        let mut last: *mut Task = ptr::null_mut();
        let mut cur = self.head;
        // SAFETY: every pointer in the list is a task in the static table,
        // linked under this list's lock, which `&mut self` proves we hold.
        unsafe {
            while !cur.is_null() && (*cur).wake_at.load(Ordering::Relaxed) <= now {
                last = cur;
                cur = (*cur).sleep_next.load(Ordering::Relaxed);
            }
            if last.is_null() {
                return ptr::null_mut();
            }
            (*last).sleep_next.store(ptr::null_mut(), Ordering::Relaxed);
        }
        self.head = cur;
        first
    }

    fn first_deadline(&self) -> Option<u64> {
        // SAFETY: `head` is null or a task in the static table, linked under
        // this list's lock, which the borrow of `self` proves is held.
        unsafe { self.head.as_ref() }.map(|t| t.wake_at.load(Ordering::Relaxed))
    }
}

/// Puts the current task to sleep for at least `duration`; its CPU runs other tasks
/// meanwhile. Sleepable context only: `might_sleep()` first.
#[track_caller]
pub fn sleep(duration: Duration) {
    let at = Location::caller();
    validate::might_sleep_at(at);
    let ticks = timer::ns_to_ticks(duration.as_nanos().min(u128::from(u64::MAX)) as u64);
    let flags = arch::irq_save();
    let cpu = arch::cpu_id();
    let me = task::current();
    let deadline = timer::counter().saturating_add(ticks);
    me.wake_at.store(deadline, Ordering::Relaxed);
    {
        let mut list = SLEEPERS[cpu].lock();
        list.insert(me);
        me.state.store(State::Blocked as u8, Ordering::Release);
    }
    tick::fire_by(deadline);
    super::block_masked(at);
    arch::irq_restore(flags);
}

/// Wakes this CPU's sleepers due at `now`; returns the next deadline. Timer IRQ only.
pub(crate) fn expire(cpu: usize, now: u64) -> Option<u64> {
    let (mut due, next) = {
        let mut list = SLEEPERS[cpu].lock();
        let due = list.take_due(now);
        (due, list.first_deadline())
    };
    // SAFETY: the chain was unlinked above and is ours; each task is read before it is
    // woken (a woken task may sleep again and relink itself).
    while let Some(task) = unsafe { due.as_ref() } {
        due = task.sleep_next.load(Ordering::Relaxed);
        super::wake(task);
    }
    next
}
