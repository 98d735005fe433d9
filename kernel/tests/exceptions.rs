//! On-target suite: the EL1 vector table catches, decodes and returns from
//! synchronous exceptions; unexpected ones stop the kernel with a report.
#![no_std]
#![no_main]

use kernel as _;

#[embedded_test::tests(default_timeout = 30)]
mod tests {
    use core::ptr;
    use core::sync::atomic::Ordering;
    use kernel::arch::{self, esr};
    use kernel::selfcheck::UNMAPPED_PROBE;
    use kernel::trap;

    #[test]
    fn data_abort_on_read_is_caught_and_decoded() {
        let report = trap::catch_fault(|| {
            // SAFETY: the probe address is unmapped; the fault is caught.
            unsafe { ptr::read_volatile(UNMAPPED_PROBE as *const u64) };
        })
        .expect_err("reading an unmapped address did not fault");
        assert_eq!(
            report.class(),
            esr::ec::DATA_ABORT_SAME,
            "wrong exception class"
        );
        assert_eq!(
            report.far, UNMAPPED_PROBE,
            "FAR does not name the probed address"
        );
        assert!(!esr::is_write(report.esr), "a read was decoded as a write");
        let fsc = esr::fault_status(report.esr);
        defmt::info!(
            "decoded: {=str}, {=str}",
            esr::class_name(report.class()),
            esr::fault_status_name(fsc)
        );
    }

    #[test]
    fn data_abort_on_write_is_decoded_as_write() {
        let report = trap::catch_fault(|| {
            // SAFETY: the probe address is unmapped, so the store faults
            // (caught by `catch_fault`) and never reaches memory.
            unsafe { ptr::write_volatile((UNMAPPED_PROBE + 8) as *mut u64, 0x5a5a) };
        })
        .expect_err("writing an unmapped address did not fault");
        assert_eq!(report.class(), esr::ec::DATA_ABORT_SAME);
        assert_eq!(report.far, UNMAPPED_PROBE + 8);
        assert!(esr::is_write(report.esr), "a write was decoded as a read");
    }

    #[test]
    fn catch_fault_reports_nothing_for_a_good_access() {
        let mut x = 7u64;
        let r = trap::catch_fault(|| {
            // SAFETY: `x` is a live local.
            unsafe { ptr::write_volatile(&mut x, 8) };
        });
        assert!(r.is_ok(), "a valid access was reported as a fault");
        assert_eq!(x, 8);
    }

    /// The fault catcher is armed per CPU: from arming to disarming the task
    /// must not migrate (a fault on another CPU would find it unarmed and
    /// stop the kernel), so `catch_fault` itself keeps preemption off.
    #[test]
    fn catch_fault_keeps_the_task_on_its_cpu_while_armed() {
        let outside = kernel::task::current().preempt_count();
        let mut inside = 0;
        let r = trap::catch_fault(|| inside = kernel::task::current().preempt_count());
        assert_eq!(r, Ok(()));
        assert!(
            inside > outside,
            "preemption was on while the catcher was armed ({inside} <= {outside})"
        );
    }

    #[test]
    fn svc_traps_and_returns() {
        let cpu = arch::cpu_id();
        let before = trap::TRAPS[cpu].svc.load(Ordering::Relaxed);
        // SAFETY: `svc` enters our vector, which records it and returns.
        unsafe { core::arch::asm!("svc #0x42") };
        assert_eq!(trap::TRAPS[cpu].svc.load(Ordering::Relaxed), before + 1);
        assert_eq!(trap::TRAPS[cpu].last_imm.load(Ordering::Relaxed), 0x42);
    }

    #[test]
    fn brk_traps_and_returns() {
        let cpu = arch::cpu_id();
        let before = trap::TRAPS[cpu].brk.load(Ordering::Relaxed);
        // SAFETY: the vector steps over the `brk` and returns.
        unsafe { core::arch::asm!("brk #0x7") };
        assert_eq!(trap::TRAPS[cpu].brk.load(Ordering::Relaxed), before + 1);
        assert_eq!(trap::TRAPS[cpu].last_imm.load(Ordering::Relaxed), 0x7);
    }

    /// Negative control: without `catch_fault`, the same access is reported
    /// and stops the kernel (the runner expects the panic status).
    #[test]
    #[should_panic]
    fn unexpected_data_abort_panics() {
        kernel::expect_panic::expect_panic("unhandled synchronous exception");
        // SAFETY: deliberately faulting.
        unsafe { ptr::read_volatile(UNMAPPED_PROBE as *const u64) };
    }

    #[test]
    #[should_panic]
    fn undefined_instruction_panics() {
        kernel::expect_panic::expect_panic("unhandled synchronous exception");
        // SAFETY: deliberately executing a permanently undefined instruction.
        unsafe { core::arch::asm!("udf #0") };
    }
}
