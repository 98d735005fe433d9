//! What the editing passes share: the table's memory and TLB maintenance with the ASID and
//! VA region a break-before-make names when it invalidates at once, the frames the preflight
//! reserved, the secondary-TLB hook, and the block split that unmap and protect do at a
//! range edge. Arm ARM (DDI 0487) D8.16.1 (break-before-make: invalid, TLBI, DSB, new entry).

use super::walk::Span;
use super::VaRegion;
use crate::addr::VaRange;
use crate::descriptor::Level;
use crate::frame::FramePool;
use crate::phys::PhysMem;
use crate::tlb::{invalidate, Asid, Invalidation, TlbMaintenance};

/// The parts of a table an editing visitor reads (its mutable parts are borrowed apart).
pub(crate) struct Editor<'a, M, A> {
    pub(crate) mem: &'a M,
    pub(crate) arch: &'a A,
    pub(crate) asid: Asid,
    pub(crate) region: VaRegion,
}

impl<M: PhysMem, A: TlbMaintenance> Editor<'_, M, A> {
    /// The VAs at `span`.
    #[inline]
    pub(crate) fn va_range(&self, span: Span) -> VaRange {
        self.region.va_range(span)
    }

    /// Invalidates `span` in every CPU's TLB now (TLBI, DSB ISH, ISB): the middle of a
    /// break-before-make whose break is written. `stride`, `leaf_only`, `global` and `level`
    /// are as in [`Invalidation`]. Returns the VA range.
    pub(crate) fn invalidate_now(
        &self,
        span: Span,
        stride: Level,
        leaf_only: bool,
        global: bool,
        level: Option<Level>,
    ) -> VaRange {
        let inv = Invalidation {
            asid: self.asid,
            range: self.va_range(span),
            stride,
            leaf_only,
            global,
            level,
        };
        invalidate(self.arch, &inv);
        inv.range
    }
}

/// What a range edit carries down its walk: the frames reserved for block
/// splits, and the secondary-TLB hook that each break-before-make calls
/// between its break (and CPU TLBI) and its make.
pub(crate) struct Edit<'h> {
    pub(crate) pool: FramePool,
    pub(crate) on_break: &'h mut dyn FnMut(VaRange),
}
