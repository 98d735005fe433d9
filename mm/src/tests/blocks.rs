//! Block use, splitting and merging; translate and walk; table-page accounting.
//! Arm ARM (DDI 0487) D8.3 (1 GiB L1 and 2 MiB L2 blocks), D8.16.1 (break-before-make).

use super::*;
use crate::attrs::{Access, Attributes};
use crate::descriptor::Level;
use crate::table::{Constraints, MapError, Mapping};
use core::ops::ControlFlow;

const DATA: Attributes = Attributes::USER_DATA;

#[test]
fn pages_map_and_translate() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 3 * 4 * KIB),
        pa(0x8000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    let t = pt.translate(va(0x2abc)).unwrap();
    assert_eq!((t.pa, t.level), (pa(0x8000_1abc), Level::L3));
    assert_eq!(t.attributes(), Some(DATA));
    assert!(pt.translate(va(0x4000)).is_none());
    assert!(pt.translate(va(0)).is_none());
    // Root, L1, L2, L3.
    assert_eq!(pt.table_pages(), 4);
    assert!(g.is_empty());
    flush_release!(pt, g);
    assert_eq!(read(&mmu, &ctx(&pt), 0x3008), Ok(pa(0x8000_2008)));
}

#[test]
fn map_page_builds_the_same_tables_as_map() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    setup!(mem2, mmu2, pt2, A72, 2 * MIB);
    let pages = [0x1000u64, 0x2000, 0x20_0000, 0x4000_0000, 0x80_0000_0000];
    for (k, &v) in pages.iter().enumerate() {
        let frame = pa(0x8000_0000 + k as u64 * 0x1000);
        assert_eq!(pt.map_page(va(v), frame, DATA, true), Ok(true));
        let mut g = pt2.gather();
        pt2.map(
            range(v, 4 * KIB),
            frame,
            DATA,
            Constraints::PAGES_ONLY.owned(),
            &mut g,
        )
        .unwrap();
        flush_release!(pt2, g);
    }
    assert_eq!(pt.table_pages(), pt2.table_pages());
    assert_eq!(pt.owned_pages(), pages.len() as u64);
    for &v in &pages {
        let (a, b) = (pt.translate(va(v)).unwrap(), pt2.translate(va(v)).unwrap());
        assert_eq!((a.pa, a.level, a.descriptor), (b.pa, b.level, b.descriptor));
        assert_eq!(read(&mmu, &ctx(&pt), v + 8), read(&mmu2, &ctx(&pt2), v + 8));
    }
}

#[test]
fn map_page_on_a_mapped_page_changes_nothing() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    assert_eq!(
        pt.map_page(va(0x5000), pa(0x8000_0000), DATA, true),
        Ok(true)
    );
    let before = pt.table_pages();
    assert_eq!(
        pt.map_page(va(0x5000), pa(0x8000_1000), DATA, true),
        Ok(false)
    );
    assert_eq!(pt.translate(va(0x5000)).unwrap().pa, pa(0x8000_0000));
    assert_eq!((pt.table_pages(), pt.owned_pages()), (before, 1));
    // Covered by a 2 MiB block: also "already mapped".
    let mut g = pt.gather();
    pt.map(
        range(0x40_0000, 2 * MIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    flush_release!(pt, g);
    assert_eq!(
        pt.map_page(va(0x40_1000), pa(0x8000_2000), DATA, true),
        Ok(false)
    );
    assert_eq!(
        pt.map_page(va(0x5001), pa(0x8000_2000), DATA, true).err(),
        Some(MapError::MisalignedRange(range(0x5001, 4 * KIB)))
    );
}

#[test]
fn map_page_out_of_frames_leaves_the_tables_unchanged() {
    // Arena of 4 frames: the root, then L1 + L2 + L3 for the first page.
    setup!(mem, mmu, pt, A72, 16 * KIB);
    assert_eq!(
        pt.map_page(va(0x1000), pa(0x8000_0000), DATA, true),
        Ok(true)
    );
    let before = pt.table_pages();
    // A page in another L0 slot needs three new tables: none left.
    assert_eq!(
        pt.map_page(va(0x80_0000_0000), pa(0x8000_1000), DATA, true),
        Err(MapError::OutOfFrames)
    );
    assert_eq!(pt.table_pages(), before);
    assert!(pt.translate(va(0x80_0000_0000)).is_none());
    assert_eq!(pt.owned_pages(), 1);
}

#[test]
fn blocks_used_when_aligned_and_allowed() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let mut g = pt.gather();
    // 1 GiB + 2 MiB + 4 KiB, VA and PA 1 GiB aligned: one L1 block, one L2 block, one page.
    let len = GIB + 2 * MIB + 4 * KIB;
    pt.map(
        range(GIB, len),
        pa(0x1_0000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    assert_eq!(pt.translate(va(GIB + 5)).unwrap().level, Level::L1);
    assert_eq!(pt.translate(va(2 * GIB + 5)).unwrap().level, Level::L2);
    let t = pt.translate(va(2 * GIB + 2 * MIB + 5)).unwrap();
    assert_eq!(
        (t.level, t.pa),
        (Level::L3, pa(0x1_0000_0000 + GIB + 2 * MIB + 5))
    );
    // Root, L1 table, L2 table (second GiB), L3 table.
    assert_eq!(pt.table_pages(), 4);
    let mut leaves = std::vec::Vec::new();
    pt.walk(range(0, 4 * GIB), |m: &Mapping| {
        leaves.push((m.va.start.as_u64(), m.level));
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(
        leaves,
        [
            (GIB, Level::L1),
            (2 * GIB, Level::L2),
            (2 * GIB + 2 * MIB, Level::L3)
        ]
    );
    let _ = g.flush(pt.arch());
}

#[test]
fn no_blocks_when_pa_misaligned_or_forbidden() {
    setup!(mem, mmu, pt, A72, 4 * MIB);
    let mut g = pt.gather();
    // PA only 4 KiB aligned: pages, even though VA and length are 2 MiB aligned.
    pt.map(
        range(0x20_0000, 2 * MIB),
        pa(0x8000_1000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    assert_eq!(pt.translate(va(0x20_0000)).unwrap().level, Level::L3);
    // Forbidden by the constraints.
    pt.map(
        range(0x40_0000, 2 * MIB),
        pa(0x8040_0000),
        DATA,
        Constraints::PAGES_ONLY,
        &mut g,
    )
    .unwrap();
    assert_eq!(pt.translate(va(0x40_0000)).unwrap().level, Level::L3);
    // 1 GiB blocks forbidden: 2 MiB blocks instead.
    pt.map(
        range(GIB, GIB),
        pa(GIB),
        DATA,
        Constraints::BLOCKS.no_1g_blocks(),
        &mut g,
    )
    .unwrap();
    assert_eq!(pt.translate(va(GIB)).unwrap().level, Level::L2);
    let _ = g.flush(pt.arch());
}

#[test]
fn unmap_inside_a_block_splits_it_with_break_before_make() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let mut g = pt.gather();
    pt.map(
        range(0x20_0000, 2 * MIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    let c = ctx(&pt);
    assert_eq!(read(&mmu, &c, 0x20_5000), Ok(pa(0x8020_5000))); // TLB now holds the block.
    let before = mmu.counts();
    pt.unmap(range(0x20_5000, 4 * KIB), &mut g).unwrap();
    // The split invalidated the block at once (one by-VA op: a block is one TLB entry).
    assert_eq!(mmu.counts().va_last_level - before.va_last_level, 1);
    assert_eq!(pt.translate(va(0x20_4000)).unwrap().level, Level::L3);
    assert_eq!(pt.translate(va(0x20_4000)).unwrap().pa, pa(0x8020_4000));
    assert!(pt.translate(va(0x20_5000)).is_none());
    assert_eq!(pt.translate(va(0x3f_f000)).unwrap().pa, pa(0x803f_f000));
    flush_release!(pt, g);
    assert!(translation_fault(read(&mmu, &c, 0x20_5000)));
    assert_eq!(read(&mmu, &c, 0x20_6000), Ok(pa(0x8020_6000)));
}

#[test]
fn protect_inside_a_gib_block_splits_two_levels() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let mut g = pt.gather();
    pt.map(range(GIB, GIB), pa(GIB), DATA, Constraints::BLOCKS, &mut g)
        .unwrap();
    let tables = pt.table_pages();
    let ro = DATA.with_access(Access::Read);
    pt.protect(range(GIB + 2 * MIB + 4 * KIB, 4 * KIB), ro, &mut g)
        .unwrap();
    assert_eq!(pt.table_pages(), tables + 2);
    assert_eq!(pt.translate(va(GIB)).unwrap().level, Level::L2);
    let t = pt.translate(va(GIB + 2 * MIB + 4 * KIB)).unwrap();
    assert_eq!((t.level, t.attributes()), (Level::L3, Some(ro)));
    assert_eq!(
        pt.translate(va(GIB + 2 * MIB)).unwrap().attributes(),
        Some(DATA)
    );
    flush_release!(pt, g);
}

#[test]
fn page_by_page_map_merges_into_a_block() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let c = ctx(&pt);
    for k in 0..512u64 {
        let mut g = pt.gather();
        pt.map(
            range(0x20_0000 + k * 4 * KIB, 4 * KIB),
            pa(0x8020_0000 + k * 4 * KIB),
            DATA,
            Constraints::BLOCKS,
            &mut g,
        )
        .unwrap();
        // Touch each page: the TLB holds 4 KiB entries when the merge comes.
        read(&mmu, &c, 0x20_0000 + k * 4 * KIB).unwrap();
        if k < 511 {
            assert!(g.is_empty());
        } else {
            assert_eq!(
                g.table_pages(),
                1,
                "the L3 table goes to the gather, not the allocator"
            );
        }
        flush_release!(pt, g);
    }
    let t = pt.translate(va(0x20_1234)).unwrap();
    assert_eq!((t.level, t.pa), (Level::L2, pa(0x8020_1234)));
    assert_eq!(pt.table_pages(), 3);
    // No stale 4 KiB entry overlaps the new block (that would be a TLB conflict).
    assert_eq!(read(&mmu, &c, 0x20_1234), Ok(pa(0x8020_1234)));
    assert_eq!(read(&mmu, &c, 0x3f_f000), Ok(pa(0x803f_f000)));
}

#[test]
fn no_merge_when_not_contiguous() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let mut g = pt.gather();
    pt.map(
        range(0x20_0000, 2 * MIB - 4 * KIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    // The last page points elsewhere: the table stays.
    pt.map(
        range(0x3f_f000, 4 * KIB),
        pa(0x9000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    assert_eq!(pt.translate(va(0x3f_f000)).unwrap().level, Level::L3);
    assert!(g.is_empty());
}

#[test]
fn destroy_returns_every_frame() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let start = pt.frames_mut().stats().free + 1; // + the root
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 3 * GIB),
        pa(0x1000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    pt.map(
        range(0x7f00_0000_0000, 8 * KIB),
        pa(0x2000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    let _ = g.flush(pt.arch());
    let mut g = pt.gather();
    let (_, arch, mut frames) = pt.destroy(&mut g);
    g.flush(arch).release(&mut frames).unwrap();
    assert_eq!(frames.stats().free, start);
}

/// The descriptor that maps `v` at `level`, read from memory by hand (the
/// hook cannot borrow the table while the table calls it).
fn descriptor_at(mem: &crate::model::HostMem, root: PhysAddr, v: u64, level: Level) -> u64 {
    let mut table = root;
    for l in Level::ALL {
        let d = mem.read_u64(table.add(l.index(v) as u64 * 8));
        if l == level {
            return d;
        }
        table = crate::descriptor::Descriptor::from_bits(d).output_address();
    }
    unreachable!("level is one of the four")
}

/// A memory-type change over contiguous memory breaks a whole table as one batch: one
/// invalidation and one hook call for its 512 pages.
#[test]
fn a_memory_type_change_over_contiguous_memory_is_one_break_batch_per_table() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let r = range(0x20_0000, 2 * MIB);
    let mut g = pt.gather();
    pt.map(r, pa(0x8000_0000), DATA, Constraints::PAGES_ONLY, &mut g)
        .unwrap();
    flush_release!(pt, g);
    let uncached = Attributes {
        memory: crate::mair::MemoryType::NormalNonCacheable,
        ..DATA
    };
    let before = mmu.counts();
    let mut seen = std::vec::Vec::new();
    let mut g = pt.gather();
    pt.protect_notifying(r, uncached, &mut g, &mut |x| seen.push(x))
        .unwrap();
    assert_eq!(seen, [r]);
    assert_eq!(
        mmu.counts().asid - before.asid,
        1,
        "512 pages: the whole ASID"
    );
    flush_release!(pt, g);
    for v in [0x20_0000, 0x30_0000, 0x3f_f000] {
        assert_eq!(pt.translate(va(v)).unwrap().attributes(), Some(uncached));
    }
    let _ = &mem;
}

/// Break-before-make over scattered frames: each page is its own run, so the batch fills up
/// and is completed early (invalidate, hook, make) before the next page is broken; every
/// page is still invalid during the hook that covers it, made before the next batch, and no
/// translation with the old memory type survives the operation.
#[test]
fn a_memory_type_change_over_scattered_frames_completes_full_batches_early() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let c = ctx(&pt);
    let pages = 20u64;
    for k in 0..pages {
        let frame = pa(0x8000_0000 + (pages - k) * 0x2000);
        assert_eq!(
            pt.map_page(va(0x1000 + k * 0x1000), frame, DATA, false),
            Ok(true)
        );
    }
    for k in 0..pages {
        read(&mmu, &c, 0x1000 + k * 0x1000).unwrap();
    }
    let root = pt.root();
    let r = range(0x1000, pages * 4 * KIB);
    let uncached = Attributes {
        memory: crate::mair::MemoryType::NormalNonCacheable,
        ..DATA
    };
    let mut seen = std::vec::Vec::new();
    let mut g = pt.gather();
    pt.protect_notifying(r, uncached, &mut g, &mut |x| {
        let (first, last) = (x.start.as_u64(), x.end.as_u64() - 0x1000);
        for v in [first, last] {
            assert_eq!(
                descriptor_at(&mem, root, v, Level::L3) & 1,
                0,
                "made before the hook"
            );
        }
        if first > 0x1000 {
            let made = descriptor_at(&mem, root, first - 0x1000, Level::L3);
            assert_eq!(made & 1, 1, "the batch before was made first");
        }
        seen.push(x)
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            range(0x1000, 8 * 4 * KIB),
            range(0x9000, 8 * 4 * KIB),
            range(0x11000, 4 * 4 * KIB)
        ]
    );
    assert_eq!(
        mmu.tlb_len(),
        0,
        "every old translation was invalidated at once"
    );
    for k in 0..pages {
        let t = pt.translate(va(0x1000 + k * 0x1000)).unwrap();
        assert_eq!(t.pa, pa(0x8000_0000 + (pages - k) * 0x2000));
        assert_eq!(t.attributes(), Some(uncached));
    }
    assert_eq!(g.pending().map(|p| p.range), Some(r));
    flush_release!(pt, g);
}

/// A block split at a range edge is break-before-make for devices too: the
/// hook runs once, with the block's extent, while the block's descriptor is
/// invalid and before the table that replaces it is linked; the hull of the
/// range covers the block, so a caller can open its window over it.
#[test]
fn a_split_calls_the_break_hook_between_break_and_make() {
    setup!(mem, mmu, pt, A72, 4 * MIB);
    let block = range(0x20_0000, 2 * MIB);
    let mut g = pt.gather();
    pt.map(block, pa(0x8000_0000), DATA, Constraints::BLOCKS, &mut g)
        .unwrap();
    flush_release!(pt, g);
    let page = range(0x20_3000, 4 * KIB);
    assert_eq!(
        pt.break_hull(page),
        block,
        "the hull covers the straddled block"
    );
    assert_eq!(
        pt.break_hull(range(0x1000, 4 * KIB)),
        range(0x1000, 4 * KIB)
    );
    let root = pt.root();
    let mut seen = std::vec::Vec::new();
    let mut g = pt.gather();
    pt.unmap_notifying(page, &mut g, &mut |r| {
        let d = descriptor_at(&mem, root, 0x20_3000, Level::L2);
        seen.push((r, d & 1));
    })
    .unwrap();
    flush_release!(pt, g);
    assert_eq!(
        seen,
        [(block, 0)],
        "one call, for the block, while it is broken"
    );
    assert!(pt.translate(va(0x20_3000)).is_none());
    assert_eq!(
        pt.translate(va(0x20_4000)).map(|t| t.level),
        Some(Level::L3)
    );
    let _ = &mmu;
}

/// A change of memory type is break-before-make: the hook runs between the
/// break and the make, for the leaves changed; a permission-only change
/// needs no break and calls it never.
#[test]
fn a_memory_type_change_calls_the_break_hook_and_a_permission_change_does_not() {
    setup!(mem, mmu, pt, A72, 2 * MIB);
    let r = range(0x1000, 2 * 4 * KIB);
    let mut g = pt.gather();
    pt.map(r, pa(0x8000_0000), DATA, Constraints::PAGES_ONLY, &mut g)
        .unwrap();
    flush_release!(pt, g);
    let root = pt.root();
    let mut seen = std::vec::Vec::new();
    let mut g = pt.gather();
    pt.protect_notifying(r, DATA.with_access(Access::Read), &mut g, &mut |x| {
        seen.push(x)
    })
    .unwrap();
    flush_release!(pt, g);
    assert!(
        seen.is_empty(),
        "a permission change broke something: {seen:?}"
    );
    let uncached = Attributes {
        memory: crate::mair::MemoryType::NormalNonCacheable,
        ..DATA
    };
    let mut g = pt.gather();
    pt.protect_notifying(r, uncached, &mut g, &mut |x| {
        let d = descriptor_at(&mem, root, 0x1000, Level::L3);
        seen.push(x);
        assert_eq!(d & 1, 0, "the hook ran after the make");
    })
    .unwrap();
    flush_release!(pt, g);
    assert_eq!(seen, [r]);
    let _ = &mmu;
}
