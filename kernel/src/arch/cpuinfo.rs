//! What the CPU says it has (ID registers) and its random-number register.

/// ID_AA64ISAR0_EL1: instruction-set features (atomics, CRC, RNDR, ...).
pub fn id_aa64isar0() -> u64 {
    let v: u64;
    // SAFETY: reading an ID register has no side effect.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64isar0_el1", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// ID_AA64PFR0_EL1: processor features (FP, AdvSIMD, exception levels, ...).
pub fn id_aa64pfr0() -> u64 {
    let v: u64;
    // SAFETY: reading an ID register has no side effect.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64pfr0_el1", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// A hardware random number from FEAT_RNG's RNDR, if the CPU has it and it
/// delivered one (NZCV.Z clear).
pub fn rndr() -> Option<u64> {
    if (id_aa64isar0() >> 60) & 0xf == 0 {
        return None;
    }
    let (v, nzcv): (u64, u64);
    // SAFETY: RNDR (S3_3_C2_C4_0) exists per the ID check; it only reads.
    unsafe {
        core::arch::asm!("mrs {v}, S3_3_C2_C4_0", "mrs {f}, nzcv", v = out(reg) v, f = out(reg) nzcv, options(nomem, nostack))
    };
    (nzcv & (1 << 30) == 0).then_some(v)
}
