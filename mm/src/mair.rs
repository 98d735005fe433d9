//! The MAIR_EL1 layout this crate's descriptors index into, and the value the kernel programs.
//! Arm ARM (DDI 0487) D19.2 "MAIR_EL1" and B2.8 "Memory types and attributes": Attr<n> byte
//! encodings for Normal (outer [7:4], inner [3:0]) and Device (0b0000_dd00) memory.

use crate::descriptor::AttrIndex;
use tock_registers::{fields::FieldValue, register_bitfields};

register_bitfields![u8,
    /// One MAIR_EL1 Attr<n> byte.
    pub MAIR_ATTR [
        /// Normal memory, inner cacheability (bits [3:0]).
        NORMAL_INNER OFFSET(0) NUMBITS(4) [
            NonCacheable = 0b0100,
            WriteBackNonTransientReadWriteAlloc = 0b1111
        ],
        /// Normal memory, outer cacheability (bits [7:4]); 0b0000 means Device memory.
        NORMAL_OUTER OFFSET(4) NUMBITS(4) [
            Device = 0b0000,
            NonCacheable = 0b0100,
            WriteBackNonTransientReadWriteAlloc = 0b1111
        ],
        /// Device memory type (bits [3:2], with bits [7:4] zero).
        DEVICE OFFSET(2) NUMBITS(2) [nGnRnE = 0b00, nGnRE = 0b01, nGRE = 0b10, GRE = 0b11]
    ]
];

const fn byte(f: FieldValue<u8, MAIR_ATTR::Register>) -> u8 {
    f.value
}

/// Memory types of this crate's MAIR layout.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemoryType {
    /// Normal, inner and outer write-back, read/write-allocate, non-transient (index 0).
    Normal,
    /// Normal, inner and outer non-cacheable (index 1).
    NormalNonCacheable,
    /// Device-nGnRE (index 2): MMIO.
    Device,
}

/// Attr0: Normal write-back RA/WA, inner and outer.
pub const ATTR_NORMAL_WB: u8 = byte(MAIR_ATTR::NORMAL_OUTER::WriteBackNonTransientReadWriteAlloc)
    | byte(MAIR_ATTR::NORMAL_INNER::WriteBackNonTransientReadWriteAlloc);
/// Attr1: Normal non-cacheable, inner and outer.
pub const ATTR_NORMAL_NC: u8 =
    byte(MAIR_ATTR::NORMAL_OUTER::NonCacheable) | byte(MAIR_ATTR::NORMAL_INNER::NonCacheable);
/// Attr2: Device-nGnRE.
pub const ATTR_DEVICE_NGNRE: u8 = byte(MAIR_ATTR::NORMAL_OUTER::Device) | byte(MAIR_ATTR::DEVICE::nGnRE);

/// The value the kernel must write to MAIR_EL1 before turning the MMU on.
pub const MAIR_EL1_VALUE: u64 = (ATTR_NORMAL_WB as u64)
    << (8 * MemoryType::Normal.index())
    | (ATTR_NORMAL_NC as u64) << (8 * MemoryType::NormalNonCacheable.index())
    | (ATTR_DEVICE_NGNRE as u64) << (8 * MemoryType::Device.index());

impl MemoryType {
    const fn index(self) -> u8 {
        match self {
            MemoryType::Normal => 0,
            MemoryType::NormalNonCacheable => 1,
            MemoryType::Device => 2,
        }
    }
    /// The AttrIndx a descriptor of this type carries.
    pub const fn attr_index(self) -> AttrIndex {
        match AttrIndex::new(self.index()) {
            Some(i) => i,
            None => unreachable!(),
        }
    }
    /// The memory type an AttrIndx selects in this layout, `None` for unused slots.
    pub const fn from_attr_index(index: AttrIndex) -> Option<Self> {
        match index.get() {
            0 => Some(MemoryType::Normal),
            1 => Some(MemoryType::NormalNonCacheable),
            2 => Some(MemoryType::Device),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mair_value_matches_arm_arm_encodings() {
        // Attr0 = 0xFF (WB RA/WA inner+outer), Attr1 = 0x44 (NC), Attr2 = 0x04 (nGnRE).
        assert_eq!(MAIR_EL1_VALUE, 0x04_44_FF);
    }

    #[test]
    fn attr_index_round_trip() {
        for t in [MemoryType::Normal, MemoryType::NormalNonCacheable, MemoryType::Device] {
            assert_eq!(MemoryType::from_attr_index(t.attr_index()), Some(t));
        }
        assert_eq!(MemoryType::from_attr_index(AttrIndex::new(7).unwrap()), None);
    }
}
