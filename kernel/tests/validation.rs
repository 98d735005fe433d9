//! On-target suite: lock validation (DESIGN.md §2). Every rule fires: sleeping (mutex,
//! rwsem, sleep, completion, yield) under a spinlock, with IRQs off and in an interrupt
//! handler; the declared order (`mmap_lock` before `ptl`, PTLs by ascending address); a
//! learned order inversion; recursion; exiting with a lock held. Each `should_panic` test
//! has a positive twin making the same call where it is allowed, so each can fail; two
//! tests check, without panicking, which rule is named.
#![no_std]
#![no_main]

use kernel as _;

#[embedded_test::tests(default_timeout = 30)]
mod tests {
    use core::sync::atomic::{AtomicBool, Ordering};
    use core::time::Duration;
    use drivers::timer;
    use kernel::sched::{self, preempt, yield_now};
    use kernel::sync::validate::{self, check_sleepable, held_count, would_violate};
    use kernel::sync::{
        might_sleep, Completion, LockClass, LockKind, Mutex, RwSemaphore, SpinLock, SpinLockIrq,
        Violation, MMAP_LOCK, PTL, UNCLASSIFIED,
    };
    use kernel::task::{self, Builder};
    use kernel::{arch, irq};
    use policy::AtomicReason;

    const _: () = assert!(
        validate::ENABLED,
        "this suite needs lock validation compiled in"
    );

    static SPIN: SpinLock<u32> = SpinLock::new(0);
    static MUTEX: Mutex<u32> = Mutex::new(0);
    static RWSEM: RwSemaphore<u32> = RwSemaphore::new(0);
    static DONE: Completion = Completion::new();

    fn spin_ms(n: u64) {
        timer::spin_for_ns(n * 1_000_000);
    }

    // ---- per-CPU work with IRQs on ----

    /// The address-space switch works on this CPU's TTBR0 and installed
    /// record: with IRQs on, a preemption and migration could split it
    /// across two CPUs (`task_exit` once called it so).
    #[test]
    #[should_panic]
    fn the_address_space_switch_with_irqs_on_panics() {
        kernel::expect_panic::expect_panic("irqs-not-masked");
        kernel::task::activation::switch_here(None);
    }

    /// The twin: the same switch with IRQs masked.
    #[test]
    fn the_address_space_switch_with_irqs_masked_is_fine() {
        let flags = arch::irq_save();
        kernel::task::activation::switch_here(None);
        arch::irq_restore(flags);
    }

    // ---- under a spinlock ----

    #[test]
    #[should_panic]
    fn mutex_lock_under_a_spinlock_panics() {
        kernel::expect_panic::expect_panic("sleeping-lock-under-spinlock");
        let _s = SPIN.lock();
        let _m = MUTEX.lock();
    }

    #[test]
    #[should_panic]
    fn rwsem_read_under_a_spinlock_panics() {
        kernel::expect_panic::expect_panic("sleeping-lock-under-spinlock");
        let _s = SPIN.lock();
        let _r = RWSEM.read();
    }

    #[test]
    #[should_panic]
    fn rwsem_write_under_a_spinlock_panics() {
        kernel::expect_panic::expect_panic("sleeping-lock-under-spinlock");
        let _s = SPIN.lock();
        let _w = RWSEM.write();
    }

    #[test]
    #[should_panic]
    fn sleep_under_a_spinlock_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        let _s = SPIN.lock();
        sched::sleep(Duration::from_millis(1));
    }

    #[test]
    #[should_panic]
    fn completion_wait_under_a_spinlock_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        DONE.complete();
        let _s = SPIN.lock();
        DONE.wait();
    }

    #[test]
    #[should_panic]
    fn yield_under_a_spinlock_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        let _s = SPIN.lock();
        yield_now();
    }

    #[test]
    #[should_panic]
    fn might_sleep_with_preemption_disabled_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        let _p = preempt::PreemptGuard::new();
        might_sleep();
    }

    /// The twin of every test above: the same calls once the spinlock (or preemption
    /// guard) is gone are fine, all of them uncontended as above.
    #[test]
    fn the_same_calls_in_a_sleepable_context_are_fine() {
        drop(SPIN.lock());
        drop(preempt::PreemptGuard::new());
        might_sleep();
        *MUTEX.lock() += 1;
        let _ = *RWSEM.read();
        *RWSEM.write() += 1;
        sched::sleep(Duration::from_millis(1));
        DONE.complete();
        DONE.wait();
        yield_now();
        assert_eq!(held_count(), 0);
        assert_eq!(preempt::count(), 0);
    }

    // ---- with IRQs off ----

    #[test]
    #[should_panic]
    fn mutex_lock_with_irqs_off_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        let _flags = arch::irq_save();
        let _m = MUTEX.lock();
    }

    #[test]
    #[should_panic]
    fn rwsem_read_with_irqs_off_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        let _flags = arch::irq_save();
        let _r = RWSEM.read();
    }

    #[test]
    #[should_panic]
    fn sleep_with_irqs_off_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        let _flags = arch::irq_save();
        sched::sleep(Duration::from_millis(1));
    }

    #[test]
    #[should_panic]
    fn mutex_lock_under_an_irq_spinlock_panics() {
        kernel::expect_panic::expect_panic("sleeping-lock-under-spinlock");
        static IRQ_SPIN: SpinLockIrq<()> = SpinLockIrq::new(());
        let _s = IRQ_SPIN.lock();
        let _m = MUTEX.lock();
    }

    /// The twin: the same calls after IRQs are restored are fine.
    #[test]
    fn the_same_calls_with_irqs_restored_are_fine() {
        let flags = arch::irq_save();
        arch::irq_restore(flags);
        assert!(arch::irqs_enabled());
        drop(MUTEX.lock());
        drop(RWSEM.read());
        sched::sleep(Duration::from_millis(1));
    }

    // ---- in an interrupt handler ----

    const SGI: u32 = 7;
    static HANDLED: AtomicBool = AtomicBool::new(false);

    fn lock_mutex(_intid: u32) {
        drop(MUTEX.lock());
        HANDLED.store(true, Ordering::SeqCst);
    }

    fn read_rwsem(_intid: u32) {
        drop(RWSEM.read());
        HANDLED.store(true, Ordering::SeqCst);
    }

    fn nap(_intid: u32) {
        sched::sleep(Duration::from_millis(1));
        HANDLED.store(true, Ordering::SeqCst);
    }

    /// Raises the SGI on this CPU and waits for its handler (which must not sleep).
    fn interrupt_self_with(handler: irq::Handler) {
        irq::register(SGI, handler);
        irq::send_sgi(SGI, arch::cpu_id());
        let deadline = timer::counter() + timer::ns_to_ticks(200_000_000);
        while !HANDLED.load(Ordering::SeqCst) && timer::counter() < deadline {
            core::hint::spin_loop();
        }
        assert!(
            HANDLED.load(Ordering::SeqCst),
            "the SGI handler did not run"
        );
    }

    #[test]
    #[should_panic]
    fn mutex_lock_in_an_interrupt_handler_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        interrupt_self_with(lock_mutex);
    }

    #[test]
    #[should_panic]
    fn rwsem_read_in_an_interrupt_handler_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        interrupt_self_with(read_rwsem);
    }

    #[test]
    #[should_panic]
    fn sleep_in_an_interrupt_handler_panics() {
        kernel::expect_panic::expect_panic("sleep-in-atomic");
        interrupt_self_with(nap);
    }

    /// The twin: the handlers' bodies called from a task are fine; and a handler that
    /// does not sleep runs fine from the interrupt.
    #[test]
    fn the_handler_bodies_are_fine_in_a_task() {
        lock_mutex(SGI);
        read_rwsem(SGI);
        nap(SGI);
        fn harmless(_intid: u32) {
            HANDLED.store(true, Ordering::SeqCst);
        }
        HANDLED.store(false, Ordering::SeqCst);
        interrupt_self_with(harmless);
    }

    // ---- lock order ----

    static ADDRESS_SPACE: RwSemaphore<()> = RwSemaphore::new_in(&MMAP_LOCK, ());
    /// Two page-table locks; index 0 has the lower address.
    static PTLS: [SpinLock<()>; 2] = [SpinLock::new_in(&PTL, ()), SpinLock::new_in(&PTL, ())];

    #[test]
    #[should_panic]
    fn mmap_lock_taken_under_a_ptl_panics() {
        kernel::expect_panic::expect_panic("declared-lock-order");
        let _ptl = PTLS[0].lock();
        let _mm = ADDRESS_SPACE.read();
    }

    /// The twin: `mmap_lock` then a PTL is the declared order.
    #[test]
    fn mmap_lock_then_a_ptl_is_the_declared_order() {
        let _mm = ADDRESS_SPACE.write();
        let _ptl = PTLS[0].lock();
        assert_eq!(held_count(), 2);
    }

    #[test]
    #[should_panic]
    fn ptls_in_descending_address_order_panic() {
        kernel::expect_panic::expect_panic("address-lock-order");
        let _high = PTLS[1].lock();
        let _low = PTLS[0].lock();
    }

    /// The twin: ascending address order is allowed.
    #[test]
    fn ptls_in_ascending_address_order_are_fine() {
        assert!((&PTLS[0] as *const _ as usize) < (&PTLS[1] as *const _ as usize));
        let _mm = ADDRESS_SPACE.write();
        let _low = PTLS[0].lock();
        let _high = PTLS[1].lock();
    }

    static CLASS_A: LockClass = LockClass::new("test_a");
    static CLASS_B: LockClass = LockClass::new("test_b");
    static LOCK_A: SpinLock<()> = SpinLock::new_in(&CLASS_A, ());
    static LOCK_B: SpinLock<()> = SpinLock::new_in(&CLASS_B, ());

    fn a_then_b() {
        let _a = LOCK_A.lock();
        let _b = LOCK_B.lock();
    }

    /// A→B once (another task, on another CPU), then B→A here: the graph remembers the
    /// first order and reports the inversion, though the two never race.
    #[test]
    #[should_panic]
    fn an_inversion_of_a_learned_order_panics() {
        kernel::expect_panic::expect_panic("lock-order-inversion");
        Builder::new("a-then-b")
            .pinned_to(1)
            .spawn(a_then_b)
            .unwrap()
            .join();
        let _b = LOCK_B.lock();
        let _a = LOCK_A.lock();
    }

    /// The twin: the same order again, anywhere, is fine.
    #[test]
    fn the_same_learned_order_again_is_fine() {
        Builder::new("a-then-b")
            .pinned_to(1)
            .spawn(a_then_b)
            .unwrap()
            .join();
        a_then_b();
    }

    #[test]
    #[should_panic]
    fn taking_a_held_spinlock_again_panics() {
        kernel::expect_panic::expect_panic("recursive-locking");
        let _s = SPIN.lock();
        let _again = SPIN.lock();
    }

    /// The twin: two different spinlocks nest fine.
    #[test]
    fn two_different_spinlocks_nest() {
        static OTHER: SpinLock<()> = SpinLock::new(());
        let _s = SPIN.lock();
        let _o = OTHER.lock();
        assert_eq!(preempt::count(), 2);
    }

    #[test]
    #[should_panic]
    fn a_task_exiting_with_a_mutex_held_panics() {
        kernel::expect_panic::expect_panic("exit-with-locks-held");
        task::spawn("leaker", || core::mem::forget(MUTEX.lock())).join();
        spin_ms(100);
    }

    /// The twin: releasing it before the end is fine.
    #[test]
    fn a_task_releasing_its_mutex_before_exit_is_fine() {
        task::spawn("tidy", || drop(MUTEX.lock())).join();
        assert!(!MUTEX.is_locked());
    }

    // ---- which rule is named ----

    static CONTEXT_IN_IRQ: SpinLock<Option<Result<(), Violation>>> = SpinLock::new(None);

    fn record_context(_intid: u32) {
        *CONTEXT_IN_IRQ.lock() = Some(check_sleepable());
        HANDLED.store(true, Ordering::SeqCst);
    }

    /// `check_sleepable` names the reason in each atomic context, and none in a task.
    #[test]
    fn each_atomic_context_is_named() {
        assert_eq!(check_sleepable(), Ok(()));
        {
            let _s = SPIN.lock();
            assert_eq!(
                check_sleepable(),
                Err(Violation::SleepInAtomic(AtomicReason::PreemptDisabled {
                    count: 1
                }))
            );
        }
        let flags = arch::irq_save();
        let masked = check_sleepable();
        arch::irq_restore(flags);
        assert_eq!(
            masked,
            Err(Violation::SleepInAtomic(AtomicReason::IrqsDisabled))
        );
        interrupt_self_with(record_context);
        // The handler took a spinlock too, but the handler is the more specific reason.
        assert_eq!(
            *CONTEXT_IN_IRQ.lock(),
            Some(Err(Violation::SleepInAtomic(AtomicReason::InInterrupt {
                depth: 1
            })))
        );
        assert_eq!(check_sleepable(), Ok(()));
    }

    /// `would_violate` names the lock rule each acquisition would break.
    #[test]
    fn each_lock_rule_is_named() {
        let addr = &MUTEX as *const _ as usize;
        {
            let _s = SPIN.lock();
            assert_eq!(
                would_violate(&UNCLASSIFIED, LockKind::Mutex, addr),
                Some(Violation::SleepingLockUnderSpinLock {
                    acquiring: "unclassified",
                    held: "unclassified"
                })
            );
            assert_eq!(
                would_violate(&UNCLASSIFIED, LockKind::Spin, &SPIN as *const _ as usize)
                    .map(|v| v.rule()),
                Some("recursive-locking")
            );
        }
        {
            let _ptl = PTLS[1].lock();
            assert_eq!(
                would_violate(&MMAP_LOCK, LockKind::RwWrite, addr),
                Some(Violation::DeclaredOrder {
                    acquiring: "mmap_lock",
                    held: "ptl"
                })
            );
            assert_eq!(
                would_violate(&PTL, LockKind::Spin, &PTLS[0] as *const _ as usize)
                    .map(|v| v.rule()),
                Some("address-lock-order")
            );
        }
        let _mm = ADDRESS_SPACE.write();
        assert_eq!(would_violate(&PTL, LockKind::Spin, addr), None);
        assert_eq!(held_count(), 1);
    }
}
