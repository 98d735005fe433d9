//! Raw access to one 512-entry translation table page, and the pool of frames an operation
//! reserves before it touches a live table. Arm ARM (DDI 0487) D8.3 (a table is 512 64-bit
//! descriptors, 4 KiB aligned) and D8.2.4 (single-copy atomic 64-bit descriptor writes).

use crate::addr::PhysAddr;
use crate::descriptor::Descriptor;
use crate::frame::{Frame, FrameSource, OutOfFrames};
use crate::phys::PhysMem;

/// Entries per table page.
pub(crate) const ENTRIES: usize = 512;

/// One table page of a [`PageTable`](super::PageTable).
///
/// Invariant: only built (by the table code) for a page that is one of the table's own table
/// pages or a frame it took from its pool, so the [`PhysMem`] contract makes `ptr` valid for
/// 512 aligned `u64`s while the caller holds the table exclusively.
#[derive(Copy, Clone)]
pub(crate) struct TableRef {
    ptr: *mut u64,
}

impl TableRef {
    #[inline]
    pub(crate) fn new<M: PhysMem>(mem: &M, pa: PhysAddr) -> Self {
        Self {
            ptr: mem.ptr(pa) as *mut u64,
        }
    }

    #[inline]
    pub(crate) fn get(self, i: usize) -> Descriptor {
        debug_assert!(i < ENTRIES);
        // SAFETY: type invariant (valid table page); i < 512. Volatile: the page is shared
        // with the hardware walker.
        Descriptor::from_bits(unsafe { self.ptr.add(i).read_volatile() })
    }

    /// A single 64-bit store, as the architecture requires for a live descriptor.
    #[inline]
    pub(crate) fn set(self, i: usize, d: Descriptor) {
        debug_assert!(i < ENTRIES);
        // SAFETY: type invariant (valid table page, exclusively held); i < 512.
        unsafe { self.ptr.add(i).write_volatile(d.bits()) }
    }

    /// Whether every entry is invalid.
    pub(crate) fn is_empty(self) -> bool {
        (0..ENTRIES).all(|i| !self.get(i).is_valid())
    }
}

/// Frames reserved by an operation's preflight, linked through word 0 of each frame (they are
/// free frames owned by the operation, invisible to any walker).
#[derive(Default)]
pub(crate) struct FramePool {
    head: Option<PhysAddr>,
    len: usize,
}

impl FramePool {
    /// Reserves `n` frames, or none at all (everything taken goes back) and `OutOfFrames`.
    pub(crate) fn reserve<F: FrameSource, M: PhysMem>(
        frames: &mut F,
        mem: &M,
        n: usize,
    ) -> Result<Self, OutOfFrames> {
        let mut pool = FramePool::default();
        for _ in 0..n {
            match frames.alloc() {
                Ok(f) => pool.push(mem, f.start()),
                Err(e) => {
                    pool.give_back(frames, mem);
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    fn push<M: PhysMem>(&mut self, mem: &M, pa: PhysAddr) {
        mem.write_word(pa, 0, self.head.map_or(0, PhysAddr::as_u64));
        self.head = Some(pa);
        self.len += 1;
    }

    /// Whether every reserved frame was used (preflights count exactly).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A reserved frame, zeroed; the preflight guarantees there is one.
    pub(crate) fn take<M: PhysMem>(&mut self, mem: &M) -> PhysAddr {
        let pa = self.take_raw(mem);
        mem.fill_frame(pa, 0);
        pa
    }

    /// A reserved frame, contents unspecified.
    pub(crate) fn take_raw<M: PhysMem>(&mut self, mem: &M) -> PhysAddr {
        let pa = self
            .head
            .expect("preflight reserved every frame this operation takes");
        let next = mem.read_word(pa, 0);
        self.head = (next != 0).then_some(PhysAddr::new(next));
        self.len -= 1;
        pa
    }

    /// Returns the frames not used (never linked into a table, so no invalidation is needed).
    pub(crate) fn give_back<F: FrameSource, M: PhysMem>(mut self, frames: &mut F, mem: &M) {
        while self.len > 0 {
            let pa = self.take_raw(mem);
            frames
                .free(Frame::containing(pa))
                .expect("a frame this pool allocated");
        }
    }
}

/// What a range edit carries down its walk: the frames reserved for block
/// splits, and the secondary-TLB hook that each break-before-make calls
/// between its break (and CPU TLBI) and its make.
pub(crate) struct Edit<'h> {
    pub(crate) pool: FramePool,
    pub(crate) on_break: &'h mut dyn FnMut(crate::addr::VaRange),
}
