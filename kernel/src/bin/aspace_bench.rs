//! The address-space benchmark (`cargo xtask bench --which aspace`): per-page cost of a
//! first-touch fault, of map + touch + unmap of 4096 pages, of protecting 4096 touched
//! pages, and of unmapping them while the address space is active on 4 CPUs, each with
//! 0, 1 and 4 notifier subscribers. `CNTVCT_EL0` ticks and ns, medians; one `bench ...`
//! line per figure.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use drivers::timer;
use kernel::aspace::{self, AddressSpace, Subscription};
use kernel::task::Builder;
use kernel::{exit, percpu, sync::VALIDATION};
use mm::notifier::{AtomicCtx, Notifier, SleepCtx};
use mm::vma::{Placement, Prot};
use mm::{VaRange, PAGE_SIZE};

const RUNS: usize = 7;
const PAGES: u64 = 4096;

struct Counting(AtomicU64);
impl Notifier for Counting {
    fn invalidate_range_start(&self, _: &VaRange, _: &SleepCtx) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn invalidate_secondary_tlbs(&self, _: &VaRange, _: &AtomicCtx) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn invalidate_range_end(&self, _: &VaRange, _: &SleepCtx) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn release(&self, _: &SleepCtx) {}
}

fn print(name: &str, subscribers: usize, mut runs: [u64; RUNS]) {
    runs.sort_unstable();
    let (min, med, max) = (runs[0], runs[RUNS / 2], runs[RUNS - 1]);
    defmt::println!(
        "bench name={=str} subscribers={} unit=cntvct_per_page median={} min={} max={} median_ns={} runs={} pages={}",
        name,
        subscribers,
        med,
        min,
        max,
        timer::ticks_to_ns(med),
        RUNS,
        PAGES
    );
}

/// An address space with `subscribers` counting subscribers (subscribed
/// while the returned subscriptions live).
fn space(subscribers: usize) -> (Arc<AddressSpace>, Vec<Subscription<Counting>>) {
    let a = AddressSpace::new().expect("address space");
    let subs = (0..subscribers)
        .map(|_| {
            a.subscribe(Arc::new(Counting(AtomicU64::new(0))))
                .expect("subscribe")
        })
        .collect();
    (a, subs)
}

fn range(start: mm::VirtAddr) -> VaRange {
    VaRange::new(start, start.add(PAGES * PAGE_SIZE))
}

fn touch(start: mm::VirtAddr) {
    for i in 0..PAGES {
        // SAFETY: mapped by the caller; the first touch faults the page in.
        unsafe { core::ptr::write_volatile(start.add(i * PAGE_SIZE).as_u64() as *mut u64, i) };
    }
}

fn per_page(ticks: u64) -> u64 {
    ticks / PAGES
}

static STOP: AtomicBool = AtomicBool::new(false);

fn run_all(subscribers: usize) {
    let (a, _subscriptions) = space(subscribers);
    aspace::use_in_current_task(Some(a.clone()));
    let (mut fault, mut cycle, mut protect, mut unmap_active) =
        ([0; RUNS], [0; RUNS], [0; RUNS], [0; RUNS]);
    for r in 0..RUNS {
        // map + touch + unmap, and the touch alone (first-touch faults).
        let t0 = timer::counter();
        let va = a
            .map_anonymous(PAGES * PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        let t1 = timer::counter();
        touch(va);
        let t2 = timer::counter();
        a.unmap(range(va)).unwrap();
        let t3 = timer::counter();
        fault[r] = per_page(t2 - t1);
        cycle[r] = per_page(t3 - t0);

        // protect RW -> RO of touched pages.
        let va = a
            .map_anonymous(PAGES * PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        touch(va);
        let t0 = timer::counter();
        a.protect(range(va), Prot::R).unwrap();
        protect[r] = per_page(timer::counter() - t0);

        // unmap while three other CPUs run in the address space.
        STOP.store(false, Ordering::SeqCst);
        let spinners: Vec<_> = (1..percpu::online_count().min(4))
            .map(|cpu| {
                let a = a.clone();
                Builder::new("bench-spinner")
                    .pinned_to(cpu)
                    .spawn(move || {
                        aspace::use_in_current_task(Some(a));
                        while !STOP.load(Ordering::Relaxed) {
                            core::hint::spin_loop();
                        }
                        aspace::use_in_current_task(None);
                    })
                    .unwrap()
            })
            .collect();
        while a.active_cpus().count_ones() < spinners.len() as u32 + 1 {
            core::hint::spin_loop();
        }
        let t0 = timer::counter();
        a.unmap(range(va)).unwrap();
        unmap_active[r] = per_page(timer::counter() - t0);
        STOP.store(true, Ordering::SeqCst);
        for s in spinners {
            s.join();
        }
    }
    aspace::use_in_current_task(None);
    print("first_touch_fault", subscribers, fault);
    print("map_touch_unmap_4096", subscribers, cycle);
    print("protect_rw_to_ro_4096", subscribers, protect);
    print("unmap_4096_active_on_4_cpus", subscribers, unmap_active);
}

/// Cost of unmapping `pages` touched pages with the edu device bound to the
/// address space through the SMMU (its atomic hook invalidates the IOTLB)
/// and without; SMMU commands per unmap. virt only (no SMMU on the Pi).
fn unmap_with_device() {
    for pages in [1u64, 16, 512, 4096] {
        for bound in [false, true] {
            let (a, _) = space(0);
            let binding = if bound {
                match kernel::dev::sva::bind(&a) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        defmt::println!(
                            "bench skipped: unmap_with_device ({})",
                            defmt::Debug2Format(&e)
                        );
                        return;
                    }
                }
            } else {
                None
            };
            aspace::use_in_current_task(Some(a.clone()));
            let mut runs = [0u64; RUNS];
            let mut commands = 0;
            for run in runs.iter_mut() {
                let va = a
                    .map_anonymous(pages * PAGE_SIZE, Prot::RW, Placement::Anywhere, false)
                    .unwrap();
                for i in 0..pages {
                    // SAFETY: mapped above; the first touch faults the page in.
                    unsafe {
                        core::ptr::write_volatile(va.add(i * PAGE_SIZE).as_u64() as *mut u64, i)
                    };
                }
                let before = binding
                    .as_ref()
                    .map_or(0, |b| b.commands.load(Ordering::Relaxed));
                let t0 = timer::counter();
                a.unmap(VaRange::new(va, va.add(pages * PAGE_SIZE)))
                    .unwrap();
                *run = (timer::counter() - t0) / pages;
                commands = binding
                    .as_ref()
                    .map_or(0, |b| b.commands.load(Ordering::Relaxed))
                    - before;
            }
            aspace::use_in_current_task(None);
            if let Some(b) = binding {
                b.unbind();
            }
            runs.sort_unstable();
            defmt::println!(
                "bench name=unmap_{}_pages device={=bool} unit=cntvct_per_page median={} min={} max={} median_ns={} smmu_commands={} runs={}",
                pages,
                bound,
                runs[RUNS / 2],
                runs[0],
                runs[RUNS - 1],
                timer::ticks_to_ns(runs[RUNS / 2]),
                commands,
                RUNS
            );
        }
    }
}

#[no_mangle]
extern "C" fn main() -> ! {
    defmt::println!(
        "bench config: cntfrq_hz={} cpus={} lock_validation={=bool}",
        timer::frequency(),
        percpu::online_count(),
        VALIDATION
    );
    for subscribers in [0, 1, 4] {
        run_all(subscribers);
    }
    unmap_with_device();
    defmt::println!("bench done");
    exit::exit(0)
}
