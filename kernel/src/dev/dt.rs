//! Device-tree lookups the device probes share (Devicetree Specification
//! v0.4 §2.4 "Interrupts and Interrupt Mapping"): a node's interrupt parent
//! and cell counts, its `interrupts` as GIC interrupts, by index or by
//! `interrupt-names`; and making sure a register window is mapped.
use crate::{mem::phys_to_virt, mmu};
use drivers::pci::dt::{cells, GicIrq};
use fdt::{node::FdtNode, Fdt};
use mm::{Attributes, Constraints, PhysAddr, PhysRange, VaRange, VirtAddr, PAGE_SIZE};

/// The interrupt parent of `node`: its own `interrupt-parent`, else the root's.
pub fn interrupt_parent<'b, 'a>(
    fdt: &'b Fdt<'a>,
    node: FdtNode<'b, 'a>,
) -> Option<FdtNode<'b, 'a>> {
    node.interrupt_parent().or_else(|| {
        let root = fdt.find_node("/")?;
        root.interrupt_parent()
    })
}

/// (`#address-cells`, `#interrupt-cells`) of the interrupt controller with `phandle`.
pub fn controller_cells(fdt: &Fdt<'_>, phandle: u32) -> Option<(usize, usize)> {
    let node = fdt.find_phandle(phandle)?;
    let address = node
        .property("#address-cells")
        .and_then(|p| p.as_usize())
        .unwrap_or(0);
    Some((address, node.interrupt_cells()?))
}

/// The `index`-th entry of `node`'s `interrupts`, decoded as a GIC interrupt.
pub fn interrupt(fdt: &Fdt<'_>, node: FdtNode<'_, '_>, index: usize) -> Option<GicIrq> {
    let n = interrupt_parent(fdt, node)?.interrupt_cells()?;
    if n == 0 || n > 4 {
        return None;
    }
    let bytes = node.property("interrupts")?.value;
    let mut spec = [0u32; 4];
    let mut all = cells(bytes).skip(index * n);
    for slot in spec.iter_mut().take(n) {
        *slot = all.next()?;
    }
    GicIrq::from_specifier(&spec[..n])
}

/// The entry of `node`'s `interrupts` named `name` in `interrupt-names`.
pub fn named_interrupt(fdt: &Fdt<'_>, node: FdtNode<'_, '_>, name: &str) -> Option<GicIrq> {
    let names = node.property("interrupt-names")?.value;
    let index = names
        .split(|&b| b == 0)
        .position(|n| n == name.as_bytes())?;
    interrupt(fdt, node, index)
}

/// The first `reg` window of `node`.
/// `None` if there is none, or if it wraps past the 64-bit space.
pub fn first_reg(node: FdtNode<'_, '_>) -> Option<PhysRange> {
    let r = node.reg()?.next()?;
    PhysRange::from_start_len(
        PhysAddr::new(r.starting_address as u64),
        r.size.unwrap_or(0) as u64,
    )
}

/// Maps `[pa, pa + len)` (page-rounded) as device memory at its linear
/// address unless its first page is mapped already (the boot code maps every
/// `reg` window of the DT whole); returns the kernel address of `pa`.
pub fn map_device(pa: PhysAddr, len: u64) -> Result<usize, mm::MapError> {
    let window = PhysRange::from_start_len(pa, len)
        .and_then(|r| r.align_outwards(PAGE_SIZE))
        .ok_or(mm::MapError::PhysOutOfRange(pa))?;
    let va = |p: PhysAddr| VirtAddr::new(phys_to_virt(p) as u64);
    if mmu::translate(va(window.start)).is_none() {
        mmu::map(
            VaRange::new(va(window.start), va(window.end)),
            window.start,
            Attributes::KERNEL_DEVICE,
            Constraints::BLOCKS,
        )?;
    }
    Ok(phys_to_virt(pa))
}
