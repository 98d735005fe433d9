//! Base Address Registers: what a BAR's low bits say it is, and its size from
//! the all-ones probe (PCI Local Bus 3.0 §6.2.5.1 "Address Maps"; PCIe Base
//! Spec 6.0 §7.5.1.2.1). Pure arithmetic; the probe itself is in `config`.

/// The kind of address space a BAR decodes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// I/O space (bit 0 set).
    Io,
    /// 32-bit memory space (type 00).
    Mem32 {
        /// Bit 3: reads have no side effects, so the range may be prefetched.
        prefetchable: bool,
    },
    /// 64-bit memory space (type 10): this BAR and the next form one address.
    Mem64 {
        /// Bit 3: reads have no side effects, so the range may be prefetched.
        prefetchable: bool,
    },
}

impl BarKind {
    /// Decodes the read-only low bits of a BAR value. `None` for the reserved
    /// memory type 11 (and the legacy below-1 MiB type 01, which we never assign).
    pub const fn decode(value: u32) -> Option<Self> {
        if value & 1 == 1 {
            return Some(BarKind::Io);
        }
        let prefetchable = value & 0b1000 != 0;
        match (value >> 1) & 0b11 {
            0b00 => Some(BarKind::Mem32 { prefetchable }),
            0b10 => Some(BarKind::Mem64 { prefetchable }),
            _ => None,
        }
    }

    /// The bits of a BAR value that hold the address (the rest describe it).
    pub const fn address_mask(self) -> u32 {
        match self {
            BarKind::Io => !0b11,
            _ => !0b1111,
        }
    }

    /// Whether the BAR uses two consecutive slots.
    pub const fn is_64bit(self) -> bool {
        matches!(self, BarKind::Mem64 { .. })
    }
}

/// One implemented BAR.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Slot (0-5); a 64-bit BAR also uses `index + 1`.
    pub index: u8,
    /// What it decodes.
    pub kind: BarKind,
    /// Bytes decoded: a power of two.
    pub size: u64,
}

/// The size a BAR decodes, from what it read back after all-ones was written:
/// the lowest writable address bit. `high` is the read-back of the upper
/// slot for 64-bit BARs (ignored otherwise). `None` if the BAR is not
/// implemented (no writable address bit).
pub const fn size_from_probe(kind: BarKind, low: u32, high: u32) -> Option<u64> {
    let low = (low & kind.address_mask()) as u64;
    let mut value = match kind {
        BarKind::Mem64 { .. } => (high as u64) << 32 | low,
        _ => low,
    };
    if let BarKind::Io = kind {
        // I/O BARs may hardwire the upper 16 bits to 0 (64 KiB I/O space):
        // only the writable bits count, so the lowest one gives the size.
        value &= 0xffff_ffff;
    }
    if value == 0 {
        return None;
    }
    Some(value & value.wrapping_neg())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_type_bits() {
        assert_eq!(BarKind::decode(0x0000_0001), Some(BarKind::Io));
        assert_eq!(
            BarKind::decode(0x1000_0000),
            Some(BarKind::Mem32 {
                prefetchable: false
            })
        );
        assert_eq!(
            BarKind::decode(0x0000_000c),
            Some(BarKind::Mem64 { prefetchable: true })
        );
        assert_eq!(BarKind::decode(0x0000_0006), None, "type 11 is reserved");
        assert!(BarKind::Mem64 {
            prefetchable: false
        }
        .is_64bit());
        assert!(!BarKind::Io.is_64bit());
    }

    #[test]
    fn sizes_from_all_ones_probes() {
        let mem32 = BarKind::Mem32 {
            prefetchable: false,
        };
        // edu's BAR0: 1 MiB, non-prefetchable 32-bit memory.
        assert_eq!(size_from_probe(mem32, 0xfff0_0000, 0), Some(1 << 20));
        assert_eq!(size_from_probe(mem32, 0xffff_f000, 0), Some(4096));
        // Unimplemented BAR reads back 0.
        assert_eq!(size_from_probe(mem32, 0, 0), None);
        // 64-bit: 8 GiB needs the upper half.
        let mem64 = BarKind::Mem64 { prefetchable: true };
        assert_eq!(
            size_from_probe(mem64, 0x0000_000c, 0xffff_fffe),
            Some(8 << 30)
        );
        assert_eq!(
            size_from_probe(mem64, 0xffff_c00c, 0xffff_ffff),
            Some(16384)
        );
        // I/O with the upper 16 bits hardwired to zero.
        assert_eq!(size_from_probe(BarKind::Io, 0x0000_ffe1, 0), Some(32));
        assert_eq!(size_from_probe(BarKind::Io, 0xffff_ff01, 0), Some(256));
    }
}
