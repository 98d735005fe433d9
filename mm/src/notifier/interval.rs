//! The interval-notifier form (after Linux's `mmu_interval_notifier`): for a
//! driver that caches translations of one VA range. A sequence count is odd
//! while an invalidation of the range is open; a driver builds a translation
//! between `read_begin` and `read_retry` and keeps it only if nothing
//! invalidated the range in between.
use core::sync::atomic::{AtomicU64, Ordering};

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
        self.seq.load(Ordering::Acquire) & 1 == 1
    }

    /// Starts building a translation: `None` while an invalidation is open
    /// (wait for its end, e.g. by sleeping, and try again).
    pub fn read_begin(&self) -> Option<ReadSeq> {
        let s = self.seq.load(Ordering::Acquire);
        (s & 1 == 0).then_some(ReadSeq(s))
    }

    /// True if the translation built since `begin` may be stale and must be
    /// dropped. Call it under the lock that also guards the driver's cache
    /// (the lock its atomic hook takes), just before inserting.
    pub fn read_retry(&self, begin: ReadSeq) -> bool {
        self.seq.load(Ordering::Acquire) != begin.0
    }

    /// From `invalidate_range_start`: opens an invalidation if `range`
    /// touches the watched range. Returns whether it did.
    pub fn begin_invalidate(&self, range: &VaRange) -> bool {
        if !range.overlaps(&self.range) {
            return false;
        }
        let prev = self.seq.fetch_add(1, Ordering::AcqRel);
        debug_assert!(
            prev & 1 == 0,
            "nested invalidations must be serialised by mmap_lock"
        );
        true
    }

    /// From `invalidate_range_end`: closes what `begin_invalidate` opened.
    pub fn end_invalidate(&self, range: &VaRange) {
        if range.overlaps(&self.range) {
            let prev = self.seq.fetch_add(1, Ordering::AcqRel);
            debug_assert!(prev & 1 == 1, "end without a begin");
        }
    }
}
