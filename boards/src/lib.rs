//! Board descriptions: what the device tree cannot say, and the defaults used
//! when no device tree is handed over (QEMU `raspi4b` without `-dtb`).
//!
//! Exactly one board is selected by a cargo feature; the kernel reads `BOARD`.
#![no_std]

#[cfg(all(feature = "virt", feature = "rpi4"))]
compile_error!("select exactly one board feature: `virt` or `rpi4`");
#[cfg(not(any(feature = "virt", feature = "rpi4")))]
compile_error!("select a board feature: `virt` or `rpi4`");

pub mod desc;
#[cfg(feature = "rpi4")]
mod rpi4;
#[cfg(feature = "virt")]
mod virt;

pub use desc::*;

/// The board this kernel was built for.
#[cfg(feature = "rpi4")]
pub const BOARD: &Board = &rpi4::BOARD;
/// The board this kernel was built for.
#[cfg(feature = "virt")]
pub const BOARD: &Board = &virt::BOARD;
