//! `cargo xtask bench`: build the scheduler and lock benchmark (`kernel/src/bin/
//! sched_bench.rs`) in release, without lock validation unless asked, boot it under QEMU
//! and print its `bench ...` lines, one per figure (DESIGN.md §6).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;

use crate::board::{Board, Cpu};
use crate::boot::{boot, Console};
use crate::compile::{build_binary, BuildOptions};
use crate::defmt_log::LogDecoder;
use crate::qemu::{dtb_for, Machine, QemuConfig};
use crate::tools::ensure_qemu;
use crate::verdict::Exit;
use crate::workspace::{display, Workspace};

/// Which on-target benchmark to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Scheduler and locks (`kernel/src/bin/sched_bench.rs`).
    Sched,
    /// Address spaces: faults, map/unmap, protect, shootdown (`aspace_bench.rs`).
    Aspace,
}

impl Which {
    fn binary(self) -> &'static str {
        match self {
            Which::Sched => "sched-bench",
            Which::Aspace => "aspace-bench",
        }
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The benchmark to run
    #[arg(long, value_enum, default_value = "sched")]
    which: Which,
    /// Board to build for and emulate
    #[arg(long, value_enum, default_value = "virt")]
    board: Board,
    /// CPU model (virt only; default cortex-a72)
    #[arg(long, value_enum)]
    cpu: Option<Cpu>,
    /// Keep lock validation compiled in (measures its cost)
    #[arg(long)]
    validation: bool,
    /// Kill QEMU after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    timeout: u64,
    /// Device tree to pass with -dtb (rpi4)
    #[arg(long, value_name = "FILE")]
    dtb: Option<PathBuf>,
}

/// The benchmark's own text in a decoded log line, if it is one of its result lines.
fn bench_line(line: &str) -> Option<&str> {
    let start = line.find("bench ")?;
    let text = &line[start..];
    Some(
        text.rfind("  (")
            .map_or(text, |end| &text[..end])
            .trim_end(),
    )
}

pub fn bench(args: BenchArgs) -> Result<u8> {
    let machine = Machine::new(args.board, args.cpu, None)?;
    let dtb = dtb_for(args.board, args.dtb.as_ref())?;
    ensure_qemu()?;
    let ws = Workspace::locate()?;
    let options = BuildOptions {
        release: true,
        ..BuildOptions::default()
    };
    let features: &[&str] = if args.validation {
        &[]
    } else {
        &["no-lock-validation"]
    };
    let binary = build_binary(&ws, args.board, options, args.which.binary(), features)?;
    let decoder = Arc::new(LogDecoder::from_elf(&binary.read_elf()?, &ws.root)?);
    let mut config = QemuConfig::new(machine, binary.image.clone());
    config.dtb = dtb;
    let command = config.command();
    eprintln!("$ {}", display(&command));
    let result = boot(
        command,
        decoder,
        Console::Capture,
        Some(Duration::from_secs(args.timeout)),
    )?;
    let lines: Vec<&str> = result.log.iter().filter_map(|l| bench_line(l)).collect();
    if result.exit != Exit::Status(0) || !lines.contains(&"bench done") {
        for line in &result.log {
            eprintln!("{line}");
        }
        if !result.stderr.trim().is_empty() {
            eprintln!("QEMU stderr:\n{}", result.stderr.trim_end());
        }
        bail!("the benchmark did not complete: {}", result.exit);
    }
    for line in lines {
        println!("{line}");
    }
    eprintln!(
        "xtask: benchmark done in {:.1}s",
        result.elapsed.as_secs_f64()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::bench_line;

    #[test]
    fn result_lines_are_cut_out_of_decoded_log_lines() {
        assert_eq!(
            bench_line("[   1.000000] bench name=x unit=cntvct median=1.00  (kernel/src/bin/sched_bench.rs:50)"),
            Some("bench name=x unit=cntvct median=1.00")
        );
        assert_eq!(bench_line("bench done"), Some("bench done"));
        assert_eq!(bench_line("[ 0.1 INFO ] cpu 1 online"), None);
    }
}
