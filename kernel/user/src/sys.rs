//! Raw Linux aarch64 system calls: number in x8, arguments in x0-x5, result
//! in x0 (a negative errno on failure).
use core::arch::asm;

/// Linux aarch64 system-call numbers (include/uapi/asm-generic/unistd.h).
pub mod nr {
    pub const IOCTL: usize = 29;
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const WRITEV: usize = 66;
    pub const EXIT: usize = 93;
    pub const EXIT_GROUP: usize = 94;
    pub const SET_TID_ADDRESS: usize = 96;
    pub const FUTEX: usize = 98;
    pub const NANOSLEEP: usize = 101;
    pub const CLOCK_GETTIME: usize = 113;
    pub const SCHED_YIELD: usize = 124;
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const REBOOT: usize = 142;
    pub const UNAME: usize = 160;
    pub const GETPID: usize = 172;
    pub const GETTID: usize = 178;
    pub const BRK: usize = 214;
    pub const MUNMAP: usize = 215;
    pub const MREMAP: usize = 216;
    pub const CLONE: usize = 220;
    pub const EXECVE: usize = 221;
    pub const MMAP: usize = 222;
    pub const MPROTECT: usize = 226;
    pub const MADVISE: usize = 233;
    pub const WAIT4: usize = 260;
    pub const GETRANDOM: usize = 278;
    /// This kernel only (well above Linux's range): DMA between a user buffer
    /// and the DMA device. Linux answers -ENOSYS.
    pub const DEVICE_DMA: usize = 0x1000;
}

/// # Safety
/// The arguments must be valid for system call `n`.
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; svc clobbers nothing but x0.
    unsafe {
        asm!("svc #0",
            in("x8") n,
            inlateout("x0") a[0] => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack));
    }
    ret
}

/// # Safety
/// As [`syscall6`].
#[inline(always)]
pub unsafe fn syscall(n: usize, a0: usize, a1: usize, a2: usize) -> isize {
    // SAFETY: forwarded.
    unsafe { syscall6(n, [a0, a1, a2, 0, 0, 0]) }
}

pub fn write(fd: usize, bytes: &[u8]) -> isize {
    // SAFETY: the buffer is valid for its length.
    unsafe { syscall(nr::WRITE, fd, bytes.as_ptr() as usize, bytes.len()) }
}

pub fn exit(status: i32) -> ! {
    // SAFETY: exit takes a plain integer.
    unsafe { syscall(nr::EXIT, status as usize, 0, 0) };
    unreachable!("exit returned")
}

pub fn exit_group(status: i32) -> ! {
    // SAFETY: exit_group takes a plain integer.
    unsafe { syscall(nr::EXIT_GROUP, status as usize, 0, 0) };
    loop {
        core::hint::spin_loop();
    }
}
