//! Links every kernel binary (the kernel and each on-target test suite) with
//! the board's linker script plus `defmt.x`, and the test suites with
//! `embedded-test.x`.
use std::{env, path::PathBuf};

fn main() {
    let board = match (
        env::var_os("CARGO_FEATURE_BOARD_VIRT"),
        env::var_os("CARGO_FEATURE_BOARD_RPI4"),
    ) {
        (Some(_), None) => "virt",
        (None, Some(_)) => "rpi4",
        _ => {
            // Host-side tools (e.g. `cargo metadata`) may build without a board.
            println!("cargo::warning=kernel: no board feature selected (board-virt or board-rpi4)");
            return;
        }
    };
    let linker = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../linker");
    let linker = linker.canonicalize().expect("linker/ directory");
    println!("cargo::rerun-if-changed={}", linker.display());
    println!("cargo::rustc-link-arg=-L{}", linker.display());
    println!("cargo::rustc-link-arg=-T{board}.ld");
    println!("cargo::rustc-link-arg=-Tdefmt.x");
    // Only test suites depend on embedded-test (a dev-dependency), so only
    // they can find its script.
    println!("cargo::rustc-link-arg-tests=-Tembedded-test.x");
}
