//! rzCOBS, defmt's default frame encoding, read from a console that may also
//! carry bytes that are not frames (plain text written straight to the UART).
//!
//! A frame is rzCOBS-encoded (no zero bytes) and ends with a zero byte. The
//! decoder works from the end of the frame backwards, so bytes written before a
//! frame come out as a prefix that does not decode: [`find_frame`] looks for
//! the longest suffix that is a valid frame and hands back the rest as text.

/// Frames longer than this are not searched for a stray prefix.
const MAX_SEARCH: usize = 4096;

/// Decodes one frame (without its terminating zero). The result may end in up
/// to six zero bytes of padding from the last group.
pub fn decode(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 7 + 7);
    let mut bytes = data.iter().rev().copied();
    while let Some(header) = bytes.next() {
        match header {
            0 => return None,
            0x01..=0x7f => {
                // Seven bytes; a set bit (from bit 6 down) is a zero byte.
                for bit in (0..7).rev() {
                    if header & (1 << bit) == 0 {
                        out.push(bytes.next()?);
                    } else {
                        out.push(0);
                    }
                }
            }
            0x80..=0xfe => {
                // A zero, then 7 + n non-zero bytes.
                out.push(0);
                for _ in 0..(header & 0x7f) + 7 {
                    out.push(bytes.next()?);
                }
            }
            0xff => {
                for _ in 0..134 {
                    out.push(bytes.next()?);
                }
            }
        }
    }
    out.reverse();
    Some(out)
}

/// Finds the frame at the end of `chunk`: the longest suffix that `accept`
/// takes (given its decoded bytes). Returns where the frame starts and what
/// `accept` made of it; the bytes before it are not part of any frame.
pub fn find_frame<T>(
    chunk: &[u8],
    mut accept: impl FnMut(&[u8]) -> Option<T>,
) -> Option<(usize, T)> {
    let first = chunk.len().saturating_sub(MAX_SEARCH);
    (first..chunk.len()).find_map(|start| {
        let decoded = decode(&chunk[start..])?;
        accept(&decoded).map(|value| (start, value))
    })
}

/// Splits a byte stream at zero bytes: each piece is a frame candidate.
#[derive(Default)]
pub struct Splitter {
    pending: Vec<u8>,
}

impl Splitter {
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next non-empty zero-terminated piece (without its zero), if complete.
    pub fn next_piece(&mut self) -> Option<Vec<u8>> {
        loop {
            let zero = self.pending.iter().position(|&b| b == 0)?;
            let mut piece: Vec<u8> = self.pending.drain(..=zero).collect();
            piece.pop();
            if !piece.is_empty() {
                return Some(piece);
            }
        }
    }

    /// Whatever followed the last zero byte.
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (decoded, encoded without the terminating zero): defmt's encoder's own cases.
    const VECTORS: &[(&[u8], &[u8])] = &[
        (&[], &[]),
        (&[0x00], &[0x7f]),
        (&[0x00; 8], &[0x7f, 0x7f]),
        (&[0x01], &[0x01, 0x7e]),
        (&[0x00, 0x01], &[0x01, 0x7d]),
        (&[0x01, 0x02], &[0x01, 0x02, 0x7c]),
        (
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x00],
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x40],
        ),
        (
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77],
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x80],
        ),
        (
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x81],
        ),
        (
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff],
            &[0x7f, 0xff, 0x3f],
        ),
    ];

    #[test]
    fn decodes_defmts_encoder_output() {
        for (plain, encoded) in VECTORS {
            let decoded = decode(encoded).unwrap();
            assert!(decoded.starts_with(plain), "{encoded:x?} -> {decoded:x?}");
            assert!(
                decoded[plain.len()..].iter().all(|&b| b == 0),
                "{encoded:x?} -> {decoded:x?}"
            );
        }
        assert_eq!(decode(&[0x01, 0x00]), None);
        assert_eq!(decode(&[0x81]), None, "a run header with its bytes missing");
    }

    #[test]
    fn finds_a_frame_behind_stray_bytes() {
        // The frame 11 22 33 44 55 66 00, after plain text.
        let mut chunk = b"loopback".to_vec();
        chunk.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x40]);
        let accept = |d: &[u8]| (d.first() == Some(&0x11) && d.len() == 7).then(|| d.to_vec());
        let (start, frame) = find_frame(&chunk, accept).unwrap();
        assert_eq!(start, b"loopback".len());
        assert_eq!(frame, [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x00]);
        assert!(find_frame(b"just text", |_| None::<()>).is_none());
    }

    #[test]
    fn splits_at_zero_bytes() {
        let mut splitter = Splitter::default();
        splitter.push(&[0, 0, 1, 2, 0, 3]);
        assert_eq!(splitter.next_piece(), Some(vec![1, 2]));
        assert_eq!(splitter.next_piece(), None);
        splitter.push(&[4, 0, 0]);
        assert_eq!(splitter.next_piece(), Some(vec![3, 4]));
        assert_eq!(splitter.next_piece(), None);
        splitter.push(&[5]);
        assert_eq!(splitter.take_rest(), vec![5]);
    }
}
