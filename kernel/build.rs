//! Links every kernel binary (the kernel and each on-target test suite) with
//! the board's linker script plus `defmt.x`, and the test suites with
//! `embedded-test.x`; builds the vDSO (`kernel/vdso`) into `$OUT_DIR/vdso.so`,
//! which the kernel includes.
use std::{env, path::Path, path::PathBuf, process::Command};

/// Compiles `kernel/vdso/src/lib.rs` for the target into an object and links it with
/// `vdso.lds` into a shared object: position independent, no relocations (the script
/// asserts it), no undefined symbol (`-z defs`), no build id.
fn build_vdso(out: &Path) {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("vdso");
    println!("cargo::rerun-if-changed={}", dir.display());
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // User code (EL0), built as the user programs are: the kernel's own target is the
    // soft-float one, and the vDSO runs in user processes.
    let target = "aarch64-unknown-none";
    let object = out.join("vdso.o");
    let status = Command::new(&rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "lib",
            "--crate-name",
            "vdso",
        ])
        .args(["--target", target, "--emit", "obj"])
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
            "-C",
            "relocation-model=pic",
        ])
        .args(["-C", "code-model=small", "-C", "debug-assertions=off"])
        .args(["-C", "overflow-checks=off", "-C", "debuginfo=0"])
        .arg(dir.join("src/lib.rs"))
        .arg("-o")
        .arg(&object)
        .status()
        .expect("running rustc for the vDSO");
    assert!(status.success(), "compiling the vDSO failed");
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc --print sysroot");
    let sysroot = String::from_utf8(sysroot.stdout).expect("a UTF-8 sysroot path");
    let host = env::var("HOST").expect("cargo sets HOST");
    let lld = Path::new(sysroot.trim()).join(format!("lib/rustlib/{host}/bin/rust-lld"));
    let status = Command::new(&lld)
        .args(["-flavor", "gnu", "-shared", "-Bsymbolic", "-z", "defs"])
        .args([
            "-z",
            "max-page-size=4096",
            "-z",
            "noexecstack",
            "--hash-style=sysv",
        ])
        .args(["--build-id=none", "-soname", "linux-vdso.so.1", "-T"])
        .arg(dir.join("vdso.lds"))
        .arg(&object)
        .arg("-o")
        .arg(out.join("vdso.so"))
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", lld.display()));
    assert!(status.success(), "linking the vDSO failed");
}

fn main() {
    if env::var("TARGET").is_ok_and(|t| t.starts_with("aarch64")) {
        build_vdso(&PathBuf::from(env::var("OUT_DIR").unwrap()));
    }
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
