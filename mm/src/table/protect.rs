//! `protect`: new attributes for a fully mapped range. Permission-only changes are written in
//! place and invalidated through the gather; memory type / nG changes use break-before-make.
//! Arm ARM (DDI 0487) D8.16.1 (which attribute changes need break-before-make), D8.4.

use super::edit::Edit;
use super::raw::TableRef;
use super::{slots, MapError, PageTable, Slot};
use crate::addr::{PhysAddr, VaRange, PAGE_SHIFT};
use crate::attrs::{merge_sw, Attributes};
use crate::descriptor::{Descriptor, Level, LEAF_ATTR_MASK, OA_MASK};
use crate::frame::FramePool;
use crate::frame::FrameSource;
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::tlb::{invalidate, Invalidation, TlbMaintenance};

/// The descriptor `d` with the attribute bits `attr` (ownership bit kept).
fn with_attrs(d: Descriptor, attr: u64) -> Descriptor {
    Descriptor::from_bits((d.bits() & (OA_MASK | 0b11)) | merge_sw(attr, d))
}

/// Indices (and their globalness) collected over one table.
#[derive(Default)]
struct Span {
    lo: usize,
    hi: usize,
    used: bool,
    global: bool,
}

impl Span {
    fn add(&mut self, i: usize, global: bool) {
        if !self.used {
            self.lo = i;
        }
        self.hi = i;
        self.used = true;
        self.global |= global;
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
        let (s, e) = self.offsets(range)?.bounds();
        if s == e {
            return Ok(());
        }
        if let Some(hole) = self.first_hole(self.root, Level::L0, s, e) {
            return Err(MapError::NotMapped(self.va(hole)));
        }
        let splits = self.edge_splits(super::walk::Span::new(
            super::walk::Offset::new(s),
            super::walk::Offset::new(e),
        ));
        let pool = FramePool::reserve(&mut self.frames, &self.mem, splits)?;
        let mut edit = Edit { pool, on_break };
        self.protect_level(
            self.root,
            Level::L0,
            s,
            e,
            attrs.bits() & LEAF_ATTR_MASK,
            &mut edit,
            gather,
        );
        debug_assert!(
            edit.pool.is_empty(),
            "the preflight counted more frames than were used"
        );
        edit.pool.give_back(&mut self.frames, &self.mem);
        self.has_global |= attrs.global;
        Ok(())
    }

    /// The first unmapped offset in `[s, e)`, if any.
    fn first_hole(&self, table: PhysAddr, level: Level, s: u64, e: u64) -> Option<u64> {
        let t = self.table(table);
        if level == Level::L3 {
            let first = Level::L3.index(s);
            let n = ((e - s) >> PAGE_SHIFT) as usize;
            return (0..n)
                .find(|k| !t.get(first + k).is_valid())
                .map(|k| s + ((k as u64) << PAGE_SHIFT));
        }
        for Slot {
            i,
            start: off,
            end: sub_end,
            ..
        } in slots(level, s, e)
        {
            let d = t.get(i);
            if !d.is_valid() {
                return Some(off);
            }
            if d.is_table(level) {
                let hole = self.first_hole(
                    d.output_address(),
                    level.next().expect("tables above L3"),
                    off,
                    sub_end,
                );
                if hole.is_some() {
                    return hole;
                }
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn protect_level(
        &mut self,
        table: PhysAddr,
        level: Level,
        s: u64,
        e: u64,
        attr: u64,
        edit: &mut Edit<'_>,
        gather: &mut Gather<M>,
    ) {
        let t = self.table(table);
        let size = level.size();
        let (mut changed, mut broken) = (Span::default(), Span::default());
        if level == Level::L3 {
            let first = level.index(s);
            for i in first..first + ((e - s) >> PAGE_SHIFT) as usize {
                let d = t.get(i);
                self.protect_leaf(t, i, d, attr, &mut changed, &mut broken);
            }
        }
        let (ls, le) = if level == Level::L3 { (s, s) } else { (s, e) };
        for Slot {
            i,
            base,
            start: off,
            end: sub_end,
        } in slots(level, ls, le)
        {
            let mut d = t.get(i);
            if !d.is_table(level) && sub_end - off != size {
                let at = super::walk::Entry {
                    table: t,
                    level,
                    index: i,
                    span: super::walk::Span::entry(level, super::walk::Offset::new(base)),
                    part: super::walk::Span::new(
                        super::walk::Offset::new(off),
                        super::walk::Offset::new(sub_end),
                    ),
                };
                let tree = super::edit::Editor {
                    mem: &self.mem,
                    arch: &self.arch,
                    asid: self.asid,
                    region: self.region,
                };
                d = tree.split(&at, d, edit);
            }
            if d.is_table(level) {
                let next = level.next().expect("tables above L3");
                self.protect_level(d.output_address(), next, off, sub_end, attr, edit, gather);
            } else {
                self.protect_leaf(t, i, d, attr, &mut changed, &mut broken);
            }
        }
        let table_base = s & !(size * 512 - 1);
        let span_range = |sp: &Span| {
            self.va_range(
                table_base + sp.lo as u64 * size,
                table_base + (sp.hi as u64 + 1) * size,
            )
        };
        if changed.used {
            gather.note_leaves(span_range(&changed), level, changed.global);
        }
        if broken.used {
            let range = span_range(&broken);
            let inv = Invalidation {
                asid: self.asid,
                range,
                stride: level,
                leaf_only: true,
                global: broken.global,
                level: Some(level),
            };
            invalidate(&self.arch, &inv);
            // Devices drop the old entries between break and make too.
            (edit.on_break)(range);
            self.make(t, &broken, attr);
            gather.note_leaves(range, level, broken.global);
        }
    }

    /// New attributes for one fully covered leaf: in place, or the "break" half of
    /// break-before-make (VALID cleared, the rest kept so the make pass can rebuild it).
    #[inline]
    fn protect_leaf(
        &self,
        t: TableRef,
        i: usize,
        d: Descriptor,
        attr: u64,
        changed: &mut Span,
        broken: &mut Span,
    ) {
        let new = with_attrs(d, attr);
        if new == d {
            return;
        }
        let global = d.is_global() || new.is_global();
        if d.needs_break_before_make(new) {
            t.set(i, Descriptor::from_bits(d.bits() & !1));
            broken.add(i, global);
        } else {
            t.set(i, new);
            changed.add(i, global);
        }
    }

    /// The "make" half: rebuilds every entry the break pass invalidated.
    fn make(&self, t: TableRef, broken: &Span, attr: u64) {
        for i in broken.lo..=broken.hi {
            let d = t.get(i);
            if !d.is_valid() && d.bits() != 0 {
                t.set(i, with_attrs(Descriptor::from_bits(d.bits() | 1), attr));
            }
        }
        self.arch.dsb_ishst();
    }
}
