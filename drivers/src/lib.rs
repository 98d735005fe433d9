//! Device drivers used by the kernel. Each driver owns one MMIO block declared
//! with `tock-registers`; none of them allocates, sleeps or logs.
#![no_std]

pub mod gic;
pub mod mmio;
pub mod pl011;
pub mod psci;
pub mod timer;
