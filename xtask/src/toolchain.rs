//! Makes the pinned toolchain complete before anything is built.
//!
//! `rustup` installs the targets and components of `rust-toolchain.toml` only
//! when it installs the toolchain itself; a machine that already has the
//! pinned version (without `aarch64-unknown-none` or `llvm-tools`) is left as
//! it is and the first target build fails with "can't find crate for core".
//! Every `cargo xtask` command therefore reads the file, asks rustup what the
//! pinned toolchain has, and adds what is missing, with one line saying what it
//! did.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The `[toolchain]` table of `rust-toolchain.toml`.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Pinned {
    pub channel: String,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    toolchain: Pinned,
}

/// Parses the text of `rust-toolchain.toml`.
pub fn parse(text: &str) -> Result<Pinned> {
    Ok(toml::from_str::<File>(text)
        .context("rust-toolchain.toml: no [toolchain] table with a channel")?
        .toolchain)
}

/// The targets of `wanted` not among rustup's `--installed` target list.
pub fn missing_targets<'a>(wanted: &'a [String], installed: &str) -> Vec<&'a str> {
    let have: Vec<&str> = installed.lines().map(str::trim).collect();
    wanted
        .iter()
        .map(String::as_str)
        .filter(|name| !have.contains(name))
        .collect()
}

/// The components of `wanted` not among rustup's `--installed` component
/// list, which names each with the host triple appended
/// (`llvm-tools-x86_64-unknown-linux-gnu`), and a renamed component perhaps
/// by its old `-preview` name.
pub fn missing_components<'a>(wanted: &'a [String], installed: &str, host: &str) -> Vec<&'a str> {
    let suffix = format!("-{host}");
    let have: Vec<&str> = installed
        .lines()
        .map(str::trim)
        .map(|line| line.strip_suffix(suffix.as_str()).unwrap_or(line))
        .collect();
    wanted
        .iter()
        .map(String::as_str)
        .filter(|name| {
            let preview = format!("{name}-preview");
            !have.iter().any(|h| h == name || *h == preview)
        })
        .collect()
}

/// The host triple from `rustc -vV`.
fn host_triple(verbose_version: &str) -> Option<&str> {
    verbose_version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::trim)
}

/// Checks the pinned toolchain and installs what it lacks.
pub fn ensure(root: &Path) -> Result<()> {
    let file = root.join("rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let pinned = parse(&text)?;
    let toolchain = pinned.channel.as_str();

    if rustup(root, &["run", toolchain, "rustc", "-vV"]).is_err() {
        eprintln!(
            "xtask: toolchain {toolchain} is not installed: installing it from rust-toolchain.toml"
        );
        // With no name, `rustup toolchain install` installs what the file in
        // the current directory pins, targets and components included.
        rustup_checked(root, &["toolchain", "install"])?;
    }
    let version = rustup(root, &["run", toolchain, "rustc", "-vV"])?;
    let host = host_triple(&version).context("rustc -vV names no host")?;
    let targets = rustup(
        root,
        &["target", "list", "--installed", "--toolchain", toolchain],
    )?;
    let components = rustup(
        root,
        &["component", "list", "--installed", "--toolchain", toolchain],
    )?;
    let add_targets = missing_targets(&pinned.targets, &targets);
    let add_components = missing_components(&pinned.components, &components, host);
    if add_targets.is_empty() && add_components.is_empty() {
        return Ok(());
    }
    let mut what = Vec::new();
    if !add_targets.is_empty() {
        what.push(format!("target {}", add_targets.join(", ")));
    }
    if !add_components.is_empty() {
        what.push(format!("component {}", add_components.join(", ")));
    }
    eprintln!(
        "xtask: toolchain {toolchain} lacks {}: adding with rustup",
        what.join(" and ")
    );
    if !add_targets.is_empty() {
        let mut args = vec!["target", "add", "--toolchain", toolchain];
        args.extend(&add_targets);
        rustup_checked(root, &args)?;
    }
    if !add_components.is_empty() {
        let mut args = vec!["component", "add", "--toolchain", toolchain];
        args.extend(&add_components);
        rustup_checked(root, &args)?;
    }
    Ok(())
}

/// Runs rustup quietly and returns its standard output.
fn rustup(root: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("rustup")
        .args(args)
        .current_dir(root)
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .context("running rustup (is it installed? https://rustup.rs)")?;
    if !output.status.success() {
        bail!(
            "rustup {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs rustup with its output shown (downloads print progress).
fn rustup_checked(root: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new("rustup")
        .args(args)
        .current_dir(root)
        .env_remove("RUSTUP_TOOLCHAIN")
        .status()
        .context("running rustup")?;
    if !status.success() {
        bail!("rustup {} failed ({status})", args.join(" "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_file() {
        let text = include_str!("../../rust-toolchain.toml");
        let pinned = parse(text).unwrap();
        assert_eq!(pinned.channel, "1.95.0");
        assert!(pinned.targets.iter().any(|t| t == "aarch64-unknown-none"));
        assert!(pinned.components.iter().any(|c| c == "llvm-tools"));
    }

    #[test]
    fn a_file_without_a_channel_is_refused() {
        assert!(parse("[toolchain]\ntargets = []\n").is_err());
        assert!(parse("channel = \"1.95.0\"\n").is_err());
    }

    #[test]
    fn finds_the_missing_components() {
        let host = "x86_64-unknown-linux-gnu";
        let components = "cargo-x86_64-unknown-linux-gnu\nclippy-x86_64-unknown-linux-gnu\n\
                          rustfmt-x86_64-unknown-linux-gnu\nrust-std-x86_64-unknown-linux-gnu\n";
        let want = names(&["llvm-tools", "clippy", "rustfmt"]);
        assert_eq!(
            missing_components(&want, components, host),
            vec!["llvm-tools"]
        );
        let with_llvm = format!("{components}llvm-tools-x86_64-unknown-linux-gnu\n");
        assert!(missing_components(&want, &with_llvm, host).is_empty());
        let with_preview = format!("{components}llvm-tools-preview-x86_64-unknown-linux-gnu\n");
        assert!(missing_components(&want, &with_preview, host).is_empty());
        // A name that is only the start of an installed one is still missing.
        assert_eq!(
            missing_components(&names(&["rust"]), components, host),
            vec!["rust"]
        );
    }

    #[test]
    fn finds_the_missing_targets() {
        let want = names(&["aarch64-unknown-none"]);
        assert_eq!(
            missing_targets(&want, "x86_64-unknown-linux-gnu\n"),
            vec!["aarch64-unknown-none"]
        );
        assert!(
            missing_targets(&want, "aarch64-unknown-none\nx86_64-unknown-linux-gnu\n").is_empty()
        );
        // A longer target is not the same target.
        assert_eq!(
            missing_targets(&want, "aarch64-unknown-none-softfloat\n"),
            vec!["aarch64-unknown-none"]
        );
    }

    #[test]
    fn reads_the_host_triple() {
        let text = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\n";
        assert_eq!(host_triple(text), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(host_triple("rustc 1.95.0\n"), None);
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }
}
