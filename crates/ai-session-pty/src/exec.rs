//! `exec`: write a command at the prompt and wait for its end mark, for a blocked terminal read,
//! or for the timeout (then interrupt it step by step).

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::{Instant, sleep_until};

use crate::error::{PtyError, Result};
use crate::record::{CommandRecord, ExecOptions, ExecOutcome, ExecState, now_ms};
use crate::session::{Inner, PtySession};
use crate::shell_rc::command_line;
use crate::state::{Pending, ShellPhase};

/// After the shell exits, how long to wait for the last output to drain.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(300);
/// How long a still-running earlier command may take to finish before `exec` reports Busy.
const BUSY_GRACE: Duration = Duration::from_millis(1000);

impl PtySession {
    /// Run `command` in the shell and wait until it ends, blocks reading the terminal
    /// ([`ExecState::AwaitingInput`]), times out ([`ExecState::TimedOut`]; interrupted with
    /// SIGINT, SIGTERM, SIGKILL), or `options.yield_after` passes ([`ExecState::Running`]: the
    /// command goes on). One exec at a time: a concurrent call gets [`PtyError::Busy`], and so
    /// does an exec while an earlier command still runs.
    pub async fn exec(&self, command: &str, options: ExecOptions) -> Result<ExecOutcome> {
        let inner = &self.inner;
        let Some(shell) = inner.shell else {
            return Err(PtyError::NoShellIntegration {
                program: inner.program.clone(),
            });
        };
        let _exclusive = inner.exec_lock.try_lock().map_err(|_| PtyError::Busy {
            reason: "another exec is running in this session".into(),
        })?;
        wait_for_prompt(inner, options.ready_timeout).await?;

        let id = {
            let mut state = inner.state();
            let id = state.take_id();
            state.pending = Some(Pending {
                id,
                command: command.to_owned(),
                started_at: now_ms(),
                write_offset: state.scrollback.end(),
                output_start: None,
            });
            id
        };
        let started = Instant::now();
        if let Err(error) = inner
            .write_all(command_line(shell, command).as_bytes())
            .await
        {
            inner.state().pending = None;
            return Err(error);
        }
        let deadline = options.timeout.map(|t| started + t);
        match wait_for_end(inner, id, started, deadline, &options).await {
            Waited::Ended(outcome) => Ok(outcome),
            Waited::Timeout => Ok(interrupt(inner, id, &options).await),
        }
    }
}

impl PtySession {
    /// Keep waiting for the command that runs now, with `exec`'s rules (end, terminal read,
    /// timeout) — e.g. after answering the prompt that made `exec` return `AwaitingInput`.
    /// `Ok(None)` when no command runs.
    pub async fn wait_command(&self, options: ExecOptions) -> Result<Option<ExecOutcome>> {
        let inner = &self.inner;
        let _exclusive = inner.exec_lock.try_lock().map_err(|_| PtyError::Busy {
            reason: "an exec is running in this session".into(),
        })?;
        let Some(id) = inner.state().pending.as_ref().map(|p| p.id) else {
            return Ok(None);
        };
        let started = Instant::now();
        let deadline = options.timeout.map(|t| started + t);
        Ok(Some(
            match wait_for_end(inner, id, started, deadline, &options).await {
                Waited::Ended(outcome) => outcome,
                Waited::Timeout => interrupt(inner, id, &options).await,
            },
        ))
    }
}

enum Waited {
    Ended(ExecOutcome),
    Timeout,
}

/// Wait for the shell to show a prompt with no command running.
pub(crate) async fn wait_for_prompt(inner: &Arc<Inner>, timeout: Duration) -> Result<()> {
    let begun = Instant::now();
    let mut progress = inner.progress.subscribe();
    let mut exit = inner.exit.subscribe();
    loop {
        let (ready, earlier_command) = {
            let state = inner.state();
            (
                state.phase == ShellPhase::Prompt && state.pending.is_none(),
                state.pending.as_ref().map(|p| (p.id, p.command.clone())),
            )
        };
        if ready {
            return Ok(());
        }
        if let Some(info) = inner.exit_info() {
            // The child is reaped as soon as it exits (pidfd), possibly before the reader has
            // drained the terminal: let it, so what the program said last (why it refused to
            // start, say) is in the scrollback and screen when the caller looks.
            let mut progress = inner.progress.subscribe();
            let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, progress.wait_for(|p| p.closed)).await;
            return Err(PtyError::Exited {
                status: Some(info.status()),
            });
        }
        let limit = if earlier_command.is_some() {
            BUSY_GRACE.min(timeout)
        } else {
            timeout
        };
        if begun.elapsed() >= limit {
            return Err(match earlier_command {
                Some((id, command)) => PtyError::Busy {
                    reason: format!("command {id} ({command:?}) is still running"),
                },
                None => PtyError::NotReady { waited: limit },
            });
        }
        tokio::select! {
            _ = progress.changed() => {}
            _ = exit.changed() => {}
            _ = sleep_until(begun + limit) => {}
        }
    }
}

async fn wait_for_end(
    inner: &Arc<Inner>,
    id: u64,
    started: Instant,
    deadline: Option<Instant>,
    options: &ExecOptions,
) -> Waited {
    // A command ends at a step (its D mark); its output in between wakes nobody here.
    let mut steps = inner.steps.subscribe();
    let mut exit = inner.exit.subscribe();
    let mut awaiting = inner.awaiting.subscribe();
    let yield_at = options.yield_after.map(|y| started + y);
    loop {
        if let Some(outcome) = finished(inner, id, options) {
            return Waited::Ended(outcome);
        }
        if inner.exit_info().is_some() {
            return Waited::Ended(shell_exited(inner, id, options).await);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Waited::Timeout;
        }
        let waits = awaiting
            .borrow_and_update()
            .is_some_and(|a| a.command_id == id);
        if options.detect_input_wait && waits {
            return Waited::Ended(still_running(inner, id, ExecState::AwaitingInput, options));
        }
        if yield_at.is_some_and(|y| now >= y) {
            return Waited::Ended(still_running(inner, id, ExecState::Running, options));
        }
        let wake = match (deadline, yield_at) {
            (Some(d), Some(y)) => Some(d.min(y)),
            (d, y) => d.or(y),
        };
        let sleep = async {
            match wake {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = steps.changed() => {}
            _ = exit.changed() => {}
            _ = awaiting.changed() => {}
            _ = sleep => {}
        }
    }
}

fn outcome(
    inner: &Inner,
    state: ExecState,
    record: CommandRecord,
    options: &ExecOptions,
) -> ExecOutcome {
    let mut st = inner.state();
    let output = st.scrollback.slice(record.output.start..record.output.end);
    ExecOutcome {
        state,
        record,
        output,
        // Only a waiting, yielded or interrupted command needs the screen; skipping it for
        // finished ones keeps idle sessions from allocating a screen at all.
        screen_tail: if state == ExecState::Exited {
            Vec::new()
        } else {
            st.screen_tail(options.tail_lines)
        },
        session_exited: inner.exit_info().is_some(),
    }
}

fn finished(inner: &Inner, id: u64, options: &ExecOptions) -> Option<ExecOutcome> {
    let record = inner.state().finished_record(id).cloned()?;
    Some(outcome(inner, ExecState::Exited, record, options))
}

/// The command goes on: it waits for input, or `exec` yielded.
fn still_running(inner: &Inner, id: u64, state: ExecState, options: &ExecOptions) -> ExecOutcome {
    let record = running_record(inner, id);
    outcome(inner, state, record, options)
}

fn running_record(inner: &Inner, id: u64) -> CommandRecord {
    let state = inner.state();
    state
        .pending_record()
        .filter(|r| r.id == id)
        .or_else(|| state.finished_record(id).cloned())
        .unwrap_or_else(|| CommandRecord {
            id,
            command: String::new(),
            started_at: now_ms(),
            ended_at: None,
            exit_code: None,
            cwd: state.cwd_string(),
            output: Default::default(),
        })
}

/// The shell itself exited while the command ran (e.g. `exit 3`): its status is the command's.
async fn shell_exited(inner: &Arc<Inner>, id: u64, options: &ExecOptions) -> ExecOutcome {
    let mut progress = inner.progress.subscribe();
    let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, progress.wait_for(|p| p.closed)).await;
    let status = inner.exit_info().map(|info| info.status());
    {
        let mut state = inner.state();
        if state.pending.as_ref().is_some_and(|p| p.id == id) {
            state.finish_pending(status);
        }
    }
    let record = running_record(inner, id);
    outcome(inner, ExecState::Exited, record, options)
}

/// The timeout hit: SIGINT, SIGTERM, SIGKILL to the foreground group, `kill_grace` apart, until
/// the command ends. The shell itself is never sent SIGTERM/SIGKILL, so the session survives.
async fn interrupt(inner: &Arc<Inner>, id: u64, options: &ExecOptions) -> ExecOutcome {
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL] {
        let pgid = inner.foreground_pgrp().unwrap_or(inner.pid);
        if pgid == inner.pid && signal != Signal::SIGINT {
            // A builtin or loop in the shell itself: only SIGINT is safe.
            continue;
        }
        tracing::debug!(id, pgid, %signal, "exec timed out; signalling the foreground group");
        if signal != Signal::SIGINT && inner.exit_info().is_none() {
            // A command that dies of SIGTERM or SIGKILL looks to the shell like one that
            // ended: it would run the rest of the line (`slow; next`). A SIGINT of its own
            // first makes it drop the line, as when Ctrl-C reaches both.
            if let Err(error) = inner.signal_group(inner.pid, Signal::SIGINT) {
                tracing::warn!(%error, "could not interrupt the shell");
            }
        }
        if let Err(error) = inner.signal_group(pgid, signal) {
            tracing::warn!(%error, "could not signal the foreground group");
        }
        let grace = Instant::now() + options.kill_grace;
        let mut progress = inner.progress.subscribe();
        loop {
            if let Some(mut done) = finished(inner, id, options) {
                done.state = ExecState::TimedOut;
                return done;
            }
            if inner.exit_info().is_some() || Instant::now() >= grace {
                break;
            }
            tokio::select! {
                _ = progress.changed() => {}
                _ = sleep_until(grace) => {}
            }
        }
        if inner.exit_info().is_some() {
            let mut done = shell_exited(inner, id, options).await;
            done.state = ExecState::TimedOut;
            return done;
        }
    }
    let record = running_record(inner, id);
    outcome(inner, ExecState::TimedOut, record, options)
}
