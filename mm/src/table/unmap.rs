//! `unmap` on the walk: clear leaves, unlink tables that became empty or map nothing outside
//! the range (into the gather, never freed here), split blocks cut by the range edges.
//! Arm ARM (DDI 0487) D8.16.1 (break-before-make for a split), D8.13 (invalidation deferred).

use super::edit::{Changed, Edit, Editor};
use super::raw::TableRef;
use super::walk::{walk, Entry, Span, Step, Visitor};
use super::{MapError, PageTable};
use crate::addr::{PhysAddr, VaRange, PAGE_SHIFT};
use crate::descriptor::{Descriptor, Level};
use crate::frame::{FramePool, FrameSource};
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;
use core::convert::Infallible;
use core::ops::ControlFlow;

/// The pass that cannot fail (the preflight reserved its split tables and log pages).
struct Unmap<'a, M: PhysMem, A> {
    tree: Editor<'a, M, A>,
    edit: Edit<'a>,
    gather: &'a mut Gather<M>,
    owned_pages: &'a mut u64,
    has_global: bool,
}

impl<M: PhysMem, A: TlbMaintenance> Visitor for Unmap<'_, M, A> {
    type Stop = Infallible;
    type PerTable = Changed;
    #[inline(always)]
    fn leaf(&mut self, at: &Entry, d: Descriptor, acc: &mut Changed) -> Step<Infallible> {
        if !at.is_whole() {
            return self.tree.split_and_descend(at, d, &mut self.edit);
        }
        at.set(Descriptor::INVALID);
        acc.add(at.index, d.is_global());
        if d.is_owned() {
            let size = at.level.size();
            self.gather.log_owned(d.output_address(), size);
            *self.owned_pages -= size >> PAGE_SHIFT;
        }
        Step::Next
    }
    #[inline(always)]
    fn table(&mut self, at: &Entry, d: Descriptor, _: &mut Changed) -> Step<Infallible> {
        let child = d.output_address();
        let next = at.level.next().expect("tables above L3");
        if at.is_whole() {
            // The whole subtree goes, by its root only: pages below are read only to log
            // owned frames.
            at.set(Descriptor::INVALID);
            self.unlink(child, next, at.span, at.span);
        } else if maps_only_inside(self.tree.mem, child, next, at) {
            // The range covers everything the child maps: unlink it whole instead of
            // clearing it entry by entry. Entries outside were invalid (and flushed).
            at.set(Descriptor::INVALID);
            self.unlink(child, next, at.span, at.part);
        } else {
            return Step::Descend(child);
        }
        Step::Next
    }
    #[inline(always)]
    fn after(&mut self, at: &Entry, child: PhysAddr, _: bool, _: &mut Changed) {
        if TableRef::new(self.tree.mem, child).is_empty() {
            // Entries outside the part were already invalid (and flushed): any VA of the
            // part drops the walk-cache copy of this table descriptor.
            at.set(Descriptor::INVALID);
            let next = at.level.next().expect("tables above L3");
            let range = self.tree.va_range(at.part);
            self.gather.note_table(range, child, next, self.has_global);
        }
    }
    #[inline(always)]
    fn leave(&mut self, _: TableRef, level: Level, range: Span, acc: Changed) {
        acc.note(&self.tree, level, range, self.gather);
    }
}

impl<M: PhysMem, A: TlbMaintenance> Unmap<'_, M, A> {
    /// Hands the unlinked `level` table `table` (translating `span`) and everything below it
    /// to the gather by its root, invalidation over `changed`; logs its owned frames.
    fn unlink(&mut self, table: PhysAddr, level: Level, span: Span, changed: Span) {
        if *self.owned_pages > 0 {
            let mut log = OwnedLog {
                gather: &mut *self.gather,
                owned_pages: &mut *self.owned_pages,
            };
            let ControlFlow::Continue(()) = walk(self.tree.mem, table, level, span, &mut log);
        }
        let range = self.tree.va_range(changed);
        self.gather.note_table(range, table, level, self.has_global);
    }
}

/// Logs every owned leaf of an unlinked subtree for release.
struct OwnedLog<'a, M: PhysMem> {
    gather: &'a mut Gather<M>,
    owned_pages: &'a mut u64,
}

impl<M: PhysMem> Visitor for OwnedLog<'_, M> {
    type Stop = Infallible;
    type PerTable = ();
    #[inline(always)]
    fn leaf(&mut self, at: &Entry, d: Descriptor, _: &mut ()) -> Step<Infallible> {
        if d.is_owned() {
            let size = at.level.size();
            self.gather.log_owned(d.output_address(), size);
            *self.owned_pages -= size >> PAGE_SHIFT;
        }
        Step::Next
    }
}

/// Stops at the first valid entry (leaf or table, not descended into).
struct AnyValid;

impl Visitor for AnyValid {
    type Stop = ();
    type PerTable = ();
    #[inline(always)]
    fn leaf(&mut self, _: &Entry, _: Descriptor, _: &mut ()) -> Step<()> {
        Step::Stop(())
    }
    #[inline(always)]
    fn table(&mut self, _: &Entry, _: Descriptor, _: &mut ()) -> Step<()> {
        Step::Stop(())
    }
}

/// Whether every valid entry of the `level` table `table` under `at` lies wholly inside
/// `at.part`: whether no valid entry meets the rest of `at.span` (only that is read).
fn maps_only_inside<M: PhysMem>(mem: &M, table: PhysAddr, level: Level, at: &Entry) -> bool {
    let before = Span::new(at.span.start, at.part.start);
    let after = Span::new(at.part.end, at.span.end);
    [before, after]
        .into_iter()
        .all(|outside| walk(mem, table, level, outside, &mut AnyValid).is_continue())
}

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// Removes every mapping in `range` (holes are fine). Changed leaves, unlinked table pages
    /// and owned frames are recorded in `gather`; nothing is freed and no TLB entry of the
    /// range is invalidated until the caller flushes the gather. Blocks cut by the range edges
    /// are split first (break-before-make, invalidated at once).
    ///
    /// Errors (`OutOfFrames` for a split table or a log page, range errors) leave the tables
    /// unchanged.
    pub fn unmap(&mut self, range: VaRange, gather: &mut Gather<M>) -> Result<(), MapError> {
        self.unmap_notifying(range, gather, &mut |_| {})
    }

    /// [`unmap`](Self::unmap), calling `on_break` with the extent of every
    /// block a range edge splits, after the block is broken and the CPU TLBs
    /// are invalidated and before the table replacing it is linked: the
    /// place for a device's (secondary) TLB invalidation, which must also
    /// come between break and make. The caller's invalidation window must
    /// cover those extents ([`break_hull`](Self::break_hull)).
    pub fn unmap_notifying(
        &mut self,
        range: VaRange,
        gather: &mut Gather<M>,
        on_break: &mut dyn FnMut(VaRange),
    ) -> Result<(), MapError> {
        let r = self.offsets(range)?;
        if r.is_empty() {
            return Ok(());
        }
        // Preflight: log pages for the owned leaves (an upper bound on the extents logged)
        // and tables for the edge splits.
        let log_pages = if self.owned_pages > 0 {
            let mut owned = 0;
            self.leaves(r, |m| {
                owned += m.descriptor.is_owned() as u64;
                ControlFlow::Continue(())
            });
            gather.log_pages_needed(owned)
        } else {
            0
        };
        let splits = self.edge_splits(r);
        let mut pool =
            FramePool::reserve(&mut self.frames, &self.mem, splits + log_pages as usize)?;
        for _ in 0..log_pages {
            gather.add_log_page(pool.take_raw(&self.mem));
        }
        let mut unmap = Unmap {
            tree: Editor {
                mem: &self.mem,
                arch: &self.arch,
                asid: self.asid,
                region: self.region,
            },
            edit: Edit { pool, on_break },
            gather,
            owned_pages: &mut self.owned_pages,
            has_global: self.has_global,
        };
        let ControlFlow::Continue(()) = walk(&self.mem, self.root, Level::L0, r, &mut unmap);
        let pool = unmap.edit.pool;
        debug_assert!(
            pool.is_empty(),
            "the preflight counted more frames than were used"
        );
        pool.give_back(&mut self.frames, &self.mem);
        Ok(())
    }
}
