//! A model MMU: walks the tables from TTBR0/TTBR1 like hardware (hierarchical permissions,
//! AF, EL0/EL1), keeps every translation in a model TLB and every table descriptor in a walk
//! cache until a matching TLBI. Arm ARM (DDI 0487) D8.2, D8.4.1-2, D8.13, C5.5 (TLBI).

use crate::addr::{PhysAddr, VirtAddr, PAGE_SIZE, VA_BITS};
use crate::descriptor::{Ap, ApTable, Descriptor, Level};
use crate::phys::PhysMem;
use crate::tlb::{Asid, RangeOperand, TlbCaps, TlbMaintenance, VaOperand};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::vec::Vec;

/// TLB maintenance and barrier operations, by kind.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TlbiCounts {
    /// TLBI VAE1IS.
    pub va: u64,
    /// TLBI VALE1IS.
    pub va_last_level: u64,
    /// TLBI RVAE1IS.
    pub range: u64,
    /// TLBI RVALE1IS.
    pub range_last_level: u64,
    /// TLBI ASIDE1IS.
    pub asid: u64,
    /// TLBI VMALLE1IS.
    pub all: u64,
    /// DSB ISHST.
    pub dsb_ishst: u64,
    /// DSB ISH.
    pub dsb_ish: u64,
    /// ISB.
    pub isb: u64,
}

impl TlbiCounts {
    /// Every TLBI, whatever its kind.
    pub fn tlbis(&self) -> u64 {
        self.va + self.va_last_level + self.range + self.range_last_level + self.asid + self.all
    }
}

/// What a CPU is running: its TTBRs and current ASID.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// TTBR0_EL1 table root (low half), if any.
    pub ttbr0: Option<PhysAddr>,
    /// TTBR1_EL1 table root (high half), if any.
    pub ttbr1: Option<PhysAddr>,
    /// The ASID (TCR_EL1.A1 = 0: from TTBR0).
    pub asid: Asid,
}

/// Kind of memory access.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// Data read.
    Read,
    /// Data write.
    Write,
    /// Instruction fetch.
    Exec,
}

/// Exception level of the access.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum El {
    /// User.
    El0,
    /// Kernel.
    El1,
}

/// Fault classes (the DFSC/IFSC a real access would report).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Invalid descriptor (or no TTBR for the VA).
    Translation,
    /// AF clear.
    AccessFlag,
    /// Permission fault.
    Permission,
    /// More than one TLB entry matched: a break-before-make violation.
    TlbConflict,
}

/// A fault and the level it was found at.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The class.
    pub kind: FaultKind,
    /// The level of the descriptor that faulted.
    pub level: Level,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Limits {
    no_el0: bool,
    no_write: bool,
    pxn: bool,
    uxn: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Perms {
    el0: [bool; 3],
    el1: [bool; 3],
}

#[derive(Copy, Clone, Debug)]
struct TlbEntry {
    level: Level,
    pa_base: u64,
    perms: Perms,
}

/// TLB key: ASID (`None` = global), level, VA of the entry's first byte.
type TlbKey = (Option<u16>, Level, u64);
/// Walk-cache key: ASID, level of the table descriptor, VA of the region it covers.
type WalkKey = (u16, Level, u64);

#[derive(Default)]
struct State {
    tlb: HashMap<TlbKey, TlbEntry>,
    walk: HashMap<WalkKey, (PhysAddr, Limits)>,
    counts: TlbiCounts,
}

/// The model MMU + TLB. Implements [`TlbMaintenance`] by dropping matching entries.
pub struct ModelMmu<M: PhysMem> {
    mem: M,
    caps: TlbCaps,
    state: RefCell<State>,
    drop_invalidations: Cell<bool>,
}

fn region_base(va: u64) -> Option<bool> {
    match va >> VA_BITS {
        0 => Some(false),
        0xffff => Some(true),
        _ => None,
    }
}

impl<M: PhysMem> ModelMmu<M> {
    /// A model over `mem` for a CPU with `caps`, TLB empty.
    pub fn new(mem: M, caps: TlbCaps) -> Self {
        Self {
            mem,
            caps,
            state: RefCell::default(),
            drop_invalidations: Cell::new(false),
        }
    }

    /// Negative control: when set, TLBIs are counted but do nothing (a "forgotten" TLBI).
    pub fn set_drop_invalidations(&self, drop: bool) {
        self.drop_invalidations.set(drop);
    }

    /// Operations so far.
    pub fn counts(&self) -> TlbiCounts {
        self.state.borrow().counts
    }

    /// Entries in the model TLB.
    pub fn tlb_len(&self) -> usize {
        self.state.borrow().tlb.len()
    }

    /// Translates and permission-checks one access, TLB first; a walk fills the TLB and the
    /// walk cache. Several matching TLB entries report `TlbConflict`.
    pub fn access(
        &self,
        ctx: &Context,
        va: VirtAddr,
        kind: AccessKind,
        el: El,
    ) -> Result<PhysAddr, Fault> {
        let v = va.as_u64();
        let hits: Vec<TlbEntry> = {
            let st = self.state.borrow();
            [Level::L3, Level::L2, Level::L1]
                .into_iter()
                .flat_map(|l| {
                    let base = v & !(l.size() - 1);
                    [Some(ctx.asid.get()), None].map(|a| st.tlb.get(&(a, l, base)).copied())
                })
                .flatten()
                .collect()
        };
        let entry = match hits.as_slice() {
            [e] => *e,
            [] => self.walk_and_fill(ctx, v)?,
            [e, ..] => {
                return Err(Fault {
                    kind: FaultKind::TlbConflict,
                    level: e.level,
                })
            }
        };
        let allowed = match el {
            El::El0 => entry.perms.el0,
            El::El1 => entry.perms.el1,
        };
        let k = match kind {
            AccessKind::Read => 0,
            AccessKind::Write => 1,
            AccessKind::Exec => 2,
        };
        if !allowed[k] {
            return Err(Fault {
                kind: FaultKind::Permission,
                level: entry.level,
            });
        }
        Ok(PhysAddr::new(
            entry.pa_base + (v & (entry.level.size() - 1)),
        ))
    }

    /// A walk from memory, using and filling the walk cache, then the TLB.
    fn walk_and_fill(&self, ctx: &Context, va: u64) -> Result<TlbEntry, Fault> {
        let translation_fault = |level| Fault {
            kind: FaultKind::Translation,
            level,
        };
        let upper = region_base(va).ok_or(translation_fault(Level::L0))?;
        let root = if upper { ctx.ttbr1 } else { ctx.ttbr0 }.ok_or(translation_fault(Level::L0))?;
        let asid = ctx.asid.get();
        let mut table = root;
        let mut limits = Limits::default();
        let mut start = Level::L0;
        {
            let st = self.state.borrow();
            for l in [Level::L2, Level::L1, Level::L0] {
                if let Some(&(t, lim)) = st.walk.get(&(asid, l, va & !(l.size() - 1))) {
                    (table, limits, start) = (t, lim, l.next().expect("tables above L3"));
                    break;
                }
            }
        }
        let off = va & ((1 << VA_BITS) - 1);
        for level in Level::ALL.into_iter().filter(|l| *l >= start) {
            let d = Descriptor::from_bits(self.mem.read_word(table, level.index(off)));
            if !d.is_valid() {
                return Err(translation_fault(level));
            }
            if d.is_table(level) {
                let ta = d.table_attrs();
                limits.pxn |= ta.pxn_table;
                limits.uxn |= ta.uxn_table;
                limits.no_el0 |= matches!(ta.ap_table, ApTable::NoEl0 | ApTable::NoWriteNoEl0);
                limits.no_write |= matches!(ta.ap_table, ApTable::NoWrite | ApTable::NoWriteNoEl0);
                table = d.output_address();
                let key = (asid, level, va & !(level.size() - 1));
                self.state.borrow_mut().walk.insert(key, (table, limits));
                continue;
            }
            let is_page = d.bits() & 0b10 != 0;
            if !level.holds_leaves() || (level == Level::L3) != is_page {
                return Err(translation_fault(level));
            }
            let a = d.leaf_attrs();
            if !a.af {
                return Err(Fault {
                    kind: FaultKind::AccessFlag,
                    level,
                });
            }
            let el0 = matches!(a.ap, Ap::Rw | Ap::Ro) && !limits.no_el0;
            let ro = matches!(a.ap, Ap::PrivRo | Ap::Ro) || limits.no_write;
            let perms = Perms {
                el0: [el0, el0 && !ro, !a.uxn && !limits.uxn],
                // Memory writable at EL0 is never executable at EL1.
                el1: [true, !ro, !a.pxn && !limits.pxn && a.ap != Ap::Rw],
            };
            let entry = TlbEntry {
                level,
                pa_base: d.output_address().as_u64(),
                perms,
            };
            let tag = if a.ng { Some(asid) } else { None };
            self.state
                .borrow_mut()
                .tlb
                .insert((tag, level, va & !(level.size() - 1)), entry);
            return Ok(entry);
        }
        unreachable!("L3 ends every walk")
    }

    fn count(&self, f: impl FnOnce(&mut TlbiCounts)) -> bool {
        f(&mut self.state.borrow_mut().counts);
        !self.drop_invalidations.get()
    }

    /// Drops TLB entries (and walk-cache entries unless `last_level_only`) of `asid` or
    /// global whose span meets `[start, end)` and whose level matches `ttl`.
    fn drop_range(
        &self,
        asid: u16,
        start: u64,
        end: u64,
        ttl: Option<Level>,
        last_level_only: bool,
    ) {
        let mut st = self.state.borrow_mut();
        let meets = |level: Level, base: u64| base < end && start < base + level.size();
        st.tlb.retain(|&(a, level, base), _| {
            let asid_match = a.is_none() || a == Some(asid);
            let level_match = ttl.is_none_or(|t| t == level);
            !(asid_match && level_match && meets(level, base))
        });
        if !last_level_only {
            st.walk
                .retain(|&(a, level, base), _| !(a == asid && meets(level, base)));
        }
    }
}

impl<M: PhysMem> TlbMaintenance for ModelMmu<M> {
    fn caps(&self) -> TlbCaps {
        self.caps
    }

    fn invalidate_va(&self, op: VaOperand, last_level_only: bool) {
        assert!(
            self.caps.ttl_hint || op.ttl().is_none(),
            "TTL hint written without FEAT_TTL: {op:?}"
        );
        if self.count(|c| {
            if last_level_only {
                c.va_last_level += 1
            } else {
                c.va += 1
            }
        }) {
            let va = op.va().as_u64();
            self.drop_range(
                op.asid().get(),
                va,
                va + PAGE_SIZE,
                op.ttl(),
                last_level_only,
            );
        }
    }

    fn invalidate_range(&self, op: RangeOperand, last_level_only: bool) {
        assert!(
            self.caps.range_ops,
            "TLBI RVA*E1IS is UNDEFINED without FEAT_TLBIRANGE"
        );
        assert!(op.granule_is_4k(), "range TLBI with the wrong TG: {op:?}");
        if self.count(|c| {
            if last_level_only {
                c.range_last_level += 1
            } else {
                c.range += 1
            }
        }) {
            let start = op.base().as_u64();
            self.drop_range(
                op.asid().get(),
                start,
                start + op.pages() * PAGE_SIZE,
                op.ttl(),
                last_level_only,
            );
        }
    }

    fn invalidate_asid(&self, asid: Asid) {
        if self.count(|c| c.asid += 1) {
            let mut st = self.state.borrow_mut();
            st.tlb.retain(|&(a, _, _), _| a != Some(asid.get()));
            st.walk.retain(|&(a, _, _), _| a != asid.get());
        }
    }

    fn invalidate_all(&self) {
        if self.count(|c| c.all += 1) {
            let mut st = self.state.borrow_mut();
            st.tlb.clear();
            st.walk.clear();
        }
    }

    fn dsb_ishst(&self) {
        self.count(|c| c.dsb_ishst += 1);
    }

    fn dsb_ish(&self) {
        self.count(|c| c.dsb_ish += 1);
    }

    fn isb(&self) {
        self.count(|c| c.isb += 1);
    }
}
