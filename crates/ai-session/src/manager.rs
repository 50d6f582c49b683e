//! [`SessionManager`]: owns PTY sessions by id; usable embedded (no daemon) or behind the server.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ai_session_pty::{ExecOptions, PtySession, SessionConfig, Size, UnknownKey};
use base64::Engine as _;

use crate::error::{Error, Result};
use crate::integration::{SessionHooks, SessionRecording};
use crate::observability::{CommandSample, CommandState, Observability};
use crate::persistence::{Journal, Past, Persistence, RestoredSession, SavedSession};
use crate::protocol as p;
use ai_session_output::normalize as terminal_text;

/// How long `session.new` waits for the shell's first prompt.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes one `read` returns.
const MAX_READ_BYTES: usize = 1 << 20;
/// Longest `wait` (ms) when none is given.
const DEFAULT_WAIT_MS: u64 = 30_000;
/// `wait` keeps at most this much of the output it saw, for its `text`.
const WAIT_TEXT_BYTES: usize = 64 << 10;

/// Defaults for sessions the manager creates.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Shell when a request names none.
    pub default_shell: String,
    /// Terminal size when a request gives none.
    pub default_size: Size,
    /// Scrollback ring per session, bytes.
    pub scrollback_limit: usize,
    /// Refuse to create more sessions than this.
    pub max_sessions: usize,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            default_shell: "bash".into(),
            default_size: Size {
                cols: 200,
                rows: 50,
            },
            scrollback_limit: SessionConfig::default().scrollback_limit,
            max_sessions: 10_000,
        }
    }
}

/// Owns sessions by id and runs commands in them. Cheap to clone (shared state).
///
/// ```no_run
/// # async fn demo() -> ai_session::Result<()> {
/// use ai_session::{ManagerConfig, SessionManager, protocol::ExecParams};
/// let manager = SessionManager::new(ManagerConfig::default());
/// let result = manager
///     .exec(ExecParams { session: "default".into(), command: "echo hi".into(), timeout_ms: None, create: true, budget: None, agent: None })
///     .await?;
/// assert_eq!(result.exit_code, Some(0));
/// manager.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ManagerConfig,
    sessions: RwLock<HashMap<String, Arc<Entry>>>,
    /// Names being created right now (spawning happens outside the map lock).
    reserved: Mutex<HashSet<String>>,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    /// Where sessions are journaled; `None` keeps them in memory only.
    persistence: Option<Persistence>,
    observability: Observability,
    /// Integrations told about created and ended sessions (set once by the daemon).
    hooks: std::sync::OnceLock<Arc<SessionHooks>>,
}

#[derive(Debug)]
struct Entry {
    id: String,
    shell: String,
    created_at_ms: u64,
    /// When the current shell started (epoch ms): origin of the PTY's output timeline.
    shell_started_at_ms: u64,
    pty: PtySession,
    context: crate::context::SharedContext,
    /// Output and commands of this session's shells before a daemon restart.
    past: Past,
    /// The agent that created it (`None`: the operator).
    owner: Option<String>,
    journal: Option<Journal>,
}

impl SessionManager {
    /// An empty manager.
    pub fn new(config: ManagerConfig) -> Self {
        Self::with_persistence(config, None)
    }

    /// A manager that journals every session to `persistence` (see [`crate::persistence`]).
    pub fn with_persistence(config: ManagerConfig, persistence: Option<Persistence>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                sessions: RwLock::new(HashMap::new()),
                reserved: Mutex::new(HashSet::new()),
                next_id: AtomicU64::new(1),
                shutting_down: AtomicBool::new(false),
                persistence,
                observability: Observability::default(),
                hooks: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Start every stored session again: a fresh shell in its saved cwd and environment, with
    /// its old scrollback and history readable. Returns how many came back.
    pub async fn restore(&self) -> usize {
        let Some(persistence) = self.inner.persistence.clone() else {
            return 0;
        };
        self.replay_decisions(&persistence).await;
        let limit = self.inner.config.scrollback_limit;
        let restored = tokio::task::spawn_blocking(move || persistence.restore_all(limit))
            .await
            .unwrap_or_default();
        let mut count = 0;
        for session in restored {
            let id = session.id.clone();
            match self.restore_session(session).await {
                Ok(()) => count += 1,
                Err(error) => {
                    tracing::error!(session = %id, %error, "could not restart stored session")
                }
            }
        }
        count
    }

    async fn restore_session(&self, session: RestoredSession) -> Result<()> {
        let id = self.reserve_id(Some(&session.id))?;
        if let Some(n) = id.strip_prefix('s').and_then(|n| n.parse::<u64>().ok()) {
            self.inner.next_id.fetch_max(n + 1, Ordering::Relaxed);
        }
        let params = p::NewSessionParams {
            name: Some(id.clone()),
            cwd: session.cwd(),
            shell: Some(session.saved.shell.clone()),
            env: session.saved.env.clone(),
            cols: Some(session.saved.cols),
            rows: Some(session.saved.rows),
            launcher: session.saved.launcher.clone(),
            agent: session.saved.owner.clone(),
        };
        let outcome = self
            .spawn_with(&id, params, session.past, Some(session.saved))
            .await;
        let mut reserved = lock(&self.inner.reserved);
        reserved.remove(&id);
        let entry = outcome?;
        if let Some(state) = session.context {
            *lock(&entry.context) = state;
        }
        write(&self.inner.sessions).insert(id.clone(), entry);
        drop(reserved);
        tracing::info!(session = %id, "stored session restarted");
        Ok(())
    }

    /// Creates a session and waits until its shell is ready for commands.
    pub async fn create(&self, params: p::NewSessionParams) -> Result<p::SessionInfo> {
        let info = self.create_with(params, Past::default()).await?;
        self.session_created(&info).await;
        Ok(info)
    }

    /// Creates a session whose scrollback starts with `scrollback_base64` (output adopted from
    /// another terminal, e.g. a tmux pane): `read` from 0 returns it before the shell's output.
    pub async fn import(&self, params: p::ImportSessionParams) -> Result<p::SessionInfo> {
        use base64::Engine as _;
        let mut scrollback = base64::engine::general_purpose::STANDARD
            .decode(params.scrollback_base64.as_bytes())
            .map_err(|error| Error::InvalidParam {
                field: "scrollback_base64",
                reason: format!("not valid base64 ({error}); encode the raw bytes"),
            })?;
        let keep = self.inner.config.scrollback_limit;
        let dropped = scrollback.len().saturating_sub(keep);
        scrollback.drain(..dropped);
        let past = Past {
            commands: Vec::new(),
            scrollback_start: dropped as u64,
            scrollback,
            ids_used: 0,
        };
        let info = self.create_with(params.session, past).await?;
        self.session_created(&info).await;
        Ok(info)
    }

    async fn create_with(&self, params: p::NewSessionParams, past: Past) -> Result<p::SessionInfo> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        let id = self.reserve_id(params.name.as_deref())?;
        let outcome = self.spawn_with(&id, params, past, None).await;
        let mut reserved = lock(&self.inner.reserved);
        reserved.remove(&id);
        let entry = outcome?;
        let info = entry.info();
        write(&self.inner.sessions).insert(id, entry);
        drop(reserved);
        Ok(info)
    }

    /// Runs the integrations' `on_session_created`, before `session.new` answers.
    async fn session_created(&self, info: &p::SessionInfo) {
        if let Some(hooks) = self.inner.hooks.get().cloned() {
            let created = info.clone();
            let _ = tokio::task::spawn_blocking(move || hooks.created(&created)).await;
        }
    }

    /// Tells `hooks`' integrations about every session created and ended from now on; only
    /// the first call counts.
    pub fn set_hooks(&self, hooks: SessionHooks) {
        if self.inner.hooks.set(Arc::new(hooks)).is_err() {
            tracing::warn!("session hooks were already set; ignoring the new ones");
        }
    }

    /// Runs the integrations' `on_session_terminated` (and writes recordings) for an ended
    /// session, before the request that ended it is answered.
    async fn session_ended(&self, entry: &Entry) {
        let Some(hooks) = self.inner.hooks.get().cloned() else {
            return;
        };
        let recording = hooks.records().then(|| recording_of(entry));
        let id = entry.id.clone();
        let _ =
            tokio::task::spawn_blocking(move || hooks.terminated(&id, recording.as_ref())).await;
    }

    fn reserve_id(&self, name: Option<&str>) -> Result<String> {
        let mut reserved = lock(&self.inner.reserved);
        let sessions = read(&self.inner.sessions);
        if sessions.len() + reserved.len() >= self.inner.config.max_sessions {
            return Err(Error::ResourceExhausted {
                what: "sessions",
                limit: self.inner.config.max_sessions,
                hint: "kill some sessions, or start the daemon with a higher --max-sessions",
            });
        }
        let id = match name {
            Some(name) => {
                validate_session_name(name)?;
                if sessions.contains_key(name) || reserved.contains(name) {
                    return Err(Error::SessionExists(name.to_owned()));
                }
                name.to_owned()
            }
            None => loop {
                let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
                let candidate = format!("s{n}");
                if !sessions.contains_key(&candidate) && !reserved.contains(&candidate) {
                    break candidate;
                }
            },
        };
        reserved.insert(id.clone());
        Ok(id)
    }

    async fn spawn_with(
        &self,
        id: &str,
        params: p::NewSessionParams,
        past: Past,
        saved: Option<SavedSession>,
    ) -> Result<Arc<Entry>> {
        let config = &self.inner.config;
        let saved_was_given = saved.is_some();
        let mut saved = saved.unwrap_or_else(|| SavedSession {
            cwd: params.cwd.clone(),
            env: params.env.clone(),
            launcher: params.launcher.clone(),
            owner: params.agent.clone(),
            created_at_ms: now_ms(),
            ..SavedSession::default()
        });
        let shell = params.shell.unwrap_or_else(|| config.default_shell.clone());
        let size = Size {
            cols: params.cols.unwrap_or(config.default_size.cols),
            rows: params.rows.unwrap_or(config.default_size.rows),
        };
        check_size(size)?;
        saved.shell = shell.clone();
        (saved.cols, saved.rows) = (size.cols, size.rows);
        // A launcher (the sandbox) runs first and execs the shell, which stays last in the
        // argv so the PTY crate still recognises it and appends its integration arguments.
        let sandboxed = !params.launcher.is_empty();
        let mut program = params.launcher;
        program.push(shell.clone());
        let session_config = SessionConfig {
            program,
            cwd: params.cwd.map(PathBuf::from),
            env: params.env,
            size,
            scrollback_limit: config.scrollback_limit,
            first_command_id: past.next_command_id(),
            ..SessionConfig::default()
        };
        let shell_started_at_ms = now_ms();
        let pty = PtySession::spawn(session_config).await?;
        // "Created" means ready for commands: the first prompt has been seen.
        if pty.shell_kind().is_some()
            && let Err(e) = pty.wait_ready(READY_TIMEOUT).await
        {
            let said = pty.screen_tail(8).join("\n");
            pty.kill().await;
            if sandboxed && matches!(e, ai_session_pty::PtyError::Exited { .. }) {
                // The launcher aborts before the shell runs when a sandbox step fails: a
                // refusal to run unsandboxed, counted with the permission denials.
                let owner = saved.owner.as_deref();
                let metrics = &self.inner.observability.metrics;
                metrics.record_denial(Some(id), owner);
                return Err(Error::SandboxRefused {
                    session: id.to_owned(),
                    output: said,
                });
            }
            return Err(e.into());
        }
        tracing::info!(session = id, pid = pty.pid(), shell = %shell, "session created");
        let created_at_ms = saved.created_at_ms;
        let owner = saved.owner.clone();
        let journal = self
            .inner
            .persistence
            .as_ref()
            .map(|p| p.journal(id, saved));
        if let Some(journal) = &journal
            && !saved_was_given
        {
            journal.seed(&past);
        }
        let entry = Arc::new(Entry {
            id: id.to_owned(),
            shell,
            created_at_ms,
            shell_started_at_ms,
            pty,
            context: Default::default(),
            past,
            owner,
            journal,
        });
        if let Some(journal) = &entry.journal
            && let Err(error) = journal.settle_new(&entry.pty, &entry.past).await
        {
            tracing::error!(session = %entry.id, %error, "new session not persisted");
        }
        start_journal_pump(&entry);
        Ok(entry)
    }

    /// All sessions, sorted by id.
    pub fn list(&self) -> p::SessionList {
        let mut sessions: Vec<_> = read(&self.inner.sessions)
            .values()
            .map(|e| e.info())
            .collect();
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        p::SessionList { sessions }
    }

    /// Kills a session: signals its process groups and reaps the shell.
    pub async fn kill(&self, session: &str) -> Result<p::KillResult> {
        let entry = write(&self.inner.sessions)
            .remove(session)
            .ok_or_else(|| Error::SessionNotFound(session.to_owned()))?;
        entry.pty.kill().await;
        if let Some(persistence) = &self.inner.persistence {
            persistence.remove(&entry.id);
        }
        self.session_ended(&entry).await;
        self.inner.observability.metrics.forget_session(session);
        tracing::info!(session, "session killed");
        Ok(p::KillResult {
            session: entry.id.clone(),
        })
    }

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

    /// Records an agent's decision (durably, when the manager persists).
    pub async fn decision_record(
        &self,
        new: crate::observability::NewDecision,
    ) -> Result<crate::observability::Decision> {
        let (decision, event) = self.inner.observability.record_decision(new, now_ms())?;
        self.persist_decision_event(event).await?;
        tracing::info!(id = %decision.id, agent = %decision.decision.agent, "decision recorded");
        Ok(decision)
    }

    /// Reports how a decision turned out (durably, when the manager persists).
    pub async fn decision_outcome(
        &self,
        params: p::DecisionOutcomeParams,
    ) -> Result<crate::observability::Decision> {
        let (decision, event) = self.inner.observability.decision_outcome(
            &params.id,
            params.success,
            params.note,
            now_ms(),
        )?;
        self.persist_decision_event(event).await?;
        Ok(decision)
    }

    /// Appends a decision event to the store's analytics log and syncs it before answering.
    async fn persist_decision_event(
        &self,
        event: crate::observability::DecisionEvent,
    ) -> Result<()> {
        let Some(persistence) = self.inner.persistence.clone() else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&event)
            .map_err(|e| Error::internal("encode a decision event", e))?;
        tokio::task::spawn_blocking(move || {
            let (mut log, _recovery) = persistence.store().analytics_log()?;
            log.append_durable(ai_session_persist::RecordKind::Event, &bytes)
        })
        .await
        .map_err(|e| Error::internal("run the decision writer", e))??;
        Ok(())
    }

    /// Loads the decisions saved by earlier runs of the daemon.
    async fn replay_decisions(&self, persistence: &Persistence) {
        let store = persistence.store().clone();
        let records = tokio::task::spawn_blocking(move || store.read_analytics()).await;
        let records = match records {
            Ok(Ok(records)) => records,
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot read the analytics log; decisions start empty");
                return;
            }
            Err(_) => return,
        };
        let events = records
            .iter()
            .filter(|r| r.kind == ai_session_persist::RecordKind::Event)
            .filter_map(|r| serde_json::from_slice(&r.data).ok());
        self.inner.observability.replay(events);
    }

    /// Success rate and calibration of decisions.
    pub fn decision_stats(
        &self,
        params: p::DecisionStatsParams,
    ) -> crate::observability::DecisionStats {
        self.inner
            .observability
            .decision_stats(params.agent.as_deref())
    }

    /// Snapshots a session: its stored config, command records, scrollback and context, as they
    /// are once everything it did so far is on disk.
    pub async fn snapshot(&self, params: p::SnapshotParams) -> Result<p::SnapshotInfo> {
        let persistence = self.inner.persistence.clone().ok_or(Error::NoStore)?;
        let entry = self.get(&params.session)?;
        persistence
            .flush()
            .await
            .map_err(|e| Error::internal("flush the session store", e))?;
        let id = entry.id.clone();
        let info = tokio::task::spawn_blocking(move || {
            persistence
                .store()
                .create_snapshot(&id, params.name.as_deref())
        })
        .await
        .map_err(|e| Error::internal("run the snapshot writer", e))??;
        tracing::info!(session = %entry.id, snapshot = %info.id, "snapshot taken");
        Ok(snapshot_info(info))
    }

    /// Every snapshot in the store.
    pub async fn snapshots(&self) -> Result<p::SnapshotList> {
        let persistence = self.inner.persistence.clone().ok_or(Error::NoStore)?;
        let snapshots = tokio::task::spawn_blocking(move || persistence.store().list_snapshots())
            .await
            .map_err(|e| Error::internal("run the snapshot reader", e))??;
        Ok(p::SnapshotList {
            snapshots: snapshots.into_iter().map(snapshot_info).collect(),
        })
    }

    /// Restores a snapshot as a new live session (a fresh shell in its saved cwd and env, with
    /// its history and scrollback readable), under `as` or the original id.
    pub async fn snapshot_restore(
        &self,
        params: p::SnapshotRestoreParams,
    ) -> Result<p::SessionInfo> {
        let persistence = self.inner.persistence.clone().ok_or(Error::NoStore)?;
        let limit = self.inner.config.scrollback_limit;
        if let Some(name) = &params.as_session {
            validate_session_name(name)?;
            if self.get(name).is_ok() {
                return Err(Error::SessionExists(name.clone()));
            }
        }
        let restored = tokio::task::spawn_blocking(move || {
            let store = persistence.store();
            let session = store.restore_snapshot(&params.snapshot, params.as_session.as_deref())?;
            persistence.restore_one(session.id(), limit)
        })
        .await
        .map_err(|e| Error::internal("run the snapshot restore", e))??
        .ok_or_else(|| Error::InvalidParam {
            field: "snapshot",
            reason: "the snapshot holds no session config; take a new one".to_owned(),
        })?;
        let id = restored.id.clone();
        self.restore_session(restored).await?;
        Ok(self.get(&id)?.info())
    }

    /// Counts a refused request in the `sandbox_denials` metric.
    pub fn record_denial(&self, session: Option<&str>, agent: Option<&str>) {
        self.inner
            .observability
            .metrics
            .record_denial(session, agent);
    }

    /// Metrics in Prometheus text format.
    pub fn metrics_text(&self) -> p::MetricsText {
        let live = read(&self.inner.sessions).len();
        p::MetricsText {
            text: self.inner.observability.metrics.prometheus(live),
        }
    }

    /// Metrics as numbers per session and agent.
    pub fn stats(&self) -> crate::observability::MetricsSnapshot {
        self.inner.observability.metrics.snapshot()
    }

    async fn get_or_create(&self, id: &str, owner: Option<&str>) -> Result<Arc<Entry>> {
        let params = p::NewSessionParams {
            name: Some(id.to_owned()),
            agent: owner.map(str::to_owned),
            ..Default::default()
        };
        match self.create(params).await {
            Ok(_) | Err(Error::SessionExists(_)) => {}
            Err(e) => return Err(e),
        }
        // A concurrent creator may still be spawning it: wait for it to appear.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.get(id) {
                Ok(entry) => return Ok(entry),
                Err(e)
                    if Instant::now() >= deadline || !lock(&self.inner.reserved).contains(id) =>
                {
                    return Err(e);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    }

    /// Writes `data_base64`, then `text`, then named `keys`.
    pub async fn send(&self, params: p::SendParams) -> Result<p::SendResult> {
        let entry = self.get(&params.session)?;
        let mut bytes = Vec::new();
        if let Some(data) = &params.data_base64 {
            bytes.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| Error::InvalidParam {
                        field: "data_base64",
                        reason: e.to_string(),
                    })?,
            );
        }
        if let Some(text) = &params.text {
            bytes.extend_from_slice(text.as_bytes());
        }
        if !bytes.is_empty() {
            entry.pty.write(&bytes).await?;
        }
        if !params.keys.is_empty() {
            entry.pty.send_keys(&params.keys, UnknownKey::Error).await?;
        }
        Ok(p::SendResult { bytes: bytes.len() })
    }

    /// Reads scrollback from `since`.
    pub async fn read(&self, params: p::ReadParams) -> Result<p::ReadResult> {
        let entry = self.get(&params.session)?;
        let max = params
            .max_bytes
            .unwrap_or(MAX_READ_BYTES)
            .min(MAX_READ_BYTES);
        let chunk = entry.past.read(&entry.pty, params.since, max);
        Ok(p::ReadResult {
            start: chunk.start,
            next_offset: chunk.next_offset,
            text: terminal_text(&chunk.data),
            data_base64: params
                .raw
                .then(|| base64::engine::general_purpose::STANDARD.encode(&chunk.data)),
        })
    }

    /// When each burst of output arrived, from `since` on (see [`p::TimelineResult`]).
    pub async fn timeline(&self, params: p::TimelineParams) -> Result<p::TimelineResult> {
        let entry = self.get(&params.session)?;
        Ok(timeline_of(&entry, params.since))
    }

    /// The current screen.
    pub async fn screen(&self, session: &str) -> Result<p::ScreenResult> {
        let entry = self.get(session)?;
        Ok(screen_of(&entry.pty))
    }

    /// Waits for a regex, idleness, new output, the shell's exit, or the timeout.
    pub async fn wait(&self, params: p::WaitParams) -> Result<p::WaitResult> {
        let entry = self.get(&params.session)?;
        let pattern = params
            .pattern
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| Error::InvalidParam {
                field: "pattern",
                reason: e.to_string(),
            })?;
        let timeout = Duration::from_millis(params.timeout_ms.unwrap_or(DEFAULT_WAIT_MS));
        let deadline = tokio::time::Instant::now() + timeout;
        let idle = params.idle_ms.map(Duration::from_millis);
        let mut changes = entry.pty.subscribe();
        let mut offset = params
            .since
            .unwrap_or_else(|| entry.past.end_offset(&entry.pty));
        let mut seen: Vec<u8> = Vec::new();
        let mut last_output = tokio::time::Instant::now();
        loop {
            let chunk = entry.past.read(&entry.pty, offset, MAX_READ_BYTES);
            if !chunk.data.is_empty() {
                offset = chunk.next_offset;
                last_output = tokio::time::Instant::now();
                seen.extend_from_slice(&chunk.data);
                if seen.len() > WAIT_TEXT_BYTES {
                    seen.drain(..seen.len() - WAIT_TEXT_BYTES);
                }
                let text = terminal_text(&seen);
                match &pattern {
                    Some(re) => {
                        if let Some(m) = re.find(&text) {
                            return Ok(wait_result(
                                p::WaitReason::Matched,
                                Some(m.as_str().to_owned()),
                                offset,
                                text,
                            ));
                        }
                    }
                    None if idle.is_none() => {
                        return Ok(wait_result(p::WaitReason::Output, None, offset, text));
                    }
                    None => {}
                }
                continue;
            }
            if !entry.pty.is_alive() {
                return Ok(wait_result(
                    p::WaitReason::Exited,
                    None,
                    offset,
                    terminal_text(&seen),
                ));
            }
            let idle_at = idle.map(|d| last_output + d);
            let wake = idle_at.map_or(deadline, |t| t.min(deadline));
            if tokio::time::Instant::now() >= deadline {
                return Ok(wait_result(
                    p::WaitReason::TimedOut,
                    None,
                    offset,
                    terminal_text(&seen),
                ));
            }
            if idle_at.is_some_and(|t| tokio::time::Instant::now() >= t) {
                return Ok(wait_result(
                    p::WaitReason::Idle,
                    None,
                    offset,
                    terminal_text(&seen),
                ));
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The reader ended: the shell is gone; the next loop reports it.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
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
    fn context_source<'a>(&self, entry: &'a Entry) -> crate::context::ContextSource<'a> {
        crate::context::ContextSource {
            session: &entry.id,
            pty: &entry.pty,
            past: &entry.past,
            shared: &entry.context,
            store: self.context_store(&entry.id),
        }
    }

    /// Where a session's context is saved, when the manager persists.
    fn context_store(&self, id: &str) -> Option<ai_session_persist::SessionStore> {
        let persistence = self.inner.persistence.as_ref()?;
        match persistence.store().session(id) {
            Ok(store) => Some(store),
            Err(error) => {
                tracing::warn!(session = id, %error, "no store for the context");
                None
            }
        }
    }

    /// Changes the terminal size.
    pub async fn resize(&self, params: p::ResizeParams) -> Result<p::Ack> {
        let entry = self.get(&params.session)?;
        let size = Size {
            cols: params.cols,
            rows: params.rows,
        };
        check_size(size)?;
        entry.pty.resize(size)?;
        if let Some(journal) = &entry.journal {
            journal.update(|saved| (saved.cols, saved.rows) = (size.cols, size.rows));
        }
        Ok(p::Ack::OK)
    }

    /// Sends a signal to the session's foreground process group.
    pub async fn signal(&self, params: p::SignalParams) -> Result<p::Ack> {
        let entry = self.get(&params.session)?;
        let signal = parse_signal(&params.signal)?;
        entry.pty.signal_foreground(signal)?;
        Ok(p::Ack::OK)
    }

    /// Starts streaming a session's output (see [`AttachStream::forward`]).
    pub async fn attach(&self, session: &str, since: Option<u64>) -> Result<AttachStream> {
        let entry = self.get(session)?;
        let changes = entry.pty.subscribe();
        let screen = screen_of(&entry.pty);
        let offset = since.unwrap_or_else(|| entry.past.end_offset(&entry.pty));
        Ok(AttachStream {
            start: p::AttachResult { offset, screen },
            entry,
            changes,
            offset,
        })
    }

    /// Kills every session (signals all first, then reaps) and refuses new ones.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        let entries: Vec<_> = write(&self.inner.sessions)
            .drain()
            .map(|(_, e)| e)
            .collect();
        // Stored sessions stay stored: the next daemon restarts them.
        for entry in &entries {
            if let Some(journal) = &entry.journal {
                journal.capture(&entry.pty, &entry.past);
            }
        }
        if let Some(persistence) = &self.inner.persistence
            && let Err(error) = persistence.flush().await
        {
            tracing::error!(%error, "session data not fully persisted at shutdown");
        }
        let kills = entries.iter().map(|e| e.pty.kill());
        futures::future::join_all(kills).await;
        tracing::info!(sessions = entries.len(), "all sessions killed");
    }

    /// Drops `entry` from the map unless it was already replaced.
    fn remove_if_same(&self, entry: &Arc<Entry>) {
        let mut sessions = write(&self.inner.sessions);
        if sessions
            .get(&entry.id)
            .is_some_and(|e| Arc::ptr_eq(e, entry))
        {
            sessions.remove(&entry.id);
        }
    }

    /// The owner of `session`: `None` if there is no such session, `Some(None)` for the
    /// operator's sessions, `Some(Some(agent))` for an agent's.
    pub fn owner_of(&self, session: &str) -> Option<Option<String>> {
        read(&self.inner.sessions)
            .get(session)
            .map(|e| e.owner.clone())
    }

    fn get(&self, session: &str) -> Result<Arc<Entry>> {
        read(&self.inner.sessions)
            .get(session)
            .cloned()
            .ok_or_else(|| Error::SessionNotFound(session.to_owned()))
    }
}

impl Entry {
    fn cwd(&self) -> Option<String> {
        self.pty.cwd().map(|c| c.to_string_lossy().into_owned())
    }

    fn info(&self) -> p::SessionInfo {
        // `size()`, not `screen().size`: a snapshot would build the screen model (a 32-byte
        // cell grid, 320 KB at 200x50) for every session listed or created.
        let size = self.pty.size();
        p::SessionInfo {
            id: self.id.clone(),
            pid: u32::try_from(self.pty.pid()).ok(),
            shell: self.shell.clone(),
            cwd: self.cwd(),
            cols: size.cols,
            rows: size.rows,
            created_at_ms: self.created_at_ms,
            alive: self.pty.is_alive(),
            commands: self.past.commands.len() + self.pty.history().len(),
            output_offset: self.past.end_offset(&self.pty),
            owner: self.owner.clone(),
        }
    }
}

/// A session's output from an offset on, for `attach`.
#[derive(Debug)]
pub struct AttachStream {
    /// What `attach` answers: the start offset and the current screen.
    pub start: p::AttachResult,
    entry: Arc<Entry>,
    changes: tokio::sync::watch::Receiver<ai_session_pty::Progress>,
    offset: u64,
}

impl AttachStream {
    /// Calls `deliver` with each new chunk until the session ends or `deliver` returns false;
    /// returns why it stopped (`"exited"` or `"detached"`).
    pub async fn forward<F, Fut>(mut self, mut deliver: F) -> &'static str
    where
        F: FnMut(p::AttachOutput) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        loop {
            let chunk = self.entry.past.read(&self.entry.pty, self.offset, 64 << 10);
            if !chunk.data.is_empty() {
                self.offset = chunk.next_offset;
                let output = p::AttachOutput {
                    session: self.entry.id.clone(),
                    offset: chunk.start,
                    data_base64: base64::engine::general_purpose::STANDARD.encode(&chunk.data),
                };
                if !deliver(output).await {
                    return "detached";
                }
                continue;
            }
            if !self.entry.pty.is_alive() {
                return "exited";
            }
            if self.changes.changed().await.is_err() {
                // Drain what arrived before the reader stopped, then report the exit.
                let rest = self
                    .entry
                    .past
                    .read(&self.entry.pty, self.offset, usize::MAX);
                if rest.data.is_empty() {
                    return "exited";
                }
            }
        }
    }
}

/// Journal the session's output and commands as they arrive (coalesced to one capture per
/// 20 ms). Ends when the session's output ends or the session is dropped.
fn start_journal_pump(entry: &Arc<Entry>) {
    let Some(journal) = entry.journal.clone() else {
        return;
    };
    let weak = Arc::downgrade(entry);
    let mut changes = entry.pty.subscribe();
    tokio::spawn(async move {
        loop {
            let closed = changes.changed().await.is_err();
            let Some(entry) = weak.upgrade() else { break };
            journal.capture(&entry.pty, &entry.past);
            drop(entry);
            if closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

fn timeline_of(entry: &Entry, since: u64) -> p::TimelineResult {
    let base = entry.past.base();
    let mut marks = Vec::new();
    if !entry.past.scrollback.is_empty() && since < base {
        let offset = since.max(entry.past.scrollback_start);
        marks.push(p::TimelineMark { offset, ms: 0 });
    }
    let pty_since = since.saturating_sub(base);
    marks.extend(
        entry
            .pty
            .timeline(pty_since)
            .into_iter()
            .map(|(offset, ms)| p::TimelineMark {
                offset: base + offset,
                ms,
            }),
    );
    let size = entry.pty.size();
    p::TimelineResult {
        started_at_ms: entry.shell_started_at_ms,
        end_offset: entry.past.end_offset(&entry.pty),
        cols: size.cols,
        rows: size.rows,
        marks,
    }
}

/// Everything a session printed (as far as the scrollback holds it) with its timing.
fn recording_of(entry: &Entry) -> SessionRecording {
    let timeline = timeline_of(entry, 0);
    let mut output = Vec::new();
    let mut output_start = None;
    let mut since = 0;
    while since < timeline.end_offset {
        let chunk = entry.past.read(&entry.pty, since, MAX_READ_BYTES);
        if chunk.next_offset == chunk.start {
            break;
        }
        output_start.get_or_insert(chunk.start);
        output.extend_from_slice(&chunk.data);
        since = chunk.next_offset;
    }
    SessionRecording::from_timeline(
        entry.id.clone(),
        timeline,
        Some(entry.shell.clone()),
        output_start.unwrap_or(0),
        output,
    )
}

fn wait_result(
    reason: p::WaitReason,
    matched: Option<String>,
    next_offset: u64,
    text: String,
) -> p::WaitResult {
    p::WaitResult {
        reason,
        matched,
        next_offset,
        text,
    }
}

fn screen_of(pty: &PtySession) -> p::ScreenResult {
    let screen = pty.screen();
    p::ScreenResult {
        rows: screen.size.rows,
        cols: screen.size.cols,
        lines: screen.lines,
        cursor_row: screen.cursor.row,
        cursor_col: screen.cursor.col,
    }
}

fn range(r: ai_session_pty::ByteRange) -> p::ByteRange {
    p::ByteRange {
        start: r.start,
        end: r.end,
    }
}

fn snapshot_info(info: ai_session_persist::SnapshotInfo) -> p::SnapshotInfo {
    let ai_session_persist::SnapshotInfo {
        id,
        name,
        session_id,
        created_at_ms,
        records,
        scrollback_bytes,
    } = info;
    p::SnapshotInfo {
        id,
        name,
        session_id,
        created_at_ms,
        records,
        scrollback_bytes,
    }
}

fn check_size(size: Size) -> Result<()> {
    for (field, value) in [("cols", size.cols), ("rows", size.rows)] {
        if !(1..=1000).contains(&value) {
            return Err(Error::InvalidParam {
                field,
                reason: format!("{value} is outside 1..=1000"),
            });
        }
    }
    Ok(())
}

/// Session names share the rules of server names (safe, typable).
fn validate_session_name(name: &str) -> Result<()> {
    crate::paths::validate_server_name(name).map_err(|_| Error::InvalidName {
        what: "session",
        name: name.to_owned(),
    })
}

/// `INT`, `SIGINT`, `int` or `2`.
fn parse_signal(raw: &str) -> Result<nix::sys::signal::Signal> {
    use std::str::FromStr as _;
    let invalid = || Error::InvalidParam {
        field: "signal",
        reason: format!(
            "unknown signal {raw:?}; use a name like INT, TERM, KILL, HUP, QUIT, TSTP, CONT, WINCH, USR1 or a number"
        ),
    };
    if let Ok(n) = raw.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).map_err(|_| invalid());
    }
    let upper = raw.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name).map_err(|_| invalid())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

/// Runs the output pipeline off the runtime threads (it is CPU work proportional to the output).
async fn analyze_output(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("INT").unwrap(), Signal::SIGINT);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
