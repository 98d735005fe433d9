//! The PCIe host bridge the DT describes (`pci-host-ecam-generic`, Linux
//! binding `host-generic-pci.yaml`): its ECAM window, `bus-range` and
//! `ranges` windows; enumeration of the root bus (functions 0-7 of devices
//! 0-31), BARs sized and assigned from the windows and mapped, memory/I/O
//! decoding on, each function's INTx routed through `interrupt-map` and its
//! stream ID through `iommu-map`. Bus mastering is left to the driver that
//! binds the function. Bridges are reported, not configured.
use super::dt;
use super::DevError;
use drivers::pci::dt::GicIrq;
use drivers::pci::{
    config::HEADER_TYPE, dt as pcidt, intx, Assigned, Bar, BarAllocator, Bdf, Ecam, Pin, COMMAND,
};
use fdt::Fdt;
use tock_registers::interfaces::{ReadWriteable, Readable};

/// Functions kept per host bridge.
pub const MAX_FUNCTIONS: usize = 32;

/// One function on the root bus, as enumeration left it.
#[derive(Copy, Clone, Debug)]
pub struct Function {
    /// Its bus/device/function address.
    pub bdf: Bdf,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class, subclass, programming interface.
    pub class: (u8, u8, u8),
    /// A PCI-to-PCI bridge (Type 1 header): not configured.
    pub bridge: bool,
    /// Implemented BARs and where they were placed.
    pub bars: [Option<(Bar, Assigned)>; 6],
    /// The INTx pin it uses (Interrupt Pin register), if any.
    pub pin: Option<Pin>,
    /// The GIC interrupt its INTx pin is routed to.
    pub irq: Option<GicIrq>,
    /// Its SMMU stream ID (from `iommu-map`), if an IOMMU translates it.
    pub stream_id: Option<drivers::smmuv3::StreamId>,
}

impl Function {
    /// The CPU physical address and size of BAR `index`.
    pub fn bar(&self, index: usize) -> Option<Assigned> {
        self.bars.get(index).copied().flatten().map(|(_, a)| a)
    }
}

/// A host bridge after enumeration.
pub struct HostBridge {
    ecam: Ecam,
    /// The physical ECAM window (from the DT `reg`).
    pub ecam_window: mm::PhysRange,
    allocator: BarAllocator,
    functions: [Option<Function>; MAX_FUNCTIONS],
}

impl HostBridge {
    /// Configuration space access.
    pub fn ecam(&self) -> &Ecam {
        &self.ecam
    }

    /// The windows BARs are assigned from.
    pub fn windows(&self) -> impl Iterator<Item = drivers::pci::Window> + '_ {
        self.allocator.windows()
    }

    /// Every function found on the root bus.
    pub fn functions(&self) -> impl Iterator<Item = Function> + '_ {
        self.functions.iter().flatten().copied()
    }

    /// The first function with this vendor and device ID.
    pub fn find(&self, vendor: u16, device: u16) -> Option<Function> {
        self.functions()
            .find(|f| f.vendor == vendor && f.device == device)
    }

    /// Lets `bdf` master the bus (DMA). Call once its driver is ready.
    pub fn enable_bus_master(&self, bdf: Bdf) -> Result<(), drivers::pci::PciError> {
        self.ecam
            .header(bdf)?
            .command
            .modify(COMMAND::BUS_MASTER::SET);
        Ok(())
    }
}

/// Finds, enumerates and configures the host bridge.
pub(super) fn probe(fdt: &Fdt<'static>) -> Result<HostBridge, DevError> {
    let node = fdt
        .find_compatible(&["pci-host-ecam-generic"])
        .ok_or(DevError::Absent("pci-host-ecam-generic"))?;
    let ecam_window = dt::first_reg(node).ok_or(DevError::Property("reg"))?;
    let (first_bus, last_bus) =
        pcidt::bus_range(node.property("bus-range").map(|p| p.value)).map_err(DevError::Dt)?;
    // The bridge is a child of the root on the boards we run on: `ranges`
    // parent addresses use the root's cell counts.
    let root = fdt.root().cell_sizes();
    let own = node.cell_sizes();
    let ranges = node
        .property("ranges")
        .ok_or(DevError::Property("ranges"))?;
    let windows =
        pcidt::ranges(ranges.value, root.address_cells, own.size_cells).map_err(DevError::Dt)?;
    let mut allocator = BarAllocator::new(windows.into_iter().flatten());

    let va = dt::map_device(ecam_window.start, ecam_window.len()).map_err(DevError::Map)?;
    // SAFETY: `va` maps the bridge's ECAM window (its DT `reg`, which covers
    // `bus-range`) as device memory for good; only this module configures it.
    let ecam = unsafe { Ecam::new(va, first_bus, last_bus) };

    let map = node.property("interrupt-map").map(|p| p.value);
    let mask = node.property("interrupt-map-mask").map(|p| p.value);
    let iommu_map = node.property("iommu-map").map(|p| p.value);

    let mut functions = [None; MAX_FUNCTIONS];
    let mut found = 0;
    for device in 0..32 {
        for function in 0..8 {
            let bdf = Bdf::new(first_bus, device, function).expect("device < 32, function < 8");
            let h = ecam.header(bdf).map_err(DevError::Pci)?;
            let vendor = h.vendor_id.get();
            if vendor == drivers::pci::config::ABSENT {
                if function == 0 {
                    break;
                }
                continue;
            }
            let header = h.header_type.extract();
            let bridge = header.read(HEADER_TYPE::LAYOUT) == 1;
            let mut f = Function {
                bdf,
                vendor,
                device: h.device_id.get(),
                class: (h.class.get(), h.subclass.get(), h.prog_if.get()),
                bridge,
                bars: [None; 6],
                pin: None,
                irq: None,
                stream_id: None,
            };
            if bridge {
                defmt::warn!(
                    "pci {=u8:02x}:{=u8:02x}.{=u8}: PCI bridge; buses behind it are not enumerated",
                    bdf.bus,
                    bdf.device,
                    bdf.function
                );
            } else {
                configure(&ecam, &mut allocator, &mut f)?;
                f.pin = Pin::from_register(h.interrupt_pin.get());
                if let (Some(pin), Some(map), Some(mask)) = (f.pin, map, mask) {
                    let route =
                        intx::route(map, mask, bdf, pin, |ph| dt::controller_cells(fdt, ph))
                            .map_err(DevError::InterruptMap)?;
                    f.irq = route.and_then(|r| GicIrq::from_specifier(r.specifier()));
                }
                if let Some(m) = iommu_map {
                    f.stream_id = pcidt::iommu_map(m, bdf.requester_id())
                        .map_err(DevError::Dt)?
                        .map(|(_, sid)| drivers::smmuv3::StreamId::new(sid));
                }
            }
            report(&f);
            match functions.get_mut(found) {
                Some(slot) => *slot = Some(f),
                None => defmt::warn!(
                    "pci: more than {} functions; the rest are ignored",
                    MAX_FUNCTIONS
                ),
            }
            found += 1;
            if function == 0 && !header.is_set(HEADER_TYPE::MULTI_FUNCTION) {
                break;
            }
        }
    }
    Ok(HostBridge {
        ecam,
        ecam_window,
        allocator,
        functions,
    })
}

/// Sizes, assigns and maps the BARs of an endpoint, then turns decoding on.
fn configure(ecam: &Ecam, allocator: &mut BarAllocator, f: &mut Function) -> Result<(), DevError> {
    let bars = ecam.probe_bars(f.bdf).map_err(DevError::Pci)?;
    let (mut memory, mut io) = (false, false);
    for bar in bars.into_iter().flatten() {
        let placed = allocator
            .assign(bar.kind, bar.size)
            .map_err(DevError::Pci)?;
        ecam.set_bar(f.bdf, &bar, placed.pci)
            .map_err(DevError::Pci)?;
        dt::map_device(mm::PhysAddr::new(placed.cpu), placed.size).map_err(DevError::Map)?;
        match bar.kind {
            drivers::pci::BarKind::Io => io = true,
            _ => memory = true,
        }
        f.bars[usize::from(bar.index)] = Some((bar, placed));
    }
    let h = ecam.header(f.bdf).map_err(DevError::Pci)?;
    let mut enable = COMMAND::INTX_DISABLE::CLEAR;
    if memory {
        enable += COMMAND::MEMORY_SPACE::SET;
    }
    if io {
        enable += COMMAND::IO_SPACE::SET;
    }
    h.command.modify(enable);
    Ok(())
}

fn report(f: &Function) {
    defmt::info!(
        "pci {=u8:02x}:{=u8:02x}.{=u8}: {=u16:04x}:{=u16:04x} class {=u8:02x}{=u8:02x}{=u8:02x}",
        f.bdf.bus,
        f.bdf.device,
        f.bdf.function,
        f.vendor,
        f.device,
        f.class.0,
        f.class.1,
        f.class.2
    );
    for (bar, placed) in f.bars.iter().flatten() {
        defmt::info!(
            "pci {=u8:02x}:{=u8:02x}.{=u8}: BAR{=u8} {} {=u64} bytes at {=u64:#x} (cpu {=u64:#x})",
            f.bdf.bus,
            f.bdf.device,
            f.bdf.function,
            bar.index,
            defmt::Debug2Format(&bar.kind),
            bar.size,
            placed.pci,
            placed.cpu
        );
    }
    if let (Some(pin), Some(irq)) = (f.pin, f.irq) {
        defmt::info!(
            "pci {=u8:02x}:{=u8:02x}.{=u8}: INT{=str} -> INTID {} ({}), stream {}",
            f.bdf.bus,
            f.bdf.device,
            f.bdf.function,
            ["?", "A", "B", "C", "D"][pin as usize],
            irq.intid,
            defmt::Debug2Format(&irq.trigger),
            defmt::Debug2Format(&f.stream_id)
        );
    }
}
