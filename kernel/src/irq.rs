//! Interrupt routing: the GIC found at boot and a table of handlers by INTID.
use crate::{arch, mem::phys_to_virt, percpu};
use boards::GicDefaults;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use drivers::gic::{v2::GicV2, v3::GicV3, Gic};

/// An interrupt handler: runs with IRQs masked, must not sleep.
pub type Handler = fn(intid: u32);

const MAX_INTID: usize = 1020;

static GIC: spin::Once<Gic> = spin::Once::new();
static HANDLERS: [AtomicUsize; MAX_INTID] = [const { AtomicUsize::new(0) }; MAX_INTID];
/// Interrupts that arrived with no handler registered.
pub static UNHANDLED: AtomicU64 = AtomicU64::new(0);

/// The interrupt controller (panics before `init`).
pub fn gic() -> &'static Gic {
    GIC.get().expect("interrupt controller not initialised")
}

/// Boot CPU, once: creates the GIC driver and initialises the distributor.
pub fn init(gic: GicDefaults) -> &'static Gic {
    GIC.call_once(|| {
        // SAFETY: the addresses come from the DT (or the board defaults) and
        // name this machine's GIC, which only this module drives.
        let g = unsafe {
            match gic {
                GicDefaults::V2 { gicd, gicc } => {
                    Gic::V2(GicV2::new(phys_to_virt(gicd), phys_to_virt(gicc)))
                }
                GicDefaults::V3 { gicd, gicr } => {
                    Gic::V3(GicV3::new(phys_to_virt(gicd), phys_to_virt(gicr)))
                }
            }
        };
        g.init_distributor();
        g
    })
}

/// Each CPU: brings up its own CPU interface (and redistributor).
pub fn init_cpu() {
    let cpu = arch::cpu_id();
    if let Err(e) = gic().init_cpu(cpu, arch::mpidr()) {
        panic!("GIC: cannot initialise cpu {}: {:?}", cpu, e);
    }
    // SGIs are the kernel's inter-processor interrupts: always on.
    for sgi in 0..16 {
        enable(sgi);
    }
}

/// Installs `handler` for `intid` (replacing any previous one).
pub fn register(intid: u32, handler: Handler) {
    HANDLERS[intid as usize].store(handler as usize, Ordering::Release);
}

/// Enables `intid` at the GIC: for SGIs/PPIs, on the calling CPU only.
pub fn enable(intid: u32) {
    gic().enable(arch::cpu_id(), intid);
}

/// Disables `intid` at the GIC: for SGIs/PPIs, on the calling CPU only.
pub fn disable(intid: u32) {
    gic().disable(arch::cpu_id(), intid);
}

/// Configures SPI `intid` as edge-triggered or level-sensitive (from its DT
/// flags), before it is enabled.
pub fn set_edge_triggered(intid: u32, edge: bool) {
    gic().set_edge_triggered(intid, edge);
}

/// Sends SGI `sgi` to logical CPU `cpu`.
pub fn send_sgi(sgi: u32, cpu: usize) {
    gic().send_sgi(sgi, cpu);
}

/// Called from the IRQ vector: handles every pending interrupt. While it runs the CPU is
/// in interrupt context (`percpu` `irq_depth` > 0): nothing may sleep.
pub fn handle() {
    let gic = gic();
    let depth = &percpu::this_cpu().irq_depth;
    depth.fetch_add(1, Ordering::Relaxed);
    while let Some(acked) = gic.acknowledge() {
        let intid = acked.intid;
        percpu::this_cpu().irqs.fetch_add(1, Ordering::Relaxed);
        let h = HANDLERS
            .get(intid as usize)
            .map_or(0, |h| h.load(Ordering::Acquire));
        if h == 0 {
            UNHANDLED.fetch_add(1, Ordering::Relaxed);
        } else {
            // SAFETY: only `register` stores into HANDLERS, always a `Handler`.
            let f: Handler = unsafe { core::mem::transmute::<usize, Handler>(h) };
            f(intid);
        }
        gic.end_of_interrupt(acked);
    }
    depth.fetch_sub(1, Ordering::Relaxed);
}
