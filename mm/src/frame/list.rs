//! An intrusive list of 4 KiB frames, linked through word 0 of each: the frames an operation
//! reserved before touching a table ([`FramePool`](super::FramePool)) and the pages a
//! [`Gather`](crate::gather::Gather) holds until release (unlinked tables, logs of owned
//! frames). No heap: the frames on the list are its storage.

use super::Frame;
use crate::addr::PhysAddr;
use crate::phys::PhysMem;

/// Frames linked through their word 0, last pushed first. A frame on the list belongs to the
/// list's owner and is reachable by no walker through a live table. A link is page aligned,
/// so bit 0 is clear: a walker that still reaches an unlinked table page through a stale
/// walk-cache entry reads an invalid descriptor in entry 0.
#[derive(Debug, Default)]
pub(crate) struct FrameList {
    head: Option<Frame>,
    len: u64,
}

impl FrameList {
    /// Links `frame` in front (overwrites its word 0).
    #[inline]
    pub(crate) fn push<M: PhysMem>(&mut self, mem: &M, frame: Frame) {
        mem.write_word(
            frame.start(),
            0,
            self.head.map_or(0, |f| f.start().as_u64()),
        );
        self.head = Some(frame);
        self.len += 1;
    }

    /// Unlinks the front frame.
    #[inline]
    pub(crate) fn pop<M: PhysMem>(&mut self, mem: &M) -> Option<Frame> {
        let frame = self.head?;
        self.head = next(mem, frame);
        self.len -= 1;
        Some(frame)
    }

    /// The front frame.
    pub(crate) fn first(&self) -> Option<Frame> {
        self.head
    }

    /// Frames on the list.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether the list is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The frames, front first, without unlinking them.
    pub(crate) fn iter<'a, M: PhysMem>(&self, mem: &'a M) -> impl Iterator<Item = Frame> + 'a {
        let mut at = self.head;
        core::iter::from_fn(move || {
            let frame = at?;
            at = next(mem, frame);
            Some(frame)
        })
    }
}

/// The frame after `frame`, read from its word 0.
#[inline]
fn next<M: PhysMem>(mem: &M, frame: Frame) -> Option<Frame> {
    let link = mem.read_word(frame.start(), 0);
    (link != 0).then(|| Frame::containing(PhysAddr::new(link)))
}
