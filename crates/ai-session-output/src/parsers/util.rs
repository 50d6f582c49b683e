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

/// `3 passed, 1 failed, 4 total` for headlines: zero counts left out (the total
/// always shown), so a headline states every count in few tokens.
pub(crate) fn tally(counts: &[(usize, &str)]) -> String {
    let last = counts.len().saturating_sub(1);
    let parts: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|(i, (n, _))| *n > 0 || *i == last)
        .map(|(_, (n, word))| format!("{n} {word}"))
        .collect();
    parts.join(", ")
}

/// A closing tally with nothing else on the line: `4 failed, 5 passed, 1 skipped in 0.31s`,
/// `Tests: 2 failed, 3 passed, 5 total`. Every comma-separated term is `N word` (one or two
/// words); a trailing ` in <duration>` and a leading `Label:` are allowed. Runners print these
/// with or without decoration (pytest drops its `===` rule under `-q`), so parsers look for
/// the shape rather than the banner.
pub(crate) fn is_tally_line(text: &str) -> bool {
    let text = text.trim().trim_matches('=').trim();
    let text = match text.split_once(": ") {
        Some((label, rest)) if !label.contains(' ') && !label.is_empty() => rest,
        _ => text,
    };
    let counts = match text.rsplit_once(" in ") {
        Some((counts, duration))
            if duration.starts_with(|c: char| c.is_ascii_digit())
                && duration.len() < 24
                && !duration.contains(',') =>
        {
            counts
        }
        _ => text,
    };
    let mut terms = 0;
    for term in counts.split(", ") {
        let mut words = term.split_whitespace();
        let Some(number) = words.next() else {
            return false;
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let rest: Vec<&str> = words.collect();
        if rest.is_empty()
            || rest.len() > 2
            || !rest
                .iter()
                .all(|w| w.chars().all(|c| c.is_alphabetic() || c == '-'))
        {
            return false;
        }
        terms += 1;
    }
    terms > 0
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
    fn tallies() {
        for line in [
            "4 failed, 5 passed, 1 skipped, 1 error in 0.31s",
            "=== 1 failed, 2 passed in 0.01s ===",
            "Tests:       2 failed, 3 passed, 5 total",
            "3 passed",
        ] {
            assert!(is_tally_line(line), "{line}");
        }
        for line in [
            "assert 4 == 5",
            "in 3 files",
            "test_x.py::test_a PASSED",
            "2 tests, 1 of which failed",
        ] {
            assert!(!is_tally_line(line), "{line}");
        }
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
