//! `cargo xtask soak --minutes N`: the soak program (`/bin/t_soak`) as init
//! for N minutes on the debug kernel: four threads fault, protect, unmap,
//! remap and wait on futexes with short timeouts while the DMA device
//! copies, on every CPU of the machine; it ends with its checks (every tag
//! intact, every call as expected, the free frames and the table pages back
//! where they started). `cargo xtask test` runs three seconds of it.

use anyhow::Result;
use clap::Args;

use crate::board::{Board, Cpu};
use crate::cmd::run::{run, RunArgs};

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// How long the stress runs, in minutes
    #[arg(long, default_value_t = 5)]
    minutes: u64,
    /// Board to build for and emulate
    #[arg(long, value_enum, default_value = "virt")]
    board: Board,
    /// CPU model (virt only)
    #[arg(long, value_enum, default_value = "max")]
    cpu: Cpu,
}

/// The soak's status: the program's (0 iff every check passed).
pub fn soak(args: SoakArgs) -> Result<u8> {
    let seconds = args.minutes.max(1) * 60;
    let cpu = (args.board == Board::Virt).then_some(args.cpu);
    // Booting, the warm-up and the final checks take well under two minutes.
    let timeout = Some(seconds + 120);
    run(RunArgs::program(
        args.board,
        cpu,
        None,
        timeout,
        vec!["/bin/t_soak".into(), seconds.to_string()],
    ))
}
