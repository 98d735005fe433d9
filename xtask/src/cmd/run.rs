//! `cargo xtask run`: build the kernel, boot it under QEMU, stream its decoded
//! log live and exit with the kernel's status.
//!
//! `cargo xtask run -- /bin/prog args` builds the initramfs of user programs
//! (`initramfs.rs`) and starts the program as init (`init=/bin/prog args`):
//! the exit status is the program's. With `--linux`, the same program runs on
//! Debian's Linux kernel instead, on the same machine (`linux.rs`).
//!
//! `--busybox` boots the busybox initramfs instead (`initramfs::build_busybox`:
//! the same programs plus Debian's static busybox and its applet links), by
//! default into `/bin/sh`; words that no kernel command line carries
//! (`-c 'echo hi'`) and `--busybox-script FILE` go through a script in the
//! archive (`busybox.rs`). On rpi4 the Raspberry Pi 4 device tree of Debian's
//! kernel package is passed when no `--dtb` is given, as the `rpi4-dt` suites
//! do: without one QEMU's raspi4b tells the kernel nothing about the initrd.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args};

use crate::board::{Board, Cpu};
use crate::boot::{boot, Console};
use crate::busybox;
use crate::compile::{build_kernel, BuildOptions};
use crate::defmt_log::LogDecoder;
use crate::initramfs;
use crate::linux::{self, Program};
use crate::qemu::{dtb_for, Machine, QemuConfig};
use crate::tools::ensure_qemu;
use crate::verdict::Exit;
use crate::workspace::{display, Workspace};

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("payload").args(["program", "busybox_script"]).multiple(true)))]
pub struct RunArgs {
    /// Board to build for and emulate
    #[arg(long, value_enum, default_value = "virt")]
    board: Board,
    /// CPU model (virt only; default cortex-a72)
    #[arg(long, value_enum)]
    cpu: Option<Cpu>,
    /// Number of CPUs (virt only; default 4)
    #[arg(long)]
    smp: Option<u32>,
    /// Build with the release profile
    #[arg(long)]
    release: bool,
    /// Kill QEMU after this many seconds (exit status 124)
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Device tree to pass with -dtb (rpi4; QEMU makes virt's own)
    #[arg(long, value_name = "FILE")]
    dtb: Option<PathBuf>,
    /// Initramfs to pass with -initrd (default with a program: the user programs')
    #[arg(long, value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// Run the program on Debian's Linux kernel instead (same machine and initramfs)
    #[arg(long, requires = "payload")]
    linux: bool,
    /// Boot the busybox initramfs (the user programs, Debian's static busybox and
    /// its applet links in /bin); the program defaults to /bin/sh
    #[arg(long, conflicts_with = "initrd")]
    busybox: bool,
    /// Put FILE in the busybox initramfs as /etc/script.sh and run
    /// `/bin/sh /etc/script.sh [PROGRAM words as its arguments]` (implies --busybox)
    #[arg(long, value_name = "FILE", conflicts_with = "initrd")]
    busybox_script: Option<PathBuf>,
    /// Also write the console's raw bytes (defmt frames) to FILE, for
    /// `defmt-print -e <kernel ELF> stdin < FILE`
    #[arg(long, value_name = "FILE", conflicts_with = "linux")]
    save_console: Option<PathBuf>,
    /// The program to start as init and its arguments, e.g. `-- /bin/hello 3`
    #[arg(last = true, value_name = "PROGRAM")]
    program: Vec<String>,
}

impl RunArgs {
    /// A run of `program` (path and arguments) as init on `board`.
    pub fn program(
        board: Board,
        cpu: Option<Cpu>,
        smp: Option<u32>,
        timeout: Option<u64>,
        program: Vec<String>,
    ) -> RunArgs {
        RunArgs {
            board,
            cpu,
            smp,
            release: false,
            timeout,
            dtb: None,
            initrd: None,
            linux: false,
            busybox: false,
            busybox_script: None,
            save_console: None,
            program,
        }
    }
}

/// Returns the status to exit with: the kernel's.
pub fn run(args: RunArgs) -> Result<u8> {
    let machine = Machine::new(args.board, args.cpu, args.smp)?;
    let mut dtb = dtb_for(args.board, args.dtb.as_ref())?;
    let busybox = args.busybox || args.busybox_script.is_some();
    let script = match &args.busybox_script {
        Some(file) => Some((file.as_path(), busybox::read_script(file)?)),
        None => None,
    };
    ensure_qemu()?;
    let ws = Workspace::locate()?;
    let (initrd, program) = if busybox {
        let command = busybox::command(&args.program, script)?;
        let mut files = busybox::suite_files(&ws)?;
        let name = if command.files.is_empty() {
            "busybox.cpio"
        } else {
            "busybox-run.cpio"
        };
        files.extend(command.files);
        let built = initramfs::build_busybox(&ws, name, &files)?;
        eprintln!(
            "xtask: busybox initramfs {} ({} applet links{}), init {}",
            built.path.display(),
            built.linked.len(),
            if built.shadowed.is_empty() {
                String::new()
            } else {
                format!("; not linked: {}", built.shadowed.join(" "))
            },
            command.program.line()
        );
        if dtb.is_none() && args.board == Board::Rpi4 && !args.linux {
            dtb = Some(crate::debian::kernel_package(&ws)?.rpi4_dtb()?);
        }
        (Some(built.path), Some(command.program))
    } else {
        let initrd = match (&args.initrd, args.program.is_empty()) {
            (Some(file), _) => Some(file.clone()),
            (None, false) => Some(initramfs::build(&ws)?.path),
            (None, true) => None,
        };
        let program = args.program.split_first().map(|(path, rest)| Program {
            path: path.clone(),
            args: rest.to_vec(),
        });
        (initrd, program)
    };
    if args.linux {
        let (Some(initrd), Some(program)) = (initrd, program) else {
            unreachable!("--linux requires a program");
        };
        return run_on_linux(&ws, &initrd, &machine, &program, args.timeout);
    }
    let options = BuildOptions {
        release: args.release,
        ..BuildOptions::default()
    };
    let kernel = build_kernel(&ws, args.board, options)?;
    let decoder = Arc::new(LogDecoder::from_elf(&kernel.read_elf()?, &ws.root)?);

    let mut config = QemuConfig::new(machine, kernel.image.clone());
    config.dtb = dtb;
    config.initrd = initrd;
    config.append = program.map(|p| format!("init={}", p.line()));
    let mut command = config.command();
    if busybox {
        // The shell reads the console: QEMU's `-serial stdio` gets this
        // terminal (or pipe) as the UART's input (Ctrl-C ends QEMU).
        command.stdin(std::process::Stdio::inherit());
    }
    eprintln!("$ {}", display(&command));
    let console = Console::Live {
        color: std::io::stdout().is_terminal(),
    };
    let result = boot(
        command,
        decoder,
        console,
        args.timeout.map(Duration::from_secs),
    )?;
    if let Some(file) = &args.save_console {
        std::fs::write(file, &result.raw)
            .with_context(|| format!("writing the console to {}", file.display()))?;
        eprintln!(
            "xtask: console ({} bytes) saved to {}; decode: defmt-print -e {} stdin < {}",
            result.raw.len(),
            file.display(),
            kernel.elf.display(),
            file.display()
        );
    }
    match result.exit {
        Exit::Status(_) => eprintln!(
            "xtask: {} after {:.2}s",
            result.exit,
            result.elapsed.as_secs_f64()
        ),
        other => eprintln!("xtask: {other}"),
    }
    Ok(result.exit.process_status())
}

/// Runs `program` on Linux and prints what it wrote; returns its status.
fn run_on_linux(
    ws: &Workspace,
    initrd: &Path,
    machine: &Machine,
    program: &Program,
    timeout: Option<u64>,
) -> Result<u8> {
    let config = linux::qemu_config(ws, initrd, machine)?;
    let timeout = timeout.map_or(linux::TIMEOUT, Duration::from_secs);
    let boot = linux::run_with(config, std::slice::from_ref(program), timeout)?;
    let output = &boot.outputs[0];
    print!("{}", output.stdout);
    eprintln!(
        "xtask: Linux: exit status {} after {:.2}s (boot to init {})",
        output.status,
        boot.elapsed.as_secs_f64(),
        boot.boot_time
            .map_or("unknown".into(), |t| format!("{:.2}s", t.as_secs_f64()))
    );
    Ok(u8::try_from(output.status).unwrap_or(1))
}
