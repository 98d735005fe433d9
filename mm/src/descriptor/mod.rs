//! VMSAv8-64 stage 1 translation table descriptors, 4 KiB granule, levels 0-3.
//! Arm ARM (DDI 0487) D8.3 "Translation table descriptor formats" and D8.4 "Memory access
//! control" (AP, PXN/UXN, hierarchical APTable/PXNTable/UXNTable), D8.16 (break-before-make).

mod fields;
mod leaf;
mod level;

pub use fields::{BBM_FREE_MASK, DESCRIPTOR, LEAF_ATTR_MASK, OA_MASK, SW_OWNED};
pub use leaf::{Ap, ApTable, AttrIndex, LeafAttrs, Shareability, TableAttrs};
pub use level::Level;

use crate::addr::PhysAddr;
use fields::v;
use tock_registers::LocalRegisterCopy;

/// What a descriptor is, given the level of the table that holds it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DescriptorKind {
    /// Bit 0 clear: no translation.
    Invalid,
    /// Points at the next-level table.
    Table(PhysAddr),
    /// A 1 GiB (L1) or 2 MiB (L2) block starting at this output address.
    Block(PhysAddr),
    /// A 4 KiB page (L3).
    Page(PhysAddr),
    /// Valid but architecturally reserved here (block at L0/L3 encoding).
    Reserved,
}

type Reg = LocalRegisterCopy<u64, DESCRIPTOR::Register>;

/// One 64-bit translation table entry.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Descriptor(u64);

impl core::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Descriptor({:#018x})", self.0)
    }
}

impl Descriptor {
    /// The invalid descriptor (all zeroes).
    pub const INVALID: Descriptor = Descriptor(0);
    const TABLE_BITS: u64 = v(DESCRIPTOR::VALID::SET) | v(DESCRIPTOR::TYPE::TableOrPage);
    const BLOCK_BITS: u64 = v(DESCRIPTOR::VALID::SET);
    /// AP\[2\] (bit 7): read-only.
    const AP_READ_ONLY: u64 = v(DESCRIPTOR::AP::PrivRo);

    /// The descriptor with these raw bits.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }
    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }
    /// Whether bit 0 is set.
    pub const fn is_valid(self) -> bool {
        self.0 & 1 != 0
    }
    /// Whether this is a table descriptor, for a table at `level` (levels 0-2).
    pub const fn is_table(self, level: Level) -> bool {
        !matches!(level, Level::L3) && self.0 & 0b11 == 0b11
    }
    /// Whether a leaf is global (nG clear).
    pub const fn is_global(self) -> bool {
        self.0 & v(DESCRIPTOR::NG::SET) == 0
    }
    /// Whether a leaf carries the [`SW_OWNED`] software bit.
    pub const fn is_owned(self) -> bool {
        self.0 & SW_OWNED != 0
    }
    /// Whether a block or page allows writes (AP\[2\] clear; a page with no access at all is
    /// encoded read-only, see [`Access::None`](crate::Access::None)).
    pub const fn is_writable(self) -> bool {
        self.0 & Self::AP_READ_ONLY == 0
    }
    /// The same block or page, read-only at every exception level (AP\[2\] set): a
    /// permission change only, which needs no break-before-make (D8.16.1).
    pub const fn read_only(self) -> Self {
        Self(self.0 | Self::AP_READ_ONLY)
    }
    /// The same block or page with output address `oa` (aligned to its size), every
    /// attribute kept.
    pub const fn with_output_address(self, oa: PhysAddr) -> Self {
        Self((self.0 & !OA_MASK) | (oa.as_u64() & OA_MASK))
    }
    /// OA\[47:12\] as an address (a table, block or page base).
    pub const fn output_address(self) -> PhysAddr {
        PhysAddr::new(self.0 & OA_MASK)
    }

    /// A table descriptor pointing at the 4 KiB-aligned table `next`.
    pub fn new_table(next: PhysAddr, attrs: TableAttrs) -> Self {
        debug_assert!(next.as_u64() & !OA_MASK == 0, "table address {next:?}");
        let mut r = Reg::new(Self::TABLE_BITS | next.as_u64());
        r.modify(
            DESCRIPTOR::PXN_TABLE.val(attrs.pxn_table as u64)
                + DESCRIPTOR::UXN_TABLE.val(attrs.uxn_table as u64)
                + match attrs.ap_table {
                    ApTable::NoEffect => DESCRIPTOR::AP_TABLE::NoEffect,
                    ApTable::NoEl0 => DESCRIPTOR::AP_TABLE::NoEl0,
                    ApTable::NoWrite => DESCRIPTOR::AP_TABLE::NoWrite,
                    ApTable::NoWriteNoEl0 => DESCRIPTOR::AP_TABLE::NoWriteNoEl0,
                },
        );
        Self(r.get())
    }

    /// A block (L1, L2) or page (L3) descriptor for `oa`; `None` if the level holds no leaves
    /// or `oa` is not aligned to the level's size or beyond 48 bits.
    pub fn new_leaf(level: Level, oa: PhysAddr, attrs: LeafAttrs) -> Option<Self> {
        if !level.holds_leaves() || !oa.is_aligned(level.size()) || oa.as_u64() & !OA_MASK != 0 {
            return None;
        }
        Some(Self(Self::leaf_bits(level, oa.as_u64(), attrs.bits())))
    }

    /// Raw leaf word from an output address and attribute bits (hot path; no checks).
    pub(crate) const fn leaf_bits(level: Level, oa: u64, attr_bits: u64) -> u64 {
        let ty = match level {
            Level::L3 => Self::TABLE_BITS,
            _ => Self::BLOCK_BITS,
        };
        ty | oa | attr_bits
    }

    /// What this descriptor is at `level`.
    pub const fn kind(self, level: Level) -> DescriptorKind {
        if !self.is_valid() {
            return DescriptorKind::Invalid;
        }
        let table_or_page = self.0 & 0b10 != 0;
        match (level, table_or_page) {
            (Level::L3, true) => DescriptorKind::Page(self.output_address()),
            (Level::L3, false) | (Level::L0, false) => DescriptorKind::Reserved,
            (_, true) => DescriptorKind::Table(self.output_address()),
            (_, false) => DescriptorKind::Block(self.output_address()),
        }
    }

    /// Attribute fields of a block or page descriptor.
    pub fn leaf_attrs(self) -> LeafAttrs {
        let r = Reg::new(self.0);
        LeafAttrs {
            attr_index: AttrIndex(r.read(DESCRIPTOR::ATTR_INDX) as u8),
            ap: match r.read_as_enum(DESCRIPTOR::AP) {
                Some(DESCRIPTOR::AP::Value::PrivRw) => Ap::PrivRw,
                Some(DESCRIPTOR::AP::Value::Rw) => Ap::Rw,
                Some(DESCRIPTOR::AP::Value::PrivRo) => Ap::PrivRo,
                _ => Ap::Ro,
            },
            sh: match r.read(DESCRIPTOR::SH) {
                0b10 => Shareability::Outer,
                0b11 => Shareability::Inner,
                _ => Shareability::Non,
            },
            af: r.is_set(DESCRIPTOR::AF),
            ng: r.is_set(DESCRIPTOR::NG),
            pxn: r.is_set(DESCRIPTOR::PXN),
            uxn: r.is_set(DESCRIPTOR::UXN),
            contiguous: r.is_set(DESCRIPTOR::CONTIGUOUS),
            sw: r.read(DESCRIPTOR::SW) as u8,
        }
    }

    /// Hierarchical attribute fields of a table descriptor.
    pub fn table_attrs(self) -> TableAttrs {
        let r = Reg::new(self.0);
        TableAttrs {
            pxn_table: r.is_set(DESCRIPTOR::PXN_TABLE),
            uxn_table: r.is_set(DESCRIPTOR::UXN_TABLE),
            ap_table: match r.read_as_enum(DESCRIPTOR::AP_TABLE) {
                Some(DESCRIPTOR::AP_TABLE::Value::NoEl0) => ApTable::NoEl0,
                Some(DESCRIPTOR::AP_TABLE::Value::NoWrite) => ApTable::NoWrite,
                Some(DESCRIPTOR::AP_TABLE::Value::NoWriteNoEl0) => ApTable::NoWriteNoEl0,
                _ => ApTable::NoEffect,
            },
        }
    }

    /// Whether replacing the live, valid `self` by `new` needs break-before-make (D8.16.1):
    /// a different output address or size, or a changed memory type, shareability, nG or
    /// contiguous bit. Permission, AF and software-bit changes do not.
    pub const fn needs_break_before_make(self, new: Descriptor) -> bool {
        if !self.is_valid() || !new.is_valid() {
            return false;
        }
        (self.0 ^ new.0) & !BBM_FREE_MASK != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(sw: u8) -> LeafAttrs {
        LeafAttrs {
            attr_index: AttrIndex::new(2).unwrap(),
            ap: Ap::PrivRo,
            sh: Shareability::Inner,
            af: true,
            ng: true,
            pxn: true,
            uxn: false,
            contiguous: true,
            sw,
        }
    }

    #[test]
    fn page_round_trip() {
        let pa = PhysAddr::new(0x8_1234_5000);
        let d = Descriptor::new_leaf(Level::L3, pa, attrs(0b1010)).unwrap();
        assert_eq!(d.kind(Level::L3), DescriptorKind::Page(pa));
        assert_eq!(d.leaf_attrs(), attrs(0b1010));
        // Hand-computed from D8.3: valid|page, AttrIndx=2 (bits 4:2), AP=0b10 (bits 7:6),
        // SH=0b11 (9:8), AF (10), nG (11), contiguous (52), PXN (53), SW=0b1010 (58:55).
        let want = 0b11
            | 2 << 2
            | 0b10 << 6
            | 0b11 << 8
            | 1 << 10
            | 1 << 11
            | 0x8_1234_5000
            | 1 << 52
            | 1 << 53
            | 0b1010 << 55;
        assert_eq!(d.bits(), want);
    }

    #[test]
    fn block_round_trip_and_alignment() {
        let pa = PhysAddr::new(0x4000_0000);
        let d = Descriptor::new_leaf(Level::L1, pa, attrs(0)).unwrap();
        assert_eq!(d.kind(Level::L1), DescriptorKind::Block(pa));
        assert_eq!(d.bits() & 0b11, 0b01);
        assert_eq!(d.leaf_attrs(), attrs(0));
        let d2 = Descriptor::new_leaf(Level::L2, PhysAddr::new(0x20_0000), attrs(1)).unwrap();
        assert_eq!(
            d2.kind(Level::L2),
            DescriptorKind::Block(PhysAddr::new(0x20_0000))
        );
        assert!(Descriptor::new_leaf(Level::L2, PhysAddr::new(0x1000), attrs(0)).is_none());
        assert!(Descriptor::new_leaf(Level::L0, PhysAddr::new(0), attrs(0)).is_none());
        assert!(Descriptor::new_leaf(Level::L3, PhysAddr::new(1 << 48), attrs(0)).is_none());
    }

    #[test]
    fn table_round_trip() {
        let next = PhysAddr::new(0x4000_3000);
        for ap_table in [
            ApTable::NoEffect,
            ApTable::NoEl0,
            ApTable::NoWrite,
            ApTable::NoWriteNoEl0,
        ] {
            let ta = TableAttrs {
                pxn_table: true,
                uxn_table: false,
                ap_table,
            };
            let d = Descriptor::new_table(next, ta);
            assert_eq!(d.kind(Level::L1), DescriptorKind::Table(next));
            assert_eq!(d.table_attrs(), ta);
            assert!(d.is_table(Level::L0));
            assert!(!d.is_table(Level::L3));
        }
        let d = Descriptor::new_table(
            next,
            TableAttrs {
                pxn_table: true,
                ..Default::default()
            },
        );
        assert_eq!(d.bits(), 0x4000_3003 | 1 << 59);
    }

    #[test]
    fn every_ap_round_trips() {
        for ap in [Ap::PrivRw, Ap::Rw, Ap::PrivRo, Ap::Ro] {
            let a = LeafAttrs { ap, ..attrs(0) };
            assert_eq!(Descriptor::from_bits(a.bits() | 3).leaf_attrs(), a);
        }
    }

    #[test]
    fn reserved_encodings() {
        assert_eq!(
            Descriptor::from_bits(0x1001).kind(Level::L3),
            DescriptorKind::Reserved
        );
        assert_eq!(
            Descriptor::from_bits(0x1001).kind(Level::L0),
            DescriptorKind::Reserved
        );
        assert_eq!(
            Descriptor::from_bits(0x1002).kind(Level::L2),
            DescriptorKind::Invalid
        );
    }

    #[test]
    fn break_before_make_rules() {
        let base = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x1000), attrs(0)).unwrap();
        let ro_to_rw = LeafAttrs {
            ap: Ap::PrivRw,
            pxn: false,
            ..attrs(3)
        };
        let perm = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x1000), ro_to_rw).unwrap();
        assert!(!base.needs_break_before_make(perm));
        let moved = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x2000), attrs(0)).unwrap();
        assert!(base.needs_break_before_make(moved));
        let memtype = LeafAttrs {
            attr_index: AttrIndex::new(0).unwrap(),
            ..attrs(0)
        };
        let retyped = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x1000), memtype).unwrap();
        assert!(base.needs_break_before_make(retyped));
        let global = LeafAttrs {
            ng: false,
            ..attrs(0)
        };
        let regl = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x1000), global).unwrap();
        assert!(base.needs_break_before_make(regl));
        assert!(!Descriptor::INVALID.needs_break_before_make(base));
    }

    #[test]
    fn level_geometry() {
        assert_eq!(Level::L1.size(), 1 << 30);
        assert_eq!(Level::L2.size(), 2 << 20);
        assert_eq!(Level::L3.index(0x1234_5678_9000), 0x189);
        assert_eq!(Level::L0.index(0xFFFF_FFFF_FFFF), 511);
        assert_eq!(Level::L3.next(), None);
    }
}
