//! `ai-session tmux ...` and the binary invoked as `tmux`: tmux's commands over the ai-session
//! daemon, so scripts and libraries written for tmux (libtmux and the agent harnesses built on
//! it) run unchanged. See docs/tmux.md.
//!
//! A tmux server is an ai-session daemon (`-L NAME` is the daemon `NAME`, `-S PATH` a daemon
//! named after the path); each pane is one of its sessions, so exit codes, digests, the sandbox
//! and persistence apply to panes. The tmux model (sessions, windows, panes, options,
//! environment, buffers) is `model::Server`, kept by `store` between invocations.

mod adopt;
mod args;
mod capture;
mod commands;
mod config;
mod format;
mod layout;
mod model;
mod options;
mod store;
mod vars;

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use ai_session::Client;
use ai_session::protocol::{NewSessionParams, ResizeParams};
use anyhow::{Context as _, anyhow};

use crate::common::{self, Format, Global};
use model::{Pane, Server};
use vars::Live;

pub use adopt::adopt;

/// The tmux version we answer to `-V` and `#{version}`: the one whose behaviour we follow.
pub const VERSION: &str = "3.3a";

/// Prefix of the daemon sessions that are tmux panes.
const PANE_PREFIX: &str = "tmuxpane-";
/// A sandbox preset (or policy file) for every pane, when no `@ai-policy` option is set.
const POLICY_ENV: &str = "AI_SESSION_TMUX_POLICY";
/// Popups (`display-popup`) and pane pipes (`pipe-pane`) run as sessions of their own.
const POPUP_PREFIX: &str = "tmuxpopup-";
const PIPE_PREFIX: &str = "tmuxpipe-";

/// `ai-session tmux [TMUX ARGS...]`
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Behaves as tmux 3.3a for the commands scripts and libtmux use: sessions, windows and panes
(new-session, new-window, split-window, select-*, kill-*, list-*, resize-pane, swap-*,
move-window, rename-*), formats (-F, display-message -p, every common #{...} variable and
tmux's modifiers), options (set-option/show-options, global and per session/window/pane),
environment (set-environment/show-environment), capture-pane -p -J -e -S -E -N, send-keys
(-l, key names), buffers, wait-for, has-session, kill-server; -V, -L, -S, -f.

Each pane is an ai-session session (`ai-session ls --server <socket name>`), so its commands
have exact exit codes and digests. Formats add #{ai_state} (running, awaiting_input, idle),
#{ai_last_exit}, #{ai_last_command}, #{ai_last_digest}, #{ai_commands}, #{ai_session}.

Linking the binary as `tmux` (ln -s \"$(command -v ai-session)\" ~/bin/tmux) makes unchanged
scripts and libtmux use ai-session. See docs/tmux.md for what differs from tmux.")]
pub struct TmuxArgs {
    /// tmux arguments, exactly as a script passes them to tmux.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "TMUX ARGS"
    )]
    pub args: Vec<String>,
}

/// Runs a tmux command line; errors go to stderr as tmux words them, with exit code 1.
pub fn run(argv: &[String], global: &Global) -> ExitCode {
    if argv.first().map(String::as_str) == Some("__pipe-pane") {
        return match pipe_follow(&argv[1..], global) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    match run_inner(argv, global) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A command failed: tmux prints the message and exits 1.
#[derive(Debug)]
pub struct Failed(pub String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

pub fn fail<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(Failed(message.into()).into())
}

fn run_inner(argv: &[String], global: &Global) -> anyhow::Result<ExitCode> {
    let mut invocation = args::parse(argv)?;
    if invocation.version {
        println!("tmux {VERSION}");
        return Ok(ExitCode::SUCCESS);
    }
    if invocation.commands.is_empty() {
        invocation
            .commands
            .push(args::parse_command("new-session", &[])?);
    }
    let (server_name, socket_path) = server_of(&invocation, global);
    let runtime = common::client_runtime()?;
    runtime.block_on(async {
        let (store, state) = store::Store::open(&server_name)?;
        let mut ctx = Ctx {
            global: Global {
                format: Format::Text,
                json: false,
                server: server_name.clone(),
                agent: global.agent.clone(),
            },
            config: invocation.config.clone(),
            store,
            state,
            client: None,
            live: Live {
                socket_path,
                ..Live::default()
            },
            out: std::io::stdout().lock(),
            attach: None,
            control: invocation.control,
            control_client: None,
        };
        let result = ctx.run_all(invocation.commands).await;
        let finished = ctx.finish().await;
        let attach = ctx.attach.take();
        let control = ctx.control_client.take();
        drop(ctx);
        result?;
        finished?;
        if let Some((session, name)) = control {
            control_client(&server_name, session, &name).await?;
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(session) = attach {
            let args = crate::attach::AttachArgs { session };
            return crate::attach::run(args, global);
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The daemon name and the socket path tmux would use for this invocation.
fn server_of(inv: &args::Invocation, global: &Global) -> (String, String) {
    let tmpdir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    if let Some(path) = &inv.socket_path {
        return (format!("tmux-S-{:016x}", fnv(path)), path.clone());
    }
    let name = inv.socket_name.clone().unwrap_or_else(|| {
        // Inside one of our panes, $TMUX names the server.
        std::env::var("TMUX")
            .ok()
            .and_then(|t| t.split(',').next().map(str::to_owned))
            .and_then(|p| p.rsplit('/').next().map(str::to_owned))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| global.server.clone())
    });
    let socket = format!("{tmpdir}/tmux-{uid}/{name}");
    let daemon = if ai_session::validate_server_name(&name).is_ok() {
        name
    } else {
        format!("tmux-L-{:016x}", fnv(&name))
    };
    (daemon, socket)
}

/// FNV-1a: a stable short name for a socket path.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One invocation: the locked model, the daemon connection, what it learned about the panes.
pub struct Ctx {
    global: Global,
    config: Option<String>,
    store: store::Store,
    state: Option<Server>,
    client: Option<Client>,
    live: Live,
    out: std::io::StdoutLock<'static>,
    /// A daemon session to attach to once the model is saved (new-session/attach in a terminal).
    attach: Option<String>,
    /// `-C`: attaching registers a control-mode client instead of taking the terminal.
    control: bool,
    /// The control client this invocation registered: (session id, client name).
    control_client: Option<(u32, String)>,
}

/// How a pane is started.
#[derive(Debug, Default, Clone)]
pub struct Spawn {
    pub cwd: Option<String>,
    /// A shell command (run with `default-shell -c`), or an argv when several words were given.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
}

impl Ctx {
    async fn run_all(&mut self, commands: Vec<args::Command>) -> anyhow::Result<()> {
        if self.state.is_some() {
            self.connect().await?;
            self.reconcile().await?;
        }
        for command in commands {
            self.execute(command).await?;
        }
        Ok(())
    }

    pub fn println(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{line}")?;
        Ok(())
    }

    /// The model, or tmux's "no server running" error.
    pub fn server(&mut self) -> anyhow::Result<&mut Server> {
        if self.state.is_none() {
            let path = self.live.socket_path.clone();
            return fail(format!("no server running on {path}"));
        }
        Ok(self.state.as_mut().expect("checked above"))
    }

    async fn connect(&mut self) -> anyhow::Result<&mut Client> {
        if self.client.is_none() {
            let client = common::connect(&self.global).await?;
            self.live.daemon_pid = client.hello().await?.pid;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    pub async fn client(&mut self) -> anyhow::Result<&mut Client> {
        self.connect().await
    }

    /// Starts the server if it is not running: a fresh model, the config file, the daemon.
    pub async fn ensure_server(&mut self) -> anyhow::Result<()> {
        if self.state.is_some() {
            return Ok(());
        }
        let mut server = Server {
            started_at: model::now(),
            ..Server::default()
        };
        for (key, value) in std::env::vars() {
            if key != "TMUX" && key != "TMUX_PANE" {
                server.environment.insert(key, Some(value));
            }
        }
        self.state = Some(server);
        self.connect().await?;
        // Panes of an earlier server on this daemon (restored by its store) are not ours.
        let stale: Vec<String> = self
            .client()
            .await?
            .list_sessions()
            .await?
            .sessions
            .into_iter()
            .filter(|s| {
                [PANE_PREFIX, POPUP_PREFIX, PIPE_PREFIX]
                    .iter()
                    .any(|p| s.id.starts_with(p))
            })
            .map(|s| s.id)
            .collect();
        for id in stale {
            let _ = self.client().await?.kill_session(&id).await;
        }
        let config = match &self.config {
            Some(path) => Some(std::path::PathBuf::from(path)),
            None => std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".tmux.conf"))
                .filter(|p| p.exists()),
        };
        if let Some(path) = config
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            self.server()?.config_files.push(path.display().to_string());
            self.source_text(&text).await;
        }
        Ok(())
    }

    /// Runs config-file text; errors are kept as messages, like tmux's.
    pub async fn source_text(&mut self, text: &str) {
        for line in config::lines(text) {
            let words = match config::split_words(&line) {
                Ok(words) => words,
                Err(e) => {
                    if let Some(s) = self.state.as_mut() {
                        s.messages.push(e);
                    }
                    continue;
                }
            };
            let parsed = args::parse(&words);
            let commands = match parsed {
                Ok(inv) => inv.commands,
                Err(e) => {
                    if let Some(s) = self.state.as_mut() {
                        s.messages.push(e.0);
                    }
                    continue;
                }
            };
            for command in commands {
                if let Err(e) = Box::pin(self.execute(command)).await
                    && let Some(s) = self.state.as_mut()
                {
                    s.messages.push(format!("{e:#}"));
                }
            }
        }
    }

    /// Brings the model in line with the daemon: a pane whose program ended is closed (or kept
    /// dead with `remain-on-exit`), closing its window and session when they become empty.
    async fn reconcile(&mut self) -> anyhow::Result<()> {
        self.server()?.drop_dead_clients();
        let sessions = self.client().await?.list_sessions().await?.sessions;
        self.live.infos = sessions.into_iter().map(|s| (s.id.clone(), s)).collect();
        // Popups and pipes are sessions of their own; they go when their program ends.
        let finished: Vec<String> = self
            .live
            .infos
            .values()
            .filter(|i| {
                !i.alive && (i.id.starts_with(POPUP_PREFIX) || i.id.starts_with(PIPE_PREFIX))
            })
            .map(|i| i.id.clone())
            .collect();
        for id in finished {
            let _ = self.client().await?.kill_session(&id).await;
            self.live.infos.remove(&id);
        }
        let server = self.state.as_ref().expect("reconcile runs with a model");
        let ended: Vec<(u32, String)> = server
            .panes
            .values()
            .filter(|p| p.dead.is_none())
            .filter(|p| self.live.infos.get(&p.daemon).is_none_or(|i| !i.alive))
            .map(|p| (p.id, p.daemon.clone()))
            .collect();
        for (pane, daemon) in ended {
            let remain = self.server()?.pane_option(pane, "remain-on-exit");
            if remain.as_deref() == Some("on") {
                if let Some(p) = self.server()?.panes.get_mut(&pane) {
                    p.dead = Some(0);
                }
                continue;
            }
            if self.live.infos.contains_key(&daemon) {
                let _ = self.client().await?.kill_session(&daemon).await;
                self.live.infos.remove(&daemon);
            }
            self.close_pane(pane).await?;
        }
        Ok(())
    }

    /// Removes a pane from the model (its daemon session already ended or killed), and its
    /// window and sessions if they became empty.
    pub async fn close_pane(&mut self, pane: u32) -> anyhow::Result<()> {
        let server = self.server()?;
        let window = server.panes.get(&pane).map(|p| p.window);
        if let Some(emptied) = server.remove_pane(pane) {
            let sessions = server.remove_window(emptied);
            for session in sessions {
                server.remove_session(session);
            }
        } else if let Some(window) = window {
            self.apply_sizes(window).await?;
        }
        Ok(())
    }

    /// Kills a pane's daemon session and closes it in the model.
    pub async fn kill_pane(&mut self, pane: u32) -> anyhow::Result<()> {
        let Some(daemon) = self.server()?.panes.get(&pane).map(|p| p.daemon.clone()) else {
            return Ok(());
        };
        if self.live.infos.remove(&daemon).is_some() {
            let _ = self.client().await?.kill_session(&daemon).await;
        }
        self.close_pane(pane).await
    }

    /// Kills every pane of a window (and drops the window from all sessions).
    pub async fn kill_window(&mut self, window: u32) -> anyhow::Result<()> {
        let panes = self
            .server()?
            .windows
            .get(&window)
            .map(|w| w.panes.clone())
            .unwrap_or_default();
        for pane in panes {
            self.kill_pane(pane).await?;
        }
        Ok(())
    }

    /// Starts a pane's program in a new daemon session sized to its place in the layout.
    pub async fn spawn_pane(
        &mut self,
        pane: u32,
        session: u32,
        spawn: &Spawn,
    ) -> anyhow::Result<()> {
        let server = self.server()?;
        let p = server.panes.get(&pane).context("pane to spawn")?;
        let w = server
            .windows
            .get(&p.window)
            .context("window of the pane")?;
        let geometry = w.layout.geometry(pane).unwrap_or(layout::Geometry {
            sx: w.sx,
            sy: w.sy,
            xoff: 0,
            yoff: 0,
        });
        let mut spawn = spawn.clone();
        spawn.env.insert("TMUX_PANE".into(), format!("%{pane}"));
        let (cols, rows) = (
            geometry.sx.clamp(1, 1000) as u16,
            geometry.sy.clamp(1, 1000) as u16,
        );
        self.spawn_process(&format!("{PANE_PREFIX}{pane}"), session, &spawn, cols, rows)
            .await
    }

    /// Starts a program (a pane's, a popup's) as daemon session `name`, the way tmux starts a
    /// pane: `default-shell -c COMMAND`, or the shell itself, with the session's environment.
    pub async fn spawn_process(
        &mut self,
        name: &str,
        session: u32,
        spawn: &Spawn,
        cols: u16,
        rows: u16,
    ) -> anyhow::Result<()> {
        let server = self.server()?;
        let mut env = server.environment_for(session);
        let session_id = server.sessions.get(&session).map_or(0, |s| s.id);
        let socket = self.live.socket_path.clone();
        let pid = self.live.daemon_pid;
        env.insert("TMUX".into(), format!("{socket},{pid},{session_id}"));
        env.extend(spawn.env.clone());
        let server = self.server()?;
        let default_command = server
            .session_option(session, "default-command")
            .filter(|c| !c.is_empty());
        let default_shell = server
            .session_option(session, "default-shell")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        let command: Vec<String> = if spawn.command.is_empty() {
            default_command.map(|c| vec![c]).unwrap_or_default()
        } else {
            spawn.command.clone()
        };
        let (shell, launcher) = match command.as_slice() {
            [] => (default_shell, Vec::new()),
            // A bare shell name runs as the session's shell, with ai-session's integration.
            [one] if is_plain_shell(one) => (one.clone(), Vec::new()),
            [one] => (
                "ai-session-tmux-pane".to_owned(),
                vec![default_shell, "-c".to_owned(), one.clone()],
            ),
            argv => {
                let mut launcher = argv.to_vec();
                let last = launcher.pop().unwrap_or_default();
                (last, launcher)
            }
        };
        // Like tmux, a directory that does not exist falls back to the home directory.
        let cwd = spawn
            .cwd
            .clone()
            .filter(|d| std::path::Path::new(d).is_dir())
            .or_else(|| {
                std::env::var("HOME")
                    .ok()
                    .filter(|h| std::path::Path::new(h).is_dir())
            })
            .or_else(|| Some("/".to_owned()));
        // `set -g @ai-policy workspace` (or AI_SESSION_TMUX_POLICY) runs panes in the sandbox.
        // The pipe-pane follower talks to the daemon, so it never runs in the sandbox.
        let policy = self
            .server()?
            .session_option(session, "@ai-policy")
            .or_else(|| std::env::var(POLICY_ENV).ok())
            .filter(|p| !p.is_empty() && !name.starts_with(PIPE_PREFIX));
        // Labels say which tmux object a daemon session is (`ai-session ls` shows them).
        let labels = BTreeMap::from([
            ("tmux.server".to_owned(), self.global.server.clone()),
            ("tmux.pane".to_owned(), name.to_owned()),
        ]);
        let params = NewSessionParams {
            name: Some(name.to_owned()),
            cwd: cwd.clone(),
            shell: Some(shell),
            env,
            cols: Some(cols),
            rows: Some(rows),
            workspace: policy.as_ref().and(cwd.clone()),
            policy,
            launcher,
            labels,
            ..NewSessionParams::default()
        };
        let info = match self.client().await?.new_session(&params).await {
            Ok(info) => info,
            Err(e) => return fail(format!("create pane failed: {e}")),
        };
        self.live.infos.insert(info.id.clone(), info);
        Ok(())
    }

    /// Resizes each pane's terminal in `window` to its cell in the layout.
    pub async fn apply_sizes(&mut self, window: u32) -> anyhow::Result<()> {
        let server = self.server()?;
        let Some(w) = server.windows.get(&window) else {
            return Ok(());
        };
        let layout = w.zoomed.as_ref().map_or(&w.layout, |_| &w.layout).clone();
        let panes: Vec<(String, layout::Geometry)> = w
            .panes
            .iter()
            .filter_map(|p| {
                let daemon = server.panes.get(p)?.daemon.clone();
                Some((daemon, layout.geometry(*p)?))
            })
            .collect();
        for (daemon, g) in panes {
            let (cols, rows) = (g.sx.clamp(1, 1000) as u16, g.sy.clamp(1, 1000) as u16);
            let same = self
                .live
                .infos
                .get(&daemon)
                .is_some_and(|i| i.cols == cols && i.rows == rows);
            if same || !self.live.infos.get(&daemon).is_some_and(|i| i.alive) {
                continue;
            }
            let params = ResizeParams {
                session: daemon.clone(),
                cols,
                rows,
            };
            self.client().await?.resize(&params).await?;
            if let Some(info) = self.live.infos.get_mut(&daemon) {
                info.cols = cols;
                info.rows = rows;
            }
        }
        Ok(())
    }

    /// Saves the model, or stops the server when it has no session left.
    async fn finish(&mut self) -> anyhow::Result<()> {
        let Some(server) = &self.state else {
            return Ok(());
        };
        if !server.sessions.is_empty() {
            return self.store.save(server);
        }
        let mut daemons = server.daemon_sessions();
        daemons.extend(
            self.live
                .infos
                .keys()
                .filter(|id| id.starts_with(POPUP_PREFIX) || id.starts_with(PIPE_PREFIX))
                .cloned(),
        );
        if let Some(client) = self.client.as_mut() {
            for daemon in daemons {
                let _ = client.kill_session(&daemon).await;
            }
            // The daemon goes with the tmux server unless it also runs other sessions.
            let others = client.list_sessions().await?.sessions;
            if others.is_empty() {
                let _ = client.shutdown_server().await;
            }
        }
        self.state = None;
        self.store.remove()
    }

    /// Attaches the terminal to a pane once the invocation is done (tmux attach); in control
    /// mode, registers this process as a client of `session` instead.
    pub fn attach_later(&mut self, daemon: String, session: u32) -> anyhow::Result<()> {
        if self.control {
            let pid = std::process::id();
            let name = format!("client-{pid}");
            let server = self.server()?;
            server.clients.retain(|c| c.pid != pid);
            server.clients.push(model::Client {
                name: name.clone(),
                pid,
                session,
                created: model::now(),
                flags: "attached,control-mode,UTF-8".into(),
            });
            self.control_client = Some((session, name));
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return fail("open terminal failed: not a terminal");
        }
        self.attach = Some(daemon);
        Ok(())
    }

    pub fn pane(&mut self, pane: u32) -> anyhow::Result<&mut Pane> {
        self.server()?
            .panes
            .get_mut(&pane)
            .ok_or_else(|| anyhow!("can't find pane: %{pane}"))
    }
}

/// `tmux __pipe-pane SERVER SESSION OFFSET`: writes a pane's output from OFFSET to stdout as
/// it arrives, until the pane's session ends, the reader goes away, or a line (or EOF) on stdin
/// asks it to stop (the `pipe-pane` helper). On a stop it first writes everything the pane has
/// printed so far, so stopping a pipe loses nothing already on the pane.
fn pipe_follow(argv: &[String], global: &Global) -> anyhow::Result<()> {
    use ai_session::protocol::ReadParams;
    let [server, session, offset] = argv else {
        anyhow::bail!("usage: tmux __pipe-pane SERVER SESSION OFFSET");
    };
    let mut offset: u64 = offset.parse()?;
    let global = Global {
        format: Format::Text,
        json: false,
        server: server.clone(),
        agent: global.agent.clone(),
    };
    let runtime = common::client_runtime()?;
    runtime.block_on(async {
        let client = common::connect_existing(&global)
            .await?
            .context("the tmux server is not running")?;
        let mut out = std::io::stdout().lock();
        // stdin is the pipe's own terminal: `pipe-pane` stops the follower by typing a line.
        let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            stop_tx.send_replace(true);
        });
        // Where the pane's output ended when the stop came: written up to there, then done.
        let mut stop_at: Option<u64> = None;
        loop {
            if stop_at.is_none() && *stop.borrow_and_update() {
                stop_at = Some(live_output_end(&client, session).await?.unwrap_or(offset));
            }
            if stop_at.is_some_and(|end| offset >= end) {
                return Ok(());
            }
            let read = client
                .read(&ReadParams {
                    session: session.clone(),
                    since: offset,
                    max_bytes: Some(1 << 20),
                    raw: true,
                    // tmux never drops what a pane printed before its pipe took it: the pane
                    // waits for this follower rather than its ring overrunning it.
                    hold: true,
                })
                .await?;
            if let Some(data) = &read.data_base64 {
                use base64::Engine as _;
                let mut bytes = base64::engine::general_purpose::STANDARD.decode(data)?;
                if let Some(end) = stop_at {
                    bytes.truncate(
                        usize::try_from(end.saturating_sub(read.start)).unwrap_or(usize::MAX),
                    );
                }
                out.write_all(&bytes)?;
                out.flush()?;
            }
            let moved = read.next_offset != offset;
            offset = read.next_offset;
            if !moved {
                // Nothing new: stop once the pane's session is gone, else look again shortly.
                if stop_at.is_some() || live_output_end(&client, session).await?.is_none() {
                    return Ok(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    })
}

/// The end of a live session's output; `None` once it is gone.
async fn live_output_end(
    client: &ai_session::Client,
    session: &str,
) -> anyhow::Result<Option<u64>> {
    Ok(client
        .list_sessions()
        .await?
        .sessions
        .into_iter()
        .find(|s| s.id == session && s.alive)
        .map(|s| s.output_offset))
}

/// A control-mode client (`tmux -C attach`): announces itself, then stays attached until its
/// input closes, it is terminated, or `detach-client` removes it; then it unregisters.
async fn control_client(server_name: &str, session: u32, name: &str) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut stdout = tokio::io::stdout();
    let stamp = model::now();
    stdout
        .write_all(
            format!(
                "%begin {stamp} 1 0\n%end {stamp} 1 0\n%session-changed ${session} {session}\n"
            )
            .as_bytes(),
        )
        .await?;
    stdout.flush().await?;
    // stdin is read on its own thread: EOF means the controlling program went away.
    let (eof_tx, mut eof_rx) = tokio::sync::mpsc::channel::<()>(1);
    std::thread::spawn(move || {
        let mut sink = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while std::io::Read::read(&mut stdin, &mut sink).is_ok_and(|n| n > 0) {}
        let _ = eof_tx.blocking_send(());
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let pid = std::process::id();
    let detached = loop {
        tokio::select! {
            _ = eof_rx.recv() => break false,
            _ = term.recv() => break false,
            _ = hup.recv() => break false,
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                if !store::Store::peek(server_name).is_some_and(|s| s.clients.iter().any(|c| c.pid == pid)) {
                    break true;
                }
            }
        }
    };
    if detached {
        let _ = stdout.write_all(b"%exit\n").await;
    }
    let (store, state) = store::Store::open(server_name)?;
    if let Some(mut state) = state {
        state.clients.retain(|c| c.pid != pid || c.name != name);
        store.save(&state)?;
    }
    let _ = stdout.flush().await;
    // The stdin thread may still block in read: end the process rather than wait for it.
    std::process::exit(0);
}

/// A command that is just a shell: started as the pane's shell with ai-session's integration.
fn is_plain_shell(command: &str) -> bool {
    let base = command.rsplit('/').next().unwrap_or(command);
    matches!(base, "bash" | "sh" | "zsh" | "dash") && !command.contains(char::is_whitespace)
}
