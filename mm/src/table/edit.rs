//! What the editing passes share: the table's memory and TLB maintenance with the ASID and
//! VA region a break-before-make names when it invalidates at once, the frames the preflight
//! reserved, the secondary-TLB hook, and the block split that unmap and protect do at a
//! range edge. Arm ARM (DDI 0487) D8.16.1 (break-before-make: invalid, TLBI, DSB, new entry).

use super::raw::TableRef;
use super::walk::{Entry, Offset, Span, Step};
use super::VaRegion;
use crate::addr::VaRange;
use crate::descriptor::{Descriptor, Level, LEAF_ATTR_MASK};
use crate::frame::FramePool;
use crate::gather::Gather;
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

    /// Replaces the block `d` at entry `index` of the `level` table `table` (translating
    /// from `start`) by a table of next-level leaves mapping the same memory with the same
    /// attributes: break-before-make (invalid, TLBI, DSB, the secondary-TLB hook, table).
    /// Returns the new table descriptor. (Rare: out of line, and given numbers rather than
    /// the [`Entry`](super::walk::Entry), so that the walk's hot loop keeps its entry in
    /// registers.)
    #[inline(never)]
    pub(crate) fn split(
        &self,
        table: TableRef,
        index: usize,
        level: Level,
        start: Offset,
        d: Descriptor,
        edit: &mut Edit<'_>,
    ) -> Descriptor {
        let next = level.next().expect("blocks sit at L1/L2");
        let csize = next.size();
        let new = edit.pool.take_raw(self.mem);
        let nt = TableRef::new(self.mem, new);
        let attr = d.bits() & LEAF_ATTR_MASK;
        let oa = d.output_address().as_u64();
        for k in 0..super::raw::ENTRIES {
            nt.set(
                k,
                Descriptor::from_bits(Descriptor::leaf_bits(next, oa + k as u64 * csize, attr)),
            );
        }
        let td = Descriptor::new_table(new, Default::default());
        table.set(index, Descriptor::INVALID);
        let span = Span::entry(level, start);
        let range = self.invalidate_now(span, level, true, d.is_global(), Some(level));
        (edit.on_break)(range);
        table.set(index, td);
        td
    }

    /// The step at a block the range cuts (unmap, protect): split it, then walk on inside
    /// the new table.
    #[inline(always)]
    pub(crate) fn split_and_descend<S>(
        &self,
        at: &Entry,
        d: Descriptor,
        edit: &mut Edit<'_>,
    ) -> Step<S> {
        let td = self.split(at.table, at.index, at.level, at.span.start, d, edit);
        Step::Descend(td.output_address())
    }
}

/// The entries of one table page a pass changed in place or cleared: one gather note
/// covers them all when the walk leaves the table. Kept as indices, so that a pass over a
/// table carries three numbers.
#[derive(Default)]
pub(crate) struct Changed {
    /// The first changed index.
    first: usize,
    /// One past the last changed index (0: nothing changed).
    end: usize,
    /// Some old or new descriptor is global.
    global: bool,
}

impl Changed {
    /// Entry `index` changed (entries come in index order); `global`: its old or new
    /// descriptor is global.
    #[inline(always)]
    pub(crate) fn add(&mut self, index: usize, global: bool) {
        if self.end == 0 {
            self.first = index;
        }
        self.end = index + 1;
        self.global |= global;
    }

    /// Records the changed leaves of the `level` table walked over `range` in `gather`, for
    /// its invalidation.
    #[inline]
    pub(crate) fn note<M: PhysMem, A>(
        self,
        tree: &Editor<'_, M, A>,
        level: Level,
        range: Span,
        gather: &mut Gather<M>,
    ) {
        if self.end == 0 {
            return;
        }
        let (start, size) = (range.start.table_start(level), level.size());
        let span = Span::new(
            start.add(self.first as u64 * size),
            start.add(self.end as u64 * size),
        );
        gather.note_leaves(tree.region.va_range(span), level, self.global);
    }
}

/// What a range edit carries down its walk: the frames reserved for block
/// splits, and the secondary-TLB hook that each break-before-make calls
/// between its break (and CPU TLBI) and its make.
pub(crate) struct Edit<'h> {
    pub(crate) pool: FramePool,
    pub(crate) on_break: &'h mut dyn FnMut(VaRange),
}
