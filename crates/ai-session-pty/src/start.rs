//! How a [`PtySession`] comes to be: spawned directly by this process, spawned through the PTY
//! keeper (so it outlives this process), or adopted from the keeper after the process that
//! spawned it died or handed it over. And how a kept session is handed back.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use crate::child::{self, Program};
use crate::config::{SessionConfig, ShellKind, agent_env_defaults};
use crate::error::{PtyError, Result};
use crate::keeper::{Keeper, KeptSession};
use crate::kept::{self, KeptIo, Meta, ReadPosition};
use crate::marks::MarkParser;
use crate::scrollback::Scrollback;
use crate::session::{ExitInfo, Inner, PtySession, Tasks, lock, publish_exit, reap};
use crate::shell_rc::RcFiles;
use crate::spawn::{SpawnRequest, Terminal, open_terminal, spawn};
use crate::state::State;
use crate::{nonce, reader, shell_rc};

/// argv, environment and integration files of a session about to start.
struct Launch {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    rc_files: Option<RcFiles>,
    nonce: String,
    shell: Option<ShellKind>,
}

fn launch(config: &SessionConfig) -> Result<Launch> {
    if config.program.is_empty() {
        return Err(PtyError::EmptyProgram);
    }
    let nonce = nonce::random_hex(8);
    let shell = config.shell_kind();
    let integration = shell
        .map(|kind| shell_rc::prepare(kind, &nonce, config.user_rc))
        .transpose()?;
    let mut argv = config.program.clone();
    let mut env: Vec<(String, String)> = agent_env_defaults()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut rc_files = None;
    if let Some(integration) = integration {
        argv.extend(integration.extra_args);
        env.extend(integration.env);
        rc_files = Some(integration.files);
    }
    env.extend(config.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(Launch {
        argv,
        env,
        rc_files,
        nonce,
        shell,
    })
}

fn new_state(config: &SessionConfig, rc_files: Option<RcFiles>) -> State {
    let mut state = State::new(
        config.size,
        config.scrollback_limit,
        !config.output_processing,
        rc_files,
    );
    state.next_id = config.first_command_id.max(1);
    state
}

fn register(master: OwnedFd) -> Result<AsyncFd<OwnedFd>> {
    // SAFETY: `OwnedFd` owns a valid open fd and `AsyncFd` owns the `OwnedFd`, so the fd stays
    // open and unchanged until the `AsyncFd` is dropped.
    unsafe { AsyncFd::register_with_interest(master, Interest::READABLE | Interest::WRITABLE) }
        .map_err(|error| PtyError::Io {
            action: "registering the PTY master with the tokio reactor",
            source: error.into(),
        })
}

struct Parts {
    master: AsyncFd<OwnedFd>,
    state: State,
    pid: i32,
    tty_path: PathBuf,
    shell: Option<ShellKind>,
    program: String,
    kept: Option<KeptIo>,
}

/// The session's shared core; a shell with integration also gets its input-wait monitor.
fn inner(parts: Parts) -> Arc<Inner> {
    let (progress, _) = watch::channel(parts.state.progress());
    let (steps, _) = watch::channel(parts.state.progress());
    let (exit, _) = watch::channel(None);
    let inner = Arc::new(Inner {
        master: parts.master,
        state: Mutex::new(parts.state),
        progress,
        steps,
        exit,
        awaiting: watch::channel(None).0,
        input_written: watch::channel(0).0,
        exec_lock: tokio::sync::Mutex::new(()),
        write_lock: tokio::sync::Mutex::new(()),
        pid: parts.pid,
        tty_path: parts.tty_path,
        shell: parts.shell,
        program: parts.program,
        kept: parts.kept,
        holds: Default::default(),
    });
    if inner.shell.is_some() {
        crate::monitor::start(&inner);
    }
    inner
}

impl PtySession {
    /// Start `config.program` on a new PTY. Must be called inside a tokio runtime. Returns as soon
    /// as the process is started; [`PtySession::exec`] waits for the first prompt by itself.
    pub async fn spawn(config: SessionConfig) -> Result<Self> {
        let launch = launch(&config)?;
        let spawned = spawn(SpawnRequest {
            argv: &launch.argv,
            cwd: config.cwd.as_deref(),
            env: launch.env,
            size: config.size,
            output_processing: config.output_processing,
        })?;
        let inner = inner(Parts {
            master: register(spawned.master)?,
            state: new_state(&config, launch.rc_files),
            pid: spawned.pid,
            tty_path: spawned.tty_path,
            shell: launch.shell,
            program: config.program[0].clone(),
            kept: None,
        });
        tokio::spawn(reap(spawned.child, Arc::clone(&inner)));
        let reader = tokio::spawn(reader::run(
            Arc::clone(&inner),
            MarkParser::new(&launch.nonce),
            ReadPosition::default(),
        ));
        tracing::debug!(pid = inner.pid, program = %config.program[0], shell = ?launch.shell, "session spawned");
        Ok(Self {
            inner,
            tasks: Mutex::new(Tasks {
                reader: Some(reader),
                ..Tasks::default()
            }),
            config,
        })
    }

    /// Like [`PtySession::spawn`], but the terminal and the program belong to `keeper`: they
    /// outlive this process, and a later one continues the session with
    /// [`PtySession::adopt`] (output, marks, command ids and the running command carry over
    /// exactly). `tag` (at most 16 KB) is handed back with the session by [`Keeper::sessions`].
    pub async fn spawn_kept(config: SessionConfig, keeper: &Keeper, tag: &[u8]) -> Result<Self> {
        let launch = launch(&config)?;
        let Terminal {
            master,
            slave,
            tty_path,
        } = open_terminal(config.size, config.output_processing)?;
        let meta = Meta {
            config: config.clone(),
            nonce: launch.nonce.clone(),
            tty_path: tty_path.clone(),
            shell: launch.shell,
            rc: launch
                .rc_files
                .as_ref()
                .map(|rc| (rc.parts().0.to_owned(), rc.parts().1)),
        };
        let (area, memfd) = kept::new_area(&meta, tag)?;
        area.set_size(config.size.cols, config.size.rows);
        let (pipe_r, pipe_w) = kept::output_pipe()?;
        let program = Program::prepare(&child::Request {
            argv: &launch.argv,
            cwd: config.cwd.as_deref(),
            env: &launch.env,
            tty: &tty_path,
        })
        .map_err(|source| PtyError::Spawn {
            program: config.program[0].clone(),
            source,
        })?;
        let (session, pid) = keeper
            .spawn(
                &program,
                [
                    master.as_fd(),
                    memfd.as_fd(),
                    pipe_r.as_fd(),
                    pipe_w.as_fd(),
                ],
            )
            .await?;
        // The program has its own slave now (posix_spawn returns after its exec).
        drop(slave);
        drop(memfd);
        let area = Arc::new(area);
        let mut state = new_state(&config, launch.rc_files);
        state.scrollback = Scrollback::shared(Arc::clone(&area), 0, 0);
        let kept = KeptIo::new(keeper.clone(), session, area, pipe_r, pipe_w);
        kept.commit(&state, Some(0));
        let inner = inner(Parts {
            master: register(master)?,
            state,
            pid,
            tty_path,
            shell: launch.shell,
            program: config.program[0].clone(),
            kept: Some(kept),
        });
        let reader = tokio::spawn(reader::run(
            Arc::clone(&inner),
            MarkParser::new(&launch.nonce),
            ReadPosition::default(),
        ));
        let exit = tokio::spawn(watch_kept_exit(
            Arc::clone(&inner),
            keeper.exits(session),
            keeper.connection(),
        ));
        tracing::debug!(pid, session, program = %config.program[0], "kept session spawned");
        Ok(Self {
            inner,
            tasks: Mutex::new(Tasks {
                reader: Some(reader),
                exit: Some(exit),
                released: false,
            }),
            config,
        })
    }

    /// Continue a session `keeper` holds (from [`Keeper::sessions`]): its scrollback, command
    /// history, running command, shell phase and ids as of the last commit, then everything
    /// its program wrote since (parsed now, so a command that ended meanwhile has its exact
    /// exit code). If the program ended while no process was attached, the session comes back
    /// exited, with its status.
    pub async fn adopt(keeper: &Keeper, listed: KeptSession) -> Result<Self> {
        let exited = listed.exit_info();
        let session = listed.keeper_id();
        let kept::Adopted {
            master,
            meta,
            mut state,
            mut parser,
            kept,
            mut position,
            pid,
            replay,
        } = kept::adopt(keeper.clone(), listed)?;
        let mut pieces = Vec::new();
        parser.feed(&replay, &mut pieces);
        position.parsed_to = position.raw_end - parser.held_back() as u64;
        reader::apply_pieces(&mut state, Some(&kept), &mut pieces, position.parsed_to);
        drop(state.rc_files_done.take());
        let mut config = meta.config;
        config.size = state.screen.size();
        let program = config.program.first().cloned().unwrap_or_default();
        let inner = inner(Parts {
            master: register(master)?,
            state,
            pid,
            tty_path: meta.tty_path,
            shell: meta.shell,
            program,
            kept: Some(kept),
        });
        let exit = match exited {
            Some(info) => {
                publish_exit(&inner, info);
                None
            }
            None => Some(tokio::spawn(watch_kept_exit(
                Arc::clone(&inner),
                keeper.exits(session),
                keeper.connection(),
            ))),
        };
        let reader = tokio::spawn(reader::run(Arc::clone(&inner), parser, position));
        tracing::debug!(
            pid,
            session,
            replayed = replay.len(),
            "kept session adopted"
        );
        Ok(Self {
            inner,
            tasks: Mutex::new(Tasks {
                reader: Some(reader),
                exit,
                released: false,
            }),
            config,
        })
    }

    /// Stop driving a kept session and leave it to its keeper, running: its program gets no
    /// signal, and whatever it writes waits in the kernel for the next [`PtySession::adopt`].
    /// Returns once this process no longer reads it; dropping the session afterwards kills
    /// nothing. A session spawned directly has no keeper to go to: it is killed.
    pub async fn release(&self) {
        if self.inner.kept.is_none() {
            self.kill().await;
            return;
        }
        let (reader, exit) = {
            let mut tasks = lock(&self.tasks);
            tasks.released = true;
            (tasks.reader.take(), tasks.exit.take())
        };
        if let Some(exit) = exit {
            exit.abort();
        }
        if let Some(reader) = reader {
            reader.abort();
            let _ = reader.await;
        }
    }

    /// The keeper's id for this session, if it is kept.
    pub fn keeper_id(&self) -> Option<u64> {
        self.inner.kept.as_ref().map(|k| k.session)
    }

    /// Whether the terminal belongs to a PTY keeper (so the session can outlive this process).
    pub fn is_kept(&self) -> bool {
        self.inner.kept.is_some()
    }
}

/// A kept session's program is the keeper's child: its status comes as a keeper event. If the
/// keeper is gone, nobody can reap it for us; the end shows as the output closing.
async fn watch_kept_exit(
    inner: Arc<Inner>,
    mut exits: watch::Receiver<Option<ExitInfo>>,
    mut connected: watch::Receiver<bool>,
) {
    let info = loop {
        let known = *exits.borrow_and_update();
        if let Some(info) = known {
            break info;
        }
        let keeper_lost = tokio::select! {
            changed = exits.changed() => {
                if changed.is_err() {
                    // Forgotten: the session is being dropped.
                    return;
                }
                false
            }
            lost = connected.wait_for(|up| !*up) => {
                drop(lost);
                true
            }
        };
        if keeper_lost {
            let mut steps = inner.steps.subscribe();
            let _ = steps.wait_for(|p| p.closed).await;
            break ExitInfo {
                code: None,
                signal: None,
            };
        }
    };
    tracing::debug!(pid = inner.pid, ?info, "kept session's program ended");
    publish_exit(&inner, info);
}
