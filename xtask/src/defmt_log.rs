//! Decodes the kernel's defmt console (rzCOBS frames on the PL011) into lines.
//!
//! One line per frame: `[   0.001234 INFO ] message  (kernel/src/foo.rs:12)`.
//! The format strings and their locations come from the ELF that produced the
//! frames (its `.defmt` table and DWARF line info). A binary without a `.defmt`
//! table is shown as plain text.
//!
//! The console also carries what user programs write to fds 1 and 2: the
//! kernel sends each `write` as `\0` + bytes + `\0`, so it never shares a
//! zero-terminated piece with a frame. A piece that is not a frame (and text
//! in front of a frame) is handed on as program output, byte for byte
//! ([`Piece::Output`]), apart from the log lines.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use defmt_decoder::{DecodeError, Encoding, Frame, Locations, StreamDecoder, Table};

use crate::rzcobs::{self, Splitter};
use crate::symbols::Symbols;

/// One thing the console carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// A decoded kernel log line (or a line of a binary without a defmt table).
    Log(String),
    /// Bytes that are not a defmt frame: a user program's output, exact.
    Output(Vec<u8>),
}

/// What the host knows about one binary's log statements.
pub struct LogDecoder {
    table: Option<Table>,
    locations: Locations,
    symbols: Symbols,
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
            symbols: Symbols::from_elf(elf),
            root,
        })
    }

    /// A decoder for one stream of console bytes.
    pub fn stream(&self, color: bool) -> LogStream<'_> {
        let mode = match &self.table {
            None => Mode::Text,
            Some(table) if table.encoding() == Encoding::Rzcobs => Mode::Rzcobs,
            Some(table) => Mode::Raw(table.new_stream_decoder()),
        };
        LogStream {
            owner: self,
            mode,
            color,
            pending: Splitter::default(),
        }
    }

    /// The line for one decoded rzCOBS frame, if it is a whole frame of this
    /// binary's table (nothing but padding left over).
    fn decode_frame(&self, decoded: &[u8], color: bool) -> Option<String> {
        let (frame, consumed) = self.table.as_ref()?.decode(decoded).ok()?;
        if decoded[consumed..].iter().any(|&b| b != 0) {
            return None;
        }
        Some(self.render(&frame, color))
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
            &self.symbols.annotate(&frame.display_message().to_string()),
            location.as_deref(),
            color,
        )
    }
}

/// How a stream's bytes are read.
enum Mode<'a> {
    /// No defmt table: plain text, line by line.
    Text,
    /// defmt's default encoding, decoded here so that program output
    /// between frames can be passed on.
    Rzcobs,
    /// defmt's `encoding-raw`: the library's stream decoder.
    Raw(Box<dyn StreamDecoder + Send + Sync + 'a>),
}

/// Turns console bytes into log lines as they arrive.
pub struct LogStream<'a> {
    owner: &'a LogDecoder,
    mode: Mode<'a>,
    color: bool,
    /// Bytes waiting for a frame end (zero byte) or, for text, a newline.
    pending: Splitter,
}

impl LogStream<'_> {
    /// Feeds `bytes` and hands every complete line or output piece to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut dyn FnMut(Piece)) {
        match &mut self.mode {
            Mode::Text => {
                self.pending.push(bytes);
                let mut text = self.pending.take_rest();
                while let Some(newline) = text.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = text.drain(..=newline).collect();
                    out(Piece::Log(
                        String::from_utf8_lossy(&line).trim_end().to_string(),
                    ));
                }
                self.pending.push(&text);
            }
            Mode::Rzcobs => {
                self.pending.push(bytes);
                while let Some(piece) = self.pending.next_piece() {
                    self.emit_piece(&piece, out);
                }
            }
            Mode::Raw(frames) => {
                frames.received(bytes);
                loop {
                    match frames.decode() {
                        Ok(frame) => out(Piece::Log(self.owner.render(&frame, self.color))),
                        Err(DecodeError::UnexpectedEof) => break,
                        Err(DecodeError::Malformed) => {
                            out(Piece::Log(stray(b"(malformed defmt frame)")))
                        }
                    }
                }
            }
        }
    }

    /// Hands on one zero-terminated piece: a frame, maybe after program
    /// output, or program output.
    fn emit_piece(&self, piece: &[u8], out: &mut dyn FnMut(Piece)) {
        match rzcobs::find_frame(piece, |decoded| {
            self.owner.decode_frame(decoded, self.color)
        }) {
            Some((start, line)) => {
                if start > 0 {
                    out(Piece::Output(piece[..start].to_vec()));
                }
                out(Piece::Log(line));
            }
            None => out(Piece::Output(piece.to_vec())),
        }
    }

    /// Ends the stream: hands on what never completed (text without a
    /// newline, a frame cut off by the exit, program output).
    pub fn finish(mut self, out: &mut dyn FnMut(Piece)) {
        let rest = self.pending.take_rest();
        if rest.is_empty() {
            return;
        }
        match self.mode {
            Mode::Text => out(Piece::Log(
                String::from_utf8_lossy(&rest).trim_end().to_string(),
            )),
            _ => self.emit_piece(&rest, out),
        }
    }
}

/// A line for console bytes that are not defmt frames where frames must be.
fn stray(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    format!(
        "(xtask: {} bytes outside defmt frames: \"{}\")",
        bytes.len(),
        text.escape_debug()
    )
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
    fn stray_bytes_are_shown_escaped() {
        assert_eq!(
            stray(b"ab\n\xff"),
            "(xtask: 4 bytes outside defmt frames: \"ab\\n\u{fffd}\")"
        );
    }

    #[test]
    fn plain_text_without_a_defmt_table() {
        let decoder = LogDecoder {
            table: None,
            locations: Locations::new(),
            symbols: Symbols::default(),
            root: "/".into(),
        };
        let mut stream = decoder.stream(false);
        let mut lines = Vec::new();
        let mut out = |p: Piece| lines.push(p);
        stream.push(b"hello\r\nwor", &mut out);
        stream.push(b"ld\n!", &mut out);
        stream.finish(&mut out);
        let log = |s: &str| Piece::Log(s.into());
        assert_eq!(lines, [log("hello"), log("world"), log("!")]);
    }

    #[test]
    fn program_output_passes_through_exactly() {
        // A table-less rzCOBS decoder cannot be built by hand; the piece logic
        // is the same: nothing decodes as a frame, so each piece is output.
        let decoder = LogDecoder {
            table: None,
            locations: Locations::new(),
            symbols: Symbols::default(),
            root: "/".into(),
        };
        let stream = decoder.stream(false);
        let mut pieces = Vec::new();
        stream.emit_piece(b"ok one\r\n\xff", &mut |p| pieces.push(p));
        assert_eq!(pieces, [Piece::Output(b"ok one\r\n\xff".to_vec())]);
    }
}
