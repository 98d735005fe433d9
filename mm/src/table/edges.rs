//! The blocks a range's edges cut: unmap and protect split them (break-before-make) before
//! editing inside, so their preflights count the table pages a split takes, and the caller's
//! invalidation window must cover their whole extent. Arm ARM (DDI 0487) D8.16.1.

use super::walk::{Offset, Span};
use super::PageTable;
use crate::addr::{VaRange, VA_BITS};
use crate::descriptor::Level;
use crate::frame::FrameSource;
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// The blocks that straddle an edge of `r`: (level, first offset) of each, at most
    /// two per edge (a 1 GiB block, then the 2 MiB block its split leaves under the edge).
    fn cut_blocks(&self, r: Span) -> ([(Level, Offset); 4], usize) {
        let mut cut = [(Level::L0, Offset::new(0)); 4];
        let mut n = 0;
        for x in [r.start, r.end] {
            if x.get() >= 1 << VA_BITS {
                continue;
            }
            let Some((level, base)) = self.leaf_at(x) else {
                continue;
            };
            if base == x {
                continue;
            }
            let mut add = |rec| {
                if !cut[..n].contains(&rec) {
                    cut[n] = rec;
                    n += 1;
                }
            };
            add((level, base));
            if level == Level::L1 && !x.is_entry_start(Level::L2) {
                add((Level::L2, x.entry_start(Level::L2)));
            }
        }
        (cut, n)
    }

    /// Table pages needed to split the blocks that straddle the edges of `r`.
    pub(super) fn edge_splits(&self, r: Span) -> usize {
        self.cut_blocks(r).1
    }

    /// `range` widened to whole blocks where a block straddles one of its
    /// edges: the extent an edit of `range` may break (a split), which its
    /// invalidation window must cover.
    pub fn break_hull(&self, range: VaRange) -> VaRange {
        let Ok(r) = self.offsets(range) else {
            return range;
        };
        let (cut, n) = self.cut_blocks(r);
        let hull = cut[..n]
            .iter()
            .fold(r, |h, &(level, base)| h.hull(Span::entry(level, base)));
        self.region.va_range(hull)
    }
}
