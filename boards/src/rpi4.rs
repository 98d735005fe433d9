//! Raspberry Pi 4 (BCM2711, GIC-400, spin tables): the addresses the firmware
//! and QEMU `raspi4b` use in low-peripheral mode (BCM2711 ARM peripherals, 1.1).
use crate::desc::*;
use addr::{PhysAddr, PhysRange};

pub const BOARD: Board = Board {
    name: "raspberrypi-4b",
    load_addr: PhysAddr::new(0x8_0000),
    uart: PhysRange::from_base_size(PhysAddr::new(0xFE20_1000), 0x200),
    // `enable_uart=1` with the default `init_uart_clock` runs UART0 from 48 MHz.
    uart_clock_hz: Some(48_000_000),
    uart_irq: 32 + 121,
    gic: GicDefaults::V2 {
        gicd: PhysAddr::new(0xFF84_1000),
        gicc: PhysAddr::new(0xFF84_2000),
    },
    // 2 GiB board: the VideoCore keeps the top of the first GiB.
    memory: &[
        PhysRange::from_base_size(PhysAddr::new(0x0000_0000), 0x3C00_0000),
        PhysRange::from_base_size(PhysAddr::new(0x4000_0000), 0x4000_0000),
    ],
    cpus: 4,
    bring_up: CpuBringUp::SpinTable {
        slots: [
            PhysAddr::new(0xd8),
            PhysAddr::new(0xe0),
            PhysAddr::new(0xe8),
            PhysAddr::new(0xf0),
        ],
    },
    virtual_timer_ppi: 27,
    // Main peripherals (0xFC00_0000) up to the ARM local block and GIC-400.
    mmio: &[PhysRange::from_base_size(
        PhysAddr::new(0xFC00_0000),
        0x0400_0000,
    )],
    // Legacy DMA channels 0-14 (BCM2711 ARM Peripherals 4.2.1.1).
    dma: Some(PhysRange::from_base_size(PhysAddr::new(0xFE00_7000), 0xF00)),
};
