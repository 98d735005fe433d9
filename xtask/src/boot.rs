//! Boots one QEMU process and turns its console into decoded log lines.
//!
//! A reader thread decodes the guest's serial output (QEMU's stdout) as it
//! arrives; the caller either sees each line at once (`cargo xtask run`) or gets
//! them all back (a test's log, shown when it fails). What user programs wrote
//! is kept apart, byte for byte ([`Boot::output`]), and also shown in the log
//! where it came. A deadline kills QEMU.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::defmt_log::{LogDecoder, Piece};
use crate::verdict::Exit;

/// Where decoded lines go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Print each line to stdout as it is decoded; QEMU's stderr goes straight through.
    Live { color: bool },
    /// Keep the lines and QEMU's stderr for the report.
    Capture,
}

/// How a boot ended and what it printed.
pub struct Boot {
    pub exit: Exit,
    /// Decoded lines, with the program output's lines among them (empty for
    /// [`Console::Live`]).
    pub log: Vec<String>,
    /// What user programs wrote to fds 1 and 2, exactly (empty for [`Console::Live`]).
    pub output: Vec<u8>,
    /// QEMU's own messages (empty for [`Console::Live`]).
    pub stderr: String,
    /// The console's bytes as the guest sent them (defmt frames), for
    /// `defmt-print` or a later look.
    pub raw: Vec<u8>,
    pub elapsed: Duration,
}

/// How often a running QEMU is checked for exit or deadline.
const POLL: Duration = Duration::from_millis(10);

/// Runs `command` (a QEMU command line) to completion or until `timeout`.
pub fn boot(
    mut command: Command,
    decoder: Arc<LogDecoder>,
    console: Console,
    timeout: Option<Duration>,
) -> Result<Boot> {
    command.stdout(Stdio::piped());
    command.stderr(match console {
        Console::Live { .. } => Stdio::inherit(),
        Console::Capture => Stdio::piped(),
    });
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))?;

    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = thread::spawn(move || {
        let (color, live) = match console {
            Console::Live { color } => (color, true),
            Console::Capture => (false, false),
        };
        let mut lines = Vec::new();
        let mut output: Vec<u8> = Vec::new();
        // Live: program output goes out as it is; a log line after output
        // that ended mid-line starts on a line of its own.
        let mut mid_line = false;
        let mut out = |piece: Piece| match (piece, live) {
            (Piece::Log(line), true) => {
                let mut stdout = std::io::stdout().lock();
                let newline = if mid_line { "\n" } else { "" };
                let _ = writeln!(stdout, "{newline}{line}");
                let _ = stdout.flush();
                mid_line = false;
            }
            (Piece::Output(bytes), true) => {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(&bytes);
                let _ = stdout.flush();
                mid_line = bytes.last().is_some_and(|&b| b != b'\n');
            }
            (Piece::Log(line), false) => {
                lines.push(line);
                mid_line = false;
            }
            (Piece::Output(bytes), false) => {
                // In the log: the output's lines, joined to a line the
                // previous piece left open.
                let text = String::from_utf8_lossy(&bytes);
                let mut parts = text.split('\n');
                if let Some(first) = parts.next() {
                    match lines.last_mut() {
                        Some(last) if mid_line => last.push_str(first),
                        _ => lines.push(first.to_string()),
                    }
                }
                lines.extend(parts.map(str::to_string));
                if text.ends_with('\n') {
                    lines.pop();
                }
                mid_line = !text.ends_with('\n');
                output.extend_from_slice(&bytes);
            }
        };
        let mut stream = decoder.stream(color);
        let mut buffer = [0u8; 4096];
        let mut raw = Vec::new();
        loop {
            match stdout.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    raw.extend_from_slice(&buffer[..n]);
                    stream.push(&buffer[..n], &mut out);
                }
            }
        }
        stream.finish(&mut out);
        (lines, output, raw)
    });
    let stderr_reader = child.stderr.take().map(|mut stderr| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        })
    });

    let exit = loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            break Exit::from_status(status);
        }
        if let Some(limit) = timeout {
            if start.elapsed() >= limit {
                let _ = child.kill();
                let _ = child.wait();
                break Exit::TimedOut(limit);
            }
        }
        thread::sleep(POLL);
    };
    let elapsed = start.elapsed();
    let (log, output, raw) = reader.join().unwrap_or_default();
    let stderr = stderr_reader
        .map(|r| r.join().unwrap_or_default())
        .unwrap_or_default();
    Ok(Boot {
        exit,
        log,
        output,
        stderr,
        raw,
        elapsed,
    })
}
