//! Shared virtual addressing for the `edu` DMA device (issue 6): the device
//! uses an address space's own page table through an SMMUv3 context, and the
//! address space's MMU notifier keeps the IOTLB coherent with it:
//! - `invalidate_range_start` (sleepable) waits for an in-flight DMA that
//!   touches the range and holds new DMA to it off;
//! - `invalidate_secondary_tlbs` (atomic, under the PTL) invalidates the
//!   SMMU TLB for the range and syncs, polling with a bound, never sleeping;
//! - `invalidate_range_end` lets DMA to the range resume;
//! - `release` detaches the device (the stream aborts, the ASID's IOTLB
//!   entries go) before the address space's frames are freed.
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use super::edu::{self, DmaDone, DmaError};
use super::smmu::{self, Context};
use crate::aspace::{AddressSpace, FaultError, Subscription};
use crate::sched;
use crate::sync::SpinLock;
use mm::notifier::{AtomicCtx, Notifier, SleepCtx};
use mm::{VaRange, VirtAddr, PAGE_SIZE};

/// Why a binding or a transfer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvaError {
    /// No SMMU or no `edu` device on this machine.
    NoDevice,
    /// The SMMU refused the stream's context, or an invalidation failed.
    Smmu(drivers::smmuv3::SmmuError),
    /// The address space refused the notifier subscription.
    Subscribe(mm::notifier::SubscribeError),
    /// The buffer is not mapped (or not with the access the transfer needs).
    Fault(FaultError),
    /// The transfer itself failed (device refusal, SMMU fault, timeout).
    Dma(DmaError),
}

/// In-flight DMA and open invalidation windows of one binding.
#[derive(Default)]
struct Traffic {
    /// One claim per transfer between `begin` and `finish`: transfers of
    /// several threads each keep theirs (they queue for the device after
    /// claiming), so `invalidate_range_start` waits for every one that
    /// touches its range, not only the last to claim.
    inflight: [Option<VaRange>; 8],
    /// Ranges between `invalidate_range_start` and `_end` (nesting counted
    /// by repetition), as far as they fit.
    blocked: [Option<VaRange>; BLOCKED_SLOTS],
    /// Open windows that found no free slot: while there is one, every new
    /// transfer waits (its range is unknown). Windows open under `mmap_lock`
    /// for read too (copy-on-write faults of any number of threads, each
    /// waiting here for an in-flight DMA), so there is no bound on how many
    /// are open at once, and a window must never wait for a slot.
    overflow: usize,
}

/// Windows `Traffic` keeps by range.
const BLOCKED_SLOTS: usize = 8;

impl Traffic {
    /// `invalidate_range_start(range)`: never waits, never fails.
    fn open(&mut self, range: VaRange) {
        match self.blocked.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(range),
            None => self.overflow += 1,
        }
    }

    /// `invalidate_range_end(range)`. A slot holding `range` is freed if
    /// there is one, else one overflow window ends. Sound because windows
    /// of one range are interchangeable: the slots always hold ranges of
    /// open windows (a sub-multiset), and slots + overflow = open windows;
    /// so an end whose range has no slot finds `overflow > 0`, and with
    /// `overflow == 0` the slots are exactly the open windows.
    fn close(&mut self, range: &VaRange) {
        match self.blocked.iter_mut().find(|s| s.as_ref() == Some(range)) {
            Some(slot) => *slot = None,
            None => {
                debug_assert!(self.overflow > 0, "an end without its start");
                self.overflow = self.overflow.saturating_sub(1);
            }
        }
    }

    /// Whether an open window holds transfers to `r` off.
    fn holds_off(&self, r: &VaRange) -> bool {
        self.overflow > 0 || SvaBinding::overlaps(&self.blocked, r)
    }
}

/// The edu device bound to one address space.
pub struct SvaBinding {
    /// Weak: the binding must not keep the address space alive (its
    /// teardown is what calls `release`).
    aspace: Weak<AddressSpace>,
    context: SpinLock<Option<Context>>,
    asid: drivers::smmuv3::SmmuAsid,
    traffic: SpinLock<Traffic>,
    /// Test-only switch for the negative control: skip the IOTLB invalidation.
    hook_enabled: AtomicBool,
    /// IOTLB invalidations issued.
    pub invalidations: AtomicU64,
    /// SMMU commands those invalidations took (CMD_SYNC not included).
    pub commands: AtomicU64,
    /// Invalidations the SMMU did not confirm (reported, frames must not be reused).
    pub failures: AtomicU64,
}

/// Binds the edu device to `aspace`: attaches its stream to the address
/// space's page table and subscribes to its notifier. Sleepable.
pub fn bind(aspace: &Arc<AddressSpace>) -> Result<SvaHandle, SvaError> {
    crate::sync::might_sleep();
    let dev = edu::get().ok_or(SvaError::NoDevice)?;
    let smmu = smmu::get().ok_or(SvaError::NoDevice)?;
    let ctx = smmu
        .attach(dev.stream_id, aspace.root())
        .map_err(SvaError::Smmu)?;
    let asid = ctx.asid();
    let binding = Arc::new(SvaBinding {
        aspace: Arc::downgrade(aspace),
        context: SpinLock::new(Some(ctx)),
        asid,
        traffic: SpinLock::new(Traffic::default()),
        hook_enabled: AtomicBool::new(true),
        invalidations: AtomicU64::new(0),
        commands: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    });
    // A refused subscription drops the binding, whose `Drop` detaches.
    let subscription = aspace.subscribe(binding).map_err(SvaError::Subscribe)?;
    Ok(SvaHandle(subscription))
}

/// The device bound to an address space until this is dropped (or
/// [`SvaHandle::unbind`]): the stream is detached first, then the binding
/// unsubscribed. In this order: until the stream aborts, the SMMU may walk
/// the table, and every change of it must still reach the IOTLB through the
/// notifier.
pub struct SvaHandle(Subscription<SvaBinding>);

impl SvaHandle {
    /// Detaches, then unsubscribes (sleepable).
    pub fn unbind(self) {}

    /// The binding, shared (its counters stay readable after `unbind`).
    pub fn binding(&self) -> Arc<SvaBinding> {
        self.0.notifier().clone()
    }
}

impl core::ops::Deref for SvaHandle {
    type Target = SvaBinding;
    fn deref(&self) -> &SvaBinding {
        &self.0
    }
}

impl Drop for SvaHandle {
    fn drop(&mut self) {
        crate::sync::might_sleep();
        self.0.detach();
        // Then the subscription's own drop unsubscribes.
    }
}

impl Drop for SvaBinding {
    /// The last reference: detach if nobody did (a refused subscription).
    fn drop(&mut self) {
        self.detach();
    }
}

impl SvaBinding {
    /// The SMMU ASID of the context (private to the SMMU; see `smmu`).
    pub fn asid(&self) -> drivers::smmuv3::SmmuAsid {
        self.asid
    }

    /// Negative-control switch: with `false` the atomic hook skips the
    /// IOTLB invalidation (tests only).
    pub fn set_hook_enabled(&self, on: bool) {
        self.hook_enabled.store(on, Ordering::SeqCst);
    }

    /// Aborts the stream, drops its ASID's IOTLB entries and frees its
    /// context (once). A detach the SMMU does not confirm stops the kernel
    /// with a report: the caller goes on to free or reuse the frames the
    /// device could still reach.
    fn detach(&self) {
        let Some(ctx) = self.context.lock().take() else {
            return;
        };
        let Some(s) = smmu::get() else { return };
        if let Err(e) = s.detach(ctx) {
            panic!(
                "SVA: the SMMU did not confirm the detach of ASID {} ({:?}); the address space's frames must not be freed",
                self.asid, e
            );
        }
    }

    /// Holds new transfers to `range` off, then waits for those in flight
    /// that touch it to drain; sleeps, so it takes the sleep token.
    fn hold_off(&self, range: &VaRange, _: &SleepCtx) {
        // Hold new transfers to the range off first, then wait for the one in
        // flight (if it touches the range) to drain: in the other order a
        // busy device could start the next transfer before we look again.
        self.traffic.lock().open(*range);
        // A DMA takes ~100 ms on QEMU's edu; it always ends (the driver
        // bounds its wait), so this wait does too.
        while Self::overlaps(&self.traffic.lock().inflight, range) {
            sched::sleep(Duration::from_millis(1));
        }
    }

    fn overlaps(list: &[Option<VaRange>], r: &VaRange) -> bool {
        list.iter().flatten().any(|b| b.overlaps(r))
    }

    /// Makes the buffer present (faulting pages in), then claims it for one
    /// transfer once no invalidation window covers it and a claim slot is
    /// free; returns the slot for `finish`.
    fn begin(&self, r: VaRange, write: bool) -> Result<usize, SvaError> {
        let aspace = self
            .aspace
            .upgrade()
            .ok_or(SvaError::Fault(FaultError::NoAddressSpace))?;
        let pages =
            || (r.start.align_down(PAGE_SIZE).as_u64()..r.end.as_u64()).step_by(PAGE_SIZE as usize);
        loop {
            for page in pages() {
                // With write intent for a device write: a copy-on-write page
                // is broken here, as the CPU's write would break it.
                if aspace.needs_fault_for_device(VirtAddr::new(page), write) {
                    aspace
                        .handle_fault(VirtAddr::new(page), write, false)
                        .map_err(SvaError::Fault)?;
                }
            }
            {
                // `mmap_lock` for read first (the area decides what a
                // read-only page means), then the claim against the windows.
                let layout = aspace.mmap_lock().read();
                let mut t = self.traffic.lock();
                let present = pages()
                    .all(|p| !aspace.needs_fault_for_device_in(&layout, VirtAddr::new(p), write));
                if present && !t.holds_off(&r) {
                    if let Some(slot) = t.inflight.iter().position(Option::is_none) {
                        t.inflight[slot] = Some(r);
                        return Ok(slot);
                    }
                }
            }
            sched::sleep(Duration::from_millis(1));
        }
    }

    fn finish(&self, slot: usize) {
        self.traffic.lock().inflight[slot] = None;
    }

    fn transfer(&self, va: VirtAddr, len: usize, to_device: bool) -> Result<DmaDone, SvaError> {
        crate::sync::might_sleep();
        let dev = edu::get().ok_or(SvaError::NoDevice)?;
        let r = VaRange::new(va, va.add(len as u64));
        let slot = self.begin(r, !to_device)?;
        let result = if to_device {
            dev.dma_to_device(va, len)
        } else {
            dev.dma_from_device(va, len)
        };
        self.finish(slot);
        result.map_err(SvaError::Dma)
    }

    /// The device reads `len` bytes of the address space at `va` (≤ 4 KiB).
    /// Blocks the calling task until the transfer completes. Sleepable.
    pub fn dma_to_device(&self, va: VirtAddr, len: usize) -> Result<DmaDone, SvaError> {
        self.transfer(va, len, true)
    }

    /// The device writes `len` bytes into the address space at `va`.
    pub fn dma_from_device(&self, va: VirtAddr, len: usize) -> Result<DmaDone, SvaError> {
        self.transfer(va, len, false)
    }

    /// A transfer started on `va` without claiming the buffer (tests: shows
    /// what the device does when nothing holds the range).
    pub fn dma_from_device_unclaimed(&self, va: VirtAddr, len: usize) -> Result<DmaDone, SvaError> {
        edu::get()
            .ok_or(SvaError::NoDevice)?
            .dma_from_device(va, len)
            .map_err(SvaError::Dma)
    }
}

impl Notifier for SvaBinding {
    fn invalidate_range_start(&self, range: &VaRange, ctx: &SleepCtx) {
        self.hold_off(range, ctx);
    }

    fn invalidate_secondary_tlbs(&self, range: &VaRange, ctx: &AtomicCtx) {
        if !self.hook_enabled.load(Ordering::SeqCst) {
            return;
        }
        // Detached: the stream aborts and its ASID may be another's now.
        if self.context.lock().is_none() {
            return;
        }
        let Some(s) = smmu::get() else { return };
        match s.invalidate_range(self.asid, *range, ctx) {
            Ok(stats) => {
                self.invalidations.fetch_add(1, Ordering::Relaxed);
                self.commands
                    .fetch_add(u64::from(stats.commands), Ordering::Relaxed);
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                defmt::error!(
                    "SVA: IOTLB invalidation of {} failed: {}; invalidating the whole ASID",
                    defmt::Debug2Format(range),
                    defmt::Debug2Format(&e)
                );
                // The caller frees the range's frames once the hooks return:
                // if the SMMU cannot confirm that it forgot them, going on
                // would let the device write freed memory. The notifier
                // protocol cannot veto the free, so stop here with the report.
                if let Err(e) = s.invalidate_asid(self.asid, ctx) {
                    panic!(
                        "SVA: the SMMU did not confirm the IOTLB invalidation of {:?} ({:?}); its frames must not be freed",
                        range, e
                    );
                }
            }
        }
    }

    fn invalidate_range_end(&self, range: &VaRange, _: &SleepCtx) {
        self.traffic.lock().close(range);
    }

    /// The address space is being torn down (its process exited or
    /// exec'd): the device is detached before any frame is freed, so the
    /// stream is free for the next binding.
    fn release(&self, _: &SleepCtx) {
        self.detach();
    }
}
