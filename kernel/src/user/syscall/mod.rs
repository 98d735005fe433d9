//! System calls: `svc #0` from EL0 with Linux's aarch64 numbers (x8) and
//! arguments (x0-x5); the result or `-errno` goes back in x0. Any number not
//! served here is `-ENOSYS`, logged once per number.
pub mod errno;
pub mod fs;
pub mod io;
pub mod mem;
pub mod misc;
pub mod poll;
pub mod private;
pub mod process;
pub mod signals;
pub mod thread;
pub mod time;

use crate::arch::exception::TrapFrame;
use crate::user::signal;
use core::sync::atomic::{AtomicU64, Ordering};
use errno::{Errno, ENOSYS};

/// Linux aarch64 numbers (include/uapi/asm-generic/unistd.h).
pub mod nr {
    /// `ioctl(fd, request, arg)`: terminal requests on the console.
    pub const IOCTL: u64 = 29;
    /// `getcwd(buf, size)`.
    pub const GETCWD: u64 = 17;
    /// `dup(fd)`.
    pub const DUP: u64 = 23;
    /// `dup3(old, new, flags)`.
    pub const DUP3: u64 = 24;
    /// `fcntl(fd, cmd, arg)`.
    pub const FCNTL: u64 = 25;
    /// `mknodat(dirfd, path, mode, dev)`.
    pub const MKNODAT: u64 = 33;
    /// `mkdirat(dirfd, path, mode)`.
    pub const MKDIRAT: u64 = 34;
    /// `unlinkat(dirfd, path, flags)`.
    pub const UNLINKAT: u64 = 35;
    /// `symlinkat(target, newdirfd, linkpath)`.
    pub const SYMLINKAT: u64 = 36;
    /// `linkat(olddirfd, oldpath, newdirfd, newpath, flags)`.
    pub const LINKAT: u64 = 37;
    /// `renameat(olddirfd, oldpath, newdirfd, newpath)`.
    pub const RENAMEAT: u64 = 38;
    /// `truncate(path, length)`.
    pub const TRUNCATE: u64 = 45;
    /// `ftruncate(fd, length)`.
    pub const FTRUNCATE: u64 = 46;
    /// `faccessat(dirfd, path, mode)`.
    pub const FACCESSAT: u64 = 48;
    /// `chdir(path)`.
    pub const CHDIR: u64 = 49;
    /// `fchdir(fd)`.
    pub const FCHDIR: u64 = 50;
    /// `fchmod(fd, mode)`.
    pub const FCHMOD: u64 = 52;
    /// `fchmodat(dirfd, path, mode)`.
    pub const FCHMODAT: u64 = 53;
    /// `fchownat(dirfd, path, uid, gid, flags)`.
    pub const FCHOWNAT: u64 = 54;
    /// `fchown(fd, uid, gid)`.
    pub const FCHOWN: u64 = 55;
    /// `openat(dirfd, path, flags, mode)`.
    pub const OPENAT: u64 = 56;
    /// `close(fd)`.
    pub const CLOSE: u64 = 57;
    /// `pipe2(fds, flags)`.
    pub const PIPE2: u64 = 59;
    /// `getdents64(fd, dirp, count)`.
    pub const GETDENTS64: u64 = 61;
    /// `lseek(fd, offset, whence)`.
    pub const LSEEK: u64 = 62;
    /// `readv(fd, iov, iovcnt)`.
    pub const READV: u64 = 65;
    /// `pread64(fd, buf, count, offset)`.
    pub const PREAD64: u64 = 67;
    /// `pwrite64(fd, buf, count, offset)`.
    pub const PWRITE64: u64 = 68;
    /// `readlinkat(dirfd, path, buf, bufsiz)`.
    pub const READLINKAT: u64 = 78;
    /// `newfstatat(dirfd, path, buf, flags)`.
    pub const NEWFSTATAT: u64 = 79;
    /// `fstat(fd, buf)`.
    pub const FSTAT: u64 = 80;
    /// `sync()`.
    pub const SYNC: u64 = 81;
    /// `fsync(fd)`.
    pub const FSYNC: u64 = 82;
    /// `fdatasync(fd)`.
    pub const FDATASYNC: u64 = 83;
    /// `utimensat(dirfd, path, times, flags)`.
    pub const UTIMENSAT: u64 = 88;
    /// `umask(mask)`.
    pub const UMASK: u64 = 166;
    /// `sendfile(out_fd, in_fd, offset, count)`.
    pub const SENDFILE: u64 = 71;
    /// `prctl(option, ...)`.
    pub const PRCTL: u64 = 167;
    /// `pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask)`.
    pub const PSELECT6: u64 = 72;
    /// `ppoll(fds, nfds, timeout, sigmask, sigsetsize)`.
    pub const PPOLL: u64 = 73;
    /// `getrlimit(resource, rlim)`.
    pub const GETRLIMIT: u64 = 163;
    /// `setrlimit(resource, rlim)`.
    pub const SETRLIMIT: u64 = 164;
    /// `sysinfo(info)`.
    pub const SYSINFO: u64 = 179;
    /// `prlimit64(pid, resource, new, old)`.
    pub const PRLIMIT64: u64 = 261;
    /// `setpgid(pid, pgid)`.
    pub const SETPGID: u64 = 154;
    /// `getpgid(pid)`.
    pub const GETPGID: u64 = 155;
    /// `getsid(pid)`.
    pub const GETSID: u64 = 156;
    /// `setsid()`.
    pub const SETSID: u64 = 157;
    /// `renameat2(olddirfd, oldpath, newdirfd, newpath, flags)`.
    pub const RENAMEAT2: u64 = 276;
    /// `statx(dirfd, path, flags, mask, buf)`.
    pub const STATX: u64 = 291;
    /// `faccessat2(dirfd, path, mode, flags)`.
    pub const FACCESSAT2: u64 = 439;
    /// `read(fd, buf, count)`.
    pub const READ: u64 = 63;
    /// `write(fd, buf, count)`.
    pub const WRITE: u64 = 64;
    /// `writev(fd, iov, iovcnt)`.
    pub const WRITEV: u64 = 66;
    /// `exit(status)`: ends the calling thread.
    pub const EXIT: u64 = 93;
    /// `exit_group(status)`: ends every thread of the process.
    pub const EXIT_GROUP: u64 = 94;
    /// `set_tid_address(tidptr)`: the word cleared and woken at thread exit.
    pub const SET_TID_ADDRESS: u64 = 96;
    /// `set_robust_list(head, len)`: accepted, never walked.
    pub const SET_ROBUST_LIST: u64 = 99;
    /// `futex(uaddr, op, val, timeout, uaddr2, val3)`.
    pub const FUTEX: u64 = 98;
    /// `nanosleep(req, rem)`.
    pub const NANOSLEEP: u64 = 101;
    /// `clock_gettime(clockid, tp)`.
    pub const CLOCK_GETTIME: u64 = 113;
    /// `clock_getres(clockid, res)`.
    pub const CLOCK_GETRES: u64 = 114;
    /// `restart_syscall()`: what a stopped or signalled call left (only the kernel
    /// sets a thread up to make it).
    pub const RESTART_SYSCALL: u64 = 128;
    /// `clock_nanosleep(clockid, flags, req, rem)`.
    pub const CLOCK_NANOSLEEP: u64 = 115;
    /// `sched_setaffinity(pid, len, mask)`.
    pub const SCHED_SETAFFINITY: u64 = 122;
    /// `gettimeofday(tv, tz)`.
    pub const GETTIMEOFDAY: u64 = 169;
    /// `sched_getaffinity(pid, len, mask)`.
    pub const SCHED_GETAFFINITY: u64 = 123;
    /// `sched_yield()`.
    pub const SCHED_YIELD: u64 = 124;
    /// `rt_sigaction(sig, act, oact, sigsetsize)`.
    pub const RT_SIGACTION: u64 = 134;
    /// `rt_sigprocmask(how, set, oset, sigsetsize)`.
    pub const RT_SIGPROCMASK: u64 = 135;
    /// `uname(buf)`.
    pub const UNAME: u64 = 160;
    /// `kill(pid, sig)`.
    pub const KILL: u64 = 129;
    /// `getitimer(which, value)`.
    pub const GETITIMER: u64 = 102;
    /// `setitimer(which, new, old)`.
    pub const SETITIMER: u64 = 103;
    /// `tkill(tid, sig)`.
    pub const TKILL: u64 = 130;
    /// `tgkill(tgid, tid, sig)`.
    pub const TGKILL: u64 = 131;
    /// `sigaltstack(ss, old_ss)`.
    pub const SIGALTSTACK: u64 = 132;
    /// `rt_sigpending(set, sigsetsize)`.
    pub const RT_SIGPENDING: u64 = 136;
    /// `rt_sigreturn()`.
    pub const RT_SIGRETURN: u64 = 139;
    /// `rt_sigsuspend(mask, sigsetsize)`.
    pub const RT_SIGSUSPEND: u64 = 133;
    /// `rt_sigtimedwait(set, info, timeout, sigsetsize)`.
    pub const RT_SIGTIMEDWAIT: u64 = 137;
    /// `rt_sigqueueinfo(tgid, sig, info)`.
    pub const RT_SIGQUEUEINFO: u64 = 138;
    /// `rt_tgsigqueueinfo(tgid, tid, sig, info)`.
    pub const RT_TGSIGQUEUEINFO: u64 = 240;
    /// `getcpu(cpu, node, cache)`.
    pub const GETCPU: u64 = 168;
    /// `getpid()`.
    pub const GETPID: u64 = 172;
    /// `getppid()`.
    pub const GETPPID: u64 = 173;
    /// `waitid(idtype, id, infop, options, rusage)`.
    pub const WAITID: u64 = 95;
    /// `execve(path, argv, envp)`.
    pub const EXECVE: u64 = 221;
    /// `wait4(pid, wstatus, options, rusage)`.
    pub const WAIT4: u64 = 260;
    /// `clone3(args, size)`.
    pub const CLONE3: u64 = 435;
    /// `getuid()`.
    pub const GETUID: u64 = 174;
    /// `geteuid()`.
    pub const GETEUID: u64 = 175;
    /// `getgid()`.
    pub const GETGID: u64 = 176;
    /// `getegid()`.
    pub const GETEGID: u64 = 177;
    /// `gettid()`.
    pub const GETTID: u64 = 178;
    /// `brk(addr)`: moves the program break, returns the new one.
    pub const BRK: u64 = 214;
    /// `munmap(addr, len)`.
    pub const MUNMAP: u64 = 215;
    /// `mremap(old, old_len, new_len, flags, new)`.
    pub const MREMAP: u64 = 216;
    /// `clone(flags, stack, parent_tid, tls, child_tid)`.
    pub const CLONE: u64 = 220;
    /// `mmap(addr, len, prot, flags, fd, offset)`.
    pub const MMAP: u64 = 222;
    /// `mprotect(addr, len, prot)`.
    pub const MPROTECT: u64 = 226;
    /// `madvise(addr, len, advice)`.
    pub const MADVISE: u64 = 233;
    /// `getrandom(buf, len, flags)`.
    pub const GETRANDOM: u64 = 278;
    /// This kernel's own calls, well above Linux's range (`private`):
    /// `dma_attach()` binds the DMA device to the caller's address space.
    pub const DMA_ATTACH: u64 = 0x1000;
    /// `dma_copy(dst, src, len)`: the DMA device copies between user buffers.
    pub const DMA_COPY: u64 = 0x1001;
    /// `kstat(id)`: one of the kernel's counters.
    pub const KSTAT: u64 = 0x1002;
    /// `floor_zero_page(iters)`: ticks to zero one frame `iters` times.
    pub const FLOOR_ZERO_PAGE: u64 = 0x1003;
    /// `pan_probe(addr, pan_off)`: does PAN stop a kernel read of `addr`?
    pub const PAN_PROBE: u64 = 0x1004;
    /// `audit_layout()`: the page table agrees with the areas.
    pub const AUDIT_LAYOUT: u64 = 0x1005;
}

/// The arguments of one call.
#[derive(Clone, Copy)]
pub struct Args(pub [u64; 6]);

type Result = core::result::Result<u64, Errno>;

/// Serves the call in `frame` and writes its result to x0.
pub fn dispatch(frame: &mut TrapFrame) {
    let number = frame.x[8];
    let orig_x0 = frame.x[0];
    let a = Args([
        frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[4], frame.x[5],
    ]);
    let result: Result = match number {
        nr::READ => io::read(a),
        nr::WRITE => io::write(a),
        nr::WRITEV => io::writev(a),
        nr::READV => io::readv(a),
        nr::PREAD64 => io::pread64(a),
        nr::PWRITE64 => io::pwrite64(a),
        nr::OPENAT => fs::openat(a),
        nr::CLOSE => fs::close(a),
        nr::LSEEK => fs::lseek(a),
        nr::DUP => fs::dup(a),
        nr::DUP3 => fs::dup3(a),
        nr::FCNTL => fs::fcntl(a),
        nr::PIPE2 => fs::pipe2(a),
        nr::FSTAT => fs::fstat(a),
        nr::NEWFSTATAT => fs::newfstatat(a),
        nr::STATX => fs::statx(a),
        nr::GETDENTS64 => fs::getdents64(a),
        nr::MKDIRAT => fs::mkdirat(a),
        nr::MKNODAT => fs::mknodat(a),
        nr::UNLINKAT => fs::unlinkat(a),
        nr::SYMLINKAT => fs::symlinkat(a),
        nr::LINKAT => fs::linkat(a),
        nr::RENAMEAT => fs::renameat2(Args([a.0[0], a.0[1], a.0[2], a.0[3], 0, 0])),
        nr::RENAMEAT2 => fs::renameat2(a),
        nr::READLINKAT => fs::readlinkat(a),
        nr::TRUNCATE => fs::truncate(a),
        nr::FTRUNCATE => fs::ftruncate(a),
        nr::SYNC => Ok(0),
        nr::FSYNC | nr::FDATASYNC => fs::fsync(a),
        nr::CHDIR => fs::chdir(a),
        nr::FCHDIR => fs::fchdir(a),
        nr::GETCWD => fs::getcwd(a),
        nr::UMASK => fs::umask_call(a),
        nr::FACCESSAT => fs::faccessat2(a, false),
        nr::FACCESSAT2 => fs::faccessat2(a, true),
        nr::FCHMOD => fs::fchmod(a),
        nr::FCHMODAT => fs::fchmodat(a),
        nr::FCHOWNAT => fs::fchownat(a),
        nr::FCHOWN => fs::fchown(a),
        nr::UTIMENSAT => fs::utimensat(a),
        nr::SETPGID => process::setpgid(a),
        nr::GETPGID => process::getpgid(a),
        nr::GETSID => process::getsid(a),
        nr::SETSID => process::setsid(),
        nr::PPOLL => poll::ppoll(a),
        nr::SENDFILE => fs::sendfile(a),
        nr::PRCTL => process::prctl(a),
        nr::GETRLIMIT => process::getrlimit(a),
        nr::SETRLIMIT => process::setrlimit(a),
        nr::PRLIMIT64 => process::prlimit64(a),
        nr::SYSINFO => process::sysinfo(a),
        nr::PSELECT6 => poll::pselect6(a),
        nr::IOCTL => io::ioctl(a),
        nr::EXIT => thread::exit(a),
        nr::EXIT_GROUP => thread::exit_group(a),
        nr::GETPID => thread::getpid(),
        nr::GETPPID => process::getppid(),
        nr::WAIT4 => process::wait4(a),
        nr::WAITID => process::waitid(a),
        nr::EXECVE => process::execve(a, frame),
        nr::CLONE3 => process::clone3(a, frame),
        // One user, root, as for Linux's init.
        nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => Ok(0),
        // Accepted, but the list is not walked at exit: a thread that dies
        // holding a robust futex leaves it locked (Linux marks it
        // FUTEX_OWNER_DIED and wakes a waiter). No program here relies on it.
        nr::SET_ROBUST_LIST => {
            if a.0[1] != 24 {
                Err(errno::EINVAL)
            } else {
                Ok(0)
            }
        }
        nr::GETTID => thread::gettid(),
        nr::SET_TID_ADDRESS => thread::set_tid_address(a),
        nr::CLONE => thread::clone(a, frame),
        nr::FUTEX => thread::futex(a),
        nr::BRK => mem::brk(a),
        nr::MMAP => mem::mmap(a),
        nr::MUNMAP => mem::munmap(a),
        nr::MPROTECT => mem::mprotect(a),
        nr::MADVISE => mem::madvise(a),
        nr::MREMAP => mem::mremap(a),
        nr::CLOCK_GETTIME => time::clock_gettime(a),
        nr::CLOCK_GETRES => time::clock_getres(a),
        nr::RESTART_SYSCALL => time::restart_syscall(),
        nr::GETTIMEOFDAY => time::gettimeofday(a),
        nr::NANOSLEEP => time::nanosleep(a),
        nr::CLOCK_NANOSLEEP => time::clock_nanosleep(a),
        nr::SCHED_YIELD => {
            crate::sched::yield_now();
            Ok(0)
        }
        nr::SCHED_SETAFFINITY => thread::sched_setaffinity(a),
        nr::SCHED_GETAFFINITY => thread::sched_getaffinity(a),
        nr::GETCPU => thread::getcpu(a),
        nr::GETRANDOM => misc::getrandom(a),
        nr::RT_SIGACTION => signals::rt_sigaction(a),
        nr::RT_SIGPROCMASK => signals::rt_sigprocmask(a),
        nr::RT_SIGPENDING => signals::rt_sigpending(a),
        nr::RT_SIGRETURN => signals::rt_sigreturn(frame),
        nr::RT_SIGSUSPEND => signals::rt_sigsuspend(a),
        nr::RT_SIGTIMEDWAIT => signals::rt_sigtimedwait(a),
        nr::RT_SIGQUEUEINFO => signals::rt_sigqueueinfo(a),
        nr::RT_TGSIGQUEUEINFO => signals::rt_tgsigqueueinfo(a),
        nr::SIGALTSTACK => signals::sigaltstack(a, frame),
        nr::KILL => signals::kill(a),
        nr::GETITIMER => time::getitimer(a),
        nr::SETITIMER => time::setitimer(a),
        nr::TKILL => signals::tkill(a),
        nr::TGKILL => signals::tgkill(a),
        nr::UNAME => misc::uname(a),
        nr::DMA_ATTACH => private::dma_attach(),
        nr::DMA_COPY => private::dma_copy(a),
        nr::KSTAT => private::kstat(a),
        nr::FLOOR_ZERO_PAGE => private::floor_zero_page(a),
        nr::PAN_PROBE => private::pan_probe(a),
        nr::AUDIT_LAYOUT => private::audit_layout(),
        n => {
            unknown(n);
            Err(ENOSYS)
        }
    };
    frame.x[0] = match result {
        Ok(v) => v,
        Err(Errno(e))
            if e == signal::ERESTARTSYS
                || e == signal::ERESTARTNOHAND
                || e == signal::ERESTART_RESTARTBLOCK =>
        {
            // Interrupted by a signal: restarted or failed with EINTR on the way out.
            if let Some(t) = crate::user::current_thread() {
                signal::note_restart(t, e, orig_x0);
            }
            (-errno::EINTR.0) as u64
        }
        Err(Errno(e)) => (-e) as u64,
    };
}

/// Numbers already reported (bit per number below 1024; higher ones share the last bit).
static REPORTED: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

fn unknown(n: u64) {
    let bit = n.min(1023);
    let mask = 1u64 << (bit % 64);
    if REPORTED[(bit / 64) as usize].fetch_or(mask, Ordering::Relaxed) & mask == 0 {
        defmt::warn!(
            "system call {} is not implemented: -ENOSYS (reported once)",
            n
        );
    }
}
