//! What the CPU says it has (ID registers) and its random-number register.
use aarch64_cpu::registers::{ID_AA64ISAR0_EL1, ID_AA64PFR0_EL1};
use tock_registers::interfaces::Readable;

/// ID_AA64ISAR0_EL1: instruction-set features (atomics, CRC, RNDR, ...).
pub fn id_aa64isar0() -> u64 {
    ID_AA64ISAR0_EL1.get()
}

/// ID_AA64PFR0_EL1: processor features (FP, AdvSIMD, exception levels, ...).
pub fn id_aa64pfr0() -> u64 {
    ID_AA64PFR0_EL1.get()
}

/// A hardware random number from FEAT_RNG's RNDR, if the CPU has it and it
/// delivered one (NZCV.Z clear).
pub fn rndr() -> Option<u64> {
    if ID_AA64ISAR0_EL1.read(ID_AA64ISAR0_EL1::RNDR) == 0 {
        return None;
    }
    let (v, nzcv): (u64, u64);
    // SAFETY: RNDR (S3_3_C2_C4_0) exists per the ID check; it only reads.
    unsafe {
        core::arch::asm!("mrs {v}, S3_3_C2_C4_0", "mrs {f}, nzcv", v = out(reg) v, f = out(reg) nzcv, options(nomem, nostack))
    };
    (nzcv & (1 << 30) == 0).then_some(v)
}
