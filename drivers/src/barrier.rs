//! Ordering between the CPU's writes to memory that a device reads (command
//! queues, stream tables, context descriptors) and the MMIO write that tells the
//! device to look (Arm ARM B2.3 "Ordering requirements", DMB/DSB with the
//! outer-shareable domain, where coherent DMA masters sit).
//!
//! On the host (unit tests) these are compiler/CPU fences: no device exists.

/// Prior writes to normal memory are observed by a coherent device before any
/// later write (including an MMIO write that starts the device).
#[inline(always)]
pub fn dma_wmb() {
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::OSHST);
    #[cfg(not(target_arch = "aarch64"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
}

/// Reads of normal memory that a device wrote (an event record) are not done
/// before the MMIO read that said the data is there (the producer index).
#[inline(always)]
pub fn dma_rmb() {
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::OSHLD);
    #[cfg(not(target_arch = "aarch64"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
}
