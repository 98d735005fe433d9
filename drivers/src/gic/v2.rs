//! GICv2 / GIC-400 (Arm IHI 0048B): memory-mapped distributor and CPU
//! interface. The kernel runs non-secure, so it uses Group 1 only.
use super::{DEFAULT_PRIORITY, MAX_CPUS};
use crate::mmio::Mmio;
use core::sync::atomic::{AtomicU8, Ordering};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

register_bitfields! {u32,
    GICD_CTLR [ ENABLE OFFSET(0) NUMBITS(1) [] ],
    GICD_TYPER [ IT_LINES_NUMBER OFFSET(0) NUMBITS(5) [] ],
    GICD_SGIR [
        TARGET_LIST_FILTER OFFSET(24) NUMBITS(2) [ ListedCpus = 0 ],
        CPU_TARGET_LIST OFFSET(16) NUMBITS(8) [],
        INTID OFFSET(0) NUMBITS(4) []
    ],
    GICC_CTLR [ ENABLE OFFSET(0) NUMBITS(1) [] ],
    GICC_PMR [ PRIORITY OFFSET(0) NUMBITS(8) [] ],
    GICC_IAR [ INTERRUPT_ID OFFSET(0) NUMBITS(10) [] ]
}

register_structs! {
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
    pub CpuInterfaceRegs {
        (0x00 => ctlr: ReadWrite<u32, GICC_CTLR::Register>),
        (0x04 => pmr: ReadWrite<u32, GICC_PMR::Register>),
        (0x08 => bpr: ReadWrite<u32>),
        (0x0c => iar: ReadOnly<u32, GICC_IAR::Register>),
        (0x10 => eoir: WriteOnly<u32>),
        (0x14 => @END),
    }
}

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
        // SAFETY: forwarded from the caller.
        unsafe {
            Self {
                gicd: Mmio::new(gicd),
                gicc: Mmio::new(gicc),
                cpu_masks: [const { AtomicU8::new(0) }; MAX_CPUS],
            }
        }
    }

    pub fn lines(&self) -> u32 {
        ((self.gicd.typer.read(GICD_TYPER::IT_LINES_NUMBER) + 1) * 32).min(1020)
    }

    pub fn init_distributor(&self) {
        self.gicd.ctlr.set(0);
        let words = (self.lines() / 32) as usize;
        for w in 1..words {
            self.gicd.icenabler[w].set(u32::MAX);
            self.gicd.icpendr[w].set(u32::MAX);
            self.gicd.igroupr[w].set(u32::MAX);
        }
        for id in 32..self.lines() as usize {
            self.gicd.ipriorityr[id].set(DEFAULT_PRIORITY);
            self.gicd.itargetsr[id].set(self.own_mask());
        }
        self.gicd.ctlr.write(GICD_CTLR::ENABLE::SET);
    }

    /// The calling CPU's interface bit (ITARGETSR0..7 are banked and read-only).
    fn own_mask(&self) -> u8 {
        self.gicd.itargetsr[0].get()
    }

    pub fn init_cpu(&self, cpu: usize) {
        self.cpu_masks[cpu].store(self.own_mask(), Ordering::Relaxed);
        self.gicd.icenabler[0].set(u32::MAX);
        self.gicd.icpendr[0].set(u32::MAX);
        self.gicd.igroupr[0].set(u32::MAX);
        for id in 0..32 {
            self.gicd.ipriorityr[id].set(DEFAULT_PRIORITY);
        }
        self.gicc.pmr.write(GICC_PMR::PRIORITY.val(0xff));
        self.gicc.bpr.set(0);
        self.gicc.ctlr.write(GICC_CTLR::ENABLE::SET);
    }

    pub fn set_enabled(&self, intid: u32, on: bool) {
        let (word, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
        if on {
            self.gicd.isenabler[word].set(bit);
        } else {
            self.gicd.icenabler[word].set(bit);
        }
    }

    pub fn acknowledge(&self) -> u32 {
        self.gicc.iar.read(GICC_IAR::INTERRUPT_ID)
    }

    pub fn end_of_interrupt(&self, intid: u32) {
        self.gicc.eoir.set(intid);
    }

    pub fn send_sgi(&self, sgi: u32, target: usize) {
        let mask = self.cpu_masks[target].load(Ordering::Relaxed);
        self.gicd.sgir.write(
            GICD_SGIR::TARGET_LIST_FILTER::ListedCpus
                + GICD_SGIR::CPU_TARGET_LIST.val(u32::from(mask))
                + GICD_SGIR::INTID.val(sgi),
        );
    }
}
