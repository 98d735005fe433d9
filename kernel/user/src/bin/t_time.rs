//! Time: `clock_gettime` (monotonic never goes back and advances across a
//! sleep; realtime works; bad clocks and pointers are refused),
//! `clock_getres`, `gettimeofday`, the vDSO's clocks (announced by
//! `AT_SYSINFO_EHDR`; they agree with the system calls they replace) and
//! `nanosleep` (sleeps at least as long as asked; bad times refused).
#![no_std]
#![no_main]
use user::mm::{mmap_anon, mprotect, munmap, prot, PAGE};
use user::sys::{self, nr};
use user::time::{clock_gettime, nanosleep, now_ns, Clock, Timespec};
use user::vdso::Vdso;
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

/// `clock_getres` and `gettimeofday` as system calls.
fn res_and_timeofday(t: &mut Checks) {
    // SAFETY: each call writes at most one timespec/timeval/timezone into a local, or
    // is refused.
    unsafe {
        let mut res = Timespec::default();
        let getres = |clock: usize, p: *mut Timespec| {
            sys::raw(nr::CLOCK_GETRES, [clock, p as usize, 0, 0, 0, 0])
        };
        t.eq("getres_monotonic", getres(1, &mut res), Ok(0));
        t.eq("getres_monotonic_is_1ns", res, Timespec { sec: 0, nsec: 1 });
        t.eq(
            "getres_null_checks_the_clock",
            getres(0, core::ptr::null_mut()),
            Ok(0),
        );
        t.errno(
            "getres_unknown_clock_einval",
            getres(99, &mut res),
            Errno::EINVAL,
        );
        let mut tv = [0i64; 2];
        let mut tz = [7i32; 2];
        let before = clock_gettime(Clock::Realtime).unwrap();
        let r = sys::raw(
            nr::GETTIMEOFDAY,
            [
                &mut tv as *mut _ as usize,
                &mut tz as *mut _ as usize,
                0,
                0,
                0,
                0,
            ],
        );
        let after = clock_gettime(Clock::Realtime).unwrap();
        t.eq("gettimeofday", r, Ok(0));
        t.eq("gettimeofday_utc", tz, [0, 0]);
        let us = tv[0] as u64 * 1_000_000 + tv[1] as u64;
        t.check(
            "gettimeofday_between_two_realtime_reads",
            before.as_nanos() / 1000 <= us && us <= after.as_nanos() / 1000,
            format_args!("{before:?} {tv:?} {after:?}"),
        );
    }
}

/// The vDSO: announced, its four functions found by name (as a C library finds them),
/// and its clocks agree with the system calls they stand in for.
fn vdso(t: &mut Checks, args: &user::Args) {
    let v = Vdso::from_auxv(args);
    t.eq("vdso_announced_by_at_sysinfo_ehdr", v.is_some(), true);
    let Some(v) = v else { return };
    for name in [
        "__kernel_clock_gettime",
        "__kernel_gettimeofday",
        "__kernel_clock_getres",
        "__kernel_rt_sigreturn",
    ] {
        t.check(
            "vdso_exports",
            v.function(name).is_some(),
            format_args!("{name}"),
        );
    }
    let (Some(gettime), Some(getres), Some(timeofday)) =
        (v.clock_gettime(), v.clock_getres(), v.gettimeofday())
    else {
        return;
    };
    for (name, clock) in [
        ("monotonic", Clock::Monotonic),
        ("realtime", Clock::Realtime),
    ] {
        let mut ok = true;
        for _ in 0..200 {
            let before = clock_gettime(clock).unwrap();
            let mut ts = Timespec::default();
            // SAFETY: writes one timespec into `ts`.
            let r = unsafe { gettime(clock as i32, &mut ts) };
            let after = clock_gettime(clock).unwrap();
            ok &= r == 0 && valid(ts) && before <= ts && ts <= after;
        }
        t.check(
            "vdso_clock_gettime_between_two_system_calls",
            ok,
            format_args!("{name}"),
        );
    }
    let mut last = Timespec::default();
    let mut backwards = 0;
    for _ in 0..2000 {
        let mut ts = Timespec::default();
        // SAFETY: writes one timespec into `ts`.
        unsafe { gettime(Clock::Monotonic as i32, &mut ts) };
        backwards += usize::from(ts < last);
        last = ts;
    }
    t.eq("vdso_monotonic_never_goes_back", backwards, 0);
    // A vDSO that always fell back to the system call would pass every check above.
    let (calls, vdso_ns) = timed(|| {
        let mut ts = Timespec::default();
        // SAFETY: writes one timespec into `ts`.
        unsafe { gettime(Clock::Monotonic as i32, &mut ts) };
    });
    let (_, syscall_ns) = timed(|| {
        let _ = clock_gettime(Clock::Monotonic);
    });
    t.check(
        "vdso_clock_gettime_takes_less_than_half_a_system_call",
        2 * vdso_ns < syscall_ns,
        format_args!("{calls} calls: vDSO {vdso_ns} ns, system call {syscall_ns} ns"),
    );
    let mut ts = Timespec::default();
    // SAFETY: an unknown clock: the vDSO passes it to the system call, which refuses it.
    t.eq(
        "vdso_unknown_clock_einval",
        unsafe { gettime(99, &mut ts) },
        -22,
    );
    // SAFETY: writes one timespec into `ts`.
    t.eq("vdso_getres_monotonic", unsafe { getres(1, &mut ts) }, 0);
    t.eq("vdso_getres_is_1ns", ts, Timespec { sec: 0, nsec: 1 });
    let mut tv = [0i64; 2];
    let before = clock_gettime(Clock::Realtime).unwrap();
    // SAFETY: writes one timeval into `tv`; no time zone asked.
    let r = unsafe { timeofday(&mut tv, core::ptr::null_mut()) };
    let after = clock_gettime(Clock::Realtime).unwrap();
    let us = tv[0] as u64 * 1_000_000 + tv[1] as u64;
    t.check(
        "vdso_gettimeofday_between_two_realtime_reads",
        r == 0 && before.as_nanos() / 1000 <= us && us <= after.as_nanos() / 1000,
        format_args!("{r} {before:?} {tv:?} {after:?}"),
    );
}

/// The vDSO's pages are shared by every process: no process may make them writable
/// (Linux: its data pages have no `VM_MAYWRITE`, so `mprotect` refuses with `EACCES`).
fn vdso_pages_stay_read_only(t: &mut Checks, args: &user::Args) {
    let Some(v) = Vdso::from_auxv(args) else {
        return;
    };
    let data = v.base() - PAGE;
    t.eq(
        "vdso_data_page_cannot_be_made_writable",
        mprotect(data, PAGE, prot::RW),
        Err(Errno::EACCES),
    );
    // The refusal left the page as it was: the clock still runs from it. (Not read
    // directly: on Linux the page below the image is the time-namespace page, SIGBUS.)
    let mut ts = Timespec::default();
    let gettime = v.clock_gettime().expect("__kernel_clock_gettime");
    // SAFETY: writes one timespec into `ts`.
    let r = unsafe { gettime(Clock::Monotonic as i32, &mut ts) };
    t.check(
        "vdso_still_works_after_a_refused_mprotect",
        r == 0 && valid(ts) && ts.sec + ts.nsec > 0,
        format_args!("{r} {ts:?}"),
    );
}

/// Runs `f` 2000 times: (calls, nanoseconds it took).
fn timed(mut f: impl FnMut()) -> (u64, u64) {
    const CALLS: u64 = 2000;
    let start = now_ns();
    for _ in 0..CALLS {
        f();
    }
    (CALLS, now_ns() - start)
}

fn main(args: &user::Args) -> i32 {
    let mut t = Checks::new();
    clocks(&mut t);
    res_and_timeofday(&mut t);
    vdso(&mut t, args);
    vdso_pages_stay_read_only(&mut t, args);
    sleeping(&mut t);
    t.status()
}

user::entry!(main);
