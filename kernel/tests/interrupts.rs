//! On-target suite: the GIC delivers interrupts to registered handlers on
//! every CPU, and the timer ticks at the configured rate everywhere.
#![no_std]
#![no_main]

use kernel as _;

#[embedded_test::tests(default_timeout = 30)]
mod tests {
    use core::sync::atomic::{AtomicU64, Ordering};
    use drivers::timer;
    use kernel::{arch, irq, percpu, tick};

    #[test]
    fn timer_ticks_on_every_cpu_at_the_configured_rate() {
        let window_ms = 500u64;
        let before: [u64; percpu::MAX_CPUS] =
            core::array::from_fn(|c| percpu::CPUS[c].ticks.load(Ordering::Relaxed));
        let t0 = timer::counter();
        timer::spin_for_ns(window_ms * 1_000_000);
        let elapsed_ms = timer::ticks_to_ns(timer::counter() - t0) / 1_000_000;
        let expected = tick::TICK_HZ * elapsed_ms / 1000;
        let mut cpus = 0;
        for cpu in percpu::online_cpus() {
            cpus += 1;
            let n = percpu::CPUS[cpu].ticks.load(Ordering::Relaxed) - before[cpu];
            defmt::info!(
                "cpu {}: {} ticks in {} ms, expected {}",
                cpu,
                n,
                elapsed_ms,
                expected
            );
            // Emulation jitter: accept +-30 %.
            assert!(
                n * 10 >= expected * 7 && n * 10 <= expected * 13,
                "cpu {} took {} ticks in {} ms, expected {} at {} Hz",
                cpu,
                n,
                elapsed_ms,
                expected,
                tick::TICK_HZ
            );
        }
        assert!(cpus > 1, "only {} CPU online", cpus);
    }

    static SGI_SEEN: AtomicU64 = AtomicU64::new(0);
    fn on_sgi(_intid: u32) {
        SGI_SEEN.fetch_or(1 << arch::cpu_id(), Ordering::SeqCst);
    }

    #[test]
    fn sgi_reaches_the_registered_handler_on_every_cpu() {
        const SGI: u32 = 1;
        irq::register(SGI, on_sgi);
        let mut want = 0u64;
        for cpu in percpu::online_cpus() {
            want |= 1 << cpu;
            irq::send_sgi(SGI, cpu);
        }
        let deadline = timer::counter() + timer::ns_to_ticks(1_000_000_000);
        while SGI_SEEN.load(Ordering::SeqCst) != want && timer::counter() < deadline {
            core::hint::spin_loop();
        }
        assert_eq!(
            SGI_SEEN.load(Ordering::SeqCst),
            want,
            "CPUs that ran the handler (bitmask)"
        );
    }

    static HELD: AtomicU64 = AtomicU64::new(0);
    fn on_held(_intid: u32) {
        HELD.fetch_add(1, Ordering::SeqCst);
    }

    /// Negative control: a disabled interrupt does not reach its handler
    /// until it is enabled, and then it does (it was held pending). Uses the
    /// last SPI the distributor implements, which no device drives (SGIs
    /// cannot be disabled on GIC-400).
    #[test]
    fn disabled_interrupt_is_held_pending_until_enabled() {
        let spi = irq::gic().lines() - 1;
        irq::register(spi, on_held);
        irq::disable(spi);
        irq::gic().set_pending(spi);
        timer::spin_for_ns(20_000_000);
        assert_eq!(
            HELD.load(Ordering::SeqCst),
            0,
            "a disabled interrupt was delivered"
        );
        irq::enable(spi);
        timer::spin_for_ns(20_000_000);
        assert_eq!(
            HELD.load(Ordering::SeqCst),
            1,
            "the pending interrupt was not delivered once enabled"
        );
    }

    static CLOBBERED: AtomicU64 = AtomicU64::new(0);
    fn clobber_fp_simd(_intid: u32) {
        // Floating-point work in a handler: the soft-float target does it in general
        // registers (a hard-float kernel would use d0/d1 here and corrupt the
        // interrupted code's, since no exception saves them).
        let x = core::hint::black_box(1.5f64) * core::hint::black_box(2.25f64);
        let y = core::hint::black_box(x) / core::hint::black_box(3.0f64);
        CLOBBERED.store(y.to_bits() | 1, Ordering::SeqCst);
    }

    /// An interrupt handler that computes with floating point must not corrupt the
    /// FP/SIMD registers of the code it interrupted: the vectors save none of them, so the
    /// kernel (soft-float target) must never touch them.
    #[test]
    fn fp_simd_registers_survive_an_interrupt() {
        const SGI: u32 = 3;
        const PATTERN: u64 = 0x0123_4567_89ab_cdef;
        irq::register(SGI, clobber_fp_simd);
        let flags = arch::irq_save();
        irq::send_sgi(SGI, arch::cpu_id());
        let (v0, v15_high, v31_high): (u64, u64, u64);
        // SAFETY: fills three vector registers (the kernel keeps no value in them),
        // takes the pending SGI with IRQs briefly unmasked, then reads them back.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "dup v0.2d, {p}",
                "dup v15.2d, {p}",
                "dup v31.2d, {p}",
                "msr daifclr, #2",
                "isb",
                "2: ldr {t}, [{flag}]",
                "cbz {t}, 2b",
                "msr daifset, #2",
                "fmov {r0}, d0",
                "mov {r15}, v15.d[1]",
                "mov {r31}, v31.d[1]",
                p = in(reg) PATTERN,
                flag = in(reg) CLOBBERED.as_ptr(),
                t = out(reg) _,
                r0 = out(reg) v0,
                r15 = out(reg) v15_high,
                r31 = out(reg) v31_high,
            )
        };
        arch::irq_restore(flags);
        assert_ne!(
            CLOBBERED.load(Ordering::SeqCst),
            0,
            "the SGI handler did not run"
        );
        assert_eq!(
            [v0, v15_high, v31_high],
            [PATTERN; 3],
            "FP/SIMD registers corrupted by an interrupt"
        );
    }
}
