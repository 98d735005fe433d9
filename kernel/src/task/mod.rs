//! Kernel tasks: the task table (one boot task per CPU, then a pool whose slots pair with
//! the stack pool), spawning a closure on its own stack, exit and join. The current task
//! is the one SP_EL0 points at; `context_switch` changes it together with the stack.
use crate::percpu::MAX_CPUS;
use crate::sched::{self, context::Context};
use crate::sync::{validate, Completion};
use aarch64_cpu::registers::SP_EL0;
use core::cell::UnsafeCell;
use core::panic::Location;
use core::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use policy::HeldLocks;
use tock_registers::interfaces::{Readable, Writeable};

pub mod activation;
pub mod stack;

/// Tasks that can exist at once: the CPUs' boot tasks and the pool.
pub const MAX_TASKS: usize = MAX_CPUS + stack::POOL_STACKS;
/// Locks one task may hold at once (the held-lock record's size).
pub const MAX_HELD_LOCKS: usize = 16;
/// Largest closure `spawn` takes (it is moved onto the new task's stack).
pub const MAX_CLOSURE: usize = stack::STACK_SIZE / 4;

const _: () = assert!(stack::POOL_STACKS == 64, "the slot bitmap is one u64");
const _: () = assert!(MAX_TASKS <= u16::MAX as usize);

/// Affinity value of a task that may run on any CPU.
const ANY_CPU: usize = usize::MAX;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
#[repr(u8)]
pub enum State {
    /// An unused slot.
    Free = 0,
    /// On a CPU (or about to be switched to).
    Running = 1,
    /// In a run queue.
    Ready = 2,
    /// Waiting: on a wait queue or a sleep list; `sched::wake` makes it ready.
    Blocked = 3,
    /// Finished; its slot is freed once it is off its CPU and its handle is gone.
    Exited = 4,
}

impl State {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => State::Running,
            2 => State::Ready,
            3 => State::Blocked,
            4 => State::Exited,
            _ => State::Free,
        }
    }
}

/// A kernel task. Fields are written by whoever the comment names; everything else reads.
#[repr(C)]
pub struct Task {
    /// Saved registers while switched out (first: `context_switch` finds it at offset 0).
    /// Written by the CPU switching away from the task, read by the one switching to it
    /// after `on_cpu` is clear.
    pub(crate) ctx: UnsafeCell<Context>,
    id: u16,
    /// Set at spawn, before the task is published.
    name: UnsafeCell<&'static str>,
    pub(crate) state: AtomicU8,
    /// True from the moment a CPU picks the task until that CPU has switched away from it.
    pub(crate) on_cpu: AtomicBool,
    /// The CPU it last ran or was queued on.
    pub(crate) cpu: AtomicUsize,
    affinity: AtomicUsize,
    /// Preemption is off while non-zero. Only the task itself (and interrupt handlers on
    /// its CPU, balanced before they return) changes it.
    pub(crate) preempt_count: AtomicU32,
    /// Handle + "still on a CPU": the slot is freed when both are dropped.
    refs: AtomicU8,
    /// Locks held (lock validation). Only the task itself touches it, with IRQs masked.
    pub(crate) held: UnsafeCell<HeldLocks<MAX_HELD_LOCKS>>,
    /// Next waiter on the wait queue the task sleeps on (under that queue's lock).
    pub(crate) wait_next: AtomicPtr<Task>,
    /// What it waits for there (an rwsem's reader or writer).
    pub(crate) wait_want: AtomicU8,
    /// Next sleeper on its CPU's sleep list (under that list's lock), and its deadline.
    pub(crate) sleep_next: AtomicPtr<Task>,
    pub(crate) wake_at: AtomicU64,
    /// CPU time used in earlier runs, and when the current run began (counter ticks);
    /// written by the CPU switching it out or in.
    pub(crate) runtime: AtomicU64,
    pub(crate) switched_in: AtomicU64,
    /// How many times a CPU switched to it (Linux's `nr_switches` seen from the task).
    pub(crate) runs: AtomicU64,
    /// Completed when the task exits; `JoinHandle::join` waits on it.
    exited: Completion,
    /// What it installs on the CPU it runs on (its address space), if anything
    /// (`activation`).
    pub(crate) activation: activation::TaskActivation,
    /// The user thread this task runs (`Arc::into_raw` of a `user::Thread`), or 0 for a
    /// kernel-only task. Set before the task first runs; dropped when it exits.
    pub(crate) thread: AtomicUsize,
    /// TPIDR_EL0 (the user thread pointer) while switched out; saved and restored by the
    /// scheduler.
    pub(crate) tls: AtomicU64,
    /// PSTATE.PAN while switched out (on for user threads in the kernel).
    pub(crate) pan: AtomicBool,
    /// Switched away from a CPU its affinity no longer allows: the next task
    /// on that CPU wakes it onto an allowed one (`sched::finish_switch`).
    pub(crate) migrating: AtomicBool,
}

// SAFETY: the `UnsafeCell` fields follow the access rules written on each; the rest are
// atomics.
unsafe impl Sync for Task {}

impl Task {
    const fn empty(id: u16) -> Self {
        Self {
            ctx: UnsafeCell::new(Context::ZERO),
            id,
            name: UnsafeCell::new(""),
            state: AtomicU8::new(State::Free as u8),
            on_cpu: AtomicBool::new(false),
            cpu: AtomicUsize::new(0),
            affinity: AtomicUsize::new(ANY_CPU),
            preempt_count: AtomicU32::new(0),
            refs: AtomicU8::new(0),
            held: UnsafeCell::new(HeldLocks::new()),
            wait_next: AtomicPtr::new(core::ptr::null_mut()),
            wait_want: AtomicU8::new(0),
            sleep_next: AtomicPtr::new(core::ptr::null_mut()),
            wake_at: AtomicU64::new(0),
            runtime: AtomicU64::new(0),
            switched_in: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            exited: Completion::new(),
            activation: activation::TaskActivation::new(),
            thread: AtomicUsize::new(0),
            tls: AtomicU64::new(0),
            pan: AtomicBool::new(false),
            migrating: AtomicBool::new(false),
        }
    }

    /// Index in the task table.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The name it was spawned with.
    pub fn name(&self) -> &'static str {
        // SAFETY: written only while the slot is unpublished (spawn, CPU init).
        unsafe { *self.name.get() }
    }

    /// Its scheduling state now (a snapshot).
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// The CPU it last ran or was queued on.
    pub fn last_cpu(&self) -> usize {
        self.cpu.load(Ordering::Relaxed)
    }

    /// The only CPU it may run on, if pinned.
    pub fn affinity(&self) -> Option<usize> {
        match self.affinity.load(Ordering::Relaxed) {
            ANY_CPU => None,
            cpu => Some(cpu),
        }
    }

    /// Pins the task to `cpu` (or lets it run anywhere). The current task
    /// moves at its next switch; call `sched::yield_now` to move now.
    pub fn set_affinity(&self, cpu: Option<usize>) {
        self.affinity
            .store(cpu.unwrap_or(ANY_CPU), Ordering::Relaxed);
    }

    /// True if it may run on `cpu`.
    pub fn may_run_on(&self, cpu: usize) -> bool {
        self.affinity().is_none_or(|c| c == cpu)
    }

    /// Its preempt count (meaningful for the current task).
    pub fn preempt_count(&self) -> u32 {
        self.preempt_count.load(Ordering::Relaxed)
    }

    /// CPU time it has used, in counter ticks (`drivers::timer`), its current run
    /// included. Charged at context switches, so time the CPU spends in interrupt handlers
    /// counts for the task they interrupted.
    pub fn cpu_time(&self) -> u64 {
        let past = self.runtime.load(Ordering::Relaxed);
        if self.on_cpu.load(Ordering::Acquire) && self.state() == State::Running {
            let since = self.switched_in.load(Ordering::Relaxed);
            past + drivers::timer::counter().saturating_sub(since)
        } else {
            past
        }
    }

    /// How many times a CPU has switched to it, its first run included. Unlike
    /// `cpu_time` it does not depend on how fast the host runs the CPU, so it tells a task
    /// that slept from one that kept running even on a loaded emulator.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Its stack slot in the pool (`None` for boot tasks, which run on boot stacks).
    pub fn stack_slot(&self) -> Option<usize> {
        usize::from(self.id).checked_sub(MAX_CPUS)
    }

    /// Prepares a slot for a new life. Safety: the caller owns the slot (Free and claimed,
    /// or a boot task during its CPU's init), and no CPU runs it.
    unsafe fn reset(&self, name: &'static str, affinity: Option<usize>, cpu: usize) {
        // SAFETY: per the contract nobody else accesses these cells now.
        unsafe {
            *self.name.get() = name;
            *self.held.get() = HeldLocks::new();
        }
        self.affinity
            .store(affinity.unwrap_or(ANY_CPU), Ordering::Relaxed);
        self.cpu.store(cpu, Ordering::Relaxed);
        self.on_cpu.store(false, Ordering::Relaxed);
        self.wait_next
            .store(core::ptr::null_mut(), Ordering::Relaxed);
        self.sleep_next
            .store(core::ptr::null_mut(), Ordering::Relaxed);
        self.runtime.store(0, Ordering::Relaxed);
        self.runs.store(0, Ordering::Relaxed);
        self.tls.store(0, Ordering::Relaxed);
        self.pan.store(false, Ordering::Relaxed);
        self.switched_in
            .store(drivers::timer::counter(), Ordering::Relaxed);
        self.exited.reinit();
    }
}

static TASKS: [Task; MAX_TASKS] = {
    let mut tasks = [const { Task::empty(0) }; MAX_TASKS];
    let mut i = 0;
    while i < MAX_TASKS {
        tasks[i].id = i as u16;
        i += 1;
    }
    tasks
};

/// Pool slots in use (bit i: task `MAX_CPUS + i` and stack slot i).
static USED: AtomicU64 = AtomicU64::new(0);

/// The task with id `id`.
pub fn by_id(id: u16) -> &'static Task {
    &TASKS[usize::from(id)]
}

/// The task running on this CPU. Safe to call anywhere once the scheduler is initialised
/// on the CPU: SP_EL0 moves with the task, so a migration cannot make it stale.
pub fn current() -> &'static Task {
    let p = SP_EL0.get() as usize;
    let base = TASKS.as_ptr() as usize;
    let offset = p.wrapping_sub(base);
    assert!(
        offset < core::mem::size_of_val(&TASKS)
            && offset.is_multiple_of(core::mem::size_of::<Task>()),
        "no current task: SP_EL0 = {:#x} (scheduler not initialised on this CPU?)",
        p
    );
    &TASKS[offset / core::mem::size_of::<Task>()]
}

/// Makes `TASKS[cpu]`, the CPU's boot context, its current task. CPU init only.
pub(crate) fn adopt_boot_context(cpu: usize, name: &'static str) -> &'static Task {
    let task = &TASKS[cpu];
    // SAFETY: only this CPU's init touches its boot task, before anything can see it.
    unsafe { task.reset(name, Some(cpu), cpu) };
    task.preempt_count.store(0, Ordering::Relaxed);
    task.refs.store(1, Ordering::Relaxed);
    task.on_cpu.store(true, Ordering::Relaxed);
    task.state.store(State::Running as u8, Ordering::Release);
    SP_EL0.set(task as *const Task as u64);
    CURRENT_TASK[cpu].store(task as *const Task as u64, Ordering::Relaxed);
    task
}

/// Per CPU: the task it runs, as in SP_EL0 (a task's context is its first field).
pub(crate) use crate::arch::context::CURRENT_TASK;

/// Why a task could not be spawned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum SpawnError {
    /// All `stack::POOL_STACKS` task slots are in use.
    NoFreeSlot,
    /// Pinned to a CPU that is not online.
    CpuOffline(usize),
}

/// How to spawn a task: its name and optionally the one CPU it runs on.
#[derive(Clone, Copy, Debug)]
pub struct Builder {
    name: &'static str,
    cpu: Option<usize>,
}

impl Builder {
    /// A task called `name`, free to run on any CPU.
    pub const fn new(name: &'static str) -> Self {
        Self { name, cpu: None }
    }

    /// Runs the task on `cpu` only (never migrated, never stolen).
    pub const fn pinned_to(mut self, cpu: usize) -> Self {
        self.cpu = Some(cpu);
        self
    }

    /// Creates the task and queues it; it starts with preemption and IRQs enabled.
    /// Any context (does not sleep).
    pub fn spawn<F: FnOnce() + Send + 'static>(self, f: F) -> Result<JoinHandle, SpawnError> {
        if let Some(cpu) = self.cpu {
            if !crate::percpu::CPUS
                .get(cpu)
                .is_some_and(|c| c.online.load(Ordering::Acquire))
            {
                return Err(SpawnError::CpuOffline(cpu));
            }
        }
        let task = create(self.name, self.cpu, f)?;
        sched::enqueue(task);
        Ok(JoinHandle { task })
    }
}

/// Spawns `f` as a task that may run on any CPU. Panics if every slot is in use.
pub fn spawn<F: FnOnce() + Send + 'static>(name: &'static str, f: F) -> JoinHandle {
    match Builder::new(name).spawn(f) {
        Ok(handle) => handle,
        Err(e) => panic!("cannot spawn task `{}`: {:?}", name, e),
    }
}

/// Claims a pool slot and builds a ready task that will run `f`; not yet queued.
pub(crate) fn create<F: FnOnce() + Send + 'static>(
    name: &'static str,
    cpu: Option<usize>,
    f: F,
) -> Result<&'static Task, SpawnError> {
    const { assert!(core::mem::size_of::<F>() <= MAX_CLOSURE) };
    const { assert!(core::mem::align_of::<F>() <= 4096) };
    let slot = claim_slot().ok_or(SpawnError::NoFreeSlot)?;
    let task = &TASKS[MAX_CPUS + slot];
    let stack = stack::stack_range(slot);
    stack::arm_canary(slot);
    // The closure goes at the top of the stack; the task's sp starts below it.
    let align = core::mem::align_of::<F>().max(16);
    let closure = (stack.end - core::mem::size_of::<F>()) & !(align - 1);
    // SAFETY: `closure` is inside the claimed slot's stack, aligned for F, and nothing
    // else uses that memory; `run_closure::<F>` moves it out exactly once.
    unsafe { core::ptr::write(closure as *mut F, f) };
    let sp = closure & !15;
    let here = crate::arch::cpu_id();
    // SAFETY: the slot was Free and we claimed it: nobody else can see it yet.
    unsafe {
        task.reset(name, cpu, cpu.unwrap_or(here));
        *task.ctx.get() = Context::new_task(
            sp,
            task_start,
            run_closure::<F> as *const () as usize,
            closure,
        );
    }
    // As if inside `schedule`: `task_start` drops it to zero.
    task.preempt_count.store(1, Ordering::Relaxed);
    task.refs.store(2, Ordering::Relaxed);
    task.state.store(State::Ready as u8, Ordering::Release);
    Ok(task)
}

fn claim_slot() -> Option<usize> {
    let mut used = USED.load(Ordering::Relaxed);
    loop {
        let slot = (!used).trailing_zeros() as usize;
        if slot >= stack::POOL_STACKS {
            return None;
        }
        match USED.compare_exchange_weak(
            used,
            used | 1 << slot,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Some(slot),
            Err(now) => used = now,
        }
    }
}

/// Pool slots in use now.
pub fn tasks_alive() -> usize {
    USED.load(Ordering::Relaxed).count_ones() as usize
}

/// Drops one reference; the last one frees the slot.
pub(crate) fn put(task: &'static Task) {
    if task.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
        let slot = task
            .stack_slot()
            .expect("only pool tasks are reference counted down to zero");
        task.state.store(State::Free as u8, Ordering::Relaxed);
        USED.fetch_and(!(1 << slot), Ordering::Release);
    }
}

/// Moves the closure out of the new task's stack and runs it.
///
/// Safety: `closure` is the pointer `create` wrote an `F` to, not yet read.
unsafe fn run_closure<F: FnOnce()>(closure: usize) {
    // SAFETY: `closure` points at the `F` that `create` wrote, not read
    // before; reading it moves it out exactly once.
    let f = unsafe { core::ptr::read(closure as *const F) };
    f();
}

/// The first code every new task runs (from `arch::context`'s trampoline):
/// `prev` is the task switched away from (a task's context is its first field).
extern "C" fn task_start(prev: *const Context, entry: usize, arg: usize) -> ! {
    sched::finish_switch(prev.cast());
    sched::preempt::enable_no_resched();
    crate::arch::irq_enable();
    // SAFETY: `entry` is the `run_closure::<F>` that `create` stored with this `arg`.
    unsafe {
        let entry: unsafe fn(usize) = core::mem::transmute(entry);
        entry(arg);
    }
    exit()
}

/// Ends the current task: wakes its joiner and never runs again. Must hold no locks and
/// be sleepable (as at the end of its closure).
#[track_caller]
pub fn exit() -> ! {
    let task = current();
    assert!(
        task.stack_slot().is_some(),
        "boot/idle task `{}` cannot exit",
        task.name()
    );
    validate::check_exit(Location::caller());
    // Uninstalled from this CPU (IRQs masked, so that the CPU whose record
    // is cleared is the one it runs on), then the reference dropped
    // (sleepable: the last one tears the address space down).
    drop(activation::set_current(None));
    task.exited.complete_all();
    sched::exit_current()
}

/// The right to wait for a task's end. Dropping it detaches the task.
pub struct JoinHandle {
    task: &'static Task,
}

impl JoinHandle {
    /// Sleeps until the task has exited. Sleepable context only.
    #[track_caller]
    pub fn join(self) {
        self.task.exited.wait();
    }

    /// The task has exited (`join` would not sleep).
    pub fn is_finished(&self) -> bool {
        self.task.exited.is_done()
    }

    /// The task (its slot stays reserved while the handle lives).
    pub fn task(&self) -> &'static Task {
        self.task
    }
}

impl Drop for JoinHandle {
    fn drop(&mut self) {
        put(self.task);
    }
}
