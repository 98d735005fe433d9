//! The deferred-free list (like Linux's mmu_gather): what an unmap/protect/merge left behind:
//! the VA range that needs TLB invalidation, unlinked table pages and owned data frames.
//! Arm ARM (DDI 0487) D8.16 (break-before-make) and D8.13 (TLB maintenance): nothing goes back
//! to the allocator before the invalidation that covers it has completed.

use crate::addr::{PhysAddr, PhysRange, VaRange, VirtAddr, PAGE_SIZE};
use crate::descriptor::Level;
use crate::frame::{Frame, FrameList, FrameSource, FreeError};
use crate::phys::PhysMem;
use crate::table::{count_table_pages, for_each_table_page};
use crate::tlb::{invalidate, Asid, Invalidation, Plan, TlbMaintenance};

/// Extents per log page: word 0 links pages, word 1 counts, then (start, bytes) pairs.
const LOG_SLOTS: u64 = 255;

/// Unlinked subtrees kept by their root only, so unmapping a large range touches no page
/// below the roots; more roots than this are flattened into the page list.
const SUBTREE_SLOTS: usize = 8;

#[derive(Debug, Default)]
struct Subtrees {
    roots: [(PhysAddr, Option<Level>); SUBTREE_SLOTS],
    len: usize,
}

/// Accumulated invalidation: the union of everything that changed.
#[derive(Copy, Clone, Debug)]
struct Pending {
    start: u64,
    end: u64,
    stride: Level,
    level: Option<Level>,
    leaf_only: bool,
    global: bool,
}

/// What an operation must invalidate and may free, kept until the caller has invalidated.
///
/// Use: `let mut g = table.gather(); table.unmap(range, &mut g)?; let f = g.flush(&arch);`
/// (secondary TLB / IOTLB invalidation goes here) `f.release(&mut frames)`. `release` exists
/// only on [`Flushed`], so freeing before the TLB flush cannot be written.
#[must_use = "a gather holds frames and a pending TLB invalidation: flush and release it"]
#[derive(Debug)]
pub struct Gather<M: PhysMem> {
    mem: M,
    asid: Asid,
    pending: Option<Pending>,
    subtrees: Subtrees,
    tables: FrameList,
    log: FrameList,
    log_tail_used: u64,
    spare: FrameList,
}

impl<M: PhysMem> Gather<M> {
    /// An empty gather for an address space tagged `asid` whose pages are reached via `mem`.
    pub fn new(mem: M, asid: Asid) -> Self {
        Self {
            mem,
            asid,
            pending: None,
            subtrees: Subtrees::default(),
            tables: FrameList::default(),
            log: FrameList::default(),
            log_tail_used: 0,
            spare: FrameList::default(),
        }
    }

    /// The ASID the invalidation will name.
    pub fn asid(&self) -> Asid {
        self.asid
    }

    /// The invalidation [`flush`](Self::flush) would issue, if any.
    pub fn pending(&self) -> Option<Invalidation> {
        self.pending.map(|p| Invalidation {
            asid: self.asid,
            range: VaRange::new(VirtAddr::new(p.start), VirtAddr::new(p.end)),
            stride: p.stride,
            leaf_only: p.leaf_only,
            global: p.global,
            level: p.level,
        })
    }

    /// Table pages waiting for release.
    pub fn table_pages(&self) -> u64 {
        let roots = &self.subtrees.roots[..self.subtrees.len];
        self.tables.len()
            + roots
                .iter()
                .map(|&(r, l)| count_table_pages(&self.mem, r, l.expect("a root")))
                .sum::<u64>()
    }

    /// Whether nothing is pending and nothing is held.
    pub fn is_empty(&self) -> bool {
        self.pending.is_none()
            && self.subtrees.len == 0
            && self.tables.is_empty()
            && self.log.is_empty()
            && self.spare.is_empty()
    }

    fn note(
        &mut self,
        range: VaRange,
        stride: Level,
        level: Option<Level>,
        leaf_only: bool,
        global: bool,
    ) {
        let (s, e) = (range.start.as_u64(), range.end.as_u64());
        self.pending = Some(match self.pending {
            None => Pending {
                start: s,
                end: e,
                stride,
                level,
                leaf_only,
                global,
            },
            Some(p) => Pending {
                start: p.start.min(s),
                end: p.end.max(e),
                stride: p.stride.max(stride),
                level: if p.level == level { level } else { None },
                leaf_only: p.leaf_only && leaf_only,
                global: p.global || global,
            },
        });
    }

    /// Leaf entries at `level` covering `range` changed or went away.
    pub(crate) fn note_leaves(&mut self, range: VaRange, level: Level, global: bool) {
        self.note(range, level, Some(level), true, global);
    }

    /// The table `root` at `level`, which translated `range`, was unlinked with every table
    /// below it. Its contents are left as they are: a walker that
    /// still holds a stale walk-cache entry for it reads what it read before.
    pub(crate) fn note_table(
        &mut self,
        range: VaRange,
        root: PhysAddr,
        level: Level,
        global: bool,
    ) {
        self.note(range, Level::L3, None, false, global);
        let st = &mut self.subtrees;
        if st.len < SUBTREE_SLOTS {
            st.roots[st.len] = (root, Some(level));
            st.len += 1;
            return;
        }
        // Children first: linking a page overwrites its entry 0 (with an invalid encoding).
        let (mem, tables) = (&self.mem, &mut self.tables);
        let mut list = core::mem::take(tables);
        for_each_table_page(mem, root, level, |p| list.push(mem, Frame::containing(p)));
        *tables = list;
    }

    /// Log pages needed before `extents` more owned extents can be logged.
    pub(crate) fn log_pages_needed(&self, extents: u64) -> u64 {
        let free_slots = if self.log.is_empty() {
            0
        } else {
            LOG_SLOTS - self.log_tail_used
        };
        let free_slots = free_slots + self.spare.len() * LOG_SLOTS;
        extents.saturating_sub(free_slots).div_ceil(LOG_SLOTS)
    }

    /// Adds a fresh page to hold logged extents.
    pub(crate) fn add_log_page(&mut self, page: PhysAddr) {
        self.spare.push(&self.mem, Frame::containing(page));
    }

    /// Records that the owned frames `[pa, pa + bytes)` are to be freed at release.
    pub(crate) fn log_owned(&mut self, pa: PhysAddr, bytes: u64) {
        if let Some(tail) = self.log_tail().filter(|_| self.log_tail_used > 0) {
            let last = 2 + 2 * (self.log_tail_used as usize - 1);
            let (start, len) = (
                self.mem.read_word(tail, last),
                self.mem.read_word(tail, last + 1),
            );
            if start + len == pa.as_u64() {
                self.mem.write_word(tail, last + 1, len + bytes);
                return;
            }
        }
        if self.log.is_empty() || self.log_tail_used == LOG_SLOTS {
            let page = self
                .spare
                .pop(&self.mem)
                .expect("log pages reserved before the walk");
            self.log.push(&self.mem, page);
            self.log_tail_used = 0;
        }
        let tail = self.log_tail().expect("a log page");
        let slot = 2 + 2 * self.log_tail_used as usize;
        self.mem.write_word(tail, slot, pa.as_u64());
        self.mem.write_word(tail, slot + 1, bytes);
        self.log_tail_used += 1;
        self.mem.write_word(tail, 1, self.log_tail_used);
    }

    /// The log page being filled (the front of the log).
    fn log_tail(&self) -> Option<PhysAddr> {
        self.log.first().map(Frame::start)
    }

    /// Issues the pending invalidation through `arch` and waits for it (DSB ISH, ISB).
    /// Afterwards no CPU can reach the unlinked pages or the unmapped frames.
    pub fn flush<A: TlbMaintenance + ?Sized>(mut self, arch: &A) -> Flushed<M> {
        let inv = self.pending();
        let plan = inv.map_or(Plan::Nothing, |inv| invalidate(arch, &inv));
        Flushed {
            range: inv.map(|i| i.range),
            plan,
            subtrees: core::mem::take(&mut self.subtrees),
            tables: core::mem::take(&mut self.tables),
            log: core::mem::take(&mut self.log),
            spare: core::mem::take(&mut self.spare),
            mem: self.mem,
        }
    }
}

/// A gather whose CPU TLB invalidation has completed: the only thing that can free its frames.
#[must_use = "the frames are only returned by release()"]
#[derive(Debug)]
pub struct Flushed<M: PhysMem> {
    mem: M,
    range: Option<VaRange>,
    plan: Plan,
    subtrees: Subtrees,
    tables: FrameList,
    log: FrameList,
    spare: FrameList,
}

/// What a release returned to the frame source.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseReport {
    /// Page-table pages freed.
    pub tables: u64,
    /// Owned data frames freed.
    pub data_frames: u64,
    /// Log pages freed.
    pub log_pages: u64,
}

/// Some frees were refused; every other frame was still released.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ReleaseError {
    /// The first refusal.
    pub first: FreeError,
    /// How many frees were refused.
    pub failures: u64,
    /// What was released anyway.
    pub report: ReleaseReport,
}

impl<M: PhysMem> Flushed<M> {
    /// The VA range that was invalidated: secondary TLBs / IOTLBs must drop it before release.
    pub fn range(&self) -> Option<VaRange> {
        self.range
    }
    /// The TLBI sequence that was used.
    pub fn plan(&self) -> Plan {
        self.plan
    }
    /// Owned data extents that release will free, in log order.
    pub fn for_each_data_extent(&self, mut f: impl FnMut(PhysRange)) {
        for page in self.log.iter(&self.mem) {
            let p = page.start();
            let used = self.mem.read_word(p, 1) as usize;
            for k in 0..used {
                let start = PhysAddr::new(self.mem.read_word(p, 2 + 2 * k));
                f(PhysRange::new(
                    start,
                    start.add(self.mem.read_word(p, 3 + 2 * k)),
                ));
            }
        }
    }

    /// Returns every unlinked table page, owned data frame and log page to `frames`.
    pub fn release<F: FrameSource + ?Sized>(
        mut self,
        frames: &mut F,
    ) -> Result<ReleaseReport, ReleaseError> {
        let mut report = ReleaseReport::default();
        let mut failures = 0;
        let mut first = None;
        let mut note = |freed: Result<(), FreeError>| match freed {
            Ok(()) => true,
            Err(e) => {
                failures += 1;
                first.get_or_insert(e);
                false
            }
        };
        let mut data = 0;
        self.for_each_data_extent(|r| {
            let mut pa = r.start;
            while pa < r.end {
                if note(frames.free_mapped(Frame::containing(pa))) {
                    data += 1;
                }
                pa = pa.add(PAGE_SIZE);
            }
        });
        report.data_frames = data;
        let mut give = |frames: &mut F, pa: PhysAddr| note(frames.free(Frame::containing(pa)));
        for list in [&mut self.log, &mut self.spare] {
            while let Some(p) = list.pop(&self.mem) {
                report.log_pages += give(frames, p.start()) as u64;
            }
        }
        for &(root, level) in &self.subtrees.roots[..self.subtrees.len] {
            let level = level.expect("a recorded root");
            let mut freed = 0;
            for_each_table_page(&self.mem, root, level, |p| freed += give(frames, p) as u64);
            report.tables += freed;
        }
        while let Some(t) = self.tables.pop(&self.mem) {
            report.tables += give(frames, t.start()) as u64;
        }
        match first {
            None => Ok(report),
            Some(first) => Err(ReleaseError {
                first,
                failures,
                report,
            }),
        }
    }
}
