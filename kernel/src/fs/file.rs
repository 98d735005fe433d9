//! Open file descriptions: what `open` and `pipe2` make and descriptors share (`dup`,
//! `fork`): the inode, the access mode and status flags, and the offset. Reads and writes
//! go to the inode's kind: a regular file's pages, a pipe, a device.
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

use super::data::{Buffer, KernelBuffer, KernelBytes, UserBuffer};
use super::inode::{Device, Inode, Kind};
use crate::sync::Mutex;
use crate::user::syscall::errno::{Errno, EBADF, EINVAL, EISDIR, ENXIO, ESPIPE};
use mm::VaRange;

/// `open`'s flags (Linux's aarch64 values).
pub mod flags {
    /// Read only.
    pub const O_RDONLY: u32 = 0;
    /// Write only.
    pub const O_WRONLY: u32 = 1;
    /// Read and write.
    pub const O_RDWR: u32 = 2;
    /// The access mode bits.
    pub const O_ACCMODE: u32 = 3;
    /// Create if missing.
    pub const O_CREAT: u32 = 0o100;
    /// With `O_CREAT`: fail if it exists.
    pub const O_EXCL: u32 = 0o200;
    /// Not the controlling terminal (accepted; there is no job control terminal yet).
    pub const O_NOCTTY: u32 = 0o400;
    /// Truncate a regular file to 0.
    pub const O_TRUNC: u32 = 0o1000;
    /// Every write at the end.
    pub const O_APPEND: u32 = 0o2000;
    /// Waits become `EAGAIN`.
    pub const O_NONBLOCK: u32 = 0o4000;
    /// Synchronous writes (accepted: memory is the medium).
    pub const O_DSYNC: u32 = 0o10000;
    /// Must be a directory.
    pub const O_DIRECTORY: u32 = 0o40000;
    /// Do not follow a symbolic link at the last component.
    pub const O_NOFOLLOW: u32 = 0o100000;
    /// No access time updates (accepted).
    pub const O_NOATIME: u32 = 0o1000000;
    /// Closed by `execve`.
    pub const O_CLOEXEC: u32 = 0o2000000;
    /// Synchronous writes (accepted).
    pub const O_SYNC: u32 = 0o4010000;
    /// A descriptor only for its place in the tree.
    pub const O_PATH: u32 = 0o10000000;
    /// An unnamed file (not supported).
    pub const O_TMPFILE: u32 = 0o20200000;
    /// Large file offsets (always).
    pub const O_LARGEFILE: u32 = 0o400000;
    /// The status flags `F_SETFL` may change (Linux's `SETFL_MASK`, those kept here).
    pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_NOATIME | O_DSYNC;
}
use flags::*;

/// One open file description.
pub struct OpenFile {
    /// What it is open on.
    pub inode: Arc<Inode>,
    /// Access mode and status flags (`F_GETFL`).
    flags: AtomicU32,
    /// The file offset (for a directory: the `getdents64` position).
    pos: Mutex<u64>,
}

impl OpenFile {
    /// An open file on `inode` with `flags` (access mode and status flags; a pipe's ends
    /// are counted from here).
    pub fn new(inode: Arc<Inode>, flags: u32) -> Arc<OpenFile> {
        let file = OpenFile {
            inode,
            flags: AtomicU32::new(flags & !(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_NOCTTY)),
            pos: Mutex::new(0),
        };
        if let Kind::Fifo(p) = &file.inode.kind {
            if file.readable() {
                p.open_end(false);
            }
            if file.writable() {
                p.open_end(true);
            }
        }
        Arc::new(file)
    }

    /// The access mode and status flags.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    /// `F_SETFL`: the changeable status flags become those of `new`.
    pub fn set_status_flags(&self, new: u32) {
        let old = self.flags();
        self.flags
            .store((old & !SETFL_MASK) | (new & SETFL_MASK), Ordering::Release);
    }

    /// Open for reading.
    pub fn readable(&self) -> bool {
        let m = self.flags() & O_ACCMODE;
        self.flags() & O_PATH == 0 && (m == O_RDONLY || m == O_RDWR)
    }

    /// Open for writing.
    pub fn writable(&self) -> bool {
        let m = self.flags() & O_ACCMODE;
        self.flags() & O_PATH == 0 && (m == O_WRONLY || m == O_RDWR)
    }

    fn nonblock(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    /// Whether it is the terminal.
    pub fn is_terminal(&self) -> bool {
        matches!(self.inode.kind, Kind::Device(d) if d.is_terminal())
    }

    /// Reads up to `len` bytes into `out`: at `at`, or at the file offset (which moves
    /// past what was read) when `None`. One place for every kind: a regular file's pages,
    /// a pipe, `/dev/null`, `/dev/zero`, the terminal. An offset on a pipe or the
    /// terminal is `ESPIPE`.
    fn read_into(&self, out: &mut dyn Buffer, len: usize, at: Option<u64>) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(EBADF);
        }
        match &self.inode.kind {
            Kind::File(f) => match at {
                Some(offset) => f.read(offset, len, out),
                None => {
                    let mut pos = self.pos.lock();
                    let n = f.read(*pos, len, out)?;
                    *pos += n as u64;
                    Ok(n)
                }
            },
            Kind::Fifo(_) if at.is_some() => Err(ESPIPE),
            Kind::Fifo(p) => p.read(out, len, self.nonblock()),
            Kind::Device(Device::Null) => Ok(0),
            Kind::Device(Device::Zero) => {
                let zeros = [0u8; 512];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(zeros.len());
                    if let Err(e) = out.put(done, &zeros[..n]) {
                        return if done > 0 { Ok(done) } else { Err(e) };
                    }
                    done += n;
                }
                Ok(done)
            }
            Kind::Device(_) if at.is_some() => Err(ESPIPE),
            Kind::Device(_) if len == 0 => Ok(0),
            Kind::Device(_) => crate::user::tty::read(out, len, self.nonblock()),
            Kind::Dir(_) => Err(EISDIR),
            Kind::Symlink(_) => Err(EINVAL),
        }
    }

    /// Writes `len` bytes from `src`: at `at` (Linux ignores it with `O_APPEND` and
    /// writes at the end), or at the file offset (the end with `O_APPEND`), which moves
    /// past what was written, when `None`. Every kind, as [`read_into`](Self::read_into).
    fn write_from(
        &self,
        src: &mut dyn Buffer,
        len: usize,
        at: Option<u64>,
    ) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(EBADF);
        }
        match &self.inode.kind {
            Kind::File(f) => {
                let append = self.flags() & O_APPEND != 0;
                let n = match at {
                    Some(offset) => f.write(offset, append, len, src)?.0,
                    None => {
                        let mut pos = self.pos.lock();
                        let (n, end) = f.write(*pos, append, len, src)?;
                        *pos = end;
                        n
                    }
                };
                if n > 0 {
                    self.inode.touch_modified();
                }
                Ok(n)
            }
            Kind::Fifo(_) if at.is_some() => Err(ESPIPE),
            Kind::Fifo(p) => p.write(src, len, self.nonblock()),
            Kind::Device(Device::Null | Device::Zero) => Ok(len),
            Kind::Device(_) if at.is_some() => Err(ESPIPE),
            Kind::Device(_) => crate::user::tty::write(src, len),
            Kind::Dir(_) => Err(EISDIR),
            Kind::Symlink(_) => Err(EINVAL),
        }
    }

    /// `read` into user `buf`.
    pub fn read(&self, buf: VaRange) -> Result<u64, Errno> {
        self.read_into(&mut UserBuffer(buf.start), buf.len() as usize, None)
            .map(|n| n as u64)
    }

    /// `write` from user `buf`.
    pub fn write(&self, buf: VaRange) -> Result<u64, Errno> {
        self.write_from(&mut UserBuffer(buf.start), buf.len() as usize, None)
            .map(|n| n as u64)
    }

    /// `pread64`: at `offset`, leaving the file offset alone.
    pub fn pread(&self, buf: VaRange, offset: u64) -> Result<u64, Errno> {
        self.read_into(&mut UserBuffer(buf.start), buf.len() as usize, Some(offset))
            .map(|n| n as u64)
    }

    /// `pwrite64`: at `offset`, leaving the file offset alone.
    pub fn pwrite(&self, buf: VaRange, offset: u64) -> Result<u64, Errno> {
        self.write_from(&mut UserBuffer(buf.start), buf.len() as usize, Some(offset))
            .map(|n| n as u64)
    }

    /// Reads into a kernel buffer at `at`, or at the file offset (`sendfile`'s source).
    pub fn read_bytes(&self, out: &mut [u8], at: Option<u64>) -> Result<usize, Errno> {
        let len = out.len();
        self.read_into(&mut KernelBuffer(out), len, at)
    }

    /// Writes kernel bytes at the file offset (`sendfile`'s destination).
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<usize, Errno> {
        self.write_from(&mut KernelBytes(bytes), bytes.len(), None)
    }

    /// `lseek`: the new offset.
    pub fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        const SEEK_SET: u32 = 0;
        const SEEK_CUR: u32 = 1;
        const SEEK_END: u32 = 2;
        const SEEK_DATA: u32 = 3;
        const SEEK_HOLE: u32 = 4;
        match &self.inode.kind {
            Kind::Fifo(_) => return Err(ESPIPE),
            Kind::Device(d) if d.is_terminal() => return Err(ESPIPE),
            Kind::Device(_) => {
                // /dev/null and /dev/zero: every seek lands at 0 (Linux's null_lseek).
                *self.pos.lock() = 0;
                return Ok(0);
            }
            _ => {}
        }
        let mut pos = self.pos.lock();
        let size = self.inode.size() as i64;
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => *pos as i64,
            SEEK_END => size,
            SEEK_DATA | SEEK_HOLE if self.inode.as_file().is_some() => {
                if offset < 0 {
                    return Err(EINVAL);
                }
                if offset >= size {
                    return Err(ENXIO);
                }
                // Holes are not tracked apart from data: all of it is data to the end.
                let at = if whence == SEEK_DATA { offset } else { size };
                *pos = at as u64;
                return Ok(at as u64);
            }
            _ => return Err(EINVAL),
        };
        let new = base.checked_add(offset).filter(|&n| n >= 0).ok_or(EINVAL)?;
        *pos = new as u64;
        Ok(new as u64)
    }

    /// The offset, for `getdents64` (a position in the directory's listing) and moves it.
    pub fn with_position<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.pos.lock())
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if let Kind::Fifo(p) = &self.inode.kind {
            if self.readable() {
                p.close_end(false);
            }
            if self.writable() {
                p.close_end(true);
            }
        }
    }
}
