//! [`PtySession`]: a program on a PTY, its output stream, screen and command log.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, tcgetpgrp};
use serde::{Deserialize, Serialize};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{SessionConfig, ShellKind, agent_env_defaults};
use crate::error::{PtyError, Result};
use crate::keys::{UnknownKey, encode_keys};
use crate::marks::MarkParser;
use crate::monitor::AwaitingInput;
use crate::record::CommandRecord;
use crate::screen::ScreenSnapshot;
use crate::scrollback::ReadChunk;
use crate::spawn::{SpawnRequest, set_window_size, spawn};
use crate::state::{Progress, State};
use crate::{nonce, proctree, reader, shell_rc};

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
    pub exit: watch::Sender<Option<ExitInfo>>,
    /// The running command, while it is blocked reading the terminal (the monitor's finding).
    pub awaiting: watch::Sender<Option<AwaitingInput>>,
    /// Counts writes to the terminal: typed input ends a wait for input.
    pub input_written: watch::Sender<u64>,
    pub exec_lock: tokio::sync::Mutex<()>,
    write_lock: tokio::sync::Mutex<()>,
    pub pid: i32,
    pub tty_path: PathBuf,
    pub shell: Option<ShellKind>,
    pub program: String,
}

impl Inner {
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
    reader: JoinHandle<()>,
    config: SessionConfig,
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
    /// Start `config.program` on a new PTY. Must be called inside a tokio runtime. Returns as soon
    /// as the process is started; [`PtySession::exec`] waits for the first prompt by itself.
    pub async fn spawn(config: SessionConfig) -> Result<Self> {
        if config.program.is_empty() {
            return Err(PtyError::EmptyProgram);
        }
        let nonce = nonce::random_hex(8);
        let shell = config.shell_kind();
        let launch = shell
            .map(|kind| shell_rc::prepare(kind, &nonce, config.user_rc))
            .transpose()?;

        let mut argv = config.program.clone();
        let mut env: Vec<(String, String)> = agent_env_defaults()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut rc_files = None;
        if let Some(launch) = launch {
            argv.extend(launch.extra_args);
            env.extend(launch.env);
            rc_files = Some(launch.files);
        }
        env.extend(config.env.iter().map(|(k, v)| (k.clone(), v.clone())));

        let spawned = spawn(SpawnRequest {
            argv: &argv,
            cwd: config.cwd.as_deref(),
            env,
            size: config.size,
            output_processing: config.output_processing,
        })?;
        // SAFETY: `OwnedFd` owns a valid open fd and `AsyncFd` owns the `OwnedFd`, so the fd stays
        // open and unchanged until the `AsyncFd` is dropped.
        let master = unsafe {
            AsyncFd::register_with_interest(spawned.master, Interest::READABLE | Interest::WRITABLE)
        }
        .map_err(|error| PtyError::Io {
            action: "registering the PTY master with the tokio reactor",
            source: error.into(),
        })?;
        let mut state = State::new(
            config.size,
            config.scrollback_limit,
            !config.output_processing,
            rc_files,
        );
        state.next_id = config.first_command_id.max(1);
        let (progress, _) = watch::channel(state.progress());
        let (exit, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            master,
            state: Mutex::new(state),
            progress,
            exit,
            awaiting: watch::channel(None).0,
            input_written: watch::channel(0).0,
            exec_lock: tokio::sync::Mutex::new(()),
            write_lock: tokio::sync::Mutex::new(()),
            pid: spawned.pid,
            tty_path: spawned.tty_path,
            shell,
            program: config.program[0].clone(),
        });
        tokio::spawn(reap(spawned.child, Arc::clone(&inner)));
        if shell.is_some() {
            crate::monitor::start(&inner);
        }
        let reader = tokio::spawn(reader::run(Arc::clone(&inner), MarkParser::new(&nonce)));
        tracing::debug!(pid = spawned.pid, program = %config.program[0], ?shell, "session spawned");
        Ok(Self {
            inner,
            reader,
            config,
        })
    }

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

    /// The command running now, if any.
    pub fn running(&self) -> Option<CommandRecord> {
        self.inner.state().pending_record()
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
        info
    }
}

impl Inner {
    /// Signal the foreground group, the shell's group and every process in `tree`, unless the
    /// shell is already reaped (its pid may then belong to someone else).
    fn hang_up(&self, tree: &[i32], signal: Signal) {
        if self.exit_info().is_some() {
            return;
        }
        if let Some(pg) = self.foreground_pgrp() {
            let _ = killpg(Pid::from_raw(pg), signal);
        }
        let _ = killpg(Pid::from_raw(self.pid), signal);
        for &pid in tree {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

impl Drop for PtySession {
    /// Dropping kills at once (SIGKILL to every process in the tree): a grace period would need
    /// a task, and the runtime may be shutting down. Use [`PtySession::kill`] for a clean end.
    fn drop(&mut self) {
        self.reader.abort();
        if self.inner.exit_info().is_some() {
            return;
        }
        let tree = proctree::descendants(self.inner.pid);
        self.inner.hang_up(&tree, Signal::SIGKILL);
    }
}

/// Own the child until it exits, then publish how it ended.
async fn reap(child: crate::child::Child, inner: Arc<Inner>) {
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
    inner.exit.send_replace(Some(info));
    // Wake progress watchers too (wait/attach loops), which may not watch the exit channel.
    let progress = {
        let mut state = inner.state();
        state.exited = true;
        state.progress()
    };
    inner.progress.send_replace(progress);
}
