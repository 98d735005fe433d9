//! Host scenario tests: the walker, gather and allocators against the model MMU/TLB.
//! Arm ARM (DDI 0487) D8.13/D8.16: the model TLB keeps translations until a matching TLBI, so
//! a missing or too-narrow invalidation shows up as a stale translation here.

mod asid;
mod atomicity;
mod blocks;
mod copy;
mod frames;
mod kernel_map;
mod model_tlb;
mod proptest_ops;
mod replace;

use crate::addr::{PhysAddr, VaRange, VirtAddr};
use crate::model::{AccessKind, Context, El, Fault, FaultKind};
use crate::table::PageTable;
use crate::tlb::{TlbCaps, TlbMaintenance};
use crate::{FrameSource, PhysMem};

/// No FEAT_TLBIRANGE, no FEAT_TTL (Cortex-A72).
pub(crate) const A72: TlbCaps = TlbCaps {
    range_ops: false,
    ttl_hint: false,
};
/// FEAT_TLBIRANGE and FEAT_TTL (QEMU `-cpu max`).
pub(crate) const MAX: TlbCaps = TlbCaps {
    range_ops: true,
    ttl_hint: true,
};

pub(crate) const KIB: u64 = 1 << 10;
pub(crate) const MIB: u64 = 1 << 20;
pub(crate) const GIB: u64 = 1 << 30;

/// Builds `$mem` (arena at 0x4000_0000), `$mmu` (model MMU with `$caps`) and `$pt` (an empty
/// TTBR0 table, ASID 1, frames from a bitmap allocator over the whole arena).
macro_rules! setup {
    ($mem:ident, $mmu:ident, $pt:ident, $caps:expr, $bytes:expr) => {
        let $mem = $crate::model::HostMem::new($crate::model::HostMem::BASE, $bytes);
        let $mmu = $crate::model::ModelMmu::new(&$mem, $caps);
        let mut bitmap = std::vec![0u64; ($bytes / 4096 / 64 + 1) as usize];
        let frames = $crate::frame::FrameAllocator::new(&$mem, &mut bitmap, &[$mem.range()], &[]).unwrap();
        #[allow(unused_mut)]
        let mut $pt = $crate::table::PageTable::new(
            &$mem,
            &$mmu,
            frames,
            $crate::table::VaRegion::Lower,
            $crate::tlb::Asid::new(1),
        )
        .unwrap();
    };
}
pub(crate) use setup;

pub(crate) fn va(v: u64) -> VirtAddr {
    VirtAddr::new(v)
}
pub(crate) fn pa(p: u64) -> PhysAddr {
    PhysAddr::new(p)
}
pub(crate) fn range(start: u64, len: u64) -> VaRange {
    VaRange::new(VirtAddr::new(start), VirtAddr::new(start + len))
}

/// The model CPU context that runs `pt` in TTBR0.
pub(crate) fn ctx<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource>(
    pt: &PageTable<M, A, F>,
) -> Context {
    Context {
        ttbr0: Some(pt.root()),
        ttbr1: None,
        asid: pt.asid(),
    }
}

/// EL1 read through the model MMU.
pub(crate) fn read<M: PhysMem>(
    mmu: &crate::model::ModelMmu<M>,
    c: &Context,
    v: u64,
) -> Result<PhysAddr, Fault> {
    mmu.access(c, va(v), AccessKind::Read, El::El1)
}

pub(crate) fn translation_fault(r: Result<PhysAddr, Fault>) -> bool {
    matches!(
        r,
        Err(Fault {
            kind: FaultKind::Translation,
            ..
        })
    )
}

/// Flushes `gather` through the table's arch and releases it into the table's frames.
macro_rules! flush_release {
    ($pt:ident, $g:expr) => {{
        let flushed = $g.flush($pt.arch());
        flushed.release($pt.frames_mut()).expect("release")
    }};
}
pub(crate) use flush_release;
