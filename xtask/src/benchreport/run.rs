//! Running the side-by-side benchmark: the same initramfs and the same QEMU
//! machine line for Debian's Linux and this kernel, booted alternately
//! (Linux, ours, Linux, ours, …), each boot running `/bin/mmbench`; then the
//! host page-table benchmark. Every console is kept under `logs/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{parse_boot, parse_host, Boot, BootOutput, HostRow, MachineRun, Side, Value};
use crate::board::{Board, Cpu};
use crate::boot::{boot, Console};
use crate::compile::{build_binary, BuildOptions, KERNEL};
use crate::defmt_log::LogDecoder;
use crate::initramfs;
use crate::linux::{self, Program};
use crate::qemu::{Machine, QemuConfig, QEMU};
use crate::verdict::Exit;
use crate::workspace::{display, Workspace};

/// The benchmark program in the initramfs.
pub const PROGRAM: &str = "/bin/mmbench";

/// One QEMU machine line of the comparison (issue 8: `-cpu max,pauth=off
/// -smp 2`, then `-cpu cortex-a72`, then `-smp 4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub cpu: Cpu,
    pub smp: u32,
}

impl Line {
    pub const DEFAULT: [Line; 3] = [
        Line {
            cpu: Cpu::Max,
            smp: 2,
        },
        Line {
            cpu: Cpu::CortexA72,
            smp: 2,
        },
        Line {
            cpu: Cpu::Max,
            smp: 4,
        },
    ];

    pub fn label(self) -> String {
        format!("{}, {} CPUs", self.cpu.qemu_name(), self.smp)
    }

    /// Multi-threaded TCG (cross-CPU figures mean nothing without it) and,
    /// on `max`, no pointer authentication (emulating it makes Linux's kernel
    /// paths 2-4× slower, and this kernel does not use it): DESIGN.md §6.
    pub fn apply(self, config: &mut QemuConfig) {
        config.accel = Some(String::from("tcg,thread=multi"));
        if self.cpu == Cpu::Max {
            config.cpu_options.push(String::from("pauth=off"));
        }
    }

    pub fn machine(self) -> Result<Machine> {
        Machine::new(Board::Virt, Some(self.cpu), Some(self.smp))
    }
}

/// The machine part of a QEMU command line: everything but the images, the
/// guest's command line and the console plumbing.
pub fn machine_line(config: &QemuConfig) -> String {
    const DROP: [&str; 9] = [
        "-kernel",
        "-initrd",
        "-append",
        "-dtb",
        "-semihosting-config",
        "-nic",
        "-display",
        "-monitor",
        "-serial",
    ];
    let args: Vec<String> = config
        .args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut kept = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if DROP.contains(&args[i].as_str()) {
            i += 2;
        } else {
            kept.push(args[i].clone());
            i += 1;
        }
    }
    kept.join(" ")
}

/// What the runs need, built once.
pub struct Setup {
    pub initramfs: PathBuf,
    /// This kernel's raw image and log decoder, if it takes part.
    pub ours: Option<(PathBuf, Arc<LogDecoder>)>,
    /// Whether Linux takes part.
    pub linux: bool,
    /// Runs of each figure per boot (`runs=` of the program).
    pub runs: u32,
    pub timeout: Duration,
    /// Where the consoles go.
    pub logs: PathBuf,
}

impl Setup {
    /// Builds the initramfs and, if `ours`, the kernel (release; lock
    /// validation compiled out unless `validation`).
    pub fn build(ws: &Workspace, linux: bool, ours: bool, validation: bool) -> Result<Setup> {
        let initramfs = initramfs::build(ws)?;
        if !initramfs
            .programs
            .iter()
            .any(|p| format!("/bin/{p}") == PROGRAM)
        {
            anyhow::bail!("the initramfs has no {PROGRAM}");
        }
        let ours = if ours {
            let options = BuildOptions {
                release: true,
                ..BuildOptions::default()
            };
            let features: &[&str] = if validation {
                &[]
            } else {
                &["no-lock-validation"]
            };
            let kernel = build_binary(ws, Board::Virt, options, KERNEL, features)?;
            let decoder = Arc::new(LogDecoder::from_elf(&kernel.read_elf()?, &ws.root)?);
            Some((kernel.image.clone(), decoder))
        } else {
            None
        };
        Ok(Setup {
            initramfs: initramfs.path,
            ours,
            linux,
            runs: 5,
            timeout: Duration::from_secs(300),
            logs: PathBuf::new(),
        })
    }

    fn args(&self) -> String {
        format!("runs={}", self.runs)
    }
}

fn write_log(path: &Path, text: &str) {
    if let Err(e) = fs::write(path, text) {
        eprintln!("xtask: cannot write {}: {e}", path.display());
    }
}

/// The first line of an error, for the report (the log has the rest).
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// Why a boot's output does not count, if it does not.
fn problem(output: &BootOutput, status: Option<i32>, end: &str) -> Option<String> {
    if let Some(error) = &output.error {
        return Some(format!("the benchmark stopped: {error}"));
    }
    if !output.done {
        return Some(format!("no `bench done` ({end})"));
    }
    match status {
        Some(0) | None => None,
        Some(s) => Some(format!("the benchmark exited with status {s}")),
    }
}

fn boot_linux(ws: &Workspace, setup: &Setup, line: Line, log: &Path) -> Result<Boot> {
    let mut config = linux::qemu_config(ws, &setup.initramfs, &line.machine()?)?;
    line.apply(&mut config);
    let program = Program::new(PROGRAM, &[&setup.args()]);
    let started = std::time::Instant::now();
    match linux::run_with(config, &[program], setup.timeout) {
        Ok(boot) => {
            let out = &boot.outputs[0];
            write_log(log, &out.stdout);
            let output = parse_boot(out.stdout.lines());
            Ok(Boot {
                side: Side::Linux,
                problem: problem(&output, Some(out.status), "Linux"),
                output,
                seconds: boot.elapsed.as_secs_f64(),
            })
        }
        Err(e) => {
            let text = format!("{e:#}");
            write_log(log, &text);
            Ok(Boot {
                side: Side::Linux,
                output: parse_boot(text.lines()),
                problem: Some(first_line(&text)),
                seconds: started.elapsed().as_secs_f64(),
            })
        }
    }
}

fn boot_ours(setup: &Setup, line: Line, log: &Path) -> Result<Boot> {
    let (image, decoder) = setup.ours.as_ref().context("this kernel was not built")?;
    let mut config = QemuConfig::new(line.machine()?, image.clone());
    line.apply(&mut config);
    config.initrd = Some(setup.initramfs.clone());
    config.append = Some(format!("init={PROGRAM} {}", setup.args()));
    let command = config.command();
    let shown = display(&command);
    let result = boot(
        command,
        decoder.clone(),
        Console::Capture,
        Some(setup.timeout),
    )?;
    let mut text = format!("$ {shown}\n{}\n", result.log.join("\n"));
    if !result.stderr.trim().is_empty() {
        text.push_str(&format!("QEMU stderr:\n{}\n", result.stderr.trim_end()));
    }
    write_log(log, &text);
    let program = String::from_utf8_lossy(&result.output);
    let output = parse_boot(program.lines());
    let status = match result.exit {
        Exit::Status(s) => Some(s),
        _ => Some(-1),
    };
    Ok(Boot {
        side: Side::Ours,
        problem: problem(&output, status, &result.exit.to_string()),
        output,
        seconds: result.elapsed.as_secs_f64(),
    })
}

/// Boots each kernel `boots` times on `line`, alternately.
pub fn machine_run(ws: &Workspace, setup: &Setup, line: Line, boots: u32) -> Result<MachineRun> {
    let mut config = QemuConfig::new(line.machine()?, PathBuf::from("image"));
    line.apply(&mut config);
    let mut run = MachineRun {
        label: line.label(),
        line: machine_line(&config),
        boots: Vec::new(),
    };
    eprintln!("xtask: bench: {}", run.line);
    let tag = format!("{}-smp{}", line.cpu.qemu_name(), line.smp);
    for i in 1..=boots {
        let sides = [Side::Linux, Side::Ours].into_iter().filter(|s| {
            (*s == Side::Linux && setup.linux) || (*s == Side::Ours && setup.ours.is_some())
        });
        for side in sides {
            let log = setup
                .logs
                .join(format!("{tag}-{i}-{}.txt", side.name().to_lowercase()));
            let b = match side {
                Side::Linux => boot_linux(ws, setup, line, &log)?,
                Side::Ours => boot_ours(setup, line, &log)?,
            };
            let headline = match b.output.figure("fault_write") {
                Some(Value::Measured(s)) => {
                    format!(", first-touch write fault {:.0} ns/page", s.median)
                }
                _ => String::new(),
            };
            eprintln!(
                "xtask: bench: {} boot {i}/{boots}, {}: {:.1} s{headline}{}",
                run.label,
                side.name(),
                b.seconds,
                b.problem
                    .as_ref()
                    .map_or_else(String::new, |p| format!(" — {p} (see {})", log.display()))
            );
            run.boots.push(b);
        }
    }
    Ok(run)
}

/// `cargo bench -p mm --bench pagetable`, its output kept in `log`.
pub fn host_bench(ws: &Workspace, log: &Path) -> Result<Vec<HostRow>, String> {
    let mut command = ws.cargo();
    command
        .args(["bench", "-p", "mm", "--bench", "pagetable"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!("$ {}", display(&command));
    let output = command
        .output()
        .map_err(|e| format!("running cargo bench: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    write_log(log, &stdout);
    if !output.status.success() {
        return Err(format!(
            "`{}` failed ({})",
            display(&command),
            output.status
        ));
    }
    let rows = parse_host(&stdout);
    if rows.is_empty() {
        return Err(format!("`{}` printed no figures", display(&command)));
    }
    Ok(rows)
}

/// `qemu-system-aarch64 --version`'s first line.
pub fn qemu_version() -> String {
    Command::new(QEMU)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from("QEMU (version unknown)"))
}

/// The host's CPU model (from `/proc/cpuinfo`) and how many CPUs it has.
pub fn host_description() -> String {
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| String::from("unknown CPU"));
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cpus} CPUs")
}

/// `linux-image-6.1.0-56-arm64_6.1.192-2_arm64` -> `linux-image-6.1.0-56-arm64 6.1.192-2`.
pub fn package_name(unpacked: &str) -> String {
    let mut parts = unpacked.split('_');
    match (parts.next(), parts.next()) {
        (Some(name), Some(version)) => format!("{name} {version}"),
        _ => unpacked.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_line_is_the_command_line_without_images_and_console() {
        let line = Line::DEFAULT[0];
        let mut config = QemuConfig::new(line.machine().unwrap(), "/t/Image".into());
        line.apply(&mut config);
        config.initrd = Some("/t/initramfs.cpio".into());
        config.append = Some("init=/bin/mmbench runs=5".into());
        assert_eq!(
            machine_line(&config),
            "-M virt,gic-version=3,iommu=smmuv3 -accel tcg,thread=multi -cpu max,pauth=off -smp 2 -m 1G \
             -device edu,dma_mask=0xffffffffffffffff"
        );
        let a72 = Line::DEFAULT[1];
        let mut config = QemuConfig::new(a72.machine().unwrap(), "k".into());
        a72.apply(&mut config);
        assert!(machine_line(&config).contains("-cpu cortex-a72 -smp 2"));
        assert_eq!(Line::DEFAULT[2].label(), "max, 4 CPUs");
    }

    #[test]
    fn a_boot_counts_only_when_the_program_finished_cleanly() {
        let done = parse_boot(["bench done"]);
        assert_eq!(problem(&done, Some(0), "x"), None);
        assert!(problem(&done, Some(1), "x").unwrap().contains("status 1"));
        let cut = parse_boot(["bench start"]);
        assert!(problem(&cut, Some(0), "timed out")
            .unwrap()
            .contains("timed out"));
        let failed = parse_boot(["bench error what=mmap errno=ENOMEM", "bench done"]);
        assert!(problem(&failed, Some(0), "x")
            .unwrap()
            .contains("what=mmap"));
    }

    #[test]
    fn package_names_lose_the_architecture() {
        assert_eq!(
            package_name("linux-image-6.1.0-56-arm64_6.1.192-2_arm64"),
            "linux-image-6.1.0-56-arm64 6.1.192-2"
        );
        assert_eq!(package_name("odd"), "odd");
    }
}
