//! `mm`: the aarch64 page-table manager. VMSAv8-64 stage 1 descriptors (4 KiB granule, 48-bit
//! VA), a frame allocator, a walker/editor with break-before-make and a deferred-free gather,
//! TLB maintenance policy, ASIDs. Arm ARM (DDI 0487) chapter D8 "The AArch64 Virtual Memory
//! System Architecture". `no_std`; the `model` feature adds a host MMU model (needs std).
#![cfg_attr(not(any(test, feature = "model")), no_std)]

extern crate alloc;

pub mod addr;
pub mod asid;
pub mod attrs;
pub mod descriptor;
pub mod frame;
pub mod gather;
pub mod mair;
pub mod notifier;
pub mod phys;
pub mod sync;
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
