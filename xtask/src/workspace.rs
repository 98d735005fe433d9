//! Where the workspace and its target folder are, and running child commands
//! the way the tool reports them (`$ command` before, a clear error after).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Crates that build for the host: unit-tested by `cargo xtask test`, linted by `lint`.
/// `drivers` is also a target crate: its pure parts (PCIe, SMMUv3, edu
/// encodings) are host-tested, its AArch64-only modules build for the target.
pub const HOST_CRATES: [&str; 5] = ["mm", "addr", "policy", "drivers", "xtask"];

/// Crates that build only for the kernel's target (`aarch64-unknown-none-softfloat`).
pub const TARGET_CRATES: [&str; 3] = ["kernel", "drivers", "boards"];

/// The workspace the tool works on.
pub struct Workspace {
    pub root: PathBuf,
    /// Cargo's target folder (`target/` unless configured otherwise).
    pub target_dir: PathBuf,
}

impl Workspace {
    /// The workspace that holds this xtask; asks Cargo for the target folder.
    pub fn locate() -> Result<Workspace> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent folder")?
            .to_path_buf();
        let output = cargo(&root)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .context("running cargo metadata")?;
        if !output.status.success() {
            bail!(
                "cargo metadata failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
        let target_dir = metadata["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        Ok(Workspace { root, target_dir })
    }

    /// A `cargo` command run from the workspace root.
    pub fn cargo(&self) -> Command {
        cargo(&self.root)
    }
}

/// The Cargo that runs this tool (`$CARGO`), so the pinned toolchain is used.
fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root);
    command
}

/// `program arg arg ...` for messages (program shown by name).
pub fn display(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let name = if program.ends_with("cargo") {
        "cargo".into()
    } else {
        program.display().to_string()
    };
    let mut line = name;
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        line.push(' ');
        if arg.is_empty() || arg.contains([' ', '"', '\'']) {
            line.push_str(&format!("'{arg}'"));
        } else {
            line.push_str(&arg);
        }
    }
    line
}

/// Prints `$ command`, runs it with inherited output; true if it succeeded.
pub fn run_status(command: &mut Command) -> Result<bool> {
    eprintln!("$ {}", display(command));
    let status = command
        .status()
        .with_context(|| format!("starting `{}`", display(command)))?;
    Ok(status.success())
}

/// Like [`run_status`], failing on a non-zero exit.
pub fn run_checked(command: &mut Command) -> Result<()> {
    if !run_status(command)? {
        bail!("`{}` failed", display(command));
    }
    Ok(())
}
