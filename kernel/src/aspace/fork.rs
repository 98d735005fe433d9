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
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::ops::AsError;
use super::{AddressSpace, KernelChecks};
use crate::mem::phys_to_virt;
use crate::mmu::{frame_desc, frame_table, KernelFrames};
use mm::frame::descriptor::FrameFlags;
use mm::vma::{Vma, VmaKind};
use mm::{Attributes, Constraints, FrameSource, MapError, MemoryType, PhysAddr, VaRange, VirtAddr};

/// **Test-only** negative-control switch (default `false`; nothing but a test may set
/// it): with `true`, fork shares a pinned private page copy-on-write like any other
/// instead of copying it for the child, which is the bug the copy prevents (a device that
/// keeps its translation across the fork writes the frame the child now sees). The pidma
/// suite sets it to show that its test can fail.
pub static SHARE_PINNED_FOR_TEST: AtomicBool = AtomicBool::new(false);

/// Whether fork copies the frame at `pa` for the child instead of sharing it: a device
/// has pinned it.
fn copied_at_fork(pa: PhysAddr) -> bool {
    frame_desc(pa).is_some_and(|d| d.pins() > 0) && !SHARE_PINNED_FOR_TEST.load(Ordering::Relaxed)
}

/// One present page of a parent's area.
#[derive(Clone, Copy)]
struct Page {
    va: VirtAddr,
    pa: PhysAddr,
    attrs: Attributes,
    owned: bool,
}

impl AddressSpace {
    /// A copy of this address space for a forked child. Sleepable. On `Err` the child is
    /// dropped (everything it got is released) and the parent keeps its pages (some may be
    /// write-protected: their next write takes them over in place).
    pub fn fork(&self) -> Result<Arc<AddressSpace>, AsError> {
        crate::sync::might_sleep();
        let mut child = AddressSpace::new()?;
        let layout = self.mmap_lock.write();
        {
            let c = Arc::get_mut(&mut child).expect("nobody else holds a new address space");
            let cl = c.mmap_lock.get_mut();
            for vma in layout.vmas.iter() {
                cl.vmas.insert(*vma)?;
            }
            for object in layout.objects.iter() {
                cl.objects.insert(object.clone());
            }
        }
        for vma in layout.vmas.iter() {
            match vma.kind {
                VmaKind::Physical { pa, memory } => {
                    self.copy_physical(&mut child, vma, pa, memory)?
                }
                VmaKind::AnonPrivate { .. } | VmaKind::AnonShared { .. } => {
                    let pages = self.present(vma.range);
                    let private = vma.kind.is_anon_private();
                    self.share_pages(&layout, &mut child, vma, &pages, private)?;
                }
            }
        }
        for object in layout.objects.iter() {
            object.add_mapper(Arc::downgrade(&child));
        }
        drop(layout);
        Ok(child)
    }

    /// Every present 4 KiB page of `range` (user areas map pages only).
    fn present(&self, range: VaRange) -> Vec<Page> {
        let t = self.ptl.lock();
        let mut pages = Vec::new();
        let _ = t.pt.walk(range, |m| {
            if let (mm::Level::L3, Some(attrs)) = (m.level, m.attributes()) {
                pages.push(Page {
                    va: m.va.start,
                    pa: m.pa,
                    attrs,
                    owned: m.descriptor.is_owned(),
                });
            }
            core::ops::ControlFlow::Continue(())
        });
        pages
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

    /// Gives the child the pages of one anonymous area (`private`: copy-on-write), then
    /// write-protects the parent's writable shared ones in one window.
    fn share_pages(
        &self,
        layout: &super::Layout,
        child: &mut Arc<AddressSpace>,
        vma: &Vma,
        pages: &[Page],
        private: bool,
    ) -> Result<(), AsError> {
        if pages.is_empty() {
            return Ok(());
        }
        let c = Arc::get_mut(child).expect("the child is ours alone");
        let zero = super::zero_frame();
        let mut protect = false;
        // The parent's pages to write-protect, decided once with the child's mapping:
        // a pin taken between the two loops (a driver caching a translation) must not
        // leave the parent writable on a frame the child maps (its hook, below, drops
        // that translation).
        let mut shared_writable = Vec::with_capacity(pages.len());
        layout
            .notifiers
            .invalidate_range_start(vma.range, &KernelChecks);
        let result = (|| -> Result<(), MapError> {
            let mut t = self.ptl.lock();
            let ct = c.ptl.get_mut();
            for p in pages {
                if !p.owned || p.pa == zero {
                    // The zero page (never owned) maps as it is: read-only.
                    ct.pt.map_page(p.va, p.pa, p.attrs, false)?;
                } else if private && copied_at_fork(p.pa) {
                    copy_for_child(ct, p, super::object::anon_owner(vma, p.va))?;
                } else {
                    let attrs = if private && p.attrs.access.writable() {
                        protect = true;
                        shared_writable.push(p);
                        p.attrs.with_access(mm::Access::Read)
                    } else {
                        p.attrs
                    };
                    if ct.pt.map_page(p.va, p.pa, attrs, true)? {
                        let ft = frame_table();
                        ft.get_ref(p.pa)
                            .unwrap_or_else(|e| crate::mmu::rule_broken(e));
                        ft.add_map(p.pa);
                    }
                }
            }
            if protect {
                // The parent's writable private pages become read-only where they are
                // shared now; pinned ones (copied) stay writable.
                // In runs of consecutive pages with the same attributes: one walk and
                // one ranged TLBI per run instead of per page.
                let mut runs: Vec<(VaRange, mm::Attributes)> = Vec::new();
                for p in shared_writable.iter() {
                    let ro = p.attrs.with_access(mm::Access::Read);
                    match runs.last_mut() {
                        Some((r, a)) if r.end == p.va && *a == ro => {
                            r.end = p.va.add(mm::PAGE_SIZE)
                        }
                        _ => runs.push((VaRange::new(p.va, p.va.add(mm::PAGE_SIZE)), ro)),
                    }
                }
                let mut g = t.pt.gather();
                for (run, ro) in runs {
                    t.pt.protect(run, ro, &mut g)?;
                }
                let flushed = g.flush(t.pt.arch());
                layout
                    .notifiers
                    .invalidate_secondary_tlbs(vma.range, &KernelChecks);
                drop(t);
                flushed
                    .release(&mut KernelFrames)
                    .unwrap_or_else(|e| panic!("fork: {:?}", e));
            }
            Ok(())
        })();
        layout
            .notifiers
            .invalidate_range_end(vma.range, &KernelChecks);
        if protect {
            self.stats.changes.fetch_add(1, Ordering::Relaxed);
        }
        result.map_err(AsError::Map)
    }
}

/// The child's own copy of a pinned private page (the device keeps the parent's).
fn copy_for_child(
    ct: &mut super::Tables,
    p: &Page,
    (owner, index): (u64, u64),
) -> Result<(), MapError> {
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
    match ct.pt.map_page(p.va, frame.start(), p.attrs, true) {
        Ok(true) => {
            frame_table().add_map(frame.start());
            Ok(())
        }
        other => {
            KernelFrames.free(frame).expect("freeing an unused frame");
            other.map(|_| ())
        }
    }
}
