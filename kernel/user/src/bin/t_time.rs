//! Time: `clock_gettime` (monotonic never goes back and advances across a
//! sleep; realtime works; bad clocks and pointers are refused) and
//! `nanosleep` (sleeps at least as long as asked; bad times refused).
#![no_std]
#![no_main]
use user::mm::{mmap_anon, munmap, PAGE};
use user::sys::{self, nr};
use user::time::{clock_gettime, nanosleep, now_ns, Clock, Timespec};
use user::{Checks, Errno};

const KERNEL: usize = 0xffff_0000_0000_0000;

fn unmapped_page() -> usize {
    let a = mmap_anon(PAGE).expect("mmap");
    munmap(a, PAGE).expect("munmap");
    a
}

fn valid(t: Timespec) -> bool {
    t.sec >= 0 && (0..1_000_000_000).contains(&t.nsec)
}

fn clocks(t: &mut Checks) {
    let m = clock_gettime(Clock::Monotonic);
    t.check(
        "monotonic",
        matches!(m, Ok(v) if valid(v)),
        format_args!("{m:?}"),
    );
    let r = clock_gettime(Clock::Realtime);
    t.check(
        "realtime",
        matches!(r, Ok(v) if valid(v)),
        format_args!("{r:?}"),
    );
    let mut last = now_ns();
    let mut backwards = 0;
    for _ in 0..2000 {
        let now = now_ns();
        if now < last {
            backwards += 1;
        }
        last = now;
    }
    t.eq("monotonic_never_goes_back", backwards, 0);
    // SAFETY: the kernel refuses the bad pointers and ids; nothing is written.
    unsafe {
        let gettime =
            |clock: usize, addr: usize| sys::raw(nr::CLOCK_GETTIME, [clock, addr, 0, 0, 0, 0]);
        t.errno(
            "gettime_bad_pointer_efault",
            gettime(1, unmapped_page()),
            Errno::EFAULT,
        );
        t.errno(
            "gettime_kernel_pointer_efault",
            gettime(1, KERNEL),
            Errno::EFAULT,
        );
        let mut ts = Timespec::default();
        let p = &mut ts as *mut Timespec as usize;
        t.errno(
            "gettime_unknown_clock_einval",
            gettime(1000, p),
            Errno::EINVAL,
        );
        t.errno(
            "gettime_negative_clock_einval",
            gettime(usize::MAX - 1000, p),
            Errno::EINVAL,
        );
        t.eq(
            "gettime_clock_id_upper_half_ignored",
            gettime((1 << 32) | 1, p),
            Ok(0),
        );
        t.eq("gettime_tai", gettime(11, p), Ok(0));
        let zero = Timespec::ZERO;
        let z = &zero as *const Timespec as usize;
        let nsleep = |clock: usize| sys::raw(nr::CLOCK_NANOSLEEP, [clock, 0, z, 0, 0, 0]);
        t.eq("clock_nanosleep_tai", nsleep(11), Ok(0));
        t.eq(
            "clock_nanosleep_clock_id_upper_half_ignored",
            nsleep((1 << 32) | 1),
            Ok(0),
        );
        for (name, clock) in [
            ("clock_nanosleep_monotonic_raw_eopnotsupp", 4),
            ("clock_nanosleep_realtime_coarse_eopnotsupp", 5),
            ("clock_nanosleep_monotonic_coarse_eopnotsupp", 6),
            ("clock_nanosleep_thread_cputime_eopnotsupp", 3),
        ] {
            t.errno(name, nsleep(clock), Errno::EOPNOTSUPP);
        }
        t.errno(
            "clock_nanosleep_unknown_clock_einval",
            nsleep(1000),
            Errno::EINVAL,
        );
    }
}

fn sleeping(t: &mut Checks) {
    for ms in [1u64, 20, 100] {
        let before = now_ns();
        let r = nanosleep(&Timespec::from_millis(ms));
        let slept = now_ns() - before;
        let name = match ms {
            1 => "nanosleep_1ms_at_least",
            20 => "nanosleep_20ms_at_least",
            _ => "nanosleep_100ms_at_least",
        };
        t.check(
            name,
            r.is_ok() && slept >= ms * 1_000_000 && slept < 5_000_000_000,
            format_args!("{r:?}, slept {slept} ns"),
        );
    }
    let before = now_ns();
    t.eq("nanosleep_zero", nanosleep(&Timespec::ZERO), Ok(()));
    t.check(
        "nanosleep_zero_returns_soon",
        now_ns() - before < 1_000_000_000,
        format_args!("took over a second"),
    );
    t.errno(
        "nanosleep_nsec_too_big_einval",
        nanosleep(&Timespec {
            sec: 0,
            nsec: 1_000_000_000,
        }),
        Errno::EINVAL,
    );
    t.errno(
        "nanosleep_nsec_negative_einval",
        nanosleep(&Timespec { sec: 0, nsec: -1 }),
        Errno::EINVAL,
    );
    t.errno(
        "nanosleep_sec_negative_einval",
        nanosleep(&Timespec { sec: -1, nsec: 0 }),
        Errno::EINVAL,
    );
    // SAFETY: the kernel refuses the bad pointers.
    unsafe {
        let sleep = |addr: usize| sys::raw(nr::NANOSLEEP, [addr, 0, 0, 0, 0, 0]);
        t.errno(
            "nanosleep_bad_pointer_efault",
            sleep(unmapped_page()),
            Errno::EFAULT,
        );
        t.errno(
            "nanosleep_kernel_pointer_efault",
            sleep(KERNEL),
            Errno::EFAULT,
        );
    }
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    clocks(&mut t);
    sleeping(&mut t);
    t.status()
}

user::entry!(main);
