//! The physical frame allocator for the whole kernel: all RAM the platform
//! describes, minus the kernel image, the DTB, the initrd, reserved memory
//! and the firmware's area below the image (spin tables, ATAGs).
use super::layout::KernelImage;
use crate::{mem::KERNEL_VA_OFFSET, platform::Platform};
use mm::phys::LinearMem;
use mm::{Frame, FrameAllocator, FrameSource, FreeError, OutOfFrames, PhysRange};

static FRAMES: spin::Once<crate::sync::SpinLock<FrameAllocator<'static, LinearMem>>> =
    spin::Once::new();

/// Handle to the global allocator (the page tables' `FrameSource`).
/// Context: takes a spinlock (preemption off while held: a preempted holder
/// would leave the other CPUs spinning); not for IRQ handlers.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelFrames;

impl FrameSource for KernelFrames {
    fn alloc(&mut self) -> Result<Frame, OutOfFrames> {
        allocator().lock().alloc()
    }
    fn free(&mut self, frame: Frame) -> Result<(), FreeError> {
        allocator().lock().free(frame)
    }
}

fn allocator() -> &'static crate::sync::SpinLock<FrameAllocator<'static, LinearMem>> {
    FRAMES.get().expect("frame allocator not initialised")
}

/// Frames managed and free right now.
pub fn frame_stats() -> mm::frame::FrameStats {
    allocator().lock().stats()
}

pub(super) fn init(p: &Platform, img: &KernelImage) {
    let mut memory = [PhysRange::default(); 8];
    let mut n_mem = 0;
    for r in p.memory.iter().take(memory.len()) {
        memory[n_mem] = r;
        n_mem += 1;
    }
    let mut reserved = [PhysRange::default(); 16];
    let mut n_res = 0;
    let mut reserve = |r: PhysRange| {
        if !r.is_empty() && n_res < reserved.len() {
            if let Some(whole) = r.align_outwards(mm::PAGE_SIZE) {
                reserved[n_res] = whole;
            }
            n_res += 1;
        }
    };
    let kstart = img.whole.start;
    reserve(img.whole);
    reserve(heap_region(img));
    if let Some(region) = p.memory.iter().find(|r| r.contains(kstart)) {
        reserve(PhysRange::new(region.start, kstart));
    }
    if let Some(dtb) = p.dtb {
        reserve(dtb);
    }
    if let Some(initrd) = p.initrd {
        reserve(initrd);
    }
    for r in p.reserved.iter() {
        reserve(r);
    }
    FRAMES.call_once(|| {
        // SAFETY: all of `memory` is reachable at `pa + KERNEL_VA_OFFSET`
        // (boot tables, then the kernel's linear map), and the reserved
        // ranges cover everything else that lives in RAM.
        let alloc = unsafe {
            FrameAllocator::new_carved(
                LinearMem::new(KERNEL_VA_OFFSET),
                &memory[..n_mem],
                &reserved[..n_res],
            )
        };
        match alloc {
            Ok(a) => crate::sync::SpinLock::new(a),
            Err(e) => panic!("frame allocator: {:?}", e),
        }
    });
}

/// The heap's physical region: the 2 MiB-aligned range after the image.
pub(super) fn heap_region(img: &KernelImage) -> PhysRange {
    let base = img
        .whole
        .end
        .align_up(2 << 20)
        .expect("the kernel image ends below the top of the address space");
    PhysRange::from_base_size(base, crate::heap::HEAP_SIZE)
}
