//! The console through the stock `defmt-print`: what a Raspberry Pi user
//! sees with the upstream tool must hold the program's output as well as the
//! kernel's log (issue 13: program output travels in defmt frames).
//!
//! One boot of `/bin/hello 3 a b` on virt; its raw console goes through
//! `defmt-print -e <kernel ELF> stdin`; every line the program wrote must be
//! a line of that output, in order, before the kernel's line reporting the
//! program's exit.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::board::Cpu;
use crate::compile::BuildOptions;
use crate::initramfs::Initramfs;
use crate::linux::Program;
use crate::qemu::Machine;
use crate::report::{running_line, suite_end, test_line, SuiteReport};
use crate::user_tests::Ours;
use crate::verdict::Outcome;
use crate::workspace::{display, Workspace};

/// The suite's label and its one test.
pub const LABEL: &str = "virt/defmt-print";
const TEST: &str = "program_output_and_kernel_log";

/// The kernel's line after the program's output.
const EXIT_LINE: &str = "process 1 exited with status 3";

/// Whether the filter selects the test.
pub fn selected(filter: Option<&str>) -> bool {
    filter.is_none_or(|f| format!("{LABEL}::{TEST}").contains(f))
}

/// Runs the check; one report.
pub fn run_suite(ws: &Workspace, initramfs: &Initramfs, build: BuildOptions) -> SuiteReport {
    let start = Instant::now();
    let mut report = SuiteReport::new(LABEL);
    println!(
        "\n     Running {LABEL} (stock defmt-print {})",
        crate::tools::DEFMT_PRINT_VERSION
    );
    println!("\n{}", running_line(1));
    let result = check(ws, initramfs, build);
    let outcome = match &result {
        Ok(()) => Outcome::Passed,
        Err(e) => Outcome::Failed(format!("{e:#}")),
    };
    println!("{}", test_line(TEST, &outcome));
    report.record(TEST, &outcome, || match result {
        Err(e) => format!("{e:#}"),
        Ok(()) => String::new(),
    });
    report.elapsed = start.elapsed();
    println!("{}", suite_end(&report));
    report
}

fn check(ws: &Workspace, initramfs: &Initramfs, build: BuildOptions) -> Result<()> {
    let defmt_print = crate::tools::ensure_defmt_print()?;
    let machine = Machine::new(crate::board::Board::Virt, Some(Cpu::CortexA72), None)?;
    let ours = Ours::build(ws, &machine, None, build)?;
    let program = Program::new("/bin/hello", &["3", "a", "b"]);
    let run = ours.run(&initramfs.path, &program, Duration::from_secs(60))?;
    if run.output.status != 3 {
        anyhow::bail!(
            "hello exited with {} (expected 3)\n{}",
            run.output.status,
            run.log.join("\n")
        );
    }
    let raw = ws.target_dir.join("xtask").join("defmt-print-hello.raw");
    std::fs::write(&raw, &run.raw).with_context(|| format!("writing {}", raw.display()))?;
    let shown = decode_with(&defmt_print, &ours.elf, &run.raw)?;
    compare(&shown, &run.output.stdout).with_context(|| {
        format!(
            "replay: {} -e {} stdin < {}\n--- defmt-print's output ---\n{shown}",
            defmt_print.display(),
            ours.elf.display(),
            raw.display()
        )
    })
}

/// Runs `defmt-print -e elf stdin` on `console`; its stdout.
fn decode_with(defmt_print: &Path, elf: &Path, console: &[u8]) -> Result<String> {
    let mut command = Command::new(defmt_print);
    command.arg("-e").arg(elf).arg("stdin");
    eprintln!("$ {} < (console of the boot)", display(&command));
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", defmt_print.display()))?;
    let mut stdin = child.stdin.take().context("defmt-print's stdin")?;
    let console = console.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&console));
    let output = child
        .wait_with_output()
        .context("waiting for defmt-print")?;
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        anyhow::bail!(
            "defmt-print failed ({}): {}\n{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// Every line of `program` is a whole line of `shown`, in order, and the
/// kernel's exit line follows the last of them.
fn compare(shown: &str, program: &str) -> Result<()> {
    let lines: Vec<&str> = shown.lines().collect();
    let mut at = 0;
    for wanted in program.lines() {
        match lines[at..].iter().position(|l| *l == wanted) {
            Some(found) => at += found + 1,
            None => {
                anyhow::bail!("defmt-print does not show the program's line {wanted:?} (in order)")
            }
        }
    }
    if program.lines().next().is_none() {
        anyhow::bail!("the program wrote nothing");
    }
    if !lines[at..].iter().any(|l| l.ends_with(EXIT_LINE)) {
        anyhow::bail!(
            "defmt-print does not show the kernel's {EXIT_LINE:?} after the program's lines"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: &str = "hello from EL0: argc=4\nargv[1] = 3\n";

    #[test]
    fn program_lines_then_the_exit_line_pass() {
        let shown = "0.09 INFO  starting init\nhello from EL0: argc=4\nargv[1] = 3\n0.13 INFO  process 1 exited with status 3\n";
        assert!(compare(shown, PROGRAM).is_ok());
    }

    #[test]
    fn a_missing_line_a_wrong_order_or_no_exit_line_fail() {
        let missing = "hello from EL0: argc=4\n0.13 INFO  process 1 exited with status 3\n";
        assert!(compare(missing, PROGRAM).is_err());
        let swapped =
            "argv[1] = 3\nhello from EL0: argc=4\n0.13 INFO  process 1 exited with status 3\n";
        assert!(compare(swapped, PROGRAM).is_err());
        let no_exit = "hello from EL0: argc=4\nargv[1] = 3\n";
        assert!(compare(no_exit, PROGRAM).is_err());
        // A line that only contains the program's line is not it.
        let prefixed =
            "hello from EL0: argc=4\nINFO argv[1] = 3\n0.1 process 1 exited with status 3\n";
        assert!(compare(prefixed, PROGRAM).is_err());
        assert!(compare("process 1 exited with status 3\n", "").is_err());
    }
}
