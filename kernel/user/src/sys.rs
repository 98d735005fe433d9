//! Raw Linux aarch64 system calls (number in x8, arguments in x0-x5, result
//! in x0, a negative errno on failure) and typed wrappers for the calls that
//! are not about memory ([`crate::mm`]), time ([`crate::time`]) or threads
//! ([`crate::thread`]).
use core::arch::asm;

use crate::errno::{result, Errno};

/// Linux aarch64 system-call numbers (include/uapi/asm-generic/unistd.h).
pub mod nr {
    /// `getcwd(buf, size)`: the length written, its NUL included.
    pub const GETCWD: usize = 17;
    /// `dup(fd)`.
    pub const DUP: usize = 23;
    /// `dup3(oldfd, newfd, flags)`.
    pub const DUP3: usize = 24;
    /// `fcntl(fd, cmd, arg)`.
    pub const FCNTL: usize = 25;
    /// `ioctl(fd, request, arg)`.
    pub const IOCTL: usize = 29;
    /// `mkdirat(dirfd, path, mode)`.
    pub const MKDIRAT: usize = 34;
    /// `unlinkat(dirfd, path, flags)`.
    pub const UNLINKAT: usize = 35;
    /// `symlinkat(target, newdirfd, linkpath)`.
    pub const SYMLINKAT: usize = 36;
    /// `linkat(olddirfd, oldpath, newdirfd, newpath, flags)`.
    pub const LINKAT: usize = 37;
    /// `ftruncate(fd, length)`.
    pub const FTRUNCATE: usize = 46;
    /// `faccessat(dirfd, path, mode)` (no flags argument: that is `faccessat2`).
    pub const FACCESSAT: usize = 48;
    /// `chdir(path)`.
    pub const CHDIR: usize = 49;
    /// `fchdir(fd)`.
    pub const FCHDIR: usize = 50;
    /// `fchmod(fd, mode)`.
    pub const FCHMOD: usize = 52;
    /// `fchmodat(dirfd, path, mode)` (no flags argument).
    pub const FCHMODAT: usize = 53;
    /// `openat(dirfd, path, flags, mode)`.
    pub const OPENAT: usize = 56;
    /// `close(fd)`.
    pub const CLOSE: usize = 57;
    /// `pipe2(fds, flags)`.
    pub const PIPE2: usize = 59;
    /// `pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask)`.
    pub const PSELECT6: usize = 72;
    /// `ppoll(fds, nfds, timeout, sigmask, sigsetsize)`.
    pub const PPOLL: usize = 73;
    /// `getdents64(fd, dirp, count)`.
    pub const GETDENTS64: usize = 61;
    /// `lseek(fd, offset, whence)`.
    pub const LSEEK: usize = 62;
    /// `read(fd, buf, count)`.
    pub const READ: usize = 63;
    /// `write(fd, buf, count)`.
    pub const WRITE: usize = 64;
    /// `readv(fd, iov, iovcnt)`.
    pub const READV: usize = 65;
    /// `writev(fd, iov, iovcnt)`.
    pub const WRITEV: usize = 66;
    /// `pread64(fd, buf, count, offset)`.
    pub const PREAD64: usize = 67;
    /// `pwrite64(fd, buf, count, offset)`.
    pub const PWRITE64: usize = 68;
    /// `readlinkat(dirfd, path, buf, size)`.
    pub const READLINKAT: usize = 78;
    /// `newfstatat(dirfd, path, statbuf, flags)`.
    pub const NEWFSTATAT: usize = 79;
    /// `fstat(fd, statbuf)`.
    pub const FSTAT: usize = 80;
    /// `fsync(fd)`.
    pub const FSYNC: usize = 82;
    /// `exit(status)`: ends the calling thread.
    pub const EXIT: usize = 93;
    /// `exit_group(status)`: ends every thread of the process.
    pub const EXIT_GROUP: usize = 94;
    /// `set_tid_address(tidptr)`: the word cleared and woken at thread exit.
    pub const SET_TID_ADDRESS: usize = 96;
    /// `futex(uaddr, op, val, timeout, uaddr2, val3)`.
    pub const FUTEX: usize = 98;
    /// `set_robust_list(head, len)`.
    pub const SET_ROBUST_LIST: usize = 99;
    /// `nanosleep(req, rem)`.
    pub const NANOSLEEP: usize = 101;
    /// `clock_gettime(clockid, tp)`.
    pub const CLOCK_GETTIME: usize = 113;
    /// `clock_getres(clockid, res)`.
    pub const CLOCK_GETRES: usize = 114;
    /// `gettimeofday(tv, tz)`.
    pub const GETTIMEOFDAY: usize = 169;
    /// `clock_nanosleep(clockid, flags, req, rem)`.
    pub const CLOCK_NANOSLEEP: usize = 115;
    /// `sched_setaffinity(pid, len, mask)`.
    pub const SCHED_SETAFFINITY: usize = 122;
    /// `sched_getaffinity(pid, len, mask)`.
    pub const SCHED_GETAFFINITY: usize = 123;
    /// `sched_yield()`.
    pub const SCHED_YIELD: usize = 124;
    /// `rt_sigaction(sig, act, oact, sigsetsize)`.
    pub const RT_SIGACTION: usize = 134;
    /// `rt_sigprocmask(how, set, oset, sigsetsize)`.
    pub const RT_SIGPROCMASK: usize = 135;
    /// `reboot(magic1, magic2, cmd, arg)`.
    pub const REBOOT: usize = 142;
    /// `uname(buf)`.
    pub const UNAME: usize = 160;
    /// `getcpu(cpu, node, cache)`.
    pub const GETCPU: usize = 168;
    /// `getrusage(who, usage)`.
    pub const GETRUSAGE: usize = 165;
    /// `umask(mask)`: the old mask (never fails).
    pub const UMASK: usize = 166;
    /// `getpid()`.
    pub const GETPID: usize = 172;
    /// `gettid()`.
    pub const GETTID: usize = 178;
    /// `brk(addr)`: moves the program break, returns the new one.
    pub const BRK: usize = 214;
    /// `munmap(addr, len)`.
    pub const MUNMAP: usize = 215;
    /// `mremap(old, old_len, new_len, flags, new)`.
    pub const MREMAP: usize = 216;
    /// `clone(flags, stack, parent_tid, tls, child_tid)` (the aarch64 argument order).
    pub const CLONE: usize = 220;
    /// `execve(path, argv, envp)`.
    pub const EXECVE: usize = 221;
    /// `mmap(addr, len, prot, flags, fd, offset)`.
    pub const MMAP: usize = 222;
    /// `mprotect(addr, len, prot)`.
    pub const MPROTECT: usize = 226;
    /// `madvise(addr, len, advice)`.
    pub const MADVISE: usize = 233;
    /// `wait4(pid, status, options, rusage)`.
    pub const WAIT4: usize = 260;
    /// `renameat2(olddirfd, oldpath, newdirfd, newpath, flags)`.
    pub const RENAMEAT2: usize = 276;
    /// `getrandom(buf, len, flags)`.
    pub const GETRANDOM: usize = 278;
    /// This kernel only (Linux answers -ENOSYS from here on): bind the DMA
    /// device to the caller's address space. 0 or -ENODEV.
    pub const DMA_ATTACH: usize = 0x1000;
    /// This kernel only: `dma_copy(dst, src, len)`, the device copies `len`
    /// bytes between two user addresses through its own translation.
    pub const DMA_COPY: usize = 0x1001;
    /// This kernel only: `kstat(id)` -> a counter ([`super::kstat`]).
    pub const KSTAT: usize = 0x1002;
    /// This kernel only: `audit_layout()`, checks the caller's mapped pages
    /// against its areas ([`super::audit_layout`]).
    pub const AUDIT_LAYOUT: usize = 0x1005;
    /// This kernel only: CNTVCT ticks spent zeroing one 4 KiB frame `iters` times.
    pub const FLOOR_ZERO_PAGE: usize = 0x1003;
}

/// Counters of `kstat(id)` (this kernel only).
pub mod kstat {
    /// SMMU commands the kernel has issued since boot.
    pub const SMMU_COMMANDS: usize = 0;
    /// IOTLB invalidations this process's DMA binding has issued.
    pub const SMMU_TLBI: usize = 1;
    /// Page faults that mapped a page in this process's address space.
    pub const PAGE_FAULTS: usize = 2;
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
    // SAFETY: the caller guarantees the arguments are valid for call `n`; the
    // three unused ones are 0.
    unsafe { syscall6(n, [a0, a1, a2, 0, 0, 0]) }
}

/// [`syscall6`] with the result as a `Result`. The tests call it with bad
/// pointers on purpose: the kernel must refuse them (-EFAULT).
///
/// # Safety
/// Memory the call may write must not hold live Rust objects other than the
/// ones the caller means it to write.
pub unsafe fn raw(n: usize, a: [usize; 6]) -> Result<usize, Errno> {
    // SAFETY: the caller guarantees that memory the call may write holds no
    // live Rust object but those it means the call to write.
    result(unsafe { syscall6(n, a) })
}

/// `write(fd, bytes)`: the raw return, bytes written or a negative errno.
pub fn write(fd: usize, bytes: &[u8]) -> isize {
    // SAFETY: the buffer is valid for its length.
    unsafe { syscall(nr::WRITE, fd, bytes.as_ptr() as usize, bytes.len()) }
}

/// `write(fd, bytes)` as a `Result`.
pub fn write_fd(fd: i32, bytes: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe {
        raw(
            nr::WRITE,
            [fd as usize, bytes.as_ptr() as usize, bytes.len(), 0, 0, 0],
        )
    }
}

/// `read(fd, buf)`: the bytes read (0 at end of file).
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe {
        raw(
            nr::READ,
            [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
        )
    }
}

/// One element of `writev`'s array.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IoVec {
    /// Address of the buffer (`iov_base`).
    pub base: usize,
    /// Its length in bytes (`iov_len`).
    pub len: usize,
}

impl IoVec {
    /// The element that covers `bytes`.
    pub fn of(bytes: &[u8]) -> IoVec {
        IoVec {
            base: bytes.as_ptr() as usize,
            len: bytes.len(),
        }
    }
}

/// `writev(fd, iov)`: writes the buffers in order; the total written.
pub fn writev(fd: i32, iov: &[IoVec]) -> Result<usize, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe {
        raw(
            nr::WRITEV,
            [fd as usize, iov.as_ptr() as usize, iov.len(), 0, 0, 0],
        )
    }
}

/// # Safety
/// `arg` must suit `request`: a pointer to what the request reads or writes.
pub unsafe fn ioctl(fd: i32, request: usize, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the caller guarantees that `arg` suits `request`: a pointer to
    // what the request reads or writes.
    unsafe { raw(nr::IOCTL, [fd as usize, request, arg, 0, 0, 0]) }
}

/// `ioctl(fd, TIOCGWINSZ)`: the terminal's size.
pub fn window_size(fd: i32) -> Result<WinSize, Errno> {
    let mut size = WinSize::default();
    // SAFETY: TIOCGWINSZ writes one struct winsize.
    unsafe { ioctl(fd, ioctls::TIOCGWINSZ, &mut size as *mut WinSize as usize)? };
    Ok(size)
}

/// ioctl requests (include/uapi/asm-generic/ioctls.h).
pub mod ioctls {
    /// Reads the terminal's `struct termios`.
    pub const TCGETS: usize = 0x5401;
    /// Sets the terminal's `struct termios` at once.
    pub const TCSETS: usize = 0x5402;
    /// Waits until output drains (arg 0 also sends a break).
    pub const TCSBRK: usize = 0x5409;
    /// Reads the terminal's `struct winsize`.
    pub const TIOCGWINSZ: usize = 0x5413;
}

/// `struct winsize`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct WinSize {
    /// Rows, in characters.
    pub row: u16,
    /// Columns, in characters.
    pub col: u16,
    /// Width in pixels (0 when unknown).
    pub xpixel: u16,
    /// Height in pixels (0 when unknown).
    pub ypixel: u16,
}

/// `struct new_utsname`: six NUL-terminated fields of 65 bytes.
#[repr(C)]
pub struct UtsName {
    /// sysname, nodename, release, version, machine, domainname, in that order.
    pub fields: [[u8; 65]; 6],
}

impl UtsName {
    /// Index of `sysname`: the kernel's name ("Linux" on Linux).
    pub const SYSNAME: usize = 0;
    /// Index of `nodename`: the host name.
    pub const NODENAME: usize = 1;
    /// Index of `release`: the kernel release.
    pub const RELEASE: usize = 2;
    /// Index of `version`: the kernel's build version.
    pub const VERSION: usize = 3;
    /// Index of `machine`: the hardware ("aarch64").
    pub const MACHINE: usize = 4;
    /// Index of `domainname`: the NIS domain name.
    pub const DOMAINNAME: usize = 5;

    /// Field `i` up to its NUL, or `None` if it has none or is not UTF-8.
    pub fn field(&self, i: usize) -> Option<&str> {
        let bytes = &self.fields[i];
        let end = bytes.iter().position(|&b| b == 0)?;
        core::str::from_utf8(&bytes[..end]).ok()
    }
}

/// `uname(buf)`: fills `buf` with the system's names.
pub fn uname(buf: &mut UtsName) -> Result<usize, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe { raw(nr::UNAME, [buf as *mut UtsName as usize, 0, 0, 0, 0, 0]) }
}

/// `getpid()`: the process ID (the thread group's ID).
pub fn getpid() -> u32 {
    // SAFETY: no arguments.
    unsafe { syscall(nr::GETPID, 0, 0, 0) as u32 }
}

/// `gettid()`: the calling thread's ID.
pub fn gettid() -> u32 {
    // SAFETY: no arguments.
    unsafe { syscall(nr::GETTID, 0, 0, 0) as u32 }
}

/// `sched_yield()`: lets another runnable thread have the CPU.
pub fn sched_yield() -> Result<usize, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe { raw(nr::SCHED_YIELD, [0; 6]) }
}

/// `sched_setaffinity(0, 8, &mask)`: the calling thread may run only on the CPUs in `mask`.
pub fn sched_setaffinity_self(mask: u64) -> Result<(), Errno> {
    // SAFETY: the kernel reads the 8-byte mask.
    unsafe {
        raw(
            nr::SCHED_SETAFFINITY,
            [0, 8, &mask as *const u64 as usize, 0, 0, 0],
        )
    }
    .map(drop)
}

/// `getrandom(buf, flags)`: fills `buf` with random bytes; the count written.
pub fn getrandom(buf: &mut [u8], flags: u32) -> Result<usize, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe {
        raw(
            nr::GETRANDOM,
            [
                buf.as_mut_ptr() as usize,
                buf.len(),
                flags as usize,
                0,
                0,
                0,
            ],
        )
    }
}

/// `getrusage(RUSAGE_SELF)`'s minor-fault count (Linux; -ENOSYS here).
pub fn minor_faults() -> Result<u64, Errno> {
    let mut usage = [0u64; 18];
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe { raw(nr::GETRUSAGE, [0, usage.as_mut_ptr() as usize, 0, 0, 0, 0])? };
    // Two struct timevals (4 words), then maxrss, ixrss, idrss, isrss, minflt.
    Ok(usage[8])
}

/// Page faults taken by this process so far: `kstat(PAGE_FAULTS)` on this
/// kernel, `getrusage`'s minor faults on Linux.
pub fn page_faults() -> Result<u64, Errno> {
    kernel_stat(kstat::PAGE_FAULTS).or_else(|_| minor_faults())
}

/// This kernel only: `kstat(id)`, a counter ([`kstat`] names them).
pub fn kernel_stat(id: usize) -> Result<u64, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe { raw(nr::KSTAT, [id, 0, 0, 0, 0, 0]).map(|v| v as u64) }
}

/// This kernel's `audit_layout()`: every mapped page lies in an area and
/// allows no more than it (Linux: ENOSYS).
pub fn audit_layout() -> Result<usize, Errno> {
    // SAFETY: no arguments; the kernel only reads its own tables.
    unsafe { raw(nr::AUDIT_LAYOUT, [0; 6]) }
}

/// This kernel only: binds the DMA device to this address space (-ENODEV
/// without one).
pub fn dma_attach() -> Result<usize, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe { raw(nr::DMA_ATTACH, [0; 6]) }
}

/// This kernel only: the device copies `len` bytes from `src` to `dst`.
pub fn dma_copy(dst: usize, src: usize, len: usize) -> Result<usize, Errno> {
    // SAFETY: the pointers (if any) are to the buffers of this call's
    // arguments, valid for the lengths passed.
    unsafe { raw(nr::DMA_COPY, [dst, src, len, 0, 0, 0]) }
}

/// `exit(status)`: ends the calling thread (the process with its last thread).
pub fn exit(status: i32) -> ! {
    // SAFETY: exit takes a plain integer.
    unsafe { syscall(nr::EXIT, status as usize, 0, 0) };
    unreachable!("exit returned")
}

/// `exit_group(status)`: ends every thread of the process.
pub fn exit_group(status: i32) -> ! {
    // SAFETY: exit_group takes a plain integer.
    unsafe { syscall(nr::EXIT_GROUP, status as usize, 0, 0) };
    loop {
        core::hint::spin_loop();
    }
}
