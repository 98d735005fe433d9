//! `mremap` as one layout change: every look-up, check, unmap and move runs
//! under one `mmap_lock` writer, so no concurrent layout change can slip
//! between a check and the change it allows (the area found is the area
//! moved, the free range placed is the range filled). The order of the
//! checks and of their side effects is Linux 6.1's (mm/mremap.c), so that a
//! program sees the same results on both kernels:
//!
//! 1. the area holding the old address (`NotMapped`: EFAULT), and only that
//!    one: a shrink does not look further;
//! 2. `MREMAP_FIXED` (`remap_to`): the target's alignment, range and
//!    overlap, then the target is unmapped, then the old tail beyond the new
//!    length, then the old range must lie in one area and is moved;
//! 3. a shrink or same-size remap unmaps the tail, as munmap would;
//! 4. a grow: in place when the old range ends its area and the space after
//!    it is free, else moved (`MREMAP_MAYMOVE`) to a free range.
//!
//! An old length of 0 on a shared area moves nothing and unmaps nothing: the
//! "move" maps the area's object a second time, from the old address's
//! object page on, at the new place (Linux's `move_vma` of an empty range).
use super::{AddressSpace, AsError, Layout, USER_RANGE};
use mm::vma::{Placement, Vma, VmaKind};
use mm::{VaRange, VirtAddr, PAGE_SIZE};

/// What `mremap` was asked, with both lengths already page-aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemapRequest {
    /// The old address (page-aligned: the caller checked it).
    pub addr: VirtAddr,
    /// The old length (may be 0 or past the user range: checked here).
    pub old_len: u64,
    /// The new length (not 0: the caller checked it).
    pub new_len: u64,
    /// `MREMAP_MAYMOVE`.
    pub may_move: bool,
    /// `MREMAP_FIXED`'s target, as given (checked here, in Linux's order:
    /// after the look-up of the old address).
    pub fixed: Option<VirtAddr>,
}

/// Why a remap was refused, by the errno Linux gives at that point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemapError {
    /// No area at the old address, or the old range leaves its area (EFAULT).
    NotMapped,
    /// A bad argument (EINVAL).
    Invalid,
    /// Nowhere to grow or move to (ENOMEM).
    NoSpace,
    /// A layout change the remap needed failed.
    Layout(AsError),
}

/// Linux's TASK_SIZE: the end of the user half.
const TASK_SIZE: u64 = USER_RANGE.end.as_u64();

fn range(start: u64, len: u64) -> VaRange {
    VaRange::new(VirtAddr::new(start), VirtAddr::new(start + len))
}

impl AddressSpace {
    /// `mremap`: returns where the area now starts.
    pub fn remap(&self, r: RemapRequest) -> Result<VirtAddr, RemapError> {
        let mut layout = self.mmap_lock.write();
        let addr = r.addr.as_u64();
        layout.vmas.find(r.addr).ok_or(RemapError::NotMapped)?;
        if let Some(target) = r.fixed {
            return self.remap_to(&mut layout, r, target);
        }
        if r.old_len >= r.new_len {
            // As Linux: the tail's unmap errors count only for a real shrink.
            let tail = self.unmap_like_munmap(
                &mut layout,
                VirtAddr::new(addr.wrapping_add(r.new_len)),
                r.old_len - r.new_len,
            );
            if tail.is_err() && r.old_len != r.new_len {
                return tail.map(|()| r.addr);
            }
            return Ok(r.addr);
        }
        let vma = resizable(&layout, addr, r.old_len, r.new_len)?;
        let grow = r.new_len - r.old_len;
        let end = vma.range.end.as_u64();
        if end - addr == r.old_len {
            if let Some(new_end) = end.checked_add(grow).filter(|&e| e <= TASK_SIZE) {
                let tail = range(end, new_end - end);
                if layout.vmas.overlapping(tail).next().is_none() {
                    layout
                        .vmas
                        .grow(tail.start, tail.end)
                        .map_err(|e| RemapError::Layout(e.into()))?;
                    return Ok(r.addr);
                }
            }
        }
        if !r.may_move {
            return Err(RemapError::NoSpace);
        }
        let new = layout
            .vmas
            .place(r.new_len, Placement::Anywhere)
            .map_err(|_| RemapError::NoSpace)?;
        self.move_locked(&mut layout, vma, range(addr, r.old_len), new)
            .map_err(RemapError::Layout)?;
        Ok(new.start)
    }

    /// `MREMAP_FIXED` (Linux's `mremap_to`).
    fn remap_to(
        &self,
        layout: &mut Layout,
        r: RemapRequest,
        new: VirtAddr,
    ) -> Result<VirtAddr, RemapError> {
        let (addr, target) = (r.addr.as_u64(), new.as_u64());
        if !new.is_aligned(PAGE_SIZE) || r.new_len > TASK_SIZE || target > TASK_SIZE - r.new_len {
            return Err(RemapError::Invalid);
        }
        // Linux compares with wrapping arithmetic: a huge old length that
        // wraps does not count as an overlap (its unmap fails below).
        if addr.wrapping_add(r.old_len) > target && target + r.new_len > addr {
            return Err(RemapError::Invalid);
        }
        self.unmap_like_munmap(layout, new, r.new_len)?;
        let mut old_len = r.old_len;
        if old_len > r.new_len {
            self.unmap_like_munmap(layout, r.addr.add(r.new_len), old_len - r.new_len)?;
            old_len = r.new_len;
        }
        let vma = resizable(layout, addr, old_len, r.new_len)?;
        self.move_locked(layout, vma, range(addr, old_len), range(target, r.new_len))
            .map_err(RemapError::Layout)?;
        Ok(new)
    }

    /// `munmap`: [`unmap`](Self::unmap) of a range [`munmap_range`] made
    /// (the system call checks its arguments with it), skipping the first
    /// page, which is never mappable.
    pub fn munmap(&self, range: VaRange) -> Result<(), RemapError> {
        let mut layout = self.mmap_lock.write();
        self.unmap_munmap_range(&mut layout, range)
    }

    /// munmap's checks and effect together (Linux's `do_munmap`, which
    /// mremap calls on the ranges it unmaps).
    fn unmap_like_munmap(
        &self,
        layout: &mut Layout,
        start: VirtAddr,
        len: u64,
    ) -> Result<(), RemapError> {
        let range = munmap_range(start, len)?;
        self.unmap_munmap_range(layout, range)
    }

    /// munmap's effect on a checked range: the first page, never mappable,
    /// is skipped.
    fn unmap_munmap_range(&self, layout: &mut Layout, range: VaRange) -> Result<(), RemapError> {
        let start = range.start.max(USER_RANGE.start);
        if start >= range.end {
            return Ok(());
        }
        self.unmap_locked(layout, VaRange::new(start, range.end))
            .map_err(RemapError::Layout)
    }
}

/// munmap's argument checks (Linux's `do_munmap`), turning `(start, len)`
/// into the range to unmap: a start that is unaligned or past the user half,
/// a range past it, or an empty one is `Invalid` (EINVAL); the length is
/// rounded up to pages. The only state-free checks of munmap, so the system
/// call makes them before it takes `mmap_lock`.
pub fn munmap_range(start: VirtAddr, len: u64) -> Result<VaRange, RemapError> {
    let at = start.as_u64();
    if !start.is_aligned(PAGE_SIZE) || at > TASK_SIZE || len > TASK_SIZE - at {
        return Err(RemapError::Invalid);
    }
    // At most TASK_SIZE - start here: rounding up cannot overflow.
    let len = len.next_multiple_of(PAGE_SIZE);
    if len == 0 {
        return Err(RemapError::Invalid);
    }
    Ok(VaRange::new(start, start.add(len)))
}

/// The area `[addr, addr + old_len)` lies in, if it may become `new_len`
/// long (Linux's `vma_to_resize`).
fn resizable(layout: &Layout, addr: u64, old_len: u64, new_len: u64) -> Result<Vma, RemapError> {
    let vma = *layout
        .vmas
        .find(VirtAddr::new(addr))
        .ok_or(RemapError::NotMapped)?;
    // A zero old length asks for a second mapping of a shared area's object
    // from `addr` on (Linux's "duplicate shm area"); a private area has no
    // object to map twice, so it is refused (EINVAL), as Linux 6.1 does.
    if old_len == 0 && !matches!(vma.kind, VmaKind::AnonShared { .. }) {
        return Err(RemapError::Invalid);
    }
    if old_len > vma.range.end.as_u64() - addr {
        return Err(RemapError::NotMapped);
    }
    if new_len != old_len && matches!(vma.kind, VmaKind::Physical { .. }) {
        return Err(RemapError::NotMapped);
    }
    Ok(vma)
}
