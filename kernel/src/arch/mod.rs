//! The aarch64 seam: boot and vector assembly, and the few system-register
//! operations the rest of the kernel needs, as plain functions.
use aarch64_cpu::registers::{CurrentEL, DAIF, MPIDR_EL1, TCR_EL1, TPIDR_EL1, TTBR0_EL1, VBAR_EL1};
use tock_registers::interfaces::{Readable, Writeable};

pub mod esr;
pub mod exception;

core::arch::global_asm!(include_str!("boot.S"));
core::arch::global_asm!(include_str!("vectors.S"));

extern "C" {
    static exception_vectors: u8;
    pub fn _secondary_psci() -> !;
    pub fn _secondary_spin() -> !;
}

/// Points VBAR_EL1 at the kernel's vector table on the calling CPU.
pub fn install_vectors() {
    let base = core::ptr::addr_of!(exception_vectors) as u64;
    VBAR_EL1.set(base);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// The exception level the CPU runs at now (1 once boot code has run).
pub fn current_el() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

pub fn mpidr() -> u64 {
    MPIDR_EL1.get()
}

/// Invalidates every EL1&0 TLB entry of this CPU (TLBI VMALLE1, DSB NSH,
/// ISB): the answer to a TLB conflict abort (Arm ARM D8.16.3).
pub fn local_tlb_flush() {
    // SAFETY: invalidating TLB entries only makes the MMU walk again.
    unsafe {
        core::arch::asm!(
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}

/// Pages made visible to instruction fetch by [`sync_icache_page`] (for
/// tests and statistics).
pub static ICACHE_SYNCS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Makes the 4 KiB page at kernel address `page` coherent for instruction
/// fetch before a user mapping makes it executable (Linux's
/// `__sync_icache_dcache`): clean each data-cache line to the point of
/// unification (`DC CVAU`, skipped when CTR_EL0.IDC says the hardware does
/// it), `DSB ISH`, invalidate the instruction cache for it (`IC IVAU` by
/// line when the I-cache is PIPT, `IC IALLUIS` otherwise, skipped when
/// CTR_EL0.DIC), `DSB ISH`, `ISB`. A Cortex-A72 has neither IDC nor DIC.
pub fn sync_icache_page(page: usize) {
    const PAGE: usize = 4096;
    let ctr: u64;
    // SAFETY: reading an ID register has no side effect.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let dline = 4usize << ((ctr >> 16) & 0xf);
    let iline = 4usize << (ctr & 0xf);
    let (idc, dic) = (ctr & (1 << 28) != 0, ctr & (1 << 29) != 0);
    let pipt = (ctr >> 14) & 0b11 == 0b11;
    // SAFETY: cache maintenance by VA on a page the kernel maps (the linear
    // map) changes no data, only where it is held.
    unsafe {
        if !idc {
            for line in (page..page + PAGE).step_by(dline) {
                core::arch::asm!("dc cvau, {}", in(reg) line, options(nostack, preserves_flags));
            }
        }
        core::arch::asm!("dsb ish", options(nostack, preserves_flags));
        if !dic {
            if pipt {
                for line in (page..page + PAGE).step_by(iline) {
                    core::arch::asm!("ic ivau, {}", in(reg) line, options(nostack, preserves_flags));
                }
            } else {
                core::arch::asm!("ic ialluis", options(nostack, preserves_flags));
            }
            core::arch::asm!("dsb ish", options(nostack, preserves_flags));
        }
        core::arch::asm!("isb", options(nostack, preserves_flags));
    }
    ICACHE_SYNCS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
}

/// TCR_EL1 (translation control: ASID width, walk enables).
pub fn tcr_el1() -> u64 {
    TCR_EL1.get()
}

/// TTBR0_EL1 of the calling CPU: the user table and, in bits [63:48], the
/// ASID the CPU runs it under.
pub fn ttbr0_el1() -> u64 {
    TTBR0_EL1.get()
}

/// The logical index of the calling CPU (set once at CPU entry).
pub fn cpu_id() -> usize {
    TPIDR_EL1.get() as usize
}

pub fn set_cpu_id(id: usize) {
    TPIDR_EL1.set(id as u64);
}

/// Masks IRQs and returns the previous DAIF value for `irq_restore`.
pub fn irq_save() -> u64 {
    let flags = DAIF.get();
    DAIF.write(DAIF::I::Masked + DAIF::F::Masked);
    flags
}

pub fn irq_restore(flags: u64) {
    DAIF.set(flags);
}

pub fn irqs_enabled() -> bool {
    !DAIF.is_set(DAIF::I)
}

/// Unmasks IRQs (and SError/debug) on the calling CPU.
pub fn irq_enable() {
    DAIF.write(DAIF::D::Unmasked + DAIF::A::Unmasked + DAIF::I::Unmasked + DAIF::F::Masked);
}

pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

pub mod user;
pub use user::{set_user_tls, user_tls};
