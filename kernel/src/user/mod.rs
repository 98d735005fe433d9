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
pub mod futex;
pub mod initramfs;
pub mod syscall;
pub mod trap;
pub mod uaccess;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use crate::aspace::AddressSpace;
use crate::sync::{Mutex, SpinLock};
use crate::task::{self, Task};
use mm::VirtAddr;

/// Linux signal numbers used for exit statuses (a killed program's status is 128 + signal).
pub mod signal {
    /// SIGILL: an undefined instruction, or any exception class not handled otherwise.
    pub const SIGILL: i32 = 4;
    /// SIGTRAP: a `brk` instruction.
    pub const SIGTRAP: i32 = 5;
    /// SIGBUS: an alignment fault, an external abort or an SError.
    pub const SIGBUS: i32 = 7;
    /// SIGSEGV: an access outside every area or one its protection denies.
    pub const SIGSEGV: i32 = 11;
}

/// The heap a program grows with `brk`.
pub struct Brk {
    /// First byte after the executable's last segment (page aligned).
    pub start: VirtAddr,
    /// Current break (what `brk(0)` returns).
    pub current: VirtAddr,
}

/// A process: one address space, its threads, and how it ends.
pub struct Process {
    /// Its process ID (the first thread's TID).
    pub pid: u32,
    /// The address space its threads share.
    pub aspace: Arc<AddressSpace>,
    /// Its heap, moved by `brk`.
    pub brk: Mutex<Brk>,
    /// The first process (`init=`): when it ends, the kernel powers off with its status.
    pub init: bool,
    /// Threads not yet exited.
    live: AtomicU32,
    /// Its tasks, for waking them when the process exits.
    tasks: SpinLock<Vec<&'static Task>>,
    exiting: AtomicBool,
    status: AtomicI32,
    /// The DMA device, once attached to the address space (`syscall::private`).
    pub dma: spin::Once<syscall::private::UserDma>,
    /// CPU time (counter ticks) of its threads that have exited.
    exited_cpu_time: AtomicU64,
}

/// A thread: the per-task part.
pub struct Thread {
    /// The process it belongs to.
    pub process: Arc<Process>,
    /// Its thread ID.
    pub tid: u32,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID`: zeroed and futex-woken at exit.
    pub clear_child_tid: AtomicU64,
    /// The signal mask `rt_sigprocmask` reports (signals are never delivered).
    pub sigmask: AtomicU64,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

pub(crate) fn new_id() -> u32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl Process {
    /// A process with no thread yet, its break at `brk`.
    pub fn new(aspace: Arc<AddressSpace>, pid: u32, brk: VirtAddr, init: bool) -> Arc<Self> {
        Arc::new(Self {
            pid,
            aspace,
            brk: Mutex::new(Brk {
                start: brk,
                current: brk,
            }),
            init,
            live: AtomicU32::new(0),
            tasks: SpinLock::new(Vec::new()),
            exiting: AtomicBool::new(false),
            status: AtomicI32::new(0),
            dma: spin::Once::new(),
            exited_cpu_time: AtomicU64::new(0),
        })
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

    /// The process is ending (`exit_group`, or a thread was killed).
    pub fn exiting(&self) -> bool {
        self.exiting.load(Ordering::Acquire)
    }

    /// Ends the whole process with `status`: the first caller's status wins;
    /// every other thread leaves at its next return towards user mode (running
    /// ones are interrupted, sleeping ones woken).
    pub fn begin_exit(&self, status: i32) {
        if self
            .exiting
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.status.store(status, Ordering::Release);
        }
        let me = task::current() as *const Task;
        let tasks: Vec<&'static Task> = self.tasks.lock().clone();
        for t in tasks {
            if !core::ptr::eq(t, me) {
                crate::sched::kick(t.last_cpu());
            }
        }
        futex::wake_process(self);
    }
}

/// The thread the current task runs, if it is a user thread.
pub fn current_thread() -> Option<&'static Thread> {
    let p = task::current().thread.load(Ordering::Acquire);
    // SAFETY: set from `Arc::into_raw` before the task first ran and only
    // dropped by the task itself as it exits.
    (p != 0).then(|| unsafe { &*(p as *const Thread) })
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

/// Starts a new thread of `process` that enters EL0 with `frame`; its exit
/// clears and wakes the user word at `clear_child_tid` (address 0: none).
pub(crate) fn spawn_thread(
    process: &Arc<Process>,
    tid: u32,
    name: &'static str,
    frame: crate::arch::exception::TrapFrame,
    tls: u64,
    clear_child_tid: VirtAddr,
) -> Result<(), task::SpawnError> {
    let thread = Arc::new(Thread {
        process: process.clone(),
        tid,
        clear_child_tid: AtomicU64::new(clear_child_tid.as_u64()),
        sigmask: AtomicU64::new(0),
    });
    process.live.fetch_add(1, Ordering::AcqRel);
    let spawned = task::Builder::new(name).spawn(move || {
        let me = task::current();
        let aspace = thread.process.aspace.clone();
        thread.process.tasks.lock().push(me);
        me.thread
            .store(Arc::into_raw(thread) as usize, Ordering::Release);
        crate::aspace::use_in_current_task(Some(aspace));
        crate::arch::set_user_tls(tls);
        let frame = frame;
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

/// Ends the current user thread (`exit`, or its process ending): clears and
/// wakes its `clear_child_tid`, and if it was the last thread ends the
/// process. Sleepable context, no locks held.
pub fn exit_thread(status: i32) -> ! {
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
        let status = if process.exiting() {
            process.status.load(Ordering::Acquire)
        } else {
            status
        };
        defmt::info!("process {} exited with status {}", process.pid, status);
        let init = process.init;
        crate::aspace::use_in_current_task(None);
        // The last reference: the address space is torn down here (notifier
        // release, every frame and table page freed after the TLBs are clean).
        drop(process);
        if init {
            defmt::info!("init exited: powering off with status {}", status);
            crate::exit::exit(status);
        }
    }
    task::exit()
}
