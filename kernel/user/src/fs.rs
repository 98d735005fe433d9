//! Files, directories, descriptors and pipes: thin wrappers over Linux's
//! aarch64 system calls (`openat`, `read`/`write` and their vector and
//! positioned forms, `lseek`, `dup`/`dup3`/`fcntl`, `pipe2`, `newfstatat`/
//! `fstat`, `getdents64`, the `*at` calls that make, remove, link and rename
//! names, `ftruncate`, `fsync`, `chdir`/`fchdir`/`getcwd`, `umask`,
//! `faccessat`, `fchmod`/`fchmodat`) with Linux's flag values and structure
//! layouts.
//!
//! Paths are NUL-terminated byte strings, `&CStr`: a test writes
//! `open(c"/tmp/a", O_RDWR | O_CREAT, 0o644)`. [`PathBuf`] builds one at run
//! time (long names, numbered names). Calls with deliberately bad pointers go
//! through [`crate::sys::raw`] with the numbers of [`crate::sys::nr`].
use core::ffi::CStr;

use crate::errno::Errno;
use crate::sys::{nr, raw, IoVec};

/// `dirfd` meaning "the current working directory".
pub const AT_FDCWD: i32 = -100;
/// `unlinkat`: remove a directory (as `rmdir`).
pub const AT_REMOVEDIR: u32 = 0x200;
/// `newfstatat`: do not follow a final symbolic link (`linkat` never
/// follows one unless given `AT_SYMLINK_FOLLOW`).
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/// `linkat`: follow a final symbolic link of the old path.
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
/// An empty path names `dirfd` itself.
pub const AT_EMPTY_PATH: u32 = 0x1000;

/// `openat` flags (arch/arm64/include/uapi/asm/fcntl.h over the generic
/// ones): open for reading only.
pub const O_RDONLY: u32 = 0;
/// Open for writing only.
pub const O_WRONLY: u32 = 1;
/// Open for reading and writing.
pub const O_RDWR: u32 = 2;
/// The access-mode bits of the flags.
pub const O_ACCMODE: u32 = 3;
/// Create the file if it does not exist (with `mode` & ~umask).
pub const O_CREAT: u32 = 0o100;
/// With `O_CREAT`: fail with `EEXIST` if the name exists (even as a symlink).
pub const O_EXCL: u32 = 0o200;
/// Do not make a terminal the controlling terminal.
pub const O_NOCTTY: u32 = 0o400;
/// Truncate a regular file to length 0.
pub const O_TRUNC: u32 = 0o1000;
/// Every write goes to the end of the file.
pub const O_APPEND: u32 = 0o2000;
/// Reads and writes that would block fail with `EAGAIN`.
pub const O_NONBLOCK: u32 = 0o4000;
/// Fail with `ENOTDIR` unless the path names a directory.
pub const O_DIRECTORY: u32 = 0o40000;
/// Fail with `ELOOP` if the final component is a symbolic link.
pub const O_NOFOLLOW: u32 = 0o100000;
/// Large-file semantics: 64-bit Linux adds it to every `open` (`F_GETFL` shows it).
pub const O_LARGEFILE: u32 = 0o400000;
/// Close the descriptor in a successful `execve` (`FD_CLOEXEC`).
pub const O_CLOEXEC: u32 = 0o2000000;

/// `lseek` whence: from the start.
pub const SEEK_SET: u32 = 0;
/// From the current offset.
pub const SEEK_CUR: u32 = 1;
/// From the end of the file.
pub const SEEK_END: u32 = 2;

/// `fcntl` commands: duplicate to the lowest free descriptor ≥ arg.
pub const F_DUPFD: u32 = 0;
/// The descriptor flags (`FD_CLOEXEC`).
pub const F_GETFD: u32 = 1;
/// Set the descriptor flags.
pub const F_SETFD: u32 = 2;
/// The file status flags and access mode.
pub const F_GETFL: u32 = 3;
/// Set the file status flags (only `O_APPEND`, `O_NONBLOCK` and a few others change).
pub const F_SETFL: u32 = 4;
/// `F_DUPFD` with `FD_CLOEXEC` set on the new descriptor.
pub const F_DUPFD_CLOEXEC: u32 = 1030;
/// The descriptor flag: closed by `execve`.
pub const FD_CLOEXEC: u32 = 1;

/// `renameat2` flags: fail with `EEXIST` if the new name exists.
pub const RENAME_NOREPLACE: u32 = 1;
/// Swap the two names atomically.
pub const RENAME_EXCHANGE: u32 = 2;

/// `faccessat` modes: the file exists.
pub const F_OK: u32 = 0;
/// Execute (search) permission.
pub const X_OK: u32 = 1;
/// Write permission.
pub const W_OK: u32 = 2;
/// Read permission.
pub const R_OK: u32 = 4;

/// `st_mode` file types: the mask.
pub const S_IFMT: u32 = 0o170000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// FIFO (pipe).
pub const S_IFIFO: u32 = 0o010000;

/// `d_type` of a `linux_dirent64`: unknown.
pub const DT_UNKNOWN: u8 = 0;
/// FIFO.
pub const DT_FIFO: u8 = 1;
/// Character device.
pub const DT_CHR: u8 = 2;
/// Directory.
pub const DT_DIR: u8 = 4;
/// Block device.
pub const DT_BLK: u8 = 6;
/// Regular file.
pub const DT_REG: u8 = 8;
/// Symbolic link.
pub const DT_LNK: u8 = 10;
/// Socket.
pub const DT_SOCK: u8 = 12;

/// The longest path `getcwd`/the path calls take, its NUL included.
pub const PATH_MAX: usize = 4096;
/// The longest name of one path component.
pub const NAME_MAX: usize = 255;
/// Writes to a pipe of at most this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;

/// The aarch64 `struct stat` (include/uapi/asm-generic/stat.h): 128 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// `st_dev`: the device of the file system.
    pub dev: u64,
    /// `st_ino`: the inode number.
    pub ino: u64,
    /// `st_mode`: type ([`S_IFMT`]) and permission bits.
    pub mode: u32,
    /// `st_nlink`: the number of hard links.
    pub nlink: u32,
    /// `st_uid`: the owner.
    pub uid: u32,
    /// `st_gid`: the group.
    pub gid: u32,
    /// `st_rdev`: the device a device file stands for (Linux's `new_encode_dev`).
    pub rdev: u64,
    _pad1: u64,
    /// `st_size`: the length in bytes (of a symlink: its target's length).
    pub size: i64,
    /// `st_blksize`: the preferred I/O size.
    pub blksize: i32,
    _pad2: i32,
    /// `st_blocks`: 512-byte blocks allocated.
    pub blocks: i64,
    /// `st_atime` (seconds).
    pub atime: i64,
    /// `st_atime_nsec`.
    pub atime_nsec: i64,
    /// `st_mtime` (seconds).
    pub mtime: i64,
    /// `st_mtime_nsec`.
    pub mtime_nsec: i64,
    /// `st_ctime` (seconds).
    pub ctime: i64,
    /// `st_ctime_nsec`.
    pub ctime_nsec: i64,
    _unused: [u32; 2],
}

const _: () = assert!(core::mem::size_of::<Stat>() == 128);
const _: () = assert!(core::mem::offset_of!(Stat, size) == 48);
const _: () = assert!(core::mem::offset_of!(Stat, atime) == 72);

impl Stat {
    /// The file type bits (`mode & S_IFMT`).
    pub fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }
    /// The permission bits, set-id and sticky bits included (`mode & 0o7777`).
    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
    /// The major number of `rdev`.
    pub fn rdev_major(&self) -> u32 {
        (((self.rdev >> 8) & 0xfff) | ((self.rdev >> 32) & !0xfff)) as u32
    }
    /// The minor number of `rdev`.
    pub fn rdev_minor(&self) -> u32 {
        ((self.rdev & 0xff) | ((self.rdev >> 12) & !0xff)) as u32
    }
}

/// A path built at run time: bytes and the NUL after them, in a buffer of
/// `N` bytes. `as_cstr` gives it to the calls.
pub struct PathBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> PathBuf<N> {
    /// The path `start` (without a NUL).
    ///
    /// # Panics
    /// If the path and its NUL do not fit in `N` bytes (as `push`).
    pub fn new(start: &[u8]) -> Self {
        let mut path = PathBuf {
            bytes: [0; N],
            len: 0,
        };
        path.push(start);
        path
    }

    /// Appends `more` (which must hold no NUL).
    ///
    /// # Panics
    /// If it does not fit with its NUL, or holds a NUL.
    pub fn push(&mut self, more: &[u8]) -> &mut Self {
        assert!(self.len + more.len() < N, "PathBuf: {N} bytes are too few");
        assert!(!more.contains(&0), "PathBuf: a NUL inside the path");
        self.bytes[self.len..self.len + more.len()].copy_from_slice(more);
        self.len += more.len();
        self
    }

    /// Appends `byte` `count` times.
    pub fn repeat(&mut self, byte: u8, count: usize) -> &mut Self {
        for _ in 0..count {
            self.push(&[byte]);
        }
        self
    }

    /// Appends `value` in decimal.
    pub fn number(&mut self, value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = value;
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[at..])
    }

    /// The path's bytes, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The length, without the NUL.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the path is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The path as the calls take it.
    pub fn as_cstr(&self) -> &CStr {
        // The bytes after `len` are all zero (the buffer starts zeroed and
        // only grows), and `push` refuses NULs, so the first NUL is at `len`.
        CStr::from_bytes_until_nul(&self.bytes[..=self.len]).expect("a NUL after the path")
    }
}

fn path(p: &CStr) -> usize {
    p.as_ptr() as usize
}

fn fd_result(r: Result<usize, Errno>) -> Result<i32, Errno> {
    r.map(|v| v as i32)
}

/// `openat(dirfd, path, flags, mode)`: the new descriptor.
pub fn openat(dirfd: i32, p: &CStr, flags: u32, mode: u32) -> Result<i32, Errno> {
    // SAFETY: a NUL-terminated path, read only.
    fd_result(unsafe {
        raw(
            nr::OPENAT,
            [dirfd as usize, path(p), flags as usize, mode as usize, 0, 0],
        )
    })
}

/// `openat(AT_FDCWD, path, flags, mode)`.
pub fn open(p: &CStr, flags: u32, mode: u32) -> Result<i32, Errno> {
    openat(AT_FDCWD, p, flags, mode)
}

/// `close(fd)`.
pub fn close(fd: i32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(nr::CLOSE, [fd as usize, 0, 0, 0, 0, 0]) }.map(drop)
}

/// `read(fd, buf)`: the bytes read, 0 at the end of the file.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    crate::sys::read(fd, buf)
}

/// `write(fd, bytes)`: the bytes written.
pub fn write(fd: i32, bytes: &[u8]) -> Result<usize, Errno> {
    crate::sys::write_fd(fd, bytes)
}

/// The most buffers [`readv`] and [`writev`] take in one call.
pub const MAX_IOV: usize = 16;

/// `readv(fd, iov)` over `bufs` in order (at most [`MAX_IOV`]): the total read.
pub fn readv(fd: i32, bufs: &mut [&mut [u8]]) -> Result<usize, Errno> {
    assert!(bufs.len() <= MAX_IOV);
    let mut iov = [IoVec { base: 0, len: 0 }; MAX_IOV];
    for (v, b) in iov.iter_mut().zip(bufs.iter_mut()) {
        *v = IoVec {
            base: b.as_mut_ptr() as usize,
            len: b.len(),
        };
    }
    // SAFETY: each element covers one of the caller's buffers, which the call
    // may write (they are borrowed mutably for it).
    unsafe {
        raw(
            nr::READV,
            [fd as usize, iov.as_ptr() as usize, bufs.len(), 0, 0, 0],
        )
    }
}

/// `writev(fd, iov)` of `bufs` in order (at most [`MAX_IOV`]): the total written.
pub fn writev(fd: i32, bufs: &[&[u8]]) -> Result<usize, Errno> {
    assert!(bufs.len() <= MAX_IOV);
    let mut iov = [IoVec { base: 0, len: 0 }; MAX_IOV];
    for (v, b) in iov.iter_mut().zip(bufs) {
        *v = IoVec::of(b);
    }
    crate::sys::writev(fd, &iov[..bufs.len()])
}

/// `pread64(fd, buf, offset)`: reads at `offset`, the file offset unchanged.
pub fn pread(fd: i32, buf: &mut [u8], offset: i64) -> Result<usize, Errno> {
    // SAFETY: the buffer is ours and valid for its length.
    unsafe {
        raw(
            nr::PREAD64,
            [
                fd as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
                offset as usize,
                0,
                0,
            ],
        )
    }
}

/// `pwrite64(fd, bytes, offset)`: writes at `offset` (at the end with `O_APPEND`).
pub fn pwrite(fd: i32, bytes: &[u8], offset: i64) -> Result<usize, Errno> {
    // SAFETY: the buffer is only read.
    unsafe {
        raw(
            nr::PWRITE64,
            [
                fd as usize,
                bytes.as_ptr() as usize,
                bytes.len(),
                offset as usize,
                0,
                0,
            ],
        )
    }
}

/// `lseek(fd, offset, whence)`: the new offset.
pub fn lseek(fd: i32, offset: i64, whence: u32) -> Result<i64, Errno> {
    // SAFETY: no pointers.
    unsafe {
        raw(
            nr::LSEEK,
            [fd as usize, offset as usize, whence as usize, 0, 0, 0],
        )
    }
    .map(|v| v as i64)
}

/// `dup(fd)`: the lowest free descriptor, sharing `fd`'s open file.
pub fn dup(fd: i32) -> Result<i32, Errno> {
    // SAFETY: no pointers.
    fd_result(unsafe { raw(nr::DUP, [fd as usize, 0, 0, 0, 0, 0]) })
}

/// `dup3(old, new, flags)`: `new` (closed first if open) shares `old`'s file.
pub fn dup3(old: i32, new: i32, flags: u32) -> Result<i32, Errno> {
    // SAFETY: no pointers.
    fd_result(unsafe {
        raw(
            nr::DUP3,
            [old as usize, new as isize as usize, flags as usize, 0, 0, 0],
        )
    })
}

/// `fcntl(fd, cmd, arg)` for the integer commands (`F_DUPFD`, `F_GETFD`,
/// `F_SETFD`, `F_GETFL`, `F_SETFL`, `F_DUPFD_CLOEXEC`).
pub fn fcntl(fd: i32, cmd: u32, arg: usize) -> Result<i32, Errno> {
    // SAFETY: the integer commands take no pointer.
    fd_result(unsafe { raw(nr::FCNTL, [fd as usize, cmd as usize, arg, 0, 0, 0]) })
}

/// `pipe2(fds, flags)`: `[read end, write end]`.
pub fn pipe2(flags: u32) -> Result<[i32; 2], Errno> {
    let mut fds = [-1i32; 2];
    // SAFETY: the kernel writes two ints to `fds`.
    unsafe {
        raw(
            nr::PIPE2,
            [fds.as_mut_ptr() as usize, flags as usize, 0, 0, 0, 0],
        )
    }?;
    Ok(fds)
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    /// The descriptor (negative: ignored).
    pub fd: i32,
    /// The events asked for.
    pub events: i16,
    /// The events found.
    pub revents: i16,
}

/// `poll` event bits.
pub mod poll {
    /// Data to read.
    pub const POLLIN: i16 = 0x1;
    /// Room to write.
    pub const POLLOUT: i16 = 0x4;
    /// An error (a pipe's write end with no reader).
    pub const POLLERR: i16 = 0x8;
    /// Hung up (a pipe's read end with no writer).
    pub const POLLHUP: i16 = 0x10;
    /// Not an open descriptor.
    pub const POLLNVAL: i16 = 0x20;
}

/// `ppoll(fds, nfds, timeout, NULL, 8)`: how many entries have events; `timeout`
/// `None` waits for ever.
pub fn ppoll(fds: &mut [PollFd], timeout: Option<&crate::time::Timespec>) -> Result<usize, Errno> {
    let t = timeout.map_or(0, |t| t as *const _ as usize);
    // SAFETY: the kernel reads and writes `fds.len()` pollfd entries and reads one
    // timespec at `t` (if not null).
    unsafe {
        raw(
            nr::PPOLL,
            [fds.as_mut_ptr() as usize, fds.len(), t, 0, 8, 0],
        )
    }
}

/// `pselect6(nfds, readfds, writefds, NULL, timeout, NULL)` on descriptors below 64:
/// how many are ready; the sets come back with the ready ones.
pub fn pselect(
    nfds: i32,
    read: &mut u64,
    write: &mut u64,
    timeout: &mut crate::time::Timespec,
) -> Result<usize, Errno> {
    // SAFETY: the kernel reads and writes one 64-bit fd_set word each and one timespec.
    unsafe {
        raw(
            nr::PSELECT6,
            [
                nfds as usize,
                read as *mut u64 as usize,
                write as *mut u64 as usize,
                0,
                timeout as *mut _ as usize,
                0,
            ],
        )
    }
}

/// `fstat(fd)`.
pub fn fstat(fd: i32) -> Result<Stat, Errno> {
    let mut st = Stat::default();
    // SAFETY: the kernel writes one struct stat to `st`.
    unsafe {
        raw(
            nr::FSTAT,
            [fd as usize, &mut st as *mut Stat as usize, 0, 0, 0, 0],
        )
    }?;
    Ok(st)
}

/// `newfstatat(dirfd, path, &st, flags)` (`AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH`).
pub fn fstatat(dirfd: i32, p: &CStr, flags: u32) -> Result<Stat, Errno> {
    let mut st = Stat::default();
    // SAFETY: the path is read, one struct stat written to `st`.
    unsafe {
        raw(
            nr::NEWFSTATAT,
            [
                dirfd as usize,
                path(p),
                &mut st as *mut Stat as usize,
                flags as usize,
                0,
                0,
            ],
        )
    }?;
    Ok(st)
}

/// `stat(path)`: follows a final symbolic link.
pub fn stat(p: &CStr) -> Result<Stat, Errno> {
    fstatat(AT_FDCWD, p, 0)
}

/// `lstat(path)`: a final symbolic link itself.
pub fn lstat(p: &CStr) -> Result<Stat, Errno> {
    fstatat(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW)
}

/// `getdents64(fd, buf)`: the bytes of `linux_dirent64` records written, 0 at
/// the end of the directory; [`dirents`] walks them.
pub fn getdents64(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the buffer is ours and valid for its length.
    unsafe {
        raw(
            nr::GETDENTS64,
            [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
        )
    }
}

/// One `linux_dirent64` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dirent<'a> {
    /// `d_ino`.
    pub ino: u64,
    /// `d_off`: where the next `getdents64` goes on after this record.
    pub off: i64,
    /// `d_reclen`: the record's length in bytes.
    pub reclen: u16,
    /// `d_type` ([`DT_REG`], [`DT_DIR`], ...).
    pub kind: u8,
    /// `d_name` up to its NUL.
    pub name: &'a [u8],
}

/// The offset of `d_name` in a record.
pub const DIRENT_NAME_OFFSET: usize = 19;

/// The records of a `getdents64` buffer, in order. A record that does not
/// fit or has no NUL ends the walk (as [`Dirents::malformed`] then says).
pub struct Dirents<'a> {
    buf: &'a [u8],
    at: usize,
    malformed: bool,
}

/// Walks the records of `buf`: the bytes `getdents64` wrote (`&buf[..n]`).
pub fn dirents(buf: &[u8]) -> Dirents<'_> {
    Dirents {
        buf,
        at: 0,
        malformed: false,
    }
}

impl Dirents<'_> {
    /// Whether the walk stopped at a record that did not hold together.
    pub fn malformed(&self) -> bool {
        self.malformed
    }
}

impl<'a> Iterator for Dirents<'a> {
    type Item = Dirent<'a>;

    fn next(&mut self) -> Option<Dirent<'a>> {
        let rest = &self.buf[self.at..];
        if rest.is_empty() || self.malformed {
            return None;
        }
        let word = |i: usize| u64::from_le_bytes(rest[i..i + 8].try_into().unwrap());
        if rest.len() < DIRENT_NAME_OFFSET + 1 {
            self.malformed = true;
            return None;
        }
        let reclen = u16::from_le_bytes([rest[16], rest[17]]);
        let len = usize::from(reclen);
        if len < DIRENT_NAME_OFFSET + 1 || len > rest.len() {
            self.malformed = true;
            return None;
        }
        let name_area = &rest[DIRENT_NAME_OFFSET..len];
        let Some(end) = name_area.iter().position(|&b| b == 0) else {
            self.malformed = true;
            return None;
        };
        self.at += len;
        Some(Dirent {
            ino: word(0),
            off: word(8) as i64,
            reclen,
            kind: rest[18],
            name: &name_area[..end],
        })
    }
}

/// `mkdirat(dirfd, path, mode)`: mode & ~umask.
pub fn mkdirat(dirfd: i32, p: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: the path is only read.
    unsafe {
        raw(
            nr::MKDIRAT,
            [dirfd as usize, path(p), mode as usize, 0, 0, 0],
        )
    }
    .map(drop)
}

/// `mkdir(path, mode)`.
pub fn mkdir(p: &CStr, mode: u32) -> Result<(), Errno> {
    mkdirat(AT_FDCWD, p, mode)
}

/// `unlinkat(dirfd, path, flags)` (`AT_REMOVEDIR` removes a directory).
pub fn unlinkat(dirfd: i32, p: &CStr, flags: u32) -> Result<(), Errno> {
    // SAFETY: the path is only read.
    unsafe {
        raw(
            nr::UNLINKAT,
            [dirfd as usize, path(p), flags as usize, 0, 0, 0],
        )
    }
    .map(drop)
}

/// `unlink(path)`.
pub fn unlink(p: &CStr) -> Result<(), Errno> {
    unlinkat(AT_FDCWD, p, 0)
}

/// `rmdir(path)`.
pub fn rmdir(p: &CStr) -> Result<(), Errno> {
    unlinkat(AT_FDCWD, p, AT_REMOVEDIR)
}

/// `symlinkat(target, dirfd, linkpath)`: `linkpath` becomes a link to `target`.
pub fn symlinkat(target: &CStr, dirfd: i32, linkpath: &CStr) -> Result<(), Errno> {
    // SAFETY: both paths are only read.
    unsafe {
        raw(
            nr::SYMLINKAT,
            [path(target), dirfd as usize, path(linkpath), 0, 0, 0],
        )
    }
    .map(drop)
}

/// `symlink(target, linkpath)`.
pub fn symlink(target: &CStr, linkpath: &CStr) -> Result<(), Errno> {
    symlinkat(target, AT_FDCWD, linkpath)
}

/// `linkat(olddirfd, old, newdirfd, new, flags)`: a hard link.
pub fn linkat(
    olddirfd: i32,
    old: &CStr,
    newdirfd: i32,
    new: &CStr,
    flags: u32,
) -> Result<(), Errno> {
    // SAFETY: both paths are only read.
    unsafe {
        raw(
            nr::LINKAT,
            [
                olddirfd as usize,
                path(old),
                newdirfd as usize,
                path(new),
                flags as usize,
                0,
            ],
        )
    }
    .map(drop)
}

/// `link(old, new)`.
pub fn link(old: &CStr, new: &CStr) -> Result<(), Errno> {
    linkat(AT_FDCWD, old, AT_FDCWD, new, 0)
}

/// `renameat2(olddirfd, old, newdirfd, new, flags)` (`RENAME_NOREPLACE`, `RENAME_EXCHANGE`).
pub fn renameat2(
    olddirfd: i32,
    old: &CStr,
    newdirfd: i32,
    new: &CStr,
    flags: u32,
) -> Result<(), Errno> {
    // SAFETY: both paths are only read.
    unsafe {
        raw(
            nr::RENAMEAT2,
            [
                olddirfd as usize,
                path(old),
                newdirfd as usize,
                path(new),
                flags as usize,
                0,
            ],
        )
    }
    .map(drop)
}

/// `rename(old, new)`.
pub fn rename(old: &CStr, new: &CStr) -> Result<(), Errno> {
    renameat2(AT_FDCWD, old, AT_FDCWD, new, 0)
}

/// `readlinkat(dirfd, path, buf)`: the target's length (no NUL is written;
/// a target longer than `buf` is cut).
pub fn readlinkat(dirfd: i32, p: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the path is read, at most `buf.len()` bytes written to `buf`.
    unsafe {
        raw(
            nr::READLINKAT,
            [
                dirfd as usize,
                path(p),
                buf.as_mut_ptr() as usize,
                buf.len(),
                0,
                0,
            ],
        )
    }
}

/// `readlink(path, buf)`.
pub fn readlink(p: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    readlinkat(AT_FDCWD, p, buf)
}

/// `ftruncate(fd, length)`: a longer file reads zeros past the old end.
pub fn ftruncate(fd: i32, length: i64) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(nr::FTRUNCATE, [fd as usize, length as usize, 0, 0, 0, 0]) }.map(drop)
}

/// `fsync(fd)`.
pub fn fsync(fd: i32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(nr::FSYNC, [fd as usize, 0, 0, 0, 0, 0]) }.map(drop)
}

/// `chdir(path)`.
pub fn chdir(p: &CStr) -> Result<(), Errno> {
    // SAFETY: the path is only read.
    unsafe { raw(nr::CHDIR, [path(p), 0, 0, 0, 0, 0]) }.map(drop)
}

/// `fchdir(fd)`.
pub fn fchdir(fd: i32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(nr::FCHDIR, [fd as usize, 0, 0, 0, 0, 0]) }.map(drop)
}

/// `getcwd(buf)`: the length written, the NUL included (the raw call's
/// value, not the C library's pointer).
pub fn getcwd(buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: at most `buf.len()` bytes written to `buf`.
    unsafe {
        raw(
            nr::GETCWD,
            [buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0, 0],
        )
    }
}

/// `umask(mask)`: the old mask.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: no pointers; umask cannot fail.
    unsafe { crate::sys::syscall(nr::UMASK, mask as usize, 0, 0) as u32 }
}

/// `faccessat(dirfd, path, mode)`: `F_OK` or a mix of `R_OK`/`W_OK`/`X_OK`,
/// checked with the real ids.
pub fn faccessat(dirfd: i32, p: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: the path is only read.
    unsafe {
        raw(
            nr::FACCESSAT,
            [dirfd as usize, path(p), mode as usize, 0, 0, 0],
        )
    }
    .map(drop)
}

/// `access(path, mode)`.
pub fn access(p: &CStr, mode: u32) -> Result<(), Errno> {
    faccessat(AT_FDCWD, p, mode)
}

/// `fchmod(fd, mode)`: the permission bits (`0o7777`).
pub fn fchmod(fd: i32, mode: u32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(nr::FCHMOD, [fd as usize, mode as usize, 0, 0, 0, 0]) }.map(drop)
}

/// `fchmodat(dirfd, path, mode)`: follows a final symbolic link.
pub fn fchmodat(dirfd: i32, p: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: the path is only read.
    unsafe {
        raw(
            nr::FCHMODAT,
            [dirfd as usize, path(p), mode as usize, 0, 0, 0],
        )
    }
    .map(drop)
}

/// `chmod(path, mode)`.
pub fn chmod(p: &CStr, mode: u32) -> Result<(), Errno> {
    fchmodat(AT_FDCWD, p, mode)
}
