//! Shell integration marks: find OSC 133 / OSC 7 sequences that carry the session nonce in the
//! byte stream, turn them into [`Mark`]s and cut them out of what is stored.
//!
//! Mark format (emitted by our rc files): `ESC ] 133;<A|B|C|D[;exit]>;nonce=<hex> BEL` and
//! `ESC ] 7;file://<host><path>;nonce=<hex> BEL`. Any OSC sequence without the exact nonce is
//! ordinary output and passes through untouched, so a program that prints `ESC ]133;D;0 BEL`
//! cannot end a command.

use std::path::PathBuf;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
/// A payload longer than this cannot be one of our marks (paths are bounded by PATH_MAX).
const MAX_PAYLOAD: usize = 4200;

/// A shell integration event, in stream order with the output around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// `133;A`: the prompt is about to be printed.
    PromptStart,
    /// `133;B`: the prompt is printed; the shell reads a command.
    CommandStart,
    /// `133;C`: the command's output starts here.
    OutputStart,
    /// `133;D;<exit>`: the command finished with this exit status.
    CommandEnd {
        /// `$?` of the command, if the shell reported one.
        exit_code: Option<i32>,
    },
    /// `7;file://host/path`: the shell's working directory.
    Cwd(PathBuf),
}

/// One piece of the stream: output bytes or a mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Output bytes to store and show.
    Data(Vec<u8>),
    /// A mark carrying our nonce (removed from the output).
    Mark(Mark),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    Esc,
    Osc,
    OscEsc,
}

/// Streaming splitter of output bytes and nonce-carrying marks. Sequences split across reads are
/// held back (at most [`MAX_PAYLOAD`] bytes) until they are complete.
#[derive(Debug)]
pub struct MarkParser {
    nonce: Vec<u8>,
    state: State,
    /// Bytes of a sequence that might still become a mark.
    pending: Vec<u8>,
    /// Output bytes collected for the next [`Piece::Data`].
    data: Vec<u8>,
}

impl MarkParser {
    /// A parser accepting only marks that end in `;nonce=<nonce>`.
    pub fn new(nonce: &str) -> Self {
        Self {
            nonce: nonce.as_bytes().to_vec(),
            state: State::Ground,
            pending: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Bytes held back because they may be the start of a mark.
    pub fn held_back(&self) -> usize {
        self.pending.len()
    }

    /// Feed a chunk; output bytes and marks are appended to `out` in stream order.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Piece>) {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Ground => {
                    let rest = &input[i..];
                    match rest.iter().position(|&b| b == ESC) {
                        None => {
                            self.data.extend_from_slice(rest);
                            i = input.len();
                        }
                        Some(p) => {
                            self.data.extend_from_slice(&rest[..p]);
                            self.pending.push(ESC);
                            self.state = State::Esc;
                            i += p + 1;
                        }
                    }
                }
                State::Esc => {
                    if input[i] == b']' {
                        self.pending.push(b']');
                        self.state = State::Osc;
                        i += 1;
                    } else {
                        // Not an OSC: the ESC is output; reprocess this byte from ground.
                        self.flush_pending();
                    }
                }
                State::Osc => {
                    let b = input[i];
                    i += 1;
                    match b {
                        BEL => self.finish_sequence(out),
                        ESC => self.state = State::OscEsc,
                        _ => {
                            self.pending.push(b);
                            if !self.could_be_mark() {
                                self.flush_pending();
                            }
                        }
                    }
                }
                State::OscEsc => {
                    if input[i] == b'\\' {
                        i += 1;
                        self.finish_sequence(out);
                    } else {
                        // The ESC starts something new; what we held is plain output.
                        self.flush_pending();
                        self.pending.push(ESC);
                        self.state = State::Esc;
                    }
                }
            }
        }
        self.emit_data(out);
    }

    /// Whether the held OSC payload can still turn into one of our marks.
    fn could_be_mark(&self) -> bool {
        let payload = &self.pending[2..];
        if payload.len() > MAX_PAYLOAD {
            return false;
        }
        let fits = |prefix: &[u8]| {
            let n = payload.len().min(prefix.len());
            payload[..n] == prefix[..n]
        };
        fits(b"133;") || fits(b"7;")
    }

    fn finish_sequence(&mut self, out: &mut Vec<Piece>) {
        match parse_payload(&self.pending[2..], &self.nonce) {
            Some(mark) => {
                self.emit_data(out);
                out.push(Piece::Mark(mark));
                self.pending.clear();
                self.state = State::Ground;
            }
            None => {
                // Put back the terminator we consumed, then release it all as output.
                if self.state == State::OscEsc {
                    self.pending.extend_from_slice(b"\x1b\\");
                } else {
                    self.pending.push(BEL);
                }
                self.flush_pending();
            }
        }
    }

    fn flush_pending(&mut self) {
        self.data.append(&mut self.pending);
        self.state = State::Ground;
    }

    fn emit_data(&mut self, out: &mut Vec<Piece>) {
        if !self.data.is_empty() {
            out.push(Piece::Data(std::mem::take(&mut self.data)));
        }
    }
}

/// Parse an OSC payload (between `ESC ]` and the terminator) into a mark if it carries `nonce`.
fn parse_payload(payload: &[u8], nonce: &[u8]) -> Option<Mark> {
    let text = std::str::from_utf8(payload).ok()?;
    let (body, given) = text.rsplit_once(";nonce=")?;
    if given.as_bytes() != nonce {
        return None;
    }
    if let Some(rest) = body.strip_prefix("133;") {
        let mut fields = rest.split(';');
        return match fields.next()? {
            "A" => Some(Mark::PromptStart),
            "B" => Some(Mark::CommandStart),
            "C" => Some(Mark::OutputStart),
            "D" => Some(Mark::CommandEnd {
                exit_code: fields.next().and_then(|s| s.trim().parse().ok()),
            }),
            _ => None,
        };
    }
    let url = body.strip_prefix("7;")?;
    let after_scheme = url.strip_prefix("file://")?;
    // Skip the host part: the path starts at the first '/'.
    let path = &after_scheme[after_scheme.find('/')?..];
    Some(Mark::Cwd(PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "abc123";

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Vec<Mark>) {
        let mut parser = MarkParser::new(N);
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        let mut data = Vec::new();
        let mut marks = Vec::new();
        for piece in out {
            match piece {
                Piece::Data(d) => data.extend(d),
                Piece::Mark(m) => marks.push(m),
            }
        }
        (data, marks)
    }

    #[test]
    fn marks_with_nonce_are_cut_out() {
        let (data, marks) =
            run(&[b"a\x1b]133;C;nonce=abc123\x07out\x1b]133;D;3;nonce=abc123\x1b\\z"]);
        assert_eq!(data, b"aoutz");
        assert_eq!(
            marks,
            vec![Mark::OutputStart, Mark::CommandEnd { exit_code: Some(3) }]
        );
    }

    #[test]
    fn forged_marks_pass_through() {
        let forged: &[u8] = b"\x1b]133;D;0\x07\x1b]133;D;0;nonce=zzz\x07";
        let (data, marks) = run(&[forged]);
        assert_eq!(data, forged);
        assert!(marks.is_empty());
    }

    #[test]
    fn split_at_every_byte() {
        let input: &[u8] = b"x\x1b[1m\x1b]7;file://host/tmp/a b;nonce=abc123\x07y\x1b]0;title\x07";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let (data, marks) = run(&chunks);
        assert_eq!(data, b"x\x1b[1my\x1b]0;title\x07");
        assert_eq!(marks, vec![Mark::Cwd(PathBuf::from("/tmp/a b"))]);
    }

    #[test]
    fn esc_inside_osc_restarts() {
        let (data, marks) = run(&[b"\x1b]133;\x1b]133;A;nonce=abc123\x07"]);
        assert_eq!(data, b"\x1b]133;");
        assert_eq!(marks, vec![Mark::PromptStart]);
    }

    #[test]
    fn long_payload_is_released() {
        let mut input = b"\x1b]133;".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        let (data, marks) = run(&[&input]);
        assert_eq!(data, input);
        assert!(marks.is_empty());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const N: &str = "feedc0de";

    fn collect(chunks: &[&[u8]]) -> (Vec<u8>, Vec<Mark>, usize) {
        let mut parser = MarkParser::new(N);
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        let mut data = Vec::new();
        let mut marks = Vec::new();
        for piece in out {
            match piece {
                Piece::Data(d) => data.extend(d),
                Piece::Mark(m) => marks.push(m),
            }
        }
        (data, marks, parser.held_back())
    }

    /// Bytes rich in the characters the parser cares about.
    fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                Just(0x1bu8),
                Just(b']'),
                Just(0x07),
                Just(b'\\'),
                Just(b';'),
                Just(b'1'),
                Just(b'3'),
                Just(b'7'),
                any::<u8>(),
            ],
            0..200,
        )
    }

    proptest! {
        #[test]
        fn chunking_never_changes_the_result(input in noisy_bytes(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let whole = collect(&[&input]);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&input[last..p]);
                last = p;
            }
            chunks.push(&input[last..]);
            prop_assert_eq!(collect(&chunks), whole);
        }

        #[test]
        fn real_marks_are_removed_and_nothing_else(parts in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no ESC", |b| *b != 0x1b), 0..50), 1..6), codes in prop::collection::vec(-1i32..300, 1..6)) {
            let mut input = Vec::new();
            let mut expected = Vec::new();
            let mut expected_marks = Vec::new();
            for (part, code) in parts.iter().zip(codes.iter().cycle()) {
                input.extend_from_slice(part);
                expected.extend_from_slice(part);
                input.extend_from_slice(format!("\x1b]133;D;{code};nonce={N}\x07").as_bytes());
                expected_marks.push(Mark::CommandEnd { exit_code: Some(*code) });
            }
            let (data, marks, held) = collect(&[&input]);
            prop_assert_eq!(data, expected);
            prop_assert_eq!(marks, expected_marks);
            prop_assert_eq!(held, 0);
        }
    }
}
