//! One address space's subscribers and the wrappers that call them. The
//! wrappers, not the callers, hold the checks (as in Linux's
//! `mmu_notifier_invalidate_range_start()`): `might_sleep()` before looking at
//! any subscriber, so the rule is checked with no subscriber at all and with
//! the `notifiers` feature compiled out, which removes subscriptions and
//! callbacks but keeps the wrappers and their checks.
//!
//! Locking: the owner keeps `Notifiers` under its `mmap_lock` (the `&mut`
//! methods need it held for write); `invalidate_secondary_tlbs` also needs
//! the page-table lock held, which `ContextChecks::assert_atomic` verifies.
use core::panic::Location;

use super::ctx::{AtomicCtx, ContextChecks, SleepCtx};
#[cfg(feature = "notifiers")]
use super::subscriber::Notifier;
use super::windows::{NotifierViolation, Windows};
use crate::addr::VaRange;
#[cfg(feature = "notifiers")]
use alloc::sync::Arc;

/// Most subscribers one address space may have.
pub const MAX_SUBSCRIBERS: usize = 8;

/// Why `subscribe` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeError {
    /// `MAX_SUBSCRIBERS` already subscribed.
    Full,
    /// This subscriber is already subscribed.
    AlreadySubscribed,
    /// The address space has been released.
    Released,
}

/// The subscribers of one address space and its open windows.
pub struct Notifiers {
    /// Each subscriber, owned: it lives while subscribed (and while its
    /// owner holds another reference), never longer than it is needed.
    #[cfg(feature = "notifiers")]
    subscribers: [Option<Arc<dyn Notifier>>; MAX_SUBSCRIBERS],
    windows: Windows,
    released: bool,
}

impl Default for Notifiers {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "notifiers")]
fn same(a: &dyn Notifier, b: &dyn Notifier) -> bool {
    core::ptr::addr_eq(a as *const dyn Notifier, b as *const dyn Notifier)
}

impl Notifiers {
    /// No subscriber, no window open.
    pub const fn new() -> Self {
        Self {
            #[cfg(feature = "notifiers")]
            subscribers: [const { None }; MAX_SUBSCRIBERS],
            windows: Windows::new(),
            released: false,
        }
    }

    /// Adds `n`; the caller holds `mmap_lock` for write (so no invalidation
    /// is in progress: `n` never sees an end without its start).
    #[cfg(feature = "notifiers")]
    pub fn subscribe(&mut self, n: Arc<dyn Notifier>) -> Result<(), SubscribeError> {
        if self.released {
            return Err(SubscribeError::Released);
        }
        if self.subscribers.iter().flatten().any(|s| same(&**s, &*n)) {
            return Err(SubscribeError::AlreadySubscribed);
        }
        let slot = self
            .subscribers
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(SubscribeError::Full)?;
        *slot = Some(n);
        Ok(())
    }

    /// Removes `n` and hands back the registry's reference to it (`None` if
    /// it was not subscribed); `mmap_lock` held for write (sleepable). A
    /// removed subscriber's `unsubscribed` runs here, under the lock. The
    /// caller drops the reference after releasing the lock: the last one
    /// frees the subscriber.
    #[cfg(feature = "notifiers")]
    pub fn unsubscribe(&mut self, n: &dyn Notifier) -> Option<Arc<dyn Notifier>> {
        let removed = self
            .subscribers
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|s| same(&**s, n)))
            .and_then(Option::take);
        if let Some(s) = &removed {
            s.unsubscribed(&SleepCtx::new());
        }
        removed
    }

    /// How many subscribers there are (always 0 without the feature).
    pub fn subscribers(&self) -> usize {
        #[cfg(feature = "notifiers")]
        return self.subscribers.iter().flatten().count();
        #[cfg(not(feature = "notifiers"))]
        0
    }

    /// Open `invalidate_range_start` windows (nesting counted).
    pub fn open_windows(&self) -> usize {
        self.windows.count()
    }

    #[cfg(feature = "notifiers")]
    fn each(&self, mut f: impl FnMut(&dyn Notifier)) {
        for s in self.subscribers.iter().flatten() {
            f(&**s);
        }
    }

    fn check(
        checks: &impl ContextChecks,
        r: Result<(), NotifierViolation>,
        caller: &'static Location<'static>,
    ) {
        if let Err(v) = r {
            checks.violation(v, caller);
        }
    }

    /// Step 2 of DESIGN.md §1. Sleepable; `mmap_lock` held.
    #[track_caller]
    pub fn invalidate_range_start(&self, range: VaRange, checks: &impl ContextChecks) {
        let caller = Location::caller();
        checks.might_sleep(caller);
        Self::check(checks, self.windows.open(range), caller);
        let ctx = SleepCtx::new();
        #[cfg(feature = "notifiers")]
        self.each(|s| s.invalidate_range_start(&range, &ctx));
        let _ = ctx;
    }

    /// Step 3's atomic hook, after the CPU TLBI + DSB for `range`, with the
    /// page-table lock held. Checked: inside an open window covering `range`,
    /// and in atomic context.
    #[track_caller]
    pub fn invalidate_secondary_tlbs(&self, range: VaRange, checks: &impl ContextChecks) {
        let caller = Location::caller();
        Self::check(checks, self.windows.check_covered(range), caller);
        checks.assert_atomic(caller);
        let ctx = AtomicCtx::new();
        #[cfg(feature = "notifiers")]
        self.each(|s| s.invalidate_secondary_tlbs(&range, &ctx));
        let _ = ctx;
    }

    /// Step 4. Sleepable; `mmap_lock` held; the page-table lock released.
    #[track_caller]
    pub fn invalidate_range_end(&self, range: VaRange, checks: &impl ContextChecks) {
        let caller = Location::caller();
        checks.might_sleep(caller);
        let ctx = SleepCtx::new();
        #[cfg(feature = "notifiers")]
        self.each(|s| s.invalidate_range_end(&range, &ctx));
        let _ = ctx;
        Self::check(checks, self.windows.close(range), caller);
    }

    /// Teardown: every window must be closed; each subscriber's `release`
    /// runs once, then the list is emptied.
    #[track_caller]
    pub fn release(&mut self, checks: &impl ContextChecks) {
        let caller = Location::caller();
        checks.might_sleep(caller);
        if self.released {
            checks.violation(NotifierViolation::ReleasedTwice, caller);
        }
        Self::check(checks, self.windows.check_closed(), caller);
        self.released = true;
        let ctx = SleepCtx::new();
        #[cfg(feature = "notifiers")]
        {
            self.each(|s| s.release(&ctx));
            // The registry's references go: a subscriber nobody else holds
            // is freed here.
            self.subscribers = [const { None }; MAX_SUBSCRIBERS];
        }
        let _ = ctx;
    }
}
