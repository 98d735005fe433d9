//! `protect` on the walk: new attributes for a fully mapped range. Permission-only changes
//! are written in place and invalidated through the gather; memory type / nG changes go
//! through a break-before-make batch per table page. Arm ARM (DDI 0487) D8.16.1 (which
//! attribute changes need break-before-make), D8.4.

use super::bbm::BreakBatch;
use super::edit::{Changed, Edit, Editor};
use super::raw::TableRef;
use super::walk::{walk, Entry, Offset, Step, Visitor};
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
    /// Leaves changed in place (permissions): the gather invalidates them.
    changed: Changed,
    /// Leaves broken (memory type, nG): made after their invalidation.
    broken: BreakBatch,
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
            // A block the range cuts: split it, then protect inside the new table.
            let td = self.tree.split(at, d, &mut self.edit);
            return Step::Descend(td.output_address());
        }
        let new = with_attrs(d, self.attr);
        if new == d {
            return Step::Next;
        }
        let global = d.is_global() || new.is_global();
        if d.needs_break_before_make(new) {
            if !acc.broken.has_room(at, new) {
                self.complete(at.table, at.level, &mut acc.broken);
            }
            acc.broken.add(at, new, global);
        } else {
            at.set(new);
            acc.changed.add(at.span, global);
        }
        Step::Next
    }
    #[inline(always)]
    fn leave(&mut self, table: TableRef, level: Level, mut acc: Protected) {
        acc.changed.note(&self.tree, level, self.gather);
        if !acc.broken.is_empty() {
            self.complete(table, level, &mut acc.broken);
        }
    }
}

impl<M: PhysMem, A: TlbMaintenance> Protect<'_, M, A> {
    /// Completes the break-before-make batch of the `level` table `table` and records its
    /// leaves in the gather (for the flush after, which also reaches the IOTLB).
    fn complete(&mut self, table: TableRef, level: Level, batch: &mut BreakBatch) {
        let (range, global) = batch.complete(table, level, &self.tree, self.edit.on_break);
        self.gather.note_leaves(range, level, global);
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
