//! The interval-notifier form (after Linux's `mmu_interval_notifier`): for a
//! driver that caches translations of one VA range. The sequence word counts
//! the invalidations of the range open now (low half) and every one begun so
//! far (high half); a driver builds a translation between `read_begin` (none
//! open) and `read_retry` and keeps it only if none began in between.
//!
//! Invalidations overlap: windows open under `mmap_lock` for read too
//! (copy-on-write faults of several threads at once, the zero page's break
//! included), and at the page level without it. A parity bit (odd while one
//! is open) is wrong then: two open ones make it even, and a reader could
//! start and keep a translation while both are still open (Linux keeps a
//! count of active invalidations for the same reason).
use core::sync::atomic::{AtomicU64, Ordering};

/// One open invalidation, in the sequence word's low half.
const OPEN: u64 = 1;
/// The open invalidations' bits.
const OPEN_MASK: u64 = (1 << 32) - 1;
/// One invalidation begun, in the high half (wraps; a reader would have to
/// sleep through 2^32 of them to be fooled).
const BEGUN: u64 = 1 << 32;

use crate::addr::VaRange;

/// The sequence value a reader started from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadSeq(u64);

/// Sequence state for one cached range.
#[derive(Debug)]
pub struct IntervalNotifier {
    range: VaRange,
    seq: AtomicU64,
}

impl IntervalNotifier {
    /// Watches `range`; no invalidation open.
    pub const fn new(range: VaRange) -> Self {
        Self {
            range,
            seq: AtomicU64::new(0),
        }
    }

    /// The watched range.
    pub const fn range(&self) -> VaRange {
        self.range
    }

    /// Whether an invalidation touching the range is open now.
    pub fn invalidating(&self) -> bool {
        self.seq.load(Ordering::Acquire) & OPEN_MASK != 0
    }

    /// Starts building a translation: `None` while an invalidation is open
    /// (wait for its end, e.g. by sleeping, and try again).
    pub fn read_begin(&self) -> Option<ReadSeq> {
        let s = self.seq.load(Ordering::Acquire);
        (s & OPEN_MASK == 0).then_some(ReadSeq(s))
    }

    /// True if the translation built since `begin` may be stale and must be
    /// dropped. Call it under the lock that also guards the driver's cache
    /// (the lock its atomic hook takes), just before inserting.
    pub fn read_retry(&self, begin: ReadSeq) -> bool {
        self.seq.load(Ordering::Acquire) != begin.0
    }

    /// From `invalidate_range_start`: opens an invalidation if `range`
    /// touches the watched range (others may be open: they are counted).
    /// Returns whether it did.
    pub fn begin_invalidate(&self, range: &VaRange) -> bool {
        if !range.overlaps(&self.range) {
            return false;
        }
        let prev = self.seq.fetch_add(BEGUN + OPEN, Ordering::AcqRel);
        assert!(
            prev & OPEN_MASK != OPEN_MASK,
            "2^32 - 1 invalidations open at once"
        );
        true
    }

    /// From `invalidate_range_end`: closes one that `begin_invalidate`
    /// opened for the same range.
    pub fn end_invalidate(&self, range: &VaRange) {
        if range.overlaps(&self.range) {
            let prev = self.seq.fetch_sub(OPEN, Ordering::AcqRel);
            assert!(prev & OPEN_MASK != 0, "end without a begin");
        }
    }
}
