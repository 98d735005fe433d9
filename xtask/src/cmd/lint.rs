//! `cargo xtask lint`: the kernel's layering (`layers`), then rustfmt and
//! clippy (warnings denied) over every crate, the target crates once per
//! board feature.

use anyhow::{bail, Result};

use crate::board::Board;
use crate::compile::{TARGET, USER_TARGET};
use crate::workspace::{display, run_status, Workspace, HOST_CRATES, TARGET_CRATES};

pub fn lint() -> Result<u8> {
    let ws = Workspace::locate()?;
    let breaches = crate::layers::check(&ws.root)?;
    for breach in &breaches {
        eprintln!("xtask: layering: {breach}");
    }
    let mut commands = Vec::new();

    let mut fmt = ws.cargo();
    fmt.args(["fmt", "--all", "--check"]);
    commands.push(fmt);

    let mut host = ws.cargo();
    host.arg("clippy");
    for krate in HOST_CRATES {
        host.args(["-p", krate]);
    }
    host.args(["--all-targets", "--", "-D", "warnings"]);
    commands.push(host);

    for board in Board::ALL {
        let mut target = ws.cargo();
        target.arg("clippy");
        for krate in TARGET_CRATES {
            target.args(["-p", krate]);
        }
        let feature = format!("kernel/{}", board.feature());
        target.args([
            "--target",
            TARGET,
            "--features",
            &feature,
            // Libraries, binaries and the embedded-test suites. Not
            // `--all-targets`: `drivers` has host unit tests (libtest needs
            // std), which `cargo xtask test` runs on the host instead.
            "--lib",
            "--bins",
            "--test",
            "*",
            "--",
            "-D",
            "warnings",
        ]);
        commands.push(target);
    }

    // The user programs (static Linux executables, no board) and the vDSO.
    let mut user = ws.cargo();
    user.args([
        "clippy",
        "-p",
        "user",
        "-p",
        "vdso",
        "--target",
        USER_TARGET,
        "--lib",
        "--bins",
        "--",
        "-D",
        "warnings",
    ]);
    commands.push(user);

    let mut failed = Vec::new();
    for mut command in commands {
        if !run_status(&mut command)? {
            failed.push(display(&command));
        }
    }
    if !breaches.is_empty() {
        failed.push(format!(
            "the layering check ({} breaches above; DESIGN.md §3, xtask/src/layers.rs)",
            breaches.len()
        ));
    }
    if !failed.is_empty() {
        bail!("lint failed:\n    {}", failed.join("\n    "));
    }
    eprintln!("xtask: lint clean");
    Ok(0)
}
