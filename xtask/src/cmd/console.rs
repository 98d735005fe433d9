//! `cargo xtask console --serial /dev/ttyUSB0`: the real board's console.
//!
//! Decodes the kernel's defmt frames coming in on the serial port live, with
//! the ELF of the image on the SD card, shows what user programs write
//! exactly as they wrote it, and sends every key typed to the board (where a
//! program's `read` gets it). Ctrl-] quits; so does the port hanging up (the
//! adapter unplugged).

mod serial;

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;

use crate::cmd::image;
use crate::defmt_log::{LogDecoder, Piece};
use crate::workspace::Workspace;

#[derive(Args, Debug)]
pub struct ConsoleArgs {
    /// The serial device of the USB-serial adapter wired to the Pi's GPIO 14/15
    #[arg(long, value_name = "DEVICE")]
    serial: PathBuf,
    /// Baud rate (the kernel sets 115200; 8N1, no flow control)
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// The kernel ELF whose frames the board sends (default: the kernel that
    /// `cargo xtask image --board rpi4` built last)
    #[arg(long, value_name = "FILE")]
    elf: Option<PathBuf>,
}

/// The key that ends the console: Ctrl-] (0x1d), as in telnet and picocom.
pub const ESCAPE: u8 = 0x1d;

pub fn console(args: ConsoleArgs) -> Result<u8> {
    let ws = Workspace::locate()?;
    let elf = match args.elf {
        Some(elf) => elf,
        None => newest_kernel_elf(&image::kernel_elfs(&ws.target_dir))?,
    };
    let bytes = std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
    let decoder = LogDecoder::from_elf(&bytes, &ws.root)
        .with_context(|| format!("reading the log table of {}", elf.display()))?;
    let port = serial::open_port(&args.serial, args.baud)?;
    let name = args.serial.display().to_string();

    let stdin = std::io::stdin();
    let keyboard = stdin.is_terminal();
    eprintln!("xtask: decoding with {}", elf.display());
    if keyboard {
        eprintln!(
            "xtask: console on {name} at {} baud; Ctrl-] quits",
            args.baud
        );
    } else {
        eprintln!(
            "xtask: console on {name} at {} baud; standard input is not a terminal: \
             its bytes go to the board as they are (a 0x1d byte quits)",
            args.baud
        );
    }
    // Restored when this goes out of scope: on return, on error, on panic.
    let _raw = if keyboard {
        Some(serial::RawTerminal::enter(stdin.as_fd())?)
    } else {
        None
    };
    let relay = Relay {
        port: &port,
        name: &name,
        keys: stdin.as_fd(),
        decoder: &decoder,
        color: std::io::stdout().is_terminal(),
    };
    let end = relay.run(&mut std::io::stdout(), &mut std::io::stderr())?;
    Ok(match end {
        End::Escape => 0,
        End::HangUp => 1,
    })
}

/// The most recently written of the kernel ELFs `image` builds (debug and
/// release): the one whose image is most likely on the card.
fn newest_kernel_elf(candidates: &[PathBuf]) -> Result<PathBuf> {
    let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    candidates
        .iter()
        .filter_map(|path| Some((modified(path)?, path)))
        .max_by_key(|(time, _)| *time)
        .map(|(_, path)| path.clone())
        .with_context(|| {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!(
                "no Raspberry Pi kernel ELF to decode the console with (looked for {}): \
                 run `cargo xtask image --board rpi4` first (the ELF of the image on the card), \
                 or pass --elf FILE",
                looked.join(", ")
            )
        })
}

/// Why the console ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The user typed [`ESCAPE`].
    Escape,
    /// The port hung up or went away (adapter unplugged, other end closed).
    HangUp,
}

/// One console session: the board's port on one side, the user's keys and
/// screen on the other.
pub struct Relay<'a> {
    /// The serial port, set up by `serial::open_port`.
    pub port: &'a File,
    /// The port's name, for messages.
    pub name: &'a str,
    /// Where keystrokes come from (the terminal, raw).
    pub keys: BorrowedFd<'a>,
    pub decoder: &'a LogDecoder,
    /// Colour the log levels.
    pub color: bool,
}

impl Relay<'_> {
    /// Relays until [`ESCAPE`] is typed or the port hangs up: decoded log
    /// lines and program output to `screen`, keys to the port, byte for
    /// byte, the closing message to `status`.
    pub fn run(&self, screen: &mut dyn Write, status: &mut dyn Write) -> Result<End> {
        let mut stream = self.decoder.stream(self.color);
        let mut screen = Screen::new(screen);
        let mut keys_open = true;
        let mut buffer = [0u8; 4096];
        let end = loop {
            let (port_ready, keys_ready) = wait(self.port.as_fd(), keys_open.then_some(self.keys))?;
            if port_ready {
                match rustix::io::read(self.port, &mut buffer) {
                    // Linux answers EIO on a tty that hung up; EOF is the same.
                    Ok(0) | Err(Errno::IO) => break End::HangUp,
                    Ok(n) => {
                        stream.push(&buffer[..n], &mut |piece| screen.show(piece));
                        screen.result()?;
                    }
                    Err(Errno::INTR | Errno::AGAIN) => {}
                    Err(errno) => {
                        return Err(errno).with_context(|| format!("reading {}", self.name))
                    }
                }
            }
            if keys_ready {
                match rustix::io::read(self.keys, &mut buffer) {
                    Ok(0) => keys_open = false,
                    Ok(n) => {
                        let typed = &buffer[..n];
                        let escape = typed.iter().position(|&b| b == ESCAPE);
                        match write_all(self.port, &typed[..escape.unwrap_or(n)]) {
                            Ok(()) => {}
                            Err(Errno::IO) => break End::HangUp,
                            Err(errno) => {
                                return Err(errno)
                                    .with_context(|| format!("writing to {}", self.name))
                            }
                        }
                        if escape.is_some() {
                            break End::Escape;
                        }
                    }
                    Err(Errno::INTR | Errno::AGAIN) => {}
                    Err(errno) => return Err(errno).context("reading the keyboard"),
                }
            }
        };
        // What came in before the end and never completed a line or frame.
        stream.finish(&mut |piece| screen.show(piece));
        screen.end_line();
        screen.result()?;
        match end {
            End::Escape => writeln!(status, "xtask: console closed (Ctrl-])"),
            End::HangUp => writeln!(
                status,
                "xtask: {} hung up (adapter unplugged?); console closed",
                self.name
            ),
        }
        .context("writing to stderr")?;
        Ok(end)
    }
}

/// Waits until the port or the keys have something (or hung up).
fn wait(port: BorrowedFd<'_>, keys: Option<BorrowedFd<'_>>) -> Result<(bool, bool)> {
    let mut fds = vec![PollFd::from_borrowed_fd(port, PollFlags::IN)];
    if let Some(keys) = keys {
        fds.push(PollFd::from_borrowed_fd(keys, PollFlags::IN));
    }
    loop {
        match poll(&mut fds, None) {
            Ok(_) => break,
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(errno).context("waiting for the port and the keyboard"),
        }
    }
    let ready = |fd: &PollFd<'_>| {
        fd.revents()
            .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
    };
    Ok((ready(&fds[0]), fds.get(1).is_some_and(ready)))
}

/// `write` until all of `bytes` went out.
fn write_all(fd: impl AsFd, mut bytes: &[u8]) -> rustix::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(&fd, bytes) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// The user's screen: program output exactly as written, each log line on
/// a line of its own (after output that ended mid-line, on the next one).
struct Screen<'a> {
    out: &'a mut dyn Write,
    mid_line: bool,
    /// The first write that failed (stdout closed): ends the console.
    error: Option<std::io::Error>,
}

impl<'a> Screen<'a> {
    fn new(out: &'a mut dyn Write) -> Screen<'a> {
        Screen {
            out,
            mid_line: false,
            error: None,
        }
    }

    fn show(&mut self, piece: Piece) {
        let written = match piece {
            Piece::Log(line) => {
                let newline = if self.mid_line { "\n" } else { "" };
                self.mid_line = false;
                writeln!(self.out, "{newline}{line}")
            }
            Piece::Output(bytes) => {
                if let Some(&last) = bytes.last() {
                    self.mid_line = last != b'\n';
                }
                self.out.write_all(&bytes)
            }
        };
        let written = written.and_then(|()| self.out.flush());
        self.keep(written);
    }

    /// Ends a line that program output left open.
    fn end_line(&mut self) {
        if self.mid_line {
            self.mid_line = false;
            let written = writeln!(self.out).and_then(|()| self.out.flush());
            self.keep(written);
        }
    }

    fn keep(&mut self, written: std::io::Result<()>) {
        if let Err(error) = written {
            self.error.get_or_insert(error);
        }
    }

    fn result(&mut self) -> Result<()> {
        match self.error.take() {
            Some(error) => Err(error).context("writing to stdout"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{PipeReader, PipeWriter, Read};
    use std::path::Path;
    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, SystemTime};

    /// An ELF64 header and nothing else: no `.defmt` table, so the decoder
    /// shows the console as plain text, one log line per line.
    fn text_decoder() -> LogDecoder {
        let mut elf = vec![0u8; 64];
        elf[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
        elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf[18..20].copy_from_slice(&0xb7u16.to_le_bytes()); // EM_AARCH64
        elf[20..24].copy_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
        elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        LogDecoder::from_elf(&elf, Path::new("/")).expect("a table-less ELF decodes as text")
    }

    /// The console core on the slave side of a pty, in a thread.
    struct Session {
        /// The board's end of the line.
        board: File,
        /// Keystrokes in.
        keys: PipeWriter,
        /// The screen out.
        screen: PipeReader,
        /// How the console ended and its closing message.
        ended: mpsc::Receiver<(End, String)>,
    }

    /// How long a test waits for what the console should do at once.
    const PATIENCE: Duration = Duration::from_secs(10);

    fn session() -> Session {
        let (board, path) = serial::tests::pty();
        let port = serial::open_port(&path, 115_200).unwrap();
        let (keys_in, keys) = std::io::pipe().unwrap();
        let (screen, mut screen_out) = std::io::pipe().unwrap();
        let (done, ended) = mpsc::channel();
        thread::spawn(move || {
            let decoder = text_decoder();
            let relay = Relay {
                port: &port,
                name: "/dev/ttyTEST",
                keys: keys_in.as_fd(),
                decoder: &decoder,
                color: false,
            };
            let mut status = Vec::new();
            let end = relay.run(&mut screen_out, &mut status).unwrap();
            let _ = done.send((end, String::from_utf8(status).unwrap()));
        });
        Session {
            board,
            keys,
            screen,
            ended,
        }
    }

    /// How the console ended (a failure if it goes on).
    fn ended(ended: &mpsc::Receiver<(End, String)>) -> (End, String) {
        ended
            .recv_timeout(PATIENCE)
            .expect("the console did not end")
    }

    /// Whether `fd` has something to read within `wait`.
    fn readable(fd: &impl AsFd, wait: Duration) -> bool {
        let timeout = rustix::event::Timespec::try_from(wait).unwrap();
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        poll(&mut fds, Some(&timeout)).unwrap() > 0
    }

    /// Reads exactly `n` bytes (a failure if they do not come).
    fn read_n(from: &mut (impl Read + AsFd), n: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; n];
        let mut got = 0;
        while got < n {
            assert!(
                readable(from, PATIENCE),
                "only {got} of {n} bytes came: {:?}",
                String::from_utf8_lossy(&bytes[..got])
            );
            match from.read(&mut bytes[got..]).unwrap() {
                0 => panic!("closed after {got} of {n} bytes"),
                k => got += k,
            }
        }
        bytes
    }

    #[test]
    fn console_lines_are_decoded_and_keys_reach_the_board_exactly() {
        let mut s = session();
        // Board → screen. Raw input: a CR inside a line is not made a line
        // break (ICRNL), a ^C is not a signal, nothing is echoed back.
        s.board
            .write_all(b"[boot] hello\r\nab\rcd\x03\nwor")
            .unwrap();
        // The last line has no end yet: it waits in the decoder (it came
        // in with the line before, so it is read by now).
        s.board.write_all(b"ld\nhalf a line").unwrap();
        let expected = b"[boot] hello\nab\rcd\x03\nworld\n";
        assert_eq!(read_n(&mut s.screen, expected.len()), expected);
        // Keys → board, byte-exact: CR, NL, ^C, DEL, zero, a high byte.
        let typed = b"ls -l\r\n\x03\x7f\x00\xffz";
        s.keys.write_all(typed).unwrap();
        assert_eq!(read_n(&mut s.board, typed.len()), typed);
        // Nothing else reached the board: none of its own bytes echoed back.
        assert!(!readable(&s.board, Duration::from_millis(200)));
        // The escape key ends it; what was typed before it still goes out,
        // what follows does not.
        s.keys.write_all(b"bye\x1dnot sent").unwrap();
        assert_eq!(read_n(&mut s.board, 3), b"bye");
        let (end, status) = ended(&s.ended);
        assert_eq!(end, End::Escape);
        assert_eq!(status, "xtask: console closed (Ctrl-])\n");
        // The port is closed now: the board reads what was left, then EIO.
        let mut rest = [0u8; 64];
        let left = rustix::io::read(&s.board, &mut rest);
        assert_eq!(left, Err(Errno::IO), "{:?}", left.map(|n| &rest[..n]));
        // The line that never ended is shown at the end.
        let mut last = Vec::new();
        s.screen.read_to_end(&mut last).unwrap();
        assert_eq!(last, b"half a line\n");
    }

    #[test]
    fn a_hang_up_ends_the_console_with_a_message() {
        let mut s = session();
        s.board.write_all(b"last words\n").unwrap();
        assert_eq!(read_n(&mut s.screen, 11), b"last words\n");
        drop(s.board);
        let (end, status) = ended(&s.ended);
        assert_eq!(end, End::HangUp);
        assert_eq!(
            status,
            "xtask: /dev/ttyTEST hung up (adapter unplugged?); console closed\n"
        );
        // The screen is closed with the console: nothing more on it.
        let mut rest = Vec::new();
        s.screen.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"");
    }

    #[test]
    fn the_console_goes_on_when_standard_input_ends() {
        let mut s = session();
        drop(s.keys);
        s.board.write_all(b"still here\n").unwrap();
        assert_eq!(read_n(&mut s.screen, 11), b"still here\n");
        drop(s.board);
        assert_eq!(ended(&s.ended).0, End::HangUp);
    }

    #[test]
    fn log_lines_start_on_a_line_of_their_own() {
        let mut shown = Vec::new();
        let mut screen = Screen::new(&mut shown);
        screen.show(Piece::Output(b"prompt> ".to_vec()));
        screen.show(Piece::Log("[INFO ] tick".into()));
        screen.show(Piece::Output(b"a\x00\xff\n".to_vec()));
        screen.show(Piece::Log("[INFO ] tock".into()));
        screen.show(Piece::Output(b"half".to_vec()));
        screen.show(Piece::Output(Vec::new()));
        screen.end_line();
        screen.end_line();
        screen.result().unwrap();
        assert_eq!(
            shown,
            b"prompt> \n[INFO ] tick\na\x00\xff\n[INFO ] tock\nhalf\n"
        );
    }

    #[test]
    fn the_default_elf_is_the_newest_kernel_built_for_the_card() {
        let dir = std::env::temp_dir().join(format!("xtask-console-elf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let debug = dir.join("debug.elf");
        let release = dir.join("release.elf");
        let candidates = [debug.clone(), release.clone()];
        let error = format!("{:#}", newest_kernel_elf(&candidates).unwrap_err());
        assert!(
            error.contains("run `cargo xtask image --board rpi4` first"),
            "{error}"
        );
        assert!(error.contains("--elf"), "{error}");
        let now = SystemTime::now();
        for (path, age) in [(&debug, 60), (&release, 0)] {
            let file = File::create(path).unwrap();
            file.set_modified(now - Duration::from_secs(age)).unwrap();
        }
        assert_eq!(newest_kernel_elf(&candidates).unwrap(), release);
        File::options()
            .write(true)
            .open(&debug)
            .unwrap()
            .set_modified(now + Duration::from_secs(1))
            .unwrap();
        assert_eq!(newest_kernel_elf(&candidates).unwrap(), debug);
        std::fs::remove_file(&release).unwrap();
        std::fs::remove_file(&debug).unwrap();
        assert!(newest_kernel_elf(&candidates).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
