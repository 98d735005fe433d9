//! Threads and process identity: `clone` (threads here, processes in `process`), `exit`,
//! `exit_group`, `getpid`, `gettid`, `set_tid_address`, `futex`.
use super::errno::{EAGAIN, EFAULT, EINVAL, ENOSYS, ESRCH};
use super::{Args, Result};
use crate::arch::exception::TrapFrame;
use crate::user::{self, current_thread, futex, uaccess};
use core::sync::atomic::Ordering;
use core::time::Duration;
use mm::VirtAddr;

/// `clone` flags (include/uapi/linux/sched.h), for threads here and processes in
/// `process`.
pub(super) mod flags {
    pub const CLONE_VM: u64 = 0x100;
    pub const CLONE_FS: u64 = 0x200;
    pub const CLONE_FILES: u64 = 0x400;
    pub const CLONE_SIGHAND: u64 = 0x800;
    pub const CLONE_VFORK: u64 = 0x4000;
    pub const CLONE_THREAD: u64 = 0x1_0000;
    pub const CLONE_SYSVSEM: u64 = 0x4_0000;
    pub const CLONE_SETTLS: u64 = 0x8_0000;
    pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
    pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
    pub const CLONE_DETACHED: u64 = 0x40_0000;
    pub const CLONE_CHILD_SETTID: u64 = 0x100_0000;
}
use flags::*;
/// What a thread-creating `clone` may ask for here.
const THREAD_FLAGS: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_CHILD_SETTID
    | 0xff; // the exit signal (ignored for threads)

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;

fn thread() -> &'static user::Thread {
    current_thread().expect("thread call from a kernel task")
}

/// `exit(status)`: ends the calling thread (the process with its last thread).
pub fn exit(a: Args) -> Result {
    user::exit_thread((a.0[0] & 0xff) as i32)
}

/// `exit_group(status)`: ends every thread of the process with `status`.
pub fn exit_group(a: Args) -> Result {
    let status = (a.0[0] & 0xff) as i32;
    thread().process.begin_exit(status);
    user::exit_thread(status)
}

/// `getpid()`: the process ID.
pub fn getpid() -> Result {
    Ok(u64::from(thread().process.pid))
}

/// `gettid()`: the calling thread's ID.
pub fn gettid() -> Result {
    Ok(u64::from(thread().tid))
}

/// `set_tid_address(tidptr)`: the word zeroed and futex-woken at thread exit;
/// returns the caller's TID.
pub fn set_tid_address(a: Args) -> Result {
    let t = thread();
    t.clear_child_tid.store(a.0[0], Ordering::Relaxed);
    Ok(u64::from(t.tid))
}

/// `clone(flags, stack, parent_tid, tls, child_tid)` (aarch64 argument order).
/// Only threads: a new process (fork) is `-ENOSYS` here.
pub fn clone(a: Args, frame: &TrapFrame) -> Result {
    let [flags, stack, parent_tid, tls, child_tid, _] = a.0;
    let thread_flags = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND;
    if flags & thread_flags != thread_flags {
        if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
            return Err(EINVAL);
        }
        if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
            return Err(EINVAL);
        }
        // fork and vfork.
        return super::process::fork(flags, stack, parent_tid, tls, child_tid, frame);
    }
    if flags & !THREAD_FLAGS != 0 {
        return Err(EINVAL);
    }
    let me = thread();
    let process = &me.process;
    let tid = user::new_id();
    if flags & CLONE_PARENT_SETTID != 0 {
        uaccess::write_u32(VirtAddr::new(parent_tid), tid)?;
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        uaccess::write_u32(VirtAddr::new(child_tid), tid)?;
    }
    let (child, tls, clear) = child_start(frame, flags, stack, tls, child_tid);
    // The creator's mask; no alternate stack (a new thread has none, as Linux's CLONE_VM).
    let signals = user::signal::ThreadSignals::new(me.signals.mask.load(Ordering::Relaxed));
    user::spawn_thread(process, tid, "user-thread", child, tls, clear, signals)
        .map_err(|_| EAGAIN)?;
    Ok(u64::from(tid))
}

/// How a clone's child starts (thread or process): the caller's registers with x0 = 0
/// (its FP/SIMD registers too, read from the CPU), its stack if one was given, its TLS
/// (`CLONE_SETTLS`, else the caller's) and the word cleared at its exit
/// (`CLONE_CHILD_CLEARTID`).
pub(super) fn child_start(
    frame: &TrapFrame,
    flags: u64,
    stack: u64,
    tls: u64,
    child_tid: u64,
) -> (user::UserRegs, u64, VirtAddr) {
    let mut child = frame.clone();
    child.x[0] = 0;
    if stack != 0 {
        child.sp_el0 = stack;
    }
    let tls = if flags & CLONE_SETTLS != 0 {
        tls
    } else {
        crate::arch::user_tls()
    };
    let clear = VirtAddr::new(if flags & CLONE_CHILD_CLEARTID != 0 {
        child_tid
    } else {
        0
    });
    let regs = user::UserRegs {
        frame: child,
        fp: crate::arch::fpsimd::save(),
    };
    (regs, tls, clear)
}

/// `futex`, in Linux 6.1's order: the timeout is read and checked first
/// (only for the commands that take one), then `FUTEX_CLOCK_REALTIME`
/// (only with `FUTEX_WAIT_BITSET`), then the command, then its bitset, the
/// word's alignment and its address. `op` is an `int` and `val`/`val3` are
/// `u32`s: the upper halves of their registers are ignored.
pub fn futex(a: Args) -> Result {
    let [addr, op, val, timeout, _addr2, val3] = a.0;
    let (op, val, val3) = (op as u32, val as u32, val3 as u32);
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let timeout = if timeout != 0 && matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET) {
        let (sec, nsec) = uaccess::read_timespec(VirtAddr::new(timeout))?;
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(EINVAL);
        }
        let t = Duration::new(sec as u64, nsec as u32);
        Some(if cmd == FUTEX_WAIT_BITSET {
            // An absolute deadline on the chosen clock.
            t.saturating_sub(super::time::now(realtime))
        } else {
            t
        })
    } else {
        None
    };
    if realtime && cmd != FUTEX_WAIT_BITSET {
        return Err(ENOSYS);
    }
    let bitset = match cmd {
        FUTEX_WAIT | FUTEX_WAKE => u32::MAX,
        FUTEX_WAIT_BITSET | FUTEX_WAKE_BITSET => val3,
        _ => return Err(ENOSYS),
    };
    if bitset == 0 || addr % 4 != 0 {
        return Err(EINVAL);
    }
    // Linux's access_ok: the word lies below the end of the user half (page
    // 0 included: a private futex is only an address).
    if addr
        .checked_add(4)
        .is_none_or(|end| end > crate::aspace::USER_RANGE.end.as_u64())
    {
        return Err(EFAULT);
    }
    let addr = VirtAddr::new(addr);
    let process = &thread().process;
    // A shared futex is keyed by its page (Linux's get_futex_key pins it):
    // the page must be there, and a read-only anonymous page, which can
    // never change, is refused.
    if op & FUTEX_PRIVATE_FLAG == 0 {
        uaccess::read_u32(addr)?;
        if !process
            .aspace()
            .translate_access(addr)
            .is_some_and(|(_, writable)| writable)
        {
            return Err(EFAULT);
        }
    }
    let key = futex::key(process, addr, op & FUTEX_PRIVATE_FLAG == 0);
    if matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET) {
        return futex::wait(process, addr, key, val, bitset, timeout);
    }
    let count = val.min(i32::MAX as u32);
    Ok(futex::wake_bitset(key, count, bitset))
}

/// The task of thread `tid` of the caller's process (0: the caller).
fn task_of(tid: u64) -> Option<&'static crate::task::Task> {
    let me = thread();
    if tid == 0 || tid == u64::from(me.tid) {
        return Some(crate::task::current());
    }
    me.process.task_of(tid as u32)
}

fn online_mask() -> u64 {
    crate::percpu::online_cpus().fold(0u64, |m, c| m | 1 << c)
}

/// `sched_setaffinity(tid, len, mask)`. A task here runs on one CPU or on
/// any: a mask of every online CPU unpins, any other pins the thread to the
/// lowest CPU in it. The caller moves at once.
pub fn sched_setaffinity(a: Args) -> Result {
    let [tid, len, mask, ..] = a.0;
    if len < 8 {
        return Err(EINVAL);
    }
    let task = task_of(tid).ok_or(ESRCH)?;
    let want = uaccess::read_u64(VirtAddr::new(mask))? & online_mask();
    if want == 0 {
        return Err(EINVAL);
    }
    let cpu = (want != online_mask()).then(|| want.trailing_zeros() as usize);
    task.set_affinity(cpu);
    if core::ptr::eq(task, crate::task::current()) && !task.may_run_on(crate::arch::cpu_id()) {
        crate::sched::yield_now();
    }
    Ok(0)
}

/// `sched_getaffinity(tid, len, mask)`: 8 bytes, the CPUs the thread may use.
pub fn sched_getaffinity(a: Args) -> Result {
    let [tid, len, mask, ..] = a.0;
    if len < 8 || len % 8 != 0 {
        return Err(EINVAL);
    }
    let task = task_of(tid).ok_or(ESRCH)?;
    let m = task.affinity().map_or(online_mask(), |c| 1 << c);
    uaccess::write_u64(VirtAddr::new(mask), m)?;
    Ok(8)
}

/// `getcpu(cpu, node, cache)`: the CPU the caller runs on, NUMA node 0.
pub fn getcpu(a: Args) -> Result {
    let [cpu, node, ..] = a.0;
    if cpu != 0 {
        uaccess::write_u32(VirtAddr::new(cpu), crate::arch::cpu_id() as u32)?;
    }
    if node != 0 {
        uaccess::write_u32(VirtAddr::new(node), 0)?;
    }
    Ok(0)
}
