//! `map` and `map_page`, on the walk: a read-only preflight (`MapCheck`: refuses an overlap,
//! counts the table pages needed), the frames reserved at once, then a pass that cannot fail
//! (`MapFill`: writes pages and blocks, fills each new table before linking it, and merges a
//! table that became uniform back into a block). Arm ARM (DDI 0487) D8.3 (block/page
//! descriptors), D8.16.1 (break-before-make on a merge).

use super::edit::Editor;
use super::raw::{TableRef, ENTRIES};
use super::walk::{walk, Entry, Offset, Span, Step, Visitor};
use super::{block_fits, Constraints, MapError, PageTable};
use crate::addr::{PhysAddr, VaRange, VirtAddr, PAGE_SHIFT, PAGE_SIZE, PA_BITS};
use crate::attrs::Attributes;
use crate::descriptor::{Descriptor, Level, LEAF_ATTR_MASK, SW_OWNED};
use crate::frame::{FramePool, FrameSource};
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;
use core::convert::Infallible;
use core::ops::ControlFlow;

/// Everything a map pass needs besides the position (held by value in the visitors: fields
/// behind a reference would be reloaded after every descriptor store).
#[derive(Copy, Clone)]
struct MapJob {
    /// Leaf attribute bits (software bits included).
    bits: u64,
    /// Output address minus table offset (wrapping): `pa(off) = off + delta`.
    delta: u64,
    constraints: Constraints,
    requested: VaRange,
}

impl MapJob {
    #[inline]
    fn pa(&self, off: Offset) -> u64 {
        off.get().wrapping_add(self.delta)
    }
}

/// The preflight: refuses a range that meets a leaf, counts the table pages to allocate.
struct MapCheck {
    job: MapJob,
    region: super::VaRegion,
    needed: usize,
}

impl Visitor for MapCheck {
    type Stop = MapError;
    type PerTable = ();
    #[inline(always)]
    fn hole(&mut self, at: &Entry, _: &mut ()) -> Step<MapError> {
        self.needed += fresh_tables(at.level, at.part, &self.job);
        Step::Next
    }
    #[inline(always)]
    fn leaf(&mut self, at: &Entry, _: Descriptor, _: &mut ()) -> Step<MapError> {
        Step::Stop(MapError::Overlap {
            existing: self.region.va_range(at.span),
            requested: self.job.requested,
        })
    }
}

/// The pass that cannot fail: every hole gets a page, a block or a new table (filled, then
/// made visible, then linked); a table it went through may merge back into a block.
struct MapFill<'a, M: PhysMem, A> {
    job: MapJob,
    tree: Editor<'a, M, A>,
    pool: &'a mut FramePool,
    /// `None` for `map_page`, whose constraints allow no block and so no merge.
    gather: Option<&'a mut Gather<M>>,
}

impl<M: PhysMem, A: TlbMaintenance> Visitor for MapFill<'_, M, A> {
    type Stop = Infallible;
    type PerTable = ();
    #[inline(always)]
    fn hole(&mut self, at: &Entry, _: &mut ()) -> Step<Infallible> {
        let pa = self.job.pa(at.part.start);
        let level = at.level;
        if level == Level::L3 || block_fits(self.job.constraints, level, at.part, pa) {
            at.set(Descriptor::from_bits(Descriptor::leaf_bits(
                level,
                pa,
                self.job.bits,
            )));
            return Step::Next;
        }
        Step::DescendNew(self.pool.take(self.tree.mem))
    }
    #[inline(always)]
    fn leaf(&mut self, _: &Entry, _: Descriptor, _: &mut ()) -> Step<Infallible> {
        debug_assert!(false, "the preflight refused overlaps");
        Step::Next
    }
    #[inline(always)]
    fn after(&mut self, at: &Entry, child: PhysAddr, fresh: bool, _: &mut ()) {
        if fresh {
            // The new table's entries reach every walker before the table does.
            self.tree.arch.dsb_ishst();
            at.set(Descriptor::new_table(child, Default::default()));
        } else if self.job.constraints.allows_block(at.level) {
            self.try_merge(at.table, at.index, at.level, at.span.start, child);
        }
    }
}

impl<M: PhysMem, A: TlbMaintenance> MapFill<'_, M, A> {
    /// Replaces the table `child_pa` under entry `index` of the `level` table `table`
    /// (translating from `start`) by a block if its 512 entries are leaves with contiguous
    /// output addresses and identical attributes. (Numbers rather than the `Entry`: the
    /// walk's loop keeps its entry in registers.)
    fn try_merge(
        &mut self,
        table: TableRef,
        index: usize,
        level: Level,
        start: Offset,
        child_pa: PhysAddr,
    ) {
        let child = TableRef::new(self.tree.mem, child_pa);
        let child_level = level.next().expect("merging into L1/L2 blocks");
        let first = child.get(0);
        let leaf_type = Descriptor::leaf_bits(child_level, 0, 0);
        // Cheap test first: a table being filled page by page fails here until its last map.
        if first.bits() & 0b11 != leaf_type || child.get(ENTRIES - 1).bits() & 0b11 != leaf_type {
            return;
        }
        let block_pa = first.output_address().as_u64();
        if block_pa & (level.size() - 1) != 0 {
            return;
        }
        let attr = first.bits() & LEAF_ATTR_MASK;
        let csize = child_level.size();
        let uniform = (0..ENTRIES).all(|k| {
            child.get(k).bits()
                == Descriptor::leaf_bits(child_level, block_pa + k as u64 * csize, attr)
        });
        if !uniform {
            return;
        }
        // Break-before-make: the block size changes under live translations.
        let global = first.is_global();
        table.set(index, Descriptor::INVALID);
        let span = Span::entry(level, start);
        let range = self
            .tree
            .invalidate_now(span, child_level, false, global, None);
        table.set(
            index,
            Descriptor::from_bits(Descriptor::leaf_bits(level, block_pa, attr)),
        );
        // The IOTLB may still hold the old table: it is freed only after the gather's flush.
        self.gather
            .as_deref_mut()
            .expect("a map that may merge has a gather")
            .note_table(range, child_pa, child_level, global);
    }
}

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// Maps `range` to the physical range starting at `phys` with `attrs`. Uses 2 MiB/1 GiB
    /// blocks where VA, PA and length are aligned and `constraints` allow; merges a table whose
    /// 512 entries became one uniform, contiguous run into a block (break-before-make; the old
    /// table page goes to `gather`).
    ///
    /// Errors leave the tables unchanged: `Overlap` if any page of `range` is mapped,
    /// `PendingInvalidation` if `gather` still has to invalidate part of `range`.
    pub fn map(
        &mut self,
        range: VaRange,
        phys: PhysAddr,
        attrs: Attributes,
        constraints: Constraints,
        gather: &mut Gather<M>,
    ) -> Result<(), MapError> {
        attrs.validate()?;
        let r = self.offsets(range)?;
        if !phys.is_aligned(PAGE_SIZE) {
            return Err(MapError::MisalignedPhys(phys));
        }
        if phys
            .checked_add(r.len())
            .is_none_or(|end| end.as_u64() > 1 << PA_BITS)
        {
            return Err(MapError::PhysOutOfRange(phys));
        }
        if r.is_empty() {
            return Ok(());
        }
        if let Some(p) = gather.pending().filter(|p| p.range.overlaps(&range)) {
            return Err(MapError::PendingInvalidation {
                pending: p.range,
                requested: range,
            });
        }
        self.map_checked(r, phys, attrs, constraints, Some(gather))
    }

    /// Maps the one page at `va` to `pa`: the fast path of a page fault. The
    /// read-only preflight finds the page unmapped (else `Ok(false)`, nothing
    /// changed: another CPU won the race, or a block covers it) and counts
    /// the missing table pages; they are reserved at once (`OutOfFrames`
    /// leaves the tables unchanged), then the fill pass writes the page
    /// descriptor and links them (each zeroed, filled and made visible
    /// before it is linked). Nothing valid is replaced, so no TLB
    /// invalidation and no gather are needed; `owned` makes an unmap free
    /// the frame.
    pub fn map_page(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        attrs: Attributes,
        owned: bool,
    ) -> Result<bool, MapError> {
        attrs.validate()?;
        if !pa.is_aligned(PAGE_SIZE) {
            return Err(MapError::MisalignedPhys(pa));
        }
        if pa.as_u64() + PAGE_SIZE > 1 << PA_BITS {
            return Err(MapError::PhysOutOfRange(pa));
        }
        let page = self.offsets(VaRange::new(va, va.add(PAGE_SIZE)))?;
        let constraints = if owned {
            Constraints::PAGES_ONLY.owned()
        } else {
            Constraints::PAGES_ONLY
        };
        match self.map_checked(page, pa, attrs, constraints, None) {
            Ok(()) => Ok(true),
            Err(MapError::Overlap { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `map` of the checked, non-empty offsets `r`: preflight, reserve, fill.
    fn map_checked(
        &mut self,
        r: Span,
        phys: PhysAddr,
        attrs: Attributes,
        constraints: Constraints,
        gather: Option<&mut Gather<M>>,
    ) -> Result<(), MapError> {
        let owned = if constraints.is_owned() { SW_OWNED } else { 0 };
        let job = MapJob {
            bits: (attrs.bits() & LEAF_ATTR_MASK) | owned,
            delta: phys.as_u64().wrapping_sub(r.start.get()),
            constraints,
            requested: self.region.va_range(r),
        };
        let mut check = MapCheck {
            job,
            region: self.region,
            needed: 0,
        };
        if let ControlFlow::Break(e) = walk(&self.mem, self.root, Level::L0, r, &mut check) {
            return Err(e);
        }
        let mut pool = FramePool::reserve(&mut self.frames, &self.mem, check.needed)?;
        let mut fill = MapFill {
            job,
            tree: Editor {
                mem: &self.mem,
                arch: &self.arch,
                asid: self.asid,
                region: self.region,
            },
            pool: &mut pool,
            gather,
        };
        let ControlFlow::Continue(()) = walk(&self.mem, self.root, Level::L0, r, &mut fill);
        debug_assert!(
            pool.is_empty(),
            "the preflight counted more frames than were used"
        );
        pool.give_back(&mut self.frames, &self.mem);
        if constraints.is_owned() {
            self.owned_pages += r.len() >> PAGE_SHIFT;
        }
        self.has_global |= attrs.global;
        // New entries were invalid before: no TLBI, but they must reach the walkers.
        self.arch.dsb_ishst();
        self.arch.isb();
        Ok(())
    }
}

/// Table pages a map of `part` needs under an entry at `level` that is invalid now: at each
/// level from `level` to L2, one for every entry the part touches that does not become a
/// block. An entry inside a block is itself a block candidate (a [`Constraints`] that allows
/// 1 GiB blocks allows 2 MiB ones), so the levels are counted apart, without a descent.
fn fresh_tables(level: Level, part: Span, job: &MapJob) -> usize {
    let c = job.constraints;
    debug_assert!(!c.allows_block(Level::L1) || c.allows_block(Level::L2));
    let (s, e) = part.bounds();
    let mut n = 0;
    let mut at = level;
    while let Some(next) = at.next() {
        // Shifts, not divisions: the level is not a constant here.
        let (shift, size) = (at.shift(), at.size());
        let touched = ((e - 1) >> shift) - (s >> shift) + 1;
        let blocks = if c.allows_block(at) && job.delta & (size - 1) == 0 {
            (e >> shift).saturating_sub((s + size - 1) >> shift)
        } else {
            0
        };
        n += touched - blocks;
        at = next;
    }
    n as usize
}
