//! `capture-pane` lines: history above the screen, then the screen's rows, cut to `-S`/`-E`.

/// A `-S`/`-E` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineBound {
    /// The default: first (for `-S`) or last (for `-E`) visible row.
    Default,
    /// `-`: start of history (for `-S`) or last visible row (for `-E`).
    Edge,
    Line(i64),
}

impl LineBound {
    pub fn parse(value: Option<&str>) -> Result<LineBound, String> {
        match value {
            None => Ok(LineBound::Default),
            Some("-") => Ok(LineBound::Edge),
            Some(v) => v
                .parse()
                .map(LineBound::Line)
                .map_err(|_| format!("invalid line: {v}")),
        }
    }
}

/// The rows tmux would print for `-S start -E end`, where row 0 is the first visible row and
/// `history` holds the lines that scrolled off above it (oldest first).
pub fn select_lines<'a>(
    history: &'a [&'a str],
    screen: &'a [String],
    start: LineBound,
    end: LineBound,
) -> Vec<&'a str> {
    let depth = history.len() as i64;
    let last_row = screen.len() as i64 - 1;
    let first = match start {
        LineBound::Default => 0,
        LineBound::Edge => -depth,
        LineBound::Line(n) => n.clamp(-depth, last_row.max(0)),
    };
    let last = match end {
        LineBound::Default | LineBound::Edge => last_row,
        LineBound::Line(n) => n.clamp(-depth, last_row),
    };
    (first..=last)
        .map(|row| {
            if row < 0 {
                history[(depth + row) as usize]
            } else {
                screen[row as usize].as_str()
            }
        })
        .collect()
}

/// Lines of normalised scrollback that are no longer on the screen: everything but the last
/// `cursor_row + 1` lines, which are the screen's rows with content.
pub fn history_lines(normalized: &str, cursor_row: u16) -> Vec<&str> {
    let lines: Vec<&str> = normalized.split('\n').collect();
    let on_screen = usize::from(cursor_row) + 1;
    lines[..lines.len().saturating_sub(on_screen)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen() -> Vec<String> {
        ["# echo 5", "5", "# "].map(str::to_owned).to_vec()
    }

    #[test]
    fn bounds_follow_tmux() {
        let history = ["# echo 4", "4"];
        let screen = screen();
        let cases: [(LineBound, LineBound, &[&str]); 5] = [
            (
                LineBound::Default,
                LineBound::Default,
                &["# echo 5", "5", "# "],
            ),
            (
                LineBound::Line(-1),
                LineBound::Default,
                &["4", "# echo 5", "5", "# "],
            ),
            (
                LineBound::Edge,
                LineBound::Line(0),
                &["# echo 4", "4", "# echo 5"],
            ),
            (
                LineBound::Line(-99),
                LineBound::Line(-1),
                &["# echo 4", "4"],
            ),
            (LineBound::Line(2), LineBound::Line(1), &[]),
        ];
        for (start, end, expected) in cases {
            assert_eq!(
                select_lines(&history, &screen, start, end),
                expected,
                "{start:?} {end:?}"
            );
        }
    }

    #[test]
    fn history_is_what_scrolled_off() {
        assert_eq!(history_lines("a\nb\nc\n# ", 1), ["a", "b"]);
        assert_eq!(history_lines("# ", 0), Vec::<&str>::new());
        assert_eq!(history_lines("a\n# ", 5), Vec::<&str>::new());
    }
}
