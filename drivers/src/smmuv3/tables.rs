//! The configuration structures the SMMU reads from memory (Arm IHI 0070
//! §3.3 "Data structures and translation procedure"): the stream table,
//! two-level with 64-STE (4 KiB) level 2 arrays where IDR0.ST_LEVEL allows,
//! else linear over one page; and a page of 64 context descriptors.
//! Live entries change with the update rules of §3.21.3: an STE by
//! break-before-make (abort, invalidate, rewrite, invalidate), a CD's live
//! change by one 64-bit write of doubleword 0.
use super::ids::StreamId;

use super::cd::{CD_BYTES, CD_DWORDS};
use super::ste::{self, StreamConfig, STE_BYTES, STE_DWORDS};
use super::{Features, SmmuError};
use crate::barrier::dma_wmb;
use crate::dma::{DmaPage, DMA_PAGE_SIZE};

/// log2 of the STEs in one level 2 array: 64 x 64 bytes = one 4 KiB page.
pub const SPLIT: u32 = 6;
/// Level 1 descriptors we keep (2 KiB of the level 1 page): SIDs below 2^14.
pub const L1_SLOTS: usize = 256;
const STES_PER_PAGE: u32 = 1 << SPLIT;

/// The format of the stream table (STRTAB_BASE_CFG.FMT).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// STRTAB_BASE_CFG.FMT = 0: one array of `1 << log2size` STEs.
    Linear,
    /// FMT = 1: level 1 descriptors pointing at arrays of `1 << SPLIT` STEs.
    TwoLevel,
}

/// The stream table and the level 2 pages it owns.
pub struct StreamTable {
    layout: Layout,
    /// The level 1 table, or the linear STE array.
    base: DmaPage,
    log2size: u32,
    l2: [Option<DmaPage>; L1_SLOTS],
}

impl StreamTable {
    /// A table in `base` (zeroed): two-level if the SMMU supports it,
    /// covering `min(2^SIDSIZE, 2^14)` streams; else linear over the 64 STEs
    /// one page holds, every STE set to abort.
    pub fn new(base: DmaPage, features: &Features) -> Self {
        let sid_bits = u32::from(features.sid_bits);
        let (layout, log2size) = if features.two_level_stream_table {
            (
                Layout::TwoLevel,
                sid_bits.min(SPLIT + L1_SLOTS.trailing_zeros()),
            )
        } else {
            (Layout::Linear, sid_bits.min(SPLIT))
        };
        let table = Self {
            layout,
            base,
            log2size,
            l2: [const { None }; L1_SLOTS],
        };
        if layout == Layout::Linear {
            fill_abort(&table.base);
        }
        table
    }

    /// Linear or two-level, as chosen at `new`.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Streams 0..limit are covered.
    pub fn sid_limit(&self) -> u32 {
        1 << self.log2size
    }

    /// (STRTAB_BASE, STRTAB_BASE_CFG) values: base with RA, LOG2SIZE, SPLIT, FMT.
    pub fn registers(&self) -> (u64, u32) {
        let base = self.base.pa().as_u64() & 0x000f_ffff_ffff_ffc0 | 1 << 62;
        let fmt = match self.layout {
            Layout::Linear => 0,
            Layout::TwoLevel => 1 << 16 | SPLIT << 6,
        };
        (base, fmt | self.log2size)
    }

    fn check_range(&self, sid: StreamId) -> Result<(), SmmuError> {
        if sid.get() >= self.sid_limit() {
            return Err(SmmuError::StreamOutOfRange {
                sid,
                limit: self.sid_limit(),
            });
        }
        Ok(())
    }

    /// Whether `sid` needs a level 2 page before its STE can be written.
    pub fn needs_level2(&self, sid: StreamId) -> Result<bool, SmmuError> {
        self.check_range(sid)?;
        Ok(self.layout == Layout::TwoLevel && self.l2[(sid.get() >> SPLIT) as usize].is_none())
    }

    /// Installs `page` (zeroed) as the level 2 array of the 64 streams around
    /// `sid`, every STE abort. The caller then invalidates `sid`'s STE with
    /// Leaf = 0 so no stale level 1 descriptor is used.
    pub fn install_level2(&mut self, sid: StreamId, page: DmaPage) -> Result<(), SmmuError> {
        if !self.needs_level2(sid)? {
            return Ok(());
        }
        fill_abort(&page);
        dma_wmb();
        let slot = (sid.get() >> SPLIT) as usize;
        self.base
            .write_u64(slot * 8, ste::l1_descriptor(page.pa().as_u64(), SPLIT));
        self.l2[slot] = Some(page);
        Ok(())
    }

    fn locate(&self, sid: StreamId) -> Result<(&DmaPage, usize), SmmuError> {
        self.check_range(sid)?;
        let index = (sid.get() % STES_PER_PAGE) as usize;
        let page = match self.layout {
            Layout::Linear => &self.base,
            Layout::TwoLevel => self.l2[(sid.get() >> SPLIT) as usize]
                .as_ref()
                .ok_or(SmmuError::NoStreamTable { sid })?,
        };
        Ok((page, index * STE_BYTES))
    }

    /// The STE of `sid` as the SMMU would read it.
    pub fn read(&self, sid: StreamId) -> Result<[u64; STE_DWORDS], SmmuError> {
        let (page, off) = self.locate(sid)?;
        Ok(core::array::from_fn(|i| page.read_u64(off + 8 * i)))
    }

    /// Points `sid` at `config`, break-before-make: doubleword 0 to abort,
    /// `invalidate(sid)` (CFGI_STE + SYNC), the other doublewords, then
    /// doubleword 0 and `invalidate(sid)` again. A transaction in the window
    /// is aborted, never translated through a half-written entry.
    pub fn write(
        &mut self,
        sid: StreamId,
        config: StreamConfig,
        mut invalidate: impl FnMut(StreamId) -> Result<(), SmmuError>,
    ) -> Result<(), SmmuError> {
        let (page, off) = self.locate(sid)?;
        let new = ste::encode(config);
        let abort = ste::encode(StreamConfig::Abort);
        if page.read_u64(off) != abort[0] {
            page.write_u64(off, abort[0]);
            dma_wmb();
            invalidate(sid)?;
        }
        for (i, &dw) in new.iter().enumerate().skip(1) {
            page.write_u64(off + 8 * i, dw);
        }
        dma_wmb();
        page.write_u64(off, new[0]);
        dma_wmb();
        invalidate(sid)
    }
}

/// Every STE of `page` set to abort (V = 1, Config = abort).
fn fill_abort(page: &DmaPage) {
    let abort = ste::encode(StreamConfig::Abort);
    for i in 0..DMA_PAGE_SIZE / STE_BYTES {
        for (d, &dw) in abort.iter().enumerate() {
            page.write_u64(i * STE_BYTES + 8 * d, dw);
        }
    }
}

/// Context descriptors in one page.
pub const CD_SLOTS: usize = DMA_PAGE_SIZE / CD_BYTES;

/// A page of single-CD tables, one per attached stream.
pub struct CdTable {
    page: DmaPage,
    used: u64,
}

impl CdTable {
    /// A table in `page` (zeroed: every CD invalid).
    pub fn new(page: DmaPage) -> Self {
        Self { page, used: 0 }
    }

    /// The lowest free CD slot (the substream ID it serves), or `None` when all are used.
    pub fn alloc(&mut self) -> Option<usize> {
        let slot = self.used.trailing_ones() as usize;
        if slot >= CD_SLOTS {
            return None;
        }
        self.used |= 1 << slot;
        Some(slot)
    }

    /// Physical address of CD `slot` (what an STE's S1ContextPtr holds).
    pub fn pa(&self, slot: usize) -> u64 {
        self.page.pa().as_u64() + (slot * CD_BYTES) as u64
    }

    /// Writes a CD no STE points at yet: doublewords 1-7, then 0 (holding V).
    pub fn write(&mut self, slot: usize, cd: [u64; CD_DWORDS]) {
        let off = slot * CD_BYTES;
        for (i, &dw) in cd.iter().enumerate().skip(1) {
            self.page.write_u64(off + 8 * i, dw);
        }
        dma_wmb();
        self.page.write_u64(off, cd[0]);
        dma_wmb();
    }

    /// Rewrites doubleword 0 of a live CD in one 64-bit write (EPD0, V, ASID
    /// live there), then orders it before the CFGI_CD that follows.
    pub fn write_dword0(&mut self, slot: usize, dword0: u64) {
        self.page.write_u64(slot * CD_BYTES, dword0);
        dma_wmb();
    }

    /// The CD in `slot`.
    pub fn read(&self, slot: usize) -> [u64; CD_DWORDS] {
        core::array::from_fn(|i| self.page.read_u64(slot * CD_BYTES + 8 * i))
    }

    /// Invalidates and frees `slot` (no STE may point at it any more).
    pub fn free(&mut self, slot: usize) {
        for i in 0..CD_DWORDS {
            self.page.write_u64(slot * CD_BYTES + 8 * i, 0);
        }
        dma_wmb();
        self.used &= !(1 << slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(4096))]
    struct Page([u64; 512]);

    /// A host page standing in for DMA memory (leaked: the tables keep it).
    fn page() -> DmaPage {
        let mem: &'static mut Page = Box::leak(Box::new(Page([0u64; 512])));
        let va = mem.0.as_mut_ptr() as usize;
        // SAFETY: a zeroed, leaked, 4 KiB buffer used by nothing else; the
        // "physical" address is its host address (only compared in tests).
        unsafe { DmaPage::new(addr::PhysAddr::new(va as u64), va) }
    }

    fn features(two_level: bool) -> Features {
        Features {
            two_level_stream_table: two_level,
            ..Features::decode(1 << 1 | 2 << 2 | 1 << 4, 16, 0, 1 << 4)
        }
    }

    #[test]
    fn two_level_table_needs_a_level2_page_per_64_streams() {
        let mut t = StreamTable::new(page(), &features(true));
        assert_eq!(t.sid_limit(), 1 << 14);
        let (base, cfg) = t.registers();
        assert_eq!(base & !(1 << 62), t.base.pa().as_u64() & !0x3f);
        assert_eq!(cfg, 1 << 16 | 6 << 6 | 14);
        assert_eq!(
            t.read(StreamId::new(8)),
            Err(SmmuError::NoStreamTable {
                sid: StreamId::new(8)
            })
        );
        assert_eq!(
            t.read(StreamId::new(1 << 14)),
            Err(SmmuError::StreamOutOfRange {
                sid: StreamId::new(1 << 14),
                limit: 1 << 14
            })
        );
        assert!(t.needs_level2(StreamId::new(8)).unwrap());
        let l2 = page();
        let l2_pa = l2.pa().as_u64();
        t.install_level2(StreamId::new(8), l2).unwrap();
        assert!(!t.needs_level2(StreamId::new(63)).unwrap());
        assert!(t.needs_level2(StreamId::new(64)).unwrap());
        assert_eq!(t.base.read_u64(0), l2_pa | 7, "L1 descriptor, span 7");
        assert_eq!(
            t.read(StreamId::new(8)).unwrap(),
            ste::encode(StreamConfig::Abort)
        );
    }

    #[test]
    fn ste_updates_are_break_before_make() {
        let mut t = StreamTable::new(page(), &features(false));
        assert_eq!(t.layout(), Layout::Linear);
        assert_eq!(t.sid_limit(), 64);
        let mut seen = Vec::new();
        let config = StreamConfig::Stage1 { cd: 0x4000_1040 };
        // From abort: nothing to break, one invalidation after the write.
        t.write(StreamId::new(8), config, |sid| {
            seen.push(sid);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [StreamId::new(8)]);
        assert_eq!(t.read(StreamId::new(8)).unwrap(), ste::encode(config));
        // Live to live: the entry is aborted and invalidated first.
        let dword0 = (t.base.pa().as_u64() as usize + 8 * STE_BYTES) as *const u64;
        let mut states = Vec::new();
        let other = StreamConfig::Stage1 { cd: 0x4000_2000 };
        t.write(StreamId::new(8), other, |_| {
            // SAFETY: the test page's memory, read between two of the
            // table's volatile writes (single-threaded; no references exist).
            states.push(unsafe { dword0.read_volatile() });
            Ok(())
        })
        .unwrap();
        assert_eq!(states[0], ste::encode(StreamConfig::Abort)[0]);
        assert_eq!(states[1], ste::encode(other)[0]);
        // A failed invalidation is reported, not ignored.
        let err = t.write(StreamId::new(8), StreamConfig::Abort, |_| {
            Err(SmmuError::NoFreeContext)
        });
        assert_eq!(err, Err(SmmuError::NoFreeContext));
    }

    #[test]
    fn cd_slots() {
        let mut cds = CdTable::new(page());
        let a = cds.alloc().unwrap();
        let b = cds.alloc().unwrap();
        assert_eq!((a, b), (0, 1));
        assert_eq!(cds.pa(b) - cds.pa(a), 64);
        cds.write(b, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(cds.read(b), [1, 2, 3, 4, 5, 6, 7, 8]);
        cds.write_dword0(b, 9);
        assert_eq!(cds.read(b)[0], 9);
        cds.free(a);
        assert_eq!(cds.alloc(), Some(0));
        for _ in 2..CD_SLOTS {
            cds.alloc().unwrap();
        }
        assert_eq!(cds.alloc(), None);
    }
}
