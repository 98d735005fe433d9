//! `mm`: the aarch64 page-table manager. VMSAv8-64 stage 1 descriptors (4 KiB granule, 48-bit
//! VA), a frame allocator, a walker/editor with break-before-make and a deferred-free gather,
//! TLB maintenance policy, ASIDs. Arm ARM (DDI 0487) chapter D8 "The AArch64 Virtual Memory
//! System Architecture". `no_std`; the `model` feature adds a host MMU model (needs std).
//!
//! A [`PageTable`] is built over three things the kernel supplies: a [`PhysMem`] (how a
//! physical address is reached, e.g. [`phys::LinearMem`]), a [`TlbMaintenance`]
//! (`TLBI`/`DSB`/`ISB`; `Aarch64Tlb` on target) and a [`FrameSource`] (e.g. a
//! [`FrameAllocator`]). Everything an operation unlinks waits in a [`Gather`] until
//! [`Gather::flush`] has invalidated the TLBs; only the [`Flushed`] value it returns can
//! [`release`](Flushed::release) the frames.
//!
//! # Example
//!
//! One user page on the host model (feature `model`): `model::ModelMmu` walks the tables
//! as the CPU does and keeps each translation in a model TLB until a TLBI drops it, so a
//! missing invalidation shows as a stale translation.
//!
//! ```
//! use mm::model::{AccessKind, Context, El, Fault, FaultKind, HostMem, ModelMmu};
//! use mm::{Access, Asid, Attributes, Constraints, FrameAllocator, FrameSource, PageTable};
//! use mm::{TlbCaps, VaRange, VaRegion, VirtAddr, PAGE_SIZE};
//!
//! // 1 MiB of "RAM" at 0x4000_0000, a CPU without FEAT_TLBIRANGE, a bitmap frame allocator.
//! let ram = HostMem::new(HostMem::BASE, 1 << 20);
//! let mmu = ModelMmu::new(&ram, TlbCaps::default());
//! let mut bitmap = [0u64; 4];
//! let frames = FrameAllocator::new(&ram, &mut bitmap, &[ram.range()], &[]).unwrap();
//! let mut table = PageTable::new(&ram, &mmu, frames, VaRegion::Lower, Asid::new(1)).unwrap();
//! let free_at_start = table.frames_mut().stats().free;
//! let cpu = Context { ttbr0: Some(table.root()), ttbr1: None, asid: table.asid() };
//! let read = |va| mmu.access(&cpu, va, AccessKind::Read, El::El0);
//! let write = |va| mmu.access(&cpu, va, AccessKind::Write, El::El0);
//!
//! // Map one page, read-write for EL0, onto a frame the table owns (unmap will free it).
//! let va = VirtAddr::new(0x40_0000);
//! let page = VaRange::new(va, va.add(PAGE_SIZE));
//! let frame = table.frames_mut().alloc().unwrap();
//! let owned = Constraints::PAGES_ONLY.owned();
//! let mut gather = table.gather();
//! table.map(page, frame.start(), Attributes::USER_DATA, owned, &mut gather).unwrap();
//! assert_eq!(table.translate(va).unwrap().pa, frame.start());
//! assert_eq!(write(va), Ok(frame.start())); // the model TLB now holds the entry
//!
//! // Read-only: written in place, invalidated by the flush. Until then the TLB still allows
//! // the write.
//! table.protect(page, Attributes::USER_DATA.with_access(Access::Read), &mut gather).unwrap();
//! assert_eq!(write(va), Ok(frame.start()));
//! let report = gather.flush(table.arch()).release(table.frames_mut()).unwrap();
//! assert_eq!(report.tables + report.data_frames, 0); // a protect frees nothing
//! assert!(matches!(write(va), Err(Fault { kind: FaultKind::Permission, .. })));
//!
//! // Unmap: the page leaves the tables at once, but the frame and the three emptied tables
//! // stay out of the allocator until the TLBs are invalidated.
//! let mut gather = table.gather();
//! table.unmap(page, &mut gather).unwrap();
//! assert!(table.translate(va).is_none());
//! assert_eq!(gather.table_pages(), 3);
//! assert_eq!(read(va), Ok(frame.start())); // the stale TLB entry still translates
//! let flushed = gather.flush(table.arch());
//! assert_eq!(mmu.tlb_len(), 0);
//! // (a device's IOTLB would drop `flushed.range()` here)
//! let report = flushed.release(table.frames_mut()).unwrap();
//! assert_eq!((report.tables, report.data_frames), (3, 1));
//! assert_eq!(table.frames_mut().stats().free, free_at_start);
//! assert!(matches!(read(va), Err(Fault { kind: FaultKind::Translation, .. })));
//!
//! // Tear down: the root page goes through a gather too.
//! let mut gather = table.gather();
//! let (_, tlb, mut frames) = table.destroy(&mut gather);
//! gather.flush(&tlb).release(&mut frames).unwrap();
//! assert_eq!(frames.stats().free, frames.stats().total);
//! ```
#![cfg_attr(not(any(test, feature = "model")), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub use ::addr;
pub mod asid;
pub mod attrs;
pub mod descriptor;
pub mod frame;
pub mod gather;
pub mod mair;
pub mod notifier;
pub mod phys;
pub mod table;
pub mod tlb;
pub mod vma;

#[cfg(target_arch = "aarch64")]
mod arch_aarch64;
#[cfg(target_arch = "aarch64")]
pub use arch_aarch64::Aarch64Tlb;

#[cfg(any(test, feature = "model"))]
pub mod model;

#[cfg(test)]
mod tests;

pub use addr::{PhysAddr, PhysRange, VaRange, VirtAddr, PAGE_SIZE};
pub use asid::{AsidAllocator, AsidBits, AsidTag};
pub use attrs::{Access, Attributes};
pub use descriptor::{Descriptor, Level};
pub use frame::{Frame, FrameAllocator, FrameSource, FreeError, OutOfFrames};
pub use gather::{Flushed, Gather};
pub use mair::{MemoryType, MAIR_EL1_VALUE};
pub use phys::PhysMem;
pub use table::{Constraints, MapError, PageTable, VaRegion};
pub use tlb::{Asid, TlbCaps, TlbMaintenance};
