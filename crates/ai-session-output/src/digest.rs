//! A rendering of one command's output for an agent, under a token budget.
//!
//! Layout: a headline with the parsed facts (status, counts), then the kept
//! output lines in their original order with `… N lines omitted …` markers,
//! then how to read the rest. Lines are chosen by priority: the parser's
//! must-keep lines (errors with locations, failing tests, summaries) and the
//! tail first, then its context lines, then lines matching error or warning
//! patterns, then the head, then anything else in order.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::parsers::{self, Parse, Priority};
use crate::{DigestOptions, OutputKind, ParsedOutput, tokens};

/// Lines longer than this are cut in the digest (a minified JSON blob must not
/// eat the whole budget).
const MAX_LINE_CHARS: usize = 260;
/// Bytes kept from the start and end of a clipped line.
const CLIP_HEAD: usize = 170;
const CLIP_TAIL: usize = 70;
/// Tail lines always kept.
const TAIL_LINES: usize = 4;
/// Head lines offered when there is room.
const HEAD_LINES: usize = 6;
/// At most this many pattern-matched lines are considered (bounded work on huge logs).
const MAX_PATTERN_LINES: usize = 500;

static ERROR_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i-u)\b(?:error|errors|fatal|panic|panicked|exception|traceback|failed|failure|fail|denied|refused|not found|no such file|timed out|timeout|segmentation fault|core dumped|abort|aborted|critical|unable to|cannot|could not)\b",
    )
    .expect("error pattern is a valid regex")
});
static WARNING_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u)\b(?:warn|warning|warnings|deprecated)\b")
        .expect("warning pattern is a valid regex")
});

/// Render a digest of normalised text with the parsers' knowledge of `kind`.
///
/// ```
/// use ai_session_output::{digest, DigestOptions, OutputKind, tokens};
/// let text: String = (0..500).map(|i| format!("line {i}\n")).collect();
/// let d = digest(&text, OutputKind::Unknown, "./tool", &DigestOptions { budget: 60, ..Default::default() });
/// assert!(tokens::count(&d) <= 60);
/// assert!(d.contains("line 499"));
/// ```
pub fn digest(normalized: &str, kind: OutputKind, command: &str, opts: &DigestOptions) -> String {
    let lines = parsers::split_lines(normalized);
    let parse = parsers::parse_lines(kind, command, &lines, opts.exit_code);
    render(normalized, &lines, &parse, opts)
}

/// Render with an existing parse.
pub(crate) fn render(text: &str, lines: &[&str], parse: &Parse, opts: &DigestOptions) -> String {
    // Small outputs are shown whole: never longer than the output itself.
    if let Some(whole) = whole_output_if_it_fits(lines, opts.budget) {
        return whole;
    }
    let (digest, dropped) = select_and_render(lines, parse, &candidates(text, lines, parse), opts);
    if !dropped {
        return digest;
    }
    // The failures' own lines do not fit: one synthesised line per failure
    // (name, where, first message line) says the same facts in fewer tokens.
    match compact_failures(parse) {
        Some(compact) => {
            select_and_render(lines, &compact, &candidates(text, lines, &compact), opts).0
        }
        None => digest,
    }
}

/// A test run's parse with one must-keep note per failing test and the
/// failures' output lines lowered to context.
fn compact_failures(parse: &Parse) -> Option<Parse> {
    let ParsedOutput::TestResults(report) = &parse.output else {
        return None;
    };
    if report.failures.is_empty() && report.error_list.is_empty() {
        return None;
    }
    let mut compact = parse.clone();
    for keep in &mut compact.keep {
        if keep.priority == Priority::Must {
            keep.priority = Priority::High;
        }
    }
    let failures = report.failures.iter().map(|f| ("FAILED", f));
    let errors = report.error_list.iter().map(|f| ("ERROR", f));
    for (word, failure) in failures.chain(errors).take(200) {
        let mut note = format!("{word} {}", failure.name);
        if let Some(location) = &failure.location {
            note.push_str(&format!(" at {location}"));
        }
        if !failure.message.is_empty() {
            note.push_str(&format!(": {}", failure.message));
        }
        compact.notes.push((note, Priority::Must));
    }
    Some(compact)
}

/// Small outputs are shown whole (trailing blanks trimmed): nothing to choose.
fn whole_output_if_it_fits(lines: &[&str], budget: usize) -> Option<String> {
    // o200k never packs more than ~16 bytes of ordinary text into a token, so
    // anything longer cannot fit; skip counting 100 MB just to find that out.
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    if bytes > budget.saturating_mul(16) {
        return None;
    }
    let mut out = String::with_capacity(bytes);
    let mut blank_run = 0;
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let out = out.trim_matches('\n').to_owned();
    (tokens::count(&out) <= budget).then_some(out)
}

/// A line offered to the digest; lower ranks are taken first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    priority: Priority,
    /// Within a priority: 0 = parser-chosen, 1 = tail, 2 = error pattern,
    /// 3 = warning pattern, 4 = head, 5 = filler.
    source: u8,
    line: usize,
}

fn candidates(text: &str, lines: &[&str], parse: &Parse) -> Vec<Candidate> {
    let mut best: BTreeMap<usize, Candidate> = BTreeMap::new();
    let mut offer = |line: usize, priority: Priority, source: u8| {
        if line >= lines.len() || lines[line].trim().is_empty() || is_decoration(lines[line]) {
            return;
        }
        let candidate = Candidate {
            priority,
            source,
            line,
        };
        best.entry(line)
            .and_modify(|c| *c = (*c).min(candidate))
            .or_insert(candidate);
    };
    for keep in &parse.keep {
        offer(keep.line, keep.priority, 0);
    }
    // Whatever the parser knew: closing tallies and the exception that ended a
    // traceback are the facts an agent reads first, for every tool.
    for &line in &summary_lines(lines) {
        offer(line, Priority::Summary, 0);
    }
    let non_empty_tail = lines
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, l)| !l.trim().is_empty() && !is_decoration(l))
        .take(TAIL_LINES);
    // The tail stands in for a summary nobody recognised; with a summary line
    // among the last lines, it is context.
    let summaries = summary_lines(lines);
    let summary_near_end = summaries
        .last()
        .is_some_and(|&last| lines.len() - last <= 8);
    for (rank, (index, _)) in non_empty_tail.enumerate() {
        let priority = if rank < 2 && !summary_near_end {
            parse.tail_priority
        } else {
            Priority::High
        };
        offer(index, priority, 1);
    }
    // With no parser, the error, warning and failure lines and the first line
    // are what there is to go on: above the head and filler.
    let unknown = matches!(&parse.output, ParsedOutput::Custom(c) if c.subkind == "unknown");
    let pattern_priority = if unknown {
        Priority::High
    } else {
        Priority::Normal
    };
    if unknown && let Some(first) = lines.iter().position(|l| !l.trim().is_empty()) {
        offer(first, Priority::Must, 4);
    }
    let starts = line_starts(lines);
    for (pattern, source) in [(&*ERROR_PATTERN, 2u8), (&*WARNING_PATTERN, 3u8)] {
        let mut last_line = usize::MAX;
        let mut taken = 0;
        for m in pattern.find_iter(text) {
            let line = starts
                .partition_point(|&s| s <= m.start())
                .saturating_sub(1);
            if line == last_line {
                continue;
            }
            last_line = line;
            offer(line, pattern_priority, source);
            taken += 1;
            if taken >= MAX_PATTERN_LINES {
                break;
            }
        }
    }
    for index in 0..HEAD_LINES.min(lines.len()) {
        offer(index, Priority::Normal, 4);
    }
    let mut all: Vec<Candidate> = best.into_values().collect();
    all.sort();
    all
}

/// At most this many lines are raised to [`Priority::Summary`] (the last ones).
const MAX_SUMMARY_LINES: usize = 24;

/// Lines every digest keeps: tallies (`3 failed, 7 passed in 0.1s`, `test result: ...`,
/// `error: 3 targets failed:`), and the exception line closing each Python
/// traceback. The last [`MAX_SUMMARY_LINES`] of them, in line order.
pub(crate) fn summary_lines(lines: &[&str]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut in_traceback = false;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.ends_with("Traceback (most recent call last):") {
            in_traceback = true;
            continue;
        }
        if in_traceback {
            // Frames and their source lines are indented; the exception is not.
            if !line.starts_with(' ') && !trimmed.is_empty() {
                in_traceback = false;
                found.push(index);
            }
            continue;
        }
        if is_summary_line(trimmed) {
            found.push(index);
        }
    }
    let skip = found.len().saturating_sub(MAX_SUMMARY_LINES);
    found.split_off(skip)
}

fn is_summary_line(trimmed: &str) -> bool {
    if trimmed.len() > 200 || trimmed.is_empty() {
        return false;
    }
    let first = trimmed.as_bytes()[0];
    if !(first.is_ascii_alphanumeric() || matches!(first, b'=' | b'\xe2')) {
        return false;
    }
    trimmed.starts_with("test result: ")
        || (trimmed.starts_with("error: ") && trimmed.contains(" targets failed"))
        || trimmed.starts_with("Tests: ")
        || parsers::util::is_tally_line(trimmed)
            && [
                "passed", "failed", "passing", "failing", "errors", "error", "failures", "total",
            ]
            .iter()
            .any(|w| trimmed.contains(w))
}

fn line_starts(lines: &[&str]) -> Vec<usize> {
    let mut starts = Vec::with_capacity(lines.len());
    let mut offset = 0;
    for line in lines {
        starts.push(offset);
        offset += line.len() + 1;
    }
    starts
}

/// Rules and padding (`=====`, `_ _ _`, `----`) say nothing.
fn is_decoration(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= 3
        && trimmed.chars().all(|c| {
            matches!(
                c,
                '=' | '-'
                    | '_'
                    | '*'
                    | '#'
                    | '~'
                    | '.'
                    | ' '
                    | '\u{2500}'
                    | '\u{2501}'
                    | '\u{2014}'
            )
        })
}

/// Shorten a line for the digest: trailing blanks dropped, rule runs
/// (`=====`, `_____`) shortened to three characters, and very long lines cut.
fn clip(line: &str) -> Cow<'_, str> {
    let line = line.trim_end();
    let line = squeeze_rules(line);
    let chars = line.chars().count();
    if chars <= MAX_LINE_CHARS {
        return line;
    }
    // Keep both ends: long lines often end with the error (a JSON `exc`, a path).
    let head_end = line.floor_char_boundary(CLIP_HEAD);
    let tail_start = line.ceil_char_boundary(line.len() - CLIP_TAIL.min(line.len() - head_end));
    let omitted = line[head_end..tail_start].chars().count();
    Cow::Owned(format!(
        "{} …[{omitted} chars]… {}",
        &line[..head_end],
        &line[tail_start..]
    ))
}

fn is_rule_char(c: char) -> bool {
    matches!(
        c,
        '=' | '_' | '-' | '*' | '~' | '#' | '\u{2500}' | '\u{2501}'
    )
}

fn squeeze_rules(line: &str) -> Cow<'_, str> {
    let has_run = line.as_bytes().windows(4).any(|w| {
        w[0] == w[1]
            && w[1] == w[2]
            && w[2] == w[3]
            && matches!(w[0], b'=' | b'_' | b'-' | b'*' | b'~' | b'#')
    }) || line.contains("\u{2500}\u{2500}\u{2500}\u{2500}")
        || line.contains("\u{2501}\u{2501}\u{2501}\u{2501}");
    if !has_run {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut previous = None;
    let mut run = 0;
    for c in line.chars() {
        if Some(c) == previous && is_rule_char(c) {
            run += 1;
        } else {
            run = 1;
        }
        previous = Some(c);
        if run <= 3 {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A chosen piece of the digest: a synthesised note or an output line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Note(usize),
    Line(usize),
}

/// What has been chosen so far.
#[derive(Default)]
struct Selection {
    lines: BTreeMap<usize, Priority>,
    notes: BTreeMap<usize, Priority>,
    /// Order of choice, so that over-budget trimming undoes the least important pick.
    picked: Vec<Slot>,
}

impl Selection {
    fn add(&mut self, slot: Slot, priority: Priority) {
        match slot {
            Slot::Note(i) => self.notes.insert(i, priority),
            Slot::Line(i) => self.lines.insert(i, priority),
        };
        self.picked.push(slot);
    }

    /// Undo the most recent pick; returns its priority.
    fn undo(&mut self) -> Option<Priority> {
        match self.picked.pop()? {
            Slot::Note(i) => self.notes.remove(&i),
            Slot::Line(i) => self.lines.remove(&i),
        }
    }
}

/// The digest, and whether must-keep lines had to be left out.
fn select_and_render(
    lines: &[&str],
    parse: &Parse,
    candidates: &[Candidate],
    opts: &DigestOptions,
) -> (String, bool) {
    let budget = opts.budget;
    let headline = clip(&parse.headline).into_owned();
    // Reserve room for the headline, the closing hint and a few gap markers.
    let fixed = tokens::count(&headline)
        + tokens::count(&closing_line(lines.len(), lines.len(), false, opts))
        + 2;
    let mut used = fixed;
    let mut selection = Selection::default();
    let mut dropped_must = 0usize;
    // Notes and lines in one priority order: notes first within a priority.
    let mut order: Vec<(Priority, u8, Slot)> = parse
        .notes
        .iter()
        .enumerate()
        .map(|(i, (_, priority))| (*priority, 0, Slot::Note(i)))
        .collect();
    order.extend(
        candidates
            .iter()
            .map(|c| (c.priority, c.source + 1, Slot::Line(c.line))),
    );
    let ranks = block_ranks(candidates);
    order.sort_by_key(|(priority, source, slot)| {
        let (position, rank) = match slot {
            Slot::Note(i) => (*i, 0),
            Slot::Line(i) => (*i, ranks.get(i).copied().unwrap_or(0)),
        };
        (*priority, rank, *source, position)
    });
    // Stop scanning after a run of candidates that do not fit (bounded work).
    let mut misses = 0usize;
    for (priority, _, slot) in order {
        let cost = match slot {
            Slot::Note(i) => tokens::count(&clip(&parse.notes[i].0)) + 1,
            Slot::Line(line) => {
                tokens::count(&clip(lines[line])) + 1 + gap_cost(lines, &selection.lines, line)
            }
        };
        if used + cost <= budget {
            used += cost;
            selection.add(slot, priority);
            misses = 0;
        } else if priority <= Priority::Must {
            dropped_must += 1;
        } else {
            misses += 1;
            if misses > 64 {
                break;
            }
        }
    }
    // Filler: lines from the top, in order, while they fit.
    if used < budget {
        for (index, line) in lines.iter().enumerate().take(50_000) {
            if selection.lines.contains_key(&index) || line.trim().is_empty() || is_decoration(line)
            {
                continue;
            }
            let cost = tokens::count(&clip(line)) + 1 + gap_cost(lines, &selection.lines, index);
            if used + cost > budget {
                break;
            }
            used += cost;
            selection.add(Slot::Line(index), Priority::Normal);
        }
    }
    loop {
        let text = assemble(lines, parse, &headline, &selection, dropped_must, opts);
        if tokens::count(&text) <= budget {
            return (text, dropped_must > 0);
        }
        // Estimates were off (tokens merge across lines): undo the last pick.
        match selection.undo() {
            Some(Priority::Must | Priority::Summary) => dropped_must += 1,
            Some(_) => {}
            None => return (truncate_to_budget(&text, budget), true),
        }
    }
}

/// Must-keep lines come in blocks (a failing test's header, where it panicked,
/// the message). Each line's rank is its place in its block, so that under a
/// tight budget every block's first line is taken before any block's second:
/// the last failure keeps its name even when the first ones are long. A block
/// is a run of must-keep lines at most two lines apart.
fn block_ranks(candidates: &[Candidate]) -> BTreeMap<usize, usize> {
    let mut must: Vec<usize> = candidates
        .iter()
        .filter(|c| c.priority == Priority::Must && c.source == 0)
        .map(|c| c.line)
        .collect();
    must.sort_unstable();
    let mut ranks = BTreeMap::new();
    let mut rank = 0;
    let mut previous: Option<usize> = None;
    for line in must {
        rank = match previous {
            Some(p) if line - p <= 2 => rank + 1,
            _ => 0,
        };
        previous = Some(line);
        ranks.insert(line, rank);
    }
    ranks
}

/// A new gap marker costs about this many tokens; none is needed when only
/// blank or rule lines lie between this line and a chosen neighbour.
fn gap_cost(lines: &[&str], chosen: &BTreeMap<usize, Priority>, line: usize) -> usize {
    let silent = |l: &str| l.trim().is_empty() || is_decoration(l);
    let before = (0..line)
        .rev()
        .take_while(|&l| !chosen.contains_key(&l))
        .all(|l| silent(lines[l]))
        && (line == 0 || chosen.range(..line).next_back().is_some());
    let after = (line + 1..lines.len())
        .take_while(|&l| !chosen.contains_key(&l))
        .all(|l| silent(lines[l]))
        && chosen.range(line + 1..).next().is_some();
    if before || after { 0 } else { 5 }
}

/// Whether every line in `from..to` is blank or a rule (no marker needed for them).
fn only_silent(lines: &[&str], from: usize, to: usize) -> bool {
    lines[from..to]
        .iter()
        .all(|l| l.trim().is_empty() || is_decoration(l))
}

fn assemble(
    lines: &[&str],
    parse: &Parse,
    headline: &str,
    selection: &Selection,
    dropped_must: usize,
    opts: &DigestOptions,
) -> String {
    let mut out = String::new();
    out.push_str(headline);
    out.push('\n');
    for &index in selection.notes.keys() {
        out.push_str(&clip(&parse.notes[index].0));
        out.push('\n');
    }
    let mut next = 0usize;
    for &index in selection.lines.keys() {
        if index > next && !(next > 0 && only_silent(lines, next, index)) {
            push_gap(&mut out, next, index);
        }
        out.push_str(&clip(lines[index]));
        out.push('\n');
        next = index + 1;
    }
    if next < lines.len() {
        push_gap(&mut out, next, lines.len());
    }
    out.push_str(&closing_line(
        selection.lines.len(),
        lines.len(),
        dropped_must > 0,
        opts,
    ));
    out
}

/// `… 8 lines omitted`: how much is missing, in 5 tokens (line numbers cost 4
/// more per gap, and the closing hint says how to read the rest).
fn push_gap(out: &mut String, from: usize, to: usize) {
    if to - from == 1 {
        out.push_str("… 1 line omitted\n");
    } else {
        out.push_str(&format!("… {} lines omitted\n", to - from));
    }
}

fn closing_line(shown: usize, total: usize, truncated_facts: bool, opts: &DigestOptions) -> String {
    let mut line = format!("[digest: {shown} of {total} lines shown");
    if truncated_facts {
        line.push_str("; budget too small for all key lines, some omitted");
    }
    if let Some(hint) = &opts.more_hint {
        line.push_str("; full output: ");
        line.push_str(hint);
    }
    line.push(']');
    line
}

/// Last resort when even the headline and closing line exceed the budget.
fn truncate_to_budget(text: &str, budget: usize) -> String {
    let mut end = text.len();
    while end > 0 {
        end = text.floor_char_boundary(end * 3 / 4);
        // Count the result itself: the ellipsis can merge with the cut's last token or split
        // it (the fuzzer found a run of tabs where it did), so `count(cut) + 1` is no bound.
        let candidate = format!("{}…", &text[..end]);
        if tokens::count(&candidate) <= budget {
            return candidate;
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_tool_keeps_problems_and_both_ends() {
        let mut text = String::from("deploy v2.3 starting on 4 hosts\n");
        for i in 0..400 {
            text.push_str(&format!(
                "[{i:03}] syncing shard {i} of 400 to host-{}\n",
                i % 4
            ));
            if i == 150 {
                text.push_str("error: host-2 disk quota exceeded\n");
            }
            if i == 260 {
                text.push_str("warning: host-3 slow, retrying\n");
            }
            if i == 300 {
                text.push_str("shard 300 FAILED after 3 attempts\n");
            }
        }
        text.push_str("deploy finished: 399 of 400 shards\n");
        let opts = DigestOptions {
            budget: 200,
            exit_code: Some(1),
            ..DigestOptions::default()
        };
        let d = digest(&text, OutputKind::Unknown, "./deploy.sh", &opts);
        assert!(tokens::count(&d) <= 200, "{d}");
        for want in [
            "no parser matched",
            "deploy v2.3 starting on 4 hosts",
            "error: host-2 disk quota exceeded",
            "warning: host-3 slow, retrying",
            "shard 300 FAILED after 3 attempts",
            "deploy finished: 399 of 400 shards",
        ] {
            assert!(d.contains(want), "{want:?} missing from:\n{d}");
        }
    }
}
