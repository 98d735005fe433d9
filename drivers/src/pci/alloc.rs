//! BAR assignment from the host bridge's windows (the DT `ranges`, IEEE 1275
//! PCI binding §2.2.1.1): a bump allocator per window, natural alignment
//! (a BAR of size 2^n sits at a multiple of 2^n, PCI Local Bus 3.0 §6.2.5.1).

use super::bar::BarKind;
use super::PciError;

/// The address space a window forwards.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// PCI I/O space.
    Io,
    /// 32-bit memory space (below 4 GiB on the PCI side).
    Mem32 {
        /// The window is prefetchable (phys.hi `p` bit).
        prefetchable: bool,
    },
    /// 64-bit memory space.
    Mem64 {
        /// The window is prefetchable (phys.hi `p` bit).
        prefetchable: bool,
    },
}

/// A window of the host bridge: `size` bytes of PCI address space starting at
/// `pci_base`, reached by the CPU at `cpu_base`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The address space it forwards.
    pub kind: WindowKind,
    /// First PCI bus address of the window.
    pub pci_base: u64,
    /// CPU physical address of `pci_base`.
    pub cpu_base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Window {
    /// The CPU physical address of PCI address `pci` (inside the window).
    pub const fn cpu_address(&self, pci: u64) -> u64 {
        pci - self.pci_base + self.cpu_base
    }
}

/// Where a BAR was placed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// The value programmed into the BAR (PCI bus address).
    pub pci: u64,
    /// The CPU physical address the driver maps.
    pub cpu: u64,
    /// Bytes the BAR decodes.
    pub size: u64,
}

/// Most windows a host bridge describes that we use.
pub const MAX_WINDOWS: usize = 4;

/// I/O port addresses below this are left alone (legacy ISA ports).
const FIRST_IO_PORT: u64 = 0x1000;

/// Hands out naturally aligned ranges of the windows, lowest first.
#[derive(Clone, Debug)]
pub struct BarAllocator {
    windows: [Option<(Window, u64)>; MAX_WINDOWS],
}

impl BarAllocator {
    /// An allocator over `windows` (extra windows beyond `MAX_WINDOWS` are ignored).
    pub fn new(windows: impl IntoIterator<Item = Window>) -> Self {
        let mut slots = [None; MAX_WINDOWS];
        for (slot, w) in slots.iter_mut().zip(windows) {
            let start = match w.kind {
                WindowKind::Io => w.pci_base.max(FIRST_IO_PORT),
                _ => w.pci_base,
            };
            *slot = Some((w, start));
        }
        Self { windows: slots }
    }

    /// The windows, as given.
    pub fn windows(&self) -> impl Iterator<Item = Window> + '_ {
        self.windows.iter().flatten().map(|(w, _)| *w)
    }

    /// Which windows may hold a BAR of `kind`, best first: I/O in I/O; a
    /// 64-bit BAR in a 64-bit window (prefetchable ones only for
    /// prefetchable BARs), else below 4 GiB; a 32-bit BAR in a 32-bit window
    /// (a prefetchable 32-bit window only for prefetchable BARs).
    fn fits(kind: BarKind, window: WindowKind) -> Option<u8> {
        match (kind, window) {
            (BarKind::Io, WindowKind::Io) => Some(0),
            (BarKind::Mem64 { prefetchable: p }, WindowKind::Mem64 { prefetchable: wp })
                if p || !wp =>
            {
                Some(if p == wp { 0 } else { 1 })
            }
            (
                BarKind::Mem64 { prefetchable: p } | BarKind::Mem32 { prefetchable: p },
                WindowKind::Mem32 { prefetchable: wp },
            ) if p || !wp => Some(if kind.is_64bit() {
                2
            } else if p == wp {
                0
            } else {
                1
            }),
            _ => None,
        }
    }

    /// Places a BAR of `kind` and `size` (a power of two).
    pub fn assign(&mut self, kind: BarKind, size: u64) -> Result<Assigned, PciError> {
        let no_room = PciError::NoRoom { kind, size };
        if !size.is_power_of_two() {
            return Err(no_room);
        }
        let best = self
            .windows
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let (w, next) = (*slot)?;
                let rank = Self::fits(kind, w.kind)?;
                let start = next.checked_add(size - 1)? & !(size - 1);
                let end = start.checked_add(size)?;
                (end <= w.pci_base + w.size).then_some((rank, i, start))
            })
            .min_by_key(|&(rank, i, _)| (rank, i));
        let (_, i, start) = best.ok_or(no_room)?;
        let slot = self.windows[i].as_mut().ok_or(no_room)?;
        slot.1 = start + size;
        Ok(Assigned {
            pci: start,
            cpu: slot.0.cpu_address(start),
            size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU virt's windows (DTB `ranges` of `pcie@10000000`).
    fn virt() -> BarAllocator {
        BarAllocator::new([
            Window {
                kind: WindowKind::Io,
                pci_base: 0,
                cpu_base: 0x3eff_0000,
                size: 0x1_0000,
            },
            Window {
                kind: WindowKind::Mem32 {
                    prefetchable: false,
                },
                pci_base: 0x1000_0000,
                cpu_base: 0x1000_0000,
                size: 0x2eff_0000,
            },
            Window {
                kind: WindowKind::Mem64 {
                    prefetchable: false,
                },
                pci_base: 0x80_0000_0000,
                cpu_base: 0x80_0000_0000,
                size: 0x80_0000_0000,
            },
        ])
    }

    const MEM32: BarKind = BarKind::Mem32 {
        prefetchable: false,
    };

    #[test]
    fn natural_alignment_in_the_right_window() {
        let mut a = virt();
        let edu = a.assign(MEM32, 1 << 20).unwrap();
        assert_eq!((edu.pci, edu.cpu), (0x1000_0000, 0x1000_0000));
        let small = a.assign(MEM32, 0x1000).unwrap();
        assert_eq!(small.pci, 0x1010_0000);
        // The next 1 MiB BAR skips to the next 1 MiB boundary.
        let big = a.assign(MEM32, 1 << 20).unwrap();
        assert_eq!(big.pci, 0x1020_0000);
        assert_eq!(big.pci % (1 << 20), 0);
    }

    #[test]
    fn io_translates_to_the_cpu_window() {
        let mut a = virt();
        let io = a.assign(BarKind::Io, 0x20).unwrap();
        assert_eq!(io.pci, 0x1000, "ports below 0x1000 stay free");
        assert_eq!(io.cpu, 0x3eff_1000);
    }

    #[test]
    fn sixty_four_bit_bars_prefer_the_high_window() {
        let mut a = virt();
        let b = a
            .assign(
                BarKind::Mem64 {
                    prefetchable: false,
                },
                1 << 30,
            )
            .unwrap();
        assert_eq!(b.pci, 0x80_0000_0000);
        // A prefetchable 64-bit BAR may go in a non-prefetchable window.
        let p = a
            .assign(BarKind::Mem64 { prefetchable: true }, 1 << 12)
            .unwrap();
        assert!(p.pci >= 0x80_0000_0000);
    }

    #[test]
    fn full_window_is_an_error_naming_the_bar() {
        let mut a = virt();
        assert_eq!(
            a.assign(MEM32, 1 << 30),
            Err(PciError::NoRoom {
                kind: MEM32,
                size: 1 << 30
            })
        );
        // Not a power of two: refused.
        assert!(a.assign(MEM32, 3000).is_err());
        // Without a 64-bit window, a 64-bit BAR lands below 4 GiB.
        let mut low = BarAllocator::new(a.windows().filter(|w| w.pci_base < 1 << 32));
        let b = low
            .assign(
                BarKind::Mem64 {
                    prefetchable: false,
                },
                1 << 20,
            )
            .unwrap();
        assert_eq!(b.pci, 0x1000_0000);
    }
}
