//! GICv2 / GIC-400 (Arm IHI 0048B): memory-mapped distributor and CPU
//! interface. Interrupt groups are left as the firmware (or reset) set
//! them, and both groups are enabled and signalled as IRQ.
use super::{DEFAULT_PRIORITY, MAX_CPUS};
use crate::mmio::Mmio;
use core::sync::atomic::{AtomicU8, Ordering};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

register_bitfields! {u32,
    // Without the Security Extensions (QEMU raspi4b) or from Secure state,
    // bit 0 enables Group 0 and bit 1 Group 1; in the Non-secure view (the
    // Pi firmware's hand-off) bit 0 enables Group 1 and bit 1 is reserved.
    // Setting both works in either view.
    GICD_CTLR [
        ENABLE_GRP0 OFFSET(0) NUMBITS(1) [],
        ENABLE_GRP1 OFFSET(1) NUMBITS(1) []
    ],
    GICD_TYPER [ IT_LINES_NUMBER OFFSET(0) NUMBITS(5) [] ],
    GICD_SGIR [
        TARGET_LIST_FILTER OFFSET(24) NUMBITS(2) [ ListedCpus = 0 ],
        CPU_TARGET_LIST OFFSET(16) NUMBITS(8) [],
        INTID OFFSET(0) NUMBITS(4) []
    ],
    // Same two views as GICD_CTLR; AckCtl lets IAR acknowledge Group 1
    // interrupts in the Secure/no-Security view (reserved in the NS view).
    GICC_CTLR [
        ENABLE_GRP0 OFFSET(0) NUMBITS(1) [],
        ENABLE_GRP1 OFFSET(1) NUMBITS(1) [],
        ACK_CTL OFFSET(2) NUMBITS(1) []
    ],
    GICC_PMR [ PRIORITY OFFSET(0) NUMBITS(8) [] ]
}

register_structs! {
    /// The distributor (GICD) frame, IHI 0048B 4.1.2.
    pub DistributorRegs {
        (0x000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => _reserved0),
        (0x080 => igroupr: [ReadWrite<u32>; 32]),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => ispendr: [ReadWrite<u32>; 32]),
        (0x280 => icpendr: [ReadWrite<u32>; 32]),
        (0x300 => _reserved1),
        (0x400 => ipriorityr: [ReadWrite<u8>; 1024]),
        (0x800 => itargetsr: [ReadWrite<u8>; 1024]),
        (0xc00 => icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved2),
        (0xf00 => sgir: WriteOnly<u32, GICD_SGIR::Register>),
        (0xf04 => @END),
    }
}

register_structs! {
    /// The CPU interface (GICC) frame, IHI 0048B 4.1.3; banked per CPU.
    pub CpuInterfaceRegs {
        (0x00 => ctlr: ReadWrite<u32, GICC_CTLR::Register>),
        (0x04 => pmr: ReadWrite<u32, GICC_PMR::Register>),
        (0x08 => bpr: ReadWrite<u32>),
        (0x0c => iar: ReadOnly<u32>),
        (0x10 => eoir: WriteOnly<u32>),
        (0x14 => @END),
    }
}

/// A GICv2 distributor and CPU interface.
pub struct GicV2 {
    gicd: Mmio<DistributorRegs>,
    gicc: Mmio<CpuInterfaceRegs>,
    /// Per logical CPU: its CPU-interface bit, as read from ITARGETSR0.
    cpu_masks: [AtomicU8; MAX_CPUS],
}

impl GicV2 {
    /// # Safety
    /// `gicd`/`gicc` are this system's GICv2 distributor and CPU interface.
    pub const unsafe fn new(gicd: usize, gicc: usize) -> Self {
        // SAFETY: the caller guarantees that `gicd` and `gicc` map this
        // system's GICv2 distributor and CPU interface frames.
        unsafe {
            Self {
                gicd: Mmio::new(gicd),
                gicc: Mmio::new(gicc),
                cpu_masks: [const { AtomicU8::new(0) }; MAX_CPUS],
            }
        }
    }

    /// Number of INTIDs the distributor implements: 32 * (GICD_TYPER.ITLinesNumber + 1),
    /// at most 1020.
    pub fn lines(&self) -> u32 {
        ((self.gicd.typer.read(GICD_TYPER::IT_LINES_NUMBER) + 1) * 32).min(1020)
    }

    /// Once, on the boot CPU: SPIs disabled and cleared, default priority,
    /// targeted at the calling CPU; both groups enabled.
    pub fn init_distributor(&self) {
        self.gicd.ctlr.set(0);
        let words = (self.lines() / 32) as usize;
        for w in 1..words {
            self.gicd.icenabler[w].set(u32::MAX);
            self.gicd.icpendr[w].set(u32::MAX);
        }
        for id in 32..self.lines() as usize {
            self.gicd.ipriorityr[id].set(DEFAULT_PRIORITY);
            self.gicd.itargetsr[id].set(self.own_mask());
        }
        self.gicd
            .ctlr
            .write(GICD_CTLR::ENABLE_GRP0::SET + GICD_CTLR::ENABLE_GRP1::SET);
    }

    /// The calling CPU's interface bit (ITARGETSR0..7 are banked and read-only).
    fn own_mask(&self) -> u8 {
        self.gicd.itargetsr[0].get()
    }

    /// On CPU `cpu` itself: records its interface bit, disables and clears its
    /// SGIs and PPIs, opens the priority mask and enables its CPU interface.
    pub fn init_cpu(&self, cpu: usize) {
        self.cpu_masks[cpu].store(self.own_mask(), Ordering::Relaxed);
        self.gicd.icenabler[0].set(u32::MAX);
        self.gicd.icpendr[0].set(u32::MAX);
        for id in 0..32 {
            self.gicd.ipriorityr[id].set(DEFAULT_PRIORITY);
        }
        self.gicc.pmr.write(GICC_PMR::PRIORITY.val(0xff));
        self.gicc.bpr.set(0);
        self.gicc.ctlr.write(
            GICC_CTLR::ENABLE_GRP0::SET + GICC_CTLR::ENABLE_GRP1::SET + GICC_CTLR::ACK_CTL::SET,
        );
    }

    /// Sets (GICD_ISENABLERn) or clears (GICD_ICENABLERn) the enable of `intid`;
    /// SGIs and PPIs are banked: those of the calling CPU.
    pub fn set_enabled(&self, intid: u32, on: bool) {
        let (word, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
        if on {
            self.gicd.isenabler[word].set(bit);
        } else {
            self.gicd.icenabler[word].set(bit);
        }
    }

    /// Makes SPI `intid` edge-triggered (`true`) or level-sensitive: bit 1
    /// of its two GICD_ICFGR bits. Change it only while the SPI is disabled.
    pub fn set_edge_triggered(&self, intid: u32, edge: bool) {
        let (word, bit) = ((intid / 16) as usize, 1u32 << ((intid % 16) * 2 + 1));
        let v = self.gicd.icfgr[word].get();
        self.gicd.icfgr[word].set(if edge { v | bit } else { v & !bit });
    }

    /// Marks an SPI pending as if its device had raised it.
    pub fn set_pending(&self, intid: u32) {
        self.gicd.ispendr[(intid / 32) as usize].set(1 << (intid % 32));
    }

    /// The raw IAR value: INTID plus, for SGIs, the source CPU (which the
    /// matching EOI must repeat).
    pub fn acknowledge(&self) -> u32 {
        self.gicc.iar.get()
    }

    /// The INTID of a GICC_IAR value (bits \[9:0\]).
    pub fn intid(iar: u32) -> u32 {
        iar & 0x3ff
    }

    /// Ends the interrupt: writes the IAR value back to GICC_EOIR.
    pub fn end_of_interrupt(&self, iar: u32) {
        self.gicc.eoir.set(iar);
    }

    /// Sends SGI `sgi` to logical CPU `target` (GICD_SGIR, target list filter 0b00).
    pub fn send_sgi(&self, sgi: u32, target: usize) {
        let mask = self.cpu_masks[target].load(Ordering::Relaxed);
        self.gicd.sgir.write(
            GICD_SGIR::TARGET_LIST_FILTER::ListedCpus
                + GICD_SGIR::CPU_TARGET_LIST.val(u32::from(mask))
                + GICD_SGIR::INTID.val(sgi),
        );
    }
}
