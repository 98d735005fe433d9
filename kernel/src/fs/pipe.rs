//! Pipes: a 64 KiB byte queue between the descriptors of its read and write ends, as
//! Linux's default pipe. A read takes what is there (at least one byte), waits while the
//! pipe is empty and a writer is left, and returns 0 (end of file) once none is. A write
//! of at most [`PIPE_BUF`] bytes goes in whole or not at all (never interleaved with
//! another writer's); a longer one as space allows. With no reader left a write is
//! `EPIPE` and the writing thread gets SIGPIPE. `O_NONBLOCK` turns each wait into
//! `EAGAIN`. Waits are interruptible: a signal ends them (`ERESTARTSYS`).
//!
//! A named pipe (a FIFO in the tree) is the same object; opening one waits for the other
//! side (a reader for a writer and back), unless `O_NONBLOCK`.
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::data::Buffer;
use crate::sync::{SpinLock, WaitQueue};
use crate::user::syscall::errno::{Errno, EAGAIN, ENXIO, EPIPE};

/// Bytes a pipe holds (Linux's default: 16 pages).
pub const CAPACITY: usize = 65536;
/// Writes up to this size are atomic (`PIPE_BUF`).
pub const PIPE_BUF: usize = 4096;

/// One pipe.
pub struct Pipe {
    buf: SpinLock<VecDeque<u8>>,
    /// Bytes in `buf` (read by waiters without its lock).
    len: AtomicUsize,
    readers: AtomicU32,
    writers: AtomicU32,
    /// Bumped before every wake-up of `queue` (waiters sleep until it moves).
    events: AtomicU64,
    queue: WaitQueue,
}

impl Pipe {
    /// An empty pipe with no end open.
    pub fn new() -> Arc<Pipe> {
        Arc::new(Pipe {
            buf: SpinLock::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            readers: AtomicU32::new(0),
            writers: AtomicU32::new(0),
            events: AtomicU64::new(0),
            queue: WaitQueue::new(),
        })
    }

    fn changed(&self) {
        self.events.fetch_add(1, Ordering::AcqRel);
        self.queue.wake_all();
    }

    /// Bytes waiting (`FIONREAD`).
    pub fn available(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Readers open now.
    pub fn readers(&self) -> u32 {
        self.readers.load(Ordering::Acquire)
    }

    /// Writers open now.
    pub fn writers(&self) -> u32 {
        self.writers.load(Ordering::Acquire)
    }

    /// A descriptor of one end is made (`pipe2`, `open`, `dup` shares the same one).
    pub fn open_end(&self, write: bool) {
        if write {
            self.writers.fetch_add(1, Ordering::AcqRel);
        } else {
            self.readers.fetch_add(1, Ordering::AcqRel);
        }
        self.changed();
    }

    /// The last descriptor of an open end went: readers see end of file once no writer
    /// is left, writers `EPIPE` once no reader is.
    pub fn close_end(&self, write: bool) {
        if write {
            self.writers.fetch_sub(1, Ordering::AcqRel);
        } else {
            self.readers.fetch_sub(1, Ordering::AcqRel);
        }
        self.changed();
    }

    fn wait(&self, ready: impl FnMut() -> bool) -> Result<(), Errno> {
        crate::user::wait_interruptible(&self.queue, &self.events, ready)
    }

    /// `open` of a named pipe, once its end is counted: a reader waits for a writer and
    /// a writer for a reader, unless `nonblock` (a non-blocking writer with no reader is
    /// `ENXIO`); opened for both, it waits for nothing.
    pub fn wait_partner(&self, read: bool, write: bool, nonblock: bool) -> Result<(), Errno> {
        match (read, write) {
            (false, true) if self.readers() == 0 => {
                if nonblock {
                    return Err(ENXIO);
                }
                self.wait(|| self.readers() > 0)
            }
            (true, false) if !nonblock && self.writers() == 0 => self.wait(|| self.writers() > 0),
            _ => Ok(()),
        }
    }

    /// Reads up to `len` bytes into `out`.
    pub fn read(&self, out: &mut dyn Buffer, len: usize, nonblock: bool) -> Result<usize, Errno> {
        if len == 0 {
            return Ok(0);
        }
        loop {
            let chunk: alloc::vec::Vec<u8> = {
                let mut b = self.buf.lock();
                let n = len.min(b.len());
                let chunk = b.drain(..n).collect();
                self.len.store(b.len(), Ordering::Release);
                chunk
            };
            if !chunk.is_empty() {
                self.changed();
                // Linux has taken the bytes too when the copy faults.
                out.put(0, &chunk)?;
                return Ok(chunk.len());
            }
            if self.writers() == 0 {
                return Ok(0);
            }
            if nonblock {
                return Err(EAGAIN);
            }
            self.wait(|| self.available() > 0 || self.writers() == 0)?;
        }
    }

    /// Writes `len` bytes from `src`; returns how many went in.
    pub fn write(&self, src: &mut dyn Buffer, len: usize, nonblock: bool) -> Result<usize, Errno> {
        if len == 0 {
            // Linux returns before it looks for a reader: no EPIPE, no signal.
            return Ok(0);
        }
        if self.readers() == 0 {
            return Err(broken());
        }
        let atomic = len <= PIPE_BUF;
        let mut done = 0usize;
        while done < len {
            // The next piece, copied in before any lock (the copy may fault).
            let mut piece = vec![0u8; (len - done).min(CAPACITY)];
            if let Err(e) = src.get(done, &mut piece) {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            let mut sent = 0usize;
            while sent < piece.len() {
                if self.readers() == 0 {
                    return if done + sent > 0 {
                        Ok(done + sent)
                    } else {
                        Err(broken())
                    };
                }
                let need = if atomic { piece.len() } else { 1 };
                let pushed = {
                    let mut b = self.buf.lock();
                    let free = CAPACITY - b.len();
                    if free >= need {
                        let n = free.min(piece.len() - sent);
                        b.extend(&piece[sent..sent + n]);
                        self.len.store(b.len(), Ordering::Release);
                        n
                    } else {
                        0
                    }
                };
                if pushed > 0 {
                    sent += pushed;
                    self.changed();
                    continue;
                }
                if nonblock {
                    return if done + sent > 0 {
                        Ok(done + sent)
                    } else {
                        Err(EAGAIN)
                    };
                }
                if let Err(e) =
                    self.wait(|| CAPACITY - self.available() >= need || self.readers() == 0)
                {
                    return if done + sent > 0 {
                        Ok(done + sent)
                    } else {
                        Err(e)
                    };
                }
            }
            done += sent;
        }
        Ok(done)
    }
}

/// `EPIPE`, with SIGPIPE to the writing thread (as Linux's `send_sig(SIGPIPE, current)`:
/// `SI_USER` from the process itself).
fn broken() -> Errno {
    if let Some(t) = crate::user::current_thread() {
        let info = crate::user::signal::SigInfo::from_process(
            crate::user::signal::SIGPIPE,
            0,
            t.process.pid,
        );
        crate::user::signal::queue_for_thread(t, info);
    }
    EPIPE
}
