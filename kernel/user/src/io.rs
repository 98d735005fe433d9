//! `print!`/`println!` to stdout and `eprint!`/`eprintln!` to stderr, written
//! with one `write` per formatted piece.
use core::fmt;

pub struct Fd(pub usize);

impl fmt::Write for Fd {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            let n = crate::sys::write(self.0, bytes);
            if n <= 0 {
                return Err(fmt::Error);
            }
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{ let _ = core::fmt::Write::write_fmt(&mut $crate::io::Fd(1), format_args!($($arg)*)); }};
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{ $crate::print!($($arg)*); $crate::print!("\n"); }};
}

#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => {{ let _ = core::fmt::Write::write_fmt(&mut $crate::io::Fd(2), format_args!($($arg)*)); }};
}

#[macro_export]
macro_rules! eprintln {
    () => { $crate::eprint!("\n") };
    ($($arg:tt)*) => {{ $crate::eprint!($($arg)*); $crate::eprint!("\n"); }};
}
