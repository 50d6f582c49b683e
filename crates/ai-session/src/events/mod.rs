//! The event log: every state change of every session, in one sequence.
//!
//! Producers (each session's watcher, `kill`) append; consumers (`wait`, `events --follow`,
//! MCP, the dashboard) read from a cursor and are woken by a `watch` channel when the
//! published head moves: nobody polls. With a store, an event is published only once the
//! event writer thread has written it to `metadata/events.log` (the page cache: it survives
//! the daemon's death; an fsync follows within 200 ms), so a consumer never sees an event a
//! crash could take back, and a new daemon continues the sequence after the last one kept.

mod ports;
mod scan;

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ai_session_persist::{Record, RecordKind, Store};
use tokio::sync::watch;

use crate::protocol::{Event, EventKind};

pub(crate) use ports::{Listener, listening_ports};
pub(crate) use scan::LineScanner;

/// Events kept in memory (older ones are dropped from the log: `oldest_event` says where it
/// starts).
const KEPT: usize = 20_000;
/// The file is rewritten with the newest [`KEPT`] events once it holds this many.
const REWRITE_AT: u64 = 3 * KEPT as u64;
/// Longest a written event waits for its fsync.
const SYNC_EVERY: Duration = Duration::from_millis(200);

/// The daemon's event log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The highest published seq.
    published: watch::Sender<u64>,
    writer: Option<mpsc::Sender<WriterJob>>,
}

#[derive(Debug)]
struct State {
    /// Kept events, seq increasing (published or waiting for the writer).
    events: VecDeque<Arc<Event>>,
    next_seq: u64,
}

enum WriterJob {
    Write(Arc<Event>),
    Flush(std::sync::mpsc::SyncSender<()>),
}

impl EventLog {
    /// A log kept in memory only, starting at seq 1.
    pub fn in_memory() -> EventLog {
        Self::with(Vec::new(), None)
    }

    /// The log of `store`: the events it kept are read back (blocking: call off the runtime),
    /// and new ones are written to it by a thread of its own.
    pub fn open(store: &Store) -> std::io::Result<EventLog> {
        let records = store.read_events().map_err(std::io::Error::other)?;
        let mut kept: Vec<Event> = records
            .iter()
            .filter(|r| r.kind == RecordKind::Event)
            .filter_map(|r| serde_json::from_slice(&r.data).ok())
            .collect();
        let total = kept.len() as u64;
        if kept.len() > KEPT {
            kept.drain(..kept.len() - KEPT);
        }
        let (jobs, queue) = mpsc::channel();
        let log = Self::with(kept, Some(jobs));
        let writer_store = store.clone();
        let writer_log = log.clone();
        std::thread::Builder::new()
            .name("ai-session-events".into())
            .spawn(move || write_loop(&writer_store, &writer_log, &queue, total))?;
        Ok(log)
    }

    fn with(kept: Vec<Event>, writer: Option<mpsc::Sender<WriterJob>>) -> EventLog {
        let head = kept.last().map_or(0, |e| e.seq);
        EventLog {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    events: kept.into_iter().map(Arc::new).collect(),
                    next_seq: head + 1,
                }),
                published: watch::channel(head).0,
                writer,
            }),
        }
    }

    /// Appends an event; returns its seq. Visible to readers once published.
    pub fn append(&self, session: &str, offset: u64, kind: EventKind) -> u64 {
        let event = {
            let mut state = lock(&self.shared.state);
            let seq = state.next_seq;
            state.next_seq += 1;
            let event = Arc::new(Event {
                seq,
                at_ms: now_ms(),
                session: session.to_owned(),
                offset,
                kind,
            });
            state.events.push_back(event.clone());
            if state.events.len() > KEPT {
                state.events.pop_front();
            }
            // Sent under the lock, so the writer receives events in seq order.
            match &self.shared.writer {
                Some(writer) if writer.send(WriterJob::Write(event.clone())).is_ok() => {}
                _ => {
                    self.publish(seq);
                }
            }
            event
        };
        tracing::debug!(seq = event.seq, session, kind = ?event.kind.event_type(), "event");
        event.seq
    }

    fn publish(&self, seq: u64) {
        self.shared.published.send_if_modified(|head| {
            let moved = seq > *head;
            *head = (*head).max(seq);
            moved
        });
    }

    /// The highest published seq: every event up to it can be read.
    pub fn head(&self) -> u64 {
        *self.shared.published.borrow()
    }

    /// Wakes when the head moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.published.subscribe()
    }

    /// Published events after `since` that `keep` accepts, at most `limit`, oldest first;
    /// with the seq up to which the log was looked at (pass it back as `since`) and the
    /// oldest seq still kept.
    pub fn after(
        &self,
        since: u64,
        limit: usize,
        mut keep: impl FnMut(&Event) -> bool,
    ) -> (Vec<Arc<Event>>, u64, u64) {
        let head = self.head();
        let state = lock(&self.shared.state);
        let oldest = state.events.front().map_or(head + 1, |e| e.seq);
        let start = state.events.partition_point(|e| e.seq <= since);
        let mut found = Vec::new();
        for event in state.events.range(start..) {
            if event.seq > head {
                break;
            }
            if keep(event) {
                found.push(event.clone());
                if found.len() >= limit {
                    return (found, event.seq, oldest);
                }
            }
        }
        (found, since.max(head), oldest)
    }

    /// The newest published event of `session` at or before `seq`, and the oldest one after.
    pub fn around(&self, session: &str, seq: u64) -> (Option<Arc<Event>>, Option<Arc<Event>>) {
        let head = self.head();
        let state = lock(&self.shared.state);
        let split = state.events.partition_point(|e| e.seq <= seq);
        let before = state
            .events
            .range(..split)
            .rev()
            .find(|e| e.session == session)
            .cloned();
        let after = state
            .events
            .range(split..)
            .take_while(|e| e.seq <= head)
            .find(|e| e.session == session)
            .cloned();
        (before, after)
    }

    /// Waits (blocking: call off the runtime) until every event appended so far is written.
    pub fn flush_blocking(&self) {
        let Some(writer) = &self.shared.writer else {
            return;
        };
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if writer.send(WriterJob::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// Writes events in order, publishing each batch once written; fsyncs within [`SYNC_EVERY`];
/// rewrites the file with the newest events when it grew past [`REWRITE_AT`].
fn write_loop(store: &Store, log: &EventLog, queue: &mpsc::Receiver<WriterJob>, mut on_disk: u64) {
    let mut writer = match store.events_log() {
        Ok((writer, _recovery)) => Some(writer),
        Err(error) => {
            tracing::error!(%error, "cannot open the event log; events are kept in memory only");
            None
        }
    };
    let mut unsynced_since: Option<Instant> = None;
    loop {
        let timeout = unsynced_since.map_or(Duration::from_secs(3600), |t| {
            SYNC_EVERY.saturating_sub(t.elapsed())
        });
        let job = match queue.recv_timeout(timeout) {
            Ok(job) => Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut flushes = Vec::new();
        let mut batch_head = None;
        let mut next = job;
        while let Some(job) = next.take() {
            match job {
                WriterJob::Write(event) => {
                    if let Some(w) = &mut writer {
                        match serde_json::to_vec(&*event) {
                            Ok(bytes) => {
                                if let Err(error) = w.append(RecordKind::Event, &bytes) {
                                    tracing::error!(%error, seq = event.seq, "event not written");
                                }
                                on_disk += 1;
                            }
                            Err(error) => tracing::error!(%error, "event not encoded"),
                        }
                    }
                    batch_head = Some(event.seq);
                }
                WriterJob::Flush(done) => flushes.push(done),
            }
            next = queue.try_recv().ok();
        }
        if let Some(w) = &mut writer
            && batch_head.is_some()
        {
            if let Err(error) = w.flush() {
                tracing::error!(%error, "event log not flushed");
            }
            unsynced_since.get_or_insert_with(Instant::now);
        }
        if let Some(seq) = batch_head {
            log.publish(seq);
        }
        let sync_due = unsynced_since.is_some_and(|t| t.elapsed() >= SYNC_EVERY);
        if let Some(w) = &mut writer
            && (sync_due || !flushes.is_empty())
            && unsynced_since.is_some()
        {
            if let Err(error) = w.sync() {
                tracing::error!(%error, "event log not synced");
            }
            unsynced_since = None;
        }
        for done in flushes {
            let _ = done.send(());
        }
        if on_disk >= REWRITE_AT {
            drop(writer.take());
            on_disk = rewrite(store, log);
            writer = store.events_log().map(|(w, _)| w).ok();
        }
    }
    if let Some(w) = &mut writer {
        let _ = w.sync();
    }
}

/// Replaces the file with the events kept in memory; returns how many it holds.
fn rewrite(store: &Store, log: &EventLog) -> u64 {
    let records: Vec<Record> = {
        let head = log.head();
        let state = lock(&log.shared.state);
        state
            .events
            .iter()
            .filter(|e| e.seq <= head)
            .filter_map(|e| serde_json::to_vec(&**e).ok())
            .map(|data| Record {
                kind: RecordKind::Event,
                data,
            })
            .collect()
    };
    match store.rewrite_events(&records) {
        Ok(()) => records.len() as u64,
        Err(error) => {
            tracing::error!(%error, "event log not rewritten; it keeps growing");
            0
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::EventType;
    use proptest::prelude::*;

    fn kind(n: u64) -> EventKind {
        match n % 3 {
            0 => EventKind::CommandStarted {
                command_id: n,
                command: format!("c{n}"),
            },
            1 => EventKind::OutputIdle {
                watch: None,
                idle_ms: n,
            },
            _ => EventKind::SessionKilled {},
        }
    }

    /// Reads everything after `cursor` that `keep` accepts, `limit` at a time, as a consumer
    /// that passes `next_event` back does.
    fn drain(
        log: &EventLog,
        cursor: &mut u64,
        limit: usize,
        keep: &dyn Fn(&Event) -> bool,
    ) -> Vec<u64> {
        let mut seen = Vec::new();
        loop {
            let (found, next, _) = log.after(*cursor, limit, keep);
            let done = found.len() < limit;
            seen.extend(found.iter().map(|e| e.seq));
            *cursor = next;
            if done {
                return seen;
            }
        }
    }

    proptest! {
        /// Consumers reading at random moments, with random page sizes and filters, get every
        /// matching event exactly once, in order.
        #[test]
        fn cursors_never_miss_or_repeat(
            steps in proptest::collection::vec((0u8..3, 0u8..4, 1usize..5), 1..200),
        ) {
            let log = EventLog::in_memory();
            let sessions = ["a", "b", "c"];
            let filters: [&dyn Fn(&Event) -> bool; 2] = [
                &|_: &Event| true,
                &|e: &Event| e.session == "b" || e.kind.event_type() == EventType::SessionKilled,
            ];
            let mut cursors = [0u64; 2];
            let mut seen: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
            let mut appended = Vec::new();
            for (n, (session, action, limit)) in steps.into_iter().enumerate() {
                if action < 3 {
                    let session = sessions[session as usize];
                    let seq = log.append(session, 0, kind(n as u64));
                    appended.push((seq, session, kind(n as u64)));
                } else {
                    for (c, filter) in filters.iter().enumerate() {
                        let got = drain(&log, &mut cursors[c], limit, *filter);
                        seen[c].extend(got);
                    }
                }
            }
            for (c, filter) in filters.iter().enumerate() {
                let got = drain(&log, &mut cursors[c], 3, *filter);
                seen[c].extend(got);
                let expected: Vec<u64> = appended
                    .iter()
                    .filter(|(seq, session, kind)| filter(&Event {
                        seq: *seq, at_ms: 0, session: (*session).to_owned(), offset: 0, kind: kind.clone(),
                    }))
                    .map(|(seq, _, _)| *seq)
                    .collect();
                prop_assert_eq!(&seen[c], &expected);
            }
        }
    }

    #[test]
    fn a_store_backed_log_continues_its_sequence_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let log = EventLog::open(&store).unwrap();
        for n in 0..5 {
            log.append("s", n, kind(n));
        }
        log.flush_blocking();
        assert_eq!(log.head(), 5);
        drop(log);
        let again = EventLog::open(&store).unwrap();
        assert_eq!(again.head(), 5, "the kept events are read back");
        let (events, _, oldest) = again.after(0, 100, |_| true);
        assert_eq!(events.len(), 5);
        assert_eq!(oldest, 1);
        assert_eq!(again.append("s", 9, kind(9)), 6, "the sequence continues");
    }

    #[tokio::test]
    async fn readers_are_woken_when_the_head_moves() {
        let log = EventLog::in_memory();
        let mut head = log.subscribe();
        let writer = log.clone();
        let woke = tokio::spawn(async move {
            head.changed().await.unwrap();
            *head.borrow()
        });
        tokio::task::yield_now().await;
        writer.append("s", 0, kind(1));
        assert_eq!(woke.await.unwrap(), 1);
    }
}
