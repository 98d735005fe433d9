//! The read-only side of a table, on the walk: `translate` and the other one-page lookups,
//! `walk` over a range's leaves, and the enumeration of a (sub)tree's table pages. Arm ARM (DDI 0487) D8.2 "Translation table walk": a leaf
//! is a block at L1/L2 or a page at L3; other valid non-table encodings are reserved.

use super::raw::TableRef;
use super::walk::{walk, Entry, Offset, Span, Step, Visitor};
use super::{MapError, Mapping, PageTable, Translation, VaRegion};
use crate::addr::{PhysAddr, VaRange, VirtAddr};
use crate::descriptor::{Descriptor, Level};
use crate::frame::FrameSource;
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;
use core::convert::Infallible;
use core::ops::ControlFlow;

/// Whether a valid non-table descriptor at `level` is a leaf the hardware would use (not a
/// reserved encoding: a block at L0, or bit 1 clear at L3).
#[inline(always)]
fn is_leaf(level: Level, d: Descriptor) -> bool {
    level.holds_leaves() && (level == Level::L3) == (d.bits() & 0b10 != 0)
}

/// Where a one-page descent ended: a valid non-table entry.
#[derive(Copy, Clone)]
pub(super) struct Found {
    /// The table page holding it.
    pub(super) table: TableRef,
    /// Its index there.
    pub(super) index: usize,
    /// The table's level.
    pub(super) level: Level,
    /// The first offset the entry translates.
    pub(super) start: Offset,
    /// The descriptor.
    pub(super) descriptor: Descriptor,
}

/// Stops at the entry that ends the descent to one page: its leaf, or `None` at a hole.
struct Find;

impl Visitor for Find {
    type Stop = Option<Found>;
    type PerTable = ();
    const INLINE: bool = true;
    #[inline(always)]
    fn hole(&mut self, _: &Entry, _: &mut ()) -> Step<Self::Stop> {
        Step::Stop(None)
    }
    #[inline(always)]
    fn leaf(&mut self, at: &Entry, d: Descriptor, _: &mut ()) -> Step<Self::Stop> {
        Step::Stop(Some(Found {
            table: at.table,
            index: at.index,
            level: at.level,
            start: at.span.start,
            descriptor: d,
        }))
    }
}

/// Calls `visit` for every leaf, in VA order, until it breaks.
struct Leaves<V> {
    region: VaRegion,
    visit: V,
}

impl<V: FnMut(&Mapping) -> ControlFlow<()>> Visitor for Leaves<V> {
    type Stop = ();
    type PerTable = ();
    #[inline(always)]
    fn leaf(&mut self, at: &Entry, d: Descriptor, _: &mut ()) -> Step<()> {
        if !is_leaf(at.level, d) {
            return Step::Next;
        }
        let m = Mapping {
            va: self.region.va_range(at.span),
            pa: d.output_address(),
            level: at.level,
            descriptor: d,
        };
        match (self.visit)(&m) {
            ControlFlow::Continue(()) => Step::Next,
            ControlFlow::Break(()) => Step::Stop(()),
        }
    }
}

/// Calls the function for every table page below the walked table, children before parents.
struct TablePages<F>(F);

impl<F: FnMut(PhysAddr)> Visitor for TablePages<F> {
    type Stop = Infallible;
    type PerTable = ();
    #[inline(always)]
    fn table(&mut self, at: &Entry, d: Descriptor, _: &mut ()) -> Step<Infallible> {
        let child = d.output_address();
        if at.level == Level::L2 {
            // An L3 table holds no tables: it is not read.
            (self.0)(child);
            return Step::Next;
        }
        Step::Descend(child)
    }
    #[inline(always)]
    fn after(&mut self, _: &Entry, child: PhysAddr, _: bool, _: &mut ()) {
        (self.0)(child)
    }
}

/// Calls `f` for every table page under and including `root` (a level `level` table, linked
/// or not), children before parents: `f` may overwrite a page it is given.
pub(crate) fn for_each_table_page<M: PhysMem>(
    mem: &M,
    root: PhysAddr,
    level: Level,
    mut f: impl FnMut(PhysAddr),
) {
    if level != Level::L3 {
        let _ = walk(
            mem,
            root,
            level,
            Span::table(level),
            &mut TablePages(&mut f),
        );
    }
    f(root);
}

/// Table pages under and including `root`.
pub(crate) fn count_table_pages<M: PhysMem>(mem: &M, root: PhysAddr, level: Level) -> u64 {
    let mut n = 0;
    for_each_table_page(mem, root, level, |_| n += 1);
    n
}

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// The output address and leaf for `va`, walking from the root (no TLB involved).
    pub fn translate(&self, va: VirtAddr) -> Option<Translation> {
        if !self.region.range().contains(va) {
            return None;
        }
        let off = self.region.offset(va);
        let f = self.find(off)?;
        if !is_leaf(f.level, f.descriptor) {
            return None;
        }
        Some(Translation {
            pa: f.descriptor.output_address().add(off.get() - f.start.get()),
            level: f.level,
            descriptor: f.descriptor,
        })
    }

    /// Calls `visit` for every valid leaf that intersects `range`, in VA order; stops early
    /// when `visit` breaks.
    pub fn walk<V: FnMut(&Mapping) -> ControlFlow<()>>(
        &self,
        range: VaRange,
        visit: V,
    ) -> Result<(), MapError> {
        let r = self.offsets(range)?;
        self.leaves(r, visit);
        Ok(())
    }

    /// [`walk`](Self::walk) over checked offsets.
    #[inline]
    pub(super) fn leaves<V: FnMut(&Mapping) -> ControlFlow<()>>(&self, r: Span, visit: V) {
        let mut v = Leaves {
            region: self.region,
            visit,
        };
        let _ = walk(&self.mem, self.root, Level::L0, r, &mut v);
    }

    /// The entry that ends the descent to the page holding `off` (a leaf, valid or reserved);
    /// `None` if the descent ends at an invalid entry.
    #[inline]
    pub(super) fn find(&self, off: Offset) -> Option<Found> {
        match walk(&self.mem, self.root, Level::L0, Span::page(off), &mut Find) {
            ControlFlow::Break(found) => found,
            ControlFlow::Continue(()) => None,
        }
    }

    /// The leaf that maps offset `off`: its level and first offset.
    pub(super) fn leaf_at(&self, off: Offset) -> Option<(Level, Offset)> {
        self.find(off).map(|f| (f.level, f.start))
    }
}
