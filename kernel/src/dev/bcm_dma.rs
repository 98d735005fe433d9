//! The Raspberry Pi 4's DMA controller (BCM2711 "legacy" DMA, channels
//! 0-14 at 0xFE00_7000 from the DT or the board; BCM2711 ARM Peripherals,
//! chapter 4; registers in `drivers::bcm2711_dma`) serving an
//! address space without an IOMMU: the device sees VideoCore bus addresses,
//! so the driver keeps a software translation cache (virtual page → bus
//! address) built under the interval notifier's `read_begin`/`read_retry`,
//! and the notifier's atomic hook drops entries of the range, so a transfer
//! can never reach a frame that has been unmapped and freed.
//!
//! Every frame in the cache is **pinned** (DESIGN.md §7.1, §7.4: the device
//! uses it by physical address): `FrameTable::pin` when its translation
//! enters the cache, `unpin` when it leaves (the atomic hook, `release`,
//! `unsubscribed`, an entry replaced, the driver dropped). Fork copies a
//! pinned private page for the child instead of sharing it, a copy-on-write
//! fault never takes a pinned page over in place, and a frame freed while
//! pinned stops the kernel (`FreedWhilePinned`), so an unpin that is missing
//! shows up. Pins are atomics: taking and dropping them under the cache
//! lock inside the PTL is fine.
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use crate::aspace::{self, AddressSpace, FaultError, Subscription};
use crate::mem::phys_to_virt;
use crate::mmu::{frame_desc, frame_table};
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
/// Bit 1 of a cache entry: the entry holds a pin on its frame (every entry
/// whose frame has a descriptor, until the atomic hook ran over it with the
/// test switch off: then the stale entry stays, unpinned).
const CACHED_PINNED: u64 = 2;
/// The flag bits of a cache entry.
const CACHED_FLAGS: u64 = CACHED_WRITABLE | CACHED_PINNED;

/// The DMA controller bound to one address space.
pub struct PiDma {
    aspace: Weak<AddressSpace>,
    interval: IntervalNotifier,
    /// Page VA → physical address; the lock also covers a running transfer.
    cache: SpinLock<BTreeMap<u64, u64>>,
    cb: SpinLock<Box<ControlBlock>>,
    channel: Channel,
    hook_enabled: AtomicBool,
    /// Set (under the cache lock) once the address space let the driver go
    /// (`release`, `unsubscribed`): no translation enters the cache again,
    /// so no pin can be taken that no hook would drop.
    detached: AtomicBool,
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
        detached: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
        transfers: AtomicU64::new(0),
    });
    dma.channel.reset();
    aspace.subscribe(dma).map_err(PiDmaError::Subscribe)
}

impl PiDma {
    /// Negative-control switch: with `false` the atomic hook keeps stale
    /// entries (tests only). Their pins still go: a stale entry stays in the
    /// cache unpinned, so that what the control shows is the stale
    /// translation, not the frame table's `FreedWhilePinned` stop.
    pub fn set_hook_enabled(&self, on: bool) {
        self.hook_enabled.store(on, Ordering::SeqCst);
    }

    /// Whether the cache holds a translation for the page of `va`.
    pub fn cached(&self, va: VirtAddr) -> Option<u64> {
        self.cache
            .lock()
            .get(&va.align_down(PAGE_SIZE).as_u64())
            .map(|e| e & !CACHED_FLAGS)
    }

    /// Whether the cached translation of the page of `va` holds a pin.
    pub fn pinned(&self, va: VirtAddr) -> bool {
        self.cache
            .lock()
            .get(&va.align_down(PAGE_SIZE).as_u64())
            .is_some_and(|e| e & CACHED_PINNED != 0)
    }

    /// Empties the cache for good (`release`, `unsubscribed`, drop): every
    /// pin goes, and no translation enters it again.
    fn forget_all(&self) {
        let mut cache = self.cache.lock();
        self.detached.store(true, Ordering::Release);
        for (_, e) in core::mem::take(&mut *cache) {
            unpin(e);
        }
    }

    /// The physical page behind `va`, from the cache or built under the
    /// interval protocol (faulting the page in as the access needs). A
    /// cached entry records whether the page was writable, so a transfer
    /// into a read-only page is refused as the CPU would be. Sleepable.
    fn translation(&self, va: VirtAddr, write: bool) -> Result<u64, PiDmaError> {
        let page = va.align_down(PAGE_SIZE);
        let hit = self.cache.lock().get(&page.as_u64()).copied();
        if let Some(e) = hit.filter(|e| !write || e & CACHED_WRITABLE != 0) {
            return Ok(e & !CACHED_FLAGS);
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
            if self.detached.load(Ordering::Acquire) {
                return Err(PiDmaError::NoAddressSpace);
            }
            if self.interval.read_retry(seq) {
                continue; // an invalidation overtook us: the translation may be stale
            }
            // No invalidation started since `read_begin`, and one that
            // starts now reaches its hook only through this lock: the frame
            // is mapped at `page` until the hook drops the entry (and the
            // pin with it), before any free.
            let pinned = frame_desc(mm::PhysAddr::new(pa)).is_some();
            if pinned {
                frame_table().pin(mm::PhysAddr::new(pa));
            }
            let entry = pa
                | if writable { CACHED_WRITABLE } else { 0 }
                | if pinned { CACHED_PINNED } else { 0 };
            if let Some(old) = cache.insert(page.as_u64(), entry) {
                // A read-only translation replaced by a writable one (or a
                // stale one the test switch kept): its pin goes.
                unpin(old);
            }
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
                .is_some_and(|c| c & !CACHED_FLAGS == pa & !(PAGE_SIZE - 1))
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

/// Drops the pin a cache entry holds (if it holds one).
fn unpin(entry: u64) {
    if entry & CACHED_PINNED != 0 {
        let pa = mm::PhysAddr::new(entry & !CACHED_FLAGS);
        frame_table()
            .unpin(pa)
            .unwrap_or_else(|e| crate::mmu::rule_broken(e));
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
        let mut cache = self.cache.lock();
        if !self.hook_enabled.load(Ordering::SeqCst) {
            // Negative control: the stale entries stay, but not their pins
            // (the frames may be freed once the window ends).
            for (_, e) in cache.range_mut(range.start.as_u64()..range.end.as_u64()) {
                unpin(*e);
                *e &= !CACHED_PINNED;
            }
            return;
        }
        let before = cache.len();
        cache.retain(|va, e| {
            let keep = !range.contains(VirtAddr::new(*va));
            if !keep {
                unpin(*e);
            }
            keep
        });
        self.dropped
            .fetch_add((before - cache.len()) as u64, Ordering::Relaxed);
    }

    fn invalidate_range_end(&self, range: &VaRange, _: &SleepCtx) {
        self.interval.end_invalidate(range);
    }

    fn release(&self, _: &SleepCtx) {
        self.forget_all();
    }

    /// Unsubscribed (the binding was dropped while the address space lives
    /// on): `mmap_lock` is still held for write, so no unmap can free a
    /// cached frame before its pin goes.
    fn unsubscribed(&self, _: &SleepCtx) {
        self.forget_all();
    }
}

impl Drop for PiDma {
    /// A driver never subscribed (refused) may still hold nothing; one that
    /// was has been emptied by `release` or `unsubscribed`. Emptied again
    /// for certain: no pin outlives the driver.
    fn drop(&mut self) {
        self.forget_all();
    }
}
