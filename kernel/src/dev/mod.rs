//! Devices beyond the interrupt controller, timer and UART, found in the
//! device tree at boot: the SMMUv3 (brought up first, so every stream aborts
//! before any PCI function may master the bus), the PCIe host bridge and its
//! functions, and the edu DMA device. A missing or broken device is reported
//! and skipped; boot goes on.
#[cfg(all(feature = "notifiers", feature = "board-rpi4"))]
pub mod bcm_dma;
pub mod dt;
pub mod edu;
pub mod pci;
pub mod smmu;
#[cfg(feature = "notifiers")]
pub mod sva;

use crate::platform::Platform;
use drivers::pci::dt::DtError;

/// Why a device was not brought up.
#[derive(Copy, Clone, Debug)]
pub enum DevError {
    /// No DT node with this `compatible` (or no such resource).
    Absent(&'static str),
    /// A required property is missing or unusable.
    Property(&'static str),
    /// A DT property had the wrong shape.
    Dt(DtError),
    /// The host bridge's `interrupt-map` could not be read.
    InterruptMap(drivers::pci::intx::MapError),
    /// Enumeration or BAR assignment failed.
    Pci(drivers::pci::PciError),
    /// Mapping a register window failed.
    Map(mm::MapError),
    /// The SMMU failed its checks or bring-up.
    Smmu(drivers::smmuv3::SmmuError),
    /// The `edu` device is not what it should be.
    Edu(drivers::edu::EduError),
}

static HOST: spin::Once<pci::HostBridge> = spin::Once::new();

/// The PCIe host bridge, once enumerated.
pub fn pci() -> Option<&'static pci::HostBridge> {
    HOST.get()
}

/// Boot CPU, once, after interrupts are set up: SMMU, then PCIe, then the
/// drivers of the functions found.
pub fn probe(p: &Platform) {
    let Some(fdt) = p.fdt.as_ref() else {
        return;
    };
    let smmu = match smmu::probe(fdt) {
        Ok(s) => Some(s),
        Err(DevError::Absent(_)) => None,
        Err(e) => {
            defmt::error!("SMMUv3 not brought up: {}", defmt::Debug2Format(&e));
            None
        }
    };
    let host = match pci::probe(fdt) {
        Ok(h) => HOST.call_once(|| h),
        Err(DevError::Absent(_)) => return,
        Err(e) => {
            defmt::error!("PCIe not brought up: {}", defmt::Debug2Format(&e));
            return;
        }
    };
    // Every function behind the SMMU gets an (aborting) stream table entry
    // before any driver lets it master the bus.
    if let Some(s) = smmu {
        for sid in host.functions().filter_map(|f| f.stream_id) {
            if let Err(e) = s.prepare_stream(sid) {
                defmt::error!("SMMU stream {}: {}", sid.get(), defmt::Debug2Format(&e));
            }
        }
    }
    if let Some(f) = host.find(drivers::edu::VENDOR_ID, drivers::edu::DEVICE_ID) {
        if smmu.is_none() {
            defmt::warn!("edu found but no SMMU translates it: not bound");
        } else if let Err(e) = edu::probe(host, f) {
            defmt::error!("edu not bound: {}", defmt::Debug2Format(&e));
        }
    }
}
