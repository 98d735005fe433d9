//! Every refused operation leaves every table byte, the frame accounting and the gather as they
//! were. Arm ARM (DDI 0487) D8.16: a half-done change to a live table is exactly what
//! break-before-make forbids, so errors are found before the first write.

use super::*;
use crate::attrs::{Access, Attributes};
use crate::frame::Frame;
use crate::mair::MemoryType;
use crate::model::snapshot_tables;
use crate::table::{Constraints, MapError, VaRegion};

const DATA: Attributes = Attributes::USER_DATA;

/// Runs `op` on `$pt` and asserts it fails with `$err` and changes nothing.
macro_rules! refused {
    ($pt:ident, $g:ident, $err:expr, $op:expr) => {{
        let tables = snapshot_tables($pt.mem(), $pt.root());
        let stats = $pt.frames_mut().stats();
        let pages = $pt.table_pages();
        let pending = $g.pending();
        let held = $g.table_pages();
        let got = $op;
        assert_eq!(got, Err($err));
        assert!(
            snapshot_tables($pt.mem(), $pt.root()) == tables,
            "tables changed by a refused {:?}",
            $err
        );
        assert_eq!($pt.frames_mut().stats(), stats);
        assert_eq!($pt.table_pages(), pages);
        assert_eq!(($g.pending(), $g.table_pages()), (pending, held));
    }};
}

/// Takes every free frame (to be given back with `give_back`).
fn exhaust<F: FrameSource>(f: &mut F) -> std::vec::Vec<Frame> {
    std::iter::from_fn(|| f.alloc().ok()).collect()
}

#[test]
fn argument_errors_change_nothing() {
    setup!(mem, mmu, pt, A72, MIB);
    let mut g = pt.gather();
    pt.map(
        range(0x20_0000, 2 * MIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    pt.map(
        range(0x1000, 4 * KIB),
        pa(0x8000_1000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    let bad = range(0x5000, 4 * KIB + 1);
    refused!(
        pt,
        g,
        MapError::MisalignedRange(bad),
        pt.map(bad, pa(0x9000_0000), DATA, Constraints::BLOCKS, &mut g)
    );
    refused!(pt, g, MapError::MisalignedRange(bad), pt.unmap(bad, &mut g));
    refused!(
        pt,
        g,
        MapError::MisalignedPhys(pa(0x9000_0800)),
        pt.map(
            range(0x5000, 4 * KIB),
            pa(0x9000_0800),
            DATA,
            Constraints::BLOCKS,
            &mut g
        )
    );
    let back = crate::addr::VaRange::new(va(0x6000), va(0x5000));
    refused!(pt, g, MapError::Backwards(back), pt.unmap(back, &mut g));
    let high = range((1 << 48) - 4 * KIB, 8 * KIB);
    refused!(
        pt,
        g,
        MapError::OutOfRange {
            requested: high,
            limit: VaRegion::Lower.range()
        },
        pt.map(high, pa(0x9000_0000), DATA, Constraints::BLOCKS, &mut g)
    );
    refused!(
        pt,
        g,
        MapError::PhysOutOfRange(pa((1 << 48) - 4 * KIB)),
        pt.map(
            range(0x5000, 8 * KIB),
            pa((1 << 48) - 4 * KIB),
            DATA,
            Constraints::BLOCKS,
            &mut g
        )
    );
    let exec_dev = Attributes {
        memory: MemoryType::Device,
        ..Attributes::KERNEL_TEXT
    };
    refused!(
        pt,
        g,
        MapError::Attributes(crate::attrs::AttrError::ExecutableDevice),
        pt.map(
            range(0x5000, 4 * KIB),
            pa(0x900_0000),
            exec_dev,
            Constraints::BLOCKS,
            &mut g
        )
    );
    let _ = g.flush(pt.arch());
}

#[test]
fn overlap_changes_nothing() {
    setup!(mem, mmu, pt, A72, MIB);
    let mut g = pt.gather();
    pt.map(
        range(0x40_3000, 4 * KIB),
        pa(0x8000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    pt.map(
        range(GIB, 2 * MIB),
        pa(GIB),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    // The overlap is found deep in the range, after fresh tables were counted.
    let req = range(0x1000, 0x40_4000 - 0x1000);
    refused!(
        pt,
        g,
        MapError::Overlap {
            existing: range(0x40_3000, 4 * KIB),
            requested: req
        },
        pt.map(req, pa(0x9000_1000), DATA, Constraints::BLOCKS, &mut g)
    );
    let req = range(GIB - 8 * KIB, 16 * KIB);
    refused!(
        pt,
        g,
        MapError::Overlap {
            existing: range(GIB, 2 * MIB),
            requested: req
        },
        pt.map(req, pa(0x9000_0000), DATA, Constraints::BLOCKS, &mut g)
    );
    let _ = g.flush(pt.arch());
}

#[test]
fn out_of_frames_changes_nothing() {
    setup!(mem, mmu, pt, A72, MIB);
    let mut g = pt.gather();
    pt.map(range(GIB, GIB), pa(GIB), DATA, Constraints::BLOCKS, &mut g)
        .unwrap();
    pt.map(
        range(0x20_0000, 2 * MIB),
        pa(0x8020_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    let owned = pt.frames_mut().alloc().unwrap();
    pt.map(
        range(0x4000_0000 - 4 * KIB, 4 * KIB),
        owned.start(),
        DATA,
        Constraints::BLOCKS.owned(),
        &mut g,
    )
    .unwrap();
    let _ = g.flush(pt.arch());
    let mut g = pt.gather();
    // Leave two frames: a map needing three tables, a protect needing three splits.
    let mut taken = exhaust(pt.frames_mut());
    for f in taken.drain(..2) {
        pt.frames_mut().free(f).unwrap();
    }
    refused!(
        pt,
        g,
        MapError::OutOfFrames,
        pt.map(
            range(0x80_0000_0000, 4 * KIB),
            pa(0x9000_0000),
            DATA,
            Constraints::BLOCKS,
            &mut g
        )
    );
    let ro = DATA.with_access(Access::Read);
    refused!(
        pt,
        g,
        MapError::OutOfFrames,
        pt.protect(range(GIB + 2 * MIB + 4 * KIB, 2 * MIB), ro, &mut g)
    );
    // Nothing left: a split for unmap, and the log page for an owned frame.
    taken.extend(exhaust(pt.frames_mut()));
    refused!(
        pt,
        g,
        MapError::OutOfFrames,
        pt.unmap(range(0x20_1000, 4 * KIB), &mut g)
    );
    refused!(
        pt,
        g,
        MapError::OutOfFrames,
        pt.unmap(range(0x4000_0000 - 4 * KIB, 4 * KIB), &mut g)
    );
    for f in taken {
        pt.frames_mut().free(f).unwrap();
    }
    let _ = g.flush(pt.arch());
}

#[test]
fn protect_over_a_hole_and_map_over_a_pending_flush_change_nothing() {
    setup!(mem, mmu, pt, A72, MIB);
    let mut g = pt.gather();
    pt.map(
        range(0x1000, 3 * 4 * KIB),
        pa(0x8000_1000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    pt.unmap(range(0x2000, 4 * KIB), &mut g).unwrap();
    let ro = DATA.with_access(Access::Read);
    refused!(
        pt,
        g,
        MapError::NotMapped(va(0x2000)),
        pt.protect(range(0x1000, 3 * 4 * KIB), ro, &mut g)
    );
    // The unmap of 0x2000 is not flushed yet: re-mapping it now would skip break-before-make.
    refused!(
        pt,
        g,
        MapError::PendingInvalidation {
            pending: range(0x2000, 4 * KIB),
            requested: range(0x2000, 4 * KIB)
        },
        pt.map(
            range(0x2000, 4 * KIB),
            pa(0x9000_0000),
            DATA,
            Constraints::BLOCKS,
            &mut g
        )
    );
    flush_release!(pt, g);
    let mut g = pt.gather();
    pt.map(
        range(0x2000, 4 * KIB),
        pa(0x9000_0000),
        DATA,
        Constraints::BLOCKS,
        &mut g,
    )
    .unwrap();
    let _ = g.flush(pt.arch());
}
