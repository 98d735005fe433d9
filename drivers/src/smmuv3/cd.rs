//! Context descriptors (Arm IHI 0070 §5.4 "Context Descriptor"): the stage 1
//! translation regime of a stream, laid out like TCR_EL1/TTBR0_EL1/MAIR_EL1 so
//! the SMMU walks the very table the CPU walks (shared virtual addressing).
//! Only TTB0 is used (EPD1 = 1); the fields are copied from the CPU's TCR_EL1.
use super::ids::SmmuAsid;
use addr::PhysAddr;

/// Doublewords in a CD (64 bytes).
pub const CD_DWORDS: usize = 8;
/// Bytes in a CD.
pub const CD_BYTES: usize = 64;

/// The stage 1 regime of one address space, as the CPU runs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Stage1Context {
    /// Physical address of the level 0 table (TTBR0's BADDR).
    pub ttb0: PhysAddr,
    /// The ASID the SMMU tags this context's TLB entries with.
    pub asid: SmmuAsid,
    /// TCR_EL1.T0SZ: 16 for 48-bit VAs.
    pub t0sz: u8,
    /// TCR_EL1.TG0: 0b00 = 4 KiB granule.
    pub tg0: u8,
    /// TCR_EL1.IRGN0 / ORGN0: cacheability of table walks (0b01 = WB RA/WA).
    pub irgn0: u8,
    /// TCR_EL1.ORGN0: outer cacheability of table walks (0b01 = WB RA/WA).
    pub orgn0: u8,
    /// TCR_EL1.SH0: shareability of table walks (0b11 = inner).
    pub sh0: u8,
    /// Intermediate (output) physical address size, TCR_EL1.IPS encoding.
    pub ips: u8,
    /// MAIR_EL1: the descriptors' AttrIndx point into it.
    pub mair: u64,
}

impl Stage1Context {
    /// The TTB0-side fields of the CPU's `tcr_el1` (T0SZ, IRGN0, ORGN0, SH0,
    /// TG0, IPS; never EPD0, which the kernel sets while no user table is
    /// live), with IPS capped to the SMMU's output size `smmu_oas` (IDR5.OAS,
    /// same encoding).
    pub fn from_cpu(tcr_el1: u64, mair: u64, ttb0: PhysAddr, asid: SmmuAsid, smmu_oas: u8) -> Self {
        let field = |shift: u32, bits: u32| ((tcr_el1 >> shift) & ((1 << bits) - 1)) as u8;
        Self {
            ttb0,
            asid,
            t0sz: field(0, 6),
            tg0: field(14, 2),
            irgn0: field(8, 2),
            orgn0: field(10, 2),
            sh0: field(12, 2),
            ips: field(32, 3).min(smmu_oas),
            mair,
        }
    }

    /// Bits of physical address this context can output.
    pub const fn output_bits(&self) -> u32 {
        match self.ips {
            0 => 32,
            1 => 36,
            2 => 40,
            3 => 42,
            4 => 44,
            5 => 48,
            _ => 52,
        }
    }
}

/// Whether the SMMU may translate through the context.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CdState {
    /// TTB0 walks enabled.
    Live,
    /// EPD0 = 1: every access takes a translation fault (recorded as
    /// F_TRANSLATION); the CD stays valid, so a late DMA is reported as a
    /// fault of this context, not as a configuration error (C_BAD_CD).
    Quiesced,
}

/// Encodes a valid AArch64 CD for `ctx`.
///
/// Fixed fields: EPD1 = 1 (no TTB1), AA64 = 1, R = 1 (record faults), A = 1
/// (abort faulting transactions: required without a stall model), S = 0,
/// HA = HD = 0 (no hardware AF/dirty update: descriptors must have AF set),
/// AFFD = 0 (an AF = 0 descriptor is reported as F_ACCESS), ASET = 1 (the
/// ASID is the SMMU's own, not shared with broadcast TLBIs), TBI = 0.
pub const fn encode(ctx: &Stage1Context, state: CdState) -> [u64; CD_DWORDS] {
    let mut cd = [0u64; CD_DWORDS];
    let epd0 = matches!(state, CdState::Quiesced) as u64;
    cd[0] = (ctx.t0sz as u64 & 0x3f)
        | (ctx.tg0 as u64 & 0b11) << 6
        | (ctx.irgn0 as u64 & 0b11) << 8
        | (ctx.orgn0 as u64 & 0b11) << 10
        | (ctx.sh0 as u64 & 0b11) << 12
        | epd0 << 14
        | 1 << 30 // EPD1
        | 1 << 31 // V
        | (ctx.ips as u64 & 0b111) << 32
        | 1 << 41 // AA64
        | 1 << 45 // R
        | 1 << 46 // A
        | 1 << 47 // ASET
        | (ctx.asid.get() as u64) << 48;
    // dw1: TTB0 [51:4].
    cd[1] = ctx.ttb0.as_u64() & 0x000f_ffff_ffff_fff0;
    // dw3: MAIR0 [31:0] and MAIR1 [63:32]: MAIR_EL1 as is.
    cd[3] = ctx.mair;
    cd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's TCR_EL1 (boot.S TCR_VALUE with IPS = 44 bits, AS, EPD0).
    const TCR: u64 = 16
        | 1 << 7
        | 1 << 8
        | 1 << 10
        | 3 << 12
        | 16 << 16
        | 1 << 24
        | 1 << 26
        | 3 << 28
        | 2 << 30
        | 4 << 32
        | 1 << 36;
    const MAIR: u64 = 0x04_44ff;

    #[test]
    fn fields_come_from_the_cpu_tcr() {
        let c = Stage1Context::from_cpu(
            TCR,
            MAIR,
            PhysAddr::new(0x4000_5000),
            SmmuAsid::new(0x21),
            4,
        );
        assert_eq!(
            (c.t0sz, c.tg0, c.irgn0, c.orgn0, c.sh0, c.ips),
            (16, 0, 1, 1, 3, 4)
        );
        assert_eq!(c.output_bits(), 44);
        // A 48-bit CPU behind a 44-bit SMMU: IPS capped.
        let wide =
            Stage1Context::from_cpu(TCR | 5 << 32, MAIR, PhysAddr::new(0), SmmuAsid::new(1), 4);
        assert_eq!(wide.ips, 4);
    }

    #[test]
    fn live_and_quiesced_encodings() {
        let c = Stage1Context::from_cpu(
            TCR,
            MAIR,
            PhysAddr::new(0x4000_5000),
            SmmuAsid::new(0x21),
            4,
        );
        let cd = encode(&c, CdState::Live);
        // T0SZ 16, TG0 4K, IR0 = OR0 = WB, SH0 = ISH, EPD0 = 0, EPD1 = 1, V = 1.
        assert_eq!(
            cd[0] & 0xffff_ffff,
            16 | 1 << 8 | 1 << 10 | 3 << 12 | 1 << 30 | 1 << 31
        );
        // IPS 44, AA64, R, A, ASET; AFFD/HA/HD/S clear; ASID.
        assert_eq!(
            cd[0] >> 32,
            4 | 1 << 9 | 1 << 13 | 1 << 14 | 1 << 15 | 0x21 << 16
        );
        assert_eq!(cd[1], 0x4000_5000);
        assert_eq!(cd[3], MAIR);
        assert_eq!((cd[2], cd[4], cd[5], cd[6], cd[7]), (0, 0, 0, 0, 0));
        let q = encode(&c, CdState::Quiesced);
        assert_eq!(q[0], cd[0] | 1 << 14, "quiescing only sets EPD0");
        assert_eq!(&q[1..], &cd[1..]);
    }
}
