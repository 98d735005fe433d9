//! Prints its arguments and exits with the status given as its first argument.
#![no_std]
#![no_main]
use user::println;

fn main(args: &user::Args) -> i32 {
    println!("hello from EL0: argc={}", args.argc);
    for (i, a) in args.args().enumerate() {
        println!("argv[{i}] = {a}");
    }
    args.arg(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

user::entry!(main);
