//! The raw core of the kernel's spinlocks: a test-and-set lock that any running waiter may
//! take, until one waiter has waited too long; that waiter then claims a hand-off and the
//! lock is kept for it (nobody else may take it) until it has taken it. Knows nothing of
//! preemption or IRQs: the kernel's `SpinLock`, `SpinLockIrq` and `RawSpinIrq` wrap it.
//!
//! Why not a ticket lock. A ticket lock grants the lock strictly in arrival order, so a
//! release hands it to one particular waiter. Where CPUs are virtual (QEMU's vCPU threads
//! on fewer host cores, a guest under a hypervisor) that waiter's CPU is often not running
//! at that moment, and every CPU waits for the host to schedule it: a convoy. Measured with
//! `t_mt_mm` (4 threads on 4 vCPUs, 2 host cores): the page-table lock was busy 17 % of the
//! time, yet its waiters spent 84 CPU-seconds of a 30 s run waiting, 4.7 ms per wait; with
//! this lock 9.6 CPU-seconds and the whole run 7.6 s. Linux reaches the same answer for
//! x86 guests without paravirtual spinlocks (`virt_spin_lock`: a test-and-set lock).
//!
//! What the hand-off keeps: no waiter starves. A waiter that has waited its patience (the
//! kernel gives it 4 ms, the hand-off timeout of Linux's rwsem) sets [`HANDOFF`]; from
//! then on a release leaves the lock free only for it, and it clears the flag as it takes
//! the lock. One claim at a time: a second starving waiter
//! claims once the first has been served. So a waiter is overtaken by at most the holders
//! before its claim, plus one claimant's turn.

use core::sync::atomic::{AtomicU32, Ordering};

/// Held.
pub const LOCKED: u32 = 1;
/// A starving waiter has claimed the next turn.
pub const HANDOFF: u32 = 2;

/// The lock word: [`LOCKED`] | [`HANDOFF`].
#[derive(Debug, Default)]
pub struct HandoffLock {
    word: AtomicU32,
}

/// One waiter's progress through [`HandoffLock::attempt`]: when it first found the lock
/// taken and whether it holds the hand-off claim.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    since: Option<u64>,
    claimed: bool,
}

impl Waiter {
    /// A waiter that has not looked at the lock yet.
    pub const fn new() -> Self {
        Self {
            since: None,
            claimed: false,
        }
    }

    /// True once this waiter holds the hand-off claim.
    pub fn claimed(&self) -> bool {
        self.claimed
    }
}

impl HandoffLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        Self {
            word: AtomicU32::new(0),
        }
    }

    /// Spins until the lock is ours. `now` reads a clock (only once the lock was found
    /// taken); a waiter that has waited `patience` of its units claims the next turn.
    pub fn lock(&self, now: impl Fn() -> u64, patience: u64) {
        if self.try_lock() {
            return;
        }
        let mut waiter = Waiter::new();
        while !self.attempt(&mut waiter, now(), patience) {
            core::hint::spin_loop();
        }
    }

    /// One look at the lock by `waiter` at time `now`: takes it if it is free and not kept
    /// for another waiter (true), else claims the hand-off if `waiter` has waited
    /// `patience` since its first look and nobody else holds the claim (false). `lock` is
    /// this in a loop; tests step it to write interleavings out.
    pub fn attempt(&self, waiter: &mut Waiter, now: u64, patience: u64) -> bool {
        let s = self.word.load(Ordering::Relaxed);
        if s & LOCKED == 0 && (s & HANDOFF == 0 || waiter.claimed) {
            // The claimant clears its claim as it takes the lock.
            if self
                .word
                .compare_exchange(s, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                *waiter = Waiter::new();
                return true;
            }
            return false;
        }
        let since = *waiter.since.get_or_insert(now);
        if !waiter.claimed
            && s & HANDOFF == 0
            && now.saturating_sub(since) >= patience
            && self
                .word
                .compare_exchange(s, s | HANDOFF, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            waiter.claimed = true;
        }
        false
    }

    /// Takes the lock only if nobody holds it and no waiter has claimed it.
    pub fn try_lock(&self) -> bool {
        self.word
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases it (a claimed hand-off stays for its claimant). Only the holder may call it.
    pub fn unlock(&self) {
        self.word.fetch_and(!LOCKED, Ordering::Release);
    }

    /// True while held.
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// True while a starving waiter has claimed the next turn.
    pub fn handoff_claimed(&self) -> bool {
        self.word.load(Ordering::Relaxed) & HANDOFF != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::sync::Arc;
    use std::thread;
    use std::vec::Vec;

    /// Patience in the tests' time units.
    const PATIENCE: u64 = 100;

    /// One look at time `t` that must fail.
    fn refused(lock: &HandoffLock, w: &mut Waiter, t: u64) {
        assert!(
            !lock.attempt(w, t, PATIENCE),
            "the lock must not be granted at {t}"
        );
    }

    fn clock() -> u64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }

    #[test]
    fn excludes_and_keeps_a_racy_counter_exact() {
        struct Shared {
            lock: HandoffLock,
            counter: core::cell::UnsafeCell<u64>,
        }
        // SAFETY: `counter` is only touched with `lock` held.
        unsafe impl Sync for Shared {}
        let shared = Arc::new(Shared {
            lock: HandoffLock::new(),
            counter: core::cell::UnsafeCell::new(0),
        });
        // More threads than this machine has cores, spinning in `lock` itself (the ticket
        // lock's version of this test had to use try_lock + yield: spinning in its `lock`
        // while the next ticket's thread was descheduled took minutes).
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let s = Arc::clone(&shared);
                thread::spawn(move || {
                    for _ in 0..20_000 {
                        s.lock.lock(clock, 1_000_000);
                        // SAFETY: the lock is held.
                        unsafe {
                            let v = core::ptr::read_volatile(s.counter.get());
                            core::ptr::write_volatile(s.counter.get(), v + 1);
                        }
                        s.lock.unlock();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: every thread is joined.
        assert_eq!(unsafe { *shared.counter.get() }, 120_000);
        assert!(!shared.lock.is_locked() && !shared.lock.handoff_claimed());
    }

    /// The convoy a ticket lock makes: A holds; B starts waiting and is then descheduled
    /// (it looks no more); A releases; C, running, asks. A ticket lock keeps the lock for
    /// B's ticket and C waits for B's CPU to run again; this one lets C in.
    #[test]
    fn a_waiter_that_is_not_running_does_not_keep_the_lock_from_one_that_is() {
        let lock = HandoffLock::new();
        assert!(lock.try_lock()); // A
        let mut b = Waiter::new();
        refused(&lock, &mut b, 0); // B waits, then stops looking
        refused(&lock, &mut b, 10);
        lock.unlock(); // A releases
        let mut c = Waiter::new();
        assert!(
            lock.attempt(&mut c, 20, PATIENCE),
            "C, running, takes the free lock"
        );
        lock.unlock();
        assert!(
            lock.attempt(&mut b, 30, PATIENCE),
            "B takes it when it runs again"
        );
        lock.unlock();
    }

    /// A waiter that has starved claims the next turn: the holder's release leaves the lock
    /// to it alone, newcomers (try_lock and lock alike) wait, and its taking clears the claim.
    #[test]
    fn a_starving_waiter_is_handed_the_lock_before_newcomers() {
        let lock = HandoffLock::new();
        assert!(lock.try_lock());
        let mut starving = Waiter::new();
        refused(&lock, &mut starving, 1000);
        refused(&lock, &mut starving, 1000 + PATIENCE - 1);
        assert!(!starving.claimed() && !lock.handoff_claimed());
        refused(&lock, &mut starving, 1000 + PATIENCE);
        assert!(starving.claimed() && lock.handoff_claimed());
        lock.unlock();
        assert!(!lock.is_locked());
        assert!(!lock.try_lock(), "the free lock is kept for the claimant");
        let mut newcomer = Waiter::new();
        for t in [1200, 1300, 1400] {
            refused(&lock, &mut newcomer, t);
        }
        assert!(!newcomer.claimed(), "one claim at a time");
        assert!(
            lock.attempt(&mut starving, 1500, PATIENCE),
            "the claimant takes it"
        );
        assert!(!lock.handoff_claimed(), "taking it clears the claim");
        assert_eq!(
            starving,
            Waiter::new(),
            "a waiter that took it starts afresh"
        );
        lock.unlock();
        assert!(lock.attempt(&mut newcomer, 1600, PATIENCE));
        lock.unlock();
    }

    /// One claim at a time: a second starving waiter waits for the first to be served,
    /// then claims the turn after it.
    #[test]
    fn a_second_starving_waiter_claims_after_the_first_is_served() {
        let lock = HandoffLock::new();
        assert!(lock.try_lock());
        let (mut first, mut second) = (Waiter::new(), Waiter::new());
        refused(&lock, &mut first, 0);
        refused(&lock, &mut second, 0);
        refused(&lock, &mut first, PATIENCE);
        refused(&lock, &mut second, PATIENCE + 10);
        assert!(first.claimed() && !second.claimed());
        lock.unlock();
        refused(&lock, &mut second, PATIENCE + 20); // kept for `first`
        assert!(lock.attempt(&mut first, PATIENCE + 30, PATIENCE));
        refused(&lock, &mut second, PATIENCE + 40); // held by `first`: `second` claims now
        assert!(second.claimed());
        lock.unlock();
        assert!(!lock.try_lock(), "kept for `second`");
        assert!(lock.attempt(&mut second, PATIENCE + 50, PATIENCE));
        lock.unlock();
        assert!(lock.try_lock() && !lock.handoff_claimed());
        lock.unlock();
    }
}
