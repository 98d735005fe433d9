//! Threads: `clone` with glibc's thread flags (shared address space, one
//! process id, `CLONE_SETTLS` setting `TPIDR_EL0`, `CLONE_PARENT_SETTID`,
//! `CLONE_CHILD_CLEARTID` + futex wake as the join), `futex` WAIT/WAKE
//! (private and shared; -EAGAIN on a changed value, -ETIMEDOUT, bad
//! addresses), and `exit_group` from a thread ending the whole process.
//!
//! Only the main thread prints; every check's outcome is the same whatever
//! the timing (a waiter that has not gone to sleep yet when woken sees the
//! changed value instead, and the counts must add up either way).
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};

use user::mm::{mmap_anon, munmap, PAGE};
use user::sys::{self, nr};
use user::thread::{self, futex_wait, futex_wake, spawn, spawn_with_tls, thread_pointer, WAKE_ALL};
use user::time::{now_ns, sleep_ms, Timespec};
use user::{println, Checks, Errno};

const THREADS: usize = 4;
const INCREMENTS: usize = 10_000;

/// What each thread saw: tid, pid, thread pointer.
static SEEN: [[AtomicUsize; 3]; THREADS] = [const { [const { AtomicUsize::new(0) }; 3] }; THREADS];
static COUNTER: AtomicUsize = AtomicUsize::new(0);
static GO: AtomicU32 = AtomicU32::new(0);
/// Thread-local blocks, addressed through `TPIDR_EL0`.
static TLS: [AtomicUsize; THREADS] = [const { AtomicUsize::new(0) }; THREADS];

fn wait_for_go() {
    while GO.load(SeqCst) == 0 {
        let _ = futex_wait(&GO, 0, None, true);
    }
}

fn clone_semantics(t: &mut Checks) {
    let pid = sys::getpid();
    let main_tp = thread_pointer();
    let mut threads = [const { None }; THREADS];
    for (i, slot) in threads.iter_mut().enumerate() {
        let tls = &TLS[i] as *const AtomicUsize as usize;
        let spawned = spawn_with_tls(tls, move || {
            SEEN[i][0].store(sys::gettid() as usize, SeqCst);
            SEEN[i][1].store(sys::getpid() as usize, SeqCst);
            SEEN[i][2].store(thread_pointer(), SeqCst);
            // Through the thread pointer: this thread's own block.
            // SAFETY: TPIDR_EL0 holds &TLS[i], a static.
            unsafe { (*(thread_pointer() as *const AtomicUsize)).store(i + 1, SeqCst) };
            for _ in 0..INCREMENTS {
                COUNTER.fetch_add(1, SeqCst);
            }
            wait_for_go();
        });
        match spawned {
            Ok(th) => *slot = Some(th),
            Err(e) => t.fail("spawn", format_args!("thread {i}: {e:?}")),
        }
    }
    let spawned: usize = threads.iter().flatten().count();
    t.eq("spawn_4_threads", spawned, THREADS);
    let settid = threads
        .iter()
        .flatten()
        .all(|th| th.id_word().load(SeqCst) == th.tid());
    t.check(
        "parent_settid_writes_tid",
        settid,
        format_args!("an id word is not the thread's id"),
    );
    let distinct = threads.iter().flatten().all(|a| {
        a.tid() != pid
            && threads
                .iter()
                .flatten()
                .filter(|b| b.tid() == a.tid())
                .count()
                == 1
    });
    t.check(
        "thread_ids_distinct",
        distinct,
        format_args!("a thread id repeats or is the pid"),
    );
    // Let them finish their work, then release them.
    let deadline = now_ns() + 30_000_000_000;
    while COUNTER.load(SeqCst) < THREADS * INCREMENTS && now_ns() < deadline {
        let _ = sys::sched_yield();
    }
    GO.store(1, SeqCst);
    let _ = futex_wake(&GO, WAKE_ALL, true);
    let mut tids = [0u32; THREADS];
    for (i, th) in threads.into_iter().enumerate() {
        if let Some(th) = th {
            tids[i] = th.tid();
            th.join();
        }
    }
    println!("ok child_cleartid_join");
    t.eq("counter_exact", COUNTER.load(SeqCst), THREADS * INCREMENTS);
    let gettid_ok = (0..THREADS).all(|i| SEEN[i][0].load(SeqCst) == tids[i] as usize);
    t.check(
        "gettid_in_thread_is_clone_result",
        gettid_ok,
        format_args!("{:?} vs clone's", tids),
    );
    let pid_ok = (0..THREADS).all(|i| SEEN[i][1].load(SeqCst) == pid as usize);
    t.check(
        "getpid_in_thread_is_process_id",
        pid_ok,
        format_args!("a thread saw another pid"),
    );
    let tp_ok =
        (0..THREADS).all(|i| SEEN[i][2].load(SeqCst) == &TLS[i] as *const AtomicUsize as usize);
    t.check(
        "settls_sets_thread_pointer",
        tp_ok,
        format_args!("a thread's TPIDR_EL0 is not its tls"),
    );
    let tls_ok = (0..THREADS).all(|i| TLS[i].load(SeqCst) == i + 1);
    t.check(
        "thread_pointer_reaches_own_block",
        tls_ok,
        format_args!("TLS blocks not written"),
    );
    t.eq("main_thread_pointer_unchanged", thread_pointer(), main_tp);
    t.eq("main_still_main", sys::gettid(), pid);

    // Stacks and ids are reused: many short threads in a row.
    let mut ok = 0;
    for _ in 0..64 {
        if let Ok(th) = spawn(|| {}) {
            th.join();
            ok += 1;
        }
    }
    t.eq("spawn_join_64_in_a_row", ok, 64);
}

static WORD: AtomicU32 = AtomicU32::new(0);
static WAITS_WOKEN: AtomicUsize = AtomicUsize::new(0);
static WAITS_OTHER: AtomicUsize = AtomicUsize::new(0);

/// Waits until WORD changes, counting the waits that were woken (Ok) and
/// those that found the value changed already (-EAGAIN).
fn waiter(private: bool) {
    while WORD.load(SeqCst) == 0 {
        match futex_wait(&WORD, 0, None, private) {
            Ok(_) => WAITS_WOKEN.fetch_add(1, SeqCst),
            Err(Errno::EAGAIN) => 0,
            Err(_) => WAITS_OTHER.fetch_add(1, SeqCst),
        };
    }
}

fn futex_wakes(t: &mut Checks, name: &str, waiters: usize, private: bool) {
    WORD.store(0, SeqCst);
    WAITS_WOKEN.store(0, SeqCst);
    WAITS_OTHER.store(0, SeqCst);
    let mut threads = [const { None }; 3];
    for slot in threads.iter_mut().take(waiters) {
        *slot = spawn(move || waiter(private)).ok();
    }
    // Give them time to go to sleep (not needed for the checks to pass).
    sleep_ms(50);
    WORD.store(1, SeqCst);
    let mut woken = 0;
    let deadline = now_ns() + 30_000_000_000;
    loop {
        woken += futex_wake(&WORD, WAKE_ALL, private).unwrap_or(0);
        let running = threads
            .iter()
            .flatten()
            .any(|th| th.id_word().load(SeqCst) != 0);
        if !running || now_ns() > deadline {
            break;
        }
        sleep_ms(1);
    }
    for th in threads.into_iter().flatten() {
        th.join();
    }
    t.check(
        name,
        woken == WAITS_WOKEN.load(SeqCst) && WAITS_OTHER.load(SeqCst) == 0,
        format_args!(
            "wake counted {woken}, waiters woken {}, other errors {}",
            WAITS_WOKEN.load(SeqCst),
            WAITS_OTHER.load(SeqCst)
        ),
    );
}

fn futex_semantics(t: &mut Checks) {
    let word = AtomicU32::new(1);
    t.errno(
        "futex_wait_changed_value_eagain",
        futex_wait(&word, 0, None, false),
        Errno::EAGAIN,
    );
    t.errno(
        "futex_wait_changed_value_private_eagain",
        futex_wait(&word, 0, None, true),
        Errno::EAGAIN,
    );
    // A word on a page never touched: the kernel faults it in (the zero page) to read it,
    // with its futex lock dropped, and finds 0.
    if let Ok(page) = mmap_anon(PAGE) {
        // SAFETY: the first word of a fresh private page of ours, aligned, never touched.
        let fresh = unsafe { &*(page as *const AtomicU32) };
        t.errno(
            "futex_wait_on_an_untouched_page_reads_zero",
            futex_wait(fresh, 1, None, true),
            Errno::EAGAIN,
        );
        let _ = munmap(page, PAGE);
    }
    let before = now_ns();
    let r = futex_wait(&word, 1, Some(&Timespec::from_millis(20)), true);
    let waited = now_ns() - before;
    t.errno("futex_wait_timeout_etimedout", r, Errno::ETIMEDOUT);
    t.check(
        "futex_wait_timeout_waits",
        waited >= 20_000_000,
        format_args!("waited {waited} ns"),
    );
    // Many waits whose deadline passes while they check it (a debug kernel
    // panicked on the underflow of the time left within 0.1 s of this).
    let timed_out = (0..4000u64)
        .filter(|i| {
            let timeout = Timespec {
                sec: 0,
                nsec: (1 + i * 37 % 223) as i64 * 1000,
            };
            futex_wait(&word, 1, Some(&timeout), true) == Err(Errno::ETIMEDOUT)
        })
        .count();
    t.eq("futex_wait_short_timeouts_all_time_out", timed_out, 4000);
    t.errno(
        "futex_wait_zero_timeout_etimedout",
        futex_wait(&word, 1, Some(&Timespec::ZERO), false),
        Errno::ETIMEDOUT,
    );
    t.eq("futex_wake_no_waiters", futex_wake(&word, 1, false), Ok(0));
    t.eq(
        "futex_wake_no_waiters_private",
        futex_wake(&word, 1, true),
        Ok(0),
    );
    futex_wakes(t, "futex_wake_wakes_one_waiter", 1, false);
    futex_wakes(t, "futex_wake_wakes_one_waiter_private", 1, true);
    futex_wakes(t, "futex_wake_wakes_three_waiters", 3, true);

    let bad = Timespec {
        sec: 0,
        nsec: 1_000_000_000,
    };
    t.errno(
        "futex_wait_bad_timeout_einval",
        futex_wait(&word, 1, Some(&bad), true),
        Errno::EINVAL,
    );
    let gone = mmap_anon(PAGE).unwrap_or(0);
    let _ = munmap(gone, PAGE);
    // SAFETY: the kernel refuses the bad addresses; nothing is written.
    unsafe {
        let futex = |addr: usize, op: usize| sys::raw(nr::FUTEX, [addr, op, 0, 0, 0, 0]);
        t.errno(
            "futex_wait_unmapped_efault",
            futex(gone, thread::futex_op::WAIT),
            Errno::EFAULT,
        );
        t.errno(
            "futex_wait_kernel_address_efault",
            futex(0xffff_0000_0000_0000, 0),
            Errno::EFAULT,
        );
        let unaligned = word.as_ptr() as usize + 1;
        t.errno(
            "futex_wait_unaligned_einval",
            futex(unaligned, 0),
            Errno::EINVAL,
        );
        t.errno(
            "futex_unknown_op_enosys",
            futex(word.as_ptr() as usize, 99),
            Errno::ENOSYS,
        );
        // Linux's order and argument widths.
        let full = |addr: usize, op: usize, val: usize, timeout: usize| {
            sys::raw(nr::FUTEX, [addr, op, val, timeout, 0, 0])
        };
        let (wait, wake, private) = (
            thread::futex_op::WAIT,
            thread::futex_op::WAKE,
            thread::futex_op::PRIVATE_FLAG,
        );
        const CLOCK_REALTIME: usize = 256;
        const KERNEL: usize = 0xffff_0000_0000_0000;
        t.errno(
            "futex_wake_above_user_range_efault",
            full(1 << 48, wake | private, 1, 0),
            Errno::EFAULT,
        );
        t.errno(
            "futex_wake_shared_unmapped_efault",
            full(gone, wake, 1, 0),
            Errno::EFAULT,
        );
        t.eq(
            "futex_wake_private_unmapped_wakes_none",
            full(gone, wake | private, 1, 0),
            Ok(0),
        );
        t.errno(
            "futex_clock_realtime_with_wait_enosys",
            full(word.as_ptr() as usize, wait | CLOCK_REALTIME, 1, 0),
            Errno::ENOSYS,
        );
        t.errno(
            "futex_timeout_read_before_alignment_efault",
            full(unaligned, wait | private, 1, KERNEL),
            Errno::EFAULT,
        );
        t.errno(
            "futex_unknown_op_reads_no_timeout_enosys",
            full(word.as_ptr() as usize, 99, 0, KERNEL),
            Errno::ENOSYS,
        );
        t.eq(
            "futex_op_upper_half_ignored",
            full(word.as_ptr() as usize, (1 << 32) | wake | private, 1, 0),
            Ok(0),
        );
        t.eq(
            "futex_val_upper_half_ignored",
            full(
                word.as_ptr() as usize,
                (1 << 40) | wake | private,
                1 << 32,
                0,
            ),
            Ok(0),
        );
    }
}

/// The CPU the caller runs on (`getcpu`).
fn getcpu() -> Result<u32, Errno> {
    let mut cpu = 0u32;
    // SAFETY: getcpu writes one u32 through a valid pointer; node and cache are NULL.
    let r = unsafe { sys::syscall6(168, [&mut cpu as *mut u32 as usize, 0, 0, 0, 0, 0]) };
    user::errno::result(r).map(|_| cpu)
}

/// Four threads that spin at once run on more than one CPU (the machine has
/// four): the scheduler spreads one process's threads, and `getcpu` says
/// where each one ran.
fn threads_run_in_parallel(t: &mut Checks) {
    static SEEN: AtomicU32 = AtomicU32::new(0);
    static READY: AtomicU32 = AtomicU32::new(0);
    let mut threads: [Option<thread::Thread>; 4] = [const { None }; 4];
    for slot in threads.iter_mut() {
        *slot = spawn(|| {
            READY.fetch_add(1, SeqCst);
            // Spin until all four exist, then a while longer, noting the CPU.
            let start = now_ns();
            while READY.load(SeqCst) < 4 || now_ns() - start < 50_000_000 {
                if let Ok(cpu) = getcpu() {
                    SEEN.fetch_or(1 << (cpu % 32), SeqCst);
                }
                if now_ns() - start > 2_000_000_000 {
                    break;
                }
            }
        })
        .ok();
    }
    for th in threads.iter_mut().filter_map(Option::take) {
        th.join();
    }
    let cpus = SEEN.load(SeqCst).count_ones();
    t.check(
        "threads_run_on_several_cpus",
        cpus >= 2,
        format_args!("4 spinning threads all ran on one CPU"),
    );
}

/// `CLOCK_PROCESS_CPUTIME_ID` counts every thread of the process, those
/// that have exited too; `CLOCK_THREAD_CPUTIME_ID` only the caller.
fn process_cpu_time(t: &mut Checks) {
    let clock_ns = |id: usize| {
        let mut ts = Timespec::default();
        // SAFETY: writes one timespec into `ts`.
        let r = unsafe {
            sys::raw(
                nr::CLOCK_GETTIME,
                [id, &mut ts as *mut Timespec as usize, 0, 0, 0, 0],
            )
        };
        r.map(|_| ts.as_nanos())
    };
    let (Ok(process0), Ok(thread0)) = (clock_ns(2), clock_ns(3)) else {
        t.fail("cputime_clocks", format_args!("clock_gettime failed"));
        return;
    };
    // A thread that spins for 100 ms of wall time, then exits.
    match spawn(|| {
        let end = now_ns() + 100_000_000;
        while now_ns() < end {
            core::hint::spin_loop();
        }
    }) {
        Ok(th) => th.join(),
        Err(e) => {
            t.fail("cputime_spawn", format_args!("{e:?}"));
            return;
        }
    }
    let (process1, thread1) = (clock_ns(2).unwrap_or(0), clock_ns(3).unwrap_or(0));
    let others = (process1 - process0).saturating_sub(thread1 - thread0);
    t.check(
        "process_cputime_counts_an_exited_thread",
        others >= 50_000_000,
        format_args!("the other thread's share: {others} ns"),
    );
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    clone_semantics(&mut t);
    futex_semantics(&mut t);
    threads_run_in_parallel(&mut t);
    process_cpu_time(&mut t);
    // Last: a thread ends the process with exit_group while the main thread
    // sleeps in a futex wait that nothing wakes. The status is the checks'.
    let status = t.status();
    println!("ok exit_group_from_thread_follows");
    let spawned = spawn(move || sys::exit_group(status));
    if spawned.is_err() {
        t.fail("exit_group_from_thread", format_args!("spawn failed"));
        return t.status();
    }
    let never = AtomicU32::new(0);
    loop {
        let _ = futex_wait(&never, 0, None, true);
    }
}

user::entry!(main);
