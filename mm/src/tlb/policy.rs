//! Which sequence invalidates a VA range: per-VA steps, range operations, or the whole ASID;
//! one planner, with one threshold, for the CPU's TLBIs and a device TLB's commands (the
//! SMMU's IOTLB), each described by an [`Invalidator`]; and the CPU's sequence issued.
//! Arm ARM (DDI 0487) D8.13 (TLB maintenance), C5.5 (TLBI VAE1IS/VALE1IS/RVAE1IS/ASIDE1IS/
//! VMALLE1IS), B2.3.12 (DSB completes TLB maintenance); Arm IHI 0070 (SMMUv3) 4.4
//! (CMD_TLBI_NH_VA with a range, CMD_TLBI_NH_ASID). Plain Rust over [`TlbMaintenance`].

use super::{Asid, RangeOperand, TlbCaps, TlbMaintenance, VaOperand};
use crate::addr::{VaRange, PAGE_SIZE};
use crate::descriptor::Level;

/// Above this many by-VA operations (without range ops) the whole ASID is invalidated: the
/// one threshold, for the CPU and for device TLBs.
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

/// What one invalidator can express and what its operations cost, for [`plan`]: the CPU's
/// TLBI instructions ([`cpu`](Self::cpu)) or a device TLB's commands ([`iotlb`](Self::iotlb)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Invalidator {
    /// Range operations cover up to this many 4 KiB pages (0: there are none).
    range_pages: u64,
    /// Up to this many by-VA operations are issued even where range operations exist.
    per_va_first: u64,
    /// Most by-VA operations before the whole ASID is invalidated instead.
    per_va_limit: u64,
}

impl Invalidator {
    /// A CPU with `caps`: `TLBI RVA(L)E1IS` (FEAT_TLBIRANGE, at most five operations for up to
    /// [`MAX_RANGE_PAGES`]) from three by-VA operations on; by-VA up to [`PER_VA_LIMIT`].
    pub const fn cpu(caps: TlbCaps) -> Self {
        Self {
            range_pages: if caps.range_ops { MAX_RANGE_PAGES } else { 0 },
            per_va_first: 2,
            per_va_limit: PER_VA_LIMIT,
        }
    }

    /// A device TLB whose range command covers any page count in a few commands and costs no
    /// more than a by-VA one (an SMMUv3 with IDR3.RIL: `CMD_TLBI_NH_VA` with NUM/SCALE):
    /// range commands whenever `range_ops`; else per page up to [`PER_VA_LIMIT`].
    pub const fn iotlb(range_ops: bool) -> Self {
        Self {
            range_pages: if range_ops { u64::MAX } else { 0 },
            per_va_first: 0,
            per_va_limit: PER_VA_LIMIT,
        }
    }

    /// The same with another by-VA limit (for measurements and tests of the per-VA path).
    pub const fn with_per_va_limit(self, per_va_limit: u64) -> Self {
        Self {
            per_va_limit,
            ..self
        }
    }
}

/// Chooses the sequence that invalidates `range` for `by`: by-VA operations stepping by
/// `stride` (the smallest leaf that changed), range operations, the whole ASID, or every
/// entry (`Plan::All`) when `global` entries may be in a range too large for by-VA steps.
pub fn plan(by: Invalidator, range: VaRange, stride: Level, global: bool) -> Plan {
    if range.is_empty() {
        return Plan::Nothing;
    }
    let stride = stride.size();
    let first = range.start.align_down(stride).as_u64();
    let va_ops = (range.end.as_u64() - 1 - first) / stride + 1;
    if va_ops <= by.per_va_first {
        Plan::PerVa(va_ops)
    } else if range.pages() <= by.range_pages {
        Plan::Ranges
    } else if va_ops <= by.per_va_limit {
        Plan::PerVa(va_ops)
    } else if global {
        Plan::All
    } else {
        Plan::WholeAsid
    }
}

impl Invalidation {
    /// The sequence a CPU with `caps` uses for this invalidation.
    pub fn plan(&self, caps: TlbCaps) -> Plan {
        plan(Invalidator::cpu(caps), self.range, self.stride, self.global)
    }
}

/// Issues the invalidation for `inv` and waits for it: `DSB ISHST` (table writes reach the
/// walkers first), the TLBIs chosen by [`plan`], `DSB ISH`, `ISB`. Returns the plan used.
pub fn invalidate<A: TlbMaintenance + ?Sized>(arch: &A, inv: &Invalidation) -> Plan {
    let caps = arch.caps();
    let p = inv.plan(caps);
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
        let plan = |caps, start, end, stride, global| inv(start, end, stride, global).plan(caps);
        assert_eq!(
            plan(NO_RANGE, 0x1000, 0x1000, Level::L3, false),
            Plan::Nothing
        );
        assert_eq!(
            plan(NO_RANGE, 0x1000, 0x2000, Level::L3, false),
            Plan::PerVa(1)
        );
        assert_eq!(
            plan(NO_RANGE, 0, 64 << 12, Level::L3, false),
            Plan::PerVa(64)
        );
        assert_eq!(
            plan(NO_RANGE, 0, 65 << 12, Level::L3, false),
            Plan::WholeAsid
        );
        assert_eq!(plan(NO_RANGE, 0, 65 << 12, Level::L3, true), Plan::All);
        // 2 MiB blocks: one operation per block.
        assert_eq!(
            plan(NO_RANGE, 0, 64 << 21, Level::L2, false),
            Plan::PerVa(64)
        );
        assert_eq!(plan(RANGE, 0, 65 << 12, Level::L3, false), Plan::Ranges);
        let too_big = (MAX_RANGE_PAGES + 1) << 12;
        assert_eq!(plan(RANGE, 0, too_big, Level::L3, false), Plan::WholeAsid);
        assert_eq!(plan(RANGE, 0, 2 << 12, Level::L3, false), Plan::PerVa(2));
    }

    /// The same planner and threshold for a device TLB: range commands for any count where
    /// it has them (one command is never dearer than one by-VA command), else per page up to
    /// `PER_VA_LIMIT` and the whole ASID above; the limit can be moved for measurements.
    #[test]
    fn iotlb_plans_share_the_threshold() {
        let pages = |n: u64| {
            VaRange::new(
                VirtAddr::new(0x1000_0000),
                VirtAddr::new(0x1000_0000 + (n << 12)),
            )
        };
        let (ril, no_ril) = (Invalidator::iotlb(true), Invalidator::iotlb(false));
        for n in [1, 2, 16, 512, 4096, 1 << 30] {
            assert_eq!(
                plan(ril, pages(n), Level::L3, false),
                Plan::Ranges,
                "{n} pages"
            );
        }
        assert_eq!(plan(no_ril, pages(16), Level::L3, false), Plan::PerVa(16));
        assert_eq!(
            plan(no_ril, pages(PER_VA_LIMIT), Level::L3, false),
            Plan::PerVa(PER_VA_LIMIT)
        );
        assert_eq!(
            plan(no_ril, pages(PER_VA_LIMIT + 1), Level::L3, false),
            Plan::WholeAsid
        );
        let unlimited = no_ril.with_per_va_limit(u64::MAX);
        assert_eq!(
            plan(unlimited, pages(4096), Level::L3, false),
            Plan::PerVa(4096)
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
