//! The copy-on-write fault (DESIGN.md §7.3, Linux's `do_wp_page`): a write to a page that a
//! private writable area maps read-only because its frame is shared (after fork) or is the
//! shared zero page. Under `mmap_lock` for read:
//!
//! - a frame that this one mapping holds alone and no device has pinned is taken over in
//!   place (made writable, TLBI for the page; no notifier call: no device can hold a
//!   writable translation of a read-only page);
//! - otherwise a new frame gets a copy (zeroes for the zero page) outside the PTL; then
//!   `invalidate_range_start`; PTL: the PTE is checked to still map the old frame, cleared,
//!   invalidated (TLBI + DSB), the atomic hook runs, the new writable PTE is installed;
//!   `invalidate_range_end`; and the old frame loses this mapping's hold.
use core::sync::atomic::Ordering;

use super::{AddressSpace, FaultError, KernelChecks, Layout};
use crate::mem::phys_to_virt;
use crate::mmu::{frame_desc, frame_table, KernelFrames};
use mm::frame::descriptor::FrameFlags;
use mm::{Attributes, Frame, FrameSource, PhysAddr, VaRange, VirtAddr, PAGE_SIZE};

/// What the PTL showed about the faulting page.
enum Seen {
    /// Gone or changed since the fault: retry the access.
    Changed,
    /// Mapped read-only to `0`; `held`: the fault holds an extra reference on it.
    Shared(PhysAddr, bool),
    /// This mapping is the frame's only holder: made writable in place.
    Reused,
}

impl AddressSpace {
    /// Breaks copy-on-write for the page at `page` (4 KiB aligned), mapped read-only to
    /// `old` in a writable private area whose leaf attributes are `attrs`. `layout` is
    /// `mmap_lock` held for read. `Ok` means "retry the access".
    pub(super) fn break_cow(
        &self,
        layout: &Layout,
        page: VirtAddr,
        old: PhysAddr,
        attrs: Attributes,
    ) -> Result<(), FaultError> {
        let zero = super::zero_frame();
        let seen = {
            let mut t = self.ptl.lock();
            match t.pt.translate(page) {
                Some(tr)
                    if tr.pa == old && !tr.attributes().is_some_and(|a| a.access.writable()) =>
                {
                    let exclusive = old != zero
                        && tr.descriptor.is_owned()
                        && frame_desc(old).is_some_and(|d| d.is_exclusive());
                    if exclusive {
                        let range = VaRange::new(page, page.add(PAGE_SIZE));
                        let mut g = t.pt.gather();
                        let protected = t.pt.protect(range, attrs, &mut g);
                        let flushed = g.flush(t.pt.arch());
                        drop(t);
                        if let Err(e) = flushed.release(&mut KernelFrames) {
                            panic!("copy-on-write reuse: {:?}", e);
                        }
                        protected.map_err(|_| FaultError::OutOfFrames)?;
                        Seen::Reused
                    } else {
                        // Held for the copy: another thread's break may drop the
                        // mapping's reference meanwhile.
                        let held = old != zero && frame_table().get_ref(old).is_ok();
                        Seen::Shared(old, held)
                    }
                }
                _ => Seen::Changed,
            }
        };
        let (old, held) = match seen {
            Seen::Changed => return Ok(()),
            Seen::Reused => {
                self.stats.cow_reused.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Seen::Shared(old, held) => (old, held),
        };
        let copied = self.copy_and_replace(layout, page, old, attrs);
        if held {
            KernelFrames
                .free(Frame::containing(old))
                .expect("dropping the copy's reference");
        }
        copied
    }

    /// The copying half of [`break_cow`](Self::break_cow).
    fn copy_and_replace(
        &self,
        layout: &Layout,
        page: VirtAddr,
        old: PhysAddr,
        attrs: Attributes,
    ) -> Result<(), FaultError> {
        crate::sync::might_sleep();
        let new = KernelFrames.alloc().map_err(|_| FaultError::OutOfFrames)?;
        let (owner, index) = layout
            .vmas
            .find(page)
            .map_or((0, 0), |vma| super::object::anon_owner(vma, page));
        frame_table().set_owner(new.start(), FrameFlags::ANON, owner, index);
        let dst = phys_to_virt(new.start()) as *mut u8;
        if old == super::zero_frame() {
            // SAFETY: a frame just allocated, reached through the linear map.
            unsafe { super::zero_page(dst) };
        } else {
            // SAFETY: both are whole frames reached through the linear map; `old` is held
            // (a reference, or a mapping that only `mmap_lock` for write could remove) and
            // mapped read-only everywhere, so nobody writes it while it is copied; `new` is
            // this fault's alone.
            unsafe { crate::arch::cache::copy_page(dst, phys_to_virt(old) as *const u8) };
        }
        let range = VaRange::new(page, page.add(PAGE_SIZE));
        layout
            .notifiers
            .invalidate_range_start(range, &KernelChecks);
        let replaced = {
            let mut t = self.ptl.lock();
            let notifiers = &layout.notifiers;
            let r =
                t.pt.replace_page(page, old, new.start(), attrs, true, &mut |broken| {
                    notifiers.invalidate_secondary_tlbs(broken, &KernelChecks)
                });
            if let Ok(Some(_)) = r {
                frame_table().add_map(new.start());
            }
            r
        };
        layout.notifiers.invalidate_range_end(range, &KernelChecks);
        match replaced {
            Ok(Some(was)) => {
                if was.is_owned() {
                    // After the TLBI and the hooks: no CPU or device reaches it through
                    // this mapping any more.
                    KernelFrames
                        .free_mapped(Frame::containing(old))
                        .unwrap_or_else(|e| panic!("copy-on-write: {:?}", e));
                }
                self.stats.cow_copied.fetch_add(1, Ordering::Relaxed);
                self.stats.faults.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(None) => {
                KernelFrames.free(new).expect("freeing an unused frame");
                Ok(())
            }
            Err(e) => {
                KernelFrames.free(new).expect("freeing an unused frame");
                defmt::error!(
                    "copy-on-write at {=u64:#x}: {}",
                    page.as_u64(),
                    defmt::Debug2Format(&e)
                );
                Err(FaultError::OutOfFrames)
            }
        }
    }
}

/// Whether the frame behind a present private page may become writable in place (by
/// `mprotect`): it is this mapping's alone. A shared frame stays read-only, so that the
/// first write copies it.
pub(super) fn may_write_in_place(pa: PhysAddr, owned: bool) -> bool {
    owned && frame_desc(pa).is_none_or(|d| d.is_exclusive())
}
