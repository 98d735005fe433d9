//! A break-before-make batch: the entries of one table page that a pass broke (wrote invalid)
//! and the descriptors that replace them, kept here, outside the table, until the TLB
//! invalidation covering the broken entries has completed. Arm ARM (DDI 0487) D8.16.1: the
//! order is invalid → TLBI → DSB → new entry, for each entry of the batch.

use super::edit::Editor;
use super::raw::TableRef;
use super::walk::{Entry, Span};
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

/// The broken entries of one table page and what replaces them.
#[derive(Default)]
pub(crate) struct BreakBatch {
    runs: [Run; RUNS],
    len: usize,
    /// Every broken entry lies in here.
    span: Span,
    /// Some old or new descriptor is global.
    global: bool,
}

impl BreakBatch {
    /// Whether nothing is broken.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `new` for entry `at` extends the last run.
    #[inline]
    fn extends(&self, at: &Entry, new: Descriptor) -> bool {
        let Some(last) = self.len.checked_sub(1).map(|i| self.runs[i]) else {
            return false;
        };
        let len = u64::from(last.len);
        usize::from(last.index) + usize::from(last.len) == at.index
            && last.first.bits() + len * at.level.size() == new.bits()
    }

    /// Whether [`add`](Self::add) has room for `new` at `at` (else complete the batch first).
    #[inline]
    pub(crate) fn has_room(&self, at: &Entry, new: Descriptor) -> bool {
        self.len < RUNS || self.extends(at, new)
    }

    /// Breaks entry `at` (writes it invalid) and records `new` as its make. Entries come in
    /// index order; `global`: the old or the new descriptor is global.
    #[inline]
    pub(crate) fn add(&mut self, at: &Entry, new: Descriptor, global: bool) {
        at.set(Descriptor::INVALID);
        if self.extends(at, new) {
            self.runs[self.len - 1].len += 1;
        } else {
            self.runs[self.len] = Run {
                index: at.index as u16,
                len: 1,
                first: new,
            };
            self.len += 1;
        }
        self.span = self.span.extend(at.span);
        self.global |= global;
    }

    /// Completes the batch in the `level` table `table`: invalidates its span in every CPU's
    /// TLB now (TLBI, DSB ISH), calls `on_break` (devices drop the old entries between break
    /// and make too), writes every recorded descriptor and makes them visible (DSB ISHST).
    /// Returns the range and globalness for the gather's note; the batch is empty again.
    pub(crate) fn complete<M: PhysMem, A: TlbMaintenance>(
        &mut self,
        table: TableRef,
        level: Level,
        tree: &Editor<'_, M, A>,
        on_break: &mut dyn FnMut(VaRange),
    ) -> (VaRange, bool) {
        let range = tree.invalidate_now(self.span, level, true, self.global, Some(level));
        on_break(range);
        let step = level.size();
        for run in &self.runs[..self.len] {
            for k in 0..u64::from(run.len) {
                table.set(
                    usize::from(run.index) + k as usize,
                    Descriptor::from_bits(run.first.bits() + k * step),
                );
            }
        }
        tree.arch.dsb_ishst();
        let global = self.global;
        *self = Self::default();
        (range, global)
    }
}
