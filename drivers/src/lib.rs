//! Device drivers used by the kernel. Each driver owns one MMIO block declared
//! with `tock-registers`; none of them allocates, sleeps or logs.
//!
//! Modules that execute AArch64 instructions (GIC system registers, PSCI
//! calls, the generic timer) build for the target only; the rest (PCIe,
//! SMMUv3 and edu encodings, queue arithmetic) is also unit-tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod barrier;
pub mod bcm2711_dma;
pub mod dma;
pub mod edu;
#[cfg(target_arch = "aarch64")]
pub mod gic;
pub mod mmio;
pub mod pci;
pub mod pl011;
#[cfg(target_arch = "aarch64")]
pub mod psci;
pub mod smmuv3;
#[cfg(target_arch = "aarch64")]
pub mod timer;
