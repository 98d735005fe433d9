//! `print!`/`println!` to stdout and `eprint!`/`eprintln!` to stderr. Each
//! call is formatted into a buffer on the stack and written with one `write`
//! (more only for text longer than the buffer), so lines from different
//! threads do not interleave and each reaches the console in one piece.
use core::fmt;

/// A file descriptor to write formatted text to (1 stdout, 2 stderr).
pub struct Fd(pub usize);

impl Fd {
    /// Writes all of `bytes`.
    pub fn write_all(&self, mut bytes: &[u8]) -> fmt::Result {
        while !bytes.is_empty() {
            let n = crate::sys::write(self.0, bytes);
            if n <= 0 {
                return Err(fmt::Error);
            }
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }

    /// Formats `args` and writes the text with as few `write`s as fit.
    pub fn write_fmt_buffered(&self, args: fmt::Arguments<'_>) -> fmt::Result {
        let mut buffer = Buffer {
            fd: self,
            bytes: [0; 512],
            len: 0,
        };
        fmt::write(&mut buffer, args)?;
        buffer.flush()
    }
}

impl fmt::Write for Fd {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_all(s.as_bytes())
    }
}

struct Buffer<'a> {
    fd: &'a Fd,
    bytes: [u8; 512],
    len: usize,
}

impl Buffer<'_> {
    fn flush(&mut self) -> fmt::Result {
        let len = core::mem::take(&mut self.len);
        self.fd.write_all(&self.bytes[..len])
    }
}

impl fmt::Write for Buffer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.bytes.len() {
                self.flush()?;
            }
            self.bytes[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Formats to stdout with one `write`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{ let _ = $crate::io::Fd(1).write_fmt_buffered(format_args!($($arg)*)); }};
}

/// Formats a line to stdout with one `write`.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{ let _ = $crate::io::Fd(1).write_fmt_buffered(format_args!("{}\n", format_args!($($arg)*))); }};
}

/// Formats to stderr with one `write`.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => {{ let _ = $crate::io::Fd(2).write_fmt_buffered(format_args!($($arg)*)); }};
}

/// Formats a line to stderr with one `write`.
#[macro_export]
macro_rules! eprintln {
    () => { $crate::eprint!("\n") };
    ($($arg:tt)*) => {{ let _ = $crate::io::Fd(2).write_fmt_buffered(format_args!("{}\n", format_args!($($arg)*))); }};
}
