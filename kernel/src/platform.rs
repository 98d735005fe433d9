//! What this machine is: the device tree handed over in x0 where there is one
//! (the `fdt` crate parses it), the board module's defaults where not.
use crate::percpu::MAX_CPUS;
use boards::{CpuBringUp, GicDefaults, BOARD};
use drivers::psci::Conduit;
use fdt::Fdt;
use mm::{PhysAddr, PhysRange};

const MAX_REGIONS: usize = 8;

/// A small fixed-capacity list (no heap this early).
#[derive(Clone, Copy, Debug)]
pub struct List<T: Copy, const N: usize> {
    items: [Option<T>; N],
    len: usize,
}

impl<T: Copy, const N: usize> List<T, N> {
    const fn new() -> Self {
        Self {
            items: [None; N],
            len: 0,
        }
    }
    fn push(&mut self, t: T) -> bool {
        if self.len == N {
            return false;
        }
        self.items[self.len] = Some(t);
        self.len += 1;
        true
    }
    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }
    /// No item.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The items in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }
    /// Item `i`, if there are that many.
    pub fn get(&self, i: usize) -> Option<T> {
        self.items.get(i).copied().flatten()
    }
}

/// How one secondary CPU is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    /// PSCI `CPU_ON` (DT `enable-method = "psci"`).
    Psci,
    /// A spin table (DT `enable-method = "spin-table"`).
    SpinTable {
        /// Physical address of the 64-bit slot the CPU polls (`cpu-release-addr`).
        release_addr: PhysAddr,
    },
    /// The boot CPU, or a CPU the DT gives no usable method for.
    None,
}

/// One CPU node of the DT (or of the board defaults).
#[derive(Clone, Copy, Debug)]
pub struct Cpu {
    /// Its MPIDR affinity (the node's `reg`).
    pub mpidr: u64,
    /// How it is started.
    pub method: EnableMethod,
}

/// What this machine is, from the DT where there is one, else the board defaults.
#[derive(Debug)]
pub struct Platform {
    /// The DT root's `model`, or the board's name.
    pub model: &'static str,
    /// Physical address and size of the DTB, when one was handed over.
    pub dtb: Option<PhysRange>,
    /// RAM: the DT `memory` nodes, or the board's default regions.
    pub memory: List<PhysRange, MAX_REGIONS>,
    /// RAM the kernel must not allocate: the memory reservation block and
    /// `/reserved-memory` (firmware, spin tables).
    pub reserved: List<PhysRange, MAX_REGIONS>,
    /// The initramfs the loader placed (`/chosen` `linux,initrd-start`/`-end`).
    pub initrd: Option<PhysRange>,
    /// The CPUs, boot CPU included.
    pub cpus: List<Cpu, MAX_CPUS>,
    /// The interrupt controller and its register frames.
    pub gic: GicDefaults,
    /// The PSCI conduit (`/psci` `method`), if the firmware offers PSCI.
    pub psci: Option<Conduit>,
    /// The console UART's register frame.
    pub uart: PhysRange,
    /// The DMA controller the Pi driver uses (`brcm,bcm2835-dma`), from the
    /// DT or the board.
    pub dma: Option<PhysRange>,
    /// Number of DT nodes (0 without a DT).
    pub dt_nodes: usize,
    /// The kernel command line (`/chosen` `bootargs`), empty without one.
    pub bootargs: &'static str,
    /// The parsed device tree, for drivers that look devices up later.
    pub fdt: Option<Fdt<'static>>,
}

static PLATFORM: spin::Once<Platform> = spin::Once::new();

/// The platform, once `init` has run.
pub fn get() -> Option<&'static Platform> {
    PLATFORM.get()
}

/// Parses the DT at `dtb` (the loader's x0, `None` if it was 0) once, on
/// the boot CPU.
pub fn init(dtb: Option<PhysAddr>) -> &'static Platform {
    PLATFORM.call_once(|| {
        let Some(dtb) = dtb else {
            return defaults();
        };
        if dtb.is_aligned(8) {
            // SAFETY: x0 names the DTB the loader placed for us; nothing else
            // reads it. A non-DTB is refused on its magic number.
            match unsafe { crate::fdt_nops::strip_nops(crate::mem::phys_to_virt(dtb) as *mut u32) }
            {
                Ok(0) | Err(crate::fdt_nops::NopError::BadMagic) => {}
                Ok(n) => defmt::info!(
                    "device tree: removed {} NOP tokens left by the loader's edits",
                    n
                ),
                Err(e) => defmt::warn!(
                    "device tree: cannot compact NOPs: {}",
                    defmt::Debug2Format(&e)
                ),
            }
        }
        // SAFETY: the loader's x0 points at a DTB in RAM that nothing
        // overwrites (it lies outside the kernel image and is reserved from
        // the frame allocator); `from_ptr` checks the header magic.
        match unsafe { Fdt::from_ptr(crate::mem::phys_to_virt(dtb) as *const u8) } {
            Ok(fdt) => return from_fdt(&fdt, dtb),
            // QEMU raspi4b without `-dtb` passes its ATAG list (0x100).
            Err(e) => defmt::warn!(
                "x0 = {=u64:#x} is not a device tree ({})",
                dtb.as_u64(),
                defmt::Debug2Format(&e)
            ),
        }
        defaults()
    })
}

fn defaults() -> Platform {
    let mut memory = List::new();
    for r in BOARD.memory {
        memory.push(*r);
    }
    let mut cpus = List::new();
    for i in 0..BOARD.cpus.min(MAX_CPUS) {
        let method = match BOARD.bring_up {
            _ if i == 0 => EnableMethod::None,
            CpuBringUp::Psci { .. } => EnableMethod::Psci,
            CpuBringUp::SpinTable { slots } => EnableMethod::SpinTable {
                release_addr: slots[i],
            },
        };
        cpus.push(Cpu {
            mpidr: i as u64,
            method,
        });
    }
    let psci = match BOARD.bring_up {
        CpuBringUp::Psci { hvc: true } => Some(Conduit::Hvc),
        CpuBringUp::Psci { hvc: false } => Some(Conduit::Smc),
        CpuBringUp::SpinTable { .. } => None,
    };
    Platform {
        model: BOARD.name,
        dtb: None,
        memory,
        reserved: List::new(),
        initrd: None,
        cpus,
        gic: BOARD.gic,
        psci,
        uart: BOARD.uart,
        dma: BOARD.dma,
        dt_nodes: 0,
        bootargs: "",
        fdt: None,
    }
}

impl Platform {
    /// Every DT node with a `compatible` and a `reg`: (first compatible
    /// string, first register base). Empty without a DT.
    pub fn devices(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.fdt.iter().flat_map(|fdt| {
            fdt.all_nodes().filter_map(|n| {
                let compatible = n.compatible()?.first();
                let base = n.reg()?.next()?.starting_address as u64;
                Some((compatible, base))
            })
        })
    }
}

impl Platform {
    /// Register windows of the devices the DT describes at the root and
    /// under `/soc` (translated to CPU physical addresses), for the MMU code
    /// to map as device memory. CPU and memory nodes are left out.
    pub fn mmio_regions(&self, mut visit: impl FnMut(PhysRange)) {
        let Some(fdt) = &self.fdt else { return };
        let soc = fdt.find_node("/soc");
        let roots = fdt.find_node("/").into_iter().flat_map(|n| n.children());
        for node in roots {
            if node.name.starts_with("memory")
                || node.name == "cpus"
                || node.name == "reserved-memory"
            {
                continue;
            }
            if node.name == "soc" {
                continue;
            }
            for r in node.reg().into_iter().flatten().map(region) {
                visit(r);
            }
        }
        if let Some(soc) = soc {
            for node in soc.children() {
                for r in node.reg().into_iter().flatten().map(region) {
                    if let Some(r) = translate_soc(fdt, &soc, r) {
                        visit(r);
                    }
                }
            }
        }
    }
}

/// A DT `reg` entry as a physical range. One whose end wraps past the 64-bit
/// space is a broken DT and stops the boot (`PhysRange::from_base_size`).
fn region(r: fdt::standard_nodes::MemoryRegion) -> PhysRange {
    PhysRange::from_base_size(
        PhysAddr::new(r.starting_address as u64),
        r.size.unwrap_or(0) as u64,
    )
}

fn from_fdt(fdt: &Fdt<'static>, dtb: PhysAddr) -> Platform {
    let mut p = defaults();
    p.fdt = Some(*fdt);
    p.model = fdt.root().model();
    p.dtb = Some(PhysRange::from_base_size(dtb, fdt.total_size() as u64));
    p.dt_nodes = fdt.all_nodes().count();

    let mut memory = List::new();
    for node in fdt.all_nodes().filter(|n| n.name.starts_with("memory")) {
        for r in node.reg().into_iter().flatten() {
            memory.push(region(r));
        }
    }
    if !memory.is_empty() {
        p.memory = memory;
    }
    for r in fdt.memory_reservations().filter(|r| r.size() > 0) {
        p.reserved.push(PhysRange::from_base_size(
            PhysAddr::new(r.address() as u64),
            r.size() as u64,
        ));
    }
    if let Some(rm) = fdt.find_node("/reserved-memory") {
        for child in rm.children() {
            for r in child.reg().into_iter().flatten() {
                p.reserved.push(region(r));
            }
        }
    }
    let chosen = fdt.chosen();
    p.bootargs = chosen.bootargs().unwrap_or("");
    if let Some(node) = fdt.find_node("/chosen") {
        let prop = |name| {
            node.property(name)
                .and_then(|v| v.as_usize())
                .map(|v| v as u64)
        };
        if let (Some(start), Some(end)) = (prop("linux,initrd-start"), prop("linux,initrd-end")) {
            // An end below the start is an empty initrd at the start.
            p.initrd = Some(PhysRange::new(
                PhysAddr::new(start),
                PhysAddr::new(end.max(start)),
            ));
        }
    }

    if let Some(psci) = fdt.find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]) {
        p.psci = match psci.property("method").and_then(|m| m.as_str()) {
            Some("smc") => Some(Conduit::Smc),
            Some("hvc") => Some(Conduit::Hvc),
            _ => None,
        };
    }

    let boot_mpidr = crate::arch::mpidr() & 0xff_00ff_ffff;
    let mut cpus: List<Cpu, MAX_CPUS> = List::new();
    for cpu in fdt.cpus() {
        let mpidr = cpu.ids().first() as u64;
        let method = match cpu.property("enable-method").and_then(|m| m.as_str()) {
            _ if mpidr == boot_mpidr => EnableMethod::None,
            Some("psci") => EnableMethod::Psci,
            Some("spin-table") => match cpu.property("cpu-release-addr").and_then(|v| v.as_usize())
            {
                Some(a) => EnableMethod::SpinTable {
                    release_addr: PhysAddr::new(a as u64),
                },
                None => EnableMethod::None,
            },
            _ => EnableMethod::None,
        };
        // The boot CPU is always logical 0.
        if mpidr == boot_mpidr && !cpus.is_empty() {
            let first = cpus.get(0).unwrap();
            cpus.items[0] = Some(Cpu { mpidr, method });
            cpus.push(first);
        } else {
            cpus.push(Cpu { mpidr, method });
        }
    }
    if !cpus.is_empty() {
        p.cpus = cpus;
    }

    if let Some([d, r]) = device_regs::<2>(fdt, &["arm,gic-v3"]) {
        p.gic = GicDefaults::V3 {
            gicd: d.start,
            gicr: r.start,
        };
    } else if let Some([d, c]) =
        device_regs::<2>(fdt, &["arm,gic-400", "arm,cortex-a15-gic", "arm,gic-v2"])
    {
        p.gic = GicDefaults::V2 {
            gicd: d.start,
            gicc: c.start,
        };
    }
    if let Some([dma]) = device_regs::<1>(fdt, &["brcm,bcm2835-dma"]) {
        p.dma = Some(dma);
    }
    if let Some([uart]) = device_regs::<1>(fdt, &["arm,pl011"]) {
        p.uart = uart;
    }
    p
}

/// The first `N` `reg` entries of a device, as CPU physical addresses: nodes
/// at the root are taken as they are; nodes under `/soc` (the Pi's bus
/// addresses, 0x7e.. for 0xfe..) go through `/soc`'s `ranges`.
fn device_regs<const N: usize>(fdt: &Fdt<'static>, compatible: &[&str]) -> Option<[PhysRange; N]> {
    let node = fdt.find_compatible(compatible)?;
    let mut regs = node.reg()?.map(region);
    let mut out = [PhysRange::default(); N];
    for slot in out.iter_mut() {
        *slot = regs.next()?;
    }
    if let Some(soc) = fdt.find_node("/soc") {
        let under_soc = soc.children().any(|c| c.name == node.name);
        if under_soc {
            for r in out.iter_mut() {
                *r = translate_soc(fdt, &soc, *r)?;
            }
        }
    }
    Some(out)
}

/// Applies `/soc`'s `ranges` (child address, parent address, size) to the
/// start of `r`, keeping its length (`None` if no entry holds the start, or
/// the moved range would wrap).
fn translate_soc(
    fdt: &Fdt<'static>,
    soc: &fdt::node::FdtNode<'_, 'static>,
    r: PhysRange,
) -> Option<PhysRange> {
    let ranges = soc.property("ranges")?.value;
    if ranges.is_empty() {
        return Some(r); // identity mapping
    }
    let addr = r.start.as_u64();
    let child_cells = soc.cell_sizes().address_cells;
    let size_cells = soc.cell_sizes().size_cells;
    let parent_cells = fdt.root().cell_sizes().address_cells;
    let entry = 4 * (child_cells + parent_cells + size_cells);
    let read = |bytes: &[u8]| {
        bytes.chunks(4).fold(0u64, |acc, c| {
            (acc << 32) | u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        })
    };
    for e in ranges.chunks_exact(entry) {
        let child = read(&e[..4 * child_cells]);
        let parent = read(&e[4 * child_cells..4 * (child_cells + parent_cells)]);
        let size = read(&e[4 * (child_cells + parent_cells)..]);
        if (child..child + size).contains(&addr) {
            return PhysRange::from_start_len(PhysAddr::new(addr - child + parent), r.len());
        }
    }
    None
}
