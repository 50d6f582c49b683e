//! Per-session agent context (`ai-session-context`) kept by the manager: command records are
//! ingested on demand, then packed to a budget for a task. Ingesting and packing tokenise, so
//! they run on a blocking thread, never on the runtime.

use std::sync::{Arc, Mutex};

use ai_session_context::{CommandInput, OriginRef, SessionContext};
use ai_session_persist::SessionStore;
use ai_session_pty::PtySession;

use crate::error::{Error, Result};
use crate::protocol as p;

/// Live-context budget of a session's context (compression keeps it under this).
pub const MAX_CONTEXT_TOKENS: usize = 32_000;

/// A session's context and how far into its command history it has read.
#[derive(Debug)]
pub struct ContextState {
    context: SessionContext,
    /// Highest command record id already ingested.
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
    /// A context saved by an earlier daemon. Its entries already cover the old command records;
    /// the restarted shell numbers its records from 1 again, so ingestion starts over.
    pub fn restored(bytes: &[u8]) -> Result<ContextState> {
        let context = SessionContext::from_bytes(bytes).map_err(|e| Error::InvalidParam {
            field: "context",
            reason: format!("saved context unreadable: {e}"),
        })?;
        Ok(ContextState {
            context,
            ingested: 0,
        })
    }
}

/// Shared between the manager's session entry and blocking workers.
pub type SharedContext = Arc<Mutex<ContextState>>;

/// A finished command not yet ingested, with the output bytes the scrollback still holds.
struct Pending {
    record: ai_session_pty::CommandRecord,
    output: Vec<u8>,
}

/// Finished records newer than `ingested`, with their output (cheap copies, no parsing).
fn pending(pty: &PtySession, ingested: u64) -> Vec<Pending> {
    pty.history()
        .into_iter()
        .filter(|r| r.id > ingested && r.ended_at.is_some())
        .map(|record| {
            let len = record.output.end.saturating_sub(record.output.start);
            let chunk = pty.read(
                record.output.start,
                usize::try_from(len).unwrap_or(usize::MAX),
            );
            // Bytes already dropped off the ring are simply absent; the origin still points at them.
            Pending {
                record,
                output: chunk.data,
            }
        })
        .collect()
}

fn ingest(state: &mut ContextState, session: &str, pending: Vec<Pending>) {
    for Pending { record, output } in pending {
        if record.id <= state.ingested {
            continue; // a concurrent request got here first
        }
        let origin = OriginRef {
            session: session.to_owned(),
            record: Some(record.id),
            start: record.output.start,
            end: record.output.end,
        };
        let command = if record.command.is_empty() {
            "(typed interactively)"
        } else {
            &record.command
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

/// Runs `work` on the session's context after ingesting its new command records, on a blocking
/// thread.
/// With a `store`, the context is saved (`context.bin`, atomically) after the work, so task
/// contexts and ingested history survive a daemon restart.
async fn with_context<T: Send + 'static>(
    session: &str,
    pty: &PtySession,
    shared: &SharedContext,
    store: Option<SessionStore>,
    work: impl FnOnce(&mut SessionContext) -> Result<T> + Send + 'static,
) -> Result<T> {
    let ingested = lock(shared).ingested;
    let pending = pending(pty, ingested);
    let shared = Arc::clone(shared);
    let session = session.to_owned();
    let joined = tokio::task::spawn_blocking(move || {
        let mut state = lock(&shared);
        ingest(&mut state, &session, pending);
        let result = work(&mut state.context);
        if let Some(store) = store {
            save(&store, &state.context);
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

fn save(store: &SessionStore, context: &SessionContext) {
    let saved = context
        .to_bytes()
        .map_err(|e| e.to_string())
        .and_then(|bytes| store.save_context(&bytes).map_err(|e| e.to_string()));
    if let Err(error) = saved {
        tracing::warn!(session = store.id(), %error, "could not save the context");
    }
}

/// `context`: the session's context packed to `budget` tokens for `task`.
pub async fn packed(
    session: &str,
    pty: &PtySession,
    shared: &SharedContext,
    store: Option<SessionStore>,
    params: p::ContextParams,
) -> Result<p::ContextResult> {
    let budget = params.budget.unwrap_or(p::DEFAULT_CONTEXT_BUDGET);
    let owner = session.to_owned();
    with_context(session, pty, shared, store, move |ctx| {
        let packed = ctx.context(budget, params.task.as_deref());
        Ok(p::ContextResult {
            session: owner,
            current_tokens: ctx.current_tokens(),
            max_tokens: ctx.max_tokens(),
            workspace: ctx.workspace_state().clone(),
            packed,
        })
    })
    .await
}

/// `context.task`: create, switch or show task contexts.
pub async fn task(
    session: &str,
    pty: &PtySession,
    shared: &SharedContext,
    store: Option<SessionStore>,
    params: p::ContextTaskParams,
) -> Result<p::ContextTaskResult> {
    let owner = session.to_owned();
    with_context(session, pty, shared, store, move |ctx| {
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
            tasks: ctx.task_contexts().values().cloned().collect(),
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
