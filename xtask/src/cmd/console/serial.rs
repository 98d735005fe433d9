//! The two terminals of `cargo xtask console`: the serial port, opened raw
//! 8N1 at the board's baud rate, and the user's own terminal, in raw mode for
//! as long as a guard lives (restored when it is dropped, on an error or a
//! panic too).

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Context, Result};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::termios::{
    tcgetattr, tcsetattr, ControlModes, InputModes, OptionalActions, SpecialCodeIndex, Termios,
};

/// Opens the serial device at `path` for reading and writing and sets it to
/// raw 8N1 at `baud`: no echo, no line editing, no translation of CR or NL,
/// no parity, one stop bit, no flow control, modem lines ignored, every byte
/// handed over as it arrives.
pub fn open_port(path: &Path, baud: u32) -> Result<File> {
    // Non-blocking only for the open itself: a port whose carrier-detect line
    // is low would otherwise block here before CLOCAL is set.
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| anyhow::Error::new(errno).context(open_hint(path, errno)))?;
    let mut termios = tcgetattr(&fd)
        .with_context(|| format!("{} is not a serial port (tcgetattr)", path.display()))?;
    make_raw_8n1(&mut termios);
    termios
        .set_speed(baud)
        .with_context(|| format!("{baud} baud is not a speed this port takes"))?;
    tcsetattr(&fd, OptionalActions::Now, &termios)
        .with_context(|| format!("setting {} to {baud} baud, raw 8N1", path.display()))?;
    // Blocking from now on: keystrokes are written with blocking writes, and
    // reads only happen once poll says there is something to read.
    rustix::fs::fcntl_setfl(&fd, OFlags::empty())
        .with_context(|| format!("making {} blocking", path.display()))?;
    Ok(File::from(fd))
}

/// Raw mode (`cfmakeraw`), 8 data bits, no parity, one stop bit, the
/// receiver on, modem-control lines and flow control off, reads returning
/// as soon as one byte is there.
fn make_raw_8n1(termios: &mut Termios) {
    termios.make_raw();
    termios.input_modes -= InputModes::IXON | InputModes::IXOFF | InputModes::IXANY;
    termios.control_modes -= ControlModes::CSTOPB | ControlModes::CRTSCTS;
    termios.control_modes |= ControlModes::CLOCAL | ControlModes::CREAD;
    termios.special_codes[SpecialCodeIndex::VMIN] = 1;
    termios.special_codes[SpecialCodeIndex::VTIME] = 0;
}

/// What to say when the port does not open.
fn open_hint(path: &Path, errno: Errno) -> String {
    let shown = path.display();
    match errno {
        Errno::NOENT => format!(
            "opening {shown}: no such device; is the USB-serial adapter plugged in? \
             (`ls /dev/ttyUSB* /dev/ttyACM*` lists the ports)"
        ),
        Errno::ACCESS | Errno::PERM => format!(
            "opening {shown}: permission denied; serial ports belong to the `dialout` group: \
             `sudo usermod -aG dialout $USER`, then log in again"
        ),
        Errno::BUSY => format!("opening {shown}: busy; another program has it open"),
        _ => format!("opening {shown}"),
    }
}

/// The user's terminal in raw mode until this is dropped: every key (Ctrl-C
/// too) is read as its byte, nothing is echoed. Output processing is kept,
/// so the decoded lines still start at the left margin.
pub struct RawTerminal<Fd: AsFd> {
    fd: Fd,
    saved: Termios,
}

impl<Fd: AsFd> RawTerminal<Fd> {
    /// Puts the terminal `fd` in raw mode.
    pub fn enter(fd: Fd) -> Result<RawTerminal<Fd>> {
        let saved = tcgetattr(&fd).context("reading the terminal's settings")?;
        let mut raw = saved.clone();
        raw.make_raw();
        raw.output_modes = saved.output_modes;
        tcsetattr(&fd, OptionalActions::Now, &raw).context("putting the terminal in raw mode")?;
        Ok(RawTerminal { fd, saved })
    }
}

impl<Fd: AsFd> Drop for RawTerminal<Fd> {
    fn drop(&mut self) {
        // Nothing better to do if this fails: the terminal is gone.
        let _ = tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use rustix::termios::{LocalModes, OutputModes};
    use std::os::fd::OwnedFd;
    use std::path::PathBuf;

    /// A pseudo-terminal pair: the master (the board's side, in the
    /// console's tests) and the slave's path (the "serial port").
    pub fn pty() -> (File, PathBuf) {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let path = PathBuf::from(name.to_str().expect("pts name is UTF-8"));
        (File::from(master), path)
    }

    fn open_slave(path: &Path) -> OwnedFd {
        rustix::fs::open(path, OFlags::RDWR | OFlags::NOCTTY, Mode::empty()).expect("open pts")
    }

    #[test]
    fn the_port_is_raw_8n1_at_the_baud_rate() {
        let (_master, path) = pty();
        // A pty starts cooked: echo, canonical, CR→NL, NL→CRNL.
        let before = tcgetattr(open_slave(&path)).unwrap();
        assert!(before
            .local_modes
            .contains(LocalModes::ICANON | LocalModes::ECHO));
        for baud in [115_200, 9600, 1_000_000] {
            let port = open_port(&path, baud).unwrap();
            let t = tcgetattr(&port).unwrap();
            assert_eq!((t.input_speed(), t.output_speed()), (baud, baud));
            assert!(!t.local_modes.intersects(
                LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG | LocalModes::IEXTEN
            ));
            assert!(!t
                .input_modes
                .intersects(InputModes::ICRNL | InputModes::IXON | InputModes::ISTRIP));
            assert!(!t.output_modes.contains(OutputModes::OPOST));
            assert_eq!(t.control_modes & ControlModes::CSIZE, ControlModes::CS8);
            assert!(!t
                .control_modes
                .intersects(ControlModes::PARENB | ControlModes::CSTOPB | ControlModes::CRTSCTS));
            assert!(t
                .control_modes
                .contains(ControlModes::CLOCAL | ControlModes::CREAD));
            assert_eq!(t.special_codes[SpecialCodeIndex::VMIN], 1);
            assert_eq!(t.special_codes[SpecialCodeIndex::VTIME], 0);
            // Blocking again after the open.
            assert!(!rustix::fs::fcntl_getfl(&port)
                .unwrap()
                .contains(OFlags::NONBLOCK));
        }
    }

    #[test]
    fn opening_errors_say_what_to_do() {
        let missing = Path::new("/dev/ttyUSB-xtask-test-missing");
        let error = format!("{:#}", open_port(missing, 115_200).unwrap_err());
        assert!(
            error.contains("is the USB-serial adapter plugged in"),
            "{error}"
        );
        let not_a_tty = format!(
            "{:#}",
            open_port(Path::new("/dev/null"), 115_200).unwrap_err()
        );
        assert!(not_a_tty.contains("is not a serial port"), "{not_a_tty}");
        assert!(open_hint(missing, Errno::ACCESS).contains("dialout"));
    }

    #[test]
    fn raw_mode_lasts_as_long_as_the_guard_also_through_a_panic() {
        let (_master, path) = pty();
        let terminal = open_slave(&path);
        let cooked = tcgetattr(&terminal).unwrap();
        let modes = |fd: &OwnedFd| {
            let t = tcgetattr(fd).unwrap();
            (t.local_modes, t.input_modes, t.output_modes)
        };
        {
            let _raw = RawTerminal::enter(terminal.as_fd()).unwrap();
            let (local, input, output) = modes(&terminal);
            assert!(!local.intersects(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG));
            assert!(!input.contains(InputModes::ICRNL));
            // Output processing stays: log lines end in NL only.
            assert_eq!(output, cooked.output_modes);
        }
        assert_eq!(
            modes(&terminal),
            (cooked.local_modes, cooked.input_modes, cooked.output_modes)
        );
        let panicked = std::panic::catch_unwind(|| {
            let _raw = RawTerminal::enter(terminal.as_fd()).unwrap();
            panic!("in raw mode");
        });
        assert!(panicked.is_err());
        assert_eq!(
            modes(&terminal),
            (cooked.local_modes, cooked.input_modes, cooked.output_modes)
        );
    }
}
