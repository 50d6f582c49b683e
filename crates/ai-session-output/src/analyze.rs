//! The whole pipeline: normalise, detect, parse, digest.

use serde::{Deserialize, Serialize};

use crate::{OutputKind, ParsedOutput, detect_kind, digest, normalize, parsers, tokens};

/// How to build the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DigestOptions {
    /// Maximum o200k tokens in the digest (default 400).
    pub budget: usize,
    /// The command's exit status, when known; a non-zero code marks the run failed.
    pub exit_code: Option<i32>,
    /// How to read the full output, appended when lines were left out
    /// (e.g. `ai-session read -s S --range A..B`).
    pub more_hint: Option<String>,
}

impl Default for DigestOptions {
    fn default() -> Self {
        Self {
            budget: 400,
            exit_code: None,
            more_hint: None,
        }
    }
}

/// Everything the pipeline learned about one command's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The output as a person saw it (see [`normalize`]).
    pub normalized: String,
    /// Which tool produced it.
    pub kind: OutputKind,
    /// Structured facts.
    pub parsed: ParsedOutput,
    /// Rendering for an agent, at most `budget` tokens.
    pub digest: String,
    /// o200k tokens in `normalized`.
    pub tokens_raw: usize,
    /// o200k tokens in `digest`.
    pub tokens_digest: usize,
}

/// Run the pipeline on one command's raw output.
///
/// ```
/// use ai_session_output::{analyze, DigestOptions, ParsedOutput};
/// let raw = b"running 1 test\r\ntest t ... \x1b[32mok\x1b[0m\r\n\r\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\r\n";
/// let analysis = analyze("cargo test", raw, &DigestOptions::default());
/// assert!(analysis.digest.contains("1 passed"));
/// assert!(analysis.tokens_digest <= 400);
/// ```
pub fn analyze(command: &str, raw: &[u8], opts: &DigestOptions) -> Analysis {
    let normalized = normalize(raw);
    let kind = detect_kind(command, &normalized);
    let (parsed, digest, tokens_raw) = parse_digest_and_count(&normalized, kind, command, opts);
    let tokens_digest = tokens::count(&digest);
    Analysis {
        kind,
        parsed,
        digest,
        tokens_raw,
        tokens_digest,
        normalized,
    }
}

/// Below this size one thread does everything; above it, counting the whole
/// output's tokens (the single most expensive step) overlaps with parsing.
const PARALLEL_COUNT_MIN: usize = 1 << 20;

fn parse_digest_and_count(
    normalized: &str,
    kind: OutputKind,
    command: &str,
    opts: &DigestOptions,
) -> (ParsedOutput, String, usize) {
    let parse_and_digest = || {
        let lines = parsers::split_lines(normalized);
        let parse = parsers::parse_lines(kind, command, &lines, opts.exit_code);
        let digest = digest::render(normalized, &lines, &parse, opts);
        (parse.output, digest)
    };
    // This thread also parses and digests (about a fifth of the counting cost on
    // the corpus mix), so it counts the smaller part.
    let split = (normalized.len() >= PARALLEL_COUNT_MIN)
        .then(|| tokens::exact_split_point(normalized, normalized.len() * 2 / 5))
        .flatten();
    let Some(split) = split else {
        let (parsed, digest) = parse_and_digest();
        return (parsed, digest, tokens::count(normalized));
    };
    let (head, tail) = normalized.split_at(split);
    std::thread::scope(|scope| {
        let tail_count = std::thread::Builder::new()
            .name("token-count".into())
            .spawn_scoped(scope, || tokens::count(tail));
        let (parsed, digest) = parse_and_digest();
        let head_count = tokens::count(head);
        // A failed spawn or a panicked counter: count here instead.
        let tail_count = match tail_count {
            Ok(handle) => handle.join().unwrap_or_else(|_| tokens::count(tail)),
            Err(_) => tokens::count(tail),
        };
        (parsed, digest, head_count + tail_count)
    })
}
