//! The bridge to `ai-session-output`: normalised text and digest of one command's output.

use ai_session_output::{DigestOptions, detect_kind, digest, normalize};

/// What the context needs from the output pipeline for one command.
#[derive(Debug, Clone)]
pub struct Analyzed {
    /// The output as a person saw it (escape sequences removed, `\r` overwrites applied).
    pub normalized: String,
    /// The output crate's digest under the configured budget.
    pub digest: String,
}

/// Normalises and digests `raw`, the output of `command`.
///
/// Calls the pipeline's steps rather than `ai_session_output::analyze`, because `analyze` also
/// counts the normalised text's tokens and the context counts its own rendering of it (header
/// included) instead: tokenising twice would halve ingest speed.
pub fn analyze(
    command: &str,
    raw: &[u8],
    exit_code: Option<i32>,
    budget: usize,
    more_hint: Option<String>,
) -> Analyzed {
    let normalized = normalize(raw);
    let kind = detect_kind(command, &normalized);
    let options = DigestOptions {
        budget,
        exit_code,
        more_hint,
    };
    let digest = digest(&normalized, kind, command, &options);
    Analyzed { normalized, digest }
}
