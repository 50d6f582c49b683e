//! Python tracebacks, wherever they appear (a crashed script, a unittest
//! failure, a log line's `exc` field printed raw).

use serde_json::{Value, json};

use super::{Input, Parse, Priority};
use crate::{CustomReport, MAX_ITEMS, ParsedOutput, Status};

pub(crate) const MARKER: &str = "Traceback (most recent call last):";

/// One parsed traceback with the line indices that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Traceback {
    /// Exception type (`ValueError`, `requests.exceptions.HTTPError`).
    pub exception: String,
    /// Text after `Type: `.
    pub message: String,
    /// (file, line, function) for each frame, outermost first.
    pub frames: Vec<(String, u32, String)>,
    /// Line index of the `Traceback` marker.
    pub start: usize,
    /// Line index of the exception line (if found).
    pub exception_line: Option<usize>,
    /// Line index of the innermost `File ...` line.
    pub last_frame_line: Option<usize>,
}

impl Traceback {
    /// `Type: message` as printed.
    pub fn summary(&self) -> String {
        if self.message.is_empty() {
            self.exception.clone()
        } else {
            format!("{}: {}", self.exception, self.message)
        }
    }

    /// Lines to keep: exception line and innermost frame with its code line.
    pub fn keep(&self) -> Vec<(usize, Priority)> {
        let mut keep = vec![(self.start, Priority::High)];
        if let Some(line) = self.exception_line {
            keep.push((line, Priority::Must));
        }
        if let Some(line) = self.last_frame_line {
            keep.push((line, Priority::Must));
            keep.push((line + 1, Priority::Must));
        }
        keep
    }
}

/// `  File "x.py", line 11, in get_timeout` -> (file, line, function).
pub(crate) fn frame(line: &str) -> Option<(String, u32, String)> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    let (file, rest) = rest.split_once("\", line ")?;
    let (number, function) = match rest.split_once(", in ") {
        Some((n, f)) => (n, f.trim()),
        None => (rest.trim(), ""),
    };
    Some((
        file.to_owned(),
        number.trim().parse().ok()?,
        function.to_owned(),
    ))
}

/// `KeyError: 'pear'` / `StopIteration` / `mod.Error: x` -> (type, message).
fn exception_line(line: &str) -> Option<(&str, &str)> {
    let (name, message) = match line.split_once(": ") {
        Some((n, m)) => (n, m),
        None => (line.trim_end_matches(':'), ""),
    };
    let valid = !name.is_empty()
        && !name.starts_with(' ')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_lowercase());
    // Bare words like `main` are not exceptions; real types are CamelCase or dotted.
    let looks_like_type = name.contains(|c: char| c.is_ascii_uppercase());
    (valid && looks_like_type).then_some((name, message))
}

/// Parse the traceback starting at `start` (the marker line).
pub(crate) fn parse_at(lines: &[&str], start: usize) -> Traceback {
    let mut tb = Traceback {
        start,
        ..Traceback::default()
    };
    // Tracebacks may be indented (pytest `E` lines excluded); frames are indented further.
    let indent = lines[start].len() - lines[start].trim_start().len();
    for (index, line) in lines.iter().enumerate().skip(start + 1).take(2000) {
        if let Some(frame) = frame(line) {
            if tb.frames.len() < MAX_ITEMS {
                tb.frames.push(frame);
            }
            tb.last_frame_line = Some(index);
            continue;
        }
        let this_indent = line.len() - line.trim_start().len();
        if line.trim().is_empty() || this_indent > indent {
            continue;
        }
        if let Some((exception, message)) = exception_line(line.trim_start()) {
            tb.exception = exception.to_owned();
            tb.message = message.to_owned();
            tb.exception_line = Some(index);
        }
        break;
    }
    tb
}

/// Every traceback in the text; found with a substring search so that
/// texts without one cost one fast scan.
pub(crate) fn find_all(lines: &[&str]) -> Vec<Traceback> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.ends_with(MARKER))
        .take(MAX_ITEMS)
        .map(|(index, _)| parse_at(lines, index))
        .collect()
}

/// A script that died with a traceback.
pub(crate) fn parse(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let all = find_all(lines);
    let Some(main) = all.last().cloned() else {
        return super::generic::parse(input);
    };
    let first_start = all.first().map_or(main.start, |tb| tb.start);
    let stdout_before: Vec<Value> = lines[..first_start]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .take(MAX_ITEMS)
        .map(|l| Value::String(l.trim_end().to_owned()))
        .collect();
    let frames: Vec<Value> = main
        .frames
        .iter()
        .map(|(file, line, function)| json!({"file": file, "line": line, "function": function}))
        .collect();
    let mut data = serde_json::Map::new();
    data.insert("exception".into(), json!(main.exception));
    data.insert("message".into(), json!(main.message));
    data.insert("frames".into(), Value::Array(frames));
    data.insert("stdout_before_error".into(), Value::Array(stdout_before));
    data.insert("tracebacks".into(), json!(all.len()));
    let location = main
        .frames
        .last()
        .map(|(file, line, function)| format!(" at {file}:{line} in {function}"))
        .unwrap_or_default();
    let headline = format!(
        "python: FAILED · {}{location}{}",
        main.summary(),
        input.exit_suffix()
    );
    let report = CustomReport {
        subkind: "python_traceback".to_owned(),
        status: Status::Failed,
        data,
    };
    let mut parse = Parse::new(ParsedOutput::Custom(report), headline);
    for tb in &all {
        for (line, priority) in tb.keep() {
            parse.keep(line, priority);
        }
    }
    parse
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    #[test]
    fn frames_and_exceptions() {
        assert_eq!(
            frame("  File \"/a/loader.py\", line 11, in get_timeout"),
            Some(("/a/loader.py".into(), 11, "get_timeout".into()))
        );
        assert_eq!(frame("    return 1"), None);
        let cases = [
            ("KeyError: 'pear'", Some(("KeyError", "'pear'"))),
            (
                "requests.exceptions.HTTPError: 404",
                Some(("requests.exceptions.HTTPError", "404")),
            ),
            ("StopIteration", Some(("StopIteration", ""))),
            ("loaded 2 sections", None),
        ];
        for (line, expected) in cases {
            assert_eq!(exception_line(line), expected, "{line}");
        }
    }

    #[test]
    fn chained_and_plain() {
        let text = "start\nTraceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    x()\nKeyError: 'k'\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"a.py\", line 3, in <module>\n    y()\nValueError: bad\n";
        let lines = split_lines(text);
        let all = find_all(&lines);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].summary(), "ValueError: bad");
        assert_eq!(all[1].frames, [("a.py".into(), 3, "<module>".into())]);
    }
}
