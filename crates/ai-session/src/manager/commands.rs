//! Commands: `exec`, their records and the agent context built from them.

use super::*;

impl SessionManager {
    /// Runs a command (creating the session first if asked and needed).
    pub async fn exec(&self, params: p::ExecParams) -> Result<p::ExecResult> {
        let entry = match self.get(&params.session) {
            Ok(entry) if entry.pty.is_alive() || !params.create => entry,
            Ok(dead) => {
                // Its shell exited (e.g. `exit 3`): replace it with a fresh one of the same id.
                self.remove_if_same(&dead);
                if let Some(persistence) = &self.inner.persistence {
                    persistence.remove(&dead.id);
                }
                self.session_ended(&dead).await;
                self.get_or_create(&params.session, params.agent.as_deref())
                    .await?
            }
            Err(Error::SessionNotFound(_)) if params.create => {
                self.get_or_create(&params.session, params.agent.as_deref())
                    .await?
            }
            Err(e) => return Err(e),
        };
        let options = ExecOptions {
            timeout: params.timeout_ms.map(Duration::from_millis),
            ..ExecOptions::default()
        };
        let started = Instant::now();
        let outcome = entry.pty.exec(&params.command, options).await?;
        let duration_ms = started.elapsed().as_millis() as u64;
        if let Some(journal) = &entry.journal
            && let Err(error) = journal.commit(&entry.pty, &entry.past).await
        {
            tracing::error!(session = %entry.id, %error, "command record not persisted");
        }
        let state = match outcome.state {
            ai_session_pty::ExecState::Exited => p::ExecState::Exited,
            ai_session_pty::ExecState::AwaitingInput => p::ExecState::AwaitingInput,
            ai_session_pty::ExecState::TimedOut => p::ExecState::TimedOut,
        };
        let screen_tail = (state != p::ExecState::Exited).then_some(outcome.screen_tail);
        let record = entry.past.shift(&outcome.record);
        let analysis = match params.budget {
            Some(budget) => {
                let hint = format!(
                    "ai-session read -s {} --since {} --max-bytes {} (or exec --full)",
                    entry.id,
                    record.output.start,
                    record.output.end.saturating_sub(record.output.start)
                );
                Some(
                    analyze_output(
                        &params.command,
                        &outcome.output,
                        record.exit_code,
                        budget,
                        hint,
                    )
                    .await?,
                )
            }
            None => None,
        };
        self.inner
            .observability
            .metrics
            .record_command(&CommandSample {
                session: &entry.id,
                agent: params.agent.as_deref(),
                state: match state {
                    p::ExecState::Exited => CommandState::Exited,
                    p::ExecState::AwaitingInput => CommandState::AwaitingInput,
                    p::ExecState::TimedOut => CommandState::TimedOut,
                },
                exit_code: record.exit_code,
                duration: started.elapsed(),
                tokens_raw: analysis.as_ref().map_or(0, |a| a.tokens_raw as u64),
                tokens_delivered: analysis.as_ref().map_or(0, |a| a.tokens_digest as u64),
            });
        Ok(p::ExecResult {
            session: entry.id.clone(),
            command: params.command,
            state,
            exit_code: record.exit_code,
            duration_ms,
            cwd: record.cwd.or_else(|| entry.cwd()),
            output: p::ExecOutput {
                text: terminal_text(&outcome.output),
                bytes: record.output.end - record.output.start,
                range: range(record.output),
            },
            screen_tail,
            analysis,
        })
    }

    /// Command records, oldest first.
    pub async fn history(&self, params: p::HistoryParams) -> Result<p::HistoryResult> {
        let entry = self.get(&params.session)?;
        let mut records = entry.past.history(&entry.pty);
        if let Some(limit) = params.limit {
            let skip = records.len().saturating_sub(limit);
            records.drain(..skip);
        }
        Ok(p::HistoryResult {
            session: entry.id.clone(),
            commands: records
                .into_iter()
                .map(|r| p::CommandInfo {
                    id: r.id,
                    command: r.command,
                    started_at_ms: r.started_at,
                    ended_at_ms: r.ended_at,
                    exit_code: r.exit_code,
                    cwd: r.cwd,
                    output: range(r.output),
                })
                .collect(),
        })
    }

    /// The session's agent context (from its command records) packed to a token budget.
    pub async fn context(&self, params: p::ContextParams) -> Result<p::ContextResult> {
        let entry = self.get(&params.session)?;
        crate::context::packed(self.context_source(&entry), params).await
    }

    /// Creates, switches or shows the session's task contexts.
    pub async fn context_task(&self, params: p::ContextTaskParams) -> Result<p::ContextTaskResult> {
        let entry = self.get(&params.session)?;
        crate::context::task(self.context_source(&entry), params).await
    }

    /// A session's context with its command records and where it is saved.
    pub(super) fn context_source<'a>(&self, entry: &'a Entry) -> crate::context::ContextSource<'a> {
        crate::context::ContextSource {
            session: &entry.id,
            pty: &entry.pty,
            past: &entry.past,
            shared: &entry.context,
            store: self.context_store(&entry.id),
        }
    }

    /// Where a session's context is saved, when the manager persists.
    pub(super) fn context_store(&self, id: &str) -> Option<ai_session_persist::SessionStore> {
        let persistence = self.inner.persistence.as_ref()?;
        match persistence.store().session(id) {
            Ok(store) => Some(store),
            Err(error) => {
                tracing::warn!(session = id, %error, "no store for the context");
                None
            }
        }
    }
}

/// Runs the output pipeline off the runtime threads (it is CPU work proportional to the output).
pub(super) async fn analyze_output(
    command: &str,
    raw: &[u8],
    exit_code: Option<i32>,
    budget: usize,
    more_hint: String,
) -> Result<p::ExecAnalysis> {
    let command = command.to_owned();
    let raw = raw.to_vec();
    let analysis = tokio::task::spawn_blocking(move || {
        ai_session_output::analyze(
            &command,
            &raw,
            &ai_session_output::DigestOptions {
                budget,
                exit_code,
                more_hint: Some(more_hint),
            },
        )
    })
    .await
    .map_err(|e| Error::internal("analyse the output", e))?;
    Ok(p::ExecAnalysis {
        kind: crate::json::to_value(&analysis.kind)?
            .as_str()
            .unwrap_or("unknown")
            .to_owned(),
        category: analysis.kind.category().to_owned(),
        digest: analysis.digest,
        parsed: crate::json::to_value(&analysis.parsed)?,
        tokens_raw: analysis.tokens_raw,
        tokens_digest: analysis.tokens_digest,
    })
}
