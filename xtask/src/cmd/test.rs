//! `cargo xtask test`: host unit tests, then every on-target suite on every
//! board (and on `virt`, under every CPU model), one QEMU boot per test, then
//! the user programs (`user_tests`: one boot per program line, and the
//! conformance suite against Linux).
//!
//! Tests are listed from each suite's ELF (`testlist`), booted from its raw
//! image with the semihosting command line `run_addr <entry>`, judged by exit
//! status (`verdict`) and reported libtest-style (`report`). Up to `--jobs`
//! QEMUs run at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::board::{Board, Cpu};
use crate::boot::{boot, Console};
use crate::compile::{build_suites, build_tests, BuildOptions};
use crate::defmt_log::LogDecoder;
use crate::qemu::{dtb_for, Machine, QemuConfig};
use crate::report::{running_line, suite_end, summary, test_line, SuiteReport};
use crate::stock_decoder;
use crate::testlist::{list_tests, TestCase};
use crate::tools::ensure_qemu;
use crate::user_tests;
use crate::verdict::{verdict, Outcome};
use crate::workspace::{display, run_status, Workspace, HOST_CRATES};

/// A test's time limit when it sets none (seconds).
const DEFAULT_TIMEOUT: u64 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Boards {
    Virt,
    Rpi4,
    All,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Boards to run the on-target suites on
    #[arg(long, value_enum, default_value = "all")]
    board: Boards,
    /// Run the virt suites under this CPU model only (default: cortex-a72 and max)
    #[arg(long, value_enum)]
    cpu: Option<Cpu>,
    /// Only the host unit tests
    #[arg(long, conflicts_with = "target")]
    host: bool,
    /// Only the on-target suites
    #[arg(long)]
    target: bool,
    /// QEMU processes to run at once (default: the number of host CPUs; with 1,
    /// the Linux boots of the conformance suites wait for this kernel's suites)
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Build with the release profile
    #[arg(long)]
    release: bool,
    /// Time limit of a test that sets none, in seconds
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT)]
    timeout: u64,
    /// Device tree to pass with -dtb to the rpi4 suites
    #[arg(long, value_name = "FILE")]
    dtb: Option<PathBuf>,
    /// Run only tests whose `<suite label>::<test name>` contains this
    /// (e.g. `exceptions`, `virt/max`, `data_abort`); also passed to the host tests
    filter: Option<String>,
}

/// One suite on one machine: e.g. `virt/max/exceptions`.
struct Suite {
    label: String,
    machine: Machine,
    image: PathBuf,
    dtb: Option<PathBuf>,
    decoder: Arc<LogDecoder>,
    tests: Vec<TestCase>,
}

pub fn test(args: TestArgs) -> Result<u8> {
    let boards: Vec<Board> = match args.board {
        Boards::Virt => vec![Board::Virt],
        Boards::Rpi4 => vec![Board::Rpi4],
        Boards::All => Board::ALL.to_vec(),
    };
    if args.board == Boards::Rpi4 {
        Machine::new(Board::Rpi4, args.cpu, None)?;
    }
    if args.board == Boards::Virt {
        dtb_for(Board::Virt, args.dtb.as_ref())?;
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let ws = Workspace::locate()?;

    let host_ok = if args.target {
        None
    } else {
        Some(host_tests(&ws, args.filter.as_deref())?)
    };

    let mut reports = Vec::new();
    if !args.host {
        ensure_qemu()?;
        let mut suites = Vec::new();
        for &board in &boards {
            let found = plan(&ws, board, &args)?;
            if found.is_empty() {
                eprintln!(
                    "xtask: warning: no on-target test suites found for {}",
                    board.name()
                );
            }
            suites.extend(found);
        }
        let default_timeout = Duration::from_secs(args.timeout);
        for suite in &suites {
            reports.extend(run_suite(
                suite,
                args.filter.as_deref(),
                jobs,
                default_timeout,
            ));
        }
        // User programs from the initramfs, on each machine and against Linux.
        let user = user_tests::SuiteOptions {
            boards: &boards,
            cpu: args.cpu,
            filter: args.filter.as_deref(),
            jobs,
            release: args.release,
            rpi4_dtb: args.dtb.clone(),
        };
        reports.extend(user_tests::run_suites(&ws, &user)?);
        // The console through the stock defmt-print (installed when absent).
        if boards.contains(&Board::Virt)
            && args.cpu.is_none_or(|c| c == Cpu::CortexA72)
            && stock_decoder::selected(args.filter.as_deref())
        {
            let initramfs = crate::initramfs::build(&ws)?;
            let build = BuildOptions {
                release: args.release,
                ..BuildOptions::default()
            };
            reports.push(stock_decoder::run_suite(&ws, &initramfs, build));
        }
    }

    let text = summary(&reports, host_ok);
    println!("{text}");
    let failed = host_ok == Some(false) || reports.iter().any(|r| !r.ok());
    Ok(if failed { 1 } else { 0 })
}

/// `cargo test` of the host crates; true if they passed.
fn host_tests(ws: &Workspace, filter: Option<&str>) -> Result<bool> {
    let mut command = ws.cargo();
    command.arg("test");
    for krate in HOST_CRATES {
        command.args(["-p", krate]);
    }
    if let Some(filter) = filter {
        command.args(["--", filter]);
    }
    run_status(&mut command)
}

/// Builds `board`'s suites and lists their tests: one suite per binary (and per
/// CPU model on virt).
fn plan(ws: &Workspace, board: Board, args: &TestArgs) -> Result<Vec<Suite>> {
    // `--board all --dtb FILE`: the device tree is the Pi's; virt makes its own.
    // Without `--dtb`, the Pi suites run twice: without a device tree (board
    // defaults, as QEMU boots without `-dtb`) and with the real Raspberry Pi 4
    // device tree from Debian's kernel package (`rpi4-dt/...`), the path a
    // real board takes.
    let rpi4_variants: Vec<(&str, Option<PathBuf>)> =
        match (board, dtb_for(board, args.dtb.as_ref())?) {
            (Board::Rpi4, Some(dtb)) => vec![("rpi4", Some(dtb))],
            (Board::Rpi4, None) => vec![
                ("rpi4", None),
                (
                    "rpi4-dt",
                    Some(crate::debian::kernel_package(ws)?.rpi4_dtb()?),
                ),
            ],
            (Board::Virt, _) => Vec::new(),
        };
    let cpus = match args.cpu {
        Some(cpu) => vec![cpu],
        None => Cpu::ALL.to_vec(),
    };
    let mut suites = Vec::new();
    let options = BuildOptions {
        release: args.release,
        ..BuildOptions::default()
    };
    for binary in build_tests(ws, board, options)? {
        if ASID8_ONLY.contains(&binary.name.as_str()) {
            continue;
        }
        let elf = binary.read_elf()?;
        let tests = list_tests(&elf)?;
        if tests.is_empty() {
            eprintln!(
                "xtask: {} has no embedded tests; skipped",
                binary.elf.display()
            );
            continue;
        }
        let decoder = Arc::new(LogDecoder::from_elf(&elf, &ws.root)?);
        let machines: Vec<(String, Machine, Option<PathBuf>)> = match board {
            Board::Virt => cpus
                .iter()
                .map(|&cpu| {
                    let label = format!("virt/{}/{}", cpu.qemu_name(), binary.name);
                    Machine::new(board, Some(cpu), None).map(|m| (label, m, None))
                })
                .collect::<Result<_>>()?,
            Board::Rpi4 => rpi4_variants
                .iter()
                .map(|(variant, dtb)| {
                    Machine::new(board, None, None)
                        .map(|m| (format!("{variant}/{}", binary.name), m, dtb.clone()))
                })
                .collect::<Result<_>>()?,
        };
        for (label, machine, dtb) in machines {
            suites.push(Suite {
                label,
                machine,
                image: binary.image.clone(),
                dtb,
                decoder: Arc::clone(&decoder),
                tests: tests.clone(),
            });
        }
    }
    // The address-space suite once more with the notifier machinery compiled
    // out (cortex-a72 only): the wrappers' checks must still fire.
    if board == Board::Virt {
        let options = BuildOptions {
            release: args.release,
            no_notifiers: true,
            ..BuildOptions::default()
        };
        for binary in build_tests(ws, board, options)? {
            if binary.name != "aspace" {
                continue;
            }
            let elf = binary.read_elf()?;
            suites.push(Suite {
                label: "virt/cortex-a72/aspace-notifiers-off".into(),
                machine: Machine::new(board, Some(Cpu::CortexA72), None)?,
                image: binary.image.clone(),
                dtb: None,
                decoder: Arc::new(LogDecoder::from_elf(&elf, &ws.root)?),
                tests: list_tests(&elf)?,
            });
        }
    }
    // The ASID suite in a build with 8-bit ASIDs, where 255 address spaces
    // roll the allocator over (on virt with both CPU models, and on the Pi).
    let options = BuildOptions {
        release: args.release,
        asid8: true,
        ..BuildOptions::default()
    };
    for binary in build_suites(ws, board, options, ASID8_ONLY)? {
        let elf = binary.read_elf()?;
        let decoder = Arc::new(LogDecoder::from_elf(&elf, &ws.root)?);
        let tests = list_tests(&elf)?;
        let machines: Vec<(String, Machine)> = match board {
            Board::Virt => cpus
                .iter()
                .map(|&cpu| {
                    let label = format!("virt/{}/{}-8bit", cpu.qemu_name(), binary.name);
                    Machine::new(board, Some(cpu), None).map(|m| (label, m))
                })
                .collect::<Result<_>>()?,
            Board::Rpi4 => vec![(
                format!("rpi4/{}-8bit", binary.name),
                Machine::new(board, None, None)?,
            )],
        };
        for (label, machine) in machines {
            suites.push(Suite {
                label,
                machine,
                image: binary.image.clone(),
                dtb: None,
                decoder: Arc::clone(&decoder),
                tests: tests.clone(),
            });
        }
    }
    Ok(suites)
}

/// Suites that run only in the `asid8` build.
const ASID8_ONLY: &[&str] = &["asid"];

/// Runs one suite's selected tests, `jobs` at a time, printing as they finish.
/// A suite the filter leaves empty is not shown (`None`).
fn run_suite(
    suite: &Suite,
    filter: Option<&str>,
    jobs: usize,
    default_timeout: Duration,
) -> Option<SuiteReport> {
    let start = Instant::now();
    let mut report = SuiteReport::new(&suite.label);
    let selected: Vec<&TestCase> = suite
        .tests
        .iter()
        .filter(|t| filter.is_none_or(|f| format!("{}::{}", suite.label, t.name).contains(f)))
        .collect();
    report.filtered_out = suite.tests.len() - selected.len();
    if filter.is_some() && selected.is_empty() {
        return None;
    }

    println!("\n     Running {} ({})", suite.label, suite.image.display());
    println!("\n{}", running_line(selected.len()));
    let (ignored, runnable): (Vec<&TestCase>, Vec<&TestCase>) =
        selected.into_iter().partition(|t| t.ignored);
    for test in ignored {
        println!("{}", test_line(&test.name, &Outcome::Ignored));
        report.record(&test.name, &Outcome::Ignored, String::new);
    }

    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| {
        for _ in 0..jobs.min(runnable.len()) {
            let sender = sender.clone();
            let (next, runnable) = (&next, &runnable);
            scope.spawn(move || {
                while let Some(test) = runnable.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = run_test(suite, test, default_timeout);
                    if sender.send((*test, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for (test, (outcome, details)) in receiver {
            println!("{}", test_line(&test.name, &outcome));
            report.record(&test.name, &outcome, || details);
        }
    });
    report.elapsed = start.elapsed();
    print!("{}", suite_end(&report));
    Some(report)
}

/// Boots one test; returns its outcome and, for a failure, what to show.
fn run_test(suite: &Suite, test: &TestCase, default_timeout: Duration) -> (Outcome, String) {
    let mut config = QemuConfig::new(suite.machine.clone(), suite.image.clone());
    config.dtb = suite.dtb.clone();
    config.semihosting_args = vec!["run_addr".into(), test.entry.to_string()];
    let command = config.command();
    let command_line = display(&command);
    let timeout = test.timeout.unwrap_or(default_timeout);
    match boot(
        command,
        Arc::clone(&suite.decoder),
        Console::Capture,
        Some(timeout),
    ) {
        Ok(result) => {
            let outcome = verdict(result.exit, test.should_panic, &result.log);
            let mut details = String::new();
            if let Outcome::Failed(reason) = &outcome {
                details = format!("{reason}\n");
                for line in &result.log {
                    details.push_str(line);
                    details.push('\n');
                }
                if !result.stderr.trim().is_empty() {
                    details.push_str(&format!("QEMU stderr:\n{}\n", result.stderr.trim_end()));
                }
                let seconds = result.elapsed.as_secs_f64();
                details.push_str(&format!("QEMU ran {seconds:.2}s: {command_line}\n"));
            }
            (outcome, details)
        }
        Err(error) => {
            let reason = format!("could not boot: {error:#}");
            (
                Outcome::Failed(reason.clone()),
                format!("{reason}\nQEMU command: {command_line}\n"),
            )
        }
    }
}
