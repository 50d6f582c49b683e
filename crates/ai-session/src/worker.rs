//! A coordination worker's [`TaskRunner`] that runs each task in a session of a daemon, so
//! tasks get what every session gets: the audit trail, persistence, metrics, the agent's
//! profile, and the sandbox `session.new {policy}` builds (the very path of `ai-session new
//! --policy`).
//!
//! Each task gets a fresh session created with `end_with_connection`: if the worker dies, its
//! connection closes and the daemon kills the task's command, so a task whose lease moved to
//! another worker does not also finish here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ai_session_coord::{Lease, TaskRunner};
use serde_json::json;

use crate::client::Client;
use crate::protocol::{ExecParams, NewSessionParams};
use crate::{AutoStart, Error, Home};

/// Where the daemon is and how task sessions are made.
#[derive(Debug, Clone)]
pub struct TaskSessions {
    /// The daemon's home.
    pub home: Home,
    /// Its server name.
    pub server: String,
    /// Start it when none runs.
    pub auto_start: Option<AutoStart>,
    /// The agent the worker acts for (`hello`), if any: its profile applies to the tasks.
    pub agent: Option<String>,
    /// Sandbox policy of task sessions (`None`: unsandboxed, as `trusted`).
    pub policy: Option<String>,
    /// The sandbox's workspace (absolute; default: `cwd`, else the daemon's directory).
    pub workspace: Option<String>,
    /// Where commands start (absolute).
    pub cwd: Option<String>,
    /// Interrupt a command after this long.
    pub timeout: Option<Duration>,
    /// Token budget of the digest in each result.
    pub budget: usize,
}

/// Runs tasks (`{"command": "..."}` payloads) through a daemon. Cheap to share: one
/// connection, reopened when the daemon went away.
#[derive(Debug)]
pub struct DaemonTaskRunner {
    sessions: TaskSessions,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl DaemonTaskRunner {
    /// A runner for `sessions`; connects on the first task.
    pub fn new(sessions: TaskSessions) -> Self {
        DaemonTaskRunner {
            sessions,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// Connects (starting the daemon if allowed) and declares the agent; checks the policy
    /// is one the daemon accepts by asking for nothing else. Call it first to fail early.
    pub async fn connect(&self) -> crate::Result<Client> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let s = &self.sessions;
        let client = crate::connect_or_start(&s.home, &s.server, s.auto_start.as_ref()).await?;
        if let Some(agent) = &s.agent {
            client.identify(agent).await?;
        }
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn forget_if_closed(&self, error: &Error) {
        if matches!(error, Error::Closed { .. }) {
            *self.client.lock().await = None;
        }
    }

    async fn run_command(&self, lease: &Lease, command: &str) -> crate::Result<serde_json::Value> {
        let client = self.connect().await?;
        let s = &self.sessions;
        let info = client
            .new_session(&NewSessionParams {
                policy: s.policy.clone(),
                workspace: s.workspace.clone(),
                cwd: s.cwd.clone(),
                labels: BTreeMap::from([
                    ("task".to_owned(), lease.id.0.clone()),
                    ("attempt".to_owned(), lease.attempt.to_string()),
                ]),
                end_with_connection: true,
                ..NewSessionParams::default()
            })
            .await?;
        // A lost lease drops this future: the session (and its command) goes with it.
        let _session = KillOnDrop {
            client: client.clone(),
            session: Some(info.id.clone()),
        };
        let started = Instant::now();
        let result = client
            .exec(&ExecParams {
                timeout_ms: s
                    .timeout
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                budget: Some(s.budget),
                create: false,
                ..ExecParams::new(&info.id, command)
            })
            .await?;
        let analysis = result.analysis.as_ref();
        Ok(json!({
            "command": command,
            "session": info.id,
            "policy": info.policy,
            "state": result.state,
            "exit_code": result.exit_code,
            "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "cwd": result.cwd,
            "kind": analysis.map(|a| a.kind.clone()),
            "digest": analysis.map(|a| a.digest.clone()),
            "parsed": analysis.map(|a| a.parsed.clone()),
            "tokens_raw": analysis.map(|a| a.tokens_raw),
            "tokens_digest": analysis.map(|a| a.tokens_digest),
            "disk_quota": result.disk_quota,
        }))
    }
}

impl TaskRunner for DaemonTaskRunner {
    async fn run(&self, lease: &Lease) -> Result<serde_json::Value, String> {
        let command = lease.spec.payload["command"]
            .as_str()
            .ok_or("the task payload has no \"command\" string")?;
        match self.run_command(lease, command).await {
            Ok(result) => Ok(result),
            Err(error) => {
                self.forget_if_closed(&error).await;
                Err(format!(
                    "could not run {command:?} in a daemon session: {error}"
                ))
            }
        }
    }
}

/// Kills the task's session when the run ends, however it ends.
struct KillOnDrop {
    client: Client,
    session: Option<String>,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let (Some(session), Ok(runtime)) =
            (self.session.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let client = self.client.clone();
        runtime.spawn(async move {
            if let Err(error) = client.kill_session(&session).await {
                tracing::debug!(session, %error, "task session not killed (already gone?)");
            }
        });
    }
}
