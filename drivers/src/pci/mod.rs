//! PCI Express behind a generic ECAM host bridge (`pci-host-ecam-generic`):
//! configuration space (PCIe Base Spec 6.0 §7.2.2 "ECAM"), the Type 0 header
//! (§7.5.1), BAR sizing and assignment from the host bridge's windows, and
//! INTx routing (PCI Local Bus 3.0 §2.2.6, bridge swizzle: PCI-to-PCI Bridge 1.2 §9.1).
//!
//! Pure parts (BAR math, window allocation, DT property decoding, the swizzle)
//! are host-tested; `config` touches the hardware.
pub mod alloc;
pub mod bar;
pub mod config;
pub mod dt;
pub mod intx;

pub use alloc::{Assigned, BarAllocator, Window, WindowKind};
pub use bar::{Bar, BarKind};
pub use config::{Ecam, Header, COMMAND};
pub use intx::Pin;

/// A PCI function's address: bus, device (0-31), function (0-7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    /// Bus number (0-255).
    pub bus: u8,
    /// Device number on the bus (0-31).
    pub device: u8,
    /// Function number of the device (0-7).
    pub function: u8,
}

impl Bdf {
    /// `None` if `device` > 31 or `function` > 7.
    pub const fn new(bus: u8, device: u8, function: u8) -> Option<Self> {
        if device > 31 || function > 7 {
            return None;
        }
        Some(Self {
            bus,
            device,
            function,
        })
    }

    /// The requester ID a DMA from this function carries (PCIe §2.2.6.2):
    /// `bus << 8 | device << 3 | function`. On QEMU virt the SMMU's stream ID.
    pub const fn requester_id(self) -> u16 {
        (self.bus as u16) << 8 | (self.device as u16) << 3 | self.function as u16
    }

    /// Offset of this function's 4 KiB configuration space from the ECAM
    /// base of bus 0 (PCIe §7.2.2, Table 7-1).
    pub const fn ecam_offset(self) -> usize {
        (self.bus as usize) << 20 | (self.device as usize) << 15 | (self.function as usize) << 12
    }

    /// `phys.hi` of this function's unit address in a device tree
    /// (IEEE 1275 PCI binding: `00000000 bbbbbbbb dddddfff 00000000`).
    pub const fn dt_phys_hi(self) -> u32 {
        (self.bus as u32) << 16 | (self.device as u32) << 11 | (self.function as u32) << 8
    }
}

/// What went wrong bringing a function up.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PciError {
    /// The bus is outside the host bridge's `bus-range`.
    BusOutOfRange {
        /// The bus asked for.
        bus: u8,
    },
    /// No window of the kind a BAR needs, or no room left in it.
    NoRoom {
        /// The address space the BAR decodes.
        kind: BarKind,
        /// Its size in bytes.
        size: u64,
    },
    /// A 64-bit BAR in slot 5 (its upper half would be outside the header).
    Bar64InLastSlot {
        /// The BAR's slot (5).
        index: u8,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bdf_encodings() {
        let edu = Bdf::new(0, 1, 0).unwrap();
        assert_eq!(edu.requester_id(), 0x0008);
        assert_eq!(edu.ecam_offset(), 0x8000);
        assert_eq!(edu.dt_phys_hi(), 0x0800);
        let f = Bdf::new(0x12, 31, 7).unwrap();
        assert_eq!(f.requester_id(), 0x12ff);
        assert_eq!(f.ecam_offset(), 0x12f_f000);
        assert_eq!(f.dt_phys_hi(), 0x12_ff00);
        assert_eq!(Bdf::new(0, 32, 0), None);
        assert_eq!(Bdf::new(0, 0, 8), None);
    }
}
