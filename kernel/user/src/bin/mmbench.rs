//! The memory-management benchmark run side by side on Linux and on this kernel
//! (`cargo xtask bench`, issue 8, DESIGN.md §6): the same static executable, the
//! same QEMU machine. Times come from `CNTVCT_EL0`/`CNTFRQ_EL0`; each figure is
//! measured `runs` times and printed as one line,
//! `bench name=.. unit=.. median=.. min=.. max=.. runs=..`, or
//! `bench name=.. unit=.. na=<reason>` where a kernel lacks what it needs (the
//! private system calls of this kernel answer -ENOSYS on Linux).
//!
//! Every range gets `madvise(MADV_NOHUGEPAGE)` so that both kernels take 4 KiB
//! faults (Debian's kernels enable transparent huge pages). Arguments:
//! `runs=N` (default 5).
#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use user::mm::{self, advice, prot, PAGE};
use user::sys::{kstat, nr};
use user::{println, thread, Errno};

/// System calls the runtime has no number for (asm-generic/unistd.h).
mod more_nr {
    pub const SCHED_SETAFFINITY: usize = 122;
    pub const GETCPU: usize = 168;
    pub const GETPPID: usize = 173;
    /// No kernel implements it: Linux's system-call table ends near 460.
    pub const INVALID: usize = 0x7ff;
}

/// Pages in every large range: 16 MiB.
const PAGES: usize = 4096;
/// Iterations of the one-page loops and of the null system call, per run.
const LOOP: usize = 256;
const SYSCALL_LOOP: usize = 2000;
const MAX_RUNS: usize = 64;

/// A system call whose arguments are integers or pointers to live locals of
/// the size it reads or writes; the raw result.
fn sys(n: usize, a: [usize; 6]) -> isize {
    // SAFETY: every caller passes integers, or pointers to live locals of the
    // size call `n` reads or writes.
    unsafe { user::sys::syscall6(n, a) }
}

fn sys0(n: usize) -> isize {
    sys(n, [0; 6])
}

/// Stops the benchmark with a line the host tool reports.
fn fail(what: &str, e: Errno) -> ! {
    println!("bench error what={what} errno={e}");
    user::sys::exit_group(1)
}

// ---- time ------------------------------------------------------------------

fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reads the virtual counter, enabled at EL0 by both kernels; the
    // barriers keep the read from moving across the measured work.
    unsafe { asm!("isb", "mrs {t}, cntvct_el0", "isb", t = out(reg) t, options(nostack)) };
    t
}

fn frequency() -> u64 {
    let f: u64;
    // SAFETY: reads a read-only register that EL0 may read.
    unsafe { asm!("mrs {f}, cntfrq_el0", f = out(reg) f, options(nostack, nomem)) };
    f
}

static FREQ: AtomicU64 = AtomicU64::new(1);

fn ns(ticks: u64) -> f64 {
    ticks as f64 * 1e9 / FREQ.load(Ordering::Relaxed) as f64
}

/// Runs `f` and returns the nanoseconds it took.
fn timed(f: impl FnOnce()) -> f64 {
    let t0 = ticks();
    f();
    ns(ticks() - t0)
}

// ---- figures ---------------------------------------------------------------

/// The runs of one figure.
struct Figure {
    name: &'static str,
    unit: &'static str,
    v: [f64; MAX_RUNS],
    n: usize,
}

impl Figure {
    const fn new(name: &'static str, unit: &'static str) -> Figure {
        Figure {
            name,
            unit,
            v: [0.0; MAX_RUNS],
            n: 0,
        }
    }

    fn push(&mut self, x: f64) {
        if self.n < MAX_RUNS {
            self.v[self.n] = x;
            self.n += 1;
        }
    }

    fn print(&mut self) {
        let v = &mut self.v[..self.n];
        if v.is_empty() {
            return na(self.name, self.unit, "no-runs");
        }
        v.sort_unstable_by(f64::total_cmp);
        println!(
            "bench name={} unit={} median={:.1} min={:.1} max={:.1} runs={}",
            self.name,
            self.unit,
            v[v.len() / 2],
            v[0],
            v[v.len() - 1],
            v.len()
        );
    }
}

fn na(name: &str, unit: &str, reason: &str) {
    println!("bench name={name} unit={unit} na={reason}");
}

// ---- memory ----------------------------------------------------------------

/// An anonymous private read-write mapping of `pages` pages, with transparent
/// huge pages refused (where the kernel knows madvise).
fn map(pages: usize) -> *mut u8 {
    let p = mm::mmap_anon(pages * PAGE).unwrap_or_else(|e| fail("mmap", e));
    nohugepage(p as *mut u8, pages);
    p as *mut u8
}

fn nohugepage(p: *mut u8, pages: usize) {
    match mm::madvise(p as usize, pages * PAGE, advice::NOHUGEPAGE) {
        Ok(()) | Err(Errno::ENOSYS) => {}
        Err(e) => fail("madvise", e),
    }
}

fn unmap(p: *mut u8, pages: usize) {
    mm::munmap(p as usize, pages * PAGE).unwrap_or_else(|e| fail("munmap", e));
}

fn protect(p: *mut u8, pages: usize, prot: u32) {
    mm::mprotect(p as usize, pages * PAGE, prot).unwrap_or_else(|e| fail("mprotect", e));
}

fn write_pages(p: *mut u8, pages: usize) {
    for i in 0..pages {
        // SAFETY: p maps `pages` writable pages.
        unsafe { p.add(i * PAGE).write_volatile(1) };
    }
}

fn read_pages(p: *const u8, pages: usize) -> u64 {
    let mut sum = 0u64;
    for i in 0..pages {
        // SAFETY: p maps `pages` readable pages.
        sum += u64::from(unsafe { p.add(i * PAGE).read_volatile() });
    }
    sum
}

fn faults() -> Option<u64> {
    user::sys::page_faults().ok()
}

fn counter(id: usize) -> Option<u64> {
    user::sys::kernel_stat(id).ok()
}

// ---- threads ---------------------------------------------------------------

/// What the second thread does once it has touched the memory.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Spin,
    Sleep,
}

/// Shared between the measuring thread and the second thread.
struct Shared {
    /// 1 once the second thread has touched every page.
    ready: AtomicU32,
    /// Set to 1 to let the second thread exit.
    stop: AtomicU32,
    /// The CPU the second thread ran on (getcpu), or u32::MAX.
    cpu: AtomicU32,
    /// The two ranges it touches: (address, pages) each.
    ranges: [AtomicU64; 4],
}

static SHARED: Shared = Shared {
    ready: AtomicU32::new(0),
    stop: AtomicU32::new(0),
    cpu: AtomicU32::new(u32::MAX),
    ranges: [const { AtomicU64::new(0) }; 4],
};

/// Pins the calling thread to `cpu`; false where the kernel cannot.
fn pin(cpu: usize) -> bool {
    let mask: u64 = 1 << cpu;
    sys(
        more_nr::SCHED_SETAFFINITY,
        [0, 8, &mask as *const u64 as usize, 0, 0, 0],
    ) == 0
}

fn current_cpu() -> u32 {
    let mut cpu: u32 = u32::MAX;
    if sys(
        more_nr::GETCPU,
        [&mut cpu as *mut u32 as usize, 0, 0, 0, 0, 0],
    ) < 0
    {
        return u32::MAX;
    }
    cpu
}

/// The second thread: on CPU 1, touch both ranges, then spin or sleep until told to stop.
fn second(mode: Mode) {
    pin(1);
    let s = &SHARED;
    s.cpu.store(current_cpu(), Ordering::Relaxed);
    for r in 0..2 {
        let p = s.ranges[2 * r].load(Ordering::Relaxed) as *const u8;
        read_pages(p, s.ranges[2 * r + 1].load(Ordering::Relaxed) as usize);
    }
    s.ready.store(1, Ordering::Release);
    while s.stop.load(Ordering::Acquire) == 0 {
        match mode {
            Mode::Sleep => {
                let _ = thread::futex_wait(&s.stop, 0, None, false);
            }
            Mode::Spin => core::hint::spin_loop(),
        }
    }
}

// ---- the benchmark ---------------------------------------------------------

fn per_page(ns: f64, pages: usize) -> f64 {
    ns / pages as f64
}

/// mmap of 4096 pages, first-touch write and read faults, munmap, mprotect.
fn single_thread(runs: usize) {
    let mut mmap = Figure::new("mmap", "ns/page");
    let mut fw = Figure::new("fault_write", "ns/page");
    let mut fr = Figure::new("fault_read", "ns/page");
    let mut mu = Figure::new("munmap", "ns/page");
    let mut ro = Figure::new("mprotect_ro", "ns/page");
    let mut rw = Figure::new("mprotect_rw", "ns/page");
    // -1: the kernel cannot count them.
    let mut faults_write = -1i64;
    let mut faults_read = -1i64;
    for _ in 0..runs {
        let mut p = Ok(0);
        let t = timed(|| p = mm::mmap_anon(PAGES * PAGE));
        let p = p.unwrap_or_else(|e| fail("mmap", e)) as *mut u8;
        mmap.push(per_page(t, PAGES));
        nohugepage(p, PAGES);
        let f0 = faults();
        fw.push(per_page(timed(|| write_pages(p, PAGES)), PAGES));
        if let (Some(a), Some(b)) = (f0, faults()) {
            faults_write = (b - a) as i64;
        }
        ro.push(per_page(timed(|| protect(p, PAGES, prot::READ)), PAGES));
        rw.push(per_page(timed(|| protect(p, PAGES, prot::RW)), PAGES));
        mu.push(per_page(timed(|| unmap(p, PAGES)), PAGES));

        let q = map(PAGES);
        let f0 = faults();
        fr.push(per_page(
            timed(|| {
                read_pages(q, PAGES);
            }),
            PAGES,
        ));
        if let (Some(a), Some(b)) = (f0, faults()) {
            faults_read = (b - a) as i64;
        }
        unmap(q, PAGES);
    }
    for f in [&mut mmap, &mut fw, &mut fr, &mut mu, &mut ro, &mut rw] {
        f.print();
    }
    // A check, not a figure: 4096 faults for 4096 pages means 4 KiB pages.
    println!("bench check name=fault_write faults={faults_write} pages={PAGES}");
    println!("bench check name=fault_read faults={faults_read} pages={PAGES}");
}

/// munmap and mprotect while a second thread on CPU 1 has touched the memory
/// and keeps running (spinning) or sleeps in futex_wait.
fn cross_cpu(runs: usize, mode: Mode) {
    let (mu, ro, rw) = match mode {
        Mode::Spin => (
            "xcpu_spin_munmap",
            "xcpu_spin_mprotect_ro",
            "xcpu_spin_mprotect_rw",
        ),
        Mode::Sleep => (
            "xcpu_sleep_munmap",
            "xcpu_sleep_mprotect_ro",
            "xcpu_sleep_mprotect_rw",
        ),
    };
    let (mut mu, mut ro, mut rw) = (
        Figure::new(mu, "ns/page"),
        Figure::new(ro, "ns/page"),
        Figure::new(rw, "ns/page"),
    );
    let mut cpus = (u32::MAX, u32::MAX);
    let s = &SHARED;
    for _ in 0..runs {
        let a = map(PAGES);
        let b = map(PAGES);
        write_pages(a, PAGES);
        write_pages(b, PAGES);
        for (i, p) in [a, b].into_iter().enumerate() {
            s.ranges[2 * i].store(p as u64, Ordering::Relaxed);
            s.ranges[2 * i + 1].store(PAGES as u64, Ordering::Relaxed);
        }
        s.ready.store(0, Ordering::Relaxed);
        s.stop.store(0, Ordering::Release);
        let t = thread::spawn(move || second(mode)).unwrap_or_else(|e| fail("clone", e));
        while s.ready.load(Ordering::Acquire) == 0 {
            core::hint::spin_loop();
        }
        if mode == Mode::Sleep {
            // Time to reach futex_wait, and for its CPU to go idle.
            user::time::sleep_ms(5);
        }
        cpus = (current_cpu(), s.cpu.load(Ordering::Relaxed));
        ro.push(per_page(timed(|| protect(b, PAGES, prot::READ)), PAGES));
        rw.push(per_page(timed(|| protect(b, PAGES, prot::RW)), PAGES));
        mu.push(per_page(timed(|| unmap(a, PAGES)), PAGES));
        s.stop.store(1, Ordering::Release);
        let _ = thread::futex_wake(&s.stop, 1, false);
        t.join();
        unmap(b, PAGES);
    }
    for f in [&mut mu, &mut ro, &mut rw] {
        f.print();
    }
    let name = if mode == Mode::Spin {
        "xcpu_spin"
    } else {
        "xcpu_sleep"
    };
    println!(
        "bench check name={name} cpu_main={} cpu_second={}",
        cpus.0 as i32, cpus.1 as i32
    );
}

/// A loop of mmap 1 page / munmap, and mmap / touch / munmap.
fn one_page_loops(runs: usize) {
    let mut a = Figure::new("loop_mmap_munmap", "ns/op");
    let mut b = Figure::new("loop_mmap_touch_munmap", "ns/op");
    for _ in 0..runs {
        a.push(
            timed(|| {
                for _ in 0..LOOP {
                    let p = map(1);
                    unmap(p, 1);
                }
            }) / LOOP as f64,
        );
        b.push(
            timed(|| {
                for _ in 0..LOOP {
                    let p = map(1);
                    write_pages(p, 1);
                    unmap(p, 1);
                }
            }) / LOOP as f64,
        );
    }
    a.print();
    b.print();
}

const SIZES: [(usize, &str, &str, &str); 4] = [
    (1, "munmap_1", "dma_munmap_1", "dma_munmap_1_smmu_cmds"),
    (16, "munmap_16", "dma_munmap_16", "dma_munmap_16_smmu_cmds"),
    (
        512,
        "munmap_512",
        "dma_munmap_512",
        "dma_munmap_512_smmu_cmds",
    ),
    (
        4096,
        "munmap_4096",
        "dma_munmap_4096",
        "dma_munmap_4096_smmu_cmds",
    ),
];

/// munmap of 1, 16, 512 and 4096 touched pages: without the DMA device, then
/// (this kernel only) with it attached, with the SMMU commands each one issued.
fn munmap_sizes(runs: usize, dma: bool) {
    for (pages, plain, with_dma, cmds) in SIZES {
        let name = if dma { with_dma } else { plain };
        let mut t = Figure::new(name, "ns/page");
        let mut c = Figure::new(cmds, "cmds");
        let mut tlbi = 0;
        for _ in 0..runs {
            let p = map(pages);
            write_pages(p, pages);
            let k0 = counter(kstat::SMMU_COMMANDS);
            let i0 = counter(kstat::SMMU_TLBI);
            t.push(per_page(timed(|| unmap(p, pages)), pages));
            if let (Some(a), Some(b)) = (k0, counter(kstat::SMMU_COMMANDS)) {
                c.push((b - a) as f64);
            }
            if let (Some(a), Some(b)) = (i0, counter(kstat::SMMU_TLBI)) {
                tlbi = b - a;
            }
        }
        t.print();
        if dma {
            c.print();
            println!("bench check name={name} smmu_tlbi={tlbi}");
        }
    }
}

/// The floor of a fault: a null system call's round trip (two of them: getppid
/// and an unimplemented number) and zeroing one 4 KiB page, in the kernel
/// where it can say (this kernel's `floor_zero_page`) and in user space.
fn floor(runs: usize) {
    let mut getppid = Figure::new("floor_syscall_getppid", "ns/op");
    let mut invalid = Figure::new("floor_syscall_invalid", "ns/op");
    let mut kzero = Figure::new("floor_zero_page_kernel", "ns/page");
    let mut uzero = Figure::new("floor_zero_page_user", "ns/page");
    let page = map(1);
    write_pages(page, 1);
    let mut kernel_zero = Ok(());
    for _ in 0..runs {
        getppid.push(
            timed(|| {
                for _ in 0..SYSCALL_LOOP {
                    sys0(more_nr::GETPPID);
                }
            }) / SYSCALL_LOOP as f64,
        );
        invalid.push(
            timed(|| {
                for _ in 0..SYSCALL_LOOP {
                    sys0(more_nr::INVALID);
                }
            }) / SYSCALL_LOOP as f64,
        );
        uzero.push(
            timed(|| {
                for _ in 0..SYSCALL_LOOP {
                    zero_page(page);
                }
            }) / SYSCALL_LOOP as f64,
        );
        let k = sys(nr::FLOOR_ZERO_PAGE, [SYSCALL_LOOP, 0, 0, 0, 0, 0]);
        if k < 0 {
            kernel_zero = Err(Errno(-k as i32));
        } else {
            kzero.push(ns(k as u64) / SYSCALL_LOOP as f64);
        }
    }
    unmap(page, 1);
    getppid.print();
    invalid.print();
    match kernel_zero {
        Ok(()) => kzero.print(),
        Err(e) => na(kzero.name, kzero.unit, e.name().unwrap_or("error")),
    }
    uzero.print();
}

/// `clock_gettime(CLOCK_MONOTONIC)` through the vDSO and as a system call (per call).
fn clocks(runs: usize, args: &user::Args) {
    let mut syscall = Figure::new("clock_gettime_syscall", "ns/op");
    let mut vdso = Figure::new("clock_gettime_vdso", "ns/op");
    let gettime = user::vdso::Vdso::from_auxv(args).and_then(|v| v.clock_gettime());
    let mut ts = user::time::Timespec::default();
    for _ in 0..runs {
        syscall.push(
            timed(|| {
                for _ in 0..SYSCALL_LOOP {
                    let _ = user::time::clock_gettime(user::time::Clock::Monotonic);
                }
            }) / SYSCALL_LOOP as f64,
        );
        if let Some(f) = gettime {
            vdso.push(
                timed(|| {
                    for _ in 0..SYSCALL_LOOP {
                        // SAFETY: writes one timespec into `ts`.
                        unsafe { f(1, &mut ts) };
                    }
                }) / SYSCALL_LOOP as f64,
            );
        }
    }
    syscall.print();
    match gettime {
        Some(_) => vdso.print(),
        None => na(vdso.name, vdso.unit, "no_vdso"),
    }
}

/// Zeroes one page the way kernels clear pages: `dc zva` in blocks of the size
/// DCZID_EL0 gives, or plain stores where DC ZVA is prohibited.
fn zero_page(p: *mut u8) {
    let dczid: u64;
    // SAFETY: DCZID_EL0 is readable at EL0.
    unsafe { asm!("mrs {d}, dczid_el0", d = out(reg) dczid, options(nostack, nomem)) };
    if dczid & 0x10 != 0 {
        // SAFETY: p maps one writable page.
        unsafe { core::ptr::write_bytes(p, 0, PAGE) };
        return;
    }
    let block = 4usize << (dczid & 0xf);
    let mut a = p as usize;
    while a < p as usize + PAGE {
        // SAFETY: a is inside the writable page p, aligned to the block size
        // (pages are aligned to every DC ZVA block size).
        unsafe { asm!("dc zva, {a}", a = in(reg) a, options(nostack)) };
        a += block;
    }
}

// ---- processes -------------------------------------------------------------

/// Pages touched before the fork figures: 64 MiB.
const FORK_PAGES: usize = 16384;
/// Forks of a small process per run.
const FORK_LOOP: usize = 32;

static SIG_SEEN: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_usr1(_: i32, _: *const user::signal::SigInfo, _: *mut user::signal::UContext) {
    SIG_SEEN.fetch_add(1, Ordering::Relaxed);
}

fn fork_child_exit(code: i32) -> usize {
    match user::process::fork() {
        Ok(0) => user::sys::exit_group(code),
        Ok(pid) => pid,
        Err(e) => fail("fork", e),
    }
}

fn reap(pid: usize) {
    if let Err(e) = user::process::wait4(pid as isize, 0) {
        fail("wait4", e);
    }
}

/// fork of a process with 64 MiB touched (per MiB); the parent's first write to each
/// page after the fork (per page: a copy-on-write break, the child still holding the
/// page); fork + exit + wait of a small process (per op); a signal's round trip (kill to
/// self, handler, sigreturn).
fn processes(runs: usize) {
    let mut fork_big = Figure::new("fork_64m", "ns/MiB");
    let mut cow = Figure::new("cow_first_write", "ns/page");
    let mut small = Figure::new("fork_exit_wait", "ns/op");
    let mut sig = Figure::new("signal_round_trip", "ns/op");
    let p = map(FORK_PAGES);
    write_pages(p, FORK_PAGES);
    for _ in 0..runs {
        // The child waits on a word in shared memory until the parent has written
        // every page, so that each write is a COW break that copies.
        let flag = mm::mmap(
            0,
            PAGE,
            prot::RW,
            mm::map::SHARED | mm::map::ANONYMOUS,
            -1,
            0,
        )
        .unwrap_or_else(|e| fail("mmap_shared", e)) as *mut u64;
        let mut pid = 0;
        fork_big.push(
            timed(|| {
                pid = match user::process::fork() {
                    Ok(0) => {
                        // SAFETY: the shared flag page.
                        while unsafe { core::ptr::read_volatile(flag) } == 0 {
                            let _ = user::sys::sched_yield();
                        }
                        user::sys::exit_group(0)
                    }
                    Ok(pid) => pid,
                    Err(e) => fail("fork", e),
                };
            }) / ((FORK_PAGES * PAGE) >> 20) as f64,
        );
        cow.push(per_page(timed(|| write_pages(p, FORK_PAGES)), FORK_PAGES));
        // SAFETY: the shared flag page.
        unsafe { core::ptr::write_volatile(flag, 1) };
        reap(pid);
        mm::munmap(flag as usize, PAGE).unwrap_or_else(|e| fail("munmap", e));
    }
    unmap(p, FORK_PAGES);
    for _ in 0..runs {
        small.push(
            timed(|| {
                for _ in 0..FORK_LOOP {
                    reap(fork_child_exit(0));
                }
            }) / FORK_LOOP as f64,
        );
    }
    let act = user::signal::SigAction::handler(on_usr1, 0, 0);
    if let Err(e) = user::signal::sigaction(user::signal::SIGUSR1, Some(&act), None) {
        fail("sigaction", e);
    }
    let me = user::sys::getpid() as isize;
    for _ in 0..runs {
        sig.push(
            timed(|| {
                for _ in 0..LOOP {
                    let _ = user::signal::kill(me, user::signal::SIGUSR1);
                }
            }) / LOOP as f64,
        );
    }
    if SIG_SEEN.load(Ordering::Relaxed) as usize != runs * LOOP {
        println!("bench error what=signal_count errno=0");
    }
    fork_big.print();
    cow.print();
    small.print();
    sig.print();
}

/// Bytes the pipe figure moves per run.
const PIPE_BYTES: usize = 4 << 20;
/// Execs per run of the exec figure.
const EXEC_LOOP: usize = 16;

/// A pipe between two processes (per MiB: a forked child writes 4 MiB in 64 KiB
/// writes, the parent reads them in 64 KiB reads); vfork + execve + exit + wait4 of a
/// static program (this one, which exits at once with `exit`) per op.
fn files(runs: usize) {
    let mut pipe = Figure::new("pipe_mib", "ns/MiB");
    let mut exec = Figure::new("fork_exec_wait", "ns/op");
    let buf = map(16);
    for _ in 0..runs {
        let [r, w] = user::fs::pipe2(0).unwrap_or_else(|e| fail("pipe2", e));
        // SAFETY: `buf` is 16 mapped pages of ours.
        let chunk = unsafe { core::slice::from_raw_parts_mut(buf, 16 * PAGE) };
        pipe.push(
            timed(|| {
                let pid = match user::process::fork() {
                    Ok(0) => {
                        let _ = user::fs::close(r);
                        let mut sent = 0;
                        while sent < PIPE_BYTES {
                            match user::fs::write(w, &chunk[..(PIPE_BYTES - sent).min(chunk.len())])
                            {
                                Ok(n) => sent += n,
                                Err(_) => user::sys::exit_group(1),
                            }
                        }
                        user::sys::exit_group(0)
                    }
                    Ok(pid) => pid,
                    Err(e) => fail("fork", e),
                };
                let _ = user::fs::close(w);
                let mut got = 0;
                loop {
                    match user::fs::read(r, chunk) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) => fail("read", e),
                    }
                }
                if got != PIPE_BYTES {
                    println!("bench error what=pipe_bytes errno=0");
                }
                reap(pid);
            }) / (PIPE_BYTES >> 20) as f64,
        );
        let _ = user::fs::close(r);
    }
    unmap(buf, 16);
    let me = b"/bin/mmbench\0";
    let argv = [me.as_ptr(), c"exit".as_ptr().cast(), core::ptr::null()];
    let envp = [core::ptr::null()];
    for _ in 0..runs {
        exec.push(
            timed(|| {
                for _ in 0..EXEC_LOOP {
                    let mut errno = 0i64;
                    let pid = user::process::vfork_exec(me, &argv, &envp, &mut errno)
                        .unwrap_or_else(|e| fail("vfork", e));
                    reap(pid);
                    if errno != 0 {
                        println!("bench error what=execve errno={}", -errno);
                    }
                }
            }) / EXEC_LOOP as f64,
        );
    }
    pipe.print();
    exec.print();
}

fn main(args: &user::Args) -> i32 {
    if args.arg(1) == Some("exit") {
        // The exec figure's program: nothing to do.
        return 0;
    }
    let runs = args
        .args()
        .filter_map(|a| a.strip_prefix("runs="))
        .find_map(|n| n.parse().ok())
        .unwrap_or(5usize)
        .clamp(1, MAX_RUNS);
    FREQ.store(frequency(), Ordering::Relaxed);
    let pinned = pin(0);
    println!(
        "bench start cntfrq={} runs={runs} pages={PAGES} pinned={pinned} cpu={}",
        frequency(),
        current_cpu() as i32
    );
    single_thread(runs);
    cross_cpu(runs, Mode::Spin);
    cross_cpu(runs, Mode::Sleep);
    one_page_loops(runs);
    floor(runs);
    clocks(runs, args);
    processes(runs);
    files(runs);
    munmap_sizes(runs, false);
    // Last: from here on every munmap and mprotect also invalidates the SMMU.
    match user::sys::dma_attach() {
        Ok(_) => munmap_sizes(runs, true),
        Err(e) => {
            let reason = e.name().unwrap_or("error");
            for (_, _, dma, cmds) in SIZES {
                na(dma, "ns/page", reason);
                na(cmds, "cmds", reason);
            }
        }
    }
    println!("bench done");
    0
}

user::entry!(main);
