//! The console: `defmt` frames on the board's PL011, from every CPU: the
//! kernel's log and, framed the same way, what user programs write
//! ([`user_output`]).
//!
//! One ticket lock serialises frames across CPUs with IRQs masked; a CPU that
//! re-enters (a panic while it was logging) takes the console over so the
//! panic message still gets out.
use crate::arch;
use boards::BOARD;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use drivers::pl011::Pl011;

pub mod user_output;
pub use user_output::UserOutput;

// SAFETY: the board description names the PL011 that only this module drives.
static UART: Pl011 = unsafe { Pl011::new(crate::mem::phys_to_virt(BOARD.uart.start)) };

/// Programs the UART (8N1, FIFOs, the baud rate when the board gives its clock).
pub fn init() {
    UART.init(BOARD.uart_clock_hz);
}

/// The console UART, for the UART self-test. Callers must hold [`Console`].
pub fn uart() -> &'static Pl011 {
    &UART
}

struct TicketLock {
    next: AtomicU32,
    serving: AtomicU32,
    /// Logical CPU id + 1 of the holder, 0 when free.
    owner: AtomicUsize,
}

static LOCK: TicketLock = TicketLock {
    next: AtomicU32::new(0),
    serving: AtomicU32::new(0),
    owner: AtomicUsize::new(0),
};

/// Exclusive use of the console, IRQs masked on this CPU while held.
pub struct Console {
    flags: u64,
    reentered: bool,
}

impl Console {
    /// Masks IRQs, then waits for the console; a CPU that already holds it
    /// (re-entered from a panic) gets it at once.
    pub fn lock() -> Self {
        let flags = arch::irq_save();
        let me = arch::cpu_id() + 1;
        if LOCK.owner.load(Ordering::Relaxed) == me {
            return Self {
                flags,
                reentered: true,
            };
        }
        let ticket = LOCK.next.fetch_add(1, Ordering::Relaxed);
        while LOCK.serving.load(Ordering::Acquire) != ticket {
            core::hint::spin_loop();
        }
        LOCK.owner.store(me, Ordering::Relaxed);
        Self {
            flags,
            reentered: false,
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if !self.reentered {
            LOCK.owner.store(0, Ordering::Relaxed);
            LOCK.serving.fetch_add(1, Ordering::Release);
        }
        arch::irq_restore(self.flags);
    }
}

#[defmt::global_logger]
struct Logger;

static mut HELD: Option<Console> = None;
static mut ENCODER: defmt::Encoder = defmt::Encoder::new();

fn emit(bytes: &[u8]) {
    UART.write_bytes(bytes);
}

// SAFETY: `acquire` takes the console lock before touching ENCODER/HELD and
// `release` drops it last, so only one CPU at a time uses them; a re-entering
// CPU (panic inside logging) is the holder itself.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let guard = Console::lock();
        // SAFETY: see the impl comment; we hold the console.
        unsafe {
            let held = &mut *core::ptr::addr_of_mut!(HELD);
            if held.is_none() {
                *held = Some(guard);
            } else {
                core::mem::forget(guard);
            }
            (*core::ptr::addr_of_mut!(ENCODER)).start_frame(emit);
        }
    }

    unsafe fn flush() {
        UART.flush();
    }

    unsafe fn release() {
        // SAFETY: called by defmt after `acquire`, on the holding CPU.
        unsafe {
            (*core::ptr::addr_of_mut!(ENCODER)).end_frame(emit);
            drop((*core::ptr::addr_of_mut!(HELD)).take());
        }
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: defmt calls `write` only between `acquire` and `release`, on
        // the CPU that holds the console: nobody else touches ENCODER.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).write(bytes, emit) };
    }
}

defmt::timestamp!("{=u64:us}", {
    let ticks = drivers::timer::counter();
    (u128::from(ticks) * 1_000_000 / u128::from(drivers::timer::frequency().max(1))) as u64
});

/// A byte typed on the console, if one is waiting.
pub fn read_user_byte() -> Option<u8> {
    let _console = Console::lock();
    UART.try_read_byte()
}
