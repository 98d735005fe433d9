//! One stage 1 translation table tree (4 KiB granule, 48-bit VA, root at level 0) and its
//! read-only side: construction, `translate`, range walks and the errors of every operation.
//! Arm ARM (DDI 0487) D8.2 "Translation table walk" and D8.3 (descriptor formats).

mod bbm;
mod copy;
mod edges;
mod edit;
mod map;
mod owned;
mod protect;
mod raw;
mod read;
mod replace;
mod unmap;
mod walk;

use crate::addr::{PhysAddr, VaRange, VirtAddr, PAGE_SIZE, VA_BITS};
use crate::attrs::{AttrError, Attributes};
use crate::descriptor::{Descriptor, Level};
use crate::frame::{FrameSource, OutOfFrames};
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::tlb::{Asid, TlbMaintenance};
pub use copy::{Copied, PageCopy, SourcePage};
pub(crate) use read::{count_table_pages, for_each_table_page};
use walk::{Offset, Span};

/// Which half of the 64-bit VA space the table translates.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum VaRegion {
    /// TTBR0_EL1: `[0, 2^48)`.
    Lower,
    /// TTBR1_EL1: `[0xFFFF_0000_0000_0000, 2^64 - 4 KiB)` (the last page is not mappable
    /// because ranges are half-open).
    Upper,
}

impl VaRegion {
    const fn base(self) -> u64 {
        match self {
            VaRegion::Lower => 0,
            VaRegion::Upper => !((1u64 << VA_BITS) - 1),
        }
    }
    /// The table offset of `va` (in the region).
    #[inline]
    pub(crate) const fn offset(self, va: VirtAddr) -> Offset {
        Offset::new(va.as_u64() - self.base())
    }
    /// The VA at table offset `off`.
    #[inline]
    pub(crate) const fn va(self, off: Offset) -> VirtAddr {
        VirtAddr::new(self.base() | off.get())
    }
    /// The VAs at table offsets `span`.
    #[inline]
    pub(crate) const fn va_range(self, span: Span) -> VaRange {
        VaRange::new(self.va(span.start), self.va(span.end))
    }
    /// The VAs this region's table may map.
    pub const fn range(self) -> VaRange {
        let end = match self {
            VaRegion::Lower => 1 << VA_BITS,
            VaRegion::Upper => !(PAGE_SIZE - 1),
        };
        VaRange::new(VirtAddr::new(self.base()), VirtAddr::new(end))
    }
}

/// What a `map` may do beyond 4 KiB pages, and who owns the frames.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Constraints {
    blocks_1g: bool,
    blocks_2m: bool,
    owned: bool,
}

impl Default for Constraints {
    fn default() -> Self {
        Self::BLOCKS
    }
}

impl Constraints {
    /// 1 GiB and 2 MiB blocks where VA, PA and length allow; frames borrowed.
    pub const BLOCKS: Self = Self {
        blocks_1g: true,
        blocks_2m: true,
        owned: false,
    };
    /// 4 KiB pages only; frames borrowed.
    pub const PAGES_ONLY: Self = Self {
        blocks_1g: false,
        blocks_2m: false,
        owned: false,
    };
    /// No 1 GiB blocks (2 MiB blocks still allowed if they were).
    pub const fn no_1g_blocks(self) -> Self {
        Self {
            blocks_1g: false,
            ..self
        }
    }
    /// The table owns the mapped frames: unmap hands them to the gather, whose release frees
    /// them to the frame source (software bit 55 marks such descriptors).
    pub const fn owned(self) -> Self {
        Self {
            owned: true,
            ..self
        }
    }
    /// Whether a block at `level` is allowed.
    pub const fn allows_block(self, level: Level) -> bool {
        match level {
            Level::L1 => self.blocks_1g,
            Level::L2 => self.blocks_2m,
            _ => false,
        }
    }
    /// Whether mapped frames are owned by the table.
    pub const fn is_owned(self) -> bool {
        self.owned
    }
}

/// Why an operation was refused. A refused operation left every table byte unchanged.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The range ends before it starts.
    Backwards(VaRange),
    /// A range end is not 4 KiB aligned.
    MisalignedRange(VaRange),
    /// The physical address is not 4 KiB aligned.
    MisalignedPhys(PhysAddr),
    /// The range is not inside the half of the VA space this table covers.
    OutOfRange {
        /// What was asked.
        requested: VaRange,
        /// What the table covers.
        limit: VaRange,
    },
    /// The output range goes beyond 48-bit physical addresses.
    PhysOutOfRange(PhysAddr),
    /// Part of the range is already mapped (map never replaces a live mapping).
    Overlap {
        /// The extent of the existing page or block.
        existing: VaRange,
        /// What was asked.
        requested: VaRange,
    },
    /// The operation handles 4 KiB pages only and met this block.
    Block(VaRange),
    /// `protect` needs every page of the range mapped; this one is not.
    NotMapped(VirtAddr),
    /// No frame for a table page (or a gather log page).
    OutOfFrames,
    /// The attributes cannot be encoded.
    Attributes(AttrError),
    /// The gather still holds an un-flushed invalidation over this range: mapping there
    /// before the flush would skip break-before-make.
    PendingInvalidation {
        /// The gather's pending range.
        pending: VaRange,
        /// What was asked.
        requested: VaRange,
    },
}

impl From<OutOfFrames> for MapError {
    fn from(_: OutOfFrames) -> Self {
        MapError::OutOfFrames
    }
}

impl From<AttrError> for MapError {
    fn from(e: AttrError) -> Self {
        MapError::Attributes(e)
    }
}

/// One valid leaf (page or block) found by a walk.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The whole extent the descriptor maps (may extend beyond the walked range).
    pub va: VaRange,
    /// Output address of `va.start`.
    pub pa: PhysAddr,
    /// Level of the descriptor (L3 page, L2/L1 block).
    pub level: Level,
    /// The descriptor itself.
    pub descriptor: Descriptor,
}

impl Mapping {
    /// The attributes, if the descriptor uses an encoding this crate writes.
    pub fn attributes(&self) -> Option<Attributes> {
        Attributes::from_descriptor(self.descriptor)
    }
}

/// The result of [`PageTable::translate`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Output address of the queried VA.
    pub pa: PhysAddr,
    /// Level of the leaf that maps it.
    pub level: Level,
    /// The leaf descriptor.
    pub descriptor: Descriptor,
}

impl Translation {
    /// The mapping's attributes, decoded.
    pub fn attributes(&self) -> Option<Attributes> {
        Attributes::from_descriptor(self.descriptor)
    }
}

/// A translation table tree for one address space (or the kernel), generic over how physical
/// memory is reached (`M`), how TLBs are maintained (`A`) and where table pages come from (`F`).
///
/// Locking: every `&mut self` method is a page-table (PTL) operation: the caller holds the
/// table's lock with preemption off; nothing here sleeps.
pub struct PageTable<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> {
    root: PhysAddr,
    mem: M,
    arch: A,
    frames: F,
    region: VaRegion,
    asid: Asid,
    owned_pages: u64,
    has_global: bool,
}

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// An empty tree (one zeroed root page) for `region`, tagged `asid`.
    pub fn new(
        mem: M,
        arch: A,
        mut frames: F,
        region: VaRegion,
        asid: Asid,
    ) -> Result<Self, MapError> {
        let root = frames.alloc()?.start();
        mem.fill_frame(root, 0);
        Ok(Self {
            root,
            mem,
            arch,
            frames,
            region,
            asid,
            owned_pages: 0,
            has_global: false,
        })
    }

    /// Physical address of the level 0 table.
    pub fn root(&self) -> PhysAddr {
        self.root
    }
    /// The value for TTBR0_EL1/TTBR1_EL1: root address and ASID in bits \[63:48\].
    pub fn ttbr(&self) -> u64 {
        self.ttbr_for(self.asid)
    }
    /// The TTBR value that runs this table under `asid` (an ASID the
    /// allocator hands out before [`set_asid`](Self::set_asid) records it).
    pub fn ttbr_for(&self, asid: Asid) -> u64 {
        self.root.as_u64() | (asid.get() as u64) << 48
    }
    /// The ASID used for invalidations.
    pub fn asid(&self) -> Asid {
        self.asid
    }
    /// Changes the ASID (after the ASID allocator re-tagged the address space). Call with the
    /// table's lock held; gathers created before keep the old ASID.
    pub fn set_asid(&mut self, asid: Asid) {
        self.asid = asid;
    }
    /// The half of the VA space covered.
    pub fn region(&self) -> VaRegion {
        self.region
    }
    /// Table pages in the tree, root included (counted by walking the tree).
    pub fn table_pages(&self) -> u64 {
        count_table_pages(&self.mem, self.root, Level::L0)
    }
    /// 4 KiB pages currently mapped with owned frames.
    pub fn owned_pages(&self) -> u64 {
        self.owned_pages
    }
    /// The physical memory accessor.
    pub fn mem(&self) -> &M {
        &self.mem
    }
    /// The TLB maintenance interface.
    pub fn arch(&self) -> &A {
        &self.arch
    }
    /// The frame source (to release a flushed gather into).
    pub fn frames_mut(&mut self) -> &mut F {
        &mut self.frames
    }
    /// An empty gather for this table's ASID.
    pub fn gather(&self) -> Gather<M> {
        Gather::new(self.mem.clone(), self.asid)
    }

    /// Unmaps everything and hands the root page to `gather` too; returns the parts. Flush and
    /// release the gather into the returned frame source afterwards.
    pub fn destroy(mut self, gather: &mut Gather<M>) -> (M, A, F) {
        let all = self.region.range();
        self.unmap(all, gather)
            .expect("unmapping the whole region needs no frames");
        gather.note_table(all, self.root, Level::L0, self.has_global);
        (self.mem, self.arch, self.frames)
    }

    /// Checks `range` and returns it as table offsets (empty for an empty range).
    pub(crate) fn offsets(&self, range: VaRange) -> Result<Span, MapError> {
        if range.end < range.start {
            return Err(MapError::Backwards(range));
        }
        if !range.is_aligned(PAGE_SIZE) {
            return Err(MapError::MisalignedRange(range));
        }
        let limit = self.region.range();
        if range.is_empty() {
            return Ok(Span::EMPTY);
        }
        if range.start < limit.start || range.end > limit.end {
            return Err(MapError::OutOfRange {
                requested: range,
                limit,
            });
        }
        Ok(Span::new(
            self.region.offset(range.start),
            self.region.offset(range.end),
        ))
    }
}

/// Whether a block at `level` can map `part` (one whole entry) to `pa`.
#[inline]
pub(crate) fn block_fits(c: Constraints, level: Level, part: Span, pa: u64) -> bool {
    let size = level.size();
    c.allows_block(level)
        && part.start.is_entry_start(level)
        && part.len() == size
        && pa & (size - 1) == 0
}
