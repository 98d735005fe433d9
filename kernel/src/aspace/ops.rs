//! Layout changes, each under `mmap_lock` for write, in the order of
//! DESIGN.md §1: `invalidate_range_start` → {PTL: edit descriptors → TLBI for
//! the range (ASID-scoped; range form where present) → DSB ISH → atomic
//! hooks} → `invalidate_range_end` → free the unlinked frames and tables.
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::{AddressSpace, KernelChecks, Layout, Tables};
use crate::mmu::KernelFrames;
use mm::gather::Gather;
use mm::phys::LinearMem;
use mm::vma::{Placement, Prot, Vma, VmaError, VmaKind};
use mm::{Constraints, MapError, MemoryType, PhysAddr, VaRange, VirtAddr};

/// Why an address-space operation was refused (nothing changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsError {
    Vma(VmaError),
    Map(MapError),
}

impl From<VmaError> for AsError {
    fn from(e: VmaError) -> Self {
        AsError::Vma(e)
    }
}

impl From<MapError> for AsError {
    fn from(e: MapError) -> Self {
        AsError::Map(e)
    }
}

impl AddressSpace {
    /// One page-table change of `range`, with the notifications around it.
    /// The caller holds `mmap_lock` for write (`layout`).
    pub(crate) fn change<R>(
        &self,
        layout: &mut Layout,
        range: VaRange,
        edit: impl FnOnce(&mut Tables, &mut Gather<LinearMem>) -> R,
    ) -> R {
        layout
            .notifiers
            .invalidate_range_start(range, &KernelChecks);
        let (result, flushed) = {
            let mut t = self.ptl.lock();
            let mut g = t.pt.gather();
            let result = edit(&mut t, &mut g);
            let flushed = g.flush(t.pt.arch());
            layout
                .notifiers
                .invalidate_secondary_tlbs(range, &KernelChecks);
            (result, flushed)
        };
        layout.notifiers.invalidate_range_end(range, &KernelChecks);
        if let Err(e) = flushed.release(&mut KernelFrames) {
            panic!("address space: releasing unlinked frames failed: {:?}", e);
        }
        self.stats.changes.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Creates an anonymous area of `len` bytes (demand-paged unless
    /// `populate`), returns its start.
    pub fn map_anonymous(
        &self,
        len: u64,
        prot: Prot,
        placement: Placement,
        shared: bool,
    ) -> Result<VirtAddr, AsError> {
        let mut layout = self.mmap_lock.write();
        prot.user_attributes(MemoryType::Normal)?;
        let range = layout.vmas.place(len, placement)?;
        if matches!(placement, Placement::Fixed(_)) {
            self.unmap_locked(&mut layout, range)?;
        }
        let kind = if shared {
            VmaKind::AnonShared
        } else {
            VmaKind::AnonPrivate
        };
        layout.vmas.insert(Vma { range, prot, kind })?;
        Ok(range.start)
    }

    /// Maps the physical range at `pa` (device or reserved memory) eagerly.
    pub fn map_physical(
        &self,
        pa: PhysAddr,
        len: u64,
        prot: Prot,
        memory: MemoryType,
        placement: Placement,
    ) -> Result<VirtAddr, AsError> {
        let mut layout = self.mmap_lock.write();
        let attrs = prot.user_attributes(memory)?;
        let range = layout.vmas.place(len, placement)?;
        if matches!(placement, Placement::Fixed(_)) {
            self.unmap_locked(&mut layout, range)?;
        }
        if let Some(attrs) = attrs {
            self.change(&mut layout, range, |t, g| {
                t.pt.map(range, pa, attrs, Constraints::PAGES_ONLY, g)
            })?;
        }
        layout.vmas.insert(Vma {
            range,
            prot,
            kind: VmaKind::Physical { pa, memory },
        })?;
        Ok(range.start)
    }

    /// Removes every mapping in `range`; when it returns no CPU TLB and no
    /// subscriber's secondary TLB holds any of it, and its frames are free.
    pub fn unmap(&self, range: VaRange) -> Result<(), AsError> {
        let mut layout = self.mmap_lock.write();
        self.unmap_locked(&mut layout, range)
    }

    fn unmap_locked(&self, layout: &mut Layout, range: VaRange) -> Result<(), AsError> {
        layout.vmas.check(range)?;
        self.change(layout, range, |t, g| t.pt.unmap(range, g))?;
        layout.vmas.remove(range)?;
        Ok(())
    }

    /// Changes the protection of `range` (all of it must be mapped): the
    /// areas first, then the pages already present.
    pub fn protect(&self, range: VaRange, prot: Prot) -> Result<(), AsError> {
        let mut layout = self.mmap_lock.write();
        let changed = layout.vmas.protect(range, prot)?;
        self.change(&mut layout, range, |t, g| -> Result<(), MapError> {
            for vma in &changed {
                let memory = match vma.kind {
                    VmaKind::Physical { memory, .. } => memory,
                    _ => MemoryType::Normal,
                };
                let attrs = match prot.user_attributes(memory) {
                    Ok(Some(a)) => a,
                    // PROT_NONE: keep the pages, deny EL0 (the kernel keeps access).
                    _ => mm::Attributes {
                        access: mm::Access::Read,
                        user: false,
                        memory,
                        global: false,
                    },
                };
                for extent in present(&t.pt, vma.range) {
                    t.pt.protect(extent, attrs, g)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// The mapped extents inside `range`, clipped to it.
fn present(pt: &super::UserTable, range: VaRange) -> Vec<VaRange> {
    let mut out: Vec<VaRange> = Vec::new();
    let _ = pt.walk(range, |m| {
        let start = m.va.start.as_u64().max(range.start.as_u64());
        let end = m.va.end.as_u64().min(range.end.as_u64());
        match out.last_mut() {
            Some(last) if last.end.as_u64() == start => last.end = VirtAddr::new(end),
            _ => out.push(VaRange::new(VirtAddr::new(start), VirtAddr::new(end))),
        }
        core::ops::ControlFlow::Continue(())
    });
    out
}
