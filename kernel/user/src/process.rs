//! Processes as a C library makes them: `fork` (`clone(SIGCHLD)`), `vfork` + `execve`
//! (`clone(CLONE_VM | CLONE_VFORK | SIGCHLD)`, the child running only system calls until
//! it execs or exits, as glibc's assembly `vfork` does), `execve`, `wait4`, `waitid`,
//! `getppid`, and the wait-status macros.
use core::arch::asm;

use crate::errno::{result, Errno};
use crate::sys::{self, nr};

/// The signal a forked child sends its parent when it ends.
pub const SIGCHLD: usize = 17;
/// `CLONE_VM`: share the address space.
pub const CLONE_VM: usize = 0x100;
/// `CLONE_VFORK`: the parent sleeps until the child execs or exits.
pub const CLONE_VFORK: usize = 0x4000;
/// `CLONE_CHILD_SETTID`: the child's TID is stored at `child_tid` in the child's memory.
pub const CLONE_CHILD_SETTID: usize = 0x100_0000;
/// `CLONE_PARENT_SETTID`: the child's TID is stored at `parent_tid` in the parent's memory.
pub const CLONE_PARENT_SETTID: usize = 0x10_0000;

/// `wait4`/`waitid` options.
pub mod wait {
    /// Return at once if no child has changed state.
    pub const WNOHANG: usize = 1;
    /// `waitid`: wait for children that exited.
    pub const WEXITED: usize = 4;
    /// `waitid`: leave the child waitable.
    pub const WNOWAIT: usize = 0x0100_0000;
    /// `waitid` id types.
    pub const P_ALL: usize = 0;
    /// `waitid` by PID.
    pub const P_PID: usize = 1;
}

/// `clone` numbers and flags for `raw` use.
pub const CLONE3: usize = 435;
/// `waitid(idtype, id, infop, options, rusage)`.
pub const WAITID: usize = 95;
/// `getppid()`.
pub const GETPPID: usize = 173;

/// `WIFEXITED(status)`.
pub const fn exited(status: u32) -> bool {
    status & 0x7f == 0
}
/// `WEXITSTATUS(status)`.
pub const fn exit_code(status: u32) -> u32 {
    (status >> 8) & 0xff
}
/// `WIFSIGNALED(status)`.
pub const fn signaled(status: u32) -> bool {
    (status & 0x7f) + 1 >= 2 && status & 0x7f != 0x7f
}
/// `WTERMSIG(status)`.
pub const fn term_signal(status: u32) -> u32 {
    status & 0x7f
}

/// `fork()`: 0 in the child, the child's PID in the parent.
pub fn fork() -> Result<usize, Errno> {
    // SAFETY: a fork (no CLONE_VM): the child runs on its own copy of everything.
    unsafe { sys::raw(nr::CLONE, [SIGCHLD, 0, 0, 0, 0, 0]) }
}

/// `clone(flags, 0, parent_tid, 0, child_tid)` without `CLONE_VM`: a fork with the tid
/// words of `flags`.
pub fn fork_with(flags: usize, parent_tid: *mut u32, child_tid: *mut u32) -> Result<usize, Errno> {
    assert_eq!(
        flags & CLONE_VM,
        0,
        "fork_with makes processes, not threads"
    );
    // SAFETY: a fork; the kernel writes at most the two u32 words the caller gave.
    unsafe {
        sys::raw(
            nr::CLONE,
            [flags, 0, parent_tid as usize, 0, child_tid as usize, 0],
        )
    }
}

/// `wait4(pid, &status, options, NULL)`: (PID, status), or `(0, 0)` with `WNOHANG`
/// and no child ready.
pub fn wait4(pid: isize, options: usize) -> Result<(usize, u32), Errno> {
    let mut status = 0u32;
    // SAFETY: wait4 writes one int to `status`.
    let pid = unsafe {
        sys::raw(
            nr::WAIT4,
            [
                pid as usize,
                &mut status as *mut u32 as usize,
                options,
                0,
                0,
                0,
            ],
        )
    }?;
    Ok((pid, status))
}

/// The `SIGCHLD` fields of a `siginfo_t` that `waitid` fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildInfo {
    /// `si_signo`.
    pub signo: i32,
    /// `si_code` (`CLD_EXITED` 1, `CLD_KILLED` 2).
    pub code: i32,
    /// `si_pid`.
    pub pid: i32,
    /// `si_status`: the exit code or the signal.
    pub status: i32,
}

/// `waitid(idtype, id, &info, options, NULL)`.
pub fn waitid(idtype: usize, id: usize, options: usize) -> Result<ChildInfo, Errno> {
    let mut info = [0x5a5a_5a5au32; 32];
    // SAFETY: waitid writes at most one siginfo_t (128 bytes) to `info`.
    unsafe {
        sys::raw(
            WAITID,
            [idtype, id, info.as_mut_ptr() as usize, options, 0, 0],
        )
    }?;
    Ok(ChildInfo {
        signo: info[0] as i32,
        code: info[2] as i32,
        pid: info[4] as i32,
        status: info[6] as i32,
    })
}

/// `getppid()`.
pub fn getppid() -> usize {
    // SAFETY: no arguments.
    unsafe { sys::syscall(GETPPID, 0, 0, 0) as usize }
}

/// `execve(path, argv, envp)`: returns only on failure. `path` and every string end in a
/// NUL byte; the arrays end with a null pointer.
pub fn execve(path: &[u8], argv: &[*const u8], envp: &[*const u8]) -> Errno {
    assert_eq!(path.last(), Some(&0));
    assert_eq!(argv.last(), Some(&core::ptr::null()));
    assert_eq!(envp.last(), Some(&core::ptr::null()));
    // SAFETY: NUL-terminated strings and null-terminated arrays, as asserted.
    let r = unsafe {
        sys::raw(
            nr::EXECVE,
            [
                path.as_ptr() as usize,
                argv.as_ptr() as usize,
                envp.as_ptr() as usize,
                0,
                0,
                0,
            ],
        )
    };
    r.err().unwrap_or(Errno(0))
}

/// `vfork()` + `execve(path, argv, envp)` in the child, which exits with 127 if the exec
/// fails (storing the errno at `*exec_errno` first: the parent sees it, the memory is
/// shared until then). Returns the child's PID once the child has exec'd or exited.
///
/// The child runs on the parent's stack until it execs, so it runs nothing but the two
/// system calls here, in registers (the way glibc's `vfork` is written in assembly).
pub fn vfork_exec(
    path: &[u8],
    argv: &[*const u8],
    envp: &[*const u8],
    exec_errno: &mut i64,
) -> Result<usize, Errno> {
    assert_eq!(path.last(), Some(&0));
    assert_eq!(argv.last(), Some(&core::ptr::null()));
    assert_eq!(envp.last(), Some(&core::ptr::null()));
    let ret: isize;
    // SAFETY: clone with CLONE_VM | CLONE_VFORK: the parent is suspended until the child
    // execs or exits; the child touches no stack, only registers, and stores one i64 at
    // `exec_errno`, which the parent reads after it resumes.
    unsafe {
        asm!(
            "svc #0",
            "cbnz x0, 2f",
            // The child: execve(path, argv, envp).
            "mov x0, x20",
            "mov x1, x21",
            "mov x2, x22",
            "mov x8, #221",
            "svc #0",
            "str x0, [x23]",
            "mov x0, #127",
            "mov x8, #94",
            "svc #0",
            "2:",
            in("x8") nr::CLONE,
            inlateout("x0") CLONE_VM | CLONE_VFORK | SIGCHLD => ret,
            in("x1") 0usize, in("x2") 0usize, in("x3") 0usize, in("x4") 0usize,
            in("x20") path.as_ptr(), in("x21") argv.as_ptr(), in("x22") envp.as_ptr(),
            in("x23") exec_errno as *mut i64,
            options(nostack),
        );
    }
    result(ret)
}

/// `vfork()` whose child stores `value` at `*at` (the parent's memory: it is shared) and
/// exits with `code`, in registers only. Returns the child's PID after its exit.
pub fn vfork_store_exit(at: &mut u64, value: u64, code: u64) -> Result<usize, Errno> {
    let ret: isize;
    // SAFETY: as `vfork_exec`: the child uses no stack and writes one u64 at `at`.
    unsafe {
        asm!(
            "svc #0",
            "cbnz x0, 2f",
            "str x21, [x20]",
            "mov x0, x22",
            "mov x8, #93",
            "svc #0",
            "2:",
            in("x8") nr::CLONE,
            inlateout("x0") CLONE_VM | CLONE_VFORK | SIGCHLD => ret,
            in("x1") 0usize, in("x2") 0usize, in("x3") 0usize, in("x4") 0usize,
            in("x20") at as *mut u64, in("x21") value, in("x22") code,
            options(nostack),
        );
    }
    result(ret)
}
