//! `cargo xtask bench`: by default the side-by-side report (issue 8, DESIGN.md §6):
//! `/bin/mmbench` on Debian's Linux and on this kernel, same initramfs, same QEMU
//! machine lines, booted alternately, plus the host page-table benchmark against
//! aarch64-paging; writes `target/bench/report.md` and `chart.svg`
//! ([`crate::benchreport`]).
//!
//! `--which sched|aspace`: build one in-kernel benchmark (`kernel/src/bin/
//! sched_bench.rs`, `aspace_bench.rs`) in release, without lock validation unless
//! asked, boot it under QEMU and print its `bench ...` lines, one per figure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;

use crate::benchreport::run::{self as side_by_side, Line, Setup};
use crate::benchreport::{chart, markdown, today, Report};
use crate::board::{Board, Cpu};
use crate::boot::{boot, Console};
use crate::compile::{build_binary, BuildOptions};
use crate::defmt_log::LogDecoder;
use crate::qemu::{dtb_for, Machine, QemuConfig};
use crate::tools::ensure_qemu;
use crate::verdict::Exit;
use crate::workspace::{display, Workspace};

/// Which benchmark to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// This kernel vs Linux on the same QEMU machine, and the host page-table
    /// code vs aarch64-paging: the report and chart under target/bench/
    Report,
    /// Scheduler and locks (`kernel/src/bin/sched_bench.rs`).
    Sched,
    /// Address spaces: faults, map/unmap, protect, shootdown (`aspace_bench.rs`).
    Aspace,
}

impl Which {
    fn binary(self) -> &'static str {
        match self {
            Which::Report => "kernel",
            Which::Sched => "sched-bench",
            Which::Aspace => "aspace-bench",
        }
    }
}

/// The kernels the report compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kernels {
    Both,
    Linux,
    Ours,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The benchmark to run
    #[arg(long, value_enum, default_value = "report")]
    which: Which,
    /// Board to build for and emulate (sched, aspace; the report is virt only)
    #[arg(long, value_enum, default_value = "virt")]
    board: Board,
    /// CPU model (virt). Report: with --cpu or --smp, that one machine line
    /// (default max, 2 CPUs) instead of max/2, cortex-a72/2 and max/4;
    /// sched, aspace: default cortex-a72
    #[arg(long, value_enum)]
    cpu: Option<Cpu>,
    /// CPUs (virt; report only, see --cpu)
    #[arg(long)]
    smp: Option<u32>,
    /// Report: boots of each kernel per machine line, alternately
    #[arg(long, value_name = "N", default_value_t = 3)]
    boots: u32,
    /// Report: runs of each figure within one boot
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: u32,
    /// Report: which kernels to boot
    #[arg(long, value_enum, default_value = "both")]
    kernels: Kernels,
    /// Report: leave out the host page-table benchmark
    #[arg(long)]
    no_host: bool,
    /// Report: output folder (default target/bench)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Keep lock validation compiled in (measures its cost)
    #[arg(long)]
    validation: bool,
    /// Kill QEMU after this many seconds (per boot)
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
    match args.which {
        Which::Report => report(args),
        Which::Sched | Which::Aspace => on_target(args),
    }
}

/// The side-by-side report.
fn report(args: BenchArgs) -> Result<u8> {
    if args.board != Board::Virt || args.dtb.is_some() {
        bail!("the report runs on virt only (Linux and this kernel on the same QEMU machine)");
    }
    if args.boots == 0 || !(1..=64).contains(&args.runs) {
        bail!("--boots must be at least 1 and --runs 1 to 64");
    }
    let lines = if args.cpu.is_some() || args.smp.is_some() {
        vec![Line {
            cpu: args.cpu.unwrap_or(Cpu::Max),
            smp: args.smp.unwrap_or(2),
        }]
    } else {
        Line::DEFAULT.to_vec()
    };
    for line in &lines {
        line.machine()?;
    }
    ensure_qemu()?;
    let ws = Workspace::locate()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("bench"));
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs)?;
    let linux = args.kernels != Kernels::Ours;
    let package = if linux {
        side_by_side::package_name(&crate::debian::kernel_package(&ws)?.package)
    } else {
        String::from("(not run)")
    };
    let mut setup = Setup::build(&ws, linux, args.kernels != Kernels::Linux, args.validation)?;
    setup.runs = args.runs;
    setup.timeout = Duration::from_secs(args.timeout);
    setup.logs = logs.clone();
    let mut machines = Vec::new();
    for line in lines {
        machines.push(side_by_side::machine_run(&ws, &setup, line, args.boots)?);
    }
    let host_bench = if args.no_host {
        Err(String::from("left out (`--no-host`)"))
    } else {
        side_by_side::host_bench(&ws, &logs.join("host-pagetable.txt"))
    };
    let report = Report {
        date: today(),
        host: side_by_side::host_description(),
        qemu: side_by_side::qemu_version(),
        linux: package,
        boots: args.boots,
        runs: args.runs,
        machines,
        host_bench,
    };
    let text = markdown::markdown(&report);
    let md = out.join("report.md");
    std::fs::write(&md, &text)?;
    chart::chart(&report, &out.join("chart.svg"))?;
    println!("{text}");
    let failed = report
        .machines
        .iter()
        .flat_map(|m| &m.boots)
        .filter(|b| b.problem.is_some())
        .count();
    eprintln!(
        "xtask: report in {} (chart.svg, logs/ beside it)",
        md.display()
    );
    if failed > 0 {
        eprintln!("xtask: {failed} boot(s) did not complete: see the report's Problems section");
        return Ok(1);
    }
    Ok(0)
}

/// One in-kernel benchmark (`--which sched|aspace`).
fn on_target(args: BenchArgs) -> Result<u8> {
    if args.smp.is_some() {
        bail!("--smp applies to the report only");
    }
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
