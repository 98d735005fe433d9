//! A break-before-make batch: entries of one table page broken (written invalid) and the
//! descriptors that replace them, kept here, outside the table, until the TLB invalidation
//! covering the broken entries has completed. Arm ARM (DDI 0487) D8.16.1: the order is
//! invalid → TLBI → DSB → new entry, for each entry of the batch.

use super::edit::Editor;
use super::raw::TableRef;
use super::walk::{Offset, Span};
use crate::addr::VaRange;
use crate::descriptor::{Descriptor, Level};
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;

/// Runs a batch holds before it must be completed early.
const RUNS: usize = 8;

/// Consecutive entries `index..index + len` whose new descriptors are `first` with the
/// output address stepped by one entry's size each: one run covers a table of contiguous
/// memory with uniform attributes.
#[derive(Copy, Clone, Default)]
struct Run {
    index: u16,
    len: u16,
    first: Descriptor,
}

/// The broken entries of one `level` table page, in index order, and what replaces them.
pub(crate) struct BreakBatch {
    table: TableRef,
    level: Level,
    /// The first offset the table translates.
    table_start: Offset,
    runs: [Run; RUNS],
    len: usize,
    /// Some old or new descriptor is global.
    global: bool,
}

impl BreakBatch {
    /// An empty batch for the `level` table `table`, which translates from `table_start`.
    pub(crate) fn new(table: TableRef, level: Level, table_start: Offset) -> Self {
        Self {
            table,
            level,
            table_start,
            runs: [Run::default(); RUNS],
            len: 0,
            global: false,
        }
    }

    /// The level of the table.
    pub(crate) fn level(&self) -> Level {
        self.level
    }

    /// Whether `new` for entry `index` extends the last run.
    fn extends(&self, index: usize, new: Descriptor) -> bool {
        let Some(last) = self.len.checked_sub(1).map(|i| self.runs[i]) else {
            return false;
        };
        usize::from(last.index) + usize::from(last.len) == index
            && last.first.bits() + u64::from(last.len) * self.level.size() == new.bits()
    }

    /// Whether [`add`](Self::add) has room for `new` at `index` (else complete first).
    pub(crate) fn has_room(&self, index: usize, new: Descriptor) -> bool {
        self.len < RUNS || self.extends(index, new)
    }

    /// Breaks entry `index` (writes it invalid) and records `new` as its make; `global`: the
    /// old or the new descriptor is global. Entries come in index order.
    pub(crate) fn add(&mut self, index: usize, new: Descriptor, global: bool) {
        self.table.set(index, Descriptor::INVALID);
        if self.extends(index, new) {
            self.runs[self.len - 1].len += 1;
        } else {
            self.runs[self.len] = Run {
                index: index as u16,
                len: 1,
                first: new,
            };
            self.len += 1;
        }
        self.global |= global;
    }

    /// Completes the batch: invalidates its entries in every CPU's TLB now (TLBI, DSB ISH),
    /// calls `on_break` (devices drop the old entries between break and make too), writes
    /// every recorded descriptor and makes them visible (DSB ISHST). Returns the range and
    /// globalness for the gather's note (`None` if the batch was empty); the batch is empty
    /// again.
    pub(crate) fn complete<M: PhysMem, A: TlbMaintenance>(
        &mut self,
        tree: &Editor<'_, M, A>,
        on_break: &mut dyn FnMut(VaRange),
    ) -> Option<(VaRange, bool)> {
        let last = *self.runs[..self.len].last()?;
        let size = self.level.size();
        let at = |index: usize| self.table_start.add(index as u64 * size);
        let span = Span::new(
            at(self.runs[0].index.into()),
            at(usize::from(last.index) + usize::from(last.len)),
        );
        let range = tree.invalidate_now(span, self.level, true, self.global, Some(self.level));
        on_break(range);
        for run in &self.runs[..self.len] {
            for k in 0..u64::from(run.len) {
                self.table.set(
                    usize::from(run.index) + k as usize,
                    Descriptor::from_bits(run.first.bits() + k * size),
                );
            }
        }
        tree.arch.dsb_ishst();
        let global = core::mem::take(&mut self.global);
        self.len = 0;
        Some((range, global))
    }
}
