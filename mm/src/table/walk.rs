//! The one descent of a table tree. Every operation (map, unmap, protect, translate, walk,
//! the preflights, the gather's table enumeration) is a [`Visitor`] that [`walk`] drives over a
//! range of typed table offsets. Arm ARM (DDI 0487) D8.2.7 (4 KiB granule: 9 index bits per
//! level), D8.3 (invalid, table, block and page descriptors).
//!
//! - **Offsets**: an [`Offset`] is a VA minus its region's base (bits \[47:0\]), so both halves
//!   of the VA space index alike; a [`Span`] is a half-open range of them. The walk hands each
//!   callback an [`Entry`]: the table page, level and index, the entry's whole `span`
//!   (`level.size()` bytes, aligned) and the `part` of the walked range inside it.
//! - **Callbacks**: for each entry the walked range touches, in VA order, the walk reads the
//!   descriptor once and calls [`hole`](Visitor::hole) (invalid), [`table`](Visitor::table)
//!   (a table descriptor at L0-L2) or [`leaf`](Visitor::leaf) (any other valid descriptor: a
//!   block, a page, or an encoding reserved at that level, which read-only visitors skip).
//!   Each returns a [`Step`]: `Next` entry; `Descend` into a next-level table (the one the
//!   entry points at, or one the callback just built: a split, a new table), after which
//!   [`after`](Visitor::after) runs for the entry; `DescendNew` into a table the callback made
//!   and has not linked, whose entries are all invalid and are not read; or `Stop` with a
//!   value, which ends the walk at once (no `after`, no `leave` for the tables it is in).
//!   [`leave`](Visitor::leave) runs once per table page when its entries in range are done,
//!   with that part of the range and the visitor's per-table accumulator
//!   ([`Visitor::PerTable`]): the place to batch a gather note or a break-before-make over
//!   the entries of one table.
//! - **Two phases**: a read-only visitor (a preflight) counts the frames an edit needs and
//!   refuses with `Stop`; the editing visitor that follows never stops, so a refused
//!   operation has written nothing.
//!
//! The walk is monomorphized per level (the private `Depth` types), per visitor and for
//! fresh tables: each level's loop has its geometry as constants, L3's has no table case, a
//! fresh table's reads nothing. A lookup visitor ([`Visitor::INLINE`]) has the levels inline
//! into one straight descent; a pass over many entries gets its L3 loop as a function of its
//! own, so that the loop over 512 pages keeps its state in registers. Callbacks that take a rare path (a split,
//! a merge, a break-before-make) hand it numbers, not the `Entry`, for the same reason.

use super::raw::TableRef;
use crate::addr::{PhysAddr, PAGE_SIZE};
use crate::descriptor::{Descriptor, Level};
use crate::phys::PhysMem;
use core::ops::ControlFlow;

/// A position in the VA space of one table tree: the VA minus its region's base.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Offset(u64);

impl Offset {
    /// The offset `off` (below 2^48).
    #[inline]
    pub(crate) const fn new(off: u64) -> Self {
        Self(off)
    }
    /// The offset as a number.
    #[inline]
    pub(crate) const fn get(self) -> u64 {
        self.0
    }
    /// `bytes` further on.
    #[inline]
    pub(crate) const fn add(self, bytes: u64) -> Self {
        Self(self.0 + bytes)
    }
    /// Start of the `level` entry that translates this offset.
    #[inline]
    pub(crate) const fn entry_start(self, level: Level) -> Self {
        Self(self.0 & !(level.size() - 1))
    }
    /// The first offset the `level` table holding this offset translates.
    #[inline]
    pub(crate) const fn table_start(self, level: Level) -> Self {
        Self(self.0 & !((level.size() << 9) - 1))
    }
    /// Whether this is the first offset of a `level` entry.
    #[inline]
    pub(crate) const fn is_entry_start(self, level: Level) -> bool {
        self.0 & (level.size() - 1) == 0
    }
}

/// The half-open range `[start, end)` of table offsets (empty at 0 by default).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    /// First offset.
    pub(crate) start: Offset,
    /// First offset after the range.
    pub(crate) end: Offset,
}

impl Span {
    /// `[start, end)`.
    #[inline]
    pub(crate) const fn new(start: Offset, end: Offset) -> Self {
        Self { start, end }
    }
    /// The empty span at offset 0.
    pub(crate) const EMPTY: Span = Span::new(Offset(0), Offset(0));
    /// The 4 KiB page holding `off`.
    #[inline]
    pub(crate) const fn page(off: Offset) -> Self {
        let start = Offset(off.0 & !(PAGE_SIZE - 1));
        Self::new(start, start.add(PAGE_SIZE))
    }
    /// Everything one `level` entry starting at `start` translates.
    #[inline]
    pub(crate) const fn entry(level: Level, start: Offset) -> Self {
        Self::new(start, start.add(level.size()))
    }
    /// Everything one `level` table translates, placed at offset 0 (indices are all a walk
    /// of a detached table needs).
    #[inline]
    pub(crate) const fn table(level: Level) -> Self {
        Self::new(Offset(0), Offset(level.size() << 9))
    }
    /// `(start, end)` as numbers.
    #[inline]
    pub(crate) const fn bounds(self) -> (u64, u64) {
        (self.start.0, self.end.0)
    }
    /// Bytes covered.
    #[inline]
    pub(crate) const fn len(self) -> u64 {
        self.end.0 - self.start.0
    }
    /// Whether nothing is covered.
    #[inline]
    pub(crate) const fn is_empty(self) -> bool {
        self.end.0 <= self.start.0
    }
    /// The smallest span covering both (`self` may be empty: then `other`).
    #[inline]
    pub(crate) fn hull(self, other: Span) -> Span {
        if self.is_empty() {
            return other;
        }
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// One entry of one table page, as a callback sees it.
#[derive(Copy, Clone)]
pub(crate) struct Entry {
    /// The table page holding the entry.
    pub(crate) table: TableRef,
    /// That table's level.
    pub(crate) level: Level,
    /// The entry's index in it.
    pub(crate) index: usize,
    /// Everything the entry translates (`level.size()` bytes, aligned).
    pub(crate) span: Span,
    /// The part of the walked range inside `span`.
    pub(crate) part: Span,
}

impl Entry {
    /// Writes the entry (one single-copy-atomic 64-bit store).
    #[inline]
    pub(crate) fn set(&self, d: Descriptor) {
        self.table.set(self.index, d)
    }
    /// Whether the walked range covers the whole entry (always at L3: ranges are whole
    /// pages).
    #[inline]
    pub(crate) fn is_whole(&self) -> bool {
        self.level == Level::L3 || self.part == self.span
    }
}

/// What a callback asks the walk to do next.
pub(crate) enum Step<S> {
    /// Go on with the next entry.
    Next,
    /// Visit the next-level table at this address over the entry's `part`, then call
    /// [`Visitor::after`] for the entry.
    Descend(PhysAddr),
    /// Like `Descend`, into a table the callback made and has not linked: every entry is
    /// invalid, so the walk calls [`Visitor::hole`] for each without reading it.
    DescendNew(PhysAddr),
    /// End the walk with this value.
    Stop(S),
}

/// An operation expressed on the walk. Every callback runs with the table's lock held
/// (preemption off): it must not sleep. The defaults skip holes and leaves and descend into
/// tables.
pub(crate) trait Visitor {
    /// What a stopped walk returns (an error for a preflight, a found entry for a lookup).
    type Stop;
    /// What the visitor accumulates over the entries of one table page: made when the walk
    /// enters the table, handed to [`leave`](Self::leave) when its entries in range are done.
    type PerTable: Default;
    /// Whether the walk inlines the L3 loop into the L2 one too: yes for lookups (a one-page
    /// walk becomes straight-line code); no (the default) for passes over many entries, so
    /// that the loop over 512 pages has the registers to itself (one call per L3 table;
    /// the levels above, with few entries, stay inline).
    const INLINE: bool = false;

    /// An invalid entry.
    #[inline(always)]
    fn hole(&mut self, _at: &Entry, _acc: &mut Self::PerTable) -> Step<Self::Stop> {
        Step::Next
    }
    /// A valid entry that is not a table descriptor: a block (L1, L2), a page (L3), or an
    /// encoding the level reserves (a block at L0, bit 1 clear at L3).
    #[inline(always)]
    fn leaf(&mut self, _at: &Entry, _d: Descriptor, _acc: &mut Self::PerTable) -> Step<Self::Stop> {
        Step::Next
    }
    /// A table descriptor (levels 0-2).
    #[inline(always)]
    fn table(&mut self, _at: &Entry, d: Descriptor, _acc: &mut Self::PerTable) -> Step<Self::Stop> {
        Step::Descend(d.output_address())
    }
    /// The walk has visited the table `child` under `at` (`fresh`: the callback made it and
    /// asked for `DescendNew`).
    #[inline(always)]
    fn after(&mut self, _at: &Entry, _child: PhysAddr, _fresh: bool, _acc: &mut Self::PerTable) {}
    /// The entries of the `level` table `table` in `range` (the part of the walked range
    /// inside that table) are done.
    #[inline(always)]
    fn leave(&mut self, _table: TableRef, _level: Level, _range: Span, _acc: Self::PerTable) {}
}

/// Walks the `level` table at `table` (and what the visitor descends into) over `range`,
/// which lies inside the span of that one table. Returns `Break` with the value of the
/// callback that stopped, `Continue` if none did.
#[inline(always)]
pub(crate) fn walk<M: PhysMem, V: Visitor>(
    mem: &M,
    table: PhysAddr,
    level: Level,
    range: Span,
    v: &mut V,
) -> ControlFlow<V::Stop> {
    if range.is_empty() {
        return ControlFlow::Continue(());
    }
    let t = TableRef::new(mem, table);
    match level {
        Level::L0 => walk_table::<D0, M, V, false>(mem, t, range, v),
        Level::L1 => walk_table::<D1, M, V, false>(mem, t, range, v),
        Level::L2 => walk_table::<D2, M, V, false>(mem, t, range, v),
        Level::L3 => walk_table::<D3, M, V, false>(mem, t, range, v),
    }
}

/// A level as a type, so that each level's loop is compiled with its geometry as constants.
trait Depth {
    const LEVEL: Level;
    /// The level below (L3's is L3 again: never descended into).
    type Below: Depth;
}
enum D0 {}
enum D1 {}
enum D2 {}
enum D3 {}
impl Depth for D0 {
    const LEVEL: Level = Level::L0;
    type Below = D1;
}
impl Depth for D1 {
    const LEVEL: Level = Level::L1;
    type Below = D2;
}
impl Depth for D2 {
    const LEVEL: Level = Level::L2;
    type Below = D3;
}
impl Depth for D3 {
    const LEVEL: Level = Level::L3;
    type Below = D3;
}

/// One table's loop (`FRESH`: a table the visitor made, all invalid and not read).
#[inline(always)]
fn walk_table<L: Depth, M: PhysMem, V: Visitor, const FRESH: bool>(
    mem: &M,
    t: TableRef,
    range: Span,
    v: &mut V,
) -> ControlFlow<V::Stop> {
    let level = L::LEVEL;
    let size = level.size();
    let (mut from, end) = (range.start.get(), range.end.get());
    let mut base = from & !(size - 1);
    let (mut index, last) = (level.index(from), level.index(end - 1));
    let mut acc = V::PerTable::default();
    // The range is not empty (`walk` checks the first; a descent's part never is): the first
    // entry needs no test, so a visitor that stops at every L3 entry (a lookup) compiles to
    // one straight descent.
    loop {
        let at = Entry {
            table: t,
            level,
            index,
            span: Span::new(Offset(base), Offset(base + size)),
            part: Span::new(Offset(from), Offset(end.min(base + size))),
        };
        let d = if FRESH {
            Descriptor::INVALID
        } else {
            t.get(index)
        };
        let step = if d.is_table(level) {
            v.table(&at, d, &mut acc)
        } else if !d.is_valid() {
            v.hole(&at, &mut acc)
        } else {
            v.leaf(&at, d, &mut acc)
        };
        match step {
            Step::Next => {}
            Step::Stop(s) => return ControlFlow::Break(s),
            Step::Descend(child) | Step::DescendNew(child) => {
                if level == Level::L3 {
                    // A constant per instantiation: L3's loop has no descent (no recursion).
                    unreachable!("a visitor descended below L3");
                }
                let new = matches!(step, Step::DescendNew(_));
                let t = TableRef::new(mem, child);
                let inline = V::INLINE || level != Level::L2;
                match (inline, new) {
                    (true, false) => walk_table::<L::Below, M, V, false>(mem, t, at.part, v)?,
                    (true, true) => walk_table::<L::Below, M, V, true>(mem, t, at.part, v)?,
                    (false, false) => out_of_line::<L::Below, M, V, false>(mem, t, at.part, v)?,
                    (false, true) => out_of_line::<L::Below, M, V, true>(mem, t, at.part, v)?,
                }
                v.after(&at, child, new, &mut acc);
            }
        }
        if index == last {
            break;
        }
        index += 1;
        base += size;
        from = base;
    }
    v.leave(t, level, range, acc);
    ControlFlow::Continue(())
}

/// An L3 table's loop as its own function (see [`Visitor::INLINE`]).
#[inline(never)]
fn out_of_line<L: Depth, M: PhysMem, V: Visitor, const FRESH: bool>(
    mem: &M,
    t: TableRef,
    range: Span,
    v: &mut V,
) -> ControlFlow<V::Stop> {
    walk_table::<L, M, V, FRESH>(mem, t, range, v)
}
