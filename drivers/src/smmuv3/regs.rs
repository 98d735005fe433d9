//! SMMUv3 register pages 0 and 1 (Arm IHI 0070 §6.2 "Register formats",
//! §6.3 "Register descriptions"). 64-bit registers are accessed 64 bits wide,
//! as the architecture allows and QEMU's model expects.

use tock_registers::{
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

// Each register allows `missing_docs`: `register_bitfields!` gives its `Field`
// constants, `Register`, `SET` and `CLEAR` no doc attribute. The fields are
// documented on their modules.
register_bitfields! {u32,
    /// SMMU_IDR0: the translation stages, table formats and coherency implemented.
    #[allow(missing_docs)]
    pub IDR0 [
        /// Stage 2 translation supported.
        S2P OFFSET(0) NUMBITS(1) [],
        /// Stage 1 translation supported.
        S1P OFFSET(1) NUMBITS(1) [],
        /// Translation table formats: 0b10 AArch64, 0b11 both.
        TTF OFFSET(2) NUMBITS(2) [],
        /// Coherent access to tables and queues.
        COHACC OFFSET(4) NUMBITS(1) [],
        /// Broadcast TLB maintenance.
        BTM OFFSET(5) NUMBITS(1) [],
        /// Hardware table update: 0b00 none, 0b01 access flag, 0b10 access flag and dirty state.
        HTTU OFFSET(6) NUMBITS(2) [],
        /// 16-bit ASIDs (else 8).
        ASID16 OFFSET(12) NUMBITS(1) [],
        /// 16-bit VMIDs (else 8).
        VMID16 OFFSET(18) NUMBITS(1) [],
        /// Endianness of tables: 0b00 mixed, 0b10 little, 0b11 big.
        TTENDIAN OFFSET(21) NUMBITS(2) [],
        /// Fault model: 0b00 stall and terminate, 0b01 terminate only, 0b10 stall forced.
        STALL_MODEL OFFSET(24) NUMBITS(2) [],
        /// 0b00 linear stream table only, 0b01 two-level supported.
        ST_LEVEL OFFSET(27) NUMBITS(2) []
    ],
    /// SMMU_IDR1: stream and substream ID widths, the largest queues, preset structures.
    #[allow(missing_docs)]
    pub IDR1 [
        /// Stream ID width in bits.
        SIDSIZE OFFSET(0) NUMBITS(6) [],
        /// Substream ID width in bits (0: no substreams).
        SSIDSIZE OFFSET(6) NUMBITS(5) [],
        /// log2 of the largest event queue, in entries.
        EVENTQS OFFSET(16) NUMBITS(5) [],
        /// log2 of the largest command queue, in entries.
        CMDQS OFFSET(21) NUMBITS(5) [],
        /// The queue base registers are fixed by the implementation.
        QUEUES_PRESET OFFSET(29) NUMBITS(1) [],
        /// The stream table base registers are fixed by the implementation.
        TABLES_PRESET OFFSET(30) NUMBITS(1) []
    ],
    /// SMMU_IDR3: later optional features.
    #[allow(missing_docs)]
    pub IDR3 [
        /// Range-based TLBI commands (SMMUv3.2).
        RIL OFFSET(10) NUMBITS(1) []
    ],
    /// SMMU_IDR5: output address size and the translation granules.
    #[allow(missing_docs)]
    pub IDR5 [
        /// Output address size, encoded like TCR_EL1.IPS.
        OAS OFFSET(0) NUMBITS(3) [],
        /// 4 KiB translation granule supported.
        GRAN4K OFFSET(4) NUMBITS(1) [],
        /// 16 KiB translation granule supported.
        GRAN16K OFFSET(5) NUMBITS(1) [],
        /// 64 KiB translation granule supported.
        GRAN64K OFFSET(6) NUMBITS(1) []
    ],
    /// SMMU_CR0 (and CR0ACK): the enables of the SMMU and its queues.
    #[allow(missing_docs)]
    pub CR0 [
        /// Translation enabled: transactions go through the stream table.
        SMMUEN OFFSET(0) NUMBITS(1) [],
        /// PRI queue enabled.
        PRIQEN OFFSET(1) NUMBITS(1) [],
        /// Event queue enabled.
        EVENTQEN OFFSET(2) NUMBITS(1) [],
        /// Command queue enabled.
        CMDQEN OFFSET(3) NUMBITS(1) []
    ],
    /// SMMU_CR1: cacheability and shareability of queue and table accesses.
    #[allow(missing_docs)]
    pub CR1 [
        /// Inner cacheability of queue accesses.
        QUEUE_IC OFFSET(0) NUMBITS(2) [NonCacheable = 0, WriteBack = 1],
        /// Outer cacheability of queue accesses.
        QUEUE_OC OFFSET(2) NUMBITS(2) [NonCacheable = 0, WriteBack = 1],
        /// Shareability of queue accesses.
        QUEUE_SH OFFSET(4) NUMBITS(2) [NonShareable = 0, Outer = 2, Inner = 3],
        /// Inner cacheability of stream table and CD fetches.
        TABLE_IC OFFSET(6) NUMBITS(2) [NonCacheable = 0, WriteBack = 1],
        /// Outer cacheability of stream table and CD fetches.
        TABLE_OC OFFSET(8) NUMBITS(2) [NonCacheable = 0, WriteBack = 1],
        /// Shareability of stream table and CD fetches.
        TABLE_SH OFFSET(10) NUMBITS(2) [NonShareable = 0, Outer = 2, Inner = 3]
    ],
    /// SMMU_CR2: translation regime and stream ID error options.
    #[allow(missing_docs)]
    pub CR2 [
        /// EL2 streams use the EL2-E2H regime (with ASIDs).
        E2H OFFSET(0) NUMBITS(1) [],
        /// Record C_BAD_STREAMID for out-of-range stream IDs.
        RECINVSID OFFSET(1) NUMBITS(1) [],
        /// Private TLB maintenance: ignore broadcast TLBIs.
        PTM OFFSET(2) NUMBITS(1) []
    ],
    /// SMMU_GBPA: what incoming transactions get while SMMUEN = 0.
    #[allow(missing_docs)]
    pub GBPA [
        /// Abort incoming transactions while SMMUEN = 0.
        ABORT OFFSET(20) NUMBITS(1) [],
        /// Set with a write; clears when the update took effect.
        UPDATE OFFSET(31) NUMBITS(1) []
    ],
    /// SMMU_IRQ_CTRL (and IRQ_CTRLACK): the wired interrupt enables.
    #[allow(missing_docs)]
    pub IRQ_CTRL [
        /// Global error interrupt enabled.
        GERROR_IRQEN OFFSET(0) NUMBITS(1) [],
        /// PRI queue interrupt enabled.
        PRIQ_IRQEN OFFSET(1) NUMBITS(1) [],
        /// Event queue interrupt enabled.
        EVENTQ_IRQEN OFFSET(2) NUMBITS(1) []
    ],
    /// GERROR / GERRORN: an error is active while the two bits differ.
    #[allow(missing_docs)]
    pub GERROR [
        /// The command queue stopped on a command (CMDQ_CONS.ERR says why).
        CMDQ_ERR OFFSET(0) NUMBITS(1) [],
        /// A write to the event queue aborted.
        EVENTQ_ABT_ERR OFFSET(2) NUMBITS(1) [],
        /// A write to the PRI queue aborted.
        PRIQ_ABT_ERR OFFSET(3) NUMBITS(1) [],
        /// The CMD_SYNC completion MSI aborted.
        MSI_CMDQ_ABT_ERR OFFSET(4) NUMBITS(1) [],
        /// The event queue MSI aborted.
        MSI_EVENTQ_ABT_ERR OFFSET(5) NUMBITS(1) [],
        /// The PRI queue MSI aborted.
        MSI_PRIQ_ABT_ERR OFFSET(6) NUMBITS(1) [],
        /// The global error MSI aborted.
        MSI_GERROR_ABT_ERR OFFSET(7) NUMBITS(1) [],
        /// The SMMU entered service failure mode.
        SFM_ERR OFFSET(8) NUMBITS(1) []
    ],
    /// SMMU_STRTAB_BASE_CFG: the stream table's format and size.
    #[allow(missing_docs)]
    pub STRTAB_BASE_CFG [
        /// log2 of the number of STEs (stream IDs covered).
        LOG2SIZE OFFSET(0) NUMBITS(6) [],
        /// Two-level: the stream ID bits a level 2 array resolves.
        SPLIT OFFSET(6) NUMBITS(5) [],
        /// Linear array or two-level table.
        FMT OFFSET(16) NUMBITS(2) [Linear = 0, TwoLevel = 1]
    ],
    /// CMDQ_CONS: read index and the error of the command it stopped at.
    #[allow(missing_docs)]
    pub CMDQ_CONS [
        /// Read index with its wrap flag just above it.
        RD OFFSET(0) NUMBITS(20) [],
        /// CERROR code of the command at RD, valid while GERROR.CMDQ_ERR is active.
        ERR OFFSET(24) NUMBITS(7) [None = 0, Illegal = 1, Abort = 2, AtcInvSync = 3]
    ],
    /// SMMU_EVENTQ_PROD (page 1): the SMMU's write index.
    #[allow(missing_docs)]
    pub EVENTQ_PROD [
        /// Write index with its wrap flag just above it.
        WR OFFSET(0) NUMBITS(20) [],
        /// Toggled by the SMMU when it dropped events (queue full).
        OVFLG OFFSET(31) NUMBITS(1) []
    ],
    /// SMMU_EVENTQ_CONS (page 1): software's read index.
    #[allow(missing_docs)]
    pub EVENTQ_CONS [
        /// Read index with its wrap flag just above it.
        RD OFFSET(0) NUMBITS(20) [],
        /// Software copies OVFLG here to acknowledge an overflow.
        OVACKFLG OFFSET(31) NUMBITS(1) []
    ]
}

// `missing_docs` allowed per register, as above: the generated items take no docs.
register_bitfields! {u64,
    /// SMMU_STRTAB_BASE: where the stream table is.
    #[allow(missing_docs)]
    pub STRTAB_BASE [
        /// Physical address bits \[51:6\] of the stream table (or its level 1 table).
        ADDR OFFSET(6) NUMBITS(46) [],
        /// Read-allocate hint for table fetches.
        RA OFFSET(62) NUMBITS(1) []
    ],
    /// CMDQ_BASE and EVENTQ_BASE (bit 62 is RA for one, WA for the other).
    #[allow(missing_docs)]
    pub Q_BASE [
        /// log2 of the number of entries.
        LOG2SIZE OFFSET(0) NUMBITS(5) [],
        /// Physical address bits \[51:5\] of the queue.
        ADDR OFFSET(5) NUMBITS(47) [],
        /// Allocate hint: RA for the command queue, WA for the event queue.
        ALLOCATE OFFSET(62) NUMBITS(1) []
    ]
}

register_structs! {
    /// Page 0 (offset 0).
    pub Page0 {
        /// SMMU_IDR0.
        (0x000 => pub idr0: ReadOnly<u32, IDR0::Register>),
        /// SMMU_IDR1.
        (0x004 => pub idr1: ReadOnly<u32, IDR1::Register>),
        /// SMMU_IDR2: VATOS support (unused).
        (0x008 => pub idr2: ReadOnly<u32>),
        /// SMMU_IDR3.
        (0x00c => pub idr3: ReadOnly<u32, IDR3::Register>),
        /// SMMU_IDR4: IMPLEMENTATION DEFINED.
        (0x010 => pub idr4: ReadOnly<u32>),
        /// SMMU_IDR5.
        (0x014 => pub idr5: ReadOnly<u32, IDR5::Register>),
        /// SMMU_IIDR: implementer, product and revision.
        (0x018 => pub iidr: ReadOnly<u32>),
        /// SMMU_AIDR: architecture revision (SMMUv3.x).
        (0x01c => pub aidr: ReadOnly<u32>),
        /// SMMU_CR0: write, then wait for CR0ACK to match.
        (0x020 => pub cr0: ReadWrite<u32, CR0::Register>),
        /// SMMU_CR0ACK: the CR0 fields in effect.
        (0x024 => pub cr0ack: ReadOnly<u32, CR0::Register>),
        /// SMMU_CR1 (written only while the queues and SMMUEN are off).
        (0x028 => pub cr1: ReadWrite<u32, CR1::Register>),
        /// SMMU_CR2.
        (0x02c => pub cr2: ReadWrite<u32, CR2::Register>),
        (0x030 => _reserved0),
        /// SMMU_STATUSR: dormant state (SMMUv3.2).
        (0x040 => pub statusr: ReadOnly<u32>),
        /// SMMU_GBPA.
        (0x044 => pub gbpa: ReadWrite<u32, GBPA::Register>),
        /// SMMU_AGBPA: IMPLEMENTATION DEFINED attributes for GBPA.
        (0x048 => pub agbpa: ReadWrite<u32>),
        (0x04c => _reserved1),
        /// SMMU_IRQ_CTRL: write, then wait for IRQ_CTRLACK to match.
        (0x050 => pub irq_ctrl: ReadWrite<u32, IRQ_CTRL::Register>),
        /// SMMU_IRQ_CTRLACK.
        (0x054 => pub irq_ctrlack: ReadOnly<u32, IRQ_CTRL::Register>),
        (0x058 => _reserved2),
        /// SMMU_GERROR: toggled by the SMMU when an error becomes active.
        (0x060 => pub gerror: ReadOnly<u32, GERROR::Register>),
        /// SMMU_GERRORN: toggled by software to acknowledge.
        (0x064 => pub gerrorn: ReadWrite<u32, GERROR::Register>),
        /// SMMU_GERROR_IRQ_CFG0: MSI address of global errors (0: wired interrupt).
        (0x068 => pub gerror_irq_cfg0: ReadWrite<u64>),
        (0x070 => _reserved3),
        /// SMMU_STRTAB_BASE.
        (0x080 => pub strtab_base: ReadWrite<u64, STRTAB_BASE::Register>),
        /// SMMU_STRTAB_BASE_CFG.
        (0x088 => pub strtab_base_cfg: ReadWrite<u32, STRTAB_BASE_CFG::Register>),
        (0x08c => _reserved4),
        /// SMMU_CMDQ_BASE.
        (0x090 => pub cmdq_base: ReadWrite<u64, Q_BASE::Register>),
        /// SMMU_CMDQ_PROD: software's write index (index and wrap).
        (0x098 => pub cmdq_prod: ReadWrite<u32>),
        /// SMMU_CMDQ_CONS.
        (0x09c => pub cmdq_cons: ReadWrite<u32, CMDQ_CONS::Register>),
        /// SMMU_EVENTQ_BASE.
        (0x0a0 => pub eventq_base: ReadWrite<u64, Q_BASE::Register>),
        (0x0a8 => _reserved5),
        /// SMMU_EVENTQ_IRQ_CFG0: MSI address of the event queue (0: wired interrupt).
        (0x0b0 => pub eventq_irq_cfg0: ReadWrite<u64>),
        (0x0b8 => _reserved6),
        (0x100 => @END),
    }
}

register_structs! {
    /// Page 1 (offset 0x10000): the producer/consumer indexes software owns.
    pub Page1 {
        (0x00 => _reserved0),
        /// SMMU_EVENTQ_PROD.
        (0xa8 => pub eventq_prod: ReadWrite<u32, EVENTQ_PROD::Register>),
        /// SMMU_EVENTQ_CONS.
        (0xac => pub eventq_cons: ReadWrite<u32, EVENTQ_CONS::Register>),
        (0xb0 => @END),
    }
}

/// Offset of page 1 from the SMMU's base.
pub const PAGE1_OFFSET: usize = 0x1_0000;
