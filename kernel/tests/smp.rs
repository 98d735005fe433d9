//! On-target suite: every CPU the platform describes is online, at EL1, on
//! its own stack.
#![no_std]
#![no_main]

use kernel as _;

#[embedded_test::tests(default_timeout = 30)]
mod tests {
    use core::sync::atomic::Ordering;
    use kernel::{percpu, platform};

    extern "C" {
        static __stacks_start: u8;
    }
    const STACK_SLOT: u64 = 4096 + 65536;

    #[test]
    fn every_described_cpu_is_online() {
        let described = platform::get().unwrap().cpus.len();
        defmt::info!(
            "{} CPUs described, {} online",
            described,
            percpu::online_count()
        );
        assert!(
            described >= 2,
            "the platform describes {} CPU(s)",
            described
        );
        assert_eq!(percpu::online_count(), described);
    }

    #[test]
    fn each_cpu_has_its_own_identity_el_and_stack() {
        let stacks = core::ptr::addr_of!(__stacks_start) as u64;
        let mut seen = [u64::MAX; percpu::MAX_CPUS];
        for cpu in percpu::online_cpus() {
            let rec = &percpu::CPUS[cpu];
            let mpidr = rec.mpidr.load(Ordering::Relaxed) & 0xff_00ff_ffff;
            assert!(
                !seen.contains(&mpidr),
                "cpu {} repeats MPIDR {:#x}",
                cpu,
                mpidr
            );
            seen[cpu] = mpidr;
            let el = rec.entry_el.load(Ordering::Relaxed);
            assert!((1..=3).contains(&el), "cpu {} entry EL {}", cpu, el);
            let sp = rec.boot_sp.load(Ordering::Relaxed);
            let lo = stacks + cpu as u64 * STACK_SLOT + 4096;
            let hi = stacks + (cpu as u64 + 1) * STACK_SLOT;
            assert!(
                sp > lo && sp <= hi,
                "cpu {} sp {:#x} outside its stack {:#x}..{:#x}",
                cpu,
                sp,
                lo,
                hi
            );
        }
        assert_eq!(kernel::arch::current_el(), 1);
    }
}
