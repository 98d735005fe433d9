//! The file system calls, with Linux's argument checks, order and errnos: paths from
//! user memory (`EFAULT`, `ENAMETOOLONG` at `PATH_MAX`), looked up from the root, the
//! working directory (`AT_FDCWD`) or a directory descriptor; descriptors (`open`,
//! `close`, `dup`, `fcntl`, `pipe2`); metadata (`stat`, `statx`, `chmod`, `utimensat`,
//! `access`); the tree (`mkdir`, `mknod`, `unlink`, `rename`, `link`, `symlink`,
//! `readlink`, `getdents64`); sizes (`truncate`); and the working directory.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::errno::*;
use super::{Args, Result};
use crate::fs::file::flags::*;
use crate::fs::inode::{mode::*, Kind, Time};
use crate::fs::path::{self, PATH_MAX};
use crate::fs::{namespace, Inode, OpenFile};
use crate::user::fd::{self, Fd};
use crate::user::{current_process, uaccess};
use mm::VirtAddr;

/// `AT_FDCWD`: relative paths start at the working directory.
const AT_FDCWD: i32 = -100;
/// Do not follow a symbolic link at the last component.
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
/// `unlinkat`: remove a directory.
const AT_REMOVEDIR: u64 = 0x200;
/// `linkat`: follow a symbolic link at the old path's last component.
const AT_SYMLINK_FOLLOW: u64 = 0x400;
/// Not a mount point trigger (accepted: there are none).
const AT_NO_AUTOMOUNT: u64 = 0x800;
/// An empty path means the descriptor itself.
const AT_EMPTY_PATH: u64 = 0x1000;
/// `statx`: sync flags (accepted).
const AT_STATX_SYNC_TYPE: u64 = 0x6000;
/// `faccessat2`: check with the effective ids (the same here).
const AT_EACCESS: u64 = 0x200;

/// The path at user `addr` (also `execve`'s): `EFAULT` if unreadable, `ENAMETOOLONG` if no NUL comes within
/// `PATH_MAX` bytes.
pub fn user_path(addr: u64) -> core::result::Result<Vec<u8>, Errno> {
    uaccess::read_cstr(VirtAddr::new(addr), PATH_MAX).map_err(|e| e.unwrap_or(ENAMETOOLONG))
}

/// Where a lookup of `path` starts: the root for an absolute path (the descriptor is not
/// looked at), else the working directory or the directory `dirfd` is open on.
fn start(dirfd: u64, path: &[u8]) -> core::result::Result<Arc<Inode>, Errno> {
    if path.starts_with(b"/") {
        return Ok(crate::fs::root().clone());
    }
    let p = current_process();
    if dirfd as i32 == AT_FDCWD {
        return Ok(p.cwd.lock().clone());
    }
    let f = p.files.lock().file(fd::number(dirfd)?)?;
    if !f.inode.is_dir() {
        return Err(ENOTDIR);
    }
    Ok(f.inode.clone())
}

/// The inode `(dirfd, path)` names; an empty path is the descriptor itself with
/// `AT_EMPTY_PATH`, else `ENOENT`.
fn lookup(
    dirfd: u64,
    path: &[u8],
    follow: bool,
    empty_ok: bool,
) -> core::result::Result<Arc<Inode>, Errno> {
    if path.is_empty() {
        if !empty_ok {
            return Err(ENOENT);
        }
        let p = current_process();
        if dirfd as i32 == AT_FDCWD {
            return Ok(p.cwd.lock().clone());
        }
        return Ok(p.files.lock().file(fd::number(dirfd)?)?.inode.clone());
    }
    let from = start(dirfd, path)?;
    path::resolve(&from, path, follow)
}

/// [`lookup`] as the `*at` calls' flags ask: a last link followed unless
/// `AT_SYMLINK_NOFOLLOW`, an empty path the descriptor itself with `AT_EMPTY_PATH`.
fn lookup_flags(dirfd: u64, path: &[u8], flags: u64) -> core::result::Result<Arc<Inode>, Errno> {
    lookup(
        dirfd,
        path,
        flags & AT_SYMLINK_NOFOLLOW == 0,
        flags & AT_EMPTY_PATH != 0,
    )
}

fn umask() -> u32 {
    current_process().umask.load(Ordering::Relaxed)
}

fn install(file: Arc<OpenFile>, cloexec: bool, min: usize) -> Result {
    current_process()
        .files
        .lock()
        .install(Fd { file, cloexec }, min)
        .map(|n| n as u64)
}

/// `openat(dirfd, path, flags, mode)`.
pub fn openat(a: Args) -> Result {
    let [dirfd, path, flags, mode, ..] = a.0;
    let flags = flags as u32;
    let path = user_path(path)?;
    if flags & O_TMPFILE == O_TMPFILE {
        return Err(EOPNOTSUPP);
    }
    let from = start(dirfd, &path)?;
    let nofollow = flags & O_NOFOLLOW != 0;
    let inode = if flags & O_CREAT != 0 {
        let perm = (mode as u32) & PERMS & !umask();
        namespace::open_create(&from, &path, perm, flags & O_EXCL != 0, nofollow)?.0
    } else {
        if path.is_empty() {
            return Err(ENOENT);
        }
        path::resolve(&from, &path, !nofollow)?
    };
    if flags & O_PATH == 0 {
        match &inode.kind {
            Kind::Symlink(_) if flags & O_DIRECTORY != 0 => return Err(ENOTDIR),
            Kind::Symlink(_) => return Err(ELOOP),
            Kind::Dir(_) if flags & O_ACCMODE != O_RDONLY || flags & O_CREAT != 0 => {
                return Err(EISDIR)
            }
            _ if flags & O_DIRECTORY != 0 && !inode.is_dir() => return Err(ENOTDIR),
            _ => {}
        }
    } else if flags & O_DIRECTORY != 0 && !inode.is_dir() {
        return Err(ENOTDIR);
    }
    // Linux truncates even when the file is opened read-only.
    if flags & O_TRUNC != 0 && flags & O_PATH == 0 {
        if let Some(f) = inode.as_file() {
            f.truncate(0)?;
            inode.touch_modified();
        }
    }
    let access = if flags & O_PATH != 0 {
        O_PATH
    } else {
        // Linux adds O_LARGEFILE to every open on a 64-bit kernel (force_o_largefile).
        flags & (O_ACCMODE | SETFL_MASK | O_DIRECTORY | O_NOFOLLOW) | O_LARGEFILE
    };
    let file = OpenFile::new(inode.clone(), access);
    if let Kind::Fifo(p) = &inode.kind {
        if flags & O_PATH == 0 {
            p.wait_partner(file.readable(), file.writable(), flags & O_NONBLOCK != 0)?;
        }
    }
    install(file, flags & O_CLOEXEC != 0, 0)
}

/// `close(fd)`.
pub fn close(a: Args) -> Result {
    let n = fd::number(a.0[0])?;
    let closed = current_process().files.lock().close(n)?;
    drop(closed);
    Ok(0)
}

/// `lseek(fd, offset, whence)`.
pub fn lseek(a: Args) -> Result {
    let [fd, offset, whence, ..] = a.0;
    super::io::file(fd)?.seek(offset as i64, whence as u32)
}

/// `dup(fd)`: the lowest free number for the same open file.
pub fn dup(a: Args) -> Result {
    let file = super::io::file(a.0[0])?;
    install(file, false, 0)
}

/// `dup3(old, new, flags)`: `new` made a copy of `old` (closing what it was).
pub fn dup3(a: Args) -> Result {
    let [old, new, flags, ..] = a.0;
    if flags as u32 & !O_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    let (old, new) = (old as u32, new as u32);
    if old == new {
        return Err(EINVAL);
    }
    let new = fd::number(u64::from(new))?;
    let p = current_process();
    let mut files = p.files.lock();
    let file = files.file(fd::number(u64::from(old))?)?;
    let replaced = files.replace(
        new,
        Fd {
            file,
            cloexec: flags as u32 & O_CLOEXEC != 0,
        },
    );
    drop(files);
    drop(replaced);
    Ok(new as u64)
}

/// `fcntl(fd, cmd, arg)`.
pub fn fcntl(a: Args) -> Result {
    const F_DUPFD: u32 = 0;
    const F_GETFD: u32 = 1;
    const F_SETFD: u32 = 2;
    const F_GETFL: u32 = 3;
    const F_SETFL: u32 = 4;
    const F_DUPFD_CLOEXEC: u32 = 1030;
    const FD_CLOEXEC: u64 = 1;
    let [fd, cmd, arg, ..] = a.0;
    let n = fd::number(fd)?;
    let p = current_process();
    let mut files = p.files.lock();
    let entry = files.get(n)?.clone();
    match cmd as u32 {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = arg as u32 as usize;
            if min >= fd::NOFILE {
                return Err(EINVAL);
            }
            files
                .install(
                    Fd {
                        file: entry.file,
                        cloexec: cmd as u32 == F_DUPFD_CLOEXEC,
                    },
                    min,
                )
                .map(|n| n as u64)
        }
        F_GETFD => Ok(if entry.cloexec { FD_CLOEXEC } else { 0 }),
        F_SETFD => files.set_cloexec(n, arg & FD_CLOEXEC != 0).map(|()| 0),
        F_GETFL => Ok(u64::from(entry.file.flags())),
        F_SETFL => {
            entry.file.set_status_flags(arg as u32);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// `pipe2(fds, flags)`: a pipe's read end and write end at the two lowest free numbers.
pub fn pipe2(a: Args) -> Result {
    const O_DIRECT: u32 = 0o40000;
    let [fds, flags, ..] = a.0;
    let flags = flags as u32;
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(EINVAL);
    }
    let pipe = crate::fs::pipe::Pipe::new();
    let inode = Inode::new(Kind::Fifo(pipe), 0o600);
    let status = flags & O_NONBLOCK;
    let reader = OpenFile::new(inode.clone(), O_RDONLY | status);
    let writer = OpenFile::new(inode, O_WRONLY | status);
    let cloexec = flags & O_CLOEXEC != 0;
    let p = current_process();
    let mut files = p.files.lock();
    let r = files.install(
        Fd {
            file: reader,
            cloexec,
        },
        0,
    )?;
    let w = match files.install(
        Fd {
            file: writer,
            cloexec,
        },
        0,
    ) {
        Ok(w) => w,
        Err(e) => {
            let gone = files.close(r);
            drop(files);
            drop(gone);
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(r as u32).to_le_bytes());
    out[4..].copy_from_slice(&(w as u32).to_le_bytes());
    if let Err(e) = uaccess::copy_to(VirtAddr::new(fds), &out) {
        // Nothing of the call is left behind.
        let gone = (files.close(r), files.close(w));
        drop(files);
        drop(gone);
        return Err(e);
    }
    Ok(0)
}

/// `fstat(fd, buf)`.
pub fn fstat(a: Args) -> Result {
    let [fd, buf, ..] = a.0;
    let st = super::io::file(fd)?.inode.stat();
    uaccess::copy_to(VirtAddr::new(buf), &st.to_bytes())?;
    Ok(0)
}

/// `newfstatat(dirfd, path, buf, flags)`.
pub fn newfstatat(a: Args) -> Result {
    let [dirfd, path, buf, flags, ..] = a.0;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(EINVAL);
    }
    let path = user_path(path)?;
    let inode = lookup_flags(dirfd, &path, flags)?;
    uaccess::copy_to(VirtAddr::new(buf), &inode.stat().to_bytes())?;
    Ok(0)
}

/// `statx(dirfd, path, flags, mask, buf)`: the basic fields, always all of them.
pub fn statx(a: Args) -> Result {
    const STATX_BASIC_STATS: u32 = 0x7ff;
    const STATX_RESERVED: u32 = 0x8000_0000;
    let [dirfd, path, flags, mask, buf, ..] = a.0;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask as u32 & STATX_RESERVED != 0
    {
        return Err(EINVAL);
    }
    let path = user_path(path)?;
    let inode = lookup_flags(dirfd, &path, flags)?;
    let st = inode.stat();
    let mut b = [0u8; 256];
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    put(0x00, &STATX_BASIC_STATS.to_le_bytes());
    put(0x04, &(st.blksize as u32).to_le_bytes());
    put(0x10, &st.nlink.to_le_bytes());
    put(0x14, &st.uid.to_le_bytes());
    put(0x18, &st.gid.to_le_bytes());
    put(0x1c, &(st.mode as u16).to_le_bytes());
    put(0x20, &st.ino.to_le_bytes());
    put(0x28, &(st.size as u64).to_le_bytes());
    put(0x30, &(st.blocks as u64).to_le_bytes());
    for (at, t) in [(0x40, st.atime), (0x60, st.ctime), (0x70, st.mtime)] {
        put(at, &t.sec.to_le_bytes());
        put(at + 8, &(t.nsec as u32).to_le_bytes());
    }
    put(0x80, &((st.rdev >> 8) as u32).to_le_bytes());
    put(0x84, &((st.rdev & 0xff) as u32).to_le_bytes());
    put(0x88, &0u32.to_le_bytes());
    put(0x8c, &(st.dev as u32).to_le_bytes());
    uaccess::copy_to(VirtAddr::new(buf), &b)?;
    Ok(0)
}

/// `getdents64(fd, dirp, count)`: `linux_dirent64` records from the directory's position.
pub fn getdents64(a: Args) -> Result {
    const HEADER: usize = 19;
    let [fd, dirp, count, ..] = a.0;
    let f = super::io::file(fd)?;
    if !f.inode.is_dir() {
        return Err(ENOTDIR);
    }
    let count = (count as u32 as usize).min(1 << 20);
    let buf = uaccess::user_range(dirp, count as u64)?;
    f.with_position(|pos| {
        let mut out = Vec::new();
        let mut at = *pos;
        loop {
            let batch = namespace::entries_from(&f.inode, at, 64);
            if batch.is_empty() {
                break;
            }
            let mut full = false;
            for (name, inode) in batch {
                let reclen = (HEADER + name.len() + 1).next_multiple_of(8);
                if out.len() + reclen > count {
                    full = true;
                    break;
                }
                let d_type: u8 = match inode.file_type() {
                    S_IFDIR => 4,
                    S_IFREG => 8,
                    S_IFLNK => 10,
                    S_IFCHR => 2,
                    S_IFIFO => 1,
                    _ => 0,
                };
                at += 1;
                let start = out.len();
                out.resize(start + reclen, 0);
                out[start..start + 8].copy_from_slice(&inode.ino.to_le_bytes());
                out[start + 8..start + 16].copy_from_slice(&(at as i64).to_le_bytes());
                out[start + 16..start + 18].copy_from_slice(&(reclen as u16).to_le_bytes());
                out[start + 18] = d_type;
                out[start + HEADER..start + HEADER + name.len()].copy_from_slice(&name);
            }
            if full {
                break;
            }
        }
        if out.is_empty() && !namespace::entries_from(&f.inode, at, 1).is_empty() {
            // Not even one record fits.
            return Err(EINVAL);
        }
        uaccess::copy_to(buf.start, &out)?;
        *pos = at;
        Ok(out.len() as u64)
    })
}

/// `mkdirat(dirfd, path, mode)`.
pub fn mkdirat(a: Args) -> Result {
    let [dirfd, path, mode, ..] = a.0;
    let path = user_path(path)?;
    let from = start(dirfd, &path)?;
    namespace::mkdir(&from, &path, (mode as u32) & 0o1777 & !umask()).map(|()| 0)
}

/// `mknodat(dirfd, path, mode, dev)`: regular files and named pipes.
pub fn mknodat(a: Args) -> Result {
    let [dirfd, path, mode, _dev, ..] = a.0;
    let mode = mode as u32;
    let fifo = match mode & S_IFMT {
        0 | S_IFREG => false,
        S_IFIFO => true,
        S_IFDIR => return Err(EPERM),
        S_IFCHR | S_IFBLK | S_IFSOCK => return Err(EPERM),
        _ => return Err(EINVAL),
    };
    let path = user_path(path)?;
    let from = start(dirfd, &path)?;
    namespace::mknod(&from, &path, fifo, mode & PERMS & !umask()).map(|()| 0)
}

/// `unlinkat(dirfd, path, flags)`.
pub fn unlinkat(a: Args) -> Result {
    let [dirfd, path, flags, ..] = a.0;
    if flags & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    let path = user_path(path)?;
    let from = start(dirfd, &path)?;
    namespace::unlink(&from, &path, flags & AT_REMOVEDIR != 0).map(|()| 0)
}

/// `symlinkat(target, newdirfd, linkpath)`.
pub fn symlinkat(a: Args) -> Result {
    let [target, dirfd, linkpath, ..] = a.0;
    let target = user_path(target)?;
    let linkpath = user_path(linkpath)?;
    let from = start(dirfd, &linkpath)?;
    namespace::symlink(&from, &linkpath, &target).map(|()| 0)
}

/// `linkat(olddirfd, oldpath, newdirfd, newpath, flags)`.
pub fn linkat(a: Args) -> Result {
    let [olddirfd, oldpath, newdirfd, newpath, flags, ..] = a.0;
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let oldpath = user_path(oldpath)?;
    let newpath = user_path(newpath)?;
    let inode = lookup(
        olddirfd,
        &oldpath,
        flags & AT_SYMLINK_FOLLOW != 0,
        flags & AT_EMPTY_PATH != 0,
    )?;
    let from = start(newdirfd, &newpath)?;
    namespace::link(&inode, &from, &newpath).map(|()| 0)
}

/// `renameat2(olddirfd, oldpath, newdirfd, newpath, flags)` (`renameat`: flags 0).
pub fn renameat2(a: Args) -> Result {
    let [olddirfd, oldpath, newdirfd, newpath, flags, ..] = a.0;
    let oldpath = user_path(oldpath)?;
    let newpath = user_path(newpath)?;
    let old_from = start(olddirfd, &oldpath)?;
    let new_from = start(newdirfd, &newpath)?;
    namespace::rename(&old_from, &oldpath, &new_from, &newpath, flags as u32).map(|()| 0)
}

/// `readlinkat(dirfd, path, buf, bufsiz)`: the target, not NUL-terminated, cut to `bufsiz`.
pub fn readlinkat(a: Args) -> Result {
    let [dirfd, path, buf, size, ..] = a.0;
    if size as i32 <= 0 {
        return Err(EINVAL);
    }
    let path = user_path(path)?;
    let inode = lookup(dirfd, &path, false, true)?;
    let Kind::Symlink(target) = &inode.kind else {
        return Err(EINVAL);
    };
    let n = target.len().min(size as u32 as usize);
    uaccess::copy_to(VirtAddr::new(buf), &target[..n])?;
    Ok(n as u64)
}

fn truncate_inode(inode: &Inode, len: u64) -> Result {
    if (len as i64) < 0 {
        return Err(EINVAL);
    }
    match &inode.kind {
        Kind::File(f) => {
            f.truncate(len)?;
            inode.touch_modified();
            Ok(0)
        }
        Kind::Dir(_) => Err(EISDIR),
        _ => Err(EINVAL),
    }
}

/// `ftruncate(fd, length)`.
pub fn ftruncate(a: Args) -> Result {
    let [fd, len, ..] = a.0;
    if (len as i64) < 0 {
        return Err(EINVAL);
    }
    let f = super::io::file(fd)?;
    if !f.writable() || f.inode.as_file().is_none() {
        return Err(EINVAL);
    }
    truncate_inode(&f.inode, len)
}

/// `truncate(path, length)`.
pub fn truncate(a: Args) -> Result {
    let [path, len, ..] = a.0;
    let path = user_path(path)?;
    let inode = lookup(AT_FDCWD as u64, &path, true, false)?;
    truncate_inode(&inode, len)
}

/// `fsync(fd)`, `fdatasync(fd)`: memory is the medium, nothing to wait for; a pipe or a
/// terminal is `EINVAL`, as on Linux.
pub fn fsync(a: Args) -> Result {
    let f = super::io::file(a.0[0])?;
    match f.inode.kind {
        Kind::Fifo(_) => Err(EINVAL),
        Kind::Device(d) if d.is_terminal() => Err(EINVAL),
        _ => Ok(0),
    }
}

/// `chdir(path)`.
pub fn chdir(a: Args) -> Result {
    let path = user_path(a.0[0])?;
    let inode = lookup(AT_FDCWD as u64, &path, true, false)?;
    if !inode.is_dir() {
        return Err(ENOTDIR);
    }
    let old = core::mem::replace(&mut *current_process().cwd.lock(), inode);
    drop(old);
    Ok(0)
}

/// `fchdir(fd)`.
pub fn fchdir(a: Args) -> Result {
    let f = super::io::file(a.0[0])?;
    if !f.inode.is_dir() {
        return Err(ENOTDIR);
    }
    let old = core::mem::replace(&mut *current_process().cwd.lock(), f.inode.clone());
    drop(old);
    Ok(0)
}

/// The absolute path of directory `dir` (`None` once it was removed).
fn path_of(dir: &Arc<Inode>) -> Option<Vec<u8>> {
    let root = crate::fs::root();
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut cur = dir.clone();
    while !Arc::ptr_eq(&cur, root) {
        if cur.meta.lock().nlink == 0 {
            return None;
        }
        let parent = cur.as_dir()?.parent()?;
        let d = parent.as_dir()?;
        let mut found = None;
        let mut skip = 0;
        loop {
            let batch = d.list(skip, 64);
            if batch.is_empty() {
                break;
            }
            skip += batch.len();
            if let Some((n, _)) = batch.into_iter().find(|(_, i)| Arc::ptr_eq(i, &cur)) {
                found = Some(n);
                break;
            }
        }
        names.push(found?);
        cur = parent;
    }
    let mut out = Vec::new();
    for n in names.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(n);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Some(out)
}

/// `getcwd(buf, size)`: the length with the NUL.
pub fn getcwd(a: Args) -> Result {
    let [buf, size, ..] = a.0;
    let cwd = current_process().cwd.lock().clone();
    let mut path = path_of(&cwd).ok_or(ENOENT)?;
    path.push(0);
    if path.len() > size as usize {
        return Err(ERANGE);
    }
    uaccess::copy_to(VirtAddr::new(buf), &path)?;
    Ok(path.len() as u64)
}

/// `umask(mask)`: the old mask.
pub fn umask_call(a: Args) -> Result {
    let old = current_process()
        .umask
        .swap(a.0[0] as u32 & 0o777, Ordering::Relaxed);
    Ok(u64::from(old))
}

/// `faccessat(dirfd, path, mode)` and `faccessat2(..., flags)`: the only user is root,
/// who may read and write anything and execute what has an execute bit (or search a
/// directory).
pub fn faccessat2(a: Args, with_flags: bool) -> Result {
    const X_OK: u64 = 1;
    let [dirfd, path, mode, flags, ..] = a.0;
    let flags = if with_flags { flags } else { 0 };
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let path = user_path(path)?;
    let inode = lookup_flags(dirfd, &path, flags)?;
    if mode & X_OK != 0 && !inode.is_dir() && inode.meta.lock().perm & 0o111 == 0 {
        return Err(EACCES);
    }
    Ok(0)
}

fn chmod(inode: &Inode, mode: u64) -> Result {
    inode.meta.lock().perm = mode as u32 & PERMS;
    inode.touch_changed();
    Ok(0)
}

/// `fchmod(fd, mode)`.
pub fn fchmod(a: Args) -> Result {
    let [fd, mode, ..] = a.0;
    chmod(&super::io::file(fd)?.inode, mode)
}

/// `fchmodat(dirfd, path, mode)`.
pub fn fchmodat(a: Args) -> Result {
    let [dirfd, path, mode, ..] = a.0;
    let path = user_path(path)?;
    let inode = lookup(dirfd, &path, true, false)?;
    chmod(&inode, mode)
}

fn chown(inode: &Inode, uid: u64, gid: u64) -> Result {
    {
        let mut m = inode.meta.lock();
        if uid as u32 != u32::MAX {
            m.uid = uid as u32;
        }
        if gid as u32 != u32::MAX {
            m.gid = gid as u32;
        }
    }
    inode.touch_changed();
    Ok(0)
}

/// `fchownat(dirfd, path, uid, gid, flags)`.
pub fn fchownat(a: Args) -> Result {
    let [dirfd, path, uid, gid, flags, ..] = a.0;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let path = user_path(path)?;
    let inode = lookup_flags(dirfd, &path, flags)?;
    chown(&inode, uid, gid)
}

/// `fchown(fd, uid, gid)`.
pub fn fchown(a: Args) -> Result {
    let [fd, uid, gid, ..] = a.0;
    chown(&super::io::file(fd)?.inode, uid, gid)
}

/// `utimensat(dirfd, path, times, flags)`: access and modification times (`NULL`: now;
/// `UTIME_NOW`, `UTIME_OMIT`); a `NULL` path is the descriptor itself.
pub fn utimensat(a: Args) -> Result {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    let [dirfd, path, times, flags, ..] = a.0;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let now = Time::now();
    let (atime, mtime) = if times == 0 {
        (Some(now), Some(now))
    } else {
        let mut t = [(0i64, 0i64); 2];
        for (i, slot) in t.iter_mut().enumerate() {
            *slot = uaccess::read_timespec(VirtAddr::new(times + 16 * i as u64))?;
        }
        let pick = |(sec, nsec): (i64, i64)| -> core::result::Result<Option<Time>, Errno> {
            match nsec {
                UTIME_OMIT => Ok(None),
                UTIME_NOW => Ok(Some(now)),
                n if (0..1_000_000_000).contains(&n) => Ok(Some(Time { sec, nsec })),
                _ => Err(EINVAL),
            }
        };
        (pick(t[0])?, pick(t[1])?)
    };
    let inode = if path == 0 {
        if dirfd as i32 == AT_FDCWD {
            return Err(EFAULT);
        }
        super::io::file(dirfd)?.inode.clone()
    } else {
        let path = user_path(path)?;
        lookup(
            dirfd,
            &path,
            flags & AT_SYMLINK_NOFOLLOW == 0,
            flags & AT_EMPTY_PATH != 0,
        )?
    };
    let mut m = inode.meta.lock();
    if let Some(t) = atime {
        m.atime = t;
    }
    if let Some(t) = mtime {
        m.mtime = t;
    }
    if atime.is_some() || mtime.is_some() {
        m.ctime = now;
    }
    Ok(0)
}

/// `sendfile(out_fd, in_fd, offset, count)`: copies through a kernel buffer, from the
/// input's offset (moving it) or from `*offset` (updated, the input's own offset left
/// alone); returns the bytes copied, short at the input's end.
pub fn sendfile(a: Args) -> Result {
    let [out_fd, in_fd, offset, count, ..] = a.0;
    let input = super::io::file(in_fd)?;
    let output = super::io::file(out_fd)?;
    if !input.readable() || !output.writable() {
        return Err(EBADF);
    }
    if output.flags() & O_APPEND != 0 && output.inode.as_file().is_some() {
        return Err(EINVAL);
    }
    let mut at = if offset != 0 {
        let o = uaccess::read_u64(VirtAddr::new(offset))? as i64;
        if o < 0 {
            return Err(EINVAL);
        }
        Some(o as u64)
    } else {
        None
    };
    let count = count.min(0x7fff_f000) as usize;
    let mut buf = alloc::vec![0u8; count.min(64 * 1024)];
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(buf.len());
        // With an offset, a pipe or the terminal is ESPIPE (read_into says so).
        let got = input.read_bytes(&mut buf[..want], at);
        let n = match got {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let w = match output.write_bytes(&buf[..n]) {
            Ok(w) => w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += w;
        if let Some(pos) = at.as_mut() {
            *pos += w as u64;
        }
        if w < n {
            break;
        }
    }
    if let Some(pos) = at {
        uaccess::write_u64(VirtAddr::new(offset), pos)?;
    }
    Ok(done as u64)
}
