//! Debian's arm64 Linux kernel package, fetched with the ordinary Debian
//! tools and cached under `target/debian/`. It provides the real Raspberry
//! Pi 4 device tree (`broadcom/bcm2711-rpi-4-b.dtb`) for the `rpi4-dt`
//! suites, and a plain arm64 `Image` for the Linux side of the benchmarks.
//!
//! Recipe (DESIGN.md section 6): add the arm64 architecture, `apt-get update`,
//! `apt-get download` the package the `linux-image-arm64` meta-package names,
//! remove the architecture again, `dpkg-deb -x`. Nothing foreign is installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::tools::is_root;
use crate::workspace::{run_checked, Workspace};

/// The meta-package whose dependency is the current kernel image package.
const META: &str = "linux-image-arm64:arm64";

/// An unpacked Debian kernel image package.
pub struct DebianKernel {
    /// e.g. `linux-image-6.1.0-56-arm64_6.1.192-2_arm64`
    pub package: String,
    pub root: PathBuf,
}

impl DebianKernel {
    /// The Raspberry Pi 4 Model B device tree shipped with the kernel.
    pub fn rpi4_dtb(&self) -> Result<PathBuf> {
        find(&self.root.join("usr/lib"), "bcm2711-rpi-4-b.dtb")
            .with_context(|| format!("{} has no bcm2711-rpi-4-b.dtb", self.package))
    }

    /// The kernel image (`/boot/vmlinuz-*`, a plain arm64 `Image`).
    pub fn image(&self) -> Result<PathBuf> {
        let boot = self.root.join("boot");
        for entry in fs::read_dir(&boot).with_context(|| format!("reading {}", boot.display()))? {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
            {
                return Ok(path);
            }
        }
        bail!("{} has no /boot/vmlinuz-*", self.package)
    }
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        } else if path.file_name().and_then(|n| n.to_str()) == Some(name) {
            return Some(path);
        }
    }
    None
}

/// The cached package, or fetch it (as root) the first time.
pub fn kernel_package(ws: &Workspace) -> Result<DebianKernel> {
    let cache = ws.target_dir.join("debian");
    if let Some(found) = cached(&cache)? {
        return Ok(found);
    }
    if !is_root() {
        bail!(
            "the Debian arm64 kernel package (for the Raspberry Pi 4 device tree and the Linux benchmark) \
             is not cached in {} and fetching it needs root: run `sudo cargo xtask fetch-debian-kernel` once",
            cache.display()
        );
    }
    fetch(&cache)?;
    cached(&cache)?.context("the package was fetched but not found in the cache")
}

fn cached(cache: &Path) -> Result<Option<DebianKernel>> {
    let Ok(entries) = fs::read_dir(cache) else {
        return Ok(None);
    };
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() && name.starts_with("linux-image-") && path.join(".complete").exists() {
            return Ok(Some(DebianKernel {
                package: name,
                root: path,
            }));
        }
    }
    Ok(None)
}

fn apt(args: &[&str]) -> Command {
    let mut c = Command::new(args[0]);
    c.args(&args[1..]);
    c
}

fn fetch(cache: &Path) -> Result<()> {
    fs::create_dir_all(cache)?;
    eprintln!(
        "xtask: fetching Debian's arm64 kernel package into {}",
        cache.display()
    );
    run_checked(&mut apt(&["dpkg", "--add-architecture", "arm64"]))?;
    let result = (|| -> Result<()> {
        run_checked(&mut apt(&["apt-get", "update", "-qq"]))?;
        let out = Command::new("apt-cache")
            .args(["depends", META])
            .output()
            .context("apt-cache")?;
        let deps = String::from_utf8_lossy(&out.stdout);
        let package = deps
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .find(|d| d.starts_with("linux-image-"))
            .with_context(|| format!("`apt-cache depends {META}` names no linux-image package"))?
            .to_string();
        let mut download = apt(&["apt-get", "download", &package]);
        download.current_dir(cache);
        run_checked(&mut download)
    })();
    // Leave the system as it was, whatever happened.
    run_checked(&mut apt(&["dpkg", "--remove-architecture", "arm64"]))?;
    run_checked(&mut apt(&["apt-get", "update", "-qq"]))?;
    result?;
    for entry in fs::read_dir(cache)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some("deb") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let dir = cache.join(&stem);
            run_checked(Command::new("dpkg-deb").arg("-x").arg(&path).arg(&dir))?;
            fs::write(dir.join(".complete"), b"")?;
            fs::remove_file(&path)?;
            eprintln!("xtask: unpacked {stem}");
        }
    }
    Ok(())
}
