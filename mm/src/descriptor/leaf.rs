//! Typed views of the attribute fields: MAIR index, AP, SH, XN bits and software bits of a
//! block/page descriptor, and the hierarchical attributes of a table descriptor.
//! Arm ARM (DDI 0487) D8.3 (attribute fields), D8.4.1 (AP, APTable), D8.4.2 (PXN/UXN).

use super::fields::DESCRIPTOR;
use tock_registers::LocalRegisterCopy;

/// Index into MAIR_EL1 (AttrIndx, 0-7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttrIndex(pub(super) u8);

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

/// Data access permissions AP\[2:1\] (D8.4.1.2).
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

/// Shareability (SH\[1:0\]) of Normal memory.
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
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum ApTable {
    /// No limit.
    #[default]
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
    /// Software bits \[58:55\] as a 4-bit number.
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

impl LeafAttrs {
    /// The attribute bits of a leaf descriptor with these fields.
    pub fn bits(self) -> u64 {
        let mut r = LocalRegisterCopy::<u64, DESCRIPTOR::Register>::new(0);
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
