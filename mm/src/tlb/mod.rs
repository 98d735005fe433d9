//! TLB maintenance: the narrow interface the kernel implements with `TLBI`/`DSB`/`ISB`, the CPU
//! capabilities decided once at boot, and the ASID type. Arm ARM (DDI 0487) D8.13 "Translation
//! Lookaside Buffers", C5.5 "A64 TLB maintenance instructions", D8.16 (break-before-make).

mod operand;
mod policy;

pub use operand::{RangeOperand, VaOperand};
pub use policy::{
    invalidate, plan, Invalidation, Invalidator, Plan, MAX_RANGE_PAGES, PER_VA_LIMIT,
};

/// An address space identifier as written to TTBR0_EL1\[63:48\] and TLBI operands.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Asid(u16);

impl Asid {
    /// ASID 0: reserved, never handed to an address space; used for global (kernel) tables.
    pub const KERNEL: Asid = Asid(0);
    /// The ASID `n`.
    pub const fn new(n: u16) -> Self {
        Self(n)
    }
    /// The ASID as a number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// What this CPU's TLB maintenance instructions can do; decided once at boot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct TlbCaps {
    /// FEAT_TLBIRANGE: `TLBI RVAE1IS`/`RVALE1IS` exist (ID_AA64ISAR0_EL1.TLB == 0b0010).
    pub range_ops: bool,
    /// FEAT_TTL: the level hint in bits \[47:44\] of a by-VA operand is honoured
    /// (ID_AA64MMFR2_EL1.TTL == 0b0001); otherwise those bits are RES0 and written 0.
    pub ttl_hint: bool,
}

impl TlbCaps {
    /// Capabilities from the raw ID_AA64ISAR0_EL1 and ID_AA64MMFR2_EL1 values.
    pub const fn from_id_registers(id_aa64isar0: u64, id_aa64mmfr2: u64) -> Self {
        let tlb = (id_aa64isar0 >> 56) & 0xf;
        let ttl = (id_aa64mmfr2 >> 48) & 0xf;
        Self {
            range_ops: tlb >= 0b0010,
            ttl_hint: ttl >= 0b0001,
        }
    }
}

/// TLB invalidation and the barriers around it, Inner Shareable (every CPU of the system).
///
/// Context: called with the page-table lock held, preemption off: implementations must not
/// sleep or take locks. Every method returns once the instruction is *issued*; completion is
/// only guaranteed after [`dsb_ish`](Self::dsb_ish). The kernel implements this with one
/// instruction per method; the host model implements it with a model TLB.
pub trait TlbMaintenance {
    /// What the CPU supports (FEAT_TLBIRANGE, FEAT_TTL).
    fn caps(&self) -> TlbCaps;
    /// `TLBI VALE1IS` (`last_level_only`) or `TLBI VAE1IS`: entries for the operand's VA with
    /// its ASID, and global entries for that VA. Only the last level: walk caches survive.
    fn invalidate_va(&self, op: VaOperand, last_level_only: bool);
    /// `TLBI RVALE1IS` / `RVAE1IS`: like [`invalidate_va`](Self::invalidate_va) for every VA
    /// of the operand's range. Only called when [`TlbCaps::range_ops`] is set.
    fn invalidate_range(&self, op: RangeOperand, last_level_only: bool);
    /// `TLBI ASIDE1IS`: every non-global entry (and walk cache) of `asid`.
    fn invalidate_asid(&self, asid: Asid);
    /// `TLBI VMALLE1IS`: every EL1&0 entry, all ASIDs, global ones too.
    fn invalidate_all(&self);
    /// `DSB ISHST`: table writes become visible to every walker before what follows.
    fn dsb_ishst(&self);
    /// `DSB ISH`: earlier TLBIs have completed on every CPU.
    fn dsb_ish(&self);
    /// `ISB`: this CPU's later instructions see the completed maintenance.
    fn isb(&self);
}

impl<T: TlbMaintenance + ?Sized> TlbMaintenance for &T {
    fn caps(&self) -> TlbCaps {
        (**self).caps()
    }
    fn invalidate_va(&self, op: VaOperand, last_level_only: bool) {
        (**self).invalidate_va(op, last_level_only)
    }
    fn invalidate_range(&self, op: RangeOperand, last_level_only: bool) {
        (**self).invalidate_range(op, last_level_only)
    }
    fn invalidate_asid(&self, asid: Asid) {
        (**self).invalidate_asid(asid)
    }
    fn invalidate_all(&self) {
        (**self).invalidate_all()
    }
    fn dsb_ishst(&self) {
        (**self).dsb_ishst()
    }
    fn dsb_ish(&self) {
        (**self).dsb_ish()
    }
    fn isb(&self) {
        (**self).isb()
    }
}

/// Forwards to `A` but drops every invalidation (the barriers stay): what a
/// missing TLBI looks like, for the negative-control tests that prove a
/// stale translation is visible. Never for real maintenance.
pub struct DropInvalidations<'a, A: TlbMaintenance>(pub &'a A);

impl<A: TlbMaintenance> TlbMaintenance for DropInvalidations<'_, A> {
    fn caps(&self) -> TlbCaps {
        self.0.caps()
    }
    fn invalidate_va(&self, _: VaOperand, _: bool) {}
    fn invalidate_range(&self, _: RangeOperand, _: bool) {}
    fn invalidate_asid(&self, _: Asid) {}
    fn invalidate_all(&self) {}
    fn dsb_ishst(&self) {
        self.0.dsb_ishst()
    }
    fn dsb_ish(&self) {
        self.0.dsb_ish()
    }
    fn isb(&self) {
        self.0.isb()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_from_id_registers() {
        // Cortex-A72: ISAR0.TLB = 0, MMFR2.TTL = 0. QEMU max: TLB = 0b0010, TTL = 1.
        assert_eq!(
            TlbCaps::from_id_registers(0, 0),
            TlbCaps {
                range_ops: false,
                ttl_hint: false
            }
        );
        let caps = TlbCaps::from_id_registers(0b0010 << 56, 1 << 48);
        assert_eq!(
            caps,
            TlbCaps {
                range_ops: true,
                ttl_hint: true
            }
        );
        // TLB = 0b0001 is FEAT_TLBIOS only: no range ops.
        assert!(!TlbCaps::from_id_registers(0b0001 << 56, 0).range_ops);
    }
}
