//! Daemon commands: `server`, `status`, `kill-server`.

use std::process::ExitCode;

use ai_session::integration::SessionHooks;
use ai_session::persistence::{self, Durability, Persistence};
use ai_session::{Home, ManagerConfig, Server, ServerOptions, SessionManager};
use anyhow::Context as _;

use crate::common::{self, Global, exit};

/// Run the daemon in the foreground. It owns all sessions and listens on
/// `$AI_SESSION_HOME/run/<NAME>.sock` (directory 0700, socket 0600); connections from another
/// uid are refused. Clients start it automatically, so running it by hand is only needed for
/// debugging. SIGINT/SIGTERM stop it (every session is killed).
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session server                        foreground, logs on stderr
  AI_SESSION_LOG=debug ai-session server --name test")]
pub struct ServerArgs {
    /// Server name (default: --server, i.e. `default`).
    #[arg(long)]
    pub name: Option<String>,
    /// Detach from the terminal (own session); used by auto-start, whose stdio goes to
    /// `$AI_SESSION_HOME/log/<NAME>.log`.
    #[arg(long, hide = true)]
    pub daemonize: bool,
    /// Refuse to create more sessions than this (a `ResourceExhausted` error, code -32007).
    #[arg(long, env = "AI_SESSION_MAX_SESSIONS", default_value_t = ManagerConfig::default().max_sessions)]
    pub max_sessions: usize,
    /// Write an asciicast v2 recording (`DIR/<session>.cast`) of every session that ends
    /// (killed, or its exited shell replaced by `exec`), through the integrations'
    /// `on_session_terminated` hook. Off by default.
    #[arg(long, env = "AI_SESSION_RECORD_DIR", value_name = "DIR")]
    pub record_dir: Option<std::path::PathBuf>,
    /// Replace the running daemon with this binary without losing a session: a new daemon
    /// starts, the old one hands every session (its shell and running commands) over through
    /// the PTY keeper and exits; clients reconnect. Returns once the new daemon answers.
    #[arg(long)]
    pub upgrade: bool,
    /// Wait for the running daemon to hand over instead of failing (what `--upgrade` starts).
    #[arg(long, hide = true)]
    pub takeover: bool,
}

/// Stop the daemon: every session is killed and its processes reaped. Succeeds (exit 0) when no
/// daemon is running.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Example:\n  ai-session kill-server")]
pub struct KillServerArgs {}

/// Show whether the daemon runs (never starts it): pid, protocol version, capabilities and the
/// number of sessions. Exit code 3 when it is not running.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Example:\n  ai-session status --format json")]
pub struct StatusArgs {}

/// Runs `server`.
pub fn run(args: ServerArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let name = args.name.clone().unwrap_or_else(|| global.server.clone());
    if args.upgrade {
        return upgrade(&name, global);
    }
    init_logging();
    if args.daemonize {
        // Leave the client's session and process group, so its terminal's hangup or Ctrl-C
        // never reaches the daemon. Fails only if we already lead a group: fine either way.
        let _ = nix::unistd::setsid();
    }
    ai_session::raise_fd_limit();
    let home = Home::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ai-session-daemon")
        .build()?;
    let persistence = match Durability::from_env() {
        None => None,
        Some(durability) => {
            let store = persistence::open_store(home.root(), &name).context(
                "cannot open the session store (set AI_SESSION_DURABILITY=off to run without it)",
            )?;
            Some(Persistence::start(store, durability)?)
        }
    };
    // With a key, the audit log is sealed under a key of its own derived from the data key.
    let audit_key = match &persistence {
        Some(persistence) => persistence::store_audit_key(persistence.store()),
        None => persistence::audit_key(home.root(), true)
            .context("the audit log must be sealed with the store's key")?,
    };
    let hooks = match &args.record_dir {
        None => None,
        Some(dir) => {
            let dir = std::path::absolute(dir)?;
            let hooks = SessionHooks::new()
                .record_to(&dir)
                .with_context(|| format!("--record-dir {}", dir.display()))?;
            Some(hooks)
        }
    };
    runtime.block_on(async {
        let keeper = connect_keeper(&home, &name).await;
        let manager = SessionManager::with_persistence(
            ManagerConfig {
                max_sessions: args.max_sessions,
                keeper,
                ..ManagerConfig::default()
            },
            persistence,
        );
        if let Some(hooks) = hooks {
            manager.set_hooks(hooks);
        }
        // Bind first: only the daemon holding the name restarts its stored sessions. A
        // takeover waits for the daemon it replaces to hand over and exit.
        let mut options = ServerOptions::new(home, name);
        options.audit_key = audit_key;
        let server = if args.takeover {
            Server::bind_after_handover(options, manager.clone(), ai_session::TAKEOVER_WAIT).await?
        } else {
            Server::bind(options, manager.clone())?
        };
        let restored = manager.restore().await;
        tracing::info!(restored, "stored sessions restarted");
        let handle = server.shutdown_handle();
        let signals = tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            let mut usr2 = signal(SignalKind::user_defined2()).ok();
            let handover = async {
                match &mut usr2 {
                    Some(usr2) => {
                        usr2.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term.recv() => tracing::info!(signal = "TERM", "stopping"),
                _ = int.recv() => tracing::info!(signal = "INT", "stopping"),
                _ = handover => {
                    // `server --upgrade`: a successor waits for our sessions.
                    tracing::info!(signal = "USR2", "handing over");
                    handle.handover();
                    return;
                }
            }
            handle.shutdown();
        });
        let outcome = server.run().await;
        signals.abort();
        outcome
    })?;
    Ok(ExitCode::from(exit::OK))
}

/// The PTY keeper of daemon `name`, started if none runs, so the sessions' shells outlive
/// this daemon; `None` (shells end with the daemon) with `AI_SESSION_KEEPER=off` or if it
/// cannot be started.
async fn connect_keeper(home: &Home, name: &str) -> Option<ai_session::Keeper> {
    if !ai_session::keeper_wanted() {
        return None;
    }
    let started = match std::env::current_exe() {
        Ok(exe) => ai_session::connect_keeper(home, name, &exe).await,
        Err(error) => Err(ai_session::Error::io(
            "find this executable to start the PTY keeper",
            std::path::Path::new("/proc/self/exe"),
            error,
        )),
    };
    started
        .inspect_err(|error| {
            tracing::error!(%error, "no PTY keeper: sessions will not survive the daemon");
        })
        .ok()
}

/// `server --upgrade`: this binary takes over from the running daemon.
fn upgrade(name: &str, global: &Global) -> anyhow::Result<ExitCode> {
    let home = Home::from_env()?;
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let upgraded =
        common::client_runtime()?.block_on(ai_session::upgrade_daemon(&home, name, &exe))?;
    let ai_session::Upgraded {
        old_pid,
        pid,
        sessions,
    } = upgraded;
    if global.json() {
        common::print_json(&serde_json::json!({
            "upgraded": true, "old_pid": old_pid, "pid": pid, "sessions": sessions
        }))?;
    } else {
        match old_pid {
            Some(old) => println!(
                "daemon {name} upgraded: pid {old} -> {pid}, {sessions} session(s) carried over"
            ),
            None => println!("daemon {name} started: pid {pid} (none was running)"),
        }
    }
    Ok(ExitCode::from(exit::OK))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AI_SESSION_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Runs `kill-server`.
pub fn kill_server(_args: KillServerArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let home = Home::from_env()?;
    let stopped = common::client_runtime()?.block_on(async {
        let Some(client) = common::connect_existing(global).await? else {
            return anyhow::Ok(false);
        };
        ai_session::stop_daemon(&client, &home, &global.server).await?;
        anyhow::Ok(true)
    })?;
    if global.json() {
        common::print_json(&serde_json::json!({ "stopped": stopped }))?;
    } else if stopped {
        println!("daemon {} stopped", global.server);
    } else {
        println!("no daemon {} was running", global.server);
    }
    Ok(ExitCode::from(exit::OK))
}

/// Runs `status`.
pub fn status(_args: StatusArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let status = common::client_runtime()?.block_on(async {
        let Some(client) = common::connect_existing(global).await? else {
            return anyhow::Ok(None);
        };
        let hello = client.hello().await?;
        let sessions = client.list_sessions().await?.sessions.len();
        anyhow::Ok(Some((hello, sessions)))
    })?;
    let Some((hello, sessions)) = status else {
        if global.json() {
            common::print_json(&serde_json::json!({ "running": false }))?;
        } else {
            println!("no daemon {} is running", global.server);
        }
        return Ok(ExitCode::from(exit::UNREACHABLE));
    };
    if global.json() {
        common::print_json(&serde_json::json!({
            "running": true, "hello": hello, "sessions": sessions
        }))?;
    } else {
        println!(
            "daemon {} running: pid {}, version {}, protocol {}, {} session(s)\ncapabilities: {}",
            hello.server_name,
            hello.pid,
            hello.server_version,
            hello.protocol_version,
            sessions,
            hello.capabilities.join(" ")
        );
    }
    Ok(ExitCode::from(exit::OK))
}
