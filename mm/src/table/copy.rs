//! `copy_pages_to` on the walk: fork's copy of a range of pages into another table tree
//! (Linux's `copy_page_range`, one pass per L3 table as `copy_pte_range`). For each page of
//! the source the caller decides: the child maps nothing, the same frame (copy-on-write:
//! both entries read-only), or a frame of its own. The child's L3 table is reached once per
//! 2 MiB and its entries are written in the same loop that reads the source's, so a range
//! of pages costs one descent per table, not one per page. Arm ARM (DDI 0487) D8.4.1
//! (AP\[2\]: read-only), D8.16.1 (a permission change needs no break-before-make).

use super::edit::{Changed, Editor};
use super::raw::TableRef;
use super::walk::{walk, Entry, Offset, Span, Step, Visitor};
use super::{MapError, PageTable};
use crate::addr::{PhysAddr, VaRange, VirtAddr};
use crate::descriptor::{Descriptor, Level};
use crate::frame::FrameSource;
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::tlb::TlbMaintenance;
use core::convert::Infallible;
use core::ops::ControlFlow;

/// One present page of the source, as the caller's decision sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SourcePage {
    /// Its VA (the same in the child).
    pub va: VirtAddr,
    /// The frame it maps.
    pub pa: PhysAddr,
    /// Its descriptor.
    pub descriptor: Descriptor,
}

/// What the child gets for one page of the source.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PageCopy {
    /// Nothing: the child faults the page in on its own.
    Skip,
    /// The same frame with the same descriptor (ownership bit included). With `cow`, a
    /// writable page becomes read-only in both trees: the source's change is noted in the
    /// gather, whose flush invalidates it.
    Share {
        /// Copy-on-write: write-protect both entries.
        cow: bool,
    },
    /// This frame (a copy the caller made), owned by the child's tree, with the source's
    /// attributes.
    Own(PhysAddr),
}

/// What [`PageTable::copy_pages_to`] did.
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    /// Pages the child now maps.
    pub pages: u64,
    /// Source pages made read-only (noted in the gather): non-zero means the caller must
    /// flush the gather and drop secondary TLBs' writable translations of the range.
    pub write_protected: u64,
    /// Why the copy stopped early (no frame for a child table, a block in the source, or
    /// the caller's own error). Everything done before it stays done and counted: the
    /// pages the child maps, the source entries made read-only (still in the gather).
    pub error: Option<MapError>,
}

/// The pass: the source's walk, the child's L3 table beside it.
struct CopyPass<'a, M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource, D> {
    tree: Editor<'a, M, A>,
    gather: &'a mut Gather<M>,
    child: &'a mut PageTable<M, A, F>,
    /// The child's L3 table for the source table being walked.
    into: Option<TableRef>,
    decide: D,
    /// Set once the copy fails: every later entry is passed over, but the tables already
    /// walked still reach `leave` (their changed entries must be noted).
    failed: Option<MapError>,
    pages: u64,
    owned: u64,
    write_protected: u64,
    global: bool,
}

impl<M, A, F, D> Visitor for CopyPass<'_, M, A, F, D>
where
    M: PhysMem + Clone,
    A: TlbMaintenance,
    F: FrameSource,
    D: FnMut(&SourcePage) -> Result<PageCopy, MapError>,
{
    type Stop = Infallible;
    type PerTable = Changed;

    #[inline(always)]
    fn table(&mut self, at: &Entry, d: Descriptor, _: &mut Changed) -> Step<Infallible> {
        if self.failed.is_some() {
            return Step::Next;
        }
        if at.level == Level::L2 {
            match self.child.l3_table_for(at.span.start) {
                Ok(t) => self.into = Some(t),
                Err(e) => {
                    self.failed = Some(e);
                    return Step::Next;
                }
            }
        }
        Step::Descend(d.output_address())
    }

    #[inline(always)]
    fn leaf(&mut self, at: &Entry, d: Descriptor, acc: &mut Changed) -> Step<Infallible> {
        if self.failed.is_some() {
            return Step::Next;
        }
        if at.level != Level::L3 {
            self.failed = Some(MapError::Block(self.tree.va_range(at.span)));
            return Step::Next;
        }
        let into = self
            .into
            .expect("an L3 table is entered through its L2 entry");
        if into.get(at.index).is_valid() {
            self.failed = Some(MapError::Overlap {
                existing: self.tree.va_range(at.span),
                requested: self.tree.va_range(at.span),
            });
            return Step::Next;
        }
        let page = SourcePage {
            va: self.tree.region.va(at.span.start),
            pa: d.output_address(),
            descriptor: d,
        };
        let new = match (self.decide)(&page) {
            Err(e) => {
                self.failed = Some(e);
                return Step::Next;
            }
            Ok(PageCopy::Skip) => return Step::Next,
            Ok(PageCopy::Share { cow }) if cow && d.is_writable() => {
                let ro = d.read_only();
                at.set(ro);
                acc.add(at.index, d.is_global());
                self.write_protected += 1;
                ro
            }
            Ok(PageCopy::Share { .. }) => d,
            Ok(PageCopy::Own(pa)) => Descriptor::from_bits(
                d.with_output_address(pa).bits() | crate::descriptor::SW_OWNED,
            ),
        };
        into.set(at.index, new);
        self.pages += 1;
        self.owned += new.is_owned() as u64;
        self.global |= new.is_global();
        Step::Next
    }

    #[inline(always)]
    fn leave(&mut self, _: TableRef, level: Level, range: Span, acc: Changed) {
        acc.note(&self.tree, level, range, self.gather);
    }
}

impl<M: PhysMem + Clone, A: TlbMaintenance, F: FrameSource> PageTable<M, A, F> {
    /// Fork's copy of the pages of `range` into `child` (a tree of the same region, which
    /// maps nothing there): `decide` says, page by page, what the child gets
    /// ([`PageCopy`]); it runs with this table's lock held and must not sleep. Source pages
    /// made read-only are noted in `gather`: flush it (and drop secondary TLBs' writable
    /// translations) before the lock goes. Blocks are not copied ([`MapError::Block`]):
    /// areas that may hold them are mapped again instead.
    pub fn copy_pages_to<D>(
        &mut self,
        child: &mut PageTable<M, A, F>,
        range: VaRange,
        gather: &mut Gather<M>,
        decide: D,
    ) -> Copied
    where
        D: FnMut(&SourcePage) -> Result<PageCopy, MapError>,
    {
        let mut done = Copied {
            pages: 0,
            write_protected: 0,
            error: None,
        };
        let r = match self.offsets(range) {
            Ok(r) => r,
            Err(e) => {
                done.error = Some(e);
                return done;
            }
        };
        if child.region != self.region {
            done.error = Some(MapError::OutOfRange {
                requested: range,
                limit: child.region.range(),
            });
            return done;
        }
        let mut pass = CopyPass {
            tree: Editor {
                mem: &self.mem,
                arch: &self.arch,
                asid: self.asid,
                region: self.region,
            },
            gather,
            child,
            into: None,
            decide,
            failed: None,
            pages: 0,
            owned: 0,
            write_protected: 0,
            global: false,
        };
        let ControlFlow::Continue(()) = walk(&self.mem, self.root, Level::L0, r, &mut pass);
        let child = pass.child;
        child.owned_pages += pass.owned;
        child.has_global |= pass.global;
        // The child's new entries were invalid before: no TLBI, but they must reach its
        // walkers before it runs.
        child.arch.dsb_ishst();
        child.arch.isb();
        Copied {
            pages: pass.pages,
            write_protected: pass.write_protected,
            error: pass.failed,
        }
    }

    /// The L3 table that translates offset `off`, made (with the tables above it) where it
    /// is missing: each zeroed, then linked. `Overlap` if a block covers `off`; on
    /// `OutOfFrames` the tables made before stay linked (empty, as a map's would after an
    /// unmap).
    fn l3_table_for(&mut self, off: Offset) -> Result<TableRef, MapError> {
        let mut table = TableRef::new(&self.mem, self.root);
        let mut level = Level::L0;
        while let Some(next) = level.next() {
            let index = level.index(off.get());
            let d = table.get(index);
            let below = if d.is_table(level) {
                d.output_address()
            } else if d.is_valid() {
                let at = Span::entry(level, off.entry_start(level));
                return Err(MapError::Overlap {
                    existing: self.region.va_range(at),
                    requested: self.region.va_range(Span::page(off)),
                });
            } else {
                let new = self.frames.alloc()?.start();
                self.mem.fill_frame(new, 0);
                // The zeroed table reaches every walker before the entry that links it.
                self.arch.dsb_ishst();
                table.set(index, Descriptor::new_table(new, Default::default()));
                new
            };
            table = TableRef::new(&self.mem, below);
            level = next;
        }
        Ok(table)
    }
}
