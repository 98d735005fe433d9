//! The shape of a board description: plain data, no registers touched here.
//! Addresses and ranges are `addr`'s (`PhysAddr`, `PhysRange`): the
//! vocabulary the kernel and `mm` share.
use addr::{PhysAddr, PhysRange};

/// Which interrupt controller, with its default register frames.
#[derive(Clone, Copy, Debug)]
pub enum GicDefaults {
    /// GICv2 / GIC-400: distributor and CPU interface.
    V2 {
        /// Physical base of the distributor (GICD) frame.
        gicd: PhysAddr,
        /// Physical base of the CPU interface (GICC) frame.
        gicc: PhysAddr,
    },
    /// GICv3: distributor and the redistributor region (one frame pair per CPU).
    V3 {
        /// Physical base of the distributor (GICD) frame.
        gicd: PhysAddr,
        /// Physical base of the redistributor (GICR) region, CPU 0's frames first.
        gicr: PhysAddr,
    },
}

/// How secondary CPUs are started when the device tree does not say.
#[derive(Clone, Copy, Debug)]
pub enum CpuBringUp {
    /// PSCI `CPU_ON` through `hvc` (true) or `smc` (false).
    Psci {
        /// The PSCI conduit: `hvc` (true, firmware at EL2) or `smc` (false, EL3).
        hvc: bool,
    },
    /// Spin tables: CPU `n` polls the 64-bit slot at `slots[n]`.
    SpinTable {
        /// Physical address of each CPU's release slot, indexed by CPU number.
        slots: [PhysAddr; 4],
    },
}

/// Everything the kernel needs to know about a board before (or without) a DT.
#[derive(Debug)]
pub struct Board {
    /// The board's name as the boot log prints it (and the DT `model` default).
    pub name: &'static str,
    /// Where the raw image is loaded and entered (the link address).
    pub load_addr: PhysAddr,
    /// Register frame of the console UART (a PL011).
    pub uart: PhysRange,
    /// PL011 reference clock in Hz, when the kernel must program the baud rate.
    pub uart_clock_hz: Option<u32>,
    /// The console UART's interrupt (GIC INTID, an SPI: 32 + the SPI number).
    pub uart_irq: u32,
    /// The interrupt controller and its register frames.
    pub gic: GicDefaults,
    /// RAM used when no DT memory node is available.
    pub memory: &'static [PhysRange],
    /// Number of CPUs brought up when no DT lists them (capped at `MAX_CPUS`).
    pub cpus: usize,
    /// How secondary CPUs are started when the DT does not say.
    pub bring_up: CpuBringUp,
    /// PPI of the EL1 virtual timer (INTID).
    pub virtual_timer_ppi: u32,
    /// Device windows mapped as Device-nGnRE even when no DT is handed over.
    pub mmio: &'static [PhysRange],
    /// The system DMA controller without an IOMMU (the Pi's BCM2711 legacy
    /// DMA), when the board has one the kernel drives.
    pub dma: Option<PhysRange>,
}
