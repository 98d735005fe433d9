//! The `edu` DMA device (PCI 1234:11e8) bound to the SMMU: its DMAs use
//! IOVAs that the SMMU translates through the context the caller attached
//! (shared virtual addressing). Blocking transfers sleep on a `Completion`
//! the device's INTx completes; polled ones spin on the command register
//! with a deadline. A DMA the SMMU faulted still completes on the device: the
//! fault comes back as an error carrying the SMMU event, never as a hang.
use super::{pci::Function, smmu, DevError};
use crate::irq;
use crate::mem::phys_to_virt;
use crate::sync::{Completion, Mutex};
use core::sync::atomic::{AtomicU64, Ordering};
use drivers::edu::{Direction, Edu, EduError, Transfer, BUFFER_SIZE};
use drivers::pci::dt::{GicIrq, Trigger};
use drivers::pci::Bdf;
use drivers::smmuv3::Event;
use drivers::timer;
use mm::VirtAddr;

/// Why a transfer did not do its job.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// The device refused it (length, busy).
    Device(EduError),
    /// The SMMU stopped it: the first event it recorded for this stream.
    Fault(Event),
    /// Polled transfer still running at its deadline.
    Timeout {
        /// How long the transfer was polled, in milliseconds.
        waited_ms: u64,
    },
    /// The device has no routed interrupt: only polled transfers work.
    NoInterrupt,
}

/// A finished transfer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, defmt::Format)]
pub struct DmaDone {
    /// Bytes copied.
    pub bytes: u64,
    /// CNTVCT ticks from start to completion seen.
    pub ticks: u64,
}

/// The `edu` device found on the PCIe bus, its SMMU stream and interrupt.
pub struct EduDevice {
    hw: Edu,
    /// The PCI function it is.
    pub function: Function,
    /// Its SMMU stream ID (the requester ID through the host bridge's `iommu-map`).
    pub stream_id: drivers::smmuv3::StreamId,
    /// Its INTx, routed through the host bridge's `interrupt-map`, if any.
    pub irq: Option<GicIrq>,
    done: Completion,
    /// One transfer at a time; sleepable.
    transfer: Mutex<()>,
    /// Interrupts its handler took.
    pub interrupts: AtomicU64,
    /// Transfers that ended without their completion being seen in time.
    pub missed_completions: AtomicU64,
}

static EDU: spin::Once<EduDevice> = spin::Once::new();

/// The edu device, once bound.
pub fn get() -> Option<&'static EduDevice> {
    EDU.get()
}

/// Binds the edu function found by enumeration: checks its identification,
/// routes its interrupt, enables bus mastering (the SMMU already aborts
/// every unattached stream).
pub(super) fn probe(
    host: &super::pci::HostBridge,
    function: Function,
) -> Result<&'static EduDevice, DevError> {
    let bar = function.bar(0).ok_or(DevError::Property("edu BAR0"))?;
    let stream_id = function
        .stream_id
        .ok_or(DevError::Absent("edu stream ID"))?;
    // SAFETY: BAR0 was assigned and mapped as device memory by enumeration,
    // with memory decoding on; this is the device's only driver.
    let hw =
        unsafe { Edu::new(phys_to_virt(mm::PhysAddr::new(bar.cpu))) }.map_err(DevError::Edu)?;
    let dev = EDU.call_once(|| EduDevice {
        hw,
        function,
        stream_id,
        irq: function.irq,
        done: Completion::new(),
        transfer: Mutex::new(()),
        interrupts: AtomicU64::new(0),
        missed_completions: AtomicU64::new(0),
    });
    if let Some(i) = dev.irq {
        irq::register(i.intid, on_interrupt);
        irq::set_edge_triggered(i.intid, i.trigger == Trigger::Edge);
        irq::enable(i.intid);
    }
    host.enable_bus_master(function.bdf)
        .map_err(DevError::Pci)?;
    defmt::info!(
        "edu at {=u8:02x}:{=u8:02x}.{=u8}: BAR0 {=u64:#x}, stream {}, INTID {}, liveness {=u32:#x}",
        function.bdf.bus,
        function.bdf.device,
        function.bdf.function,
        bar.cpu,
        stream_id.get(),
        defmt::Debug2Format(&dev.irq.map(|i| i.intid)),
        dev.hw.liveness(0x1234_5678)
    );
    Ok(dev)
}

fn on_interrupt(_intid: u32) {
    let Some(dev) = get() else { return };
    if dev.hw.dma_interrupt_pending() {
        dev.hw.acknowledge_dma();
        dev.interrupts.fetch_add(1, Ordering::Relaxed);
        dev.done.complete();
    }
}

/// A blocking transfer that has not completed after this long is reported.
const BLOCKING_TIMEOUT_MS: u64 = 2_000;

impl EduDevice {
    /// Sleeps until the completion interrupt has been handled; a transfer
    /// the device finished without it being seen (counted in
    /// `missed_completions`), or one still running at the deadline, is
    /// reported instead of waited for forever.
    fn wait_done(&self, t0: u64) -> Result<(), DmaError> {
        let deadline = t0 + timer::ns_to_ticks(BLOCKING_TIMEOUT_MS * 1_000_000);
        let mut idle_since = None;
        loop {
            if self.done.is_done() {
                self.done.wait();
                return Ok(());
            }
            let now = timer::counter();
            if self.hw.is_busy() {
                idle_since = None;
            } else if now - *idle_since.get_or_insert(now) > timer::ns_to_ticks(20_000_000) {
                self.missed_completions.fetch_add(1, Ordering::Relaxed);
                defmt::warn!("edu: transfer finished but its completion was not seen within 20 ms");
                return Ok(());
            }
            if now > deadline {
                return Err(DmaError::Timeout {
                    waited_ms: BLOCKING_TIMEOUT_MS,
                });
            }
            crate::sched::sleep(core::time::Duration::from_millis(1));
        }
    }

    /// Its bus/device/function address.
    pub fn bdf(&self) -> Bdf {
        self.function.bdf
    }

    /// The liveness check: the device returns the inverse of what is written.
    pub fn liveness(&self, value: u32) -> u32 {
        self.hw.liveness(value)
    }

    /// Starts `t` and returns at once (polled use; any context).
    pub fn start(&self, t: &Transfer) -> Result<(), EduError> {
        self.hw.start(t)
    }

    /// Whether a transfer is running.
    pub fn is_busy(&self) -> bool {
        self.hw.is_busy()
    }

    fn transfer(direction: Direction, iova: VirtAddr, len: usize, interrupt: bool) -> Transfer {
        Transfer {
            direction,
            iova: iova.as_u64(),
            len: len as u64,
            offset: 0,
            interrupt,
        }
    }

    fn check_len(len: usize) -> Result<(), DmaError> {
        if len == 0 || len as u64 > BUFFER_SIZE {
            return Err(DmaError::Device(EduError::OutsideBuffer {
                offset: 0,
                len: len as u64,
            }));
        }
        Ok(())
    }

    /// The SMMU's verdict on a finished transfer that started when the event
    /// log was at `since`.
    fn verdict(&self, since: u64, len: usize, ticks: u64) -> Result<DmaDone, DmaError> {
        if let Some(e) = smmu::get().and_then(|s| s.event_since(since, self.stream_id)) {
            return Err(DmaError::Fault(e));
        }
        Ok(DmaDone {
            bytes: len as u64,
            ticks,
        })
    }

    fn blocking(
        &self,
        direction: Direction,
        iova: VirtAddr,
        len: usize,
    ) -> Result<DmaDone, DmaError> {
        Self::check_len(len)?;
        if self.irq.is_none() {
            return Err(DmaError::NoInterrupt);
        }
        let _one = self.transfer.lock();
        let since = smmu::get().map_or(0, |s| s.event_seq());
        self.done.reinit();
        let t0 = timer::counter();
        self.hw
            .start(&Self::transfer(direction, iova, len, true))
            .map_err(DmaError::Device)?;
        self.wait_done(t0)?;
        self.verdict(since, len, timer::counter() - t0)
    }

    /// Copies `len` bytes (<= 4 KiB) at IOVA `iova` into the device buffer;
    /// the calling task sleeps until the device interrupts.
    /// Sleepable context only. `Err(Fault)` if the SMMU refused the access.
    pub fn dma_to_device(&self, iova: VirtAddr, len: usize) -> Result<DmaDone, DmaError> {
        self.blocking(Direction::ToDevice, iova, len)
    }

    /// Copies `len` bytes of the device buffer to IOVA `iova`; sleeps until done.
    pub fn dma_from_device(&self, iova: VirtAddr, len: usize) -> Result<DmaDone, DmaError> {
        self.blocking(Direction::FromDevice, iova, len)
    }

    /// The same transfer polled, without the interrupt: spins on the busy bit
    /// for at most `timeout_ms` (any context that may spin that long).
    pub fn dma_polled(
        &self,
        direction: Direction,
        iova: VirtAddr,
        len: usize,
        timeout_ms: u64,
    ) -> Result<DmaDone, DmaError> {
        Self::check_len(len)?;
        let since = smmu::get().map_or(0, |s| s.event_seq());
        let t0 = timer::counter();
        let deadline = t0 + timer::ns_to_ticks(timeout_ms * 1_000_000);
        self.hw
            .start(&Self::transfer(direction, iova, len, false))
            .map_err(DmaError::Device)?;
        while self.hw.is_busy() {
            if timer::counter() >= deadline {
                return Err(DmaError::Timeout {
                    waited_ms: timeout_ms,
                });
            }
            core::hint::spin_loop();
        }
        self.verdict(since, len, timer::counter() - t0)
    }
}
