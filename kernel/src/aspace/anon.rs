//! Anonymous objects (DESIGN.md §7.2, Linux's `anon_vma`): the private pages of the areas
//! that carry one. An area gets its object at its first write fault
//! (`Vmas::prepare_anon`: a neighbour's if the two could be one area, else a new one);
//! the areas forked from it keep it. A private frame's reverse-map owner is (object, page
//! index), and the object records the address spaces whose areas carry it, so that a walk
//! from a frame reaches every mapping of it ([`super::rmap`]).
use alloc::sync::Arc;

use super::object::{register, unregister, Mappers, Object, Registered};
use mm::vma::{AnonId, Vma};

/// One anonymous object.
pub struct AnonObject {
    id: AnonId,
    mappers: Mappers,
}

impl AnonObject {
    /// The object named `id` (a name `prepare_anon` just drew), found by name from now on.
    pub fn new(id: AnonId) -> Arc<Self> {
        let object = Arc::new(Self {
            id,
            mappers: Mappers::default(),
        });
        register(id.0, Registered::Anon(Arc::downgrade(&object)));
        object
    }
}

impl Object for AnonObject {
    type Id = AnonId;
    fn id(&self) -> AnonId {
        self.id
    }
    fn named_by(vma: &Vma) -> Option<AnonId> {
        vma.anon_page(vma.range.start).map(|(id, _)| id)
    }
    fn mappers(&self) -> &Mappers {
        &self.mappers
    }
}

impl Drop for AnonObject {
    /// No area carries it any more: its name leaves the registry. (Its frames are held by
    /// the page-table entries that map them, not by the object.)
    fn drop(&mut self) {
        unregister(self.id.0);
    }
}
