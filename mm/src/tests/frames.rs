//! Frame allocator: exhaustion without panic, checked frees, carved bitmap, poisoning; frame
//! accounting of the page table and gather. Granule: 4 KiB (Arm ARM D8.2).

use super::*;
use crate::addr::PhysRange;
use crate::attrs::Attributes;
use crate::frame::{FrameAllocator, FreeError, OutOfFrames, POISON_BYTE};
use crate::model::HostMem;
use crate::table::Constraints;
use crate::Frame;

fn r(a: u64, b: u64) -> PhysRange {
    PhysRange::new(pa(a), pa(b))
}

#[test]
fn exhaustion_is_an_error_not_a_panic() {
    let mem = HostMem::new(HostMem::BASE, 64 * KIB);
    let mut bitmap = [0u64; 1];
    let mut fa = FrameAllocator::new(&mem, &mut bitmap, &[mem.range()], &[]).unwrap();
    let mut got = std::collections::BTreeSet::new();
    for _ in 0..16 {
        assert!(got.insert(fa.alloc().unwrap()));
    }
    assert_eq!(fa.alloc(), Err(OutOfFrames));
    assert_eq!(fa.stats().free, 0);
    for f in got {
        fa.free(f).unwrap();
    }
    assert_eq!(fa.stats().free, fa.stats().total);
}

#[test]
fn freed_frames_are_reused_before_untouched_ones() {
    // 128 frames: two bitmap words, so the cursor has somewhere to move.
    let mem = HostMem::new(HostMem::BASE, 512 * KIB);
    let mut bitmap = [0u64; 2];
    let mut fa = FrameAllocator::new(&mem, &mut bitmap, &[mem.range()], &[]).unwrap();
    let first: Vec<Frame> = (0..100).map(|_| fa.alloc().unwrap()).collect();
    fa.free(first[3]).unwrap();
    fa.free(first[70]).unwrap();
    assert_eq!(
        fa.alloc().unwrap(),
        first[3],
        "the lowest freed frame first"
    );
    assert_eq!(fa.alloc().unwrap(), first[70]);
    let fresh = fa.alloc().unwrap();
    assert!(fresh.start().as_u64() > first[99].start().as_u64());
}

#[test]
fn double_and_foreign_frees_are_caught() {
    let mem = HostMem::new(HostMem::BASE, 64 * KIB);
    let mut bitmap = [0u64; 1];
    // The "kernel image" occupies the first two frames.
    let reserved = [r(0x4000_0000, 0x4000_1800)];
    let mut fa = FrameAllocator::new(&mem, &mut bitmap, &[mem.range()], &reserved).unwrap();
    assert_eq!(fa.stats().total, 14);
    let f = fa.alloc().unwrap();
    assert!(f.start() >= pa(0x4000_2000));
    fa.free(f).unwrap();
    assert_eq!(fa.free(f), Err(FreeError::DoubleFree(f.start())));
    let kernel = Frame::from_start(pa(0x4000_1000)).unwrap();
    assert_eq!(fa.free(kernel), Err(FreeError::Foreign(pa(0x4000_1000))));
    let outside = Frame::from_start(pa(0x9000_0000)).unwrap();
    assert_eq!(fa.free(outside), Err(FreeError::Foreign(pa(0x9000_0000))));
    assert_eq!(fa.stats().free, 14);
}

#[test]
fn bitmap_too_small_is_refused() {
    let mem = HostMem::new(HostMem::BASE, MIB);
    let mut bitmap = [0u64; 3];
    let e = FrameAllocator::new(&mem, &mut bitmap, &[mem.range()], &[]).err();
    assert_eq!(
        e,
        Some(crate::frame::InitError::BitmapTooSmall {
            needed_words: 4,
            given_words: 3
        })
    );
    assert_eq!(
        FrameAllocator::<&HostMem>::bitmap_words(&[mem.range()], &[]),
        Ok(4)
    );
}

#[test]
fn carved_bitmap_lives_in_managed_memory() {
    let mem = HostMem::new(HostMem::BASE, MIB);
    // SAFETY: the arena outlives the allocator and nothing else uses it.
    let mut fa = unsafe { FrameAllocator::new_carved(&mem, &[mem.range()], &[]) }.unwrap();
    // 256 frames need 4 words: one frame carved for the bitmap.
    assert_eq!(fa.stats().total, 255);
    assert!(!fa.owns(pa(0x4000_0000)));
    assert_eq!(
        fa.free(Frame::from_start(pa(0x4000_0000)).unwrap()),
        Err(FreeError::Foreign(pa(0x4000_0000)))
    );
    let mut n = 0;
    while let Ok(f) = fa.alloc() {
        assert_ne!(f.start(), pa(0x4000_0000));
        n += 1;
    }
    assert_eq!(n, 255);
}

#[test]
fn sparse_regions_across_holes() {
    let mem = HostMem::new(HostMem::BASE, MIB);
    let mut bitmap = [0u64; 4];
    let memory = [r(0x4000_0000, 0x4004_0000), r(0x4008_0000, 0x400c_0000)];
    let mut fa = FrameAllocator::new(&mem, &mut bitmap, &memory, &[]).unwrap();
    assert_eq!(fa.stats().total, 128);
    let mut seen = std::vec::Vec::new();
    while let Ok(f) = fa.alloc() {
        let a = f.start().as_u64();
        assert!(memory.iter().any(|m| m.contains(pa(a))), "{a:#x} in a hole");
        seen.push(f);
    }
    assert_eq!(seen.len(), 128);
    assert_eq!(
        fa.free(Frame::from_start(pa(0x4005_0000)).unwrap()),
        Err(FreeError::Foreign(pa(0x4005_0000)))
    );
}

#[cfg(debug_assertions)]
#[test]
fn freed_frames_are_poisoned() {
    let mem = HostMem::new(HostMem::BASE, 64 * KIB);
    let mut bitmap = [0u64; 1];
    let mut fa = FrameAllocator::new(&mem, &mut bitmap, &[mem.range()], &[]).unwrap();
    let f = fa.alloc().unwrap();
    mem.write_u64(f.start(), 0x1234);
    fa.free(f).unwrap();
    let word = u64::from_ne_bytes([POISON_BYTE; 8]);
    assert_eq!(mem.read_u64(f.start()), word);
    assert_eq!(mem.read_u64(f.start().add(4088)), word);
    assert_eq!(word & 1, 0, "poison reads as an invalid descriptor");
}

#[test]
fn accounting_returns_to_start_after_unmapping_everything() {
    setup!(mem, mmu, pt, A72, 4 * MIB);
    let start = pt.frames_mut().stats();
    let mut g = pt.gather();
    // Pages, a 2 MiB block, a 1 GiB block, a misaligned run, owned frames, another L0 slot.
    pt.map(
        range(0x1000, 300 * 4 * KIB),
        pa(0x8000_1000),
        Attributes::USER_DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    pt.map(
        range(0x4000_0000, GIB),
        pa(0x1_4000_0000),
        Attributes::USER_DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    pt.map(
        range(0x8020_0000, 2 * MIB),
        pa(0x2_0020_0000),
        Attributes::USER_TEXT,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    pt.map(
        range(0x7f00_0000_0000, 64 * KIB),
        pa(0x3_0000_3000),
        Attributes::USER_RODATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    for k in 0..20u64 {
        let f = pt.frames_mut().alloc().unwrap();
        pt.map(
            range(0x9000_0000 + k * 4 * KIB, 4 * KIB),
            f.start(),
            Attributes::USER_DATA,
            Constraints::BLOCKS.owned(),
            &mut g,
        )
        .unwrap();
    }
    flush_release!(pt, g);
    assert!(pt.frames_mut().stats().free < start.free - 20);
    // Unmap in awkward pieces: splits, partial tables, whole subtrees.
    let mut g = pt.gather();
    pt.unmap(range(0x4010_0000, 4 * KIB), &mut g).unwrap();
    pt.unmap(range(0, 0x4800_0000), &mut g).unwrap();
    pt.unmap(range(0x4800_0000, (1 << 48) - 0x4800_0000), &mut g)
        .unwrap();
    let report = flush_release!(pt, g);
    assert_eq!(report.data_frames, 20);
    assert_eq!(pt.table_pages(), 1);
    assert_eq!(pt.owned_pages(), 0);
    assert_eq!(pt.frames_mut().stats(), start);
}

#[test]
fn owned_frame_freed_twice_is_reported_by_release() {
    setup!(mem, mmu, pt, A72, MIB);
    let f = pt.frames_mut().alloc().unwrap();
    let mut g = pt.gather();
    // The same frame mapped twice as owned: a caller bug that release catches.
    pt.map(
        range(0x1000, 4 * KIB),
        f.start(),
        Attributes::USER_DATA,
        Constraints::BLOCKS.owned(),
        &mut g,
    )
    .unwrap();
    pt.map(
        range(0x2000, 4 * KIB),
        f.start(),
        Attributes::USER_DATA,
        Constraints::BLOCKS.owned(),
        &mut g,
    )
    .unwrap();
    pt.unmap(range(0x1000, 8 * KIB), &mut g).unwrap();
    let err = g.flush(pt.arch()).release(pt.frames_mut()).unwrap_err();
    assert_eq!(err.first, FreeError::DoubleFree(f.start()));
    assert_eq!(err.failures, 1);
    assert_eq!(err.report.data_frames, 1);
}

#[test]
fn many_unlinked_tables_in_one_gather() {
    // More unlinked roots than the gather keeps inline: the rest go to its page list.
    setup!(mem, mmu, pt, A72, 4 * MIB);
    let start = pt.frames_mut().stats();
    let mut g = pt.gather();
    for k in 0..20 {
        let r = range(0x4000_0000 + k * 2 * MIB, 4 * 4 * KIB);
        pt.map(
            r,
            pa(0x8000_0000 + k * 2 * MIB),
            Attributes::USER_DATA,
            Constraints::BLOCKS,
            &mut g,
        )
        .unwrap();
    }
    flush_release!(pt, g);
    assert_eq!(pt.table_pages(), 1 + 1 + 1 + 20);
    let mut g = pt.gather();
    for k in 0..20 {
        pt.unmap(range(0x4000_0000 + k * 2 * MIB, 4 * 4 * KIB), &mut g)
            .unwrap();
    }
    // 20 L3 tables, then the emptied L2 and L1 tables.
    assert_eq!(g.table_pages(), 22);
    assert_eq!(pt.table_pages(), 1);
    let report = flush_release!(pt, g);
    assert_eq!(report.tables, 22);
    assert_eq!(pt.frames_mut().stats(), start);
}

/// mremap's move hands a frame from one leaf to another: after `set_owned`
/// moves the mark, unmapping the old page frees nothing and unmapping the
/// new one frees the frame, once.
#[test]
fn the_owned_mark_moves_with_the_page() {
    setup!(mem, mmu, pt, A72, MIB);
    let frame = pt.frames_mut().alloc().unwrap();
    let free =
        |pt: &mut crate::table::PageTable<_, _, FrameAllocator<_>>| pt.frames_mut().stats().free;
    assert!(pt
        .map_page(va(0x1000), frame.start(), Attributes::USER_DATA, true)
        .unwrap());
    assert!(pt
        .map_page(va(0x9000), frame.start(), Attributes::USER_DATA, false)
        .unwrap());
    assert_eq!(pt.owned_pages(), 1);
    assert_eq!(pt.set_owned(va(0x1000), false), Ok(true));
    assert_eq!(pt.set_owned(va(0x9000), true), Ok(false));
    assert_eq!(pt.owned_pages(), 1);
    assert_eq!(
        pt.translate(va(0x9000)).unwrap().attributes(),
        Some(Attributes::USER_DATA),
        "only the mark changed"
    );
    assert_eq!(
        pt.set_owned(va(0x5000), true),
        Err(crate::table::MapError::NotMapped(va(0x5000)))
    );
    let before = free(&mut pt);
    let mut g = pt.gather();
    pt.unmap(range(0x1000, 4 * KIB), &mut g).unwrap();
    flush_release!(pt, g);
    assert_eq!(
        free(&mut pt),
        before,
        "the old leaf no longer owns the frame"
    );
    let mut g = pt.gather();
    pt.unmap(range(0x9000, 4 * KIB), &mut g).unwrap();
    flush_release!(pt, g);
    assert!(
        free(&mut pt) > before,
        "the new leaf frees the frame when it goes"
    );
    assert_eq!(pt.owned_pages(), 0);
    let _ = &mmu;
}
