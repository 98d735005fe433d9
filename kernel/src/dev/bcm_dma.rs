//! The Raspberry Pi 4's DMA controller (BCM2711 "legacy" DMA, channels
//! 0-14 at 0xFE00_7000 from the DT or the board; BCM2711 ARM Peripherals,
//! chapter 4; registers in `drivers::bcm2711_dma`) serving an
//! address space without an IOMMU: the device sees VideoCore bus addresses,
//! so the driver keeps a software translation cache (virtual page → bus
//! address) built under the interval notifier's `read_begin`/`read_retry`,
//! and the notifier's atomic hook drops entries of the range, so a transfer
//! can never reach a frame that has been unmapped and freed.
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use crate::aspace::{self, AddressSpace, FaultError, Subscription};
use crate::mem::phys_to_virt;
use crate::sched;
use crate::sync::SpinLock;
use drivers::bcm2711_dma::{self, Channel, ControlBlock};
use drivers::timer;
use mm::notifier::{AtomicCtx, IntervalNotifier, Notifier, SleepCtx};
use mm::{PhysAddr, VaRange, VirtAddr, PAGE_SIZE};

/// The channel this driver uses (0-6 are full DMA engines).
const CHANNEL: usize = 5;
/// The VideoCore sees the first GiB of RAM at this bus address (uncached alias).
const BUS_RAM: u64 = 0xC000_0000;

/// Why a transfer was refused or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiDmaError {
    /// The buffer is not (or no longer) mapped as the transfer needs.
    Fault(FaultError),
    /// Outside the first GiB of RAM (the legacy engines' reach).
    Unreachable {
        /// The buffer page's physical address.
        pa: u64,
    },
    /// The engine reported an error or did not finish in time.
    Engine {
        /// The channel's CS register when the transfer stopped (ERROR, ACTIVE).
        cs: u32,
    },
    /// The address space is gone.
    NoAddressSpace,
    /// Neither the DT nor the board names the controller.
    NoController,
    /// The address space refused the subscription.
    Subscribe(mm::notifier::SubscribeError),
}

/// Low bit of a cache entry (a page-aligned physical address): the page was
/// writable when the translation was made.
const CACHED_WRITABLE: u64 = 1;

/// The DMA controller bound to one address space.
pub struct PiDma {
    aspace: Weak<AddressSpace>,
    interval: IntervalNotifier,
    /// Page VA → physical address; the lock also covers a running transfer.
    cache: SpinLock<BTreeMap<u64, u64>>,
    cb: SpinLock<Box<ControlBlock>>,
    channel: Channel,
    hook_enabled: AtomicBool,
    /// Cached translations the atomic hook dropped.
    pub dropped: AtomicU64,
    /// Transfers the engine completed.
    pub transfers: AtomicU64,
}

/// Binds the controller to `aspace` (subscribes to its notifier). Sleepable.
pub fn bind(aspace: &Arc<AddressSpace>) -> Result<Subscription<PiDma>, PiDmaError> {
    crate::sync::might_sleep();
    let controller = crate::platform::get()
        .and_then(|p| p.dma)
        .ok_or(PiDmaError::NoController)?;
    let base = phys_to_virt(controller.start) + CHANNEL * bcm2711_dma::CHANNEL_STRIDE;
    let dma = Arc::new(PiDma {
        aspace: Arc::downgrade(aspace),
        interval: IntervalNotifier::new(aspace::USER_RANGE),
        cache: SpinLock::new(BTreeMap::new()),
        cb: SpinLock::new(Box::new(ControlBlock::default())),
        // SAFETY: the controller's block, mapped as device memory by the
        // kernel's tables (the board's MMIO window); channel 5 is this
        // driver's alone.
        channel: unsafe { Channel::new(base) },
        hook_enabled: AtomicBool::new(true),
        dropped: AtomicU64::new(0),
        transfers: AtomicU64::new(0),
    });
    dma.channel.reset();
    aspace.subscribe(dma).map_err(PiDmaError::Subscribe)
}

impl PiDma {
    /// Negative-control switch: with `false` the atomic hook keeps stale entries (tests only).
    pub fn set_hook_enabled(&self, on: bool) {
        self.hook_enabled.store(on, Ordering::SeqCst);
    }

    /// Whether the cache holds a translation for the page of `va`.
    pub fn cached(&self, va: VirtAddr) -> Option<u64> {
        self.cache
            .lock()
            .get(&va.align_down(PAGE_SIZE).as_u64())
            .map(|e| e & !CACHED_WRITABLE)
    }

    /// The physical page behind `va`, from the cache or built under the
    /// interval protocol (faulting the page in as the access needs). A
    /// cached entry records whether the page was writable, so a transfer
    /// into a read-only page is refused as the CPU would be. Sleepable.
    fn translation(&self, va: VirtAddr, write: bool) -> Result<u64, PiDmaError> {
        let page = va.align_down(PAGE_SIZE);
        let hit = self.cache.lock().get(&page.as_u64()).copied();
        if let Some(e) = hit.filter(|e| !write || e & CACHED_WRITABLE != 0) {
            return Ok(e & !CACHED_WRITABLE);
        }
        let aspace = self.aspace.upgrade().ok_or(PiDmaError::NoAddressSpace)?;
        loop {
            let Some(seq) = self.interval.read_begin() else {
                sched::sleep(Duration::from_millis(1));
                continue;
            };
            let (pa, writable) = match aspace.translate_access(page) {
                Some((pa, writable)) if writable || !write => (pa.as_u64(), writable),
                _ => {
                    aspace
                        .handle_fault(page, write, false)
                        .map_err(PiDmaError::Fault)?;
                    continue;
                }
            };
            let mut cache = self.cache.lock();
            if self.interval.read_retry(seq) {
                continue; // an invalidation overtook us: the translation may be stale
            }
            cache.insert(
                page.as_u64(),
                pa | if writable { CACHED_WRITABLE } else { 0 },
            );
            return Ok(pa);
        }
    }

    /// Copies `len` bytes from `src` to `dst` (both in the address space) with
    /// the DMA engine, page by page. Sleepable.
    pub fn copy(&self, src: VirtAddr, dst: VirtAddr, len: usize) -> Result<(), PiDmaError> {
        crate::sync::might_sleep();
        let mut done = 0u64;
        while done < len as u64 {
            let (s, d) = (src.add(done), dst.add(done));
            let n = (PAGE_SIZE - s.as_u64() % PAGE_SIZE)
                .min(PAGE_SIZE - d.as_u64() % PAGE_SIZE)
                .min(len as u64 - done);
            let s_pa = self.translation(s, false)? + s.as_u64() % PAGE_SIZE;
            let d_pa = self.translation(d, true)? + d.as_u64() % PAGE_SIZE;
            self.run(
                s.align_down(PAGE_SIZE),
                d.align_down(PAGE_SIZE),
                s_pa,
                d_pa,
                n,
            )?;
            done += n;
        }
        Ok(())
    }

    /// One transfer, under the cache lock (the atomic hook waits for it),
    /// after checking the entries are still there.
    fn run(
        &self,
        s_page: VirtAddr,
        d_page: VirtAddr,
        s_pa: u64,
        d_pa: u64,
        n: u64,
    ) -> Result<(), PiDmaError> {
        let cache = self.cache.lock();
        let still = |page: VirtAddr, pa: u64| {
            cache
                .get(&page.as_u64())
                .is_some_and(|c| c & !CACHED_WRITABLE == pa & !(PAGE_SIZE - 1))
        };
        if !still(s_page, s_pa) || !still(d_page, d_pa) {
            return Err(PiDmaError::Fault(FaultError::NotMapped { va: s_page }));
        }
        for pa in [s_pa, d_pa] {
            if pa + n > 1 << 30 {
                return Err(PiDmaError::Unreachable { pa });
            }
        }
        clean_invalidate(s_pa, n);
        clean_invalidate(d_pa, n);
        let mut cb = self.cb.lock();
        **cb = ControlBlock::copy((BUS_RAM + s_pa) as u32, (BUS_RAM + d_pa) as u32, n as u32);
        let cb_pa = crate::mem::virt_to_phys(&**cb as *const ControlBlock as usize).as_u64();
        clean_invalidate(cb_pa, 32);
        let deadline = timer::counter() + timer::ns_to_ticks(10_000_000);
        // The control block names two pages the cache lock keeps mapped.
        self.channel.start((BUS_RAM + cb_pa) as u32);
        let status = self.channel.wait(|| timer::counter() > deadline);
        clean_invalidate(d_pa, n);
        if status.error() || status.active() {
            return Err(PiDmaError::Engine { cs: status.0 });
        }
        self.transfers.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Cleans and invalidates the data cache over `[pa, pa + len)` to the point
/// of coherency (the engine does not snoop the CPU caches).
fn clean_invalidate(pa: u64, len: u64) {
    crate::arch::cache::clean_invalidate_to_poc(phys_to_virt(PhysAddr::new(pa)), len as usize);
}

impl Notifier for PiDma {
    fn invalidate_range_start(&self, range: &VaRange, _: &SleepCtx) {
        self.interval.begin_invalidate(range);
    }

    fn invalidate_secondary_tlbs(&self, range: &VaRange, _: &AtomicCtx) {
        if !self.hook_enabled.load(Ordering::SeqCst) {
            return;
        }
        let mut cache = self.cache.lock();
        let before = cache.len();
        cache.retain(|va, _| !range.contains(VirtAddr::new(*va)));
        self.dropped
            .fetch_add((before - cache.len()) as u64, Ordering::Relaxed);
    }

    fn invalidate_range_end(&self, range: &VaRange, _: &SleepCtx) {
        self.interval.end_invalidate(range);
    }

    fn release(&self, _: &SleepCtx) {
        self.cache.lock().clear();
    }
}
