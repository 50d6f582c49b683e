//! Readers of the tools' machine reports, each into a [`Truth`]. These are
//! deliberately separate from the product's parsers: they read the formats
//! the tools define for machines (XML, JSON), never the human text.

use std::path::Path;

use ai_session_output::Status;
use ai_session_output::fidelity::{Truth, TruthItem, diagnostic_name, first_line};
use anyhow::{Context, bail};
use serde_json::Value;

use super::Plain;

/// Which of the truth's facts a human variant prints.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Counts to compare (the others are left out of the truth).
    pub counts: &'static [&'static str],
    /// Compare item locations.
    pub location: bool,
    /// Compare item messages.
    pub message: bool,
}

pub const TESTS: &[&str] = &["passed", "failed", "errors", "skipped", "total"];
pub const DIAGNOSTICS: &[&str] = &["errors", "warnings"];

impl Scope {
    pub const fn all(counts: &'static [&'static str]) -> Self {
        Self {
            counts,
            location: true,
            message: true,
        }
    }

    pub fn apply(&self, truth: &mut Truth) {
        truth
            .counts
            .retain(|key, _| self.counts.contains(&key.as_str()));
        for item in &mut truth.items {
            if !self.location {
                item.file = None;
                item.line = None;
            }
            if !self.message {
                item.message = None;
            }
        }
    }
}

/// Paths in reports are made relative to the work directory.
pub fn relative(dir: &Path, file: &str) -> String {
    let prefix = format!("{}/", dir.display());
    file.strip_prefix(&prefix)
        .unwrap_or(file)
        .trim_start_matches("./")
        .to_owned()
}

fn read(plain: &Plain, name: &str) -> anyhow::Result<String> {
    let path = plain.dir.join(name);
    std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (stderr: {})",
            path.display(),
            String::from_utf8_lossy(&plain.stderr)
        )
    })
}

fn json_stdout(plain: &Plain) -> anyhow::Result<Value> {
    serde_json::from_slice(&plain.stdout).with_context(|| {
        format!(
            "stdout is not JSON: {} (stderr: {})",
            String::from_utf8_lossy(&plain.stdout[..plain.stdout.len().min(400)]),
            String::from_utf8_lossy(&plain.stderr)
        )
    })
}

fn test_status(truth: &Truth) -> Status {
    let bad = truth.counts.get("failed").copied().unwrap_or(0)
        + truth.counts.get("errors").copied().unwrap_or(0);
    if bad > 0 {
        Status::Failed
    } else {
        Status::Success
    }
}

/// One JUnit `<testcase>`.
pub struct Case<'a> {
    pub name: &'a str,
    pub classname: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
    /// `failure`, `error`, `skipped` or `` (passed).
    pub outcome: &'static str,
    pub message: String,
    pub text: String,
}

/// A JUnit XML report: counts from the test cases, failures and errors as items.
/// `name_of` spells a case's name as the human format does; `locate` finds its
/// `file:line` (default: the case's own attributes).
pub fn junit(
    xml: &str,
    dir: &Path,
    name_of: &dyn Fn(&Case<'_>) -> String,
    locate: &dyn Fn(&Case<'_>) -> Option<(String, u32)>,
    errors_are_failures: bool,
) -> anyhow::Result<Truth> {
    let doc = roxmltree::Document::parse(xml).context("JUnit report is not XML")?;
    let mut truth = Truth::default();
    let mut counts = [0usize; 4]; // passed failed errors skipped
    for node in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let mut case = Case {
            name: node.attribute("name").unwrap_or_default(),
            classname: node.attribute("classname").unwrap_or_default(),
            file: node.attribute("file"),
            line: node.attribute("line").and_then(|l| l.parse().ok()),
            outcome: "",
            message: String::new(),
            text: String::new(),
        };
        for child in node.children().filter(roxmltree::Node::is_element) {
            let tag = child.tag_name().name();
            let outcome = match tag {
                "failure" => "failure",
                "error" => "error",
                "skipped" => "skipped",
                _ => continue,
            };
            if case.outcome.is_empty() || outcome != "skipped" {
                case.outcome = outcome;
                case.message = child.attribute("message").unwrap_or_default().to_owned();
                case.text = child.text().unwrap_or_default().to_owned();
            }
        }
        let slot = match case.outcome {
            "failure" => 1,
            "error" if errors_are_failures => 1,
            "error" => 2,
            "skipped" => 3,
            _ => 0,
        };
        counts[slot] += 1;
        if slot == 1 || slot == 2 {
            let location = locate(&case).or_else(|| Some((case.file?.to_owned(), case.line?)));
            truth.items.push(TruthItem {
                name: name_of(&case),
                file: location.as_ref().map(|(f, _)| relative(dir, f)),
                line: location.map(|(_, l)| l),
                message: Some(first_line(&case.message)),
            });
        }
    }
    for (key, n) in ["passed", "failed", "errors", "skipped"].iter().zip(counts) {
        truth.counts.insert((*key).into(), n);
    }
    truth.counts.insert("total".into(), counts.iter().sum());
    truth.status = Some(test_status(&truth));
    Ok(truth)
}

/// The last `file.py:N: ` line of a pytest traceback.
fn pytest_location(case: &Case<'_>) -> Option<(String, u32)> {
    case.text.lines().rev().find_map(|line| {
        let (location, _) = line.split_once(": ")?;
        let (file, number) = location.rsplit_once(':')?;
        (file.ends_with(".py") && !file.contains(' '))
            .then(|| Some((file.to_owned(), number.parse().ok()?)))
            .flatten()
    })
}

/// `test_calc.TestStrings` + `test_lower` -> `test_calc.py::TestStrings::test_lower`.
fn pytest_name(case: &Case<'_>) -> String {
    let mut module = Vec::new();
    let mut classes = Vec::new();
    for part in case.classname.split('.') {
        if classes.is_empty() && !part.starts_with(|c: char| c.is_ascii_uppercase()) {
            module.push(part);
        } else {
            classes.push(part);
        }
    }
    let mut name = format!("{}.py", module.join("/"));
    for class in classes {
        name.push_str("::");
        name.push_str(class);
    }
    format!("{name}::{}", case.name)
}

pub fn pytest_junit(plain: &Plain) -> anyhow::Result<Truth> {
    let xml = read(plain, "truth.xml")?;
    let mut truth = junit(&xml, &plain.dir, &pytest_name, &pytest_location, false)?;
    for item in &mut truth.items {
        // Setup errors say `failed on setup with "RuntimeError: x"`; the terminal says `RuntimeError: x`.
        if let Some(message) = &mut item.message
            && let Some(inner) = message
                .split_once(" with \"")
                .filter(|(head, _)| head.starts_with("failed on "))
                .map(|(_, inner)| inner.trim_end_matches('"').to_owned())
        {
            *message = inner;
        }
    }
    Ok(truth)
}

/// Expect a non-empty stdout, for readers that need one.
#[allow(dead_code)]
fn need_stdout(plain: &Plain) -> anyhow::Result<()> {
    if plain.stdout.is_empty() {
        bail!(
            "machine run printed nothing (exit {:?}): {}",
            plain.exit,
            String::from_utf8_lossy(&plain.stderr)
        );
    }
    Ok(())
}

#[allow(dead_code)]
fn unused(plain: &Plain) -> anyhow::Result<Value> {
    let _ = diagnostic_name(None, None, "");
    json_stdout(plain)
}
