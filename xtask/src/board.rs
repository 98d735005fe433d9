//! The boards the kernel runs on, and the CPU models QEMU can give `virt`.
//!
//! Names here are the ones used on the command line (`--board virt|rpi4`,
//! `--cpu cortex-a72|max`), as Cargo features (`board-<name>`) and in suite labels.

use clap::ValueEnum;

/// A board the kernel is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Board {
    /// QEMU `virt` (GICv3, PSCI, PCIe).
    Virt,
    /// Raspberry Pi 4 (QEMU `raspi4b` or the real board).
    Rpi4,
}

impl Board {
    /// Every board, in the order suites run.
    pub const ALL: [Board; 2] = [Board::Virt, Board::Rpi4];

    /// The command-line and suite-label name.
    pub fn name(self) -> &'static str {
        match self {
            Board::Virt => "virt",
            Board::Rpi4 => "rpi4",
        }
    }

    /// The `kernel` crate's feature that selects this board.
    pub fn feature(self) -> String {
        format!("board-{}", self.name())
    }

    /// Where the raw image is loaded and entered (QEMU `-kernel`, Pi firmware).
    pub fn load_address(self) -> u64 {
        match self {
            Board::Virt => 0x4008_0000,
            Board::Rpi4 => 0x8_0000,
        }
    }
}

/// A CPU model for QEMU `virt` (`-cpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Cpu {
    /// Cortex-A72, the Raspberry Pi 4's core (ARMv8.0).
    CortexA72,
    /// QEMU's `max`: every feature QEMU implements (ARMv8.x/9.x).
    Max,
}

impl Cpu {
    /// Every CPU model `cargo xtask test` runs the `virt` suites under.
    pub const ALL: [Cpu; 2] = [Cpu::CortexA72, Cpu::Max];

    /// QEMU's name for the model, also used in suite labels.
    pub fn qemu_name(self) -> &'static str {
        match self {
            Cpu::CortexA72 => "cortex-a72",
            Cpu::Max => "max",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_names_match_qemu_and_feature_names() {
        assert_eq!(
            Cpu::CortexA72.to_possible_value().unwrap().get_name(),
            "cortex-a72"
        );
        assert_eq!(
            Cpu::Max.to_possible_value().unwrap().get_name(),
            Cpu::Max.qemu_name()
        );
        assert_eq!(Board::Rpi4.to_possible_value().unwrap().get_name(), "rpi4");
        assert_eq!(Board::Virt.feature(), "board-virt");
        assert_eq!(Board::Virt.load_address(), 0x4008_0000);
        assert_eq!(Board::Rpi4.load_address(), 0x80000);
    }
}
