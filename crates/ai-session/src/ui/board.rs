//! The board: what the dashboard knows of every session and of the commands that finished,
//! kept up to date by the adapter and pushed to every open page as JSON messages.
//!
//! Changes are gathered and published once per [`BOARD_TICK`] as one `changes` message: an
//! agent's exec loop makes thousands of events a second, and a page needs each session's
//! latest view, not every step of it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::adapter::{Change, EventKind, SessionFacts};
use crate::protocol::SessionState;

/// Finished commands kept for the plots (the oldest go first).
const MAX_POINTS: usize = 20_000;
/// Messages a page may fall behind before it gets a fresh snapshot instead.
const CHANNEL_CAPACITY: usize = 1024;
/// How long changes gather before they are published (a person sees no difference).
const BOARD_TICK: Duration = Duration::from_millis(20);

/// A session's state as the board shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardState {
    /// A command is waiting for terminal input: a person is needed.
    AwaitingInput,
    /// Idle, and its last command exited non-zero.
    Failed,
    /// A command is running.
    Running,
    /// The shell is starting.
    Starting,
    /// Idle at its prompt.
    Idle,
    /// The shell exited.
    Exited,
}

impl BoardState {
    /// Lower comes first on the board: what needs a person, then what is busy.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

/// One session on the board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// The agent that owns it; `None` for the operator's.
    pub owner: Option<String>,
    /// What the board shows.
    pub state: BoardState,
    /// [`BoardState::rank`], for the page's ordering.
    pub rank: u8,
    /// The command that runs now (or waits for input).
    pub command: Option<String>,
    /// When that command started (ms since the epoch).
    pub command_started_at_ms: Option<u64>,
    /// Exit code of the last finished command.
    pub last_exit_code: Option<i32>,
    /// Working directory as the shell last reported it.
    pub cwd: Option<String>,
    /// Sandbox policy; `None` when not sandboxed.
    pub policy: Option<String>,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// The shell program.
    pub shell: String,
    /// Terminal size.
    pub cols: u16,
    /// Terminal size.
    pub rows: u16,
    /// Finished commands.
    pub commands: u64,
    /// Creation time (ms since the epoch).
    pub created_at_ms: u64,
    /// The last screen lines when it waits for input.
    pub screen_tail: Vec<String>,
    /// An operator typed into it from the dashboard right now.
    pub controlled: bool,
    /// Seq of the last event applied to it (0: none yet).
    #[serde(skip)]
    last_event: u64,
}

impl SessionView {
    fn new(id: &str) -> SessionView {
        SessionView {
            id: id.to_owned(),
            owner: None,
            state: BoardState::Starting,
            rank: BoardState::Starting.rank(),
            command: None,
            command_started_at_ms: None,
            last_exit_code: None,
            cwd: None,
            policy: None,
            labels: BTreeMap::new(),
            shell: String::new(),
            cols: 0,
            rows: 0,
            commands: 0,
            created_at_ms: 0,
            screen_tail: Vec::new(),
            controlled: false,
            last_event: 0,
        }
    }

    fn set_state(&mut self, state: BoardState) {
        self.state = state;
        self.rank = state.rank();
    }

    /// Idle, or failed when the last command did not exit 0.
    fn settle(&mut self) {
        let failed = self.last_exit_code.is_some_and(|c| c != 0);
        self.set_state(if failed {
            BoardState::Failed
        } else {
            BoardState::Idle
        });
        self.command = None;
        self.command_started_at_ms = None;
        self.screen_tail.clear();
    }

    /// Takes what a listing says. Its state is only taken when no event newer than the
    /// listing's request was applied meanwhile (the events are then the fresher truth).
    fn take_facts(&mut self, facts: &SessionFacts, listed_after: u64) {
        self.owner.clone_from(&facts.owner);
        self.cwd.clone_from(&facts.cwd);
        if facts.policy.is_some() {
            self.policy.clone_from(&facts.policy);
        }
        self.labels.clone_from(&facts.labels);
        self.shell.clone_from(&facts.shell);
        self.cols = facts.cols;
        self.rows = facts.rows;
        self.commands = facts.commands;
        self.created_at_ms = facts.created_at_ms;
        if self.last_event > listed_after {
            return;
        }
        self.last_exit_code = facts.last_exit_code.or(self.last_exit_code);
        if !facts.alive {
            self.set_state(BoardState::Exited);
            return;
        }
        match facts.state {
            SessionState::AwaitingInput => {
                self.set_state(BoardState::AwaitingInput);
                self.command.clone_from(&facts.command);
                self.command_started_at_ms = facts.command_started_at_ms;
            }
            SessionState::Running => {
                self.set_state(BoardState::Running);
                self.command.clone_from(&facts.command);
                self.command_started_at_ms = facts.command_started_at_ms;
                self.screen_tail.clear();
            }
            SessionState::Starting => self.set_state(BoardState::Starting),
            SessionState::Exited => self.set_state(BoardState::Exited),
            SessionState::Idle => self.settle(),
        }
    }
}

/// A finished command, for the plots.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandPoint {
    /// When it finished (ms since the epoch).
    pub at_ms: u64,
    /// The session.
    pub session: String,
    /// Its owner agent (`None`: the operator).
    pub agent: Option<String>,
    /// Exit code (`None`: unknown, e.g. interrupted).
    pub exit_code: Option<i32>,
    /// Tokens of its raw output (when the daemon counted them).
    pub tokens_raw: Option<u64>,
    /// Tokens delivered to the agent (the digest's; the raw count when no digest was made).
    pub tokens_delivered: Option<u64>,
}

#[derive(Default)]
struct Inner {
    sessions: BTreeMap<String, SessionView>,
    /// Published finished commands (the pending ones join at the next publish).
    points: VecDeque<CommandPoint>,
    /// Sessions changed or removed since the last publish.
    changed: BTreeSet<String>,
    /// Commands finished since the last publish.
    new_points: Vec<CommandPoint>,
    /// Highest event seq applied.
    seq: u64,
    connected: bool,
    source: &'static str,
    error: Option<String>,
}

/// The shared board; cheap to read, written by the adapter and the terminal relay.
pub(crate) struct Board {
    inner: Mutex<Inner>,
    updates: broadcast::Sender<Arc<str>>,
    /// Woken when something waits to be published.
    pending: tokio::sync::Notify,
}

impl Board {
    pub(crate) fn new() -> Board {
        Board {
            inner: Mutex::new(Inner::default()),
            updates: broadcast::Sender::new(CHANNEL_CAPACITY),
            pending: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A page's start: the whole board as one message, and every message after it. Both are
    /// taken under the lock that publishing holds, so nothing falls between them.
    pub(crate) fn subscribe(&self) -> (String, broadcast::Receiver<Arc<str>>) {
        let inner = self.lock();
        (snapshot(&inner).to_string(), self.updates.subscribe())
    }

    /// The whole board as one message.
    pub(crate) fn snapshot(&self) -> Value {
        snapshot(&self.lock())
    }

    /// Publishes what changed since the last call, once per [`BOARD_TICK`], until aborted.
    pub(crate) async fn publish_changes(&self) {
        loop {
            self.pending.notified().await;
            tokio::time::sleep(BOARD_TICK).await;
            self.publish_now();
        }
    }

    /// Sends one `changes` message with every session changed (or removed) and every command
    /// finished since the last one; nothing when nothing changed.
    fn publish_now(&self) {
        let mut inner = self.lock();
        if inner.changed.is_empty() && inner.new_points.is_empty() {
            return;
        }
        let changed = std::mem::take(&mut inner.changed);
        let points = std::mem::take(&mut inner.new_points);
        let (views, removed): (Vec<_>, Vec<_>) = changed
            .iter()
            .partition(|id| inner.sessions.contains_key(id.as_str()));
        let views: Vec<&SessionView> = views.iter().map(|id| &inner.sessions[*id]).collect();
        let message = json!({
            "type": "changes",
            "sessions": views,
            "removed": removed,
            "commands": points,
        });
        // No page open is fine.
        let _ = self.updates.send(Arc::from(message.to_string()));
        for point in points {
            if inner.points.len() >= MAX_POINTS {
                inner.points.pop_front();
            }
            inner.points.push_back(point);
        }
    }

    /// The highest event seq applied so far (0 before any).
    pub(crate) fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Whether the daemon is reachable and how the board learns of changes.
    pub(crate) fn set_connection(
        &self,
        connected: bool,
        source: &'static str,
        error: Option<String>,
    ) {
        let mut inner = self.lock();
        inner.connected = connected;
        inner.source = source;
        inner.error.clone_from(&error);
        let message =
            json!({"type": "daemon", "connected": connected, "source": source, "error": error});
        let _ = self.updates.send(Arc::from(message.to_string()));
    }

    /// Marks a session as typed into by an operator (or no longer).
    pub(crate) fn set_controlled(&self, id: &str, controlled: bool) {
        let mut inner = self.lock();
        let Some(view) = inner.sessions.get_mut(id) else {
            return;
        };
        view.controlled = controlled;
        inner.changed.insert(id.to_owned());
        drop(inner);
        self.pending.notify_one();
    }

    /// Applies one change from the daemon; the pages hear of it at the next publish.
    pub(crate) fn apply(&self, change: Change) {
        let mut inner = self.lock();
        apply(&mut inner, change);
        let pending = !inner.changed.is_empty() || !inner.new_points.is_empty();
        drop(inner);
        if pending {
            self.pending.notify_one();
        }
    }
}

fn snapshot(inner: &Inner) -> Value {
    json!({
        "type": "board",
        "connected": inner.connected,
        "source": inner.source,
        "error": inner.error,
        "sessions": inner.sessions.values().collect::<Vec<_>>(),
        "commands": inner.points,
    })
}

fn apply(inner: &mut Inner, change: Change) {
    match change {
        Change::Listed { sessions, after } => {
            let listed: std::collections::HashSet<&str> =
                sessions.iter().map(|s| s.id.as_str()).collect();
            let gone: Vec<String> = inner
                .sessions
                .keys()
                .filter(|id| !listed.contains(id.as_str()))
                .filter(|id| inner.sessions[*id].last_event <= after)
                .cloned()
                .collect();
            for id in gone {
                inner.sessions.remove(&id);
                inner.changed.insert(id);
            }
            for facts in &sessions {
                let view = inner
                    .sessions
                    .entry(facts.id.clone())
                    .or_insert_with(|| SessionView::new(&facts.id));
                let before = view.clone();
                view.take_facts(facts, after);
                if *view != before {
                    inner.changed.insert(facts.id.clone());
                }
            }
        }
        Change::Event {
            seq,
            at_ms,
            session,
            kind,
        } => {
            if seq != 0 && seq <= inner.seq {
                return;
            }
            inner.seq = inner.seq.max(seq);
            apply_event(inner, seq, at_ms, &session, kind);
        }
    }
}

fn apply_event(inner: &mut Inner, seq: u64, at_ms: u64, session: &str, kind: EventKind) {
    use EventKind as K;
    match kind {
        K::Other => return,
        K::Killed => {
            if inner.sessions.remove(session).is_some() {
                inner.changed.insert(session.to_owned());
            }
            return;
        }
        _ => {}
    }
    let view = inner
        .sessions
        .entry(session.to_owned())
        .or_insert_with(|| SessionView::new(session));
    view.last_event = seq;
    match kind {
        K::Created { owner, policy } => {
            view.owner = owner;
            view.policy = policy;
            view.created_at_ms = at_ms;
            view.set_state(BoardState::Starting);
        }
        K::CommandStarted { command } => {
            view.set_state(BoardState::Running);
            view.command = Some(command);
            view.command_started_at_ms = Some(at_ms);
            view.screen_tail.clear();
        }
        K::AwaitingInput {
            command,
            screen_tail,
        } => {
            view.set_state(BoardState::AwaitingInput);
            if command.is_some() {
                view.command = command;
            }
            view.screen_tail = screen_tail;
        }
        K::InputAnswered => {
            view.set_state(BoardState::Running);
            view.screen_tail.clear();
        }
        K::CommandFinished {
            command: _,
            exit_code,
            tokens_raw,
            tokens_digest,
        } => {
            view.last_exit_code = exit_code;
            view.commands += 1;
            view.settle();
            let point = CommandPoint {
                at_ms,
                session: session.to_owned(),
                agent: view.owner.clone(),
                exit_code,
                tokens_raw,
                tokens_delivered: tokens_digest.or(tokens_raw),
            };
            inner.new_points.push(point);
        }
        K::Exited => view.set_state(BoardState::Exited),
        K::Killed | K::Other => unreachable!("handled above"),
    }
    if !inner.changed.contains(session) {
        inner.changed.insert(session.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: &str, state: SessionState, exit: Option<i32>) -> SessionFacts {
        SessionFacts {
            id: id.to_owned(),
            alive: state != SessionState::Exited,
            state,
            last_exit_code: exit,
            ..SessionFacts::default()
        }
    }

    fn event(seq: u64, session: &str, kind: EventKind) -> Change {
        Change::Event {
            seq,
            at_ms: 1000 + seq,
            session: session.to_owned(),
            kind,
        }
    }

    fn state_of(board: &Board, id: &str) -> BoardState {
        board.lock().sessions[id].state
    }

    #[test]
    fn a_listing_sets_the_states_with_failures_apart_from_idle() {
        let board = Board::new();
        board.apply(Change::Listed {
            sessions: vec![
                facts("ok", SessionState::Idle, Some(0)),
                facts("bad", SessionState::Idle, Some(2)),
                facts("busy", SessionState::Running, None),
                facts("ask", SessionState::AwaitingInput, None),
                facts("gone", SessionState::Exited, None),
            ],
            after: 0,
        });
        assert_eq!(state_of(&board, "ok"), BoardState::Idle);
        assert_eq!(state_of(&board, "bad"), BoardState::Failed);
        assert_eq!(state_of(&board, "busy"), BoardState::Running);
        assert_eq!(state_of(&board, "ask"), BoardState::AwaitingInput);
        assert_eq!(state_of(&board, "gone"), BoardState::Exited);
        let mut ranked: Vec<BoardState> = board.lock().sessions.values().map(|s| s.state).collect();
        ranked.sort_by_key(|s| s.rank());
        assert_eq!(ranked[0], BoardState::AwaitingInput);
        assert_eq!(ranked[1], BoardState::Failed);
    }

    #[test]
    fn events_move_a_session_through_its_states_and_feed_the_plots() {
        let board = Board::new();
        let (_, mut updates) = board.subscribe();
        board.apply(event(
            1,
            "s",
            EventKind::Created {
                owner: Some("a".into()),
                policy: None,
            },
        ));
        board.apply(event(
            2,
            "s",
            EventKind::CommandStarted {
                command: "make".into(),
            },
        ));
        assert_eq!(state_of(&board, "s"), BoardState::Running);
        board.apply(event(
            3,
            "s",
            EventKind::AwaitingInput {
                command: None,
                screen_tail: vec!["Password:".into()],
            },
        ));
        assert_eq!(state_of(&board, "s"), BoardState::AwaitingInput);
        board.apply(event(
            4,
            "s",
            EventKind::CommandFinished {
                command: "make".into(),
                exit_code: Some(1),
                tokens_raw: Some(900),
                tokens_digest: Some(90),
            },
        ));
        assert_eq!(state_of(&board, "s"), BoardState::Failed);
        // Nothing is published, nor plotted, before the tick.
        assert!(updates.try_recv().is_err());
        assert!(board.lock().points.is_empty());
        board.publish_now();
        let inner = board.lock();
        assert_eq!(inner.points.len(), 1);
        assert_eq!(inner.points[0].agent.as_deref(), Some("a"));
        assert_eq!(inner.points[0].tokens_delivered, Some(90));
        drop(inner);
        // Four events, one message: the session's latest view and the finished command.
        let message: Value = serde_json::from_str(&updates.try_recv().unwrap()).unwrap();
        assert_eq!(message["type"], "changes");
        assert_eq!(message["sessions"].as_array().unwrap().len(), 1);
        assert_eq!(message["sessions"][0]["state"], "failed");
        assert_eq!(message["commands"][0]["exit_code"], 1);
        assert!(updates.try_recv().is_err());
        // A snapshot taken now holds the command once; the next publish sends nothing.
        let (snapshot, mut later) = board.subscribe();
        let snapshot: Value = serde_json::from_str(&snapshot).unwrap();
        assert_eq!(snapshot["commands"].as_array().unwrap().len(), 1);
        board.publish_now();
        assert!(later.try_recv().is_err());
    }

    #[test]
    fn a_stale_listing_does_not_undo_a_newer_event_nor_a_replayed_event_the_state() {
        let board = Board::new();
        board.apply(event(
            5,
            "s",
            EventKind::CommandStarted {
                command: "sleep 9".into(),
            },
        ));
        // Listed by a request sent before event 5 arrived.
        board.apply(Change::Listed {
            sessions: vec![facts("s", SessionState::Idle, None)],
            after: 4,
        });
        assert_eq!(state_of(&board, "s"), BoardState::Running);
        // The same event delivered again (a reconnect) is ignored.
        board.apply(event(
            5,
            "s",
            EventKind::CommandFinished {
                command: "sleep 9".into(),
                exit_code: Some(0),
                tokens_raw: None,
                tokens_digest: None,
            },
        ));
        assert_eq!(state_of(&board, "s"), BoardState::Running);
        let (_, mut updates) = board.subscribe();
        board.apply(event(6, "s", EventKind::Killed));
        assert!(board.lock().sessions.is_empty());
        board.publish_now();
        let message: Value = serde_json::from_str(&updates.try_recv().unwrap()).unwrap();
        assert_eq!(message["removed"], json!(["s"]));
        assert_eq!(message["sessions"], json!([]));
    }
}
