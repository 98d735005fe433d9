//! Task stacks: a static pool of fixed-size stacks, each with a 4 KiB guard page below it,
//! in `.bss.task_stacks` (page aligned, zeroed at boot, not in the image). While the MMU is
//! off the guard is ordinary memory: a canary at the bottom of each stack catches an
//! overflow at the next context switch. With the MMU on, leave [`guard_pages`] unmapped.
use core::cell::UnsafeCell;
use core::ops::Range;

/// Bytes of one task stack.
pub const STACK_SIZE: usize = 16 * 1024;
/// Bytes of the guard below each stack (one 4 KiB page).
pub const GUARD_SIZE: usize = 4096;
/// Stacks in the pool: at most this many spawned tasks exist at once.
pub const POOL_STACKS: usize = 64;

/// Words at the bottom of each stack that must keep [`CANARY`] (inside the stack, so the
/// check works with the guard page unmapped).
const CANARY_WORDS: usize = 8;
const CANARY: u64 = 0x57ac_c0de_dead_beef;

#[repr(C, align(4096))]
struct Slot {
    guard: [u8; GUARD_SIZE],
    stack: [u8; STACK_SIZE],
}

struct Pool(UnsafeCell<[Slot; POOL_STACKS]>);

// SAFETY: each slot is used by one task at a time (the task table hands slots out), and
// only through raw pointers.
unsafe impl Sync for Pool {}

#[link_section = ".bss.task_stacks"]
static POOL: Pool = Pool(UnsafeCell::new(
    [const {
        Slot {
            guard: [0; GUARD_SIZE],
            stack: [0; STACK_SIZE],
        }
    }; POOL_STACKS],
));

fn slot_base(slot: usize) -> usize {
    assert!(slot < POOL_STACKS, "stack slot {slot} out of range");
    POOL.0.get() as usize + slot * core::mem::size_of::<Slot>()
}

/// The stack memory of pool slot `slot` (grows down from `end`).
pub fn stack_range(slot: usize) -> Range<usize> {
    let start = slot_base(slot) + GUARD_SIZE;
    start..start + STACK_SIZE
}

/// The guard page below each pool stack, for the MMU code to leave unmapped.
pub fn guard_pages() -> impl Iterator<Item = Range<usize>> {
    (0..POOL_STACKS).map(|slot| {
        let base = slot_base(slot);
        base..base + GUARD_SIZE
    })
}

/// The whole pool (guards and stacks).
pub fn pool_range() -> Range<usize> {
    let base = POOL.0.get() as usize;
    base..base + core::mem::size_of::<[Slot; POOL_STACKS]>()
}

/// Writes the canary at the bottom of slot `slot`'s stack. Call before the task starts.
pub fn arm_canary(slot: usize) {
    let bottom = stack_range(slot).start as *mut u64;
    for i in 0..CANARY_WORDS {
        // SAFETY: the slot is owned by the task being created; the words are inside its
        // stack, 8-byte aligned (the slot is page aligned).
        unsafe { bottom.add(i).write_volatile(CANARY) };
    }
}

/// True while nothing has written over the canary of slot `slot`.
pub fn canary_intact(slot: usize) -> bool {
    let bottom = stack_range(slot).start as *const u64;
    // SAFETY: the words are inside slot `slot`'s stack, which the pool maps for
    // the kernel's lifetime, 8-byte aligned (the slot is page aligned); a read
    // changes nothing.
    (0..CANARY_WORDS).all(|i| unsafe { bottom.add(i).read_volatile() } == CANARY)
}
