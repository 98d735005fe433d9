//! Makes sure the host has what `run` and `test` need: QEMU 9.0 or newer, and
//! for the stock-decoder check, `defmt-print`.
//!
//! When `qemu-system-aarch64` is missing or too old, root installs QEMU from
//! Debian `bookworm-backports` (QEMU 10, DESIGN.md §4); anyone else is told the
//! exact commands to run with sudo. Every step is printed.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::qemu::QEMU;
use crate::workspace::run_checked;

/// The oldest QEMU the project supports.
pub const MIN_QEMU: (u32, u32) = (9, 0);

const BACKPORTS_LINE: &str = "deb http://deb.debian.org/debian bookworm-backports main";
const BACKPORTS_LIST: &str = "/etc/apt/sources.list.d/backports.list";
const INSTALL: [&str; 7] = [
    "apt-get",
    "install",
    "-y",
    "-t",
    "bookworm-backports",
    "--no-install-recommends",
    "qemu-system-arm",
];

/// Checks QEMU, installing it when it is missing or too old and we are root.
pub fn ensure_qemu() -> Result<()> {
    match installed_qemu() {
        Some(version) if version >= MIN_QEMU => {
            eprintln!("xtask: {QEMU} {}.{} found", version.0, version.1);
            return Ok(());
        }
        Some(version) => eprintln!(
            "xtask: {QEMU} {}.{} is older than {}.{}",
            version.0, version.1, MIN_QEMU.0, MIN_QEMU.1
        ),
        None => eprintln!("xtask: {QEMU} not found"),
    }
    if !is_root() {
        bail!(
            "QEMU {}.{} or newer is needed. Install QEMU 10 from Debian bookworm-backports with:\n\
             \n    echo '{BACKPORTS_LINE}' | sudo tee {BACKPORTS_LIST}\
             \n    sudo apt-get update\
             \n    sudo {}\n\
             \n(on other systems, install qemu-system-aarch64 9.0 or newer with the package manager)",
            MIN_QEMU.0,
            MIN_QEMU.1,
            INSTALL.join(" ")
        );
    }
    install_from_backports()?;
    match installed_qemu() {
        Some(version) if version >= MIN_QEMU => {
            eprintln!("xtask: installed {QEMU} {}.{}", version.0, version.1);
            Ok(())
        }
        _ => bail!(
            "{QEMU} is still missing or older than {}.{} after the install",
            MIN_QEMU.0,
            MIN_QEMU.1
        ),
    }
}

/// The `defmt-print` release that matches this tool's `defmt-decoder`.
pub const DEFMT_PRINT_VERSION: &str = "1.2.0";

/// The path of `defmt-print`: on the PATH, in cargo's `bin` folder, or
/// installed there now with `cargo install --locked` (printed).
pub fn ensure_defmt_print() -> Result<std::path::PathBuf> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|home| home.join("bin"));
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = path_dirs
        .iter()
        .chain(cargo_bin.iter())
        .map(|dir| dir.join("defmt-print"))
        .find(|p| p.is_file());
    if let Some(found) = found {
        eprintln!("xtask: defmt-print found at {}", found.display());
        return Ok(found);
    }
    eprintln!("xtask: defmt-print not found: installing {DEFMT_PRINT_VERSION} with cargo install");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_checked(Command::new(cargo).args([
        "install",
        "defmt-print",
        "--locked",
        "--version",
        DEFMT_PRINT_VERSION,
    ]))?;
    let installed = cargo_bin
        .map(|dir| dir.join("defmt-print"))
        .filter(|p| p.is_file())
        .context("defmt-print is not in cargo's bin folder after `cargo install`")?;
    Ok(installed)
}

/// (major, minor) of the `qemu-system-aarch64` on the PATH.
fn installed_qemu() -> Option<(u32, u32)> {
    let output = Command::new(QEMU).arg("--version").output().ok()?;
    parse_qemu_version(&String::from_utf8_lossy(&output.stdout))
}

/// Reads `QEMU emulator version 10.0.2 (Debian ...)`.
pub fn parse_qemu_version(text: &str) -> Option<(u32, u32)> {
    let rest = &text[text.find("version ")? + "version ".len()..];
    let version = rest.split_whitespace().next()?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// Adds bookworm-backports if no APT source names it, then installs QEMU from it.
fn install_from_backports() -> Result<()> {
    if !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "apt-get not found: install qemu-system-aarch64 {}.{} or newer by hand",
            MIN_QEMU.0,
            MIN_QEMU.1
        );
    }
    if !apt_sources_mention("bookworm-backports") {
        eprintln!("xtask: adding `{BACKPORTS_LINE}` to {BACKPORTS_LIST}");
        std::fs::write(BACKPORTS_LIST, format!("{BACKPORTS_LINE}\n"))
            .with_context(|| format!("writing {BACKPORTS_LIST}"))?;
    }
    eprintln!("xtask: installing QEMU from bookworm-backports");
    run_checked(Command::new("apt-get").arg("update"))?;
    run_checked(
        Command::new(INSTALL[0])
            .args(&INSTALL[1..])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Whether any APT source file (one-line or deb822) names `suite`.
fn apt_sources_mention(suite: &str) -> bool {
    let mut files = vec![std::path::PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources")),
        );
    }
    files.iter().any(|file| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains(suite))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_versions() {
        let debian = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025";
        assert_eq!(parse_qemu_version(debian), Some((10, 0)));
        assert_eq!(
            parse_qemu_version("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)"),
            Some((7, 2))
        );
        assert!(parse_qemu_version("QEMU emulator version 7.2.15").unwrap() < MIN_QEMU);
        assert!((9, 0) >= MIN_QEMU);
        assert_eq!(
            parse_qemu_version("bash: qemu-system-aarch64: command not found"),
            None
        );
    }
}
