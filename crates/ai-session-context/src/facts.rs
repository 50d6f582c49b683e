//! Key facts of a command's output for its one-line summary: counts, failing tests, errors and
//! their locations. Extractive and line-based, so it costs one pass over the text.

/// Facts found in one command's normalised output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFacts {
    /// The last line that reports totals (`test result: ...`, `2 failed, 5 passed`, `could not compile ...`).
    pub counts: Option<String>,
    /// Names of failing tests, in order of appearance, without duplicates.
    pub failing_tests: Vec<String>,
    /// First error lines (`error[E0425]: ...`, `fatal: ...`, `AssertionError: ...`).
    pub errors: Vec<String>,
    /// Source locations (`src/lib.rs:42:9`) mentioned by errors, panics and failures.
    pub locations: Vec<String>,
}

const MAX_ERRORS: usize = 3;
const MAX_LOCATIONS: usize = 4;
const MAX_TESTS: usize = 12;

impl KeyFacts {
    /// Scans `text` once.
    pub fn extract(text: &str) -> Self {
        let mut facts = KeyFacts::default();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            facts.scan_line(trimmed);
        }
        facts
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.counts.is_none()
            && self.failing_tests.is_empty()
            && self.errors.is_empty()
            && self.locations.is_empty()
    }

    fn scan_line(&mut self, line: &str) {
        if let Some(name) = failing_test_name(line) {
            push_unique(&mut self.failing_tests, name, MAX_TESTS);
        }
        if is_counts_line(line) {
            self.counts = Some(truncate_chars(
                line.trim_matches(|c| c == '=' || c == ' '),
                160,
            ));
        }
        if is_error_line(line) {
            push_unique(&mut self.errors, &truncate_chars(line, 160), MAX_ERRORS);
        }
        if mentions_problem(line) {
            for location in locations_in(line) {
                push_unique(&mut self.locations, location, MAX_LOCATIONS);
            }
        }
        if let Some(location) = python_frame_location(line) {
            push_unique(&mut self.locations, &location, MAX_LOCATIONS);
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: &str, cap: usize) {
    if list.len() < cap && !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

/// Cuts `text` to at most `max` characters on a char boundary, marking the cut with `...`.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}...", &text[..at]),
    }
}

fn failing_test_name(line: &str) -> Option<&str> {
    // cargo / libtest: `test tests::name ... FAILED`
    if let Some(rest) = line.strip_prefix("test ")
        && let Some(name) = rest.strip_suffix(" ... FAILED")
    {
        return Some(name.trim());
    }
    // pytest short summary: `FAILED tests/test_x.py::test_name - AssertionError`
    if let Some(rest) = line.strip_prefix("FAILED ") {
        return rest
            .split(" - ")
            .next()
            .map(str::trim)
            .filter(|n| !n.contains(' '));
    }
    // unittest: `FAIL: test_name (module.Class.test_name)` and `ERROR: ...`
    for prefix in ["FAIL: ", "ERROR: "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.split_whitespace().next();
        }
    }
    // go test: `--- FAIL: TestName (0.00s)`
    if let Some(rest) = line.strip_prefix("--- FAIL: ") {
        return rest.split_whitespace().next();
    }
    // node:test / TAP: `not ok 3 - name`
    if let Some(rest) = line.strip_prefix("not ok ") {
        return rest.split_once(" - ").map(|(_, name)| name.trim());
    }
    // node:test spec reporter: `✖ name (1.2ms)`
    if let Some(rest) = line.strip_prefix("✖ ") {
        let name = rest.rsplit_once(" (").map_or(rest, |(name, _)| name).trim();
        if !name.is_empty() && !name.starts_with("failing tests") {
            return Some(name);
        }
    }
    None
}

fn is_counts_line(line: &str) -> bool {
    let lower_has = |word: &str| line.contains(word);
    let has_digit = line.bytes().any(|b| b.is_ascii_digit());
    if !has_digit {
        return false;
    }
    line.starts_with("test result:")
        || (lower_has(" passed") && (lower_has("failed") || lower_has(" in ")))
        || (lower_has(" failed") && lower_has("passed"))
        || line.starts_with("Ran ")
        || line.starts_with("FAILED (")
        || line.starts_with("# fail ")
        || line.starts_with("ℹ fail ")
        || line.contains("could not compile")
        || line.contains("previous error")
        || (line.starts_with("make") && line.contains("Error"))
}

fn is_error_line(line: &str) -> bool {
    line.starts_with("error")
        || line.starts_with("fatal:")
        || line.starts_with("E   ")
        || line.starts_with("panicked at")
        || line.starts_with("thread '") && line.contains("panicked")
        || line.contains(": error:")
        || line.contains(" ERROR ")
        || line.starts_with("ERROR")
        || line.starts_with("! [rejected]")
        || line.starts_with("CONFLICT")
        || line.ends_with("Error") && !line.contains(' ')
        || is_exception_line(line)
}

fn is_exception_line(line: &str) -> bool {
    // `KeyError: 'port'`, `AssertionError: ...`
    let Some((head, _)) = line.split_once(": ") else {
        return false;
    };
    (head.ends_with("Error") || head.ends_with("Exception"))
        && !head.contains(' ')
        && head.chars().next().is_some_and(char::is_uppercase)
}

fn mentions_problem(line: &str) -> bool {
    line.starts_with("-->")
        || line.contains("panicked at")
        || line.contains("error")
        || line.contains("Error")
        || line.contains("FAIL")
        || line.contains("warning")
        || line.contains("assert")
        || line.starts_with("at ")
}

/// `path/to/file.ext:12` or `path/to/file.ext:12:5` tokens in `line`.
fn locations_in(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c.is_whitespace() || "()[]'\"`,<>".contains(c))
        .map(|word| word.trim_end_matches([':', '.', ';']))
        .filter(|word| is_location(word))
}

fn is_location(word: &str) -> bool {
    let mut parts = word.split(':');
    let Some(path) = parts.next() else {
        return false;
    };
    let Some(line_no) = parts.next() else {
        return false;
    };
    let column_ok = parts
        .next()
        .is_none_or(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()));
    let path = path.strip_prefix("file://").unwrap_or(path);
    column_ok
        && parts.next().is_none()
        && !line_no.is_empty()
        && line_no.bytes().all(|b| b.is_ascii_digit())
        && path.rsplit_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty() && !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        && path.bytes().any(|b| b.is_ascii_alphabetic())
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
}

/// `File "x.py", line 12, in f` as `x.py:12`.
fn python_frame_location(line: &str) -> Option<String> {
    let rest = line.strip_prefix("File \"")?;
    let (path, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(", line ")?;
    let line_no: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!line_no.is_empty() && !path.starts_with('<')).then(|| format!("{path}:{line_no}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        text: &str,
        counts: Option<&str>,
        tests: &[&str],
        errors: &[&str],
        locations: &[&str],
    ) {
        let facts = KeyFacts::extract(text);
        assert_eq!(facts.counts.as_deref(), counts, "counts of {text:?}");
        assert_eq!(facts.failing_tests, tests, "tests of {text:?}");
        assert_eq!(facts.errors, errors, "errors of {text:?}");
        assert_eq!(facts.locations, locations, "locations of {text:?}");
    }

    #[test]
    fn cargo_test_failure() {
        check(
            "test tests::a ... ok\ntest tests::b ... FAILED\nthread 'tests::b' (9) panicked at src/lib.rs:42:9:\n\
             assertion failed\ntest result: FAILED. 1 passed; 1 failed; 0 ignored",
            Some("test result: FAILED. 1 passed; 1 failed; 0 ignored"),
            &["tests::b"],
            &["thread 'tests::b' (9) panicked at src/lib.rs:42:9:"],
            &["src/lib.rs:42:9"],
        );
    }

    #[test]
    fn rustc_error() {
        check(
            "error[E0425]: cannot find value `x` in this scope\n  --> src/main.rs:10:36\n",
            None,
            &[],
            &["error[E0425]: cannot find value `x` in this scope"],
            &["src/main.rs:10:36"],
        );
    }

    #[test]
    fn pytest_and_python() {
        check(
            "FAILED tests/test_inv.py::test_total - AssertionError: 3 != 4\n\
             File \"loader.py\", line 7, in load\nKeyError: 'port'\n== 1 failed, 4 passed in 0.12s ==",
            Some("1 failed, 4 passed in 0.12s"),
            &["tests/test_inv.py::test_total"],
            &["KeyError: 'port'"],
            &["loader.py:7"],
        );
    }

    #[test]
    fn plain_text_has_no_facts() {
        check("hello\nworld 42\n", None, &[], &[], &[]);
    }
}
