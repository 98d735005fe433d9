//! A regular file's bytes: the pages of a shared object (the object type MAP_SHARED
//! anonymous memory uses, so that mapping a file is the same machinery), with the file's
//! size beside it. A page never written is a hole and reads as zeros without a frame.
//!
//! Reads and writes run under the file's sleepable lock and copy straight between the
//! object's frames (through the linear map) and the caller's buffer, which may be user
//! memory that faults: the lock order is file lock → `mmap_lock`, declared by the file
//! lock's class ([`FILE_DATA`]) and checked by the lock validation. (File mappings, which
//! will fault file pages in under `mmap_lock`, must not take the file lock there.)
use alloc::sync::Arc;

use crate::aspace::SharedObject;
use crate::mem::phys_to_virt;
use crate::sync::{LockClass, Mutex, Nesting};
use crate::user::syscall::errno::{Errno, EFBIG, ENOSPC};
use mm::PAGE_SIZE;

/// The file lock's class: ranked before `mmap_lock` (a read or write copies user memory,
/// which may fault, under it), one file at a time. The lock validation then reports the
/// reverse order, a fault path taking a file lock under `mmap_lock`, the day file
/// mappings try it.
pub static FILE_DATA: LockClass = LockClass::ordered("file data", 5, Nesting::Never);

/// Largest file size (Linux's `MAX_LFS_FILESIZE` is far above; this keeps page indexes
/// and offsets well inside 64 bits).
pub const MAX_SIZE: u64 = 1 << 40;

struct Contents {
    size: u64,
    object: Arc<SharedObject>,
}

/// A regular file's contents.
pub struct FileData {
    contents: Mutex<Contents>,
}

/// Where the bytes of a read go, or those of a write come from: user memory through
/// `uaccess` (which may fail part-way) or a kernel buffer.
pub trait Buffer {
    /// Copies `bytes` out to offset `at` of the buffer.
    fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Errno>;
    /// Copies the buffer's bytes from offset `at` into `out`.
    fn get(&mut self, at: usize, out: &mut [u8]) -> Result<(), Errno>;
}

impl Default for FileData {
    fn default() -> Self {
        Self::new()
    }
}

impl FileData {
    /// An empty file.
    pub fn new() -> Self {
        Self {
            contents: Mutex::new_in(
                &FILE_DATA,
                Contents {
                    size: 0,
                    object: SharedObject::new(0),
                },
            ),
        }
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.contents.lock().size
    }

    /// Pages that hold data (holes excluded).
    pub fn resident_pages(&self) -> u64 {
        self.contents.lock().object.resident() as u64
    }

    /// Reads up to `len` bytes at `offset` into `out`; returns how many (0 at or past
    /// the end). A fault in `out` after some bytes ends the read there.
    pub fn read(&self, offset: u64, len: usize, out: &mut dyn Buffer) -> Result<usize, Errno> {
        let c = self.contents.lock();
        if offset >= c.size {
            return Ok(0);
        }
        let len = (len as u64).min(c.size - offset) as usize;
        let zeros = [0u8; 256];
        let mut done = 0usize;
        while done < len {
            let at = offset + done as u64;
            let in_page = (at % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(len - done);
            let r = match c.object.peek(at / PAGE_SIZE) {
                Some(pa) => {
                    // SAFETY: the object holds the frame while the file lock is held
                    // (only a truncate, under that lock, frees it); `in_page + n` stays
                    // inside the page.
                    let page = unsafe {
                        core::slice::from_raw_parts(
                            phys_to_virt(pa) as *const u8,
                            PAGE_SIZE as usize,
                        )
                    };
                    out.put(done, &page[in_page..in_page + n])
                }
                None => {
                    let mut r = Ok(());
                    let mut k = 0;
                    while k < n && r.is_ok() {
                        let m = (n - k).min(zeros.len());
                        r = out.put(done + k, &zeros[..m]);
                        k += m;
                    }
                    r
                }
            };
            if let Err(e) = r {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            done += n;
        }
        Ok(done)
    }

    /// Writes `len` bytes from `src` at `offset` (at the end with `append`); returns how
    /// many and the offset after them. The file grows to cover them (a gap reads as
    /// zeros). A fault in `src` after some bytes ends the write there.
    pub fn write(
        &self,
        offset: u64,
        append: bool,
        len: usize,
        src: &mut dyn Buffer,
    ) -> Result<(usize, u64), Errno> {
        let mut c = self.contents.lock();
        let offset = if append { c.size } else { offset };
        if len == 0 {
            return Ok((0, offset));
        }
        if offset >= MAX_SIZE {
            return Err(EFBIG);
        }
        let len = (len as u64).min(MAX_SIZE - offset) as usize;
        let end = offset + len as u64;
        if end.div_ceil(PAGE_SIZE) > c.object.len_pages() {
            c.object.set_len_pages(end.div_ceil(PAGE_SIZE));
        }
        let mut done = 0usize;
        let mut failed = None;
        while done < len {
            let at = offset + done as u64;
            let in_page = (at % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(len - done);
            let Ok(pa) = c.object.page(at / PAGE_SIZE) else {
                failed = Some(ENOSPC);
                break;
            };
            // SAFETY: a frame of the object, held while the file lock is; the range
            // stays inside the page.
            let page = unsafe {
                core::slice::from_raw_parts_mut(phys_to_virt(pa) as *mut u8, PAGE_SIZE as usize)
            };
            if let Err(e) = src.get(done, &mut page[in_page..in_page + n]) {
                failed = Some(e);
                break;
            }
            done += n;
        }
        let written_end = offset + done as u64;
        if written_end > c.size {
            c.size = written_end;
        }
        // Pages reserved past what was written stay holes (reading zeros) only inside
        // the size; shrink the object back to the size.
        let pages = c.size.div_ceil(PAGE_SIZE);
        if c.object.len_pages() > pages {
            c.object.set_len_pages(pages);
        }
        match failed {
            Some(e) if done == 0 => Err(e),
            _ => Ok((done, written_end)),
        }
    }

    /// Sets its size (`ftruncate`, `O_TRUNC`): past a shorter end the pages go and the
    /// last page's tail is zeroed, so that growing again reads zeros.
    pub fn truncate(&self, size: u64) -> Result<(), Errno> {
        if size > MAX_SIZE {
            return Err(EFBIG);
        }
        let mut c = self.contents.lock();
        if size < c.size && !size.is_multiple_of(PAGE_SIZE) {
            if let Some(pa) = c.object.peek(size / PAGE_SIZE) {
                let in_page = (size % PAGE_SIZE) as usize;
                // SAFETY: a frame of the object, held under the file lock; the tail
                // lies inside the page.
                unsafe {
                    core::ptr::write_bytes(
                        (phys_to_virt(pa) as *mut u8).add(in_page),
                        0,
                        PAGE_SIZE as usize - in_page,
                    )
                };
            }
        }
        c.object.set_len_pages(size.div_ceil(PAGE_SIZE));
        c.size = size;
        Ok(())
    }
}

/// A kernel buffer as a [`Buffer`].
pub struct KernelBuffer<'a>(pub &'a mut [u8]);

impl Buffer for KernelBuffer<'_> {
    fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Errno> {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
    fn get(&mut self, at: usize, out: &mut [u8]) -> Result<(), Errno> {
        out.copy_from_slice(&self.0[at..at + out.len()]);
        Ok(())
    }
}

/// Read-only kernel bytes as a [`Buffer`] (the source of a write).
pub struct KernelBytes<'a>(pub &'a [u8]);

impl Buffer for KernelBytes<'_> {
    fn put(&mut self, _: usize, _: &[u8]) -> Result<(), Errno> {
        Err(crate::user::syscall::errno::EFAULT)
    }
    fn get(&mut self, at: usize, out: &mut [u8]) -> Result<(), Errno> {
        out.copy_from_slice(&self.0[at..at + out.len()]);
        Ok(())
    }
}

/// User memory from `start` on as a [`Buffer`].
pub struct UserBuffer(pub mm::VirtAddr);

impl Buffer for UserBuffer {
    fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Errno> {
        crate::user::uaccess::copy_to(self.0.add(at as u64), bytes)
    }
    fn get(&mut self, at: usize, out: &mut [u8]) -> Result<(), Errno> {
        crate::user::uaccess::copy_from(self.0.add(at as u64), out)
    }
}
