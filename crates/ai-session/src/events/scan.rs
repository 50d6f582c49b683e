//! Matching a regex against output as it arrives, one line at a time.
//!
//! Output comes in arbitrary chunks; a line (or an escape sequence) may be split between two.
//! The scanner keeps the raw bytes of the unfinished last line and normalises that line with
//! each new chunk, so a match is found whether its line arrived whole or in pieces, and the
//! partial last line (a prompt such as `Password: `) is matched too. A line matches at most
//! once.

use regex::Regex;

use ai_session_output::normalize;

/// Longest unfinished line kept (a program that never prints a newline is matched on its
/// last 64 KiB).
const MAX_LINE: usize = 64 << 10;

/// One regex scanning one session's output.
#[derive(Debug, Clone)]
pub struct LineScanner {
    regex: Regex,
    /// Raw bytes of the unfinished last line.
    partial: Vec<u8>,
    /// The unfinished line already matched (it is not reported again as it grows).
    partial_matched: bool,
}

impl LineScanner {
    /// A scanner for `regex`.
    pub fn new(regex: Regex) -> Self {
        Self {
            regex,
            partial: Vec::new(),
            partial_matched: false,
        }
    }

    /// The regex's source.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// Ends the unfinished line (already matched as far as it got), as if a newline came:
    /// what follows starts a line of its own.
    pub fn end_line(&mut self) {
        self.partial.clear();
        self.partial_matched = false;
    }

    /// Feeds a chunk of output; returns `(matched text, whole line)` of each line that
    /// matched, in order (lines normalised, trailing space trimmed).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<(String, String)> {
        let mut matched = Vec::new();
        let mut rest = chunk;
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            self.partial.extend_from_slice(&rest[..=newline]);
            rest = &rest[newline + 1..];
            let line = normalize(&self.partial);
            if !self.partial_matched
                && let Some(m) = self.regex.find(&line)
            {
                matched.push((m.as_str().to_owned(), line.trim_end().to_owned()));
            }
            self.partial.clear();
            self.partial_matched = false;
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > MAX_LINE {
            let cut = self.partial.len() - MAX_LINE;
            self.partial.drain(..cut);
        }
        if !self.partial.is_empty() && !self.partial_matched {
            let line = normalize(&self.partial);
            if let Some(m) = self.regex.find(&line) {
                self.partial_matched = true;
                matched.push((m.as_str().to_owned(), line.trim_end().to_owned()));
            }
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(pattern: &str) -> LineScanner {
        LineScanner::new(Regex::new(pattern).unwrap())
    }

    #[test]
    fn finds_lines_split_across_chunks_once() {
        let line = |m: &str, l: &str| vec![(m.to_owned(), l.to_owned())];
        let mut s = scanner("Listening on \\d+");
        assert!(s.feed(b"starting\nListen").is_empty());
        assert_eq!(
            s.feed(b"ing on 80"),
            line("Listening on 80", "Listening on 80")
        );
        assert!(s.feed(b"80\n").is_empty(), "the same line matches once");
        assert_eq!(
            s.feed(b"x\nnow Listening on 9 (http)\n"),
            line("Listening on 9", "now Listening on 9 (http)")
        );
    }

    #[test]
    fn escape_sequences_and_prompts() {
        let mut s = scanner("^Password: $");
        assert!(s.feed(b"\x1b[1mPass").is_empty());
        assert_eq!(
            s.feed(b"word:\x1b[0m "),
            vec![("Password: ".to_owned(), "Password:".to_owned())]
        );
        let mut s = scanner("ready");
        assert_eq!(
            s.feed(b"50%\r100%\rready\r\n"),
            vec![("ready".to_owned(), "ready".to_owned())]
        );
    }
}
