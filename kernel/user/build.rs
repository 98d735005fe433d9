//! Links every user program at Linux's usual static-executable base with one
//! segment per permission (text RX, rodata R, data/bss RW): W^X on both kernels.
use std::{env, path::PathBuf};

fn main() {
    if env::var("TARGET").as_deref() != Ok("aarch64-unknown-none") {
        return;
    }
    let linker = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../linker");
    let linker = linker.canonicalize().expect("linker/ directory");
    println!(
        "cargo::rerun-if-changed={}",
        linker.join("user.ld").display()
    );
    println!(
        "cargo::rustc-link-arg-bins=-T{}",
        linker.join("user.ld").display()
    );
    println!("cargo::rustc-link-arg-bins=-zmax-page-size=4096");
}
