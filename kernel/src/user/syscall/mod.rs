//! System calls: `svc #0` from EL0 with Linux's aarch64 numbers (x8) and
//! arguments (x0-x5); the result or `-errno` goes back in x0. Any number not
//! served here is `-ENOSYS`, logged once per number.
pub mod errno;
pub mod io;
pub mod mem;
pub mod misc;
pub mod private;
pub mod thread;
pub mod time;

use crate::arch::exception::TrapFrame;
use core::sync::atomic::{AtomicU64, Ordering};
use errno::{Errno, ENOSYS};

/// Linux aarch64 numbers (include/uapi/asm-generic/unistd.h).
pub mod nr {
    pub const IOCTL: u64 = 29;
    pub const READ: u64 = 63;
    pub const WRITE: u64 = 64;
    pub const WRITEV: u64 = 66;
    pub const EXIT: u64 = 93;
    pub const EXIT_GROUP: u64 = 94;
    pub const SET_TID_ADDRESS: u64 = 96;
    pub const SET_ROBUST_LIST: u64 = 99;
    pub const FUTEX: u64 = 98;
    pub const NANOSLEEP: u64 = 101;
    pub const CLOCK_GETTIME: u64 = 113;
    pub const CLOCK_NANOSLEEP: u64 = 115;
    pub const SCHED_SETAFFINITY: u64 = 122;
    pub const SCHED_GETAFFINITY: u64 = 123;
    pub const SCHED_YIELD: u64 = 124;
    pub const RT_SIGACTION: u64 = 134;
    pub const RT_SIGPROCMASK: u64 = 135;
    pub const UNAME: u64 = 160;
    pub const GETCPU: u64 = 168;
    pub const GETPID: u64 = 172;
    pub const GETPPID: u64 = 173;
    pub const GETUID: u64 = 174;
    pub const GETEUID: u64 = 175;
    pub const GETGID: u64 = 176;
    pub const GETEGID: u64 = 177;
    pub const GETTID: u64 = 178;
    pub const BRK: u64 = 214;
    pub const MUNMAP: u64 = 215;
    pub const MREMAP: u64 = 216;
    pub const CLONE: u64 = 220;
    pub const MMAP: u64 = 222;
    pub const MPROTECT: u64 = 226;
    pub const MADVISE: u64 = 233;
    pub const GETRANDOM: u64 = 278;
    /// This kernel's own calls, well above Linux's range (`private`).
    pub const DMA_ATTACH: u64 = 0x1000;
    pub const DMA_COPY: u64 = 0x1001;
    pub const KSTAT: u64 = 0x1002;
    pub const FLOOR_ZERO_PAGE: u64 = 0x1003;
    pub const PAN_PROBE: u64 = 0x1004;
    pub const AUDIT_LAYOUT: u64 = 0x1005;
}

/// The arguments of one call.
#[derive(Clone, Copy)]
pub struct Args(pub [u64; 6]);

type Result = core::result::Result<u64, Errno>;

/// Serves the call in `frame` and writes its result to x0.
pub fn dispatch(frame: &mut TrapFrame) {
    let number = frame.x[8];
    let a = Args([
        frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[4], frame.x[5],
    ]);
    let result: Result = match number {
        nr::READ => io::read(a),
        nr::WRITE => io::write(a),
        nr::WRITEV => io::writev(a),
        nr::IOCTL => io::ioctl(a),
        nr::EXIT => thread::exit(a),
        nr::EXIT_GROUP => thread::exit_group(a),
        nr::GETPID => thread::getpid(),
        nr::GETPPID => Ok(0),
        // One user, root, as for Linux's init.
        nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => Ok(0),
        // Accepted: no thread ever dies holding a robust futex that another
        // process could see (there is one process and no signals).
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
        nr::RT_SIGACTION => misc::rt_sigaction(a),
        nr::RT_SIGPROCMASK => misc::rt_sigprocmask(a),
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
