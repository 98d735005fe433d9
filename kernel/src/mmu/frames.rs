//! The physical frame allocator for the whole kernel: all RAM the platform
//! describes, minus the kernel image, the DTB, the initrd, reserved memory
//! and the firmware's area below the image (spin tables, ATAGs).
use super::frame_table::{frame_table, rule_broken};
use super::layout::KernelImage;
use crate::{mem::KERNEL_VA_OFFSET, platform::Platform};
use mm::frame::descriptor::{FrameFlags, Put};
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
    /// A frame with one reference, the caller's.
    fn alloc(&mut self) -> Result<Frame, OutOfFrames> {
        let frame = allocator().lock().alloc()?;
        if let Err(e) = frame_table().on_alloc(frame.start(), FrameFlags::NONE) {
            rule_broken(e);
        }
        Ok(frame)
    }
    /// Drops the caller's reference; the frame goes back to the allocator with the last
    /// one (a frame outside RAM goes straight to the allocator, which refuses it).
    fn free(&mut self, frame: Frame) -> Result<(), FreeError> {
        if frame_table().get(frame.start()).is_none() {
            return allocator().lock().free(frame);
        }
        match frame_table().put_ref(frame.start()) {
            Ok(Put::Shared) => Ok(()),
            Ok(Put::Last) => allocator().lock().free(frame),
            Err(e) => rule_broken(e),
        }
    }
    /// Drops an unmapped page-table entry's mapping and reference. Only user pages
    /// (anonymous or shared: the address-space layer counts their mappings) have a
    /// mapping to drop; a frame some other table owned (a test's, a driver's) is freed.
    fn free_mapped(&mut self, frame: Frame) -> Result<(), FreeError> {
        if let Some(d) = frame_table().get(frame.start()) {
            let counted = FrameFlags::ANON.union(FrameFlags::SHARED);
            if d.flags().bits() & counted.bits() != 0 {
                if let Err(e) = frame_table().remove_map(frame.start()) {
                    rule_broken(e);
                }
            }
        }
        self.free(frame)
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
    let table = super::frame_table::storage(p, img);
    reserve(table);
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
    super::frame_table::init(p, img);
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
