//! Parents and children (DESIGN.md §8): `fork`/`vfork` link a child to its parent, a
//! process whose last thread exits becomes a zombie that holds only its wait status (its
//! address space is torn down at once, its device bindings dropped), the parent reaps it
//! with `wait4`/`waitid`, and the children of a process that exits pass to init.
//!
//! One lock, `FAMILY`, guards every parent/child link (Linux's `tasklist_lock`); it is a
//! spinlock held for list edits only. A parent sleeps on its `child_event` queue for a
//! generation count that every change of a child's state bumps, so that a change between
//! its scan and its sleep is never missed.
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{signal, Process};
use crate::sync::{Completion, SpinLock, WaitQueue};

/// Guards every `parent` and `children` of every process.
static FAMILY: SpinLock<()> = SpinLock::new(());
/// The first process: orphans are given to it.
static INIT: spin::Once<Weak<Process>> = spin::Once::new();
/// Every process by PID, for `kill` (entries of reaped processes are dead and pruned).
static PROCESSES: SpinLock<BTreeMap<u32, Weak<Process>>> = SpinLock::new(BTreeMap::new());

/// Enters a new process in the PID table.
pub fn register(process: &Arc<Process>) {
    let mut t = PROCESSES.lock();
    t.retain(|_, w| w.strong_count() > 0);
    t.insert(process.pid, Arc::downgrade(process));
}

/// The process (alive or zombie) with `pid`.
pub fn lookup(pid: u32) -> Option<Arc<Process>> {
    PROCESSES.lock().get(&pid).and_then(Weak::upgrade)
}

/// Whether `parent` is `child`'s parent now.
pub fn is_child_of(child: &Arc<Process>, parent: &Arc<Process>) -> bool {
    child
        .family
        .parent
        .lock()
        .upgrade()
        .is_some_and(|p| Arc::ptr_eq(&p, parent))
}

/// Every process, alive or zombie.
pub fn all() -> Vec<Arc<Process>> {
    PROCESSES
        .lock()
        .values()
        .filter_map(Weak::upgrade)
        .collect()
}

/// The process that has a live thread `tid`.
pub fn owner_of_thread(tid: u32) -> Option<Arc<Process>> {
    all().into_iter().find(|p| p.task_of(tid).is_some())
}

/// A process's place in the tree.
pub struct Family {
    parent: SpinLock<Weak<Process>>,
    children: SpinLock<Vec<Arc<Process>>>,
    zombie: AtomicBool,
    /// Bumped (then `child_event` woken) whenever a child becomes a zombie or a child is
    /// handed over.
    generation: AtomicU64,
    child_event: WaitQueue,
    /// Completed when the process execs or exits: a `vfork` parent waits for it.
    pub vfork_done: Completion,
    /// Job control: stopped or not, and what the parent has yet to hear (`WUNTRACED`,
    /// `WCONTINUED`).
    stop: SpinLock<StopState>,
    /// `stop.stopped`, readable without the lock (asked at every return to EL0).
    stopped: AtomicBool,
    /// Its stopped threads wait here for SIGCONT (or SIGKILL).
    resume: WaitQueue,
}

/// A process's job-control state.
#[derive(Clone, Copy, Debug, Default)]
struct StopState {
    stopped: bool,
    /// The signal that stopped it.
    signal: i32,
    /// A stop the parent's `wait` has not reported yet.
    report_stop: bool,
    /// A continue the parent's `wait` has not reported yet.
    report_cont: bool,
}

impl Default for Family {
    fn default() -> Self {
        Self::new()
    }
}

impl Family {
    /// No parent, no children.
    pub fn new() -> Self {
        Self {
            parent: SpinLock::new(Weak::new()),
            children: SpinLock::new(Vec::new()),
            zombie: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            child_event: WaitQueue::new(),
            vfork_done: Completion::new(),
            stop: SpinLock::new(StopState::default()),
            stopped: AtomicBool::new(false),
            resume: WaitQueue::new(),
        }
    }

    /// Whether a stop signal has stopped the process.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Its parent's PID (0 for init, or once the parent is gone and nobody adopted it).
    pub fn parent_pid(&self) -> u32 {
        let _f = FAMILY.lock();
        self.parent.lock().upgrade().map_or(0, |p| p.pid)
    }

    /// Whether its last thread has exited.
    pub fn is_zombie(&self) -> bool {
        self.zombie.load(Ordering::Acquire)
    }

    /// Wakes its threads that wait for a child (the process is ending: they leave).
    pub fn wake_waiters(&self) {
        self.child_event.wake_all();
        self.resume.wake_all();
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.child_event.wake_all();
    }
}

/// Records `process` as the first process (orphans go to it).
pub fn set_init(process: &Arc<Process>) {
    INIT.call_once(|| Arc::downgrade(process));
}

/// Links a new `child` to `parent`.
pub fn adopt(parent: &Arc<Process>, child: &Arc<Process>) {
    let _f = FAMILY.lock();
    *child.family.parent.lock() = Arc::downgrade(parent);
    parent.family.children.lock().push(child.clone());
}

/// Unlinks a child that never ran (its first thread could not be started).
pub fn abandon(parent: &Arc<Process>, child: &Arc<Process>) {
    let _f = FAMILY.lock();
    parent
        .family
        .children
        .lock()
        .retain(|c| !Arc::ptr_eq(c, child));
}

/// The end of a process whose last thread is exiting (sleepable, no locks held): its
/// device binding and address space go now (notifier `release`, every frame and table
/// page freed after the TLBs are clean); its children pass to init; it becomes a zombie
/// and its parent is told. The first process instead powers the machine off.
pub fn exit_process(process: Arc<Process>) {
    let status = process.wait_status();
    defmt::info!(
        "process {} exited with status {}",
        process.pid,
        super::shell_status(status)
    );
    let dma = process.dma.lock().take();
    drop(dma); // after the lock: unbinding sleeps
               // Its descriptors close (a pipe's other end sees end of file or EPIPE).
    let files = process.files.lock().take_all();
    drop(files);
    *process.cwd.lock() = crate::fs::root().clone();
    crate::aspace::use_in_current_task(None);
    let aspace = process.aspace.lock().take();
    drop(aspace);
    if process.init {
        let status = super::shell_status(status);
        defmt::info!("init exited: powering off with status {}", status);
        crate::exit::exit(status);
    }
    let init = INIT.get().and_then(Weak::upgrade);
    let (code, value) = if status & 0x7f == 0 {
        (signal::code::CLD_EXITED, (status >> 8) & 0xff)
    } else {
        (signal::code::CLD_KILLED, status & 0x7f)
    };
    let mut sigchld = signal::SigInfo::from_process(signal::SIGCHLD, code, process.pid);
    sigchld.word1 = u64::from(value as u32);
    // The parent learns of the exit (SIGCHLD queued, or the child reaped at once if it
    // ignores SIGCHLD) in the same step that makes the zombie visible to its wait, as
    // Linux's exit_notify under tasklist_lock.
    let parent = {
        let _f = FAMILY.lock();
        let orphans = core::mem::take(&mut *process.family.children.lock());
        if let Some(init) = &init {
            for o in &orphans {
                *o.family.parent.lock() = Arc::downgrade(init);
            }
            init.family.children.lock().extend(orphans);
        }
        let parent = process.family.parent.lock().upgrade();
        if let Some(p) = &parent {
            if p.signals.reaps_children() {
                // SIGCHLD ignored (or SA_NOCLDWAIT): no zombie is left (POSIX.1-2001).
                p.family
                    .children
                    .lock()
                    .retain(|c| !Arc::ptr_eq(c, &process));
            } else {
                let _ = signal::queue_for_process(p, sigchld);
            }
        }
        process.family.zombie.store(true, Ordering::Release);
        parent
    };
    if let Some(init) = &init {
        init.family.bump();
    }
    process.family.vfork_done.complete_all();
    if let Some(parent) = parent {
        parent.interrupt_threads();
        parent.family.bump();
    }
}

/// A stop signal's default action: the process stops (every thread parks on its way
/// back to EL0) and its parent is told (`SIGCHLD` with `CLD_STOPPED`, unless it set
/// `SA_NOCLDSTOP`; `wait4` with `WUNTRACED` reports it once).
pub fn stop(process: &Arc<Process>, sig: i32) {
    {
        let mut st = process.family.stop.lock();
        if st.stopped {
            return;
        }
        *st = StopState {
            stopped: true,
            signal: sig,
            report_stop: true,
            report_cont: false,
        };
        process.family.stopped.store(true, Ordering::Release);
    }
    defmt::info!("process {} stopped by signal {}", process.pid, sig);
    process.interrupt_threads();
    notify_parent(process, signal::code::CLD_STOPPED, sig);
}

/// SIGCONT sent to a stopped process: it runs again, its parent is told (`CLD_CONTINUED`,
/// `WCONTINUED`). Returns whether it was stopped.
pub fn resume(process: &Arc<Process>) -> bool {
    {
        let mut st = process.family.stop.lock();
        if !st.stopped {
            return false;
        }
        *st = StopState {
            stopped: false,
            signal: 0,
            report_stop: false,
            report_cont: true,
        };
        process.family.stopped.store(false, Ordering::Release);
    }
    defmt::info!("process {} continued", process.pid);
    process.family.resume.wake_all();
    notify_parent(process, signal::code::CLD_CONTINUED, signal::SIGCONT);
    true
}

/// Parks the calling thread while its process is stopped (until SIGCONT, or the
/// process ends). Sleepable.
pub fn park_while_stopped(process: &Process) {
    while process.family.is_stopped() && !process.exiting() {
        process
            .family
            .resume
            .wait_until(|| !process.family.is_stopped() || process.exiting());
    }
}

fn notify_parent(process: &Arc<Process>, code: i32, status: i32) {
    let parent = {
        let _f = FAMILY.lock();
        process.family.parent.lock().upgrade()
    };
    let Some(parent) = parent else { return };
    let nocldstop = parent.signals.action(signal::SIGCHLD).flags & signal::SA_NOCLDSTOP != 0;
    if !nocldstop {
        let mut info = signal::SigInfo::from_process(signal::SIGCHLD, code, process.pid);
        info.word1 = u64::from(status as u32);
        let _ = signal::send_to_process(&parent, info);
    }
    parent.family.bump();
}

/// What a wait waits for (`WEXITED`, `WUNTRACED`/`WSTOPPED`, `WCONTINUED`), whether it
/// returns at once (`WNOHANG`) and whether it leaves the child waitable (`WNOWAIT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitFor {
    /// Children that exited (zombies).
    pub exited: bool,
    /// Children that stopped, not reported yet.
    pub stopped: bool,
    /// Children that continued, not reported yet.
    pub continued: bool,
    /// Return `None` at once if no child is ready.
    pub nohang: bool,
    /// Leave what is reported to be reported again.
    pub keep: bool,
}

/// What a wait reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// It exited (its wait status).
    Exited,
    /// It stopped (by `Reaped::status`'s signal).
    Stopped,
    /// It continued.
    Continued,
}

/// Which children a wait takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Any child.
    Any,
    /// The child with this PID.
    Pid(u32),
    /// Any child in this process group.
    Group(u32),
}

/// What a successful wait found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reaped {
    /// The child's PID.
    pub pid: u32,
    /// Its wait status, as `wait4` reports it (for a stop: signal << 8 | 0x7f; for a
    /// continue: 0xffff).
    pub status: i32,
    /// What happened.
    pub event: Event,
}

/// Why a wait found nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// No child matches (`ECHILD`).
    NoChild,
    /// The caller's process is ending (`EINTR`).
    Interrupted,
}

/// Waits for a child of `me` that `which` names to be a zombie; reaps it unless
/// `keep` (`WNOWAIT`). `Ok(None)` with `nohang` when none is a zombie yet. Sleepable.
pub fn wait(me: &Arc<Process>, which: Which, want: WaitFor) -> Result<Option<Reaped>, WaitError> {
    crate::sync::might_sleep();
    let nohang = want.nohang;
    loop {
        let seen = me.family.generation.load(Ordering::Acquire);
        {
            let _f = FAMILY.lock();
            let mut children = me.family.children.lock();
            let matches = |c: &Arc<Process>| match which {
                Which::Any => true,
                Which::Pid(pid) => c.pid == pid,
                Which::Group(pgid) => c.pgid() == pgid,
            };
            if !children.iter().any(matches) {
                return Err(WaitError::NoChild);
            }
            for (i, c) in children.iter().enumerate() {
                if !matches(c) {
                    continue;
                }
                if want.exited && c.family.is_zombie() {
                    let child = if want.keep {
                        children[i].clone()
                    } else {
                        children.remove(i)
                    };
                    return Ok(Some(Reaped {
                        pid: child.pid,
                        status: child.wait_status(),
                        event: Event::Exited,
                    }));
                }
                let mut st = c.family.stop.lock();
                if want.stopped && st.stopped && st.report_stop {
                    st.report_stop = want.keep;
                    return Ok(Some(Reaped {
                        pid: c.pid,
                        status: (st.signal << 8) | 0x7f,
                        event: Event::Stopped,
                    }));
                }
                if want.continued && st.report_cont {
                    st.report_cont = want.keep;
                    return Ok(Some(Reaped {
                        pid: c.pid,
                        status: 0xffff,
                        event: Event::Continued,
                    }));
                }
            }
        }
        if nohang {
            return Ok(None);
        }
        // As Linux's do_wait: a signal ends the wait only when no child is ready (the
        // scan above comes first).
        if me.exiting() || signal::current_has_pending() {
            return Err(WaitError::Interrupted);
        }
        me.family.child_event.wait_until(|| {
            me.family.generation.load(Ordering::Acquire) != seen
                || me.exiting()
                || signal::current_has_pending()
        });
    }
}

/// Processes alive or zombie that `process` is the parent of (for tests and `kstat`).
pub fn children(process: &Process) -> usize {
    let _f = FAMILY.lock();
    process.family.children.lock().len()
}
