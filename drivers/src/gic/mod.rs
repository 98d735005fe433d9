//! Arm Generic Interrupt Controller: GICv2 (GIC-400 on the Pi) and GICv3
//! (QEMU virt), behind one small interface the kernel's IRQ layer uses.
//!
//! Private interrupts (SGI 0-15, PPI 16-31) are banked per CPU, so the calls
//! that touch them take the logical CPU index they apply to.
pub mod v2;
pub mod v3;

/// Interrupt priority used for everything the kernel enables (lower = higher).
pub const DEFAULT_PRIORITY: u8 = 0xa0;
/// Most CPUs the drivers keep per-CPU state for.
pub const MAX_CPUS: usize = 8;
/// INTIDs 1020-1023 are special (1023: nothing pending; 1022: a Group 1
/// interrupt a Secure read may not acknowledge); none is a real interrupt.
pub const FIRST_SPECIAL: u32 = 1020;

/// An acknowledged interrupt: its INTID and what its EOI must write back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acked {
    /// The interrupt's ID (SGI 0-15, PPI 16-31, SPI 32-1019).
    pub intid: u32,
    raw: u32,
}

/// Why a CPU's interface could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// No GICv3 redistributor frame carries this CPU's affinity.
    NoRedistributor {
        /// The CPU's MPIDR_EL1, whose affinity fields GICR_TYPER should match.
        mpidr: u64,
    },
    /// The logical CPU index is not below `MAX_CPUS`.
    CpuIndexOutOfRange(usize),
}

/// The board's interrupt controller, whichever version it is.
pub enum Gic {
    /// GICv2 (GIC-400): memory-mapped CPU interface.
    V2(v2::GicV2),
    /// GICv3: redistributors and the system-register CPU interface.
    V3(v3::GicV3),
}

impl Gic {
    /// The architecture version: 2 or 3.
    pub fn version(&self) -> u8 {
        match self {
            Gic::V2(_) => 2,
            Gic::V3(_) => 3,
        }
    }

    /// Number of interrupt lines (INTIDs) the distributor implements.
    pub fn lines(&self) -> u32 {
        match self {
            Gic::V2(g) => g.lines(),
            Gic::V3(g) => g.lines(),
        }
    }

    /// Once, on the boot CPU: all SPIs disabled, group 1, default priority,
    /// routed to the boot CPU; distributor enabled.
    pub fn init_distributor(&self) {
        match self {
            Gic::V2(g) => g.init_distributor(),
            Gic::V3(g) => g.init_distributor(),
        }
    }

    /// On each CPU: wake its redistributor (v3), configure its private
    /// interrupts and enable its CPU interface.
    pub fn init_cpu(&self, cpu: usize, mpidr: u64) -> Result<(), GicError> {
        if cpu >= MAX_CPUS {
            return Err(GicError::CpuIndexOutOfRange(cpu));
        }
        match self {
            Gic::V2(g) => {
                g.init_cpu(cpu);
                Ok(())
            }
            Gic::V3(g) => g.init_cpu(cpu, mpidr),
        }
    }

    /// Enables `intid`; for SGIs/PPIs only on `cpu` (which must be the caller
    /// for GICv2, whose private registers are banked by the accessing CPU).
    pub fn enable(&self, cpu: usize, intid: u32) {
        match self {
            Gic::V2(g) => g.set_enabled(intid, true),
            Gic::V3(g) => g.set_enabled(cpu, intid, true),
        }
    }

    /// Disables `intid`; for SGIs/PPIs only on `cpu` (the caller, for GICv2).
    pub fn disable(&self, cpu: usize, intid: u32) {
        match self {
            Gic::V2(g) => g.set_enabled(intid, false),
            Gic::V3(g) => g.set_enabled(cpu, intid, false),
        }
    }

    /// Acknowledges the highest-priority pending interrupt, if any.
    pub fn acknowledge(&self) -> Option<Acked> {
        let (intid, raw) = match self {
            Gic::V2(g) => {
                let raw = g.acknowledge();
                (v2::GicV2::intid(raw), raw)
            }
            Gic::V3(_) => {
                let id = v3::acknowledge();
                (id, id)
            }
        };
        (intid < FIRST_SPECIAL).then_some(Acked { intid, raw })
    }

    /// Signals completion (priority drop and deactivation) of `irq`.
    pub fn end_of_interrupt(&self, irq: Acked) {
        match self {
            Gic::V2(g) => g.end_of_interrupt(irq.raw),
            Gic::V3(_) => v3::end_of_interrupt(irq.raw),
        }
    }

    /// Configures shared peripheral interrupt `intid` (32 or above) as
    /// edge-triggered or level-sensitive (the device tree's flags say which;
    /// a device that pulses its line, like the SMMUv3, needs edge).
    pub fn set_edge_triggered(&self, intid: u32, edge: bool) {
        assert!(
            intid >= 32,
            "trigger configuration is for SPIs (INTID >= 32), got {intid}"
        );
        match self {
            Gic::V2(g) => g.set_edge_triggered(intid, edge),
            Gic::V3(g) => g.set_edge_triggered(intid, edge),
        }
    }

    /// Makes shared peripheral interrupt `intid` (32 or above) pending, as
    /// if its device had raised it; it is delivered once enabled.
    pub fn set_pending(&self, intid: u32) {
        assert!(
            intid >= 32,
            "set_pending is for SPIs (INTID >= 32), got {intid}"
        );
        match self {
            Gic::V2(g) => g.set_pending(intid),
            Gic::V3(g) => g.set_pending(intid),
        }
    }

    /// Raises software-generated interrupt `sgi` (0-15) on CPU `target`.
    pub fn send_sgi(&self, sgi: u32, target: usize) {
        match self {
            Gic::V2(g) => g.send_sgi(sgi, target),
            Gic::V3(g) => g.send_sgi(sgi, target),
        }
    }
}
