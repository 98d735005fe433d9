//! On-target suite: the scheduler. Tasks run on every CPU, stay where they are pinned,
//! share a CPU by yielding and by timer preemption, leave the CPU while they sleep, wake
//! across CPUs with an IPI, keep their callee-saved FP/SIMD registers across voluntary
//! switches and all of them across preemption, and get their slots back after join.
#![no_std]
#![no_main]

use kernel as _;

#[embedded_test::tests(default_timeout = 30)]
mod tests {
    use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    use core::time::Duration;
    use drivers::timer;
    use kernel::sched::{self, yield_now};
    use kernel::sync::{Completion, SpinLock};
    use kernel::task::{self, stack, Builder, JoinHandle, State};
    use kernel::{arch, percpu};

    fn ms(n: u64) -> u64 {
        timer::ns_to_ticks(n * 1_000_000)
    }

    fn to_us(ticks: u64) -> u64 {
        timer::ticks_to_ns(ticks) / 1000
    }

    fn spin_ms(n: u64) {
        let end = timer::counter() + ms(n);
        while timer::counter() < end {
            core::hint::spin_loop();
        }
    }

    fn online_mask() -> u64 {
        percpu::online_cpus().fold(0, |m, c| m | 1 << c)
    }

    fn wait_blocked(h: &JoinHandle) {
        while h.task().state() != State::Blocked {
            yield_now();
        }
    }

    static SEEN: AtomicU64 = AtomicU64::new(0);

    /// Unpinned tasks spread over every online CPU (placement on idle CPUs, stealing).
    #[test]
    fn spawned_tasks_run_on_every_cpu() {
        let handles: [JoinHandle; 8] = core::array::from_fn(|_| {
            task::spawn("spread", || {
                let end = timer::counter() + ms(40);
                while timer::counter() < end {
                    SEEN.fetch_or(1 << arch::cpu_id(), Ordering::Relaxed);
                }
            })
        });
        for h in handles {
            h.join();
        }
        defmt::info!(
            "CPUs that ran tasks: {=u64:#b}, online {=u64:#b}",
            SEEN.load(Ordering::Relaxed),
            online_mask()
        );
        assert!(percpu::online_count() >= 4);
        assert_eq!(SEEN.load(Ordering::Relaxed), online_mask());
    }

    static STRAYED: AtomicU32 = AtomicU32::new(0);
    static RUNS: AtomicU32 = AtomicU32::new(0);

    /// A pinned task runs only on its CPU, across yields and sleeps.
    #[test]
    fn pinned_tasks_stay_on_their_cpu() {
        let mut handles: [Option<JoinHandle>; percpu::MAX_CPUS] = Default::default();
        for cpu in percpu::online_cpus() {
            let h = Builder::new("pinned")
                .pinned_to(cpu)
                .spawn(move || {
                    for i in 0..20 {
                        if arch::cpu_id() != cpu {
                            STRAYED.fetch_add(1, Ordering::Relaxed);
                        }
                        RUNS.fetch_add(1, Ordering::Relaxed);
                        if i % 2 == 0 {
                            yield_now();
                        } else {
                            sched::sleep(Duration::from_millis(1));
                        }
                    }
                })
                .unwrap();
            handles[cpu] = Some(h);
        }
        for h in handles.into_iter().flatten() {
            h.join();
        }
        assert_eq!(
            RUNS.load(Ordering::Relaxed),
            20 * percpu::online_count() as u32
        );
        assert_eq!(STRAYED.load(Ordering::Relaxed), 0);
    }

    static SLEPT: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    static SLEEPER_CPU_TIME: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    static SLEEPER_RUNS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    static SLEEPERS_DONE: AtomicU32 = AtomicU32::new(0);

    /// The worker's share of CPU 1 while four other tasks pinned there either sleep or
    /// busy-wait for `window_ms`: (worker CPU time, wall time), in counter ticks.
    fn share_while_others(sleep: bool, window_ms: u64) -> (u64, u64) {
        SLEEPERS_DONE.store(0, Ordering::SeqCst);
        let others: [JoinHandle; 4] = core::array::from_fn(|i| {
            Builder::new("other")
                .pinned_to(1)
                .spawn(move || {
                    let t0 = timer::counter();
                    if sleep {
                        sched::sleep(Duration::from_millis(window_ms));
                    } else {
                        spin_ms(window_ms);
                    }
                    SLEPT[i].store(timer::counter() - t0, Ordering::Relaxed);
                    SLEEPER_CPU_TIME[i].store(task::current().cpu_time(), Ordering::Relaxed);
                    SLEEPER_RUNS[i].store(task::current().runs(), Ordering::Relaxed);
                    SLEEPERS_DONE.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap()
        });
        if sleep {
            for h in &others {
                wait_blocked(h);
            }
        }
        let worker = Builder::new("worker")
            .pinned_to(1)
            .spawn(|| {
                let t0 = timer::counter();
                let c0 = task::current().cpu_time();
                while SLEEPERS_DONE.load(Ordering::SeqCst) < 4 {
                    core::hint::spin_loop();
                }
                WORKER_WALL.store(timer::counter() - t0, Ordering::SeqCst);
                WORKER_CPU.store(task::current().cpu_time() - c0, Ordering::SeqCst);
            })
            .unwrap();
        worker.join();
        for h in others {
            h.join();
        }
        (
            WORKER_CPU.load(Ordering::SeqCst),
            WORKER_WALL.load(Ordering::SeqCst),
        )
    }
    static WORKER_CPU: AtomicU64 = AtomicU64::new(0);
    static WORKER_WALL: AtomicU64 = AtomicU64::new(0);

    /// Measured: while 4 tasks sleep on CPU 1, a fifth task there gets the whole CPU; while
    /// the same 4 busy-wait instead, it gets a fraction (the control that shows the
    /// measurement can tell the difference).
    #[test]
    fn a_sleeping_task_frees_its_cpu() {
        let (cpu, wall) = share_while_others(true, 150);
        defmt::info!(
            "4 sleepers: worker ran {} us of {} us",
            to_us(cpu),
            to_us(wall)
        );
        for i in 0..4 {
            let slept = SLEPT[i].load(Ordering::Relaxed);
            let used = SLEEPER_CPU_TIME[i].load(Ordering::Relaxed);
            let runs = SLEEPER_RUNS[i].load(Ordering::Relaxed);
            defmt::info!(
                "sleeper {}: slept {} us, used {} us of CPU in {} runs",
                i,
                to_us(slept),
                to_us(used),
                runs
            );
            assert!(slept >= ms(150), "woke early: {} us", to_us(slept));
            // Counted in runs, not CPU time: an emulator thread the host descheduled for
            // 10 ms charges them to whichever task was running. A real sleep is one run up
            // to the sleep and one after the wake-up, each perhaps cut once by the tick; a
            // sleep that polls (yields until the deadline) is run at every tick of 150 ms.
            assert!(
                runs <= 4,
                "sleeper {} was run {} times while it slept",
                i,
                runs
            );
        }
        // The window must span enough ticks to mean something (the worker starts after
        // the sleepers have blocked, later on a loaded host: 150 ms less that delay).
        assert!(wall >= ms(50), "measured over {} us only", to_us(wall));
        assert!(
            cpu * 10 >= wall * 9,
            "worker got {} of {} us",
            to_us(cpu),
            to_us(wall)
        );

        let (sleep_cpu, sleep_wall) = (cpu, wall);
        let (cpu, wall) = share_while_others(false, 150);
        defmt::info!(
            "4 busy-waiters: worker ran {} us of {} us",
            to_us(cpu),
            to_us(wall)
        );
        // The control, relative to the sleeping case of this run: with four busy tasks
        // beside it the worker's share is at least 25 points lower (a fair share is
        // 20 %). An absolute bound (≤ 50 %) failed on a loaded host, where a descheduled
        // emulator ends the busy-waits early in wall time (52 % seen) while the sleepers'
        // case stays near 100 %.
        let (c, w) = (u128::from(cpu), u128::from(wall));
        let (sc, sw) = (u128::from(sleep_cpu), u128::from(sleep_wall));
        assert!(
            4 * c * sw + w * sw <= 4 * sc * w,
            "control: worker got {} of {} us beside busy tasks, {} of {} us beside sleepers",
            to_us(cpu),
            to_us(wall),
            to_us(sleep_cpu),
            to_us(sleep_wall)
        );
    }

    static LOG: SpinLock<([u8; 64], usize)> = SpinLock::new(([0; 64], 0));

    /// Two tasks on one CPU that yield after each step take turns.
    #[test]
    fn yielding_tasks_take_turns() {
        static START: AtomicBool = AtomicBool::new(false);
        let start = &START;
        let hs: [JoinHandle; 2] = core::array::from_fn(|who| {
            Builder::new("turns")
                .pinned_to(2)
                .spawn(move || {
                    while !start.load(Ordering::Acquire) {
                        yield_now();
                    }
                    for _ in 0..20 {
                        {
                            let mut log = LOG.lock();
                            let n = log.1;
                            log.0[n] = who as u8;
                            log.1 = n + 1;
                        }
                        yield_now();
                    }
                })
                .unwrap()
        });
        start.store(true, Ordering::Release);
        for h in hs {
            h.join();
        }
        let log = LOG.lock();
        let repeats = log.0[..log.1].windows(2).filter(|w| w[0] == w[1]).count();
        defmt::info!("turns: {=[u8]}", log.0[..log.1]);
        assert_eq!(log.1, 40);
        // A tick may land between a step and its yield: allow two such slips.
        assert!(repeats <= 2, "{} repeats in {:?}", repeats, &log.0[..log.1]);
    }

    static SPANS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

    /// Two CPU-bound tasks that never yield, pinned to one CPU, both make progress: the
    /// tick preempts them. Without preemption the second would start after the first ended.
    #[test]
    fn the_tick_preempts_busy_tasks_sharing_a_cpu() {
        let before = percpu::CPUS[3].preemptions.load(Ordering::Relaxed);
        let hs: [JoinHandle; 2] = core::array::from_fn(|i| {
            Builder::new("busy")
                .pinned_to(3)
                .spawn(move || {
                    SPANS[2 * i].store(timer::counter(), Ordering::SeqCst);
                    spin_ms(80);
                    SPANS[2 * i + 1].store(timer::counter(), Ordering::SeqCst);
                })
                .unwrap()
        });
        for h in hs {
            h.join();
        }
        let [a0, a1, b0, b1] = core::array::from_fn(|i| SPANS[i].load(Ordering::SeqCst));
        let preemptions = percpu::CPUS[3].preemptions.load(Ordering::Relaxed) - before;
        defmt::info!(
            "A {}..{} us, B {}..{} us, {} preemptions on cpu 3",
            0,
            to_us(a1 - a0),
            to_us(b0.saturating_sub(a0)),
            to_us(b1.saturating_sub(a0)),
            preemptions
        );
        assert!(b0 < a1 && a0 < b1, "the two tasks did not overlap in time");
        assert!(preemptions >= 2, "{} preemptions", preemptions);
    }

    /// Slots and stacks come back after join: many more tasks than slots, one at a time.
    #[test]
    fn join_frees_the_slot_for_the_next_task() {
        static RAN: AtomicU32 = AtomicU32::new(0);
        let alive = task::tasks_alive();
        for _ in 0..3 * stack::POOL_STACKS {
            task::spawn("short", || {
                RAN.fetch_add(1, Ordering::Relaxed);
            })
            .join();
        }
        assert_eq!(RAN.load(Ordering::Relaxed), 3 * stack::POOL_STACKS as u32);
        // `join` returns once the last task has exited; its slot is freed when
        // its CPU has switched away from it, which may be a moment later.
        let deadline = timer::counter() + timer::ns_to_ticks(100_000_000);
        while task::tasks_alive() != alive && timer::counter() < deadline {
            core::hint::spin_loop();
        }
        assert_eq!(task::tasks_alive(), alive, "slots leaked");
    }

    static WOKEN_AT: AtomicU64 = AtomicU64::new(0);
    static WAKE: Completion = Completion::new();

    /// A task blocked on idle CPU 2 is woken from CPU 0 by a reschedule IPI: CPU 2 counts
    /// one IPI per wake-up, and most wake-ups complete before CPU 2's next tick (a wake-up
    /// left to the tick would always wait for it).
    #[test]
    fn a_wake_up_from_another_cpu_is_delivered_by_ipi() {
        const ROUNDS: usize = 7;
        let mut latencies = [0u64; ROUNDS];
        let mut before_next_tick = 0;
        let mut ipis = 0;
        for lat in latencies.iter_mut() {
            let h = Builder::new("sleeper")
                .pinned_to(2)
                .spawn(|| {
                    WAKE.wait();
                    WOKEN_AT.store(timer::counter(), Ordering::SeqCst);
                    WOKEN_TICK.store(
                        percpu::CPUS[2].ticks.load(Ordering::SeqCst),
                        Ordering::SeqCst,
                    );
                })
                .unwrap();
            wait_blocked(&h);
            while !percpu::CPUS[2].idle.load(Ordering::Relaxed) {
                yield_now();
            }
            let ipis_before = percpu::CPUS[2].resched_ipis.load(Ordering::SeqCst);
            let tick = percpu::CPUS[2].ticks.load(Ordering::SeqCst);
            let t0 = timer::counter();
            WAKE.complete();
            h.join();
            *lat = WOKEN_AT.load(Ordering::SeqCst) - t0;
            ipis += percpu::CPUS[2].resched_ipis.load(Ordering::SeqCst) - ipis_before;
            if WOKEN_TICK.load(Ordering::SeqCst) == tick {
                before_next_tick += 1;
            }
        }
        latencies.sort_unstable();
        defmt::info!(
            "cross-CPU wake-up: median {} us, min {} us; {} IPIs; {} of {} before the next tick",
            to_us(latencies[ROUNDS / 2]),
            to_us(latencies[0]),
            ipis,
            before_next_tick,
            ROUNDS
        );
        assert_eq!(ipis, ROUNDS as u64, "one reschedule IPI per wake-up");
        assert!(
            before_next_tick > ROUNDS / 2,
            "only {} of {} wake-ups beat the tick",
            before_next_tick,
            ROUNDS
        );
    }
    static WOKEN_TICK: AtomicU64 = AtomicU64::new(0);

    /// `sleep` ends close to its deadline, not at the next 10 ms tick.
    #[test]
    fn sleep_ends_near_its_deadline() {
        let mut took = [0u64; 9];
        for t in took.iter_mut() {
            let t0 = timer::counter();
            sched::sleep(Duration::from_millis(1));
            *t = timer::counter() - t0;
        }
        took.sort_unstable();
        defmt::info!(
            "sleep(1 ms): min {} us, median {} us, max {} us",
            to_us(took[0]),
            to_us(took[4]),
            to_us(took[8])
        );
        assert!(took[0] >= ms(1), "woke after {} us", to_us(took[0]));
        assert!(
            took[4] < ms(4),
            "median sleep(1 ms) took {} us",
            to_us(took[4])
        );
    }

    const PATTERN: [u64; 8] = [
        0x0808_0808_0808_0808,
        0x0909_0909_0909_0909,
        0x1010_1010_1010_1010,
        0x1111_1111_1111_1111,
        0x1212_1212_1212_1212,
        0x1313_1313_1313_1313,
        0x1414_1414_1414_1414,
        0x1515_1515_1515_1515,
    ];

    extern "C" fn yield_from_asm() {
        yield_now();
    }

    static D_REGS: SpinLock<[u64; 8]> = SpinLock::new([0; 8]);
    static CLOBBERS: AtomicU32 = AtomicU32::new(0);

    /// d8-d15 (callee-saved) survive a voluntary switch to a task that overwrites them.
    #[test]
    fn callee_saved_fp_registers_survive_a_voluntary_switch() {
        let clobber = Builder::new("clobber")
            .pinned_to(1)
            .spawn(|| {
                for _ in 0..50 {
                    // SAFETY: overwrites FP/SIMD registers, where the kernel (soft-float) keeps nothing.
                    unsafe {
                        core::arch::asm!(
                            ".arch_extension fp",
                            ".arch_extension simd",
                            "movi v8.16b, #0xee",
                            "movi v9.16b, #0xee",
                            "movi v10.16b, #0xee",
                            "movi v11.16b, #0xee",
                            "movi v12.16b, #0xee",
                            "movi v13.16b, #0xee",
                            "movi v14.16b, #0xee",
                            "movi v15.16b, #0xee",
                        )
                    };
                    CLOBBERS.fetch_add(1, Ordering::Relaxed);
                    yield_now();
                }
            })
            .unwrap();
        let keeper = Builder::new("keeper")
            .pinned_to(1)
            .spawn(|| {
                let p = &PATTERN;
                let mut out = [0u64; 8];
                // SAFETY: loads d8-d15, calls `yield_now` (an `extern "C"` function, so
                // the C ABI's clobbers are declared), stores d8-d15 back.
                unsafe {
                    core::arch::asm!(
                        ".arch_extension fp",
                        ".arch_extension simd",
                        "ldp d8, d9, [{p}]", "ldp d10, d11, [{p}, #16]",
                        "ldp d12, d13, [{p}, #32]", "ldp d14, d15, [{p}, #48]",
                        "blr {f}",
                        "stp d8, d9, [x20]", "stp d10, d11, [x20, #16]",
                        "stp d12, d13, [x20, #32]", "stp d14, d15, [x20, #48]",
                        p = in(reg) p.as_ptr(),
                        // Callee-saved, so it survives the call.
                        in("x20") out.as_mut_ptr(),
                        f = in(reg) yield_from_asm as extern "C" fn(),
                        clobber_abi("C"),
                    )
                };
                *D_REGS.lock() = out;
            })
            .unwrap();
        keeper.join();
        clobber.join();
        assert!(CLOBBERS.load(Ordering::Relaxed) > 0);
        assert_eq!(*D_REGS.lock(), PATTERN, "d8-d15 changed across a yield");
    }

    static PREEMPTED: AtomicU64 = AtomicU64::new(0);
    static V_REGS: SpinLock<[u128; 32]> = SpinLock::new([0; 32]);

    /// All of v0-v31 survive a preemption by a task that overwrites them all.
    #[test]
    fn all_fp_registers_survive_a_preemption() {
        let keeper = Builder::new("keeper")
            .pinned_to(3)
            .spawn(|| {
                let mut out = [0u128; 32];
                // SAFETY: fills v0-v31, spins until the flag (set by a task that can only
                // run on this CPU once this one is preempted), stores v0-v31.
                unsafe {
                    core::arch::asm!(
                        ".arch_extension fp",
                        ".arch_extension simd",
                        "dup v0.2d, {p}",
                        "mov v1.16b, v0.16b", "mov v2.16b, v0.16b", "mov v3.16b, v0.16b",
                        "mov v4.16b, v0.16b", "mov v5.16b, v0.16b", "mov v6.16b, v0.16b",
                        "mov v7.16b, v0.16b", "mov v8.16b, v0.16b", "mov v9.16b, v0.16b",
                        "mov v10.16b, v0.16b", "mov v11.16b, v0.16b", "mov v12.16b, v0.16b",
                        "mov v13.16b, v0.16b", "mov v14.16b, v0.16b", "mov v15.16b, v0.16b",
                        "mov v16.16b, v0.16b", "mov v17.16b, v0.16b", "mov v18.16b, v0.16b",
                        "mov v19.16b, v0.16b", "mov v20.16b, v0.16b", "mov v21.16b, v0.16b",
                        "mov v22.16b, v0.16b", "mov v23.16b, v0.16b", "mov v24.16b, v0.16b",
                        "mov v25.16b, v0.16b", "mov v26.16b, v0.16b", "mov v27.16b, v0.16b",
                        "mov v28.16b, v0.16b", "mov v29.16b, v0.16b", "mov v30.16b, v0.16b",
                        "mov v31.16b, v0.16b",
                        "2: ldr {t}, [{flag}]",
                        "cbz {t}, 2b",
                        "st1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{o}], #64",
                        "st1 {{v4.2d, v5.2d, v6.2d, v7.2d}}, [{o}], #64",
                        "st1 {{v8.2d, v9.2d, v10.2d, v11.2d}}, [{o}], #64",
                        "st1 {{v12.2d, v13.2d, v14.2d, v15.2d}}, [{o}], #64",
                        "st1 {{v16.2d, v17.2d, v18.2d, v19.2d}}, [{o}], #64",
                        "st1 {{v20.2d, v21.2d, v22.2d, v23.2d}}, [{o}], #64",
                        "st1 {{v24.2d, v25.2d, v26.2d, v27.2d}}, [{o}], #64",
                        "st1 {{v28.2d, v29.2d, v30.2d, v31.2d}}, [{o}], #64",
                        p = in(reg) 0x5a5a_1234_8765_a5a5u64,
                        flag = in(reg) PREEMPTED.as_ptr(),
                        t = out(reg) _,
                        o = inout(reg) out.as_mut_ptr() => _,
                    )
                };
                *V_REGS.lock() = out;
            })
            .unwrap();
        let clobber = Builder::new("clobber")
            .pinned_to(3)
            .spawn(|| {
                // SAFETY: overwrites FP/SIMD registers, where the kernel (soft-float) keeps nothing.
                unsafe {
                    core::arch::asm!(
                        ".arch_extension fp",
                        ".arch_extension simd",
                        "movi v0.16b, #0xee",
                        "movi v1.16b, #0xee",
                        "movi v2.16b, #0xee",
                        "movi v3.16b, #0xee",
                        "movi v4.16b, #0xee",
                        "movi v5.16b, #0xee",
                        "movi v6.16b, #0xee",
                        "movi v7.16b, #0xee",
                        "movi v8.16b, #0xee",
                        "movi v9.16b, #0xee",
                        "movi v10.16b, #0xee",
                        "movi v11.16b, #0xee",
                        "movi v12.16b, #0xee",
                        "movi v13.16b, #0xee",
                        "movi v14.16b, #0xee",
                        "movi v15.16b, #0xee",
                        "movi v16.16b, #0xee",
                        "movi v17.16b, #0xee",
                        "movi v18.16b, #0xee",
                        "movi v19.16b, #0xee",
                        "movi v20.16b, #0xee",
                        "movi v21.16b, #0xee",
                        "movi v22.16b, #0xee",
                        "movi v23.16b, #0xee",
                        "movi v24.16b, #0xee",
                        "movi v25.16b, #0xee",
                        "movi v26.16b, #0xee",
                        "movi v27.16b, #0xee",
                        "movi v28.16b, #0xee",
                        "movi v29.16b, #0xee",
                        "movi v30.16b, #0xee",
                        "movi v31.16b, #0xee",
                    )
                };
                PREEMPTED.store(1, Ordering::SeqCst);
            })
            .unwrap();
        clobber.join();
        keeper.join();
        let expect = 0x5a5a_1234_8765_a5a5_5a5a_1234_8765_a5a5u128;
        let got = *V_REGS.lock();
        for (i, v) in got.iter().enumerate() {
            assert_eq!(*v, expect, "v{} changed across a preemption", i);
        }
    }

    /// A stack frame of `N` bytes, all written.
    #[inline(never)]
    fn frame_of<const N: usize>() -> u8 {
        let frame = core::hint::black_box([7u8; N]);
        frame[N / 2]
    }

    /// A task that runs below its stack (half a KiB into the guard) is stopped at its next
    /// switch by the canary check.
    #[test]
    #[should_panic]
    fn a_stack_overflow_is_caught_at_the_next_switch() {
        kernel::expect_panic::expect_panic("overflow");
        Builder::new("deep")
            .pinned_to(1)
            .spawn(|| {
                core::hint::black_box(frame_of::<{ stack::STACK_SIZE + 512 }>());
                yield_now();
            })
            .unwrap()
            .join();
    }

    /// The twin: the same task with a frame of half its stack runs fine; and the guard
    /// pages sit right below the stacks.
    #[test]
    fn a_task_within_its_stack_runs_and_guards_sit_below_stacks() {
        Builder::new("shallow")
            .pinned_to(1)
            .spawn(|| {
                core::hint::black_box(frame_of::<{ stack::STACK_SIZE / 2 }>());
                yield_now();
            })
            .unwrap()
            .join();
        for (slot, guard) in stack::guard_pages().enumerate() {
            let s = stack::stack_range(slot);
            assert_eq!(guard.end, s.start);
            assert_eq!(guard.start % 4096, 0);
            assert_eq!(guard.len(), stack::GUARD_SIZE);
        }
    }
}
