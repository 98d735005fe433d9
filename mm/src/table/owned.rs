//! Which mapping owns a frame: the software bit `SW_OWNED` of a leaf says that unmapping
//! it frees the frame. Moving a page to another address (mremap) hands the mark from the
//! old leaf to the new one. The bit is ignored by the hardware walker (Arm ARM D8.3.2,
//! "software use" bits \[58:55\]), so changing it needs no break-before-make and no TLBI.

use super::{MapError, PageTable};
use crate::addr::{VaRange, VirtAddr, PAGE_SIZE};
use crate::descriptor::{Descriptor, Level, SW_OWNED};
use crate::frame::FrameSource;
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// Sets (`owned`) or clears the owned mark of the page mapped at `va` and returns
    /// whether it was set before. `NotMapped` if no 4 KiB page maps `va` (a block is not
    /// handed over page by page). Changes nothing else in the descriptor.
    pub fn set_owned(&mut self, va: VirtAddr, owned: bool) -> Result<bool, MapError> {
        let page = self.offsets(VaRange::new(va, va.add(PAGE_SIZE)))?;
        let Some(f) = self.find(page.start).filter(|f| f.level == Level::L3) else {
            return Err(MapError::NotMapped(va));
        };
        let (d, was) = (f.descriptor, f.descriptor.is_owned());
        let bits = if owned {
            d.bits() | SW_OWNED
        } else {
            d.bits() & !SW_OWNED
        };
        f.table.set(f.index, Descriptor::from_bits(bits));
        match (was, owned) {
            (false, true) => self.owned_pages += 1,
            (true, false) => self.owned_pages -= 1,
            _ => {}
        }
        Ok(was)
    }
}
