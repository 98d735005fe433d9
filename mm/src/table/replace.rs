//! One page's leaf switched to another frame, as a copy-on-write break does (DESIGN.md §7.3,
//! Linux's `wp_page_copy` with `ptep_clear_flush` and `set_pte_at`): the old leaf is written
//! invalid, the page's TLB entries are invalidated on every CPU (TLBI by VA and ASID, DSB
//! ISH), the devices drop theirs (`on_break`, the notifier's atomic hook), and only then is
//! the new leaf written. A PTE never points at a different frame without being cleared and
//! invalidated in between (Arm ARM D8.16.1; Linux `mmu_notifier.rst`, case B).
//!
//! Nothing is freed here: the old descriptor is returned, and the caller drops the old
//! frame's mapping and reference after the PTL (the TLBI has completed by then).

use super::edit::Editor;
use super::{MapError, PageTable};
use crate::addr::{PhysAddr, VaRange, VirtAddr, PAGE_SIZE};
use crate::attrs::Attributes;
use crate::descriptor::{Descriptor, Level, LEAF_ATTR_MASK, SW_OWNED};
use crate::frame::FrameSource;
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// Replaces the 4 KiB leaf at `va`, if it still maps `expect`, by one mapping `pa` with
    /// `attrs` (`owned`: an unmap frees it), break-before-make with `on_break` between the
    /// invalidation and the new entry. Returns the old descriptor; `Ok(None)` and nothing
    /// changed when the page is not mapped by a 4 KiB leaf of `expect` any more (another
    /// CPU got there first). Needs no frame: the leaf's table stays.
    pub fn replace_page(
        &mut self,
        va: VirtAddr,
        expect: PhysAddr,
        pa: PhysAddr,
        attrs: Attributes,
        owned: bool,
        on_break: &mut dyn FnMut(VaRange),
    ) -> Result<Option<Descriptor>, MapError> {
        attrs.validate()?;
        if !pa.is_aligned(PAGE_SIZE) {
            return Err(MapError::MisalignedPhys(pa));
        }
        let page = self.offsets(VaRange::new(va, va.add(PAGE_SIZE)))?;
        let found = self.find(page.start).filter(|f| {
            f.level == Level::L3
                && f.descriptor.is_valid()
                && f.descriptor.output_address() == expect
        });
        let Some(f) = found else {
            return Ok(None);
        };
        let old = f.descriptor;
        f.table.set(f.index, Descriptor::from_bits(0));
        let editor = Editor {
            mem: &self.mem,
            arch: &self.arch,
            asid: self.asid,
            region: self.region,
        };
        let range = editor.invalidate_now(page, Level::L3, true, old.is_global(), Some(Level::L3));
        on_break(range);
        let bits = (attrs.bits() & LEAF_ATTR_MASK) | if owned { SW_OWNED } else { 0 };
        f.table.set(
            f.index,
            Descriptor::from_bits(Descriptor::leaf_bits(Level::L3, pa.as_u64(), bits)),
        );
        match (old.is_owned(), owned) {
            (true, false) => self.owned_pages -= 1,
            (false, true) => self.owned_pages += 1,
            _ => {}
        }
        self.has_global |= attrs.global;
        self.arch.dsb_ishst();
        self.arch.isb();
        Ok(Some(old))
    }
}
