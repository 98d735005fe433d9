//! The SMMUv3 in front of PCIe (DT `arm,smmu-v3`; Arm IHI 0070): brought up
//! abort-by-default, then contexts that share a CPU page table, IOTLB
//! invalidation for the MMU notifier's atomic hook, and the event queue
//! drained by its interrupt.
//!
//! ASIDs are the SMMU's own, not the CPU's. Sharing the CPU's ASID only pays
//! with broadcast TLB maintenance (IDR0.BTM): then the CPU's `TLBI ...IS`
//! also cleans the SMMU's TLB. Linux's first SVA code for SMMUv3 shared the
//! mm's ASID, which needed the arm64 ASID allocator to *pin* that ASID (so a
//! rollover cannot hand it to another mm while a device uses it) and
//! `arm_smmu_share_asid` to move a private SMMU domain that already held the
//! same ASID onto a new one, rewriting its CD live. Without BTM the driver
//! must send TLBI commands from the notifier anyway, so none of that buys
//! anything; later Linux versions give SVA domains an SMMU-private ASID when
//! BTM is in use (the sharing path remains only for BTM, which that driver
//! does not turn on). QEMU has no BTM, and the Pi has no SMMU: we take a
//! private ASID (CD.ASET = 1, CR2.PTM = 1), so CPU rollovers never touch
//! the SMMU and the SMMU's TLB changes only by our commands.
mod events;
mod invalidate;

use super::{dt, DevError};
use crate::irq;
use crate::mem::phys_to_virt;
use crate::mmu::KernelFrames;
use crate::sync::{SpinLock, SpinLockIrq};
use aarch64_cpu::registers::TCR_EL1;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use drivers::dma::DmaPage;
use drivers::pci::dt::{GicIrq, Trigger};
use drivers::smmuv3::cd::{self, CdState, Stage1Context};
use drivers::smmuv3::cmd::{Command, InvalidationForm};
use drivers::smmuv3::{
    AsidPool, CdTable, Clock, CommandQueue, EventLog, EventQueue, Features, Smmu, SmmuAsid,
    SmmuError, StreamConfig, StreamId, StreamTable, Submitted,
};
use drivers::timer;
use events::Events;
pub use events::EVENT_LOG;
use fdt::Fdt;
use mm::notifier::AtomicCtx;
use mm::tlb::{Invalidator, PER_VA_LIMIT};
use mm::{FrameSource, PhysAddr, VaRange};
use tock_registers::interfaces::Readable;

/// How long one wait for the command queue may poll.
pub const COMMAND_TIMEOUT_US: u64 = 10_000;
/// Streams that may have a context at once.
pub const MAX_CONTEXTS: usize = drivers::smmuv3::tables::CD_SLOTS;

/// How `invalidate_range` expresses an invalidation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InvalidationPolicy {
    /// Use range TLBIs (only honoured if IDR3.RIL says the SMMU has them).
    pub range: bool,
    /// Without range TLBIs: per-page commands up to this many pages, one
    /// whole-ASID command above (`mm::tlb::PER_VA_LIMIT`, the CPU's bound,
    /// unless changed for a measurement).
    pub per_page_limit: u64,
}

impl InvalidationPolicy {
    /// What mm's planner needs to know of this SMMU under this policy.
    fn invalidator(self) -> Invalidator {
        Invalidator::iotlb(self.range).with_per_va_limit(self.per_page_limit)
    }
}

/// The stage 1 context of one attached stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Context {
    sid: StreamId,
    asid: SmmuAsid,
    slot: usize,
    stage1: Stage1Context,
}

impl Context {
    /// The attached stream's ID.
    pub fn stream(&self) -> StreamId {
        self.sid
    }
    /// The SMMU ASID to name in `invalidate_range`.
    pub fn asid(&self) -> SmmuAsid {
        self.asid
    }
    /// The regime the CD holds (TTB0, TCR fields, MAIR).
    pub fn stage1(&self) -> &Stage1Context {
        &self.stage1
    }
}

/// What one invalidation cost.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, defmt::Format)]
pub struct CmdStats {
    /// TLBI/CFGI commands issued (CMD_SYNC not included).
    pub commands: u32,
    /// CMD_SYNCs issued.
    pub syncs: u32,
    /// CNTVCT ticks from taking the queue lock to the SYNC's completion.
    pub ticks: u64,
}

impl CmdStats {
    fn from(s: Submitted, ticks: u64) -> Self {
        Self {
            commands: s.commands,
            syncs: s.syncs,
            ticks,
        }
    }
}

/// Configuration state: who is attached where.
struct Config {
    streams: StreamTable,
    cds: CdTable,
    asids: AsidPool,
    /// (stream, CD slot) of attached streams.
    attached: [Option<(StreamId, usize)>; MAX_CONTEXTS],
}

/// The SMMU and its structures, each under the lock its users need.
pub struct SmmuDevice {
    /// The physical register frame (pages 0 and 1).
    pub region: mm::PhysRange,
    hw: Smmu,
    /// Innermost lock: taken from atomic context (the notifier's hook, under
    /// a PTL), never from an interrupt handler.
    cmdq: SpinLock<CommandQueue>,
    /// Shared with the event-queue interrupt handler.
    events: SpinLockIrq<Events>,
    /// Attach/detach; taken before `cmdq`.
    config: SpinLock<Config>,
    /// The event queue's wired interrupt (DT `interrupt-names` "eventq"), if any.
    pub eventq_irq: Option<GicIrq>,
    /// The global error interrupt ("gerror"), if any.
    pub gerror_irq: Option<GicIrq>,
    range_invalidation: AtomicBool,
    per_page_limit: AtomicU64,
    commands: AtomicU64,
    syncs: AtomicU64,
    global_errors: AtomicU64,
}

static SMMU: spin::Once<SmmuDevice> = spin::Once::new();

/// The SMMU, once probed.
pub fn get() -> Option<&'static SmmuDevice> {
    SMMU.get()
}

/// A zeroed frame for an SMMU structure (never freed: the SMMU may read it
/// until it is reset).
fn dma_page() -> Result<DmaPage, SmmuError> {
    let frame = KernelFrames.alloc().map_err(|_| SmmuError::NoMemory)?;
    let va = phys_to_virt(frame.start());
    // SAFETY: a frame just taken from the allocator is ours alone; the
    // linear map covers all RAM as normal write-back memory, which the
    // SMMU (IDR0.COHACC, checked at probe) reads coherently.
    unsafe {
        core::ptr::write_bytes(va as *mut u8, 0, 4096);
        Ok(DmaPage::new(frame.start(), va))
    }
}

fn clock() -> Clock {
    Clock {
        now: timer::counter,
        hz: timer::frequency(),
    }
}

/// Finds the SMMU in the DT and brings it up: abort-by-default first, then
/// tables, queues, interrupts and translation. Every stream aborts until
/// `attach`.
pub(super) fn probe(fdt: &Fdt<'static>) -> Result<&'static SmmuDevice, DevError> {
    let node = fdt
        .find_compatible(&["arm,smmu-v3"])
        .ok_or(DevError::Absent("arm,smmu-v3"))?;
    let region = dt::first_reg(node).ok_or(DevError::Property("reg"))?;
    let va = dt::map_device(region.start, region.len().max(0x2_0000)).map_err(DevError::Map)?;
    // SAFETY: `va` maps the SMMU's register pages (DT `reg`, 128 KiB) as
    // device memory for good; this module is the SMMU's only driver.
    let hw = unsafe { Smmu::new(va, clock()) }.map_err(DevError::Smmu)?;
    hw.reset().map_err(DevError::Smmu)?;
    let f = *hw.features();
    let strtab = StreamTable::new(dma_page().map_err(DevError::Smmu)?, &f);
    let cds = CdTable::new(dma_page().map_err(DevError::Smmu)?);
    let cmdq = CommandQueue::new(
        dma_page().map_err(DevError::Smmu)?,
        f.cmdq_log2,
        COMMAND_TIMEOUT_US,
    );
    let evtq = EventQueue::new(dma_page().map_err(DevError::Smmu)?, f.eventq_log2);
    hw.enable_command_queue(&strtab, &cmdq, &evtq)
        .map_err(DevError::Smmu)?;

    let dev = SMMU.call_once(|| SmmuDevice {
        region,
        hw,
        cmdq: SpinLock::new(cmdq),
        events: SpinLockIrq::new(Events {
            queue: evtq,
            log: EventLog::new(),
            overflows: 0,
        }),
        config: SpinLock::new(Config {
            streams: strtab,
            cds,
            asids: AsidPool::new(),
            attached: [None; MAX_CONTEXTS],
        }),
        eventq_irq: dt::named_interrupt(fdt, node, "eventq"),
        gerror_irq: dt::named_interrupt(fdt, node, "gerror"),
        range_invalidation: AtomicBool::new(f.range_invalidation),
        per_page_limit: AtomicU64::new(PER_VA_LIMIT),
        commands: AtomicU64::new(0),
        syncs: AtomicU64::new(0),
        global_errors: AtomicU64::new(0),
    });
    // Nothing cached from before the reset survives.
    dev.submit([Command::CfgiAll, Command::TlbiNsnhAll])
        .map_err(DevError::Smmu)?;
    for (irq, handler) in [
        (dev.eventq_irq, events::on_eventq as irq::Handler),
        (dev.gerror_irq, events::on_gerror as irq::Handler),
    ] {
        if let Some(i) = irq {
            irq::register(i.intid, handler);
            irq::set_edge_triggered(i.intid, i.trigger == Trigger::Edge);
            irq::enable(i.intid);
        }
    }
    dev.hw.enable_translation().map_err(DevError::Smmu)?;
    let (layout, streams) = {
        let c = dev.config.lock();
        (c.streams.layout(), c.streams.sid_limit())
    };
    defmt::info!(
        "SMMUv3 at {=u64:#x}: stage 1, {}-bit ASIDs, {} stream table ({} streams), OAS {=u8}, range TLBI {}, BTM {}; eventq INTID {}, gerror INTID {}; abort by default",
        region.start.as_u64(),
        f.asid_bits,
        defmt::Debug2Format(&layout),
        streams,
        f.oas,
        f.range_invalidation,
        f.btm,
        defmt::Debug2Format(&dev.eventq_irq.map(|i| i.intid)),
        defmt::Debug2Format(&dev.gerror_irq.map(|i| i.intid))
    );
    Ok(dev)
}

impl SmmuDevice {
    /// What the SMMU's ID registers said.
    pub fn features(&self) -> &Features {
        self.hw.features()
    }

    /// Whether translation is on and unattached streams abort.
    pub fn is_enabled(&self) -> bool {
        self.hw.is_enabled()
    }

    /// `commands` then CMD_SYNC, under the queue lock; counts them.
    fn submit(&self, commands: impl IntoIterator<Item = Command>) -> Result<CmdStats, SmmuError> {
        let t0 = timer::counter();
        let result = self.cmdq.lock().submit(&self.hw, commands);
        let ticks = timer::counter() - t0;
        let s = result?;
        self.commands
            .fetch_add(u64::from(s.commands), Ordering::Relaxed);
        self.syncs.fetch_add(u64::from(s.syncs), Ordering::Relaxed);
        Ok(CmdStats::from(s, ticks))
    }

    /// Makes sure `sid` has a stream table entry (abort) so transactions of
    /// an unattached stream are terminated quietly instead of raising
    /// C_BAD_STREAMID. Probe calls it for every PCI function behind the SMMU.
    /// Context: sleepable (may allocate a level 2 page).
    pub fn prepare_stream(&self, sid: StreamId) -> Result<(), SmmuError> {
        if !self.config.lock().streams.needs_level2(sid)? {
            return Ok(());
        }
        let page = dma_page()?;
        let mut c = self.config.lock();
        if c.streams.needs_level2(sid)? {
            c.streams.install_level2(sid, page)?;
            drop(c);
            // An invalid level 1 descriptor may have been cached: Leaf = 0.
            self.submit([Command::CfgiSte { sid, leaf: false }])?;
        } else {
            drop(c);
            let _ = KernelFrames.free(mm::Frame::containing(page.pa()));
        }
        Ok(())
    }

    /// Gives stream `sid` a stage 1 context that walks the table rooted at
    /// `root` (a CPU page table for the lower half: TTBR0 layout), with the
    /// CPU's TCR_EL1 walk attributes and `mm::MAIR_EL1_VALUE`, under a fresh
    /// SMMU ASID. Every descriptor the device may use must have AF set (no
    /// hardware AF update): `mm` always sets it.
    ///
    /// Context: sleepable (allocates a stream-table page the first time a
    /// group of 64 streams is used). Takes the config lock, then the queue lock.
    pub fn attach(&self, sid: StreamId, root: PhysAddr) -> Result<Context, SmmuError> {
        self.prepare_stream(sid)?;
        let mut c = self.config.lock();
        if c.attached.iter().flatten().any(|&(s, _)| s == sid) {
            return Err(SmmuError::StreamBusy { sid });
        }
        let free = c
            .attached
            .iter()
            .position(Option::is_none)
            .ok_or(SmmuError::NoFreeContext)?;
        let slot = c.cds.alloc().ok_or(SmmuError::NoFreeContext)?;
        let Some(asid) = c.asids.alloc() else {
            c.cds.free(slot);
            return Err(SmmuError::NoFreeAsid);
        };
        let stage1 = Stage1Context::from_cpu(
            TCR_EL1.get(),
            mm::MAIR_EL1_VALUE,
            root,
            asid,
            self.features().oas,
        );
        if root.as_u64() >> stage1.output_bits() != 0 {
            c.cds.free(slot);
            c.asids.free(asid);
            return Err(SmmuError::TableOutOfReach {
                ttb0: root.as_u64(),
                oas_bits: stage1.output_bits(),
            });
        }
        c.cds.write(slot, cd::encode(&stage1, CdState::Live));
        let cd = c.cds.pa(slot);
        // A recycled ASID may still have entries from its last user.
        let result = self
            .submit([Command::TlbiNhAsid { asid, vmid: 0 }])
            .and_then(|_| {
                c.streams.write(sid, StreamConfig::Stage1 { cd }, |sid| {
                    self.submit([Command::CfgiSte { sid, leaf: true }])
                        .map(|_| ())
                })
            });
        if let Err(e) = result {
            c.cds.free(slot);
            c.asids.free(asid);
            return Err(e);
        }
        c.attached[free] = Some((sid, slot));
        Ok(Context {
            sid,
            asid,
            slot,
            stage1,
        })
    }

    /// Invalidates the SMMU's TLB entries of `asid` covering `range` (rounded
    /// out to pages): one `CMD_TLBI_NH_VA` with NUM/SCALE per step where the
    /// SMMU implements range invalidation (at most 8 commands for any range),
    /// else one per page up to `mm::tlb::PER_VA_LIMIT` pages and one
    /// `CMD_TLBI_NH_ASID` above (mm's planner chooses, as for the CPU); then
    /// `CMD_SYNC`, polled on CMDQ_CONS.
    ///
    /// This is the MMU notifier's atomic hook (`invalidate_secondary_tlbs`).
    /// Contract:
    /// - context: any non-interrupt context, atomic included (a PTL held,
    ///   preemption or IRQs off); never from an interrupt handler;
    /// - locks: takes only the command-queue spinlock (preemption off while
    ///   held), innermost: the caller may hold PTLs, must not hold it already;
    /// - never sleeps; each wait polls for at most `COMMAND_TIMEOUT_US`;
    /// - `Ok`: no TLB entry of `asid` in `range` survives, the frames may be
    ///   freed once the CPU side is done too. `Err` (`SyncTimeout`,
    ///   `CommandError`, naming the command): completion is not known; the
    ///   caller must not free the range's frames.
    ///
    /// The `AtomicCtx` says where it runs: in the atomic hook (or under a
    /// spinlock that orders it after the CPU's own invalidation).
    pub fn invalidate_range(
        &self,
        asid: SmmuAsid,
        range: VaRange,
        _: &AtomicCtx,
    ) -> Result<CmdStats, SmmuError> {
        let start = range.start.as_u64() & !0xfff;
        let end = (range.end.as_u64() + 0xfff) & !0xfff;
        let pages = (end - start) >> 12;
        if pages == 0 {
            return Ok(CmdStats::default());
        }
        let plan = invalidate::plan_pages(self.policy().invalidator(), start, pages);
        self.submit(invalidate::commands(asid, start, pages, plan))
    }

    /// Which form `invalidate_range` uses for `pages` pages right now.
    pub fn invalidation_form(&self, pages: u64) -> InvalidationForm {
        invalidate::form(invalidate::plan_pages(
            self.policy().invalidator(),
            0,
            pages,
        ))
    }

    /// Drops every TLB entry of `asid`. Same contract as `invalidate_range`.
    pub fn invalidate_asid(&self, asid: SmmuAsid, _: &AtomicCtx) -> Result<CmdStats, SmmuError> {
        self.submit([Command::TlbiNhAsid { asid, vmid: 0 }])
    }

    /// For the notifier's `release`: the context's CD stops translating
    /// (EPD0 = 1, one 64-bit write; it stays valid so a late DMA is recorded
    /// as F_TRANSLATION of this stream, not C_BAD_CD), then CFGI_CD,
    /// TLBI_NH_ASID and CMD_SYNC: when this returns, no DMA of the stream
    /// reaches memory through the old table. Never sleeps (polls, bounded).
    pub fn quiesce_context(&self, ctx: &Context) -> Result<CmdStats, SmmuError> {
        let mut c = self.config.lock();
        c.cds
            .write_dword0(ctx.slot, cd::encode(&ctx.stage1, CdState::Quiesced)[0]);
        let result = self.submit([
            Command::CfgiCd {
                sid: ctx.sid,
                ssid: 0,
            },
            Command::TlbiNhAsid {
                asid: ctx.asid,
                vmid: 0,
            },
        ]);
        drop(c);
        result
    }

    /// Detaches: the stream aborts again, its ASID's entries are dropped,
    /// its CD slot and ASID are freed.
    pub fn detach(&self, ctx: Context) -> Result<(), SmmuError> {
        let mut c = self.config.lock();
        c.streams.write(ctx.sid, StreamConfig::Abort, |sid| {
            self.submit([Command::CfgiSte { sid, leaf: true }])
                .map(|_| ())
        })?;
        self.submit([Command::TlbiNhAsid {
            asid: ctx.asid,
            vmid: 0,
        }])?;
        c.cds.free(ctx.slot);
        c.asids.free(ctx.asid);
        for a in c.attached.iter_mut() {
            if *a == Some((ctx.sid, ctx.slot)) {
                *a = None;
            }
        }
        Ok(())
    }

    /// The STE the SMMU would read for `sid` (tests and reports).
    pub fn stream_table_entry(&self, sid: StreamId) -> Result<[u64; 8], SmmuError> {
        self.config.lock().streams.read(sid)
    }

    /// (commands, syncs) issued since boot, and global errors seen.
    pub fn counters(&self) -> (u64, u64, u64) {
        (
            self.commands.load(Ordering::Relaxed),
            self.syncs.load(Ordering::Relaxed),
            self.global_errors.load(Ordering::Relaxed),
        )
    }

    /// The policy in force.
    pub fn policy(&self) -> InvalidationPolicy {
        InvalidationPolicy {
            range: self.range_invalidation.load(Ordering::Relaxed),
            per_page_limit: self.per_page_limit.load(Ordering::Relaxed),
        }
    }

    /// Changes the policy (for measurements, and to test the per-page and
    /// queue-wrapping paths on an SMMU that has range TLBIs); returns the
    /// previous one. Range TLBIs stay off if the SMMU lacks them.
    pub fn set_policy(&self, p: InvalidationPolicy) -> InvalidationPolicy {
        let old = self.policy();
        self.range_invalidation.store(
            p.range && self.features().range_invalidation,
            Ordering::Relaxed,
        );
        self.per_page_limit
            .store(p.per_page_limit, Ordering::Relaxed);
        old
    }

    /// Fault injection: stops (`true`) or restarts the SMMU's command
    /// consumption, so the CMD_SYNC timeout path can be exercised.
    pub fn stall_command_queue(&self, stalled: bool) -> Result<(), SmmuError> {
        self.hw.set_command_queue_running(!stalled)
    }

    /// Fault injection: submits a raw (e.g. illegal) command and a CMD_SYNC.
    pub fn submit_raw(&self, raw: [u64; 2]) -> Result<CmdStats, SmmuError> {
        let t0 = timer::counter();
        let s = self.cmdq.lock().submit_raw(&self.hw, raw)?;
        Ok(CmdStats::from(s, timer::counter() - t0))
    }
}
