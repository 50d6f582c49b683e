//! Facts held against a tool's own machine-readable report.
//!
//! The differential corpus (`cargo xtask corpus --differential`) runs each tool
//! twice: in a human format on a real terminal, and in its machine format
//! (JUnit XML, `--json`, `go test -json`, ...). The machine report, reduced to
//! a [`Truth`], says what the run was: counts, the failing tests or the
//! diagnostics with `file:line` and first message line. [`facts_of`] reduces a
//! [`ParsedOutput`] to the same shape, and [`compare`] checks the two;
//! [`text_score`] checks how many of the truth's facts a text (a digest, or a
//! head+tail truncation) still states.
//!
//! Only what the truth lists is compared: a variant whose human format does
//! not print a count (e.g. `go test` without `-v` never says how many passed)
//! leaves that count out of its truth.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ParsedOutput, Status};

/// What a tool's machine report says about one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    /// Which report this came from (`pytest --junitxml`, `go test -json`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Overall outcome, when the report says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Named counts: `passed`, `failed`, `errors`, `skipped`, `total` for test
    /// runs; `errors`, `warnings` for builds and linters; `entries` for listings.
    #[serde(default)]
    pub counts: BTreeMap<String, usize>,
    /// Failing or erroring tests, diagnostics, paths or rows, compared as a multiset by name.
    #[serde(default)]
    pub items: Vec<TruthItem>,
}

/// One failing test, diagnostic or listed thing.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TruthItem {
    /// Test name as the human format prints it; for diagnostics `file:line`;
    /// for listings the path, mount, pid or port.
    pub name: String,
    /// Source file of the failure or diagnostic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// First line of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How one comparison came out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Facts in the truth (each count, each item's name, location and message).
    pub facts_total: usize,
    /// Facts the other side got right.
    pub facts_equal: usize,
    /// Every count equal.
    pub counts_equal: bool,
    /// The multiset of item names equal.
    pub names_equal: bool,
    /// What differed, one line each.
    pub mismatches: Vec<String>,
}

impl Comparison {
    /// Whether every fact matched.
    pub fn all_equal(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The facts of a parse, in the truth's shape (every count, every item).
pub fn facts_of(parsed: &ParsedOutput) -> Truth {
    let mut facts = Truth {
        status: Some(parsed.status()),
        ..Truth::default()
    };
    let counts = &mut facts.counts;
    match parsed {
        ParsedOutput::TestResults(r) => {
            counts.insert("passed".into(), r.passed);
            counts.insert("failed".into(), r.failed);
            counts.insert("errors".into(), r.errors);
            counts.insert("skipped".into(), r.skipped + r.ignored + r.todo);
            counts.insert("total".into(), r.total);
            for f in r.failures.iter().chain(&r.error_list) {
                let (file, line) = match (&f.file, f.line) {
                    (Some(file), Some(line)) => (Some(file.clone()), Some(line)),
                    _ => f
                        .location
                        .as_deref()
                        .and_then(crate::parsers::util::split_location)
                        .map_or((f.file.clone(), f.line), |(file, line, _)| {
                            (Some(file.to_owned()), Some(line))
                        }),
                };
                facts.items.push(TruthItem {
                    name: f.name.clone(),
                    file,
                    line,
                    message: Some(f.message.clone()),
                });
            }
        }
        ParsedOutput::BuildOutput(r) => {
            counts.insert("errors".into(), r.errors.len());
            counts.insert("warnings".into(), r.warnings);
            for d in r.errors.iter().chain(&r.warning_list) {
                facts.items.push(TruthItem {
                    name: diagnostic_name(d.file.as_deref(), d.line, &d.message),
                    file: d.file.clone(),
                    line: d.line,
                    message: Some(d.message.clone()),
                });
            }
        }
        ParsedOutput::GitOutput(r) => {
            let groups: [(&str, &Vec<String>); 6] = [
                ("staged", &r.staged),
                ("modified", &r.modified),
                ("deleted", &r.deleted),
                ("untracked", &r.untracked),
                ("conflicted", &r.conflicted),
                ("conflicts", &r.conflicts),
            ];
            for (group, paths) in groups {
                counts.insert(group.into(), paths.len());
                for path in paths {
                    facts.items.push(TruthItem {
                        name: format!("{group}:{path}"),
                        ..TruthItem::default()
                    });
                }
            }
            // A merge or rebase that stopped on conflicts says so with `error:` lines too.
            if let Some(error) = r.error.as_ref().filter(|_| r.status != Status::Conflict) {
                facts.items.push(TruthItem {
                    name: "error".into(),
                    message: Some(error.clone()),
                    ..TruthItem::default()
                });
            }
        }
        ParsedOutput::FileSystemOutput(r) => {
            counts.insert("entries".into(), r.entries);
            if r.filesystems.is_empty() {
                for item in &r.items {
                    facts.items.push(TruthItem {
                        name: item.name.clone(),
                        ..TruthItem::default()
                    });
                }
            } else {
                for fs in &r.filesystems {
                    facts.items.push(TruthItem {
                        name: fs.mount.clone(),
                        ..TruthItem::default()
                    });
                }
            }
        }
        ParsedOutput::ProcessList(r) => {
            counts.insert("entries".into(), r.count);
            for p in &r.processes {
                facts.items.push(TruthItem {
                    name: p.pid.to_string(),
                    ..TruthItem::default()
                });
            }
        }
        ParsedOutput::NetworkOutput(r) => {
            counts.insert("entries".into(), r.count);
            for s in r.listeners.iter().chain(&r.connections) {
                facts.items.push(TruthItem {
                    name: s.port.map_or_else(|| s.local.clone(), |p| p.to_string()),
                    ..TruthItem::default()
                });
            }
        }
        ParsedOutput::StructuredLog(r) => {
            counts.insert("entries".into(), r.lines);
            for (level, n) in &r.counts {
                counts.insert(level.clone(), *n);
            }
            for exception in &r.exceptions {
                facts.items.push(TruthItem {
                    name: "exception".into(),
                    message: Some(exception.clone()),
                    ..TruthItem::default()
                });
            }
        }
        ParsedOutput::Custom(r) => {
            if let Some(serde_json::Value::Array(errors)) = r.data.get("errors") {
                for error in errors.iter().filter_map(serde_json::Value::as_str) {
                    facts.items.push(TruthItem {
                        name: "error".into(),
                        message: Some(error.to_owned()),
                        ..TruthItem::default()
                    });
                }
            }
        }
    }
    facts
}

/// The item name of a diagnostic: `file:line`, or the message when it has no location.
pub fn diagnostic_name(file: Option<&str>, line: Option<u32>, message: &str) -> String {
    let file = file.map(|f| f.strip_prefix("./").unwrap_or(f));
    match (file, line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.to_owned(),
        _ => first_line(message),
    }
}

/// A message's first line with runs of whitespace made one space.
pub fn first_line(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a parsed message line stands for the truth's: equal, or a prefix
/// of it cut by the terminal (`...` or `…`), at least 12 characters long.
pub fn message_matches(parsed: &str, truth: &str) -> bool {
    let (parsed, truth) = (first_line(parsed), first_line(truth));
    // Equal, or the parsed line adds a label after `: ` (`cargo --message-format=short`).
    if parsed == truth
        || parsed
            .strip_prefix(truth.as_str())
            .is_some_and(|rest| rest.starts_with(": "))
    {
        return true;
    }
    let cut = parsed
        .trim_end_matches("...")
        .trim_end_matches('…')
        .trim_end();
    cut.chars().count() >= 12 && truth.starts_with(cut)
}

/// Compare the facts of a parse (see [`facts_of`]) with the truth.
pub fn compare(truth: &Truth, parsed: &ParsedOutput) -> Comparison {
    let facts = facts_of(parsed);
    let mut out = Comparison {
        counts_equal: true,
        names_equal: true,
        ..Comparison::default()
    };
    if let Some(status) = truth.status {
        out.facts_total += 1;
        if facts.status == Some(status) {
            out.facts_equal += 1;
        } else {
            out.mismatches.push(format!(
                "status: parsed {:?}, truth {status:?}",
                facts.status.unwrap_or_default()
            ));
        }
    }
    for (key, want) in &truth.counts {
        out.facts_total += 1;
        let got = facts.counts.get(key).copied();
        if got == Some(*want) {
            out.facts_equal += 1;
        } else {
            out.counts_equal = false;
            let got = got.map_or_else(|| "none".to_owned(), |n| n.to_string());
            out.mismatches
                .push(format!("{key}: parsed {got}, truth {want}"));
        }
    }
    let mut unmatched: Vec<&TruthItem> = facts.items.iter().collect();
    for item in &truth.items {
        out.facts_total += 1;
        let Some(at) = unmatched
            .iter()
            .position(|p| same_name(&p.name, &item.name))
        else {
            out.names_equal = false;
            out.mismatches.push(format!("missing: {}", item.name));
            out.facts_total +=
                usize::from(item.line.is_some()) + usize::from(item.message.is_some());
            continue;
        };
        let got = unmatched.remove(at);
        out.facts_equal += 1;
        if let Some(line) = item.line {
            out.facts_total += 1;
            let same_file = match (&item.file, &got.file) {
                (Some(want), Some(have)) => same_path(want, have),
                _ => true,
            };
            if got.line == Some(line) && same_file {
                out.facts_equal += 1;
            } else {
                out.mismatches.push(format!(
                    "{}: location parsed {}:{}, truth {}:{line}",
                    item.name,
                    got.file.as_deref().unwrap_or("?"),
                    got.line.map_or_else(|| "?".to_owned(), |l| l.to_string()),
                    item.file.as_deref().unwrap_or("?"),
                ));
            }
        }
        if let Some(message) = &item.message {
            out.facts_total += 1;
            let have = got.message.as_deref().unwrap_or_default();
            if message_matches(have, message) {
                out.facts_equal += 1;
            } else {
                out.mismatches.push(format!(
                    "{}: message parsed {:?}, truth {:?}",
                    item.name,
                    first_line(have),
                    first_line(message)
                ));
            }
        }
    }
    if !unmatched.is_empty() {
        out.names_equal = false;
        for extra in unmatched {
            out.mismatches.push(format!("extra: {}", extra.name));
        }
    }
    out
}

/// Names equal, or both `path:line` with the same line and paths that differ
/// only by a leading directory (tools print absolute or `./` paths).
fn same_name(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.rsplit_once(':'), b.rsplit_once(':')) {
        (Some((pa, la)), Some((pb, lb))) => {
            la == lb && la.bytes().all(|c| c.is_ascii_digit()) && same_path(pa, pb)
        }
        _ => false,
    }
}

/// Paths equal, or one is the other with a leading directory (`./a.py`, `/abs/dir/a.py`).
fn same_path(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches("./"), b.trim_start_matches("./"));
    a == b || a.ends_with(&format!("/{b}")) || b.ends_with(&format!("/{a}"))
}

/// How many of the truth's facts a text still states: each non-zero count
/// (the number next to one of its words), each item's name, location
/// (`file:line`, `file(line`, `file", line N`) and message (its first 40
/// characters). Returns `(kept, total)`.
pub fn text_score(truth: &Truth, text: &str) -> (usize, usize) {
    let facts = text_facts(truth, text);
    (facts.iter().filter(|(_, kept)| *kept).count(), facts.len())
}

/// The facts [`text_score`] counts, each with whether the text states it.
pub fn text_facts(truth: &Truth, text: &str) -> Vec<(String, bool)> {
    let mut facts = Vec::new();
    for (key, &n) in &truth.counts {
        if n > 0 {
            facts.push((format!("{n} {key}"), states_count(text, key, n)));
        }
    }
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for item in &truth.items {
        // `error` / `exception` items are known by their message alone.
        if !matches!(item.name.as_str(), "error" | "exception") {
            let short = item.name.split_once(':').map(|(_, rest)| rest);
            let named = text.contains(&item.name)
                || short.is_some_and(|s| item.name.contains(['/', '.']) && text.contains(s));
            facts.push((format!("name {}", item.name), named));
        }
        if let (Some(line), Some(file)) = (item.line, &item.file) {
            let base = file.rsplit('/').next().unwrap_or(file);
            let forms = [
                format!("{base}:{line}"),
                format!("{base}({line}"),
                format!("{base}\", line {line}"),
                format!("{base}, line {line}"),
            ];
            let kept = forms.iter().any(|f| text.contains(f.as_str()));
            facts.push((format!("location {base}:{line}"), kept));
        }
        if let Some(message) = &item.message {
            let probe: String = first_line(message).chars().take(40).collect();
            let kept = squeezed.contains(probe.as_str());
            facts.push((format!("message {probe}"), kept));
        }
    }
    facts
}

/// Words tools print beside each count.
fn count_words(key: &str) -> &'static [&'static str] {
    match key {
        "passed" => &[
            "passed",
            "passing",
            "pass",
            "ok",
            "tests passed",
            "examples",
        ],
        "failed" => &["failed", "failing", "failures", "failure", "fail"],
        "errors" => &["errors", "error"],
        "skipped" => &["skipped", "skips", "skip", "pending", "ignored", "todo"],
        "total" => &["total", "tests", "examples", "runs", "items", "Ran"],
        "warnings" => &["warnings", "warning"],
        "entries" => &["entries", "total", "rows", "items"],
        _ => &[],
    }
}

fn states_count(text: &str, key: &str, n: usize) -> bool {
    let number = n.to_string();
    let bytes = text.as_bytes();
    for word in count_words(key) {
        let mut from = 0;
        while let Some(found) = text[from..].find(word) {
            let at = from + found;
            from = at + word.len();
            // `N word` (a few characters between, such as `tests `) or `word: N` / `word N`.
            let before = text[..at].trim_end_matches([' ', ':', '\t']);
            let before = before.strip_suffix("tests").unwrap_or(before).trim_end();
            let digits = before.bytes().rev().take_while(u8::is_ascii_digit).count();
            let start = before.len() - digits;
            let boundary = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
            if digits > 0 && boundary && &before[start..] == number.as_str() {
                return true;
            }
            let after = text[from..].trim_start_matches([' ', ':', '\t', '=']);
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let ends = after
                .as_bytes()
                .get(digits)
                .is_none_or(|b| !b.is_ascii_digit());
            if digits > 0 && ends && &after[..digits] == number.as_str() {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_text() {
        assert!(states_count(
            "== 2 failed, 3 passed in 0.1s ==",
            "failed",
            2
        ));
        assert!(states_count("Tests:  1 failed, 4 total", "total", 4));
        assert!(states_count("ℹ pass 3", "passed", 3));
        assert!(!states_count("12 passed", "passed", 2));
        assert!(states_count("Ran 6 tests in 0.001s", "total", 6));
    }

    #[test]
    fn messages() {
        assert!(message_matches(
            "AssertionError: assert 1 == 2",
            "AssertionError:   assert 1 == 2\nmore"
        ));
        assert!(message_matches(
            "ZeroDivisionError: division b...",
            "ZeroDivisionError: division by zero"
        ));
        assert!(!message_matches("Zero...", "ZeroDivisionError"));
    }
}
