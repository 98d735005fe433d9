//! Stream table entries and level 1 stream table descriptors (Arm IHI 0070
//! §5.1 "Level 1 Stream Table Descriptor", §5.2 "Stream Table Entry"): 64-byte
//! STEs of eight doublewords; we only write abort, bypass and "stage 1 with a
//! single context descriptor, stage 2 bypassed".

/// Doublewords in an STE (64 bytes).
pub const STE_DWORDS: usize = 8;
/// Bytes in an STE.
pub const STE_BYTES: usize = 64;

/// STE.Config [3:1] values.
const CONFIG_ABORT: u64 = 0b000;
const CONFIG_BYPASS: u64 = 0b100;
const CONFIG_S1_TRANSLATE: u64 = 0b101;

/// Cacheability of the SMMU's CD fetches (S1CIR/S1COR): write-back, read/write allocate.
const WB_RAWA: u64 = 0b01;
/// Inner shareable (S1CSH).
const ISH: u64 = 0b11;
/// SHCFG: use the incoming shareability attribute.
const SHCFG_INCOMING: u64 = 0b01;

/// What a stream does.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StreamConfig {
    /// Every transaction is terminated without an event (Config = abort).
    Abort,
    /// Transactions pass untranslated.
    Bypass,
    /// Stage 1 translation through the single context descriptor at `cd` (its
    /// physical address, 64-byte aligned); stage 2 bypassed.
    Stage1 {
        /// Physical address of the context descriptor (STE.S1ContextPtr).
        cd: u64,
    },
}

/// Encodes an STE. Doubleword 0 holds V, Config and S1ContextPtr, so a live
/// change of configuration is one 64-bit write (the others are written first).
pub const fn encode(config: StreamConfig) -> [u64; STE_DWORDS] {
    let mut ste = [0u64; STE_DWORDS];
    let valid = 1;
    match config {
        StreamConfig::Abort => ste[0] = valid | CONFIG_ABORT << 1,
        StreamConfig::Bypass => {
            ste[0] = valid | CONFIG_BYPASS << 1;
            ste[1] = SHCFG_INCOMING << 44;
        }
        StreamConfig::Stage1 { cd } => {
            // dw0: V, Config, S1Fmt = 0 (one CD), S1ContextPtr [51:6], S1CDMax = 0.
            ste[0] = valid | CONFIG_S1_TRANSLATE << 1 | (cd & 0x000f_ffff_ffff_ffc0);
            // dw1: S1DSS = 0, S1CIR [3:2], S1COR [5:4], S1CSH [7:6],
            // S1STALLD [27] = 0 (no stall model), EATS = 0, STRW [31:30] = 0
            // (NS-EL1), SHCFG [45:44].
            ste[1] = WB_RAWA << 2 | WB_RAWA << 4 | ISH << 6 | SHCFG_INCOMING << 44;
            // dw2: S2VMID [15:0] = 0: TLB entries are tagged VMID 0, which
            // the TLBI commands name.
        }
    }
    ste
}

/// `V` of an encoded STE.
pub const fn is_valid(ste: &[u64; STE_DWORDS]) -> bool {
    ste[0] & 1 == 1
}

/// A level 1 descriptor pointing at a level 2 array of `1 << split` STEs at
/// physical address `l2` (aligned to its size): Span [4:0] = split + 1,
/// L2Ptr [51:6].
pub const fn l1_descriptor(l2: u64, split: u32) -> u64 {
    (split as u64 + 1) | (l2 & 0x000f_ffff_ffff_ffc0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_bypass_and_stage1() {
        assert_eq!(encode(StreamConfig::Abort), [1, 0, 0, 0, 0, 0, 0, 0]);
        let b = encode(StreamConfig::Bypass);
        assert_eq!(b[0], 0b1001);
        assert_eq!(b[1], 1 << 44);
        let s = encode(StreamConfig::Stage1 { cd: 0x4123_4540 });
        // V = 1, Config = 0b101 -> bits [3:0] = 0b1011, pointer kept, S1CDMax 0.
        assert_eq!(s[0], 0x4123_4540 | 0b1011);
        assert_eq!(s[0] >> 59, 0, "S1CDMax");
        // S1CIR = S1COR = WB, S1CSH = ISH, SHCFG = incoming; S1STALLD clear.
        assert_eq!(s[1], 0b01 << 2 | 0b01 << 4 | 0b11 << 6 | 1 << 44);
        assert_eq!(
            s[1] >> 27 & 1,
            0,
            "S1STALLD must be 0 (QEMU: no stall model)"
        );
        assert_eq!(&s[2..], &[0; 6], "S2VMID 0 and nothing else");
        assert!(is_valid(&s));
        // Low bits of a misaligned CD pointer never leak into Config.
        assert_eq!(
            encode(StreamConfig::Stage1 { cd: 0x4000_007f })[0] & 0x3f,
            0b1011
        );
    }

    #[test]
    fn level1_descriptor() {
        // 64 STEs (split 6) at 0x4400_0000: Span 7.
        assert_eq!(l1_descriptor(0x4400_0000, 6), 0x4400_0007);
    }
}
