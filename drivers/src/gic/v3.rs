//! GICv3 (Arm IHI 0069): distributor, one redistributor per CPU, and the
//! system-register CPU interface. Affinity routing on, Group 1 non-secure.
use super::{GicError, DEFAULT_PRIORITY, MAX_CPUS};
use crate::mmio::Mmio;
use core::{
    arch::asm,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
};
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {u32,
    GICD_CTLR [
        RWP OFFSET(31) NUMBITS(1) [],
        ARE_NS OFFSET(4) NUMBITS(1) [],
        ENABLE_GRP1A OFFSET(1) NUMBITS(1) [],
        ENABLE_GRP1 OFFSET(0) NUMBITS(1) []
    ],
    GICD_TYPER [ IT_LINES_NUMBER OFFSET(0) NUMBITS(5) [] ],
    GICR_WAKER [
        CHILDREN_ASLEEP OFFSET(2) NUMBITS(1) [],
        PROCESSOR_SLEEP OFFSET(1) NUMBITS(1) []
    ]
}

register_bitfields! {u64,
    GICR_TYPER [
        AFFINITY OFFSET(32) NUMBITS(32) [],
        LAST OFFSET(4) NUMBITS(1) []
    ]
}

register_structs! {
    /// The distributor (GICD) frame, IHI 0069 12.9.
    pub DistributorRegs {
        (0x0000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => _reserved0),
        (0x0080 => igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => ispendr: [ReadWrite<u32>; 32]),
        (0x0280 => icpendr: [ReadWrite<u32>; 32]),
        (0x0300 => _reserved2),
        (0x0400 => ipriorityr: [ReadWrite<u8>; 1024]),
        (0x0800 => _reserved3),
        (0x0c00 => icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => _reserved4),
        (0x6000 => irouter: [ReadWrite<u64>; 1020]),
        (0x7fe0 => @END),
    }
}

register_structs! {
    /// RD_base frame of one redistributor.
    pub RedistributorRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => _reserved0),
        (0x0008 => typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => _reserved1),
        (0x0014 => waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => @END),
    }
}

register_structs! {
    /// SGI_base frame (RD_base + 64 KiB): the CPU's SGIs and PPIs.
    pub SgiRegs {
        (0x0000 => _reserved0),
        (0x0080 => igroupr0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => isenabler0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => icenabler0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        (0x0280 => icpendr0: ReadWrite<u32>),
        (0x0284 => _reserved4),
        (0x0400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x0420 => @END),
    }
}

/// Each redistributor is an RD_base frame plus an SGI_base frame.
const GICR_STRIDE: usize = 0x2_0000;
const SGI_FRAME: usize = 0x1_0000;

/// A GICv3 distributor and its redistributors.
pub struct GicV3 {
    gicd: Mmio<DistributorRegs>,
    gicr_base: usize,
    /// Per logical CPU: its redistributor's RD_base, 0 until `init_cpu`.
    rd_base: [AtomicUsize; MAX_CPUS],
    /// Per logical CPU: its MPIDR, for SGI targeting.
    mpidr: [AtomicU64; MAX_CPUS],
}

/// MPIDR Aff3.Aff2.Aff1.Aff0 packed as GICR_TYPER reports it.
fn packed_affinity(mpidr: u64) -> u64 {
    (mpidr & 0xff_ffff) | ((mpidr >> 8) & 0xff00_0000)
}

impl GicV3 {
    /// # Safety
    /// `gicd` is the distributor and `gicr` the start of the contiguous
    /// redistributor region of this system's GICv3.
    pub const unsafe fn new(gicd: usize, gicr: usize) -> Self {
        Self {
            // SAFETY: the caller guarantees that `gicd` maps this system's
            // GICv3 distributor frame.
            gicd: unsafe { Mmio::new(gicd) },
            gicr_base: gicr,
            rd_base: [const { AtomicUsize::new(0) }; MAX_CPUS],
            mpidr: [const { AtomicU64::new(0) }; MAX_CPUS],
        }
    }

    /// Number of INTIDs the distributor implements: 32 * (GICD_TYPER.ITLinesNumber + 1),
    /// at most 1020.
    pub fn lines(&self) -> u32 {
        ((self.gicd.typer.read(GICD_TYPER::IT_LINES_NUMBER) + 1) * 32).min(1020)
    }

    fn wait_rwp(&self) {
        while self.gicd.ctlr.is_set(GICD_CTLR::RWP) {
            core::hint::spin_loop();
        }
    }

    /// Once, on the boot CPU: affinity routing on, SPIs disabled and cleared,
    /// Group 1 non-secure, default priority, routed to the boot CPU; Group 1 enabled.
    pub fn init_distributor(&self) {
        self.gicd.ctlr.set(0);
        self.wait_rwp();
        self.gicd.ctlr.write(GICD_CTLR::ARE_NS::SET);
        self.wait_rwp();
        let words = (self.lines() / 32) as usize;
        for w in 1..words {
            self.gicd.icenabler[w].set(u32::MAX);
            self.gicd.icpendr[w].set(u32::MAX);
            self.gicd.igroupr[w].set(u32::MAX);
        }
        let boot = packed_affinity(aarch64_cpu::registers::MPIDR_EL1.get());
        let route = (boot & 0xff_ffff) | ((boot & 0xff00_0000) << 8);
        for id in 32..self.lines() as usize {
            self.gicd.ipriorityr[id].set(DEFAULT_PRIORITY);
            self.gicd.irouter[id].set(route);
        }
        self.wait_rwp();
        self.gicd.ctlr.write(
            GICD_CTLR::ARE_NS::SET + GICD_CTLR::ENABLE_GRP1A::SET + GICD_CTLR::ENABLE_GRP1::SET,
        );
        self.wait_rwp();
    }

    fn find_redistributor(&self, mpidr: u64) -> Option<usize> {
        let want = packed_affinity(mpidr);
        let mut base = self.gicr_base;
        for _ in 0..MAX_CPUS * 4 {
            // SAFETY: `base` walks the redistributor region frame by frame and
            // stops at the frame whose TYPER.Last is set.
            let rd: Mmio<RedistributorRegs> = unsafe { Mmio::new(base) };
            if rd.typer.read(GICR_TYPER::AFFINITY) == want {
                return Some(base);
            }
            if rd.typer.is_set(GICR_TYPER::LAST) {
                return None;
            }
            base += GICR_STRIDE;
        }
        None
    }

    fn sgi_frame(&self, cpu: usize) -> Mmio<SgiRegs> {
        let rd = self.rd_base[cpu].load(Ordering::Relaxed);
        assert!(rd != 0, "GICv3: CPU {cpu} has no redistributor yet");
        // SAFETY: rd was found by `find_redistributor` for this CPU.
        unsafe { Mmio::new(rd + SGI_FRAME) }
    }

    /// On CPU `cpu` itself (whose MPIDR_EL1 is `mpidr`): finds and wakes its
    /// redistributor, disables and clears its SGIs and PPIs (Group 1, default
    /// priority), and enables the system-register CPU interface and Group 1.
    pub fn init_cpu(&self, cpu: usize, mpidr: u64) -> Result<(), GicError> {
        let rd_base = self
            .find_redistributor(mpidr)
            .ok_or(GicError::NoRedistributor { mpidr })?;
        self.rd_base[cpu].store(rd_base, Ordering::Relaxed);
        self.mpidr[cpu].store(mpidr, Ordering::Relaxed);
        // SAFETY: found above for this CPU's affinity.
        let rd: Mmio<RedistributorRegs> = unsafe { Mmio::new(rd_base) };
        rd.waker.modify(GICR_WAKER::PROCESSOR_SLEEP::CLEAR);
        while rd.waker.is_set(GICR_WAKER::CHILDREN_ASLEEP) {
            core::hint::spin_loop();
        }
        let sgi = self.sgi_frame(cpu);
        sgi.icenabler0.set(u32::MAX);
        sgi.icpendr0.set(u32::MAX);
        sgi.igroupr0.set(u32::MAX);
        for p in sgi.ipriorityr.iter() {
            p.set(DEFAULT_PRIORITY);
        }
        // SAFETY: enabling the system-register interface and Group 1 on this
        // CPU only changes how this CPU receives interrupts.
        unsafe {
            asm!("mrs {t}, icc_sre_el1", "orr {t}, {t}, #1", "msr icc_sre_el1, {t}", "isb", t = out(reg) _);
            asm!("msr icc_pmr_el1, {v}", v = in(reg) 0xffu64);
            asm!("msr icc_bpr1_el1, xzr");
            asm!("msr icc_igrpen1_el1, {v}", "isb", v = in(reg) 1u64);
        }
        Ok(())
    }

    /// Sets or clears the enable of `intid`: in `cpu`'s redistributor for SGIs
    /// and PPIs, in the distributor for SPIs.
    pub fn set_enabled(&self, cpu: usize, intid: u32, on: bool) {
        let bit = 1u32 << (intid % 32);
        if intid < 32 {
            let sgi = self.sgi_frame(cpu);
            if on {
                sgi.isenabler0.set(bit)
            } else {
                sgi.icenabler0.set(bit)
            }
        } else {
            let word = (intid / 32) as usize;
            if on {
                self.gicd.isenabler[word].set(bit)
            } else {
                self.gicd.icenabler[word].set(bit)
            }
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

    /// Sends SGI `sgi` to logical CPU `target` (ICC_SGI1R_EL1 with its affinity).
    pub fn send_sgi(&self, sgi: u32, target: usize) {
        let mpidr = self.mpidr[target].load(Ordering::Relaxed);
        let aff0 = mpidr & 0xf;
        let value = (1u64 << aff0)
            | (((mpidr >> 8) & 0xff) << 16)
            | (u64::from(sgi & 0xf) << 24)
            | (((mpidr >> 16) & 0xff) << 32)
            | (((mpidr >> 32) & 0xff) << 48);
        // SAFETY: writing ICC_SGI1R_EL1 only raises an SGI on the target.
        unsafe { asm!("msr icc_sgi1r_el1, {v}", "isb", v = in(reg) value) };
    }
}

/// Acknowledges the highest-priority pending Group 1 interrupt of this CPU:
/// its INTID from ICC_IAR1_EL1 (1023 if none).
pub fn acknowledge() -> u32 {
    let v: u64;
    // SAFETY: reading IAR1 acknowledges the interrupt this CPU is taking.
    unsafe { asm!("mrs {v}, icc_iar1_el1", v = out(reg) v) };
    v as u32
}

/// Ends Group 1 interrupt `intid` on this CPU (ICC_EOIR1_EL1: priority drop and deactivation).
pub fn end_of_interrupt(intid: u32) {
    // SAFETY: EOI of an interrupt this CPU acknowledged.
    unsafe { asm!("msr icc_eoir1_el1, {v}", "isb", v = in(reg) u64::from(intid)) };
}
