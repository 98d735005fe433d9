//! Path lookup with Linux's rules: an absolute path starts at the root, a relative one at
//! the directory given (the process's working directory for `AT_FDCWD`, else the
//! descriptor's); `.` and `..` (the root's `..` is itself); every component but the last
//! must be a directory (`ENOTDIR`); a component longer than [`NAME_MAX`] is
//! `ENAMETOOLONG`; a symbolic link is followed, relative to the directory holding it,
//! except a last component asked not to be (`O_NOFOLLOW`, `lstat`), and a trailing slash
//! makes the last component follow and be a directory; more than [`MAX_SYMLINKS`] links
//! in one lookup is `ELOOP`. An empty path is `ENOENT`.
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::inode::{Inode, Kind};
use crate::user::syscall::errno::{Errno, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR};

/// Longest name of one component (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest path, its NUL included (Linux's `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Symbolic links one lookup follows before `ELOOP` (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

/// Where the last component of a path is: its directory and name, for calls that create
/// or remove it.
pub struct Parent {
    /// The directory that holds (or would hold) the last component.
    pub dir: Arc<Inode>,
    /// The last component (`None`: the path names the root, as `/` or `//`).
    pub name: Option<Vec<u8>>,
    /// The path ended with `/`.
    pub trailing_slash: bool,
}

/// The inode `path` names from `start`; the last component's link is followed when
/// `follow` (or when the path ends with `/`).
pub fn resolve(start: &Arc<Inode>, path: &[u8], follow: bool) -> Result<Arc<Inode>, Errno> {
    let mut links = 0;
    walk(start, path, follow, &mut links)
}

/// The directory and last name of `path` from `start` (`mkdir`, `unlink`, `O_CREAT`):
/// every component before the last is looked up (links followed); the last is not.
pub fn resolve_parent(start: &Arc<Inode>, path: &[u8]) -> Result<Parent, Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    let trailing_slash = path.ends_with(b"/");
    let trimmed = {
        let mut end = path.len();
        while end > 0 && path[end - 1] == b'/' {
            end -= 1;
        }
        &path[..end]
    };
    let (dir_part, name) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (&trimmed[..i + 1], &trimmed[i + 1..]),
        None => (&b""[..], trimmed),
    };
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    let dir = if dir_part.is_empty() {
        if path.starts_with(b"/") {
            super::root().clone()
        } else {
            start.clone()
        }
    } else {
        resolve(start, dir_part, true)?
    };
    if !dir.is_dir() {
        return Err(ENOTDIR);
    }
    Ok(Parent {
        dir,
        name: (!name.is_empty()).then(|| name.to_vec()),
        trailing_slash,
    })
}

fn walk(
    start: &Arc<Inode>,
    path: &[u8],
    follow: bool,
    links: &mut u32,
) -> Result<Arc<Inode>, Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    let mut cur = if path[0] == b'/' {
        super::root().clone()
    } else {
        start.clone()
    };
    let trailing_slash = path.ends_with(b"/");
    let components: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    for (i, &c) in components.iter().enumerate() {
        if c.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let last = i + 1 == components.len();
        let dir = cur.as_dir().ok_or(ENOTDIR)?;
        let next = match c {
            b"." => cur.clone(),
            b".." => dir.parent().unwrap_or_else(|| cur.clone()),
            name => dir.get(name).ok_or(ENOENT)?,
        };
        let next = match &next.kind {
            Kind::Symlink(target) if !last || follow || trailing_slash => {
                *links += 1;
                if *links > MAX_SYMLINKS {
                    return Err(ELOOP);
                }
                walk(&cur, target, true, links)?
            }
            _ => next,
        };
        cur = next;
    }
    if trailing_slash && !cur.is_dir() {
        return Err(ENOTDIR);
    }
    Ok(cur)
}
