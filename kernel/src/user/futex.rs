//! `futex` wait/wake. Waiters are keyed as Linux's `get_futex_key` keys them: a
//! private futex (`FUTEX_PRIVATE_FLAG`) and a word in private memory by (address
//! space, user address); a shared futex in shared memory by (object, page index,
//! offset in the page), so that processes mapping the object (across fork, at any
//! address) meet on the same word. The value check and the enqueue happen under one
//! lock, so a wake that follows a change of the value cannot be missed. The lock is a
//! spinlock: the word is read under it without a fault, and a missing page is faulted in
//! with the lock dropped and the check retried (Linux's `futex_wait_setup`), so one
//! process's fault never holds another's futex calls.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use super::syscall::errno::{Errno, EAGAIN, EINTR, ETIMEDOUT};
use super::{signal, uaccess, Process};
use crate::sync::{SpinLock, WaitQueue};
use mm::VirtAddr;

/// What a waiter waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A word of one address space.
    Private {
        /// The address space (its address: alive while one of its threads waits).
        aspace: usize,
        /// The word's address.
        addr: VirtAddr,
    },
    /// A word of a shared object, wherever it is mapped.
    Shared {
        /// The object's name (never reused).
        object: u64,
        /// The page's index in it.
        index: u64,
        /// The word's offset in the page.
        offset: u64,
    },
}

struct Waiter {
    key: Key,
    bitset: u32,
    woken: Arc<AtomicBool>,
}

/// A spinlock: nothing under it may sleep or fault (the validator says so if something
/// does), so the value check and the enqueue are one atomic step.
static WAITERS: SpinLock<Vec<Waiter>> = SpinLock::new(Vec::new());
/// Every futex sleeper waits here for its `woken` flag (or its process's end).
static QUEUE: WaitQueue = WaitQueue::new();

/// The key of the word at `addr` for `process`; `shared`: the call lacks
/// `FUTEX_PRIVATE_FLAG` (then a word in shared memory is keyed by its object).
pub fn key(process: &Process, addr: VirtAddr, shared: bool) -> Key {
    let aspace = process.aspace();
    if shared {
        if let Some((id, index)) = aspace.area_at(addr).and_then(|v| v.object_page(addr)) {
            return Key::Shared {
                object: id.0,
                index,
                offset: addr.as_u64() % mm::PAGE_SIZE,
            };
        }
    }
    Key::Private {
        aspace: Arc::as_ptr(&aspace) as usize,
        addr,
    }
}

/// `FUTEX_WAIT`: sleeps while `*addr == expected` until woken, the timeout
/// passes (`ETIMEDOUT`) or the process ends (`EINTR`).
pub fn wait(
    process: &Process,
    addr: VirtAddr,
    key: Key,
    expected: u32,
    bitset: u32,
    timeout: Option<Duration>,
) -> Result<u64, Errno> {
    let woken = Arc::new(AtomicBool::new(false));
    loop {
        let mut waiters = WAITERS.lock();
        // The value is read under the lock without a fault (one would hold every futex
        // call of the system behind this page's fault-in): a page that is not there is
        // faulted in with the lock dropped, and the check starts again.
        let Some(value) = uaccess::read_u32_nofault(addr)? else {
            drop(waiters);
            uaccess::read_u32(addr)?;
            continue;
        };
        if value != expected {
            return Err(EAGAIN);
        }
        waiters.push(Waiter {
            key,
            bitset,
            woken: woken.clone(),
        });
        break;
    }
    let deadline = timeout.map(|t| {
        drivers::timer::counter().saturating_add(drivers::timer::ns_to_ticks(
            t.as_nanos().min(u64::MAX as u128) as u64,
        ))
    });
    loop {
        match deadline {
            None => QUEUE.wait_until(|| {
                woken.load(Ordering::Acquire) || process.exiting() || signal::current_has_pending()
            }),
            // No timed wait in the scheduler yet: a timed futex wait polls in
            // 1 ms sleeps (its wake-up latency is up to 1 ms).
            // The counter is read once: a deadline that passes between a
            // check and a second read must not underflow the time left.
            Some(d) => {
                let left = d.saturating_sub(drivers::timer::counter());
                if !woken.load(Ordering::Acquire)
                    && !process.exiting()
                    && !signal::current_has_pending()
                    && left > 0
                {
                    let left = drivers::timer::ticks_to_ns(left);
                    crate::sched::sleep(Duration::from_nanos(left.min(1_000_000)));
                }
            }
        }
        if woken.load(Ordering::Acquire) {
            return Ok(0);
        }
        let timed_out = deadline.is_some_and(|d| drivers::timer::counter() >= d);
        let interrupted = signal::current_has_pending();
        if process.exiting() || timed_out || interrupted {
            let mut waiters = WAITERS.lock();
            if woken.load(Ordering::Acquire) {
                return Ok(0);
            }
            waiters.retain(|w| !Arc::ptr_eq(&w.woken, &woken));
            return Err(if timed_out {
                ETIMEDOUT
            } else if process.exiting() {
                EINTR
            } else {
                Errno(signal::ERESTARTSYS)
            });
        }
    }
}

/// `FUTEX_WAKE`: wakes up to `count` waiters on `key` (matching `bitset`); returns how many.
pub fn wake_bitset(key: Key, count: u32, bitset: u32) -> u64 {
    let mut n = 0u64;
    {
        let mut waiters = WAITERS.lock();
        waiters.retain(|w| {
            if n < u64::from(count) && w.key == key && w.bitset & bitset != 0 {
                w.woken.store(true, Ordering::Release);
                n += 1;
                false
            } else {
                true
            }
        });
    }
    if n > 0 {
        QUEUE.wake_all();
    }
    n
}

/// A shared `FUTEX_WAKE` (as Linux wakes a thread's `clear_child_tid` word): up
/// to `count` waiters on the word at `addr` of `process`; returns how many woke.
/// Sleepable (the word's area is looked up).
pub fn wake(process: &Process, addr: VirtAddr, count: u32) -> u64 {
    wake_bitset(key(process, addr, true), count, u32::MAX)
}

/// The process is ending: its sleepers re-check and leave.
pub fn wake_process(_process: &Process) {
    QUEUE.wake_all();
}
