//! What the SMMU implements, from SMMU_IDR0/1/3/5 (Arm IHI 0070 §6.3.1-6.3.6),
//! and whether this driver can use it: stage 1, AArch64 tables, coherent
//! table/queue access, the 4 KiB granule, little-endian tables, tables and
//! queues in memory we provide.

use super::SmmuError;

/// The parts of the ID registers the driver acts on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Features {
    /// Stage 1 translation (IDR0.S1P).
    pub stage1: bool,
    /// Stage 2 translation (IDR0.S2P).
    pub stage2: bool,
    /// AArch64 translation tables (IDR0.TTF = 0b10 or 0b11).
    pub aarch64_tables: bool,
    /// Table walks, queue and table accesses are IO-coherent (IDR0.COHACC).
    pub coherent: bool,
    /// Broadcast TLB maintenance (IDR0.BTM): CPU TLBIs reach the SMMU's TLB.
    pub btm: bool,
    /// ASID width: 16 with IDR0.ASID16, else 8.
    pub asid_bits: u8,
    /// Two-level stream tables (IDR0.ST_LEVEL = 0b01).
    pub two_level_stream_table: bool,
    /// Tables may be little-endian (IDR0.TTENDIAN is mixed or little).
    pub little_endian_tables: bool,
    /// Stream ID width in bits (IDR1.SIDSIZE).
    pub sid_bits: u8,
    /// log2 of the largest command / event queue.
    pub cmdq_log2: u8,
    /// log2 of the largest event queue (IDR1.EVENTQS).
    pub eventq_log2: u8,
    /// Queues or tables hard-wired by the implementation (IDR1.*_PRESET).
    pub preset: bool,
    /// Range TLBI commands (IDR3.RIL).
    pub range_invalidation: bool,
    /// Output address size, TCR.IPS encoding (IDR5.OAS).
    pub oas: u8,
    /// The 4 KiB translation granule (IDR5.GRAN4K).
    pub granule_4k: bool,
}

const fn bit(value: u32, bit: u32) -> bool {
    (value >> bit) & 1 == 1
}

impl Features {
    /// Decodes the raw ID register values.
    pub const fn decode(idr0: u32, idr1: u32, idr3: u32, idr5: u32) -> Self {
        let ttendian = (idr0 >> 21) & 0b11;
        Self {
            stage1: bit(idr0, 1),
            stage2: bit(idr0, 0),
            aarch64_tables: bit(idr0, 3),
            coherent: bit(idr0, 4),
            btm: bit(idr0, 5),
            asid_bits: if bit(idr0, 12) { 16 } else { 8 },
            two_level_stream_table: (idr0 >> 27) & 0b11 == 0b01,
            little_endian_tables: ttendian == 0b00 || ttendian == 0b10,
            sid_bits: (idr1 & 0x3f) as u8,
            eventq_log2: ((idr1 >> 16) & 0x1f) as u8,
            cmdq_log2: ((idr1 >> 21) & 0x1f) as u8,
            preset: bit(idr1, 29) || bit(idr1, 30),
            range_invalidation: bit(idr3, 10),
            oas: (idr5 & 0b111) as u8,
            granule_4k: bit(idr5, 4),
        }
    }

    /// The first reason this driver cannot run the SMMU, if any.
    pub const fn check(&self) -> Result<(), SmmuError> {
        if !self.stage1 {
            return Err(SmmuError::NoStage1);
        }
        if !self.aarch64_tables {
            return Err(SmmuError::NoAArch64Tables);
        }
        if !self.granule_4k {
            return Err(SmmuError::No4KiBGranule);
        }
        if !self.coherent {
            return Err(SmmuError::NotCoherent);
        }
        if !self.little_endian_tables {
            return Err(SmmuError::BigEndianTablesOnly);
        }
        if self.preset {
            return Err(SmmuError::PresetStructures);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU 10 `smmuv3` with the default `stage=1`.
    const QEMU_IDR0: u32 =
        1 << 1 | 2 << 2 | 1 << 4 | 1 << 12 | 1 << 18 | 2 << 21 | 1 << 24 | 1 << 26 | 1 << 27;
    const QEMU_IDR1: u32 = 16 | 19 << 16 | 19 << 21;
    const QEMU_IDR3: u32 = 1 << 2 | 1 << 10 | 2 << 11;
    const QEMU_IDR5: u32 = 4 | 1 << 4 | 1 << 5 | 1 << 6;

    #[test]
    fn qemu_model_is_usable() {
        let f = Features::decode(QEMU_IDR0, QEMU_IDR1, QEMU_IDR3, QEMU_IDR5);
        assert!(f.stage1 && !f.stage2 && f.aarch64_tables && f.coherent);
        assert!(!f.btm, "QEMU has no broadcast TLB maintenance");
        assert!(f.two_level_stream_table && f.little_endian_tables);
        assert!(f.range_invalidation);
        assert_eq!(
            (f.asid_bits, f.sid_bits, f.cmdq_log2, f.eventq_log2),
            (16, 16, 19, 19)
        );
        assert_eq!(f.oas, 4);
        assert_eq!(f.check(), Ok(()));
    }

    #[test]
    fn refusals_name_the_missing_feature() {
        let no_s1 = Features::decode(QEMU_IDR0 & !(1 << 1), QEMU_IDR1, QEMU_IDR3, QEMU_IDR5);
        assert_eq!(no_s1.check(), Err(SmmuError::NoStage1));
        let incoherent = Features::decode(QEMU_IDR0 & !(1 << 4), QEMU_IDR1, QEMU_IDR3, QEMU_IDR5);
        assert_eq!(incoherent.check(), Err(SmmuError::NotCoherent));
        let big = Features::decode(QEMU_IDR0 | 3 << 21, QEMU_IDR1, QEMU_IDR3, QEMU_IDR5);
        assert_eq!(big.check(), Err(SmmuError::BigEndianTablesOnly));
        let preset = Features::decode(QEMU_IDR0, QEMU_IDR1 | 1 << 30, QEMU_IDR3, QEMU_IDR5);
        assert_eq!(preset.check(), Err(SmmuError::PresetStructures));
        let no_ril = Features::decode(QEMU_IDR0, QEMU_IDR1, 0, QEMU_IDR5);
        assert!(!no_ril.range_invalidation);
    }
}
