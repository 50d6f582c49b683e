//! What `exec` returns and `history` keeps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// An absolute byte range `[start, end)` in the session's output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One command run in the session, cut out of the stream by the shell's marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// Per-session sequence number, starting at 1.
    pub id: u64,
    /// The command as given to `exec`; empty for commands a person typed.
    pub command: String,
    /// When the command was written, milliseconds since the Unix epoch.
    pub started_at: u64,
    /// When its end mark arrived (ms since the epoch); `None` while it still runs.
    pub ended_at: Option<u64>,
    /// `$?` of the command; `None` while it runs or when the shell did not say.
    pub exit_code: Option<i32>,
    /// The shell's working directory after the command (from OSC 7).
    pub cwd: Option<String>,
    /// The command's output: exactly the bytes between its C and D marks.
    pub output: ByteRange,
}

impl CommandRecord {
    /// Wall time from start to end, if it has ended.
    pub fn duration(&self) -> Option<Duration> {
        self.ended_at
            .map(|end| Duration::from_millis(end.saturating_sub(self.started_at)))
    }
}

/// How an `exec` call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecState {
    /// The command finished (its end mark arrived, or the shell itself exited).
    Exited,
    /// The command waits for terminal input; it is still running. Send keys (e.g. `C-c`) to go on.
    AwaitingInput,
    /// The timeout hit; the command was interrupted (SIGINT, SIGTERM, SIGKILL as needed).
    TimedOut,
    /// `yield_after` passed and the command still runs; its record is finished later.
    Running,
}

/// The result of `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutcome {
    /// How it ended.
    pub state: ExecState,
    /// The command record (with `ended_at`/`exit_code` unset if the command still runs).
    pub record: CommandRecord,
    /// The output bytes of `record.output` (the part still in the scrollback).
    pub output: Vec<u8>,
    /// The last non-empty lines of the screen, for prompts and pagers (`AwaitingInput`,
    /// `TimedOut`); empty for `Exited`, whose output says it all.
    pub screen_tail: Vec<String>,
    /// The shell itself has exited (e.g. the command was `exit 3`); the session is over.
    pub session_exited: bool,
}

/// Options for `exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// Interrupt the command after this long; `None` waits until it ends or waits for input.
    pub timeout: Option<Duration>,
    /// How long to wait for the shell's prompt before writing (covers shell start-up).
    pub ready_timeout: Duration,
    /// Time between SIGINT, SIGTERM and SIGKILL when the timeout hits.
    pub kill_grace: Duration,
    /// Return [`ExecState::AwaitingInput`] when the command blocks reading the terminal.
    pub detect_input_wait: bool,
    /// How many screen lines to put in [`ExecOutcome::screen_tail`].
    pub tail_lines: usize,
    /// Stop waiting after this long and return [`ExecState::Running`]; the command goes on.
    pub yield_after: Option<Duration>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            timeout: None,
            ready_timeout: Duration::from_secs(10),
            kill_grace: Duration::from_millis(500),
            detect_input_wait: true,
            tail_lines: 10,
            yield_after: None,
        }
    }
}

impl ExecOptions {
    /// Default options with a timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::default()
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
