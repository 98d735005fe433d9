//! Legacy INTx routing: the Interrupt Pin register's A-D (PCI Local Bus 3.0
//! §6.2.4), the swizzle a PCI-to-PCI bridge applies (PCI-to-PCI Bridge
//! Architecture 1.2 §9.1, table 9-1), and the host bridge's DT
//! `interrupt-map` (IEEE 1275 "Open Firmware Recommended Practice: Interrupt
//! Mapping" §4) that turns (device address, pin) into a parent interrupt.

use super::dt::cells;
use super::Bdf;

/// An INTx pin.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Pin {
    /// INTA# (Interrupt Pin 1).
    A = 1,
    /// INTB# (Interrupt Pin 2).
    B = 2,
    /// INTC# (Interrupt Pin 3).
    C = 3,
    /// INTD# (Interrupt Pin 4).
    D = 4,
}

impl Pin {
    /// From the Interrupt Pin register: 0 = no INTx, 1-4 = INTA-INTD.
    pub const fn from_register(v: u8) -> Option<Self> {
        match v {
            1 => Some(Pin::A),
            2 => Some(Pin::B),
            3 => Some(Pin::C),
            4 => Some(Pin::D),
            _ => None,
        }
    }

    const fn from_index(i: u8) -> Self {
        match i % 4 {
            0 => Pin::A,
            1 => Pin::B,
            2 => Pin::C,
            _ => Pin::D,
        }
    }

    /// The pin a device's `self` appears as on the bus above a bridge:
    /// `((pin - 1) + device) mod 4 + 1`.
    pub const fn swizzle(self, device: u8) -> Self {
        Self::from_index(self as u8 - 1 + device % 4)
    }
}

/// Most cells a parent interrupt specifier (with its unit address) may have.
pub const MAX_PARENT_CELLS: usize = 6;

/// Where an INTx is delivered: the interrupt controller (phandle) and its
/// specifier (e.g. three GIC cells).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Phandle of the interrupt controller the INTx is wired to.
    pub parent: u32,
    specifier: [u32; MAX_PARENT_CELLS],
    len: usize,
}

impl Route {
    /// The parent's interrupt specifier cells.
    pub fn specifier(&self) -> &[u32] {
        &self.specifier[..self.len]
    }
}

/// Why `interrupt-map` could not be read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An entry names a parent whose cell counts are unknown.
    UnknownParent {
        /// The parent's phandle.
        phandle: u32,
    },
    /// The parent's unit address plus specifier exceed `MAX_PARENT_CELLS`.
    ParentTooWide {
        /// The parent's phandle.
        phandle: u32,
    },
    /// The map ends in the middle of an entry.
    Truncated,
    /// `interrupt-map-mask` is not 4 cells (3 address + 1 pin).
    BadMask,
}

/// Looks up the route of `pin` of the function at `bdf` (on the host bridge's
/// root bus) in `map`, masked by `mask`. `parent_cells(phandle)` gives a
/// parent's `(#address-cells, #interrupt-cells)`. `Ok(None)` if no entry matches.
pub fn route(
    map: &[u8],
    mask: &[u8],
    bdf: Bdf,
    pin: Pin,
    parent_cells: impl Fn(u32) -> Option<(usize, usize)>,
) -> Result<Option<Route>, MapError> {
    let mut m = [0u32; 4];
    let mut n = 0;
    for (slot, c) in m.iter_mut().zip(cells(mask)) {
        *slot = c;
        n += 1;
    }
    if n != 4 || mask.len() != 16 {
        return Err(MapError::BadMask);
    }
    let key = [bdf.dt_phys_hi(), 0, 0, pin as u32];
    let want: [u32; 4] = core::array::from_fn(|i| key[i] & m[i]);

    let mut it = cells(map);
    loop {
        let mut child = [0u32; 4];
        for (i, slot) in child.iter_mut().enumerate() {
            match it.next() {
                Some(c) => *slot = c,
                None if i == 0 => return Ok(None),
                None => return Err(MapError::Truncated),
            }
        }
        let phandle = it.next().ok_or(MapError::Truncated)?;
        let (addr_cells, intr_cells) =
            parent_cells(phandle).ok_or(MapError::UnknownParent { phandle })?;
        if addr_cells + intr_cells > MAX_PARENT_CELLS {
            return Err(MapError::ParentTooWide { phandle });
        }
        let mut specifier = [0u32; MAX_PARENT_CELLS];
        for _ in 0..addr_cells {
            it.next().ok_or(MapError::Truncated)?;
        }
        for slot in specifier.iter_mut().take(intr_cells) {
            *slot = it.next().ok_or(MapError::Truncated)?;
        }
        let masked: [u32; 4] = core::array::from_fn(|i| child[i] & m[i]);
        if masked == want {
            return Ok(Some(Route {
                parent: phandle,
                specifier,
                len: intr_cells,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dt::tests::be;
    use super::*;

    /// QEMU virt's `interrupt-map` (GIC phandle 0x8005 with #address-cells 2,
    /// #interrupt-cells 3): slot d, pin p -> SPI 3 + (d + p - 1) % 4.
    fn virt_map() -> (Vec<u8>, Vec<u8>) {
        let mut map = Vec::new();
        for dev in 0..4u32 {
            for pin in 1..=4u32 {
                let spi = 3 + (dev + pin - 1) % 4;
                map.extend_from_slice(&[dev << 11, 0, 0, pin, 0x8005, 0, 0, 0, spi, 4]);
            }
        }
        (be(&map), be(&[0x1800, 0, 0, 7]))
    }

    fn gic(phandle: u32) -> Option<(usize, usize)> {
        (phandle == 0x8005).then_some((2, 3))
    }

    #[test]
    fn swizzle_table() {
        // PCI-to-PCI bridge spec table 9-1: device 1's INTA is INTB upstream.
        assert_eq!(Pin::A.swizzle(0), Pin::A);
        assert_eq!(Pin::A.swizzle(1), Pin::B);
        assert_eq!(Pin::D.swizzle(1), Pin::A);
        assert_eq!(Pin::C.swizzle(6), Pin::A);
        assert_eq!(Pin::from_register(0), None);
        assert_eq!(Pin::from_register(2), Some(Pin::B));
    }

    #[test]
    fn virt_interrupt_map_is_the_swizzle() {
        let (map, mask) = virt_map();
        for dev in 0..32u8 {
            for pin in [Pin::A, Pin::B, Pin::C, Pin::D] {
                let bdf = Bdf::new(0, dev, 0).unwrap();
                let r = route(&map, &mask, bdf, pin, gic).unwrap().unwrap();
                assert_eq!(r.parent, 0x8005);
                // The map implements the swizzle onto INTA..INTD = SPI 3..6.
                let spi = 3 + (pin.swizzle(dev) as u32 - 1);
                assert_eq!(r.specifier(), &[0, spi, 4], "dev {dev} pin {pin:?}");
            }
        }
    }

    #[test]
    fn map_errors_are_named() {
        let (map, mask) = virt_map();
        let bdf = Bdf::new(0, 1, 0).unwrap();
        assert_eq!(
            route(&map, &mask, bdf, Pin::A, |_| None),
            Err(MapError::UnknownParent { phandle: 0x8005 })
        );
        assert_eq!(
            route(&map[..36], &mask, bdf, Pin::B, gic),
            Err(MapError::Truncated)
        );
        assert_eq!(
            route(&map, &mask[..12], bdf, Pin::A, gic),
            Err(MapError::BadMask)
        );
        assert_eq!(route(&[], &mask, bdf, Pin::A, gic), Ok(None));
    }
}
