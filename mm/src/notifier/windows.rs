//! The open `invalidate_range_start` windows of one address space, and the
//! rules about them that Linux does not check (DESIGN.md §2): the atomic hook
//! only inside an open window covering its range; start/end balanced; no
//! window left open when the address space is torn down.
use core::sync::atomic::{fence, AtomicU64, Ordering};

use crate::addr::{VaRange, VirtAddr};

/// Windows one address space keeps by range (more are counted without their ranges).
pub const MAX_OPEN_WINDOWS: usize = 32;

/// A broken notifier rule, with what was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifierViolation {
    /// `invalidate_secondary_tlbs(range)` with no open window covering it.
    AtomicHookOutsideWindow {
        /// The hook's range.
        range: VaRange,
        /// The widest open window, if any.
        open: Option<VaRange>,
    },
    /// `invalidate_range_end(range)` without a matching start.
    UnbalancedEnd {
        /// The range of the unmatched end.
        range: VaRange,
    },
    /// The address space was released with windows still open.
    OpenAtTeardown {
        /// The widest window still open.
        open: VaRange,
        /// Open starts, nesting counted.
        count: usize,
    },
    /// `release` ran twice.
    ReleasedTwice,
}

impl NotifierViolation {
    /// The rule, in one line, for reports.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::AtomicHookOutsideWindow { .. } => {
                "the atomic hook (invalidate_secondary_tlbs) ran outside an open invalidate_range_start window covering its range"
            }
            Self::UnbalancedEnd { .. } => "invalidate_range_end without a matching invalidate_range_start",
            Self::OpenAtTeardown { .. } => "address space torn down with invalidate_range_start windows still open",
            Self::ReleasedTwice => "notifier release ran twice",
        }
    }
}

/// The open windows, each in a slot of its own (an opener owns its slot until its end).
///
/// Shared access only: windows open and close under `mmap_lock` for read (copy-on-write
/// faults of several threads at once) and, at the page level, without it; the atomic
/// hook checks them under the PTL. A slot is claimed by compare-and-swap on its state;
/// its range is read seqlock-style (state, range, state again), so a reader never takes a
/// range of one opener with the state of another.
#[derive(Debug)]
pub struct Windows {
    slots: [Slot; MAX_OPEN_WINDOWS],
    /// Windows open beyond the slots (any number of threads may be inside a start/end
    /// window at once): counted, not kept by range. While there is one, every hook is
    /// taken as covered (the check cannot tell), and an end that matches no slot ends one.
    overflow: AtomicU64,
}

/// A free slot being claimed: still even (free to readers), taken for other openers.
const CLAIMED: u64 = 1 << 63;

#[derive(Debug)]
struct Slot {
    /// Even: free; odd: open. Every claim and every release adds one, so a reader that
    /// sees the same odd value before and after reading the range read one window's range.
    state: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
}

impl Slot {
    const fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            start: AtomicU64::new(0),
            end: AtomicU64::new(0),
        }
    }

    /// The range of the window open in this slot, if one is.
    fn read(&self) -> Option<VaRange> {
        loop {
            let before = self.state.load(Ordering::Acquire);
            if before.is_multiple_of(2) {
                return None;
            }
            let start = self.start.load(Ordering::Acquire);
            let end = self.end.load(Ordering::Acquire);
            fence(Ordering::Acquire);
            if self.state.load(Ordering::Relaxed) == before {
                return Some(VaRange::new(VirtAddr::new(start), VirtAddr::new(end)));
            }
        }
    }
}

impl Default for Windows {
    fn default() -> Self {
        Self::new()
    }
}

impl Windows {
    /// No window open.
    pub const fn new() -> Self {
        Self {
            slots: [const { Slot::new() }; MAX_OPEN_WINDOWS],
            overflow: AtomicU64::new(0),
        }
    }

    /// `invalidate_range_start(range)`: a slot of its own.
    pub fn open(&self, range: VaRange) -> Result<(), NotifierViolation> {
        for slot in &self.slots {
            let state = slot.state.load(Ordering::Relaxed);
            if state % 2 != 0 || state & CLAIMED != 0 {
                continue;
            }
            // Claim it (still marked free to readers while the range is written: the
            // claim makes the state odd only after, below).
            if slot
                .state
                .compare_exchange(state, state | CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            slot.start.store(range.start.as_u64(), Ordering::Relaxed);
            slot.end.store(range.end.as_u64(), Ordering::Relaxed);
            slot.state.store(state + 1, Ordering::Release);
            return Ok(());
        }
        let _ = range;
        self.overflow.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// `invalidate_range_end(range)`: frees one slot open with exactly `range`.
    pub fn close(&self, range: VaRange) -> Result<(), NotifierViolation> {
        for slot in &self.slots {
            let state = slot.state.load(Ordering::Acquire);
            if state % 2 == 0 || slot.read() != Some(range) {
                continue;
            }
            if slot
                .state
                .compare_exchange(state, state + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(());
            }
        }
        let counted = self
            .overflow
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        match counted {
            Ok(_) => Ok(()),
            Err(_) => Err(NotifierViolation::UnbalancedEnd { range }),
        }
    }

    /// The atomic hook's rule: some open window covers `range`.
    pub fn check_covered(&self, range: VaRange) -> Result<(), NotifierViolation> {
        if self.overflow.load(Ordering::Acquire) > 0 {
            return Ok(());
        }
        let covered = self.slots.iter().filter_map(Slot::read).any(|r| {
            r.start.as_u64() <= range.start.as_u64() && range.end.as_u64() <= r.end.as_u64()
        });
        if covered {
            Ok(())
        } else {
            Err(NotifierViolation::AtomicHookOutsideWindow {
                range,
                open: self.widest(),
            })
        }
    }

    /// Teardown's rule: nothing open.
    pub fn check_closed(&self) -> Result<(), NotifierViolation> {
        match self.widest() {
            None if self.overflow.load(Ordering::Acquire) > 0 => {
                Err(NotifierViolation::OpenAtTeardown {
                    open: VaRange::new(VirtAddr::new(0), VirtAddr::new(0)),
                    count: self.count(),
                })
            }
            None => Ok(()),
            Some(open) => Err(NotifierViolation::OpenAtTeardown {
                open,
                count: self.count(),
            }),
        }
    }

    /// Windows open now.
    pub fn count(&self) -> usize {
        self.slots.iter().filter_map(Slot::read).count()
            + self.overflow.load(Ordering::Acquire) as usize
    }

    fn widest(&self) -> Option<VaRange> {
        self.slots
            .iter()
            .filter_map(Slot::read)
            .max_by_key(|r| r.len())
    }
}
