//! The vDSO every process maps (DESIGN.md §8; Linux's `arch/arm64/kernel/vdso.c`): the
//! shared object `kernel/build.rs` builds from `kernel/vdso` (its clock functions read the
//! counter without a system call; its entry point is the signal-return trampoline), and
//! the data page below it that those functions read. One frame of each, made at the first
//! exec and shared read-only by every process; `AT_SYSINFO_EHDR` announces the image.
use alloc::sync::Arc;

use crate::aspace::AddressSpace;
use mm::vma::{Placement, Prot};
use mm::{FrameSource, PhysAddr, VirtAddr, PAGE_SIZE};

/// The image, as the build linked it (an ELF shared object of one page at most).
static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// Where the image is mapped in every process: below the stack, one guard page between.
pub const VDSO_BASE: u64 = super::exec::STACK_TOP - super::exec::STACK_SIZE - 2 * PAGE_SIZE;
/// Where its data page is mapped: the page before the image (`vdso.lds`).
pub const VDSO_DATA: u64 = VDSO_BASE - PAGE_SIZE;

/// The data page's layout (`VdsoData` of `kernel/vdso/src/lib.rs`).
#[repr(C)]
struct Data {
    seq: u32,
    version: u32,
    frequency: u64,
    base: u64,
    realtime_offset_ns: u64,
}

/// The two frames (image, data) and the trampoline's offset in the image.
struct Frames {
    image: PhysAddr,
    data: PhysAddr,
    sigreturn: u64,
}

static FRAMES: spin::Once<Frames> = spin::Once::new();

fn frames() -> &'static Frames {
    FRAMES.call_once(|| {
        let parsed = elf::ElfBytes::<elf::endian::LittleEndian>::minimal_parse(IMAGE)
            .expect("the vDSO the build linked is an ELF file");
        assert!(
            IMAGE.len() as u64 <= PAGE_SIZE && parsed.ehdr.e_entry < IMAGE.len() as u64,
            "the vDSO fits one page and its entry point lies inside"
        );
        let alloc = || {
            crate::mmu::KernelFrames
                .alloc()
                .expect("a frame for the vDSO")
                .start()
        };
        let (image, data) = (alloc(), alloc());
        let at = crate::mem::phys_to_virt(image) as *mut u8;
        let d = crate::mem::phys_to_virt(data) as *mut Data;
        // SAFETY: two frames just allocated, reached through the linear map, never freed:
        // the image copied into the first (the rest zeroed), the data page written whole.
        unsafe {
            core::ptr::write_bytes(at, 0, PAGE_SIZE as usize);
            core::ptr::copy_nonoverlapping(IMAGE.as_ptr(), at, IMAGE.len());
            core::ptr::write_bytes(d as *mut u8, 0, PAGE_SIZE as usize);
            d.write(Data {
                seq: 0,
                version: 1,
                frequency: drivers::timer::frequency(),
                // The monotonic clock counts from counter 0 (`syscall::time::now`); no
                // real-time clock is set, so CLOCK_REALTIME counts from boot too.
                base: 0,
                realtime_offset_ns: 0,
            });
        }
        crate::arch::sync_icache_page(at as usize);
        Frames {
            image,
            data,
            sigreturn: parsed.ehdr.e_entry,
        }
    })
}

/// Maps the data page (read-only) and the image (read and execute) into `aspace`.
pub fn map(aspace: &Arc<AddressSpace>) -> Result<(), crate::aspace::AsError> {
    let f = frames();
    for (pa, at, prot) in [(f.data, VDSO_DATA, Prot::R), (f.image, VDSO_BASE, Prot::RX)] {
        aspace.map_physical(
            pa,
            PAGE_SIZE,
            prot,
            mm::MemoryType::Normal,
            Placement::FixedNoReplace(VirtAddr::new(at)),
        )?;
    }
    Ok(())
}

/// Where a handler installed without `SA_RESTORER` returns: the image's
/// `__kernel_rt_sigreturn`.
pub fn sigreturn() -> u64 {
    VDSO_BASE + frames().sigreturn
}
