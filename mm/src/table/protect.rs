//! `protect` on the walk: new attributes for a fully mapped range. Permission-only changes
//! are written in place and invalidated through the gather; memory type / nG changes go
//! through a break-before-make batch per table page. Arm ARM (DDI 0487) D8.16.1 (which
//! attribute changes need break-before-make), D8.4.

use super::bbm::BreakBatch;
use super::edit::{Changed, Edit, Editor};
use super::raw::TableRef;
use super::walk::{walk, Entry, Offset, Span, Step, Visitor};
use super::{MapError, PageTable};
use crate::addr::VaRange;
use crate::attrs::{merge_sw, Attributes};
use crate::descriptor::{Descriptor, Level, LEAF_ATTR_MASK, OA_MASK};
use crate::frame::{FramePool, FrameSource};
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;
use core::convert::Infallible;
use core::ops::ControlFlow;

/// The descriptor `d` with the attribute bits `attr` (ownership bit kept).
#[inline]
fn with_attrs(d: Descriptor, attr: u64) -> Descriptor {
    Descriptor::from_bits((d.bits() & (OA_MASK | 0b11)) | merge_sw(attr, d))
}

/// The preflight: stops at the first offset no leaf maps.
struct FirstHole;

impl Visitor for FirstHole {
    type Stop = Offset;
    type PerTable = ();
    #[inline(always)]
    fn hole(&mut self, at: &Entry, _: &mut ()) -> Step<Offset> {
        Step::Stop(at.part.start)
    }
}

/// What protect accumulates over one table page.
#[derive(Default)]
struct Protected {
    /// Leaves changed in place (permissions only): the gather invalidates them.
    changed: Changed,
    /// Some leaf's change needs break-before-make (memory type, nG): those leaves are
    /// broken, invalidated and made when the walk leaves the table.
    to_break: bool,
}

/// The pass that cannot fail (the preflight found no hole and reserved the split tables).
struct Protect<'a, M: PhysMem, A> {
    tree: Editor<'a, M, A>,
    edit: Edit<'a>,
    gather: &'a mut Gather<M>,
    /// The new leaf attribute bits.
    attr: u64,
}

impl<M: PhysMem, A: TlbMaintenance> Visitor for Protect<'_, M, A> {
    type Stop = Infallible;
    type PerTable = Protected;
    #[inline(always)]
    fn hole(&mut self, _: &Entry, _: &mut Protected) -> Step<Infallible> {
        debug_assert!(false, "the preflight refused holes");
        Step::Next
    }
    #[inline(always)]
    fn leaf(&mut self, at: &Entry, d: Descriptor, acc: &mut Protected) -> Step<Infallible> {
        if !at.is_whole() {
            return self.tree.split_and_descend(at, d, &mut self.edit);
        }
        let new = with_attrs(d, self.attr);
        if new == d {
            return Step::Next;
        }
        if d.needs_break_before_make(new) {
            acc.to_break = true;
        } else {
            at.set(new);
            acc.changed.add(at.index, d.is_global() || new.is_global());
        }
        Step::Next
    }
    #[inline(always)]
    fn leave(&mut self, table: TableRef, level: Level, range: Span, acc: Protected) {
        acc.changed.note(&self.tree, level, range, self.gather);
        if acc.to_break {
            self.break_and_make(table, level, range);
        }
    }
}

impl<M: PhysMem, A: TlbMaintenance> Protect<'_, M, A> {
    /// Break-before-make for the leaves of the `level` table `table` walked over `span` whose
    /// new attributes need it (the others there are changed already, or are tables): broken in
    /// batches, each completed (TLBI, hook, make) before the next begins, and noted in the
    /// gather (for the flush after, which also reaches the IOTLB). Rare: out of line.
    #[inline(never)]
    fn break_and_make(&mut self, table: TableRef, level: Level, span: Span) {
        let size = level.size();
        let table_start = span.start.table_start(level);
        let first = ((span.start.get() - table_start.get()) / size) as usize;
        let end = (span.end.get() - table_start.get()).div_ceil(size) as usize;
        let mut batch = BreakBatch::new(table, level, table_start);
        for index in first..end {
            let d = table.get(index);
            let new = with_attrs(d, self.attr);
            if d.is_table(level) || !d.needs_break_before_make(new) {
                continue;
            }
            if !batch.has_room(index, new) {
                self.complete(&mut batch);
            }
            batch.add(index, new, d.is_global() || new.is_global());
        }
        self.complete(&mut batch);
    }

    /// Completes `batch` and records its leaves in the gather.
    fn complete(&mut self, batch: &mut BreakBatch) {
        if let Some((range, global)) = batch.complete(&self.tree, self.edit.on_break) {
            self.gather.note_leaves(range, batch.level(), global);
        }
    }
}

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// Gives every page of `range` the attributes `attrs`. Every page must be mapped
    /// (`NotMapped` otherwise). Blocks cut by the range edges are split. Changes that only
    /// touch permissions are written in place and left for `gather` to invalidate; changes of
    /// memory type or nG break-before-make first. Errors leave the tables unchanged.
    pub fn protect(
        &mut self,
        range: VaRange,
        attrs: Attributes,
        gather: &mut Gather<M>,
    ) -> Result<(), MapError> {
        self.protect_notifying(range, attrs, gather, &mut |_| {})
    }

    /// [`protect`](Self::protect), calling `on_break` between the break (and
    /// CPU TLBI) and the make of every break-before-make it does (a split at
    /// a range edge, a change of memory type or nG), as
    /// [`unmap_notifying`](Self::unmap_notifying) does.
    pub fn protect_notifying(
        &mut self,
        range: VaRange,
        attrs: Attributes,
        gather: &mut Gather<M>,
        on_break: &mut dyn FnMut(VaRange),
    ) -> Result<(), MapError> {
        attrs.validate()?;
        let r = self.offsets(range)?;
        if r.is_empty() {
            return Ok(());
        }
        if let ControlFlow::Break(hole) = walk(&self.mem, self.root, Level::L0, r, &mut FirstHole) {
            return Err(MapError::NotMapped(self.region.va(hole)));
        }
        let splits = self.edge_splits(r);
        let pool = FramePool::reserve(&mut self.frames, &self.mem, splits)?;
        let mut protect = Protect {
            tree: Editor {
                mem: &self.mem,
                arch: &self.arch,
                asid: self.asid,
                region: self.region,
            },
            edit: Edit { pool, on_break },
            gather,
            attr: attrs.bits() & LEAF_ATTR_MASK,
        };
        let ControlFlow::Continue(()) = walk(&self.mem, self.root, Level::L0, r, &mut protect);
        let pool = protect.edit.pool;
        debug_assert!(
            pool.is_empty(),
            "the preflight counted more frames than were used"
        );
        pool.give_back(&mut self.frames, &self.mem);
        self.has_global |= attrs.global;
        Ok(())
    }
}
