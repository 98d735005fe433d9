//! `cargo xtask image --board rpi4`: the files for a Raspberry Pi 4 SD card's
//! boot partition: `kernel8.img` (the raw kernel) and `config.txt`. The kernel
//! is built for hardware: without the `qemu-exit` default feature.

use std::path::PathBuf;

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
    /// `init=...` in cmdline.txt
    #[arg(long, value_name = "PROGRAM ARGS")]
    init: Option<String>,
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
    let mut text = String::from(
        "# Raspberry Pi 4 boot configuration, written by `cargo xtask image --board rpi4`.\n\
         # Copy it with kernel8.img to the FAT boot partition next to the firmware\n\
         # (start4.elf, fixup4.dat, bcm2711-rpi-4-b.dtb).\n",
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

pub fn image(args: ImageArgs) -> Result<u8> {
    if args.board != Board::Rpi4 {
        bail!("`image` is for the Raspberry Pi 4 (--board rpi4): QEMU virt boots with `cargo xtask run`");
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
    let img = out.join("kernel8.img");
    std::fs::copy(&kernel.image, &img).with_context(|| format!("writing {}", img.display()))?;
    let config = out.join("config.txt");
    std::fs::write(&config, config_txt(args.init.is_some()))
        .with_context(|| format!("writing {}", config.display()))?;
    if let Some(init) = &args.init {
        let cpio = crate::initramfs::build(&ws)?;
        let dest = out.join("initramfs.cpio");
        std::fs::copy(&cpio.path, &dest).with_context(|| format!("writing {}", dest.display()))?;
        let cmdline = out.join("cmdline.txt");
        std::fs::write(&cmdline, format!("init={init}\n"))
            .with_context(|| format!("writing {}", cmdline.display()))?;
        println!("wrote {} and {}", dest.display(), cmdline.display());
    }
    let size = std::fs::metadata(&img)?.len();
    println!("wrote {} ({size} bytes)", img.display());
    println!("wrote {}", config.display());
    println!("copy them to the SD card's boot partition (see README: Raspberry Pi 4)");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
