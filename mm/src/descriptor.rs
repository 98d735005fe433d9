//! VMSAv8-64 stage 1 translation table descriptors, 4 KiB granule, levels 0-3.
//! Arm ARM (DDI 0487) D8.3 "Translation table descriptor formats" and D8.4 "Memory access
//! control" (AP, PXN/UXN, hierarchical APTable/PXNTable/UXNTable), D8.16 (break-before-make).

use crate::addr::PhysAddr;
use tock_registers::{fields::FieldValue, register_bitfields, LocalRegisterCopy};

register_bitfields![u64,
    /// Every field of a stage 1 descriptor (table, block and page formats share a word).
    pub DESCRIPTOR [
        /// Bit 0: the descriptor is valid.
        VALID OFFSET(0) NUMBITS(1) [],
        /// Bit 1: 1 = table (levels 0-2) or page (level 3); 0 = block (levels 1-2).
        TYPE OFFSET(1) NUMBITS(1) [Block = 0, TableOrPage = 1],
        /// Lower attributes: index into MAIR_EL1.
        ATTR_INDX OFFSET(2) NUMBITS(3) [],
        /// Non-secure output address (ignored in the Non-secure state).
        NS OFFSET(5) NUMBITS(1) [],
        /// AP[2:1]: AP[1] = EL0 access, AP[2] = read-only.
        AP OFFSET(6) NUMBITS(2) [PrivRw = 0b00, Rw = 0b01, PrivRo = 0b10, Ro = 0b11],
        /// Shareability of Normal memory.
        SH OFFSET(8) NUMBITS(2) [Non = 0b00, Outer = 0b10, Inner = 0b11],
        /// Access flag: 0 faults on first access (no hardware AF management here).
        AF OFFSET(10) NUMBITS(1) [],
        /// not-Global: the TLB entry is tagged with the current ASID.
        NG OFFSET(11) NUMBITS(1) [],
        /// Output address bits [47:12] (next-level table, block or page).
        OUTPUT_ADDR OFFSET(12) NUMBITS(36) [],
        /// Dirty bit modifier (unused: no hardware dirty state).
        DBM OFFSET(51) NUMBITS(1) [],
        /// Contiguous hint: one of 16 adjacent entries with identical attributes.
        CONTIGUOUS OFFSET(52) NUMBITS(1) [],
        /// Privileged execute-never.
        PXN OFFSET(53) NUMBITS(1) [],
        /// Unprivileged execute-never.
        UXN OFFSET(54) NUMBITS(1) [],
        /// Software use, ignored by the walker.
        SW OFFSET(55) NUMBITS(4) [],
        /// Table descriptors: privileged execute-never for everything below.
        PXN_TABLE OFFSET(59) NUMBITS(1) [],
        /// Table descriptors: unprivileged execute-never for everything below.
        UXN_TABLE OFFSET(60) NUMBITS(1) [],
        /// Table descriptors: APTable limits on everything below.
        AP_TABLE OFFSET(61) NUMBITS(2) [NoEffect = 0b00, NoEl0 = 0b01, NoWrite = 0b10, NoWriteNoEl0 = 0b11],
        /// Table descriptors: Non-secure table (ignored in the Non-secure state).
        NS_TABLE OFFSET(63) NUMBITS(1) []
    ]
];

/// Bits of a field value, usable in `const` context.
const fn v(f: FieldValue<u64, DESCRIPTOR::Register>) -> u64 {
    f.value
}

/// Output-address bits [47:12].
pub const OA_MASK: u64 = v(DESCRIPTOR::OUTPUT_ADDR::SET);
/// Every attribute bit of a block/page descriptor (everything but VALID, TYPE and the OA).
pub const LEAF_ATTR_MASK: u64 = !(OA_MASK | v(DESCRIPTOR::VALID::SET) | v(DESCRIPTOR::TYPE::SET));
/// Bits of a live block/page that may change without break-before-make (D8.16.1): the
/// permissions, the access flag, DBM and the software bits. Everything else (OA, size,
/// AttrIndx, SH, nG, contiguous) needs break-before-make.
pub const BBM_FREE_MASK: u64 = v(DESCRIPTOR::AP::SET)
    | v(DESCRIPTOR::PXN::SET)
    | v(DESCRIPTOR::UXN::SET)
    | v(DESCRIPTOR::AF::SET)
    | v(DESCRIPTOR::DBM::SET)
    | v(DESCRIPTOR::SW::SET);
/// Software bit 55: the mapping owns its output frames; unmap hands them to the gather.
pub const SW_OWNED: u64 = 1 << 55;

/// A level of the 4 KiB-granule walk: L0 (512 GiB entries) to L3 (4 KiB pages).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Root level: 512 GiB per entry, tables only.
    L0 = 0,
    /// 1 GiB per entry: table or block.
    L1 = 1,
    /// 2 MiB per entry: table or block.
    L2 = 2,
    /// 4 KiB per entry: pages.
    L3 = 3,
}

impl Level {
    /// All levels, root first.
    pub const ALL: [Level; 4] = [Level::L0, Level::L1, Level::L2, Level::L3];

    /// The level numbered `n` (0-3).
    pub const fn from_index(n: u8) -> Option<Level> {
        match n {
            0 => Some(Level::L0),
            1 => Some(Level::L1),
            2 => Some(Level::L2),
            3 => Some(Level::L3),
            _ => None,
        }
    }
    /// Bit position of the lowest VA bit that indexes this level.
    pub const fn shift(self) -> u32 {
        39 - 9 * self as u32
    }
    /// Bytes mapped by one entry of this level.
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }
    /// Index of the entry for table offset `off` in a table of this level.
    pub const fn index(self, off: u64) -> usize {
        ((off >> self.shift()) & 511) as usize
    }
    /// The level below, `None` at L3.
    pub const fn next(self) -> Option<Level> {
        Level::from_index(self as u8 + 1)
    }
    /// Whether a block or page descriptor may sit at this level (L1, L2 blocks; L3 pages).
    pub const fn holds_leaves(self) -> bool {
        !matches!(self, Level::L0)
    }
}

/// Index into MAIR_EL1 (AttrIndx, 0-7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttrIndex(u8);

impl AttrIndex {
    /// The index `n`, `None` above 7.
    pub const fn new(n: u8) -> Option<Self> {
        if n < 8 {
            Some(Self(n))
        } else {
            None
        }
    }
    /// The index as a number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Data access permissions AP[2:1] (D8.4.1.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ap {
    /// EL1 read/write, no EL0 access.
    PrivRw,
    /// EL1 and EL0 read/write.
    Rw,
    /// EL1 read-only, no EL0 access.
    PrivRo,
    /// EL1 and EL0 read-only.
    Ro,
}

/// Shareability (SH[1:0]) of Normal memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Shareability {
    /// Non-shareable.
    Non,
    /// Outer Shareable.
    Outer,
    /// Inner Shareable.
    Inner,
}

/// Hierarchical data access limits of a table descriptor (APTable).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ApTable {
    /// No limit.
    NoEffect,
    /// No EL0 access below.
    NoEl0,
    /// No write access below.
    NoWrite,
    /// Neither EL0 access nor writes below.
    NoWriteNoEl0,
}

/// Attributes of a block or page descriptor, field by field.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeafAttrs {
    /// MAIR index of the memory type.
    pub attr_index: AttrIndex,
    /// Data access permissions.
    pub ap: Ap,
    /// Shareability.
    pub sh: Shareability,
    /// Access flag.
    pub af: bool,
    /// not-Global (ASID-tagged).
    pub ng: bool,
    /// Privileged execute-never.
    pub pxn: bool,
    /// Unprivileged execute-never.
    pub uxn: bool,
    /// Contiguous hint.
    pub contiguous: bool,
    /// Software bits [58:55] as a 4-bit number.
    pub sw: u8,
}

/// Hierarchical attributes of a table descriptor.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TableAttrs {
    /// PXNTable.
    pub pxn_table: bool,
    /// UXNTable (XNTable).
    pub uxn_table: bool,
    /// APTable.
    pub ap_table: ApTable,
}

impl Default for ApTable {
    fn default() -> Self {
        ApTable::NoEffect
    }
}

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
    /// OA[47:12] as an address (a table, block or page base).
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

impl LeafAttrs {
    /// The attribute bits of a leaf descriptor with these fields.
    pub fn bits(self) -> u64 {
        let mut r = Reg::new(0);
        r.modify(
            DESCRIPTOR::ATTR_INDX.val(self.attr_index.0 as u64)
                + match self.ap {
                    Ap::PrivRw => DESCRIPTOR::AP::PrivRw,
                    Ap::Rw => DESCRIPTOR::AP::Rw,
                    Ap::PrivRo => DESCRIPTOR::AP::PrivRo,
                    Ap::Ro => DESCRIPTOR::AP::Ro,
                }
                + match self.sh {
                    Shareability::Non => DESCRIPTOR::SH::Non,
                    Shareability::Outer => DESCRIPTOR::SH::Outer,
                    Shareability::Inner => DESCRIPTOR::SH::Inner,
                }
                + DESCRIPTOR::AF.val(self.af as u64)
                + DESCRIPTOR::NG.val(self.ng as u64)
                + DESCRIPTOR::PXN.val(self.pxn as u64)
                + DESCRIPTOR::UXN.val(self.uxn as u64)
                + DESCRIPTOR::CONTIGUOUS.val(self.contiguous as u64)
                + DESCRIPTOR::SW.val((self.sw & 0xf) as u64),
        );
        r.get()
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
        let want = 0b11 | 2 << 2 | 0b10 << 6 | 0b11 << 8 | 1 << 10 | 1 << 11
            | 0x8_1234_5000 | 1 << 52 | 1 << 53 | 0b1010 << 55;
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
        assert_eq!(d2.kind(Level::L2), DescriptorKind::Block(PhysAddr::new(0x20_0000)));
        assert!(Descriptor::new_leaf(Level::L2, PhysAddr::new(0x1000), attrs(0)).is_none());
        assert!(Descriptor::new_leaf(Level::L0, PhysAddr::new(0), attrs(0)).is_none());
        assert!(Descriptor::new_leaf(Level::L3, PhysAddr::new(1 << 48), attrs(0)).is_none());
    }

    #[test]
    fn table_round_trip() {
        let next = PhysAddr::new(0x4000_3000);
        for ap_table in [ApTable::NoEffect, ApTable::NoEl0, ApTable::NoWrite, ApTable::NoWriteNoEl0]
        {
            let ta = TableAttrs { pxn_table: true, uxn_table: false, ap_table };
            let d = Descriptor::new_table(next, ta);
            assert_eq!(d.kind(Level::L1), DescriptorKind::Table(next));
            assert_eq!(d.table_attrs(), ta);
            assert!(d.is_table(Level::L0));
            assert!(!d.is_table(Level::L3));
        }
        let d = Descriptor::new_table(next, TableAttrs { pxn_table: true, ..Default::default() });
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
        assert_eq!(Descriptor::from_bits(0x1001).kind(Level::L3), DescriptorKind::Reserved);
        assert_eq!(Descriptor::from_bits(0x1001).kind(Level::L0), DescriptorKind::Reserved);
        assert_eq!(Descriptor::from_bits(0x1002).kind(Level::L2), DescriptorKind::Invalid);
    }

    #[test]
    fn break_before_make_rules() {
        let base = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x1000), attrs(0)).unwrap();
        let ro_to_rw = LeafAttrs { ap: Ap::PrivRw, pxn: false, ..attrs(3) };
        let perm = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x1000), ro_to_rw).unwrap();
        assert!(!base.needs_break_before_make(perm));
        let moved = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x2000), attrs(0)).unwrap();
        assert!(base.needs_break_before_make(moved));
        let memtype = LeafAttrs { attr_index: AttrIndex::new(0).unwrap(), ..attrs(0) };
        let retyped = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x1000), memtype).unwrap();
        assert!(base.needs_break_before_make(retyped));
        let global = LeafAttrs { ng: false, ..attrs(0) };
        let regl = Descriptor::new_leaf(Level::L3, PhysAddr::new(0x1000), global).unwrap();
        assert!(base.needs_break_before_make(regl));
        assert!(!Descriptor::INVALID.needs_break_before_make(base));
    }

    #[test]
    fn level_geometry() {
        assert_eq!(Level::L1.size(), 1 << 30);
        assert_eq!(Level::L2.size(), 2 << 20);
        assert_eq!(Level::L3.index(0x1234_5678_9000), 0x89);
        assert_eq!(Level::L0.index(0xFFFF_FFFF_FFFF), 511);
        assert_eq!(Level::L3.next(), None);
    }
}
