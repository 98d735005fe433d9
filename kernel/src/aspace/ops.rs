//! Layout changes, each under `mmap_lock` for write, in the order of
//! DESIGN.md §1: `invalidate_range_start` → {PTL: edit descriptors → TLBI for
//! the range (ASID-scoped; range form where present) → DSB ISH → atomic
//! hooks} → `invalidate_range_end` → free the unlinked frames and tables.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::object::Object;
use super::{AddressSpace, KernelChecks, Layout, Tables};
use crate::mmu::KernelFrames;
use mm::gather::Gather;
use mm::phys::LinearMem;
use mm::vma::{Placement, Prot, Vma, VmaError, VmaKind};
use mm::{Constraints, MapError, MemoryType, PhysAddr, VaRange, VirtAddr, PAGE_SIZE};

/// Why an address-space operation was refused (nothing changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsError {
    /// The layout refused it (overlap, out of range, bad flags).
    Vma(VmaError),
    /// The page table refused it (no frame for a table, a conflicting entry).
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
    ///
    /// The window covers every block the edit may split at the range's
    /// edges (`break_hull`; with `mmap_lock` held for write no block can
    /// appear in between), and `edit` gets the hook that a break-before-make
    /// calls between its break and its make (`unmap_notifying`,
    /// `protect_notifying`): the devices drop their entries there too.
    pub(crate) fn change<R>(
        &self,
        layout: &mut Layout,
        range: VaRange,
        edit: impl FnOnce(&mut Tables, &mut Gather<LinearMem>, &mut dyn FnMut(VaRange)) -> R,
    ) -> R {
        let window = self.ptl.lock().pt.break_hull(range);
        layout
            .notifiers
            .invalidate_range_start(window, &KernelChecks);
        let (result, flushed) = {
            let mut t = self.ptl.lock();
            let mut g = t.pt.gather();
            let notifiers = &layout.notifiers;
            let mut on_break =
                |broken: VaRange| notifiers.invalidate_secondary_tlbs(broken, &KernelChecks);
            let result = edit(&mut t, &mut g, &mut on_break);
            let flushed = g.flush(t.pt.arch());
            layout
                .notifiers
                .invalidate_secondary_tlbs(range, &KernelChecks);
            (result, flushed)
        };
        layout.notifiers.invalidate_range_end(window, &KernelChecks);
        if let Err(e) = flushed.release(&mut KernelFrames) {
            panic!("address space: releasing unlinked frames failed: {:?}", e);
        }
        self.stats.changes.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Creates an anonymous area of `len` bytes (demand-paged unless
    /// `populate`), returns its start.
    /// `shared`: MAP_SHARED, a new shared object of its own that forked children
    /// share.
    pub fn map_anonymous(
        self: &Arc<Self>,
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
        if !shared {
            layout.vmas.insert(Vma {
                range,
                prot,
                kind: VmaKind::anon_private_at(range.start),
            })?;
            return Ok(range.start);
        }
        let object = super::SharedObject::new(range.len());
        layout.vmas.insert(Vma {
            range,
            prot,
            kind: VmaKind::AnonShared {
                object: object.id(),
                pgoff: 0,
            },
        })?;
        layout.objects.insert(object, self.weak());
        Ok(range.start)
    }

    /// Maps the physical range at `pa` (device or reserved memory) eagerly; `prot` is also
    /// the most `mprotect` may ever give it (the range may be shared with other processes).
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
            self.change(&mut layout, range, |t, g, _| {
                t.pt.map(range, pa, attrs, Constraints::PAGES_ONLY, g)
            })?;
        }
        layout.vmas.insert(Vma {
            range,
            prot,
            kind: VmaKind::Physical {
                pa,
                memory,
                may: prot,
            },
        })?;
        Ok(range.start)
    }

    /// Removes every mapping in `range`; when it returns no CPU TLB and no
    /// subscriber's secondary TLB holds any of it, and its frames are free.
    pub fn unmap(&self, range: VaRange) -> Result<(), AsError> {
        let mut layout = self.mmap_lock.write();
        self.unmap_locked(&mut layout, range)
    }

    pub(super) fn unmap_locked(&self, layout: &mut Layout, range: VaRange) -> Result<(), AsError> {
        layout.vmas.check(range)?;
        self.change(layout, range, |t, g, hook| {
            t.pt.unmap_notifying(range, g, hook)
        })?;
        layout.vmas.remove(range)?;
        let Layout {
            vmas,
            objects,
            anon,
            ..
        } = layout;
        objects.prune(vmas, self);
        anon.prune(vmas, self);
        Ok(())
    }

    /// Changes the protection of `range`: the areas first, then the pages
    /// already present. As Linux's mprotect, a hole stops it there: the
    /// areas before the first hole are changed and `NotMapped` names the
    /// hole (nothing is changed when the range starts in one).
    pub fn protect(&self, range: VaRange, prot: Prot) -> Result<(), AsError> {
        let mut layout = self.mmap_lock.write();
        layout.vmas.check(range)?;
        prot.user_attributes(MemoryType::Normal)?;
        match first_hole(&layout, range) {
            None => self.protect_locked(&mut layout, range, prot),
            Some(hole) if hole == range.start => Err(AsError::Vma(VmaError::NotMapped(hole))),
            Some(hole) => {
                self.protect_locked(&mut layout, VaRange::new(range.start, hole), prot)?;
                Err(AsError::Vma(VmaError::NotMapped(hole)))
            }
        }
    }

    /// [`protect`](Self::protect) of a range without holes.
    fn protect_locked(
        &self,
        layout: &mut Layout,
        range: VaRange,
        prot: Prot,
    ) -> Result<(), AsError> {
        let changed = layout.vmas.protect(range, prot)?;
        self.change(layout, range, |t, g, hook| -> Result<(), MapError> {
            for vma in &changed {
                let memory = match vma.kind {
                    VmaKind::Physical { memory, .. } => memory,
                    _ => MemoryType::Normal,
                };
                let attrs = match prot.user_attributes(memory) {
                    Ok(Some(a)) => a,
                    // PROT_NONE: keep the pages, deny every access (the
                    // CPU's at any level and a device's: AF clear).
                    _ => mm::Attributes {
                        access: mm::Access::None,
                        user: false,
                        memory,
                        global: false,
                    },
                };
                // The shared zero page, and in a private area every frame
                // another mapping shares (copy-on-write after fork), stay
                // read-only whatever the area allows: a write must fault and
                // get a frame of its own.
                let zero = super::fault::zero_frame();
                let private = vma.kind.is_anon_private();
                let keep_read_only = |m: &mm::table::Mapping| {
                    m.level == mm::Level::L3
                        && (m.pa == zero
                            || (private
                                && !super::cow::may_write_in_place(m.pa, m.descriptor.is_owned())))
                };
                let (extents, zero_pages) = if attrs.access.writable() {
                    present_split(&t.pt, vma.range, keep_read_only)
                } else {
                    present_split(&t.pt, vma.range, |_| false)
                };
                for extent in extents {
                    if attrs.access.executable() {
                        sync_icache(&t.pt, extent);
                    }
                    t.pt.protect_notifying(extent, attrs, g, hook)?;
                }
                let read_only = mm::Attributes {
                    access: mm::Access::Read,
                    ..attrs
                };
                for page in zero_pages {
                    t.pt.protect_notifying(page, read_only, g, hook)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// A page-table entry that disagrees with the layout ([`AddressSpace::audit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditError {
    /// A page is mapped where no area is.
    Stray {
        /// The page's address.
        va: VirtAddr,
    },
    /// A page allows more than its area does (a write, an execute, any
    /// access in a `PROT_NONE` area).
    Overpermissive {
        /// The page's address.
        va: VirtAddr,
    },
    /// An area names an object (shared or anonymous) that its layout does not hold, or
    /// that does not list this address space among its mappers.
    Unlisted {
        /// The area's start.
        va: VirtAddr,
    },
}

impl AddressSpace {
    /// Checks that every mapped page lies in an area and allows no more than
    /// that area's protection, and that every object an area names is held by the
    /// layout and lists this address space (under `mmap_lock` read, then the PTL): the
    /// invariants every layout change keeps. For tests and the soak.
    pub fn audit(&self) -> Result<(), AuditError> {
        let layout = self.mmap_lock.read();
        let me: *const AddressSpace = self;
        let lists_me = |m: &super::Mappers| m.alive().iter().any(|a| Arc::as_ptr(a) == me);
        for vma in layout.vmas.iter() {
            let listed = match (
                super::AnonObject::named_by(vma),
                super::SharedObject::named_by(vma),
            ) {
                (Some(id), _) => layout.anon.get(id).is_some_and(|o| lists_me(o.mappers())),
                (_, Some(id)) => layout
                    .objects
                    .get(id)
                    .is_some_and(|o| lists_me(o.mappers())),
                (None, None) => true,
            };
            if !listed {
                return Err(AuditError::Unlisted {
                    va: vma.range.start,
                });
            }
        }
        let t = self.ptl.lock();
        let mut found = Ok(());
        let _ = t.pt.walk(super::USER_RANGE, |m| {
            let va = m.va.start;
            let verdict = match (layout.vmas.find(va), m.attributes()) {
                (None, _) => Err(AuditError::Stray { va }),
                (Some(vma), Some(a)) => {
                    let over = (a.access.writable() && !vma.prot.write)
                        || (a.access.executable() && !vma.prot.exec)
                        || (a.user && !(vma.prot.read || vma.prot.write || vma.prot.exec));
                    if over {
                        Err(AuditError::Overpermissive { va })
                    } else {
                        Ok(())
                    }
                }
                (Some(_), None) => Err(AuditError::Overpermissive { va }),
            };
            match verdict {
                Ok(()) => core::ops::ControlFlow::Continue(()),
                Err(e) => {
                    found = Err(e);
                    core::ops::ControlFlow::Break(())
                }
            }
        });
        found
    }

    /// The area holding `va`, if any (a copy: the layout may change after).
    pub fn area_at(&self, va: VirtAddr) -> Option<Vma> {
        self.mmap_lock.read().vmas.find(va).copied()
    }

    /// Faults in every page of `range` as a first access would (`MAP_POPULATE`);
    /// stops at the first page that cannot be.
    pub fn populate(&self, range: VaRange, write: bool) -> Result<(), super::FaultError> {
        let mut va = range.start;
        while va.as_u64() < range.end.as_u64() {
            if self.translate(va).is_none() {
                self.handle_fault(va, write, false)?;
            }
            va = va.add(PAGE_SIZE);
        }
        Ok(())
    }

    /// Drops the pages of the private anonymous areas in `range` and keeps
    /// the areas (`madvise(MADV_DONTNEED)`): the next touch sees a zeroed
    /// page. Shared anonymous pages keep their contents, as the shared
    /// object's pages would on Linux (here the mapping is the object, so
    /// they stay mapped). Like Linux, the mapped parts are handled even if
    /// `range` has holes, and then `NotMapped` names the first hole.
    pub fn discard(&self, range: VaRange) -> Result<(), AsError> {
        let mut layout = self.mmap_lock.write();
        layout.vmas.check(range)?;
        let private: Vec<VaRange> = layout
            .vmas
            .overlapping(range)
            .filter(|v| v.kind.is_anon_private())
            .map(|v| v.range.intersect(&range))
            .collect();
        for piece in private {
            self.change(&mut layout, piece, |t, g, hook| {
                t.pt.unmap_notifying(piece, g, hook)
            })?;
        }
        covered(&layout, range, |_| true)
    }

    /// Moves the anonymous area piece `old` to `new` (`mremap` with
    /// `MREMAP_MAYMOVE`): `new` gets an area with the same protection and
    /// the very frames of the pages present in `old`, at the same offsets
    /// (as Linux's `move_ptes`), and `old` is unmapped with the usual
    /// invalidation order. Nothing is copied: a store another thread makes
    /// through a stale translation of `old` before the TLBI lands in the
    /// frame that `new` maps, so no write is lost. `new` may be longer than
    /// `old` (the rest is demand-zero) and must be free; with `fixed`,
    /// whatever is there is unmapped first.
    pub fn move_area(&self, old: VaRange, new: VaRange, fixed: bool) -> Result<(), AsError> {
        let mut layout = self.mmap_lock.write();
        let vma = *layout
            .vmas
            .find(old.start)
            .ok_or(VmaError::NotMapped(old.start))?;
        if fixed {
            self.unmap_locked(&mut layout, new)?;
        }
        self.move_locked(&mut layout, vma, old, new)
    }

    /// [`move_area`](Self::move_area) under `mmap_lock` for write, with
    /// `vma` the area holding `old` and `new` free. An empty `old` (in a
    /// shared area: `remap` allows no other) only maps the object again at
    /// `new`.
    pub(super) fn move_locked(
        &self,
        layout: &mut Layout,
        vma: Vma,
        old: VaRange,
        new: VaRange,
    ) -> Result<(), AsError> {
        if !matches!(
            vma.kind,
            VmaKind::AnonPrivate { .. } | VmaKind::AnonShared { .. }
        ) {
            return Err(AsError::Vma(VmaError::NotMapped(old.start)));
        }
        // The piece `old` of the area, with its own object page if it is shared, and its
        // own page index if it is private and has its object (faulted pages keep their
        // index); an unfaulted private piece is indexed by its new place, which lets it
        // join its new neighbours (Linux's copy_vma).
        let kind = match vma.part(old).kind {
            VmaKind::AnonPrivate { anon: None, .. } => VmaKind::anon_private_at(new.start),
            kind => kind,
        };
        layout.vmas.insert(Vma {
            range: new,
            prot: vma.prot,
            kind,
        })?;
        if old.is_empty() {
            // A second mapping of a shared object (mremap with old length 0):
            // its pages fault in from the object; nothing moves.
            return Ok(());
        }
        let delta = new.start.as_u64().wrapping_sub(old.start.as_u64());
        let to = |va: VirtAddr| VirtAddr::new(va.as_u64().wrapping_add(delta));
        let moved = self.change(layout, old, |t, g, hook| -> Result<(), MapError> {
            let pages = present_pages(&t.pt, old)?;
            // First the new leaves, owning nothing: if a table page cannot
            // be had, the old range is intact and the undo below unmaps the
            // new one without freeing any frame.
            for &(va, pa, attrs) in &pages {
                if !t.pt.map_page(to(va), pa, attrs, false)? {
                    return Err(MapError::NotMapped(to(va)));
                }
            }
            // Then each frame's owner mark moves to its new leaf, and the
            // old leaves go (TLBI, DSB and the atomic hook when `change`
            // flushes): unmapping them frees no frame.
            for &(va, _, _) in &pages {
                if t.pt.set_owned(va, false)? {
                    t.pt.set_owned(to(va), true)?;
                }
            }
            t.pt.unmap_notifying(old, g, hook)
        });
        if let Err(e) = moved {
            // Undo: drop whatever reached the new range; the old one is intact
            // unless the unmap itself failed, which leaves it as it was too.
            let _ = self.unmap_locked(layout, new);
            return Err(e.into());
        }
        layout.vmas.remove(old)?;
        Ok(())
    }
}

/// Every 4 KiB page mapped in `range`: its address, frame and attributes.
/// User areas are mapped with pages only; a block here is refused.
fn present_pages(
    pt: &super::UserTable,
    range: VaRange,
) -> Result<Vec<(VirtAddr, PhysAddr, mm::Attributes)>, MapError> {
    let mut pages = Vec::new();
    let mut refused = None;
    pt.walk(range, |m| {
        match (m.level, m.attributes()) {
            (mm::Level::L3, Some(attrs)) => pages.push((m.va.start, m.pa, attrs)),
            _ => {
                refused = Some(m.va.start);
                return core::ops::ControlFlow::Break(());
            }
        }
        core::ops::ControlFlow::Continue(())
    })?;
    match refused {
        Some(va) => Err(MapError::NotMapped(va)),
        None => Ok(pages),
    }
}

/// Makes every page present in `extent` coherent for instruction fetch
/// before the mapping becomes executable (written through the data side:
/// an ELF's text, a JIT's code).
fn sync_icache(pt: &super::UserTable, extent: VaRange) {
    let _ = pt.walk(extent, |m| {
        for page in (0..m.level.size()).step_by(PAGE_SIZE as usize) {
            crate::arch::sync_icache_page(crate::mem::phys_to_virt(m.pa.add(page)));
        }
        core::ops::ControlFlow::Continue(())
    });
}

/// Checks that every byte of `range` lies in areas accepted by `ok`.
fn covered(layout: &Layout, range: VaRange, ok: impl Fn(&Vma) -> bool) -> Result<(), AsError> {
    match first_gap(layout, range, ok) {
        Some(at) => Err(AsError::Vma(VmaError::NotMapped(at))),
        None => Ok(()),
    }
}

/// The first address of `range` that no area maps, if any.
fn first_hole(layout: &Layout, range: VaRange) -> Option<VirtAddr> {
    first_gap(layout, range, |_| true)
}

/// The first address of `range` not in an area accepted by `ok`.
fn first_gap(layout: &Layout, range: VaRange, ok: impl Fn(&Vma) -> bool) -> Option<VirtAddr> {
    layout.vmas.first_gap(range, ok)
}

/// The present extents of `range` in one walk, with the pages `apart` picks
/// (those that stay read-only) listed apart.
fn present_split(
    pt: &super::UserTable,
    range: VaRange,
    apart: impl Fn(&mm::table::Mapping) -> bool,
) -> (Vec<VaRange>, Vec<VaRange>) {
    let mut out: Vec<VaRange> = Vec::new();
    let mut skipped: Vec<VaRange> = Vec::new();
    let _ = pt.walk(range, |m| {
        if apart(m) {
            skipped.push(m.va);
            return core::ops::ControlFlow::Continue(());
        }
        let piece = m.va.intersect(&range);
        match out.last_mut() {
            Some(last) if last.end == piece.start => last.end = piece.end,
            _ => out.push(piece),
        }
        core::ops::ControlFlow::Continue(())
    });
    (out, skipped)
}
