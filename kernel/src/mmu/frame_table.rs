//! The frame descriptors of all RAM (DESIGN.md §7.1): one array, set up at boot right after
//! the heap, indexed by frame number over the span from the lowest to the highest RAM
//! address. Every frame the allocator hands out starts with one reference
//! ([`KernelFrames`](super::KernelFrames) sets it); mappings and shared holders add theirs.
use super::layout::KernelImage;
use crate::platform::Platform;
use mm::frame::descriptor::{FrameDesc, FrameRuleError, FrameTable};
use mm::{PhysAddr, PhysRange, PAGE_SIZE};

static TABLE: spin::Once<FrameTable<'static>> = spin::Once::new();

/// The span of RAM the table describes (page aligned).
fn span(p: &Platform) -> PhysRange {
    let lo = p.memory.iter().map(|r| r.start.as_u64()).min().unwrap_or(0);
    let hi = p.memory.iter().map(|r| r.end.as_u64()).max().unwrap_or(0);
    PhysRange::new(
        PhysAddr::new(lo).align_down(PAGE_SIZE),
        PhysAddr::new(hi)
            .align_up(PAGE_SIZE)
            .expect("RAM below 2^64"),
    )
}

/// Where the descriptors live: the page-aligned range right after the heap.
pub(super) fn storage(p: &Platform, img: &KernelImage) -> PhysRange {
    let heap = super::frames::heap_region(img);
    let start = heap.end.align_up(PAGE_SIZE).expect("the heap below 2^64");
    PhysRange::new(start, start.add(FrameTable::bytes_for(span(p))))
}

/// Builds the table (boot, once, before the first frame is allocated).
pub(super) fn init(p: &Platform, img: &KernelImage) {
    let at = storage(p, img);
    let inside = p.memory.iter().any(|r| r.contains_range(&at));
    assert!(
        inside,
        "no room for the frame descriptors at {:?} ({} KiB)",
        at.start,
        at.len() / 1024
    );
    let span = span(p);
    let count = (span.len() / PAGE_SIZE) as usize;
    let base = crate::mem::phys_to_virt(at.start) as *mut FrameDesc;
    // SAFETY: `at` is RAM reserved for this table alone (frames::init keeps it from the
    // allocator), reached through the linear map, large enough for `count` descriptors
    // (`bytes_for`) and aligned to a page; all-zero bytes are a valid `FrameDesc` (atomics
    // at zero: no reference, no flag), and the slice is never freed.
    let descs = unsafe {
        core::ptr::write_bytes(base as *mut u8, 0, at.len() as usize);
        core::slice::from_raw_parts(base, count)
    };
    TABLE.call_once(|| FrameTable::new(span, descs).expect("a table for the RAM span"));
}

/// The frame descriptors.
pub fn frame_table() -> &'static FrameTable<'static> {
    TABLE.get().expect("frame table not initialised")
}

/// The descriptor of the frame holding `pa`, if it is RAM.
pub fn frame_desc(pa: PhysAddr) -> Option<&'static FrameDesc> {
    frame_table().get(pa)
}

/// Stops the kernel with the broken rule: a count went wrong, so some frame is about to
/// be used after its free or freed while in use.
#[track_caller]
pub fn rule_broken(e: FrameRuleError) -> ! {
    panic!("frame descriptors: {:?}", e)
}
