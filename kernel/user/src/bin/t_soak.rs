//! The soak: `t_soak <seconds> [until-rollover]`. Four threads (on four CPUs where
//! the kernel spreads them) hammer the memory system for `seconds`, each in
//! its own region at a fixed address (and as many again in each of
//! [`SIBLINGS`] more processes, forked once the baseline is taken, which
//! report their own checks through their exit status): map (private or shared), touch and
//! check every page's tag, protect read-only and back, remap (grow in place,
//! shrink, move to its other half), discard, unmap; and between operations
//! they wait on a shared futex word with short timeouts (1-223 µs, the
//! deadlines passing while they are checked). Where the kernel has a DMA
//! device (`dma_attach`), one more thread copies through it in a loop.
//!
//! Every page read must hold its own tag (never another page's, never a
//! freed frame's), every call must succeed or fail as expected, and at the
//! end the kernel's free frames, the address space's table pages and the
//! number of live address spaces (each holds an ASID, its tables and its
//! frames) must be back where they were before the stress (a leak, or a frame freed twice,
//! shows as a difference). The output is the same on Linux, which has no
//! DMA device and none of this kernel's counters (those checks are skipped
//! there, saying so). With `until-rollover` (this kernel only, built with
//! 8-bit ASIDs) the stress goes on past `seconds` until the forked children
//! have rolled the ASID allocator over, for at most a minute.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};

use user::mm::{
    fill, find_mismatch, madvise, map, mmap, mprotect, mremap, mremap_flags as mr, munmap, peek,
    poke, prot, PAGE,
};
use user::process::{fork, wait4};
use user::sys::{audit_layout, dma_attach, dma_copy, kernel_stat};
use user::thread::{futex_wait, spawn};
use user::time::{now_ns, Timespec};
use user::{println, Checks};

const WORKERS: usize = 4;
/// Each worker's region: two halves of `HALF` pages, the area lives in one.
const HALF: usize = 16;
const BASE: usize = 0x5000_0000_0000;
const REGION: usize = 2 * HALF * PAGE;

/// Counter ids of this kernel's `kstat` (Linux: ENOSYS).
const KSTAT_FREE_FRAMES: usize = 3;
const KSTAT_TABLE_PAGES: usize = 4;
const KSTAT_ADDRESS_SPACES: usize = 5;
const KSTAT_ASID_ROLLOVERS: usize = 6;
/// The longest an `until-rollover` soak goes on.
const ROLLOVER_CAP_S: u64 = 60;

static STOP_AT: AtomicU64 = AtomicU64::new(0);
static WORD: AtomicU32 = AtomicU32::new(0);
static WRONG_TAG: AtomicU32 = AtomicU32::new(0);
static CALL_FAILED: AtomicU32 = AtomicU32::new(0);
static FUTEX_WRONG: AtomicU32 = AtomicU32::new(0);
static ROUNDS: AtomicU64 = AtomicU64::new(0);
static DMA_COPIES: AtomicU64 = AtomicU64::new(0);
static DMA_FAILED: AtomicU32 = AtomicU32::new(0);
static FORKS: AtomicU64 = AtomicU64::new(0);
static FORK_FAILED: AtomicU32 = AtomicU32::new(0);
/// Start and end handshakes: every thread does one warm-up round (its stack
/// and the region's tables reach their working depth) and checks in; the
/// baseline is read; `GO` starts the stress; every thread checks out when
/// its time is up and waits for `EXIT`, so the counters are read while
/// nothing runs.
static READY: AtomicU32 = AtomicU32::new(0);
static GO: AtomicBool = AtomicBool::new(false);
static FINISHED: AtomicU32 = AtomicU32::new(0);
static EXIT: AtomicBool = AtomicBool::new(false);

fn check_in_and_wait() {
    READY.fetch_add(1, SeqCst);
    while !GO.load(SeqCst) {
        let _ = user::sys::sched_yield();
    }
}

fn check_out_and_wait() {
    FINISHED.fetch_add(1, SeqCst);
    while !EXIT.load(SeqCst) {
        let _ = user::sys::sched_yield();
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ok<T>(r: Result<T, user::Errno>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(_) => {
            CALL_FAILED.fetch_add(1, SeqCst);
            None
        }
    }
}

fn tag(worker: usize, round: u64) -> impl Fn(usize) -> u64 {
    move |page| (worker as u64) << 56 | (round & 0xff_ffff) << 24 | page as u64
}

/// One round in the worker's region: the area starts in one half.
fn round(w: usize, rng: &mut Rng, r: u64) {
    let region = BASE + w * REGION;
    let half = if r.is_multiple_of(2) { 0 } else { HALF * PAGE };
    let at = region + half;
    let pages = 1 + rng.below(HALF as u64 / 2) as usize;
    let flags = if rng.below(4) == 0 {
        map::SHARED | map::ANONYMOUS
    } else {
        map::ANON
    };
    if ok(mmap(at, pages * PAGE, prot::RW, flags | map::FIXED, -1, 0)).is_none() {
        return;
    }
    let t = tag(w, r);
    // SAFETY: the worker's own fresh mapping of `pages` pages.
    unsafe { fill(at, pages, &t) };
    let mut len = pages;
    let mut start = at;
    for _ in 0..4 {
        match rng.below(5) {
            0 => {
                ok(mprotect(start, len * PAGE, prot::READ));
                // SAFETY: still mapped, readable.
                if unsafe { find_mismatch(start, len, &t) }.is_some() {
                    WRONG_TAG.fetch_add(1, SeqCst);
                }
                ok(mprotect(start, len * PAGE, prot::RW));
            }
            // Grow in place (the rest of the half is free), then write the
            // new pages. Private areas only: on Linux a shared anonymous
            // area's object keeps its size, and a page past it is SIGBUS.
            1 if len < HALF && flags & map::SHARED == 0 => {
                let grown = len + 1;
                if ok(mremap(start, len * PAGE, grown * PAGE, 0, 0)).is_some() {
                    // SAFETY: the new page is ours, demand-zero.
                    unsafe { fill(start + len * PAGE, 1, |p| t(p + len)) };
                    len = grown;
                }
            }
            2 if len > 1 => {
                if ok(mremap(start, len * PAGE, (len - 1) * PAGE, 0, 0)).is_some() {
                    len -= 1;
                }
            }
            3 => {
                // Move to the other half: the same frames, the same tags.
                let other = if start == region {
                    region + HALF * PAGE
                } else {
                    region
                };
                if ok(mremap(
                    start,
                    len * PAGE,
                    len * PAGE,
                    mr::MAYMOVE | mr::FIXED,
                    other,
                ))
                .is_some()
                {
                    start = other;
                }
            }
            _ => {
                if flags & map::SHARED == 0 {
                    // Private: discarded pages read as zero, then refill.
                    ok(madvise(start, len * PAGE, user::mm::advice::DONTNEED));
                    // SAFETY: still mapped (demand-zero now).
                    if unsafe { find_mismatch(start, len, |_| 0) }.is_some() {
                        WRONG_TAG.fetch_add(1, SeqCst);
                    }
                    // SAFETY: the `len` pages at `start` are still this thread's
                    // read/write mapping and hold no Rust object.
                    unsafe { fill(start, len, &t) };
                }
            }
        }
        // SAFETY: mapped, `len` pages, tagged with `t`.
        if unsafe { find_mismatch(start, len, &t) }.is_some() {
            WRONG_TAG.fetch_add(1, SeqCst);
        }
    }
    ok(munmap(region, REGION));
}

fn worker(w: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1) << 40);
    round(w, &mut rng, 0);
    check_in_and_wait();
    let mut r = 1u64;
    while now_ns() < STOP_AT.load(SeqCst) {
        round(w, &mut rng, r);
        r += 1;
        ROUNDS.fetch_add(1, SeqCst);
        let timeout = Timespec {
            sec: 0,
            nsec: (1 + rng.below(223) as i64) * 1000,
        };
        match futex_wait(&WORD, 0, Some(&timeout), true) {
            Err(user::Errno::ETIMEDOUT) | Err(user::Errno::EAGAIN) | Ok(_) => {}
            Err(_) => {
                FUTEX_WRONG.fetch_add(1, SeqCst);
            }
        }
    }
    check_out_and_wait();
}

/// The forker's region: [`FORK_PAGES`] private pages, then one shared page.
const FORK_AT: usize = 0x5c00_0000_0000;
const FORK_PAGES: usize = 8;
/// The forker's tag owner (the workers are 0..WORKERS).
const FORKER: usize = WORKERS;

/// One fork round: map, tag, fork; the parent rewrites its pages while the
/// child checks its snapshot; reap; unmap. A child's findings come back as
/// its exit status (bit 0: the snapshot was torn, 1: its own writes did not
/// stick, 2: the half it did not write changed, 3: its layout change
/// failed).
fn fork_round(r: u64) {
    let private = FORK_AT;
    let shared = FORK_AT + FORK_PAGES * PAGE;
    if ok(mmap(
        private,
        FORK_PAGES * PAGE,
        prot::RW,
        map::ANON | map::FIXED,
        -1,
        0,
    ))
    .is_none()
    {
        return;
    }
    if ok(mmap(
        shared,
        PAGE,
        prot::RW,
        map::SHARED | map::ANONYMOUS | map::FIXED,
        -1,
        0,
    ))
    .is_some()
    {
        let (snapshot, parent, child) = (
            tag(FORKER, 3 * r),
            tag(FORKER, 3 * r + 1),
            tag(FORKER, 3 * r + 2),
        );
        // SAFETY: the forker's own fresh mapping.
        unsafe { fill(private, FORK_PAGES, &snapshot) };
        match fork() {
            Ok(0) => {
                let mut found = 0;
                // SAFETY: the child's copy of the forker's region,
                // mapped as in the parent at the fork.
                unsafe {
                    if find_mismatch(private, FORK_PAGES, &snapshot).is_some() {
                        found |= 1;
                    }
                    let half = FORK_PAGES / 2;
                    fill(private, half, &child);
                    if find_mismatch(private, half, &child).is_some() {
                        found |= 2;
                    }
                    if find_mismatch(private + half * PAGE, half, |p| snapshot(p + half)).is_some()
                    {
                        found |= 4;
                    }
                    poke(shared, r);
                }
                // A layout change of the child's own (its table, its frame).
                match mmap(0, 2 * PAGE, prot::RW, map::ANON, -1, 0) {
                    Ok(a) => {
                        // SAFETY: the child's fresh mapping.
                        unsafe { poke(a + PAGE, r) };
                        if munmap(a, 2 * PAGE).is_err() {
                            found |= 8;
                        }
                    }
                    Err(_) => found |= 8,
                }
                user::sys::exit_group(found);
            }
            Ok(pid) => {
                // The parent writes while the child may still be reading.
                // SAFETY: the forker's own mapping.
                unsafe { fill(private, FORK_PAGES, &parent) };
                match wait4(pid as isize, 0) {
                    Ok((_, 0)) => {
                        FORKS.fetch_add(1, SeqCst);
                    }
                    _ => {
                        FORK_FAILED.fetch_add(1, SeqCst);
                    }
                }
                // SAFETY: the forker's own mappings.
                unsafe {
                    if peek(shared) != r {
                        FORK_FAILED.fetch_add(1, SeqCst);
                    }
                    if find_mismatch(private, FORK_PAGES, &parent).is_some() {
                        WRONG_TAG.fetch_add(1, SeqCst);
                    }
                }
            }
            Err(_) => {
                CALL_FAILED.fetch_add(1, SeqCst);
            }
        }
    }
    ok(munmap(FORK_AT, (FORK_PAGES + 1) * PAGE));
}

fn forker() {
    fork_round(0);
    check_in_and_wait();
    let mut r = 1u64;
    while now_ns() < STOP_AT.load(SeqCst) {
        fork_round(r);
        r += 1;
    }
    check_out_and_wait();
}

/// A region two threads change at once: one moves its area between the two
/// halves with `mremap`, the other protects and unprotects its pages and
/// unmaps and remaps its halves. Their calls may fail (the area moved
/// meanwhile); what must hold is the layout: at the end no page may be
/// mapped outside an area or with more access than its area allows.
const RACE: usize = 0x5400_0000_0000;
const RACE_PAGES: usize = 4;

fn mover() {
    let mut at = RACE;
    check_in_and_wait();
    while now_ns() < STOP_AT.load(SeqCst) {
        let other = if at == RACE {
            RACE + 2 * RACE_PAGES * PAGE
        } else {
            RACE
        };
        // The area may be in either half by now: try this way, and the
        // other way next time.
        let _ = mremap(
            at,
            RACE_PAGES * PAGE,
            RACE_PAGES * PAGE,
            mr::MAYMOVE | mr::FIXED,
            other,
        );
        at = other;
    }
    check_out_and_wait();
}

fn protector() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    check_in_and_wait();
    while now_ns() < STOP_AT.load(SeqCst) {
        let half = if rng.below(2) == 0 {
            RACE
        } else {
            RACE + 2 * RACE_PAGES * PAGE
        };
        match rng.below(4) {
            0 => {
                let _ = mprotect(half, PAGE, prot::READ);
            }
            1 => {
                let _ = mprotect(half, RACE_PAGES * PAGE, prot::RW);
            }
            2 => {
                let _ = mprotect(half + PAGE, PAGE, prot::NONE);
            }
            _ => {
                if munmap(half, RACE_PAGES * PAGE).is_ok() {
                    let _ = mmap(
                        half,
                        RACE_PAGES * PAGE,
                        prot::RW,
                        map::ANON | map::FIXED_NOREPLACE,
                        -1,
                        0,
                    );
                }
            }
        }
    }
    check_out_and_wait();
}

/// Copies through the DMA device between two pages of its own until the
/// workers stop; the data must arrive.
fn dma_loop() {
    let Ok(buf) = mmap(
        0x5800_0000_0000,
        2 * PAGE,
        prot::RW,
        map::ANON | map::FIXED,
        -1,
        0,
    ) else {
        DMA_FAILED.fetch_add(1, SeqCst);
        return;
    };
    let mut n = 0u64;
    let mut first = true;
    while first || now_ns() < STOP_AT.load(SeqCst) {
        if !first && n == 1 {
            check_in_and_wait();
        }
        first = false;
        n += 1;
        // SAFETY: our own two pages.
        unsafe {
            core::ptr::write_volatile(buf as *mut u64, n);
            core::ptr::write_volatile((buf + PAGE) as *mut u64, 0);
        }
        let copied = dma_copy(buf + PAGE, buf, 64);
        // SAFETY: `buf + PAGE` is the second of our own two mapped pages, and
        // the device has finished (the copy returned).
        let got = unsafe { core::ptr::read_volatile((buf + PAGE) as *const u64) };
        if copied.is_err() || got != n {
            DMA_FAILED.fetch_add(1, SeqCst);
        } else {
            DMA_COPIES.fetch_add(1, SeqCst);
        }
    }
    if n == 1 {
        check_in_and_wait();
    }
    check_out_and_wait();
    let _ = munmap(buf, 2 * PAGE);
}

/// Processes besides the first that run the workers and racers, forked once
/// the first has taken its baseline.
const SIBLINGS: usize = 2;

/// A sibling process: the same workers and racers on its own copy of the
/// regions for `seconds`, then the same checks of its own (tags, calls,
/// futex waits, rounds, layout, its table pages back), reported through its
/// exit status alone, since its output would interleave with the first
/// process's: bit 0 tags, 1 calls, 2 futex waits, 3 no round, 4 layout, 5
/// table pages.
fn sibling(seconds: u64) -> ! {
    // Forked from the first process's main thread: its counters and
    // handshakes are this process's copies now, and start again.
    for counter in [&READY, &FINISHED, &WRONG_TAG, &CALL_FAILED, &FUTEX_WRONG] {
        counter.store(0, SeqCst);
    }
    ROUNDS.store(0, SeqCst);
    GO.store(false, SeqCst);
    EXIT.store(false, SeqCst);
    let mut threads = [const { None }; WORKERS + 2];
    for (i, slot) in threads.iter_mut().enumerate() {
        *slot = match i {
            i if i < WORKERS => ok(spawn(move || worker(i))),
            i if i == WORKERS => ok(spawn(mover)),
            _ => ok(spawn(protector)),
        };
    }
    let expected = threads.iter().flatten().count() as u32;
    while READY.load(SeqCst) < expected {
        let _ = user::sys::sched_yield();
    }
    let tables = kernel_stat(KSTAT_TABLE_PAGES).ok();
    if let Some(race) = ok(mmap(
        RACE,
        RACE_PAGES * PAGE,
        prot::RW,
        map::ANON | map::FIXED,
        -1,
        0,
    )) {
        // SAFETY: this process's own fresh pages.
        unsafe { fill(race, RACE_PAGES, |p| p as u64) };
    }
    STOP_AT.store(now_ns() + seconds * 1_000_000_000, SeqCst);
    GO.store(true, SeqCst);
    while FINISHED.load(SeqCst) < expected {
        let _ = user::sys::sched_yield();
    }
    let audit = audit_layout();
    ok(munmap(RACE, 4 * RACE_PAGES * PAGE));
    let tables_after = kernel_stat(KSTAT_TABLE_PAGES).ok();
    EXIT.store(true, SeqCst);
    for th in threads.into_iter().flatten() {
        th.join();
    }
    let mut found = 0;
    for (bit, bad) in [
        WRONG_TAG.load(SeqCst) != 0,
        CALL_FAILED.load(SeqCst) != 0,
        FUTEX_WRONG.load(SeqCst) != 0,
        ROUNDS.load(SeqCst) < WORKERS as u64,
        !matches!(audit, Ok(_) | Err(user::Errno::ENOSYS)),
        tables_after != tables,
    ]
    .into_iter()
    .enumerate()
    {
        if bad {
            found |= 1 << bit;
        }
    }
    user::sys::exit_group(found);
}

fn main(args: &user::Args) -> i32 {
    let mut t = Checks::new();
    let seconds: u64 = args.arg(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let until_rollover = args.arg(2) == Some("until-rollover");
    let dma = dma_attach().is_ok();
    let mut threads = [const { None }; WORKERS];
    for (i, slot) in threads.iter_mut().enumerate() {
        *slot = ok(spawn(move || worker(i)));
    }
    let dma_thread = if dma { ok(spawn(dma_loop)) } else { None };
    let racers = [ok(spawn(mover)), ok(spawn(protector)), ok(spawn(forker))];
    let expected = threads.iter().flatten().count() as u32
        + dma_thread.is_some() as u32
        + racers.iter().flatten().count() as u32;
    while READY.load(SeqCst) < expected {
        let _ = user::sys::sched_yield();
    }
    // The baseline: every thread warmed up and parked.
    let baseline = (
        kernel_stat(KSTAT_FREE_FRAMES).ok(),
        kernel_stat(KSTAT_TABLE_PAGES).ok(),
        kernel_stat(KSTAT_ADDRESS_SPACES).ok(),
    );
    // The siblings start from here: their frames are back once they are
    // reaped, before the final count.
    let mut siblings = [None; SIBLINGS];
    for slot in siblings.iter_mut() {
        match fork() {
            Ok(0) => sibling(seconds),
            Ok(pid) => *slot = Some(pid),
            Err(_) => {
                CALL_FAILED.fetch_add(1, SeqCst);
            }
        }
    }
    // The racers' region exists only during the stress: the baseline and
    // the final count see it unmapped.
    if let Some(race) = ok(mmap(
        RACE,
        RACE_PAGES * PAGE,
        prot::RW,
        map::ANON | map::FIXED,
        -1,
        0,
    )) {
        // SAFETY: our own fresh pages.
        unsafe { fill(race, RACE_PAGES, |p| p as u64) };
    }
    let start = now_ns();
    let rollovers = kernel_stat(KSTAT_ASID_ROLLOVERS).ok();
    let run_for = if until_rollover {
        ROLLOVER_CAP_S
    } else {
        seconds
    };
    STOP_AT.store(start + run_for * 1_000_000_000, SeqCst);
    GO.store(true, SeqCst);
    let mut rolled_over = None;
    if until_rollover {
        while now_ns() < STOP_AT.load(SeqCst) {
            user::time::sleep_ms(20);
            let now = kernel_stat(KSTAT_ASID_ROLLOVERS).ok();
            let rolled = now.zip(rollovers).is_some_and(|(n, r)| n > r);
            if rolled && now_ns() >= start + seconds * 1_000_000_000 {
                rolled_over = Some((now_ns() - start) / 1_000_000);
                STOP_AT.store(now_ns(), SeqCst);
                break;
            }
        }
    }
    while FINISHED.load(SeqCst) < expected {
        let _ = user::sys::sched_yield();
    }
    let mut sibling_status = [None; SIBLINGS];
    for (pid, status) in siblings.iter().zip(sibling_status.iter_mut()) {
        if let Some(pid) = *pid {
            *status = wait4(pid as isize, 0).ok().map(|(_, s)| s);
        }
    }
    // The layout the racers left must be consistent; then it goes.
    let audit = audit_layout();
    ok(munmap(RACE, 4 * RACE_PAGES * PAGE));
    let after = (
        kernel_stat(KSTAT_FREE_FRAMES).ok(),
        kernel_stat(KSTAT_TABLE_PAGES).ok(),
        kernel_stat(KSTAT_ADDRESS_SPACES).ok(),
    );
    EXIT.store(true, SeqCst);
    for th in threads.into_iter().flatten() {
        th.join();
    }
    if let Some(th) = dma_thread {
        th.join();
    }
    for th in racers.into_iter().flatten() {
        th.join();
    }
    match audit {
        Ok(_) => println!("ok soak_layout_consistent"),
        Err(user::Errno::ENOSYS) => println!("ok soak_layout_consistent (no audit call: skipped)"),
        Err(e) => t.fail("soak_layout_consistent", format_args!("{e:?}")),
    }
    t.eq("soak_tags_intact", WRONG_TAG.load(SeqCst), 0);
    t.eq("soak_calls_succeed", CALL_FAILED.load(SeqCst), 0);
    t.eq("soak_futex_waits_end", FUTEX_WRONG.load(SeqCst), 0);
    t.check(
        "soak_ran",
        ROUNDS.load(SeqCst) >= WORKERS as u64,
        format_args!("{} rounds", ROUNDS.load(SeqCst)),
    );
    if until_rollover {
        t.check(
            "soak_asids_rolled_over",
            rolled_over.is_some(),
            format_args!(
                "no ASID rollover in {ROLLOVER_CAP_S} s ({} forks; rollovers {:?})",
                FORKS.load(SeqCst),
                rollovers
            ),
        );
    }
    t.eq(
        "soak_sibling_processes_clean",
        sibling_status,
        [Some(0); SIBLINGS],
    );
    t.eq("soak_children_clean", FORK_FAILED.load(SeqCst), 0);
    t.check(
        "soak_forked",
        FORKS.load(SeqCst) >= 1,
        format_args!("{} forks", FORKS.load(SeqCst)),
    );
    if dma {
        t.eq("soak_dma_copies_arrive", DMA_FAILED.load(SeqCst), 0);
    } else {
        println!("ok soak_dma_copies_arrive (no DMA device: skipped)");
    }
    match (baseline, after) {
        ((Some(f0), Some(t0), Some(a0)), (Some(f1), Some(t1), Some(a1))) => {
            t.eq("soak_frames_back", f1, f0);
            t.eq("soak_table_pages_back", t1, t0);
            t.eq("soak_address_spaces_back", a1, a0);
        }
        _ => {
            println!("ok soak_frames_back (no kernel counters: skipped)");
            println!("ok soak_table_pages_back (no kernel counters: skipped)");
            println!("ok soak_address_spaces_back (no kernel counters: skipped)");
        }
    }
    t.status()
}

user::entry!(main);
