//! Raw terminal bytes to the text a person saw.
//!
//! A `vte` state machine strips CSI, OSC, DCS and charset sequences. Line
//! editing that changes what is visible is applied rather than dropped: `\r`
//! returns to column 0 and later text overwrites, backspace steps back, and
//! erase-in-line / cursor-column sequences (`ESC[K`, `ESC[2K`, `ESC[nG`) act on
//! the current line. That is what collapses progress bars to their final state.

use vte::{Params, Parser, Perform};

/// Normalise raw terminal output: escape sequences removed, `\r` overwrites,
/// backspaces and erase-in-line applied, `\r\n` turned into `\n`, tabs and
/// newlines kept, invalid UTF-8 replaced by `U+FFFD`.
///
/// ```
/// let raw = b"\x1b[32mok\x1b[0m\r\n 10%\r 55%\r100%\r\ndone";
/// assert_eq!(ai_session_output::normalize(raw), "ok\n100%\ndone");
/// ```
pub fn normalize(raw: &[u8]) -> String {
    let mut screen = LineEditor::with_capacity(raw.len());
    let mut parser = Parser::new();
    parser.advance(&mut screen, raw);
    screen.finish()
}

/// The output text plus the line being edited; only the current line can be
/// overwritten, so memory stays linear in the input.
struct LineEditor {
    out: String,
    line: String,
    /// Byte offset of the cursor in `line`, always on a char boundary.
    cursor: usize,
}

impl LineEditor {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            out: String::with_capacity(capacity),
            line: String::new(),
            cursor: 0,
        }
    }

    fn finish(mut self) -> String {
        self.out.push_str(&self.line);
        self.out
    }

    fn put_char(&mut self, c: char) {
        if self.cursor == self.line.len() {
            self.line.push(c);
            self.cursor += c.len_utf8();
            return;
        }
        let old_len = self.line[self.cursor..]
            .chars()
            .next()
            .map_or(0, char::len_utf8);
        let mut buf = [0u8; 4];
        self.line
            .replace_range(self.cursor..self.cursor + old_len, c.encode_utf8(&mut buf));
        self.cursor += c.len_utf8();
    }

    fn newline(&mut self) {
        self.out.push_str(&self.line);
        self.out.push('\n');
        self.line.clear();
        self.cursor = 0;
    }

    fn backspace(&mut self) {
        if let Some(c) = self.line[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
        }
    }

    /// Move to a 0-based column, padding with spaces like a terminal would.
    fn move_to_column(&mut self, column: usize) {
        match self.line.char_indices().nth(column) {
            Some((offset, _)) => self.cursor = offset,
            None => {
                let width = self.line.chars().count();
                self.line.extend(std::iter::repeat_n(' ', column - width));
                self.cursor = self.line.len();
            }
        }
    }

    fn cursor_column(&self) -> usize {
        self.line[..self.cursor].chars().count()
    }

    fn erase_in_line(&mut self, mode: u16) {
        match mode {
            0 => self.line.truncate(self.cursor),
            1 => {
                let blanks = self.cursor_column();
                let rest = self.line[self.cursor..].to_owned();
                self.line.clear();
                self.line.extend(std::iter::repeat_n(' ', blanks));
                self.cursor = self.line.len();
                self.line.push_str(&rest);
            }
            _ => {
                let column = self.cursor_column();
                self.line.clear();
                self.cursor = 0;
                self.move_to_column(column);
            }
        }
    }
}

/// Cursor moves beyond this column are ignored: a hostile `ESC[99999999G` must
/// not allocate megabytes of padding.
const MAX_COLUMN: usize = 4096;

impl Perform for LineEditor {
    fn print(&mut self, c: char) {
        self.put_char(c);
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' | 0x0b | 0x0c => self.newline(),
            b'\r' => self.cursor = 0,
            0x08 => self.backspace(),
            b'\t' => self.put_char('\t'),
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: char) {
        if ignore || !intermediates.is_empty() {
            return;
        }
        let first = params
            .iter()
            .next()
            .and_then(|p| p.first().copied())
            .unwrap_or(0);
        let count = usize::from(first.max(1));
        match action {
            'K' => self.erase_in_line(first),
            'G' | '`' if count <= MAX_COLUMN => self.move_to_column(count - 1),
            'C' => {
                let column = self.cursor_column() + count;
                if column <= MAX_COLUMN {
                    self.move_to_column(column);
                }
            }
            'D' => {
                let column = self.cursor_column().saturating_sub(count);
                self.move_to_column(column);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn table() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain", "plain"),
            (b"a\r\nb\r\n", "a\nb\n"),
            (b"\x1b[1m\x1b[92mCompiling\x1b[0m x", "Compiling x"),
            (b"tab\there", "tab\there"),
            (b"[    ] 0%\r[####] 100%\r\n", "[####] 100%\n"),
            (b"Building [  ] 0/1\r\x1b[Kerror: bad\r\n", "error: bad\n"),
            (b"abc\x08\x08X", "aXc"),
            (b"\x08\x08start", "start"),
            (b"long line\rab", "abng line"),
            (b"xx\x1b[2Kyy", "  yy"),
            (b"spin\x1b[1G\x1b[0Kadded 2\r\n", "added 2\n"),
            (b"\x1b]8;;file:///a.c\x1b\\a.c\x1b]8;;\x1b\\:1", "a.c:1"),
            (b"\x1b(Bok\x1b[m", "ok"),
            (b"\x1bP1$r0m\x1b\\after", "after"),
            (b"bad \xff\xfe utf8", "bad \u{fffd}\u{fffd} utf8"),
            ("caf\u{e9}\r\u{2501}".as_bytes(), "\u{2501}af\u{e9}"),
            (b"a\x1b[99999999Gb", "ab"),
            (b"ab\x1b[5Gc", "ab  c"),
            (b"\x07bell", "bell"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                normalize(raw),
                *expected,
                "input {:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
