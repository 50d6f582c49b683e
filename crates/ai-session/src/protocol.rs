//! The daemon's wire protocol: JSON-RPC 2.0, one JSON object per line (`\n`-terminated).
//!
//! This module holds only data types (no I/O), so an editor extension or another client can reuse
//! them. `docs/protocol.md` documents every method with examples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of this protocol; `hello` returns it. Bumped on incompatible changes only.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request line the daemon accepts (bytes, without the newline).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Optional features the daemon announces in `hello`.
pub const CAPABILITIES: &[&str] = &[
    "exec",
    "awaiting_input",
    "timeout",
    "read.incremental",
    "read.raw",
    "screen",
    "wait.regex",
    "wait.idle",
    "history",
    "resize",
    "signal",
    "send.keys",
    "attach",
    "context",
    "timeline",
    "session.import",
    "agents",
    "audit",
];

/// JSON-RPC error codes used by the daemon.
pub mod codes {
    /// The line is not valid JSON (or not UTF-8).
    pub const PARSE_ERROR: i64 = -32700;
    /// Valid JSON but not a JSON-RPC 2.0 request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No method with that name.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Params missing, of the wrong type, or out of range; the message names the field.
    pub const INVALID_PARAMS: i64 = -32602;
    /// A bug or an unexpected OS failure inside the daemon.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The request line exceeded [`super::MAX_REQUEST_BYTES`]; the rest of the line was discarded.
    pub const REQUEST_TOO_LARGE: i64 = -32001;
    /// No session with that id or name.
    pub const SESSION_NOT_FOUND: i64 = -32002;
    /// A session with that name already exists.
    pub const SESSION_EXISTS: i64 = -32003;
    /// The peer's uid differs from the daemon's; the connection is closed.
    pub const PERMISSION_DENIED: i64 = -32004;
    /// The PTY engine failed (spawn failed, session exited, another exec is running, ...).
    pub const SESSION_FAILED: i64 = -32005;
    /// The daemon is shutting down.
    pub const SHUTTING_DOWN: i64 = -32006;
    /// A daemon limit was reached (e.g. `--max-sessions`); free some of the resource and retry.
    pub const RESOURCE_EXHAUSTED: i64 = -32007;
    /// The declared agent's permission profile does not allow this request (a program it may
    /// not run, another agent's session); `data` has `agent`, `permission` and `reason`. The
    /// connection stays open.
    pub const AGENT_PERMISSION_DENIED: i64 = -32008;
}

/// Every method the daemon serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Protocol version and capabilities.
    Hello,
    /// Create a session.
    SessionNew,
    /// List sessions.
    SessionList,
    /// Kill a session.
    SessionKill,
    /// Run a command to completion (or until it awaits input or times out).
    Exec,
    /// Write text or named keys to a session.
    Send,
    /// Read scrollback incrementally.
    Read,
    /// The current screen.
    Screen,
    /// Wait for output matching a regex, for idleness, or for a timeout.
    Wait,
    /// Command records of a session.
    History,
    /// The session's agent context packed to a token budget.
    Context,
    /// Create, switch or show the session's task contexts.
    ContextTask,
    /// Change the terminal size.
    Resize,
    /// Signal the foreground process group.
    Signal,
    /// Stream a session's output as notifications.
    Attach,
    /// Stop streaming.
    Detach,
    /// When a session's output arrived (for recordings such as asciicast).
    Timeline,
    /// Create a session whose scrollback starts with given output (adopting another terminal).
    SessionImport,
    /// Stop the daemon (kills all sessions).
    ServerShutdown,
    /// Record an agent's decision.
    DecisionRecord,
    /// Report how a decision turned out.
    DecisionOutcome,
    /// Success rate and calibration of decisions.
    DecisionStats,
    /// Snapshot a session's stored state.
    Snapshot,
    /// List snapshots.
    Snapshots,
    /// Restore a snapshot as a new session.
    SnapshotRestore,
    /// Metrics in Prometheus text format.
    Metrics,
    /// Metrics as numbers per session and agent.
    Stats,
}

/// A request's method with its params parsed into their types: what the daemon dispatches
/// on, parsed in one place (the fuzz target checks this same parse).
#[derive(Debug, Clone)]
pub enum Call {
    /// See [`Method::Hello`].
    Hello(HelloParams),
    /// See [`Method::SessionNew`].
    SessionNew(NewSessionParams),
    /// See [`Method::SessionList`].
    SessionList,
    /// See [`Method::SessionKill`].
    SessionKill(SessionParams),
    /// See [`Method::Exec`].
    Exec(ExecParams),
    /// See [`Method::Send`].
    Send(SendParams),
    /// See [`Method::Read`].
    Read(ReadParams),
    /// See [`Method::Screen`].
    Screen(SessionParams),
    /// See [`Method::Wait`].
    Wait(WaitParams),
    /// See [`Method::History`].
    History(HistoryParams),
    /// See [`Method::Context`].
    Context(ContextParams),
    /// See [`Method::ContextTask`].
    ContextTask(ContextTaskParams),
    /// See [`Method::Resize`].
    Resize(ResizeParams),
    /// See [`Method::Signal`].
    Signal(SignalParams),
    /// See [`Method::Attach`].
    Attach(AttachParams),
    /// See [`Method::Detach`].
    Detach(SessionParams),
    /// See [`Method::Timeline`].
    Timeline(TimelineParams),
    /// See [`Method::SessionImport`].
    SessionImport(ImportSessionParams),
    /// See [`Method::ServerShutdown`].
    ServerShutdown,
    /// See [`Method::DecisionRecord`].
    DecisionRecord(crate::observability::NewDecision),
    /// See [`Method::DecisionOutcome`].
    DecisionOutcome(DecisionOutcomeParams),
    /// See [`Method::DecisionStats`].
    DecisionStats(DecisionStatsParams),
    /// See [`Method::Snapshot`].
    Snapshot(SnapshotParams),
    /// See [`Method::Snapshots`].
    Snapshots,
    /// See [`Method::SnapshotRestore`].
    SnapshotRestore(SnapshotRestoreParams),
    /// See [`Method::Metrics`] (params are ignored).
    Metrics,
    /// See [`Method::Stats`] (params are ignored).
    Stats,
}

impl Call {
    /// Parses `params` (absent or `null` meaning `{}`) for `method`; an error names the
    /// offending field (`INVALID_PARAMS`, with `data.field`).
    pub fn parse(method: Method, params: Option<Value>) -> Result<Call, RpcError> {
        Ok(match method {
            Method::Hello => Call::Hello(parse_params(params)?),
            Method::SessionNew => Call::SessionNew(parse_params(params)?),
            Method::SessionList => {
                parse_params::<NoParams>(params)?;
                Call::SessionList
            }
            Method::SessionKill => Call::SessionKill(parse_params(params)?),
            Method::Exec => Call::Exec(parse_params(params)?),
            Method::Send => Call::Send(parse_params(params)?),
            Method::Read => Call::Read(parse_params(params)?),
            Method::Screen => Call::Screen(parse_params(params)?),
            Method::Wait => Call::Wait(parse_params(params)?),
            Method::History => Call::History(parse_params(params)?),
            Method::Context => Call::Context(parse_params(params)?),
            Method::ContextTask => Call::ContextTask(parse_params(params)?),
            Method::Resize => Call::Resize(parse_params(params)?),
            Method::Signal => Call::Signal(parse_params(params)?),
            Method::Attach => Call::Attach(parse_params(params)?),
            Method::Detach => Call::Detach(parse_params(params)?),
            Method::Timeline => Call::Timeline(parse_params(params)?),
            Method::SessionImport => Call::SessionImport(parse_params(params)?),
            Method::ServerShutdown => {
                parse_params::<NoParams>(params)?;
                Call::ServerShutdown
            }
            Method::DecisionRecord => Call::DecisionRecord(parse_params(params)?),
            Method::DecisionOutcome => Call::DecisionOutcome(parse_params(params)?),
            Method::DecisionStats => Call::DecisionStats(parse_params(params)?),
            Method::Snapshot => Call::Snapshot(parse_params(params)?),
            Method::Snapshots => {
                parse_params::<NoParams>(params)?;
                Call::Snapshots
            }
            Method::SnapshotRestore => Call::SnapshotRestore(parse_params(params)?),
            Method::Metrics => Call::Metrics,
            Method::Stats => Call::Stats,
        })
    }
}

/// Accepts `{}` (or no params) only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// Deserialises params, naming the offending field in the error.
fn parse_params<T: serde::de::DeserializeOwned>(params: Option<Value>) -> Result<T, RpcError> {
    let value = match params {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v,
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (message, field) = if path == "." || path.is_empty() {
            (format!("invalid params: {inner}"), None)
        } else {
            (
                format!("invalid params: field `{path}`: {inner}"),
                Some(path),
            )
        };
        RpcError {
            code: codes::INVALID_PARAMS,
            message,
            data: field.map(|f| serde_json::json!({ "field": f })),
        }
    })
}

impl Method {
    /// All methods, in documentation order.
    pub const ALL: &'static [Method] = &[
        Method::Hello,
        Method::SessionNew,
        Method::SessionList,
        Method::SessionKill,
        Method::Exec,
        Method::Send,
        Method::Read,
        Method::Screen,
        Method::Wait,
        Method::History,
        Method::Context,
        Method::ContextTask,
        Method::Resize,
        Method::Signal,
        Method::Attach,
        Method::Detach,
        Method::Timeline,
        Method::SessionImport,
        Method::ServerShutdown,
        Method::DecisionRecord,
        Method::DecisionOutcome,
        Method::DecisionStats,
        Method::Snapshot,
        Method::Snapshots,
        Method::SnapshotRestore,
        Method::Metrics,
        Method::Stats,
    ];

    /// The wire name (`"session.new"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Method::Hello => "hello",
            Method::SessionNew => "session.new",
            Method::SessionList => "session.list",
            Method::SessionKill => "session.kill",
            Method::Exec => "exec",
            Method::Send => "send",
            Method::Read => "read",
            Method::Screen => "screen",
            Method::Wait => "wait",
            Method::History => "history",
            Method::Context => "context",
            Method::ContextTask => "context.task",
            Method::Resize => "resize",
            Method::Signal => "signal",
            Method::Attach => "attach",
            Method::Detach => "detach",
            Method::Timeline => "timeline",
            Method::SessionImport => "session.import",
            Method::ServerShutdown => "server.shutdown",
            Method::DecisionRecord => "decision.record",
            Method::DecisionOutcome => "decision.outcome",
            Method::DecisionStats => "decision.stats",
            Method::Snapshot => "snapshot",
            Method::Snapshots => "snapshot.list",
            Method::SnapshotRestore => "snapshot.restore",
            Method::Metrics => "metrics",
            Method::Stats => "stats",
        }
    }

    /// Parses a wire name.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.iter().copied().find(|m| m.name() == name)
    }
}

/// A request as sent by a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// Echoed in the response; absent for notifications (which get no response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Method name.
    pub method: String,
    /// Method parameters (an object; may be omitted when all are optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

/// The error member of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// One of [`codes`].
    pub code: i64,
    /// What failed and what to do about it.
    pub message: String,
    /// Extra machine-readable detail (e.g. `{"field": "command"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// A response (exactly one of `result` and `error` is present) or a server notification
/// (`method` + `params`, no `id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The request's id (`null` when the request could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Success value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
    /// Notification method (server to client: `attach.output`, `attach.closed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Notification params.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Message {
    /// A success response.
    pub fn result(id: Value, result: Value) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id: Some(id),
            result: Some(result),
            error: None,
            method: None,
            params: None,
        }
    }

    /// An error response.
    pub fn error(id: Value, error: RpcError) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id: Some(id),
            result: None,
            error: Some(error),
            method: None,
            params: None,
        }
    }

    /// A server-to-client notification.
    pub fn notification(method: &str, params: Value) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id: None,
            result: None,
            error: None,
            method: Some(method.into()),
            params: Some(params),
        }
    }

    /// Serialises to one line including the trailing `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        // Serialising these plain types cannot fail; fall back to a fixed internal error anyway.
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"could not serialise response"}}"#.to_vec()
        });
        line.push(b'\n');
        line
    }
}

/// Notification method carrying attached output.
pub const NOTIFY_ATTACH_OUTPUT: &str = "attach.output";
/// Notification method sent when an attached session ends or the stream stops.
pub const NOTIFY_ATTACH_CLOSED: &str = "attach.closed";

// ---------------------------------------------------------------- method params and results

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
    /// argv the shell is started through, e.g. the sandbox launcher
    /// `ai-session __sandbox-exec --policy-json ... --` built by
    /// `ai_session_security::sandbox::sandbox_argv`; the shell and its arguments follow it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launcher: Vec<String>,
    /// The agent creating the session, which owns it (the daemon fills in the connection's
    /// agent when this is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
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

/// `exec` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecParams {
    /// Session id (default `"default"`).
    #[serde(default = "default_session")]
    pub session: String,
    /// The command line, as typed at the shell prompt.
    pub command: String,
    /// Give up after this many ms: SIGINT, then SIGTERM, then SIGKILL to the foreground group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Create the session if it does not exist (default true).
    #[serde(default = "default_true")]
    pub create: bool,
    /// Also analyse the output (`ai-session-output`): a digest of at most this many o200k
    /// tokens and the parsed facts, in `analysis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<usize>,
    /// The agent asking: its permission profile applies, it owns a session this call creates,
    /// and metrics count per agent (the connection's `hello` agent takes precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

fn default_session() -> String {
    "default".into()
}

fn default_true() -> bool {
    true
}

/// How an `exec` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecState {
    /// The command finished; `exit_code` is set.
    Exited,
    /// The command is blocked reading the terminal; answer with `send`.
    AwaitingInput,
    /// `timeout_ms` passed and the command was interrupted.
    TimedOut,
}

/// A byte range of a session's scrollback (`start` inclusive, `end` exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// A command's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecOutput {
    /// The output as text (terminal marks removed, UTF-8 decoded lossily).
    pub text: String,
    /// Length of the raw output in bytes.
    pub bytes: u64,
    /// Where the raw output lies in the scrollback (for `read --since`).
    pub range: ByteRange,
}

/// `exec` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecResult {
    /// Session id.
    pub session: String,
    /// The command line.
    pub command: String,
    /// How it ended.
    pub state: ExecState,
    /// Exit status (`None` unless `state` is `exited`).
    pub exit_code: Option<i32>,
    /// Wall time from sending the command to the result.
    pub duration_ms: u64,
    /// Working directory after the command.
    pub cwd: Option<String>,
    /// The output.
    pub output: ExecOutput,
    /// Last non-empty screen lines (for `awaiting_input` and `timed_out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_tail: Option<Vec<String>>,
    /// Digest and parsed facts, when `budget` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<ExecAnalysis>,
}

/// What the output pipeline made of a command's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecAnalysis {
    /// Detected tool (`cargo_test`, `pytest`, `git_status`, ...).
    pub kind: ai_session_output::OutputKind,
    /// `build`, `lint`, `test`, `git`, `process_list`, `filesystem`, `network`, `log`, `custom`.
    pub category: String,
    /// The output within the token budget: every error, failing test and count, then the most
    /// informative lines, and how to read the rest.
    pub digest: String,
    /// Structured facts (build errors with locations, test results, git state, ...).
    pub parsed: ai_session_output::ParsedOutput,
    /// o200k tokens of the whole (normalised) output.
    pub tokens_raw: usize,
    /// o200k tokens of `digest`.
    pub tokens_digest: usize,
}

/// `decision.outcome` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionOutcomeParams {
    /// The decision's id (`d-<n>`).
    pub id: String,
    /// Whether the choice worked.
    pub success: bool,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `decision.stats` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DecisionStatsParams {
    /// Only this agent's decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// `snapshot` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotParams {
    /// Session id.
    pub session: String,
    /// A name to restore it by (default: only its generated id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `snapshot.list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotList {
    /// Every snapshot, oldest first.
    pub snapshots: Vec<ai_session_persist::SnapshotInfo>,
}

/// `snapshot.restore` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotRestoreParams {
    /// Snapshot id or name.
    pub snapshot: String,
    /// Id of the new session (default: the session the snapshot was taken from, which must not
    /// exist).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "as")]
    pub as_session: Option<String>,
}

/// `metrics` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsText {
    /// Prometheus text exposition format 0.0.4.
    pub text: String,
}

/// `send` params: `data_base64` (exact bytes) is written first, then `text` as is, then each of
/// `keys` (named keys such as `C-c`, `Enter`, `Up`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SendParams {
    /// Session id.
    pub session: String,
    /// Literal text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Named keys, written after `text`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Exact bytes, base64 (what `attach` forwards from the keyboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
}

/// `send` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendResult {
    /// Bytes written to the terminal.
    pub bytes: usize,
}

/// `timeline` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimelineParams {
    /// Session id.
    pub session: String,
    /// Only marks for output from this offset on (the first mark may start before it).
    #[serde(default)]
    pub since: u64,
}

/// One burst of output: the bytes from `offset` up to the next mark arrived at `ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineMark {
    /// Absolute scrollback offset of the burst's first byte.
    pub offset: u64,
    /// Milliseconds after the session's current shell started (restored or imported output
    /// that came before it is at 0).
    pub ms: u64,
}

/// `timeline` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineResult {
    /// When the session's current shell started, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// Offset one past the newest output byte when the timeline was taken.
    pub end_offset: u64,
    /// Terminal columns.
    pub cols: u16,
    /// Terminal rows.
    pub rows: u16,
    /// Arrival marks, oldest first, offsets increasing, times non-decreasing. Bursts closer
    /// than 5 ms share a mark; at most 1024 are kept (older output gets coarser times).
    pub marks: Vec<TimelineMark>,
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

/// `read` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReadParams {
    /// Session id.
    pub session: String,
    /// Scrollback offset to read from (default 0; use the previous `next_offset`).
    #[serde(default)]
    pub since: u64,
    /// At most this many bytes (default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<usize>,
    /// Also return the exact bytes, base64-encoded, in `data_base64`.
    #[serde(default)]
    pub raw: bool,
}

/// `read` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadResult {
    /// Offset of the first returned byte (greater than `since` when older bytes were dropped
    /// from the ring).
    pub start: u64,
    /// Pass this as `since` next time.
    pub next_offset: u64,
    /// The bytes as text (UTF-8, lossy).
    pub text: String,
    /// The exact bytes, base64 (only when `raw` was requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
}

/// `screen` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreenResult {
    /// Terminal rows.
    pub rows: u16,
    /// Terminal columns.
    pub cols: u16,
    /// One string per row, trailing spaces trimmed.
    pub lines: Vec<String>,
    /// Cursor row (0-based).
    pub cursor_row: u16,
    /// Cursor column (0-based).
    pub cursor_col: u16,
}

/// `wait` params. With neither `pattern` nor `idle_ms`, waits for any new output.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WaitParams {
    /// Session id.
    pub session: String,
    /// Regex (Rust `regex` syntax) matched against output after `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Return once no output arrived for this many ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_ms: Option<u64>,
    /// Give up after this many ms (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Offset to watch from (default: the current end of the scrollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// Why `wait` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// `pattern` matched.
    Matched,
    /// No output for `idle_ms`.
    Idle,
    /// New output arrived (no pattern or idle given).
    Output,
    /// `timeout_ms` passed.
    TimedOut,
    /// The session's shell exited.
    Exited,
}

/// `wait` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitResult {
    /// Why it returned.
    pub reason: WaitReason,
    /// The matched text (for `matched`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    /// Scrollback offset to continue reading from.
    pub next_offset: u64,
    /// Output seen while waiting (UTF-8, lossy; at most the last 64 KiB).
    pub text: String,
}

/// `history` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistoryParams {
    /// Session id.
    pub session: String,
    /// Only the last `limit` records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One finished (or interrupted) command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    /// Sequence number within the session.
    pub id: u64,
    /// The command line.
    pub command: String,
    /// Start, ms since the Unix epoch.
    pub started_at_ms: u64,
    /// End, ms since the Unix epoch (`None` while running).
    pub ended_at_ms: Option<u64>,
    /// Exit status.
    pub exit_code: Option<i32>,
    /// Working directory after the command.
    pub cwd: Option<String>,
    /// Output range in the scrollback.
    pub output: ByteRange,
}

/// `history` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryResult {
    /// Session id.
    pub session: String,
    /// Oldest first.
    pub commands: Vec<CommandInfo>,
}

/// Token budget of `context` when none is given.
pub const DEFAULT_CONTEXT_BUDGET: usize = 2_000;

/// `context` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextParams {
    /// Session id.
    pub session: String,
    /// Most o200k tokens of the packed text (default [`DEFAULT_CONTEXT_BUDGET`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<usize>,
    /// What the agent is working on; relevance is measured against it (default: the current
    /// task context's description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

/// `context` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextResult {
    /// Session id.
    pub session: String,
    /// The packed context: `text`, its exact `tokens`, the entries in it, most relevant first.
    pub packed: ai_session_context::PackedContext,
    /// Live tokens of the whole (compressed) context.
    pub current_tokens: usize,
    /// The budget compression keeps the live context under.
    pub max_tokens: usize,
    /// Working directory, git branch, dirty and recent files, last failing command.
    pub workspace: ai_session_context::WorkspaceState,
}

/// What `context.task` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextTaskAction {
    /// Create task `id` (with `description`, optional `parent`) and make it current.
    New,
    /// Make task `id` current (no `id`: back to the root).
    Switch,
    /// Only report.
    Show,
}

/// `context.task` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextTaskParams {
    /// Session id.
    pub session: String,
    /// What to do.
    pub action: ContextTaskAction,
    /// Task id (`new`, `switch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the task is about (`new`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The task it inherits context from (`new`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// `context.task` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextTaskResult {
    /// Session id.
    pub session: String,
    /// The current task (`None`: the root).
    pub current: Option<String>,
    /// Every task context, by id.
    pub tasks: Vec<ai_session_context::TaskContext>,
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

/// `attach` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttachParams {
    /// Session id.
    pub session: String,
    /// Stream from this offset (default: the current end, after sending the screen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// `attach` result; `attach.output` notifications follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachResult {
    /// Offset the stream starts at.
    pub offset: u64,
    /// The screen at attach time, so a viewer can paint it before streaming.
    pub screen: ScreenResult,
}

/// `attach.output` notification params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachOutput {
    /// Session id.
    pub session: String,
    /// Offset of the first byte.
    pub offset: u64,
    /// The bytes, base64.
    pub data_base64: String,
}

/// `attach.closed` notification params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachClosed {
    /// Session id.
    pub session: String,
    /// `"exited"`, `"killed"`, `"detached"` or `"shutdown"`.
    pub reason: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for &m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(m));
        }
        assert_eq!(Method::from_name("nope"), None);
    }

    #[test]
    fn exec_params_defaults() {
        let p: ExecParams = serde_json::from_str(r#"{"command":"ls"}"#).unwrap();
        assert_eq!(p.session, "default");
        assert!(p.create);
        assert_eq!(p.timeout_ms, None);
    }

    #[test]
    fn messages_are_single_lines() {
        let m = Message::result(Value::from(1), serde_json::json!({"text": "a\nb"}));
        let line = m.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
    }
}
