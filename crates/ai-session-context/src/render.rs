//! Building entries: the verbatim, digest and summary texts of messages and commands.

use crate::analysis::Analyzed;
use crate::entry::{
    CommandMeta, ContextEntry, EntryId, Fidelity, Importance, OriginRef, Rendition, Role,
};
use crate::facts::{KeyFacts, truncate_chars};

/// Longest command line shown in a one-line summary (characters).
const SUMMARY_COMMAND_CHARS: usize = 80;

/// Limits on rendered texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenderLimits {
    /// Token budget passed to the output crate's digest.
    pub digest_budget: usize,
    /// Longest message kept whole in its digest (characters); longer ones are cut extractively.
    pub message_digest_chars: usize,
    /// Longest summary line (characters).
    pub summary_chars: usize,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            digest_budget: 400,
            message_digest_chars: 1200,
            summary_chars: 240,
        }
    }
}

/// A message entry.
pub(crate) fn message(
    id: EntryId,
    role: Role,
    task: Option<String>,
    text: &str,
    decision: bool,
    limits: &RenderLimits,
) -> ContextEntry {
    let header = format!("[#{id} {}]", role.as_str());
    let body = text.trim();
    let verbatim = Rendition::new(format!("{header} {body}"));
    let digest = if body.chars().count() <= limits.message_digest_chars {
        verbatim.clone()
    } else {
        Rendition::new(format!(
            "{header} {}",
            extract_message(body, limits.message_digest_chars)
        ))
    };
    let first_line = body.lines().next().unwrap_or("");
    let mut summary_text = truncate_chars(first_line, limits.summary_chars);
    if summary_text.len() < body.len() && !summary_text.ends_with("...") {
        summary_text.push_str(" ...");
    }
    let summary = if summary_text == body {
        verbatim.clone()
    } else {
        Rendition::new(format!("{header} {summary_text}"))
    };
    let lower = body.to_lowercase();
    let importance = Importance {
        error: false,
        failure: false,
        decision: decision
            || lower.starts_with("decision:")
            || lower.contains("decided")
            || lower.starts_with("plan:"),
    };
    ContextEntry {
        id,
        role,
        task,
        command: None,
        fidelity: Fidelity::Verbatim,
        verbatim: Some(verbatim),
        digest,
        summary,
        importance,
        origin: None,
    }
}

/// Head, keyword lines and tail of a long message, within about `max_chars`.
fn extract_message(body: &str, max_chars: usize) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<usize> = Vec::new();
    let mut used = 0;
    let mut keep = |i: usize, kept: &mut Vec<usize>| {
        let len = lines[i].chars().count() + 1;
        if !kept.contains(&i) && used + len <= max_chars {
            used += len;
            kept.push(i);
        }
    };
    for i in 0..lines.len().min(3) {
        keep(i, &mut kept);
    }
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_lowercase();
        if ["error", "fail", "decid", "must", "todo", "because"]
            .iter()
            .any(|k| lower.contains(k))
        {
            keep(i, &mut kept);
        }
    }
    for i in lines.len().saturating_sub(2)..lines.len() {
        keep(i, &mut kept);
    }
    kept.sort_unstable();
    let mut out = String::new();
    let mut previous: Option<usize> = None;
    for i in kept {
        if previous.is_some_and(|p| p + 1 != i) {
            out.push_str("\n[...]\n");
        } else if previous.is_some() {
            out.push('\n');
        }
        out.push_str(&truncate_chars(lines[i], max_chars));
        previous = Some(i);
    }
    if out.is_empty() {
        out = truncate_chars(body, max_chars);
    }
    out
}

/// Everything needed to build a command entry.
pub(crate) struct CommandParts<'a> {
    pub id: EntryId,
    pub task: Option<String>,
    pub meta: CommandMeta,
    pub analyzed: &'a Analyzed,
    pub facts: &'a KeyFacts,
    pub origin: Option<OriginRef>,
}

/// A command entry.
pub(crate) fn command(parts: CommandParts<'_>, limits: &RenderLimits) -> ContextEntry {
    let CommandParts {
        id,
        task,
        meta,
        analyzed,
        facts,
        origin,
    } = parts;
    let status = meta
        .exit_code
        .map_or_else(|| "running".to_string(), |c| format!("exit {c}"));
    let cwd = meta
        .cwd
        .as_deref()
        .map(|c| format!(", cwd {c}"))
        .unwrap_or_default();
    let header = format!("[#{id} tool] $ {}", meta.command);
    let verbatim = Rendition::new(format!(
        "{header} ({status}{cwd})\n{}",
        analyzed.normalized.trim_end()
    ));
    let digest_text = format!("{header} ({status})\n{}", analyzed.digest.trim_end());
    let digest = if digest_text.len() >= verbatim.text().len() {
        verbatim.clone()
    } else {
        Rendition::new(digest_text)
    };
    let gist = Gist::of(&analyzed.normalized, &analyzed.digest);
    // A summary is one line: a long command line is cut, the full one is in the other renditions.
    let short_header = format!(
        "[#{id} tool] $ {}",
        truncate_chars(&meta.command, SUMMARY_COMMAND_CHARS)
    );
    let summary = Rendition::new(summary_line(
        &short_header,
        &status,
        facts,
        &gist,
        origin.as_ref(),
        limits,
    ));
    let failed = meta.exit_code.is_some_and(|c| c != 0);
    let importance = Importance {
        error: failed || !facts.errors.is_empty(),
        failure: !facts.failing_tests.is_empty(),
        decision: false,
    };
    ContextEntry {
        id,
        role: Role::Tool,
        task,
        command: Some(meta),
        fidelity: Fidelity::Verbatim,
        verbatim: Some(verbatim),
        digest,
        summary,
        importance,
        origin,
    }
}

/// What a summary can say about output whose key facts are few.
struct Gist<'a> {
    /// The digest's headline (`pytest: FAILED · 7 passed, 3 failed ...`), present when the
    /// digest had to leave lines out: it then starts with a line the output does not.
    headline: Option<&'a str>,
    /// The output's last non-empty line, where most tools print their outcome.
    last_line: Option<&'a str>,
    /// Non-empty lines in the output.
    lines: usize,
}

impl<'a> Gist<'a> {
    fn of(normalized: &'a str, digest: &'a str) -> Self {
        let first = |text: &'a str| text.lines().map(str::trim).find(|l| !l.is_empty());
        let headline = first(digest).filter(|h| first(normalized) != Some(*h));
        let last_line = normalized.lines().map(str::trim).rfind(|l| !l.is_empty());
        let lines = normalized.lines().filter(|l| !l.trim().is_empty()).count();
        Self {
            headline,
            last_line,
            lines,
        }
    }
}

fn summary_line(
    header: &str,
    status: &str,
    facts: &KeyFacts,
    gist: &Gist<'_>,
    origin: Option<&OriginRef>,
    limits: &RenderLimits,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(headline) = gist.headline {
        parts.push(headline.to_string());
    } else if let Some(counts) = &facts.counts {
        parts.push(counts.clone());
    }
    if !facts.failing_tests.is_empty() {
        parts.push(format!("failing: {}", facts.failing_tests.join(", ")));
    }
    if let Some(error) = facts.errors.first() {
        parts.push(error.clone());
    }
    if !facts.locations.is_empty() {
        parts.push(format!("at {}", facts.locations.join(", ")));
    }
    if parts.is_empty()
        && let Some(last) = gist.last_line
    {
        let plural = if gist.lines == 1 { "" } else { "s" };
        parts.push(format!("{} line{plural}, last: {last}", gist.lines));
    }
    let facts_text = truncate_chars(&parts.join("; "), limits.summary_chars);
    let mut line = format!("{header} -> {status}");
    if !facts_text.is_empty() {
        line.push_str(": ");
        line.push_str(&facts_text);
    }
    if let Some(origin) = origin {
        line.push_str(&format!(" (full output: {})", origin.label()));
    }
    line
}
