//! Builds the kernel and its on-target test suites with Cargo, and keeps a copy
//! of each ELF and its raw image per board.
//!
//! Binaries come from Cargo's JSON artifact messages. They are copied to
//! `target/xtask/<board>-<profile>[-hw]/` at once: Cargo writes the kernel binary to
//! the same path for every board feature, so the next build would replace it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;

use crate::board::Board;
use crate::raw_image;
use crate::workspace::{display, Workspace};

/// The target the kernel and its on-target test suites are built for: no FP/SIMD
/// register is ever touched by kernel code, so an exception saves none of them (a user
/// thread's are switched with the thread, `kernel/src/arch/fpsimd.rs`).
pub const TARGET: &str = "aarch64-unknown-none-softfloat";

/// The target the user programs and the vDSO are built for (EL0 code uses FP/SIMD).
pub const USER_TARGET: &str = "aarch64-unknown-none";

/// The kernel package and its binary target.
pub const KERNEL: &str = "kernel";

/// An executable Cargo reported.
#[derive(Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The target's name (`kernel`, or a test suite's file name).
    pub name: String,
    /// Built with the test profile (`cargo test`).
    pub test: bool,
    pub executable: PathBuf,
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    target: Option<MessageTarget>,
    profile: Option<MessageProfile>,
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct MessageTarget {
    name: String,
}

#[derive(Deserialize)]
struct MessageProfile {
    test: bool,
}

/// The executables in Cargo's `--message-format=json` output.
pub fn parse_artifacts(stdout: &str) -> Vec<Artifact> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Message>(line).ok())
        .filter(|m| m.reason == "compiler-artifact")
        .filter_map(|m| {
            Some(Artifact {
                name: m.target?.name,
                test: m.profile?.test,
                executable: m.executable?,
            })
        })
        .collect()
}

/// How to build the kernel package.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildOptions {
    /// The release profile.
    pub release: bool,
    /// For real hardware: without the kernel's default features (`qemu-exit`:
    /// semihosting's `hlt` is an undefined instruction without a debugger).
    pub hardware: bool,
    /// With the MMU-notifier machinery compiled out (the kernel's `notifiers`
    /// feature off): the wrappers and their `might_sleep()` must stay.
    pub no_notifiers: bool,
    /// With 8-bit ASIDs (the kernel's `asid8` feature), for the suite that
    /// rolls the ASID allocator over on target.
    pub asid8: bool,
}

impl BuildOptions {
    /// Folder name under `target/xtask/`, e.g. `rpi4-release-hw`.
    fn folder(self, board: Board) -> String {
        let profile = if self.release { "release" } else { "debug" };
        let hardware = match (self.hardware, self.no_notifiers, self.asid8) {
            (true, _, _) => "-hw",
            (false, true, _) => "-nonotify",
            (false, false, true) => "-asid8",
            (false, false, false) => "",
        };
        format!("{}-{profile}{hardware}", board.name())
    }
}

/// A binary built for a board: its ELF and raw image, copied out of Cargo's way.
pub struct Built {
    pub name: String,
    pub elf: PathBuf,
    pub image: PathBuf,
}

impl Built {
    /// The ELF's bytes.
    pub fn read_elf(&self) -> Result<Vec<u8>> {
        std::fs::read(&self.elf).with_context(|| format!("reading {}", self.elf.display()))
    }
}

/// `cargo build` the kernel for `board`.
pub fn build_kernel(ws: &Workspace, board: Board, options: BuildOptions) -> Result<Built> {
    let artifacts = cargo_json(ws, "build", board, options)?;
    let kernel = artifacts
        .into_iter()
        .find(|a| a.name == KERNEL && !a.test)
        .context("cargo built no `kernel` binary")?;
    keep(ws, board, options, &kernel.name, &kernel.executable)
}

/// `cargo build` one of the kernel package's binaries (`bin`) for `board`, with extra
/// kernel `features` (e.g. `no-lock-validation` for a benchmark).
pub fn build_binary(
    ws: &Workspace,
    board: Board,
    options: BuildOptions,
    bin: &str,
    features: &[&str],
) -> Result<Built> {
    let mut extra = vec!["--bin".to_string(), bin.to_string()];
    for feature in features {
        extra.push("--features".into());
        extra.push(format!("{KERNEL}/{feature}"));
    }
    let artifacts = cargo_json_with(ws, "build", board, options, &extra)?;
    let built = artifacts
        .into_iter()
        .find(|a| a.name == bin && !a.test)
        .with_context(|| format!("cargo built no `{bin}` binary"))?;
    keep(ws, board, options, &built.name, &built.executable)
}

/// `cargo test --no-run` the kernel's on-target suites for `board`.
pub fn build_tests(ws: &Workspace, board: Board, options: BuildOptions) -> Result<Vec<Built>> {
    build_suites(ws, board, options, &[])
}

/// [`build_tests`] for the suites named in `only` (all of them if empty).
pub fn build_suites(
    ws: &Workspace,
    board: Board,
    options: BuildOptions,
    only: &[&str],
) -> Result<Vec<Built>> {
    let extra: Vec<String> = only
        .iter()
        .flat_map(|t| ["--test".into(), t.to_string()])
        .collect();
    let mut artifacts = cargo_json_with(ws, "test", board, options, &extra)?;
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    artifacts
        .into_iter()
        .filter(|a| a.test)
        .map(|a| keep(ws, board, options, &a.name, &a.executable))
        .collect()
}

/// Runs `cargo <verb>` for the kernel package and returns the executables.
fn cargo_json(
    ws: &Workspace,
    verb: &str,
    board: Board,
    options: BuildOptions,
) -> Result<Vec<Artifact>> {
    cargo_json_with(ws, verb, board, options, &[])
}

/// [`cargo_json`] with `extra` arguments after the usual ones.
fn cargo_json_with(
    ws: &Workspace,
    verb: &str,
    board: Board,
    options: BuildOptions,
    extra: &[String],
) -> Result<Vec<Artifact>> {
    let mut command = ws.cargo();
    command.args([
        verb,
        "-p",
        KERNEL,
        "--target",
        TARGET,
        "--features",
        &board.feature(),
    ]);
    if verb == "test" {
        command.arg("--no-run");
    }
    if options.release {
        command.arg("--release");
    }
    if options.hardware {
        command.arg("--no-default-features");
    } else if options.no_notifiers {
        command.args(["--no-default-features", "--features", "kernel/qemu-exit"]);
    }
    if options.asid8 {
        command.args(["--features", "kernel/asid8"]);
    }
    command.args(extra);
    command.arg("--message-format=json-render-diagnostics");
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    eprintln!("$ {}", display(&command));
    let output = command.output().context("running cargo")?;
    if !output.status.success() {
        bail!("`{}` failed", display(&command));
    }
    Ok(parse_artifacts(&String::from_utf8_lossy(&output.stdout)))
}

/// Copies `elf` to `target/xtask/<board>-<profile>[-hw]/<name>.elf` and writes
/// `<name>.bin`, its raw image, after checking it loads where the board loads it.
fn keep(
    ws: &Workspace,
    board: Board,
    options: BuildOptions,
    name: &str,
    elf: &Path,
) -> Result<Built> {
    let folder = ws.target_dir.join("xtask").join(options.folder(board));
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let image = raw_image::flatten(&bytes)
        .with_context(|| format!("making a raw image of {}", elf.display()))?;
    ensure!(
        image.base == board.load_address(),
        "{name} for {} starts at {:#x}, but the board loads its image at {:#x}: check the linker script",
        board.name(),
        image.base,
        board.load_address()
    );
    let kept = Built {
        name: name.to_string(),
        elf: folder.join(format!("{name}.elf")),
        image: folder.join(format!("{name}.bin")),
    };
    std::fs::write(&kept.elf, &bytes).with_context(|| format!("writing {}", kept.elf.display()))?;
    std::fs::write(&kept.image, &image.bytes)
        .with_context(|| format!("writing {}", kept.image.display()))?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_from_cargo_json() {
        let stdout = r#"{"reason":"compiler-artifact","package_id":"x","target":{"kind":["lib"],"name":"mm"},"profile":{"test":false},"filenames":["/t/libmm.rlib"],"executable":null,"fresh":true}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"kernel"},"profile":{"test":false},"executable":"/t/aarch64-unknown-none/debug/kernel","fresh":false}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"exceptions"},"profile":{"test":true},"executable":"/t/aarch64-unknown-none/debug/deps/exceptions-0123abcd","fresh":false}
{"reason":"build-script-executed","package_id":"y"}
not json
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            parse_artifacts(stdout),
            vec![
                Artifact {
                    name: "kernel".into(),
                    test: false,
                    executable: "/t/aarch64-unknown-none/debug/kernel".into()
                },
                Artifact {
                    name: "exceptions".into(),
                    test: true,
                    executable: "/t/aarch64-unknown-none/debug/deps/exceptions-0123abcd".into()
                },
            ]
        );
    }
}
