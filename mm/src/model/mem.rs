//! Arena-backed "physical memory" for host tests: page-aligned host memory at a fake physical
//! base, reached through [`PhysMem`] exactly as the kernel reaches RAM through its map.
//! Arm ARM (DDI 0487) D8.3: snapshots follow table descriptors from the root (levels 0-2).

use crate::addr::{PhysAddr, PhysRange, PAGE_SIZE};
use crate::descriptor::Level;
use crate::phys::PhysMem;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;
use std::vec::Vec;

/// Host memory standing in for RAM at `[base, base + len)`.
pub struct HostMem {
    base: PhysAddr,
    ptr: NonNull<u8>,
    layout: Layout,
}

impl HostMem {
    /// The customary fake RAM base (QEMU virt).
    pub const BASE: PhysAddr = PhysAddr::new(0x4000_0000);

    /// `bytes` (a multiple of 4 KiB) of zeroed memory at physical address `base`.
    pub fn new(base: PhysAddr, bytes: u64) -> Self {
        assert!(base.is_aligned(PAGE_SIZE) && bytes.is_multiple_of(PAGE_SIZE) && bytes > 0);
        let layout = Layout::from_size_align(bytes as usize, PAGE_SIZE as usize).expect("layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("host allocation");
        Self { base, ptr, layout }
    }

    /// The physical range the arena stands for.
    pub fn range(&self) -> PhysRange {
        PhysRange::new(self.base, self.base.add(self.layout.size() as u64))
    }

    /// Reads the 64-bit word at `pa` (8-byte aligned).
    pub fn read_u64(&self, pa: PhysAddr) -> u64 {
        let p = self.ptr(pa) as *const u64;
        assert!(pa.is_aligned(8));
        // SAFETY: `ptr` checked that `pa` is inside the arena; aligned; arena lives as `self`.
        unsafe { p.read_volatile() }
    }

    /// Writes the 64-bit word at `pa` (8-byte aligned).
    pub fn write_u64(&self, pa: PhysAddr, value: u64) {
        let p = self.ptr(pa) as *mut u64;
        assert!(pa.is_aligned(8));
        // SAFETY: `ptr` checked that `pa` is inside the arena; aligned
        // (asserted); the arena lives as long as `self`.
        unsafe { p.write_volatile(value) }
    }
}

impl Drop for HostMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

// SAFETY: every in-arena address maps to a distinct byte of one live allocation; addresses
// outside the arena panic instead of producing a pointer.
unsafe impl PhysMem for HostMem {
    fn ptr(&self, pa: PhysAddr) -> *mut u8 {
        let off = pa.as_u64().wrapping_sub(self.base.as_u64());
        assert!(
            off < self.layout.size() as u64,
            "{pa:?} is outside the host arena {:?}",
            self.range()
        );
        // SAFETY: off < size, so the result stays inside the allocation.
        unsafe { self.ptr.as_ptr().add(off as usize) }
    }
}

/// Every table page reachable from a root, with its 512 words, sorted by address.
pub type TableSnapshot = Vec<(PhysAddr, Vec<u64>)>;

/// Copies every table page reachable from `root` (follows table descriptors at levels 0-2).
pub fn snapshot_tables<M: PhysMem>(mem: &M, root: PhysAddr) -> TableSnapshot {
    let mut out = Vec::new();
    let mut todo = std::vec![(root, Level::L0)];
    while let Some((pa, level)) = todo.pop() {
        let words: Vec<u64> = (0..512).map(|i| mem.read_word(pa, i)).collect();
        if let Some(next) = level.next() {
            for &w in &words {
                let d = crate::descriptor::Descriptor::from_bits(w);
                if d.is_table(level) {
                    todo.push((d.output_address(), next));
                }
            }
        }
        out.push((pa, words));
    }
    out.sort_by_key(|(pa, _)| *pa);
    out
}
