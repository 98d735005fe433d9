//! Secondary CPU bring-up: PSCI `CPU_ON` or spin-table release, then each CPU
//! sets up its vectors, GIC interface and tick, reports in and runs the scheduler's
//! idle loop (its boot context is its idle task).
use crate::{
    arch, irq, mem,
    percpu::{self, CPUS},
    platform::{EnableMethod, Platform},
    sched, tick,
};
use core::sync::atomic::Ordering;
use drivers::{psci, timer};
use mm::PhysAddr;

/// How long to wait for one CPU to report in.
const ONLINE_TIMEOUT_NS: u64 = 1_000_000_000;

/// Starts every secondary CPU the platform lists and waits for each.
pub fn start_secondaries(p: &Platform) {
    for (cpu, desc) in p.cpus.iter().enumerate().skip(1) {
        CPUS[cpu].mpidr.store(desc.mpidr, Ordering::Relaxed);
        let started = match desc.method {
            EnableMethod::Psci => match p.psci {
                Some(conduit) => {
                    let entry = mem::fn_phys(arch::_secondary_psci).as_u64();
                    psci::cpu_on(conduit, desc.mpidr, entry, cpu as u64).map_err(|e| {
                        defmt::error!(
                            "cpu {}: PSCI CPU_ON failed: {}",
                            cpu,
                            defmt::Debug2Format(&e)
                        )
                    })
                }
                None => {
                    defmt::error!("cpu {}: enable-method psci but no PSCI conduit", cpu);
                    Err(())
                }
            },
            EnableMethod::SpinTable { release_addr } => {
                release_spin_table(release_addr, mem::fn_phys(arch::_secondary_spin));
                Ok(())
            }
            EnableMethod::None => {
                defmt::warn!("cpu {}: no enable method, left offline", cpu);
                Err(())
            }
        };
        if started.is_ok() {
            let deadline = timer::counter() + timer::ns_to_ticks(ONLINE_TIMEOUT_NS);
            while !CPUS[cpu].online.load(Ordering::Acquire) && timer::counter() < deadline {
                core::hint::spin_loop();
            }
            if !CPUS[cpu].online.load(Ordering::Acquire) {
                defmt::error!(
                    "cpu {} (MPIDR {=u64:#x}) did not come online",
                    cpu,
                    desc.mpidr
                );
            }
        }
    }
}

fn release_spin_table(slot: PhysAddr, entry: PhysAddr) {
    // SAFETY: the spin-table slot is firmware memory reserved for exactly
    // this hand-off; the waiting CPU reads it once it sees the event.
    unsafe { core::ptr::write_volatile(mem::phys_to_virt(slot) as *mut u64, entry.as_u64()) };
    // The waiting CPU polls with its MMU and caches off.
    crate::arch::cache::clean_line_to_poc(mem::phys_to_virt(slot));
    aarch64_cpu::asm::sev();
}

/// Rust entry of a secondary CPU (from `boot.S`), on its own stack.
#[no_mangle]
extern "C" fn kernel_secondary_cpu_entry(cpu: u64, entry_el: u64) -> ! {
    let cpu = cpu as usize;
    arch::set_cpu_id(cpu);
    sched::init_secondary_cpu(cpu);
    arch::install_vectors();
    arch::user::init_pan();
    arch::user::init_el0_counter();
    arch::user::init_el0_cache_maintenance();
    crate::mmu::this_cpu_after_switch();
    let rec = &CPUS[cpu];
    rec.entry_el.store(entry_el as u8, Ordering::Relaxed);
    rec.mpidr.store(arch::mpidr(), Ordering::Relaxed);
    rec.boot_sp.store(crate::stack_pointer(), Ordering::Relaxed);
    irq::init_cpu();
    tick::start_on_this_cpu();
    percpu::mark_online(cpu);
    defmt::info!(
        "cpu {} online: MPIDR {=u64:#x}, entered at EL{}, running at EL{}",
        cpu,
        arch::mpidr(),
        entry_el,
        arch::current_el()
    );
    arch::irq_enable();
    sched::idle_loop()
}
