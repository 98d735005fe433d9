//! What user programs write to fds 1 and 2, as `defmt` frames.
//!
//! The console carries nothing but defmt frames, so the stock `defmt-print`
//! shows program output in order with the kernel's log, and the host's
//! decoder (`xtask/src/defmt_log.rs`) gets the bytes back exactly without
//! guessing. Three `println!` call sites, told apart by their format string
//! (the host finds them by it in the ELF's `.defmt` symbols, so no other
//! `println!` in this crate may use these three strings):
//!
//! | format | carries | the host appends |
//! |---|---|---|
//! | `{=str}` | a line, its `\n` dropped | `\n` |
//! | `{}` (a `&str`) | text with no `\n` after it (the end of a write, a long line's piece) | nothing |
//! | `{=[u8]:a}` | bytes that are not UTF-8, newlines included (shown as `b"caf\xc3"`) | nothing |
//!
//! One frame holds at most [`LINE_MAX`] bytes: a frame is sent with IRQs
//! masked under the console lock, as the raw writes before it were.

/// The longest piece sent as one frame (about 22 ms at 115200 baud).
pub const LINE_MAX: usize = 256;

/// Frames one `write`'s bytes: whole lines as they complete, the rest when
/// the write ends ([`UserOutput::finish`]).
pub struct UserOutput {
    pending: [u8; LINE_MAX],
    len: usize,
}

impl Default for UserOutput {
    fn default() -> Self {
        Self::new()
    }
}

impl UserOutput {
    /// No pending text.
    pub const fn new() -> Self {
        Self {
            pending: [0; LINE_MAX],
            len: 0,
        }
    }

    /// Adds bytes the program wrote; sends every line they complete.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = LINE_MAX - self.len;
            let take = match bytes.iter().position(|&b| b == b'\n') {
                Some(newline) if newline < room => {
                    self.pending[self.len..self.len + newline].copy_from_slice(&bytes[..newline]);
                    self.len += newline;
                    self.send(true);
                    bytes = &bytes[newline + 1..];
                    continue;
                }
                _ => bytes.len().min(room),
            };
            self.pending[self.len..self.len + take].copy_from_slice(&bytes[..take]);
            self.len += take;
            bytes = &bytes[take..];
            if self.len == LINE_MAX {
                self.send_full();
            }
        }
    }

    /// Sends what is left of the write (text without its newline yet).
    pub fn finish(mut self) {
        if self.len > 0 {
            self.send(false);
        }
    }

    /// A full buffer without a newline: sends it, keeping back a UTF-8
    /// sequence cut at its end so that the piece stays text.
    fn send_full(&mut self) {
        let cut = match core::str::from_utf8(&self.pending) {
            Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
            _ => LINE_MAX,
        };
        let kept = LINE_MAX - cut;
        self.len = cut;
        self.send(false);
        self.pending.copy_within(cut..cut + kept, 0);
        self.len = kept;
    }

    /// Sends `pending[..len]` as one frame (two if part of it is not UTF-8)
    /// and empties it; `line` when a newline ended it.
    fn send(&mut self, line: bool) {
        let piece = &self.pending[..self.len];
        match core::str::from_utf8(piece) {
            Ok(text) if line => send_line(text),
            Ok(text) => send_text(text),
            Err(e) => {
                let (text, rest) = piece.split_at(e.valid_up_to());
                // The first `valid_up_to` bytes are UTF-8 by definition.
                send_text(core::str::from_utf8(text).unwrap_or_default());
                if line {
                    let mut bytes = [0u8; LINE_MAX + 1];
                    bytes[..rest.len()].copy_from_slice(rest);
                    bytes[rest.len()] = b'\n';
                    send_bytes(&bytes[..rest.len() + 1]);
                } else {
                    send_bytes(rest);
                }
            }
        }
        self.len = 0;
    }
}

// One call site per format string: the host tells them apart by it.

fn send_line(text: &str) {
    defmt::println!("{=str}", text);
}

fn send_text(text: &str) {
    if !text.is_empty() {
        defmt::println!("{}", text);
    }
}

fn send_bytes(bytes: &[u8]) {
    defmt::println!("{=[u8]:a}", bytes);
}
