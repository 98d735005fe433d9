//! The console as fds 0, 1 and 2 (a terminal opened read/write, as Linux's
//! init gets): `read`, `write`, `writev`, `ioctl(TIOCGWINSZ)`.
use super::errno::{Errno, EBADF, EINVAL, ENOTTY};
use super::{Args, Result};
use crate::console::UserOutput;
use crate::user::uaccess;
use alloc::vec;
use core::time::Duration;
use mm::{VaRange, VirtAddr};

const TIOCGWINSZ: u64 = 0x5413;
const UIO_MAXIOV: u64 = 1024;
/// Linux caps one read/write at this many bytes.
const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// The console's descriptors 0-2. A descriptor is an `unsigned int`: the
/// upper half of its register is ignored, as on Linux.
fn console_fd(fd: u64) -> core::result::Result<(), Errno> {
    if fd as u32 <= 2 {
        Ok(())
    } else {
        Err(EBADF)
    }
}

/// Writes the bytes of user `buf` to the console; returns how many made it
/// (a bad pointer after some bytes ends the write early, as on Linux).
/// As Linux's vfs_write, the caller has checked the whole range
/// (`uaccess::user_range`), even when empty, before the count is clamped.
fn write_console(buf: VaRange) -> core::result::Result<u64, Errno> {
    let len = buf.len().min(MAX_RW_COUNT);
    if len == 0 {
        return Ok(0);
    }
    let mut chunk = [0u8; 256];
    let mut output = UserOutput::new();
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        if let Err(e) = uaccess::copy_from(buf.start.add(done), &mut chunk[..n]) {
            output.finish();
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        output.push(&chunk[..n]);
        done += n as u64;
    }
    output.finish();
    Ok(done)
}

/// `write(fd, buf, count)`: stdout and stderr go to the console; the bytes written.
pub fn write(a: Args) -> Result {
    let [fd, buf, len, ..] = a.0;
    console_fd(fd)?;
    write_console(uaccess::user_range(buf, len)?)
}

/// `writev(fd, iov, iovcnt)`: the buffers in order to the console (at most
/// `UIO_MAXIOV` of them); the total written.
pub fn writev(a: Args) -> Result {
    let [fd, iov, count, ..] = a.0;
    console_fd(fd)?;
    if count > UIO_MAXIOV {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; 16 * count as usize];
    uaccess::copy_from(VirtAddr::new(iov), &mut raw)?;
    let vecs: alloc::vec::Vec<(u64, u64)> = raw
        .chunks_exact(16)
        .map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..].try_into().unwrap()),
            )
        })
        .collect();
    let mut total = 0u64;
    for &(_, len) in &vecs {
        if len > i64::MAX as u64 {
            return Err(EINVAL);
        }
        total = total
            .checked_add(len)
            .filter(|t| *t <= i64::MAX as u64)
            .ok_or(EINVAL)?;
    }
    let mut done = 0u64;
    for (base, len) in vecs {
        match uaccess::user_range(base, len).and_then(write_console) {
            Ok(n) => {
                done += n;
                if n < len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Reads what has been typed, at least one byte: the console's receive side
/// is polled every 5 ms (no receive interrupt is wired up).
pub fn read(a: Args) -> Result {
    let [fd, buf, len, ..] = a.0;
    console_fd(fd)?;
    // As Linux's vfs_read: the range is checked even when empty.
    let buf = uaccess::user_range(buf, len)?;
    if buf.is_empty() {
        return Ok(0);
    }
    let process = crate::user::current_thread().map(|t| t.process.clone());
    let mut got = alloc::vec::Vec::new();
    loop {
        while (got.len() as u64) < buf.len().min(4096) {
            match crate::console::read_user_byte() {
                Some(b) => got.push(if b == b'\r' { b'\n' } else { b }),
                None => break,
            }
        }
        if !got.is_empty() {
            uaccess::copy_to(buf.start, &got)?;
            return Ok(got.len() as u64);
        }
        if process.as_ref().is_some_and(|p| p.exiting()) {
            return Err(super::errno::EINTR);
        }
        if crate::user::signal::current_has_pending() {
            return Err(super::errno::Errno(crate::user::signal::ERESTARTSYS));
        }
        crate::sched::sleep(Duration::from_millis(5));
    }
}

/// `ioctl(fd, request, arg)` on the console: `TIOCGWINSZ` reads 0x0 as on a
/// Linux serial console; unknown requests are `-ENOTTY`.
pub fn ioctl(a: Args) -> Result {
    let [fd, request, arg, ..] = a.0;
    console_fd(fd)?;
    match request {
        TIOCGWINSZ => {
            // A serial console has no size of its own: Linux reports 0x0 for
            // ttyAMA0 until someone sets it, and so does this kernel.
            uaccess::copy_to(VirtAddr::new(arg), &[0u8; 8])?;
            Ok(0)
        }
        _ => Err(ENOTTY),
    }
}
