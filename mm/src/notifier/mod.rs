//! MMU notifiers: how secondary translation caches (an IOMMU's IOTLB, a
//! driver's own translation cache) hear about changes to an address space, in
//! the two-level protocol of DESIGN.md §1 (after Linux `mm/mmu_notifier.c`):
//!
//! 1. `invalidate_range_start(range)`: sleepable, under `mmap_lock`, before any
//!    page-table change; a subscriber may wait for its device to drain.
//! 2. `invalidate_secondary_tlbs(range)`: atomic, under the page-table lock,
//!    after the CPU TLBI + DSB for the range; bounded work only.
//! 3. `invalidate_range_end(range)`: sleepable, after the page-table lock is
//!    dropped; only after it may the unlinked frames be freed.
//!
//! The wrappers here (`Notifiers`) hold the validation: `might_sleep()` in the
//! sleepable wrappers even with no subscriber (and with the `notifiers`
//! feature off), and the atomic hook only inside an open start/end window that
//! covers its range (`Windows`). `IntervalNotifier` is the sequence-count form
//! for drivers that cache translations of one range.

mod ctx;
mod interval;
mod registry;
mod subscriber;
mod windows;

pub use ctx::{AtomicCtx, ContextChecks, SleepCtx};
pub use interval::{IntervalNotifier, ReadSeq};
pub use registry::{Notifiers, SubscribeError, MAX_SUBSCRIBERS};
pub use subscriber::Notifier;
pub use windows::{NotifierViolation, Windows, MAX_OPEN_WINDOWS};

#[cfg(test)]
mod tests;
