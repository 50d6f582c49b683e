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
                        w.interval = PROBE_INTERVAL;
                        w.reading_since = None;
                        w.probed_at_offset = end_offset;
                        w.input_seen = input_count;
                        w.next_probe = now + PROBE_AFTER_IDLE;
                    }
                    let quiet_at = last_output.max(w.since) + PROBE_AFTER_IDLE;
                    let due = w.next_probe.max(quiet_at);
                    if now < due {
                        Some(due)
                    } else {
                        let reading = terminal_read_pending(&inner).await;
                        let now = Instant::now();
                        if reading {
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
        let sleep = async {
            match wake {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = progress.changed() => if changed.is_err() { return },
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
