//! Signals as a C library exposes them: `sigaction` (with `SA_RESTORER` and this
//! runtime's `rt_sigreturn` trampoline, as glibc, or without, using the kernel's),
//! `sigprocmask`, `sigpending`, `sigaltstack`, `sigsuspend`, `sigtimedwait`, `kill`,
//! `tgkill`, `sigqueue`, and views of the `siginfo_t` and `ucontext_t` a handler gets
//! (Linux aarch64 layouts).
use core::arch::global_asm;

use crate::errno::Errno;
use crate::sys;

/// `kill(pid, sig)`.
pub const KILL: usize = 129;
/// `tkill(tid, sig)`.
pub const TKILL: usize = 130;
/// `tgkill(tgid, tid, sig)`.
pub const TGKILL: usize = 131;
/// `sigaltstack(ss, old)`.
pub const SIGALTSTACK: usize = 132;
/// `rt_sigaction(sig, act, old, size)`.
pub const RT_SIGACTION: usize = 134;
/// `rt_sigprocmask(how, set, old, size)`.
pub const RT_SIGPROCMASK: usize = 135;
/// `rt_sigpending(set, size)`.
pub const RT_SIGPENDING: usize = 136;
/// `rt_sigsuspend(mask, size)`.
pub const RT_SIGSUSPEND: usize = 133;
/// `rt_sigtimedwait(set, info, timeout, size)`.
pub const RT_SIGTIMEDWAIT: usize = 137;
/// `rt_sigqueueinfo(tgid, sig, info)`.
pub const RT_SIGQUEUEINFO: usize = 138;
/// `rt_tgsigqueueinfo(tgid, tid, sig, info)`.
pub const RT_TGSIGQUEUEINFO: usize = 240;
/// The first real-time signal the kernel has (C libraries keep the first two or three
/// for themselves and call the next one `SIGRTMIN`).
pub const SIGRT0: i32 = 32;
/// `si_code` of `sigqueue`.
pub const SI_QUEUE: i32 = -1;

/// Signal numbers.
pub const SIGILL: i32 = 4;
/// SIGBUS.
pub const SIGBUS: i32 = 7;
/// SIGKILL.
pub const SIGKILL: i32 = 9;
/// SIGUSR1.
pub const SIGUSR1: i32 = 10;
/// SIGSEGV.
pub const SIGSEGV: i32 = 11;
/// SIGUSR2.
pub const SIGUSR2: i32 = 12;
/// SIGPIPE: a write to a pipe with no reader (default: terminate).
pub const SIGPIPE: i32 = 13;
/// SIGTERM.
pub const SIGTERM: i32 = 15;
/// SIGCHLD.
pub const SIGCHLD: i32 = 17;

/// `sa_flags`.
pub const SA_SIGINFO: u64 = 4;
/// `sa_restorer` is valid.
pub const SA_RESTORER: u64 = 0x0400_0000;
/// Use the alternate stack.
pub const SA_ONSTACK: u64 = 0x0800_0000;
/// Restart interrupted calls.
pub const SA_RESTART: u64 = 0x1000_0000;
/// Do not block the signal in its handler.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// Back to `SIG_DFL` once delivered.
pub const SA_RESETHAND: u64 = 0x8000_0000;
/// The default action.
pub const SIG_DFL: u64 = 0;
/// Ignore.
pub const SIG_IGN: u64 = 1;
/// `sigprocmask` how.
pub const SIG_BLOCK: usize = 0;
/// Unblock.
pub const SIG_UNBLOCK: usize = 1;
/// Set.
pub const SIG_SETMASK: usize = 2;

/// The mask bit of `sig`.
pub const fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// A `SA_SIGINFO` handler.
pub type Handler = extern "C" fn(i32, *const SigInfo, *mut UContext);

/// `struct sigaction` (aarch64: handler, flags, restorer, mask).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// `sa_handler` / `sa_sigaction`.
    pub handler: u64,
    /// `sa_flags`.
    pub flags: u64,
    /// `sa_restorer`.
    pub restorer: u64,
    /// `sa_mask`.
    pub mask: u64,
}

impl SigAction {
    /// A `SA_SIGINFO | SA_RESTORER` handler with `flags` added, returning through this
    /// runtime's trampoline.
    pub fn handler(h: Handler, flags: u64, mask: u64) -> Self {
        Self {
            handler: h as usize as u64,
            flags: flags | SA_SIGINFO | SA_RESTORER,
            restorer: __user_sigreturn as *const () as usize as u64,
            mask,
        }
    }
}

unsafe extern "C" {
    fn __user_sigreturn();
}

global_asm!(
    ".globl __user_sigreturn",
    ".type __user_sigreturn, %function",
    "__user_sigreturn:",
    "mov x8, #139",
    "svc #0",
);

/// `siginfo_t` (128 bytes: signo, errno, code, then the union, whose first two words
/// this view names).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigInfo {
    /// `si_signo`.
    pub signo: i32,
    /// `si_errno`.
    pub errno: i32,
    /// `si_code`.
    pub code: i32,
    _pad: i32,
    /// `si_pid` | `si_uid` << 32, or `si_addr`.
    pub word0: u64,
    /// `si_status` (SIGCHLD, low half), or `si_value` (a queued signal).
    pub word1: u64,
    _rest: [u64; 12],
}

const _: () = assert!(core::mem::size_of::<SigInfo>() == 128);

impl Default for SigInfo {
    fn default() -> Self {
        Self::queued(0, 0, 0, 0)
    }
}

impl SigInfo {
    /// What `sigqueue(pid, sig, value)` sends: `SI_QUEUE` from process `pid`.
    pub fn queued(signo: i32, code: i32, pid: u32, value: u64) -> Self {
        Self {
            signo,
            errno: 0,
            code,
            _pad: 0,
            word0: u64::from(pid),
            word1: value,
            _rest: [0; 12],
        }
    }
    /// `si_status`.
    pub fn status(&self) -> i32 {
        self.word1 as i32
    }
    /// `si_value`.
    pub fn value(&self) -> u64 {
        self.word1
    }
    /// `si_addr`.
    pub fn addr(&self) -> u64 {
        self.word0
    }
    /// `si_pid`.
    pub fn pid(&self) -> u32 {
        self.word0 as u32
    }
}

/// `ucontext_t` up to the `sigcontext` (flags, link, stack, mask, padding, mcontext).
#[repr(C, align(16))]
pub struct UContext {
    /// `uc_flags`.
    pub flags: u64,
    /// `uc_link`.
    pub link: u64,
    /// `uc_stack`: ss_sp, ss_flags, ss_size.
    pub stack: [u64; 3],
    /// `uc_sigmask`.
    pub sigmask: u64,
    _unused: [u8; 120],
    _align: u64,
    /// `uc_mcontext.fault_address`.
    pub fault_address: u64,
    /// `regs[31]`.
    pub regs: [u64; 31],
    /// `sp`.
    pub sp: u64,
    /// `pc`.
    pub pc: u64,
    /// `pstate`.
    pub pstate: u64,
}

const _: () = assert!(core::mem::offset_of!(UContext, fault_address) == 176);

/// `rt_sigaction(sig, act, old)`.
pub fn sigaction(
    sig: i32,
    act: Option<&SigAction>,
    old: Option<&mut SigAction>,
) -> Result<(), Errno> {
    let a = act.map_or(0, |a| a as *const SigAction as usize);
    let o = old.map_or(0, |o| o as *mut SigAction as usize);
    // SAFETY: one struct sigaction read and one written, both ours.
    unsafe { sys::raw(RT_SIGACTION, [sig as usize, a, o, 8, 0, 0]) }.map(drop)
}

/// `rt_sigprocmask(how, set, old)`: the old mask.
pub fn sigprocmask(how: usize, set: Option<u64>) -> Result<u64, Errno> {
    let s = set.unwrap_or(0);
    let mut old = 0u64;
    let p = if set.is_some() {
        &s as *const u64 as usize
    } else {
        0
    };
    // SAFETY: one u64 read, one written.
    unsafe {
        sys::raw(
            RT_SIGPROCMASK,
            [how, p, &mut old as *mut u64 as usize, 8, 0, 0],
        )
    }?;
    Ok(old)
}

/// `rt_sigpending()`.
pub fn sigpending() -> Result<u64, Errno> {
    let mut set = 0u64;
    // SAFETY: one u64 written.
    unsafe {
        sys::raw(
            RT_SIGPENDING,
            [&mut set as *mut u64 as usize, 8, 0, 0, 0, 0],
        )
    }?;
    Ok(set)
}

/// `stack_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    /// `ss_sp`.
    pub sp: u64,
    /// `ss_flags` (`SS_ONSTACK` 1, `SS_DISABLE` 2).
    pub flags: i32,
    _pad: i32,
    /// `ss_size`.
    pub size: u64,
}

impl Stack {
    /// An alternate stack of `size` bytes at `sp`.
    pub fn new(sp: u64, size: u64, flags: i32) -> Self {
        Self {
            sp,
            flags,
            _pad: 0,
            size,
        }
    }
}

/// `sigaltstack(new, &old)`: the old one.
pub fn sigaltstack(new: Option<&Stack>) -> Result<Stack, Errno> {
    let mut old = Stack::default();
    let n = new.map_or(0, |s| s as *const Stack as usize);
    // SAFETY: one stack_t read and one written.
    unsafe {
        sys::raw(
            SIGALTSTACK,
            [n, &mut old as *mut Stack as usize, 0, 0, 0, 0],
        )
    }?;
    Ok(old)
}

/// `kill(pid, sig)`.
pub fn kill(pid: isize, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain integers.
    unsafe { sys::raw(KILL, [pid as usize, sig as usize, 0, 0, 0, 0]) }.map(drop)
}

/// `tgkill(tgid, tid, sig)`.
pub fn tgkill(tgid: isize, tid: isize, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain integers.
    unsafe { sys::raw(TGKILL, [tgid as usize, tid as usize, sig as usize, 0, 0, 0]) }.map(drop)
}

/// `rt_sigsuspend(mask)`: waits with `mask` until a handler has run; always an error
/// (`EINTR`), as the C library's `sigsuspend`.
pub fn sigsuspend(mask: u64) -> Errno {
    // SAFETY: one u64 read.
    match unsafe { sys::raw(RT_SIGSUSPEND, [&mask as *const u64 as usize, 8, 0, 0, 0, 0]) } {
        Ok(_) => Errno(0),
        Err(e) => e,
    }
}

/// `rt_sigtimedwait(set, &info, timeout)`: the signal taken and its siginfo.
pub fn sigtimedwait(
    set: u64,
    timeout: Option<&crate::time::Timespec>,
) -> Result<(i32, SigInfo), Errno> {
    let mut info = SigInfo::default();
    let t = timeout.map_or(0, |t| t as *const crate::time::Timespec as usize);
    // SAFETY: one u64 and one timespec read, one siginfo written, all ours.
    let got = unsafe {
        sys::raw(
            RT_SIGTIMEDWAIT,
            [
                &set as *const u64 as usize,
                &mut info as *mut SigInfo as usize,
                t,
                8,
                0,
                0,
            ],
        )
    }?;
    Ok((got as i32, info))
}

/// `rt_sigqueueinfo(pid, sig, info)` (what `sigqueue` does with `SI_QUEUE`).
pub fn sigqueueinfo(pid: isize, sig: i32, info: &SigInfo) -> Result<(), Errno> {
    // SAFETY: one siginfo read.
    unsafe {
        sys::raw(
            RT_SIGQUEUEINFO,
            [
                pid as usize,
                sig as usize,
                info as *const SigInfo as usize,
                0,
                0,
                0,
            ],
        )
    }
    .map(drop)
}

/// `rt_tgsigqueueinfo(tgid, tid, sig, info)`.
pub fn tgsigqueueinfo(tgid: isize, tid: isize, sig: i32, info: &SigInfo) -> Result<(), Errno> {
    // SAFETY: one siginfo read.
    unsafe {
        sys::raw(
            RT_TGSIGQUEUEINFO,
            [
                tgid as usize,
                tid as usize,
                sig as usize,
                info as *const SigInfo as usize,
                0,
                0,
            ],
        )
    }
    .map(drop)
}
