//! SMMUv3 register pages 0 and 1 (Arm IHI 0070 §6.2 "Register formats",
//! §6.3 "Register descriptions"). 64-bit registers are accessed 64 bits wide,
//! as the architecture allows and QEMU's model expects.

use tock_registers::{
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {u32,
    pub IDR0 [
        S2P OFFSET(0) NUMBITS(1) [],
        S1P OFFSET(1) NUMBITS(1) [],
        /// Translation table formats: 0b10 AArch64, 0b11 both.
        TTF OFFSET(2) NUMBITS(2) [],
        /// Coherent access to tables and queues.
        COHACC OFFSET(4) NUMBITS(1) [],
        /// Broadcast TLB maintenance.
        BTM OFFSET(5) NUMBITS(1) [],
        HTTU OFFSET(6) NUMBITS(2) [],
        ASID16 OFFSET(12) NUMBITS(1) [],
        VMID16 OFFSET(18) NUMBITS(1) [],
        /// Endianness of tables: 0b00 mixed, 0b10 little, 0b11 big.
        TTENDIAN OFFSET(21) NUMBITS(2) [],
        STALL_MODEL OFFSET(24) NUMBITS(2) [],
        /// 0b00 linear stream table only, 0b01 two-level supported.
        ST_LEVEL OFFSET(27) NUMBITS(2) []
    ],
    pub IDR1 [
        SIDSIZE OFFSET(0) NUMBITS(6) [],
        SSIDSIZE OFFSET(6) NUMBITS(5) [],
        EVENTQS OFFSET(16) NUMBITS(5) [],
        CMDQS OFFSET(21) NUMBITS(5) [],
        QUEUES_PRESET OFFSET(29) NUMBITS(1) [],
        TABLES_PRESET OFFSET(30) NUMBITS(1) []
    ],
    pub IDR3 [
        /// Range-based TLBI commands (SMMUv3.2).
        RIL OFFSET(10) NUMBITS(1) []
    ],
    pub IDR5 [
        /// Output address size, encoded like TCR_EL1.IPS.
        OAS OFFSET(0) NUMBITS(3) [],
        GRAN4K OFFSET(4) NUMBITS(1) [],
        GRAN16K OFFSET(5) NUMBITS(1) [],
        GRAN64K OFFSET(6) NUMBITS(1) []
    ],
    pub CR0 [
        SMMUEN OFFSET(0) NUMBITS(1) [],
        PRIQEN OFFSET(1) NUMBITS(1) [],
        EVENTQEN OFFSET(2) NUMBITS(1) [],
        CMDQEN OFFSET(3) NUMBITS(1) []
    ],
    pub CR1 [
        QUEUE_IC OFFSET(0) NUMBITS(2) [NonCacheable = 0, WriteBack = 1],
        QUEUE_OC OFFSET(2) NUMBITS(2) [NonCacheable = 0, WriteBack = 1],
        QUEUE_SH OFFSET(4) NUMBITS(2) [NonShareable = 0, Outer = 2, Inner = 3],
        TABLE_IC OFFSET(6) NUMBITS(2) [NonCacheable = 0, WriteBack = 1],
        TABLE_OC OFFSET(8) NUMBITS(2) [NonCacheable = 0, WriteBack = 1],
        TABLE_SH OFFSET(10) NUMBITS(2) [NonShareable = 0, Outer = 2, Inner = 3]
    ],
    pub CR2 [
        E2H OFFSET(0) NUMBITS(1) [],
        /// Record C_BAD_STREAMID for out-of-range stream IDs.
        RECINVSID OFFSET(1) NUMBITS(1) [],
        /// Private TLB maintenance: ignore broadcast TLBIs.
        PTM OFFSET(2) NUMBITS(1) []
    ],
    pub GBPA [
        /// Abort incoming transactions while SMMUEN = 0.
        ABORT OFFSET(20) NUMBITS(1) [],
        /// Set with a write; clears when the update took effect.
        UPDATE OFFSET(31) NUMBITS(1) []
    ],
    pub IRQ_CTRL [
        GERROR_IRQEN OFFSET(0) NUMBITS(1) [],
        PRIQ_IRQEN OFFSET(1) NUMBITS(1) [],
        EVENTQ_IRQEN OFFSET(2) NUMBITS(1) []
    ],
    /// GERROR / GERRORN: an error is active while the two bits differ.
    pub GERROR [
        CMDQ_ERR OFFSET(0) NUMBITS(1) [],
        EVENTQ_ABT_ERR OFFSET(2) NUMBITS(1) [],
        PRIQ_ABT_ERR OFFSET(3) NUMBITS(1) [],
        MSI_CMDQ_ABT_ERR OFFSET(4) NUMBITS(1) [],
        MSI_EVENTQ_ABT_ERR OFFSET(5) NUMBITS(1) [],
        MSI_PRIQ_ABT_ERR OFFSET(6) NUMBITS(1) [],
        MSI_GERROR_ABT_ERR OFFSET(7) NUMBITS(1) [],
        SFM_ERR OFFSET(8) NUMBITS(1) []
    ],
    pub STRTAB_BASE_CFG [
        LOG2SIZE OFFSET(0) NUMBITS(6) [],
        SPLIT OFFSET(6) NUMBITS(5) [],
        FMT OFFSET(16) NUMBITS(2) [Linear = 0, TwoLevel = 1]
    ],
    /// CMDQ_CONS: read index and the error of the command it stopped at.
    pub CMDQ_CONS [
        RD OFFSET(0) NUMBITS(20) [],
        ERR OFFSET(24) NUMBITS(7) [None = 0, Illegal = 1, Abort = 2, AtcInvSync = 3]
    ],
    pub EVENTQ_PROD [
        WR OFFSET(0) NUMBITS(20) [],
        /// Toggled by the SMMU when it dropped events (queue full).
        OVFLG OFFSET(31) NUMBITS(1) []
    ],
    pub EVENTQ_CONS [
        RD OFFSET(0) NUMBITS(20) [],
        OVACKFLG OFFSET(31) NUMBITS(1) []
    ]
}

register_bitfields! {u64,
    pub STRTAB_BASE [
        ADDR OFFSET(6) NUMBITS(46) [],
        RA OFFSET(62) NUMBITS(1) []
    ],
    /// CMDQ_BASE and EVENTQ_BASE (bit 62 is RA for one, WA for the other).
    pub Q_BASE [
        LOG2SIZE OFFSET(0) NUMBITS(5) [],
        ADDR OFFSET(5) NUMBITS(47) [],
        ALLOCATE OFFSET(62) NUMBITS(1) []
    ]
}

register_structs! {
    /// Page 0 (offset 0).
    pub Page0 {
        (0x000 => pub idr0: ReadOnly<u32, IDR0::Register>),
        (0x004 => pub idr1: ReadOnly<u32, IDR1::Register>),
        (0x008 => pub idr2: ReadOnly<u32>),
        (0x00c => pub idr3: ReadOnly<u32, IDR3::Register>),
        (0x010 => pub idr4: ReadOnly<u32>),
        (0x014 => pub idr5: ReadOnly<u32, IDR5::Register>),
        (0x018 => pub iidr: ReadOnly<u32>),
        (0x01c => pub aidr: ReadOnly<u32>),
        (0x020 => pub cr0: ReadWrite<u32, CR0::Register>),
        (0x024 => pub cr0ack: ReadOnly<u32, CR0::Register>),
        (0x028 => pub cr1: ReadWrite<u32, CR1::Register>),
        (0x02c => pub cr2: ReadWrite<u32, CR2::Register>),
        (0x030 => _reserved0),
        (0x040 => pub statusr: ReadOnly<u32>),
        (0x044 => pub gbpa: ReadWrite<u32, GBPA::Register>),
        (0x048 => pub agbpa: ReadWrite<u32>),
        (0x04c => _reserved1),
        (0x050 => pub irq_ctrl: ReadWrite<u32, IRQ_CTRL::Register>),
        (0x054 => pub irq_ctrlack: ReadOnly<u32, IRQ_CTRL::Register>),
        (0x058 => _reserved2),
        (0x060 => pub gerror: ReadOnly<u32, GERROR::Register>),
        (0x064 => pub gerrorn: ReadWrite<u32, GERROR::Register>),
        (0x068 => pub gerror_irq_cfg0: ReadWrite<u64>),
        (0x070 => _reserved3),
        (0x080 => pub strtab_base: ReadWrite<u64, STRTAB_BASE::Register>),
        (0x088 => pub strtab_base_cfg: ReadWrite<u32, STRTAB_BASE_CFG::Register>),
        (0x08c => _reserved4),
        (0x090 => pub cmdq_base: ReadWrite<u64, Q_BASE::Register>),
        (0x098 => pub cmdq_prod: ReadWrite<u32>),
        (0x09c => pub cmdq_cons: ReadWrite<u32, CMDQ_CONS::Register>),
        (0x0a0 => pub eventq_base: ReadWrite<u64, Q_BASE::Register>),
        (0x0a8 => _reserved5),
        (0x0b0 => pub eventq_irq_cfg0: ReadWrite<u64>),
        (0x0b8 => _reserved6),
        (0x100 => @END),
    }
}

register_structs! {
    /// Page 1 (offset 0x10000): the producer/consumer indexes software owns.
    pub Page1 {
        (0x00 => _reserved0),
        (0xa8 => pub eventq_prod: ReadWrite<u32, EVENTQ_PROD::Register>),
        (0xac => pub eventq_cons: ReadWrite<u32, EVENTQ_CONS::Register>),
        (0xb0 => @END),
    }
}

/// Offset of page 1 from the SMMU's base.
pub const PAGE1_OFFSET: usize = 0x1_0000;
