//! `read`, `write`, `readv`, `writev`, `pread64`, `pwrite64` through the process's
//! descriptors (files, pipes, devices: [`crate::fs::OpenFile`]), the console's own I/O
//! (the terminal behind `/dev/console`, which init gets as descriptors 0, 1 and 2), and
//! `ioctl(TIOCGWINSZ)` on it.
use super::errno::{Errno, EBADF, EINVAL, ENOTTY};
use super::{Args, Result};
use crate::user::uaccess;
use alloc::vec;
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
    // On the terminal each buffer is one record of program output.
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

/// `ioctl(fd, request, arg)`: `FIONREAD` on a pipe; on the terminal its settings
/// (`TCGETS`, `TCSETS`, `TCSETSW`, `TCSETSF`), the foreground process group
/// (`TIOCGPGRP`, `TIOCSPGRP`), its session (`TIOCGSID`), the window size (`TIOCGWINSZ`,
/// 0x0 until set as on a Linux serial console, `TIOCSWINSZ`), `TIOCSCTTY`/`TIOCNOTTY`
/// (accepted), `TCSBRK`/`TCXONC`/`TCFLSH` and `FIONREAD`; `FIONBIO` on any descriptor.
/// Anything else on a terminal, and any terminal request elsewhere, is `ENOTTY`.
pub fn ioctl(a: Args) -> Result {
    use crate::user::tty;
    const TCGETS: u64 = 0x5401;
    const TCSETS: u64 = 0x5402;
    const TCSETSW: u64 = 0x5403;
    const TCSETSF: u64 = 0x5404;
    const TCSBRK: u64 = 0x5409;
    const TCXONC: u64 = 0x540a;
    const TCFLSH: u64 = 0x540b;
    const TIOCSCTTY: u64 = 0x540e;
    const TIOCGPGRP: u64 = 0x540f;
    const TIOCSPGRP: u64 = 0x5410;
    const TIOCSWINSZ: u64 = 0x5414;
    const FIONBIO: u64 = 0x5421;
    const TIOCNOTTY: u64 = 0x5422;
    const TIOCGSID: u64 = 0x5429;
    let [fd, request, arg, ..] = a.0;
    let request = request as u32 as u64;
    let f = file(fd)?;
    let at = VirtAddr::new(arg);
    if request == FIONBIO {
        let on = uaccess::read_u32(at)? != 0;
        let flags = f.flags();
        let nonblock = crate::fs::file::flags::O_NONBLOCK;
        f.set_status_flags(if on {
            flags | nonblock
        } else {
            flags & !nonblock
        });
        return Ok(0);
    }
    if let crate::fs::Kind::Fifo(p) = &f.inode.kind {
        if request == FIONREAD {
            uaccess::write_u32(at, p.available() as u32)?;
            return Ok(0);
        }
    }
    if !f.is_terminal() {
        return Err(ENOTTY);
    }
    match request {
        TCGETS => uaccess::copy_to(at, &tty::termios().to_bytes()).map(|()| 0),
        TCSETS | TCSETSW | TCSETSF => {
            let mut b = [0u8; tty::TERMIOS_SIZE];
            uaccess::copy_from(at, &mut b)?;
            tty::set_termios(tty::Termios::from_bytes(&b), request == TCSETSF);
            Ok(0)
        }
        TIOCGPGRP => uaccess::write_u32(at, tty::foreground()).map(|()| 0),
        TIOCSPGRP => {
            let pgid = uaccess::read_u32(at)? as i32;
            if pgid < 0 {
                return Err(EINVAL);
            }
            tty::set_foreground(pgid as u32);
            Ok(0)
        }
        TIOCGSID => uaccess::write_u32(at, 1).map(|()| 0),
        TIOCGWINSZ => uaccess::copy_to(at, &tty::winsize()).map(|()| 0),
        TIOCSWINSZ => {
            let mut w = [0u8; 8];
            uaccess::copy_from(at, &mut w)?;
            tty::set_winsize(w);
            Ok(0)
        }
        FIONREAD => uaccess::write_u32(at, tty::available() as u32).map(|()| 0),
        TIOCSCTTY | TIOCNOTTY | TCSBRK | TCXONC | TCFLSH => Ok(0),
        _ => Err(ENOTTY),
    }
}
