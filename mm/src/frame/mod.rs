//! Physical page frames: the unit of allocation, the source the page-table code draws from,
//! and the errors that name the broken rule. 4 KiB frames match the translation granule
//! (Arm ARM D8.2); the allocator, the region arithmetic, the intrusive frame list and the
//! per-operation pool live in the submodules.

mod allocator;
pub mod descriptor;
mod list;
mod pool;
mod regions;

pub use allocator::{FrameAllocator, FrameStats, InitError, POISON_BYTE};
pub(crate) use list::FrameList;
pub(crate) use pool::FramePool;
pub use regions::{usable_regions, RegionError, RegionList, MAX_REGIONS};

use crate::addr::{PhysAddr, PAGE_SIZE};

/// One 4 KiB physical frame, named by its base address.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frame(PhysAddr);

impl Frame {
    /// The frame starting at `pa`; `None` if `pa` is not 4 KiB aligned.
    pub const fn from_start(pa: PhysAddr) -> Option<Self> {
        if pa.is_aligned(PAGE_SIZE) {
            Some(Self(pa))
        } else {
            None
        }
    }
    /// The frame that holds `pa`.
    pub const fn containing(pa: PhysAddr) -> Self {
        Self(pa.align_down(PAGE_SIZE))
    }
    /// Base physical address.
    pub const fn start(self) -> PhysAddr {
        self.0
    }
}

/// No free frame is left.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OutOfFrames;

/// A `free` the allocator refused, naming the broken rule.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The frame is managed by this allocator but already free.
    DoubleFree(PhysAddr),
    /// The frame was never managed by this allocator (reserved, outside RAM, another pool).
    Foreign(PhysAddr),
}

/// Where page-table pages (and the gather's log pages) come from and go back to.
///
/// Context: called with the page-table lock held; must not sleep.
pub trait FrameSource {
    /// A free frame, or `OutOfFrames`; never panics on exhaustion.
    fn alloc(&mut self) -> Result<Frame, OutOfFrames>;
    /// Returns a frame; a double free or a foreign frame is reported, not ignored.
    fn free(&mut self, frame: Frame) -> Result<(), FreeError>;
    /// A data frame whose owning mapping was unmapped (and invalidated): drops that
    /// mapping's hold on it. A source that counts mappings and references (the kernel's
    /// frame descriptors) frees it only when no other holder remains; by default it is
    /// freed.
    fn free_mapped(&mut self, frame: Frame) -> Result<(), FreeError> {
        self.free(frame)
    }
}

impl<T: FrameSource + ?Sized> FrameSource for &mut T {
    fn alloc(&mut self) -> Result<Frame, OutOfFrames> {
        (**self).alloc()
    }
    fn free(&mut self, frame: Frame) -> Result<(), FreeError> {
        (**self).free(frame)
    }
    fn free_mapped(&mut self, frame: Frame) -> Result<(), FreeError> {
        (**self).free_mapped(frame)
    }
}
