//! Host tests of the notifier protocol and its validation, and of a driver
//! that caches translations under the interval protocol, against the model
//! MMU: the cache must never hand out a translation the tables no longer
//! have (and the negative control shows the check sees it when it does).
use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use super::*;
use crate::addr::{PhysAddr, VaRange, VirtAddr};
use crate::attrs::Attributes;
use crate::gather::Gather;
use crate::phys::PhysMem;
use crate::table::{Constraints, PageTable};
use crate::tests::{range, setup, A72, MAX};
use crate::tlb::TlbMaintenance;
use crate::FrameSource;

/// The platform side in host tests: "atomic" while the test holds the PTL.
#[derive(Default)]
struct ModelChecks {
    atomic: Cell<bool>,
    might_sleep_calls: Cell<u32>,
}

impl ContextChecks for ModelChecks {
    fn might_sleep(&self, caller: &'static Location<'static>) {
        self.might_sleep_calls.set(self.might_sleep_calls.get() + 1);
        assert!(
            !self.atomic.get(),
            "might_sleep() in atomic context at {caller}"
        );
    }
    fn assert_atomic(&self, caller: &'static Location<'static>) {
        assert!(
            self.atomic.get(),
            "atomic hook called without the page-table lock at {caller}"
        );
    }
    fn violation(&self, v: NotifierViolation, caller: &'static Location<'static>) -> ! {
        panic!("{}: {:?} at {caller}", v.rule(), v)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Start(VaRange),
    Hook(VaRange),
    End(VaRange),
    Release,
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Notifier for Recorder {
    fn invalidate_range_start(&self, r: &VaRange, _: &SleepCtx) {
        self.events.lock().unwrap().push(Event::Start(*r));
    }
    fn invalidate_secondary_tlbs(&self, r: &VaRange, _: &AtomicCtx) {
        self.events.lock().unwrap().push(Event::Hook(*r));
    }
    fn invalidate_range_end(&self, r: &VaRange, _: &SleepCtx) {
        self.events.lock().unwrap().push(Event::End(*r));
    }
    fn release(&self, _: &SleepCtx) {
        self.events.lock().unwrap().push(Event::Release);
    }
}

fn shared<T>(t: T) -> Arc<T> {
    Arc::new(t)
}

/// One layout change in DESIGN.md §1 order: start → {PTL: edit, CPU TLBI +
/// DSB (flush), atomic hook} → end → free what was unlinked.
fn change<M, A, F>(
    pt: &mut PageTable<M, A, F>,
    n: &mut Notifiers,
    checks: &ModelChecks,
    r: VaRange,
    op: impl FnOnce(&mut PageTable<M, A, F>, &mut Gather<M>),
) where
    M: PhysMem + Clone,
    A: TlbMaintenance,
    F: FrameSource,
{
    n.invalidate_range_start(r, checks);
    checks.atomic.set(true);
    let mut g = pt.gather();
    op(pt, &mut g);
    let flushed = g.flush(pt.arch());
    n.invalidate_secondary_tlbs(r, checks);
    checks.atomic.set(false);
    n.invalidate_range_end(r, checks);
    flushed.release(pt.frames_mut()).expect("release");
}

#[test]
fn subscribers_see_start_hook_end_in_order_with_covering_ranges() {
    setup!(mem, mmu, pt, MAX, 4 << 20);
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    let a = shared(Recorder::default());
    let b = shared(Recorder::default());
    n.subscribe(a.clone()).unwrap();
    n.subscribe(b.clone()).unwrap();
    let r = range(0x10_0000, 0x4000);
    let base = mem.range().start;
    change(&mut pt, &mut n, &checks, r, |pt, g| {
        pt.map(r, base, Attributes::USER_DATA, Constraints::PAGES_ONLY, g)
            .unwrap()
    });
    change(&mut pt, &mut n, &checks, r, |pt, g| pt.unmap(r, g).unwrap());
    for s in [&a, &b] {
        let ev = s.events.lock().unwrap().clone();
        assert_eq!(
            ev,
            [
                Event::Start(r),
                Event::Hook(r),
                Event::End(r),
                Event::Start(r),
                Event::Hook(r),
                Event::End(r)
            ]
        );
    }
    n.release(&checks);
    assert_eq!(a.events.lock().unwrap().last(), Some(&Event::Release));
    assert_eq!(n.subscribers(), 0, "release empties the list");
    let _ = &mmu;
}

#[test]
fn might_sleep_runs_in_every_sleepable_wrapper_without_subscribers() {
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    let r = range(0x1000, 0x1000);
    n.invalidate_range_start(r, &checks);
    checks.atomic.set(true);
    n.invalidate_secondary_tlbs(r, &checks);
    checks.atomic.set(false);
    n.invalidate_range_end(r, &checks);
    n.release(&checks);
    assert_eq!(
        checks.might_sleep_calls.get(),
        3,
        "start, end and release each call might_sleep()"
    );
}

#[test]
#[should_panic(expected = "might_sleep() in atomic context")]
fn start_in_atomic_context_is_caught_even_without_subscribers() {
    let checks = ModelChecks::default();
    checks.atomic.set(true);
    Notifiers::new().invalidate_range_start(range(0x1000, 0x1000), &checks);
}

#[test]
#[should_panic(expected = "outside an open invalidate_range_start window")]
fn atomic_hook_without_a_window_is_caught() {
    let checks = ModelChecks::default();
    checks.atomic.set(true);
    Notifiers::new().invalidate_secondary_tlbs(range(0x1000, 0x1000), &checks);
}

#[test]
#[should_panic(expected = "outside an open invalidate_range_start window")]
fn atomic_hook_for_a_wider_range_than_the_window_is_caught() {
    let checks = ModelChecks::default();
    let n = Notifiers::new();
    n.invalidate_range_start(range(0x1000, 0x1000), &checks);
    checks.atomic.set(true);
    n.invalidate_secondary_tlbs(range(0x1000, 0x2000), &checks);
}

#[test]
#[should_panic(expected = "without the page-table lock")]
fn atomic_hook_outside_atomic_context_is_caught() {
    let checks = ModelChecks::default();
    let n = Notifiers::new();
    let r = range(0x1000, 0x1000);
    n.invalidate_range_start(r, &checks);
    n.invalidate_secondary_tlbs(r, &checks);
}

#[test]
#[should_panic(expected = "without a matching invalidate_range_start")]
fn unbalanced_end_is_caught() {
    let checks = ModelChecks::default();
    let n = Notifiers::new();
    n.invalidate_range_start(range(0x1000, 0x1000), &checks);
    n.invalidate_range_end(range(0x2000, 0x1000), &checks);
}

#[test]
#[should_panic(expected = "torn down with invalidate_range_start windows still open")]
fn teardown_with_an_open_window_is_caught() {
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    n.invalidate_range_start(range(0x1000, 0x1000), &checks);
    n.release(&checks);
}

#[test]
#[should_panic(expected = "release ran twice")]
fn release_runs_once() {
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    n.release(&checks);
    n.release(&checks);
}

#[test]
fn nested_windows_cover_and_close_in_any_order() {
    let checks = ModelChecks::default();
    let n = Notifiers::new();
    let (outer, inner) = (range(0x1000, 0x10000), range(0x4000, 0x1000));
    n.invalidate_range_start(outer, &checks);
    n.invalidate_range_start(inner, &checks);
    n.invalidate_range_start(inner, &checks);
    assert_eq!(n.open_windows(), 3);
    checks.atomic.set(true);
    n.invalidate_secondary_tlbs(range(0x8000, 0x2000), &checks); // inside outer only
    checks.atomic.set(false);
    n.invalidate_range_end(outer, &checks);
    n.invalidate_range_end(inner, &checks);
    n.invalidate_range_end(inner, &checks);
    assert_eq!(n.open_windows(), 0);
}

#[test]
fn subscription_rules() {
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    let subs: Vec<Arc<Recorder>> = (0..MAX_SUBSCRIBERS + 1)
        .map(|_| shared(Recorder::default()))
        .collect();
    for s in &subs[..MAX_SUBSCRIBERS] {
        n.subscribe(s.clone()).unwrap();
    }
    assert_eq!(
        n.subscribe(subs[0].clone()),
        Err(SubscribeError::AlreadySubscribed)
    );
    assert_eq!(
        n.subscribe(subs[MAX_SUBSCRIBERS].clone()),
        Err(SubscribeError::Full)
    );
    assert!(n.unsubscribe(&*subs[0]).is_some());
    assert!(n.unsubscribe(&*subs[0]).is_none());
    n.subscribe(subs[MAX_SUBSCRIBERS].clone()).unwrap();
    n.release(&checks);
    assert_eq!(n.subscribe(subs[0].clone()), Err(SubscribeError::Released));
}

/// A subscriber that counts its calls and says when it is freed.
struct Counted {
    calls: Arc<AtomicUsize>,
    freed: Arc<AtomicBool>,
}

impl Notifier for Counted {
    fn invalidate_range_start(&self, _: &VaRange, _: &SleepCtx) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn invalidate_secondary_tlbs(&self, _: &VaRange, _: &AtomicCtx) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn invalidate_range_end(&self, _: &VaRange, _: &SleepCtx) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn release(&self, _: &SleepCtx) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.freed.store(true, Ordering::Relaxed);
    }
}

fn counted() -> (Arc<dyn Notifier>, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let (calls, freed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let n: Arc<dyn Notifier> = Arc::new(Counted {
        calls: calls.clone(),
        freed: freed.clone(),
    });
    (n, calls, freed)
}

#[test]
fn an_unsubscribed_notifier_gets_no_calls_and_is_freed_with_its_last_reference() {
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    let (sub, calls, freed) = counted();
    n.subscribe(sub.clone()).unwrap();
    n.invalidate_range_start(range(0x1000, 0x1000), &checks);
    n.invalidate_range_end(range(0x1000, 0x1000), &checks);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    let handed_back = n.unsubscribe(&*sub).expect("it was subscribed");
    drop(handed_back);
    assert!(
        !freed.load(Ordering::Relaxed),
        "freed while its owner holds it"
    );
    drop(sub);
    assert!(
        freed.load(Ordering::Relaxed),
        "not freed with its last reference"
    );
    n.invalidate_range_start(range(0x1000, 0x1000), &checks);
    n.invalidate_range_end(range(0x1000, 0x1000), &checks);
    n.release(&checks);
    assert_eq!(calls.load(Ordering::Relaxed), 2, "called after unsubscribe");
}

/// A subscriber that counts `unsubscribed` and `release` calls.
#[derive(Default)]
struct Forgets {
    unsubscribed: AtomicUsize,
    released: AtomicUsize,
}

impl Notifier for Forgets {
    fn invalidate_range_start(&self, _: &VaRange, _: &SleepCtx) {}
    fn invalidate_secondary_tlbs(&self, _: &VaRange, _: &AtomicCtx) {}
    fn invalidate_range_end(&self, _: &VaRange, _: &SleepCtx) {}
    fn release(&self, _: &SleepCtx) {
        self.released.fetch_add(1, Ordering::Relaxed);
    }
    fn unsubscribed(&self, _: &SleepCtx) {
        self.unsubscribed.fetch_add(1, Ordering::Relaxed);
    }
}

/// `unsubscribed` runs once, inside `unsubscribe` (under the caller's lock), for a
/// subscriber that was there; not for one that was not, and not at `release`.
#[test]
fn unsubscribe_tells_the_subscriber_once() {
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    let (a, b) = (Arc::new(Forgets::default()), Arc::new(Forgets::default()));
    n.subscribe(a.clone()).unwrap();
    n.subscribe(b.clone()).unwrap();
    assert!(n.unsubscribe(&*a).is_some());
    assert_eq!(a.unsubscribed.load(Ordering::Relaxed), 1);
    assert!(n.unsubscribe(&*a).is_none());
    assert_eq!(a.unsubscribed.load(Ordering::Relaxed), 1, "told twice");
    n.release(&checks);
    assert_eq!(
        b.unsubscribed.load(Ordering::Relaxed),
        0,
        "release is not unsubscribe"
    );
    assert_eq!(b.released.load(Ordering::Relaxed), 1);
    assert_eq!(
        a.released.load(Ordering::Relaxed),
        0,
        "released after unsubscribe"
    );
}

#[test]
fn release_drops_the_registrys_references() {
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    let (sub, calls, freed) = counted();
    n.subscribe(sub).unwrap();
    n.release(&checks);
    assert_eq!(calls.load(Ordering::Relaxed), 1, "release once");
    assert!(
        freed.load(Ordering::Relaxed),
        "the registry kept its reference after release"
    );
}

#[test]
fn interval_sequence_marks_open_invalidations_and_ignores_other_ranges() {
    let iv = IntervalNotifier::new(range(0x10000, 0x4000));
    let s = iv.read_begin().unwrap();
    assert!(!iv.read_retry(s));
    assert!(
        !iv.begin_invalidate(&range(0x20000, 0x1000)),
        "a disjoint range does not touch it"
    );
    assert!(!iv.read_retry(s));
    assert!(iv.begin_invalidate(&range(0x13000, 0x2000)));
    assert!(iv.invalidating());
    assert_eq!(
        iv.read_begin(),
        None,
        "no reader may start while invalidating"
    );
    assert!(iv.read_retry(s));
    iv.end_invalidate(&range(0x13000, 0x2000));
    assert!(!iv.invalidating());
    assert!(
        iv.read_retry(s),
        "a translation begun before the invalidation is stale"
    );
    let s2 = iv.read_begin().unwrap();
    assert!(!iv.read_retry(s2));
}

/// Invalidations overlap (windows under `mmap_lock` for read: copy-on-write
/// faults of several threads): no reader starts until the last one ends, and
/// a translation begun before any of them is stale. With a parity bit the
/// second begin made the word even again, and a reader started while both
/// were open.
#[test]
fn overlapping_invalidations_keep_readers_out_until_the_last_ends() {
    let iv = IntervalNotifier::new(range(0x10000, 0x4000));
    let s = iv.read_begin().unwrap();
    assert!(iv.begin_invalidate(&range(0x10000, 0x1000)));
    assert!(iv.begin_invalidate(&range(0x11000, 0x1000)));
    assert!(iv.invalidating());
    assert_eq!(iv.read_begin(), None, "a reader started inside two windows");
    iv.end_invalidate(&range(0x10000, 0x1000));
    assert!(iv.invalidating(), "one window is still open");
    assert_eq!(iv.read_begin(), None, "a reader started inside a window");
    assert!(iv.begin_invalidate(&range(0x12000, 0x1000)));
    iv.end_invalidate(&range(0x11000, 0x1000));
    iv.end_invalidate(&range(0x12000, 0x1000));
    assert!(!iv.invalidating());
    assert!(iv.read_retry(s), "a translation begun before them is stale");
    let s2 = iv.read_begin().unwrap();
    assert!(!iv.read_retry(s2));
    // Begun and ended between a reader's begin and its retry: stale too.
    assert!(iv.begin_invalidate(&range(0x10000, 0x1000)));
    iv.end_invalidate(&range(0x10000, 0x1000));
    assert!(iv.read_retry(s2));
}

/// A driver that caches VA → PA translations of one range (like the Pi's DMA
/// driver): fills use `read_begin`/`read_retry`, the atomic hook drops.
struct CachingDevice {
    interval: IntervalNotifier,
    cache: Mutex<BTreeMap<u64, u64>>,
    honour_retry: bool,
}

impl Notifier for CachingDevice {
    fn invalidate_range_start(&self, r: &VaRange, _: &SleepCtx) {
        self.interval.begin_invalidate(r);
    }
    fn invalidate_secondary_tlbs(&self, r: &VaRange, _: &AtomicCtx) {
        self.cache
            .lock()
            .unwrap()
            .retain(|va, _| !r.contains(VirtAddr::new(*va)));
    }
    fn invalidate_range_end(&self, r: &VaRange, _: &SleepCtx) {
        self.interval.end_invalidate(r);
    }
    fn release(&self, _: &SleepCtx) {
        self.cache.lock().unwrap().clear();
    }
}

/// xorshift64: the same sequence for the same seed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Random fills (some straddling a layout change), maps, remaps and unmaps.
/// Returns the number of steps after which the cache held a translation the
/// tables no longer have.
fn run_caching_device(honour_retry: bool, caps: crate::tlb::TlbCaps) -> u32 {
    setup!(mem, mmu, pt, caps, 8 << 20);
    let checks = ModelChecks::default();
    let mut n = Notifiers::new();
    const BASE: u64 = 0x40_0000;
    const PAGES: u64 = 16;
    let dev = shared(CachingDevice {
        interval: IntervalNotifier::new(range(BASE, PAGES * 4096)),
        cache: Mutex::new(BTreeMap::new()),
        honour_retry,
    });
    n.subscribe(dev.clone()).unwrap();
    let frame = |i: u64| PhysAddr::new(mem.range().start.as_u64() + (1 << 20) + i * 4096);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pending: Vec<(ReadSeq, u64, u64)> = Vec::new();
    let mut stale_steps = 0;
    for _ in 0..4000 {
        let va = BASE + rng.below(PAGES) * 4096;
        let page = range(va, 4096);
        match rng.below(6) {
            // A fill begins: translate now, commit later.
            0 | 1 => {
                if let (Some(s), Some(t)) =
                    (dev.interval.read_begin(), pt.translate(VirtAddr::new(va)))
                {
                    pending.push((s, va, t.pa.as_u64()));
                }
            }
            // A fill commits (under the cache lock, as the hook's lock).
            2 => {
                if let Some((s, va, pa)) = pending.pop() {
                    let mut cache = dev.cache.lock().unwrap();
                    if !(dev.honour_retry && dev.interval.read_retry(s)) {
                        cache.insert(va, pa);
                    }
                }
            }
            // Map, remap to another frame, or unmap one page.
            3 => change(&mut pt, &mut n, &checks, page, |pt, g| {
                let _ = pt.map(
                    page,
                    frame(rng.below(64)),
                    Attributes::USER_DATA,
                    Constraints::PAGES_ONLY,
                    g,
                );
            }),
            4 => {
                change(&mut pt, &mut n, &checks, page, |pt, g| {
                    let _ = pt.unmap(page, g);
                });
                let f = frame(rng.below(64));
                change(&mut pt, &mut n, &checks, page, |pt, g| {
                    pt.map(page, f, Attributes::USER_DATA, Constraints::PAGES_ONLY, g)
                        .unwrap()
                });
            }
            _ => change(&mut pt, &mut n, &checks, page, |pt, g| {
                let _ = pt.unmap(page, g);
            }),
        }
        let stale =
            dev.cache.lock().unwrap().iter().any(|(va, pa)| {
                pt.translate(VirtAddr::new(*va)).map(|t| t.pa.as_u64()) != Some(*pa)
            });
        stale_steps += u32::from(stale);
    }
    let _ = &mmu;
    stale_steps
}

#[test]
fn a_caching_driver_never_hands_out_a_stale_translation() {
    for caps in [A72, MAX] {
        assert_eq!(run_caching_device(true, caps), 0);
    }
}

/// Negative control: a driver that skips `read_retry` caches translations
/// that an invalidation overtook, and the check above sees them.
#[test]
fn without_read_retry_the_check_sees_stale_translations() {
    assert!(run_caching_device(false, A72) > 0);
}

/// Windows opened and closed from several threads at once (copy-on-write faults under
/// `mmap_lock` for read): each thread's hook is always covered by its own window, and
/// every window is closed at the end. With windows kept under `&mut` this could not be
/// written; with a slot shared between two openers, a close by one would leave the
/// other's hook uncovered.
#[test]
fn windows_of_concurrent_openers_are_kept_apart() {
    let windows = Arc::new(Windows::new());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let w = windows.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    let r = range(0x1000 * (1 + (t * 7 + i) % 5), 0x1000);
                    w.open(r).unwrap();
                    w.check_covered(r).unwrap();
                    w.close(r).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(windows.count(), 0);
    windows.check_closed().unwrap();
}

/// The interleaving written out: A and B open the same range, A closes; B's hook is still
/// covered and B's close balances; a third close is unbalanced.
#[test]
fn two_windows_of_one_range_close_one_at_a_time() {
    let w = Windows::new();
    let r = range(0x4000, 0x1000);
    w.open(r).unwrap();
    w.open(r).unwrap();
    w.close(r).unwrap();
    w.check_covered(r).unwrap();
    w.close(r).unwrap();
    assert!(matches!(
        w.check_covered(r),
        Err(NotifierViolation::AtomicHookOutsideWindow { .. })
    ));
    assert_eq!(
        w.close(r),
        Err(NotifierViolation::UnbalancedEnd { range: r })
    );
}

/// More openers than slots (threads of one process breaking copy-on-write while a
/// device holds their windows): the extra ones are counted, every hook meanwhile passes,
/// and the ends balance; one end too many is still caught.
#[test]
fn windows_beyond_the_slots_are_counted_and_balance() {
    let w = Windows::new();
    let r = range(0x4000, 0x1000);
    for _ in 0..MAX_OPEN_WINDOWS + 5 {
        w.open(r).unwrap();
    }
    assert_eq!(w.count(), MAX_OPEN_WINDOWS + 5);
    w.check_covered(range(0x9000, 0x1000)).unwrap();
    for _ in 0..MAX_OPEN_WINDOWS + 5 {
        w.close(r).unwrap();
    }
    assert_eq!(w.count(), 0);
    w.check_closed().unwrap();
    assert_eq!(
        w.close(r),
        Err(NotifierViolation::UnbalancedEnd { range: r })
    );
    assert!(matches!(
        w.check_covered(range(0x9000, 0x1000)),
        Err(NotifierViolation::AtomicHookOutsideWindow { .. })
    ));
}
