//! A no-op [`TlbMaintenance`] that counts what it is asked to do: the host benchmark's
//! stand-in for the TLBI/DSB/ISB instructions (Arm ARM C5.5, C6.2).

use super::TlbiCounts;
use crate::tlb::{Asid, RangeOperand, TlbCaps, TlbMaintenance, VaOperand};
use std::cell::Cell;

/// Counts TLB maintenance without doing any.
#[derive(Debug, Default)]
pub struct CountingTlb {
    caps: TlbCaps,
    counts: Cell<TlbiCounts>,
}

impl CountingTlb {
    /// A counter claiming `caps`.
    pub fn new(caps: TlbCaps) -> Self {
        Self {
            caps,
            counts: Cell::default(),
        }
    }
    /// Operations so far.
    pub fn counts(&self) -> TlbiCounts {
        self.counts.get()
    }
    fn bump(&self, f: impl FnOnce(&mut TlbiCounts)) {
        let mut c = self.counts.get();
        f(&mut c);
        self.counts.set(c);
    }
}

impl TlbMaintenance for CountingTlb {
    fn caps(&self) -> TlbCaps {
        self.caps
    }
    fn invalidate_va(&self, _: VaOperand, last: bool) {
        self.bump(|c| {
            if last {
                c.va_last_level += 1
            } else {
                c.va += 1
            }
        });
    }
    fn invalidate_range(&self, _: RangeOperand, last: bool) {
        assert!(self.caps.range_ops, "range TLBI without FEAT_TLBIRANGE");
        self.bump(|c| {
            if last {
                c.range_last_level += 1
            } else {
                c.range += 1
            }
        });
    }
    fn invalidate_asid(&self, _: Asid) {
        self.bump(|c| c.asid += 1);
    }
    fn invalidate_all(&self) {
        self.bump(|c| c.all += 1);
    }
    fn dsb_ishst(&self) {
        self.bump(|c| c.dsb_ishst += 1);
    }
    fn dsb_ish(&self) {
        self.bump(|c| c.dsb_ish += 1);
    }
    fn isb(&self) {
        self.bump(|c| c.isb += 1);
    }
}
