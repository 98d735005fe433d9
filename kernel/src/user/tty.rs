//! The console as a terminal (Linux's n_tty, reduced): a `struct termios` that
//! `TCGETS`/`TCSETS*` read and set, the foreground process group (`TIOCGPGRP`,
//! `TIOCSPGRP`), the window size, and the line discipline that turns typed bytes into
//! what `read` returns.
//!
//! - Canonical mode (`ICANON`, the default): a read returns one line, once its newline
//!   (or `VEOF`, `^D`) is typed; `VERASE` (DEL or backspace) and `VKILL` (`^U`) edit the
//!   line first; `^D` on an empty line is end of file. With `ECHO` the bytes typed are
//!   written back (an erase as backspace-space-backspace with `ECHOE`).
//! - Non-canonical mode: bytes as they come, at least one per read.
//! - `ISIG`: `VINTR` (`^C`) sends SIGINT, `VQUIT` (`^\`) SIGQUIT and `VSUSP` (`^Z`)
//!   SIGTSTP to the foreground process group, and the line so far is dropped.
//! - `ICRNL`: a typed carriage return is a newline.
//!
//! The UART has no receive interrupt wired up: a kernel task polls it every 10 ms
//! ([`start`]), and a reader polls before it waits, so typed signals arrive while
//! nobody reads.
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

use super::syscall::errno::Errno;
use crate::fs::data::Buffer;
use crate::sync::{SpinLock, WaitQueue};

/// Bytes of the kernel's `struct termios` (4 flag words, the line discipline, 19 control
/// characters).
pub const TERMIOS_SIZE: usize = 36;

const ICRNL: u32 = 0o400;
const ISIG: u32 = 0o1;
const ICANON: u32 = 0o2;
const ECHO: u32 = 0o10;
const ECHOE: u32 = 0o20;

const VINTR: usize = 0;
const VQUIT: usize = 1;
const VERASE: usize = 2;
const VKILL: usize = 3;
const VEOF: usize = 4;
const VSUSP: usize = 10;

/// A terminal's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    /// `c_iflag`.
    pub iflag: u32,
    /// `c_oflag`.
    pub oflag: u32,
    /// `c_cflag`.
    pub cflag: u32,
    /// `c_lflag`.
    pub lflag: u32,
    /// `c_line`.
    pub line: u8,
    /// `c_cc`.
    pub cc: [u8; 19],
}

impl Termios {
    /// What Linux's serial console starts with: `ICRNL IXON`, `OPOST ONLCR`,
    /// `B38400 CS8 CREAD HUPCL`, `ISIG ICANON ECHO ECHOE ECHOK ECHOCTL ECHOKE IEXTEN`,
    /// and the usual control characters.
    pub const DEFAULT: Termios = Termios {
        iflag: 0o2400,
        oflag: 0o5,
        cflag: 0o2277,
        lflag: 0o105073,
        line: 0,
        cc: [
            3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0, 0, 0,
        ],
    };

    /// The kernel ABI's bytes.
    pub fn to_bytes(&self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0u8; TERMIOS_SIZE];
        for (i, w) in [self.iflag, self.oflag, self.cflag, self.lflag]
            .iter()
            .enumerate()
        {
            b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        b[16] = self.line;
        b[17..36].copy_from_slice(&self.cc);
        b
    }

    /// From the kernel ABI's bytes.
    pub fn from_bytes(b: &[u8; TERMIOS_SIZE]) -> Termios {
        let word = |i: usize| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().expect("4"));
        let mut cc = [0u8; 19];
        cc.copy_from_slice(&b[17..36]);
        Termios {
            iflag: word(0),
            oflag: word(1),
            cflag: word(2),
            lflag: word(3),
            line: b[16],
            cc,
        }
    }
}

struct Input {
    /// The line being edited (canonical mode).
    line: Vec<u8>,
    /// What a read may take: whole lines (canonical) or bytes.
    ready: VecDeque<u8>,
    /// End-of-file marks (`^D` on an empty line), each ending one read with 0.
    eofs: usize,
}

struct Tty {
    termios: SpinLock<Termios>,
    input: SpinLock<Input>,
    winsize: SpinLock<[u8; 8]>,
    foreground: AtomicU32,
    events: AtomicU64,
    readers: WaitQueue,
}

static TTY: Tty = Tty {
    termios: SpinLock::new(Termios::DEFAULT),
    input: SpinLock::new(Input {
        line: Vec::new(),
        ready: VecDeque::new(),
        eofs: 0,
    }),
    winsize: SpinLock::new([0; 8]),
    foreground: AtomicU32::new(1),
    events: AtomicU64::new(0),
    readers: WaitQueue::new(),
};

/// The settings now (`TCGETS`).
pub fn termios() -> Termios {
    *TTY.termios.lock()
}

/// New settings (`TCSETS`; with `flush`, `TCSETSF`, what was typed and not read goes).
pub fn set_termios(t: Termios, flush: bool) {
    *TTY.termios.lock() = t;
    let mut input = TTY.input.lock();
    if flush {
        input.line.clear();
        input.ready.clear();
        input.eofs = 0;
    } else if t.lflag & ICANON == 0 && !input.line.is_empty() {
        // Leaving canonical mode: the line so far becomes readable.
        let line = core::mem::take(&mut input.line);
        input.ready.extend(line);
    }
}

/// The foreground process group (`TIOCGPGRP`).
pub fn foreground() -> u32 {
    TTY.foreground.load(Ordering::Acquire)
}

/// `TIOCSPGRP`.
pub fn set_foreground(pgid: u32) {
    TTY.foreground.store(pgid, Ordering::Release);
}

/// The window size (`TIOCGWINSZ`: rows, columns, pixels; 0x0 until set, as a serial
/// console).
pub fn winsize() -> [u8; 8] {
    *TTY.winsize.lock()
}

/// `TIOCSWINSZ`.
pub fn set_winsize(w: [u8; 8]) {
    *TTY.winsize.lock() = w;
}

/// Bytes a read could take now (`FIONREAD`).
pub fn available() -> usize {
    poll();
    TTY.input.lock().ready.len()
}

fn echo(bytes: &[u8]) {
    let mut out = crate::console::UserOutput::new();
    out.push(bytes);
    out.finish();
}

fn signal_foreground(signo: i32) {
    let pgid = foreground();
    for p in super::family::all() {
        if p.pgid() == pgid && !p.family.is_zombie() {
            let _ = super::signal::send_to_process(
                &p,
                super::signal::SigInfo::from_process(signo, 0x80, 0),
            );
        }
    }
}

/// Takes what was typed through the line discipline.
fn poll() {
    let mut changed = false;
    while let Some(byte) = crate::console::read_user_byte() {
        changed = true;
        let t = termios();
        let mut b = byte;
        if t.iflag & ICRNL != 0 && b == b'\r' {
            b = b'\n';
        }
        if t.lflag & ISIG != 0 {
            let sig = if b == t.cc[VINTR] {
                Some(super::signal::SIGINT)
            } else if b == t.cc[VQUIT] {
                Some(super::signal::SIGQUIT)
            } else if b == t.cc[VSUSP] {
                Some(super::signal::SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                TTY.input.lock().line.clear();
                if t.lflag & ECHO != 0 {
                    echo(&[b'^', b ^ 0x40, b'\n']);
                }
                signal_foreground(sig);
                continue;
            }
        }
        if t.lflag & ICANON == 0 {
            TTY.input.lock().ready.push_back(b);
            if t.lflag & ECHO != 0 {
                echo(&[b]);
            }
            continue;
        }
        let mut input = TTY.input.lock();
        if b == t.cc[VERASE] || b == 0x08 {
            if input.line.pop().is_some() && t.lflag & ECHO != 0 {
                drop(input);
                echo(if t.lflag & ECHOE != 0 {
                    b"\x08 \x08"
                } else {
                    &[0x7f]
                });
            }
        } else if b == t.cc[VKILL] {
            let n = input.line.len();
            input.line.clear();
            drop(input);
            if t.lflag & ECHO != 0 {
                for _ in 0..n {
                    echo(b"\x08 \x08");
                }
            }
        } else if b == t.cc[VEOF] {
            if input.line.is_empty() {
                input.eofs += 1;
            } else {
                let line = core::mem::take(&mut input.line);
                input.ready.extend(line);
            }
        } else {
            input.line.push(b);
            if b == b'\n' {
                let line = core::mem::take(&mut input.line);
                input.ready.extend(line);
            }
            drop(input);
            if t.lflag & ECHO != 0 {
                echo(&[b]);
            }
        }
    }
    if changed {
        TTY.events.fetch_add(1, Ordering::AcqRel);
        TTY.readers.wake_all();
    }
}

fn readable() -> bool {
    let input = TTY.input.lock();
    !input.ready.is_empty() || input.eofs > 0
}

/// `read` of the terminal into `out`, up to `len` bytes (not 0): a line in canonical
/// mode, else at least one byte; 0 at an end-of-file mark. Interruptible. `nonblock`:
/// `EAGAIN` when nothing is there.
pub fn read(out: &mut dyn Buffer, len: usize, nonblock: bool) -> Result<usize, Errno> {
    loop {
        poll();
        let taken: Option<Vec<u8>> = {
            let canonical = termios().lflag & ICANON != 0;
            let mut input = TTY.input.lock();
            if !input.ready.is_empty() {
                let mut n = len.min(input.ready.len());
                if canonical {
                    if let Some(nl) = input.ready.iter().position(|&b| b == b'\n') {
                        n = n.min(nl + 1);
                    }
                }
                Some(input.ready.drain(..n).collect())
            } else if input.eofs > 0 {
                input.eofs -= 1;
                Some(Vec::new())
            } else {
                None
            }
        };
        if let Some(bytes) = taken {
            out.put(0, &bytes)?;
            return Ok(bytes.len());
        }
        if nonblock {
            return Err(super::syscall::errno::EAGAIN);
        }
        super::wait_interruptible(&TTY.readers, &TTY.events, readable)?;
    }
}

/// Writes `len` bytes from `src` to the console as one record of program output (the
/// defmt frames of `console::UserOutput`); a fault after some bytes ends the write
/// there, as on Linux.
pub fn write(src: &mut dyn Buffer, len: usize) -> Result<usize, Errno> {
    if len == 0 {
        return Ok(0);
    }
    let mut chunk = [0u8; 256];
    let mut output = crate::console::UserOutput::new();
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len());
        if let Err(e) = src.get(done, &mut chunk[..n]) {
            output.finish();
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        output.push(&chunk[..n]);
        done += n;
    }
    output.finish();
    Ok(done)
}

/// Starts the poller: a kernel task that feeds typed bytes to the line discipline every
/// 10 ms, so that `^C` reaches the foreground group while nobody reads.
pub fn start() {
    crate::task::spawn("tty-poll", || loop {
        poll();
        crate::sched::sleep(Duration::from_millis(10));
    });
}
