//! The kernel library: boot, exceptions, interrupts, SMP bring-up and the
//! console. The kernel binary and every on-target test suite link it; after
//! bring-up the boot CPU calls `main` (the kernel's, or embedded-test's).
#![no_std]

extern crate alloc;

pub mod arch;
pub mod aspace;
pub mod console;
pub mod dev;
pub mod exit;
pub mod expect_panic;
mod fdt_nops;
pub mod fs;
pub mod heap;
pub mod irq;
pub mod mem;
pub mod mmu;
pub mod percpu;
pub mod platform;
pub mod probe;
pub mod sched;
pub mod selfcheck;
pub mod smp;
pub mod sync;
pub mod task;
pub mod tick;
pub mod trap;
pub mod user;

use boards::BOARD;
use core::sync::atomic::Ordering;

extern "C" {
    /// Provided by the kernel binary, or by `embedded-test` in test suites.
    fn main() -> !;
}

pub use arch::stack_pointer;

/// Rust entry of the boot CPU (from `boot.S`): EL1, IRQs masked, own stack.
#[no_mangle]
extern "C" fn kernel_boot_cpu_entry(dtb: u64, entry_el: u64) -> ! {
    arch::set_cpu_id(0);
    sched::init_boot_cpu();
    arch::install_vectors();
    arch::user::init_pan();
    arch::user::init_el0_counter();
    arch::user::init_el0_cache_maintenance();
    console::init();
    let rec = &percpu::CPUS[0];
    rec.entry_el.store(entry_el as u8, Ordering::Relaxed);
    rec.mpidr.store(arch::mpidr(), Ordering::Relaxed);
    rec.boot_sp.store(stack_pointer(), Ordering::Relaxed);
    defmt::info!(
        "kernel {=str} on board {=str}: entered at EL{}, running at EL{}",
        env!("CARGO_PKG_VERSION"),
        BOARD.name,
        entry_el,
        arch::current_el()
    );

    let p = platform::init((dtb != 0).then_some(mm::PhysAddr::new(dtb)));
    report_platform(p);
    mmu::init(p);
    // The shared zero page, once, before anyone counts frames.
    aspace::zero_frame();

    let gic = irq::init(p.gic);
    irq::init_cpu();
    defmt::info!("GICv{} with {} interrupt lines", gic.version(), gic.lines());
    dev::probe(p);
    tick::start_on_this_cpu();
    percpu::mark_online(0);
    arch::irq_enable();

    smp::start_secondaries(p);
    defmt::info!("{} of {} CPUs online", percpu::online_count(), p.cpus.len());

    // SAFETY: `main` is the one entry symbol every binary linking this crate
    // provides (the kernel's or embedded-test's); it never returns.
    unsafe { main() }
}

fn report_platform(p: &platform::Platform) {
    match p.dtb {
        Some(r) => defmt::info!(
            "device tree at {=u64:#x} ({} bytes, {} nodes): model \"{=str}\"",
            r.start.as_u64(),
            r.len(),
            p.dt_nodes,
            p.model
        ),
        None => defmt::info!(
            "no device tree: using the {=str} board defaults",
            BOARD.name
        ),
    }
    for r in p.memory.iter() {
        defmt::info!(
            "memory {=u64:#x}..{=u64:#x} ({} MiB)",
            r.start.as_u64(),
            r.end.as_u64(),
            r.len() >> 20
        );
    }
    for r in p.reserved.iter() {
        defmt::info!(
            "reserved {=u64:#x}..{=u64:#x}",
            r.start.as_u64(),
            r.end.as_u64()
        );
    }
    if let Some(r) = p.initrd {
        defmt::info!(
            "initrd {=u64:#x}..{=u64:#x}",
            r.start.as_u64(),
            r.end.as_u64()
        );
    }
    report_devices(p);
    if p.uart.start != BOARD.uart.start {
        defmt::warn!(
            "the DT puts the console UART at {=u64:#x}; this build writes to {=u64:#x}",
            p.uart.start.as_u64(),
            BOARD.uart.start.as_u64()
        );
    }
    defmt::info!(
        "{} CPUs described; PSCI {}; timer {} Hz; UART {=u64:#x}",
        p.cpus.len(),
        defmt::Debug2Format(&p.psci),
        drivers::timer::frequency(),
        p.uart.start.as_u64()
    );
}

/// One log line per kind of device in the DT, with its count and first address.
fn report_devices(p: &platform::Platform) {
    let mut seen: [(&str, u64, usize); 32] = [("", 0, 0); 32];
    let mut kinds = 0;
    for (compatible, base) in p.devices() {
        if let Some(entry) = seen[..kinds].iter_mut().find(|(c, _, _)| *c == compatible) {
            entry.2 += 1;
        } else if kinds < seen.len() {
            seen[kinds] = (compatible, base, 1);
            kinds += 1;
        }
    }
    for &(compatible, base, count) in &seen[..kinds] {
        if count == 1 {
            defmt::info!("device {=str} at {=u64:#x}", compatible, base);
        } else {
            defmt::info!(
                "device {=str} x{} (first at {=u64:#x})",
                compatible,
                count,
                base
            );
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    arch::irq_save();
    defmt::error!(
        "PANIC on cpu {}: {}",
        arch::cpu_id(),
        defmt::Display2Format(info)
    );
    exit::exit(expect_panic::status_for(format_args!("{}", info.message())))
}
