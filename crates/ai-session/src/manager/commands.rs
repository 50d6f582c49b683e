//! Commands: `exec`, their records and the agent context built from them.

use super::*;

impl SessionManager {
    /// Runs a command (creating the session first if asked and needed).
    pub async fn exec(&self, params: p::ExecParams) -> Result<p::ExecResult> {
        self.exec_reporting(params, None).await
    }

    /// [`SessionManager::exec`], sending the command's progress to `progress` about once a
    /// second while output arrives (for `progress_token`).
    pub async fn exec_reporting(
        &self,
        params: p::ExecParams,
        progress: Option<tokio::sync::mpsc::UnboundedSender<p::ExecProgress>>,
    ) -> Result<p::ExecResult> {
        // Counted until it answers: a handover waits for every exec's answer.
        let _counted = self.exec_started();
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
            yield_after: params.yield_ms.map(Duration::from_millis),
            ..ExecOptions::default()
        };
        // Everything the command does comes after this position of the log.
        let next_event = self.inner.events.head();
        let started = Instant::now();
        let reporter = match (progress, &params.progress_token) {
            (Some(sink), Some(token)) => Some(AbortOnDrop(tokio::spawn(report_progress(
                entry.clone(),
                token.clone(),
                sink,
            )))),
            _ => None,
        };
        let outcome = {
            let mut handover = self.inner.handover.subscribe();
            tokio::select! {
                outcome = entry.pty.exec(&params.command, options) => outcome.map_err(Error::from),
                // The daemon hands over (upgrade): the command goes on in the next one.
                _ = handover.wait_for(|h| *h) => super::kept::handed_over(&entry.pty, &params.command),
            }
        };
        drop(reporter);
        let outcome = outcome?;
        let duration_ms = started.elapsed().as_millis() as u64;
        if let Some(journal) = &entry.journal
            && let Err(error) = journal.commit_answered(&entry.pty, &entry.past).await
        {
            tracing::error!(session = %entry.id, %error, "command record not persisted");
        }
        let state = match outcome.state {
            ai_session_pty::ExecState::Exited => p::ExecState::Exited,
            ai_session_pty::ExecState::AwaitingInput => p::ExecState::AwaitingInput,
            ai_session_pty::ExecState::TimedOut => p::ExecState::TimedOut,
            ai_session_pty::ExecState::Running => p::ExecState::Running,
        };
        let screen_tail = (state != p::ExecState::Exited).then_some(outcome.screen_tail);
        let mut record = entry.past.shift(&outcome.record);
        if record.command.is_empty() {
            record.command.clone_from(&params.command);
        }
        if matches!(state, p::ExecState::AwaitingInput | p::ExecState::Running) {
            lock(&entry.answered_unfinished).insert(record.id, params.agent.clone());
            // It may have ended since the outcome was taken, before the watcher could count it.
            if let Some(ended) = entry
                .past
                .history_after(&entry.pty, record.id.saturating_sub(1))
                .iter()
                .find(|r| r.id == record.id)
            {
                entry.count_late_exit(ended);
            }
        }
        let analysis = match params.budget {
            Some(budget) if state == p::ExecState::Exited => {
                entry
                    .analyses
                    .finished(&entry.id, &record, &outcome.output, budget)
                    .await
            }
            // Output so far of a command that goes on: not kept, it changes.
            Some(budget) => Some(super::analysis::redacted(
                super::analysis::analyze_output(&entry.id, &record, &outcome.output, budget)
                    .await?,
                &entry.redactor,
            )),
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
                    p::ExecState::Running => CommandState::Running,
                },
                exit_code: record.exit_code,
                duration: started.elapsed(),
                tokens_raw: analysis.as_ref().map_or(0, |a| a.tokens_raw as u64),
                tokens_delivered: analysis.as_ref().map_or(0, |a| a.tokens_digest as u64),
            });
        Ok(p::ExecResult {
            session: entry.id.clone(),
            command: params.command,
            command_id: record.id,
            state,
            next_event,
            exit_code: record.exit_code,
            duration_ms,
            cwd: record.cwd.or_else(|| entry.cwd()),
            disk_quota: self.quota_hit(&entry).await,
            output: p::ExecOutput {
                text: entry
                    .redactor
                    .redact(&terminal_text(&outcome.output))
                    .into_owned(),
                bytes: record.output.end - record.output.start,
                range: range(record.output),
            },
            screen_tail,
            analysis,
        })
    }

    /// Command records, oldest first, then the running command.
    pub async fn history(&self, params: p::HistoryParams) -> Result<p::HistoryResult> {
        let entry = self.get(&params.session)?;
        let mut records: Vec<(ai_session_pty::CommandRecord, p::CommandState)> = entry
            .past
            .history(&entry.pty)
            .into_iter()
            .map(|r| (r, p::CommandState::Exited))
            .collect();
        if let Some(running) = entry.pty.running() {
            let state = match entry.pty.awaiting_input() {
                Some(a) if a.command_id == running.id => p::CommandState::AwaitingInput,
                _ => p::CommandState::Running,
            };
            records.push((entry.past.shift(&running), state));
        }
        if let Some(limit) = params.limit {
            let skip = records.len().saturating_sub(limit);
            records.drain(..skip);
        }
        Ok(p::HistoryResult {
            session: entry.id.clone(),
            commands: records
                .into_iter()
                .map(|(r, state)| p::CommandInfo {
                    id: r.id,
                    command: r.command,
                    state,
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
            redactor: &entry.redactor,
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

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends the running command's progress (bytes, lines, last line) about once a second while
/// its output grows.
async fn report_progress(
    entry: Arc<Entry>,
    token: String,
    sink: tokio::sync::mpsc::UnboundedSender<p::ExecProgress>,
) {
    const EVERY: Duration = Duration::from_secs(1);
    let started = Instant::now();
    let mut changes = entry.pty.subscribe();
    let (mut counted_to, mut lines, mut last_line) = (None::<u64>, 0u64, String::new());
    loop {
        tokio::time::sleep(EVERY).await;
        let Some(running) = entry.pty.running() else {
            continue;
        };
        let range = entry.past.shift(&running).output;
        let mut from = counted_to.unwrap_or(range.start).max(range.start);
        if counted_to.is_some_and(|c| c >= range.end) {
            // Nothing new: sleep until output arrives.
            if changes.changed().await.is_err() {
                return;
            }
            continue;
        }
        while from < range.end {
            let chunk = entry.past.read(&entry.pty, from, 1 << 20);
            if chunk.next_offset <= from {
                break;
            }
            lines += memchr::memchr_iter(b'\n', &chunk.data).count() as u64;
            if let Some(line) = terminal_text(&chunk.data)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
            {
                last_line = line.trim_end().to_owned();
            }
            from = chunk.next_offset;
        }
        counted_to = Some(from);
        let progress = p::ExecProgress {
            token: token.clone(),
            bytes: from - range.start,
            lines,
            last_line: last_line.clone(),
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        if sink.send(progress).is_err() {
            return;
        }
    }
}
