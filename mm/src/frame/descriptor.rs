//! What a frame knows (DESIGN.md §7.1): one descriptor per RAM frame, in an array indexed
//! by frame number, with the counts that decide when a frame may be freed and whether a
//! copy-on-write fault may reuse it in place.
//!
//! - **references** (`refs`): every holder of the frame (a mapping that owns it, a shared
//!   object's page slot, a kernel user for the length of a copy). The frame goes back to the
//!   allocator when the last one goes, as Linux's `put_page`.
//! - **mappings** (`maps`): page-table entries that translate to it (Linux's `mapcount`).
//! - **pins** (`pins`): a device uses it by physical address (Linux's `FOLL_PIN`): it is never
//!   shared copy-on-write at fork, reclaimed, migrated or merged while pinned.
//! - **flags** and the **owner** (object and page index) for the reverse map.
//!
//! The counts are atomics: they change under different locks (each address space's PTL, a
//! shared object's lock) and are read without any. Every rule a caller can break is a
//! [`FrameRuleError`], so that the kernel reports it with the frame's address.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::addr::{PhysAddr, PhysRange, PAGE_SHIFT, PAGE_SIZE};

/// What kind of page a frame holds (bit set).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameFlags(u32);

impl FrameFlags {
    /// No flag.
    pub const NONE: Self = Self(0);
    /// A private anonymous page (owner: its anonymous object).
    pub const ANON: Self = Self(1 << 0);
    /// A page of a shared object (MAP_SHARED anonymous memory, later files).
    pub const SHARED: Self = Self(1 << 1);
    /// The shared zero page: never written, never freed.
    pub const ZERO: Self = Self(1 << 2);
    /// The kernel's own (image, heap, table pages): never mapped into user space.
    pub const KERNEL: Self = Self(1 << 3);

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    /// Both sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// A rule of the frame counts a caller broke; the kernel reports it and stops.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FrameRuleError {
    /// A reference was dropped from (or taken on) a frame that has none: a double put, or a
    /// use after free.
    NoReference(PhysAddr),
    /// A frame was allocated while it still had references.
    AllocatedInUse {
        /// The frame.
        pa: PhysAddr,
        /// Its references.
        refs: u32,
    },
    /// The last reference went while page-table entries still map the frame.
    FreedWhileMapped {
        /// The frame.
        pa: PhysAddr,
        /// Its mappings.
        maps: u32,
    },
    /// The last reference went while a device still uses the frame.
    FreedWhilePinned {
        /// The frame.
        pa: PhysAddr,
        /// Its pins.
        pins: u32,
    },
    /// A mapping was removed from a frame that has none.
    NotMapped(PhysAddr),
    /// A pin was dropped from a frame that has none.
    NotPinned(PhysAddr),
    /// The shared zero page lost its reference (it is never freed).
    ZeroPageFreed(PhysAddr),
}

/// The outcome of dropping a reference.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[must_use = "the last reference means the frame must go back to the allocator"]
pub enum Put {
    /// Other holders remain.
    Shared,
    /// That was the last reference: the caller frees the frame.
    Last,
}

/// The descriptor of one frame.
#[derive(Debug, Default)]
pub struct FrameDesc {
    refs: AtomicU32,
    maps: AtomicU32,
    pins: AtomicU32,
    flags: AtomicU32,
    owner: AtomicU64,
    index: AtomicU64,
}

impl FrameDesc {
    /// Its references now.
    pub fn refs(&self) -> u32 {
        self.refs.load(Ordering::Acquire)
    }
    /// Page-table entries that map it now.
    pub fn maps(&self) -> u32 {
        self.maps.load(Ordering::Acquire)
    }
    /// Devices using it by physical address now.
    pub fn pins(&self) -> u32 {
        self.pins.load(Ordering::Acquire)
    }
    /// Its flags.
    pub fn flags(&self) -> FrameFlags {
        FrameFlags(self.flags.load(Ordering::Acquire))
    }
    /// The reverse-map owner (an object's id, 0 for none) and the page's index in it.
    pub fn owner(&self) -> (u64, u64) {
        (
            self.owner.load(Ordering::Acquire),
            self.index.load(Ordering::Acquire),
        )
    }

    /// Whether a copy-on-write fault may take the page over in place: this one mapping is
    /// its only holder and no device uses it (Linux's exclusive anonymous page).
    pub fn is_exclusive(&self) -> bool {
        self.pins() == 0 && self.maps() == 1 && self.refs() == 1
    }
}

/// The descriptors of every frame of a physical span (holes included: a hole's descriptors
/// are never used).
#[derive(Debug)]
pub struct FrameTable<'a> {
    span: PhysRange,
    descs: &'a [FrameDesc],
}

impl<'a> FrameTable<'a> {
    /// Bytes of descriptors a span needs (rounded up to whole frames).
    pub const fn bytes_for(span: PhysRange) -> u64 {
        let frames = span.len().div_ceil(PAGE_SIZE);
        (frames * core::mem::size_of::<FrameDesc>() as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE
    }

    /// The table of `span` (page aligned) over `descs`, which holds at least one descriptor
    /// per frame of the span, all zero (no references, no flags). `None` otherwise.
    pub fn new(span: PhysRange, descs: &'a [FrameDesc]) -> Option<Self> {
        let frames = span.len() / PAGE_SIZE;
        let aligned = span.start.is_aligned(PAGE_SIZE) && span.end.is_aligned(PAGE_SIZE);
        (aligned && descs.len() as u64 >= frames).then_some(Self { span, descs })
    }

    /// The span it describes.
    pub fn span(&self) -> PhysRange {
        self.span
    }

    /// The descriptor of the frame holding `pa`, if the span covers it.
    pub fn get(&self, pa: PhysAddr) -> Option<&'a FrameDesc> {
        if !self.span.contains(pa) {
            return None;
        }
        let i = (pa.as_u64() - self.span.start.as_u64()) >> PAGE_SHIFT;
        self.descs.get(i as usize)
    }

    fn desc(&self, pa: PhysAddr) -> &'a FrameDesc {
        self.get(pa)
            .unwrap_or_else(|| panic!("frame {:?} lies outside the frame table", pa))
    }

    /// A frame just came from the allocator: its one reference is the caller's, with
    /// `flags`, no owner, no mapping.
    pub fn on_alloc(&self, pa: PhysAddr, flags: FrameFlags) -> Result<(), FrameRuleError> {
        let d = self.desc(pa);
        let refs = d.refs.swap(1, Ordering::AcqRel);
        if refs != 0 {
            return Err(FrameRuleError::AllocatedInUse { pa, refs });
        }
        d.maps.store(0, Ordering::Relaxed);
        d.pins.store(0, Ordering::Relaxed);
        d.owner.store(0, Ordering::Relaxed);
        d.index.store(0, Ordering::Relaxed);
        d.flags.store(flags.bits(), Ordering::Release);
        Ok(())
    }

    /// Sets the flags and reverse-map owner (object `owner`, page `index`) of a frame the
    /// caller holds.
    pub fn set_owner(&self, pa: PhysAddr, flags: FrameFlags, owner: u64, index: u64) {
        let d = self.desc(pa);
        d.owner.store(owner, Ordering::Relaxed);
        d.index.store(index, Ordering::Relaxed);
        d.flags.store(flags.bits(), Ordering::Release);
    }

    /// Marks the shared zero page: one reference that never goes.
    pub fn mark_zero_page(&self, pa: PhysAddr) {
        self.set_owner(pa, FrameFlags::ZERO, 0, 0);
    }

    /// One more reference on a frame that has at least one.
    pub fn get_ref(&self, pa: PhysAddr) -> Result<(), FrameRuleError> {
        let d = self.desc(pa);
        d.refs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                (r != 0).then_some(r + 1)
            })
            .map(|_| ())
            .map_err(|_| FrameRuleError::NoReference(pa))
    }

    /// Drops a reference. `Last` when it was the last one, and then no mapping or pin may
    /// remain (the frame is about to be freed: DESIGN §7.6); a refused last put changes
    /// nothing.
    pub fn put_ref(&self, pa: PhysAddr) -> Result<Put, FrameRuleError> {
        let d = self.desc(pa);
        let mut refs = d.refs.load(Ordering::Acquire);
        loop {
            if refs == 0 {
                return Err(FrameRuleError::NoReference(pa));
            }
            if refs == 1 {
                if d.flags().contains(FrameFlags::ZERO) {
                    return Err(FrameRuleError::ZeroPageFreed(pa));
                }
                let maps = d.maps();
                if maps != 0 {
                    return Err(FrameRuleError::FreedWhileMapped { pa, maps });
                }
                let pins = d.pins();
                if pins != 0 {
                    return Err(FrameRuleError::FreedWhilePinned { pa, pins });
                }
            }
            match d
                .refs
                .compare_exchange_weak(refs, refs - 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if refs == 1 => {
                    d.flags.store(0, Ordering::Release);
                    return Ok(Put::Last);
                }
                Ok(_) => return Ok(Put::Shared),
                Err(now) => refs = now,
            }
        }
    }

    /// Fork's share of a mapped frame (DESIGN §7.3): one more reference and one more
    /// mapping for the child, in one look-up; `Ok(false)`, nothing changed, if a device
    /// has pinned the frame (the child gets a copy instead). The caller holds the PTL of
    /// an entry that maps the frame (so it has a reference, and no pin can come or go
    /// without that PTL's page being looked up again).
    pub fn share_mapped(&self, pa: PhysAddr) -> Result<bool, FrameRuleError> {
        let d = self.desc(pa);
        if d.pins() > 0 {
            return Ok(false);
        }
        if d.refs.fetch_add(1, Ordering::AcqRel) == 0 {
            d.refs.fetch_sub(1, Ordering::AcqRel);
            return Err(FrameRuleError::NoReference(pa));
        }
        d.maps.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// A page-table entry now maps the frame.
    pub fn add_map(&self, pa: PhysAddr) {
        self.desc(pa).maps.fetch_add(1, Ordering::AcqRel);
    }

    /// A page-table entry that mapped the frame is gone.
    pub fn remove_map(&self, pa: PhysAddr) -> Result<(), FrameRuleError> {
        self.desc(pa)
            .maps
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| m.checked_sub(1))
            .map(|_| ())
            .map_err(|_| FrameRuleError::NotMapped(pa))
    }

    /// A device starts using the frame by physical address (the caller holds a reference).
    pub fn pin(&self, pa: PhysAddr) {
        self.desc(pa).pins.fetch_add(1, Ordering::AcqRel);
    }

    /// The device stopped using it.
    pub fn unpin(&self, pa: PhysAddr) -> Result<(), FrameRuleError> {
        self.desc(pa)
            .pins
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(1))
            .map(|_| ())
            .map_err(|_| FrameRuleError::NotPinned(pa))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn table(descs: &[FrameDesc]) -> FrameTable<'_> {
        let span = PhysRange::new(PhysAddr::new(0x4000_0000), PhysAddr::new(0x4001_0000));
        FrameTable::new(span, descs).unwrap()
    }

    fn descs() -> Vec<FrameDesc> {
        (0..16).map(|_| FrameDesc::default()).collect()
    }

    const A: PhysAddr = PhysAddr::new(0x4000_3000);

    #[test]
    fn the_span_needs_one_descriptor_per_frame() {
        let span = PhysRange::new(PhysAddr::new(0x4000_0000), PhysAddr::new(0x4001_0000));
        let few: Vec<FrameDesc> = (0..15).map(|_| FrameDesc::default()).collect();
        assert!(FrameTable::new(span, &few).is_none());
        assert_eq!(FrameTable::bytes_for(span), PAGE_SIZE);
        let all = descs();
        assert_eq!(table(&all).span(), span);
    }

    #[test]
    fn a_frame_outside_the_span_has_no_descriptor() {
        let d = descs();
        let t = table(&d);
        assert!(t.get(PhysAddr::new(0x3fff_f000)).is_none());
        assert!(t.get(PhysAddr::new(0x4001_0000)).is_none());
        assert!(t.get(PhysAddr::new(0x4000_ffff)).is_some());
    }

    #[test]
    fn the_last_put_frees_and_earlier_ones_do_not() {
        let d = descs();
        let t = table(&d);
        t.on_alloc(A, FrameFlags::ANON).unwrap();
        t.get_ref(A).unwrap();
        assert_eq!(t.put_ref(A), Ok(Put::Shared));
        assert_eq!(t.put_ref(A), Ok(Put::Last));
        assert_eq!(t.put_ref(A), Err(FrameRuleError::NoReference(A)));
        assert_eq!(t.get_ref(A), Err(FrameRuleError::NoReference(A)));
    }

    #[test]
    fn freeing_a_mapped_or_pinned_frame_is_refused() {
        let d = descs();
        let t = table(&d);
        t.on_alloc(A, FrameFlags::ANON).unwrap();
        t.add_map(A);
        assert_eq!(
            t.put_ref(A),
            Err(FrameRuleError::FreedWhileMapped { pa: A, maps: 1 })
        );
        assert_eq!(
            t.get(A).unwrap().refs(),
            1,
            "a refused put keeps the reference"
        );
        t.remove_map(A).unwrap();
        assert_eq!(t.remove_map(A), Err(FrameRuleError::NotMapped(A)));
        assert_eq!(t.put_ref(A), Ok(Put::Last));
    }

    #[test]
    fn fork_shares_a_mapped_frame_unless_pinned_and_never_a_free_one() {
        let d = descs();
        let t = table(&d);
        t.on_alloc(A, FrameFlags::ANON).unwrap();
        t.add_map(A);
        assert_eq!(t.share_mapped(A), Ok(true));
        let desc = t.get(A).unwrap();
        assert_eq!(
            (desc.refs(), desc.maps()),
            (2, 2),
            "the child's reference and mapping"
        );
        t.pin(A);
        assert_eq!(
            t.share_mapped(A),
            Ok(false),
            "a pinned frame is copied instead"
        );
        assert_eq!((desc.refs(), desc.maps()), (2, 2), "and left as it was");
        let b = PhysAddr::new(0x4000_1000);
        assert_eq!(t.share_mapped(b), Err(FrameRuleError::NoReference(b)));
        assert_eq!(t.get(b).unwrap().refs(), 0, "a refused share takes nothing");
    }

    #[test]
    fn a_pinned_frame_is_not_exclusive_and_cannot_be_freed() {
        let d = descs();
        let t = table(&d);
        t.on_alloc(A, FrameFlags::ANON).unwrap();
        t.add_map(A);
        let desc = t.get(A).unwrap();
        assert!(desc.is_exclusive());
        t.pin(A);
        assert!(!desc.is_exclusive());
        t.remove_map(A).unwrap();
        assert_eq!(
            t.put_ref(A),
            Err(FrameRuleError::FreedWhilePinned { pa: A, pins: 1 })
        );
        t.unpin(A).unwrap();
        assert_eq!(t.unpin(A), Err(FrameRuleError::NotPinned(A)));
    }

    #[test]
    fn a_second_mapping_or_reference_ends_exclusivity() {
        let d = descs();
        let t = table(&d);
        t.on_alloc(A, FrameFlags::ANON).unwrap();
        t.add_map(A);
        t.add_map(A);
        t.get_ref(A).unwrap();
        let desc = t.get(A).unwrap();
        assert!(!desc.is_exclusive());
        t.remove_map(A).unwrap();
        assert!(!desc.is_exclusive(), "two references still");
        assert_eq!(t.put_ref(A), Ok(Put::Shared));
        assert!(desc.is_exclusive());
    }

    #[test]
    fn allocating_a_frame_that_has_references_is_refused() {
        let d = descs();
        let t = table(&d);
        t.on_alloc(A, FrameFlags::ANON).unwrap();
        assert_eq!(
            t.on_alloc(A, FrameFlags::ANON),
            Err(FrameRuleError::AllocatedInUse { pa: A, refs: 1 })
        );
    }

    #[test]
    fn the_zero_page_is_never_freed() {
        let d = descs();
        let t = table(&d);
        t.on_alloc(A, FrameFlags::NONE).unwrap();
        t.mark_zero_page(A);
        assert_eq!(t.put_ref(A), Err(FrameRuleError::ZeroPageFreed(A)));
    }

    #[test]
    fn the_owner_is_kept_until_the_frame_is_allocated_again() {
        let d = descs();
        let t = table(&d);
        t.on_alloc(A, FrameFlags::SHARED).unwrap();
        t.set_owner(A, FrameFlags::SHARED, 7, 3);
        assert_eq!(t.get(A).unwrap().owner(), (7, 3));
        assert!(t.get(A).unwrap().flags().contains(FrameFlags::SHARED));
        assert_eq!(t.put_ref(A), Ok(Put::Last));
        assert_eq!(t.get(A).unwrap().flags(), FrameFlags::NONE);
        t.on_alloc(A, FrameFlags::ANON).unwrap();
        assert_eq!(t.get(A).unwrap().owner(), (0, 0));
    }
}
