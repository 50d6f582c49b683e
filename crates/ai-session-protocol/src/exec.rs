//! Running commands (`exec`) and their records (`history`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// Answer after at most this many ms even if the command still runs (`state: running`;
    /// the command goes on, and its `command_finished` event comes later). 0 starts it in
    /// the background.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yield_ms: Option<u64>,
    /// While it waits, send `exec.progress` notifications carrying this token (about once a
    /// second while output arrives): bytes and lines so far and the last line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_token: Option<String>,
}

impl ExecParams {
    /// `command` in session `session`, with every option at its default.
    pub fn new(session: impl Into<String>, command: impl Into<String>) -> Self {
        ExecParams {
            session: session.into(),
            command: command.into(),
            timeout_ms: None,
            create: true,
            budget: None,
            agent: None,
            yield_ms: None,
            progress_token: None,
        }
    }
}

/// `exec.progress` notification params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecProgress {
    /// The `progress_token` of the exec.
    pub token: String,
    /// Output bytes so far.
    pub bytes: u64,
    /// Output lines so far.
    pub lines: u64,
    /// The last non-empty output line (normalised).
    pub last_line: String,
    /// Since the command started.
    pub elapsed_ms: u64,
}

/// Notification method of [`ExecProgress`].
pub const NOTIFY_EXEC_PROGRESS: &str = "exec.progress";

fn default_session() -> String {
    crate::DEFAULT_SESSION.into()
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
    /// `yield_ms` passed and the command still runs.
    Running,
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
    /// The command's record id in the session (as in `history` and events).
    pub command_id: u64,
    /// How it ended (or `running`, `awaiting_input`: it goes on).
    pub state: ExecState,
    /// The event log's position just before the command started: `wait` with this as
    /// `since_event` sees everything the command does.
    pub next_event: u64,
    /// Exit status (`None` unless `state` is `exited`).
    pub exit_code: Option<i32>,
    /// Wall time from sending the command to the result.
    pub duration_ms: u64,
    /// Working directory after the command.
    pub cwd: Option<String>,
    /// The output.
    pub output: ExecOutput,
    /// Last non-empty screen lines (for `awaiting_input`, `running` and `timed_out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_tail: Option<Vec<String>>,
    /// Digest and parsed facts, when `budget` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<ExecAnalysis>,
    /// Set when the session's sandbox reached its disk quota: writes to the workspace now
    /// fail with `ENOSPC` (review with `changes`, then `changes.apply` or kill the session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_quota: Option<crate::QuotaFull>,
}

/// What the output pipeline made of a command's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecAnalysis {
    /// Detected tool (`cargo_test`, `pytest`, `git_status`, ...).
    /// (an `ai_session_output::OutputKind`, snake_case).
    pub kind: String,
    /// `build`, `lint`, `test`, `git`, `process_list`, `filesystem`, `network`, `log`, `custom`.
    pub category: String,
    /// The output within the token budget: every error, failing test and count, then the most
    /// informative lines, and how to read the rest.
    pub digest: String,
    /// Structured facts (build errors with locations, test results, git state, ...).
    /// (the JSON of `ai_session_output::ParsedOutput`).
    pub parsed: Value,
    /// o200k tokens of the whole (normalised) output.
    pub tokens_raw: usize,
    /// o200k tokens of `digest`.
    pub tokens_digest: usize,
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

/// Where a command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// It runs.
    Running,
    /// It runs, blocked reading the terminal.
    AwaitingInput,
    /// It ended (`exit_code` says how, when the shell told).
    Exited,
}

/// One command: finished, or the one running now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    /// Sequence number within the session.
    pub id: u64,
    /// The command line.
    pub command: String,
    /// Where it is.
    pub state: CommandState,
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
    /// Oldest first; the running command, if any, last.
    pub commands: Vec<CommandInfo>,
}
