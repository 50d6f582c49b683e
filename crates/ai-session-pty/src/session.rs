//! [`PtySession`]: a program on a PTY, its output stream, screen and command log.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, tcgetpgrp};
use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{SessionConfig, ShellKind};
use crate::error::{PtyError, Result};
use crate::kept::KeptIo;
use crate::keys::{UnknownKey, encode_keys};
use crate::monitor::AwaitingInput;
use crate::proctree;
use crate::record::CommandRecord;
use crate::screen::ScreenSnapshot;
use crate::scrollback::ReadChunk;
use crate::spawn::set_window_size;
use crate::state::{Progress, State};

/// After a kill, how long the reader may take to drain the terminal's last output.
const DRAIN_AFTER_KILL: Duration = Duration::from_millis(300);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How the session's program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// Exit code, if it exited normally.
    pub code: Option<i32>,
    /// Signal number, if a signal killed it.
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// Shell-style status: the exit code, or `128 + signal`.
    pub fn status(&self) -> i32 {
        self.code.or(self.signal.map(|s| 128 + s)).unwrap_or(-1)
    }
}

pub(crate) struct Inner {
    pub master: AsyncFd<OwnedFd>,
    pub state: Mutex<State>,
    pub progress: watch::Sender<Progress>,
    /// [`Progress`] at its last step: changes with the phase, the finished count, the end of
    /// output or the exit, not with each chunk of output (see [`Inner::publish`]).
    pub steps: watch::Sender<Progress>,
    pub exit: watch::Sender<Option<ExitInfo>>,
    /// The running command, while it is blocked reading the terminal (the monitor's finding).
    pub awaiting: watch::Sender<Option<AwaitingInput>>,
    /// Counts writes to the terminal: typed input ends a wait for input.
    pub input_written: watch::Sender<u64>,
    pub exec_lock: tokio::sync::Mutex<()>,
    pub write_lock: tokio::sync::Mutex<()>,
    pub pid: i32,
    pub tty_path: PathBuf,
    pub shell: Option<ShellKind>,
    pub program: String,
    /// Set when the terminal belongs to the PTY keeper (see [`crate::kept`]).
    pub kept: Option<KeptIo>,
    /// Readers that must not miss output (see [`crate::hold`]).
    pub holds: Arc<crate::hold::Holds>,
}

impl Inner {
    /// Publishes `progress` to every subscriber, and to step subscribers when it is a step.
    pub fn publish(&self, progress: Progress) {
        self.progress.send_replace(progress);
        self.steps.send_if_modified(|last| {
            let step = progress.is_step_from(last);
            if step {
                *last = progress;
            }
            step
        });
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough data (bytes and counters).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn exit_info(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    pub fn foreground_pgrp(&self) -> Option<i32> {
        tcgetpgrp(self.master.get_ref().as_fd())
            .ok()
            .map(Pid::as_raw)
            .filter(|&pg| pg > 0)
    }

    pub async fn write_all(&self, mut data: &[u8]) -> Result<()> {
        let _serialised = self.write_lock.lock().await;
        // Typed input answers a prompt: the command is no longer known to wait for it.
        self.input_written.send_modify(|n| *n += 1);
        self.awaiting.send_if_modified(|a| a.take().is_some());
        if let Some(kept) = &self.kept {
            // What the shell is about to be told (a command `exec` just registered) is
            // committed before it can answer, so the next daemon knows the command's text.
            kept.commit(&self.state(), None);
        }
        while !data.is_empty() {
            if let Some(exit) = self.exit_info() {
                return Err(PtyError::Exited {
                    status: Some(exit.status()),
                });
            }
            let mut guard = self
                .master
                .writable()
                .await
                .map_err(|source| PtyError::Io {
                    action: "waiting to write to the terminal",
                    source,
                })?;
            match guard
                .try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(std::io::Error::from))
            {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(source)) => {
                    return Err(PtyError::Io {
                        action: "writing to the terminal",
                        source,
                    });
                }
                Err(_would_block) => {}
            }
        }
        Ok(())
    }

    /// Send `signal` to a process group, ignoring groups that are already gone.
    pub fn signal_group(&self, pgid: i32, signal: Signal) -> Result<()> {
        match killpg(Pid::from_raw(pgid), signal) {
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(source) => Err(PtyError::Signal {
                signal: signal.to_string(),
                pgid,
                source,
            }),
        }
    }
}

/// A program running on a pseudo-terminal, with its output kept in a scrollback ring and a vt100
/// screen. When the program is a shell with integration (bash, sh, zsh), [`PtySession::exec`]
/// runs commands and knows exactly when each one ends and with which exit code.
///
/// Dropping the session SIGKILLs its whole process tree; the child is still reaped.
pub struct PtySession {
    pub(crate) inner: Arc<Inner>,
    pub(crate) tasks: Mutex<Tasks>,
    pub(crate) config: SessionConfig,
}

/// The tasks a session owns.
#[derive(Default)]
pub(crate) struct Tasks {
    pub reader: Option<JoinHandle<()>>,
    /// Waits for a kept session's exit status from the keeper.
    pub exit: Option<JoinHandle<()>>,
    /// Handed back to the keeper ([`PtySession::release`]): dropping kills nothing.
    pub released: bool,
}

impl std::fmt::Debug for PtySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtySession")
            .field("pid", &self.inner.pid)
            .field("program", &self.config.program)
            .field("shell", &self.inner.shell)
            .finish_non_exhaustive()
    }
}

impl PtySession {
    /// The config this session was started with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Pid of the program (the session leader; also its process group id).
    pub fn pid(&self) -> i32 {
        self.inner.pid
    }

    /// Shell flavour with integration, if any.
    pub fn shell_kind(&self) -> Option<ShellKind> {
        self.inner.shell
    }

    /// Whether the program is still running.
    pub fn is_alive(&self) -> bool {
        self.inner.exit_info().is_none()
    }

    /// How the program ended, once it has.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.inner.exit_info()
    }

    /// Wait until the program has exited and been reaped.
    pub async fn wait_exit(&self) -> ExitInfo {
        let mut rx = self.inner.exit.subscribe();
        loop {
            if let Some(info) = *rx.borrow_and_update() {
                return info;
            }
            if rx.changed().await.is_err() {
                return ExitInfo {
                    code: None,
                    signal: None,
                };
            }
        }
    }

    /// Write raw bytes to the terminal (what a person types).
    pub async fn write(&self, data: &[u8]) -> Result<()> {
        self.inner.write_all(data).await
    }

    /// Write named keys and text, tmux style (`["echo hi", "Enter"]`, `["C-c"]`). Cursor keys
    /// follow the application-cursor mode of the screen.
    pub async fn send_keys<S: AsRef<str>>(&self, words: &[S], unknown: UnknownKey) -> Result<()> {
        let app_cursor = self
            .inner
            .state()
            .screen
            .parser()
            .screen()
            .application_cursor();
        let bytes = encode_keys(words, unknown, app_cursor)?;
        self.write(&bytes).await
    }

    /// Up to `max` output bytes from absolute offset `since`. Marks are never included. If
    /// `since` fell off the ring, the chunk starts at the oldest byte held and says how many
    /// bytes were missed.
    pub fn read(&self, since: u64, max: usize) -> ReadChunk {
        self.inner.state().scrollback.read(since, max)
    }

    /// When output arrived: `(offset, ms since the session started)` for each burst of output
    /// from `since` on (the first entry may start before `since`). Bursts closer than 5 ms share
    /// one entry, and at most 1024 entries are kept (when full, the older half is thinned: old
    /// output keeps coarser times), so recent times are exact to a few ms.
    pub fn timeline(&self, since: u64) -> Vec<(u64, u64)> {
        self.inner.state().timeline.since(since)
    }

    /// Offsets `(oldest held, one past newest)` of the scrollback.
    pub fn offsets(&self) -> (u64, u64) {
        let state = self.inner.state();
        (state.scrollback.start(), state.scrollback.end())
    }

    /// The current screen as text.
    pub fn screen(&self) -> ScreenSnapshot {
        ScreenSnapshot::of(self.inner.state().screen.parser())
    }

    /// Resets the screen model (blank, cursor home), as a terminal's reset does; the
    /// scrollback keeps every byte.
    pub fn reset_screen(&self) {
        self.inner.state().screen.reset();
    }

    /// The last `n` non-empty screen lines.
    pub fn screen_tail(&self, n: usize) -> Vec<String> {
        self.inner.state().screen_tail(n)
    }

    /// A receiver of [`Progress`], updated on every output chunk and mark (for `wait` and
    /// `attach`: `changed().await`, then `read(since, ..)`).
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.inner.progress.subscribe()
    }

    /// A receiver of [`Progress`] updated only at its steps: a mark that changes the shell's
    /// phase or finishes a command, the end of output, the exit. For a waiter that needs
    /// nothing else (a command's end), it costs no wake-up per chunk of output.
    pub fn subscribe_steps(&self) -> watch::Receiver<Progress> {
        self.inner.steps.subscribe()
    }

    /// Current progress.
    pub fn progress(&self) -> Progress {
        *self.inner.progress.borrow()
    }

    /// The terminal size (cheap, unlike [`PtySession::screen`]).
    pub fn size(&self) -> crate::config::Size {
        self.inner.state().screen.size()
    }

    /// Resize the terminal (and the screen model); the program gets SIGWINCH.
    pub fn resize(&self, size: crate::config::Size) -> Result<()> {
        set_window_size(self.inner.master.get_ref().as_fd(), size)?;
        self.inner.state().screen.set_size(size);
        if let Some(kept) = &self.inner.kept {
            kept.area.set_size(size.cols, size.rows);
        }
        Ok(())
    }

    /// The foreground process group of the terminal (the running command, or the shell).
    pub fn foreground_pgrp(&self) -> Option<i32> {
        self.inner.foreground_pgrp()
    }

    /// Send `signal` to the terminal's foreground process group.
    pub fn signal_foreground(&self, signal: Signal) -> Result<()> {
        let pgid = self.inner.foreground_pgrp().unwrap_or(self.inner.pid);
        self.inner.signal_group(pgid, signal)
    }

    /// The shell's working directory: from OSC 7 marks, or `/proc/<pid>/cwd` without integration.
    pub fn cwd(&self) -> Option<PathBuf> {
        if let Some(cwd) = self.inner.state().cwd.clone() {
            return Some(cwd);
        }
        std::fs::read_link(format!("/proc/{}/cwd", self.inner.pid)).ok()
    }

    /// Finished commands, oldest first.
    pub fn history(&self) -> Vec<CommandRecord> {
        self.inner.state().history.iter().cloned().collect()
    }

    /// Finished commands with an id above `id`, oldest first. Costs what it returns, not the
    /// whole history (a journal asks after every command).
    pub fn history_after(&self, id: u64) -> Vec<CommandRecord> {
        let state = self.inner.state();
        let newer = state.history.iter().rev().take_while(|r| r.id > id).count();
        let skip = state.history.len() - newer;
        state.history.iter().skip(skip).cloned().collect()
    }

    /// How many finished commands the history holds.
    pub fn history_len(&self) -> usize {
        self.inner.state().history.len()
    }

    /// The newest finished command, if any (without copying the history).
    pub fn last_record(&self) -> Option<CommandRecord> {
        self.inner.state().history.back().cloned()
    }

    /// The command running now, if any.
    pub fn running(&self) -> Option<CommandRecord> {
        self.inner.state().pending_record()
    }

    /// Where the scrollback holds the shell's own text (prompts, and the lines `exec` typed as
    /// the terminal echoed them) rather than a program's output, for the spans that end after
    /// `offset`, oldest first. Scanning output for what programs print skips these. A prompt
    /// still being drawn, or a typed line whose command has not started, is open: its span
    /// ends at `u64::MAX`.
    pub fn shell_text_after(&self, offset: u64) -> Vec<crate::ByteRange> {
        self.inner.state().shell_text_after(offset)
    }

    /// Holds the output from `offset` on for a reader that must not miss a byte: while it
    /// lags by nearly the scrollback's size, the terminal is not read (see [`OutputHold`]).
    ///
    /// [`OutputHold`]: crate::OutputHold
    pub fn hold_output(&self, offset: u64) -> crate::OutputHold {
        self.inner.holds.hold(offset)
    }

    /// When output last arrived (or the session started).
    pub fn last_output(&self) -> std::time::Instant {
        self.inner.state().last_output
    }

    /// The shell and every process it started, by pid (read from `/proc`; blocking).
    pub fn processes(&self) -> Vec<i32> {
        proctree::descendants(self.inner.pid)
    }

    /// The running command, if it is blocked reading the terminal.
    pub fn awaiting_input(&self) -> Option<AwaitingInput> {
        *self.inner.awaiting.borrow()
    }

    /// A receiver of [`PtySession::awaiting_input`], updated when a running command starts or
    /// stops waiting for terminal input.
    pub fn subscribe_awaiting(&self) -> watch::Receiver<Option<AwaitingInput>> {
        self.inner.awaiting.subscribe()
    }

    /// Wait until the shell shows a prompt (up to `timeout`).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        crate::exec::wait_for_prompt(&self.inner, timeout).await
    }

    /// Kill the session and everything it started: SIGHUP to every process in the shell's tree
    /// (bash passes it on to its jobs), SIGKILL after 200 ms to whatever is still alive, then wait
    /// for the reap. Returns how the shell ended.
    pub async fn kill(&self) -> ExitInfo {
        if let Some(info) = self.inner.exit_info() {
            self.finish().await;
            return info;
        }
        let root = self.inner.pid;
        let tree = tokio::task::spawn_blocking(move || proctree::descendants(root))
            .await
            .unwrap_or_default();
        self.inner.hang_up(&tree, Signal::SIGHUP);
        let exited = tokio::time::timeout(Duration::from_millis(200), self.wait_exit()).await;
        let info = match exited {
            Ok(info) => info,
            Err(_) => {
                self.inner.hang_up(&tree, Signal::SIGKILL);
                self.wait_exit().await
            }
        };
        // Jobs that ignore SIGHUP (nohup) outlive the shell; they were ours, so end them.
        for &pid in tree.iter().skip(1) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.finish().await;
        info
    }

    /// After the shell is gone: let the reader drain what is left (briefly), stop it, and have
    /// the keeper close its copies, so that when `kill` returns the session holds no
    /// descriptor but the ones its last handle drops.
    async fn finish(&self) {
        let reader = lock(&self.tasks).reader.take();
        if let Some(mut reader) = reader
            && tokio::time::timeout(DRAIN_AFTER_KILL, &mut reader)
                .await
                .is_err()
        {
            reader.abort();
            let _ = reader.await;
        }
        if let Some(kept) = &self.inner.kept
            && let Err(error) = kept.keeper.forget(kept.session).await
        {
            tracing::warn!(pid = self.inner.pid, %error, "the keeper did not forget a killed session");
        }
    }
}

impl Inner {
    /// Signal the shell's group, the foreground group and every process in `tree`, unless the
    /// shell is already reaped (its pid may then belong to someone else). The shell goes first:
    /// signalled after its running command, it could see that command die and start the next
    /// one of its line (`sleep 5; echo done >> mark`) before its own signal arrived.
    fn hang_up(&self, tree: &[i32], signal: Signal) {
        if self.exit_info().is_some() {
            return;
        }
        let foreground = self.foreground_pgrp();
        let _ = killpg(Pid::from_raw(self.pid), signal);
        if let Some(pg) = foreground {
            let _ = killpg(Pid::from_raw(pg), signal);
        }
        for &pid in tree {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

impl Drop for PtySession {
    /// Dropping kills at once (SIGKILL to every process in the tree): a grace period would need
    /// a task, and the runtime may be shutting down. Use [`PtySession::kill`] for a clean end,
    /// or [`PtySession::release`] to leave a kept session running in its keeper.
    fn drop(&mut self) {
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        if let Some(reader) = tasks.reader {
            reader.abort();
        }
        if tasks.released {
            return;
        }
        if let Some(exit) = tasks.exit {
            exit.abort();
        }
        if self.inner.exit_info().is_none() {
            let tree = proctree::descendants(self.inner.pid);
            self.inner.hang_up(&tree, Signal::SIGKILL);
        }
        if let Some(kept) = &self.inner.kept {
            kept.keeper.forget_later(kept.session);
        }
    }
}

/// Own the child until it exits, then publish how it ended.
pub(crate) async fn reap(child: crate::child::Child, inner: Arc<Inner>) {
    let info = match child.wait().await {
        Ok(status) => ExitInfo {
            code: status.code,
            signal: status.signal,
        },
        Err(error) => {
            tracing::warn!(pid = inner.pid, %error, "waiting for the session's child failed");
            ExitInfo {
                code: None,
                signal: None,
            }
        }
    };
    tracing::debug!(pid = inner.pid, ?info, "session child reaped");
    publish_exit(&inner, info);
}

/// Tell everyone how the session's program ended.
pub(crate) fn publish_exit(inner: &Inner, info: ExitInfo) {
    inner.exit.send_replace(Some(info));
    // Wake progress watchers too (wait/attach loops), which may not watch the exit channel.
    let progress = {
        let mut state = inner.state();
        state.exited = true;
        state.progress()
    };
    inner.publish(progress);
}
