//! The reverse map's walk (DESIGN.md §7.2): from a frame to every (address space, VA)
//! that maps it. The frame's owner names its object (anonymous or shared) and the page's
//! index in it; the object lists the address spaces whose areas carry it; in each, an area
//! of that object whose indexes cover the page places it at one VA, and the PTL says
//! whether the page-table entry there maps this frame now.
//!
//! This first walk takes each address space's `mmap_lock` for read in turn (the object's
//! list is copied first, so no object lock is held then): enough to find the mappings of
//! a page that fork and copy-on-write shared. The page-level operations (reclaim,
//! migration, merging) walk under the object's rmap lock instead, one PTL at a time,
//! without `mmap_lock` (issue 17).
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::object::{lookup, Object, Registered};
use super::AddressSpace;
use crate::mmu::frame_desc;
use mm::frame::descriptor::FrameFlags;
use mm::vma::Vma;
use mm::{PhysAddr, VirtAddr, PAGE_SIZE};

/// One mapping of a frame.
pub struct Mapping {
    /// The address space.
    pub aspace: Arc<AddressSpace>,
    /// Where it maps the frame.
    pub va: VirtAddr,
}

/// Every mapping of the frame at `pa` now, in the order of the object's mapper list and
/// of each address space's areas; none for a frame no object owns (the zero page, a
/// kernel frame, a page the loader placed before its area had an object). Sleepable.
pub fn mappings(pa: PhysAddr) -> Vec<Mapping> {
    crate::sync::might_sleep();
    let Some(d) = frame_desc(pa) else {
        return Vec::new();
    };
    let (owner, index) = d.owner();
    let anon = d.flags().contains(FrameFlags::ANON);
    let mappers = match lookup(owner) {
        Some(Registered::Anon(o)) if anon => o.upgrade().map(|o| o.mappers().alive()),
        Some(Registered::Shared(o)) if d.flags().contains(FrameFlags::SHARED) => {
            o.upgrade().map(|o| o.mappers().alive())
        }
        _ => None,
    };
    let mut found = Vec::new();
    for aspace in mappers.unwrap_or_default() {
        let vas: Vec<VirtAddr> = {
            let layout = aspace.mmap_lock.read();
            layout
                .vmas
                .iter()
                .filter_map(|vma| place(vma, anon, owner, index))
                .collect()
        };
        for va in vas {
            if aspace.translate(va) == Some(pa) {
                found.push(Mapping {
                    aspace: aspace.clone(),
                    va,
                });
            }
        }
    }
    found
}

/// Where `vma` would map page `index` of object `owner` (of the kind `anon` says).
fn place(vma: &Vma, anon: bool, owner: u64, index: u64) -> Option<VirtAddr> {
    let (id, first) = if anon {
        vma.anon_page(vma.range.start).map(|(id, i)| (id.0, i))?
    } else {
        vma.object_page(vma.range.start).map(|(id, i)| (id.0, i))?
    };
    let offset = index.checked_sub(first)?.checked_mul(PAGE_SIZE)?;
    (id == owner && offset < vma.range.len()).then(|| vma.range.start.add(offset))
}
