//! Access to physical memory (table pages, frames) from the code that edits it.
//! Arm ARM (DDI 0487) D8.2 (output addresses): the walker reads tables by physical address; the
//! kernel reaches the same bytes through its identity or linear map, host tests through an arena.

use crate::addr::{PhysAddr, PAGE_SIZE};

/// Turns the physical address of a table page or frame into a pointer the CPU can use now.
///
/// # Safety
///
/// An implementation promises that for every 4 KiB-aligned `pa` in the memory the frame
/// allocator manages (and every page-table page), `ptr(pa)` is valid for reads and writes of
/// 4 KiB, aligned to 4 KiB, and stays valid while the frame is in use; and that different
/// frames never share bytes. The walker's and allocator's `unsafe` blocks rely on this.
pub unsafe trait PhysMem {
    /// A pointer to the byte at `pa`.
    fn ptr(&self, pa: PhysAddr) -> *mut u8;

    /// Fills the 4 KiB frame at `pa` with `byte`.
    fn fill_frame(&self, pa: PhysAddr, byte: u8) {
        debug_assert!(pa.is_aligned(PAGE_SIZE));
        // SAFETY: the trait contract makes `ptr(pa)` valid for 4 KiB of writes for a frame.
        unsafe { core::ptr::write_bytes(self.ptr(pa), byte, PAGE_SIZE as usize) }
    }

    /// Reads the `i`-th 64-bit word of the frame at `pa` (`i < 512`).
    fn read_word(&self, pa: PhysAddr, i: usize) -> u64 {
        assert!(i < 512);
        // SAFETY: `ptr(pa)` is valid and 8-byte aligned for 4 KiB (trait contract); i < 512.
        unsafe { core::ptr::read_volatile((self.ptr(pa) as *const u64).add(i)) }
    }

    /// Writes the `i`-th 64-bit word of the frame at `pa` (`i < 512`).
    fn write_word(&self, pa: PhysAddr, i: usize, value: u64) {
        assert!(i < 512);
        // SAFETY: `ptr(pa)` is valid and 8-byte aligned for 4 KiB (trait contract); i < 512.
        unsafe { core::ptr::write_volatile((self.ptr(pa) as *mut u64).add(i), value) }
    }
}

// SAFETY: forwards to `T`, which upholds the contract.
unsafe impl<T: PhysMem + ?Sized> PhysMem for &T {
    fn ptr(&self, pa: PhysAddr) -> *mut u8 {
        (**self).ptr(pa)
    }
}

/// Physical memory reached at the same address (MMU off, or an identity map of all RAM).
#[derive(Copy, Clone, Debug)]
pub struct IdentityMem(());

impl IdentityMem {
    /// # Safety
    /// Every frame the allocator manages and every table page must be accessible at its
    /// physical address, read/write, for as long as this value is used.
    pub const unsafe fn new() -> Self {
        Self(())
    }
}

// SAFETY: `new`'s caller promised that RAM is reachable at its physical address.
unsafe impl PhysMem for IdentityMem {
    fn ptr(&self, pa: PhysAddr) -> *mut u8 {
        pa.as_u64() as usize as *mut u8
    }
}

/// Physical memory reached through a linear map at `pa + offset`.
#[derive(Copy, Clone, Debug)]
pub struct LinearMem {
    offset: u64,
}

impl LinearMem {
    /// # Safety
    /// Every frame the allocator manages and every table page must be mapped read/write at
    /// `pa + offset` (wrapping) for as long as this value is used.
    pub const unsafe fn new(offset: u64) -> Self {
        Self { offset }
    }
}

// SAFETY: `new`'s caller promised the linear map covers all managed RAM.
unsafe impl PhysMem for LinearMem {
    fn ptr(&self, pa: PhysAddr) -> *mut u8 {
        pa.as_u64().wrapping_add(self.offset) as usize as *mut u8
    }
}
