//! The one place that knows the daemon's wire shapes: it follows the daemon and turns what it
//! says into board [`Change`]s.
//!
//! One connection follows the event log (`events {since, follow: true}`, then `events.event`
//! notifications, none missed) and, beside it, lists the sessions once at the start and again,
//! at most every [`LIST_GAP`], after an event that may have changed what a listing shows (cwd,
//! policy, labels). Nothing is polled per session. After a lost connection it reconnects and
//! follows on from the last seq it applied.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::protocol::{self as p, SessionState};

use super::board::Board;
use crate::Client;

/// Least time between two listings triggered by events.
const LIST_GAP: Duration = Duration::from_millis(200);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What a listing says of one session.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SessionFacts {
    pub(crate) id: String,
    pub(crate) owner: Option<String>,
    pub(crate) alive: bool,
    pub(crate) state: SessionState,
    pub(crate) command: Option<String>,
    pub(crate) command_started_at_ms: Option<u64>,
    pub(crate) last_exit_code: Option<i32>,
    pub(crate) cwd: Option<String>,
    pub(crate) policy: Option<String>,
    pub(crate) labels: std::collections::BTreeMap<String, String>,
    pub(crate) shell: String,
    pub(crate) cols: u16,
    pub(crate) rows: u16,
    pub(crate) commands: u64,
    pub(crate) created_at_ms: u64,
}

/// What happened to a session, from one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EventKind {
    Created {
        owner: Option<String>,
        policy: Option<String>,
    },
    CommandStarted {
        command: String,
    },
    AwaitingInput {
        command: Option<String>,
        screen_tail: Vec<String>,
    },
    /// The prompt was answered; the command runs on.
    InputAnswered,
    CommandFinished {
        command: String,
        exit_code: Option<i32>,
        tokens_raw: Option<u64>,
        tokens_digest: Option<u64>,
    },
    Exited,
    Killed,
    /// A kind the board does not show (matched, idle, port_listening, newer kinds).
    Other,
}

/// One change for the board.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Every session as listed; `after`: the highest event seq applied when the listing was
    /// asked for (state newer than that on the board wins).
    Listed {
        sessions: Vec<SessionFacts>,
        after: u64,
    },
    /// One event of the daemon's log.
    Event {
        seq: u64,
        at_ms: u64,
        session: String,
        kind: EventKind,
    },
}

impl From<p::SessionInfo> for SessionFacts {
    fn from(s: p::SessionInfo) -> SessionFacts {
        SessionFacts {
            id: s.id,
            owner: s.owner,
            alive: s.alive,
            state: s.state,
            command_started_at_ms: s.running.as_ref().map(|r| r.started_at_ms),
            command: s.running.map(|r| r.command),
            last_exit_code: s.last_exit_code,
            cwd: s.cwd,
            policy: s.policy,
            labels: s.labels,
            shell: s.shell,
            cols: s.cols,
            rows: s.rows,
            commands: s.commands as u64,
            created_at_ms: s.created_at_ms,
        }
    }
}

/// Turns one event into a board change. A kind this dashboard does not know (a newer daemon)
/// still advances the cursor; `None` only when not even its seq can be read.
pub(crate) fn parse_event(value: Value) -> Option<Change> {
    let event = match p::Event::deserialize(&value) {
        Ok(event) => event,
        Err(_) => {
            #[derive(Deserialize)]
            struct Position {
                seq: u64,
                at_ms: u64,
                session: String,
            }
            let at: Position = serde_json::from_value(value).ok()?;
            return Some(Change::Event {
                seq: at.seq,
                at_ms: at.at_ms,
                session: at.session,
                kind: EventKind::Other,
            });
        }
    };
    let kind = match event.kind {
        p::EventKind::SessionCreated { owner, policy, .. } => EventKind::Created { owner, policy },
        p::EventKind::CommandStarted { command, .. } => EventKind::CommandStarted { command },
        p::EventKind::AwaitingInput { screen_tail, .. } => EventKind::AwaitingInput {
            command: None,
            screen_tail,
        },
        p::EventKind::InputAnswered { .. } => EventKind::InputAnswered,
        p::EventKind::CommandFinished {
            command,
            exit_code,
            tokens_raw,
            tokens_digest,
            ..
        } => EventKind::CommandFinished {
            command,
            exit_code,
            tokens_raw: tokens_raw.map(|t| t as u64),
            tokens_digest: tokens_digest.map(|t| t as u64),
        },
        p::EventKind::SessionExited { .. } => EventKind::Exited,
        p::EventKind::SessionKilled {} => EventKind::Killed,
        p::EventKind::OutputMatched { .. }
        | p::EventKind::OutputIdle { .. }
        | p::EventKind::PortListening { .. } => EventKind::Other,
    };
    Some(Change::Event {
        seq: event.seq,
        at_ms: event.at_ms,
        session: event.session,
        kind,
    })
}

/// Parses a `session.list` result (the error says what was not understood).
pub(crate) fn parse_list(value: Value) -> Result<Vec<SessionFacts>, String> {
    let list: p::SessionList = serde_json::from_value(value)
        .map_err(|e| format!("a session.list result the dashboard cannot read: {e}"))?;
    Ok(list.sessions.into_iter().map(SessionFacts::from).collect())
}

/// True when an event may change what a listing shows beyond the event itself.
fn changes_listing(change: &Change) -> bool {
    matches!(
        change,
        Change::Event {
            kind: EventKind::Created { .. } | EventKind::CommandFinished { .. } | EventKind::Exited,
            ..
        }
    )
}

async fn connect(socket: &Path) -> crate::Result<Client> {
    let client = Client::connect(socket).await?;
    client
        .call_raw(
            "hello",
            &json!({"client": concat!("ai-session-ui/", env!("CARGO_PKG_VERSION"))}),
        )
        .await?;
    Ok(client)
}

/// Follows the daemon at `socket` into `board` until aborted, reconnecting when it is lost.
pub(crate) async fn run(socket: PathBuf, board: Arc<Board>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let error = match follow(&socket, &board, &mut backoff).await {
            Ok(()) => "the daemon closed the connection".to_owned(),
            Err(error) => error.to_string(),
        };
        tracing::warn!(%error, "dashboard lost the daemon; reconnecting");
        board.set_connection(false, "events", Some(error));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn follow(socket: &Path, board: &Arc<Board>, backoff: &mut Duration) -> crate::Result<()> {
    let events = connect(socket).await?;
    let hello = events.hello().await?;
    if !hello.capabilities.iter().any(|c| c == "events") {
        return Err(crate::Error::BadMessage {
            what: format!(
                "no event log (protocol {}); the dashboard needs a daemon of this version: \
                 restart it with `ai-session kill-server`",
                hello.protocol_version
            ),
        });
    }
    let params = p::EventsParams {
        since: board.seq(),
        follow: true,
        ..p::EventsParams::default()
    };
    let first = events.call_raw(p::Method::Events.name(), &params).await?;
    for event in first["events"].as_array().into_iter().flatten() {
        if let Some(change) = parse_event(event.clone()) {
            board.apply(change);
        }
    }
    let listing_wanted = Arc::new(tokio::sync::Notify::new());
    listing_wanted.notify_one();
    let _listing = AbortOnDrop(tokio::spawn(list_when_asked(
        events.clone(),
        board.clone(),
        listing_wanted.clone(),
    )));
    board.set_connection(true, "events", None);
    *backoff = Duration::from_millis(100);
    loop {
        let Some(message) = events.next_notification().await? else {
            return Ok(());
        };
        if message.method.as_deref() != Some(p::NOTIFY_EVENT) {
            continue;
        }
        let Some(change) = message.params.and_then(parse_event) else {
            continue;
        };
        if changes_listing(&change) {
            listing_wanted.notify_one();
        }
        board.apply(change);
    }
}

/// Lists the sessions whenever asked, at most once per [`LIST_GAP`]. A failure ends it; the
/// follower sees the same connection close and starts over.
async fn list_when_asked(client: Client, board: Arc<Board>, wanted: Arc<tokio::sync::Notify>) {
    loop {
        wanted.notified().await;
        let after = board.seq();
        let sessions = match client
            .call_raw(p::Method::SessionList.name(), &json!({}))
            .await
        {
            Ok(list) => parse_list(list),
            Err(error) => Err(error.to_string()),
        };
        match sessions {
            Ok(sessions) => board.apply(Change::Listed { sessions, after }),
            Err(error) => {
                tracing::warn!(%error, "dashboard could not list the sessions");
                return;
            }
        }
        tokio::time::sleep(LIST_GAP).await;
    }
}

/// Aborts the task when dropped, so a follower that returns takes its lister with it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_the_contract_parse() {
        let finished = json!({"seq": 17, "at_ms": 5, "session": "build", "offset": 9, "kind": "command_finished",
            "command_id": 3, "command": "make", "exit_code": 2, "duration_ms": 40,
            "output": {"start": 0, "end": 9}, "tokens_raw": 120, "tokens_digest": 30});
        assert_eq!(
            parse_event(finished),
            Some(Change::Event {
                seq: 17,
                at_ms: 5,
                session: "build".into(),
                kind: EventKind::CommandFinished {
                    command: "make".into(),
                    exit_code: Some(2),
                    tokens_raw: Some(120),
                    tokens_digest: Some(30),
                },
            })
        );
        let waiting = json!({"seq": 18, "at_ms": 6, "session": "build", "offset": 9, "kind": "awaiting_input",
            "command_id": 4, "screen_tail": ["Password:"]});
        let Some(Change::Event { kind, .. }) = parse_event(waiting) else {
            panic!("awaiting_input did not parse");
        };
        assert_eq!(
            kind,
            EventKind::AwaitingInput {
                command: None,
                screen_tail: vec!["Password:".into()]
            }
        );
        let port =
            json!({"seq": 19, "at_ms": 7, "session": "web", "kind": "port_listening", "port": 80});
        assert!(matches!(
            parse_event(port),
            Some(Change::Event {
                kind: EventKind::Other,
                ..
            })
        ));
        assert_eq!(parse_event(json!({"kind": "nonsense"})), None);
    }

    #[test]
    fn listings_parse_with_and_without_the_state_fields() {
        let v1 = json!({"sessions": [{"id": "a", "pid": 1, "shell": "bash", "cwd": "/tmp", "cols": 80,
            "rows": 24, "created_at_ms": 1, "alive": true, "commands": 2, "output_offset": 9}]});
        let facts = parse_list(v1).unwrap();
        assert_eq!(facts[0].state, SessionState::Idle);
        assert_eq!(facts[0].cwd.as_deref(), Some("/tmp"));
        let v2 = json!({"sessions": [{"id": "b", "shell": "bash", "cols": 80, "rows": 24,
            "created_at_ms": 1, "alive": true, "commands": 0, "output_offset": 0,
            "owner": "builder", "state": "running", "policy": "workspace",
            "running": {"id": 7, "command": "npm run dev", "started_at_ms": 99},
            "last_exit_code": 1, "labels": {"team": "web"}}]});
        let facts = parse_list(v2).unwrap();
        assert_eq!(facts[0].state, SessionState::Running);
        assert_eq!(facts[0].command.as_deref(), Some("npm run dev"));
        assert_eq!(facts[0].command_started_at_ms, Some(99));
        assert_eq!(facts[0].policy.as_deref(), Some("workspace"));
        assert_eq!(facts[0].labels["team"], "web");
    }
}
