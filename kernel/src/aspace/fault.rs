//! Page faults on user addresses (TTBR0): demand paging of anonymous areas
//! under `mmap_lock` for read, and the errors a fault the layout does not
//! allow turns into. Kernel code that copies to or from an address space
//! goes through the same path and gets the error instead of a crash.
use core::sync::atomic::Ordering;

use super::AddressSpace;
use crate::arch::esr;
use crate::arch::exception::{Syndrome, TrapFrame};
use crate::mem::phys_to_virt;
use crate::mmu::KernelFrames;
use mm::frame::descriptor::FrameFlags;
use mm::vma::VmaKind;
use mm::{FrameSource, MemoryType, PhysAddr, VirtAddr, PAGE_SIZE};

/// Why a fault could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum FaultError {
    /// No address space is installed on this CPU.
    NoAddressSpace,
    /// The address lies outside every area.
    NotMapped {
        /// The faulting address (FAR).
        va: VirtAddr,
    },
    /// The area does not allow this access.
    Permission {
        /// The faulting address (FAR).
        va: VirtAddr,
        /// The access was a write.
        write: bool,
        /// The access was an instruction fetch.
        exec: bool,
    },
    /// No free frame for the page.
    OutOfFrames,
    /// The faulting code may not sleep (IRQs off, a spinlock held, an
    /// interrupt handler), so `mmap_lock` cannot be taken.
    AtomicContext,
    /// An alignment fault: no page-table change can make the access work.
    Alignment {
        /// The faulting address (FAR).
        va: VirtAddr,
    },
    /// An external abort, parity error or other fault the tables cannot
    /// resolve (fault status code `fsc`).
    Bus {
        /// The faulting address (FAR).
        va: VirtAddr,
        /// The fault status code (ESR.ISS.DFSC/IFSC).
        fsc: u8,
    },
}

impl FaultError {
    /// Whether Linux would answer the fault with SIGBUS (not SIGSEGV).
    pub fn is_bus_error(self) -> bool {
        matches!(self, FaultError::Alignment { .. } | FaultError::Bus { .. })
    }
}

/// Zeroes the 4 KiB page at kernel address `page` (a new anonymous page):
/// with `DC ZVA` (a whole block per instruction, as Linux's `clear_page`)
/// when DCZID_EL0 allows it, else with stores.
///
/// Ends with `DMB ISHST`: the zeroes are visible to every CPU before the
/// descriptor that maps the page (Linux's `__SetPageUptodate` barrier).
///
/// # Safety
/// `page` is a page-aligned kernel mapping of a frame the caller owns.
pub unsafe fn zero_page(page: *mut u8) {
    // SAFETY: the caller guarantees that `page` is a page-aligned kernel
    // mapping of a frame it owns, which is what `cache::zero_page` needs (the
    // linear map is writable Normal memory).
    unsafe { crate::arch::cache::zero_page(page) };
}

/// The shared zero page: a read fault on private anonymous memory maps it
/// read-only instead of a new frame (as Linux does); the first write
/// replaces it with a frame of the page's own (the copy-on-write break). Never
/// freed (mapped without the owned bit, so no unmap frees it), never
/// writable (`protect` leaves it read-only).
static ZERO_FRAME: spin::Once<PhysAddr> = spin::Once::new();

/// The zero page's frame.
pub fn zero_frame() -> PhysAddr {
    *ZERO_FRAME.call_once(|| {
        let f = KernelFrames.alloc().expect("a frame for the zero page");
        crate::mmu::frame_table().mark_zero_page(f.start());
        // SAFETY: a frame just allocated, never freed.
        unsafe { zero_page(phys_to_virt(f.start()) as *mut u8) };
        f.start()
    })
}

impl AddressSpace {
    /// Resolves a fault at `va`: maps a zeroed frame if `va` lies in an
    /// anonymous area that allows the access (the shared zero page for a
    /// read of private memory; a write to it gets its own frame).
    /// A write to a page a private area maps read-only (a shared frame after
    /// fork, the zero page) breaks copy-on-write (`cow`). Sleepable (`mmap_lock`
    /// read).
    pub fn handle_fault(&self, va: VirtAddr, write: bool, exec: bool) -> Result<(), FaultError> {
        let layout = self.mmap_lock.read();
        let vma = *layout.vmas.find(va).ok_or(FaultError::NotMapped { va })?;
        let allowed = if exec {
            vma.prot.exec
        } else if write {
            vma.prot.write
        } else {
            vma.prot.read
        };
        let denied = FaultError::Permission { va, write, exec };
        if !allowed {
            return Err(denied);
        }
        let Ok(Some(attrs)) = vma.prot.user_attributes(MemoryType::Normal) else {
            return Err(denied);
        };
        if matches!(vma.kind, VmaKind::Physical { .. }) {
            // Mapped eagerly: a fault here is one the descriptors deny.
            return Err(denied);
        }
        let page = va.align_down(PAGE_SIZE);
        if let Some((id, index)) = vma.object_page(page) {
            let object = layout
                .objects
                .get(id)
                .expect("an area's shared object is in its layout");
            return self.fault_shared(page, object, index, attrs, va);
        }
        if !write && !exec && vma.kind.is_anon_private() && !vma.prot.exec {
            let read_only = mm::Attributes {
                access: mm::Access::Read,
                ..attrs
            };
            let mapped = self
                .ptl
                .lock()
                .pt
                .map_page(page, zero_frame(), read_only, false);
            drop(layout);
            return match mapped {
                Ok(true) => {
                    self.stats.faults.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Ok(false) => Ok(()),
                Err(_) => Err(FaultError::OutOfFrames),
            };
        }
        if write && matches!(vma.kind, VmaKind::AnonPrivate { anon: None, .. }) {
            // The area's first private page: it gets its anonymous object first, with
            // `mmap_lock` for write (Linux's anon_vma_prepare; once per area), then the
            // fault is taken again.
            drop(layout);
            self.prepare_anon(va)?;
            return self.handle_fault(va, write, exec);
        }
        if write {
            let present = self.ptl.lock().pt.translate(page);
            if let Some(t) = present {
                if t.attributes().is_some_and(|a| a.access.writable()) {
                    // Spurious: another CPU made it writable first.
                    return Ok(());
                }
                if vma.kind.is_anon_private() {
                    return self.break_cow(&layout, page, t.pa, attrs);
                }
                // A shared page the layout allows writing is mapped writable.
                return Err(denied);
            }
        }
        let frame = KernelFrames.alloc().map_err(|_| FaultError::OutOfFrames)?;
        let kernel_va = phys_to_virt(frame.start());
        // SAFETY: a frame just allocated, reached through the linear map.
        unsafe { zero_page(kernel_va as *mut u8) };
        if attrs.access.executable() {
            // The frame may have held code before: no stale line of it may
            // be fetched through the new executable mapping.
            crate::arch::sync_icache_page(kernel_va);
        }
        let (owner, index) = super::object::anon_owner(&vma, page);
        crate::mmu::frame_table().set_owner(frame.start(), FrameFlags::ANON, owner, index);
        let mut t = self.ptl.lock();
        let mapped =
            t.pt.map_page(va.align_down(PAGE_SIZE), frame.start(), attrs, true);
        if let Ok(true) = mapped {
            // Under the PTL: no unmap can release the mapping before it is counted.
            crate::mmu::frame_table().add_map(frame.start());
        }
        drop(t);
        drop(layout);
        let mapped = match mapped {
            Ok(true) => Ok(()),
            Ok(false) => {
                // Another CPU faulted the page in first.
                KernelFrames.free(frame).expect("freeing an unused frame");
                return Ok(());
            }
            Err(e) => Err(e),
        };
        match mapped {
            Ok(()) => {
                self.stats.faults.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => {
                KernelFrames.free(frame).expect("freeing an unused frame");
                Err(FaultError::OutOfFrames)
            }
        }
    }

    /// A fault on shared memory: the object's page (a zeroed one if it had none) is
    /// mapped with the area's attributes; the mapping holds a reference of its own. A page
    /// past the object's end is a bus error (SIGBUS), as on Linux. The caller holds
    /// `mmap_lock` for read (the area and its object stay), and the PTL decides.
    fn fault_shared(
        &self,
        page: VirtAddr,
        object: &super::SharedObject,
        index: u64,
        attrs: mm::Attributes,
        va: VirtAddr,
    ) -> Result<(), FaultError> {
        if index >= object.len_pages() {
            return Err(FaultError::Bus { va, fsc: 0 });
        }
        let pa = object.page(index).map_err(|_| FaultError::OutOfFrames)?;
        let mut t = self.ptl.lock();
        let mapped = t.pt.map_page(page, pa, attrs, true);
        if let Ok(true) = mapped {
            let ft = crate::mmu::frame_table();
            ft.get_ref(pa)
                .unwrap_or_else(|e| crate::mmu::rule_broken(e));
            ft.add_map(pa);
        }
        drop(t);
        match mapped {
            Ok(true) => {
                self.stats.faults.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(_) => Err(FaultError::OutOfFrames),
        }
    }

    /// Gives the private area holding `va` its anonymous object (`Vmas::prepare_anon`:
    /// a neighbour's if the two could be one area, else a new one). Sleepable
    /// (`mmap_lock` for write).
    fn prepare_anon(&self, va: VirtAddr) -> Result<(), FaultError> {
        let mut layout = self.mmap_lock.write();
        let id = layout
            .vmas
            .prepare_anon(va, || mm::vma::AnonId(super::object::next_id()))
            .ok_or(FaultError::NotMapped { va })?;
        if layout.anon.get(id).is_none() {
            // A new name (a neighbour's object is in the layout already).
            layout.anon.insert(super::AnonObject::new(id), self.weak());
        }
        Ok(())
    }

    /// Runs `f` on the kernel view of the page holding `va`, faulting it in
    /// as `write` requires; the PTL is held while `f` runs, so the frame
    /// cannot be unmapped and freed under it.
    fn with_page<R>(
        &self,
        va: VirtAddr,
        write: bool,
        f: impl FnOnce(*mut u8) -> R,
    ) -> Result<R, FaultError> {
        loop {
            {
                let t = self.ptl.lock();
                if let Some(tr) = t.pt.translate(va) {
                    let ok = tr
                        .attributes()
                        .is_some_and(|a| a.user && (!write || a.access.writable()));
                    if ok {
                        return Ok(f(phys_to_virt(tr.pa) as *mut u8));
                    }
                }
            }
            self.handle_fault(va, write, false)?;
        }
    }

    /// The aligned `u32` at user address `va` if its page is mapped readable for user mode
    /// now, without faulting anything in (`None` otherwise): for a caller that holds a lock
    /// a fault must not be taken under (Linux's `get_futex_value_locked`, page faults
    /// disabled). Atomic: the PTL only.
    pub fn read_u32_nofault(&self, va: VirtAddr) -> Option<u32> {
        debug_assert!(va.is_aligned(4), "a u32 read never crosses a page");
        let t = self.ptl.lock();
        let tr = t.pt.translate(va)?;
        if !tr
            .attributes()
            .is_some_and(|a| a.user && a.access != mm::Access::None)
        {
            return None;
        }
        let p = phys_to_virt(tr.pa) as *const u32;
        // SAFETY: the kernel view of the mapped, aligned word at `va` (translate gives the
        // byte's own address); the PTL keeps the frame in place while it is read.
        Some(unsafe { p.read_volatile() })
    }

    /// Copies `bytes` to user address `va`.
    pub fn copy_to(&self, va: VirtAddr, bytes: &[u8]) -> Result<(), FaultError> {
        let mut done = 0usize;
        while done < bytes.len() {
            let at = va.add(done as u64);
            let n = ((PAGE_SIZE - at.as_u64() % PAGE_SIZE) as usize).min(bytes.len() - done);
            // SAFETY: `p` is the kernel address of the mapped byte at `at`, with
            // `n` bytes left in its page; the PTL keeps the frame in place.
            self.with_page(at, true, |p| unsafe {
                core::ptr::copy_nonoverlapping(bytes[done..].as_ptr(), p, n)
            })?;
            done += n;
        }
        Ok(())
    }

    /// Copies from user address `va` into `out`.
    pub fn copy_from(&self, va: VirtAddr, out: &mut [u8]) -> Result<(), FaultError> {
        let mut done = 0usize;
        while done < out.len() {
            let at = va.add(done as u64);
            let n = ((PAGE_SIZE - at.as_u64() % PAGE_SIZE) as usize).min(out.len() - done);
            let dst = out[done..].as_mut_ptr();
            // SAFETY: `p` is the kernel address of the mapped byte at `at`, with
            // `n` bytes left in its page and `n` left in `out`; the PTL keeps
            // the frame in place while it is read.
            self.with_page(at, false, |p| unsafe {
                core::ptr::copy_nonoverlapping(p, dst, n)
            })?;
            done += n;
        }
        Ok(())
    }

    /// The physical page behind `va` (for tests and drivers), if mapped.
    pub fn resolve(&self, va: VirtAddr) -> Option<PhysAddr> {
        self.translate(va)
    }
}

/// From the synchronous exception handler: a data or instruction abort on a
/// user address. `Ok` means "retry the access".
pub fn handle_page_fault(frame: &TrapFrame, syndrome: &Syndrome) -> Result<(), FaultError> {
    let far = syndrome.far;
    // The fault status code decides first: only a translation, access-flag
    // or permission fault is the page tables' business. Anything else
    // "resolved" by the tables would be retried forever.
    match syndrome.abort_kind() {
        esr::AbortKind::Paging => {}
        esr::AbortKind::Alignment => return Err(FaultError::Alignment { va: far }),
        esr::AbortKind::Bus => {
            return Err(FaultError::Bus {
                va: far,
                fsc: syndrome.fault_status(),
            })
        }
        esr::AbortKind::TlbConflict => {
            defmt::warn!(
                "TLB conflict abort at {=u64:#x}: invalidating this CPU's TLB",
                far.as_u64()
            );
            crate::arch::local_tlb_flush();
            return Ok(());
        }
    }
    let aspace = super::current().ok_or(FaultError::NoAddressSpace)?;
    if frame.irqs_were_masked() || crate::sync::validate::check_sleepable_ignoring_irqs().is_err() {
        return Err(FaultError::AtomicContext);
    }
    let exec = syndrome.is_instruction_abort();
    let write = syndrome.is_write();
    crate::arch::irq_enable();
    let r = aspace.handle_fault(far, write, exec);
    crate::arch::irq_save();
    r
}
