//! `read`, `write`, `readv`, `writev`, `pread64`, `pwrite64` through the process's
//! descriptors (files, pipes, devices: [`crate::fs::OpenFile`]), the console's own I/O
//! (the terminal behind `/dev/console`, which init gets as descriptors 0, 1 and 2), and
//! `ioctl(TIOCGWINSZ)` on it.
use super::errno::{Errno, EBADF, EINVAL, ENOTTY};
use super::{Args, Result};
use crate::console::UserOutput;
use crate::user::uaccess;
use alloc::vec;
use core::time::Duration;
use mm::{VaRange, VirtAddr};

const TIOCGWINSZ: u64 = 0x5413;
const FIONREAD: u64 = 0x541b;
const UIO_MAXIOV: u64 = 1024;
/// Linux caps one read/write at this many bytes.
const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// The open file of descriptor `fd` of the calling process.
pub fn file(fd: u64) -> core::result::Result<alloc::sync::Arc<crate::fs::OpenFile>, Errno> {
    let n = crate::user::fd::number(fd)?;
    crate::user::current_process().files.lock().file(n)
}

/// Writes the bytes of user `buf` to the console; returns how many made it
/// (a bad pointer after some bytes ends the write early, as on Linux).
/// As Linux's vfs_write, the caller has checked the whole range
/// (`uaccess::user_range`), even when empty, before the count is clamped.
pub fn console_write(buf: VaRange) -> core::result::Result<u64, Errno> {
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

/// `write(fd, buf, count)`: the bytes written.
pub fn write(a: Args) -> Result {
    let [fd, buf, len, ..] = a.0;
    let f = file(fd)?;
    // As Linux's vfs_write: the whole range is checked, then the count clamped.
    let buf = uaccess::user_range(buf, len)?;
    f.write(VaRange::new(
        buf.start,
        buf.start.add(buf.len().min(MAX_RW_COUNT)),
    ))
}

/// `read(fd, buf, count)`: the bytes read (0 at the end).
pub fn read(a: Args) -> Result {
    let [fd, buf, len, ..] = a.0;
    let f = file(fd)?;
    let buf = uaccess::user_range(buf, len)?;
    f.read(VaRange::new(
        buf.start,
        buf.start.add(buf.len().min(MAX_RW_COUNT)),
    ))
}

/// `pread64(fd, buf, count, offset)`.
pub fn pread64(a: Args) -> Result {
    let [fd, buf, len, offset, ..] = a.0;
    let f = file(fd)?;
    if (offset as i64) < 0 {
        return Err(EINVAL);
    }
    let buf = uaccess::user_range(buf, len)?;
    f.pread(
        VaRange::new(buf.start, buf.start.add(buf.len().min(MAX_RW_COUNT))),
        offset,
    )
}

/// `pwrite64(fd, buf, count, offset)`.
pub fn pwrite64(a: Args) -> Result {
    let [fd, buf, len, offset, ..] = a.0;
    let f = file(fd)?;
    if (offset as i64) < 0 {
        return Err(EINVAL);
    }
    let buf = uaccess::user_range(buf, len)?;
    f.pwrite(
        VaRange::new(buf.start, buf.start.add(buf.len().min(MAX_RW_COUNT))),
        offset,
    )
}

/// The `struct iovec` array at `iov` (at most `UIO_MAXIOV`), its total checked as Linux
/// checks it (`EINVAL` past `SSIZE_MAX`).
fn iovecs(iov: u64, count: u64) -> core::result::Result<alloc::vec::Vec<(u64, u64)>, Errno> {
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
    Ok(vecs)
}

/// Runs `op` on each buffer in order until one comes back short or fails; the total
/// (an error only if nothing was done).
fn vectored(
    vecs: alloc::vec::Vec<(u64, u64)>,
    mut op: impl FnMut(VaRange) -> core::result::Result<u64, Errno>,
) -> Result {
    let mut done = 0u64;
    for (base, len) in vecs {
        match uaccess::user_range(base, len).and_then(&mut op) {
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

/// `writev(fd, iov, iovcnt)`: the buffers in order; the total written.
pub fn writev(a: Args) -> Result {
    let [fd, iov, count, ..] = a.0;
    let f = file(fd)?;
    if !f.writable() {
        return Err(EBADF);
    }
    let vecs = iovecs(iov, count)?;
    if f.is_terminal() {
        // One console record per buffer, as before: the console keeps lines whole.
        return vectored(vecs, console_write);
    }
    vectored(vecs, |b| f.write(b))
}

/// `readv(fd, iov, iovcnt)`: into the buffers in order; the total read.
pub fn readv(a: Args) -> Result {
    let [fd, iov, count, ..] = a.0;
    let f = file(fd)?;
    if !f.readable() {
        return Err(EBADF);
    }
    let vecs = iovecs(iov, count)?;
    vectored(vecs, |b| f.read(b))
}

/// Reads what has been typed, at least one byte: the console's receive side
/// is polled every 5 ms (no receive interrupt is wired up).
pub fn console_read(buf: VaRange) -> core::result::Result<u64, Errno> {
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
    let f = file(fd)?;
    if let crate::fs::Kind::Fifo(p) = &f.inode.kind {
        if request == FIONREAD {
            let n = p.available() as u32;
            uaccess::copy_to(VirtAddr::new(arg), &n.to_le_bytes())?;
            return Ok(0);
        }
    }
    if !f.is_terminal() {
        return Err(ENOTTY);
    }
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
