//! Debian arm64 packages, fetched with the ordinary Debian tools and cached
//! under `target/debian/`:
//!
//! - the Linux kernel image package: the real Raspberry Pi 4 device tree
//!   (`broadcom/bcm2711-rpi-4-b.dtb`) for the `rpi4-dt` suites, and a plain
//!   arm64 `Image` for the Linux side of the benchmarks and the conformance
//!   suites;
//! - `busybox-static`: the static `bin/busybox` of the busybox initramfs
//!   (`initramfs::build_busybox`).
//!
//! Recipe (DESIGN.md section 6), the same for every package: add the arm64
//! architecture, `apt-get update`, `apt-get download` the package (for the
//! kernel, the one the `linux-image-arm64` meta-package names), remove the
//! architecture again, `dpkg-deb -x` into `target/debian/<package>/` with a
//! `.complete` marker. Nothing foreign is installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::tools::is_root;
use crate::workspace::{run_checked, Workspace};

/// The command that fetches every package of this module.
pub const FETCH_COMMAND: &str = "sudo cargo xtask fetch-debian-kernel";

/// One Debian arm64 package this tool uses.
pub struct Package {
    /// What it is for, in messages.
    pub purpose: &'static str,
    /// How to name it to `apt-get download`.
    pub name: PackageName,
    /// The start of its unpacked folder's name (`<package>_<version>_arm64`).
    pub prefix: &'static str,
}

/// A package's name, or the meta-package that names it.
pub enum PackageName {
    /// Downloaded by this name.
    Fixed(&'static str),
    /// The dependency of `meta` whose name starts with the package's prefix
    /// (found with `apt-cache depends` once the arm64 lists are there).
    DependencyOf(&'static str),
}

/// Debian's arm64 kernel image package: the dependency of the
/// `linux-image-arm64` meta-package.
pub const KERNEL: Package = Package {
    purpose:
        "the Debian arm64 kernel package (for the Raspberry Pi 4 device tree and the Linux runs)",
    name: PackageName::DependencyOf("linux-image-arm64:arm64"),
    prefix: "linux-image-",
};

/// Debian's statically linked busybox for arm64.
pub const BUSYBOX: Package = Package {
    purpose: "Debian's arm64 busybox-static package (for the busybox initramfs)",
    name: PackageName::Fixed("busybox-static:arm64"),
    prefix: "busybox-static_",
};

/// Every package `cargo xtask fetch-debian-kernel` fetches.
pub const ALL: [&Package; 2] = [&KERNEL, &BUSYBOX];

/// An unpacked Debian package.
pub struct Unpacked {
    /// e.g. `linux-image-6.1.0-56-arm64_6.1.192-2_arm64`
    pub package: String,
    pub root: PathBuf,
}

/// An unpacked Debian kernel image package.
pub type DebianKernel = Unpacked;

impl Unpacked {
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

/// The cached kernel package, or fetch it (as root) the first time.
pub fn kernel_package(ws: &Workspace) -> Result<DebianKernel> {
    package(ws, &KERNEL)
}

/// The static busybox executable (`bin/busybox` of the cached
/// `busybox-static` package), fetching the package (as root) the first time.
pub fn busybox(ws: &Workspace) -> Result<PathBuf> {
    let unpacked = package(ws, &BUSYBOX)?;
    let path = unpacked.root.join("bin/busybox");
    if !path.is_file() {
        bail!("{} has no bin/busybox", unpacked.package);
    }
    Ok(path)
}

/// The cached busybox executable if the package is there (never fetches).
#[cfg(test)]
pub fn cached_busybox(ws: &Workspace) -> Option<PathBuf> {
    let unpacked = cached(&cache_dir(ws), &BUSYBOX).ok()??;
    Some(unpacked.root.join("bin/busybox")).filter(|p| p.is_file())
}

fn cache_dir(ws: &Workspace) -> PathBuf {
    ws.target_dir.join("debian")
}

/// `package`, cached, or fetched (as root) the first time.
pub fn package(ws: &Workspace, package: &Package) -> Result<Unpacked> {
    let cache = cache_dir(ws);
    if let Some(found) = cached(&cache, package)? {
        return Ok(found);
    }
    if !is_root() {
        bail!(
            "{} is not cached in {} and fetching it needs root: run `{FETCH_COMMAND}` once",
            package.purpose,
            cache.display()
        );
    }
    fetch(&cache, &[package])?;
    cached(&cache, package)?.context("the package was fetched but not found in the cache")
}

/// Every package of [`ALL`], fetching those not cached yet in one round of
/// the recipe (as root).
pub fn all_packages(ws: &Workspace) -> Result<Vec<Unpacked>> {
    let cache = cache_dir(ws);
    let mut missing = Vec::new();
    for package in ALL {
        if cached(&cache, package)?.is_none() {
            missing.push(package);
        }
    }
    if !missing.is_empty() {
        if !is_root() {
            let what: Vec<&str> = missing.iter().map(|p| p.purpose).collect();
            bail!(
                "{} not cached in {} and fetching needs root: run `{FETCH_COMMAND}` once",
                what.join(" and "),
                cache.display()
            );
        }
        fetch(&cache, &missing)?;
    }
    ALL.iter()
        .map(|p| cached(&cache, p)?.context("the package was fetched but not found in the cache"))
        .collect()
}

fn cached(cache: &Path, package: &Package) -> Result<Option<Unpacked>> {
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
        if path.is_dir() && name.starts_with(package.prefix) && path.join(".complete").exists() {
            return Ok(Some(Unpacked {
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

/// The name to download `package` by (the arm64 package lists must be there).
fn resolve(package: &Package) -> Result<String> {
    let meta = match package.name {
        PackageName::Fixed(name) => return Ok(name.to_string()),
        PackageName::DependencyOf(meta) => meta,
    };
    let out = Command::new("apt-cache")
        .args(["depends", meta])
        .output()
        .context("apt-cache")?;
    let deps = String::from_utf8_lossy(&out.stdout);
    Ok(deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|d| d.starts_with(package.prefix))
        .with_context(|| {
            format!(
                "`apt-cache depends {meta}` names no {}* package",
                package.prefix
            )
        })?
        .to_string())
}

/// The recipe, once for `packages`.
fn fetch(cache: &Path, packages: &[&Package]) -> Result<()> {
    fs::create_dir_all(cache)?;
    for package in packages {
        eprintln!(
            "xtask: fetching {} into {}",
            package.purpose,
            cache.display()
        );
    }
    run_checked(&mut apt(&["dpkg", "--add-architecture", "arm64"]))?;
    let result = (|| -> Result<()> {
        run_checked(&mut apt(&["apt-get", "update", "-qq"]))?;
        for package in packages {
            let name = resolve(package)?;
            let mut download = apt(&["apt-get", "download", &name]);
            download.current_dir(cache);
            run_checked(&mut download)?;
        }
        Ok(())
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
