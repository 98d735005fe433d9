//! `cargo xtask`: the project's host tool.
//!
//! Builds the kernel and its on-target test suites, boots them under QEMU as raw
//! images, decodes the defmt console live, runs each on-target test in its own
//! boot, writes the Raspberry Pi 4 SD-card files and runs the linters
//! (DESIGN.md §3-§5). `cargo xtask --help` lists the commands.

mod benchreport;
mod board;
mod boot;
mod busybox;
mod cmd;
mod compile;
mod debian;
mod defmt_log;
mod initramfs;
mod layers;
mod linux;
mod qemu;
mod raw_image;
mod report;
mod stock_decoder;
mod symbols;
mod testlist;
mod toolchain;
mod tools;
mod user_tests;
mod verdict;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    about = "Build, boot and test the kernel under QEMU",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the kernel, boot it under QEMU, stream its decoded log, exit with its status
    Run(cmd::run::RunArgs),
    /// Host unit tests, then every on-target suite on every board, one QEMU boot per test
    Test(cmd::test::TestArgs),
    /// This kernel vs Linux on the same QEMU machine and the host walker vs aarch64-paging:
    /// report and chart under target/bench/ (`--which sched|aspace`: one in-kernel benchmark)
    Bench(cmd::bench::BenchArgs),
    /// Minutes of the soak (threads faulting, protecting, unmapping, remapping,
    /// futex waits, DMA on every CPU), ending with its leak checks
    Soak(cmd::soak::SoakArgs),
    /// Write kernel8.img, config.txt and cmdline.txt for a Raspberry Pi 4 SD card
    /// (`--to DIR`: and copy them to its mounted boot partition)
    Image(cmd::image::ImageArgs),
    /// A real board's serial console: decode its log live, send it the keys typed
    Console(cmd::console::ConsoleArgs),
    /// rustfmt and clippy (warnings denied) for host and target crates
    Lint,
    /// Fetch Debian's arm64 kernel package (Pi 4 device tree, Linux image) and
    /// busybox-static (the busybox initramfs) into target/debian
    #[command(visible_alias = "fetch-debian")]
    FetchDebianKernel,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every command builds for the target or runs its tools: complete the
    // pinned toolchain first (rust-toolchain.toml's targets and components).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Err(error) = toolchain::ensure(&root) {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Test(args) => cmd::test::test(args),
        Command::Bench(args) => cmd::bench::bench(args),
        Command::Soak(args) => cmd::soak::soak(args),
        Command::Image(args) => cmd::image::image(args),
        Command::Console(args) => cmd::console::console(args),
        Command::Lint => cmd::lint::lint(),
        Command::FetchDebianKernel => workspace::Workspace::locate().and_then(|ws| {
            debian::all_packages(&ws)?;
            let k = debian::kernel_package(&ws)?;
            eprintln!("xtask: {} in {}", k.package, k.root.display());
            eprintln!("xtask:   image {}", k.image()?.display());
            eprintln!(
                "xtask:   Raspberry Pi 4 device tree {}",
                k.rpi4_dtb()?.display()
            );
            let busybox = debian::busybox(&ws)?;
            let applets = initramfs::applets(&std::fs::read(&busybox)?)?;
            eprintln!(
                "xtask: busybox {} ({} applets)",
                busybox.display(),
                applets.len()
            );
            Ok(0)
        }),
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn cli_parses_the_documented_forms() {
        use clap::Parser;
        let parse = |line: &str| super::Cli::try_parse_from(line.split_whitespace());
        assert!(parse("xtask run --board rpi4 --release --timeout 30").is_ok());
        assert!(parse("xtask run --cpu max --smp 2").is_ok());
        assert!(parse("xtask run -- /bin/hello 3").is_ok());
        assert!(parse("xtask run --initrd x.cpio --linux -- /bin/t_mmap").is_ok());
        assert!(parse("xtask run --linux").is_err());
        assert!(parse("xtask run --busybox").is_ok());
        assert!(parse("xtask run --board rpi4 --busybox -- /bin/sh").is_ok());
        assert!(parse("xtask run --linux --busybox -- /bin/sh /etc/scripts/pipes.sh").is_ok());
        assert!(parse("xtask run --linux --busybox-script t.sh").is_ok());
        assert!(parse("xtask run --busybox --initrd x.cpio").is_err());
        assert!(parse("xtask image --board rpi4 --busybox").is_ok());
        assert!(parse("xtask fetch-debian").is_ok());
        assert!(parse("xtask test --board all --cpu max --target -j 2 exceptions").is_ok());
        assert!(parse("xtask test --host --target").is_err());
        assert!(parse("xtask run --board pi").is_err());
        assert!(parse("xtask image --board rpi4 --out /tmp/sd").is_ok());
        assert!(parse("xtask image --board rpi4 --to /media/u/bootfs --init /bin/hello").is_ok());
        assert!(parse("xtask console --serial /dev/ttyUSB0").is_ok());
        assert!(parse("xtask console --serial /dev/ttyUSB0 --baud 921600 --elf k.elf").is_ok());
        assert!(parse("xtask console").is_err());
        assert!(parse("xtask console --serial /dev/ttyUSB0 --baud fast").is_err());
        assert!(parse("xtask lint").is_ok());
        assert!(parse("xtask soak --minutes 2").is_ok());
        assert!(parse("xtask soak --board rpi4").is_ok());
        assert!(parse("xtask bench --cpu max --validation").is_ok());
        assert!(parse("xtask bench --which aspace --cpu cortex-a72").is_ok());
        assert!(parse("xtask bench --kernels linux --boots 2 --runs 7 --smp 4 --no-host").is_ok());
        assert!(parse("xtask bench --kernels nobody").is_err());
    }
}
