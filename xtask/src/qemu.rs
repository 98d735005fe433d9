//! Every QEMU command line the tool runs is built here, and only here.
//!
//! Boards and their options are DESIGN.md §4 (verified on QEMU 10.0.2). Every
//! virt boot has the SMMUv3 and the edu device ([`QemuConfig::new`]); further
//! machine options, devices, `-initrd` and `-append` go through the fields of
//! [`QemuConfig`], not by building strings elsewhere.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Result};

use crate::board::{Board, Cpu};

/// The QEMU system emulator for AArch64 guests.
pub const QEMU: &str = "qemu-system-aarch64";

/// CPUs on `virt` when `--smp` is not given.
pub const DEFAULT_SMP: u32 = 4;

/// The SMMU every virt boot has (DESIGN.md §4: only PCIe sits behind it).
pub const VIRT_IOMMU: &str = "iommu=smmuv3";

/// The DMA device every virt boot has, with a 64-bit DMA mask.
pub const VIRT_EDU: &str = "edu,dma_mask=0xffffffffffffffff";

/// The machine QEMU emulates, with the options that apply to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `-M virt,gic-version=3 -cpu <cpu> -smp <smp> -m 1G`.
    Virt { cpu: Cpu, smp: u32 },
    /// `-M raspi4b`: 4 Cortex-A72 and 2 GiB are fixed by the model.
    Raspi4b,
}

impl Machine {
    /// The machine for `board`, rejecting options the board does not have.
    pub fn new(board: Board, cpu: Option<Cpu>, smp: Option<u32>) -> Result<Machine> {
        match board {
            Board::Virt => {
                let smp = smp.unwrap_or(DEFAULT_SMP);
                if !(1..=512).contains(&smp) {
                    bail!("--smp {smp}: virt takes 1 to 512 CPUs");
                }
                Ok(Machine::Virt {
                    cpu: cpu.unwrap_or(Cpu::CortexA72),
                    smp,
                })
            }
            Board::Rpi4 => {
                if let Some(cpu) = cpu {
                    bail!(
                        "--cpu {} does not apply to rpi4: QEMU's raspi4b always has 4 Cortex-A72 cores",
                        cpu.qemu_name()
                    );
                }
                if let Some(smp) = smp {
                    bail!("--smp {smp} does not apply to rpi4: QEMU's raspi4b always has 4 CPUs and 2 GiB");
                }
                Ok(Machine::Raspi4b)
            }
        }
    }
}

/// The `-dtb` file for a boot on `board`: only raspi4b takes one (QEMU writes
/// virt's device tree itself, with every option of the command line in it).
pub fn dtb_for(board: Board, dtb: Option<&PathBuf>) -> Result<Option<PathBuf>> {
    match (board, dtb) {
        (_, None) => Ok(None),
        (Board::Virt, Some(_)) => {
            bail!("--dtb applies to rpi4 only: QEMU makes virt's device tree")
        }
        (Board::Rpi4, Some(file)) => {
            if !file.is_file() {
                bail!("--dtb {}: no such file", file.display());
            }
            Ok(Some(file.clone()))
        }
    }
}

/// One QEMU boot: machine, image and everything passed to the guest.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub machine: Machine,
    /// The raw image (never an ELF: DESIGN.md §4 and §5).
    pub kernel: PathBuf,
    /// Extra `-M` options, appended after the board's own (e.g. `iommu=smmuv3`).
    pub machine_options: Vec<String>,
    /// `-accel`, e.g. `tcg,thread=multi` (the benchmarks: DESIGN.md §6); QEMU's default if none.
    pub accel: Option<String>,
    /// Options appended to the virt CPU model, e.g. `pauth=off` (`-cpu max,pauth=off`).
    pub cpu_options: Vec<String>,
    /// `-device` arguments (e.g. `edu,dma_mask=0xffffffffffffffff`).
    pub devices: Vec<String>,
    /// `-dtb`: a device tree for boards where QEMU does not make one (raspi4b).
    pub dtb: Option<PathBuf>,
    /// `-initrd`.
    pub initrd: Option<PathBuf>,
    /// `-append`: the kernel command line.
    pub append: Option<String>,
    /// The semihosting command line (`SYS_GET_CMDLINE`), e.g. `run_addr <addr>`.
    pub semihosting_args: Vec<String>,
}

impl QemuConfig {
    /// A boot of `kernel` on `machine` with the board's standard devices.
    ///
    /// Every virt boot (`run` and every test suite) gets the SMMUv3 in front of
    /// PCIe and the edu DMA device behind it, so the kernel's boot-time probe
    /// of both is exercised by every suite and the machine never differs
    /// between suites. Nothing else changes: only PCIe sits behind the SMMU,
    /// and the virt suites use no PCI device but edu. The edu DMA mask must
    /// be widened: its default (28 bits) silently truncates DMA addresses.
    pub fn new(machine: Machine, kernel: PathBuf) -> QemuConfig {
        let (machine_options, devices) = match machine {
            Machine::Virt { .. } => (vec![String::from(VIRT_IOMMU)], vec![String::from(VIRT_EDU)]),
            Machine::Raspi4b => (Vec::new(), Vec::new()),
        };
        QemuConfig {
            machine,
            kernel,
            machine_options,
            accel: None,
            cpu_options: Vec::new(),
            devices,
            dtb: None,
            initrd: None,
            append: None,
            semihosting_args: Vec::new(),
        }
    }

    /// The arguments after the program name.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |a: &str| args.push(a.into());
        let mut machine = match &self.machine {
            Machine::Virt { .. } => String::from("virt,gic-version=3"),
            Machine::Raspi4b => String::from("raspi4b"),
        };
        for option in &self.machine_options {
            machine.push(',');
            machine.push_str(option);
        }
        push("-M");
        push(&machine);
        if let Some(accel) = &self.accel {
            push("-accel");
            push(accel);
        }
        if let Machine::Virt { cpu, smp } = &self.machine {
            let mut cpu = String::from(cpu.qemu_name());
            for option in &self.cpu_options {
                cpu.push(',');
                cpu.push_str(option);
            }
            push("-cpu");
            push(&cpu);
            push("-smp");
            push(&smp.to_string());
            push("-m");
            push("1G");
        }
        // `-nic none`: virt's default NIC needs `efi-virtio.rom`, which a QEMU
        // installed without recommended packages lacks (and nothing uses it).
        for a in [
            "-nic", "none", "-display", "none", "-monitor", "none", "-serial", "stdio",
        ] {
            push(a);
        }
        let mut semihosting = String::from("enable=on,target=native");
        for arg in &self.semihosting_args {
            semihosting.push_str(",arg=");
            semihosting.push_str(arg);
        }
        push("-semihosting-config");
        push(&semihosting);
        for device in &self.devices {
            push("-device");
            push(device);
        }
        if let Some(append) = &self.append {
            push("-append");
            push(append);
        }
        let mut push_path = |flag: &str, path: &PathBuf| {
            args.push(flag.into());
            args.push(path.into());
        };
        if let Some(dtb) = &self.dtb {
            push_path("-dtb", dtb);
        }
        if let Some(initrd) = &self.initrd {
            push_path("-initrd", initrd);
        }
        push_path("-kernel", &self.kernel);
        args
    }

    /// The command, with stdin closed (QEMU's `-serial stdio` must not own the terminal).
    pub fn command(&self) -> Command {
        let mut command = Command::new(QEMU);
        command.args(self.args()).stdin(Stdio::null());
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(config: &QemuConfig) -> String {
        let args: Vec<String> = config
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args.join(" ")
    }

    #[test]
    fn virt_test_boot_command_line() {
        let machine = Machine::new(Board::Virt, Some(Cpu::Max), None).unwrap();
        let mut config = QemuConfig::new(machine, "/t/x.bin".into());
        config.semihosting_args = vec!["run_addr".into(), "1074266112".into()];
        assert_eq!(
            joined(&config),
            "-M virt,gic-version=3,iommu=smmuv3 -cpu max -smp 4 -m 1G -nic none -display none -monitor none -serial stdio \
             -semihosting-config enable=on,target=native,arg=run_addr,arg=1074266112 \
             -device edu,dma_mask=0xffffffffffffffff -kernel /t/x.bin"
        );
    }

    #[test]
    fn later_options_land_in_place() {
        let machine = Machine::new(Board::Virt, None, Some(2)).unwrap();
        let mut config = QemuConfig::new(machine, "k.bin".into());
        config.machine_options.push("its=off".into());
        config.devices.push("virtio-rng-pci".into());
        config.initrd = Some("init.cpio".into());
        config.append = Some("console=ttyAMA0".into());
        let line = joined(&config);
        assert!(
            line.starts_with(
                "-M virt,gic-version=3,iommu=smmuv3,its=off -cpu cortex-a72 -smp 2 -m 1G"
            ),
            "{line}"
        );
        assert!(
            line.contains("-device edu,dma_mask=0xffffffffffffffff -device virtio-rng-pci"),
            "{line}"
        );
        assert!(
            line.ends_with("-append console=ttyAMA0 -initrd init.cpio -kernel k.bin"),
            "{line}"
        );
    }

    #[test]
    fn benchmark_line_has_multithreaded_tcg_and_cpu_options() {
        let machine = Machine::new(Board::Virt, Some(Cpu::Max), Some(2)).unwrap();
        let mut config = QemuConfig::new(machine, "k.bin".into());
        config.accel = Some("tcg,thread=multi".into());
        config.cpu_options.push("pauth=off".into());
        assert!(
            joined(&config).starts_with(
                "-M virt,gic-version=3,iommu=smmuv3 -accel tcg,thread=multi -cpu max,pauth=off -smp 2 -m 1G"
            ),
            "{}",
            joined(&config)
        );
    }

    #[test]
    fn raspi4b_has_no_cpu_smp_or_memory_and_takes_a_dtb() {
        let mut config = QemuConfig::new(Machine::Raspi4b, "kernel8.img".into());
        config.dtb = Some("bcm2711-rpi-4-b.dtb".into());
        assert_eq!(
            joined(&config),
            "-M raspi4b -nic none -display none -monitor none -serial stdio \
             -semihosting-config enable=on,target=native -dtb bcm2711-rpi-4-b.dtb -kernel kernel8.img"
        );
    }

    #[test]
    fn rpi4_rejects_cpu_and_smp() {
        let err = Machine::new(Board::Rpi4, Some(Cpu::Max), None).unwrap_err();
        assert!(
            err.to_string().contains("--cpu max does not apply to rpi4"),
            "{err}"
        );
        let err = Machine::new(Board::Rpi4, None, Some(2)).unwrap_err();
        assert!(
            err.to_string().contains("--smp 2 does not apply to rpi4"),
            "{err}"
        );
        assert!(Machine::new(Board::Virt, None, Some(0)).is_err());
        assert_eq!(
            Machine::new(Board::Rpi4, None, None).unwrap(),
            Machine::Raspi4b
        );
    }
}
