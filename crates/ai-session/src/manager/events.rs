//! The event log's surface: `events`, `wait` (across sessions, on conditions), `watch`
//! (lasting conditions kept with the session), and labels.

use super::watches::Transient;
use super::*;
use crate::events::EventLog;
use crate::protocol::{Condition, Event, EventKind, EventType};

/// Longest `wait` (ms) when none is given.
const DEFAULT_WAIT_MS: u64 = 30_000;
/// Most events one `events` call returns when no limit is given.
const DEFAULT_EVENTS_LIMIT: usize = 1000;

/// Whose sessions a caller may see.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// Every session (the operator, or an agent allowed all sessions).
    All,
    /// Only the sessions this agent owns.
    Owner(&'a str),
}

impl Viewer<'_> {
    fn sees(&self, owner: Option<&str>) -> bool {
        match self {
            Viewer::All => true,
            Viewer::Owner(agent) => owner == Some(agent),
        }
    }
}

impl SessionManager {
    /// The event log.
    pub fn event_log(&self) -> &EventLog {
        &self.inner.events
    }

    /// Whether `viewer` may see events of `session` (also after it ended).
    pub fn may_see(&self, viewer: Viewer<'_>, session: &str) -> bool {
        match viewer {
            Viewer::All => true,
            Viewer::Owner(_) => viewer.sees(
                lock(&self.inner.owners)
                    .get(session)
                    .and_then(|o| o.as_deref()),
            ),
        }
    }

    /// The filter `events` and following apply: sessions, kinds and what `viewer` may see.
    pub fn event_filter<'a>(
        &'a self,
        sessions: &'a [String],
        kinds: &'a [EventType],
        viewer: Viewer<'a>,
    ) -> impl FnMut(&Event) -> bool + 'a {
        move |event| {
            (sessions.is_empty() || sessions.contains(&event.session))
                && (kinds.is_empty() || kinds.contains(&event.kind.event_type()))
                && self.may_see(viewer, &event.session)
        }
    }

    /// Events after `params.since` (the `follow` part is the server's: it owns the connection).
    pub fn events(&self, params: &p::EventsParams, viewer: Viewer<'_>) -> p::EventsResult {
        let limit = params.limit.unwrap_or(DEFAULT_EVENTS_LIMIT).max(1);
        let filter = self.event_filter(&params.sessions, &params.kinds, viewer);
        let (events, next_event, oldest_event) =
            self.inner.events.after(params.since, limit, filter);
        p::EventsResult {
            events: events.iter().map(|e| (**e).clone()).collect(),
            next_event,
            oldest_event,
        }
    }

    /// Waits until an event after `since_event` in one of the sessions matches a condition.
    pub async fn wait(&self, params: p::WaitParams, viewer: Viewer<'_>) -> Result<p::WaitResult> {
        let log = &self.inner.events;
        let mut head = log.subscribe();
        let cursor_start = params.since_event.unwrap_or_else(|| log.head());
        let named: Vec<String> = params
            .session
            .iter()
            .chain(&params.sessions)
            .cloned()
            .collect();
        let targets: Vec<Arc<Entry>> = if named.is_empty() {
            read(&self.inner.sessions)
                .values()
                .filter(|e| viewer.sees(e.owner.as_deref()))
                .cloned()
                .collect()
        } else {
            named.iter().map(|s| self.get(s)).collect::<Result<_>>()?
        };
        let conditions = if params.conditions.is_empty() {
            vec![
                Condition::Exit(true),
                Condition::AwaitingInput(true),
                Condition::SessionExited(true),
            ]
        } else {
            params.conditions
        };
        let transient = transient_conditions(&conditions)?;
        // Held until the wait returns: the watchers evaluate these conditions meanwhile.
        let _guards: Vec<_> = targets
            .iter()
            .map(|entry| {
                let from = params
                    .since_offset
                    .unwrap_or_else(|| self.scan_start(entry, params.since_event));
                let conditions = transient
                    .iter()
                    .map(|t| match t {
                        Transient::Regex { regex, .. } => Transient::Regex {
                            regex: regex.clone(),
                            from,
                        },
                        other => other.clone(),
                    })
                    .collect();
                entry.watches.add_transient(conditions)
            })
            .collect();
        let timeout = Duration::from_millis(params.timeout_ms.unwrap_or(DEFAULT_WAIT_MS));
        let deadline = tokio::time::Instant::now() + timeout;
        let everywhere = named.is_empty();
        let mut cursor = cursor_start;
        loop {
            let (found, looked_up_to, _) = log.after(cursor, DEFAULT_EVENTS_LIMIT, |event| {
                let in_scope = if everywhere {
                    self.may_see(viewer, &event.session)
                } else {
                    named.contains(&event.session)
                };
                in_scope && conditions.iter().any(|c| matches(c, event))
            });
            if let Some(last) = found.last() {
                return Ok(p::WaitResult {
                    next_event: last.seq,
                    events: found.iter().map(|e| (**e).clone()).collect(),
                    timed_out: false,
                });
            }
            cursor = looked_up_to;
            tokio::select! {
                changed = head.changed() => if changed.is_err() {
                    return Err(Error::ShuttingDown);
                },
                _ = tokio::time::sleep_until(deadline) => {
                    return Ok(p::WaitResult { events: Vec::new(), next_event: cursor, timed_out: true });
                }
            }
        }
    }

    /// Where a `regex` condition starts scanning `entry`'s output: at the start of a command
    /// that began after `since`, else where the session was at `since`; without `since`, now.
    fn scan_start(&self, entry: &Entry, since: Option<u64>) -> u64 {
        let now = entry.past.end_offset(&entry.pty);
        let Some(since) = since else { return now };
        match self.inner.events.around(&entry.id, since) {
            (_, Some(after)) if matches!(after.kind, EventKind::CommandStarted { .. }) => {
                after.offset
            }
            (Some(before), _) => before.offset.min(now),
            (None, _) => now,
        }
    }

    /// Registers a lasting watch on a session.
    pub async fn watch(&self, params: p::WatchParams) -> Result<p::WatchInfo> {
        let given = [
            params.regex.is_some(),
            params.port.is_some(),
            params.idle_ms.is_some(),
            params.exit,
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(Error::InvalidParam {
                field: "regex",
                reason: "give exactly one of `regex`, `port`, `idle_ms`, `exit`".to_owned(),
            });
        }
        if let Some(pattern) = &params.regex {
            regex::Regex::new(pattern).map_err(|e| Error::InvalidParam {
                field: "regex",
                reason: e.to_string(),
            })?;
        }
        if params.idle_ms == Some(0) {
            return Err(Error::InvalidParam {
                field: "idle_ms",
                reason: "must be at least 1".to_owned(),
            });
        }
        let entry = self.get(&params.session)?;
        let id = format!("w{}", self.inner.next_watch.fetch_add(1, Ordering::Relaxed));
        let info = p::WatchInfo { id, spec: params };
        let lasting = entry.watches.add_lasting(info.clone());
        self.save_watches(&entry, lasting);
        Ok(info)
    }

    /// Every lasting watch (of one session, or of all).
    pub fn watch_list(&self, params: &p::WatchListParams) -> Result<p::WatchList> {
        let entries: Vec<Arc<Entry>> = match &params.session {
            Some(session) => vec![self.get(session)?],
            None => read(&self.inner.sessions).values().cloned().collect(),
        };
        let mut watches: Vec<p::WatchInfo> =
            entries.iter().flat_map(|e| e.watches.lasting()).collect();
        watches.sort_by(|a, b| (&a.spec.session, &a.id).cmp(&(&b.spec.session, &b.id)));
        Ok(p::WatchList { watches })
    }

    /// Removes a lasting watch.
    pub async fn watch_remove(&self, params: &p::WatchRemoveParams) -> Result<p::Ack> {
        let entries: Vec<Arc<Entry>> = read(&self.inner.sessions).values().cloned().collect();
        for entry in entries {
            if let Some(lasting) = entry.watches.remove_lasting(&params.id) {
                self.save_watches(&entry, lasting);
                return Ok(p::Ack::OK);
            }
        }
        Err(Error::InvalidParam {
            field: "id",
            reason: format!("no watch {:?} (see `watch.list`)", params.id),
        })
    }

    /// The owner of the session that holds watch `id`, if any.
    pub fn watch_owner(&self, id: &str) -> Option<Option<String>> {
        read(&self.inner.sessions)
            .values()
            .find(|e| e.watches.lasting().iter().any(|w| w.id == id))
            .map(|e| e.owner.clone())
    }

    fn save_watches(&self, entry: &Entry, lasting: Vec<p::WatchInfo>) {
        if let Some(journal) = &entry.journal {
            journal.update(|saved| saved.watches = lasting);
        }
    }

    /// Sets (or, with `None`, removes) labels of a session.
    pub async fn label(&self, params: p::LabelParams) -> Result<p::SessionInfo> {
        let entry = self.get(&params.session)?;
        let labels = {
            let mut labels = lock(&entry.labels);
            for (key, value) in params.labels {
                match value {
                    Some(value) => labels.insert(key, value),
                    None => labels.remove(&key),
                };
            }
            labels.clone()
        };
        if let Some(journal) = &entry.journal {
            journal.update(|saved| saved.labels = labels);
        }
        Ok(entry.info())
    }
}

/// What the watchers must evaluate for these conditions (regex scan starts are filled in per
/// session).
fn transient_conditions(conditions: &[Condition]) -> Result<Vec<Transient>> {
    let mut transient = Vec::new();
    for condition in conditions {
        match condition {
            Condition::Regex(pattern) => {
                let regex = regex::Regex::new(pattern).map_err(|e| Error::InvalidParam {
                    field: "conditions",
                    reason: format!("regex {pattern:?}: {e}"),
                })?;
                transient.push(Transient::Regex { regex, from: 0 });
            }
            Condition::IdleMs(0) => {
                return Err(Error::InvalidParam {
                    field: "conditions",
                    reason: "idle_ms must be at least 1".to_owned(),
                });
            }
            Condition::IdleMs(idle_ms) => transient.push(Transient::Idle { idle_ms: *idle_ms }),
            Condition::Port(_) => transient.push(Transient::Port),
            _ => {}
        }
    }
    Ok(transient)
}

/// Whether `event` satisfies `condition`.
fn matches(condition: &Condition, event: &Event) -> bool {
    match (condition, &event.kind) {
        (Condition::Exit(true), EventKind::CommandFinished { .. })
        | (Condition::AwaitingInput(true), EventKind::AwaitingInput { .. })
        | (
            Condition::SessionExited(true),
            EventKind::SessionExited { .. } | EventKind::SessionKilled {},
        ) => true,
        (Condition::Regex(wanted), EventKind::OutputMatched { pattern, .. }) => wanted == pattern,
        (Condition::Port(wanted), EventKind::PortListening { port, .. }) => {
            *wanted == 0 || wanted == port
        }
        (Condition::IdleMs(wanted), EventKind::OutputIdle { idle_ms, .. }) => idle_ms >= wanted,
        (Condition::Kind(kind), other) => other.event_type() == *kind,
        _ => false,
    }
}
