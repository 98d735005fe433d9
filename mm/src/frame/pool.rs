//! The frames one table operation reserved in its preflight: taken from the frame source all
//! at once (or none), handed out by the pass that cannot fail, the unused ones given back.
//! They are free frames owned by the operation, invisible to any walker until linked.

use super::list::FrameList;
use super::{FrameSource, OutOfFrames};
use crate::addr::PhysAddr;
use crate::phys::PhysMem;

/// Frames reserved for one operation (split tables, new tables, gather log pages).
#[derive(Default)]
pub(crate) struct FramePool {
    frames: FrameList,
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
                Ok(f) => pool.frames.push(mem, f),
                Err(e) => {
                    pool.give_back(frames, mem);
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// Whether every reserved frame was used (preflights count exactly).
    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// A reserved frame, zeroed; the preflight guarantees there is one.
    pub(crate) fn take<M: PhysMem>(&mut self, mem: &M) -> PhysAddr {
        let pa = self.take_raw(mem);
        mem.fill_frame(pa, 0);
        pa
    }

    /// A reserved frame, contents unspecified.
    pub(crate) fn take_raw<M: PhysMem>(&mut self, mem: &M) -> PhysAddr {
        self.frames
            .pop(mem)
            .expect("preflight reserved every frame this operation takes")
            .start()
    }

    /// Returns the frames not used (never linked into a table, so no invalidation is needed).
    pub(crate) fn give_back<F: FrameSource, M: PhysMem>(mut self, frames: &mut F, mem: &M) {
        while let Some(f) = self.frames.pop(mem) {
            frames.free(f).expect("a frame this pool allocated");
        }
    }
}
