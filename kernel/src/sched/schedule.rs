//! The core of the scheduler: picking the next task and switching to it, and the points
//! that call it (yield, block, exit, interrupt return, the idle loop), plus wake-ups.
//! Everything here runs with IRQs masked from the decision to the switch.
use super::{context, preempt, runqueue};
use crate::percpu::{self, MAX_CPUS};
use crate::sync::validate;
use crate::task::{self, State, Task};
use crate::{arch, irq};
use core::panic::Location;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use drivers::timer;
use policy::placement;

/// The SGI that asks a CPU to reschedule (a task was queued for it while it idled).
pub const RESCHED_SGI: u32 = 0;

/// Each CPU's idle task: runs when nothing else can, never queued, pinned.
static IDLE: [AtomicPtr<Task>; MAX_CPUS] = [const { AtomicPtr::new(ptr::null_mut()) }; MAX_CPUS];

fn idle_task(cpu: usize) -> &'static Task {
    let p = IDLE[cpu].load(Ordering::Acquire);
    // SAFETY: set once by the CPU's init to a task in the static table, before the CPU
    // schedules.
    unsafe { p.as_ref() }.expect("scheduler not initialised on this CPU")
}

fn is_idle(cpu: usize, task: &Task) -> bool {
    ptr::eq(IDLE[cpu].load(Ordering::Relaxed), task)
}

/// Boot CPU, first thing after it knows its id: its boot context becomes task `main`
/// (pinned to CPU 0; the kernel's `main` or the test harness runs in it), it gets an idle
/// task with a pool stack, and the reschedule IPI gets its handler.
pub fn init_boot_cpu() {
    task::adopt_boot_context(0, "main");
    let idle = task::create("idle/0", Some(0), || idle_loop()).expect("a free task slot at boot");
    idle.state.store(State::Running as u8, Ordering::Release);
    IDLE[0].store(ptr::from_ref(idle).cast_mut(), Ordering::Release);
    irq::register(RESCHED_SGI, on_resched_ipi);
}

/// A secondary CPU, first thing: its boot context becomes its idle task. The CPU then
/// enters [`idle_loop`] once its interrupts are set up.
pub fn init_secondary_cpu(cpu: usize) {
    let idle = task::adopt_boot_context(cpu, IDLE_NAMES[cpu]);
    IDLE[cpu].store(ptr::from_ref(idle).cast_mut(), Ordering::Release);
    percpu::CPUS[cpu].idle.store(true, Ordering::Relaxed);
    percpu::CPUS[cpu]
        .current_task
        .store(idle.id(), Ordering::Relaxed);
}

const IDLE_NAMES: [&str; MAX_CPUS] = [
    "idle/0", "idle/1", "idle/2", "idle/3", "idle/4", "idle/5", "idle/6", "idle/7",
];

fn on_resched_ipi(_intid: u32) {
    let rec = percpu::this_cpu();
    rec.resched_ipis.fetch_add(1, Ordering::Relaxed);
    rec.need_resched.store(true, Ordering::Relaxed);
}

/// Picks the next task for this CPU and switches to it. The current task goes back to the
/// run queue if it is still Running (preempted or yielding); if it blocked or exited,
/// whoever wakes it queues it. Returns (once the caller runs again) whether it switched.
///
/// Contract: IRQs masked; the caller raised the current task's preempt count by one.
fn switch_to_next() -> bool {
    let cpu = arch::cpu_id();
    let prev = task::current();
    let idle = idle_task(cpu);
    if let Some(slot) = prev.stack_slot() {
        if !task::stack::canary_intact(slot) {
            panic!(
                "stack overflow: task `{}` wrote below its {}-byte stack (slot {})",
                prev.name(),
                task::stack::STACK_SIZE,
                slot
            );
        }
    }
    if !ptr::eq(prev, idle) {
        // A task whose affinity no longer allows this CPU leaves it Blocked;
        // once off this CPU, `finish_switch` wakes it onto an allowed one
        // (queueing it there now would let that CPU wait for this switch).
        let (next_state, migrate) = if prev.may_run_on(cpu) {
            (State::Ready, false)
        } else {
            (State::Blocked, true)
        };
        if prev
            .state
            .compare_exchange(
                State::Running as u8,
                next_state as u8,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            if migrate {
                prev.migrating.store(true, Ordering::Relaxed);
            } else {
                runqueue::push(cpu, prev);
            }
        }
    }
    let next = runqueue::pop(cpu)
        .or_else(|| runqueue::steal(cpu))
        .unwrap_or(idle);
    let rec = percpu::this_cpu();
    rec.idle.store(ptr::eq(next, idle), Ordering::Relaxed);
    if ptr::eq(next, prev) {
        next.state.store(State::Running as u8, Ordering::Release);
        return false;
    }
    // A task is never queued where another CPU can take it while it is still on its old
    // CPU (wakers wait for `on_cpu` to clear, stealers skip such tasks): a CPU in the
    // middle of a switch must never wait for another CPU's switch, or two CPUs could wait
    // for each other. So this wait ends at once; it stays as the guard of the rule below.
    // `next` may become Running only once its old CPU has settled its state as `prev`
    // (above): marked earlier, that CPU's Running→Ready step would queue it a second time.
    while next.on_cpu.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    next.state.store(State::Running as u8, Ordering::Release);
    next.on_cpu.store(true, Ordering::Relaxed);
    next.cpu.store(cpu, Ordering::Relaxed);
    let now = timer::counter();
    let ran = now.saturating_sub(prev.switched_in.load(Ordering::Relaxed));
    prev.runtime.fetch_add(ran, Ordering::Relaxed);
    next.switched_in.store(now, Ordering::Relaxed);
    next.runs.fetch_add(1, Ordering::Relaxed);
    rec.switches.fetch_add(1, Ordering::Relaxed);
    rec.current_task.store(next.id(), Ordering::Relaxed);
    // SAFETY: the scheduler switching to `next` (IRQs masked, `next` on no CPU).
    task::activation::switch_here(unsafe { next.activation.get() });
    prev.tls.store(arch::user_tls(), Ordering::Relaxed);
    arch::set_user_tls(next.tls.load(Ordering::Relaxed));
    prev.pan.store(arch::user::pan(), Ordering::Relaxed);
    arch::user::set_pan(next.pan.load(Ordering::Relaxed));
    // SAFETY: IRQs are masked; `prev` is this CPU's current task; `next` is marked on this
    // CPU, no other CPU runs it (its previous CPU cleared `on_cpu` after switching away),
    // and its context was saved by that switch or built by `task::create`.
    let last = unsafe { context::context_switch(prev.ctx.get(), next.ctx.get()) };
    finish_switch(last.cast());
    true
}

/// Runs in the task just switched to: releases the task switched away from (`last`) to
/// other CPUs, and drops a finished task's own reference.
pub(crate) fn finish_switch(last: *const Task) {
    // SAFETY: `context_switch` returns the task this CPU ran before, a table entry.
    let last = unsafe { &*last };
    let exited = last.state() == State::Exited;
    last.on_cpu.store(false, Ordering::Release);
    if exited {
        task::put(last);
    } else if last.migrating.swap(false, Ordering::AcqRel) {
        wake(last);
    }
}

/// Runs the scheduler now (the current task stays runnable). Task context.
pub(crate) fn reschedule() {
    let flags = arch::irq_save();
    percpu::this_cpu()
        .need_resched
        .store(false, Ordering::Relaxed);
    preempt::disable();
    switch_to_next();
    preempt::enable_no_resched();
    arch::irq_restore(flags);
}

/// Gives the CPU to the next ready task, if any; the caller stays runnable. Sleepable
/// context only.
#[track_caller]
pub fn yield_now() {
    validate::might_sleep_at(Location::caller());
    reschedule();
}

/// Switches away from the current task, which its caller marked Blocked (on a wait queue
/// or sleep list, under that structure's lock). Returns once it has been woken and picked.
///
/// Contract: IRQs masked by the caller (so the wake-up cannot be missed between the
/// marking and here) and a preempt count of zero (`might_sleep` was checked).
#[track_caller]
pub(crate) fn block_masked(at: &'static Location<'static>) {
    validate::check_schedule(at);
    preempt::disable();
    switch_to_next();
    preempt::enable_no_resched();
}

/// Ends the current task: it is never picked again; the next task frees its slot.
pub(crate) fn exit_current() -> ! {
    arch::irq_save();
    preempt::disable();
    task::current()
        .state
        .store(State::Exited as u8, Ordering::Release);
    switch_to_next();
    unreachable!("an exited task was switched back to");
}

/// Makes a Blocked task ready and queues it. Returns false if it was not blocked.
/// Any context; must not hold a run-queue lock (it may wait for another CPU's switch).
pub fn wake(task: &'static Task) -> bool {
    if task
        .state
        .compare_exchange(
            State::Blocked as u8,
            State::Ready as u8,
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return false;
    }
    // It may still be switching away on its CPU (it marked itself Blocked just before).
    // Wait here, outside any switch, until that CPU is done with it.
    while task.on_cpu.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    enqueue(task);
    true
}

/// Interrupts `cpu` with the reschedule IPI (a thread running there in user mode enters
/// the kernel and sees what changed, e.g. its process exiting). Any context.
pub fn kick(cpu: usize) {
    if cpu != arch::cpu_id() {
        irq::send_sgi(RESCHED_SGI, cpu);
    }
}

/// Queues a Ready task: on its pinned CPU, else an idle CPU (its last one first), else the
/// least loaded. An idle target gets a reschedule IPI. Any context.
pub(crate) fn enqueue(task: &'static Task) {
    let flags = arch::irq_save();
    let this = arch::cpu_id();
    let cpu = task
        .affinity()
        .unwrap_or_else(|| placement::select_cpu(&runqueue::loads(), task.last_cpu(), this));
    runqueue::push(cpu, task);
    let was_idle = percpu::CPUS[cpu].idle.swap(false, Ordering::AcqRel);
    if cpu == this {
        if is_idle(this, task::current()) {
            percpu::this_cpu()
                .need_resched
                .store(true, Ordering::Relaxed);
        }
    } else if was_idle {
        irq::send_sgi(RESCHED_SGI, cpu);
    }
    arch::irq_restore(flags);
}

/// The periodic tick (timer IRQ): ends the time slice if another task waits for this CPU,
/// or sends an idle CPU stealing.
pub fn on_tick() {
    let cpu = arch::cpu_id();
    let waiting = runqueue::queued(cpu) > 0;
    let want = if is_idle(cpu, task::current()) {
        waiting || runqueue::anything_to_steal(cpu)
    } else {
        waiting
    };
    if want {
        percpu::this_cpu()
            .need_resched
            .store(true, Ordering::Relaxed);
    }
}

/// At the end of every IRQ (from the vectors, IRQs masked): preempts the interrupted task
/// if a reschedule is pending and its preempt count is zero; otherwise counts the refusal.
pub fn preempt_on_irq_return() {
    let rec = percpu::this_cpu();
    if !rec.need_resched.load(Ordering::Relaxed) {
        return;
    }
    let count = task::current().preempt_count();
    if count > 0 {
        rec.preempt_refused.fetch_add(1, Ordering::Relaxed);
        rec.refused_preempt_count.store(count, Ordering::Relaxed);
        return;
    }
    rec.need_resched.store(false, Ordering::Relaxed);
    preempt::disable();
    if switch_to_next() {
        // `rec` is the CPU that preempted, wherever the task resumes.
        rec.preemptions.fetch_add(1, Ordering::Relaxed);
    }
    preempt::enable_no_resched();
}

/// What an idle CPU runs: waits for an interrupt with `WFI` and schedules whenever there
/// is work (its queue, a reschedule request, something to steal on the next tick).
pub fn idle_loop() -> ! {
    let cpu = arch::cpu_id();
    let has_work =
        || percpu::CPUS[cpu].need_resched.load(Ordering::Relaxed) || runqueue::queued(cpu) > 0;
    loop {
        // Checked with IRQs masked: an IRQ arriving after the check still ends the WFI,
        // and is taken (and may preempt this task) once they are unmasked.
        let flags = arch::irq_save();
        if !has_work() {
            arch::wait_for_interrupt();
        }
        arch::irq_restore(flags);
        if has_work() {
            reschedule();
        }
    }
}
