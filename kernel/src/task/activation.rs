//! What a task carries onto the CPU it runs on beside its registers: an
//! activation, the address space it uses (TTBR0 and its ASID). The
//! scheduler switches activations through this trait and never names the
//! address-space layer above it; `aspace::AddressSpace` implements it.
//!
//! Each CPU records the activation installed on it ([`switch_here`]); a task
//! holds a reference to its own ([`set_current`]), which only the task
//! itself changes.
use crate::arch::{self, MAX_CPUS};
use crate::sync::validate;
use alloc::sync::Arc;
use core::any::Any;
use core::cell::UnsafeCell;

/// Something the scheduler installs on a CPU while a task that uses it runs.
pub trait Activation: Send + Sync + 'static {
    /// Installs it on the calling CPU (IRQs masked), in place of nothing:
    /// the previous one was uninstalled first.
    fn install_here(&self);
    /// Removes it from the calling CPU (IRQs masked).
    fn uninstall_here(&self);
    /// The object itself, for its owner's downcast (`aspace::current`).
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// Per CPU: the activation installed on it, borrowed from the task that
/// runs there (which holds a reference while it is installed). Touched only
/// by its own CPU with IRQs masked.
struct Installed(UnsafeCell<Option<*const dyn Activation>>);

// SAFETY: each slot is read and written only by its own CPU, with IRQs
// masked (checked in `switch_here`), so no two accesses overlap.
unsafe impl Sync for Installed {}

static INSTALLED: [Installed; MAX_CPUS] = [const { Installed(UnsafeCell::new(None)) }; MAX_CPUS];

/// Makes `next` the activation installed on this CPU (IRQs masked, from the
/// scheduler's switch or a task changing its own): the previous one is
/// uninstalled, then `next` installed, or TTBR0 walks turned off for none.
/// Nothing happens when `next` is the one installed.
///
/// `next` must stay alive while it is installed: its task holds a reference.
pub fn switch_here(next: Option<&dyn Activation>) {
    validate::assert_irqs_masked("the address-space switch");
    let cpu = arch::cpu_id();
    // SAFETY: this CPU's slot, IRQs masked (asserted above): nothing else
    // touches it now.
    let slot = unsafe { &mut *INSTALLED[cpu].0.get() };
    let next_ptr = next.map(|n| n as *const dyn Activation);
    let same = match (*slot, next_ptr) {
        (Some(a), Some(b)) => core::ptr::addr_eq(a, b),
        (None, None) => true,
        _ => false,
    };
    if same {
        return;
    }
    if let Some(prev) = slot.take() {
        // SAFETY: installed by a task that still holds its reference (a
        // task uninstalls its activation before letting it go).
        unsafe { &*prev }.uninstall_here();
    }
    match next {
        Some(next) => next.install_here(),
        None => arch::mmu::set_ttbr0(None),
    }
    *slot = next_ptr;
}

/// A task's own activation. Written only by the task itself (IRQs masked,
/// [`set_current`]); read by the task itself and by the scheduler while it
/// switches to the task, when the task is not running and so cannot write.
pub(crate) struct TaskActivation(UnsafeCell<Option<Arc<dyn Activation>>>);

impl TaskActivation {
    pub(crate) const fn new() -> Self {
        Self(UnsafeCell::new(None))
    }

    /// The activation, borrowed: for the scheduler switching to the task,
    /// and for the task itself.
    ///
    /// # Safety
    /// The caller is the task itself, or the scheduler switching to it
    /// (IRQs masked, the task on no CPU): nobody writes it meanwhile.
    pub(crate) unsafe fn get(&self) -> Option<&dyn Activation> {
        // SAFETY: the caller is the task itself or the scheduler switching to
        // it (IRQs masked, the task on no CPU), and only the task writes it, so
        // no write overlaps this read.
        unsafe { (*self.0.get()).as_deref() }
    }
}

/// Gives the current task the activation `new` and installs it on this CPU
/// (it is installed again whenever the scheduler switches back to the
/// task); returns the previous one, which the caller drops where it may
/// sleep (the last reference to an address space tears it down).
pub fn set_current(new: Option<Arc<dyn Activation>>) -> Option<Arc<dyn Activation>> {
    let task = super::current();
    let flags = arch::irq_save();
    // SAFETY: the current task writes its own activation with IRQs masked;
    // the scheduler reads it only while switching to the task, which cannot
    // happen while the task runs here.
    let old = unsafe { core::mem::replace(&mut *task.activation.0.get(), new) };
    // SAFETY: the caller of `get` is the current task itself, with IRQs
    // masked: nobody writes its activation meanwhile (`get`'s contract).
    switch_here(unsafe { task.activation.get() });
    arch::irq_restore(flags);
    old
}

/// The current task's activation, with a reference of its own.
pub fn current() -> Option<Arc<dyn Activation>> {
    let task = super::current();
    // SAFETY: only the task itself writes it, and this is the task.
    unsafe { (*task.activation.0.get()).clone() }
}
