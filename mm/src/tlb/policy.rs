//! Which TLBI sequence invalidates a VA range: per-VA, range operations, or the whole ASID.
//! Arm ARM (DDI 0487) D8.13 (TLB maintenance), C5.5 (TLBI VAE1IS/VALE1IS/RVAE1IS/ASIDE1IS/
//! VMALLE1IS), B2.3.12 (DSB completes TLB maintenance). Plain Rust over [`TlbMaintenance`].

use super::{Asid, RangeOperand, TlbCaps, TlbMaintenance, VaOperand};
use crate::addr::{VaRange, PAGE_SIZE};
use crate::descriptor::Level;

/// Above this many by-VA operations (without range ops) the whole ASID is invalidated.
pub const PER_VA_LIMIT: u64 = 64;
/// Largest range (in pages) handed to range operations; above it, the whole ASID goes.
pub const MAX_RANGE_PAGES: u64 = RangeOperand::pages_for(3, 31);

/// A range whose translations changed and must leave every TLB.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Invalidation {
    /// ASID of the address space (any ASID for global-only tables).
    pub asid: Asid,
    /// Page-aligned VA range to invalidate.
    pub range: VaRange,
    /// Level of the smallest leaf that changed: by-VA operations step by its size.
    pub stride: Level,
    /// Only leaf entries changed; no table descriptor was removed (walk caches may stay).
    pub leaf_only: bool,
    /// Some changed entry was global (nG = 0): ASID-wide invalidation would miss it.
    pub global: bool,
    /// Every changed leaf was at this level (a TTL hint), if known.
    pub level: Option<Level>,
}

/// The sequence chosen for an [`Invalidation`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to do (empty range).
    Nothing,
    /// This many `TLBI VA(L)E1IS`, one per `stride`.
    PerVa(u64),
    /// `TLBI RVA(L)E1IS` operations (at most five) plus at most one by-VA op.
    Ranges,
    /// `TLBI ASIDE1IS`.
    WholeAsid,
    /// `TLBI VMALLE1IS` (global entries in a range too large for by-VA operations).
    All,
}

/// Chooses the sequence for `inv` on a CPU with `caps`.
pub fn plan(caps: TlbCaps, inv: &Invalidation) -> Plan {
    if inv.range.is_empty() {
        return Plan::Nothing;
    }
    let stride = inv.stride.size();
    let first = inv.range.start.align_down(stride).as_u64();
    let va_ops = (inv.range.end.as_u64() - 1 - first) / stride + 1;
    let pages = inv.range.pages();
    if va_ops <= 2 {
        Plan::PerVa(va_ops)
    } else if caps.range_ops && pages <= MAX_RANGE_PAGES {
        Plan::Ranges
    } else if va_ops <= PER_VA_LIMIT {
        Plan::PerVa(va_ops)
    } else if inv.global {
        Plan::All
    } else {
        Plan::WholeAsid
    }
}

/// Issues the invalidation for `inv` and waits for it: `DSB ISHST` (table writes reach the
/// walkers first), the TLBIs chosen by [`plan`], `DSB ISH`, `ISB`. Returns the plan used.
pub fn invalidate<A: TlbMaintenance + ?Sized>(arch: &A, inv: &Invalidation) -> Plan {
    let caps = arch.caps();
    let p = plan(caps, inv);
    if p == Plan::Nothing {
        return p;
    }
    arch.dsb_ishst();
    let va_ttl = if caps.ttl_hint { inv.level } else { None };
    match p {
        Plan::Nothing => {}
        Plan::PerVa(n) => {
            let stride = inv.stride.size();
            let first = inv.range.start.align_down(stride);
            for k in 0..n {
                arch.invalidate_va(
                    VaOperand::new(inv.asid, first.add(k * stride), va_ttl),
                    inv.leaf_only,
                );
            }
        }
        Plan::Ranges => range_ops(arch, inv, va_ttl),
        Plan::WholeAsid => arch.invalidate_asid(inv.asid),
        Plan::All => arch.invalidate_all(),
    }
    arch.dsb_ish();
    arch.isb();
    p
}

/// Covers the range with range operations, largest scale first; an odd last page gets a by-VA
/// operation (range operations cover an even number of pages).
fn range_ops<A: TlbMaintenance + ?Sized>(arch: &A, inv: &Invalidation, va_ttl: Option<Level>) {
    let mut base = inv.range.start.align_down(PAGE_SIZE);
    let mut left = inv.range.pages();
    for scale in (0..=3u8).rev() {
        let unit = RangeOperand::pages_for(scale, 0);
        let chunks = (left / unit).min(32);
        if chunks == 0 {
            continue;
        }
        let op = RangeOperand::new(inv.asid, base, scale, (chunks - 1) as u8, inv.level)
            .expect("scale <= 3, num <= 31, base page aligned");
        arch.invalidate_range(op, inv.leaf_only);
        base = base.add(chunks * unit * PAGE_SIZE);
        left -= chunks * unit;
    }
    if left == 1 {
        arch.invalidate_va(VaOperand::new(inv.asid, base, va_ttl), inv.leaf_only);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::VirtAddr;

    fn inv(start: u64, end: u64, stride: Level, global: bool) -> Invalidation {
        Invalidation {
            asid: Asid::new(7),
            range: VaRange::new(VirtAddr::new(start), VirtAddr::new(end)),
            stride,
            leaf_only: true,
            global,
            level: Some(stride),
        }
    }

    const NO_RANGE: TlbCaps = TlbCaps {
        range_ops: false,
        ttl_hint: false,
    };
    const RANGE: TlbCaps = TlbCaps {
        range_ops: true,
        ttl_hint: true,
    };

    #[test]
    fn plan_thresholds() {
        assert_eq!(
            plan(NO_RANGE, &inv(0x1000, 0x1000, Level::L3, false)),
            Plan::Nothing
        );
        assert_eq!(
            plan(NO_RANGE, &inv(0x1000, 0x2000, Level::L3, false)),
            Plan::PerVa(1)
        );
        assert_eq!(
            plan(NO_RANGE, &inv(0, 64 << 12, Level::L3, false)),
            Plan::PerVa(64)
        );
        assert_eq!(
            plan(NO_RANGE, &inv(0, 65 << 12, Level::L3, false)),
            Plan::WholeAsid
        );
        assert_eq!(
            plan(NO_RANGE, &inv(0, 65 << 12, Level::L3, true)),
            Plan::All
        );
        // 2 MiB blocks: one operation per block.
        assert_eq!(
            plan(NO_RANGE, &inv(0, 64 << 21, Level::L2, false)),
            Plan::PerVa(64)
        );
        assert_eq!(
            plan(RANGE, &inv(0, 65 << 12, Level::L3, false)),
            Plan::Ranges
        );
        assert_eq!(
            plan(
                RANGE,
                &inv(0, (MAX_RANGE_PAGES + 1) << 12, Level::L3, false)
            ),
            Plan::WholeAsid
        );
        assert_eq!(
            plan(RANGE, &inv(0, 2 << 12, Level::L3, false)),
            Plan::PerVa(2)
        );
    }

    #[derive(Default)]
    struct Log(core::cell::RefCell<std::vec::Vec<(u64, u64)>>);
    impl TlbMaintenance for Log {
        fn caps(&self) -> TlbCaps {
            RANGE
        }
        fn invalidate_va(&self, op: VaOperand, _: bool) {
            self.0.borrow_mut().push((op.va().as_u64(), 1));
        }
        fn invalidate_range(&self, op: RangeOperand, _: bool) {
            self.0.borrow_mut().push((op.base().as_u64(), op.pages()));
        }
        fn invalidate_asid(&self, _: Asid) {}
        fn invalidate_all(&self) {}
        fn dsb_ishst(&self) {}
        fn dsb_ish(&self) {}
        fn isb(&self) {}
    }

    #[test]
    fn range_decomposition_covers_exactly() {
        for pages in [3u64, 64, 65, 1000, 4097, 262_144, 262_145, MAX_RANGE_PAGES] {
            let log = Log::default();
            let start = 0x4000_0000u64;
            invalidate(&log, &inv(start, start + (pages << 12), Level::L3, false));
            let ops = log.0.into_inner();
            assert!(ops.len() <= 5, "{pages} pages: {} ops", ops.len());
            let mut next = start;
            for (base, n) in ops {
                assert_eq!(base, next, "{pages} pages: gap or overlap");
                next += n << 12;
            }
            assert_eq!(
                next,
                start + (pages << 12),
                "{pages} pages not covered exactly"
            );
        }
    }
}
