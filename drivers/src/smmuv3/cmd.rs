//! Command queue entries (Arm IHI 0070 §4 "Commands": §4.3 configuration
//! invalidation, §4.4 TLB invalidation with the range form of §4.4.1.1,
//! §4.7 CMD_SYNC): 16-byte records built from typed fields, and the plan that
//! turns "invalidate these pages of this ASID" into as few commands as the
//! SMMU allows.
use super::ids::{SmmuAsid, StreamId};

/// The opcodes this driver issues.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// CMD_CFGI_STE (0x03): invalidate one STE (§4.3.1).
    CfgiSte,
    /// CMD_CFGI_ALL (0x04, CFGI_STE_RANGE with Range = 31): every STE and CD (§4.3.3).
    CfgiAll,
    /// CMD_CFGI_CD (0x05): invalidate one CD (§4.3.4).
    CfgiCd,
    /// CMD_TLBI_NH_ASID (0x11): stage 1 entries of one ASID (§4.4.2).
    TlbiNhAsid,
    /// CMD_TLBI_NH_VA (0x12): stage 1 entries of one ASID by address (§4.4.3).
    TlbiNhVa,
    /// CMD_TLBI_NSNH_ALL (0x30): every non-secure, non-hypervisor entry (§4.4.8).
    TlbiNsnhAll,
    /// CMD_SYNC (0x46): completes when every earlier command has (§4.7.3).
    Sync,
    /// An opcode we did not write (read back from the queue in an error report).
    Other(u8),
}

impl Opcode {
    /// The opcode byte (bits \[7:0\] of the command's first doubleword).
    pub const fn code(self) -> u8 {
        match self {
            Opcode::CfgiSte => 0x03,
            Opcode::CfgiAll => 0x04, // CFGI_STE_RANGE with Range = 31
            Opcode::CfgiCd => 0x05,
            Opcode::TlbiNhAsid => 0x11,
            Opcode::TlbiNhVa => 0x12,
            Opcode::TlbiNsnhAll => 0x30,
            Opcode::Sync => 0x46,
            Opcode::Other(c) => c,
        }
    }

    /// The opcode of a raw command (its first byte).
    pub const fn of(raw: [u64; 2]) -> Self {
        match raw[0] as u8 {
            0x03 => Opcode::CfgiSte,
            0x04 => Opcode::CfgiAll,
            0x05 => Opcode::CfgiCd,
            0x11 => Opcode::TlbiNhAsid,
            0x12 => Opcode::TlbiNhVa,
            0x30 => Opcode::TlbiNsnhAll,
            0x46 => Opcode::Sync,
            c => Opcode::Other(c),
        }
    }
}

/// Translation granule of a range TLBI (`TG`): 4 KiB is the only one we map.
pub const TG_4K: u64 = 0b01;
/// Largest `NUM` field (5 bits): a range covers `(NUM + 1) << SCALE` pages.
pub const RANGE_NUM_MAX: u64 = 31;
/// Largest `SCALE` field (5 bits).
pub const RANGE_SCALE_MAX: u32 = 31;

/// One command, as the driver thinks of it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Re-read the STE of `sid`; with `leaf = false` also the level 1
    /// descriptor that points at it (after installing a level 2 table).
    CfgiSte {
        /// The stream ID.
        sid: StreamId,
        /// Leaf: only the STE itself, not the level 1 descriptor.
        leaf: bool,
    },
    /// Re-read every STE and CD.
    CfgiAll,
    /// Re-read the CD of substream `ssid` of `sid` (Leaf = 1).
    CfgiCd {
        /// The stream ID.
        sid: StreamId,
        /// The substream ID (the CD's index in the stream's CD table).
        ssid: u32,
    },
    /// Drop every stage 1 entry of `asid` (under `vmid`).
    TlbiNhAsid {
        /// The ASID whose entries go.
        asid: SmmuAsid,
        /// The VMID they are tagged with (0 without stage 2).
        vmid: u16,
    },
    /// Drop the entries of `asid` covering `va`: one page (`range: None`),
    /// or `(num + 1) << scale` 4 KiB pages from `va` (`range: Some((num, scale))`).
    /// `leaf`: only last-level entries changed (walk caches may be kept).
    TlbiNhVa {
        /// The ASID whose entries go.
        asid: SmmuAsid,
        /// The VMID they are tagged with (0 without stage 2).
        vmid: u16,
        /// The first virtual address (page aligned).
        va: u64,
        /// Leaf: only last-level entries changed.
        leaf: bool,
        /// `Some((num, scale))` for the range form (IDR3.RIL), `None` for one page.
        range: Option<(u8, u8)>,
    },
    /// Drop every non-secure, non-hypervisor entry (reset).
    TlbiNsnhAll,
    /// Complete when every earlier command has; no signal (SIG_NONE): poll CONS.
    Sync,
}

impl Command {
    /// The opcode this command is encoded with.
    pub const fn opcode(&self) -> Opcode {
        match self {
            Command::CfgiSte { .. } => Opcode::CfgiSte,
            Command::CfgiAll => Opcode::CfgiAll,
            Command::CfgiCd { .. } => Opcode::CfgiCd,
            Command::TlbiNhAsid { .. } => Opcode::TlbiNhAsid,
            Command::TlbiNhVa { .. } => Opcode::TlbiNhVa,
            Command::TlbiNsnhAll => Opcode::TlbiNsnhAll,
            Command::Sync => Opcode::Sync,
        }
    }

    /// The two little-endian doublewords the SMMU reads.
    pub const fn encode(&self) -> [u64; 2] {
        let op = self.opcode().code() as u64;
        match *self {
            // dw0: SID [63:32]; dw1: Leaf [0].
            Command::CfgiSte { sid, leaf } => [op | (sid.get() as u64) << 32, leaf as u64],
            // dw1: Range [4:0] = 31: all stream IDs.
            Command::CfgiAll => [op, 31],
            // dw0: SSID [31:12], SID [63:32]; dw1: Leaf [0].
            Command::CfgiCd { sid, ssid } => [
                op | ((ssid as u64) & 0xf_ffff) << 12 | (sid.get() as u64) << 32,
                1,
            ],
            // dw0: VMID [47:32], ASID [63:48].
            Command::TlbiNhAsid { asid, vmid } => {
                [op | (vmid as u64) << 32 | (asid.get() as u64) << 48, 0]
            }
            // dw0: NUM [16:12], SCALE [24:20], VMID [47:32], ASID [63:48];
            // dw1: Leaf [0], TTL [9:8] (0: no hint), TG [11:10], Address [63:12].
            Command::TlbiNhVa {
                asid,
                vmid,
                va,
                leaf,
                range,
            } => {
                let (num_scale, tg) = match range {
                    Some((num, scale)) => (
                        ((num as u64) & 0x1f) << 12 | ((scale as u64) & 0x1f) << 20,
                        TG_4K << 10,
                    ),
                    None => (0, 0),
                };
                [
                    op | num_scale | (vmid as u64) << 32 | (asid.get() as u64) << 48,
                    (va & !0xfff) | tg | leaf as u64,
                ]
            }
            Command::TlbiNsnhAll => [op, 0],
            // dw0: CS [13:12] = 0b00 SIG_NONE.
            Command::Sync => [op, 0],
        }
    }
}

/// How an invalidation of a VA range was expressed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InvalidationForm {
    /// One `TLBI_NH_VA` per 4 KiB page.
    PerPage,
    /// `TLBI_NH_VA` with NUM/SCALE (IDR3.RIL).
    Range,
    /// One `TLBI_NH_ASID` (the range was above the per-page limit).
    WholeAsid,
}

/// Ranges of pages a run of range-form commands covers, lowest address first:
/// each step takes `num << scale` pages where `scale` is the lowest set bit of
/// the pages left and `num` the next 5 bits, so any count needs at most
/// ⌈(bits of the count) / 5⌉ commands (1 for any power of two).
pub fn range_steps(pages: u64) -> impl Iterator<Item = (u64, u8, u8)> {
    let mut left = pages;
    let mut done = 0u64;
    core::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let scale = left.trailing_zeros().min(RANGE_SCALE_MAX);
        let num = (left >> scale) & RANGE_NUM_MAX;
        let step = num << scale;
        let first = done;
        left -= step;
        done += step;
        // (first page, NUM field = num - 1, SCALE)
        Some((first, (num - 1) as u8, scale as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_spec_layout() {
        assert_eq!(Command::Sync.encode(), [0x46, 0]);
        assert_eq!(
            Command::CfgiSte {
                sid: StreamId::new(8),
                leaf: true
            }
            .encode(),
            [0x0000_0008_0000_0003, 1]
        );
        assert_eq!(
            Command::CfgiSte {
                sid: StreamId::new(8),
                leaf: false
            }
            .encode(),
            [0x0000_0008_0000_0003, 0]
        );
        assert_eq!(Command::CfgiAll.encode(), [0x04, 31]);
        assert_eq!(
            Command::CfgiCd {
                sid: StreamId::new(0x10),
                ssid: 0
            }
            .encode(),
            [0x0000_0010_0000_0005, 1]
        );
        assert_eq!(
            Command::TlbiNhAsid {
                asid: SmmuAsid::new(0x42),
                vmid: 0
            }
            .encode(),
            [0x0042_0000_0000_0011, 0]
        );
        // One page, no range: TG = 0, NUM = SCALE = 0.
        assert_eq!(
            Command::TlbiNhVa {
                asid: SmmuAsid::new(7),
                vmid: 3,
                va: 0x1000_0fff,
                leaf: true,
                range: None
            }
            .encode(),
            [0x0007_0003_0000_0012, 0x1000_0001]
        );
        // 4096 pages = (0 + 1) << 12: NUM 0, SCALE 12, TG 4K.
        assert_eq!(
            Command::TlbiNhVa {
                asid: SmmuAsid::new(1),
                vmid: 0,
                va: 0x1000_0000,
                leaf: false,
                range: Some((0, 12))
            }
            .encode(),
            [0x0001_0000_00c0_0012, 0x1000_0400]
        );
        for c in [
            Command::Sync,
            Command::CfgiAll,
            Command::TlbiNsnhAll,
            Command::CfgiSte {
                sid: StreamId::new(1),
                leaf: true,
            },
        ] {
            assert_eq!(Opcode::of(c.encode()), c.opcode());
        }
        assert_eq!(Opcode::of([0xff, 0]), Opcode::Other(0xff));
    }

    fn covered(pages: u64) -> Vec<(u64, u64)> {
        range_steps(pages)
            .map(|(first, num, scale)| (first, (u64::from(num) + 1) << scale))
            .collect()
    }

    #[test]
    fn range_steps_cover_exactly_once() {
        for pages in (1..3000).chain([4096, 1 << 20, (1 << 36) - 1]) {
            let steps = covered(pages);
            let mut next = 0;
            for &(first, len) in &steps {
                assert_eq!(first, next, "{pages}: gap or overlap");
                next += len;
            }
            assert_eq!(next, pages);
            let bits = 64 - pages.leading_zeros() as usize;
            assert!(steps.len() <= bits.div_ceil(5), "{pages}: {steps:?}");
        }
        assert_eq!(covered(1), [(0, 1)]);
        assert_eq!(covered(16), [(0, 16)]);
        assert_eq!(covered(512), [(0, 512)]);
        assert_eq!(covered(4096), [(0, 4096)]);
        // 33 = 0b100001: 1 page, then 32.
        assert_eq!(covered(33), [(0, 1), (1, 32)]);
    }
}
