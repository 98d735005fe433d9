//! Per-CPU run queues (FIFO rings from `policy::RunQueue` under an IRQ-safe raw lock),
//! with lock-free counters so placement and stealing can look at every CPU cheaply.
//! An idle CPU steals the oldest task another CPU has queued that may run on it.
use crate::percpu::{self, MAX_CPUS};
use crate::sync::raw::RawSpinIrq;
use crate::task::{self, Task, MAX_TASKS};
use core::sync::atomic::{AtomicU32, Ordering};
use policy::placement::{self, CpuLoad};
use policy::RunQueue;

struct CpuQueue {
    ring: RawSpinIrq<RunQueue<MAX_TASKS>>,
    /// Tasks queued (mirror of the ring's length, for lock-free looks).
    queued: AtomicU32,
    /// Of those, tasks not pinned here (another CPU may steal them).
    stealable: AtomicU32,
}

static QUEUES: [CpuQueue; MAX_CPUS] = [const {
    CpuQueue {
        ring: RawSpinIrq::new(RunQueue::new()),
        queued: AtomicU32::new(0),
        stealable: AtomicU32::new(0),
    }
}; MAX_CPUS];

/// Queues `task` (state Ready) last on `cpu`.
pub(super) fn push(cpu: usize, task: &'static Task) {
    let q = &QUEUES[cpu];
    task.cpu.store(cpu, Ordering::Relaxed);
    let mut ring = q.ring.lock();
    if ring.push_back(task.id()).is_err() {
        panic!("run queue of cpu {} full", cpu);
    }
    q.queued.fetch_add(1, Ordering::Relaxed);
    if task.affinity().is_none() {
        q.stealable.fetch_add(1, Ordering::Relaxed);
    }
}

fn took(q: &CpuQueue, id: u16) -> &'static Task {
    let task = task::by_id(id);
    q.queued.fetch_sub(1, Ordering::Relaxed);
    if task.affinity().is_none() {
        q.stealable.fetch_sub(1, Ordering::Relaxed);
    }
    task
}

/// The first task queued on `cpu`.
pub(super) fn pop(cpu: usize) -> Option<&'static Task> {
    let q = &QUEUES[cpu];
    if q.queued.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let mut ring = q.ring.lock();
    ring.pop_front().map(|id| took(q, id))
}

/// Takes, for `cpu`, the oldest task another CPU queued that may run on `cpu` and that
/// its CPU has finished switching away from (a preempted task is queued just before its
/// switch; waiting for it here, inside our own switch, could deadlock two stealers).
pub(super) fn steal(cpu: usize) -> Option<&'static Task> {
    let victim = placement::steal_victim(&loads(), cpu)?;
    let q = &QUEUES[victim];
    let mut ring = q.ring.lock();
    let id = ring.take_first(|id| {
        let t = task::by_id(id);
        t.may_run_on(cpu) && !t.on_cpu.load(Ordering::Acquire)
    })?;
    Some(took(q, id))
}

/// Tasks queued on `cpu` (racy: a hint).
pub fn queued(cpu: usize) -> u32 {
    QUEUES[cpu].queued.load(Ordering::Relaxed)
}

/// True if some other CPU has a task `cpu` could steal (racy: a hint).
pub(super) fn anything_to_steal(cpu: usize) -> bool {
    (0..MAX_CPUS).any(|c| c != cpu && QUEUES[c].stealable.load(Ordering::Relaxed) > 0)
}

/// A snapshot of every CPU's load for placement decisions.
pub(super) fn loads() -> [CpuLoad; MAX_CPUS] {
    core::array::from_fn(|c| {
        let rec = &percpu::CPUS[c];
        CpuLoad {
            online: rec.online.load(Ordering::Relaxed),
            idle: rec.idle.load(Ordering::Relaxed),
            queued: QUEUES[c].queued.load(Ordering::Relaxed),
            stealable: QUEUES[c].stealable.load(Ordering::Relaxed),
        }
    })
}
