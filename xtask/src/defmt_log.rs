//! Decodes the kernel's defmt console (frames on the PL011) into lines.
//!
//! One line per frame: `[   0.001234 INFO ] message  (kernel/src/foo.rs:12)`.
//! The format strings and their locations come from the ELF that produced the
//! frames (its `.defmt` table and DWARF line info); the frames themselves are
//! cut and decoded by `defmt-decoder`'s stream decoder, as `defmt-print` does.
//! A binary without a `.defmt` table is shown as plain text.
//!
//! The console also carries what user programs write to fds 1 and 2, in
//! frames of three `println!` call sites of the kernel
//! (`kernel/src/console/user_output.rs`), found here by their format strings.
//! Those frames come back as the program's bytes, exactly ([`Piece::Output`]).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use defmt_decoder::{DecodeError, Frame, Locations, StreamDecoder, Table};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::symbols::Symbols;

/// One thing the console carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// A decoded kernel log line (or a line of a binary without a defmt table).
    Log(String),
    /// What a user program wrote, exactly.
    Output(Vec<u8>),
}

/// The kinds of user-output frame (see `kernel/src/console/user_output.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutputKind {
    /// `{=str}`: a line without its newline.
    Line,
    /// `{}` of a `&str`: text not followed by a newline.
    Text,
    /// `{=[u8]:a}`: bytes that are not UTF-8, shown as a byte string.
    Bytes,
}

impl OutputKind {
    const ALL: [(OutputKind, &'static str); 3] = [
        (OutputKind::Line, "{=str}"),
        (OutputKind::Text, "{}"),
        (OutputKind::Bytes, "{=[u8]:a}"),
    ];

    /// The program's bytes for a frame of this kind, from its message.
    fn bytes(self, message: &str) -> Option<Vec<u8>> {
        match self {
            OutputKind::Line => Some(format!("{message}\n").into_bytes()),
            OutputKind::Text => Some(message.as_bytes().to_vec()),
            OutputKind::Bytes => parse_byte_string(message),
        }
    }
}

/// Reads back defmt's `:a` display of bytes: `b"ab\n\xff"`.
fn parse_byte_string(shown: &str) -> Option<Vec<u8>> {
    let inner = shown.strip_prefix("b\"")?.strip_suffix('"')?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        bytes.push(match chars.next()? {
            b't' => b'\t',
            b'n' => b'\n',
            b'r' => b'\r',
            b'"' => b'"',
            b'\\' => b'\\',
            b'x' => {
                let hex = [chars.next()?, chars.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            _ => return None,
        });
    }
    Some(bytes)
}

/// The table indices of the kernel's user-output frames: the `.defmt`
/// symbols of crate `kernel` with tag `defmt_println` and one of the three
/// format strings. More than one site per string is refused (the output
/// could not be told from a log line).
fn output_indices(elf: &[u8]) -> Result<Vec<(u64, OutputKind)>> {
    #[derive(serde::Deserialize)]
    struct DefmtSymbol {
        tag: String,
        data: String,
        crate_name: Option<String>,
    }
    let file = object::File::parse(elf).context("parsing the ELF")?;
    let sections: Vec<_> = file
        .sections()
        .filter(|s| {
            s.name()
                .is_ok_and(|n| n == ".defmt" || n.starts_with(".defmt."))
        })
        .map(|s| s.index())
        .collect();
    let mut found = Vec::new();
    for symbol in file.symbols() {
        if !symbol
            .section_index()
            .is_some_and(|i| sections.contains(&i))
        {
            continue;
        }
        let Ok(name) = symbol.name() else { continue };
        let Ok(parsed) = serde_json::from_str::<DefmtSymbol>(name) else {
            continue;
        };
        if parsed.tag != "defmt_println" || parsed.crate_name.as_deref() != Some("kernel") {
            continue;
        }
        if let Some((kind, _)) = OutputKind::ALL.iter().find(|(_, f)| *f == parsed.data) {
            found.push((symbol.address(), *kind));
        }
    }
    for (kind, format) in OutputKind::ALL {
        let sites = found.iter().filter(|(_, k)| *k == kind).count();
        if sites > 1 {
            bail!(
                "the kernel has {sites} `defmt::println!(\"{format}\", ..)` call sites: that format \
                 is reserved for user-program output (kernel/src/console/user_output.rs)"
            );
        }
    }
    Ok(found)
}

/// What the host knows about one binary's log statements.
pub struct LogDecoder {
    table: Option<Table>,
    locations: Locations,
    symbols: Symbols,
    /// Table indices of the user-output frames.
    output: Vec<(u64, OutputKind)>,
    /// Paths under this folder are shown relative to it.
    root: String,
}

impl LogDecoder {
    /// Reads the defmt table, log locations and user-output frames of `elf`.
    pub fn from_elf(elf: &[u8], root: &Path) -> Result<LogDecoder> {
        let table = Table::parse(elf).context("reading the defmt table")?;
        let locations = match &table {
            Some(table) => table.get_locations(elf).unwrap_or_default(),
            None => Locations::new(),
        };
        let output = match &table {
            Some(_) => output_indices(elf)?,
            None => Vec::new(),
        };
        let mut root = root.display().to_string();
        if !root.ends_with('/') {
            root.push('/');
        }
        Ok(LogDecoder {
            table,
            locations,
            symbols: Symbols::from_elf(elf),
            output,
            root,
        })
    }

    /// A decoder for one stream of console bytes.
    pub fn stream(&self, color: bool) -> LogStream<'_> {
        let mode = match &self.table {
            None => Mode::Text(Vec::new()),
            Some(table) => Mode::Frames(table.new_stream_decoder()),
        };
        LogStream {
            owner: self,
            mode,
            color,
        }
    }

    /// What one frame stands for: program output or a log line.
    fn piece(&self, frame: &Frame<'_>, color: bool) -> Piece {
        let kind = self
            .output
            .iter()
            .find(|(index, _)| *index == frame.index())
            .map(|(_, kind)| *kind);
        if let Some(kind) = kind {
            let message = frame.display_message().to_string();
            match kind.bytes(&message) {
                Some(bytes) => return Piece::Output(bytes),
                None => return Piece::Log(stray(message.as_bytes())),
            }
        }
        Piece::Log(self.render(frame, color))
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
    /// No defmt table: plain text, line by line (the bytes of a line not
    /// yet ended).
    Text(Vec<u8>),
    /// defmt frames, in the table's encoding.
    Frames(Box<dyn StreamDecoder + Send + Sync + 'a>),
}

/// Turns console bytes into log lines and program output as they arrive.
pub struct LogStream<'a> {
    owner: &'a LogDecoder,
    mode: Mode<'a>,
    color: bool,
}

impl LogStream<'_> {
    /// Feeds `bytes` and hands every complete line or output piece to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut dyn FnMut(Piece)) {
        match &mut self.mode {
            Mode::Text(pending) => {
                pending.extend_from_slice(bytes);
                while let Some(newline) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=newline).collect();
                    out(Piece::Log(
                        String::from_utf8_lossy(&line).trim_end().to_string(),
                    ));
                }
            }
            Mode::Frames(frames) => {
                frames.received(bytes);
                loop {
                    match frames.decode() {
                        Ok(frame) => out(self.owner.piece(&frame, self.color)),
                        Err(DecodeError::UnexpectedEof) => break,
                        Err(DecodeError::Malformed) => {
                            out(Piece::Log("(xtask: malformed defmt frame)".into()))
                        }
                    }
                }
            }
        }
    }

    /// Ends the stream: hands on text without a newline (a frame cut off by
    /// the exit cannot be decoded and is dropped).
    pub fn finish(self, out: &mut dyn FnMut(Piece)) {
        if let Mode::Text(rest) = self.mode {
            if !rest.is_empty() {
                out(Piece::Log(
                    String::from_utf8_lossy(&rest).trim_end().to_string(),
                ));
            }
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

    fn text_decoder() -> LogDecoder {
        LogDecoder {
            table: None,
            locations: Locations::new(),
            symbols: Symbols::default(),
            output: Vec::new(),
            root: "/".into(),
        }
    }

    #[test]
    fn plain_text_without_a_defmt_table() {
        let decoder = text_decoder();
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
    fn each_output_kind_gives_back_the_bytes() {
        assert_eq!(OutputKind::Line.bytes("ok one"), Some(b"ok one\n".to_vec()));
        assert_eq!(OutputKind::Text.bytes("$ "), Some(b"$ ".to_vec()));
        assert_eq!(OutputKind::Line.bytes(""), Some(b"\n".to_vec()));
    }

    #[test]
    fn byte_strings_are_read_back() {
        assert_eq!(
            parse_byte_string(r#"b"a \t\n\r\"\\\xff\x00z""#),
            Some(b"a \t\n\r\"\\\xff\x00z".to_vec())
        );
        assert_eq!(parse_byte_string(r#"b"""#), Some(Vec::new()));
        // Not a byte string, a cut escape, an unknown escape.
        assert_eq!(parse_byte_string("[1, 2]"), None);
        assert_eq!(parse_byte_string(r#"b"\x4""#), None);
        assert_eq!(parse_byte_string(r#"b"\q""#), None);
    }
}
