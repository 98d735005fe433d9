//! A bitmap frame allocator over the usable RAM ranges, with checked frees and no heap: the
//! bitmap lives in a caller-provided slice or in frames carved from the managed memory.
//! Granule: 4 KiB frames (Arm ARM D8.2); debug builds poison freed frames.

use super::regions::{usable_regions, RegionError, RegionList, MAX_REGIONS};
use super::{Frame, FrameSource, FreeError, OutOfFrames};
use crate::addr::{PhysAddr, PhysRange, PAGE_SHIFT, PAGE_SIZE};
use crate::phys::PhysMem;

/// Byte written over every freed frame in debug builds. Its 64-bit pattern has bit 0 clear, so
/// a walker that reads a freed table page sees invalid descriptors.
pub const POISON_BYTE: u8 = 0xAA;

/// Frame accounting.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FrameStats {
    /// Frames the allocator manages.
    pub total: u64,
    /// Frames currently free.
    pub free: u64,
}

/// Why an allocator could not be built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The memory/reserved ranges could not be combined.
    Regions(RegionError),
    /// The bitmap slice is shorter than the managed memory needs.
    BitmapTooSmall {
        /// Words needed.
        needed_words: usize,
        /// Words given.
        given_words: usize,
    },
    /// No usable range is large enough to hold the bitmap.
    NoRoomForBitmap,
}

impl From<RegionError> for InitError {
    fn from(e: RegionError) -> Self {
        InitError::Regions(e)
    }
}

#[derive(Copy, Clone, Debug, Default)]
struct Zone {
    start_pfn: u64,
    frames: u64,
    first_bit: u64,
}

/// Hands out 4 KiB frames from usable RAM; one bit per frame, 1 = free.
pub struct FrameAllocator<'a, M: PhysMem> {
    mem: M,
    bitmap: &'a mut [u64],
    zones: [Zone; MAX_REGIONS],
    nzones: usize,
    total: u64,
    free: u64,
    cursor: usize,
}

impl<'a, M: PhysMem> FrameAllocator<'a, M> {
    /// Bitmap words needed to manage `memory` minus `reserved`.
    pub fn bitmap_words(memory: &[PhysRange], reserved: &[PhysRange]) -> Result<usize, InitError> {
        Ok(words_for(
            usable_regions(memory, reserved)?.total_bytes() >> PAGE_SHIFT,
        ))
    }

    /// An allocator managing `memory` minus `reserved`, bookkeeping in `bitmap`. Every usable
    /// frame starts free.
    pub fn new(
        mem: M,
        bitmap: &'a mut [u64],
        memory: &[PhysRange],
        reserved: &[PhysRange],
    ) -> Result<Self, InitError> {
        let list = usable_regions(memory, reserved)?;
        Self::from_list(mem, bitmap, &list)
    }

    /// An allocator whose bitmap occupies the first frames of the first usable range large
    /// enough to hold it; those frames are not managed (freeing one is `Foreign`).
    ///
    /// # Safety
    /// `mem` must satisfy the [`PhysMem`] contract for all of `memory` for the lifetime `'a`,
    /// and nothing else may use the usable frames of `memory` while the allocator lives.
    pub unsafe fn new_carved(
        mem: M,
        memory: &[PhysRange],
        reserved: &[PhysRange],
    ) -> Result<Self, InitError> {
        let mut list = usable_regions(memory, reserved)?;
        let words = words_for(list.total_bytes() >> PAGE_SHIFT);
        let bytes = (words as u64 * 8).next_multiple_of(PAGE_SIZE);
        let home = list
            .as_slice()
            .iter()
            .find(|r| r.len() >= bytes)
            .copied()
            .ok_or(InitError::NoRoomForBitmap)?;
        let carved = PhysRange::new(home.start, home.start.add(bytes));
        list.subtract(carved)?;
        let base = mem.ptr(carved.start) as *mut u64;
        // SAFETY: the carved frames are RAM covered by the caller's PhysMem promise for 'a,
        // page aligned (so u64 aligned), and removed from `list`, so no frame handed out
        // overlaps the bitmap; `words` fits in `bytes`.
        let bitmap = unsafe { core::slice::from_raw_parts_mut(base, words) };
        Self::from_list(mem, bitmap, &list)
    }

    fn from_list(mem: M, bitmap: &'a mut [u64], list: &RegionList) -> Result<Self, InitError> {
        let total = list.total_bytes() >> PAGE_SHIFT;
        let needed_words = words_for(total);
        if bitmap.len() < needed_words {
            return Err(InitError::BitmapTooSmall {
                needed_words,
                given_words: bitmap.len(),
            });
        }
        let mut zones = [Zone::default(); MAX_REGIONS];
        let mut bit = 0;
        for (z, r) in zones.iter_mut().zip(list.as_slice()) {
            let frames = r.len() >> PAGE_SHIFT;
            *z = Zone {
                start_pfn: r.start.as_u64() >> PAGE_SHIFT,
                frames,
                first_bit: bit,
            };
            bit += frames;
        }
        bitmap.fill(0);
        for (i, w) in bitmap[..needed_words].iter_mut().enumerate() {
            let low = i as u64 * 64;
            let n = total.saturating_sub(low).min(64);
            *w = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        }
        Ok(Self {
            mem,
            bitmap,
            zones,
            nzones: list.as_slice().len(),
            total,
            free: total,
            cursor: 0,
        })
    }

    /// The memory accessor (used to poison freed frames in debug builds).
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// Frames managed and frames free.
    pub fn stats(&self) -> FrameStats {
        FrameStats {
            total: self.total,
            free: self.free,
        }
    }

    /// Whether `pa` lies in a frame this allocator manages (free or allocated).
    pub fn owns(&self, pa: PhysAddr) -> bool {
        self.bit_of(pa).is_some()
    }

    fn zones(&self) -> &[Zone] {
        &self.zones[..self.nzones]
    }

    fn bit_of(&self, pa: PhysAddr) -> Option<u64> {
        let pfn = pa.as_u64() >> PAGE_SHIFT;
        let zones = self.zones();
        let i = zones
            .partition_point(|z| z.start_pfn <= pfn)
            .checked_sub(1)?;
        let z = zones[i];
        (pfn < z.start_pfn + z.frames).then(|| z.first_bit + (pfn - z.start_pfn))
    }

    fn frame_of(&self, bit: u64) -> Frame {
        let zones = self.zones();
        let z = zones[zones.partition_point(|z| z.first_bit <= bit) - 1];
        Frame::containing(PhysAddr::new(
            (z.start_pfn + bit - z.first_bit) << PAGE_SHIFT,
        ))
    }
}

fn words_for(frames: u64) -> usize {
    frames.div_ceil(64) as usize
}

impl<M: PhysMem> FrameSource for FrameAllocator<'_, M> {
    fn alloc(&mut self) -> Result<Frame, OutOfFrames> {
        if self.free == 0 {
            return Err(OutOfFrames);
        }
        let n = self.bitmap.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let w = self.bitmap[i];
            if w != 0 {
                let b = w.trailing_zeros() as u64;
                self.bitmap[i] = w & !(1 << b);
                self.cursor = i;
                self.free -= 1;
                return Ok(self.frame_of(i as u64 * 64 + b));
            }
        }
        Err(OutOfFrames)
    }

    fn free(&mut self, frame: Frame) -> Result<(), FreeError> {
        let pa = frame.start();
        let bit = self.bit_of(pa).ok_or(FreeError::Foreign(pa))?;
        let (i, b) = ((bit / 64) as usize, bit % 64);
        if self.bitmap[i] & (1 << b) != 0 {
            return Err(FreeError::DoubleFree(pa));
        }
        #[cfg(debug_assertions)]
        self.mem.fill_frame(pa, POISON_BYTE);
        self.bitmap[i] |= 1 << b;
        self.free += 1;
        // The next allocation starts at the lowest freed word: recently freed
        // frames are reused first (warm in the caches; and under emulation
        // already backed by host memory, where a never-touched guest frame
        // costs the host a page fault and a clear), and the frames in use stay
        // packed at the bottom.
        self.cursor = self.cursor.min(i);
        Ok(())
    }
}
