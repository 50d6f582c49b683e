//! A session's watcher: one task per session that turns what the PTY reports (output, marks,
//! input waits, exit) and the session's conditions (watches, waits in progress) into events.
//!
//! It sleeps on the PTY's channels and wakes only when something changed, or when an idle
//! timer or a port probe is due; a session nobody watches costs nothing while it is quiet.
//! Listening ports can only be seen by asking `/proc`, so they are probed, and only while a
//! watch or a wait asks for them: every 100 ms at first and after output, backing off to once a
//! second.

use std::collections::{BTreeSet, HashMap};
use std::sync::Weak;

use tokio::time::Instant as TokioInstant;

use super::analysis::{DIGEST_BUDGET, output_of};
use super::watches::{Transient, WatchSet};
use super::*;
use crate::events::{EventLog, LineScanner, listening_ports};
use crate::protocol::EventKind;

/// First port probe interval, and the interval right after output.
const PORT_PROBE: Duration = Duration::from_millis(100);
/// Slowest port probe interval.
const PORT_PROBE_MAX: Duration = Duration::from_secs(1);
/// After the shell exits, how long to wait for its last output.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(300);
/// Output read per scan step.
const SCAN_CHUNK: usize = 256 << 10;

/// Which condition a piece of watcher state serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Lasting(String),
    Transient(u64),
}

impl Key {
    fn watch(&self) -> Option<String> {
        match self {
            Key::Lasting(id) => Some(id.clone()),
            Key::Transient(_) => None,
        }
    }
}

#[derive(Debug)]
struct Scan {
    scanner: LineScanner,
    scanned: u64,
}

#[derive(Debug)]
struct Idle {
    idle_ms: u64,
    /// Quiet time counts from here (registration or the last output), if armed.
    armed_since: Option<Instant>,
}

#[derive(Debug)]
struct Ports {
    known: BTreeSet<crate::events::Listener>,
    next_probe: Instant,
    interval: Duration,
}

/// The watcher of one session; stops with it (its handle aborts it on drop).
pub(super) struct Watcher {
    session: Weak<Entry>,
    id: String,
    log: EventLog,
    finished_upto: u64,
    started_upto: u64,
    awaiting_reported: Option<(u64, u64)>,
    /// The command whose `awaiting_input` was reported and not yet answered.
    awaiting_open: Option<u64>,
    scans: HashMap<Key, Scan>,
    idles: HashMap<Key, Idle>,
    ports: Option<Ports>,
    last_output: Instant,
    /// For a session adopted from the PTY keeper: what the log already says, so the new
    /// daemon's events continue the old one's with no repeat (see [`start_adopted`]).
    resumed: Option<Resumed>,
}

/// What the event log already reported about a session an earlier daemon watched.
#[derive(Debug, Default)]
struct Resumed {
    /// Lasting regex watches go on scanning from here (the session's newest logged event).
    scan_from: Option<u64>,
    /// Listeners already reported.
    ports: BTreeSet<crate::events::Listener>,
    /// Lasting idle watches already reported for the current quiet spell.
    idle_reported: BTreeSet<String>,
}

/// Starts the watcher of `entry`.
pub(super) fn start(entry: &Arc<Entry>, log: EventLog) -> tokio::task::AbortHandle {
    let finished_upto = last_reported_finish(entry, &log);
    let watcher = Watcher {
        session: Arc::downgrade(entry),
        id: entry.id.clone(),
        log,
        finished_upto,
        started_upto: finished_upto,
        awaiting_reported: None,
        awaiting_open: None,
        scans: HashMap::new(),
        idles: HashMap::new(),
        ports: None,
        last_output: entry.pty.last_output(),
        resumed: None,
    };
    tokio::spawn(watcher.run()).abort_handle()
}

/// Starts the watcher of a session adopted from the PTY keeper: the shell, its running
/// command and its output went on while no daemon watched, so the watcher picks up from what
/// the log says was reported (commands started and finished, the input wait, listening
/// ports, idle spells, the scan position of lasting regexes) and reports only what is new.
pub(super) fn start_adopted(entry: &Arc<Entry>, log: EventLog) -> tokio::task::AbortHandle {
    let (events, _, _) = log.after(0, usize::MAX, |e| e.session == entry.id);
    let end = entry.past.end_offset(&entry.pty);
    let mut finished_upto = 0;
    let mut started_upto = 0;
    let mut awaiting_reported = None;
    let mut awaiting_open = None;
    let mut resumed = Resumed::default();
    for event in &events {
        resumed.scan_from = Some(event.offset);
        match &event.kind {
            EventKind::CommandStarted { command_id, .. } => {
                started_upto = started_upto.max(*command_id);
            }
            EventKind::CommandFinished { command_id, .. } => {
                finished_upto = finished_upto.max(*command_id);
                awaiting_reported = None;
                awaiting_open = None;
            }
            EventKind::AwaitingInput { command_id, .. } => {
                let at = event.offset.saturating_sub(entry.past.base());
                awaiting_reported = Some((*command_id, at));
                awaiting_open = Some(*command_id);
            }
            EventKind::InputAnswered { .. } => awaiting_open = None,
            EventKind::PortListening {
                port,
                address,
                pid: Some(pid),
                ..
            } => {
                resumed.ports.insert(crate::events::Listener {
                    port: *port,
                    address: address.clone(),
                    pid: *pid,
                });
            }
            EventKind::OutputIdle {
                watch: Some(watch), ..
            } if event.offset == end => {
                resumed.idle_reported.insert(watch.clone());
            }
            _ => {}
        }
    }
    if events.is_empty() {
        // Nothing logged (older than the log): report nothing from before the adoption.
        finished_upto = entry.pty.last_record().map_or(0, |r| r.id);
    }
    let watcher = Watcher {
        session: Arc::downgrade(entry),
        id: entry.id.clone(),
        log,
        finished_upto,
        started_upto: started_upto.max(finished_upto),
        awaiting_reported,
        awaiting_open,
        scans: HashMap::new(),
        idles: HashMap::new(),
        ports: None,
        last_output: entry.pty.last_output(),
        resumed: Some(resumed),
    };
    tokio::spawn(watcher.run()).abort_handle()
}

/// The highest command id whose `command_finished` is in the log; commands the session
/// finished after it (a daemon killed between writing a record and its event) are reported
/// again by the watcher, so no finish is lost.
fn last_reported_finish(entry: &Entry, log: &EventLog) -> u64 {
    let newest_known = entry.past.next_command_id() - 1;
    if entry.past.commands.is_empty() {
        return newest_known;
    }
    let (events, _, _) = log.after(0, usize::MAX, |e| {
        e.session == entry.id && matches!(e.kind, EventKind::CommandFinished { .. })
    });
    match events.last().map(|e| &e.kind) {
        Some(EventKind::CommandFinished { command_id, .. }) => *command_id,
        // None logged (a new session, or older than the log): report nothing from the past.
        _ => newest_known,
    }
}

impl Watcher {
    async fn run(mut self) {
        let Some(entry) = self.session.upgrade() else {
            return;
        };
        let mut progress = entry.pty.subscribe();
        let mut steps = entry.pty.subscribe_steps();
        let mut awaiting = entry.pty.subscribe_awaiting();
        let watches = entry.watches.clone();
        drop(entry);
        loop {
            let Some(entry) = self.session.upgrade() else {
                return;
            };
            let set = watches.snapshot();
            self.sync(&entry, &set);
            self.commands(&entry).await;
            self.awaiting(&entry);
            self.scan(&entry);
            let now = Instant::now();
            self.idle(&entry, now);
            self.probe_ports(&entry, now).await;
            if entry.pty.exit_info().is_some() {
                self.exited(&entry, &set, &mut steps).await;
                return;
            }
            let wake = self.next_wake();
            // Commands start and finish at steps; only regexes, idle timers and port probes
            // need each chunk of output.
            let wants_output =
                !self.scans.is_empty() || !self.idles.is_empty() || self.ports.is_some();
            drop(entry);
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(TokioInstant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = progress.changed(), if wants_output => {}
                _ = steps.changed() => {}
                _ = awaiting.changed() => {}
                _ = watches.changed() => {}
                _ = sleep => {}
            }
        }
    }

    fn emit(&self, entry: &Entry, kind: EventKind) -> u64 {
        let offset = entry.past.end_offset(&entry.pty);
        self.log.append(&self.id, offset, kind)
    }

    /// Brings the per-condition state in line with the session's conditions.
    fn sync(&mut self, entry: &Entry, set: &WatchSet) {
        let end = entry.past.end_offset(&entry.pty);
        let mut wanted_scans = HashMap::new();
        let mut wanted_idles = HashMap::new();
        let mut wants_ports = false;
        let lasting_from = self
            .resumed
            .as_ref()
            .and_then(|r| r.scan_from)
            .map_or(end, |from| from.min(end));
        for watch in &set.lasting {
            let key = Key::Lasting(watch.id.clone());
            if let Some(pattern) = &watch.spec.regex
                && let Ok(regex) = regex::Regex::new(pattern)
            {
                wanted_scans.insert(key.clone(), (regex, lasting_from));
            }
            if let Some(idle_ms) = watch.spec.idle_ms {
                wanted_idles.insert(key.clone(), idle_ms);
            }
            wants_ports |= watch.spec.port.is_some();
        }
        for (token, condition) in &set.transient {
            let key = Key::Transient(*token);
            match condition {
                Transient::Regex { regex, from } => {
                    wanted_scans.insert(key, (regex.clone(), *from));
                }
                Transient::Idle { idle_ms } => {
                    wanted_idles.insert(key, *idle_ms);
                }
                Transient::Port => wants_ports = true,
            }
        }
        self.scans.retain(|k, _| wanted_scans.contains_key(k));
        for (key, (regex, from)) in wanted_scans {
            self.scans.entry(key).or_insert_with(|| Scan {
                scanner: LineScanner::new(regex),
                scanned: from,
            });
        }
        self.idles.retain(|k, _| wanted_idles.contains_key(k));
        let now = Instant::now();
        for (key, idle_ms) in wanted_idles {
            let reported = self.resumed.as_ref().is_some_and(|r| {
                key.watch()
                    .is_some_and(|watch| r.idle_reported.contains(&watch))
            });
            self.idles.entry(key).or_insert(Idle {
                idle_ms,
                armed_since: (!reported).then_some(now),
            });
        }
        // The resumed state seeds the first sync only.
        let resumed = self.resumed.take();
        match (wants_ports, &self.ports) {
            (true, None) => {
                self.ports = Some(Ports {
                    known: resumed.map(|r| r.ports).unwrap_or_default(),
                    next_probe: now,
                    interval: PORT_PROBE,
                });
            }
            (false, Some(_)) => self.ports = None,
            _ => {}
        }
    }

    /// `command_started` and `command_finished` for every command since the last look.
    async fn commands(&mut self, entry: &Entry) {
        for record in entry.past.history_after(&entry.pty, self.finished_upto) {
            self.started(record.id, &record.command, record.output.start);
            let raw = output_of(entry, record.output);
            let analysis = entry
                .analyses
                .finished(&entry.id, &record, &raw, DIGEST_BUDGET)
                .await;
            self.emit(entry, finished_event(&record, analysis));
            entry.count_late_exit(&record);
            self.finished_upto = record.id;
        }
        if let Some(running) = entry.pty.running() {
            let start = entry.past.base() + running.output.start;
            self.started(running.id, &running.command, start);
        }
    }

    /// `command_started`, once per command, at `start` (where its output begins).
    fn started(&mut self, id: u64, command: &str, start: u64) {
        if id <= self.started_upto {
            return;
        }
        self.started_upto = id;
        self.log.append(
            &self.id,
            start,
            EventKind::CommandStarted {
                command_id: id,
                command: command.to_owned(),
            },
        );
    }

    fn awaiting(&mut self, entry: &Entry) {
        let Some(waiting) = entry.pty.awaiting_input() else {
            // A command that reads its answer and goes on: say the prompt is gone. One that
            // ended instead is told by its `command_finished`.
            if let Some(command_id) = self.awaiting_open.take()
                && entry.pty.running().is_some_and(|r| r.id == command_id)
            {
                self.emit(entry, EventKind::InputAnswered { command_id });
            }
            return;
        };
        let key = (waiting.command_id, waiting.offset);
        if self.awaiting_reported == Some(key) {
            return;
        }
        self.awaiting_reported = Some(key);
        self.awaiting_open = Some(waiting.command_id);
        self.emit(
            entry,
            EventKind::AwaitingInput {
                command_id: waiting.command_id,
                screen_tail: entry.pty.screen_tail(10),
            },
        );
    }

    /// Feeds new output to every regex; a matching line is an `output_matched` event.
    fn scan(&mut self, entry: &Entry) {
        let end = entry.past.end_offset(&entry.pty);
        let output_at = entry.pty.last_output();
        if output_at != self.last_output {
            self.last_output = output_at;
            for idle in self.idles.values_mut() {
                idle.armed_since = Some(output_at);
            }
            if let Some(ports) = &mut self.ports {
                ports.interval = PORT_PROBE;
                ports.next_probe = ports.next_probe.min(Instant::now() + PORT_PROBE);
            }
        }
        let mut found = Vec::new();
        let from = self.scans.values().map(|s| s.scanned).min().unwrap_or(end);
        let shell_text = shell_text_after(entry, from);
        for (key, scan) in &mut self.scans {
            while scan.scanned < end {
                // Up to `end` only: the shell text was looked up for the output until there.
                let want =
                    SCAN_CHUNK.min(usize::try_from(end - scan.scanned).unwrap_or(SCAN_CHUNK));
                let chunk = entry.past.read(&entry.pty, scan.scanned, want);
                if chunk.next_offset <= scan.scanned {
                    break;
                }
                scan.scanned = chunk.next_offset;
                for piece in program_output(&chunk.data, chunk.start, &shell_text) {
                    let Some(bytes) = piece else {
                        scan.scanner.end_line();
                        continue;
                    };
                    for (matched, line) in scan.scanner.feed(bytes) {
                        found.push((
                            key.watch(),
                            scan.scanner.pattern().to_owned(),
                            matched,
                            line,
                        ));
                    }
                }
            }
        }
        for (watch, pattern, matched, line) in found {
            self.emit(
                entry,
                EventKind::OutputMatched {
                    watch,
                    pattern,
                    matched,
                    line,
                },
            );
        }
    }

    /// An `output_idle` event for every idle condition whose quiet time has come.
    fn idle(&mut self, entry: &Entry, now: Instant) {
        let mut fired = Vec::new();
        for (key, idle) in &mut self.idles {
            if let Some(since) = idle.armed_since
                && now >= since + Duration::from_millis(idle.idle_ms)
            {
                idle.armed_since = None;
                fired.push((key.watch(), idle.idle_ms));
            }
        }
        for (watch, idle_ms) in fired {
            self.emit(entry, EventKind::OutputIdle { watch, idle_ms });
        }
    }

    /// When due, asks `/proc` which ports the session's processes listen on; each new one is
    /// a `port_listening` event.
    async fn probe_ports(&mut self, entry: &Entry, now: Instant) {
        let Some(ports) = &mut self.ports else {
            return;
        };
        if now < ports.next_probe {
            return;
        }
        let pids = {
            let pty_pids = entry.pty.processes();
            tokio::task::spawn_blocking(move || listening_ports(&pty_pids)).await
        };
        let Ok(listening) = pids else { return };
        let lasting = entry.watches.lasting();
        let new: Vec<_> = listening.difference(&ports.known).cloned().collect();
        ports.known = listening;
        ports.next_probe = Instant::now() + ports.interval;
        ports.interval = (ports.interval * 2).min(PORT_PROBE_MAX);
        for listener in new {
            let watch = lasting
                .iter()
                .find(|w| w.spec.port.is_some_and(|p| p == 0 || p == listener.port))
                .map(|w| w.id.clone());
            self.emit(
                entry,
                EventKind::PortListening {
                    watch,
                    port: listener.port,
                    address: listener.address,
                    pid: Some(listener.pid),
                },
            );
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let idle = self
            .idles
            .values()
            .filter_map(|i| i.armed_since.map(|s| s + Duration::from_millis(i.idle_ms)));
        let ports = self.ports.as_ref().map(|p| p.next_probe);
        idle.chain(ports).min()
    }

    /// The shell exited: report what it printed and finished last, then its exit.
    async fn exited(
        &mut self,
        entry: &Entry,
        set: &WatchSet,
        steps: &mut tokio::sync::watch::Receiver<ai_session_pty::Progress>,
    ) {
        let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, steps.wait_for(|p| p.closed)).await;
        self.commands(entry).await;
        self.scan(entry);
        let status = entry.pty.exit_info().map(|info| info.status());
        if let Some(running) = entry.pty.running() {
            // The shell ended with the command (`exit 3`): its status is the command's.
            let mut record = entry.past.shift(&running);
            record.exit_code = status;
            record.ended_at = Some(now_ms());
            self.emit(entry, finished_event(&record, None));
        }
        let watch = set
            .lasting
            .iter()
            .find(|w| w.spec.exit)
            .map(|w| w.id.clone());
        self.emit(entry, EventKind::SessionExited { watch, status });
    }
}

/// The spans of the shell's own text (prompts, typed commands) ending after `offset`, in
/// session offsets.
fn shell_text_after(entry: &Entry, offset: u64) -> Vec<ai_session_pty::ByteRange> {
    let base = entry.past.base();
    entry
        .pty
        .shell_text_after(offset.saturating_sub(base))
        .into_iter()
        .map(|span| ai_session_pty::ByteRange {
            start: span.start + base,
            // An open span ends at u64::MAX.
            end: span.end.saturating_add(base),
        })
        .collect()
}

/// `chunk` (starting at offset `start`) without the shell's own text, in order: each piece of
/// program output, and `None` where shell text was cut out (a line ends there, so the
/// output of one command and the next are not joined).
fn program_output<'a>(
    chunk: &'a [u8],
    start: u64,
    shell_text: &[ai_session_pty::ByteRange],
) -> Vec<Option<&'a [u8]>> {
    let end = start + chunk.len() as u64;
    let mut pieces = Vec::new();
    let mut at = start;
    for span in shell_text.iter().filter(|s| s.end > start && s.start < end) {
        let cut_from = span.start.max(at);
        if cut_from > at {
            pieces.push(Some(
                &chunk[(at - start) as usize..(cut_from - start) as usize],
            ));
        }
        pieces.push(None);
        at = at.max(span.end.min(end));
    }
    if at < end {
        pieces.push(Some(&chunk[(at - start) as usize..]));
    }
    pieces
}

fn finished_event(
    record: &ai_session_pty::CommandRecord,
    analysis: Option<p::ExecAnalysis>,
) -> EventKind {
    EventKind::CommandFinished {
        command_id: record.id,
        command: record.command.clone(),
        exit_code: record.exit_code,
        duration_ms: record.duration().map_or(0, |d| d.as_millis() as u64),
        output: range(record.output),
        tokens_raw: analysis.as_ref().map(|a| a.tokens_raw),
        tokens_digest: analysis.as_ref().map(|a| a.tokens_digest),
        digest: analysis.map(|a| a.digest),
    }
}

#[cfg(test)]
mod tests {
    use super::program_output;
    use ai_session_pty::ByteRange;

    fn span(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn program_output_cuts_shell_text_out_at_any_chunk_boundary() {
        // Offsets 10..25: "out1\n" (10..15), the shell's "# cmd" (15..20), "out2\n" (20..25).
        let chunk = b"out1\n# cmdout2\n";
        let pieces = program_output(chunk, 10, &[span(15, 20)]);
        assert_eq!(pieces, [Some(&b"out1\n"[..]), None, Some(&b"out2\n"[..])]);
        // A span that began in an earlier chunk and ends inside this one.
        assert_eq!(
            program_output(b"cmdout2\n", 17, &[span(15, 20)]),
            [None, Some(&b"out2\n"[..])]
        );
        // A span running past the chunk's end, and one wholly before it.
        assert_eq!(
            program_output(b"out1\n# c", 10, &[span(2, 5), span(15, 20)]),
            [Some(&b"out1\n"[..]), None]
        );
        assert_eq!(program_output(b"abc", 10, &[]), [Some(&b"abc"[..])]);
    }
}
