//! `copy_pages_to` (fork's table copy) against the model MMU: the child maps what the
//! decision says; a shared writable page becomes read-only in both trees and, once the
//! gather is flushed, no TLB keeps the source's writable translation; a copy that fails half
//! way leaves what it did counted and invalidatable.

use super::{ctx, flush_release, pa, range, va, A72, MAX, MIB};
use crate::addr::{PhysAddr, PhysRange};
use crate::attrs::{Access, Attributes};
use crate::frame::FrameAllocator;
use crate::model::{AccessKind, El, Fault, FaultKind, HostMem, ModelMmu};
use crate::table::{Copied, MapError, PageCopy, PageTable, VaRegion};
use crate::tlb::Asid;
use crate::FrameSource;

const RO: Attributes = Attributes {
    access: Access::Read,
    ..Attributes::USER_DATA
};

/// Builds `$mem` (16 MiB arena), `$mmu`, the parent `$pt` (ASID 1, frames from the first
/// 8 MiB) and the child `$ch` (ASID 2, frames from the `$child_frames` frames after them).
macro_rules! trees {
    ($mem:ident, $mmu:ident, $pt:ident, $ch:ident, $caps:expr, $child_frames:expr) => {
        let $mem = HostMem::new(HostMem::BASE, 16 * MIB);
        let $mmu = ModelMmu::new(&$mem, $caps);
        let base = HostMem::BASE.as_u64();
        let (mut b1, mut b2) = ([0u64; 64], [0u64; 64]);
        let parent_frames = PhysRange::new(pa(base), pa(base + 8 * MIB));
        let child_frames = PhysRange::new(
            pa(base + 8 * MIB),
            pa(base + 8 * MIB + $child_frames * 0x1000),
        );
        let f1 = FrameAllocator::new(&$mem, &mut b1, &[parent_frames], &[]).unwrap();
        let f2 = FrameAllocator::new(&$mem, &mut b2, &[child_frames], &[]).unwrap();
        #[allow(unused_mut)]
        let mut $pt = PageTable::new(&$mem, &$mmu, f1, VaRegion::Lower, Asid::new(1)).unwrap();
        #[allow(unused_mut)]
        let mut $ch = PageTable::new(&$mem, &$mmu, f2, VaRegion::Lower, Asid::new(2)).unwrap();
    };
}

fn write_el0(
    mmu: &ModelMmu<&HostMem>,
    c: &crate::model::Context,
    v: u64,
) -> Result<PhysAddr, Fault> {
    mmu.access(c, va(v), AccessKind::Write, El::El0)
}

fn permission_fault(r: Result<PhysAddr, Fault>) -> bool {
    matches!(
        r,
        Err(Fault {
            kind: FaultKind::Permission,
            ..
        })
    )
}

#[test]
fn the_child_maps_what_each_decision_says_and_a_cow_page_is_read_only_in_both() {
    for caps in [A72, MAX] {
        trees!(mem, mmu, pt, ch, caps, 512);
        let mut frames = [pa(0); 5];
        for f in frames.iter_mut() {
            *f = pt.frames_mut().alloc().unwrap().start();
        }
        let base = 0x40_0000u64;
        // Pages: 0 RW owned (COW), 1 RO owned (shared as it is), 2 RW borrowed (shared
        // writable: shared memory), 3 RW owned (the child gets its own copy), 4 skipped.
        pt.map_page(va(base), frames[0], Attributes::USER_DATA, true)
            .unwrap();
        pt.map_page(va(base + 0x1000), frames[1], RO, true).unwrap();
        pt.map_page(va(base + 0x2000), frames[2], Attributes::USER_DATA, false)
            .unwrap();
        pt.map_page(va(base + 0x3000), frames[3], Attributes::USER_DATA, true)
            .unwrap();
        pt.map_page(va(base + 0x4000), frames[4], Attributes::USER_DATA, true)
            .unwrap();
        let c = ctx(&pt);
        // The parent's TLB holds a writable translation of page 0.
        assert_eq!(write_el0(&mmu, &c, base), Ok(frames[0]));
        let own = pt.frames_mut().alloc().unwrap().start();
        let mut g = pt.gather();
        let mut seen = std::vec::Vec::new();
        let done = pt.copy_pages_to(&mut ch, range(base, 0x10_0000), &mut g, |p| {
            seen.push(p.va.as_u64() - base);
            Ok(match (p.va.as_u64() - base) / 0x1000 {
                0 | 1 => PageCopy::Share { cow: true },
                2 => PageCopy::Share { cow: false },
                3 => PageCopy::Own(own),
                _ => PageCopy::Skip,
            })
        });
        assert_eq!(
            done,
            Copied {
                pages: 4,
                write_protected: 1,
                error: None
            }
        );
        assert_eq!(
            seen,
            [0, 0x1000, 0x2000, 0x3000, 0x4000],
            "every present page, in order"
        );
        flush_release!(pt, g);
        assert!(
            permission_fault(write_el0(&mmu, &c, base)),
            "the parent's COW page is read-only, and no TLB entry says otherwise"
        );
        let cc = ctx(&ch);
        let tr = |t: &PageTable<_, _, _>, off: u64| t.translate(va(base + off)).map(|t| t.pa);
        assert_eq!(tr(&ch, 0), Some(frames[0]));
        assert!(
            permission_fault(write_el0(&mmu, &cc, base)),
            "the child's too"
        );
        assert_eq!(tr(&ch, 0x1000), Some(frames[1]));
        assert_eq!(
            write_el0(&mmu, &cc, base + 0x2000),
            Ok(frames[2]),
            "shared memory stays writable in both"
        );
        assert_eq!(write_el0(&mmu, &c, base + 0x2000), Ok(frames[2]));
        assert_eq!(tr(&ch, 0x3000), Some(own));
        assert_eq!(
            write_el0(&mmu, &c, base + 0x3000),
            Ok(frames[3]),
            "the parent keeps its frame, writable"
        );
        assert_eq!(tr(&ch, 0x4000), None, "skipped");
        let d = |t: &PageTable<_, _, _>, off: u64| t.translate(va(base + off)).unwrap().descriptor;
        assert!(d(&ch, 0).is_owned() && d(&ch, 0x1000).is_owned());
        assert!(
            !d(&ch, 0x2000).is_owned(),
            "a borrowed frame stays borrowed"
        );
        assert!(d(&ch, 0x3000).is_owned(), "the child's copy is its own");
        assert_eq!(ch.owned_pages(), 3);
    }
}

/// Negative control: with the TLBI dropped, the parent still writes its COW page through
/// the stale translation, so the check above can see a missing invalidation.
#[test]
fn without_the_tlbi_the_parent_still_writes_the_shared_frame() {
    trees!(mem, mmu, pt, ch, A72, 512);
    let f = pt.frames_mut().alloc().unwrap().start();
    pt.map_page(va(0x40_0000), f, Attributes::USER_DATA, true)
        .unwrap();
    let c = ctx(&pt);
    write_el0(&mmu, &c, 0x40_0000).unwrap();
    let mut g = pt.gather();
    let done = pt.copy_pages_to(&mut ch, range(0x40_0000, 0x1000), &mut g, |_| {
        Ok(PageCopy::Share { cow: true })
    });
    assert_eq!(done.write_protected, 1);
    mmu.set_drop_invalidations(true);
    flush_release!(pt, g);
    assert_eq!(write_el0(&mmu, &c, 0x40_0000), Ok(f));
}

#[test]
fn a_copy_out_of_frames_keeps_what_it_did_and_its_invalidations() {
    trees!(mem, mmu, pt, ch, MAX, 4);
    // Two 2 MiB spans, one page each; the child's allocator has frames for its root and
    // the tables of the first span only (L1, L2, L3), so the second span's L3 fails.
    let (a, b) = (0x40_0000u64, 0x60_0000u64);
    let fa = pt.frames_mut().alloc().unwrap().start();
    let fb = pt.frames_mut().alloc().unwrap().start();
    pt.map_page(va(a), fa, Attributes::USER_DATA, true).unwrap();
    pt.map_page(va(b), fb, Attributes::USER_DATA, true).unwrap();
    let c = ctx(&pt);
    write_el0(&mmu, &c, a).unwrap();
    write_el0(&mmu, &c, b).unwrap();
    let mut g = pt.gather();
    let done = pt.copy_pages_to(&mut ch, range(a, 4 * MIB), &mut g, |_| {
        Ok(PageCopy::Share { cow: true })
    });
    assert_eq!(
        done,
        Copied {
            pages: 1,
            write_protected: 1,
            error: Some(MapError::OutOfFrames)
        }
    );
    flush_release!(pt, g);
    assert!(
        permission_fault(write_el0(&mmu, &c, a)),
        "the page shared before the failure is read-only, its TLB entry gone"
    );
    assert_eq!(
        write_el0(&mmu, &c, b),
        Ok(fb),
        "the page after it is untouched"
    );
    assert_eq!(ch.translate(va(a)).map(|t| t.pa), Some(fa));
    assert_eq!(ch.translate(va(b)), None);
    assert_eq!(ch.owned_pages(), 1);
}

#[test]
fn the_deciders_error_ends_the_copy_and_a_block_is_refused() {
    trees!(mem, mmu, pt, ch, A72, 512);
    let f0 = pt.frames_mut().alloc().unwrap().start();
    let f1 = pt.frames_mut().alloc().unwrap().start();
    pt.map_page(va(0x40_0000), f0, Attributes::USER_DATA, true)
        .unwrap();
    pt.map_page(va(0x40_1000), f1, Attributes::USER_DATA, true)
        .unwrap();
    let mut g = pt.gather();
    let mut calls = 0;
    let done = pt.copy_pages_to(&mut ch, range(0x40_0000, 0x2000), &mut g, |_| {
        calls += 1;
        if calls == 1 {
            Ok(PageCopy::Share { cow: true })
        } else {
            Err(MapError::OutOfFrames)
        }
    });
    assert_eq!((calls, done.pages, done.write_protected), (2, 1, 1));
    assert_eq!(done.error, Some(MapError::OutOfFrames));
    assert!(
        g.pending()
            .is_some_and(|p| p.range == range(0x40_0000, 0x1000)),
        "the write-protected page is in the gather"
    );
    flush_release!(pt, g);

    // A 2 MiB block in the source.
    let block = 0x80_0000u64;
    let mut gb = pt.gather();
    pt.map(
        range(block, 2 * MIB),
        pa(HostMem::BASE.as_u64() + 2 * MIB),
        Attributes::USER_DATA,
        crate::table::Constraints::BLOCKS,
        &mut gb,
    )
    .unwrap();
    flush_release!(pt, gb);
    let mut g = pt.gather();
    let done = pt.copy_pages_to(&mut ch, range(block, 2 * MIB), &mut g, |_| {
        Ok(PageCopy::Share { cow: true })
    });
    assert_eq!(done.error, Some(MapError::Block(range(block, 2 * MIB))));
    assert_eq!(done.pages, 0);
    flush_release!(pt, g);
}
