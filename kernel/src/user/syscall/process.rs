//! Processes: `clone` without `CLONE_VM` (fork) and with `CLONE_VM | CLONE_VFORK`
//! (vfork), `clone3`, `execve`, `wait4`, `waitid`, `getppid`.
use alloc::string::String;
use alloc::vec::Vec;

use super::errno::{Errno, E2BIG, EAGAIN, ECHILD, EFAULT, EINVAL, ENOMEM, ENOSYS};
use super::{Args, Result};
use crate::arch::exception::TrapFrame;
use crate::user::family::{self, Which};
use crate::user::{self, current_thread, exec, uaccess, Process};
use mm::VirtAddr;

use super::thread::flags::{
    CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_FILES, CLONE_FS, CLONE_PARENT_SETTID,
    CLONE_SETTLS, CLONE_VFORK, CLONE_VM,
};
/// The exit signal a child sends its parent (the low byte of clone's flags).
const CSIGNAL: u64 = 0xff;
/// What a process-creating `clone` may ask for here. `CLONE_FS`/`CLONE_FILES` are
/// accepted: there is no file system state yet to share or copy.
const FORK_FLAGS: u64 = CSIGNAL
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_VFORK
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_CHILD_SETTID;

const WNOHANG: u64 = 1;
const WUNTRACED: u64 = 2;
const WEXITED: u64 = 4;
const WCONTINUED: u64 = 8;
const WNOWAIT: u64 = 0x0100_0000;
const WNOTHREAD: u64 = 0x2000_0000;
const WALL: u64 = 0x4000_0000;
const WCLONE: u64 = 0x8000_0000;

const SIGCHLD: i32 = 17;
const CLD_EXITED: i32 = 1;
const CLD_KILLED: i32 = 2;
const CLD_STOPPED: i32 = 5;
const CLD_CONTINUED: i32 = 6;
const SIGCONT: i32 = 18;

/// Most bytes of argument and environment strings (Linux allows a quarter of the stack
/// limit; the loader here keeps them in the first 64 KiB below the stack top).
const ARG_MAX: usize = 60 * 1024;

fn me() -> &'static user::Thread {
    current_thread().expect("process call from a kernel task")
}

/// A fork-like `clone(flags, stack, parent_tid, tls, child_tid)`.
pub fn fork(
    flags: u64,
    stack: u64,
    parent_tid: u64,
    tls: u64,
    child_tid: u64,
    frame: &TrapFrame,
) -> Result {
    if flags & !FORK_FLAGS != 0 {
        return Err(EINVAL);
    }
    let vm = flags & CLONE_VM != 0;
    if vm && flags & CLONE_VFORK == 0 {
        // A second process sharing the address space without vfork's wait: not here.
        return Err(ENOSYS);
    }
    let thread = me();
    let parent = thread.process.clone();
    let aspace = if vm {
        parent.aspace()
    } else {
        parent.aspace().fork().map_err(|_| ENOMEM)?
    };
    let pid = user::new_id();
    let brk = {
        let b = parent.brk.lock();
        (b.start, b.current)
    };
    let child = Process::new_forked(aspace.clone(), pid, brk.0, &parent);
    child.brk.lock().current = brk.1;
    if flags & CLONE_PARENT_SETTID != 0 {
        uaccess::write_u32(VirtAddr::new(parent_tid), pid)?;
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        // In the child's memory (a copy after fork): the parent's copy keeps its value.
        aspace
            .copy_to(VirtAddr::new(child_tid), &pid.to_le_bytes())
            .map_err(|_| EFAULT)?;
    }
    let (regs, tls, clear) = super::thread::child_start(frame, flags, stack, tls, child_tid);
    drop(aspace);
    family::adopt(&parent, &child);
    // The parent thread's mask and alternate stack (fork keeps both).
    let signals = user::signal::ThreadSignals::forked(&thread.signals);
    if user::spawn_thread(&child, pid, "user-process", regs, tls, clear, signals).is_err() {
        family::abandon(&parent, &child);
        return Err(EAGAIN);
    }
    if flags & CLONE_VFORK != 0 {
        // The parent sleeps until the child has left the shared address space.
        child.family.vfork_done.wait();
    }
    Ok(u64::from(pid))
}

/// `clone3(args, size)`: `struct clone_args` (flags, pidfd, child_tid, parent_tid,
/// exit_signal, stack, stack_size, tls, ...), for process creation and threads.
pub fn clone3(a: Args, frame: &TrapFrame) -> Result {
    let [args, size, ..] = a.0;
    // CLONE_ARGS_SIZE_VER0 is 64 bytes; later versions add set_tid and cgroup.
    if !(64..=4096).contains(&size) {
        return Err(EINVAL);
    }
    let mut raw = [0u8; 88];
    let n = (size as usize).min(raw.len());
    uaccess::copy_from(VirtAddr::new(args), &mut raw[..n])?;
    let word = |i: usize| u64::from_le_bytes(raw[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    let (flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls) = (
        word(0),
        word(1),
        word(2),
        word(3),
        word(4),
        word(5),
        word(6),
        word(7),
    );
    let set_tid_size = if n >= 80 { word(9) } else { 0 };
    if pidfd != 0 || set_tid_size != 0 || exit_signal > 64 || flags & CSIGNAL != 0 {
        return Err(EINVAL);
    }
    if (stack == 0) != (stack_size == 0) {
        return Err(EINVAL);
    }
    let top = if stack == 0 {
        0
    } else {
        stack.checked_add(stack_size).ok_or(EINVAL)?
    };
    if flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0 {
        return super::thread::clone(
            Args([flags | exit_signal, top, parent_tid, tls, child_tid, 0]),
            frame,
        );
    }
    fork(flags | exit_signal, top, parent_tid, tls, child_tid, frame)
}

/// `getppid()`: the parent's PID (0 for init).
pub fn getppid() -> Result {
    Ok(u64::from(me().process.family.parent_pid()))
}

fn which(pid: i64) -> Which {
    match pid {
        p if p > 0 => Which::Pid(p as u32),
        0 => Which::Group(me().process.pgid()),
        -1 => Which::Any,
        p => Which::Group((-p) as u32),
    }
}

fn waited(
    r: core::result::Result<Option<family::Reaped>, family::WaitError>,
) -> core::result::Result<Option<family::Reaped>, Errno> {
    r.map_err(|e| match e {
        family::WaitError::NoChild => ECHILD,
        family::WaitError::Interrupted => Errno(crate::user::signal::ERESTARTSYS),
    })
}

/// `wait4(pid, wstatus, options, rusage)`.
pub fn wait4(a: Args) -> Result {
    let [pid, wstatus, options, rusage, ..] = a.0;
    let (pid, options) = (pid as i32 as i64, options as u32 as u64);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(EINVAL);
    }
    if pid == i64::from(i32::MIN) {
        return Err(super::errno::ESRCH);
    }
    let process = me().process.clone();
    let want = family::WaitFor {
        exited: true,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        nohang: options & WNOHANG != 0,
        keep: false,
    };
    let Some(r) = waited(family::wait(&process, which(pid), want))? else {
        return Ok(0);
    };
    if wstatus != 0 {
        uaccess::write_u32(VirtAddr::new(wstatus), r.status as u32)?;
    }
    if rusage != 0 {
        // struct rusage: 18 longs; no accounting of children's times yet.
        uaccess::copy_to(VirtAddr::new(rusage), &[0u8; 144])?;
    }
    Ok(u64::from(r.pid))
}

/// `waitid(idtype, id, infop, options, rusage)`: `P_ALL` and `P_PID`; fills the
/// `SIGCHLD` fields of the `siginfo_t` as Linux does (and zeroes them when `WNOHANG`
/// finds nothing).
pub fn waitid(a: Args) -> Result {
    let [idtype, id, infop, options, rusage, _] = a.0;
    let (idtype, id, options) = (idtype as u32, id as u32, options as u32 as u64);
    if options & !(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE)
        != 0
        || options & (WEXITED | WUNTRACED | WCONTINUED) == 0
    {
        return Err(EINVAL);
    }
    let which = match idtype {
        0 => Which::Any,
        1 if id > 0 => Which::Pid(id),
        1 => return Err(EINVAL),
        2 if id == 0 => Which::Group(me().process.pgid()),
        2 => Which::Group(id),
        _ => return Err(EINVAL),
    };
    let process = me().process.clone();
    let want = family::WaitFor {
        exited: options & WEXITED != 0,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        nohang: options & WNOHANG != 0,
        keep: options & WNOWAIT != 0,
    };
    let found = waited(family::wait(&process, which, want))?;
    if infop != 0 {
        use family::Event;
        let (signo, code, pid, status) = match found {
            None => (0, 0, 0, 0),
            Some(r) => match r.event {
                Event::Stopped => (SIGCHLD, CLD_STOPPED, r.pid, (r.status >> 8) & 0xff),
                Event::Continued => (SIGCHLD, CLD_CONTINUED, r.pid, SIGCONT),
                Event::Exited if r.status & 0x7f == 0 => {
                    (SIGCHLD, CLD_EXITED, r.pid, (r.status >> 8) & 0xff)
                }
                Event::Exited => (SIGCHLD, CLD_KILLED, r.pid, r.status & 0x7f),
            },
        };
        // si_signo, si_errno, si_code, then (at 16) si_pid, si_uid, si_status.
        let mut head = [0u8; 28];
        head[0..4].copy_from_slice(&signo.to_le_bytes());
        head[8..12].copy_from_slice(&code.to_le_bytes());
        head[16..20].copy_from_slice(&pid.to_le_bytes());
        head[24..28].copy_from_slice(&status.to_le_bytes());
        uaccess::copy_to(VirtAddr::new(infop), &head[..12])?;
        uaccess::copy_to(VirtAddr::new(infop + 16), &head[16..])?;
    }
    if rusage != 0 {
        uaccess::copy_to(VirtAddr::new(rusage), &[0u8; 144])?;
    }
    Ok(0)
}

/// Reads a NULL-terminated array of string pointers (`argv`, `envp`; NULL: empty).
fn strings(array: u64, total: &mut usize) -> core::result::Result<Vec<String>, Errno> {
    let mut out = Vec::new();
    if array == 0 {
        return Ok(out);
    }
    for i in 0u64.. {
        let p = uaccess::read_u64(VirtAddr::new(array.checked_add(8 * i).ok_or(EFAULT)?))?;
        if p == 0 {
            break;
        }
        let left = ARG_MAX.saturating_sub(*total);
        let s = uaccess::read_cstr(VirtAddr::new(p), left).map_err(|e| e.unwrap_or(E2BIG))?;
        *total += s.len() + 1 + 8;
        if *total > ARG_MAX {
            return Err(E2BIG);
        }
        out.push(String::from_utf8_lossy(&s).into_owned());
    }
    Ok(out)
}

/// `execve(path, argv, envp)`: the program replaces the process image. Errors leave
/// the caller as it was.
pub fn execve(a: Args, frame: &mut TrapFrame) -> Result {
    let [path, argv, envp, ..] = a.0;
    let path = super::fs::user_path(path)?;
    let path = String::from_utf8(path).map_err(|_| super::errno::ENOENT)?;
    let mut total = 0;
    let argv = strings(argv, &mut total)?;
    let envp = strings(envp, &mut total)?;
    exec::execve(&path, &argv, &envp, frame).map_err(exec::ExecError::errno)
}

/// The process `pid` names for `getpgid`/`getsid` (0: the caller; negative `ESRCH`).
fn process_of(raw: u64) -> core::result::Result<alloc::sync::Arc<user::Process>, Errno> {
    let pid = raw as u32 as i32;
    match pid {
        p if p < 0 => Err(super::errno::ESRCH),
        0 => Ok(me().process.clone()),
        p => family::lookup(p as u32).ok_or(super::errno::ESRCH),
    }
}

/// `getpgid(pid)`: the process group of `pid` (0: the caller).
pub fn getpgid(a: Args) -> Result {
    Ok(u64::from(process_of(a.0[0])?.pgid()))
}

/// `getsid(pid)`: the session of `pid` (0: the caller).
pub fn getsid(a: Args) -> Result {
    Ok(u64::from(process_of(a.0[0])?.sid()))
}

/// `setpgid(pid, pgid)`: moves the caller or one of its children (`ESRCH` for anyone
/// else) into group `pgid` (0: its own PID), which must be the process's own PID or a
/// group of the same session (`EPERM`); a session leader cannot move (`EPERM`). Linux's
/// refusal of a child that has already called `execve` (`EACCES`) is not made.
pub fn setpgid(a: Args) -> Result {
    use super::errno::{EPERM, ESRCH};
    let (pid, pgid) = (a.0[0] as u32 as i32, a.0[1] as u32 as i32);
    if pgid < 0 {
        return Err(EINVAL);
    }
    let caller = me().process.clone();
    let target = if pid == 0 || pid as u32 == caller.pid {
        caller.clone()
    } else {
        let child = family::lookup(pid as u32).ok_or(ESRCH)?;
        if !family::is_child_of(&child, &caller) {
            return Err(ESRCH);
        }
        if child.sid() != caller.sid() {
            return Err(EPERM);
        }
        child
    };
    let pgid = if pgid == 0 { target.pid } else { pgid as u32 };
    if target.sid() == target.pid {
        return Err(EPERM);
    }
    if pgid != target.pid
        && !family::all()
            .iter()
            .any(|p| p.pgid() == pgid && p.sid() == target.sid() && !p.family.is_zombie())
    {
        return Err(EPERM);
    }
    target.set_pgid(pgid);
    Ok(0)
}

/// `setsid()`: a new session and process group led by the caller (`EPERM` if it leads
/// a group already).
pub fn setsid() -> Result {
    let p = me().process.clone();
    if p.pgid() == p.pid || family::all().iter().any(|q| q.pgid() == p.pid) {
        return Err(super::errno::EPERM);
    }
    p.set_session(p.pid);
    Ok(u64::from(p.pid))
}

/// `prlimit64(pid, resource, new, old)` (and `getrlimit`/`setrlimit` through it): the
/// limits are kept and inherited; a soft limit above its hard one is `EINVAL`, a
/// descriptor limit above Linux's `nr_open` (1048576) `EPERM`. The only user is root, who
/// may raise hard limits.
pub fn prlimit64(a: Args) -> Result {
    let [pid, resource, new, old, ..] = a.0;
    let resource = resource as u32 as usize;
    if resource >= crate::user::RLIM_NLIMITS {
        return Err(EINVAL);
    }
    let new = if new != 0 {
        let cur = uaccess::read_u64(VirtAddr::new(new))?;
        let max = uaccess::read_u64(VirtAddr::new(new + 8))?;
        if cur > max {
            return Err(EINVAL);
        }
        if resource == 7 && max > 1 << 20 {
            return Err(super::errno::EPERM);
        }
        Some((cur, max))
    } else {
        None
    };
    let pid = pid as u32;
    let p = if pid == 0 || pid == me().process.pid {
        me().process.clone()
    } else {
        family::lookup(pid).ok_or(super::errno::ESRCH)?
    };
    let was = {
        let mut limits = p.rlimits.lock();
        let was = limits[resource];
        if let Some(n) = new {
            limits[resource] = n;
        }
        was
    };
    if old != 0 {
        uaccess::write_u64(VirtAddr::new(old), was.0)?;
        uaccess::write_u64(VirtAddr::new(old + 8), was.1)?;
    }
    Ok(0)
}

/// `getrlimit(resource, rlim)`.
pub fn getrlimit(a: Args) -> Result {
    prlimit64(Args([0, a.0[0], 0, a.0[1], 0, 0]))
}

/// `setrlimit(resource, rlim)`.
pub fn setrlimit(a: Args) -> Result {
    prlimit64(Args([0, a.0[0], a.0[1], 0, 0, 0]))
}

/// `sysinfo(info)`: uptime, memory in bytes (`mem_unit` 1), no swap, the number of
/// processes; load averages are 0 (not kept).
pub fn sysinfo(a: Args) -> Result {
    let frames = crate::mmu::frame_stats();
    let mut b = [0u8; 112];
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &super::time::now(false).as_secs().to_le_bytes());
    put(32, &(frames.total * 4096).to_le_bytes());
    put(40, &(frames.free * 4096).to_le_bytes());
    put(
        80,
        &(family::all().len().min(u16::MAX as usize) as u16).to_le_bytes(),
    );
    put(104, &1u32.to_le_bytes());
    uaccess::copy_to(VirtAddr::new(a.0[0]), &b)?;
    Ok(0)
}

/// `prctl(option, arg2, ...)`: `PR_SET_NAME`/`PR_GET_NAME` keep the thread's 16-byte
/// name (as `comm`); anything else is `EINVAL`, as Linux says for options it lacks.
pub fn prctl(a: Args) -> Result {
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    let [option, arg2, ..] = a.0;
    let thread = me();
    match option as u32 as u64 {
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            let s = uaccess::read_cstr(VirtAddr::new(arg2), 16).or_else(|e| match e {
                // Longer names are cut to 15 bytes, as Linux does.
                None => {
                    let mut b = [0u8; 15];
                    uaccess::copy_from(VirtAddr::new(arg2), &mut b)?;
                    Ok(b.to_vec())
                }
                Some(e) => Err(e),
            })?;
            let n = s.len().min(15);
            name[..n].copy_from_slice(&s[..n]);
            *thread.comm.lock() = name;
            Ok(0)
        }
        PR_GET_NAME => {
            let name = *thread.comm.lock();
            uaccess::copy_to(VirtAddr::new(arg2), &name)?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}
