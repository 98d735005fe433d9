//! Changes of the tree: create, make a directory, link, unlink, rename. One sleepable
//! lock serialises them, so that each check (the name is free, the directory is empty,
//! the target is not inside the source) and the change it allows are one step, as
//! Linux's directory `i_rwsem` and `rename_lock` make them. Look-ups take no part in it:
//! each directory's entries change under its own short lock.
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::data::FileData;
use super::inode::{Inode, Kind};
use super::path::{resolve, resolve_parent, Parent};
use super::pipe::Pipe;
use crate::sync::{Mutex, MutexGuard};
use crate::user::syscall::errno::{
    Errno, EBUSY, EEXIST, EINVAL, EISDIR, ELOOP, EMLINK, ENOENT, ENOTDIR, ENOTEMPTY, EPERM,
};

static NAMESPACE: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    NAMESPACE.lock()
}

/// `renameat2`'s flags.
pub const RENAME_NOREPLACE: u32 = 1;
/// Swap the two names.
pub const RENAME_EXCHANGE: u32 = 2;
/// Leave a whiteout (overlay filesystems): refused here.
pub const RENAME_WHITEOUT: u32 = 4;

/// Most names an inode may have.
const LINK_MAX: u32 = u32::MAX - 1;

/// A directory that was removed takes no new entry.
fn alive(dir: &Inode) -> Result<(), Errno> {
    if dir.meta.lock().nlink == 0 {
        Err(ENOENT)
    } else {
        Ok(())
    }
}

fn dir_of(p: &Parent) -> &super::inode::Dir {
    p.dir.as_dir().expect("resolve_parent gives a directory")
}

fn is_dot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

/// `open` with `O_CREAT`: the inode `path` names, made an empty regular file with
/// permissions `perm` if the name is free; `EEXIST` if it exists and `excl`. A symbolic
/// link at the last component is followed (`ELOOP` with `nofollow` or `excl`). Returns
/// the inode and whether it was made.
pub fn open_create(
    start: &Arc<Inode>,
    path: &[u8],
    perm: u32,
    excl: bool,
    nofollow: bool,
) -> Result<(Arc<Inode>, bool), Errno> {
    let _ns = lock();
    create_locked(start, path, perm, excl, nofollow, 0)
}

/// [`open_create`] under the namespace lock. A dangling symbolic link at the last
/// component makes its target (as Linux does), `links` counting the links followed.
fn create_locked(
    start: &Arc<Inode>,
    path: &[u8],
    perm: u32,
    excl: bool,
    nofollow: bool,
    links: u32,
) -> Result<(Arc<Inode>, bool), Errno> {
    let p = resolve_parent(start, path)?;
    let Some(name) = p.name.as_deref() else {
        return Err(EISDIR);
    };
    if is_dot(name) {
        return Err(EISDIR);
    }
    let dir = dir_of(&p);
    match dir.get(name) {
        Some(_) if excl => Err(EEXIST),
        Some(existing) => match &existing.kind {
            Kind::Symlink(_) if nofollow => Err(ELOOP),
            Kind::Symlink(target) => match resolve(&p.dir, target, true) {
                Err(ENOENT) if links < super::path::MAX_SYMLINKS => {
                    create_locked(&p.dir, target, perm, excl, false, links + 1)
                }
                Err(ENOENT) => Err(ELOOP),
                other => other.map(|i| (i, false)),
            },
            _ if existing.is_dir() => Err(EISDIR),
            _ if p.trailing_slash => Err(EISDIR),
            _ => Ok((existing, false)),
        },
        None => {
            if p.trailing_slash {
                return Err(EISDIR);
            }
            alive(&p.dir)?;
            let inode = Inode::new(Kind::File(FileData::new()), perm);
            dir.insert(name, inode.clone());
            p.dir.touch_modified();
            Ok((inode, true))
        }
    }
}

/// The directory and the free last name of `path`, for a call that makes a name there
/// (`mknod`, `symlink`, `link`, `mkdir`), checked in Linux's order: the root or `.`/`..`
/// and a taken name are `EEXIST`, a trailing slash is `ENOENT` unless `dir_ok` (a new
/// directory may be written `a/`), a removed directory `ENOENT`. The caller holds the
/// namespace lock.
fn free_name(start: &Arc<Inode>, path: &[u8], dir_ok: bool) -> Result<(Parent, Vec<u8>), Errno> {
    let p = resolve_parent(start, path)?;
    let name = p.name.clone().ok_or(EEXIST)?;
    if is_dot(&name) || dir_of(&p).get(&name).is_some() {
        return Err(EEXIST);
    }
    if p.trailing_slash && !dir_ok {
        return Err(ENOENT);
    }
    alive(&p.dir)?;
    Ok((p, name))
}

/// Makes `kind` (not a directory) at the free name `path` (`mknod`, `mkfifo`,
/// `symlink`).
fn make(start: &Arc<Inode>, path: &[u8], kind: Kind, perm: u32) -> Result<Arc<Inode>, Errno> {
    let _ns = lock();
    let (p, name) = free_name(start, path, false)?;
    let inode = Inode::new(kind, perm);
    dir_of(&p).insert(&name, inode.clone());
    p.dir.touch_modified();
    Ok(inode)
}

/// `mkdirat`.
pub fn mkdir(start: &Arc<Inode>, path: &[u8], perm: u32) -> Result<(), Errno> {
    let _ns = lock();
    let (p, name) = free_name(start, path, true)?;
    let new = Inode::new_dir(&p.dir, perm);
    dir_of(&p).insert(&name, new);
    p.dir.meta.lock().nlink += 1;
    p.dir.touch_modified();
    Ok(())
}

/// `mknodat` of a regular file or a named pipe.
pub fn mknod(start: &Arc<Inode>, path: &[u8], fifo: bool, perm: u32) -> Result<(), Errno> {
    let kind = if fifo {
        Kind::Fifo(Pipe::new())
    } else {
        Kind::File(FileData::new())
    };
    make(start, path, kind, perm).map(drop)
}

/// `symlinkat`: a link at `path` to `target` (kept as given, never looked up here).
pub fn symlink(start: &Arc<Inode>, path: &[u8], target: &[u8]) -> Result<(), Errno> {
    if target.is_empty() {
        return Err(ENOENT);
    }
    make(start, path, Kind::Symlink(target.to_vec()), 0o777).map(drop)
}

/// `linkat`: a new name `path` for `inode` (not a directory: `EPERM`).
pub fn link(inode: &Arc<Inode>, start: &Arc<Inode>, path: &[u8]) -> Result<(), Errno> {
    if inode.is_dir() {
        return Err(EPERM);
    }
    let _ns = lock();
    let (p, name) = free_name(start, path, false)?;
    {
        let mut m = inode.meta.lock();
        if m.nlink == 0 {
            // An open file whose last name went cannot get one back (no O_TMPFILE).
            return Err(ENOENT);
        }
        if m.nlink >= LINK_MAX {
            return Err(EMLINK);
        }
        m.nlink += 1;
    }
    dir_of(&p).insert(&name, inode.clone());
    inode.touch_changed();
    p.dir.touch_modified();
    Ok(())
}

/// `unlinkat`: removes the name `path` (a directory with `rmdir`, which must be empty;
/// anything else without). The inode lives on while a descriptor holds it.
pub fn unlink(start: &Arc<Inode>, path: &[u8], rmdir: bool) -> Result<(), Errno> {
    let _ns = lock();
    let p = resolve_parent(start, path)?;
    let name = match p.name.as_deref() {
        None if rmdir => return Err(EBUSY),
        None => return Err(EISDIR),
        Some(b".") if rmdir => return Err(EINVAL),
        Some(b"..") if rmdir => return Err(ENOTEMPTY),
        Some(b"." | b"..") => return Err(EISDIR),
        Some(n) => n,
    };
    let dir = dir_of(&p);
    let target = dir.get(name).ok_or(ENOENT)?;
    if rmdir {
        let sub = target.as_dir().ok_or(ENOTDIR)?;
        if !sub.is_empty() {
            return Err(ENOTEMPTY);
        }
        dir.remove(name);
        target.meta.lock().nlink = 0;
        p.dir.meta.lock().nlink -= 1;
    } else {
        if target.is_dir() {
            return Err(EISDIR);
        }
        if p.trailing_slash {
            return Err(ENOTDIR);
        }
        dir.remove(name);
        target.meta.lock().nlink -= 1;
        target.touch_changed();
    }
    p.dir.touch_modified();
    Ok(())
}

/// Whether `inner` is `outer` or lies below it.
fn is_within(inner: &Arc<Inode>, outer: &Arc<Inode>) -> bool {
    let mut cur = inner.clone();
    loop {
        if Arc::ptr_eq(&cur, outer) {
            return true;
        }
        match cur.as_dir().and_then(|d| d.parent()) {
            Some(parent) if !Arc::ptr_eq(&parent, &cur) => cur = parent,
            _ => return false,
        }
    }
}

/// `renameat2`.
pub fn rename(
    old_start: &Arc<Inode>,
    old_path: &[u8],
    new_start: &Arc<Inode>,
    new_path: &[u8],
    flags: u32,
) -> Result<(), Errno> {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || flags & RENAME_WHITEOUT != 0
        || (flags & RENAME_NOREPLACE != 0 && flags & RENAME_EXCHANGE != 0)
    {
        return Err(EINVAL);
    }
    let _ns = lock();
    let op = resolve_parent(old_start, old_path)?;
    let np = resolve_parent(new_start, new_path)?;
    let (Some(oname), Some(nname)) = (op.name.as_deref(), np.name.as_deref()) else {
        return Err(EBUSY);
    };
    if is_dot(oname) || is_dot(nname) {
        return Err(if flags & RENAME_NOREPLACE != 0 {
            EEXIST
        } else {
            EBUSY
        });
    }
    let (odir, ndir) = (dir_of(&op), dir_of(&np));
    let src = odir.get(oname).ok_or(ENOENT)?;
    let existing = ndir.get(nname);
    if (op.trailing_slash || np.trailing_slash) && !src.is_dir() {
        return Err(ENOTDIR);
    }
    if flags & RENAME_EXCHANGE != 0 {
        let other = existing.ok_or(ENOENT)?;
        if Arc::ptr_eq(&src, &other) {
            return Ok(());
        }
        if (src.is_dir() && is_within(&np.dir, &src))
            || (other.is_dir() && is_within(&op.dir, &other))
        {
            return Err(EINVAL);
        }
        odir.insert(oname, other.clone());
        ndir.insert(nname, src.clone());
        move_dir_link(&src, &op.dir, &np.dir);
        move_dir_link(&other, &np.dir, &op.dir);
        for i in [&src, &other] {
            i.touch_changed();
        }
        op.dir.touch_modified();
        np.dir.touch_modified();
        return Ok(());
    }
    if let Some(e) = &existing {
        if Arc::ptr_eq(e, &src) {
            // Two names of one inode: nothing happens (POSIX).
            return Ok(());
        }
        if flags & RENAME_NOREPLACE != 0 {
            return Err(EEXIST);
        }
    }
    if src.is_dir() && is_within(&np.dir, &src) {
        return Err(EINVAL);
    }
    if let Some(e) = &existing {
        match (src.is_dir(), e.as_dir()) {
            (true, None) => return Err(ENOTDIR),
            (false, Some(_)) => return Err(EISDIR),
            (true, Some(d)) if !d.is_empty() => return Err(ENOTEMPTY),
            _ => {}
        }
    }
    alive(&np.dir)?;
    let replaced: Option<Arc<Inode>> = existing.inspect(|e| {
        ndir.remove(nname);
        if e.is_dir() {
            e.meta.lock().nlink = 0;
            np.dir.meta.lock().nlink -= 1;
        } else {
            e.meta.lock().nlink -= 1;
            e.touch_changed();
        }
    });
    odir.remove(oname);
    ndir.insert(nname, src.clone());
    move_dir_link(&src, &op.dir, &np.dir);
    src.touch_changed();
    op.dir.touch_modified();
    np.dir.touch_modified();
    drop(replaced);
    Ok(())
}

/// A directory moved from `from` to `to`: its `..` and the two link counts follow.
fn move_dir_link(inode: &Arc<Inode>, from: &Arc<Inode>, to: &Arc<Inode>) {
    if let Some(d) = inode.as_dir() {
        if !Arc::ptr_eq(from, to) {
            d.set_parent(Arc::downgrade(to));
            from.meta.lock().nlink -= 1;
            to.meta.lock().nlink += 1;
        }
    }
}

/// The entries of `dir` as `getdents64` lists them: `.`, `..`, then the names in order.
pub fn entries_from(dir: &Arc<Inode>, position: u64, max: usize) -> Vec<(Vec<u8>, Arc<Inode>)> {
    let Some(d) = dir.as_dir() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut pos = position as usize;
    while pos < 2 && out.len() < max {
        let (name, inode) = if pos == 0 {
            (b".".to_vec(), dir.clone())
        } else {
            (b"..".to_vec(), d.parent().unwrap_or_else(|| dir.clone()))
        };
        out.push((name, inode));
        pos += 1;
    }
    if out.len() < max {
        out.extend(d.list(pos - 2, max - out.len()));
    }
    out
}
