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
