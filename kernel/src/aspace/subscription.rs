//! A subscription to an address space's notifier that owns itself: the
//! registry and the [`Subscription`] share the subscriber (`Arc`), and
//! dropping the subscription unsubscribes it under `mmap_lock` for write
//! (sleepable; taking it under a PTL is caught by the lock rules). The
//! subscriber is freed with its last reference, never while subscribed.
use super::AddressSpace;
use alloc::sync::{Arc, Weak};
use core::ops::Deref;
use mm::notifier::{Notifier, SubscribeError};

/// `N` subscribed to one address space until this is dropped.
pub struct Subscription<N: Notifier + 'static> {
    /// Weak: a subscription does not keep its address space alive (the
    /// address space's teardown is what calls `release`).
    aspace: Weak<AddressSpace>,
    notifier: Arc<N>,
}

impl AddressSpace {
    /// Subscribes `notifier` to this address space's notifications
    /// (`mmap_lock` for write: no invalidation is in progress while it
    /// joins). Sleepable.
    pub fn subscribe<N: Notifier + 'static>(
        self: &Arc<Self>,
        notifier: Arc<N>,
    ) -> Result<Subscription<N>, SubscribeError> {
        self.mmap_lock
            .write()
            .notifiers
            .subscribe(notifier.clone())?;
        Ok(Subscription {
            aspace: Arc::downgrade(self),
            notifier,
        })
    }
}

impl<N: Notifier + 'static> Subscription<N> {
    /// The subscriber, shared (e.g. for a check after the subscription ends).
    pub fn notifier(&self) -> &Arc<N> {
        &self.notifier
    }
}

impl<N: Notifier + 'static> Deref for Subscription<N> {
    type Target = N;
    fn deref(&self) -> &N {
        &self.notifier
    }
}

impl<N: Notifier + 'static> Drop for Subscription<N> {
    /// Unsubscribes (sleepable: `mmap_lock` for write), then lets the
    /// registry's reference go outside the lock. After a teardown the
    /// registry holds nothing and there is nothing to do.
    fn drop(&mut self) {
        crate::sync::might_sleep();
        let Some(aspace) = self.aspace.upgrade() else {
            return;
        };
        let removed = aspace
            .mmap_lock
            .write()
            .notifiers
            .unsubscribe(&*self.notifier);
        drop(removed);
    }
}
