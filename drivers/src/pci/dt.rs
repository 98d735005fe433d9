//! Decoding the device-tree properties of a PCI host bridge from their raw
//! big-endian bytes: `ranges` (IEEE 1275 PCI binding §2.2.1.1: 3-cell PCI
//! addresses, `phys.hi = npt000ss bbbbbbbb dddddfff rrrrrrrr`), `bus-range`,
//! `iommu-map` (Linux `pci-iommu.txt` binding) and GIC interrupt specifiers
//! (`arm,gic-v3` binding: type, number, flags).

use super::alloc::{Window, WindowKind, MAX_WINDOWS};

/// Big-endian 32-bit cells of a property value (a trailing partial cell is dropped).
pub fn cells(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// A number made of `n` cells (most significant first).
fn number(cells: &[u32]) -> u64 {
    cells.iter().fold(0, |acc, &c| acc << 32 | u64::from(c))
}

/// Why a property could not be used.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DtError {
    /// The length is not a whole number of entries.
    BadLength {
        /// The property's name.
        property: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// More cells per number than 64 bits hold.
    CellsTooWide {
        /// The property whose `#address-cells` / `#size-cells` is too large.
        property: &'static str,
    },
}

/// The PCI address space of a `ranges` entry (`ss` in `phys.hi`).
fn window_kind(phys_hi: u32) -> Option<WindowKind> {
    let prefetchable = phys_hi & (1 << 30) != 0;
    match (phys_hi >> 24) & 0b11 {
        0b01 => Some(WindowKind::Io),
        0b10 => Some(WindowKind::Mem32 { prefetchable }),
        0b11 => Some(WindowKind::Mem64 { prefetchable }),
        _ => None, // configuration space is not a window
    }
}

/// The host bridge's windows from its `ranges` (child: 3 cells; parent:
/// `parent_address_cells`; size: `size_cells`). Entries of other spaces are
/// skipped; at most `MAX_WINDOWS` are kept.
pub fn ranges(
    bytes: &[u8],
    parent_address_cells: usize,
    size_cells: usize,
) -> Result<[Option<Window>; MAX_WINDOWS], DtError> {
    const P: &str = "ranges";
    if parent_address_cells > 2 || size_cells > 2 {
        return Err(DtError::CellsTooWide { property: P });
    }
    let entry = 3 + parent_address_cells + size_cells;
    if !bytes.len().is_multiple_of(4 * entry) {
        return Err(DtError::BadLength {
            property: P,
            len: bytes.len(),
        });
    }
    let mut out = [None; MAX_WINDOWS];
    let mut n = 0;
    let mut buf = [0u32; 7];
    for e in bytes.chunks_exact(4 * entry) {
        for (slot, c) in buf.iter_mut().zip(cells(e)) {
            *slot = c;
        }
        let Some(kind) = window_kind(buf[0]) else {
            continue;
        };
        if n == MAX_WINDOWS {
            break;
        }
        out[n] = Some(Window {
            kind,
            pci_base: number(&buf[1..3]),
            cpu_base: number(&buf[3..3 + parent_address_cells]),
            size: number(&buf[3 + parent_address_cells..entry]),
        });
        n += 1;
    }
    Ok(out)
}

/// `bus-range`: first and last bus number (default 0-255 when absent).
pub fn bus_range(bytes: Option<&[u8]>) -> Result<(u8, u8), DtError> {
    let Some(bytes) = bytes else {
        return Ok((0, 255));
    };
    let mut c = cells(bytes);
    match (c.next(), c.next(), c.next()) {
        (Some(first), Some(last), None) if first <= last && last <= 255 => {
            Ok((first as u8, last as u8))
        }
        _ => Err(DtError::BadLength {
            property: "bus-range",
            len: bytes.len(),
        }),
    }
}

/// The IOMMU (by phandle) and stream ID that `iommu-map` gives requester ID
/// `rid`: entries are `(rid-base, iommu phandle, sid-base, length)` with one
/// cell each (`#iommu-cells = 1`). `None` if no entry covers `rid`.
pub fn iommu_map(bytes: &[u8], rid: u16) -> Result<Option<(u32, u32)>, DtError> {
    if !bytes.len().is_multiple_of(16) {
        return Err(DtError::BadLength {
            property: "iommu-map",
            len: bytes.len(),
        });
    }
    let rid = u32::from(rid);
    for e in bytes.chunks_exact(16) {
        let mut c = cells(e);
        let (base, phandle, sid_base, len) = (
            c.next().unwrap_or(0),
            c.next().unwrap_or(0),
            c.next().unwrap_or(0),
            c.next().unwrap_or(0),
        );
        if rid >= base && rid - base < len {
            return Ok(Some((phandle, sid_base + (rid - base))));
        }
    }
    Ok(None)
}

/// How a GIC interrupt is signalled.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Level-sensitive (flags 4 or 8): pending while the line is asserted.
    Level,
    /// Edge-triggered (flags 1 or 2): pending on each rising edge.
    Edge,
}

/// A GIC interrupt from a 3-cell specifier: `(0 = SPI | 1 = PPI, number, flags)`;
/// flags 1/2 are edge, 4/8 level.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GicIrq {
    /// The GIC INTID: 32 + SPI number, or 16 + PPI number.
    pub intid: u32,
    /// How the line signals.
    pub trigger: Trigger,
}

impl GicIrq {
    /// Decodes a 3-cell GIC specifier; `None` for another cell count or kind.
    pub fn from_specifier(spec: &[u32]) -> Option<Self> {
        let &[kind, number, flags] = spec else {
            return None;
        };
        let intid = match kind {
            0 => 32 + number,
            1 => 16 + number,
            _ => return None,
        };
        let trigger = if flags & 0b11 != 0 {
            Trigger::Edge
        } else {
            Trigger::Level
        };
        Some(Self { intid, trigger })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn be(cells: &[u32]) -> Vec<u8> {
        cells.iter().flat_map(|c| c.to_be_bytes()).collect()
    }

    /// `ranges` of QEMU 10 virt's `pcie@10000000` (highmem on).
    pub(crate) const VIRT_RANGES: [u32; 21] = [
        0x0100_0000,
        0,
        0,
        0,
        0x3eff_0000,
        0,
        0x1_0000, // I/O
        0x0200_0000,
        0,
        0x1000_0000,
        0,
        0x1000_0000,
        0,
        0x2eff_0000, // MMIO32
        0x0300_0000,
        0x80,
        0,
        0x80,
        0,
        0x80,
        0, // MMIO64
    ];

    #[test]
    fn virt_ranges() {
        let w = ranges(&be(&VIRT_RANGES), 2, 2).unwrap();
        assert_eq!(
            w[0],
            Some(Window {
                kind: WindowKind::Io,
                pci_base: 0,
                cpu_base: 0x3eff_0000,
                size: 0x1_0000
            })
        );
        assert_eq!(
            w[1],
            Some(Window {
                kind: WindowKind::Mem32 {
                    prefetchable: false
                },
                pci_base: 0x1000_0000,
                cpu_base: 0x1000_0000,
                size: 0x2eff_0000
            })
        );
        assert_eq!(
            w[2],
            Some(Window {
                kind: WindowKind::Mem64 {
                    prefetchable: false
                },
                pci_base: 0x80_0000_0000,
                cpu_base: 0x80_0000_0000,
                size: 0x80_0000_0000
            })
        );
        assert_eq!(w[3], None);
        assert!(matches!(
            ranges(&be(&VIRT_RANGES[..20]), 2, 2),
            Err(DtError::BadLength { .. })
        ));
    }

    #[test]
    fn bus_range_and_iommu_map() {
        assert_eq!(bus_range(Some(&be(&[0, 0xff]))), Ok((0, 255)));
        assert_eq!(bus_range(None), Ok((0, 255)));
        assert!(bus_range(Some(&be(&[3, 1]))).is_err());
        // virt: `iommu-map = <0 &smmu 0 0x10000>`: identity.
        let map = be(&[0, 0x8007, 0, 0x1_0000]);
        assert_eq!(iommu_map(&map, 0x0008), Ok(Some((0x8007, 8))));
        let offset = be(&[0x100, 0x1, 0x4000, 0x100]);
        assert_eq!(iommu_map(&offset, 0x0108), Ok(Some((1, 0x4008))));
        assert_eq!(iommu_map(&offset, 0x0008), Ok(None));
    }

    #[test]
    fn gic_specifiers() {
        // virt's SMMU eventq: <0 74 1> (SPI, rising edge).
        assert_eq!(
            GicIrq::from_specifier(&[0, 74, 1]),
            Some(GicIrq {
                intid: 106,
                trigger: Trigger::Edge
            })
        );
        // PCIe INTA of slot 0: <0 3 4> (SPI, level high).
        assert_eq!(
            GicIrq::from_specifier(&[0, 3, 4]),
            Some(GicIrq {
                intid: 35,
                trigger: Trigger::Level
            })
        );
        assert_eq!(GicIrq::from_specifier(&[0, 3]), None);
    }
}
