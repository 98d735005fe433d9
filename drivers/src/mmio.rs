//! A typed view of an MMIO register block at a fixed physical address.
use core::{marker::PhantomData, ops::Deref};

/// Dereferences to the `register_structs!` layout `T` located at `base`.
pub struct Mmio<T> {
    base: usize,
    _layout: PhantomData<fn() -> T>,
}

impl<T> Mmio<T> {
    /// # Safety
    /// `base` must be the address of a device block laid out as `T`, mapped
    /// (or identity-accessible) for the whole life of the returned value, and
    /// the caller must not create aliases that break the driver's invariants.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            base,
            _layout: PhantomData,
        }
    }

    /// The address of the block (what `new` was given).
    pub const fn base(&self) -> usize {
        self.base
    }
}

impl<T> Deref for Mmio<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `new` requires `base` to point at a live block of layout `T`;
        // tock-registers types only perform volatile accesses through `&self`.
        unsafe { &*(self.base as *const T) }
    }
}
