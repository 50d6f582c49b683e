//! A plain-text snapshot of the vt100 screen.

use serde::{Deserialize, Serialize};

use crate::config::Size;

/// Cursor position, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Row from the top.
    pub row: u16,
    /// Column from the left.
    pub col: u16,
}

/// What a person would see in the terminal now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenSnapshot {
    /// One string per row (trailing spaces trimmed), top to bottom.
    pub lines: Vec<String>,
    /// Cursor position.
    pub cursor: Cursor,
    /// Terminal size.
    pub size: Size,
    /// A full-screen program (pager, editor) switched to the alternate screen.
    pub alternate_screen: bool,
    /// Cursor keys send `ESC O x` (application mode) rather than `ESC [ x`.
    pub application_cursor: bool,
}

impl ScreenSnapshot {
    pub(crate) fn of(parser: &vt100::Parser) -> Self {
        let screen = parser.screen();
        let (rows, cols) = screen.size();
        let (row, col) = screen.cursor_position();
        Self {
            lines: screen
                .rows(0, cols)
                .map(|l| l.trim_end().to_owned())
                .collect(),
            cursor: Cursor { row, col },
            size: Size { cols, rows },
            alternate_screen: screen.alternate_screen(),
            application_cursor: screen.application_cursor(),
        }
    }

    /// The screen as text, one line per row, trailing blank rows dropped.
    pub fn text(&self) -> String {
        let mut end = self.lines.len();
        while end > 0 && self.lines[end - 1].is_empty() {
            end -= 1;
        }
        self.lines[..end].join("\n")
    }
}

/// Output bytes not yet applied to the screen; applied on demand, or when this many pile up.
const BACKLOG_LIMIT: usize = 256 * 1024;

/// The vt100 screen, fed lazily: bulk output is buffered and, when a large backlog is plain text
/// (no escape sequences), only the lines that can still be visible are parsed. Parsing every
/// byte of a multi-megabyte dump would cost more than reading it from the kernel. The parser
/// itself (32 bytes per cell, 320 KB at 200x50) is only allocated when someone looks at the
/// screen or the output needs it, so idle sessions stay small.
pub(crate) struct ScreenModel {
    parser: Option<vt100::Parser>,
    size: Size,
    backlog: Vec<u8>,
    /// With output post-processing off, programs emit bare LF; treat it as CRLF.
    lf_is_crlf: bool,
}

impl ScreenModel {
    pub fn new(size: Size, lf_is_crlf: bool) -> Self {
        Self {
            parser: None,
            size,
            backlog: Vec::new(),
            lf_is_crlf,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.backlog.extend_from_slice(bytes);
        if self.backlog.len() < BACKLOG_LIMIT {
            return;
        }
        if self.parser.is_none() {
            // Nothing has been parsed yet, so a plain-text prefix can simply be forgotten.
            let cut = skippable_prefix(&self.backlog, self.size.rows, false);
            if cut > 0 && self.backlog.len() - cut < BACKLOG_LIMIT / 2 {
                self.backlog.drain(..cut);
                return;
            }
        }
        self.catch_up();
    }

    /// The up-to-date parser.
    pub fn parser(&mut self) -> &vt100::Parser {
        self.catch_up();
        self.parser_mut()
    }

    /// Forgets the screen: blank, cursor at the top left (as a terminal's reset).
    pub fn reset(&mut self) {
        *self = ScreenModel::new(self.size, self.lf_is_crlf);
    }

    /// Current size (cheap: does not apply the backlog).
    pub fn size(&self) -> Size {
        self.size
    }

    pub fn set_size(&mut self, size: Size) {
        if self.parser.is_some() || !self.backlog.is_empty() {
            // Bytes already written were laid out for the old size.
            self.catch_up();
            self.parser_mut()
                .screen_mut()
                .set_size(size.rows, size.cols);
        }
        self.size = size;
    }

    fn parser_mut(&mut self) -> &mut vt100::Parser {
        let size = self.size;
        self.parser
            .get_or_insert_with(|| vt100::Parser::new(size.rows, size.cols, 0))
    }

    fn catch_up(&mut self) {
        if self.backlog.is_empty() {
            return;
        }
        let backlog = std::mem::take(&mut self.backlog);
        let lf_is_crlf = self.lf_is_crlf;
        let rows = self.size.rows;
        let parser = self.parser_mut();
        let start = skippable_prefix(&backlog, rows, parser.screen().alternate_screen());
        let tail = &backlog[start..];
        if lf_is_crlf && tail.contains(&b'\n') {
            let mut converted = Vec::with_capacity(tail.len() + tail.len() / 8);
            for &b in tail {
                if b == b'\n' {
                    converted.push(b'\r');
                }
                converted.push(b);
            }
            parser.process(&converted);
        } else {
            parser.process(tail);
        }
        // Reuse the allocation for the next backlog.
        self.backlog = backlog;
        self.backlog.clear();
    }
}

/// How many leading bytes cannot influence the final screen: everything before the last
/// `2 * rows` lines, if it holds no escape sequence (which could switch modes or screens).
fn skippable_prefix(bytes: &[u8], rows: u16, alternate_screen: bool) -> usize {
    if bytes.len() < 64 * 1024 || alternate_screen {
        return 0;
    }
    let keep_lines = 2 * usize::from(rows) + 1;
    let Some(split) = bytes
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(keep_lines)
        .map(|(i, _)| i + 1)
    else {
        return 0;
    };
    if bytes[..split].contains(&0x1b) {
        return 0;
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(model: &mut ScreenModel) -> String {
        model.parser().screen().contents()
    }

    #[test]
    fn skipping_bulk_text_gives_the_same_screen() {
        let size = Size { cols: 40, rows: 10 };
        let text: String = (0..50_000).map(|i| format!("line {i}\r\n")).collect();
        let mut lazy = ScreenModel::new(size, false);
        for chunk in text.as_bytes().chunks(4096) {
            lazy.feed(chunk);
        }
        let mut full = vt100::Parser::new(size.rows, size.cols, 0);
        full.process(text.as_bytes());
        assert_eq!(visible(&mut lazy), full.screen().contents());
        assert_eq!(
            lazy.parser().screen().cursor_position(),
            full.screen().cursor_position()
        );
    }

    #[test]
    fn escapes_in_the_backlog_are_not_skipped() {
        let size = Size { cols: 40, rows: 10 };
        let mut text: String = (0..30_000).map(|i| format!("l{i}\r\n")).collect();
        text.insert_str(10, "\x1b[?1049h");
        let mut lazy = ScreenModel::new(size, false);
        lazy.feed(text.as_bytes());
        assert!(lazy.parser().screen().alternate_screen());
    }

    #[test]
    fn idle_sessions_allocate_no_parser() {
        let mut model = ScreenModel::new(
            Size {
                cols: 200,
                rows: 50,
            },
            false,
        );
        let text: String = (0..100_000).map(|i| format!("{i}\r\n")).collect();
        model.feed(text.as_bytes());
        assert!(model.parser.is_none());
        assert!(model.backlog.len() < BACKLOG_LIMIT);
        let mut full = vt100::Parser::new(50, 200, 0);
        full.process(text.as_bytes());
        assert_eq!(visible(&mut model), full.screen().contents());
        model.set_size(Size {
            cols: 100,
            rows: 20,
        });
        assert_eq!(model.parser().screen().size(), (20, 100));
    }

    #[test]
    fn bare_lf_is_treated_as_crlf_when_asked() {
        let mut model = ScreenModel::new(Size { cols: 20, rows: 5 }, true);
        model.feed(b"ab\ncd\n");
        assert_eq!(visible(&mut model), "ab\ncd");
    }
}
