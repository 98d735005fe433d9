//! The subcommands of `cargo xtask`, one module each.

pub mod bench;
pub mod console;
pub mod image;
pub mod lint;
pub mod run;
pub mod soak;
pub mod test;
