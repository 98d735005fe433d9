//! The subscriber's side of the contract, written where it is defined.
use super::ctx::{AtomicCtx, SleepCtx};
use crate::addr::VaRange;

/// A secondary translation cache that must follow an address space's page
/// tables (an IOMMU context sharing them, a driver's translation cache).
///
/// Callbacks are called in subscription order, each with the address space's
/// `mmap_lock` held for write (layout changes) unless said otherwise. The
/// registry owns a reference (`Arc`) from `subscribe` until `unsubscribe` or
/// `release`.
pub trait Notifier: Send + Sync {
    /// Context: sleepable; `mmap_lock` held; no page-table lock held.
    /// Called before any descriptor of `range` changes. The subscriber may
    /// block (e.g. wait for in-flight DMA to `range` to finish) and must stop
    /// starting new work on `range` until the matching `invalidate_range_end`.
    /// On return nothing new may start using translations of `range`.
    fn invalidate_range_start(&self, range: &VaRange, ctx: &SleepCtx);

    /// Context: ATOMIC; the page-table lock is held and preemption is off;
    /// must not sleep, allocate with blocking or take a sleeping lock; only
    /// bounded polling (e.g. an IOMMU command-queue sync with a timeout).
    /// Called after the CPU TLB invalidation for `range` completed (DSB), and
    /// always inside an open `invalidate_range_start` window covering it.
    /// On return the secondary TLB holds no translation of `range`: the
    /// frames behind it may be freed once `invalidate_range_end` returns.
    fn invalidate_secondary_tlbs(&self, range: &VaRange, ctx: &AtomicCtx);

    /// Context: sleepable; `mmap_lock` held; page-table lock released.
    /// The change to `range` is complete; work on it may resume.
    fn invalidate_range_end(&self, range: &VaRange, ctx: &SleepCtx);

    /// Context: sleepable. The address space is being torn down: after this
    /// the subscriber must not touch it (quiesce the device context so late
    /// accesses fault, then invalidate everything it caches). Called once.
    fn release(&self, ctx: &SleepCtx);

    /// Context: sleepable; `mmap_lock` held for write. `unsubscribe` just removed the
    /// subscriber: no callback reaches it any more, so whatever it still caches of the
    /// address space must go now, while no layout change can run (a driver that pins the
    /// frames it caches unpins them here: once the lock is dropped an unmap could free
    /// them without telling it). Default: nothing.
    fn unsubscribed(&self, ctx: &SleepCtx) {
        let _ = ctx;
    }
}
