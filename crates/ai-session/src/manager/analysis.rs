//! The output pipeline for commands: digests and facts under a token budget, computed off the
//! runtime threads, once per finished command and budget (the `exec` that ran it and its
//! `command_finished` event share the work).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::*;

/// Budget of digests when none is given: in `command_finished` events, and the tools' default.
pub const DIGEST_BUDGET: usize = 400;
/// Outputs up to this many bytes are analysed on the calling task.
const INLINE_ANALYSIS: usize = 256;
/// Analyses of finished commands kept per session.
const KEPT: usize = 8;

type Cell = Arc<OnceCell<Option<p::ExecAnalysis>>>;

/// One session's recent analyses of finished commands.
#[derive(Debug, Default)]
pub(super) struct Analyses {
    recent: Mutex<VecDeque<((u64, usize), Cell)>>,
    /// Secrets are redacted from every analysis (exec answers and `command_finished` alike).
    redactor: Arc<ai_session_security::redact::Redactor>,
}

impl Analyses {
    /// Analyses whose digests and facts go through `redactor`.
    pub(super) fn new(redactor: Arc<ai_session_security::redact::Redactor>) -> Self {
        Analyses {
            recent: Mutex::default(),
            redactor,
        }
    }

    /// The analysis of finished command `record` (absolute offsets; its output is `raw`) at
    /// `budget`, computed by the first caller and shared with the others.
    pub(super) async fn finished(
        &self,
        session: &str,
        record: &ai_session_pty::CommandRecord,
        raw: &[u8],
        budget: usize,
    ) -> Option<p::ExecAnalysis> {
        let cell = {
            let mut recent = lock(&self.recent);
            let key = (record.id, budget);
            match recent.iter().find(|(k, _)| *k == key) {
                Some((_, cell)) => cell.clone(),
                None => {
                    let cell = Cell::default();
                    recent.push_back((key, cell.clone()));
                    if recent.len() > KEPT {
                        recent.pop_front();
                    }
                    cell
                }
            }
        };
        cell.get_or_init(|| async {
            match analyze_output(session, record, raw, budget).await {
                Ok(analysis) => Some(redacted(analysis, &self.redactor)),
                Err(error) => {
                    tracing::warn!(session, id = record.id, %error, "output not analysed");
                    None
                }
            }
        })
        .await
        .clone()
    }
}

/// Runs the output pipeline off the runtime threads (it is CPU work proportional to the output).
pub(super) async fn analyze_output(
    session: &str,
    record: &ai_session_pty::CommandRecord,
    raw: &[u8],
    budget: usize,
) -> Result<p::ExecAnalysis> {
    let command = record.command.clone();
    let exit_code = record.exit_code;
    let more_hint = format!(
        "the whole output: `read` session {session} since {} ({} bytes)",
        record.output.start,
        record.output.len()
    );
    let options = ai_session_output::DigestOptions {
        budget,
        exit_code,
        more_hint: Some(more_hint),
    };
    // A short output takes a microsecond or two: less than handing it to a blocking thread
    // and back (two thread wake-ups, per finished command).
    if raw.len() <= INLINE_ANALYSIS {
        return crate::output::exec_analysis(ai_session_output::analyze(&command, raw, &options));
    }
    let raw = raw.to_vec();
    let analysis =
        tokio::task::spawn_blocking(move || ai_session_output::analyze(&command, &raw, &options))
            .await
            .map_err(|e| Error::internal("analyse the output", e))?;
    crate::output::exec_analysis(analysis)
}

/// `analysis` with every secret in its digest and facts replaced by `[redacted:KIND]`.
pub(super) fn redacted(
    mut analysis: p::ExecAnalysis,
    redactor: &ai_session_security::redact::Redactor,
) -> p::ExecAnalysis {
    analysis.digest = redactor.redact(&analysis.digest).into_owned();
    redact_strings(&mut analysis.parsed, redactor);
    analysis
}

/// Redacts every string inside a JSON value.
pub(crate) fn redact_strings(
    value: &mut serde_json::Value,
    redactor: &ai_session_security::redact::Redactor,
) {
    match value {
        serde_json::Value::String(text) => {
            if let std::borrow::Cow::Owned(clean) = redactor.redact(text) {
                *text = clean;
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| redact_strings(v, redactor))
        }
        serde_json::Value::Object(map) => {
            map.values_mut().for_each(|v| redact_strings(v, redactor))
        }
        _ => {}
    }
}

/// The bytes of `range` still held (old output may have left the scrollback ring).
pub(super) fn output_of(entry: &Entry, range: ai_session_pty::ByteRange) -> Vec<u8> {
    let mut out = Vec::with_capacity(range.len().min(1 << 20) as usize);
    let mut since = range.start;
    while since < range.end {
        let chunk = entry
            .past
            .read(&entry.pty, since, (range.end - since).min(1 << 20) as usize);
        if chunk.next_offset <= since {
            break;
        }
        out.extend_from_slice(&chunk.data);
        since = chunk.next_offset;
    }
    out
}
