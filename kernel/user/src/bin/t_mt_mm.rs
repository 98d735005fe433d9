//! Four threads map, tag, touch and unmap memory at once (on four CPUs where
//! the kernel spreads them), and nothing ever reads stale data:
//!
//! - every thread maps private pages, fills them with its own tag, checks
//!   every word, unmaps them, and asks the kernel whether its old tag can
//!   still be read there (it must not);
//! - one thread (the owner) maps a shared region at a fixed address,
//!   generation after generation, tagged with the generation; the three
//!   others read it directly while it is mapped (under a lease the owner
//!   waits for before unmapping) and every word must be the current
//!   generation's tag; after `munmap` returns they ask the kernel to read it
//!   (`futex` probe: a fault would kill the process) and it must refuse.
//!
//! The owner waits for every reader to see each generation mapped and then
//! unmapped, so each state is checked by every reader every time.
//!
//! What the "unreadable after unmap" checks prove, and what they do not: the
//! probe is a system call that copies from the address through the page
//! table, so it shows that munmap removed the mapping from the tables (and
//! its area) before returning, on every CPU's view of the layout. It never
//! reaches a CPU's TLB, so it cannot see a missing TLBI: that is left to
//! tests that read through the TLB directly (the aspace suite's
//! `a_frame_freed_before_its_tlb_entry_is_gone_shows_poison` and the model
//! TLB's host tests). The direct reads while a generation is mapped do go
//! through the TLB and check that no stale translation of an earlier
//! generation's frame is used.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};

use user::mm::{fill, find_mismatch, map, mmap, munmap, probe_read, prot, Probe, PAGE};
use user::thread::spawn;
use user::time::now_ns;
use user::{println, Checks, Errno};

const READERS: usize = 3;
const GENERATIONS: u32 = 100;
const SHARED_PAGES: usize = 4;
const PRIVATE_PAGES: usize = 4;
/// Far from where either kernel places mappings of its own choosing.
const SHARED_AT: usize = 0x2000_0000_0000;
const DEADLINE_NS: u64 = 60_000_000_000;

/// The shared region's state: generation << 2 | phase.
static STATE: AtomicU32 = AtomicU32::new(0);
const MAPPED: u32 = 1;
const UNMAPPING: u32 = 2;
const UNMAPPED: u32 = 3;
/// Readers inside a direct read of the region.
static LEASES: AtomicUsize = AtomicUsize::new(0);
/// The last generation each reader read mapped, and saw refused unmapped.
static READ_MAPPED: [AtomicU32; READERS] = [const { AtomicU32::new(0) }; READERS];
static SAW_UNMAPPED: [AtomicU32; READERS] = [const { AtomicU32::new(0) }; READERS];
static DONE: AtomicBool = AtomicBool::new(false);

/// Failures, by kind (only counts: the output must not depend on timing).
static PRIVATE_MISMATCH: AtomicUsize = AtomicUsize::new(0);
static PRIVATE_STALE_AFTER_UNMAP: AtomicUsize = AtomicUsize::new(0);
static SHARED_MISMATCH: AtomicUsize = AtomicUsize::new(0);
static SHARED_READABLE_AFTER_UNMAP: AtomicUsize = AtomicUsize::new(0);
static SHARED_UNMAP_WRONG_ERROR: AtomicUsize = AtomicUsize::new(0);
static SYSCALL_ERRORS: AtomicUsize = AtomicUsize::new(0);
static TIMED_OUT: AtomicBool = AtomicBool::new(false);
static PRIVATE_ROUNDS: AtomicUsize = AtomicUsize::new(0);

/// A 32-bit tag (the futex probe compares 32 bits), doubled into a word.
fn word(tag: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(tag)
}

fn shared_tag(generation: u32, page: usize) -> u32 {
    0x5000_0000 | (generation << 8) | page as u32
}

fn private_tag(thread: usize, round: usize, page: usize) -> u32 {
    0xa000_0000 | ((thread as u32) << 24) | (((round as u32) & 0xffff) << 8) | page as u32
}

/// True (and everyone stops) once the owner has waited too long.
fn timed_out(start: u64) -> bool {
    if now_ns() - start <= DEADLINE_NS {
        return false;
    }
    TIMED_OUT.store(true, SeqCst);
    DONE.store(true, SeqCst);
    true
}

/// One round of private churn: map, tag, check, unmap, check it is gone.
fn private_round(thread: usize, round: usize) {
    let flags = if round.is_multiple_of(2) {
        map::ANON
    } else {
        map::ANON | map::POPULATE
    };
    let Ok(a) = mmap(0, PRIVATE_PAGES * PAGE, prot::RW, flags, -1, 0) else {
        SYSCALL_ERRORS.fetch_add(1, SeqCst);
        return;
    };
    let tag = |page| word(private_tag(thread, round, page));
    // SAFETY: a fresh mapping of this thread's, unmapped only below.
    unsafe {
        if find_mismatch(a, PRIVATE_PAGES, |_| 0).is_some() {
            PRIVATE_MISMATCH.fetch_add(1, SeqCst);
        }
        fill(a, PRIVATE_PAGES, tag);
        if find_mismatch(a, PRIVATE_PAGES, tag).is_some() {
            PRIVATE_MISMATCH.fetch_add(1, SeqCst);
        }
    }
    if munmap(a, PRIVATE_PAGES * PAGE).is_err() {
        SYSCALL_ERRORS.fetch_add(1, SeqCst);
    }
    // Another thread may have mapped the place again (with its own tags):
    // only this thread's old tag would be stale.
    for page in 0..PRIVATE_PAGES {
        if probe_read(a + page * PAGE, private_tag(thread, round, page)) == Probe::Holds {
            PRIVATE_STALE_AFTER_UNMAP.fetch_add(1, SeqCst);
        }
    }
    PRIVATE_ROUNDS.fetch_add(1, SeqCst);
}

fn owner() {
    let start = now_ns();
    for generation in 1..=GENERATIONS {
        match mmap(
            SHARED_AT,
            SHARED_PAGES * PAGE,
            prot::RW,
            map::ANON | map::FIXED_NOREPLACE,
            -1,
            0,
        ) {
            Ok(a) if a == SHARED_AT => {}
            _ => {
                SYSCALL_ERRORS.fetch_add(1, SeqCst);
                break;
            }
        }
        // SAFETY: the region was just mapped, read/write, by this thread.
        unsafe {
            fill(SHARED_AT, SHARED_PAGES, |page| {
                word(shared_tag(generation, page))
            })
        };
        STATE.store(generation << 2 | MAPPED, SeqCst);
        private_round(READERS, generation as usize);
        while READ_MAPPED.iter().any(|r| r.load(SeqCst) != generation) {
            if timed_out(start) {
                return;
            }
            let _ = user::sys::sched_yield();
        }
        STATE.store(generation << 2 | UNMAPPING, SeqCst);
        while LEASES.load(SeqCst) != 0 {
            core::hint::spin_loop();
        }
        if munmap(SHARED_AT, SHARED_PAGES * PAGE).is_err() {
            SYSCALL_ERRORS.fetch_add(1, SeqCst);
        }
        STATE.store(generation << 2 | UNMAPPED, SeqCst);
        while SAW_UNMAPPED.iter().any(|r| r.load(SeqCst) != generation) {
            if timed_out(start) {
                return;
            }
            let _ = user::sys::sched_yield();
        }
    }
    DONE.store(true, SeqCst);
}

fn reader(index: usize) {
    let mut round = 0;
    while !DONE.load(SeqCst) {
        round += 1;
        private_round(index, round);
        let state = STATE.load(SeqCst);
        let (generation, phase) = (state >> 2, state & 3);
        match phase {
            MAPPED if READ_MAPPED[index].load(SeqCst) != generation => {
                LEASES.fetch_add(1, SeqCst);
                if STATE.load(SeqCst) == state {
                    // SAFETY: the owner does not unmap while a lease is held
                    // and the state still says mapped (checked after taking it).
                    let bad = unsafe {
                        find_mismatch(SHARED_AT, SHARED_PAGES, |page| {
                            word(shared_tag(generation, page))
                        })
                    };
                    if bad.is_some() {
                        SHARED_MISMATCH.fetch_add(1, SeqCst);
                    }
                    READ_MAPPED[index].store(generation, SeqCst);
                }
                LEASES.fetch_sub(1, SeqCst);
            }
            UNMAPPED if SAW_UNMAPPED[index].load(SeqCst) != generation => {
                // munmap has returned: the kernel must not read the old pages.
                for page in 0..SHARED_PAGES {
                    match probe_read(SHARED_AT + page * PAGE, shared_tag(generation, page)) {
                        Probe::Refused(Errno::EFAULT) => {}
                        Probe::Refused(_) => {
                            SHARED_UNMAP_WRONG_ERROR.fetch_add(1, SeqCst);
                        }
                        Probe::Holds | Probe::Differs => {
                            SHARED_READABLE_AFTER_UNMAP.fetch_add(1, SeqCst);
                        }
                    }
                }
                // The state cannot have moved on: the owner waits for this.
                SAW_UNMAPPED[index].store(generation, SeqCst);
            }
            _ => {
                let _ = user::sys::sched_yield();
            }
        }
    }
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    // The fixed address must be free and usable.
    let probe = mmap(
        SHARED_AT,
        PAGE,
        prot::RW,
        map::ANON | map::FIXED_NOREPLACE,
        -1,
        0,
    );
    if !t.eq("fixed_address_free", probe, Ok(SHARED_AT)) {
        return t.status();
    }
    let _ = munmap(SHARED_AT, PAGE);

    let mut threads = [const { None }; READERS + 1];
    for (i, slot) in threads.iter_mut().enumerate() {
        let spawned = if i == READERS {
            spawn(owner)
        } else {
            spawn(move || reader(i))
        };
        match spawned {
            Ok(th) => *slot = Some(th),
            Err(e) => {
                t.fail("spawn", format_args!("{e:?}"));
                DONE.store(true, SeqCst);
            }
        }
    }
    for th in threads.into_iter().flatten() {
        th.join();
    }
    println!("ok four_threads_joined");
    t.eq("finished_in_time", TIMED_OUT.load(SeqCst), false);
    t.eq(
        "all_generations",
        READ_MAPPED.iter().map(|r| r.load(SeqCst)).min(),
        Some(GENERATIONS),
    );
    t.eq("syscalls_succeed", SYSCALL_ERRORS.load(SeqCst), 0);
    t.eq("private_reads_own_tags", PRIVATE_MISMATCH.load(SeqCst), 0);
    t.eq(
        "private_unreadable_after_unmap",
        PRIVATE_STALE_AFTER_UNMAP.load(SeqCst),
        0,
    );
    t.eq(
        "shared_reads_current_generation",
        SHARED_MISMATCH.load(SeqCst),
        0,
    );
    t.eq(
        "shared_unreadable_after_unmap",
        SHARED_READABLE_AFTER_UNMAP.load(SeqCst),
        0,
    );
    t.eq(
        "shared_unmapped_efault",
        SHARED_UNMAP_WRONG_ERROR.load(SeqCst),
        0,
    );
    let rounds = PRIVATE_ROUNDS.load(SeqCst);
    t.check(
        "private_rounds_ran",
        rounds >= GENERATIONS as usize,
        format_args!("{rounds} rounds"),
    );
    t.status()
}

user::entry!(main);
