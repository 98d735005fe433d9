//! The Xt operands of the by-VA TLBI instructions, built and decoded as pure functions.
//! Arm ARM (DDI 0487) C5.5 "TLBI VAE1IS, VALE1IS" (ASID[63:48], TTL[47:44], VA[55:12]) and
//! "TLBI RVAE1IS, RVALE1IS" (ASID, TG, SCALE, NUM, TTL, BaseADDR), D8.13.5 (TTL hints).

use super::Asid;
use crate::addr::{VirtAddr, PAGE_SHIFT};
use crate::descriptor::Level;
use tock_registers::{register_bitfields, LocalRegisterCopy};

register_bitfields![u64,
    /// Operand of TLBI VAE1IS / VALE1IS.
    pub TLBI_VA [
        /// VA[55:12].
        VA OFFSET(0) NUMBITS(44) [],
        /// Translation table level hint (FEAT_TTL), 0 = no hint.
        TTL OFFSET(44) NUMBITS(4) [],
        /// ASID.
        ASID OFFSET(48) NUMBITS(16) []
    ],
    /// Operand of TLBI RVAE1IS / RVALE1IS.
    pub TLBI_RANGE [
        /// BaseADDR: VA[48:12] for the 4 KiB granule.
        BASE_ADDR OFFSET(0) NUMBITS(37) [],
        /// Level of the leaf entries, 0 = any.
        TTL OFFSET(37) NUMBITS(2) [],
        /// NUM: the range is (NUM + 1) * 2^(5 * SCALE + 1) pages.
        NUM OFFSET(39) NUMBITS(5) [],
        /// SCALE.
        SCALE OFFSET(44) NUMBITS(2) [],
        /// Translation granule.
        TG OFFSET(46) NUMBITS(2) [Granule4K = 0b01, Granule16K = 0b10, Granule64K = 0b11],
        /// ASID.
        ASID OFFSET(48) NUMBITS(16) []
    ]
];

/// TTL[3:2] = 0b01 selects the 4 KiB granule; TTL[1:0] is the level (1-3).
const TTL_4K: u64 = 0b0100;

fn sign_extend(value: u64, top_bit: u32) -> u64 {
    let shift = 63 - top_bit;
    (((value << shift) as i64) >> shift) as u64
}

/// The Xt operand of `TLBI VAE1IS`/`VALE1IS`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct VaOperand(u64);

impl VaOperand {
    /// Operand for `va` (any address in the page) in `asid`, with level hint `ttl` (only pass
    /// one when FEAT_TTL is present; L0 carries no hint with the 4 KiB granule).
    pub fn new(asid: Asid, va: VirtAddr, ttl: Option<Level>) -> Self {
        let ttl = match ttl {
            Some(Level::L0) | None => 0,
            Some(l) => TTL_4K | l as u64,
        };
        let mut r = LocalRegisterCopy::<u64, TLBI_VA::Register>::new(0);
        r.write(
            TLBI_VA::VA.val(va.as_u64() >> PAGE_SHIFT)
                + TLBI_VA::TTL.val(ttl)
                + TLBI_VA::ASID.val(asid.get() as u64),
        );
        Self(r.get())
    }
    /// The raw operand for the instruction.
    pub const fn bits(self) -> u64 {
        self.0
    }
    /// The ASID field.
    pub fn asid(self) -> Asid {
        Asid::new(LocalRegisterCopy::<u64, TLBI_VA::Register>::new(self.0).read(TLBI_VA::ASID) as u16)
    }
    /// The page base the operand names (VA[55:12], upper bits copied from bit 55).
    pub fn va(self) -> VirtAddr {
        let page = LocalRegisterCopy::<u64, TLBI_VA::Register>::new(self.0).read(TLBI_VA::VA);
        VirtAddr::new(sign_extend(page << PAGE_SHIFT, 55))
    }
    /// The level hint, if any.
    pub fn ttl(self) -> Option<Level> {
        let ttl = LocalRegisterCopy::<u64, TLBI_VA::Register>::new(self.0).read(TLBI_VA::TTL);
        if ttl & 0b1100 != TTL_4K {
            return None;
        }
        Level::from_index((ttl & 0b11) as u8).filter(|l| *l != Level::L0)
    }
}

/// The Xt operand of `TLBI RVAE1IS`/`RVALE1IS` (4 KiB granule).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct RangeOperand(u64);

impl RangeOperand {
    /// Pages covered by one operation with this `scale` and `num`.
    pub const fn pages_for(scale: u8, num: u8) -> u64 {
        (num as u64 + 1) << (5 * scale as u32 + 1)
    }

    /// Operand for `(num + 1) * 2^(5 * scale + 1)` pages from the page `base` in `asid`;
    /// `ttl` is the level of every leaf entry in the range, if known. `None` if `scale > 3`,
    /// `num > 31` or `base` is not page aligned.
    pub fn new(asid: Asid, base: VirtAddr, scale: u8, num: u8, ttl: Option<Level>) -> Option<Self> {
        if scale > 3 || num > 31 || base.page_offset() != 0 {
            return None;
        }
        let ttl = match ttl {
            Some(Level::L0) | None => 0,
            Some(l) => l as u64,
        };
        let mut r = LocalRegisterCopy::<u64, TLBI_RANGE::Register>::new(0);
        r.write(
            TLBI_RANGE::BASE_ADDR.val((base.as_u64() >> PAGE_SHIFT) & ((1 << 37) - 1))
                + TLBI_RANGE::TTL.val(ttl)
                + TLBI_RANGE::NUM.val(num as u64)
                + TLBI_RANGE::SCALE.val(scale as u64)
                + TLBI_RANGE::TG::Granule4K
                + TLBI_RANGE::ASID.val(asid.get() as u64),
        );
        Some(Self(r.get()))
    }
    fn reg(self) -> LocalRegisterCopy<u64, TLBI_RANGE::Register> {
        LocalRegisterCopy::new(self.0)
    }
    /// The raw operand for the instruction.
    pub const fn bits(self) -> u64 {
        self.0
    }
    /// The ASID field.
    pub fn asid(self) -> Asid {
        Asid::new(self.reg().read(TLBI_RANGE::ASID) as u16)
    }
    /// First address of the range (VA[48:12], upper bits copied from bit 48).
    pub fn base(self) -> VirtAddr {
        VirtAddr::new(sign_extend(self.reg().read(TLBI_RANGE::BASE_ADDR) << PAGE_SHIFT, 48))
    }
    /// Pages in the range.
    pub fn pages(self) -> u64 {
        Self::pages_for(self.reg().read(TLBI_RANGE::SCALE) as u8, self.reg().read(TLBI_RANGE::NUM) as u8)
    }
    /// Whether TG names the 4 KiB granule (anything else is a bug in the encoder).
    pub fn granule_is_4k(self) -> bool {
        self.reg().matches_all(TLBI_RANGE::TG::Granule4K)
    }
    /// The leaf level hint, if any.
    pub fn ttl(self) -> Option<Level> {
        Level::from_index(self.reg().read(TLBI_RANGE::TTL) as u8).filter(|l| *l != Level::L0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn va_operand_hand_computed() {
        // ASID in [63:48], VA[55:12] in [43:0].
        let op = VaOperand::new(Asid::new(0x1234), VirtAddr::new(0x0000_7fff_dead_b123), None);
        assert_eq!(op.bits(), 0x1234_0007_fffd_eadb);
        // A TTBR1 address keeps VA[55:48] = 0xff in operand bits [43:36].
        let op = VaOperand::new(Asid::KERNEL, VirtAddr::new(0xffff_0000_1234_5000), None);
        assert_eq!(op.bits(), 0x0000_0ff0_0001_2345);
        assert_eq!(op.va(), VirtAddr::new(0xffff_0000_1234_5000));
        // TTL = 0b0111: 4 KiB granule, level 3, in [47:44].
        let op = VaOperand::new(Asid::new(1), VirtAddr::new(0xffff_0000_1234_5000), Some(Level::L3));
        assert_eq!(op.bits(), 0x0001_7ff0_0001_2345);
        assert_eq!(op.ttl(), Some(Level::L3));
        assert_eq!(op.asid(), Asid::new(1));
        let op = VaOperand::new(Asid::new(1), VirtAddr::new(0x20_0000), Some(Level::L2));
        assert_eq!(op.bits(), 0x0001_6000_0000_0200);
    }

    #[test]
    fn range_operand_hand_computed() {
        // ASID 5 [63:48], TG 0b01 [47:46], SCALE 1 [45:44], NUM 3 [43:39], TTL 3 [38:37],
        // BaseADDR 0x40000 [36:0]: (3 + 1) * 2^(5 + 1) = 256 pages from 0x4000_0000.
        let op = RangeOperand::new(Asid::new(5), VirtAddr::new(0x4000_0000), 1, 3, Some(Level::L3)).unwrap();
        assert_eq!(op.bits(), 0x0005_51e0_0004_0000);
        assert_eq!(op.pages(), 256);
        assert_eq!(op.base(), VirtAddr::new(0x4000_0000));
        assert_eq!(op.ttl(), Some(Level::L3));
        assert!(op.granule_is_4k());
        // Largest single operation: SCALE 3, NUM 31 = 2^21 pages (8 GiB).
        assert_eq!(RangeOperand::pages_for(3, 31), 1 << 21);
        assert_eq!(RangeOperand::pages_for(0, 0), 2);
        // TTBR1 base: VA[48:12] with bit 48 set.
        let op = RangeOperand::new(Asid::KERNEL, VirtAddr::new(0xffff_8000_0000_0000), 0, 0, None).unwrap();
        assert_eq!(op.bits(), 0x0000_4000_0000_0000 | 0x18_0000_0000);
        assert_eq!(op.base(), VirtAddr::new(0xffff_8000_0000_0000));
        assert!(RangeOperand::new(Asid::KERNEL, VirtAddr::new(0x1800), 0, 0, None).is_none());
        assert!(RangeOperand::new(Asid::KERNEL, VirtAddr::new(0), 4, 0, None).is_none());
    }
}
