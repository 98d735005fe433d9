//! Where things are: the kernel runs in the upper half, where every physical
//! address `pa` is visible at `pa + KERNEL_VA_OFFSET` (TTBR1). Physical
//! addresses (DT, devices, page tables, PSCI entry points) convert here.
use core::sync::atomic::{AtomicU64, Ordering};
use mm::PhysAddr;

/// Virtual address of physical address 0 (linker/common.ld agrees).
pub const KERNEL_VA_OFFSET: u64 = 0xffff_0000_0000_0000;

/// The kernel-visible address of physical address `pa` (a `const fn`: the
/// console's UART is a `static`).
pub const fn phys_to_virt(pa: PhysAddr) -> usize {
    (pa.as_u64() + KERNEL_VA_OFFSET) as usize
}

/// The physical address behind a kernel (upper-half) address.
pub fn virt_to_phys(va: usize) -> PhysAddr {
    let va = va as u64;
    assert!(
        va >= KERNEL_VA_OFFSET,
        "{va:#x} is not a kernel linear-map address"
    );
    PhysAddr::new(va - KERNEL_VA_OFFSET)
}

/// Physical address of a kernel function (PSCI and spin-table entry points).
pub fn fn_phys(f: unsafe extern "C" fn() -> !) -> PhysAddr {
    virt_to_phys(f as *const () as usize)
}

/// TTBR1 value secondaries switch on with (`boot.S` reads it with the MMU
/// off); 0 means "the boot tables".
#[no_mangle]
static SECONDARY_TTBR1: AtomicU64 = AtomicU64::new(0);

/// Publishes the TTBR1 value secondaries must use. Cleans the variable to the
/// point of coherency because they read it with the MMU and caches off.
pub fn set_secondary_ttbr1(ttbr1: u64) {
    SECONDARY_TTBR1.store(ttbr1, Ordering::SeqCst);
    crate::arch::cache::clean_line_to_poc(SECONDARY_TTBR1.as_ptr() as usize);
}
