//! `cargo xtask image --board rpi4`: the files for a Raspberry Pi 4 SD card's
//! boot partition: `kernel8.img` (the raw kernel), `config.txt` and
//! `cmdline.txt` (with `--init`, also `initramfs.cpio`). The kernel is built
//! for hardware: without the `qemu-exit` default feature. With `--to`, they
//! are copied to the card's mounted boot partition (`boot_partition.rs`).

mod boot_partition;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::board::Board;
use crate::compile::{build_kernel, BuildOptions};
use crate::workspace::Workspace;

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// Board to make the image for (only rpi4 boots from an SD card)
    #[arg(long, value_enum, default_value = "rpi4")]
    board: Board,
    /// Output folder (default: target/rpi4-sd/)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Build with the release profile
    #[arg(long)]
    release: bool,
    /// Start this user program as init, e.g. `--init "/bin/t_mmap"`: writes the
    /// initramfs of user programs, its `initramfs` line in config.txt, and
    /// `init=...` in cmdline.txt (without it, cmdline.txt is empty: the self-check runs)
    #[arg(long, value_name = "PROGRAM ARGS")]
    init: Option<String>,
    /// Write the busybox initramfs instead (the user programs, Debian's static
    /// busybox and its applet links); `--init` defaults to /bin/sh
    #[arg(long)]
    busybox: bool,
    /// Also copy the files to this mounted SD-card boot partition (e.g.
    /// /media/$USER/bootfs), after checking that it has the Pi 4 firmware
    /// (start4.elf); the card's own files it replaces are kept once as NAME.orig
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
}

/// The first line of our `config.txt`: tells a card's `config.txt` of ours
/// from the one it came with.
pub const CONFIG_HEADER: &str =
    "# Raspberry Pi 4 boot configuration, written by `cargo xtask image --board rpi4`.";

/// The kernel ELFs `image` builds (debug, release), whose frames the board's
/// console carries: `target/xtask/<folder>/kernel.elf`, the folders being
/// `compile.rs`'s `BuildOptions::folder` for rpi4 with `hardware` set.
pub fn kernel_elfs(target_dir: &Path) -> [PathBuf; 2] {
    ["rpi4-debug-hw", "rpi4-release-hw"].map(|folder| {
        target_dir
            .join("xtask")
            .join(folder)
            .join(format!("{}.elf", crate::compile::KERNEL))
    })
}

/// The boot configuration the Pi firmware reads from the SD card.
pub fn config_txt(initramfs: bool) -> String {
    let settings = [
        ("Start the cores in AArch64 state.", "arm_64bit=1"),
        (
            "Load our raw kernel image (not an ELF).",
            "kernel=kernel8.img",
        ),
        (
            "Load it at 0x80000, where it is linked (the firmware's default moved).",
            "kernel_address=0x80000",
        ),
        (
            "Enable the UART on GPIO 14 (TXD, pin 8) and 15 (RXD, pin 10); the kernel sets the baud rate.",
            "enable_uart=1",
        ),
        (
            "Route the PL011 (not the mini UART) to GPIO 14/15; Bluetooth loses it.",
            "dtoverlay=disable-bt",
        ),
        (
            "Use the GIC-400 interrupt controller, not the legacy one.",
            "enable_gic=1",
        ),
    ];
    let mut text = format!(
        "{CONFIG_HEADER}\n\
         # Copy it with kernel8.img to the FAT boot partition next to the firmware\n\
         # (start4.elf, fixup4.dat, bcm2711-rpi-4-b.dtb).\n"
    );
    for (comment, setting) in settings {
        text.push_str(&format!("\n# {comment}\n{setting}\n"));
    }
    if initramfs {
        text.push_str(
            "\n# The user programs: loaded after the kernel; the firmware names it in the\n\
             # DT's /chosen (linux,initrd-start/end), and passes cmdline.txt as bootargs.\n\
             initramfs initramfs.cpio followkernel\n",
        );
    }
    text
}

/// The kernel command line (`cmdline.txt`, passed as the DT's `bootargs`):
/// `init=...` with a program, else empty, so that no `init=` left on the card
/// (Raspberry Pi OS's first-boot one, or an earlier `--init`'s) starts a
/// program instead of the self-check.
pub fn cmdline_txt(init: Option<&str>) -> String {
    match init {
        Some(init) => format!("init={init}\n"),
        None => "\n".to_string(),
    }
}

pub fn image(args: ImageArgs) -> Result<u8> {
    if args.board != Board::Rpi4 {
        bail!("`image` is for the Raspberry Pi 4 (--board rpi4): QEMU virt boots with `cargo xtask run`");
    }
    // Before the build: a wrong folder is said at once, not minutes later.
    if let Some(to) = &args.to {
        boot_partition::check(to)?;
    }
    let ws = Workspace::locate()?;
    let out = args.out.unwrap_or_else(|| ws.target_dir.join("rpi4-sd"));
    let options = BuildOptions {
        release: args.release,
        hardware: true,
        ..BuildOptions::default()
    };
    let kernel = build_kernel(&ws, Board::Rpi4, options)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf> {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let img = out.join("kernel8.img");
    std::fs::copy(&kernel.image, &img).with_context(|| format!("writing {}", img.display()))?;
    let mut files = vec![img];
    let cpio = out.join("initramfs.cpio");
    let init = match (&args.init, args.busybox) {
        (None, true) => Some(crate::busybox::SHELL.to_string()),
        (init, _) => init.clone(),
    };
    match &init {
        Some(_) if args.busybox => {
            let scripts = crate::busybox::suite_files(&ws)?;
            let built = crate::initramfs::build_busybox(&ws, "busybox.cpio", &scripts)?;
            std::fs::copy(&built.path, &cpio)
                .with_context(|| format!("writing {}", cpio.display()))?;
            files.push(cpio);
        }
        Some(_) => {
            let built = crate::initramfs::build(&ws)?;
            std::fs::copy(&built.path, &cpio)
                .with_context(|| format!("writing {}", cpio.display()))?;
            files.push(cpio);
        }
        // An earlier `--init`'s archive is not part of this image.
        None if cpio.exists() => std::fs::remove_file(&cpio)
            .with_context(|| format!("removing the earlier {}", cpio.display()))?,
        None => {}
    }
    files.push(write(
        "cmdline.txt",
        cmdline_txt(init.as_deref()).as_bytes(),
    )?);
    files.push(write("config.txt", config_txt(init.is_some()).as_bytes())?);
    for file in &files {
        let size = std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
        println!("wrote {} ({size} bytes)", file.display());
    }
    println!("kernel ELF (decodes the console): {}", kernel.elf.display());
    if !kernel_elfs(&ws.target_dir).contains(&kernel.elf) {
        println!(
            "(`cargo xtask console` does not look there: pass it --elf {})",
            kernel.elf.display()
        );
    }
    match &args.to {
        Some(to) => {
            boot_partition::install(&files, to, CONFIG_HEADER, &mut std::io::stdout())?;
            println!(
                "synced; unmount the card before taking it out (`umount {}` or eject it in the \
                 file manager), then watch it boot with `cargo xtask console --serial /dev/ttyUSB0`",
                to.display()
            );
        }
        None => println!(
            "copy them to the SD card's boot partition, or pass --to DIR (see README: Raspberry Pi 4)"
        ),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_starts_with_the_header_that_marks_it_ours() {
        for initramfs in [false, true] {
            let text = config_txt(initramfs);
            assert_eq!(text.lines().next(), Some(CONFIG_HEADER));
            assert_eq!(
                text.contains("initramfs initramfs.cpio followkernel"),
                initramfs
            );
        }
    }

    #[test]
    fn cmdline_names_init_only_with_a_program() {
        assert_eq!(cmdline_txt(Some("/bin/hello 3 a")), "init=/bin/hello 3 a\n");
        assert!(!cmdline_txt(None).contains("init="));
    }

    #[test]
    fn the_console_decodes_with_the_elfs_image_builds() {
        let [debug, release] = kernel_elfs(Path::new("/t"));
        assert_eq!(debug, Path::new("/t/xtask/rpi4-debug-hw/kernel.elf"));
        assert_eq!(release, Path::new("/t/xtask/rpi4-release-hw/kernel.elf"));
    }

    #[test]
    fn config_has_each_setting_after_its_comment() {
        let text = config_txt(true);
        let lines: Vec<&str> = text.lines().collect();
        for setting in [
            "arm_64bit=1",
            "kernel=kernel8.img",
            "kernel_address=0x80000",
            "enable_uart=1",
            "enable_gic=1",
            "initramfs initramfs.cpio followkernel",
        ] {
            let at = lines
                .iter()
                .position(|l| *l == setting)
                .unwrap_or_else(|| panic!("{setting} missing"));
            assert!(
                lines[at - 1].starts_with("# "),
                "no comment above {setting}"
            );
        }
    }
}
