//! Sessions: `hello`, creating, listing, importing, killing, resizing and signalling them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `hello` params (all optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HelloParams {
    /// Free-form client name for the daemon's log.
    #[serde(default)]
    pub client: Option<String>,
    /// The agent this connection acts for, from now on (declared, not authenticated: see
    /// docs/security.md). Requests are then checked against its permission profile, and
    /// sessions it creates are owned by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// `hello` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloResult {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The daemon's crate version.
    pub server_version: String,
    /// The daemon's server name (socket name).
    pub server_name: String,
    /// The daemon's pid.
    pub pid: u32,
    /// Optional features ([`CAPABILITIES`]).
    pub capabilities: Vec<String>,
    /// Longest accepted request line in bytes.
    pub max_request_bytes: usize,
    /// The agent the connection acts for (as declared in this or an earlier `hello`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// `session.new` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewSessionParams {
    /// Session name (becomes its id); default: the next free `s<N>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Working directory (default: the daemon's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Shell program (default: bash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Extra environment variables (override the agent-friendly defaults).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Terminal columns (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    /// Terminal rows (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
    /// Run the shell in the sandbox under this policy: a preset (`workspace`, `strict`,
    /// `trusted`) or the absolute path of a TOML policy file. The daemon builds the launcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The directory the sandbox may write (default: `cwd`, else the daemon's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// argv the shell is started through (the operator's own launcher; agents with a
    /// permission profile may not pass one). The shell and its arguments follow it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launcher: Vec<String>,
    /// Free-form labels (`{"tmux.window": "@1"}`), listed with the session.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The agent creating the session, which owns it (the daemon fills in the connection's
    /// agent when this is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Kill the session when the connection that created it ends its stream (a worker's task
    /// session: a worker that dies takes its task's command with it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end_with_connection: bool,
}

/// A session as listed by `session.list` and returned by `session.new`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Stable id (the name given at creation, or `s<N>`).
    pub id: String,
    /// Pid of the shell.
    pub pid: Option<u32>,
    /// The shell program.
    pub shell: String,
    /// Current working directory as last reported by the shell.
    pub cwd: Option<String>,
    /// Terminal columns.
    pub cols: u16,
    /// Terminal rows.
    pub rows: u16,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Whether the shell is still running.
    pub alive: bool,
    /// Number of finished commands.
    pub commands: usize,
    /// Next scrollback offset (total bytes of output so far).
    pub output_offset: u64,
    /// The agent that created the session; absent for the operator's sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where the session is: what a supervisor looks at first.
    #[serde(default)]
    pub state: SessionState,
    /// The command running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<RunningCommand>,
    /// Exit code of the last finished command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i32>,
    /// The sandbox policy the shell runs under (absent: not sandboxed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Labels given at creation or by `session.label`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Where a session is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// The shell is starting (no prompt yet).
    Starting,
    /// At the prompt.
    #[default]
    Idle,
    /// A command runs.
    Running,
    /// A command runs, blocked reading the terminal.
    AwaitingInput,
    /// The shell has exited.
    Exited,
}

/// The command a session runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningCommand {
    /// Its record id.
    pub id: u64,
    /// Its command line (empty when a person typed it).
    pub command: String,
    /// When it started, ms since the Unix epoch.
    pub started_at_ms: u64,
}

/// `session.label` params: set (or, with `null`, remove) labels of a session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelParams {
    /// Session id.
    pub session: String,
    /// Labels to set; a `null` value removes the label.
    pub labels: BTreeMap<String, Option<String>>,
}

/// `session.list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionList {
    /// All sessions, sorted by id.
    pub sessions: Vec<SessionInfo>,
}

/// Params naming one session (`session.kill`, `screen`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionParams {
    /// Session id.
    pub session: String,
}

/// `session.kill` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillResult {
    /// The killed session's id.
    pub session: String,
}

/// `session.import` params: a new session whose scrollback starts with `scrollback_base64`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportSessionParams {
    /// The session to create, as for `session.new`.
    pub session: NewSessionParams,
    /// Output (raw terminal bytes, base64) readable at offset 0 before the new shell's own
    /// output; only the newest scrollback-limit bytes are kept.
    pub scrollback_base64: String,
}

/// `resize` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResizeParams {
    /// Session id.
    pub session: String,
    /// Columns (1..=1000).
    pub cols: u16,
    /// Rows (1..=1000).
    pub rows: u16,
}

/// `signal` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalParams {
    /// Session id.
    pub session: String,
    /// Signal name (`INT`, `SIGTERM`, `KILL`, ...) or number.
    pub signal: String,
}

/// Result of methods with nothing to report (`resize`, `signal`, `detach`, `server.shutdown`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Always true.
    pub ok: bool,
}

impl Ack {
    /// `{"ok": true}`.
    pub const OK: Ack = Ack { ok: true };
}
