//! Configuration space through ECAM (PCIe Base Spec 6.0 §7.2.2): each
//! function's 4 KiB at `base + (bus << 20 | device << 15 | function << 12)`,
//! the Type 0 header laid out with `register_structs!` (§7.5.1.1-2), and the
//! BAR probe (write all-ones with decoding off, read back, restore).

use super::bar::{size_from_probe, Bar, BarKind};
use super::{Bdf, PciError};
use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

// Each register allows `missing_docs`: `register_bitfields!` gives its `Field`
// constants, `Register`, `SET` and `CLEAR` no doc attribute. The fields are
// documented on their modules.
register_bitfields! {u16,
    /// Command register (§7.5.1.1.3).
    #[allow(missing_docs)]
    pub COMMAND [
        /// The function decodes its I/O BARs.
        IO_SPACE OFFSET(0) NUMBITS(1) [],
        /// The function decodes its memory BARs.
        MEMORY_SPACE OFFSET(1) NUMBITS(1) [],
        /// The function may issue memory requests (DMA, MSI).
        BUS_MASTER OFFSET(2) NUMBITS(1) [],
        /// Report parity errors instead of ignoring them.
        PARITY_ERROR_RESPONSE OFFSET(6) NUMBITS(1) [],
        /// Report fatal and non-fatal errors (SERR#).
        SERR_ENABLE OFFSET(8) NUMBITS(1) [],
        /// The function may not assert INTx.
        INTX_DISABLE OFFSET(10) NUMBITS(1) []
    ],
    /// Status register (§7.5.1.1.4).
    #[allow(missing_docs)]
    pub STATUS [
        /// An INTx interrupt is pending (whatever INTX_DISABLE says).
        INTERRUPT OFFSET(3) NUMBITS(1) [],
        /// The capabilities pointer at 0x34 is valid.
        CAPABILITIES_LIST OFFSET(4) NUMBITS(1) []
    ]
}

// `missing_docs` allowed per register, as above.
register_bitfields! {u8,
    /// Header Type (§7.5.1.1.9).
    #[allow(missing_docs)]
    pub HEADER_TYPE [
        /// The layout of bytes 0x10-0x3f: Type 0, Type 1 (bridge) or CardBus.
        LAYOUT OFFSET(0) NUMBITS(7) [Endpoint = 0, PciBridge = 1, CardBus = 2],
        /// Device has functions other than 0.
        MULTI_FUNCTION OFFSET(7) NUMBITS(1) []
    ]
}

register_structs! {
    /// The Type 0 (endpoint) configuration header. Bridges (Type 1) share
    /// the first 16 bytes.
    pub Header {
        /// Vendor ID (`ABSENT` when no function answers).
        (0x00 => pub vendor_id: ReadOnly<u16>),
        /// Device ID, assigned by the vendor.
        (0x02 => pub device_id: ReadOnly<u16>),
        /// Command register.
        (0x04 => pub command: ReadWrite<u16, COMMAND::Register>),
        /// Status register (error bits are write-1-to-clear).
        (0x06 => pub status: ReadWrite<u16, STATUS::Register>),
        /// Revision ID.
        (0x08 => pub revision: ReadOnly<u8>),
        /// Programming interface (the low byte of the class code).
        (0x09 => pub prog_if: ReadOnly<u8>),
        /// Subclass (the middle byte of the class code).
        (0x0a => pub subclass: ReadOnly<u8>),
        /// Base class (the high byte of the class code).
        (0x0b => pub class: ReadOnly<u8>),
        /// Cache line size in 32-bit words (no effect on PCIe).
        (0x0c => pub cache_line_size: ReadWrite<u8>),
        /// Latency timer (hard-wired to 0 on PCIe).
        (0x0d => pub latency_timer: ReadWrite<u8>),
        /// Header type and the multi-function bit.
        (0x0e => pub header_type: ReadOnly<u8, HEADER_TYPE::Register>),
        /// Built-in self test control (0 when not implemented).
        (0x0f => pub bist: ReadWrite<u8>),
        /// The six Base Address Registers (a 64-bit BAR uses two slots).
        (0x10 => pub bar: [ReadWrite<u32>; 6]),
        /// CardBus CIS pointer (unused by PCIe).
        (0x28 => pub cardbus_cis: ReadOnly<u32>),
        /// Subsystem vendor ID.
        (0x2c => pub subsystem_vendor_id: ReadOnly<u16>),
        /// Subsystem ID.
        (0x2e => pub subsystem_id: ReadOnly<u16>),
        /// Expansion ROM base address.
        (0x30 => pub expansion_rom: ReadWrite<u32>),
        /// Offset of the first capability (valid with STATUS.CAPABILITIES_LIST).
        (0x34 => pub capabilities: ReadOnly<u8>),
        (0x35 => _reserved),
        /// Interrupt line: a software scratch byte, unused by the hardware.
        (0x3c => pub interrupt_line: ReadWrite<u8>),
        /// Interrupt pin: 0 none, 1-4 INTA#-INTD#.
        (0x3d => pub interrupt_pin: ReadOnly<u8>),
        /// Min_Gnt (hard-wired to 0 on PCIe).
        (0x3e => pub min_grant: ReadOnly<u8>),
        /// Max_Lat (hard-wired to 0 on PCIe).
        (0x3f => pub max_latency: ReadOnly<u8>),
        (0x40 => @END),
    }
}

/// Vendor ID an absent function returns (the read completes as all-ones).
pub const ABSENT: u16 = 0xffff;

/// The ECAM window of one host bridge, mapped as device memory.
pub struct Ecam {
    /// Kernel address of the configuration space of bus `first_bus`.
    base: usize,
    first_bus: u8,
    last_bus: u8,
}

impl Ecam {
    /// # Safety
    /// `base` maps the ECAM region of buses `first_bus..=last_bus` (1 MiB per
    /// bus) as device memory for the life of the value, and nothing else
    /// programs these functions' BARs and command registers concurrently.
    pub const unsafe fn new(base: usize, first_bus: u8, last_bus: u8) -> Self {
        Self {
            base,
            first_bus,
            last_bus,
        }
    }

    /// The buses this bridge decodes (the DT `bus-range`).
    pub fn buses(&self) -> core::ops::RangeInclusive<u8> {
        self.first_bus..=self.last_bus
    }

    fn function_base(&self, bdf: Bdf) -> Result<usize, PciError> {
        if !self.buses().contains(&bdf.bus) {
            return Err(PciError::BusOutOfRange { bus: bdf.bus });
        }
        let rel = Bdf {
            bus: bdf.bus - self.first_bus,
            ..bdf
        };
        Ok(self.base + rel.ecam_offset())
    }

    /// The header of `bdf` (present or not: read `vendor_id` to know).
    pub fn header(&self, bdf: Bdf) -> Result<Mmio<Header>, PciError> {
        let base = self.function_base(bdf)?;
        // SAFETY: `new`'s contract: every function of the decoded buses has
        // its 4 KiB of configuration space mapped at this address.
        Ok(unsafe { Mmio::new(base) })
    }

    /// A raw 32-bit configuration read at `offset` (dword aligned, < 4096).
    pub fn read_u32(&self, bdf: Bdf, offset: u16) -> Result<u32, PciError> {
        let base = self.function_base(bdf)?;
        let offset = usize::from(offset & 0xffc);
        // SAFETY: inside this function's mapped configuration space; device
        // memory, so the access is volatile and 32 bits wide.
        Ok(unsafe { core::ptr::read_volatile((base + offset) as *const u32) })
    }

    /// Whether a function answers at `bdf`.
    pub fn present(&self, bdf: Bdf) -> bool {
        self.header(bdf).is_ok_and(|h| h.vendor_id.get() != ABSENT)
    }

    /// Sizes every BAR of the endpoint at `bdf` (the probe turns memory and
    /// I/O decoding off for its duration and restores the BARs and the
    /// command register). Returns up to six BARs, unimplemented ones skipped.
    pub fn probe_bars(&self, bdf: Bdf) -> Result<[Option<Bar>; 6], PciError> {
        let h = self.header(bdf)?;
        let mut bars = [None; 6];
        let command = h.command.get();
        h.command
            .modify(COMMAND::MEMORY_SPACE::CLEAR + COMMAND::IO_SPACE::CLEAR);
        let mut i = 0;
        let mut result = Ok(());
        while i < 6 {
            let original = h.bar[i].get();
            let Some(kind) = BarKind::decode(original) else {
                i += 1;
                continue;
            };
            if kind.is_64bit() && i == 5 {
                result = Err(PciError::Bar64InLastSlot { index: 5 });
                break;
            }
            h.bar[i].set(u32::MAX);
            let low = h.bar[i].get();
            h.bar[i].set(original);
            let high = if kind.is_64bit() {
                let original_high = h.bar[i + 1].get();
                h.bar[i + 1].set(u32::MAX);
                let high = h.bar[i + 1].get();
                h.bar[i + 1].set(original_high);
                high
            } else {
                0
            };
            if let Some(size) = size_from_probe(kind, low, high) {
                bars[i] = Some(Bar {
                    index: i as u8,
                    kind,
                    size,
                });
            }
            i += if kind.is_64bit() { 2 } else { 1 };
        }
        h.command.set(command);
        result.map(|()| bars)
    }

    /// Programs BAR `bar` of `bdf` with PCI address `pci` (both halves for a
    /// 64-bit BAR). Decoding stays as the command register says.
    pub fn set_bar(&self, bdf: Bdf, bar: &Bar, pci: u64) -> Result<(), PciError> {
        let h = self.header(bdf)?;
        let i = usize::from(bar.index);
        h.bar[i].set(pci as u32 & bar.kind.address_mask());
        if bar.kind.is_64bit() {
            h.bar[i + 1].set((pci >> 32) as u32);
        }
        Ok(())
    }
}
