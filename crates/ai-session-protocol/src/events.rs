//! The event log: what happened in every session, in one sequence (`events`, `wait`,
//! `watch`). A consumer keeps a cursor (`since`/`since_event`) and never misses an event or
//! sees one twice.

use serde::{Deserialize, Serialize};

use crate::ByteRange;

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the daemon's log: strictly increasing, never reused, continued across
    /// daemon restarts.
    pub seq: u64,
    /// When it happened, ms since the Unix epoch.
    pub at_ms: u64,
    /// The session it happened in.
    pub session: String,
    /// The session's output offset when it happened (for `command_started`: where the
    /// command's output starts).
    pub offset: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened, with its details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The session was created (or restored by a new daemon: `restored`).
    SessionCreated {
        /// The agent that owns it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        /// Its sandbox policy, if sandboxed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<String>,
        /// True when a new daemon restarted a stored session.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        restored: bool,
    },
    /// A command started (through `exec`, or typed at the prompt).
    CommandStarted {
        /// Its record id in the session.
        command_id: u64,
        /// The command line (empty for a command a person typed).
        command: String,
    },
    /// A command finished.
    CommandFinished {
        /// Its record id in the session.
        command_id: u64,
        /// The command line.
        command: String,
        /// `$?` (absent when the shell did not say, e.g. it was lost with its daemon).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// Wall time.
        duration_ms: u64,
        /// Its output in the scrollback (`read` with `since = output.start`).
        output: ByteRange,
        /// The output's digest (facts first) in at most 400 o200k tokens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
        /// o200k tokens of the whole output.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokens_raw: Option<usize>,
        /// o200k tokens of the digest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokens_digest: Option<usize>,
    },
    /// A running command is blocked reading the terminal (a prompt, a pager, a REPL).
    AwaitingInput {
        /// The command's record id.
        command_id: u64,
        /// The last non-empty screen lines.
        screen_tail: Vec<String>,
    },
    /// The command that was awaiting input got it and runs on (one that ends instead has
    /// only its `command_finished`).
    InputAnswered {
        /// The command's record id.
        command_id: u64,
    },
    /// Output matched a watched regex.
    OutputMatched {
        /// The watch that matched (absent: a `wait`'s own condition).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watch: Option<String>,
        /// The regex.
        pattern: String,
        /// The text it matched.
        matched: String,
        /// The whole line (or partial last line) it matched in, normalised.
        line: String,
    },
    /// No output for `idle_ms` after some output.
    OutputIdle {
        /// The watch (absent: a `wait`'s own condition).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watch: Option<String>,
        /// How long it has been quiet.
        idle_ms: u64,
    },
    /// A process of the session started listening on a TCP port.
    PortListening {
        /// The watch (absent: a `wait`'s own condition).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watch: Option<String>,
        /// The port.
        port: u16,
        /// The local address (`0.0.0.0`, `127.0.0.1`, `::`, ...).
        address: String,
        /// The listening process, when it could be told.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// The session's shell exited by itself.
    SessionExited {
        /// An `exit` watch on the session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watch: Option<String>,
        /// Its status (exit code, or 128 + signal).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<i32>,
    },
    /// The session was killed (`session.kill`).
    SessionKilled {},
}

/// The kinds of [`EventKind`], for filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// [`EventKind::SessionCreated`].
    SessionCreated,
    /// [`EventKind::CommandStarted`].
    CommandStarted,
    /// [`EventKind::CommandFinished`].
    CommandFinished,
    /// [`EventKind::AwaitingInput`].
    AwaitingInput,
    /// [`EventKind::InputAnswered`].
    InputAnswered,
    /// [`EventKind::OutputMatched`].
    OutputMatched,
    /// [`EventKind::OutputIdle`].
    OutputIdle,
    /// [`EventKind::PortListening`].
    PortListening,
    /// [`EventKind::SessionExited`].
    SessionExited,
    /// [`EventKind::SessionKilled`].
    SessionKilled,
}

impl EventType {
    /// Every kind, in the order the docs list them.
    pub const ALL: &'static [EventType] = &[
        EventType::SessionCreated,
        EventType::CommandStarted,
        EventType::CommandFinished,
        EventType::AwaitingInput,
        EventType::InputAnswered,
        EventType::OutputMatched,
        EventType::OutputIdle,
        EventType::PortListening,
        EventType::SessionExited,
        EventType::SessionKilled,
    ];
}

impl EventKind {
    /// Its [`EventType`].
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::SessionCreated { .. } => EventType::SessionCreated,
            EventKind::CommandStarted { .. } => EventType::CommandStarted,
            EventKind::CommandFinished { .. } => EventType::CommandFinished,
            EventKind::AwaitingInput { .. } => EventType::AwaitingInput,
            EventKind::InputAnswered { .. } => EventType::InputAnswered,
            EventKind::OutputMatched { .. } => EventType::OutputMatched,
            EventKind::OutputIdle { .. } => EventType::OutputIdle,
            EventKind::PortListening { .. } => EventType::PortListening,
            EventKind::SessionExited { .. } => EventType::SessionExited,
            EventKind::SessionKilled {} => EventType::SessionKilled,
        }
    }
}

/// `events` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    /// Only events after this seq (default 0: every event still kept).
    #[serde(default)]
    pub since: u64,
    /// Only these sessions (default: every session the caller may see).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<String>,
    /// Only these kinds (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<EventType>,
    /// At most this many (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// After the answer, send every later matching event as an `events.event` notification,
    /// in order, until the connection closes or `events.unfollow`.
    #[serde(default)]
    pub follow: bool,
}

/// `events` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsResult {
    /// Oldest first.
    pub events: Vec<Event>,
    /// Pass this as `since` next time (the last seq looked at).
    pub next_event: u64,
    /// The oldest seq the daemon still keeps (older events were dropped from its log).
    pub oldest_event: u64,
}

/// Notification method carrying one followed event (params: an [`Event`]).
pub const NOTIFY_EVENT: &str = "events.event";

/// One condition of `wait`: an event that ends the wait. Written `{"exit": true}`,
/// `{"regex": "Listening on"}`, `{"port": 8080}`, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A command finished (`true`).
    Exit(bool),
    /// A running command started waiting for terminal input (`true`).
    AwaitingInput(bool),
    /// The session's shell exited or the session was killed (`true`).
    SessionExited(bool),
    /// Output matched this regex (Rust `regex` syntax, matched per line).
    Regex(String),
    /// A process of the session listens on this TCP port (0: any port).
    Port(u16),
    /// No output for this many ms (after the wait started, or after the last output).
    IdleMs(u64),
    /// Any event of this kind.
    Kind(EventType),
}

/// `wait` params: returns as soon as an event after `since_event` matches a condition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    /// One session (shorthand for `sessions: [session]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The sessions to watch (default: every session the caller may see).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<String>,
    /// Any of these ends the wait (default: a command finished, awaits input, or its
    /// session exited).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Only events after this seq (default: from now). Pass the previous `next_event`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_event: Option<u64>,
    /// For `regex`: scan output from this offset (default: where the session was at
    /// `since_event`, or from the start of a command that started after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_offset: Option<u64>,
    /// Give up after this many ms (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// `wait` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitResult {
    /// The events that matched, oldest first (empty when it timed out).
    pub events: Vec<Event>,
    /// Pass this as `since_event` next time.
    pub next_event: u64,
    /// True when `timeout_ms` passed with no match.
    pub timed_out: bool,
}

/// `watch` params: a lasting condition on one session, kept with the session (across daemon
/// restarts) until `watch.remove` or the session ends. Exactly one of `regex`, `port`,
/// `idle_ms`, `exit` is given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchParams {
    /// The session.
    pub session: String,
    /// Every output line matching it becomes an `output_matched` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Each new listening socket on this port (0: any) becomes a `port_listening` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Each time output stops for this long, an `output_idle` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_ms: Option<u64>,
    /// The session's exit: its `session_exited` event names this watch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exit: bool,
}

/// A registered watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchInfo {
    /// Its id (`w<N>`), named in the events it produces.
    pub id: String,
    /// What it watches.
    #[serde(flatten)]
    pub spec: WatchParams,
}

/// `watch.list` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchListParams {
    /// Only this session's watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// `watch.list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchList {
    /// Every watch, by session then id.
    pub watches: Vec<WatchInfo>,
}

/// `watch.remove` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchRemoveParams {
    /// The watch id.
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_flat_objects_that_round_trip() {
        let event = Event {
            seq: 7,
            at_ms: 1,
            session: "build".into(),
            offset: 42,
            kind: EventKind::CommandFinished {
                command_id: 3,
                command: "make".into(),
                exit_code: Some(2),
                duration_ms: 10,
                output: ByteRange { start: 1, end: 42 },
                digest: None,
                tokens_raw: None,
                tokens_digest: None,
            },
        };
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["kind"], "command_finished");
        assert_eq!(value["exit_code"], 2);
        assert_eq!(value["seq"], 7);
        assert_eq!(serde_json::from_value::<Event>(value).unwrap(), event);
        let killed: Event = serde_json::from_value(
            json!({"seq": 1, "at_ms": 0, "session": "s", "offset": 0, "kind": "session_killed"}),
        )
        .unwrap();
        assert_eq!(killed.kind.event_type(), EventType::SessionKilled);
    }

    #[test]
    fn conditions_are_one_key_objects() {
        let conditions: Vec<Condition> = serde_json::from_value(json!([
            {"exit": true}, {"regex": "Listening on"}, {"port": 8080}, {"idle_ms": 500},
            {"awaiting_input": true}, {"session_exited": true}, {"kind": "output_idle"}
        ]))
        .unwrap();
        assert_eq!(conditions.len(), 7);
        assert_eq!(conditions[2], Condition::Port(8080));
        assert!(serde_json::from_value::<Condition>(json!({"exit": true, "port": 1})).is_err());
        assert!(serde_json::from_value::<Condition>(json!({"nope": 1})).is_err());
    }
}
