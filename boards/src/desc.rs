//! The shape of a board description: plain data, no registers touched here.

/// A physical range `[base, base + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
}

impl Region {
    pub const fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// Which interrupt controller, with its default register frames.
#[derive(Clone, Copy, Debug)]
pub enum GicDefaults {
    /// GICv2 / GIC-400: distributor and CPU interface.
    V2 { gicd: u64, gicc: u64 },
    /// GICv3: distributor and the redistributor region (one frame pair per CPU).
    V3 { gicd: u64, gicr: u64 },
}

/// How secondary CPUs are started when the device tree does not say.
#[derive(Clone, Copy, Debug)]
pub enum CpuBringUp {
    /// PSCI `CPU_ON` through `hvc` (true) or `smc` (false).
    Psci { hvc: bool },
    /// Spin tables: CPU `n` polls the 64-bit slot at `slots[n]`.
    SpinTable { slots: [u64; 4] },
}

/// Everything the kernel needs to know about a board before (or without) a DT.
#[derive(Debug)]
pub struct Board {
    pub name: &'static str,
    /// Where the raw image is loaded and entered (the link address).
    pub load_addr: u64,
    pub uart: Region,
    /// PL011 reference clock in Hz, when the kernel must program the baud rate.
    pub uart_clock_hz: Option<u32>,
    pub uart_irq: u32,
    pub gic: GicDefaults,
    /// RAM used when no DT memory node is available.
    pub memory: &'static [Region],
    pub cpus: usize,
    pub bring_up: CpuBringUp,
    /// PPI of the EL1 virtual timer (INTID).
    pub virtual_timer_ppi: u32,
    /// Device windows mapped as Device-nGnRE even when no DT is handed over.
    pub mmio: &'static [Region],
    /// The system DMA controller without an IOMMU (the Pi's BCM2711 legacy
    /// DMA), when the board has one the kernel drives.
    pub dma: Option<Region>,
}
