//! The input-wait monitor: while a command runs and its output is quiet, ask `/proc` whether
//! the foreground group is blocked reading the terminal, and publish the answer. One monitor
//! per session serves `exec` and every other observer (a yielded command, the daemon's event
//! log), so a command is probed once however many wait for it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::input_wait::{TtyWait, probe};
use crate::session::Inner;

/// First probe after the output has been quiet this long.
const PROBE_AFTER_IDLE: Duration = Duration::from_millis(50);
/// A command whose pauses after output keep turning out busy (a build printing a line now and
/// then) waits up to `PROBE_AFTER_IDLE << MAX_QUIET_SHIFT` of quiet before the next probe, so a
/// hundred such commands cost the daemon nearly nothing, and a prompt after them still shows
/// within half a second.
const MAX_QUIET_SHIFT: u32 = 3;
/// Probe interval while quiet; doubles after each probe that found the command busy, up to
/// [`MAX_PROBE_INTERVAL`], and starts over when output arrives.
const PROBE_INTERVAL: Duration = Duration::from_millis(80);
/// A long-quiet command (a server in `accept`) is probed at most this often.
const MAX_PROBE_INTERVAL: Duration = Duration::from_millis(1000);
/// A read must be seen twice, this far apart with no output between, to count.
const PROBE_CONFIRM: Duration = Duration::from_millis(100);

/// A running command blocked reading the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwaitingInput {
    /// The command's record id.
    pub command_id: u64,
    /// The output offset when the read was confirmed.
    pub offset: u64,
}

/// What the monitor knows about the running command.
struct Watched {
    id: u64,
    /// When the monitor first saw it.
    since: Instant,
    /// A probe saw a read at this time and offset; a second one confirms it.
    reading_since: Option<(Instant, u64)>,
    interval: Duration,
    next_probe: Instant,
    /// Output offset at the last probe (output resets the back-off).
    probed_at_offset: u64,
    /// Input writes seen so far (input also resets it, and ends a confirmed wait).
    input_seen: u64,
    /// Output arrived since the last probe.
    output_since_probe: bool,
    /// Probes right after output that found the command busy, in a row.
    busy_after_output: u32,
}

impl Watched {
    /// How long the output must be quiet before the next probe.
    fn quiet_wait(&self) -> Duration {
        PROBE_AFTER_IDLE * (1 << self.busy_after_output.min(MAX_QUIET_SHIFT))
    }
}

/// Starts the monitor of `inner`'s session; it ends with the session.
pub(crate) fn start(inner: &Arc<Inner>) {
    tokio::spawn(run(Arc::downgrade(inner)));
}

async fn run(session: Weak<Inner>) {
    let Some(inner) = session.upgrade() else {
        return;
    };
    let mut progress = inner.progress.subscribe();
    let mut exit = inner.exit.subscribe();
    let mut input = inner.input_written.subscribe();
    drop(inner);
    let mut watched: Option<Watched> = None;
    loop {
        let Some(inner) = session.upgrade() else {
            return;
        };
        if inner.exit_info().is_some() {
            inner.awaiting.send_replace(None);
            return;
        }
        let input_count = *inner.input_written.borrow();
        let (pending, last_output, end_offset) = {
            let state = inner.state();
            (
                state.pending.as_ref().map(|p| p.id),
                Instant::from_std(state.last_output),
                state.scrollback.end(),
            )
        };
        let now = Instant::now();
        let wake = match pending {
            None => {
                watched = None;
                inner.awaiting.send_if_modified(|a| a.take().is_some());
                None
            }
            Some(id) => {
                let w = match &mut watched {
                    Some(w) if w.id == id => w,
                    _ => watched.insert(Watched {
                        id,
                        since: now,
                        reading_since: None,
                        interval: PROBE_INTERVAL,
                        next_probe: now,
                        probed_at_offset: end_offset,
                        input_seen: input_count,
                        output_since_probe: false,
                        busy_after_output: 0,
                    }),
                };
                let typed = w.input_seen != input_count;
                let awaiting = *inner.awaiting.borrow();
                if !typed && awaiting.is_some_and(|a| a.command_id == id && a.offset == end_offset)
                {
                    // Confirmed and nothing changed since: wait for output or input.
                    None
                } else {
                    if awaiting.is_some() {
                        inner.awaiting.send_replace(None);
                    }
                    if end_offset != w.probed_at_offset || typed {
                        if typed {
                            w.busy_after_output = 0;
                        }
                        w.interval = PROBE_INTERVAL;
                        w.reading_since = None;
                        w.probed_at_offset = end_offset;
                        w.input_seen = input_count;
                        w.output_since_probe = true;
                        // The monitor is not woken by each chunk of output (see below), so the
                        // quiet time counts from the last output, not from now; typed input
                        // gets its time to be read.
                        let from = if typed { now } else { last_output.max(w.since) };
                        w.next_probe = from + w.quiet_wait();
                    }
                    let quiet_at = last_output.max(w.since) + w.quiet_wait();
                    let due = w.next_probe.max(quiet_at);
                    if now < due {
                        Some(due)
                    } else {
                        let reading = terminal_read_pending(&inner).await;
                        let now = Instant::now();
                        let after_output = std::mem::take(&mut w.output_since_probe);
                        if reading {
                            w.busy_after_output = 0;
                            match w.reading_since {
                                Some((first, offset))
                                    if offset == end_offset
                                        && now.duration_since(first) >= PROBE_CONFIRM =>
                                {
                                    tracing::debug!(id, "command awaits terminal input");
                                    inner.awaiting.send_replace(Some(AwaitingInput {
                                        command_id: id,
                                        offset: end_offset,
                                    }));
                                }
                                Some((_, offset)) if offset == end_offset => {}
                                _ => w.reading_since = Some((now, end_offset)),
                            }
                            w.next_probe = now + PROBE_INTERVAL;
                        } else {
                            if after_output {
                                w.busy_after_output += 1;
                            }
                            w.reading_since = None;
                            w.next_probe = now + w.interval;
                            w.interval = (w.interval * 2).min(MAX_PROBE_INTERVAL);
                        }
                        Some(w.next_probe)
                    }
                }
            }
        };
        drop(inner);
        // With a probe due, output only moves it later, and that is seen when it is due: a
        // command's output then wakes nobody here (an `exec` loop's would, several times per
        // command). Without one (no command, or a confirmed wait), output is what to wait for.
        let probe_due = wake.is_some();
        let sleep = async {
            match wake {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = progress.changed(), if !probe_due => if changed.is_err() { return },
            _ = exit.changed() => {}
            _ = input.changed() => {}
            _ = sleep => {}
        }
    }
}

/// Ask `/proc` (on a blocking thread) whether the foreground group waits for terminal input.
async fn terminal_read_pending(inner: &Arc<Inner>) -> bool {
    let Some(pgid) = inner.foreground_pgrp() else {
        return false;
    };
    let shell_pid = inner.pid;
    let tty = inner.tty_path.clone();
    let result = tokio::task::spawn_blocking(move || probe(pgid, shell_pid, &tty)).await;
    matches!(result, Ok(TtyWait::Reading { .. }))
}
