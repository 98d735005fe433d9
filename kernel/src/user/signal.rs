//! Signals (DESIGN.md §8), as Linux delivers them on aarch64: actions per process
//! (`rt_sigaction`), a mask, pending set and alternate stack per thread, process- and
//! thread-directed sending (`kill`, `tgkill`, `tkill`), synchronous faults turned into
//! signals with `si_code` and `si_addr`, and delivery on the return to EL0 with Linux's
//! `rt_sigframe` (siginfo, then a ucontext whose mcontext holds x0-x30, sp, pc, pstate and
//! an FP/SIMD record) and `rt_sigreturn`.
//!
//! Job control: a stop signal's default action stops the whole process (`family::stop`)
//! until SIGCONT, which continues it whatever its action or mask, as on Linux.
//!
//! Not yet: queued real-time signals (one pending instance per signal), the vDSO (a
//! handler without `SA_RESTORER` returns through the vDSO's `__kernel_rt_sigreturn`).
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::{current_thread, uaccess, Process, Thread};
use crate::arch::exception::TrapFrame;
use crate::sync::SpinLock;
use mm::VirtAddr;

/// SIGHUP.
pub const SIGHUP: i32 = 1;
/// SIGINT.
pub const SIGINT: i32 = 2;
/// SIGQUIT.
pub const SIGQUIT: i32 = 3;
/// SIGILL: an undefined instruction, or any exception class not handled otherwise.
pub const SIGILL: i32 = 4;
/// SIGTRAP: a `brk` instruction.
pub const SIGTRAP: i32 = 5;
/// SIGABRT.
pub const SIGABRT: i32 = 6;
/// SIGBUS: an alignment fault, an external abort or an SError.
pub const SIGBUS: i32 = 7;
/// SIGFPE.
pub const SIGFPE: i32 = 8;
/// SIGKILL: cannot be caught, blocked or ignored.
pub const SIGKILL: i32 = 9;
/// SIGUSR1.
pub const SIGUSR1: i32 = 10;
/// SIGSEGV: an access outside every area or one its protection denies.
pub const SIGSEGV: i32 = 11;
/// SIGUSR2.
pub const SIGUSR2: i32 = 12;
/// SIGPIPE.
pub const SIGPIPE: i32 = 13;
/// SIGALRM.
pub const SIGALRM: i32 = 14;
/// SIGTERM.
pub const SIGTERM: i32 = 15;
/// SIGPROF: the CPU-time interval timer expired.
pub const SIGPROF: i32 = 27;
/// SIGCHLD: a child ended.
pub const SIGCHLD: i32 = 17;
/// SIGCONT.
pub const SIGCONT: i32 = 18;
/// SIGSTOP: cannot be caught, blocked or ignored.
pub const SIGSTOP: i32 = 19;
/// SIGTSTP: stop from the terminal.
pub const SIGTSTP: i32 = 20;
/// SIGTTIN: background read from the terminal.
pub const SIGTTIN: i32 = 21;
/// SIGTTOU: background write to the terminal.
pub const SIGTTOU: i32 = 22;
/// Highest signal number.
pub const NSIG: i32 = 64;
/// The first real-time signal: from here on every instance is queued.
pub const SIGRTMIN: i32 = 32;
/// Real-time signals one queue holds (Linux's RLIMIT_SIGPENDING is per user and larger:
/// past it, `rt_sigqueueinfo` fails with `EAGAIN` as here).
pub const MAX_QUEUED: usize = 256;

/// `sa_handler` values.
pub const SIG_DFL: u64 = 0;
/// Ignore the signal.
pub const SIG_IGN: u64 = 1;

/// `sa_flags` bits.
pub const SA_NOCLDSTOP: u64 = 1;
/// Children that exit leave no zombie.
pub const SA_NOCLDWAIT: u64 = 2;
/// The handler takes (sig, siginfo, ucontext).
pub const SA_SIGINFO: u64 = 4;
/// `sa_restorer` is the return address of the handler.
pub const SA_RESTORER: u64 = 0x0400_0000;
/// Run the handler on the alternate stack.
pub const SA_ONSTACK: u64 = 0x0800_0000;
/// Restart interrupted system calls.
pub const SA_RESTART: u64 = 0x1000_0000;
/// Do not block the signal while its handler runs.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// Reset the action to the default on delivery.
pub const SA_RESETHAND: u64 = 0x8000_0000;
const SA_KNOWN: u64 = SA_NOCLDSTOP
    | SA_NOCLDWAIT
    | SA_SIGINFO
    | SA_RESTORER
    | SA_ONSTACK
    | SA_RESTART
    | SA_NODEFER
    | SA_RESETHAND
    | 0x0200_0000; // SA_UNSUPPORTED, SA_EXPOSE_TAGBITS are probes: kept as given

/// `si_code` values.
pub mod code {
    /// Sent by `kill`.
    pub const SI_USER: i32 = 0;
    /// Sent by `tkill`/`tgkill`.
    pub const SI_TKILL: i32 = -6;
    /// SIGSEGV: no mapping at the address.
    pub const SEGV_MAPERR: i32 = 1;
    /// SIGSEGV: the mapping does not allow the access.
    pub const SEGV_ACCERR: i32 = 2;
    /// SIGBUS: misaligned address.
    pub const BUS_ADRALN: i32 = 1;
    /// SIGBUS: nonexistent physical address (past a shared object's end).
    pub const BUS_ADRERR: i32 = 2;
    /// SIGILL: illegal opcode.
    pub const ILL_ILLOPC: i32 = 1;
    /// SIGTRAP: a breakpoint.
    pub const TRAP_BRKPT: i32 = 1;
    /// SIGCHLD: the child exited.
    pub const CLD_EXITED: i32 = 1;
    /// SIGCHLD: the child was killed.
    pub const CLD_KILLED: i32 = 2;
    /// SIGCHLD: the child stopped.
    pub const CLD_STOPPED: i32 = 5;
    /// SIGCHLD: the child continued.
    pub const CLD_CONTINUED: i32 = 6;
}

/// Internal: the call was interrupted; restart it unless a handler without
/// `SA_RESTART` runs (Linux's `ERESTARTSYS`).
pub const ERESTARTSYS: i64 = 512;
/// Internal: restart it only if no handler runs (Linux's `ERESTARTNOHAND`).
pub const ERESTARTNOHAND: i64 = 514;
/// Internal: if no handler runs, go on through `restart_syscall` with what the call
/// left in the thread's restart block (Linux's `ERESTART_RESTARTBLOCK`: a relative
/// sleep resumes for the time that was left, not the whole time again).
pub const ERESTART_RESTARTBLOCK: i64 = 516;
/// `restart_syscall`'s number (asm-generic/unistd.h).
const NR_RESTART_SYSCALL: u64 = 128;

/// What an interrupted call leaves for `restart_syscall` (Linux's `restart_block`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartBlock {
    /// A relative sleep: on until this monotonic time, the time left written to `rem`
    /// (0: nowhere) if interrupted again.
    Sleep {
        /// The deadline, in nanoseconds of the monotonic clock.
        deadline_ns: u64,
        /// The caller's `rem` pointer.
        rem: u64,
    },
}

const fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}
const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// One action (`struct sigaction` for aarch64: handler, flags, restorer, mask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    /// `sa_handler`/`sa_sigaction`, or `SIG_DFL`/`SIG_IGN`.
    pub handler: u64,
    /// `sa_flags`.
    pub flags: u64,
    /// `sa_restorer`.
    pub restorer: u64,
    /// `sa_mask`.
    pub mask: u64,
}

/// What a signal does when its action is `SIG_DFL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Default {
    Terminate,
    Ignore,
    Stop,
}

fn default_action(sig: i32) -> Default {
    match sig {
        SIGCHLD | SIGCONT | 23 /* SIGURG */ | 28 /* SIGWINCH */ => Default::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Default::Stop,
        _ => Default::Terminate,
    }
}

/// The fields of a `siginfo_t` this kernel fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    /// `si_signo`.
    pub signo: i32,
    /// `si_code`.
    pub code: i32,
    /// The first union word: `si_pid` (low half) and `si_uid` (high), or `si_addr`.
    pub word0: u64,
    /// The second union word: `si_status` for SIGCHLD (low half), `si_value` for a
    /// queued signal.
    pub word1: u64,
}

impl SigInfo {
    /// Sent by process `pid` (`kill`, `tgkill`: `code`).
    pub fn from_process(signo: i32, code: i32, pid: u32) -> Self {
        Self {
            signo,
            code,
            word0: u64::from(pid),
            word1: 0,
        }
    }

    /// A fault at `addr`.
    pub fn fault(signo: i32, code: i32, addr: u64) -> Self {
        Self {
            signo,
            code,
            word0: addr,
            word1: 0,
        }
    }

    /// The 128 bytes of a `siginfo_t`.
    fn bytes(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&self.signo.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        b[16..24].copy_from_slice(&self.word0.to_le_bytes());
        b[24..32].copy_from_slice(&self.word1.to_le_bytes());
        b
    }

    /// The fields kept from a `siginfo_t` a program gave (`rt_sigqueueinfo`); the signal
    /// number is the call's.
    pub fn from_bytes(signo: i32, b: &[u8; 128]) -> Self {
        let w = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8"));
        Self {
            signo,
            code: i32::from_le_bytes(b[8..12].try_into().expect("4")),
            word0: w(16),
            word1: w(24),
        }
    }
}

/// Signals waiting for delivery: at most one of each standard signal (a second is
/// merged into the first), every instance of a real-time one (`SIGRTMIN`..=`SIGRTMAX`,
/// each with its own siginfo, delivered in the order sent), up to [`MAX_QUEUED`]. Their
/// siginfo on the heap (a process and each of its threads have one of these: kept small,
/// since a `Process` is built on a kernel stack before it moves into its `Arc`).
#[derive(Clone)]
pub struct Pending {
    set: u64,
    info: Vec<SigInfo>,
}

impl Pending {
    const fn new() -> Self {
        Self {
            set: 0,
            info: Vec::new(),
        }
    }

    /// Queues `info`; false if a real-time signal found the queue full (`EAGAIN`).
    fn add(&mut self, info: SigInfo) -> bool {
        let s = info.signo;
        if s < SIGRTMIN {
            if self.set & bit(s) == 0 {
                self.set |= bit(s);
                self.info.push(info);
            }
            return true;
        }
        if self.info.len() >= MAX_QUEUED {
            return false;
        }
        self.set |= bit(s);
        self.info.push(info);
        true
    }

    /// The lowest pending signal outside `blocked` (its oldest instance), taken out.
    fn take(&mut self, blocked: u64) -> Option<SigInfo> {
        let ready = self.set & !blocked;
        if ready == 0 {
            return None;
        }
        let s = ready.trailing_zeros() as i32 + 1;
        let i = self.info.iter().position(|i| i.signo == s)?;
        let info = self.info.remove(i);
        if !self.info.iter().any(|i| i.signo == s) {
            self.set &= !bit(s);
        }
        Some(info)
    }

    /// Drops the pending signals of `signals`.
    fn discard(&mut self, signals: u64) {
        self.set &= !signals;
        self.info.retain(|i| signals & bit(i.signo) == 0);
    }

    /// The pending set.
    pub fn set(&self) -> u64 {
        self.set
    }
}

impl core::default::Default for Pending {
    fn default() -> Self {
        Self::new()
    }
}

/// A pending set under its lock, with its mask mirrored in an atomic: every return to
/// EL0 asks whether anything is pending, and that question takes no lock (threads of one
/// process would otherwise contend on its lock at every system call).
pub struct PendingQueue {
    queue: SpinLock<Pending>,
    mask: AtomicU64,
}

impl PendingQueue {
    const fn new() -> Self {
        Self {
            queue: SpinLock::new(Pending::new()),
            mask: AtomicU64::new(0),
        }
    }

    /// The pending set (lock-free; exact once the caller has seen a change's wake-up).
    pub fn mask(&self) -> u64 {
        self.mask.load(Ordering::Acquire)
    }

    fn add(&self, info: SigInfo) -> bool {
        let mut q = self.queue.lock();
        let queued = q.add(info);
        self.mask.store(q.set, Ordering::Release);
        queued
    }

    fn take(&self, blocked: u64) -> Option<SigInfo> {
        if self.mask() & !blocked == 0 {
            return None;
        }
        let mut q = self.queue.lock();
        let got = q.take(blocked);
        self.mask.store(q.set, Ordering::Release);
        got
    }

    fn discard(&self, signals: u64) {
        if self.mask() & signals == 0 {
            return;
        }
        let mut q = self.queue.lock();
        q.discard(signals);
        self.mask.store(q.set, Ordering::Release);
    }
}

/// The per-process part: actions, process-directed pending signals, and the threads
/// waiting for a signal (`rt_sigsuspend`, `rt_sigtimedwait`).
pub struct ProcessSignals {
    actions: SpinLock<alloc::boxed::Box<[Action; NSIG as usize]>>,
    pending: PendingQueue,
    /// Woken by `Process::interrupt_threads` whenever a signal is queued for the process
    /// or one of its threads.
    pub waiters: crate::sync::WaitQueue,
}

impl core::default::Default for ProcessSignals {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessSignals {
    /// Every action `SIG_DFL`, nothing pending.
    pub fn new() -> Self {
        Self {
            actions: SpinLock::new(alloc::boxed::Box::new([Action::default(); NSIG as usize])),
            pending: PendingQueue::new(),
            waiters: crate::sync::WaitQueue::new(),
        }
    }

    /// The child's copy at fork: the same actions, nothing pending.
    pub fn fork(&self) -> Self {
        let s = Self::new();
        let copy = **self.actions.lock();
        **s.actions.lock() = copy;
        s
    }

    /// At `execve`: handled signals go back to `SIG_DFL`; ignored ones stay ignored.
    pub fn exec(&self) {
        for a in self.actions.lock().iter_mut() {
            if a.handler != SIG_IGN {
                *a = Action::default();
            }
        }
    }

    /// The action of `sig`.
    pub fn action(&self, sig: i32) -> Action {
        self.actions.lock()[(sig - 1) as usize]
    }

    /// Whether the parent's SIGCHLD settings make exiting children leave no zombie
    /// (`SIG_IGN`, or `SA_NOCLDWAIT`).
    pub fn reaps_children(&self) -> bool {
        let a = self.action(SIGCHLD);
        a.handler == SIG_IGN || a.flags & SA_NOCLDWAIT != 0
    }
}

/// The per-thread part: mask, thread-directed pending signals, alternate stack, and the
/// system call to restart.
pub struct ThreadSignals {
    /// Blocked signals.
    pub mask: AtomicU64,
    pending: PendingQueue,
    altstack: SpinLock<AltStack>,
    /// A system call that returned `ERESTARTSYS`/`ERESTARTNOHAND` (0: none), and its
    /// `x0`. Only the thread itself reads and writes them.
    restart_code: AtomicI64,
    restart_x0: AtomicU64,
    /// What `restart_syscall` resumes. Only the thread itself uses it.
    restart_block: SpinLock<Option<RestartBlock>>,
    /// The mask `rt_sigsuspend` replaced ([`NO_SAVED_MASK`]: none): the handler's frame
    /// records it, so `rt_sigreturn` restores it (Linux's `saved_sigmask`); a return
    /// to EL0 with no handler restores it at once. Only the thread itself uses it.
    saved_mask: AtomicU64,
}

/// No saved mask (a mask never holds SIGKILL or SIGSTOP, so this is no mask).
const NO_SAVED_MASK: u64 = u64::MAX;

/// `stack_t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    /// `ss_sp` (0: none).
    pub sp: u64,
    /// `ss_size`.
    pub size: u64,
    /// `SS_AUTODISARM` and the like (kept).
    pub flags: u32,
}

const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;
const MINSIGSTKSZ: u64 = 5120;

impl core::default::Default for ThreadSignals {
    fn default() -> Self {
        Self::new(0)
    }
}

impl ThreadSignals {
    /// Nothing pending, `mask` blocked.
    pub fn new(mask: u64) -> Self {
        Self {
            mask: AtomicU64::new(mask),
            pending: PendingQueue::new(),
            altstack: SpinLock::new(AltStack::default()),
            restart_code: AtomicI64::new(0),
            restart_x0: AtomicU64::new(0),
            restart_block: SpinLock::new(None),
            saved_mask: AtomicU64::new(NO_SAVED_MASK),
        }
    }

    /// Records what `restart_syscall` resumes (a call about to return
    /// [`ERESTART_RESTARTBLOCK`]).
    pub fn set_restart_block(&self, block: RestartBlock) {
        *self.restart_block.lock() = Some(block);
    }

    /// What `restart_syscall` resumes, taken (none: it returns `EINTR`, as Linux's
    /// `do_no_restart_syscall`).
    pub fn take_restart_block(&self) -> Option<RestartBlock> {
        self.restart_block.lock().take()
    }

    /// A fork child's thread: the parent thread's mask and alternate stack (Linux keeps
    /// `sas_ss_sp` across fork, clears it for a new thread), nothing pending.
    pub fn forked(parent: &ThreadSignals) -> Self {
        let s = Self::new(parent.mask.load(Ordering::Relaxed));
        *s.altstack.lock() = parent.altstack();
        s
    }

    /// The alternate stack.
    pub fn altstack(&self) -> AltStack {
        *self.altstack.lock()
    }
}

/// The caller's pending set (thread and process).
pub fn pending_of(thread: &Thread) -> u64 {
    thread.signals.pending.mask() | thread.process.signals.pending.mask()
}

/// Whether a signal the thread does not block is pending (a blocking call returns then).
pub fn has_pending(thread: &Thread) -> bool {
    pending_of(thread) & !thread.signals.mask.load(Ordering::Acquire) != 0
}

/// Whether the calling user thread has an unblocked signal pending.
pub fn current_has_pending() -> bool {
    current_thread().is_some_and(has_pending)
}

/// Sends a process-directed signal: one of its threads that does not block it takes it.
/// Returns what queueing it did (`Queued::Full`: a real-time signal, its queue full).
pub fn send_to_process(process: &Arc<Process>, info: SigInfo) -> Queued {
    if info.signo == 0 {
        return Queued::Ignored;
    }
    if info.signo == SIGKILL {
        process.begin_kill(SIGKILL);
        return Queued::Yes;
    }
    discard_for(process, info.signo);
    if info.signo == SIGCONT {
        super::family::resume(process);
    }
    let queued = queue_for_process(process, info);
    if queued == Queued::Yes {
        process.interrupt_threads();
    }
    queued
}

/// Generating a stop signal discards a pending SIGCONT, and SIGCONT every pending stop
/// signal (POSIX).
fn discard_for(process: &Process, sig: i32) {
    let stops = bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU);
    let drop = if sig == SIGCONT {
        stops
    } else if stops & bit(sig) != 0 {
        bit(SIGCONT)
    } else {
        return;
    };
    process.signals.pending.discard(drop);
    process.for_each_thread(|t| t.signals.pending.discard(drop));
}

/// What queueing a signal did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Pending now: wake the threads (`Process::interrupt_threads`).
    Yes,
    /// Its action ignores it: dropped, nothing to wake.
    Ignored,
    /// A real-time signal, and the queue is full (`EAGAIN` for `rt_sigqueueinfo`).
    Full,
}

/// Whether the action of `sig` drops it at generation.
fn ignored(process: &Process, sig: i32) -> bool {
    let a = process.signals.action(sig);
    a.handler == SIG_IGN || (a.handler == SIG_DFL && default_action(sig) == Default::Ignore)
}

/// Queues a process-directed signal without waking anyone (the caller does, outside
/// its spinlocks). Not for `SIGKILL`.
pub fn queue_for_process(process: &Process, info: SigInfo) -> Queued {
    if ignored(process, info.signo) {
        Queued::Ignored
    } else if process.signals.pending.add(info) {
        Queued::Yes
    } else {
        Queued::Full
    }
}

/// Queues a thread-directed signal for `thread` (`SIGKILL` is the caller's: it ends the
/// whole process). The caller then calls `Process::interrupt_threads` (not under the
/// thread list's lock).
pub fn queue_for_thread(thread: &Thread, info: SigInfo) -> Queued {
    if info.signo == 0 || info.signo == SIGKILL || ignored(&thread.process, info.signo) {
        Queued::Ignored
    } else if thread.signals.pending.add(info) {
        Queued::Yes
    } else {
        Queued::Full
    }
}

/// A synchronous fault of the calling thread: the signal is delivered at once on the
/// return to EL0 (the faulting instruction runs again if the handler returns). Blocked
/// or ignored, it cannot be: the action goes back to `SIG_DFL` and the process dies, as
/// Linux's `force_sig_fault`.
pub fn force_fault(info: SigInfo) {
    let thread = current_thread().expect("a fault signal for a kernel task");
    let sig = info.signo;
    let blocked = thread.signals.mask.load(Ordering::Acquire) & bit(sig) != 0;
    let mut actions = thread.process.signals.actions.lock();
    let a = &mut actions[(sig - 1) as usize];
    if blocked || a.handler == SIG_IGN {
        *a = Action::default();
        thread.signals.mask.fetch_and(!bit(sig), Ordering::AcqRel);
    }
    drop(actions);
    // A fault's signal is a standard one: it is never refused.
    thread.signals.pending.add(info);
}

/// Whether the system call the thread returns from waits to be restarted or failed.
pub fn restart_pending(thread: &Thread) -> bool {
    thread.signals.restart_code.load(Ordering::Relaxed) != 0
}

/// Records that the system call the thread is returning from wants a restart
/// (`code`: `ERESTARTSYS`, `ERESTARTNOHAND` or `ERESTART_RESTARTBLOCK`) with its
/// original `x0`.
pub fn note_restart(thread: &Thread, code: i64, orig_x0: u64) {
    thread.signals.restart_x0.store(orig_x0, Ordering::Relaxed);
    thread.signals.restart_code.store(code, Ordering::Relaxed);
}

/// On the return to EL0: delivers one pending signal (a handler frame, or the default
/// action), and settles an interrupted system call (restart, or `-EINTR`). IRQs enabled,
/// sleepable (it writes the user stack). Returns `false` if the process must end (the
/// caller leaves through `exit_thread`).
pub fn deliver(frame: &mut TrapFrame, thread: &Thread) -> bool {
    let code = thread.signals.restart_code.swap(0, Ordering::Relaxed);
    let restart = (code != 0).then(|| (code, thread.signals.restart_x0.load(Ordering::Relaxed)));
    loop {
        let blocked = thread.signals.mask.load(Ordering::Acquire);
        let info = thread
            .signals
            .pending
            .take(blocked)
            .or_else(|| thread.process.signals.pending.take(blocked));
        let Some(info) = info else { break };
        let sig = info.signo;
        let mut actions = thread.process.signals.actions.lock();
        let action = actions[(sig - 1) as usize];
        if action.handler == SIG_IGN {
            continue;
        }
        if action.handler == SIG_DFL {
            drop(actions);
            match default_action(sig) {
                Default::Ignore => continue,
                Default::Stop => {
                    super::family::stop(&thread.process, sig);
                    super::family::park_while_stopped(&thread.process);
                    if thread.process.exiting() {
                        return false;
                    }
                    continue;
                }
                Default::Terminate => {
                    defmt::info!(
                        "process {} (thread {}): killed by signal {}",
                        thread.process.pid,
                        thread.tid,
                        sig
                    );
                    thread.process.begin_kill(sig);
                    return false;
                }
            }
        }
        if action.flags & SA_RESETHAND != 0 {
            actions[(sig - 1) as usize] = Action::default();
        }
        drop(actions);
        if let Some((code, orig_x0)) = restart {
            let restart_it = code == ERESTARTSYS && action.flags & SA_RESTART != 0;
            if restart_it {
                frame.x[0] = orig_x0;
                frame.elr -= 4;
            } else {
                frame.x[0] = (-4i64) as u64; // EINTR
                                             // A handler ends the call: nothing is left to resume.
                let _ = thread.signals.take_restart_block();
            }
        }
        if setup_frame(frame, thread, &info, &action).is_err() {
            defmt::error!(
                "process {}: no room for the frame of signal {} on the user stack",
                thread.process.pid,
                sig
            );
            thread.process.begin_kill(SIGSEGV);
            return false;
        }
        // The frame has the mask to restore (a saved one included): it is spent.
        thread
            .signals
            .saved_mask
            .store(NO_SAVED_MASK, Ordering::Relaxed);
        let mut mask = blocked | action.mask;
        if action.flags & SA_NODEFER == 0 {
            mask |= bit(sig);
        }
        thread
            .signals
            .mask
            .store(mask & !UNBLOCKABLE, Ordering::Release);
        return true;
    }
    restore_saved_mask(thread);
    if let Some((code, orig_x0)) = restart {
        // No handler ran: the call starts again, or goes on through restart_syscall.
        frame.x[0] = orig_x0;
        frame.elr -= 4;
        if code == ERESTART_RESTARTBLOCK {
            frame.x[8] = NR_RESTART_SYSCALL;
        }
    }
    true
}

/// `ppoll`/`pselect6` with a mask: `mask` replaces the thread's for the wait, the old
/// one kept for a handler's frame as `rt_sigsuspend` keeps it; [`restore_saved_mask`]
/// puts it back when the call ends without a signal.
pub fn set_temporary_mask(thread: &Thread, mask: u64) {
    let old = thread.signals.mask.load(Ordering::Relaxed);
    thread.signals.saved_mask.store(old, Ordering::Relaxed);
    set_mask(thread, mask);
}

/// Back to the mask `rt_sigsuspend` replaced, if it did (no handler took it with it).
pub fn restore_saved_mask(thread: &Thread) {
    let saved = thread
        .signals
        .saved_mask
        .swap(NO_SAVED_MASK, Ordering::Relaxed);
    if saved != NO_SAVED_MASK {
        thread.signals.mask.store(saved, Ordering::Release);
    }
}

/// `rt_sigsuspend`'s core: `mask` replaces the thread's until a signal it does not block
/// is pending (or the process ends); the old mask is kept for the handler's frame.
/// Returns `ERESTARTNOHAND` (EINTR once a handler runs). Sleepable.
pub fn suspend(thread: &Thread, mask: u64) -> i64 {
    let old = thread.signals.mask.load(Ordering::Relaxed);
    thread.signals.saved_mask.store(old, Ordering::Relaxed);
    set_mask(thread, mask);
    let process = &thread.process;
    process
        .signals
        .waiters
        .wait_until(|| has_pending(thread) || process.exiting());
    ERESTARTNOHAND
}

/// `rt_sigtimedwait`'s core: takes the oldest pending signal of `set` (blocked or not),
/// waiting up to `timeout` (`None`: for ever) with `set` unblocked meanwhile. `Ok` with
/// the signal; `Err(true)` if another signal (or the process's end) interrupted the
/// wait, `Err(false)` if the time ran out. Sleepable.
pub fn timed_wait(
    thread: &Thread,
    set: u64,
    timeout: Option<core::time::Duration>,
) -> Result<SigInfo, bool> {
    let set = set & !UNBLOCKABLE;
    let take = || {
        thread
            .signals
            .pending
            .take(!set)
            .or_else(|| thread.process.signals.pending.take(!set))
    };
    if let Some(info) = take() {
        return Ok(info);
    }
    if timeout == Some(core::time::Duration::ZERO) {
        return Err(false);
    }
    let real = thread.signals.mask.load(Ordering::Relaxed);
    thread.signals.mask.store(real & !set, Ordering::Release);
    let process = &thread.process;
    let deadline = timeout.map(|t| {
        drivers::timer::counter().saturating_add(drivers::timer::ns_to_ticks(
            t.as_nanos().min(u128::from(u64::MAX)) as u64,
        ))
    });
    let woken = || has_pending(thread) || process.exiting();
    let mut timed_out = false;
    match deadline {
        None => process.signals.waiters.wait_until(woken),
        // No timed wait in the scheduler yet: polled in 1 ms sleeps, as futex's.
        Some(d) => loop {
            if woken() {
                break;
            }
            let left = d.saturating_sub(drivers::timer::counter());
            if left == 0 {
                timed_out = true;
                break;
            }
            let left = drivers::timer::ticks_to_ns(left).min(1_000_000);
            crate::sched::sleep(core::time::Duration::from_nanos(left));
        },
    }
    thread.signals.mask.store(real, Ordering::Release);
    take().ok_or(!timed_out)
}

/// Offsets in the signal frame (Linux arch/arm64 `struct rt_sigframe`).
mod layout {
    /// `siginfo_t` at the frame's start.
    pub const INFO: u64 = 0;
    /// `struct ucontext`.
    pub const UC: u64 = 128;
    /// `uc_stack` (ss_sp, ss_flags, ss_size).
    pub const UC_STACK: u64 = UC + 16;
    /// `uc_sigmask`.
    pub const UC_SIGMASK: u64 = UC + 40;
    /// `uc_mcontext` (`struct sigcontext`, 16-byte aligned).
    pub const MC: u64 = UC + 176;
    /// `fault_address`.
    pub const MC_FAULT: u64 = MC;
    /// `regs[31]`.
    pub const MC_REGS: u64 = MC + 8;
    /// `sp`, `pc`, `pstate`.
    pub const MC_SP: u64 = MC + 256;
    /// `__reserved[4096]`: the FP/SIMD record, then a terminator.
    pub const MC_RESERVED: u64 = MC + 288;
    /// What the kernel writes and reads of the frame, from its start: up to the end of
    /// the FP/SIMD record and its terminator (as Linux, the rest of `__reserved` is left
    /// as the stack had it).
    pub const USED: usize = (MC_RESERVED + FPSIMD_SIZE as u64 + 16) as usize;
    /// The frame record after the sigframe (fp, lr).
    pub const RECORD: u64 = MC_RESERVED + 4096;
    /// The whole frame, 16-byte aligned.
    pub const SIZE: u64 = RECORD + 16;
    /// `struct fpsimd_context`: magic, size.
    pub const FPSIMD_MAGIC: u32 = 0x4650_8001;
    /// Its size: head (8), fpsr, fpcr, 32 q registers.
    pub const FPSIMD_SIZE: u32 = 528;
}

/// Writes the frame for `info` below the thread's stack (or on its alternate stack) and
/// points the registers at the handler.
fn setup_frame(
    frame: &mut TrapFrame,
    thread: &Thread,
    info: &SigInfo,
    action: &Action,
) -> Result<(), ()> {
    let alt = thread.signals.altstack();
    let sp = frame.sp_el0;
    let on_alt = alt.sp != 0 && sp > alt.sp && sp <= alt.sp + alt.size;
    let top = if action.flags & SA_ONSTACK != 0 && alt.sp != 0 && !on_alt {
        alt.sp + alt.size
    } else {
        sp
    };
    let base = top.checked_sub(layout::SIZE).ok_or(())? & !15;
    let mut f = [0u8; layout::USED];
    let put = |f: &mut [u8; layout::USED], at: u64, bytes: &[u8]| {
        f[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut f, layout::INFO, &info.bytes());
    let ss_flags = if alt.sp == 0 {
        SS_DISABLE
    } else if on_alt {
        SS_ONSTACK
    } else {
        alt.flags
    };
    put(&mut f, layout::UC_STACK, &alt.sp.to_le_bytes());
    put(&mut f, layout::UC_STACK + 8, &ss_flags.to_le_bytes());
    put(&mut f, layout::UC_STACK + 16, &alt.size.to_le_bytes());
    let saved = thread.signals.saved_mask.load(Ordering::Relaxed);
    let mask = if saved != NO_SAVED_MASK {
        saved
    } else {
        thread.signals.mask.load(Ordering::Acquire)
    };
    put(&mut f, layout::UC_SIGMASK, &mask.to_le_bytes());
    let fault = if matches!(info.signo, SIGSEGV | SIGBUS | SIGILL | SIGTRAP) && info.code > 0 {
        info.word0
    } else {
        0
    };
    put(&mut f, layout::MC_FAULT, &fault.to_le_bytes());
    for (i, r) in frame.x.iter().enumerate() {
        put(&mut f, layout::MC_REGS + 8 * i as u64, &r.to_le_bytes());
    }
    put(&mut f, layout::MC_SP, &frame.sp_el0.to_le_bytes());
    put(&mut f, layout::MC_SP + 8, &frame.elr.to_le_bytes());
    put(&mut f, layout::MC_SP + 16, &frame.spsr.to_le_bytes());
    // The thread's FP/SIMD registers are the CPU's (the kernel never touches them); the
    // handler starts with them unchanged, as on Linux.
    let regs = crate::arch::fpsimd::save();
    let fp = layout::MC_RESERVED;
    put(&mut f, fp, &layout::FPSIMD_MAGIC.to_le_bytes());
    put(&mut f, fp + 4, &layout::FPSIMD_SIZE.to_le_bytes());
    put(&mut f, fp + 8, &(regs.fpsr as u32).to_le_bytes());
    put(&mut f, fp + 12, &(regs.fpcr as u32).to_le_bytes());
    for (i, q) in regs.q.iter().enumerate() {
        put(&mut f, fp + 16 + 16 * i as u64, &q.to_le_bytes());
    }
    // The terminator record after it is already zero.
    let mut record = [0u8; 16];
    record[..8].copy_from_slice(&frame.x[29].to_le_bytes());
    record[8..].copy_from_slice(&frame.x[30].to_le_bytes());
    uaccess::copy_to(VirtAddr::new(base), &f).map_err(|_| ())?;
    uaccess::copy_to(VirtAddr::new(base + layout::RECORD), &record).map_err(|_| ())?;
    frame.x[0] = info.signo as u64;
    frame.x[1] = base + layout::INFO;
    frame.x[2] = base + layout::UC;
    frame.x[29] = base + layout::RECORD;
    frame.x[30] = if action.flags & SA_RESTORER != 0 {
        action.restorer
    } else {
        super::vdso::sigreturn()
    };
    frame.sp_el0 = base;
    frame.elr = action.handler;
    Ok(())
}

/// A signal frame `rt_sigreturn` refuses (unreadable, misaligned, naming kernel state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFrame;

/// `rt_sigreturn()`: restores what the frame at the user's `sp` saved. A frame that
/// cannot be read or that names kernel state is fatal (SIGSEGV), as on Linux.
pub fn sigreturn(frame: &mut TrapFrame) -> Result<u64, BadFrame> {
    let thread = current_thread().expect("rt_sigreturn from a kernel task");
    let base = frame.sp_el0;
    if !base.is_multiple_of(16) {
        return Err(BadFrame);
    }
    let mut f = [0u8; layout::USED];
    uaccess::copy_from(VirtAddr::new(base), &mut f).map_err(|_| BadFrame)?;
    let word = |at: u64| u64::from_le_bytes(f[at as usize..at as usize + 8].try_into().expect("8"));
    let word32 =
        |at: u64| u32::from_le_bytes(f[at as usize..at as usize + 4].try_into().expect("4"));
    let pstate = word(layout::MC_SP + 16);
    // Only EL0t AArch64 with the condition flags and the user-controllable bits.
    if pstate & 0x1f != 0 || pstate & (1 << 4) != 0 {
        return Err(BadFrame);
    }
    let fp = layout::MC_RESERVED;
    if word32(fp) != layout::FPSIMD_MAGIC || word32(fp + 4) != layout::FPSIMD_SIZE {
        return Err(BadFrame);
    }
    for i in 0..31 {
        frame.x[i] = word(layout::MC_REGS + 8 * i as u64);
    }
    frame.sp_el0 = word(layout::MC_SP);
    frame.elr = word(layout::MC_SP + 8);
    // NZCV and the user bits from the frame; DAIF clear, EL0t.
    frame.spsr = pstate & 0xf000_0000;
    let mut regs = crate::arch::fpsimd::FpState {
        fpsr: u64::from(word32(fp + 8)),
        fpcr: u64::from(word32(fp + 12)),
        ..crate::arch::fpsimd::FpState::ZERO
    };
    for (i, q) in regs.q.iter_mut().enumerate() {
        let at = (fp + 16 + 16 * i as u64) as usize;
        *q = u128::from_le_bytes(f[at..at + 16].try_into().expect("16"));
    }
    crate::arch::fpsimd::load(&regs);
    let mask = word(layout::UC_SIGMASK) & !UNBLOCKABLE;
    thread.signals.mask.store(mask, Ordering::Release);
    let (ss_sp, ss_flags, ss_size) = (
        word(layout::UC_STACK),
        word32(layout::UC_STACK + 8),
        word(layout::UC_STACK + 16),
    );
    // restore_altstack: as sigaltstack would (errors ignored).
    let _ = set_altstack(thread, ss_sp, ss_flags, ss_size, frame.sp_el0);
    Ok(frame.x[0])
}

/// `sigaltstack`'s change, with its checks. `sp` is the caller's stack pointer.
pub fn set_altstack(
    thread: &Thread,
    ss_sp: u64,
    flags: u32,
    size: u64,
    sp: u64,
) -> Result<(), i64> {
    let cur = thread.signals.altstack();
    if cur.sp != 0 && sp > cur.sp && sp <= cur.sp + cur.size {
        return Err(1); // EPERM: on it now
    }
    let mode = flags & !(1 << 31); // SS_AUTODISARM
    if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
        return Err(22);
    }
    let new = if mode == SS_DISABLE {
        AltStack::default()
    } else {
        if size < MINSIGSTKSZ {
            return Err(12); // ENOMEM
        }
        AltStack {
            sp: ss_sp,
            size,
            flags: flags & (1 << 31),
        }
    };
    *thread.signals.altstack.lock() = new;
    Ok(())
}

/// Writes `info` as a `siginfo_t` at user `at`.
pub fn write_info(at: u64, info: &SigInfo) -> Result<(), super::syscall::errno::Errno> {
    uaccess::copy_to(VirtAddr::new(at), &info.bytes())
}

/// `struct sigaction` from user memory (handler, flags, restorer, mask).
pub fn read_action(at: u64) -> Result<Action, super::syscall::errno::Errno> {
    let mut b = [0u8; 32];
    uaccess::copy_from(VirtAddr::new(at), &mut b)?;
    let w = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8"));
    Ok(Action {
        handler: w(0),
        flags: w(1) & SA_KNOWN,
        restorer: w(2),
        mask: w(3) & !UNBLOCKABLE,
    })
}

/// Writes `a` as a `struct sigaction`.
pub fn write_action(at: u64, a: &Action) -> Result<(), super::syscall::errno::Errno> {
    let mut b = [0u8; 32];
    for (i, w) in [a.handler, a.flags, a.restorer, a.mask].iter().enumerate() {
        b[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    }
    uaccess::copy_to(VirtAddr::new(at), &b)
}

/// `rt_sigaction`'s change of `sig`'s action; returns the old one.
pub fn set_action(process: &Process, sig: i32, new: Option<Action>) -> Action {
    let mut actions = process.signals.actions.lock();
    let old = actions[(sig - 1) as usize];
    if let Some(new) = new {
        actions[(sig - 1) as usize] = new;
        drop(actions);
        if new.handler == SIG_IGN
            || (new.handler == SIG_DFL && default_action(sig) == Default::Ignore)
        {
            // POSIX: setting a pending signal to be ignored discards it.
            process.signals.pending.discard(bit(sig));
            process.for_each_thread(|t| t.signals.pending.discard(bit(sig)));
        }
    }
    old
}

/// Blocks and unblocks for `rt_sigprocmask` (`SIGKILL`/`SIGSTOP` never).
pub fn set_mask(thread: &Thread, mask: u64) {
    thread
        .signals
        .mask
        .store(mask & !UNBLOCKABLE, Ordering::Release);
}
