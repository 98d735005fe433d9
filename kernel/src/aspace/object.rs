//! Shared objects (DESIGN.md §7.2): the frames of MAP_SHARED anonymous memory, one set for
//! every address space that maps the object, across fork (Linux's shmem). An object holds
//! one reference on each of its pages; every page-table entry that maps one holds another
//! (and counts as a mapping). Its size is fixed when it is created: a page past the end
//! (an area grown with `mremap`) faults with SIGBUS, as on Linux.
//!
//! The object records the address spaces whose areas map it ([`Mappers`], the reverse
//! map's first step: from a frame's owner to the areas), and each address space keeps the
//! objects its areas name ([`Objects`]), dropping one when its last area of it goes. Every
//! live object, shared or anonymous, is found by its name ([`lookup`]).
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::anon::AnonObject;
use super::AddressSpace;
use crate::mem::phys_to_virt;
use crate::mmu::{frame_table, KernelFrames};
use crate::sync::SpinLock;
use mm::frame::descriptor::FrameFlags;
use mm::vma::{ObjectId, Vma, Vmas};
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
    pages: AtomicU64,
    frames: SpinLock<BTreeMap<u64, PhysAddr>>,
    mappers: Mappers,
}

impl SharedObject {
    /// A new object of `len` bytes (rounded up to pages), with no page yet.
    pub fn new(len: u64) -> Arc<Self> {
        let object = Arc::new(Self {
            id: ObjectId(next_id()),
            pages: AtomicU64::new(len.div_ceil(PAGE_SIZE)),
            frames: SpinLock::new(BTreeMap::new()),
            mappers: Mappers::default(),
        });
        register(object.id.0, Registered::Shared(Arc::downgrade(&object)));
        object
    }

    /// Its name in areas.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// Its size in pages.
    pub fn len_pages(&self) -> u64 {
        self.pages.load(Ordering::Acquire)
    }

    /// Makes it `pages` long (a file's size changed); the frames of pages past the new
    /// end go. Only for an object no area maps (files are not mapped yet): a mapped
    /// page would first have to leave every mapping through the invalidation order.
    pub fn set_len_pages(&self, pages: u64) {
        debug_assert!(
            self.mappers.alive().is_empty(),
            "resizing a mapped shared object"
        );
        self.pages.store(pages, Ordering::Release);
        let gone = self.frames.lock().split_off(&pages);
        for (_, pa) in gone {
            KernelFrames
                .free(Frame::containing(pa))
                .unwrap_or_else(|e| panic!("shared object: {:?}", e));
        }
    }

    /// The frame of page `index` if it has one (a hole reads as zeros).
    pub fn peek(&self, index: u64) -> Option<PhysAddr> {
        self.frames.lock().get(&index).copied()
    }

    /// Pages it holds now.
    pub fn resident(&self) -> usize {
        self.frames.lock().len()
    }

    /// The frame of page `index` (inside the object), a zeroed one if it had none.
    pub fn page(&self, index: u64) -> Result<PhysAddr, OutOfFrames> {
        debug_assert!(index < self.len_pages());
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
}

impl Drop for SharedObject {
    /// No area names it any more, so no page-table entry maps its pages (each unmap
    /// already dropped its own reference): its references go, and with them the frames.
    fn drop(&mut self) {
        unregister(self.id.0);
        for (_, pa) in core::mem::take(self.frames.get_mut()) {
            KernelFrames
                .free(Frame::containing(pa))
                .unwrap_or_else(|e| panic!("shared object: {:?}", e));
        }
    }
}

/// The address spaces whose areas map one object (shared or anonymous): the reverse
/// map's first step, from a frame's owner to the address spaces that may map it. Each
/// address space keeps the objects its areas name ([`Objects`]) and leaves an object's list
/// when its last area of it goes; a dead address space's entry is skipped and dropped at
/// the next change.
pub struct Mappers(SpinLock<Vec<Weak<AddressSpace>>>);

impl Default for Mappers {
    fn default() -> Self {
        Self(SpinLock::new(Vec::new()))
    }
}

impl Mappers {
    /// Records that `aspace` has areas of the object.
    pub fn add(&self, aspace: Weak<AddressSpace>) {
        let mut m = self.0.lock();
        m.retain(|w| w.strong_count() > 0 && !w.ptr_eq(&aspace));
        m.push(aspace);
    }

    /// `aspace` has no area of it any more.
    pub fn remove(&self, aspace: *const AddressSpace) {
        self.0
            .lock()
            .retain(|w| w.strong_count() > 0 && w.as_ptr() != aspace);
    }

    /// The address spaces with areas of it, alive now.
    pub fn alive(&self) -> Vec<Arc<AddressSpace>> {
        self.0.lock().iter().filter_map(Weak::upgrade).collect()
    }
}

/// An object areas name: what an address space's [`Objects`] holds.
pub trait Object {
    /// Its name in areas.
    type Id: Ord + Copy;
    /// Its name.
    fn id(&self) -> Self::Id;
    /// The object an area names, if it names one of this kind.
    fn named_by(vma: &Vma) -> Option<Self::Id>;
    /// The address spaces with areas of it.
    fn mappers(&self) -> &Mappers;
}

impl Object for SharedObject {
    type Id = ObjectId;
    fn id(&self) -> ObjectId {
        self.id
    }
    fn named_by(vma: &Vma) -> Option<ObjectId> {
        vma.object_page(vma.range.start).map(|(id, _)| id)
    }
    fn mappers(&self) -> &Mappers {
        &self.mappers
    }
}

/// The objects of one kind an address space's areas name.
pub struct Objects<T: Object>(BTreeMap<T::Id, Arc<T>>);

impl<T: Object> Default for Objects<T> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<T: Object> Objects<T> {
    /// The object `id`, if an area names it.
    pub fn get(&self, id: T::Id) -> Option<&Arc<T>> {
        self.0.get(&id)
    }

    /// Adds `object` (a new area names it) and records `me` among its mappers.
    pub fn insert(&mut self, object: Arc<T>, me: Weak<AddressSpace>) {
        object.mappers().add(me);
        self.0.insert(object.id(), object);
    }

    /// Adds `object` for an address space not yet published (fork's child): the caller
    /// lists the address space among its mappers once it is.
    pub fn adopt(&mut self, object: Arc<T>) {
        self.0.insert(object.id(), object);
    }

    /// Every object.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<T>> {
        self.0.values()
    }

    /// Drops the objects no area of `vmas` names any more (after areas were removed);
    /// `me` leaves their mapper lists.
    pub fn prune(&mut self, vmas: &Vmas, me: *const AddressSpace) {
        if self.0.is_empty() {
            return;
        }
        let named: Vec<T::Id> = vmas.iter().filter_map(T::named_by).collect();
        self.0.retain(|id, o| {
            let keep = named.contains(id);
            if !keep {
                o.mappers().remove(me);
            }
            keep
        });
    }
}

/// An object found by its name (a frame's reverse-map owner).
#[derive(Clone)]
pub enum Registered {
    /// An anonymous object.
    Anon(Weak<AnonObject>),
    /// A shared object.
    Shared(Weak<SharedObject>),
}

/// Every live object by name. A leaf lock: taken when an object is made or dropped (under
/// `mmap_lock` or nothing) and by a lookup.
static REGISTRY: SpinLock<BTreeMap<u64, Registered>> = SpinLock::new(BTreeMap::new());

pub(super) fn register(id: u64, object: Registered) {
    REGISTRY.lock().insert(id, object);
}

pub(super) fn unregister(id: u64) {
    REGISTRY.lock().remove(&id);
}

/// The live object named `id` (a frame's reverse-map owner), if any.
pub fn lookup(id: u64) -> Option<Registered> {
    REGISTRY.lock().get(&id).cloned()
}
