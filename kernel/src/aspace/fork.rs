//! Fork's copy of an address space (DESIGN.md §7.3, Linux's `dup_mmap` and
//! `copy_page_range`), under the parent's `mmap_lock` for write:
//!
//! - every area is copied;
//! - a present private page is shared with the child read-only and copy-on-write: the child
//!   maps the same frame (one more reference and mapping), and the parent's writable pages
//!   are write-protected in one window per area: `invalidate_range_start`; PTL {write-protect,
//!   TLBI, DSB, atomic hook}; `invalidate_range_end`, so that no CPU and no device keeps a
//!   writable translation of a frame that became shared;
//! - a page a device has pinned (it writes the frame by physical address) is copied for the
//!   child instead: the device must keep writing the parent's page (Linux 5.11+,
//!   `page_needs_cow_for_dma`);
//! - shared memory is shared: the child maps the same frames writable;
//! - physical (device) areas are mapped again in the child.
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use super::object::Object;
use super::ops::AsError;
use super::{AddressSpace, KernelChecks};
use crate::mem::phys_to_virt;
use crate::mmu::{frame_table, KernelFrames};
use mm::frame::descriptor::FrameFlags;
use mm::table::{PageCopy, SourcePage};
use mm::vma::{Vma, VmaKind};
use mm::{Constraints, FrameSource, MapError, MemoryType, PhysAddr};

/// **Test-only** negative-control switch (default `false`; nothing but a test may set
/// it): with `true`, fork shares a pinned private page copy-on-write like any other
/// instead of copying it for the child, which is the bug the copy prevents (a device that
/// keeps its translation across the fork writes the frame the child now sees). The pidma
/// suite sets it to show that its test can fail.
pub static SHARE_PINNED_FOR_TEST: AtomicBool = AtomicBool::new(false);

impl AddressSpace {
    /// A copy of this address space for a forked child. Sleepable. On `Err` the child is
    /// dropped (everything it got is released) and the parent keeps its pages (some may be
    /// write-protected: their next write takes them over in place).
    pub fn fork(&self) -> Result<Arc<AddressSpace>, AsError> {
        crate::sync::might_sleep();
        let mut child = AddressSpace::unpublished()?;
        let layout = self.mmap_lock.write();
        {
            let c = Arc::get_mut(&mut child).expect("nobody else holds a new address space");
            let cl = c.mmap_lock.get_mut();
            for vma in layout.vmas.iter() {
                cl.vmas.insert(*vma)?;
            }
            for object in layout.objects.iter() {
                cl.objects.adopt(object.clone());
            }
            for object in layout.anon.iter() {
                cl.anon.adopt(object.clone());
            }
        }
        for vma in layout.vmas.iter() {
            match vma.kind {
                VmaKind::Physical { pa, memory, .. } => {
                    self.copy_physical(&mut child, vma, pa, memory)?
                }
                VmaKind::AnonPrivate { .. } => self.share_private(&layout, &mut child, vma)?,
                VmaKind::AnonShared { .. } => self.share_shared(&mut child, vma)?,
            }
        }
        // Published, the child joins the mapper lists of the objects its areas name.
        let child = child.publish();
        for object in layout.objects.iter() {
            object.mappers().add(child.weak());
        }
        for object in layout.anon.iter() {
            object.mappers().add(child.weak());
        }
        drop(layout);
        Ok(child)
    }

    fn copy_physical(
        &self,
        child: &mut Arc<AddressSpace>,
        vma: &Vma,
        pa: PhysAddr,
        memory: MemoryType,
    ) -> Result<(), AsError> {
        let Ok(Some(attrs)) = vma.prot.user_attributes(memory) else {
            return Ok(());
        };
        let c = Arc::get_mut(child).expect("the child is ours alone");
        let t = c.ptl.get_mut();
        let mut g = t.pt.gather();
        let mapped =
            t.pt.map(vma.range, pa, attrs, Constraints::PAGES_ONLY, &mut g);
        let flushed = g.flush(t.pt.arch());
        flushed
            .release(&mut KernelFrames)
            .unwrap_or_else(|e| panic!("fork: {:?}", e));
        mapped.map_err(AsError::Map)
    }

    /// Gives the child the pages of one private area, copy-on-write, in one pass over the
    /// parent's tables (`PageTable::copy_pages_to`); the parent's writable pages become
    /// read-only inside one window: `invalidate_range_start`; PTL {write-protect, TLBI, DSB,
    /// atomic hook}; `invalidate_range_end`.
    fn share_private(
        &self,
        layout: &super::Layout,
        child: &mut Arc<AddressSpace>,
        vma: &Vma,
    ) -> Result<(), AsError> {
        let c = Arc::get_mut(child).expect("the child is ours alone");
        let zero = super::zero_frame();
        layout
            .notifiers
            .invalidate_range_start(vma.range, &KernelChecks);
        let mut t = self.ptl.lock();
        let ct = c.ptl.get_mut();
        let mut g = t.pt.gather();
        // Pinned pages are decided under the parent's PTL, with the write-protect: a pin
        // taken later (a driver caching a translation) finds the page read-only, and the
        // hook below drops any translation it cached before.
        let ft = frame_table();
        let share_pinned = SHARE_PINNED_FOR_TEST.load(Ordering::Relaxed);
        let copied = t.pt.copy_pages_to(&mut ct.pt, vma.range, &mut g, |p| {
            if !p.descriptor.is_owned() || p.pa == zero {
                // The zero page (never owned) maps as it is: read-only.
                return Ok(PageCopy::Share { cow: false });
            }
            let shared = ft
                .share_mapped(p.pa)
                .unwrap_or_else(|e| crate::mmu::rule_broken(e));
            if shared {
                Ok(PageCopy::Share { cow: true })
            } else if share_pinned {
                hold_for_child(p.pa);
                Ok(PageCopy::Share { cow: true })
            } else {
                copy_for_child(p, super::object::anon_owner(vma, p.va)).map(PageCopy::Own)
            }
        });
        let flushed = g.flush(t.pt.arch());
        if copied.write_protected > 0 {
            layout
                .notifiers
                .invalidate_secondary_tlbs(vma.range, &KernelChecks);
        }
        drop(t);
        flushed
            .release(&mut KernelFrames)
            .unwrap_or_else(|e| panic!("fork: {:?}", e));
        layout
            .notifiers
            .invalidate_range_end(vma.range, &KernelChecks);
        if copied.write_protected > 0 {
            self.stats.changes.fetch_add(1, Ordering::Relaxed);
        }
        copied.error.map_or(Ok(()), |e| Err(AsError::Map(e)))
    }

    /// Gives the child the pages of one shared area: the same frames, writable as they are
    /// (nothing changes in the parent, so no window).
    fn share_shared(&self, child: &mut Arc<AddressSpace>, vma: &Vma) -> Result<(), AsError> {
        let c = Arc::get_mut(child).expect("the child is ours alone");
        let zero = super::zero_frame();
        let mut t = self.ptl.lock();
        let ct = c.ptl.get_mut();
        let mut g = t.pt.gather();
        let copied = t.pt.copy_pages_to(&mut ct.pt, vma.range, &mut g, |p| {
            if p.descriptor.is_owned() && p.pa != zero {
                hold_for_child(p.pa);
            }
            Ok(PageCopy::Share { cow: false })
        });
        debug_assert!(
            g.pending().is_none(),
            "sharing changes nothing in the parent"
        );
        drop(g.flush(t.pt.arch()));
        drop(t);
        copied.error.map_or(Ok(()), |e| Err(AsError::Map(e)))
    }
}

/// The child's reference and mapping of a frame it maps as the parent does.
fn hold_for_child(pa: PhysAddr) {
    let ft = frame_table();
    ft.get_ref(pa)
        .unwrap_or_else(|e| crate::mmu::rule_broken(e));
    ft.add_map(pa);
}

/// The child's own copy of a pinned private page (the device keeps the parent's): a new
/// frame with the page's contents, one reference and the child's mapping counted.
fn copy_for_child(p: &SourcePage, (owner, index): (u64, u64)) -> Result<PhysAddr, MapError> {
    let frame = KernelFrames.alloc()?;
    frame_table().set_owner(frame.start(), FrameFlags::ANON, owner, index);
    // SAFETY: a frame just allocated and the parent's page, both whole frames reached
    // through the linear map; the parent's page is held by its mapping (the parent's
    // `mmap_lock` is held for write) and its PTL is held.
    unsafe {
        crate::arch::cache::copy_page(
            phys_to_virt(frame.start()) as *mut u8,
            phys_to_virt(p.pa) as *const u8,
        )
    };
    frame_table().add_map(frame.start());
    Ok(frame.start())
}
