//! The model TLB catches missing or too-narrow invalidations (negative controls), and the
//! invalidation policy picks the expected TLBIs. Arm ARM (DDI 0487) D8.13 (TLB maintenance),
//! C5.5 (TLBI operands), D8.16 (break-before-make: overlapping entries = TLB conflict).

use super::*;
use crate::attrs::{Access, Attributes};
use crate::descriptor::Level;
use crate::model::{AccessKind, El, FaultKind, ModelMmu};
use crate::table::{Constraints, PageTable, VaRegion};
use crate::tlb::{Asid, Plan, RangeOperand, VaOperand};

const DATA: Attributes = Attributes::USER_DATA;

#[test]
fn unmap_then_flush_removes_the_translation() {
    setup!(mem, mmu, pt, A72, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 4 * KIB),
        pa(0x8000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    assert_eq!(read(&mmu, &c, 0x1000), Ok(pa(0x8000_0000)));
    pt.unmap(range(0x1000, 4 * KIB), &mut g).unwrap();
    // Until the flush the TLB still holds the old translation: that is what the gather is for.
    assert_eq!(read(&mmu, &c, 0x1000), Ok(pa(0x8000_0000)));
    flush_release!(pt, g);
    assert!(translation_fault(read(&mmu, &c, 0x1000)));
}

#[test]
fn dropped_tlbi_leaves_a_stale_translation_negative_control() {
    setup!(mem, mmu, pt, A72, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 4 * KIB),
        pa(0x8000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    read(&mmu, &c, 0x1000).unwrap();
    pt.unmap(range(0x1000, 4 * KIB), &mut g).unwrap();
    mmu.set_drop_invalidations(true);
    flush_release!(pt, g);
    mmu.set_drop_invalidations(false);
    // The page is gone from the tables, but the model TLB still translates it: caught.
    assert!(pt.translate(va(0x1000)).is_none());
    assert_eq!(
        read(&mmu, &c, 0x1000),
        Ok(pa(0x8000_0000)),
        "the model must expose a missing TLBI"
    );
    // Remapped to a new frame: the stale entry still wins (the old contents would be read).
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 4 * KIB),
        pa(0x8800_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    assert_eq!(read(&mmu, &c, 0x1000), Ok(pa(0x8000_0000)));
    let _ = g.flush(pt.arch());
}

#[test]
fn remap_to_a_new_frame_never_reads_the_old_one() {
    setup!(mem, mmu, pt, A72, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 4 * KIB),
        pa(0x8000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    read(&mmu, &c, 0x1000).unwrap();
    pt.unmap(range(0x1000, 4 * KIB), &mut g).unwrap();
    flush_release!(pt, g);
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 4 * KIB),
        pa(0x8800_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    assert_eq!(read(&mmu, &c, 0x1000), Ok(pa(0x8800_0000)));
    let _ = g.flush(pt.arch());
}

/// Forwards to the model but invalidates only the first page of every range it is given:
/// a "too narrow" invalidation.
struct Narrow<'a, M: PhysMem>(&'a ModelMmu<M>);

impl<M: PhysMem> TlbMaintenance for Narrow<'_, M> {
    fn caps(&self) -> TlbCaps {
        self.0.caps()
    }
    fn invalidate_va(&self, op: VaOperand, last: bool) {
        self.0.invalidate_va(op, last)
    }
    fn invalidate_range(&self, op: RangeOperand, last: bool) {
        self.0
            .invalidate_va(VaOperand::new(op.asid(), op.base(), None), last)
    }
    fn invalidate_asid(&self, _: Asid) {}
    fn invalidate_all(&self) {}
    fn dsb_ishst(&self) {}
    fn dsb_ish(&self) {}
    fn isb(&self) {}
}

#[test]
fn narrowed_tlbi_leaves_stale_pages_negative_control() {
    setup!(mem, mmu, pt, MAX, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x10_0000, 100 * 4 * KIB),
        pa(0x8000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    for k in 0..100 {
        read(&mmu, &c, 0x10_0000 + k * 4 * KIB).unwrap();
    }
    pt.unmap(range(0x10_0000, 100 * 4 * KIB), &mut g).unwrap();
    let narrow = Narrow(&mmu);
    let f = g.flush(&narrow);
    assert_eq!(f.plan(), Plan::Ranges);
    f.release(pt.frames_mut()).unwrap();
    assert!(translation_fault(read(&mmu, &c, 0x10_0000)));
    let stale = (1..100)
        .filter(|k| read(&mmu, &c, 0x10_0000 + k * 4 * KIB).is_ok())
        .count();
    // Two range ops (64 + 36 pages), each narrowed to its first page: 98 pages stay stale.
    assert_eq!(
        stale, 98,
        "a narrowed range TLBI must leave the other pages stale in the model"
    );
}

#[test]
fn range_ops_and_ttl_on_a_max_cpu() {
    setup!(mem, mmu, pt, MAX, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x20_0000, 1000 * 4 * KIB),
        pa(0x8020_0000),
        DATA,
        Constraints::PAGES_ONLY,
        &mut g,
    )
    .unwrap();
    for k in 0..1000 {
        read(&mmu, &c, 0x20_0000 + k * 4 * KIB).unwrap();
    }
    let ro = DATA.with_access(Access::Read);
    pt.protect(range(0x20_0000, 1000 * 4 * KIB), ro, &mut g)
        .unwrap();
    let before = mmu.counts();
    let f = g.flush(pt.arch());
    assert_eq!(f.plan(), Plan::Ranges);
    f.release(pt.frames_mut()).unwrap();
    let after = mmu.counts();
    // 1000 pages = 31 * 32 + 4 * 2: two range ops, last level only (permissions changed).
    assert_eq!(after.range_last_level - before.range_last_level, 2);
    assert_eq!(after.tlbis() - before.tlbis(), 2);
    for k in 0..1000 {
        let w = mmu.access(&c, va(0x20_0000 + k * 4 * KIB), AccessKind::Write, El::El0);
        assert_eq!(
            w.unwrap_err().kind,
            FaultKind::Permission,
            "page {k} still writable"
        );
    }
}

#[test]
fn whole_asid_above_the_threshold_on_an_a72() {
    setup!(mem, mmu, pt, A72, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x20_0000, 65 * 4 * KIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    for k in 0..65 {
        read(&mmu, &c, 0x20_0000 + k * 4 * KIB).unwrap();
    }
    pt.unmap(range(0x20_0000, 65 * 4 * KIB), &mut g).unwrap();
    let before = mmu.counts();
    let f = g.flush(pt.arch());
    assert_eq!(f.plan(), Plan::WholeAsid);
    f.release(pt.frames_mut()).unwrap();
    assert_eq!(mmu.counts().asid - before.asid, 1);
    assert!((0..65).all(|k| translation_fault(read(&mmu, &c, 0x20_0000 + k * 4 * KIB))));
}

#[test]
fn ttl_hint_is_honoured_strictly_by_the_model() {
    // A by-VA TLBI whose TTL says "level 3" does not remove a 2 MiB block entry.
    setup!(mem, mmu, pt, MAX, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x20_0000, 2 * MIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    read(&mmu, &c, 0x20_0000).unwrap();
    mmu.invalidate_va(
        VaOperand::new(pt.asid(), va(0x20_0000), Some(Level::L3)),
        true,
    );
    assert_eq!(mmu.tlb_len(), 1);
    mmu.invalidate_va(
        VaOperand::new(pt.asid(), va(0x20_0000), Some(Level::L2)),
        true,
    );
    assert_eq!(mmu.tlb_len(), 0);
    let _ = g.flush(pt.arch());
}

#[test]
fn merge_with_a_too_narrow_tlbi_conflicts_negative_control() {
    // The merge's break-before-make TLBI is dropped; a later TLBI covers one page only. The
    // new 2 MiB block then sits next to a stale 4 KiB entry: the model reports the TLB
    // conflict real hardware may raise.
    setup!(mem, mmu, pt, A72, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x20_0000, 2 * MIB - 4 * KIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    read(&mmu, &c, 0x20_0000).unwrap();
    mmu.set_drop_invalidations(true);
    pt.map(
        range(0x3f_f000, 4 * KIB),
        pa(0x803f_f000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    mmu.set_drop_invalidations(false);
    assert_eq!(pt.translate(va(0x20_0000)).unwrap().level, Level::L2);
    mmu.invalidate_va(VaOperand::new(pt.asid(), va(0x21_0000), None), false);
    read(&mmu, &c, 0x21_0000).unwrap(); // walks the new block into the TLB
    assert_eq!(
        read(&mmu, &c, 0x20_0000).unwrap_err().kind,
        FaultKind::TlbConflict
    );
    let _ = g.flush(pt.arch());
}

#[test]
fn merge_with_its_tlbi_has_no_conflict() {
    // The same sequence with the merge's own invalidation in place.
    setup!(mem, mmu, pt, A72, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x20_0000, 2 * MIB - 4 * KIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    read(&mmu, &c, 0x20_0000).unwrap();
    pt.map(
        range(0x3f_f000, 4 * KIB),
        pa(0x803f_f000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    mmu.invalidate_va(VaOperand::new(pt.asid(), va(0x21_0000), None), false);
    read(&mmu, &c, 0x21_0000).unwrap();
    assert_eq!(read(&mmu, &c, 0x20_0000), Ok(pa(0x8020_0000)));
    let _ = g.flush(pt.arch());
}

#[test]
fn global_kernel_mappings_in_ttbr1() {
    let mem = crate::model::HostMem::new(crate::model::HostMem::BASE, MIB);
    let mmu = ModelMmu::new(&mem, A72);
    let (low, high) = (
        crate::addr::PhysRange::new(pa(0x4000_0000), pa(0x4008_0000)),
        crate::addr::PhysRange::new(pa(0x4008_0000), pa(0x4010_0000)),
    );
    let (mut b1, mut b2) = ([0u64; 4], [0u64; 4]);
    let uframes = crate::frame::FrameAllocator::new(&mem, &mut b1, &[low], &[]).unwrap();
    let kframes = crate::frame::FrameAllocator::new(&mem, &mut b2, &[high], &[]).unwrap();
    let user = PageTable::new(&mem, &mmu, uframes, VaRegion::Lower, Asid::new(9)).unwrap();
    let mut kernel = PageTable::new(&mem, &mmu, kframes, VaRegion::Upper, Asid::KERNEL).unwrap();
    let kbase = 0xffff_0000_4000_0000u64;
    let mut g = kernel.gather();
    kernel
        .map(
            range(kbase, 100 * 4 * KIB),
            pa(0x4000_0000),
            Attributes::KERNEL_DATA,
            Constraints::BLOCKS,
            &mut g,
        )
        .unwrap();
    let _ = g.flush(&mmu);
    let c = crate::model::Context {
        ttbr0: Some(user.root()),
        ttbr1: Some(kernel.root()),
        asid: user.asid(),
    };
    for k in 0..100 {
        read(&mmu, &c, kbase + k * 4 * KIB).unwrap();
    }
    let mut g = kernel.gather();
    kernel.unmap(range(kbase, 100 * 4 * KIB), &mut g).unwrap();
    let f = g.flush(kernel.arch());
    // Global entries survive an ASID invalidation: above the threshold it must be "all".
    assert_eq!(f.plan(), Plan::All);
    f.release(kernel.frames_mut()).unwrap();
    assert!((0..100).all(|k| translation_fault(read(&mmu, &c, kbase + k * 4 * KIB))));
    // EL0 cannot touch kernel data.
    let mut g = kernel.gather();
    kernel
        .map(
            range(kbase, 4 * KIB),
            pa(0x4000_0000),
            Attributes::KERNEL_DATA,
            Constraints::BLOCKS,
            &mut g,
        )
        .unwrap();
    let e = mmu
        .access(&c, va(kbase), AccessKind::Read, El::El0)
        .unwrap_err();
    assert_eq!(e.kind, FaultKind::Permission);
    assert_eq!(
        mmu.access(&c, va(kbase), AccessKind::Write, El::El1),
        Ok(pa(0x4000_0000))
    );
    let _ = g.flush(&mmu);
}

#[test]
fn memory_type_change_breaks_before_make() {
    // A live change of AttrIndx/nG is invalidated at once (break-before-make), before the
    // gather is flushed; a permission-only change waits for the gather.
    setup!(mem, mmu, pt, A72, MIB);
    let c = ctx(&pt);
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 4 * KIB),
        pa(0x8000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    read(&mmu, &c, 0x1000).unwrap();
    let before = mmu.counts().tlbis();
    pt.protect(
        range(0x1000, 4 * KIB),
        DATA.with_access(Access::Read),
        &mut g,
    )
    .unwrap();
    assert_eq!(
        mmu.counts().tlbis(),
        before,
        "permission change waits for the gather"
    );
    pt.protect(range(0x1000, 4 * KIB), Attributes::KERNEL_DMA, &mut g)
        .unwrap();
    assert_eq!(
        mmu.counts().tlbis(),
        before + 1,
        "memory type change invalidates at once"
    );
    assert_eq!(mmu.tlb_len(), 0);
    assert_eq!(
        pt.translate(va(0x1000)).unwrap().attributes(),
        Some(Attributes::KERNEL_DMA)
    );
    flush_release!(pt, g);
}
