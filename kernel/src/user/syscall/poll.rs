//! `ppoll` and `pselect6`: which descriptors are ready, waiting up to a timeout. Ready
//! means: a regular file or `/dev/null`/`/dev/zero` always; a pipe's read end when it
//! holds bytes (and `POLLHUP` once no writer is left), its write end when a page is free
//! (and `POLLERR` once no reader is left); the terminal when a read would return. The wait looks
//! again every millisecond (pipes and the terminal have no single queue to sleep on) and
//! ends early at a signal (`EINTR`, never restarted, as Linux's `ERESTARTNOHAND`).
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::errno::{Errno, EINVAL};
use super::{Args, Result};
use crate::fs::Kind;
use crate::user::{current_thread, fd, signal, uaccess};
use mm::VirtAddr;

const POLLIN: u16 = 0x1;
const POLLOUT: u16 = 0x4;
const POLLERR: u16 = 0x8;
const POLLHUP: u16 = 0x10;
const POLLNVAL: u16 = 0x20;
const POLLRDNORM: u16 = 0x40;
const POLLWRNORM: u16 = 0x100;

/// The events descriptor `n` has now (`None`: not open).
fn events_of(n: i32) -> Option<u16> {
    if n < 0 {
        return Some(0);
    }
    let f = crate::user::current_process()
        .files
        .lock()
        .file(n as usize)
        .ok()?;
    let readable = f.readable();
    let writable = f.writable();
    let mut ev = 0;
    match &f.inode.kind {
        Kind::Fifo(p) => {
            if readable && p.available() > 0 {
                ev |= POLLIN | POLLRDNORM;
            }
            if readable && p.writers() == 0 {
                ev |= POLLHUP;
            }
            if writable {
                // As Linux's pipe_poll: room is reported with or without a reader.
                if crate::fs::pipe::CAPACITY - p.available() >= crate::fs::pipe::PIPE_BUF {
                    ev |= POLLOUT | POLLWRNORM;
                }
                if p.readers() == 0 {
                    ev |= POLLERR;
                }
            }
        }
        Kind::Device(d) if d.is_terminal() => {
            if crate::user::tty::available() > 0 {
                ev |= POLLIN | POLLRDNORM;
            }
            ev |= POLLOUT | POLLWRNORM;
        }
        _ => ev |= POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
    }
    Some(ev)
}

/// A relative timeout from user `addr` (0: none, wait for ever).
fn timeout(addr: u64) -> core::result::Result<Option<Duration>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let (sec, nsec) = uaccess::read_timespec(VirtAddr::new(addr))?;
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(EINVAL);
    }
    Ok(Some(Duration::new(sec as u64, nsec as u32)))
}

/// The optional signal mask of `ppoll` (`sigmask`, `sigsetsize`).
fn temporary_mask(addr: u64, size: u64) -> core::result::Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(EINVAL);
    }
    uaccess::read_u64(VirtAddr::new(addr)).map(Some)
}

/// How a wait ended.
enum Outcome<T> {
    Ready(T),
    TimedOut,
    Interrupted,
}

/// Looks with `ready` until it finds something, the time is up or a signal comes.
fn wait<T>(
    limit: Option<Duration>,
    mask: Option<u64>,
    mut ready: impl FnMut() -> Option<T>,
) -> Outcome<T> {
    let thread = current_thread().expect("a system call from a user thread");
    if let Some(m) = mask {
        signal::set_temporary_mask(thread, m);
    }
    let start = super::time::now(false);
    let outcome = loop {
        if let Some(found) = ready() {
            break Outcome::Ready(found);
        }
        if limit.is_some_and(|l| super::time::now(false) - start >= l) {
            break Outcome::TimedOut;
        }
        if thread.process.exiting() || signal::has_pending(thread) {
            // The temporary mask stays for the handler's frame.
            return Outcome::Interrupted;
        }
        crate::sched::sleep(Duration::from_millis(1));
    };
    if mask.is_some() {
        signal::restore_saved_mask(thread);
    }
    outcome
}

/// `ppoll(fds, nfds, timeout, sigmask, sigsetsize)`.
pub fn ppoll(a: Args) -> Result {
    let [fds, nfds, tmo, sigmask, sigsetsize, _] = a.0;
    let nfds = nfds as u32 as usize;
    if nfds > fd::NOFILE {
        return Err(EINVAL);
    }
    let limit = timeout(tmo)?;
    let mask = temporary_mask(sigmask, sigsetsize)?;
    let mut raw = vec![0u8; 8 * nfds];
    uaccess::copy_from(VirtAddr::new(fds), &mut raw)?;
    let asked: Vec<(i32, u16)> = raw
        .chunks_exact(8)
        .map(|c| {
            (
                i32::from_le_bytes(c[..4].try_into().expect("4")),
                u16::from_le_bytes(c[4..6].try_into().expect("2")),
            )
        })
        .collect();
    let look = || {
        let revents: Vec<u16> = asked
            .iter()
            .map(|&(n, events)| match events_of(n) {
                None => POLLNVAL,
                Some(ev) => ev & (events | POLLERR | POLLHUP),
            })
            .collect();
        let count = revents.iter().filter(|&&r| r != 0).count();
        (count > 0).then_some((count, revents))
    };
    let (count, revents) = match wait(limit, mask, look) {
        Outcome::Ready(r) => r,
        Outcome::TimedOut => (0, vec![0; nfds]),
        Outcome::Interrupted => return Err(Errno(signal::ERESTARTNOHAND)),
    };
    for (i, r) in revents.iter().enumerate() {
        raw[8 * i + 6..8 * i + 8].copy_from_slice(&r.to_le_bytes());
    }
    uaccess::copy_to(VirtAddr::new(fds), &raw)?;
    Ok(count as u64)
}

/// `pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask)`: the sets are
/// rewritten with the ready descriptors; the time left is written back, as Linux does.
pub fn pselect6(a: Args) -> Result {
    let [nfds, readfds, writefds, exceptfds, tmo, sigmask] = a.0;
    let nfds = nfds as u32 as i32;
    if nfds < 0 {
        return Err(EINVAL);
    }
    let nfds = (nfds as usize).min(fd::NOFILE);
    let words = nfds.div_ceil(64);
    let read_set = |addr: u64| -> core::result::Result<Vec<u64>, Errno> {
        let mut set = vec![0u64; words];
        if addr != 0 {
            for (i, w) in set.iter_mut().enumerate() {
                *w = uaccess::read_u64(VirtAddr::new(addr + 8 * i as u64))?;
            }
        }
        Ok(set)
    };
    let (r_in, w_in, e_in) = (
        read_set(readfds)?,
        read_set(writefds)?,
        read_set(exceptfds)?,
    );
    let limit = timeout(tmo)?;
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    let mask = if sigmask != 0 {
        let ss = uaccess::read_u64(VirtAddr::new(sigmask))?;
        let len = uaccess::read_u64(VirtAddr::new(sigmask + 8))?;
        temporary_mask(ss, len)?
    } else {
        None
    };
    let bit = |set: &[u64], n: usize| set[n / 64] >> (n % 64) & 1 != 0;
    for n in 0..nfds {
        if (bit(&r_in, n) || bit(&w_in, n) || bit(&e_in, n)) && events_of(n as i32).is_none() {
            return Err(super::errno::EBADF);
        }
    }
    let start = super::time::now(false);
    let look = || {
        let (mut r, mut w, e) = (vec![0u64; words], vec![0u64; words], vec![0u64; words]);
        let mut count = 0;
        for n in 0..nfds {
            let ev = events_of(n as i32).unwrap_or(0);
            if bit(&r_in, n) && ev & (POLLIN | POLLHUP | POLLERR) != 0 {
                r[n / 64] |= 1 << (n % 64);
                count += 1;
            }
            if bit(&w_in, n) && ev & (POLLOUT | POLLERR) != 0 {
                w[n / 64] |= 1 << (n % 64);
                count += 1;
            }
        }
        (count > 0).then_some((count, r, w, e))
    };
    let (count, r, w, e) = match wait(limit, mask, look) {
        Outcome::Ready(x) => x,
        Outcome::TimedOut => (0, vec![0; words], vec![0; words], vec![0; words]),
        Outcome::Interrupted => return Err(Errno(signal::ERESTARTNOHAND)),
    };
    for (addr, set) in [(readfds, &r), (writefds, &w), (exceptfds, &e)] {
        if addr != 0 {
            for (i, word) in set.iter().enumerate() {
                uaccess::write_u64(VirtAddr::new(addr + 8 * i as u64), *word)?;
            }
        }
    }
    if let Some(l) = limit {
        let left = l.saturating_sub(super::time::now(false) - start);
        uaccess::write_timespec(
            VirtAddr::new(tmo),
            left.as_secs() as i64,
            i64::from(left.subsec_nanos()),
        )?;
    }
    Ok(count as u64)
}
