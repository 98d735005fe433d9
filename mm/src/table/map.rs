//! `map`: a read-only preflight (overlap check, table pages needed), then one batched pass
//! that writes pages/blocks, and merges a table back into a block when it became uniform.
//! Arm ARM (DDI 0487) D8.3 (block/page descriptors), D8.16.1 (break-before-make on a merge).

use super::raw::{TableRef, ENTRIES};
use super::{block_fits, slots, Constraints, MapError, PageTable, Slot};
use crate::addr::{PhysAddr, VaRange, VirtAddr, PAGE_SHIFT, PAGE_SIZE, PA_BITS};
use crate::attrs::Attributes;
use crate::descriptor::{Descriptor, Level, LEAF_ATTR_MASK, SW_OWNED};
use crate::frame::FramePool;
use crate::frame::FrameSource;
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::tlb::{invalidate, Invalidation, TlbMaintenance};

/// Everything a map pass needs besides the position.
struct MapJob {
    /// Leaf attribute bits (software bits included).
    bits: u64,
    /// Output address minus table offset (wrapping): `pa(off) = off + delta`.
    delta: u64,
    constraints: Constraints,
    requested: VaRange,
}

impl MapJob {
    fn pa(&self, off: u64) -> u64 {
        off.wrapping_add(self.delta)
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
        let (s, e) = self.offsets(range)?.bounds();
        if !phys.is_aligned(PAGE_SIZE) {
            return Err(MapError::MisalignedPhys(phys));
        }
        if phys
            .checked_add(e - s)
            .is_none_or(|end| end.as_u64() > 1 << PA_BITS)
        {
            return Err(MapError::PhysOutOfRange(phys));
        }
        if s == e {
            return Ok(());
        }
        if let Some(p) = gather.pending().filter(|p| p.range.overlaps(&range)) {
            return Err(MapError::PendingInvalidation {
                pending: p.range,
                requested: range,
            });
        }
        let owned = if constraints.is_owned() { SW_OWNED } else { 0 };
        let job = MapJob {
            bits: (attrs.bits() & LEAF_ATTR_MASK) | owned,
            delta: phys.as_u64().wrapping_sub(s),
            constraints,
            requested: range,
        };
        let needed = self.map_preflight(self.root, Level::L0, s, e, &job)?;
        let mut pool = FramePool::reserve(&mut self.frames, &self.mem, needed)?;
        self.map_level(self.root, Level::L0, s, e, &job, &mut pool, gather);
        debug_assert!(
            pool.is_empty(),
            "the preflight counted more frames than were used"
        );
        pool.give_back(&mut self.frames, &self.mem);
        if constraints.is_owned() {
            self.owned_pages += (e - s) >> PAGE_SHIFT;
        }
        self.has_global |= attrs.global;
        // New entries were invalid before: no TLBI, but they must reach the walkers.
        self.arch.dsb_ishst();
        self.arch.isb();
        Ok(())
    }

    /// Maps the one page at `va` to `pa`: the fast path of a page fault. One
    /// read-only walk finds the page unmapped (else `Ok(false)`, nothing
    /// changed: another CPU won the race, or a block covers it) and counts
    /// the missing table pages; they are reserved at once (`OutOfFrames`
    /// leaves the tables unchanged), then a second walk links them (each
    /// zeroed and made visible before it is linked) and writes the page
    /// descriptor. Nothing valid is replaced, so no TLB invalidation and no
    /// gather are needed; `owned` makes an unmap free the frame.
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
        let (s, _) = self.offsets(VaRange::new(va, va.add(PAGE_SIZE)))?.bounds();
        let mut table = self.root;
        let mut level = Level::L0;
        let mut missing = 0;
        while let Some(next) = level.next() {
            let d = self.table(table).get(level.index(s));
            if !d.is_valid() {
                missing = Level::L3 as usize - level as usize;
                break;
            }
            if !d.is_table(level) {
                return Ok(false);
            }
            table = d.output_address();
            level = next;
        }
        if missing == 0 && self.table(table).get(Level::L3.index(s)).is_valid() {
            return Ok(false);
        }
        let mut pool = FramePool::reserve(&mut self.frames, &self.mem, missing)?;
        let mut table = self.root;
        let mut level = Level::L0;
        while let Some(next) = level.next() {
            let t = self.table(table);
            let d = t.get(level.index(s));
            table = if d.is_valid() {
                d.output_address()
            } else {
                let new = pool.take(&self.mem);
                self.arch.dsb_ishst();
                t.set(
                    level.index(s),
                    Descriptor::new_table(new, Default::default()),
                );
                new
            };
            level = next;
        }
        debug_assert!(pool.is_empty(), "the walk counted the tables it links");
        let bits = (attrs.bits() & LEAF_ATTR_MASK) | if owned { SW_OWNED } else { 0 };
        self.table(table).set(
            Level::L3.index(s),
            Descriptor::from_bits(Descriptor::leaf_bits(Level::L3, pa.as_u64(), bits)),
        );
        if owned {
            self.owned_pages += 1;
        }
        self.has_global |= attrs.global;
        self.arch.dsb_ishst();
        self.arch.isb();
        Ok(true)
    }

    /// Checks that nothing in `[s, e)` is mapped and counts the table pages the map needs.
    fn map_preflight(
        &self,
        table: PhysAddr,
        level: Level,
        s: u64,
        e: u64,
        job: &MapJob,
    ) -> Result<usize, MapError> {
        let t = self.table(table);
        let size = level.size();
        let mut needed = 0;
        for Slot {
            i,
            base,
            start: off,
            end: sub_end,
        } in slots(level, s, e)
        {
            let d = t.get(i);
            if !d.is_valid() {
                needed += fresh_tables(level, off, sub_end, job);
            } else if d.is_table(level) {
                let next = level.next().expect("tables above L3");
                needed += self.map_preflight(d.output_address(), next, off, sub_end, job)?;
            } else {
                return Err(MapError::Overlap {
                    existing: self.va_range(base, base + size),
                    requested: job.requested,
                });
            }
        }
        Ok(needed)
    }

    #[allow(clippy::too_many_arguments)]
    fn map_level(
        &mut self,
        table: PhysAddr,
        level: Level,
        s: u64,
        e: u64,
        job: &MapJob,
        pool: &mut FramePool,
        gather: &mut Gather<M>,
    ) {
        let t = self.table(table);
        if level == Level::L3 {
            let first = level.index(s);
            let mut pa = job.pa(s);
            for i in first..first + ((e - s) >> PAGE_SHIFT) as usize {
                t.set(
                    i,
                    Descriptor::from_bits(Descriptor::leaf_bits(level, pa, job.bits)),
                );
                pa += PAGE_SIZE;
            }
            return;
        }
        let next = level.next().expect("L0-L2 have a next level");
        for Slot {
            i,
            base,
            start: off,
            end: sub_end,
        } in slots(level, s, e)
        {
            let d = t.get(i);
            if !d.is_valid() {
                if block_fits(job.constraints, level, off, sub_end, job.pa(off)) {
                    t.set(
                        i,
                        Descriptor::from_bits(Descriptor::leaf_bits(level, job.pa(off), job.bits)),
                    );
                } else {
                    // Fill the new table first; link it only once its contents are visible.
                    let new = pool.take(&self.mem);
                    self.map_level(new, next, off, sub_end, job, pool, gather);
                    self.arch.dsb_ishst();
                    t.set(i, Descriptor::new_table(new, Default::default()));
                }
            } else {
                debug_assert!(d.is_table(level), "preflight rejected overlaps");
                self.map_level(d.output_address(), next, off, sub_end, job, pool, gather);
                if job.constraints.allows_block(level) {
                    self.try_merge(t, i, level, base, gather);
                }
            }
        }
    }

    /// Replaces the table under entry `i` of `parent` (a level `level` table) by a block if its
    /// 512 entries are leaves with contiguous output addresses and identical attributes.
    fn try_merge(
        &mut self,
        parent: TableRef,
        i: usize,
        level: Level,
        base: u64,
        gather: &mut Gather<M>,
    ) {
        let child_pa = parent.get(i).output_address();
        let child = self.table(child_pa);
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
        let range = self.va_range(base, base + level.size());
        let global = first.is_global();
        parent.set(i, Descriptor::INVALID);
        let inv = Invalidation {
            asid: self.asid,
            range,
            stride: child_level,
            leaf_only: false,
            global,
            level: None,
        };
        invalidate(&self.arch, &inv);
        parent.set(
            i,
            Descriptor::from_bits(Descriptor::leaf_bits(level, block_pa, attr)),
        );
        // The IOTLB may still hold the old table: it is freed only after the gather's flush.
        gather.note_table(range, child_pa, child_level, global);
    }
}

/// Table pages needed to map `[s, e)` (inside one entry of a `level` table) under an entry that
/// is invalid now.
fn fresh_tables(level: Level, s: u64, e: u64, job: &MapJob) -> usize {
    let Some(next) = level.next() else { return 0 };
    if block_fits(job.constraints, level, s, e, job.pa(s)) {
        return 0;
    }
    if next == Level::L3 {
        return 1;
    }
    1 + child_tables(next, s, e, job)
}

/// Table pages needed below the (all invalid) `level` entries that cover `[s, e)`.
fn child_tables(level: Level, s: u64, e: u64, job: &MapJob) -> usize {
    let size = level.size();
    if level == Level::L2 {
        // One L3 table per L2 entry, except entries that become 2 MiB blocks: the fully
        // covered ones, when blocks are allowed and VA and PA agree modulo 2 MiB.
        let entries = (e - 1) / size - s / size + 1;
        let congruent = job.constraints.allows_block(level) && job.delta.is_multiple_of(size);
        let blocks = if congruent {
            (e / size).saturating_sub(s.div_ceil(size))
        } else {
            0
        };
        return (entries - blocks) as usize;
    }
    let mut n = 0;
    for slot in slots(level, s, e) {
        n += fresh_tables(level, slot.start, slot.end, job);
    }
    n
}
