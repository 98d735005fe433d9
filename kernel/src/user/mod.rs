//! User programs: processes made of threads that run at EL0 in an
//! [`AddressSpace`], started from static ELF executables in the initramfs,
//! served by Linux-compatible system calls (`syscall`).
//!
//! A user thread is a kernel task with a [`Thread`] attached: it runs the
//! program at EL0 and enters the kernel on `svc`, faults and interrupts,
//! with its user registers in a frame on its kernel stack. Every memory call
//! goes through the address-space layer (mmap_lock, PTL, notifiers).
pub mod elf;
pub mod exec;
pub mod family;
pub mod fd;
pub mod futex;
pub mod initramfs;
pub mod itimer;
pub mod signal;
pub mod syscall;
pub mod trap;
pub mod tty;
pub mod uaccess;
pub mod vdso;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use crate::aspace::AddressSpace;
use crate::sync::{Mutex, SpinLock};
use crate::task::{self, Task};
use mm::VirtAddr;

/// The heap a program grows with `brk`.
pub struct Brk {
    /// First byte after the executable's last segment (page aligned).
    pub start: VirtAddr,
    /// Current break (what `brk(0)` returns).
    pub current: VirtAddr,
}

/// A process: one address space, its threads, its family, and how it ends.
pub struct Process {
    /// Its process ID (the first thread's TID).
    pub pid: u32,
    /// The address space its threads share: replaced by `execve`, dropped when the last
    /// thread exits (a zombie holds no memory).
    aspace: SpinLock<Option<Arc<AddressSpace>>>,
    /// Its heap, moved by `brk`.
    pub brk: Mutex<Brk>,
    /// The first process (`init=`): when it ends, the kernel powers off with its status.
    pub init: bool,
    /// Threads not yet exited.
    live: AtomicU32,
    /// Its tasks, for waking them when the process exits.
    tasks: SpinLock<Vec<&'static Task>>,
    exiting: AtomicBool,
    /// The thread in `execve` that ends the others (0: none).
    exec_killer: AtomicU32,
    /// The status `wait4` reports once it is a zombie, encoded as Linux does: exit code in
    /// bits 8-15, or the terminating signal in bits 0-6.
    wait_status: AtomicI32,
    /// The DMA device, once attached to the address space (`syscall::private`); dropped
    /// (unsubscribed) at exit and exec.
    pub dma: SpinLock<Option<Arc<syscall::private::UserDma>>>,
    /// CPU time (counter ticks) of its threads that have exited.
    exited_cpu_time: AtomicU64,
    /// Parent, children, zombie state and the waits on them (`family`).
    pub family: family::Family,
    /// Signal actions and process-directed pending signals.
    pub signals: signal::ProcessSignals,
    /// `setitimer`'s timers (`ITIMER_REAL`, `ITIMER_PROF`).
    pub itimer: SpinLock<itimer::ITimers>,
    /// Its descriptors (threads share them; fork copies them).
    pub files: Mutex<fd::FdTable>,
    /// Its working directory.
    pub cwd: Mutex<Arc<crate::fs::Inode>>,
    /// Its file mode creation mask (`umask`).
    pub umask: AtomicU32,
    /// Its process group (`setpgid`; a fork's is its parent's).
    pgid: AtomicU32,
    /// Its session (`setsid`).
    sid: AtomicU32,
    /// Its resource limits (`prlimit64`): (soft, hard) per resource; fork copies them.
    pub rlimits: SpinLock<alloc::boxed::Box<[(u64, u64); RLIM_NLIMITS]>>,
}

/// Resources `getrlimit` knows (Linux's `RLIM_NLIMITS`).
pub const RLIM_NLIMITS: usize = 16;
/// No limit (`RLIM_INFINITY`).
pub const RLIM_INFINITY: u64 = u64::MAX;

/// The limits init starts with, as Linux gives them: 8 MiB of stack (hard: none), no
/// core files, 1024 descriptors (hard 4096), 8 MiB locked, Linux's default pending
/// signals and message-queue bytes; everything else unlimited. Only the descriptor
/// table's size is enforced, at 1024 whatever the limit says.
fn default_rlimits() -> [(u64, u64); RLIM_NLIMITS] {
    let mut r = [(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS];
    r[3] = (8 << 20, RLIM_INFINITY); // RLIMIT_STACK
    r[4] = (0, RLIM_INFINITY); // RLIMIT_CORE
    r[7] = (1024, 4096); // RLIMIT_NOFILE
    r[8] = (8 << 20, 8 << 20); // RLIMIT_MEMLOCK
    r[11] = (7823, 7823); // RLIMIT_SIGPENDING
    r[12] = (819_200, 819_200); // RLIMIT_MSGQUEUE
    r[13] = (0, 0); // RLIMIT_NICE
    r[14] = (0, 0); // RLIMIT_RTPRIO
    r
}

// A process and a thread are built on a kernel stack before they move into their `Arc`
// (fork runs deep in a system call): big per-signal tables belong on the heap (a 4 KiB
// `Process` overflowed a stack in the release build's fork).
const _: () = assert!(core::mem::size_of::<Process>() <= 1024);
const _: () = assert!(core::mem::size_of::<Thread>() <= 512);

/// A thread: the per-task part.
pub struct Thread {
    /// The process it belongs to.
    pub process: Arc<Process>,
    /// Its thread ID.
    pub tid: u32,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID`: zeroed and futex-woken at exit.
    pub clear_child_tid: AtomicU64,
    /// Its signal mask, pending signals and alternate stack.
    pub signals: signal::ThreadSignals,
    /// The wait queue it sleeps on in an interruptible wait ([`wait_interruptible`]),
    /// as an address (0: none), so that a signal can wake it.
    blocked_on: SpinLock<usize>,
    /// Bumped by each signal or end of its process that should interrupt its waits.
    kicks: AtomicU64,
    /// Its name as `prctl(PR_SET_NAME)` set it (NUL-padded, at most 15 bytes).
    pub comm: SpinLock<[u8; 16]>,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

pub(crate) fn new_id() -> u32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl Process {
    /// A process with no thread yet, its break at `brk`.
    pub fn new(aspace: Arc<AddressSpace>, pid: u32, brk: VirtAddr, init: bool) -> Arc<Self> {
        let p = Self::unregistered(aspace, pid, brk, init);
        family::register(&p);
        p
    }

    fn unregistered(aspace: Arc<AddressSpace>, pid: u32, brk: VirtAddr, init: bool) -> Arc<Self> {
        Arc::new(Self {
            pid,
            aspace: SpinLock::new(Some(aspace)),
            brk: Mutex::new(Brk {
                start: brk,
                current: brk,
            }),
            init,
            live: AtomicU32::new(0),
            tasks: SpinLock::new(Vec::new()),
            exiting: AtomicBool::new(false),
            exec_killer: AtomicU32::new(0),
            wait_status: AtomicI32::new(0),
            dma: SpinLock::new(None),
            exited_cpu_time: AtomicU64::new(0),
            family: family::Family::new(),
            signals: signal::ProcessSignals::new(),
            itimer: SpinLock::new(Default::default()),
            files: Mutex::new(fd::FdTable::default()),
            cwd: Mutex::new(crate::fs::root().clone()),
            umask: AtomicU32::new(0o022),
            pgid: AtomicU32::new(pid),
            sid: AtomicU32::new(pid),
            rlimits: SpinLock::new(alloc::boxed::Box::new(default_rlimits())),
        })
    }

    /// Its process group.
    pub fn pgid(&self) -> u32 {
        self.pgid.load(Ordering::Acquire)
    }

    /// Its session.
    pub fn sid(&self) -> u32 {
        self.sid.load(Ordering::Acquire)
    }

    /// Moves it to process group `pgid` (`setpgid` checked the rules).
    pub fn set_pgid(&self, pgid: u32) {
        self.pgid.store(pgid, Ordering::Release);
    }

    /// Makes it the leader of a new session and group `id` (`setsid`).
    pub fn set_session(&self, id: u32) {
        self.sid.store(id, Ordering::Release);
        self.pgid.store(id, Ordering::Release);
    }

    /// A forked child of `parent`: its signal actions copied.
    pub fn new_forked(
        aspace: Arc<AddressSpace>,
        pid: u32,
        brk: VirtAddr,
        parent: &Process,
    ) -> Arc<Self> {
        let mut p = Self::unregistered(aspace, pid, brk, false);
        {
            let child = Arc::get_mut(&mut p).expect("a new process");
            child.signals = parent.signals.fork();
            *child.files.get_mut() = parent.files.lock().clone();
            *child.cwd.get_mut() = parent.cwd.lock().clone();
            child
                .umask
                .store(parent.umask.load(Ordering::Relaxed), Ordering::Relaxed);
            child.pgid.store(parent.pgid(), Ordering::Relaxed);
            **child.rlimits.get_mut() = **parent.rlimits.lock();
            child.sid.store(parent.sid(), Ordering::Relaxed);
        }
        family::register(&p);
        p
    }

    /// Its address space. Only threads of a live process ask (the last thread drops it
    /// as it exits, after which none is left to ask).
    #[track_caller]
    pub fn aspace(&self) -> Arc<AddressSpace> {
        self.aspace
            .lock()
            .clone()
            .expect("the address space of a process that has exited")
    }

    /// Puts `new` in place of its address space (`execve`); returns the old one.
    pub(crate) fn replace_aspace(&self, new: Arc<AddressSpace>) -> Option<Arc<AddressSpace>> {
        self.aspace.lock().replace(new)
    }

    /// Threads not yet exited.
    pub fn live_threads(&self) -> u32 {
        self.live.load(Ordering::Acquire)
    }

    /// The CPU time of every thread it has had, in counter ticks
    /// (`CLOCK_PROCESS_CPUTIME_ID`): the exited ones' and the live ones'.
    pub fn cpu_time(&self) -> u64 {
        let live: u64 = self.tasks.lock().iter().map(|t| t.cpu_time()).sum();
        self.exited_cpu_time.load(Ordering::Acquire) + live
    }

    /// The task running thread `tid` of this process, if it is alive.
    pub fn task_of(&self, tid: u32) -> Option<&'static Task> {
        self.tasks.lock().iter().copied().find(|t| {
            let p = t.thread.load(Ordering::Acquire);
            // SAFETY: a task in `tasks` keeps its Thread until it removes
            // itself from the list (under this lock) in `exit_thread`.
            p != 0 && unsafe { &*(p as *const Thread) }.tid == tid
        })
    }

    /// The calling thread must leave: the process is ending (`exit_group`, or a thread
    /// was killed), or another of its threads is in `execve` and ends every other thread.
    pub fn exiting(&self) -> bool {
        if self.exiting.load(Ordering::Acquire) {
            return true;
        }
        let killer = self.exec_killer.load(Ordering::Acquire);
        killer != 0 && current_thread().is_none_or(|t| t.tid != killer)
    }

    /// `execve` from thread `tid`: every other thread leaves at its next return towards
    /// user mode (running ones are interrupted, sleeping ones woken); returns once they
    /// have. Sleepable.
    pub(crate) fn end_other_threads(&self, tid: u32) {
        if self.live_threads() <= 1 {
            return;
        }
        self.exec_killer.store(tid, Ordering::Release);
        while self.live_threads() > 1 {
            self.interrupt_threads();
            crate::sched::sleep(core::time::Duration::from_millis(1));
        }
        self.exec_killer.store(0, Ordering::Release);
    }

    /// Ends the whole process with `exit_group(code)`: the first caller's status wins;
    /// every other thread leaves at its next return towards user mode (running
    /// ones are interrupted, sleeping ones woken).
    pub fn begin_exit(&self, code: i32) {
        self.begin_exit_with((code & 0xff) << 8);
    }

    /// Ends the whole process, killed by signal `sig` (its wait status).
    pub fn begin_kill(&self, sig: i32) {
        self.begin_exit_with(sig & 0x7f);
    }

    fn begin_exit_with(&self, wait_status: i32) {
        if self
            .exiting
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.wait_status.store(wait_status, Ordering::Release);
        }
        self.interrupt_threads();
    }

    /// Makes every thread look at its signals now: running ones are interrupted, the
    /// ones in an interruptible wait (futex, wait4, sleeps, console reads) woken.
    pub fn interrupt_threads(&self) {
        let tasks: Vec<&'static Task> = self.tasks.lock().clone();
        let me = task::current() as *const Task;
        for t in tasks {
            if !core::ptr::eq(t, me) {
                crate::sched::kick(t.last_cpu());
            }
        }
        futex::wake_process(self);
        self.family.wake_waiters();
        self.signals.waiters.wake_all();
        self.for_each_thread(|t| {
            t.kicks.fetch_add(1, Ordering::AcqRel);
            let queue = *t.blocked_on.lock();
            if queue != 0 {
                // SAFETY: the thread keeps the queue alive while it is registered, and
                // unregisters under this same lock before it may drop it.
                unsafe { &*(queue as *const crate::sync::WaitQueue) }.wake_all();
            }
        });
    }

    /// Gives it the console as descriptors 0, 1 and 2 (read/write, as Linux opens
    /// `/dev/console` for init).
    pub fn open_console(&self) {
        let console = crate::fs::path::resolve(crate::fs::root(), b"/dev/console", true)
            .ok()
            .filter(|i| matches!(i.kind, crate::fs::Kind::Device(_)))
            .unwrap_or_else(|| {
                crate::fs::Inode::new(crate::fs::Kind::Device(crate::fs::Device::Console), 0o600)
            });
        let file = crate::fs::OpenFile::new(console, crate::fs::file::flags::O_RDWR);
        let mut files = self.files.lock();
        for _ in 0..3 {
            let _ = files.install(
                fd::Fd {
                    file: file.clone(),
                    cloexec: false,
                },
                0,
            );
        }
    }

    /// Runs `f` on each live thread (under the thread list's lock: `f` must not sleep).
    pub fn for_each_thread(&self, mut f: impl FnMut(&Thread)) {
        for t in self.tasks.lock().iter() {
            let p = t.thread.load(Ordering::Acquire);
            if p != 0 {
                // SAFETY: a task in `tasks` keeps its Thread until it removes itself
                // from the list (under this lock) in `exit_thread`.
                f(unsafe { &*(p as *const Thread) });
            }
        }
    }

    /// Its wait status (meaningful once it is exiting).
    pub fn wait_status(&self) -> i32 {
        self.wait_status.load(Ordering::Acquire)
    }
}

/// A wait status as a shell reports it: the exit code, or 128 + the signal.
pub fn shell_status(wait_status: i32) -> i32 {
    if wait_status & 0x7f == 0 {
        (wait_status >> 8) & 0xff
    } else {
        128 + (wait_status & 0x7f)
    }
}

/// The thread the current task runs, if it is a user thread.
pub fn current_thread() -> Option<&'static Thread> {
    let p = task::current().thread.load(Ordering::Acquire);
    // SAFETY: set from `Arc::into_raw` before the task first ran and only
    // dropped by the task itself as it exits.
    (p != 0).then(|| unsafe { &*(p as *const Thread) })
}

/// A task name as a thread's initial `comm`: the last path component, cut to 15 bytes.
fn comm_of(name: &str) -> [u8; 16] {
    let base = name.rsplit('/').next().unwrap_or(name).as_bytes();
    let mut c = [0u8; 16];
    let n = base.len().min(15);
    c[..n].copy_from_slice(&base[..n]);
    c
}

/// Sleeps on `queue` until `ready()` holds, or until a signal for the calling thread or
/// the end of its process interrupts the wait: then `Err(ERESTARTSYS)` (the system call
/// is restarted or fails with `EINTR` on the way out). Whoever makes `ready()` true must
/// bump `events` and then wake `queue`; `ready` runs without the queue's lock and may take
/// locks of its own. A kernel task (no thread) waits without interruption. Sleepable.
pub fn wait_interruptible(
    queue: &crate::sync::WaitQueue,
    events: &AtomicU64,
    mut ready: impl FnMut() -> bool,
) -> Result<(), syscall::errno::Errno> {
    let thread = current_thread();
    loop {
        let seen = events.load(Ordering::Acquire);
        let kicks = thread.map(|t| t.kicks.load(Ordering::Acquire));
        if ready() {
            return Ok(());
        }
        if let Some(t) = thread {
            if t.process.exiting() || signal::has_pending(t) {
                return Err(syscall::errno::Errno(signal::ERESTARTSYS));
            }
            *t.blocked_on.lock() = queue as *const _ as usize;
        }
        queue.wait_until(|| {
            events.load(Ordering::Acquire) != seen
                || thread.is_some_and(|t| Some(t.kicks.load(Ordering::Acquire)) != kicks)
        });
        if let Some(t) = thread {
            *t.blocked_on.lock() = 0;
        }
    }
}

/// The process of the calling user thread (system calls only: a kernel task
/// has none, which is a bug in the caller).
#[track_caller]
pub fn current_process() -> Arc<Process> {
    current_thread()
        .expect("a system call from a kernel task")
        .process
        .clone()
}

/// The registers a new user thread starts with.
pub(crate) struct UserRegs {
    /// Its general registers, PC, SP and PSTATE.
    pub frame: crate::arch::exception::TrapFrame,
    /// Its FP/SIMD registers.
    pub fp: crate::arch::fpsimd::FpState,
}

/// Starts a new thread of `process` that enters EL0 with `regs`; its exit
/// clears and wakes the user word at `clear_child_tid` (address 0: none).
pub(crate) fn spawn_thread(
    process: &Arc<Process>,
    tid: u32,
    name: &'static str,
    regs: UserRegs,
    tls: u64,
    clear_child_tid: VirtAddr,
    signals: signal::ThreadSignals,
) -> Result<(), task::SpawnError> {
    let thread = Arc::new(Thread {
        process: process.clone(),
        tid,
        clear_child_tid: AtomicU64::new(clear_child_tid.as_u64()),
        signals,
        blocked_on: SpinLock::new(0),
        kicks: AtomicU64::new(0),
        comm: SpinLock::new(comm_of(name)),
    });
    process.live.fetch_add(1, Ordering::AcqRel);
    // A thread or child process keeps its creator's CPU affinity, as on Linux (a
    // program started by the kernel starts free).
    let builder = match current_thread().and(task::current().affinity()) {
        Some(cpu) => task::Builder::new(name).pinned_to(cpu),
        None => task::Builder::new(name),
    };
    let spawned = builder.spawn(move || {
        let me = task::current();
        let aspace = thread.process.aspace();
        thread.process.tasks.lock().push(me);
        me.thread
            .store(Arc::into_raw(thread) as usize, Ordering::Release);
        crate::aspace::use_in_current_task(Some(aspace));
        crate::arch::set_user_tls(tls);
        let UserRegs { frame, fp } = regs;
        crate::arch::fpsimd::load(&fp);
        crate::arch::user::set_pan(true);
        crate::arch::user::enter_user(&frame)
    });
    match spawned {
        Ok(handle) => {
            drop(handle);
            Ok(())
        }
        Err(e) => {
            process.live.fetch_sub(1, Ordering::AcqRel);
            Err(e)
        }
    }
}

/// Ends the current user thread (`exit(code)`, or its process ending): clears and
/// wakes its `clear_child_tid`, and if it was the last thread ends the
/// process (`family::exit_process`). Sleepable context, no locks held.
pub fn exit_thread(code: i32) -> ! {
    let me = task::current();
    let thread = current_thread().expect("exit_thread from a kernel task");
    let process = thread.process.clone();
    let ctid = VirtAddr::new(thread.clear_child_tid.load(Ordering::Relaxed));
    if ctid != VirtAddr::new(0) && !process.exiting() && uaccess::write_u32(ctid, 0).is_ok() {
        futex::wake(&process, ctid, 1);
    }
    {
        // Its time moves to the process's exited total under the same lock
        // that removes it, so a reader never counts it twice or not at all.
        let mut tasks = process.tasks.lock();
        tasks.retain(|t| !core::ptr::eq(*t, me));
        process
            .exited_cpu_time
            .fetch_add(me.cpu_time(), Ordering::AcqRel);
    }
    let raw = me.thread.swap(0, Ordering::AcqRel);
    // SAFETY: from `Arc::into_raw` in `spawn_thread`; nothing uses it after this.
    drop(unsafe { Arc::from_raw(raw as *const Thread) });
    let last = process.live.fetch_sub(1, Ordering::AcqRel) == 1;
    if last {
        if !process.exiting() {
            process
                .wait_status
                .store((code & 0xff) << 8, Ordering::Release);
        }
        family::exit_process(process);
    }
    crate::aspace::use_in_current_task(None);
    task::exit()
}
