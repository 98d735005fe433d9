//! The scheduler and lock benchmark (`cargo xtask bench`): context switch, spinlock and
//! mutex acquire/release uncontended and contended from 4 CPUs, rwsem read acquire, and
//! cross-CPU wake-up latency, in `CNTVCT_EL0` ticks. Prints one `bench ...` line per figure
//! (median, min and max over the runs) and powers off.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use drivers::timer;
use kernel::sched::yield_now;
use kernel::sync::{Completion, Mutex, RwSemaphore, SpinLock, VALIDATION};
use kernel::task::{Builder, JoinHandle};
use kernel::{exit, percpu};

/// Runs per figure (the median is taken over these).
const RUNS: usize = 21;

/// Per-run results of one figure, in hundredths of a counter tick per operation.
struct Figure {
    name: &'static str,
    ops: u64,
    runs: [u64; RUNS],
    /// Mutex acquisitions that slept during all runs (`slept=-1` where it does not apply).
    slept: Option<u64>,
}

impl Figure {
    fn new(name: &'static str, ops: u64) -> Self {
        Self {
            name,
            ops,
            runs: [0; RUNS],
            slept: None,
        }
    }

    /// Records run `r`: `ticks` for `self.ops` operations.
    fn record(&mut self, r: usize, ticks: u64) {
        self.runs[r] = ticks * 100 / self.ops;
    }

    fn print(mut self) {
        self.runs.sort_unstable();
        let (min, median, max) = (self.runs[0], self.runs[RUNS / 2], self.runs[RUNS - 1]);
        let ns = timer::ticks_to_ns(median) / 100;
        defmt::println!(
            "bench name={=str} unit=cntvct median={}.{=u64:02} min={}.{=u64:02} max={}.{=u64:02} median_ns={} runs={} ops_per_run={} slept={=i64}",
            self.name,
            median / 100,
            median % 100,
            min / 100,
            min % 100,
            max / 100,
            max % 100,
            ns,
            RUNS,
            self.ops,
            self.slept.map_or(-1, |n| n as i64)
        );
    }
}

fn measure(name: &'static str, ops: u64, mut op: impl FnMut()) {
    let mut fig = Figure::new(name, ops);
    for _ in 0..ops {
        op();
    }
    for r in 0..RUNS {
        let t0 = timer::counter();
        for _ in 0..ops {
            op();
        }
        fig.record(r, timer::counter() - t0);
    }
    fig.print();
}

static STOP: AtomicBool = AtomicBool::new(false);
static SWITCH_RUNS: [AtomicU64; RUNS] = [const { AtomicU64::new(0) }; RUNS];

/// Two tasks on CPU 1 yield to each other: each yield of the measuring task is two
/// context switches.
fn ctx_switch() {
    const YIELDS: u64 = 500;
    STOP.store(false, Ordering::SeqCst);
    let partner = Builder::new("partner")
        .pinned_to(1)
        .spawn(|| {
            while !STOP.load(Ordering::Relaxed) {
                yield_now();
            }
        })
        .unwrap();
    let meter = Builder::new("meter")
        .pinned_to(1)
        .spawn(|| {
            for _ in 0..YIELDS {
                yield_now();
            }
            for run in &SWITCH_RUNS {
                let t0 = timer::counter();
                for _ in 0..YIELDS {
                    yield_now();
                }
                run.store(timer::counter() - t0, Ordering::Relaxed);
            }
            STOP.store(true, Ordering::SeqCst);
        })
        .unwrap();
    meter.join();
    partner.join();
    let mut fig = Figure::new("ctx_switch", 2 * YIELDS);
    for (r, run) in SWITCH_RUNS.iter().enumerate() {
        fig.record(r, run.load(Ordering::Relaxed));
    }
    fig.print();
}

static CONTENDED_RUNS: [AtomicU64; RUNS] = [const { AtomicU64::new(0) }; RUNS];
static READY: AtomicU32 = AtomicU32::new(0);

/// `op` on 4 CPUs at once, `ops` times each per run; the figure is one CPU's time per
/// operation (the slowest CPU's time for the run / `ops`).
fn contended(name: &'static str, ops: u64, op: fn()) -> Figure {
    let cpus = percpu::online_count().min(4);
    for run in &CONTENDED_RUNS {
        READY.store(0, Ordering::SeqCst);
        let hs: [Option<JoinHandle>; 4] = core::array::from_fn(|cpu| {
            (cpu < cpus).then(|| {
                Builder::new("contender")
                    .pinned_to(cpu)
                    .spawn(move || {
                        READY.fetch_add(1, Ordering::SeqCst);
                        while READY.load(Ordering::SeqCst) < cpus as u32 {
                            core::hint::spin_loop();
                        }
                        let t0 = timer::counter();
                        for _ in 0..ops {
                            op();
                        }
                        let t = timer::counter() - t0;
                        run.fetch_max(t, Ordering::Relaxed);
                    })
                    .unwrap()
            })
        });
        for h in hs.into_iter().flatten() {
            h.join();
        }
    }
    let mut fig = Figure::new(name, ops);
    for (r, run) in CONTENDED_RUNS.iter().enumerate() {
        fig.record(r, run.swap(0, Ordering::Relaxed));
    }
    fig
}

static SPIN: SpinLock<u64> = SpinLock::new(0);
static MUTEX: Mutex<u64> = Mutex::new(0);
static RWSEM: RwSemaphore<u64> = RwSemaphore::new(0);

static WAKE: Completion = Completion::new();
static WOKEN_AT: AtomicU64 = AtomicU64::new(0);

/// A task blocked on idle CPU 2 is completed from CPU 0: time from `complete()` to the
/// task running (IPI, WFI exit, switch). One operation per run.
fn wake_latency() {
    let mut fig = Figure::new("wake_cross_cpu", 1);
    for r in 0..RUNS {
        let h = Builder::new("sleeper")
            .pinned_to(2)
            .spawn(|| {
                WAKE.wait();
                WOKEN_AT.store(timer::counter(), Ordering::SeqCst);
            })
            .unwrap();
        while h.task().state() != kernel::task::State::Blocked
            || !percpu::CPUS[2].idle.load(Ordering::SeqCst)
        {
            yield_now();
        }
        let t0 = timer::counter();
        WAKE.complete();
        h.join();
        fig.record(r, WOKEN_AT.load(Ordering::SeqCst) - t0);
    }
    fig.print();
}

#[no_mangle]
extern "C" fn main() -> ! {
    defmt::println!(
        "bench config: cntfrq_hz={} cpus={} lock_validation={=bool}",
        timer::frequency(),
        percpu::online_count(),
        VALIDATION
    );
    ctx_switch();
    measure("spinlock_uncontended", 2000, || {
        *SPIN.lock() += 1;
    });
    contended("spinlock_contended_4cpu", 5000, || {
        *SPIN.lock() += 1;
    })
    .print();
    measure("mutex_uncontended", 2000, || {
        *MUTEX.lock() += 1;
    });
    let slept_before = MUTEX.contentions();
    let mut fig = contended("mutex_contended_4cpu", 1000, || {
        *MUTEX.lock() += 1;
    });
    fig.slept = Some(MUTEX.contentions() - slept_before);
    fig.print();
    measure("rwsem_read_uncontended", 2000, || {
        core::hint::black_box(*RWSEM.read());
    });
    contended("rwsem_read_shared_4cpu", 5000, || {
        core::hint::black_box(*RWSEM.read());
    })
    .print();
    wake_latency();
    defmt::println!("bench done");
    exit::exit(0)
}
