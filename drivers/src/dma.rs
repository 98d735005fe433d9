//! Memory shared with a cache-coherent DMA master (a 4 KiB page the SMMU reads
//! its tables and commands from and writes events into). Accesses are volatile
//! 64-bit, so the compiler neither elides nor tears them; ordering against the
//! device is `barrier::dma_wmb`/`dma_rmb` at the call sites.

use addr::PhysAddr;

/// Bytes in a DMA page.
pub const DMA_PAGE_SIZE: usize = 4096;

/// A zeroed, page-aligned 4 KiB page owned by one driver.
#[derive(Debug, PartialEq, Eq)]
pub struct DmaPage {
    pa: PhysAddr,
    va: usize,
}

impl DmaPage {
    /// # Safety
    /// `va` maps the 4 KiB page at physical address `pa` (page aligned) as
    /// normal cacheable memory that the device accesses coherently, the page
    /// is zeroed, and nothing else uses it for the life of the value.
    pub const unsafe fn new(pa: PhysAddr, va: usize) -> Self {
        Self { pa, va }
    }

    /// Physical (device-visible) address.
    pub const fn pa(&self) -> PhysAddr {
        self.pa
    }

    /// The doubleword at byte `offset` (8-aligned, < 4096).
    pub fn read_u64(&self, offset: usize) -> u64 {
        assert!(offset.is_multiple_of(8) && offset < DMA_PAGE_SIZE);
        // SAFETY: `new`'s contract: the page is mapped and ours; in bounds and aligned.
        unsafe { core::ptr::read_volatile((self.va + offset) as *const u64) }
    }

    /// Writes the doubleword at byte `offset` (8-aligned, < 4096) in one access.
    pub fn write_u64(&self, offset: usize, value: u64) {
        assert!(offset.is_multiple_of(8) && offset < DMA_PAGE_SIZE);
        // SAFETY: `new`'s contract: the page is mapped and ours; the offset is
        // in bounds and 8-aligned (asserted).
        unsafe { core::ptr::write_volatile((self.va + offset) as *mut u64, value) }
    }
}
