//! The kernel on its own page tables (built with `mm`): the upper half maps
//! all RAM linearly at `pa + KERNEL_VA_OFFSET`, the kernel image with W^X
//! (text RX, rodata R, data/bss/stacks RW, never writable and executable),
//! devices as Device-nGnRE never-executable, and leaves a guard page unmapped
//! under every CPU stack. `boot.S`'s 1 GiB boot tables are replaced by these
//! as soon as Rust runs; TTBR0 is then switched off until user address
//! spaces exist.
mod frame_table;
mod frames;
mod layout;

pub use frame_table::{frame_desc, frame_table, rule_broken};
pub use frames::{frame_stats, KernelFrames};
pub use layout::{stack_guard, KernelImage};

use crate::{arch, mem::KERNEL_VA_OFFSET, platform::Platform};
use boards::BOARD;
use mm::descriptor::Ap;
use mm::{
    phys::LinearMem, Aarch64Tlb, Asid, Attributes, Constraints, Gather, MapError, PageTable,
    PhysAddr, PhysRange, TlbMaintenance, VaRange, VaRegion, VirtAddr,
};

/// The kernel's (upper-half) page table.
pub type KernelTable = PageTable<LinearMem, Aarch64Tlb, KernelFrames>;

static KERNEL_TABLE: spin::Once<crate::sync::SpinLock<KernelTable>> = spin::Once::new();

extern "C" {
    fn replace_ttbr1(ttbr1: u64);
}

/// The kernel's page table. Edits to kernel mappings go through this lock.
pub fn kernel_table() -> &'static crate::sync::SpinLock<KernelTable> {
    KERNEL_TABLE.get().expect("kernel page table not built yet")
}

fn linear(pa: u64) -> VirtAddr {
    VirtAddr::new(pa + KERNEL_VA_OFFSET)
}

/// The linear-map addresses of `r`.
fn va_range(r: PhysRange) -> VaRange {
    VaRange::new(linear(r.start.as_u64()), linear(r.end.as_u64()))
}

/// Maps `r` at its linear address.
fn map_linear(
    pt: &mut KernelTable,
    g: &mut Gather<LinearMem>,
    r: PhysRange,
    attrs: Attributes,
) -> Result<(), MapError> {
    if r.is_empty() {
        return Ok(());
    }
    pt.map(va_range(r), r.start, attrs, Constraints::BLOCKS, g)
}

/// Maps a device window, page-rounded, around whatever part of it is
/// already mapped (the DT and the board defaults name the same devices).
fn map_device(pt: &mut KernelTable, g: &mut Gather<LinearMem>, r: PhysRange) {
    let Some(window) = r.align_outwards(mm::PAGE_SIZE) else {
        defmt::warn!(
            "device window {:#x}+{:#x} ends past the address space: not mapped",
            r.start.as_u64(),
            r.len()
        );
        return;
    };
    let (base, end) = (window.start.as_u64(), window.end.as_u64());
    // Runs before the heap exists: a fixed list of the mapped extents (a
    // window overlapping more than 15 is cut short there and reported).
    let mut mapped = [(end, end); 16];
    let mut n = 0;
    let _ = pt.walk(va_range(window), |m| {
        mapped[n] = (
            m.va.start.as_u64() - KERNEL_VA_OFFSET,
            m.va.end.as_u64() - KERNEL_VA_OFFSET,
        );
        n += 1;
        if n == mapped.len() - 1 {
            core::ops::ControlFlow::Break(())
        } else {
            core::ops::ControlFlow::Continue(())
        }
    });
    let mut cursor = base;
    for &(lo, hi) in &mapped[..=n] {
        let gap_end = lo.clamp(cursor, end);
        if gap_end > cursor {
            let gap = PhysRange::new(PhysAddr::new(cursor), PhysAddr::new(gap_end));
            if let Err(e) = map_linear(pt, g, gap, Attributes::KERNEL_DEVICE) {
                defmt::warn!(
                    "mmio {=u64:#x}..{=u64:#x} not mapped: {}",
                    cursor,
                    gap_end,
                    defmt::Debug2Format(&e)
                );
            }
        }
        cursor = cursor.max(hi.min(end));
    }
}

fn build(p: &Platform, img: &KernelImage) -> Result<KernelTable, MapError> {
    // SAFETY: every managed frame lies in RAM, which the boot tables and the
    // new tables map at `pa + KERNEL_VA_OFFSET`.
    let mem = unsafe { LinearMem::new(KERNEL_VA_OFFSET) };
    let mut pt = PageTable::new(
        mem,
        Aarch64Tlb::detect(),
        KernelFrames,
        VaRegion::Upper,
        Asid::KERNEL,
    )?;
    let mut g = pt.gather();
    let image = img.whole;

    // RAM, around the kernel image.
    for r in p.memory.iter() {
        if !r.overlaps(&image) {
            map_linear(&mut pt, &mut g, r, Attributes::KERNEL_DATA)?;
        } else {
            let below = PhysRange::new(r.start, image.start.max(r.start));
            let above = PhysRange::new(image.end.min(r.end), r.end);
            map_linear(&mut pt, &mut g, below, Attributes::KERNEL_DATA)?;
            map_linear(&mut pt, &mut g, above, Attributes::KERNEL_DATA)?;
        }
    }
    // The image, one permission per section; guard pages stay unmapped.
    map_linear(&mut pt, &mut g, img.text, Attributes::KERNEL_TEXT)?;
    map_linear(&mut pt, &mut g, img.rodata, Attributes::KERNEL_RODATA)?;
    map_linear(&mut pt, &mut g, img.data, Attributes::KERNEL_DATA)?;
    for cpu in 0..layout::MAX_STACKS {
        map_linear(&mut pt, &mut g, img.stack(cpu), Attributes::KERNEL_DATA)?;
    }
    // Task stacks live in .bss: unmap the guard page under each.
    for guard in crate::task::stack::guard_pages() {
        let r = VaRange::new(
            VirtAddr::new(guard.start as u64),
            VirtAddr::new(guard.end as u64),
        );
        pt.unmap(r, &mut g)?;
    }
    // Devices.
    for &r in BOARD.mmio {
        map_device(&mut pt, &mut g, r);
    }
    p.mmio_regions(|r| map_device(&mut pt, &mut g, r));
    // Nothing was live: the invalidation is a formality, but keeps the
    // gather's contract (flush before release).
    let flushed = g.flush(pt.arch());
    if let Err(e) = flushed.release(pt.frames_mut()) {
        panic!("kernel table build: release failed: {:?}", e);
    }
    Ok(pt)
}

/// Boot CPU, once: sets up the frame allocator, builds the kernel's tables
/// and switches to them.
pub fn init(p: &Platform) {
    let img = KernelImage::get();
    frames::init(p, &img);
    let pt = match build(p, &img) {
        Ok(pt) => pt,
        Err(e) => panic!("cannot build the kernel page table: {:?}", e),
    };
    let ttbr1 = pt.ttbr();
    let caps = pt.arch().caps();
    let table_pages = pt.table_pages();
    KERNEL_TABLE.call_once(|| crate::sync::SpinLock::new(pt));
    crate::mem::set_secondary_ttbr1(ttbr1);
    let flags = arch::irq_save();
    // SAFETY: the new table maps everything the kernel uses at the same
    // addresses as the boot tables (the image, RAM, devices), with W^X.
    unsafe { replace_ttbr1(ttbr1) };
    arch::irq_restore(flags);
    this_cpu_after_switch();
    let heap = frames::heap_region(&img);
    // SAFETY: the region is RAM the frame allocator never hands out
    // (reserved), mapped read/write by the linear map just installed.
    unsafe { crate::heap::init(crate::mem::phys_to_virt(heap.start), heap.len() as usize) };
    let stats = frame_stats();
    defmt::info!(
        "MMU: kernel tables at {=u64:#x} ({} table pages), W^X, guard pages under {} stacks; TLBI range ops: {}; frames {} free of {}",
        ttbr1,
        table_pages,
        layout::MAX_STACKS,
        caps.range_ops,
        stats.free,
        stats.total
    );
}

/// Every CPU, once it runs on the kernel's tables: no TTBR0 walks until a
/// user address space is installed, and writable memory is never executable
/// (SCTLR_EL1.WXN) as a hardware backstop to the table permissions. With the
/// `asid8` feature, 8-bit ASIDs (TCR_EL1.AS = 0) before any is used.
pub fn this_cpu_after_switch() {
    crate::arch::mmu::this_cpu_after_switch(cfg!(feature = "asid8"));
}

/// The first kernel address in `range` whose descriptor is writable and
/// executable at EL1 at once (W^X audit, from the raw descriptor bits).
pub fn find_writable_executable(range: VaRange) -> Option<VirtAddr> {
    let pt = kernel_table().lock();
    let mut bad = None;
    let _ = pt.walk(range, |m| {
        let leaf = m.descriptor.leaf_attrs();
        let el1_writable = matches!(leaf.ap, Ap::PrivRw | Ap::Rw);
        if el1_writable && !leaf.pxn {
            bad = Some(m.va.start);
            return core::ops::ControlFlow::Break(());
        }
        core::ops::ControlFlow::Continue(())
    });
    bad
}

/// Runs one edit of the kernel table and completes it: invalidates the TLB
/// entries it made stale, then frees the frames and table pages it unlinked.
fn edit(
    op: impl FnOnce(&mut KernelTable, &mut Gather<LinearMem>) -> Result<(), MapError>,
) -> Result<(), MapError> {
    let mut pt = kernel_table().lock();
    let mut g = pt.gather();
    let result = op(&mut pt, &mut g);
    let flushed = g.flush(pt.arch());
    if let Err(e) = flushed.release(pt.frames_mut()) {
        panic!("kernel table: frames could not be released: {:?}", e);
    }
    result
}

/// Maps `range` of kernel address space to `pa`.
pub fn map(
    range: VaRange,
    pa: PhysAddr,
    attrs: Attributes,
    constraints: Constraints,
) -> Result<(), MapError> {
    edit(|pt, g| pt.map(range, pa, attrs, constraints, g))
}

/// Unmaps `range`; returns once no CPU's TLB holds it.
pub fn unmap(range: VaRange) -> Result<(), MapError> {
    edit(|pt, g| pt.unmap(range, g))
}

/// Changes the permissions of `range`; returns once no TLB holds the old ones.
pub fn protect(range: VaRange, attrs: Attributes) -> Result<(), MapError> {
    edit(|pt, g| pt.protect(range, attrs, g))
}

/// The kernel table's translation of `va`.
pub fn translate(va: VirtAddr) -> Option<mm::table::Translation> {
    kernel_table().lock().translate(va)
}
