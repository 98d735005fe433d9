//! A process's descriptor table: numbers to open files, each with its close-on-exec
//! flag. `dup` and `fork` share the open file (and so its offset); `execve` closes the
//! close-on-exec ones; the process's end closes all. The lowest free number is used, up
//! to [`NOFILE`] (`EMFILE` past it), as Linux with `RLIMIT_NOFILE` at 1024.
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::syscall::errno::{Errno, EBADF, EMFILE};
use crate::fs::OpenFile;

/// Descriptors a process may have (`RLIMIT_NOFILE`).
pub const NOFILE: usize = 1024;

/// One descriptor.
#[derive(Clone)]
pub struct Fd {
    /// The open file it refers to.
    pub file: Arc<OpenFile>,
    /// Closed by `execve` (`FD_CLOEXEC`).
    pub cloexec: bool,
}

/// The table. Closing hands the removed descriptors back, so that the caller drops them
/// (which may free a file's pages or wake a pipe's other end) after the table's lock.
#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<Fd>>,
}

/// A descriptor number from a register: an `unsigned int` (upper half ignored); numbers
/// past the table are `EBADF`.
pub fn number(raw: u64) -> Result<usize, Errno> {
    let n = raw as u32 as usize;
    if n >= NOFILE {
        Err(EBADF)
    } else {
        Ok(n)
    }
}

impl FdTable {
    /// The descriptor `n`.
    pub fn get(&self, n: usize) -> Result<&Fd, Errno> {
        self.slots.get(n).and_then(Option::as_ref).ok_or(EBADF)
    }

    /// The open file of descriptor `n`.
    pub fn file(&self, n: usize) -> Result<Arc<OpenFile>, Errno> {
        self.get(n).map(|fd| fd.file.clone())
    }

    /// Installs `fd` at the lowest free number at or above `min`.
    pub fn install(&mut self, fd: Fd, min: usize) -> Result<usize, Errno> {
        let n = (min..NOFILE)
            .find(|&n| self.slots.get(n).is_none_or(Option::is_none))
            .ok_or(EMFILE)?;
        if self.slots.len() <= n {
            self.slots.resize(n + 1, None);
        }
        self.slots[n] = Some(fd);
        Ok(n)
    }

    /// Puts `fd` at number `n` (`dup2`, `dup3`); returns what was there.
    pub fn replace(&mut self, n: usize, fd: Fd) -> Option<Fd> {
        if self.slots.len() <= n {
            self.slots.resize(n + 1, None);
        }
        self.slots[n].replace(fd)
    }

    /// Removes descriptor `n`.
    pub fn close(&mut self, n: usize) -> Result<Fd, Errno> {
        self.slots.get_mut(n).and_then(Option::take).ok_or(EBADF)
    }

    /// Sets descriptor `n`'s close-on-exec flag.
    pub fn set_cloexec(&mut self, n: usize, on: bool) -> Result<(), Errno> {
        self.slots
            .get_mut(n)
            .and_then(Option::as_mut)
            .map(|fd| fd.cloexec = on)
            .ok_or(EBADF)
    }

    /// Removes the close-on-exec descriptors (`execve`).
    pub fn take_cloexec(&mut self) -> Vec<Fd> {
        self.slots
            .iter_mut()
            .filter(|s| s.as_ref().is_some_and(|fd| fd.cloexec))
            .filter_map(Option::take)
            .collect()
    }

    /// Removes every descriptor (the process's end).
    pub fn take_all(&mut self) -> Vec<Fd> {
        core::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
    }

    /// Descriptors open now.
    pub fn count(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}
