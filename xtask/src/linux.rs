//! Runs user programs on Linux: Debian's arm64 kernel (`debian.rs`) booted
//! under the same QEMU machine with the same initramfs, the program lines run
//! one after the other by `/bin/linux-init` (`kernel/user/src/bin/linux-init.rs`).
//!
//! The kernel command line is `rdinit=/bin/linux-init console=ttyAMA0 quiet
//! loglevel=1 -- "<line>" "<line>" ...`: `quiet loglevel=1` keeps Linux's own
//! messages off the console, so between the runner's `@@linux-init run` and
//! `@@linux-init status` lines there is nothing but what the program wrote.
//! Linux passes at most 32 arguments to init: longer lists take several boots.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::qemu::{Machine, QemuConfig};
use crate::workspace::{display, Workspace};

/// What one program did: its output (stdout and stderr, as the console got
/// them) and its status as a shell reports it (exit code, or 128 + signal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// The output for reading: UTF-8 as it is, other bytes as `\xNN`.
    pub stdout: String,
    /// The output exactly.
    pub bytes: Vec<u8>,
    pub status: i32,
}

impl RunOutput {
    pub fn new(bytes: &[u8], status: i32) -> RunOutput {
        RunOutput {
            stdout: shown(bytes),
            bytes: bytes.to_vec(),
            status,
        }
    }
}

/// `bytes` for reading: valid UTF-8 as it is, every other byte as `\xNN`.
pub fn shown(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text
}

/// One program line: `/bin/<program>` and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub path: String,
    pub args: Vec<String>,
}

impl Program {
    pub fn new(path: &str, args: &[&str]) -> Program {
        Program {
            path: path.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// `path arg arg`.
    pub fn line(&self) -> String {
        let mut line = self.path.clone();
        for arg in &self.args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }
}

/// One boot of Linux and what its programs did.
#[derive(Debug)]
pub struct LinuxBoot {
    /// One per program line, in order.
    pub outputs: Vec<RunOutput>,
    /// From QEMU's start to the runner's first line (Linux's boot to init).
    pub boot_time: Option<Duration>,
    /// The whole boot, until QEMU exited.
    pub elapsed: Duration,
}

/// The runner in the initramfs.
pub const RUNNER: &str = "/bin/linux-init";

/// Program lines per boot: Linux gives init at most 32 arguments
/// (`CONFIG_INIT_ENV_ARG_LIMIT`), counting its name and the ones Linux adds.
pub const MAX_PER_BOOT: usize = 24;

const RUN_MARK: &str = "@@linux-init run ";
const STATUS_MARK: &str = "@@linux-init status ";

/// Time limit of one Linux boot: boot plus the programs.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// The QEMU configuration that boots Debian's Linux on `machine` with
/// `initramfs` (`-append` is filled in by [`run_with`]). Callers may change
/// its fields (e.g. `accel`) before handing it to [`run_with`].
pub fn qemu_config(ws: &Workspace, initramfs: &Path, machine: &Machine) -> Result<QemuConfig> {
    if *machine == Machine::Raspi4b {
        // Checked with QEMU 10.0.2 and linux-image-6.1.0-56-arm64 with the Pi 4
        // device tree: a data abort in brcmstb_l2_intc_of_init kills init,
        // and without that driver the console never comes up.
        bail!("Debian's Linux does not boot on QEMU's raspi4b: run Linux on virt");
    }
    let debian = crate::debian::kernel_package(ws)?;
    let mut config = QemuConfig::new(machine.clone(), debian.image()?);
    config.initrd = Some(initramfs.to_path_buf());
    Ok(config)
}

/// The kernel command line that runs `programs` in order.
pub fn command_line(programs: &[Program]) -> String {
    let mut line = format!("rdinit={RUNNER} console=ttyAMA0 quiet loglevel=1 --");
    for program in programs {
        line.push_str(" \"");
        line.push_str(&program.line());
        line.push('"');
    }
    line
}

/// Runs one program on Linux.
#[allow(
    dead_code,
    reason = "API for `cargo xtask bench` (this kernel's side is `user_tests::run_ours`)"
)]
pub fn run(
    ws: &Workspace,
    initramfs: &Path,
    machine: &Machine,
    prog: &str,
    args: &[&str],
) -> Result<RunOutput> {
    let config = qemu_config(ws, initramfs, machine)?;
    let boot = run_with(config, &[Program::new(prog, args)], TIMEOUT)?;
    Ok(boot
        .outputs
        .into_iter()
        .next()
        .expect("one output per program"))
}

/// Runs `programs` on Linux, [`MAX_PER_BOOT`] per boot; one output per program.
pub fn run_many(
    ws: &Workspace,
    initramfs: &Path,
    machine: &Machine,
    programs: &[Program],
) -> Result<Vec<LinuxBoot>> {
    let config = qemu_config(ws, initramfs, machine)?;
    programs
        .chunks(MAX_PER_BOOT)
        .map(|chunk| run_with(config.clone(), chunk, TIMEOUT))
        .collect()
}

/// Boots `config` with the command line for `programs` and collects their
/// outputs. Fails if QEMU does not exit in `timeout` or a program's status
/// line is missing; the error holds the console.
pub fn run_with(
    mut config: QemuConfig,
    programs: &[Program],
    timeout: Duration,
) -> Result<LinuxBoot> {
    if programs.len() > MAX_PER_BOOT {
        bail!(
            "{} program lines: Linux passes at most {MAX_PER_BOOT} to init per boot",
            programs.len()
        );
    }
    if let Some(bad) = programs
        .iter()
        .find(|p| p.line().contains('"') || p.args.iter().any(|a| a.is_empty()))
    {
        bail!(
            "program line `{}` cannot be passed on Linux's command line",
            bad.line()
        );
    }
    config.append = Some(command_line(programs));
    let command = config.command();
    let shown = display(&command);
    let console = capture(command, timeout).with_context(|| format!("running {shown}"))?;
    let outputs = parse_console(&console.bytes, programs.len()).with_context(|| {
        format!(
            "Linux's console ({}):\n{}\n$ {shown}",
            console.end,
            String::from_utf8_lossy(&console.bytes)
        )
    })?;
    Ok(LinuxBoot {
        outputs,
        boot_time: console.first_mark,
        elapsed: console.elapsed,
    })
}

/// Bytes QEMU wrote to its stdout (the guest's serial console), raw.
struct Console {
    bytes: Vec<u8>,
    first_mark: Option<Duration>,
    elapsed: Duration,
    /// How the boot ended, for messages.
    end: String,
}

/// Runs QEMU to completion (or `timeout`) and keeps its stdout as it is.
fn capture(mut command: std::process::Command, timeout: Duration) -> Result<Console> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = command.spawn().context("starting QEMU")?;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut first_mark = None;
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buffer[..n]);
            if first_mark.is_none() && contains(&bytes, RUN_MARK.as_bytes()) {
                first_mark = Some(start.elapsed());
            }
        }
        (bytes, first_mark)
    });
    let mut stderr = child.stderr.take().expect("piped");
    let stderr_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let end = loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            break format!("QEMU exited with {status}");
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break format!("timed out after {} s", timeout.as_secs());
        }
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let (mut bytes, first_mark) = reader.join().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap_or_default();
    if !stderr.trim().is_empty() {
        bytes.extend_from_slice(format!("\n(QEMU stderr: {})", stderr.trim_end()).as_bytes());
    }
    Ok(Console {
        bytes,
        first_mark,
        elapsed,
        end,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle, 0).is_some()
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Cuts the console into the `count` programs' outputs: for each, the bytes
/// after its `run` line up to the `status` mark (which need not start a line:
/// a program's output may end without a newline), and the status after it.
fn parse_console(console: &[u8], count: usize) -> Result<Vec<RunOutput>> {
    let mut outputs = Vec::new();
    let mut at = 0;
    for index in 0..count {
        let run = find(console, RUN_MARK.as_bytes(), at)
            .with_context(|| format!("no `{RUN_MARK}` line for program {}", index + 1))?;
        let start = find(console, b"\n", run).context("unterminated run line")? + 1;
        let status = find(console, STATUS_MARK.as_bytes(), start)
            .with_context(|| format!("no `{STATUS_MARK}` line for program {}", index + 1))?;
        let number_start = status + STATUS_MARK.len();
        let number_end = find(console, b"\n", number_start).context("unterminated status line")?;
        let number = std::str::from_utf8(&console[number_start..number_end])
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .context("unreadable status")?;
        outputs.push(RunOutput::new(&console[start..status], number));
        at = number_end;
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_each_program_line() {
        let programs = [
            Program::new("/bin/t_fault", &["null"]),
            Program::new("/bin/t_mmap", &[]),
        ];
        assert_eq!(
            command_line(&programs),
            "rdinit=/bin/linux-init console=ttyAMA0 quiet loglevel=1 -- \"/bin/t_fault null\" \"/bin/t_mmap\""
        );
    }

    #[test]
    fn console_is_cut_at_the_runner_marks() {
        let console =
            b"[    0.1] noise\n@@linux-init run /bin/a x\nok one\nok two\n@@linux-init status 0\n\
              @@linux-init run /bin/b\nno newline@@linux-init status 139\n";
        let outputs = parse_console(console, 2).unwrap();
        assert_eq!(
            outputs,
            [
                RunOutput::new(b"ok one\nok two\n", 0),
                RunOutput::new(b"no newline", 139),
            ]
        );
        let err = parse_console(b"@@linux-init run /bin/a\nok\n", 1).unwrap_err();
        assert!(err.to_string().contains("no `@@linux-init status"), "{err}");
    }
}
