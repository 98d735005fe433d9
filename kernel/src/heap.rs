//! The kernel heap (`alloc`): a first-fit allocator (`linked_list_allocator`)
//! over one physically contiguous, linearly mapped region carved from RAM
//! right after the kernel image. Its lock masks IRQs, so it may be used from
//! any context that may not sleep, but it never sleeps itself.
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};

use crate::arch;
use linked_list_allocator::Heap;

/// Size of the heap region.
pub const HEAP_SIZE: u64 = 16 << 20;

struct KernelHeap(spin::Mutex<Heap>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(spin::Mutex::new(Heap::empty()));

// SAFETY: `Heap` hands out disjoint blocks of the region given to `init`;
// the spinlock (with IRQs masked) serialises every use of it.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let flags = arch::irq_save();
        let p = self
            .0
            .lock()
            .allocate_first_fit(layout)
            .map_or(null_mut(), |p| p.as_ptr());
        arch::irq_restore(flags);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let flags = arch::irq_save();
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this `layout` (GlobalAlloc contract).
            unsafe { self.0.lock().deallocate(p, layout) };
        }
        arch::irq_restore(flags);
    }
}

/// Hands the region `[start, start + size)` (kernel addresses) to the heap.
///
/// # Safety
/// The region is mapped read/write, belongs to nobody else, and `init` runs once.
pub unsafe fn init(start: usize, size: usize) {
    // SAFETY: the caller guarantees that the region is mapped read/write,
    // belongs to nobody else, and that this runs once.
    unsafe { HEAP.0.lock().init(start as *mut u8, size) };
}

/// (bytes in use, bytes free).
pub fn usage() -> (usize, usize) {
    let flags = arch::irq_save();
    let h = HEAP.0.lock();
    let u = (h.used(), h.free());
    drop(h);
    arch::irq_restore(flags);
    u
}
