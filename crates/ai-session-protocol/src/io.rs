//! Terminal I/O: `send`, `read`, `screen`, `wait`, `timeline`, `attach`.

use serde::{Deserialize, Serialize};

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
    /// Hold the output from this read's `next_offset` on for this connection: while it lags
    /// by nearly the scrollback's size, the session's terminal is not read (its program
    /// waits, as on a terminal that stopped reading) instead of the ring dropping what this
    /// reader has not read yet. For a pipe that must not miss a byte (`tmux pipe-pane`). Each
    /// read with `hold` moves the hold on; it lets go after 5 s without one, and when the
    /// connection closes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
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
