//! `addr`: virtual and physical addresses, pages and half-open ranges: the one
//! address vocabulary that `mm`, `drivers`, `boards` and the kernel share
//! (`mm` re-exports it as `mm::addr`).
//! Arm ARM D8.1-D8.2 (VMSAv8-64 address spaces): 48-bit VAs split between TTBR0 (low) and
//! TTBR1 (high) halves, 4 KiB translation granule, output addresses up to 48 bits.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

use core::fmt;

/// log2 of the translation granule (4 KiB).
pub const PAGE_SHIFT: u32 = 12;
/// Size of a page / translation granule in bytes.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Width of a virtual address in one half of the address space (TCR_ELx.TnSZ = 16).
pub const VA_BITS: u32 = 48;
/// Widest output address this crate writes into a descriptor (OA\[47:12\]).
pub const PA_BITS: u32 = 48;

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(u64);

        impl $name {
            /// The address `raw`.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }
            /// The address as a number.
            pub const fn as_u64(self) -> u64 {
                self.0
            }
            /// Whether the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }
            /// Rounded down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                Self(self.0 & !(align - 1))
            }
            /// Rounded up to a multiple of `align` (a power of two), `None` on overflow.
            pub const fn align_up(self, align: u64) -> Option<Self> {
                match self.0.checked_add(align - 1) {
                    Some(v) => Some(Self(v & !(align - 1))),
                    None => None,
                }
            }
            /// `self + bytes`, `None` on overflow.
            pub const fn checked_add(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// `self + bytes`; the caller knows it cannot overflow.
            pub const fn add(self, bytes: u64) -> Self {
                Self(self.0 + bytes)
            }
            /// Byte offset within its 4 KiB page.
            pub const fn page_offset(self) -> u64 {
                self.0 & (PAGE_SIZE - 1)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }
    };
}

address_type!(
    /// A virtual address (one of the two 48-bit halves of the 64-bit space).
    VirtAddr
);
address_type!(
    /// A physical (output) address.
    PhysAddr
);

macro_rules! range_type {
    ($(#[$doc:meta])* $name:ident, $addr:ident) => {
        $(#[$doc])*
        #[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name {
            /// First address in the range.
            pub start: $addr,
            /// One past the last address in the range.
            pub end: $addr,
        }

        impl $name {
            /// `[start, end)`. Not validated: operations that take a range check it.
            pub const fn new(start: $addr, end: $addr) -> Self {
                Self { start, end }
            }
            /// `[start, start + len)`, `None` on overflow.
            pub const fn from_start_len(start: $addr, len: u64) -> Option<Self> {
                match start.checked_add(len) {
                    Some(end) => Some(Self { start, end }),
                    None => None,
                }
            }
            /// `[base, base + size)` where an overflow is a bug, not an input:
            /// board tables, linker-script extents. Panics if the end would
            /// wrap (in a `const` or `static` initialiser, a build error);
            /// [`from_start_len`](Self::from_start_len) is the checked form.
            pub const fn from_base_size(base: $addr, size: u64) -> Self {
                match base.checked_add(size) {
                    Some(end) => Self { start: base, end },
                    None => panic!("range end wraps past the 64-bit address space"),
                }
            }
            /// Length in bytes (0 for an empty or backwards range).
            pub const fn len(&self) -> u64 {
                self.end.0.saturating_sub(self.start.0)
            }
            /// Whether the range holds no address.
            pub const fn is_empty(&self) -> bool {
                self.end.0 <= self.start.0
            }
            /// Whether `addr` lies in the range.
            pub const fn contains(&self, addr: $addr) -> bool {
                self.start.0 <= addr.0 && addr.0 < self.end.0
            }
            /// Whether the two ranges share at least one address.
            pub const fn overlaps(&self, other: &Self) -> bool {
                self.start.0 < other.end.0 && other.start.0 < self.end.0
            }
            /// Whether both ends are multiples of `align`.
            pub const fn is_aligned(&self, align: u64) -> bool {
                self.start.is_aligned(align) && self.end.is_aligned(align)
            }
            /// The addresses both ranges hold (empty, at `self.start`, if
            /// they share none).
            pub const fn intersect(&self, other: &Self) -> Self {
                let start = if self.start.0 > other.start.0 { self.start } else { other.start };
                let end = if self.end.0 < other.end.0 { self.end } else { other.end };
                if start.0 < end.0 {
                    Self { start, end }
                } else {
                    Self { start: self.start, end: self.start }
                }
            }
            /// Whether every address of `other` lies in the range (an empty
            /// `other` does).
            pub const fn contains_range(&self, other: &Self) -> bool {
                other.is_empty() || (self.start.0 <= other.start.0 && other.end.0 <= self.end.0)
            }
            /// The smallest range of whole `align` blocks holding this one
            /// (start rounded down, end up); `None` if the end would wrap.
            pub const fn align_outwards(&self, align: u64) -> Option<Self> {
                match self.end.align_up(align) {
                    Some(end) => Some(Self { start: self.start.align_down(align), end }),
                    None => None,
                }
            }
            /// Number of 4 KiB pages the range spans (ends rounded outwards).
            pub const fn pages(&self) -> u64 {
                if self.is_empty() {
                    return 0;
                }
                let first = self.start.0 >> PAGE_SHIFT;
                let last = (self.end.0 - 1) >> PAGE_SHIFT;
                last - first + 1
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "[{:#x}, {:#x})", self.start.0, self.end.0)
            }
        }
    };
}

range_type!(
    /// A half-open range of virtual addresses.
    VaRange,
    VirtAddr
);
range_type!(
    /// A half-open range of physical addresses.
    PhysRange,
    PhysAddr
);

// defmt's macros take the format string as a literal: one impl per type, in
// the same shapes as `Debug`.
#[cfg(feature = "defmt")]
impl defmt::Format for VirtAddr {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "VirtAddr({=u64:#x})", self.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PhysAddr {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "PhysAddr({=u64:#x})", self.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for VaRange {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "[{=u64:#x}, {=u64:#x})", self.start.0, self.end.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PhysRange {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "[{=u64:#x}, {=u64:#x})", self.start.0, self.end.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_algebra() {
        let r = |a: u64, b: u64| VaRange::new(VirtAddr::new(a), VirtAddr::new(b));
        assert_eq!(
            r(0x1000, 0x5000).intersect(&r(0x3000, 0x8000)),
            r(0x3000, 0x5000)
        );
        assert_eq!(
            r(0x3000, 0x8000).intersect(&r(0x1000, 0x5000)),
            r(0x3000, 0x5000)
        );
        assert_eq!(
            r(0x1000, 0x5000).intersect(&r(0x2000, 0x3000)),
            r(0x2000, 0x3000)
        );
        assert!(r(0x1000, 0x2000).intersect(&r(0x2000, 0x3000)).is_empty());
        assert!(r(0x1000, 0x5000).contains_range(&r(0x1000, 0x5000)));
        assert!(r(0x1000, 0x5000).contains_range(&r(0x9000, 0x9000)));
        assert!(!r(0x1000, 0x5000).contains_range(&r(0x4000, 0x6000)));
        assert!(!r(0x1000, 0x5000).contains_range(&r(0x0, 0x2000)));
        assert_eq!(
            r(0x1234, 0x2001).align_outwards(0x1000),
            Some(r(0x1000, 0x3000))
        );
        assert_eq!(
            r(0x1000, 0x2000).align_outwards(0x1000),
            Some(r(0x1000, 0x2000))
        );
        assert_eq!(r(0x1000, u64::MAX).align_outwards(0x1000), None);
    }

    #[test]
    fn alignment_helpers() {
        let a = VirtAddr::new(0x1234);
        assert_eq!(a.align_down(PAGE_SIZE), VirtAddr::new(0x1000));
        assert_eq!(a.align_up(PAGE_SIZE), Some(VirtAddr::new(0x2000)));
        assert_eq!(VirtAddr::new(u64::MAX).align_up(PAGE_SIZE), None);
        assert!(!a.is_aligned(PAGE_SIZE));
        assert_eq!(a.page_offset(), 0x234);
    }

    #[test]
    fn range_helpers() {
        let r = VaRange::new(VirtAddr::new(0x1800), VirtAddr::new(0x3001));
        assert_eq!(r.pages(), 3);
        assert!(r.contains(VirtAddr::new(0x3000)));
        assert!(!r.contains(VirtAddr::new(0x3001)));
        let s = VaRange::new(VirtAddr::new(0x3001), VirtAddr::new(0x4000));
        assert!(!r.overlaps(&s));
        assert!(VaRange::new(VirtAddr::new(5), VirtAddr::new(1)).is_empty());
        assert_eq!(PhysRange::from_start_len(PhysAddr::new(u64::MAX), 2), None);
        assert_eq!(format!("{:?}", PhysAddr::new(0x40)), "PhysAddr(0x40)");
    }

    #[test]
    fn from_base_size_in_constants() {
        const UART: PhysRange = PhysRange::from_base_size(PhysAddr::new(0x0900_0000), 0x1000);
        assert_eq!(
            UART,
            PhysRange::new(PhysAddr::new(0x0900_0000), PhysAddr::new(0x0900_1000))
        );
        assert_eq!(UART.len(), 0x1000);
        assert_eq!(
            Some(UART),
            PhysRange::from_start_len(PhysAddr::new(0x0900_0000), 0x1000)
        );
        let empty = PhysRange::from_base_size(PhysAddr::new(u64::MAX), 0);
        assert!(empty.is_empty());
    }

    #[test]
    #[should_panic(expected = "wraps")]
    fn from_base_size_refuses_a_wrapping_end() {
        let _ = PhysRange::from_base_size(PhysAddr::new(u64::MAX), 2);
    }
}
