//! This kernel's own calls (numbers 0x1000 and up, far above Linux's; Linux
//! answers `-ENOSYS`, so one program runs on both): user access to the DMA
//! device through the address space's notifier (SVA on `virt`, the Pi's DMA
//! controller with its translation cache on the Raspberry Pi 4), counters
//! for the benchmark, and probes of the kernel's own rules.
use super::errno::{Errno, EINVAL, ENODEV, EOPNOTSUPP};
use super::{Args, Result};
use crate::user::current_process as process;
use core::sync::atomic::Ordering;
use mm::{FrameSource, VaRange};

/// The DMA device bound to a process's address space.
pub enum UserDma {
    /// QEMU virt: the `edu` device behind the SMMU, sharing the page table (SVA).
    #[cfg(feature = "notifiers")]
    Sva(crate::dev::sva::SvaHandle),
    /// Raspberry Pi 4: the BCM2711 DMA engine, translating through its own cache.
    #[cfg(all(feature = "notifiers", feature = "board-rpi4"))]
    Pi(crate::aspace::Subscription<crate::dev::bcm_dma::PiDma>),
}

/// 0x1000 `dma_attach()`: binds the board's DMA device to the caller's
/// address space (idempotent). `-ENODEV` without one.
pub fn dma_attach() -> Result {
    let p = process();
    if p.dma.lock().is_some() {
        return Ok(0);
    }
    let binding = alloc::sync::Arc::new(bind(&p)?);
    // Two threads attaching at once: the first binding stays, the second is dropped
    // (unsubscribed) here.
    let mut slot = p.dma.lock();
    let lost = if slot.is_none() {
        *slot = Some(binding);
        None
    } else {
        Some(binding)
    };
    drop(slot);
    drop(lost);
    Ok(0)
}

/// Without notifiers no device can follow the address space: no binding.
#[cfg(not(feature = "notifiers"))]
fn bind(_: &crate::user::Process) -> core::result::Result<UserDma, Errno> {
    Err(ENODEV)
}

#[cfg(feature = "notifiers")]
fn bind(p: &crate::user::Process) -> core::result::Result<UserDma, Errno> {
    #[cfg(feature = "board-rpi4")]
    if crate::dev::edu::get().is_none() {
        return crate::dev::bcm_dma::bind(&p.aspace())
            .map(UserDma::Pi)
            .map_err(|_| ENODEV);
    }
    crate::dev::sva::bind(&p.aspace())
        .map(UserDma::Sva)
        .map_err(|e| {
            defmt::warn!("dma_attach: {}", defmt::Debug2Format(&e));
            ENODEV
        })
}

/// 0x1001 `dma_copy(dst, src, len)`: the device copies `len` bytes from
/// user `src` to user `dst` through its own translation of the address
/// space. A buffer the device cannot reach (unmapped, read-only
/// destination) is `-EFAULT`: the device's fault is reported, nothing hangs.
pub fn dma_copy(a: Args) -> Result {
    let [dst, src, len, ..] = a.0;
    let p = process();
    let Some(dma) = p.dma.lock().clone() else {
        return Err(ENODEV);
    };
    if len == 0 {
        return Ok(0);
    }
    let src = crate::user::uaccess::user_range(src, len)?;
    let dst = crate::user::uaccess::user_range(dst, len)?;
    copy_with(&dma, dst, src)?;
    Ok(0)
}

#[cfg(not(feature = "notifiers"))]
fn copy_with(dma: &UserDma, _dst: VaRange, _src: VaRange) -> Result {
    match *dma {}
}

/// Copies user `src` to user `dst` (ranges of the same length).
#[cfg(feature = "notifiers")]
fn copy_with(dma: &UserDma, dst: VaRange, src: VaRange) -> Result {
    use mm::PAGE_SIZE;
    let len = src.len();
    match dma {
        UserDma::Sva(b) => {
            // Through the edu device's 4 KiB buffer: to the device, back out.
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(PAGE_SIZE);
                b.dma_to_device(src.start.add(done), n as usize)
                    .map_err(report)?;
                b.dma_from_device(dst.start.add(done), n as usize)
                    .map_err(report)?;
                done += n;
            }
        }
        #[cfg(feature = "board-rpi4")]
        UserDma::Pi(d) => d.copy(src.start, dst.start, len as usize).map_err(report)?,
    }
    Ok(0)
}

#[cfg(feature = "notifiers")]
fn report(e: impl core::fmt::Debug) -> Errno {
    defmt::warn!(
        "dma_copy: device refused or faulted: {}",
        defmt::Debug2Format(&e)
    );
    super::errno::EFAULT
}

/// 0x1002 `kstat(id)`: 0 = SMMU commands issued since boot, 1 = IOTLB
/// invalidations this process's binding issued, 2 = page faults resolved in
/// this process's address space, 3 = free frames, 4 = the page-table pages
/// of this process's address space, 5 = live address spaces (each holds an
/// ASID tag, its tables and its frames; the soak's leak checks), 6 = ASID
/// rollovers since boot.
pub fn kstat(a: Args) -> Result {
    let p = process();
    match a.0[0] {
        0 => Ok(crate::dev::smmu::get().map_or(0, |s| s.counters().0)),
        1 => Ok(match p.dma.lock().as_deref() {
            #[cfg(feature = "notifiers")]
            Some(UserDma::Sva(b)) => b.invalidations.load(Ordering::Relaxed),
            _ => 0,
        }),
        2 => Ok(p.aspace().stats.faults.load(Ordering::Relaxed)),
        3 => Ok(crate::mmu::frame_stats().free),
        4 => Ok(p.aspace().table_pages()),
        5 => Ok(crate::aspace::live_count()),
        6 => Ok(crate::aspace::asid_stats().rollovers),
        _ => Err(EINVAL),
    }
}

/// 0x1003 `floor_zero_page(iters)`: counter ticks to zero one 4 KiB frame
/// `iters` times, the way the fault path zeroes a new page (the floor the
/// benchmark compares a first-touch fault with).
pub fn floor_zero_page(a: Args) -> Result {
    let iters = a.0[0].clamp(1, 1 << 20);
    let frame = crate::mmu::KernelFrames
        .alloc()
        .map_err(|_| super::errno::ENOMEM)?;
    let p = crate::mem::phys_to_virt(frame.start()) as *mut u8;
    let t0 = drivers::timer::counter();
    for _ in 0..iters {
        // SAFETY: a frame we own, through the linear map.
        unsafe { crate::aspace::zero_page(core::hint::black_box(p)) };
    }
    let ticks = drivers::timer::counter() - t0;
    crate::mmu::KernelFrames
        .free(frame)
        .expect("freeing the benchmark frame");
    Ok(ticks)
}

/// 0x1004 `pan_probe(addr, pan_off)`: the kernel reads user `addr`
/// directly (what it never does otherwise). Returns 1 if Privileged Access
/// Never stopped it, 0 if the read went through; with `pan_off` PAN is
/// cleared for that one read (the twin that shows the probe works).
/// `-EOPNOTSUPP` on CPUs without PAN.
pub fn pan_probe(a: Args) -> Result {
    if !crate::arch::user::pan_supported() {
        return Err(EOPNOTSUPP);
    }
    let at = crate::user::uaccess::user_range(a.0[0], 1)?.start;
    let pan_off = a.0[1] != 0;
    let was = crate::arch::user::pan();
    if pan_off {
        crate::arch::user::set_pan(false);
    }
    let caught = crate::probe::catch_fault(|| {
        // SAFETY: a deliberate direct access to a user address, inside
        // catch_fault: a fault skips the load instead of stopping the kernel.
        unsafe { core::ptr::read_volatile(at.as_u64() as *const u8) };
    });
    crate::arch::user::set_pan(was);
    Ok(u64::from(caught.is_err()))
}

/// 0x1005 `audit_layout()`: checks that every page mapped in the caller's
/// address space lies in an area and allows no more than it (the soak's
/// last check). `-EIO` with a report if one does not.
pub fn audit_layout() -> Result {
    match process().aspace().audit() {
        Ok(()) => Ok(0),
        Err(e) => {
            defmt::error!("layout audit: {}", defmt::Debug2Format(&e));
            Err(super::errno::EIO)
        }
    }
}
