//! The aarch64 seam: boot and vector assembly, and the few system-register
//! operations the rest of the kernel needs, as plain functions.
use aarch64_cpu::registers::{CurrentEL, DAIF, MPIDR_EL1, TCR_EL1, TPIDR_EL1, TTBR0_EL1, VBAR_EL1};
use tock_registers::interfaces::{Readable, Writeable};

pub mod cache;
pub mod context;
pub mod cpuinfo;
pub mod esr;
pub mod exception;
pub mod fpsimd;
pub mod mmu;
pub mod semihosting;

pub use cache::{sync_icache_page, ICACHE_SYNCS};

/// Most CPUs the kernel supports (the linker script reserves as many stacks).
pub const MAX_CPUS: usize = 8;

pub use mmu::local_tlb_flush;

core::arch::global_asm!(include_str!("boot.S"));
core::arch::global_asm!(include_str!("vectors.S"));

extern "C" {
    static exception_vectors: u8;
    /// Entry of a secondary CPU started by PSCI `CPU_ON` (physical address,
    /// MMU off); x0, the context ID, is the logical CPU index.
    pub fn _secondary_psci() -> !;
    /// Entry of a secondary CPU released from its spin table (physical
    /// address, MMU off); the logical index is MPIDR_EL1.Aff0.
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

/// MPIDR_EL1 of the calling CPU: its affinity (Aff3.Aff2.Aff1.Aff0).
pub fn mpidr() -> u64 {
    MPIDR_EL1.get()
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

/// Records the calling CPU's logical index in TPIDR_EL1 (once, at CPU entry).
pub fn set_cpu_id(id: usize) {
    TPIDR_EL1.set(id as u64);
}

/// Masks IRQs and returns the previous DAIF value for `irq_restore`.
pub fn irq_save() -> u64 {
    let flags = DAIF.get();
    DAIF.write(DAIF::I::Masked + DAIF::F::Masked);
    flags
}

/// Restores DAIF as `irq_save` returned it.
pub fn irq_restore(flags: u64) {
    DAIF.set(flags);
}

/// IRQs are unmasked on the calling CPU (DAIF.I clear).
pub fn irqs_enabled() -> bool {
    !DAIF.is_set(DAIF::I)
}

/// Unmasks IRQs (and SError/debug) on the calling CPU.
pub fn irq_enable() {
    DAIF.write(DAIF::D::Unmasked + DAIF::A::Unmasked + DAIF::I::Unmasked + DAIF::F::Masked);
}

/// Waits for an interrupt (`wfi`); returns once one is pending, masked or not.
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// The current stack pointer, for reports and checks.
#[inline(always)]
pub fn stack_pointer() -> u64 {
    let sp: u64;
    // SAFETY: reads SP into a register; no side effects.
    unsafe {
        core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// `svc #0x1234` from EL1: the self-check's round trip through the vector
/// (the synchronous handler counts it and returns after it).
pub fn svc_probe() {
    // SAFETY: `svc` traps to our own vector, which records it and returns.
    unsafe { core::arch::asm!("svc #0x1234") };
}

pub mod user;
pub use user::{set_user_tls, user_tls};
