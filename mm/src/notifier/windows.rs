//! The open `invalidate_range_start` windows of one address space, and the
//! rules about them that Linux does not check (DESIGN.md §2): the atomic hook
//! only inside an open window covering its range; start/end balanced; no
//! window left open when the address space is torn down.
use crate::addr::VaRange;

/// Most windows one address space may have open at once (nesting depth).
pub const MAX_OPEN_WINDOWS: usize = 8;

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
    /// More than `MAX_OPEN_WINDOWS` windows open at once.
    TooManyOpenWindows {
        /// The range that did not fit.
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
            Self::TooManyOpenWindows { .. } => "too many invalidate_range_start windows open at once",
            Self::OpenAtTeardown { .. } => "address space torn down with invalidate_range_start windows still open",
            Self::ReleasedTwice => "notifier release ran twice",
        }
    }
}

/// Open windows: each distinct range with how many starts are open on it.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    open: [(VaRange, u32); MAX_OPEN_WINDOWS],
}

impl Windows {
    /// No window open.
    pub const fn new() -> Self {
        Self {
            open: [(
                VaRange::new(crate::VirtAddr::new(0), crate::VirtAddr::new(0)),
                0,
            ); MAX_OPEN_WINDOWS],
        }
    }

    /// Records `invalidate_range_start(range)`.
    pub fn open(&mut self, range: VaRange) -> Result<(), NotifierViolation> {
        if let Some(slot) = self.open.iter_mut().find(|(r, n)| *n > 0 && *r == range) {
            slot.1 += 1;
            return Ok(());
        }
        match self.open.iter_mut().find(|(_, n)| *n == 0) {
            Some(slot) => {
                *slot = (range, 1);
                Ok(())
            }
            None => Err(NotifierViolation::TooManyOpenWindows { range }),
        }
    }

    /// Records `invalidate_range_end(range)`; it must match an open start.
    pub fn close(&mut self, range: VaRange) -> Result<(), NotifierViolation> {
        match self.open.iter_mut().find(|(r, n)| *n > 0 && *r == range) {
            Some(slot) => {
                slot.1 -= 1;
                Ok(())
            }
            None => Err(NotifierViolation::UnbalancedEnd { range }),
        }
    }

    /// The atomic hook's check: some open window contains all of `range`.
    pub fn check_covered(&self, range: VaRange) -> Result<(), NotifierViolation> {
        let covered = self.open.iter().any(|(r, n)| {
            *n > 0
                && r.start.as_u64() <= range.start.as_u64()
                && range.end.as_u64() <= r.end.as_u64()
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

    /// Teardown's check: nothing open.
    pub fn check_closed(&self) -> Result<(), NotifierViolation> {
        match self.widest() {
            None => Ok(()),
            Some(open) => Err(NotifierViolation::OpenAtTeardown {
                open,
                count: self.count(),
            }),
        }
    }

    /// Open starts, counting nesting.
    pub fn count(&self) -> usize {
        self.open.iter().map(|(_, n)| *n as usize).sum()
    }

    fn widest(&self) -> Option<VaRange> {
        self.open
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, _)| *r)
            .max_by_key(|r| r.len())
    }
}
