//! The kernel-side [`TlbMaintenance`] on real hardware: one TLBI, DSB or ISB per method.
//! Arm ARM (DDI 0487) C5.5 (TLBI VAE1IS, VALE1IS, RVAE1IS, RVALE1IS, ASIDE1IS, VMALLE1IS),
//! C6.2 (DSB, ISB). Only built for `target_arch = "aarch64"`.

use crate::tlb::{Asid, RangeOperand, TlbCaps, TlbMaintenance, VaOperand};
use core::arch::asm;

/// TLB maintenance by instructions, Inner Shareable; `caps` read once at boot.
#[derive(Copy, Clone, Debug)]
pub struct Aarch64Tlb {
    caps: TlbCaps,
}

impl Aarch64Tlb {
    /// Reads ID_AA64ISAR0_EL1 and ID_AA64MMFR2_EL1 to decide FEAT_TLBIRANGE and FEAT_TTL.
    pub fn detect() -> Self {
        let (isar0, mmfr2): (u64, u64);
        // SAFETY: ID registers are readable at EL1 and reading them has no side effects.
        unsafe {
            asm!("mrs {}, ID_AA64ISAR0_EL1", out(reg) isar0, options(nomem, nostack, preserves_flags));
            asm!("mrs {}, ID_AA64MMFR2_EL1", out(reg) mmfr2, options(nomem, nostack, preserves_flags));
        }
        Self {
            caps: TlbCaps::from_id_registers(isar0, mmfr2),
        }
    }
}

impl TlbMaintenance for Aarch64Tlb {
    fn caps(&self) -> TlbCaps {
        self.caps
    }

    fn invalidate_va(&self, op: VaOperand, last_level_only: bool) {
        // SAFETY: TLB invalidation only drops cached translations; it cannot break memory
        // safety (the tables stay the source of truth).
        unsafe {
            if last_level_only {
                asm!("tlbi vale1is, {}", in(reg) op.bits(), options(nostack, preserves_flags));
            } else {
                asm!("tlbi vae1is, {}", in(reg) op.bits(), options(nostack, preserves_flags));
            }
        }
    }

    fn invalidate_range(&self, op: RangeOperand, last_level_only: bool) {
        assert!(
            self.caps.range_ops,
            "TLBI RVA*E1IS without FEAT_TLBIRANGE is UNDEFINED"
        );
        // SAFETY: TLB invalidation only drops cached translations (the tables stay the
        // source of truth); FEAT_TLBIRANGE is present (checked), so the instruction exists.
        unsafe {
            if last_level_only {
                asm!(".arch_extension tlb-rmi", "tlbi rvale1is, {}", in(reg) op.bits(), options(nostack, preserves_flags));
            } else {
                asm!(".arch_extension tlb-rmi", "tlbi rvae1is, {}", in(reg) op.bits(), options(nostack, preserves_flags));
            }
        }
    }

    fn invalidate_asid(&self, asid: Asid) {
        // SAFETY: TLB invalidation only drops cached translations; it cannot break
        // memory safety (the tables stay the source of truth).
        unsafe {
            asm!("tlbi aside1is, {}", in(reg) (asid.get() as u64) << 48, options(nostack, preserves_flags))
        }
    }

    fn invalidate_all(&self) {
        // SAFETY: TLB invalidation only drops cached translations; it cannot break
        // memory safety (the tables stay the source of truth).
        unsafe { asm!("tlbi vmalle1is", options(nostack, preserves_flags)) }
    }

    fn dsb_ishst(&self) {
        // SAFETY: a barrier only orders memory accesses.
        unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) }
    }

    fn dsb_ish(&self) {
        // SAFETY: a barrier only orders memory accesses.
        unsafe { asm!("dsb ish", options(nostack, preserves_flags)) }
    }

    fn isb(&self) {
        // SAFETY: a context synchronization event has no memory effects.
        unsafe { asm!("isb", options(nostack, preserves_flags)) }
    }
}
