//! Address spaces (DESIGN.md §1): a user page table (TTBR0) with its ASID,
//! the areas laid out in it, and the two lock levels. `mmap_lock` (a
//! sleepable `RwSemaphore`) guards the layout and the notifier list and is
//! held for write by every layout change; the PTL (a `SpinLock`) guards the
//! page table and is held only while descriptors are walked or written, with
//! the CPU TLBI and the notifiers' atomic hook inside it.
//!
//! One PTL per address space, not per table page: every change here edits a
//! VA range under one `mmap_lock` writer, so a split PTL would only let
//! faults on distinct table pages of one address space run in parallel with
//! each other, at the cost of a lock per table page and of taking several
//! locks (in address order) for every range operation.
mod anon;
mod checks;
mod cow;
mod fault;
mod fork;
mod object;
mod ops;
mod remap;
pub mod rmap;
#[cfg(feature = "notifiers")]
mod subscription;

pub use anon::AnonObject;
pub use checks::KernelChecks;
pub use fault::{handle_page_fault, zero_frame, zero_page, FaultError};
pub use fork::SHARE_PINNED_FOR_TEST;
pub use object::{lookup, Mappers, Object, Objects, Registered, SharedObject};
pub use ops::{AsError, AuditError};
pub use remap::{munmap_range, RemapError, RemapRequest};
#[cfg(feature = "notifiers")]
pub use subscription::Subscription;

use crate::task::activation::{self, Activation};
use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::mmu::KernelFrames;
use crate::sync::{RwSemaphore, SpinLock, MMAP_LOCK, PTL};
use crate::{arch, mem::KERNEL_VA_OFFSET, percpu};
use mm::notifier::Notifiers;
use mm::phys::LinearMem;
use mm::vma::Vmas;
use mm::{Aarch64Tlb, AsidAllocator, AsidBits, AsidTag, PageTable, VaRange, VaRegion, VirtAddr};

/// The user half of the VA space (TTBR0, 48 bits; the first page stays unmapped).
pub const USER_RANGE: VaRange = VaRange::new(VirtAddr::new(0x1000), VirtAddr::new(1 << 48));
/// Where `Anywhere` mappings start.
pub const MMAP_BASE: VirtAddr = VirtAddr::new(0x10_0000_0000);

/// The user page table type.
pub type UserTable = PageTable<LinearMem, Aarch64Tlb, KernelFrames>;

/// What `mmap_lock` guards.
pub struct Layout {
    /// The areas (VMAs) of the user half, sorted and disjoint.
    pub vmas: Vmas,
    /// The MMU notifier subscribers (the SMMU contexts that share the table).
    pub notifiers: Notifiers,
    /// The shared objects the areas name.
    pub objects: Objects<SharedObject>,
    /// The anonymous objects the areas carry.
    pub anon: Objects<AnonObject>,
}

/// What the PTL guards.
pub struct Tables {
    /// Taken apart only by `Drop for AddressSpace`.
    pub pt: ManuallyDrop<UserTable>,
    /// The ASID and its allocator generation; refreshed on install after a rollover.
    pub asid: AsidTag,
}

/// Event counts, for the self-check and benchmarks.
#[derive(Default)]
pub struct Stats {
    /// Page faults that mapped a page (demand paging); a fault another CPU
    /// resolved first is not counted.
    pub faults: AtomicU64,
    /// Layout changes carried out through `AddressSpace::change` (unmap,
    /// protect, advise, ...).
    pub changes: AtomicU64,
    /// Copy-on-write faults that copied the page to a frame of its own.
    pub cow_copied: AtomicU64,
    /// Copy-on-write faults that found the frame exclusive and made it writable in place.
    pub cow_reused: AtomicU64,
}

/// One address space.
pub struct AddressSpace {
    pub(crate) mmap_lock: RwSemaphore<Layout>,
    pub(crate) ptl: SpinLock<Tables>,
    /// CPUs where it is installed in TTBR0 (bit per CPU).
    active: AtomicU64,
    /// Event counts.
    pub stats: Stats,
    /// Itself, for the mapper lists of the objects its areas name; set once the address
    /// space is built ([`publish`](Self::publish)).
    me: spin::Once<Weak<AddressSpace>>,
}

static ASIDS: spin::Once<SpinLock<AsidAllocator<{ percpu::MAX_CPUS }>>> = spin::Once::new();

fn asids() -> &'static SpinLock<AsidAllocator<{ percpu::MAX_CPUS }>> {
    ASIDS.call_once(|| {
        // The width the MMU uses: TCR_EL1.AS (set at boot from the CPU's
        // ASIDBits, cleared by the `asid8` feature).
        let bits = if arch::tcr_el1() & (1 << 36) != 0 {
            AsidBits::Sixteen
        } else {
            AsidBits::Eight
        };
        SpinLock::new(AsidAllocator::new(bits))
    })
}

/// The ASID allocator's state, for tests and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsidStats {
    /// The ASID width the MMU uses (TCR_EL1.AS).
    pub bits: AsidBits,
    /// The current generation (bumped at each rollover).
    pub generation: u64,
    /// Rollovers since boot: every ASID of a generation was handed out.
    pub rollovers: u64,
    /// ASIDs still free in this generation.
    pub free: u32,
}

/// Address spaces created and not yet torn down.
static LIVE: AtomicU64 = AtomicU64::new(0);

/// How many address spaces exist (created, not yet dropped): a leak check
/// for the soak (each holds an ASID tag, its tables and its frames).
pub fn live_count() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

/// A snapshot of the ASID allocator.
pub fn asid_stats() -> AsidStats {
    let a = asids().lock();
    AsidStats {
        bits: a.bits(),
        generation: a.generation(),
        rollovers: a.rollovers(),
        free: a.free(),
    }
}

impl AddressSpace {
    /// An empty address space (no areas, an empty page table).
    pub fn new() -> Result<Arc<Self>, AsError> {
        Ok(Self::unpublished()?.publish())
    }

    /// An empty address space that is not yet [published](Self::publish): its one owner
    /// may fill it through `Arc::get_mut` (fork), with no lock.
    fn unpublished() -> Result<Arc<Self>, AsError> {
        crate::sync::might_sleep();
        // SAFETY: all RAM is mapped at `pa + KERNEL_VA_OFFSET` by the kernel tables.
        let mem = unsafe { LinearMem::new(KERNEL_VA_OFFSET) };
        let pt = PageTable::new(
            mem,
            Aarch64Tlb::detect(),
            KernelFrames,
            VaRegion::Lower,
            mm::Asid::new(1),
        )
        .map_err(AsError::Map)?;
        LIVE.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(Self {
            mmap_lock: RwSemaphore::new_in(
                &MMAP_LOCK,
                Layout {
                    vmas: Vmas::new(USER_RANGE, MMAP_BASE),
                    notifiers: Notifiers::new(),
                    objects: Objects::default(),
                    anon: Objects::default(),
                },
            ),
            ptl: SpinLock::new_in(
                &PTL,
                Tables {
                    pt: ManuallyDrop::new(pt),
                    asid: AsidTag::default(),
                },
            ),
            active: AtomicU64::new(0),
            stats: Stats::default(),
            me: spin::Once::new(),
        }))
    }

    /// Records the address space's own weak reference (for the objects' mapper lists): from
    /// now on it may be shared.
    fn publish(self: Arc<Self>) -> Arc<Self> {
        self.me.call_once(|| Arc::downgrade(&self));
        self
    }

    /// A weak reference to itself, for an object's mapper list.
    pub(crate) fn weak(&self) -> Weak<AddressSpace> {
        self.me
            .get()
            .expect("an address space in use is published")
            .clone()
    }

    /// The address-space lock (sleepable; write for layout changes).
    pub fn mmap_lock(&self) -> &RwSemaphore<Layout> {
        &self.mmap_lock
    }

    /// The page-table lock (atomic).
    pub fn ptl(&self) -> &SpinLock<Tables> {
        &self.ptl
    }

    /// CPUs where it is installed now (bit per CPU).
    pub fn active_cpus(&self) -> u64 {
        self.active.load(Ordering::Acquire)
    }

    /// Translation of `va` in the page table (under the PTL).
    pub fn translate(&self, va: VirtAddr) -> Option<mm::PhysAddr> {
        self.ptl.lock().pt.translate(va).map(|t| t.pa)
    }

    /// The physical address behind `va` and whether user mode may write it;
    /// `None` unless user mode may at least read it (a `PROT_NONE` page too).
    pub fn translate_access(&self, va: VirtAddr) -> Option<(mm::PhysAddr, bool)> {
        let t = self.ptl.lock().pt.translate(va)?;
        let a = t.attributes().filter(|a| a.user)?;
        Some((t.pa, a.access.writable()))
    }

    /// Whether a device access to `va` (`write` or read) must go through the
    /// CPU's fault path first (a driver's fault-in, as Linux's GUP; DESIGN.md
    /// §7.4): the page is not mapped, or a write finds it mapped read-only in
    /// a private area that allows writing. That is the shared zero page or a
    /// frame shared copy-on-write after a fork: a CPU write would fault and
    /// break copy-on-write (the zero page replaced by a frame of the page's
    /// own, a shared frame copied or taken over in place), and the device must
    /// get the same frame the CPU would write. The SMMU cannot fault for it
    /// (no stall, no PRI: its write to a read-only descriptor is aborted as
    /// `F_PERMISSION`), so the driver faults with write intent first. A page
    /// the area keeps from the access (a read-only area, `PROT_NONE`) is left
    /// alone: refusing it is the device translation's job (an SMMU permission
    /// or access fault). Sleepable: `mmap_lock` for read (the area decides
    /// what a read-only page means), then the PTL.
    pub fn needs_fault_for_device(&self, va: VirtAddr, write: bool) -> bool {
        let layout = self.mmap_lock.read();
        self.needs_fault_for_device_in(&layout, va, write)
    }

    /// [`needs_fault_for_device`](Self::needs_fault_for_device) with
    /// `mmap_lock` held for read by the caller (`layout`). Takes only the
    /// PTL, so a caller may ask under a spinlock it took after `mmap_lock`
    /// (a driver claiming a buffer against its invalidation windows).
    pub fn needs_fault_for_device_in(&self, layout: &Layout, va: VirtAddr, write: bool) -> bool {
        let Some(t) = self.ptl.lock().pt.translate(va) else {
            return true;
        };
        if !write || t.attributes().is_some_and(|a| a.access.writable()) {
            return false;
        }
        layout
            .vmas
            .find(va)
            .is_some_and(|v| v.kind.is_anon_private() && v.prot.write)
    }

    /// Physical address of the page table's root (for an IOMMU context that
    /// shares the table).
    pub fn root(&self) -> mm::PhysAddr {
        self.ptl.lock().pt.root()
    }

    /// Page-table pages the table holds now.
    pub fn table_pages(&self) -> u64 {
        self.ptl.lock().pt.table_pages()
    }
}

impl Activation for AddressSpace {
    /// Installs this address space in TTBR0 on the calling CPU (IRQs masked
    /// by the caller): takes an ASID of the current generation and writes
    /// TTBR0 inside the allocator's lock, so that the allocator's record of
    /// what this CPU runs changes only together with TTBR0 (a rollover on
    /// another CPU keeps exactly the ASIDs some TTBR0 holds).
    fn install_here(&self) {
        crate::sync::validate::assert_irqs_masked("installing an address space in TTBR0");
        let cpu = arch::cpu_id();
        let mut t = self.ptl.lock();
        let Tables { pt, asid } = &mut *t;
        let table = &**pt;
        let id = asids().lock().switch(cpu, asid, table.arch(), |id| {
            arch::mmu::set_ttbr0(Some(table.ttbr_for(id)))
        });
        pt.set_asid(id);
        drop(t);
        self.active.fetch_or(1 << cpu, Ordering::AcqRel);
    }

    fn uninstall_here(&self) {
        self.active
            .fetch_and(!(1 << arch::cpu_id()), Ordering::AcqRel);
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// Makes `aspace` the one the current task uses: installed now and again
/// whenever the scheduler switches back to the task. The previous one is
/// dropped here (sleepable: the last reference tears it down).
pub fn use_in_current_task(aspace: Option<Arc<AddressSpace>>) {
    drop(activation::set_current(
        aspace.map(|a| a as Arc<dyn Activation>),
    ));
}

/// The current task's address space, if it has one. Read from the task's
/// own reference, not from what this CPU has installed: the task may be
/// preempted and migrated at any point, and another CPU's installed address
/// space belongs to whatever task that CPU runs now (and may be freed once
/// that task lets it go). Only the task itself changes its reference, so the
/// count taken here cannot race with the last one going away.
pub fn current() -> Option<Arc<AddressSpace>> {
    activation::current()?
        .into_any()
        .downcast::<AddressSpace>()
        .ok()
}

impl Drop for AddressSpace {
    /// Teardown (the last reference is gone, so nobody else can reach it):
    /// each subscriber's `release` runs once, then every mapping, frame and
    /// table page is freed after the ASID's TLB entries are invalidated.
    /// Sleepable: `release` may wait for devices.
    fn drop(&mut self) {
        self.mmap_lock.get_mut().notifiers.release(&KernelChecks);
        LIVE.fetch_sub(1, Ordering::Relaxed);
        let t = self.ptl.get_mut();
        // SAFETY: `pt` is never used again after this.
        let pt = unsafe { ManuallyDrop::take(&mut t.pt) };
        let mut g = pt.gather();
        let (_, arch, mut frames) = pt.destroy(&mut g);
        let flushed = g.flush(&arch);
        if let Err(e) = flushed.release(&mut frames) {
            panic!("address space teardown: {:?}", e);
        }
    }
}
