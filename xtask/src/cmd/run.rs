//! `cargo xtask run`: build the kernel, boot it under QEMU, stream its decoded
//! log live and exit with the kernel's status.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::board::{Board, Cpu};
use crate::boot::{boot, Console};
use crate::compile::{build_kernel, BuildOptions};
use crate::defmt_log::LogDecoder;
use crate::qemu::{dtb_for, Machine, QemuConfig};
use crate::tools::ensure_qemu;
use crate::verdict::Exit;
use crate::workspace::{display, Workspace};

#[derive(Args, Debug)]
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
}

/// Returns the status to exit with: the kernel's.
pub fn run(args: RunArgs) -> Result<u8> {
    let machine = Machine::new(args.board, args.cpu, args.smp)?;
    let dtb = dtb_for(args.board, args.dtb.as_ref())?;
    ensure_qemu()?;
    let ws = Workspace::locate()?;
    let options = BuildOptions {
        release: args.release,
        ..BuildOptions::default()
    };
    let kernel = build_kernel(&ws, args.board, options)?;
    let decoder = Arc::new(LogDecoder::from_elf(&kernel.read_elf()?, &ws.root)?);

    let mut config = QemuConfig::new(machine, kernel.image.clone());
    config.dtb = dtb;
    let command = config.command();
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
