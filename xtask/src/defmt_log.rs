//! Decodes the kernel's defmt console (rzCOBS frames on the PL011) into lines.
//!
//! One line per frame: `[   0.001234 INFO ] message  (kernel/src/foo.rs:12)`.
//! The format strings and their locations come from the ELF that produced the
//! frames (its `.defmt` table and DWARF line info). A binary without a `.defmt`
//! table is shown as plain text.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use defmt_decoder::{DecodeError, Frame, Locations, StreamDecoder, Table};

/// What the host knows about one binary's log statements.
pub struct LogDecoder {
    table: Option<Table>,
    locations: Locations,
    /// Paths under this folder are shown relative to it.
    root: String,
}

impl LogDecoder {
    /// Reads the defmt table and log locations of `elf`.
    pub fn from_elf(elf: &[u8], root: &Path) -> Result<LogDecoder> {
        let table = Table::parse(elf).context("reading the defmt table")?;
        let locations = match &table {
            Some(table) => table.get_locations(elf).unwrap_or_default(),
            None => Locations::new(),
        };
        let mut root = root.display().to_string();
        if !root.ends_with('/') {
            root.push('/');
        }
        Ok(LogDecoder {
            table,
            locations,
            root,
        })
    }

    /// A decoder for one stream of console bytes.
    pub fn stream(&self, color: bool) -> LogStream<'_> {
        LogStream {
            owner: self,
            frames: self.table.as_ref().map(|t| t.new_stream_decoder()),
            color,
            text: Vec::new(),
        }
    }

    fn render(&self, frame: &Frame<'_>, color: bool) -> String {
        let timestamp = frame.display_timestamp().map(|t| t.to_string());
        let level = frame.level().map(|l| l.as_str());
        let location = self.locations.get(&frame.index()).map(|l| {
            format!(
                "{}:{}",
                short_path(&l.file.display().to_string(), &self.root),
                l.line
            )
        });
        format_line(
            timestamp.as_deref(),
            level,
            &frame.display_message().to_string(),
            location.as_deref(),
            color,
        )
    }
}

/// Turns console bytes into log lines as they arrive.
pub struct LogStream<'a> {
    owner: &'a LogDecoder,
    frames: Option<Box<dyn StreamDecoder + Send + Sync + 'a>>,
    color: bool,
    /// Undecoded bytes: plain-text output (no defmt table) waiting for a newline.
    text: Vec<u8>,
}

impl LogStream<'_> {
    /// Feeds `bytes` and hands every complete line to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut dyn FnMut(String)) {
        let Some(frames) = self.frames.as_mut() else {
            self.text.extend_from_slice(bytes);
            while let Some(newline) = self.text.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.text.drain(..=newline).collect();
                out(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            return;
        };
        frames.received(bytes);
        loop {
            match frames.decode() {
                Ok(frame) => out(self.owner.render(&frame, self.color)),
                Err(DecodeError::UnexpectedEof) => break,
                Err(DecodeError::Malformed) => {
                    out("(xtask: malformed defmt frame skipped)".to_string())
                }
            }
        }
    }

    /// Ends the stream: plain text without a final newline is still a line.
    pub fn finish(self, out: &mut dyn FnMut(String)) {
        if !self.text.is_empty() {
            out(String::from_utf8_lossy(&self.text).trim_end().to_string());
        }
    }
}

/// Shortens a source path for display: relative to the workspace, or from the
/// crate folder for registry crates (`embedded-test-0.7.3/src/lib.rs`).
pub fn short_path(file: &str, root: &str) -> String {
    if let Some(rest) = file.strip_prefix(root) {
        return rest.to_string();
    }
    if let Some(index) = file.find("/registry/src/") {
        let after = &file[index + "/registry/src/".len()..];
        if let Some((_index_dir, rest)) = after.split_once('/') {
            return rest.to_string();
        }
    }
    file.to_string()
}

/// Formats one decoded frame; the level is coloured when `color` is set.
pub fn format_line(
    timestamp: Option<&str>,
    level: Option<&str>,
    message: &str,
    location: Option<&str>,
    color: bool,
) -> String {
    let mut line = String::new();
    if timestamp.is_some() || level.is_some() {
        line.push('[');
        if let Some(timestamp) = timestamp {
            let _ = write!(line, "{timestamp:>11}");
            if level.is_some() {
                line.push(' ');
            }
        }
        if let Some(level) = level {
            let name = level.to_ascii_uppercase();
            let padded = format!("{name:<5}");
            match (color, level_color(level)) {
                (true, Some(code)) => {
                    let _ = write!(line, "\x1b[{code}m{padded}\x1b[0m");
                }
                _ => line.push_str(&padded),
            }
        }
        line.push_str("] ");
    }
    line.push_str(message);
    if let Some(location) = location {
        let _ = write!(line, "  ({location})");
    }
    line
}

/// ANSI SGR code for a defmt level name.
fn level_color(level: &str) -> Option<&'static str> {
    Some(match level {
        "error" => "1;31",
        "warn" => "1;33",
        "info" => "32",
        "debug" => "34",
        "trace" => "2",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_layout() {
        assert_eq!(
            format_line(
                Some("0.001234"),
                Some("info"),
                "4 CPUs online",
                Some("kernel/src/smp.rs:12"),
                false
            ),
            "[   0.001234 INFO ] 4 CPUs online  (kernel/src/smp.rs:12)"
        );
        assert_eq!(
            format_line(None, Some("error"), "boom", None, false),
            "[ERROR] boom"
        );
        assert_eq!(
            format_line(Some("12.000001"), None, "println", None, false),
            "[  12.000001] println"
        );
        assert_eq!(format_line(None, None, "plain", None, false), "plain");
    }

    #[test]
    fn only_the_level_is_coloured() {
        assert_eq!(
            format_line(Some("0.5"), Some("warn"), "m", None, true),
            "[        0.5 \x1b[1;33mWARN \x1b[0m] m"
        );
    }

    #[test]
    fn paths_are_shortened() {
        assert_eq!(
            short_path("/work/main/kernel/src/main.rs", "/work/main/"),
            "kernel/src/main.rs"
        );
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/embedded-test-0.7.3/src/export.rs",
                "/work/main/"
            ),
            "embedded-test-0.7.3/src/export.rs"
        );
        assert_eq!(
            short_path("/rustc/abc/library/core/src/panic.rs", "/w/"),
            "/rustc/abc/library/core/src/panic.rs"
        );
    }

    #[test]
    fn plain_text_without_a_defmt_table() {
        let decoder = LogDecoder {
            table: None,
            locations: Locations::new(),
            root: "/".into(),
        };
        let mut stream = decoder.stream(false);
        let mut lines = Vec::new();
        stream.push(b"hello\r\nwor", &mut |l| lines.push(l));
        stream.push(b"ld\n!", &mut |l| lines.push(l));
        stream.finish(&mut |l| lines.push(l));
        assert_eq!(lines, ["hello", "world", "!"]);
    }
}
