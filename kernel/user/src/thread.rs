//! Threads as Linux makes them: `clone` with the flags glibc's
//! `pthread_create` passes, a thread-pointer value (`TPIDR_EL0`), and a join
//! built on `CLONE_CHILD_CLEARTID` (the kernel zeroes the thread's id word
//! when it exits and wakes a futex waiter on it). Also `futex` itself.
use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU32, Ordering};

use crate::errno::Errno;
use crate::mm;
use crate::sys::{nr, raw};
use crate::time::Timespec;

/// `clone` flags (include/uapi/linux/sched.h).
pub mod clone_flags {
    /// CLONE_VM: share the address space.
    pub const VM: usize = 0x100;
    /// CLONE_FS: share the root, working directory and umask.
    pub const FS: usize = 0x200;
    /// CLONE_FILES: share the file descriptor table.
    pub const FILES: usize = 0x400;
    /// CLONE_SIGHAND: share the signal handlers.
    pub const SIGHAND: usize = 0x800;
    /// CLONE_VFORK: the parent sleeps until the child execs or exits.
    pub const VFORK: usize = 0x4000;
    /// CLONE_THREAD: same thread group (process ID) as the parent.
    pub const THREAD: usize = 0x1_0000;
    /// CLONE_SYSVSEM: share System V semaphore undo lists.
    pub const SYSVSEM: usize = 0x4_0000;
    /// CLONE_SETTLS: the child's TPIDR_EL0 is the `tls` argument.
    pub const SETTLS: usize = 0x8_0000;
    /// CLONE_PARENT_SETTID: store the child's TID at `parent_tid`.
    pub const PARENT_SETTID: usize = 0x10_0000;
    /// CLONE_CHILD_CLEARTID: zero `child_tid` and futex-wake it when the child exits.
    pub const CHILD_CLEARTID: usize = 0x20_0000;
    /// What glibc's `pthread_create` passes.
    pub const THREAD_FLAGS: usize =
        VM | FS | FILES | SIGHAND | THREAD | SYSVSEM | SETTLS | PARENT_SETTID | CHILD_CLEARTID;
}

/// `futex` operations.
pub mod futex_op {
    /// FUTEX_WAIT: sleep while the word holds the expected value.
    pub const WAIT: usize = 0;
    /// FUTEX_WAKE: wake up to `val` waiters on the word.
    pub const WAKE: usize = 1;
    /// FUTEX_PRIVATE_FLAG: the word is not shared with another process.
    pub const PRIVATE_FLAG: usize = 128;
}

/// `futex(FUTEX_WAIT)`: sleeps while `*word == expected`, at most `timeout`.
pub fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<&Timespec>,
    private: bool,
) -> Result<usize, Errno> {
    let op = futex_op::WAIT | if private { futex_op::PRIVATE_FLAG } else { 0 };
    let timeout = timeout.map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: the kernel only reads the word and the timeout.
    unsafe {
        raw(
            nr::FUTEX,
            [word.as_ptr() as usize, op, expected as usize, timeout, 0, 0],
        )
    }
}

/// Every waiter, as a count for [`futex_wake`] (the kernel reads an `int`).
pub const WAKE_ALL: i32 = i32::MAX;

/// `futex(FUTEX_WAKE)`: wakes up to `count` waiters; returns how many woke.
pub fn futex_wake(word: &AtomicU32, count: i32, private: bool) -> Result<usize, Errno> {
    let op = futex_op::WAKE | if private { futex_op::PRIVATE_FLAG } else { 0 };
    // SAFETY: the kernel does not touch user memory for a wake.
    unsafe {
        raw(
            nr::FUTEX,
            [word.as_ptr() as usize, op, count as u32 as usize, 0, 0, 0],
        )
    }
}

/// `TPIDR_EL0`, the thread pointer `CLONE_SETTLS` sets.
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: EL0 may read its own thread-pointer register.
    unsafe { asm!("mrs {tp}, tpidr_el0", tp = out(reg) tp, options(nostack, nomem)) };
    tp
}

/// `set_tid_address(word)`: the kernel zeroes `word` and futex-wakes it when
/// this thread exits; returns the caller's thread ID.
pub fn set_tid_address(word: &AtomicU32) -> u32 {
    // SAFETY: the kernel writes 0 to the word when this thread exits; the
    // caller keeps it alive that long (a static or the thread's own stack page).
    unsafe { raw(nr::SET_TID_ADDRESS, [word.as_ptr() as usize, 0, 0, 0, 0, 0]) }.unwrap_or(0) as u32
}

// `__user_clone(flags, stack, parent_tid, tls, child_tid, entry, arg)`: the
// child starts on `stack` with every register but x0 and sp copied, so the
// entry and its argument travel on the new stack (16 bytes below its top),
// the one place a kernel must set up for it.
global_asm!(
    ".section .text.__user_clone, \"ax\"",
    ".global __user_clone",
    "__user_clone:",
    "    stp x5, x6, [x1, #-16]!",
    "    mov x8, #{clone}",
    "    svc #0",
    "    cbz x0, 1f",
    "    ret",
    "1:  ldp x1, x0, [sp], #16",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    blr x1",
    "    brk #1",
    clone = const nr::CLONE,
);

extern "C" {
    fn __user_clone(
        flags: usize,
        stack: usize,
        parent_tid: *mut u32,
        tls: usize,
        child_tid: *mut u32,
        entry: unsafe extern "C" fn(usize) -> !,
        arg: usize,
    ) -> isize;
}

/// `clone(flags, stack, parent_tid, tls, child_tid)` with the child running
/// `entry(arg)` on `stack` (16-byte aligned top).
///
/// # Safety
/// `stack` must be the top of memory the child may use as its stack, and the
/// tid pointers must stay valid as long as the kernel may write them.
pub unsafe fn clone(
    flags: usize,
    stack: usize,
    parent_tid: *mut u32,
    tls: usize,
    child_tid: *mut u32,
    entry: unsafe extern "C" fn(usize) -> !,
    arg: usize,
) -> Result<u32, Errno> {
    // SAFETY: the caller guarantees that `stack` is the top of memory the
    // child may use, and that the tid pointers stay valid while the kernel
    // may write them; `entry` never returns into this frame.
    crate::errno::result(unsafe {
        __user_clone(flags, stack, parent_tid, tls, child_tid, entry, arg)
    })
    .map(|tid| tid as u32)
}

/// Stack of a spawned thread, including its bookkeeping at the top.
pub const STACK_SIZE: usize = 64 * 1024;

/// A running (or finished, not yet joined) thread.
pub struct Thread {
    stack: usize,
    tid: u32,
}

/// The id word at the top of a thread's stack mapping.
fn id_word(stack: usize) -> &'static AtomicU32 {
    // SAFETY: the word lies in the thread's stack mapping, which lives until
    // `join` unmaps it after the kernel is done with the word.
    unsafe { &*((stack + STACK_SIZE - 16) as *const AtomicU32) }
}

unsafe extern "C" fn run_closure<F: FnOnce()>(arg: usize) -> ! {
    // SAFETY: `spawn` moved an `F` to `arg` and never touches it again.
    let f = unsafe { core::ptr::read(arg as *const F) };
    f();
    crate::sys::exit(0)
}

/// Starts `f` on a new thread of this process with thread pointer `tls`.
pub fn spawn_with_tls<F: FnOnce() + Send + 'static>(tls: usize, f: F) -> Result<Thread, Errno> {
    let stack = mm::mmap_anon(STACK_SIZE)?;
    let top = stack + STACK_SIZE;
    let word = id_word(stack);
    // The closure sits under the id word; the stack proper starts under it.
    let size = core::mem::size_of::<F>();
    let at = (top - 16 - size) & !(core::mem::align_of::<F>().max(16) - 1);
    // SAFETY: `at` is in the fresh mapping, aligned for F, and not used by
    // anything else; the child takes ownership of the value.
    unsafe { core::ptr::write(at as *mut F, f) };
    let id = word.as_ptr();
    // SAFETY: the stack is ours and unused; the id word outlives the thread.
    let result = unsafe {
        clone(
            clone_flags::THREAD_FLAGS,
            at & !15,
            id,
            tls,
            id,
            run_closure::<F>,
            at,
        )
    };
    match result {
        Ok(tid) => Ok(Thread { stack, tid }),
        Err(e) => {
            let _ = mm::munmap(stack, STACK_SIZE);
            Err(e)
        }
    }
}

/// Starts `f` on a new thread (thread pointer 0).
pub fn spawn<F: FnOnce() + Send + 'static>(f: F) -> Result<Thread, Errno> {
    spawn_with_tls(0, f)
}

impl Thread {
    /// The id `clone` returned.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    /// The word `CLONE_PARENT_SETTID` wrote the id to and the kernel clears
    /// at exit.
    pub fn id_word(&self) -> &AtomicU32 {
        id_word(self.stack)
    }

    /// Waits for the thread to exit (its id word cleared), then frees its stack.
    pub fn join(self) {
        let word = id_word(self.stack);
        loop {
            let id = word.load(Ordering::Acquire);
            if id == 0 {
                break;
            }
            let _ = futex_wait(word, id, None, false);
        }
        let _ = mm::munmap(self.stack, STACK_SIZE);
    }
}
