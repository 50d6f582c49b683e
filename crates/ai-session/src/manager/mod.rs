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

mod analysis;
mod commands;
mod events;
mod kept;
mod lifecycle;
mod records;
mod sandbox;
mod terminal;
mod watcher;
mod watches;

pub use analysis::DIGEST_BUDGET;
pub use events::Viewer;
pub use terminal::{AttachStream, HeldOutput};

/// How long `session.new` waits for the shell's first prompt.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes one `read` returns.
const MAX_READ_BYTES: usize = 1 << 20;

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
    /// The `ai-session` binary sandboxed shells start through (`__sandbox-exec`); default:
    /// this process's executable (right for the daemon).
    pub launcher_exe: Option<PathBuf>,
    /// The PTY keeper that holds the sessions' terminals and shells, so they outlive this
    /// manager's process (`None`: the manager owns them and they end with it).
    pub keeper: Option<ai_session_pty::Keeper>,
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
            launcher_exe: None,
            keeper: None,
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
///     .exec(ExecParams::new("default", "echo hi"))
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
    observability: Arc<Observability>,
    /// Integrations told about created and ended sessions (set once by the daemon).
    hooks: std::sync::OnceLock<Arc<SessionHooks>>,
    /// What happened in every session.
    events: crate::events::EventLog,
    /// The owner of every session the log has events of (ended ones too), for filters.
    owners: Mutex<HashMap<String, Option<String>>>,
    next_watch: AtomicU64,
    /// Turns true when the daemon hands its sessions to a successor (`server --upgrade`):
    /// `exec`s in progress answer `running` (see `kept.rs`).
    handover: tokio::sync::watch::Sender<bool>,
    /// `exec`s in progress (the handover waits for them to answer).
    execs_running: tokio::sync::watch::Sender<usize>,
    /// Agent profiles (set once by the daemon): restricted agents' sessions are built from them.
    agents: std::sync::OnceLock<Arc<crate::access::Profiles>>,
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
    /// The sandbox policy its shell runs under.
    policy: Option<String>,
    labels: Mutex<std::collections::BTreeMap<String, String>>,
    journal: Option<Journal>,
    watches: Arc<watches::Watches>,
    analyses: analysis::Analyses,
    /// The watcher task, aborted when the session goes.
    watcher: std::sync::OnceLock<tokio::task::AbortHandle>,
    /// Its sandbox (workspace, disk quota), when it runs in one.
    sandbox: Option<sandbox::SandboxFacts>,
    /// The sandbox's pid namespace, found on the first connection that asks.
    pidns: std::sync::OnceLock<u64>,
    /// Redacts secrets (token formats, the session environment's secret values) from what
    /// the daemon renders of its output.
    redactor: Arc<ai_session_security::redact::Redactor>,
    /// Commands an `exec` answered before they ended (waiting for input, yielded), by id,
    /// with the agent that asked: their exit codes count in the metrics once they end.
    answered_unfinished: Mutex<HashMap<u64, Option<String>>>,
    observability: Arc<Observability>,
}

impl Entry {
    /// Counts the exit of a command `exec` answered before it ended, once: whichever of the
    /// answer and the watcher sees the end first takes it from `answered_unfinished`.
    fn count_late_exit(&self, record: &ai_session_pty::CommandRecord) {
        if let Some(agent) = lock(&self.answered_unfinished).remove(&record.id) {
            self.observability
                .metrics
                .record_exit(&self.id, agent.as_deref(), record.exit_code);
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.get() {
            watcher.abort();
        }
    }
}

impl SessionManager {
    /// An empty manager.
    pub fn new(config: ManagerConfig) -> Self {
        Self::with_persistence(config, None)
    }

    /// A manager that journals every session to `persistence` (see [`crate::persistence`]),
    /// and its events to the store's event log (read back first: blocking).
    pub fn with_persistence(config: ManagerConfig, persistence: Option<Persistence>) -> Self {
        let events = persistence
            .as_ref()
            .and_then(|p| match crate::events::EventLog::open(p.store()) {
                Ok(log) => Some(log),
                Err(error) => {
                    tracing::error!(%error, "cannot open the event log; events are kept in memory only");
                    None
                }
            })
            .unwrap_or_else(crate::events::EventLog::in_memory);
        Self {
            inner: Arc::new(Inner {
                config,
                sessions: RwLock::new(HashMap::new()),
                reserved: Mutex::new(HashSet::new()),
                next_id: AtomicU64::new(1),
                shutting_down: AtomicBool::new(false),
                persistence,
                observability: Arc::default(),
                hooks: std::sync::OnceLock::new(),
                events,
                owners: Mutex::new(HashMap::new()),
                next_watch: AtomicU64::new(1),
                handover: tokio::sync::watch::channel(false).0,
                execs_running: tokio::sync::watch::channel(0).0,
                agents: std::sync::OnceLock::new(),
            }),
        }
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

    /// Captures each session's journal and waits until the store has it all, as this daemon
    /// stops serving them (`at`: for the log).
    async fn persist_final(&self, entries: &[Arc<Entry>], at: &str) {
        for entry in entries {
            if let Some(journal) = &entry.journal {
                journal.capture(&entry.pty, &entry.past);
            }
        }
        if let Some(persistence) = &self.inner.persistence
            && let Err(error) = persistence.flush().await
        {
            tracing::error!(%error, at, "session data not fully persisted");
        }
    }

    /// Refuses new sessions from now on and takes every session out of the table (shutdown
    /// and handover then end or release them).
    fn close_and_take_sessions(&self) -> Vec<Arc<Entry>> {
        self.inner.shutting_down.store(true, Ordering::Release);
        write(&self.inner.sessions)
            .drain()
            .map(|(_, e)| e)
            .collect()
    }

    /// Kills every session (signals all first, then reaps) and refuses new ones.
    pub async fn shutdown(&self) {
        let entries = self.close_and_take_sessions();
        // Stored sessions stay stored: the next daemon restarts them.
        self.persist_final(&entries, "shutdown").await;
        // A quota session's change set is settled while its launcher still holds it.
        futures::future::join_all(entries.iter().map(Self::settle_changes)).await;
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
            commands: self.past.commands.len() + self.pty.history_len(),
            output_offset: self.past.end_offset(&self.pty),
            owner: self.owner.clone(),
            state: self.state(),
            running: self.pty.running().map(|r| p::RunningCommand {
                id: r.id,
                command: r.command,
                started_at_ms: r.started_at,
            }),
            last_exit_code: self
                .pty
                .last_record()
                .as_ref()
                .or(self.past.commands.last())
                .and_then(|r| r.exit_code),
            policy: self.policy.clone(),
            labels: lock(&self.labels).clone(),
        }
    }

    fn state(&self) -> p::SessionState {
        if !self.pty.is_alive() {
            p::SessionState::Exited
        } else if self.pty.awaiting_input().is_some() {
            p::SessionState::AwaitingInput
        } else if self.pty.running().is_some() {
            p::SessionState::Running
        } else if self.pty.progress().phase == ai_session_pty::ShellPhase::Starting
            && self.pty.history_len() == 0
        {
            p::SessionState::Starting
        } else {
            p::SessionState::Idle
        }
    }
}

fn range(r: ai_session_pty::ByteRange) -> p::ByteRange {
    p::ByteRange {
        start: r.start,
        end: r.end,
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
