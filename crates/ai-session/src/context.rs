//! Per-session agent context (`ai-session-context`) kept by the manager.
//!
//! Command records are ingested on demand: every `context` / `context.task` call first takes in
//! each finished command with an id above the last one it saw, from the session's whole history
//! (earlier shells' records, read back from `history.log` after a daemon restart, included),
//! then does its work and saves the context (`context.bin`, with that last id). So the context
//! never misses a command `exec` reported as finished, not even one that ran after the last
//! save and before a `kill -9` of the daemon: its record is durable in the history log (`exec`
//! commits it before answering) and is ingested on the first use after the restart. `exec`
//! itself does no context work. Ingesting and packing tokenise, so they run on a blocking
//! thread, never on the runtime.

use std::sync::{Arc, Mutex};

use ai_session_context::{CommandInput, OriginRef, SessionContext};
use ai_session_persist::SessionStore;
use ai_session_pty::PtySession;

use crate::error::{Error, Result};
use crate::persistence::Past;
use crate::protocol as p;

/// Start of a `context.bin` that carries the id of the last ingested command (then 8 bytes,
/// little endian) before the context's own serialisation. Older files are the bare context.
const BLOB_MAGIC: &[u8; 8] = b"AISCTX2\n";

/// Live-context budget of a session's context (compression keeps it under this).
pub const MAX_CONTEXT_TOKENS: usize = 32_000;

/// A session's context and how far into its command history it has read.
#[derive(Debug, Clone)]
pub struct ContextState {
    context: SessionContext,
    /// Highest command record id already ingested (ids are unique across the session's shells).
    ingested: u64,
}

impl Default for ContextState {
    fn default() -> Self {
        Self {
            context: SessionContext::new(MAX_CONTEXT_TOKENS),
            ingested: 0,
        }
    }
}

impl ContextState {
    /// A context saved by an earlier daemon ([`Self::to_bytes`]). Ingestion goes on after the
    /// last command it had seen.
    pub fn restored(bytes: &[u8]) -> Result<ContextState> {
        let unreadable = |e: ai_session_context::ContextError| Error::InvalidParam {
            field: "context",
            reason: format!("saved context unreadable: {e}"),
        };
        if let Some(rest) = bytes.strip_prefix(BLOB_MAGIC.as_slice())
            && let Some((ingested, context)) = rest.split_first_chunk::<8>()
        {
            return Ok(ContextState {
                context: SessionContext::from_bytes(context).map_err(unreadable)?,
                ingested: u64::from_le_bytes(*ingested),
            });
        }
        // A file from before the id was stored: its newest command entry is the best guess.
        let context = SessionContext::from_bytes(bytes).map_err(unreadable)?;
        let ingested = context
            .messages()
            .iter()
            .filter_map(|entry| entry.origin.as_ref()?.record)
            .max()
            .unwrap_or(0);
        Ok(ContextState { context, ingested })
    }

    /// Id of the newest command record the context has taken in.
    pub fn ingested(&self) -> u64 {
        self.ingested
    }

    /// The blob saved as `context.bin`: the last ingested id, then the context.
    pub fn to_bytes(&self) -> std::result::Result<Vec<u8>, ai_session_context::ContextError> {
        let context = self.context.to_bytes()?;
        let mut bytes = Vec::with_capacity(BLOB_MAGIC.len() + 8 + context.len());
        bytes.extend_from_slice(BLOB_MAGIC);
        bytes.extend_from_slice(&self.ingested.to_le_bytes());
        bytes.extend_from_slice(&context);
        Ok(bytes)
    }
}

/// Shared between the manager's session entry and blocking workers.
pub type SharedContext = Arc<Mutex<ContextState>>;

/// A finished command not yet ingested, with the output bytes the scrollback still holds.
struct Pending {
    record: ai_session_pty::CommandRecord,
    output: Vec<u8>,
}

/// Finished records newer than `ingested` (earlier shells' and the current one's, absolute
/// offsets), with the output bytes still held (cheap copies, no parsing).
fn pending(pty: &PtySession, past: &Past, ingested: u64) -> Vec<Pending> {
    past.history_after(pty, ingested)
        .into_iter()
        .filter(|r| r.ended_at.is_some())
        .map(|record| {
            let len = record.output.end.saturating_sub(record.output.start);
            let mut chunk = past.read(
                pty,
                record.output.start,
                usize::try_from(len).unwrap_or(usize::MAX),
            );
            // Bytes already dropped off the ring are simply absent (the origin still points at
            // them); a read that starts late must not run into the next command's output.
            let keep = record.output.end.saturating_sub(chunk.start);
            chunk
                .data
                .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
            Pending {
                record,
                output: chunk.data,
            }
        })
        .collect()
}

fn ingest(
    state: &mut ContextState,
    session: &str,
    pending: Vec<Pending>,
    redactor: &ai_session_security::redact::Redactor,
) {
    for Pending { record, output } in pending {
        // Secrets never enter the context (nor `context.bin`): packs show `[redacted:KIND]`.
        let cleaned = match redactor.redact(&String::from_utf8_lossy(&output)) {
            std::borrow::Cow::Owned(clean) => Some(clean.into_bytes()),
            std::borrow::Cow::Borrowed(_) => None,
        };
        let output = cleaned.unwrap_or(output);
        let command_line = redactor.redact(&record.command).into_owned();
        if record.id <= state.ingested {
            continue; // a concurrent request got here first
        }
        let origin = OriginRef {
            session: session.to_owned(),
            record: Some(record.id),
            start: record.output.start,
            end: record.output.end,
        };
        let command = if command_line.is_empty() {
            "(typed interactively)"
        } else {
            &command_line
        };
        state.context.add_command(CommandInput {
            command,
            exit_code: record.exit_code,
            cwd: record.cwd.as_deref(),
            output: &output,
            origin: Some(&origin),
        });
        state.ingested = record.id;
    }
}

/// One session's context and where its command records and saved copy are.
pub struct ContextSource<'a> {
    /// The session id.
    pub session: &'a str,
    /// The live shell (its command records and scrollback).
    pub pty: &'a PtySession,
    /// Earlier shells' records and output.
    pub past: &'a Past,
    /// The context itself.
    pub shared: &'a SharedContext,
    /// Where the context is saved, when the manager persists.
    pub store: Option<SessionStore>,
    /// Redacts secrets from what enters the context.
    pub redactor: &'a ai_session_security::redact::Redactor,
}

/// Runs `work` on the session's context after ingesting its new command records, on a blocking
/// thread.
/// With a `store`, the context is saved (`context.bin`, atomically) after the work, so task
/// contexts and ingested history survive a daemon restart.
async fn with_context<T: Send + 'static>(
    source: ContextSource<'_>,
    work: impl FnOnce(&mut SessionContext) -> Result<T> + Send + 'static,
) -> Result<T> {
    let ContextSource {
        session,
        pty,
        past,
        shared,
        store,
        redactor,
    } = source;
    let redactor = redactor.clone();
    let ingested = lock(shared).ingested;
    let pending = pending(pty, past, ingested);
    let shared = Arc::clone(shared);
    let session = session.to_owned();
    let joined = tokio::task::spawn_blocking(move || {
        let mut state = lock(&shared);
        ingest(&mut state, &session, pending, &redactor);
        let result = work(&mut state.context);
        if let Some(store) = store {
            save(&store, &state);
        }
        result
    })
    .await;
    match joined {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(Error::ShuttingDown),
        },
    }
}

fn save(store: &SessionStore, state: &ContextState) {
    let saved = state
        .to_bytes()
        .map_err(|e| e.to_string())
        .and_then(|bytes| store.save_context(&bytes).map_err(|e| e.to_string()));
    if let Err(error) = saved {
        tracing::warn!(session = store.id(), %error, "could not save the context");
    }
}

/// `context`: the session's context packed to `budget` tokens for `task`.
pub async fn packed(
    source: ContextSource<'_>,
    params: p::ContextParams,
) -> Result<p::ContextResult> {
    let budget = params.budget.unwrap_or(p::DEFAULT_CONTEXT_BUDGET);
    let owner = source.session.to_owned();
    with_context(source, move |ctx| {
        let packed = ctx.context(budget, params.task.as_deref());
        Ok(p::ContextResult {
            session: owner,
            current_tokens: ctx.current_tokens(),
            max_tokens: ctx.max_tokens(),
            workspace: crate::json::to_value(ctx.workspace_state())?,
            packed: crate::json::to_value(&packed)?,
        })
    })
    .await
}

/// `context.task`: create, switch or show task contexts.
pub async fn task(
    source: ContextSource<'_>,
    params: p::ContextTaskParams,
) -> Result<p::ContextTaskResult> {
    let owner = source.session.to_owned();
    with_context(source, move |ctx| {
        match params.action {
            p::ContextTaskAction::New => {
                let id = params
                    .id
                    .ok_or_else(|| missing("id", "`new` needs the task id"))?;
                let description = params.description.unwrap_or_default();
                ctx.new_task(&id, &description, params.parent.as_deref())
                    .map_err(|e| invalid("id", &e))?;
                ctx.switch_task(Some(&id)).map_err(|e| invalid("id", &e))?;
            }
            p::ContextTaskAction::Switch => {
                ctx.switch_task(params.id.as_deref())
                    .map_err(|e| invalid("id", &e))?;
            }
            p::ContextTaskAction::Show => {}
        }
        Ok(p::ContextTaskResult {
            session: owner,
            current: ctx.current_task().map(|t| t.id.clone()),
            tasks: ctx
                .task_contexts()
                .values()
                .map(crate::json::to_value)
                .collect::<Result<_>>()?,
        })
    })
    .await
}

fn missing(field: &'static str, reason: &str) -> Error {
    Error::InvalidParam {
        field,
        reason: reason.to_owned(),
    }
}

fn invalid(field: &'static str, error: &ai_session_context::ContextError) -> Error {
    Error::InvalidParam {
        field,
        reason: error.to_string(),
    }
}

fn lock(shared: &SharedContext) -> std::sync::MutexGuard<'_, ContextState> {
    // A panic while holding the lock leaves a context that is still consistent entry by entry.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_records(ids: &[u64]) -> ContextState {
        let mut state = ContextState::default();
        for &id in ids {
            let origin = OriginRef {
                session: "s".into(),
                record: Some(id),
                start: id * 10,
                end: id * 10 + 5,
            };
            state.context.add_command(CommandInput {
                command: "echo hi",
                exit_code: Some(0),
                cwd: None,
                output: b"hi\r\n",
                origin: Some(&origin),
            });
            state.ingested = id;
        }
        state
    }

    #[test]
    fn saved_context_keeps_the_last_ingested_id() {
        let mut state = state_with_records(&[1, 2]);
        // Ahead of its entries: a record ingested, then evicted by compression.
        state.ingested = 9;
        let restored = ContextState::restored(&state.to_bytes().unwrap()).unwrap();
        assert_eq!(restored.ingested(), 9);
        assert_eq!(restored.context.messages().len(), 2);
    }

    #[test]
    fn bare_context_from_older_daemons_resumes_after_its_newest_record() {
        let state = state_with_records(&[3, 4]);
        let bare = state.context.to_bytes().unwrap();
        let restored = ContextState::restored(&bare).unwrap();
        assert_eq!(restored.ingested(), 4);
        assert!(ContextState::restored(b"AISCTX2\nshort").is_err());
        assert!(ContextState::restored(b"not a context").is_err());
    }
}
