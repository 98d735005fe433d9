//! `futex` wait/wake. Waiters are keyed by (address space, user address);
//! the value check and the enqueue happen under one mutex, so a wake that
//! follows a change of the value cannot be missed. The mutex is sleepable:
//! reading the user word may fault a page in (`mmap_lock` for read).
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use super::syscall::errno::{Errno, EAGAIN, EINTR, ETIMEDOUT};
use super::{signal, uaccess, Process};
use crate::sync::{Mutex, WaitQueue};
use mm::VirtAddr;

struct Waiter {
    aspace: usize,
    addr: VirtAddr,
    bitset: u32,
    woken: Arc<AtomicBool>,
}

static WAITERS: Mutex<Vec<Waiter>> = Mutex::new(Vec::new());
/// Every futex sleeper waits here for its `woken` flag (or its process's end).
static QUEUE: WaitQueue = WaitQueue::new();

fn key(process: &Process) -> usize {
    Arc::as_ptr(&process.aspace()) as usize
}

/// `FUTEX_WAIT`: sleeps while `*addr == expected` until woken, the timeout
/// passes (`ETIMEDOUT`) or the process ends (`EINTR`).
pub fn wait(
    process: &Process,
    addr: VirtAddr,
    expected: u32,
    bitset: u32,
    timeout: Option<Duration>,
) -> Result<u64, Errno> {
    let woken = Arc::new(AtomicBool::new(false));
    {
        let mut waiters = WAITERS.lock();
        if uaccess::read_u32(addr)? != expected {
            return Err(EAGAIN);
        }
        waiters.push(Waiter {
            aspace: key(process),
            addr,
            bitset,
            woken: woken.clone(),
        });
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

/// `FUTEX_WAKE`: wakes up to `count` waiters on `addr` (matching `bitset`); returns how many.
pub fn wake_bitset(process: &Process, addr: VirtAddr, count: u32, bitset: u32) -> u64 {
    let k = key(process);
    let mut n = 0u64;
    {
        let mut waiters = WAITERS.lock();
        waiters.retain(|w| {
            if n < u64::from(count) && w.aspace == k && w.addr == addr && w.bitset & bitset != 0 {
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

/// `FUTEX_WAKE`: wakes up to `count` waiters of `process` on the word at
/// `addr`; returns how many woke.
pub fn wake(process: &Process, addr: VirtAddr, count: u32) -> u64 {
    wake_bitset(process, addr, count, u32::MAX)
}

/// The process is ending: its sleepers re-check and leave.
pub fn wake_process(_process: &Process) {
    QUEUE.wake_all();
}
