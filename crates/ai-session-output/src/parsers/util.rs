//! Small text helpers shared by the parsers.

/// `N` in "... N word ..." (the number right before `word`), e.g.
/// `count_before("6 passed; 2 failed", "failed") == Some(2)`.
pub(crate) fn count_before(text: &str, word: &str) -> Option<usize> {
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find(word) {
        let at = search_from + found;
        search_from = at + word.len();
        let before = text[..at].trim_end();
        if before.len() == text[..at].len() && at != 0 {
            continue; // no space between number and word
        }
        // Digits are one byte each, so this is a char boundary even after multi-byte text.
        let digits = before
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .count();
        let digits_start = before.len() - digits;
        if let Ok(n) = before[digits_start..].parse() {
            return Some(n);
        }
    }
    None
}

/// The number right after `word`, e.g. `count_after("tests 9", "tests") == Some(9)`.
pub(crate) fn count_after(text: &str, word: &str) -> Option<usize> {
    let rest = text.split_once(word)?.1.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Split `path:line[:col]` (a trailing `:` allowed). Windows drive letters
/// and URLs are not locations.
pub(crate) fn split_location(text: &str) -> Option<(&str, u32, Option<u32>)> {
    let text = text.trim().trim_end_matches(':');
    let mut parts = text.rsplitn(3, ':');
    let last = parts.next()?;
    let middle = parts.next()?;
    match parts.next() {
        Some(file) if middle.parse::<u32>().is_ok() => {
            let line = middle.parse().ok()?;
            let column = last.parse().ok()?;
            (!file.is_empty()).then_some((file, line, Some(column)))
        }
        _ => {
            let line = last.parse().ok()?;
            let file = text.rsplit_once(':')?.0;
            (!file.is_empty()).then_some((file, line, None))
        }
    }
}

/// Text between the first pair of `open`/`close` delimiters.
pub(crate) fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let cases = [
            ("6 passed; 2 failed; 1 ignored", "failed", Some(2)),
            ("3 failed, 7 passed, 1 skipped in 0.1s", "passed", Some(7)),
            ("failed", "failed", None),
            ("x12 passed", "passed", Some(12)),
        ];
        for (text, word, expected) in cases {
            assert_eq!(count_before(text, word), expected, "{text}");
        }
        assert_eq!(count_after("\u{2139} tests 9", "tests"), Some(9));
    }

    #[test]
    fn locations() {
        let cases = [
            ("src/main.rs:10:36", Some(("src/main.rs", 10, Some(36)))),
            ("calc.py:5", Some(("calc.py", 5, None))),
            ("src/lib.rs:7:9:", Some(("src/lib.rs", 7, Some(9)))),
            ("no location", None),
            (":5", None),
        ];
        for (text, expected) in cases {
            assert_eq!(split_location(text), expected, "{text}");
        }
    }
}
