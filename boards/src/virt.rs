//! QEMU `virt` (GICv3, PSCI via `hvc`): defaults from QEMU 10's `hw/arm/virt.c`
//! memory map; the DTB handed over in x0 overrides them at boot.
use crate::desc::*;
use addr::{PhysAddr, PhysRange};

pub const BOARD: Board = Board {
    name: "qemu-virt",
    load_addr: PhysAddr::new(0x4008_0000),
    uart: PhysRange::from_base_size(PhysAddr::new(0x0900_0000), 0x1000),
    uart_clock_hz: None,
    uart_irq: 32 + 1,
    gic: GicDefaults::V3 {
        gicd: PhysAddr::new(0x0800_0000),
        gicr: PhysAddr::new(0x080A_0000),
    },
    memory: &[PhysRange::from_base_size(
        PhysAddr::new(0x4000_0000),
        0x4000_0000,
    )],
    cpus: 4,
    bring_up: CpuBringUp::Psci { hvc: true },
    virtual_timer_ppi: 27,
    // GIC, UART, RTC, GPIO, SMMU, fw-cfg and virtio-mmio: 0x0800_0000-0x0fff_ffff.
    mmio: &[PhysRange::from_base_size(
        PhysAddr::new(0x0800_0000),
        0x0800_0000,
    )],
    dma: None,
};
