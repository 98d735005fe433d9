//! Virtual memory areas: the layout of one address space (what is mapped
//! where, with which permissions and backing), kept apart from the page
//! tables that implement it. Changed only under the address space's
//! `mmap_lock` held for write; read under it for faults. Pure bookkeeping,
//! host-tested.
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::addr::{PhysAddr, VaRange, VirtAddr, PAGE_SIZE};
use crate::attrs::{Access, Attributes};
use crate::mair::MemoryType;

/// Access a mapping allows (like `PROT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Prot {
    /// No access (`PROT_NONE`): the area exists, every access faults.
    pub const NONE: Self = Self {
        read: false,
        write: false,
        exec: false,
    };
    /// Read-only.
    pub const R: Self = Self {
        read: true,
        write: false,
        exec: false,
    };
    /// Read/write.
    pub const RW: Self = Self {
        read: true,
        write: true,
        exec: false,
    };
    /// Read/execute.
    pub const RX: Self = Self {
        read: true,
        write: false,
        exec: true,
    };

    /// The user-space page attributes for this protection, `None` for
    /// `PROT_NONE`; writable-and-executable is refused (W^X).
    pub fn user_attributes(self, memory: MemoryType) -> Result<Option<Attributes>, VmaError> {
        let access = match (self.read || self.write || self.exec, self.write, self.exec) {
            (false, _, _) => return Ok(None),
            (true, true, true) => return Err(VmaError::WriteExecute),
            (true, true, false) => Access::ReadWrite,
            (true, false, true) => Access::ReadExec,
            (true, false, false) => Access::Read,
        };
        Ok(Some(Attributes {
            access,
            user: true,
            memory,
            global: false,
        }))
    }
}

/// What backs an area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// Zero-filled on first touch, private to the address space (copy-on-write after fork).
    AnonPrivate {
        /// The page index of the area's first page in its anonymous object (Linux's
        /// `vm_pgoff`): the page number of the address where the area was made, moving
        /// with the area's start as it is cut, and kept when a faulted area is moved
        /// (`mremap`). Two areas are one only if their indexes run on.
        pgoff: u64,
        /// The anonymous object that names the area's private pages (Linux's
        /// `anon_vma`): none until its first write fault, then a neighbour's if the two
        /// could be one area, else a new one; forked areas keep their parent's.
        anon: Option<AnonId>,
    },
    /// Zero-filled on first touch, shared with every other mapper of the object (its
    /// frames are the object's): `pgoff` is the object page the area's first page maps.
    AnonShared {
        /// The shared object (the kernel keeps the objects; this is its name).
        object: ObjectId,
        /// The object page mapped at the area's first byte.
        pgoff: u64,
    },
    /// A fixed physical range (device or reserved memory), mapped eagerly.
    Physical {
        /// Physical address of the area's first byte.
        pa: PhysAddr,
        /// Memory type of the range.
        memory: MemoryType,
        /// The most `mprotect` may give it (Linux's `VM_MAY*`): a range the kernel shares
        /// read-only with every process (the vDSO) must never become writable in one.
        may: Prot,
    },
}

/// The name of a shared object (MAP_SHARED memory; files later): areas refer to it by
/// this id, the kernel keeps the object and its pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub u64);

/// The name of an anonymous object: the private pages of the areas that carry it. A private
/// frame's reverse-map owner is (object, page index), and the page sits at
/// `start + (index - pgoff) * PAGE_SIZE` of an area of that object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AnonId(pub u64);

impl VmaKind {
    /// A new private anonymous area starting at `start` (no object yet; its page index is
    /// the page number of `start`, as Linux's `vm_pgoff` for anonymous memory).
    pub fn anon_private_at(start: VirtAddr) -> Self {
        VmaKind::AnonPrivate {
            pgoff: start.as_u64() / PAGE_SIZE,
            anon: None,
        }
    }

    /// True for private anonymous memory.
    pub fn is_anon_private(&self) -> bool {
        matches!(self, VmaKind::AnonPrivate { .. })
    }
}

/// One area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    /// Page-aligned extent.
    pub range: VaRange,
    /// Allowed access.
    pub prot: Prot,
    /// Backing.
    pub kind: VmaKind,
}

impl Vma {
    /// The part of `self` inside `r` (which must overlap it), keeping the
    /// physical offset of a physical area and the object offset of a shared one.
    fn slice(&self, r: VaRange) -> Vma {
        self.part(self.range.intersect(&r))
    }

    /// The area with `self`'s protection and backing over `r`, which starts at or after
    /// `self`'s start (beyond its end too: a piece that continues the area when it
    /// grows): a physical area's address and a shared area's object page move with
    /// `r.start`.
    pub fn part(&self, r: VaRange) -> Vma {
        let delta = r.start.as_u64() - self.range.start.as_u64();
        let kind = match self.kind {
            VmaKind::Physical { pa, memory, may } => VmaKind::Physical {
                pa: PhysAddr::new(pa.as_u64() + delta),
                memory,
                may,
            },
            VmaKind::AnonShared { object, pgoff } => VmaKind::AnonShared {
                object,
                pgoff: pgoff + delta / crate::addr::PAGE_SIZE,
            },
            VmaKind::AnonPrivate { pgoff, anon } => VmaKind::AnonPrivate {
                pgoff: pgoff + delta / crate::addr::PAGE_SIZE,
                anon,
            },
        };
        Vma {
            range: r,
            prot: self.prot,
            kind,
        }
    }

    /// The anonymous object of a private area and the page index `va` (inside the
    /// area) has in it, once the area has an object.
    pub fn anon_page(&self, va: VirtAddr) -> Option<(AnonId, u64)> {
        match self.kind {
            VmaKind::AnonPrivate {
                pgoff,
                anon: Some(anon),
            } => Some((
                anon,
                pgoff + (va.as_u64() - self.range.start.as_u64()) / crate::addr::PAGE_SIZE,
            )),
            _ => None,
        }
    }

    /// The shared object page that `va` (inside the area) maps.
    pub fn object_page(&self, va: VirtAddr) -> Option<(ObjectId, u64)> {
        match self.kind {
            VmaKind::AnonShared { object, pgoff } => Some((
                object,
                pgoff + (va.as_u64() - self.range.start.as_u64()) / crate::addr::PAGE_SIZE,
            )),
            _ => None,
        }
    }
}

/// Where a new area may go (like `mmap`'s address argument and flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Anywhere free.
    Anywhere,
    /// At this address if it is free, else anywhere.
    Hint(VirtAddr),
    /// Exactly here, replacing what is there (`MAP_FIXED`).
    Fixed(VirtAddr),
    /// Exactly here, failing if anything is there (`MAP_FIXED_NOREPLACE`).
    FixedNoReplace(VirtAddr),
}

/// A layout change refused, naming the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaError {
    /// The requested range overlaps an existing area.
    Overlap {
        /// The area in the way.
        existing: VaRange,
        /// What was asked for.
        requested: VaRange,
    },
    /// No free gap of that size.
    NoSpace,
    /// Address or length not page aligned.
    Misaligned,
    /// Zero length.
    Empty,
    /// Outside the address space's range (or wrapping).
    OutOfRange,
    /// Part of the range is not mapped (`mprotect` needs it all).
    NotMapped(VirtAddr),
    /// Writable and executable at once.
    WriteExecute,
    /// More than the area may ever be given (a physical area's `may`).
    Denied(VirtAddr),
}

/// The areas of one address space, by start address.
#[derive(Debug)]
pub struct Vmas {
    areas: BTreeMap<u64, Vma>,
    limit: VaRange,
    /// Where `Anywhere` placements start looking.
    base: VirtAddr,
}

impl Vmas {
    /// Areas may lie in `limit`; free-space searches start at `base`.
    pub fn new(limit: VaRange, base: VirtAddr) -> Self {
        Self {
            areas: BTreeMap::new(),
            limit,
            base,
        }
    }

    /// Every area, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.areas.values()
    }

    /// Number of areas.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// No area at all.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// The area holding `va`.
    pub fn find(&self, va: VirtAddr) -> Option<&Vma> {
        let (_, vma) = self.areas.range(..=va.as_u64()).next_back()?;
        vma.range.contains(va).then_some(vma)
    }

    /// Areas overlapping `r`, in order.
    pub fn overlapping(&self, r: VaRange) -> impl Iterator<Item = &Vma> {
        let first = self
            .find(r.start)
            .map_or(r.start.as_u64(), |v| v.range.start.as_u64());
        self.areas
            .range(first..r.end.as_u64())
            .map(|(_, v)| v)
            .filter(move |v| v.range.overlaps(&r))
    }

    /// The first address of `range` not inside an area accepted by `ok`
    /// (a hole, or an area `ok` refuses), if any: the one "no holes" scan
    /// that munmap, mprotect, madvise and mremap's checks share.
    pub fn first_gap(&self, range: VaRange, ok: impl Fn(&Vma) -> bool) -> Option<VirtAddr> {
        let mut expect = range.start;
        for v in self.overlapping(range) {
            if v.range.start > expect || !ok(v) {
                return Some(expect);
            }
            expect = v.range.end;
        }
        (expect < range.end).then_some(expect)
    }

    /// Checks a range a caller asked for.
    pub fn check(&self, r: VaRange) -> Result<(), VmaError> {
        if r.is_empty() {
            return Err(VmaError::Empty);
        }
        if !r.is_aligned(PAGE_SIZE) {
            return Err(VmaError::Misaligned);
        }
        if !self.limit.contains_range(&r) {
            return Err(VmaError::OutOfRange);
        }
        Ok(())
    }

    /// Picks the range a new area of `len` bytes takes; `Fixed` may overlap
    /// (the caller unmaps what is there first).
    pub fn place(&self, len: u64, placement: Placement) -> Result<VaRange, VmaError> {
        if len == 0 {
            return Err(VmaError::Empty);
        }
        if !len.is_multiple_of(PAGE_SIZE) {
            return Err(VmaError::Misaligned);
        }
        let at = |va: VirtAddr| VaRange::from_start_len(va, len).ok_or(VmaError::OutOfRange);
        match placement {
            Placement::Fixed(va) => {
                let r = at(va)?;
                self.check(r)?;
                Ok(r)
            }
            Placement::FixedNoReplace(va) => {
                let r = at(va)?;
                self.check(r)?;
                match self.overlapping(r).next() {
                    Some(v) => Err(VmaError::Overlap {
                        existing: v.range,
                        requested: r,
                    }),
                    None => Ok(r),
                }
            }
            Placement::Hint(va) => match at(va) {
                Ok(r) if self.check(r).is_ok() && self.overlapping(r).next().is_none() => Ok(r),
                _ => self.first_fit(len),
            },
            Placement::Anywhere => self.first_fit(len),
        }
    }

    fn first_fit(&self, len: u64) -> Result<VaRange, VmaError> {
        let mut cursor = self.base.as_u64().max(self.limit.start.as_u64());
        for v in self.areas.range(..).map(|(_, v)| v) {
            if v.range.end.as_u64() <= cursor {
                continue;
            }
            if v.range.start.as_u64() >= cursor + len {
                break;
            }
            cursor = v.range.end.as_u64();
        }
        let r = VaRange::from_start_len(VirtAddr::new(cursor), len).ok_or(VmaError::NoSpace)?;
        if r.end.as_u64() > self.limit.end.as_u64() {
            return Err(VmaError::NoSpace);
        }
        Ok(r)
    }

    /// Adds `vma`, which must not overlap any area.
    pub fn insert(&mut self, vma: Vma) -> Result<(), VmaError> {
        self.check(vma.range)?;
        if let Some(v) = self.overlapping(vma.range).next() {
            return Err(VmaError::Overlap {
                existing: v.range,
                requested: vma.range,
            });
        }
        self.areas.insert(vma.range.start.as_u64(), vma);
        // The previous area first, as Linux's vma_merge: with objects A, none, B around,
        // the new area joins A's side.
        self.merge_at(vma.range.start);
        let end = self
            .find(vma.range.start)
            .map_or(vma.range.end, |v| v.range.end);
        self.merge_at(end);
        Ok(())
    }

    /// Joins the area ending at `at` with the one starting there if nothing
    /// tells them apart, as Linux merges VMAs: same protection and backing, page
    /// indexes that run on (physical addresses, shared object pages, and private
    /// areas' `pgoff`), and for private areas anonymous objects that agree (the same, or
    /// one of them none yet: the joined area takes the one there is). A range that grew
    /// or was re-protected piecewise is one area again (`mremap` needs that).
    fn merge_at(&mut self, at: VirtAddr) {
        let Some(hi) = self.areas.get(&at.as_u64()).copied() else {
            return;
        };
        let Some((&lo_start, &lo)) = self.areas.range(..at.as_u64()).next_back() else {
            return;
        };
        if lo.range.end != at || lo.prot != hi.prot {
            return;
        }
        let lo_pages = lo.range.len() / PAGE_SIZE;
        let joined = match (lo.kind, hi.kind) {
            (
                VmaKind::AnonPrivate { pgoff, anon },
                VmaKind::AnonPrivate {
                    pgoff: pgoff2,
                    anon: anon2,
                },
            ) if pgoff + lo_pages == pgoff2
                && (anon.is_none() || anon2.is_none() || anon == anon2) =>
            {
                Some(VmaKind::AnonPrivate {
                    pgoff,
                    anon: anon.or(anon2),
                })
            }
            (
                VmaKind::AnonShared { object, pgoff },
                VmaKind::AnonShared {
                    object: object2,
                    pgoff: pgoff2,
                },
            ) if object == object2 && pgoff + lo_pages == pgoff2 => Some(lo.kind),
            (
                VmaKind::Physical { pa, memory, may },
                VmaKind::Physical {
                    pa: pa2,
                    memory: memory2,
                    may: may2,
                },
            ) if memory == memory2
                && may == may2
                && pa.as_u64() + lo.range.len() == pa2.as_u64() =>
            {
                Some(lo.kind)
            }
            _ => None,
        };
        let Some(kind) = joined else {
            return;
        };
        self.areas.remove(&at.as_u64());
        if let Some(v) = self.areas.get_mut(&lo_start) {
            v.range = VaRange::new(lo.range.start, hi.range.end);
            v.kind = kind;
        }
    }

    /// Gives the private area holding `va` its anonymous object if it has none yet
    /// (Linux's `anon_vma_prepare`): the object of the next area, else of the previous
    /// one, if that area could be one with it (adjacent, private, indexes that run on;
    /// protections may differ), else `fresh()`. Returns the area's object; `None` if `va`
    /// is not in a private area.
    pub fn prepare_anon(&mut self, va: VirtAddr, fresh: impl FnOnce() -> AnonId) -> Option<AnonId> {
        let vma = *self.find(va)?;
        let VmaKind::AnonPrivate { pgoff, anon } = vma.kind else {
            return None;
        };
        if anon.is_some() {
            return anon;
        }
        let pages = vma.range.len() / PAGE_SIZE;
        let next = self
            .areas
            .get(&vma.range.end.as_u64())
            .and_then(|n| match n.kind {
                VmaKind::AnonPrivate {
                    pgoff: p,
                    anon: Some(a),
                } if p == pgoff + pages => Some(a),
                _ => None,
            });
        let prev = || {
            let (_, p) = self.areas.range(..vma.range.start.as_u64()).next_back()?;
            match p.kind {
                VmaKind::AnonPrivate {
                    pgoff: q,
                    anon: Some(a),
                } if p.range.end == vma.range.start && q + p.range.len() / PAGE_SIZE == pgoff => {
                    Some(a)
                }
                _ => None,
            }
        };
        let id = next.or_else(prev).unwrap_or_else(fresh);
        if let Some(v) = self.areas.get_mut(&vma.range.start.as_u64()) {
            v.kind = VmaKind::AnonPrivate {
                pgoff,
                anon: Some(id),
            };
        }
        Some(id)
    }

    /// Extends the area ending at `end` to `new_end` in place (`mremap` growing an area,
    /// Linux 6.1's vma_adjust): the pages added continue its backing, and it is not joined
    /// with an area that starts at `new_end`. The range added must be free.
    pub fn grow(&mut self, end: VirtAddr, new_end: VirtAddr) -> Result<(), VmaError> {
        let added = VaRange::new(end, new_end);
        self.check(added)?;
        if let Some(v) = self.overlapping(added).next() {
            return Err(VmaError::Overlap {
                existing: v.range,
                requested: added,
            });
        }
        let (_, v) = self
            .areas
            .range_mut(..end.as_u64())
            .next_back()
            .filter(|(_, v)| v.range.end == end)
            .ok_or(VmaError::NotMapped(end))?;
        v.range = VaRange::new(v.range.start, new_end);
        Ok(())
    }

    /// Cuts the areas overlapping `r` so that none straddles its ends.
    fn split_at_ends(&mut self, r: VaRange) {
        for cut in [r.start, r.end] {
            let Some(v) = self.find(cut).copied() else {
                continue;
            };
            if v.range.start == cut {
                continue;
            }
            let (lo, hi) = (
                VaRange::new(v.range.start, cut),
                VaRange::new(cut, v.range.end),
            );
            self.areas.insert(lo.start.as_u64(), v.slice(lo));
            self.areas.insert(hi.start.as_u64(), v.slice(hi));
        }
    }

    /// Removes everything in `r` (splitting areas at its ends) and returns
    /// the removed pieces.
    pub fn remove(&mut self, r: VaRange) -> Result<Vec<Vma>, VmaError> {
        self.check(r)?;
        self.split_at_ends(r);
        let keys: Vec<u64> = self
            .overlapping(r)
            .map(|v| v.range.start.as_u64())
            .collect();
        Ok(keys
            .into_iter()
            .filter_map(|k| self.areas.remove(&k))
            .collect())
    }

    /// Sets the protection of all of `r`, which must be mapped without holes
    /// (checked before anything changes); returns the changed pieces.
    pub fn protect(&mut self, r: VaRange, prot: Prot) -> Result<Vec<Vma>, VmaError> {
        self.check(r)?;
        prot.user_attributes(MemoryType::Normal)?;
        let mut expect = r.start;
        for v in self.overlapping(r) {
            if v.range.start.as_u64() > expect.as_u64() {
                return Err(VmaError::NotMapped(expect));
            }
            expect = v.range.end;
        }
        if expect.as_u64() < r.end.as_u64() {
            return Err(VmaError::NotMapped(expect));
        }
        let exceeds = |may: Prot| {
            (prot.read && !may.read) || (prot.write && !may.write) || (prot.exec && !may.exec)
        };
        if let Some(v) = self.overlapping(r).find(|v| match v.kind {
            VmaKind::Physical { may, .. } => exceeds(may),
            _ => false,
        }) {
            return Err(VmaError::Denied(v.range.start));
        }
        self.split_at_ends(r);
        let keys: Vec<u64> = self
            .overlapping(r)
            .map(|v| v.range.start.as_u64())
            .collect();
        let mut changed = Vec::new();
        for k in keys {
            if let Some(v) = self.areas.get_mut(&k) {
                v.prot = prot;
                changed.push(*v);
            }
        }
        // In address order, each piece with the one before it (Linux's mprotect_fixup
        // merges each piece with its predecessor first), then the last with the next.
        for v in &changed {
            self.merge_at(v.range.start);
        }
        self.merge_at(r.end);
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, len: u64) -> VaRange {
        VaRange::new(VirtAddr::new(start), VirtAddr::new(start + len))
    }
    fn anon(start: u64, len: u64) -> Vma {
        Vma {
            range: r(start, len),
            prot: Prot::RW,
            kind: VmaKind::anon_private_at(VirtAddr::new(start)),
        }
    }
    fn vmas() -> Vmas {
        Vmas::new(r(0x1000, (1 << 48) - 0x1000), VirtAddr::new(0x10_0000_0000))
    }

    #[test]
    fn insert_refuses_overlap_and_bad_ranges() {
        let mut v = vmas();
        v.insert(anon(0x10000, 0x4000)).unwrap();
        assert_eq!(
            v.insert(anon(0x13000, 0x2000)),
            Err(VmaError::Overlap {
                existing: r(0x10000, 0x4000),
                requested: r(0x13000, 0x2000)
            })
        );
        assert_eq!(v.insert(anon(0x20001, 0x1000)), Err(VmaError::Misaligned));
        assert_eq!(v.insert(anon(0x20000, 0)), Err(VmaError::Empty));
        assert_eq!(v.insert(anon(0, 0x1000)), Err(VmaError::OutOfRange));
        assert_eq!(v.insert(anon(1 << 48, 0x1000)), Err(VmaError::OutOfRange));
        assert_eq!(v.len(), 1);
    }

    fn shared(start: u64, len: u64, object: u64, pgoff: u64) -> Vma {
        Vma {
            kind: VmaKind::AnonShared {
                object: ObjectId(object),
                pgoff,
            },
            ..anon(start, len)
        }
    }

    /// Pieces of one shared object merge only where their object pages follow on; a split
    /// keeps each piece's object page, and a piece beyond the end continues the count.
    #[test]
    fn shared_areas_keep_their_object_pages() {
        let mut v = vmas();
        v.insert(shared(0x10000, 0x2000, 7, 0)).unwrap();
        v.insert(shared(0x12000, 0x1000, 7, 2)).unwrap();
        assert_eq!(v.len(), 1, "object pages 0-1 then 2: one area");
        v.insert(shared(0x13000, 0x1000, 7, 9)).unwrap();
        v.insert(shared(0x14000, 0x1000, 8, 4)).unwrap();
        assert_eq!(
            v.len(),
            3,
            "a gap in the object pages, another object: apart"
        );
        v.remove(r(0x11000, 0x1000)).unwrap();
        let hi = *v.find(VirtAddr::new(0x12000)).unwrap();
        assert_eq!(hi.kind, shared(0, 0, 7, 2).kind);
        assert_eq!(
            hi.object_page(VirtAddr::new(0x12fff)),
            Some((ObjectId(7), 2))
        );
        let grown = hi.part(r(0x13000, 0x1000));
        assert_eq!(
            grown.object_page(VirtAddr::new(0x13000)),
            Some((ObjectId(7), 3))
        );
        assert_eq!(
            anon(0x1000, 0x1000).object_page(VirtAddr::new(0x1000)),
            None
        );
    }

    #[test]
    fn adjacent_areas_alike_merge_and_different_ones_do_not() {
        let mut v = vmas();
        v.insert(anon(0x10000, 0x2000)).unwrap();
        v.insert(anon(0x12000, 0x2000)).unwrap();
        assert_eq!(v.len(), 1, "same protection and backing: one area");
        assert_eq!(
            v.find(VirtAddr::new(0x10000)).unwrap().range,
            r(0x10000, 0x4000)
        );
        v.insert(Vma {
            prot: Prot::R,
            ..anon(0x14000, 0x1000)
        })
        .unwrap();
        v.insert(Vma {
            kind: VmaKind::AnonShared {
                object: ObjectId(1),
                pgoff: 0,
            },
            ..anon(0xf000, 0x1000)
        })
        .unwrap();
        assert_eq!(v.len(), 3, "different protection or backing stay apart");
        // Re-protecting a piece and then back joins the pieces again.
        v.protect(r(0x11000, 0x1000), Prot::R).unwrap();
        assert_eq!(v.len(), 5);
        v.protect(r(0x11000, 0x1000), Prot::RW).unwrap();
        assert_eq!(v.len(), 3);
        v.protect(r(0x10000, 0x4000), Prot::R).unwrap();
        assert_eq!(
            v.find(VirtAddr::new(0x10000)).unwrap().range,
            r(0x10000, 0x5000)
        );
    }

    fn with_anon(start: u64, len: u64, pgoff: u64, object: Option<u64>) -> Vma {
        Vma {
            kind: VmaKind::AnonPrivate {
                pgoff,
                anon: object.map(AnonId),
            },
            ..anon(start, len)
        }
    }

    /// The private area holding `va` spans `range`, with this index and object.
    fn assert_private(v: &Vmas, va: u64, range: VaRange, pgoff: u64, object: u64) {
        let a = v.find(VirtAddr::new(va)).unwrap();
        assert_eq!(a.range, range, "the area at {va:#x}");
        assert_eq!(
            a.kind,
            VmaKind::AnonPrivate {
                pgoff,
                anon: Some(AnonId(object))
            },
            "the area at {va:#x}"
        );
    }

    /// Linux's rule (is_mergeable_anon_vma, can_vma_merge_after): private areas join only
    /// if their page indexes run on and their objects agree (the same, or one none yet).
    #[test]
    fn private_areas_merge_only_with_running_indexes_and_agreeing_objects() {
        let mut v = vmas();
        // An area moved here from elsewhere keeps its page index: it stays apart.
        v.insert(with_anon(0x10000, 0x2000, 0x10, Some(1))).unwrap();
        v.insert(with_anon(0x12000, 0x1000, 0x500, Some(1)))
            .unwrap();
        assert_eq!(v.len(), 2, "indexes that do not run on stay apart");
        // Two objects: apart, even with running indexes.
        v.insert(with_anon(0x13000, 0x1000, 0x501, Some(2)))
            .unwrap();
        assert_eq!(v.len(), 3, "different objects stay apart");
        // An area with no object yet joins, and the joined area has the object.
        v.insert(with_anon(0x14000, 0x1000, 0x502, None)).unwrap();
        assert_eq!(v.len(), 3);
        assert_private(&v, 0x14000, r(0x13000, 0x2000), 0x501, 2);
    }

    /// With objects A before and B after, a new area with none joins the one before
    /// (Linux's vma_merge tries the predecessor first), and B's area stays apart.
    #[test]
    fn a_new_area_between_two_objects_joins_the_one_before() {
        let mut v = vmas();
        v.insert(with_anon(0x10000, 0x1000, 0x10, Some(1))).unwrap();
        v.insert(with_anon(0x12000, 0x1000, 0x12, Some(2))).unwrap();
        v.insert(with_anon(0x11000, 0x1000, 0x11, None)).unwrap();
        assert_eq!(v.len(), 2);
        assert_private(&v, 0x11000, r(0x10000, 0x2000), 0x10, 1);
        assert_private(&v, 0x12000, r(0x12000, 0x1000), 0x12, 2);
    }

    /// Cutting an area keeps each piece's page index (the start's page in the object).
    #[test]
    fn pieces_keep_their_page_index() {
        let mut v = vmas();
        v.insert(with_anon(0x10000, 0x4000, 0x777, Some(3)))
            .unwrap();
        v.protect(r(0x12000, 0x1000), Prot::R).unwrap();
        assert_private(&v, 0x12000, r(0x12000, 0x1000), 0x779, 3);
        assert_eq!(
            v.find(VirtAddr::new(0x13000))
                .unwrap()
                .anon_page(VirtAddr::new(0x13000)),
            Some((AnonId(3), 0x77a))
        );
        v.protect(r(0x12000, 0x1000), Prot::RW).unwrap();
        assert_eq!(v.len(), 1, "re-protected back: one area again");
    }

    /// anon_vma_prepare's reuse: the next area's object first, then the previous one's,
    /// only from an area it could be one with (indexes run on; protection may differ);
    /// else a fresh object.
    #[test]
    fn prepare_takes_a_neighbours_object_only_if_the_areas_could_be_one() {
        // A read-only area with no object at 0x11000 between `prev` (object 1, index
        // running on) and `next` (object 2, index `next_pgoff`), each if given.
        let around = |prev: bool, next_pgoff: Option<u64>| {
            let mut v = vmas();
            if prev {
                v.insert(with_anon(0x10000, 0x1000, 0x10, Some(1))).unwrap();
            }
            v.insert(Vma {
                prot: Prot::R,
                ..with_anon(0x11000, 0x1000, 0x11, None)
            })
            .unwrap();
            if let Some(pgoff) = next_pgoff {
                v.insert(with_anon(0x12000, 0x1000, pgoff, Some(2)))
                    .unwrap();
            }
            v
        };
        let fresh = || AnonId(99);
        let at = VirtAddr::new(0x11000);
        assert_eq!(
            around(true, Some(0x12)).prepare_anon(at, fresh),
            Some(AnonId(2)),
            "the next area's first"
        );
        assert_eq!(
            around(true, Some(0x400)).prepare_anon(at, fresh),
            Some(AnonId(1)),
            "the next one's indexes do not run on: the previous one's"
        );
        let mut v = around(false, None);
        assert_eq!(v.prepare_anon(at, fresh), Some(AnonId(99)));
        assert_eq!(
            v.prepare_anon(at, || AnonId(5)),
            Some(AnonId(99)),
            "prepared once"
        );
    }

    /// Growing in place keeps the area's backing and does not join the area after it.
    #[test]
    fn grow_extends_in_place_without_joining_the_next_area() {
        let mut v = vmas();
        v.insert(with_anon(0x10000, 0x1000, 0x10, Some(1))).unwrap();
        v.insert(with_anon(0x13000, 0x1000, 0x13, Some(1))).unwrap();
        assert_eq!(
            v.grow(VirtAddr::new(0x11000), VirtAddr::new(0x14000)),
            Err(VmaError::Overlap {
                existing: r(0x13000, 0x1000),
                requested: r(0x11000, 0x3000)
            })
        );
        v.grow(VirtAddr::new(0x11000), VirtAddr::new(0x13000))
            .unwrap();
        assert_eq!(v.len(), 2, "not joined with the next area");
        assert_eq!(
            v.find(VirtAddr::new(0x12000)).unwrap().range,
            r(0x10000, 0x3000)
        );
        assert_eq!(
            v.grow(VirtAddr::new(0x20000), VirtAddr::new(0x21000)),
            Err(VmaError::NotMapped(VirtAddr::new(0x20000)))
        );
    }

    #[test]
    fn physical_areas_merge_only_when_contiguous() {
        let mut v = vmas();
        let phys = |va: u64, pa: u64| Vma {
            range: r(va, 0x1000),
            prot: Prot::RW,
            kind: VmaKind::Physical {
                pa: PhysAddr::new(pa),
                memory: MemoryType::Device,
                may: Prot::RW,
            },
        };
        v.insert(phys(0x10000, 0x8000_0000)).unwrap();
        v.insert(phys(0x11000, 0x8000_1000)).unwrap();
        assert_eq!(v.len(), 1);
        v.insert(phys(0x12000, 0x9000_0000)).unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn find_and_overlapping() {
        let mut v = vmas();
        v.insert(anon(0x10000, 0x4000)).unwrap();
        v.insert(anon(0x20000, 0x1000)).unwrap();
        assert_eq!(
            v.find(VirtAddr::new(0x13fff)).unwrap().range,
            r(0x10000, 0x4000)
        );
        assert!(v.find(VirtAddr::new(0x14000)).is_none());
        assert_eq!(v.overlapping(r(0x12000, 0x10000)).count(), 2);
        assert_eq!(v.overlapping(r(0x14000, 0x1000)).count(), 0);
    }

    #[test]
    fn remove_splits_at_both_ends() {
        let mut v = vmas();
        v.insert(anon(0x10000, 0x10000)).unwrap();
        let removed = v.remove(r(0x12000, 0x3000)).unwrap();
        assert_eq!(removed, [anon(0x12000, 0x3000)]);
        let left: Vec<VaRange> = v.iter().map(|x| x.range).collect();
        assert_eq!(left, [r(0x10000, 0x2000), r(0x15000, 0xb000)]);
    }

    #[test]
    fn physical_areas_keep_their_offset_when_split() {
        let mut v = vmas();
        let kind = VmaKind::Physical {
            pa: PhysAddr::new(0x8000_0000),
            memory: MemoryType::Device,
            may: Prot::RW,
        };
        v.insert(Vma {
            range: r(0x10000, 0x4000),
            prot: Prot::RW,
            kind,
        })
        .unwrap();
        v.remove(r(0x10000, 0x1000)).unwrap();
        let rest = v.find(VirtAddr::new(0x11000)).unwrap();
        assert_eq!(
            rest.kind,
            VmaKind::Physical {
                pa: PhysAddr::new(0x8000_1000),
                memory: MemoryType::Device,
                may: Prot::RW,
            }
        );
    }

    #[test]
    fn a_physical_area_is_never_given_more_than_it_may_have() {
        let mut v = vmas();
        let ro = Vma {
            range: r(0x10000, 0x1000),
            prot: Prot::R,
            kind: VmaKind::Physical {
                pa: PhysAddr::new(0x8000_0000),
                memory: MemoryType::Normal,
                may: Prot::R,
            },
        };
        v.insert(ro).unwrap();
        v.insert(anon(0x11000, 0x1000)).unwrap();
        assert_eq!(
            v.protect(r(0x10000, 0x2000), Prot::RW),
            Err(VmaError::Denied(VirtAddr::new(0x10000)))
        );
        assert_eq!(
            v.iter().map(|x| x.prot).collect::<Vec<_>>(),
            [Prot::R, Prot::RW],
            "a refused protect changes no area"
        );
        assert!(
            v.protect(r(0x10000, 0x1000), Prot::NONE).is_ok(),
            "less is allowed"
        );
        assert!(
            v.protect(r(0x10000, 0x1000), Prot::R).is_ok(),
            "and back up to `may`"
        );
    }

    #[test]
    fn protect_needs_the_whole_range_and_changes_only_it() {
        let mut v = vmas();
        v.insert(anon(0x10000, 0x4000)).unwrap();
        v.insert(anon(0x15000, 0x1000)).unwrap();
        assert_eq!(
            v.protect(r(0x10000, 0x6000), Prot::R),
            Err(VmaError::NotMapped(VirtAddr::new(0x14000)))
        );
        assert!(
            v.iter().all(|x| x.prot == Prot::RW),
            "a refused protect changes nothing"
        );
        let changed = v.protect(r(0x11000, 0x2000), Prot::R).unwrap();
        assert_eq!(changed.len(), 1);
        let prots: Vec<(VaRange, Prot)> = v.iter().map(|x| (x.range, x.prot)).collect();
        assert_eq!(
            prots,
            [
                (r(0x10000, 0x1000), Prot::RW),
                (r(0x11000, 0x2000), Prot::R),
                (r(0x13000, 0x1000), Prot::RW),
                (r(0x15000, 0x1000), Prot::RW)
            ]
        );
        assert_eq!(
            v.protect(
                r(0x10000, 0x1000),
                Prot {
                    read: true,
                    write: true,
                    exec: true
                }
            ),
            Err(VmaError::WriteExecute)
        );
    }

    #[test]
    fn placement() {
        let mut v = vmas();
        let a = v.place(0x2000, Placement::Anywhere).unwrap();
        assert_eq!(a, r(0x10_0000_0000, 0x2000));
        v.insert(Vma {
            range: a,
            prot: Prot::RW,
            kind: VmaKind::anon_private_at(a.start),
        })
        .unwrap();
        assert_eq!(
            v.place(0x1000, Placement::Anywhere).unwrap(),
            r(0x10_0000_2000, 0x1000),
            "first fit after it"
        );
        assert_eq!(
            v.place(0x1000, Placement::Hint(VirtAddr::new(0x40_0000)))
                .unwrap(),
            r(0x40_0000, 0x1000)
        );
        assert_eq!(
            v.place(0x1000, Placement::Hint(a.start)).unwrap(),
            r(0x10_0000_2000, 0x1000),
            "a taken hint moves"
        );
        assert_eq!(
            v.place(0x1000, Placement::Fixed(a.start)).unwrap(),
            r(0x10_0000_0000, 0x1000),
            "fixed may overlap"
        );
        assert_eq!(
            v.place(0x1000, Placement::FixedNoReplace(a.start)),
            Err(VmaError::Overlap {
                existing: a,
                requested: r(0x10_0000_0000, 0x1000)
            })
        );
        assert_eq!(
            v.place(0x1001, Placement::Anywhere),
            Err(VmaError::Misaligned)
        );
        assert_eq!(
            v.place(1 << 48, Placement::Anywhere),
            Err(VmaError::NoSpace)
        );
    }
}
