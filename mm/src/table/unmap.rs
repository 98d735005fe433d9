//! `unmap`, and the block split it shares with `protect`: clear leaves, unlink tables that
//! became empty (into the gather, never freed here), split blocks cut by the range edges.
//! Arm ARM (DDI 0487) D8.16.1 (break-before-make for a split), D8.13 (invalidation deferred).

use super::edit::Edit;
use super::raw::{TableRef, ENTRIES};
use super::walk::{Offset, Span};
use super::{slots, MapError, PageTable, Slot};
use crate::addr::{PhysAddr, VaRange, PAGE_SHIFT, PAGE_SIZE, VA_BITS};
use crate::descriptor::{Descriptor, Level, LEAF_ATTR_MASK};
use crate::frame::FramePool;
use crate::frame::FrameSource;
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::tlb::{invalidate, Invalidation, TlbMaintenance};
use core::ops::ControlFlow;

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// Removes every mapping in `range` (holes are fine). Cleared leaves, unlinked table pages
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
        let (s, e) = self.offsets(range)?.bounds();
        if s == e {
            return Ok(());
        }
        let log_pages = if self.owned_pages > 0 {
            gather.log_pages_needed(self.owned_leaves(s, e))
        } else {
            0
        };
        let splits = self.edge_splits(s, e);
        let mut pool =
            FramePool::reserve(&mut self.frames, &self.mem, splits + log_pages as usize)?;
        for _ in 0..log_pages {
            gather.add_log_page(pool.take_raw(&self.mem));
        }
        let mut edit = Edit { pool, on_break };
        self.unmap_level(self.root, Level::L0, s, e, &mut edit, gather);
        debug_assert!(
            edit.pool.is_empty(),
            "the preflight counted more frames than were used"
        );
        edit.pool.give_back(&mut self.frames, &self.mem);
        Ok(())
    }

    /// Owned leaves intersecting `[s, e)`: an upper bound on the extents unmap logs.
    fn owned_leaves(&self, s: u64, e: u64) -> u64 {
        let mut n = 0;
        self.leaves(Span::new(Offset::new(s), Offset::new(e)), |m| {
            n += m.descriptor.is_owned() as u64;
            ControlFlow::Continue(())
        });
        n
    }

    /// Table pages needed to split the blocks that straddle `s` or `e`.
    pub(super) fn edge_splits(&self, s: u64, e: u64) -> usize {
        let mut splits = [(Level::L0, 0u64); 4];
        let mut n = 0;
        for x in [s, e] {
            if x >= 1 << VA_BITS {
                continue;
            }
            let Some((level, base)) = self.leaf_at(Offset::new(x)).map(|(l, b)| (l, b.get()))
            else {
                continue;
            };
            if base == x {
                continue;
            }
            let mut add = |rec| {
                if !splits[..n].contains(&rec) {
                    splits[n] = rec;
                    n += 1;
                }
            };
            add((level, base));
            if level == Level::L1 && x & (Level::L2.size() - 1) != 0 {
                add((Level::L2, x & !(Level::L2.size() - 1)));
            }
        }
        n
    }

    fn unmap_level(
        &mut self,
        table: PhysAddr,
        level: Level,
        s: u64,
        e: u64,
        edit: &mut Edit<'_>,
        gather: &mut Gather<M>,
    ) {
        let t = self.table(table);
        if level == Level::L3 {
            self.unmap_pages(t, s, e, gather);
            return;
        }
        let next = level.next().expect("L0-L2 have a next level");
        let size = level.size();
        // Blocks removed from this table: one gather note for all of them.
        let (mut lo, mut hi, mut global) = (u64::MAX, 0, false);
        for Slot {
            i,
            base,
            start: off,
            end: sub_end,
        } in slots(level, s, e)
        {
            let full = off == base && sub_end == base + size;
            let mut d = t.get(i);
            if !d.is_valid() {
                continue;
            }
            if !d.is_table(level) {
                if full {
                    t.set(i, Descriptor::INVALID);
                    (lo, hi, global) = (lo.min(base), sub_end, global || d.is_global());
                    if d.is_owned() {
                        gather.log_owned(d.output_address(), size);
                        self.owned_pages -= size >> PAGE_SHIFT;
                    }
                    continue;
                }
                d = self.split_block(t, i, level, base, d, edit);
            }
            let child = d.output_address();
            if full {
                t.set(i, Descriptor::INVALID);
                self.unlink_subtree(child, next, base, gather);
            } else if self.maps_only_inside(child, next, off, sub_end) {
                // The range covers everything the child maps: unlink it whole instead of
                // clearing it entry by entry. Entries outside were invalid (and flushed).
                t.set(i, Descriptor::INVALID);
                if self.owned_pages > 0 {
                    self.log_owned_leaves(child, next, gather);
                }
                gather.note_table(self.va_range(off, sub_end), child, next, self.has_global);
            } else {
                self.unmap_level(child, next, off, sub_end, edit, gather);
                if self.table(child).is_empty() {
                    // Entries outside [off, sub_end) were already invalid (and flushed): any
                    // VA of the span drops the walk-cache copy of this table descriptor.
                    t.set(i, Descriptor::INVALID);
                    gather.note_table(self.va_range(off, sub_end), child, next, self.has_global);
                }
            }
        }
        if lo < hi {
            gather.note_leaves(self.va_range(lo, hi), level, global);
        }
    }

    /// Whether every valid entry of the `level` table `table` lies wholly inside `[s, e)`.
    fn maps_only_inside(&self, table: PhysAddr, level: Level, s: u64, e: u64) -> bool {
        let t = self.table(table);
        let size = level.size();
        let inside = |i: usize| {
            let base = (s & !((size << 9) - 1)) + i as u64 * size;
            base >= s && base + size <= e
        };
        (0..ENTRIES).all(|i| inside(i) || !t.get(i).is_valid())
    }

    /// Clears the pages `[s, e)` of one L3 table.
    fn unmap_pages(&mut self, t: TableRef, s: u64, e: u64, gather: &mut Gather<M>) {
        let first = Level::L3.index(s);
        let (mut lo, mut hi, mut global) = (usize::MAX, 0, false);
        for i in first..first + ((e - s) >> PAGE_SHIFT) as usize {
            let d = t.get(i);
            if !d.is_valid() {
                continue;
            }
            t.set(i, Descriptor::INVALID);
            (lo, hi) = (lo.min(i), i);
            global |= d.is_global();
            if d.is_owned() {
                gather.log_owned(d.output_address(), PAGE_SIZE);
                self.owned_pages -= 1;
            }
        }
        if lo <= hi {
            let table_base = s & !(Level::L2.size() - 1);
            let r = self.va_range(
                table_base + ((lo as u64) << PAGE_SHIFT),
                table_base + ((hi as u64 + 1) << PAGE_SHIFT),
            );
            gather.note_leaves(r, Level::L3, global);
        }
    }

    /// Hands an unlinked table and everything below it to the gather by its root only; the
    /// pages below are read only when owned frames must be logged.
    fn unlink_subtree(&mut self, table: PhysAddr, level: Level, base: u64, gather: &mut Gather<M>) {
        if self.owned_pages > 0 {
            self.log_owned_leaves(table, level, gather);
        }
        let range = self.va_range(base, base + level.size() * ENTRIES as u64);
        gather.note_table(range, table, level, self.has_global);
    }

    fn log_owned_leaves(&mut self, table: PhysAddr, level: Level, gather: &mut Gather<M>) {
        let t = self.table(table);
        let size = level.size();
        for i in 0..ENTRIES {
            let d = t.get(i);
            if !d.is_valid() {
                continue;
            }
            if d.is_table(level) {
                self.log_owned_leaves(
                    d.output_address(),
                    level.next().expect("tables above L3"),
                    gather,
                );
            } else if d.is_owned() {
                gather.log_owned(d.output_address(), size);
                self.owned_pages -= size >> PAGE_SHIFT;
            }
        }
    }

    /// Replaces the block `d` (entry `i` of the level `level` table `t`, at offset `base`) by a
    /// table of next-level leaves mapping the same memory with the same attributes:
    /// break-before-make (invalid, TLBI, DSB, the secondary-TLB hook, table). Returns the new
    /// table descriptor.
    pub(super) fn split_block(
        &mut self,
        t: TableRef,
        i: usize,
        level: Level,
        base: u64,
        d: Descriptor,
        edit: &mut Edit<'_>,
    ) -> Descriptor {
        let next = level.next().expect("blocks sit at L1/L2");
        let csize = next.size();
        let new = edit.pool.take_raw(&self.mem);
        let nt = self.table(new);
        let attr = d.bits() & LEAF_ATTR_MASK;
        let oa = d.output_address().as_u64();
        for k in 0..ENTRIES {
            nt.set(
                k,
                Descriptor::from_bits(Descriptor::leaf_bits(next, oa + k as u64 * csize, attr)),
            );
        }
        let td = Descriptor::new_table(new, Default::default());
        t.set(i, Descriptor::INVALID);
        let inv = Invalidation {
            asid: self.asid,
            range: self.va_range(base, base + level.size()),
            stride: level,
            leaf_only: true,
            global: d.is_global(),
            level: Some(level),
        };
        invalidate(&self.arch, &inv);
        (edit.on_break)(inv.range);
        t.set(i, td);
        td
    }

    /// `range` widened to whole blocks where a block straddles one of its
    /// edges: the extent an edit of `range` may break (a split), which its
    /// invalidation window must cover.
    pub fn break_hull(&self, range: VaRange) -> VaRange {
        let Ok((s, e)) = self.offsets(range).map(|r| r.bounds()) else {
            return range;
        };
        let (mut lo, mut hi) = (s, e);
        for x in [s, e] {
            if x >= 1 << VA_BITS {
                continue;
            }
            if let Some((level, base)) = self.leaf_at(Offset::new(x)).map(|(l, b)| (l, b.get())) {
                if level != Level::L3 && base != x {
                    lo = lo.min(base);
                    hi = hi.max(base + level.size());
                }
            }
        }
        self.va_range(lo, hi)
    }
}
