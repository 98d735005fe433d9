//! Signal calls: `rt_sigaction`, `rt_sigprocmask`, `rt_sigpending`, `rt_sigreturn`,
//! `sigaltstack`, `rt_sigsuspend`, `rt_sigtimedwait`, `kill`, `tkill`, `tgkill`,
//! `rt_sigqueueinfo`, `rt_tgsigqueueinfo` (the delivery itself is `user::signal`).
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use super::errno::{Errno, EAGAIN, EINTR, EINVAL, EPERM, ESRCH};
use super::{Args, Result};
use crate::arch::exception::TrapFrame;
use crate::user::signal::{self, code, SigInfo, NSIG, SIGKILL, SIGSTOP};
use crate::user::{current_thread, family, uaccess, Process, Thread};
use mm::VirtAddr;

fn me() -> &'static Thread {
    current_thread().expect("signal call from a kernel task")
}

/// `rt_sigaction(sig, act, oldact, sigsetsize)`.
pub fn rt_sigaction(a: Args) -> Result {
    let [sig, act, oldact, sigsetsize, ..] = a.0;
    let sig = sig as u32 as i32;
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    if !(1..=NSIG).contains(&sig) || (act != 0 && (sig == SIGKILL || sig == SIGSTOP)) {
        return Err(EINVAL);
    }
    let new = if act != 0 {
        Some(signal::read_action(act)?)
    } else {
        None
    };
    let process = &me().process;
    if oldact != 0 {
        // Read first, written after the change, as Linux (the old one either way).
        let old = process.signals.action(sig);
        if let Some(new) = new {
            signal::set_action(process, sig, Some(new));
        }
        signal::write_action(oldact, &old)?;
        return Ok(0);
    }
    signal::set_action(process, sig, new);
    Ok(0)
}

const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

/// `rt_sigprocmask(how, set, oldset, sigsetsize)`.
pub fn rt_sigprocmask(a: Args) -> Result {
    let [how, set, oldset, sigsetsize, ..] = a.0;
    let how = u64::from(how as u32);
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let thread = me();
    let old = thread.signals.mask.load(Ordering::Relaxed);
    if set != 0 {
        let new = uaccess::read_u64(VirtAddr::new(set))?;
        let mask = match how {
            SIG_BLOCK => old | new,
            SIG_UNBLOCK => old & !new,
            SIG_SETMASK => new,
            _ => return Err(EINVAL),
        };
        signal::set_mask(thread, mask);
    }
    if oldset != 0 {
        uaccess::write_u64(VirtAddr::new(oldset), old)?;
    }
    Ok(0)
}

/// `rt_sigpending(set, sigsetsize)`: pending signals the thread blocks... and all the
/// others pending for it or its process.
pub fn rt_sigpending(a: Args) -> Result {
    let [set, sigsetsize, ..] = a.0;
    if sigsetsize > 8 {
        return Err(EINVAL);
    }
    let t = me();
    let pending = signal::pending_of(t) & t.signals.mask.load(Ordering::Relaxed);
    let bytes = pending.to_le_bytes();
    uaccess::copy_to(VirtAddr::new(set), &bytes[..sigsetsize as usize])?;
    Ok(0)
}

/// `rt_sigreturn()`: the registers, mask and alternate stack the handler's frame saved.
pub fn rt_sigreturn(frame: &mut TrapFrame) -> Result {
    match signal::sigreturn(frame) {
        Ok(x0) => Ok(x0),
        Err(signal::BadFrame) => {
            let t = me();
            defmt::error!(
                "process {} (thread {}): bad signal frame at {=u64:#x}",
                t.process.pid,
                t.tid,
                frame.sp_el0
            );
            signal::force_fault(SigInfo::fault(signal::SIGSEGV, 0x80, 0));
            Ok(frame.x[0])
        }
    }
}

/// `sigaltstack(ss, old_ss)` (`stack_t`: ss_sp, ss_flags, ss_size).
pub fn sigaltstack(a: Args, frame: &TrapFrame) -> Result {
    let [ss, old, ..] = a.0;
    let t = me();
    let cur = t.signals.altstack();
    let sp = frame.sp_el0;
    let on = cur.sp != 0 && sp > cur.sp && sp <= cur.sp + cur.size;
    let mut old_bytes = [0u8; 24];
    old_bytes[0..8].copy_from_slice(&cur.sp.to_le_bytes());
    let flags: u32 = if on {
        1
    } else if cur.sp == 0 {
        2
    } else {
        cur.flags
    };
    old_bytes[8..12].copy_from_slice(&flags.to_le_bytes());
    old_bytes[16..24].copy_from_slice(&cur.size.to_le_bytes());
    if ss != 0 {
        let mut b = [0u8; 24];
        uaccess::copy_from(VirtAddr::new(ss), &mut b)?;
        let ss_sp = u64::from_le_bytes(b[0..8].try_into().expect("8"));
        let ss_flags = u32::from_le_bytes(b[8..12].try_into().expect("4"));
        let ss_size = u64::from_le_bytes(b[16..24].try_into().expect("8"));
        signal::set_altstack(t, ss_sp, ss_flags, ss_size, sp).map_err(Errno)?;
    }
    if old != 0 {
        uaccess::copy_to(VirtAddr::new(old), &old_bytes)?;
    }
    Ok(0)
}

fn check_sig(sig: u64) -> core::result::Result<i32, Errno> {
    let sig = sig as u32 as i32;
    if !(0..=NSIG).contains(&sig) {
        return Err(EINVAL);
    }
    Ok(sig)
}

/// `kill(pid, sig)`: `pid > 0` one process; 0, -1 and `-pgid` every process this one may
/// signal (one process group and one user here: all but init for -1).
pub fn kill(a: Args) -> Result {
    let [pid, sig, ..] = a.0;
    let (pid, sig) = (pid as u32 as i32, check_sig(sig)?);
    let me = me();
    let info = SigInfo::from_process(sig, code::SI_USER, me.process.pid);
    if pid > 0 {
        let p = family::lookup(pid as u32).ok_or(ESRCH)?;
        if !p.family.is_zombie() {
            let _ = signal::send_to_process(&p, info);
        }
        return Ok(0);
    }
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    let all: alloc::vec::Vec<Arc<Process>> = family::all();
    let group = match pid {
        0 => Some(me.process.pgid()),
        -1 => None,
        p => Some((-p) as u32),
    };
    let mut sent = false;
    for p in all {
        let skip = match group {
            Some(g) => p.pgid() != g,
            None => p.init || Arc::ptr_eq(&p, &me.process),
        };
        if skip || p.family.is_zombie() {
            continue;
        }
        let _ = signal::send_to_process(&p, info);
        sent = true;
    }
    if sent {
        Ok(0)
    } else {
        Err(ESRCH)
    }
}

fn send_to_tid(tgid: Option<u32>, tid: u64, sig: u64) -> Result {
    let sig = check_sig(sig)?;
    let tid = tid as u32 as i32;
    if tid <= 0 {
        return Err(EINVAL);
    }
    let info = SigInfo::from_process(sig, code::SI_TKILL, me().process.pid);
    send_info_to_tid(tgid, tid as u32, info)
}

/// Sends `info` to thread `tid` (of process `tgid`, if given).
fn send_info_to_tid(tgid: Option<u32>, tid: u32, info: SigInfo) -> Result {
    let sig = info.signo;
    let process = match tgid {
        Some(g) => family::lookup(g).ok_or(ESRCH)?,
        None => family::owner_of_thread(tid).ok_or(ESRCH)?,
    };
    let mut found = None;
    process.for_each_thread(|t| {
        if t.tid == tid {
            found = Some(signal::queue_for_thread(t, info));
        }
    });
    match found {
        None => return Err(ESRCH),
        Some(signal::Queued::Full) => return Err(EAGAIN),
        Some(_) => {}
    }
    if sig == SIGKILL {
        process.begin_kill(SIGKILL);
    } else if sig == signal::SIGCONT {
        family::resume(&process);
        process.interrupt_threads();
    } else if sig != 0 {
        process.interrupt_threads();
    }
    Ok(0)
}

/// `tkill(tid, sig)`.
pub fn tkill(a: Args) -> Result {
    send_to_tid(None, a.0[0], a.0[1])
}

/// `tgkill(tgid, tid, sig)`.
pub fn tgkill(a: Args) -> Result {
    let tgid = a.0[0] as u32 as i32;
    if tgid <= 0 {
        return Err(EINVAL);
    }
    send_to_tid(Some(tgid as u32), a.0[1], a.0[2])
}

/// `rt_sigsuspend(mask, sigsetsize)`: waits with `mask` until a handler has run
/// (`EINTR`); the old mask is back after it.
pub fn rt_sigsuspend(a: Args) -> Result {
    let [set, sigsetsize, ..] = a.0;
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let mask = uaccess::read_u64(VirtAddr::new(set))?;
    Err(Errno(signal::suspend(me(), mask)))
}

/// `rt_sigtimedwait(set, info, timeout, sigsetsize)`: the number of a pending signal of
/// `set`, taken (its siginfo written to `info`); `EAGAIN` when `timeout` passes first,
/// `EINTR` when another signal comes. Never restarted, as Linux.
pub fn rt_sigtimedwait(a: Args) -> Result {
    let [set, info, timeout, sigsetsize, ..] = a.0;
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let set = uaccess::read_u64(VirtAddr::new(set))?;
    let timeout = if timeout != 0 {
        let (sec, nsec) = uaccess::read_timespec(VirtAddr::new(timeout))?;
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(EINVAL);
        }
        Some(core::time::Duration::new(sec as u64, nsec as u32))
    } else {
        None
    };
    match signal::timed_wait(me(), set, timeout) {
        Ok(got) => {
            if info != 0 {
                signal::write_info(info, &got)?;
            }
            Ok(got.signo as u64)
        }
        Err(true) => Err(EINTR),
        Err(false) => Err(EAGAIN),
    }
}

/// A program's siginfo for `rt_sigqueueinfo`/`rt_tgsigqueueinfo` (the signal number is
/// the call's).
fn read_info(sig: u64, uinfo: u64) -> core::result::Result<SigInfo, Errno> {
    let mut b = [0u8; 128];
    uaccess::copy_from(VirtAddr::new(uinfo), &mut b)?;
    Ok(SigInfo::from_bytes(sig as u32 as i32, &b))
}

/// A program may not pretend to be the kernel or `kill`/`tgkill` (a code of 0 or more,
/// or `SI_TKILL`) except towards itself (`target` is its own pid, or tid: `own`).
fn may_claim(info: &SigInfo, target: i32, own: u32) -> core::result::Result<(), Errno> {
    if (info.code >= 0 || info.code == code::SI_TKILL) && target != own as i32 {
        return Err(EPERM);
    }
    Ok(())
}

/// `rt_sigqueueinfo(tgid, sig, info)`: `sig` with the program's siginfo (its `si_value`
/// reaches the handler) to a process. A real-time signal is queued once per call.
pub fn rt_sigqueueinfo(a: Args) -> Result {
    let [tgid, sig, uinfo, ..] = a.0;
    let tgid = tgid as u32 as i32;
    let info = read_info(sig, uinfo)?;
    may_claim(&info, tgid, me().process.pid)?;
    let process = (tgid > 0)
        .then(|| family::lookup(tgid as u32))
        .flatten()
        .ok_or(ESRCH)?;
    check_sig(sig)?;
    match signal::send_to_process(&process, info) {
        signal::Queued::Full => Err(EAGAIN),
        _ => Ok(0),
    }
}

/// `rt_tgsigqueueinfo(tgid, tid, sig, info)`: as `rt_sigqueueinfo`, to one thread.
pub fn rt_tgsigqueueinfo(a: Args) -> Result {
    let [tgid, tid, sig, uinfo, ..] = a.0;
    let (tgid, tid) = (tgid as u32 as i32, tid as u32 as i32);
    let info = read_info(sig, uinfo)?;
    if tgid <= 0 || tid <= 0 {
        return Err(EINVAL);
    }
    may_claim(&info, tid, me().tid)?;
    check_sig(sig)?;
    send_info_to_tid(Some(tgid as u32), tid as u32, info)
}
