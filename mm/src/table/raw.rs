//! Raw access to one 512-entry translation table page. Arm ARM (DDI 0487) D8.3 (a table is
//! 512 64-bit descriptors, 4 KiB aligned) and D8.2.4 (single-copy atomic 64-bit descriptor
//! writes).

use crate::addr::PhysAddr;
use crate::descriptor::Descriptor;
use crate::phys::PhysMem;

/// Entries per table page.
pub(crate) const ENTRIES: usize = 512;

/// One table page of a [`PageTable`](super::PageTable).
///
/// Invariant: only built (by the table code) for a page that is one of the table's own table
/// pages or a frame it took from its pool, so the [`PhysMem`] contract makes `ptr` valid for
/// 512 aligned `u64`s while the caller holds the table exclusively.
#[derive(Copy, Clone)]
pub(crate) struct TableRef {
    ptr: *mut u64,
}

impl TableRef {
    #[inline]
    pub(crate) fn new<M: PhysMem>(mem: &M, pa: PhysAddr) -> Self {
        Self {
            ptr: mem.ptr(pa) as *mut u64,
        }
    }

    #[inline]
    pub(crate) fn get(self, i: usize) -> Descriptor {
        debug_assert!(i < ENTRIES);
        // SAFETY: type invariant (valid table page); i < 512. Volatile: the page is shared
        // with the hardware walker.
        Descriptor::from_bits(unsafe { self.ptr.add(i).read_volatile() })
    }

    /// A single 64-bit store, as the architecture requires for a live descriptor.
    #[inline]
    pub(crate) fn set(self, i: usize, d: Descriptor) {
        debug_assert!(i < ENTRIES);
        // SAFETY: type invariant (valid table page, exclusively held); i < 512.
        unsafe { self.ptr.add(i).write_volatile(d.bits()) }
    }

    /// Whether every entry is invalid.
    pub(crate) fn is_empty(self) -> bool {
        (0..ENTRIES).all(|i| !self.get(i).is_valid())
    }
}
