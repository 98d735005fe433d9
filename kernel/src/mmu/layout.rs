//! The kernel image's sections, as the linker script lays them out, in
//! physical addresses (the MMU code maps each with its own permissions).
use crate::mem::{virt_to_phys, KERNEL_VA_OFFSET};
use mm::{PhysAddr, PhysRange};

/// Stack slots the linker script reserves (`__max_cpus`).
pub const MAX_STACKS: usize = 8;
const STACK_GUARD: u64 = 4096;
const STACK_SIZE: u64 = 65536;

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __stacks_start: u8;
    static __kernel_end: u8;
}

fn pa(sym: *const u8) -> PhysAddr {
    virt_to_phys(sym as usize)
}

/// Physical extents of the image's parts.
#[derive(Clone, Copy, Debug)]
pub struct KernelImage {
    /// The whole image, `__kernel_start` to `__kernel_end`.
    pub whole: PhysRange,
    /// .text: mapped read-only and executable.
    pub text: PhysRange,
    /// .rodata: mapped read-only, never executable.
    pub rodata: PhysRange,
    /// .data, .bss and the boot tables.
    pub data: PhysRange,
    stacks: PhysAddr,
}

impl KernelImage {
    /// The extents, from the linker script's symbols.
    pub fn get() -> Self {
        use core::ptr::addr_of;
        let (start, text_end) = (pa(addr_of!(__kernel_start)), pa(addr_of!(__text_end)));
        let (ro_start, ro_end) = (pa(addr_of!(__rodata_start)), pa(addr_of!(__rodata_end)));
        let (data_start, stacks) = (pa(addr_of!(__data_start)), pa(addr_of!(__stacks_start)));
        Self {
            whole: PhysRange::new(start, pa(addr_of!(__kernel_end))),
            text: PhysRange::new(start, text_end),
            rodata: PhysRange::new(ro_start, ro_end),
            data: PhysRange::new(data_start, stacks),
            stacks,
        }
    }

    fn slot(&self, cpu: usize) -> PhysAddr {
        assert!(cpu < MAX_STACKS, "no stack slot for cpu {cpu}");
        self.stacks.add(cpu as u64 * (STACK_GUARD + STACK_SIZE))
    }

    /// CPU `cpu`'s boot stack (mapped read/write).
    pub fn stack(&self, cpu: usize) -> PhysRange {
        PhysRange::from_base_size(self.slot(cpu).add(STACK_GUARD), STACK_SIZE)
    }

    /// The unmapped guard page under CPU `cpu`'s stack.
    pub fn guard(&self, cpu: usize) -> PhysRange {
        PhysRange::from_base_size(self.slot(cpu), STACK_GUARD)
    }
}

/// Kernel address of the guard page under CPU `cpu`'s stack.
pub fn stack_guard(cpu: usize) -> usize {
    (KernelImage::get().guard(cpu).start.as_u64() + KERNEL_VA_OFFSET) as usize
}
