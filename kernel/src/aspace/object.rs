//! Shared objects (DESIGN.md §7.2): the frames of MAP_SHARED anonymous memory, one set for
//! every address space that maps the object, across fork (Linux's shmem). An object holds
//! one reference on each of its pages; every page-table entry that maps one holds another
//! (and counts as a mapping). Its size is fixed when it is created: a page past the end
//! (an area grown with `mremap`) faults with SIGBUS, as on Linux.
//!
//! The object records the address spaces whose areas map it (the reverse map's first
//! step: from a frame's owner to the areas), and each address space keeps the objects its
//! areas name (`Layout::objects`), dropping one when its last area of it goes.
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::AddressSpace;
use crate::mem::phys_to_virt;
use crate::mmu::{frame_table, KernelFrames};
use crate::sync::SpinLock;
use mm::frame::descriptor::FrameFlags;
use mm::vma::{ObjectId, Vmas};
use mm::{Frame, FrameSource, OutOfFrames, PhysAddr, PAGE_SIZE};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A name no object has had: shared and anonymous objects draw from one sequence, so a
/// frame's reverse-map owner names one object whichever kind it is.
pub(super) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The reverse-map owner of a private page at `va` in `vma`: its anonymous object and
/// page index, or (0, 0) in an area that has no object (a page the loader placed).
pub(super) fn anon_owner(vma: &mm::vma::Vma, va: mm::VirtAddr) -> (u64, u64) {
    vma.anon_page(va)
        .map_or((0, 0), |(id, index)| (id.0, index))
}

/// One shared object.
pub struct SharedObject {
    id: ObjectId,
    pages: u64,
    frames: SpinLock<BTreeMap<u64, PhysAddr>>,
    mappers: SpinLock<Vec<Weak<AddressSpace>>>,
}

impl SharedObject {
    /// A new object of `len` bytes (rounded up to pages), with no page yet.
    pub fn new(len: u64) -> Arc<Self> {
        Arc::new(Self {
            id: ObjectId(next_id()),
            pages: len.div_ceil(PAGE_SIZE),
            frames: SpinLock::new(BTreeMap::new()),
            mappers: SpinLock::new(Vec::new()),
        })
    }

    /// Its name in areas.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// Its size in pages.
    pub fn len_pages(&self) -> u64 {
        self.pages
    }

    /// Pages it holds now.
    pub fn resident(&self) -> usize {
        self.frames.lock().len()
    }

    /// The frame of page `index` (inside the object), a zeroed one if it had none.
    pub fn page(&self, index: u64) -> Result<PhysAddr, OutOfFrames> {
        debug_assert!(index < self.pages);
        if let Some(&pa) = self.frames.lock().get(&index) {
            return Ok(pa);
        }
        let frame = KernelFrames.alloc()?;
        // SAFETY: a frame just allocated, reached through the linear map.
        unsafe { super::zero_page(phys_to_virt(frame.start()) as *mut u8) };
        frame_table().set_owner(frame.start(), FrameFlags::SHARED, self.id.0, index);
        let mut frames = self.frames.lock();
        if let Some(&pa) = frames.get(&index) {
            // Another fault got there first.
            drop(frames);
            KernelFrames.free(frame).expect("freeing an unused frame");
            return Ok(pa);
        }
        frames.insert(index, frame.start());
        Ok(frame.start())
    }

    /// Records that `aspace` has areas of this object.
    pub fn add_mapper(&self, aspace: Weak<AddressSpace>) {
        let mut m = self.mappers.lock();
        m.retain(|w| w.strong_count() > 0 && !w.ptr_eq(&aspace));
        m.push(aspace);
    }

    /// `aspace` has no area of it any more.
    pub fn remove_mapper(&self, aspace: *const AddressSpace) {
        self.mappers
            .lock()
            .retain(|w| w.strong_count() > 0 && w.as_ptr() != aspace);
    }

    /// The address spaces with areas of it, alive now.
    pub fn mappers(&self) -> Vec<Arc<AddressSpace>> {
        self.mappers
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

impl Drop for SharedObject {
    /// No area names it any more, so no page-table entry maps its pages (each unmap
    /// already dropped its own reference): its references go, and with them the frames.
    fn drop(&mut self) {
        for (_, pa) in core::mem::take(self.frames.get_mut()) {
            KernelFrames
                .free(Frame::containing(pa))
                .unwrap_or_else(|e| panic!("shared object: {:?}", e));
        }
    }
}

/// The objects an address space's areas name.
#[derive(Default)]
pub struct Objects(BTreeMap<ObjectId, Arc<SharedObject>>);

impl Objects {
    /// The object `id`, if an area names it.
    pub fn get(&self, id: ObjectId) -> Option<&Arc<SharedObject>> {
        self.0.get(&id)
    }

    /// Adds `object` (a new area names it).
    pub fn insert(&mut self, object: Arc<SharedObject>) {
        self.0.insert(object.id, object);
    }

    /// Every object.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<SharedObject>> {
        self.0.values()
    }

    /// Drops the objects no area of `vmas` names any more (after areas were removed);
    /// `me` leaves their mapper lists.
    pub fn prune(&mut self, vmas: &Vmas, me: *const AddressSpace) {
        if self.0.is_empty() {
            return;
        }
        let named: Vec<ObjectId> = vmas
            .iter()
            .filter_map(|v| v.object_page(v.range.start).map(|(id, _)| id))
            .collect();
        let gone: Vec<ObjectId> = self
            .0
            .keys()
            .copied()
            .filter(|id| !named.contains(id))
            .collect();
        for id in gone {
            if let Some(o) = self.0.remove(&id) {
                o.remove_mapper(me);
            }
        }
    }
}
