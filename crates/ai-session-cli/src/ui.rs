//! `ai-session ui`: the live web dashboard (see `ai_session::ui` and docs/ui.md).

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use ai_session::Home;
use ai_session::ui::{DEFAULT_LISTEN, Dashboard, UiOptions};

use crate::common::{self, Global, exit};

/// Shown at the end of `ai-session ui --help`.
const UI_AFTER_HELP: &str = "\
The first line on stdout is the URL to open, with a fresh random token:
  http://127.0.0.1:PORT/?token=...
The page trades the token for an HttpOnly cookie and drops it from its address; any request
without the token (or `Authorization: Bearer <token>`) gets 401. Anyone who has the URL can
watch every session and type into them: keep it to yourself.

The dashboard is a client of the daemon (started if none runs) in this process: it follows
the daemon's event log, attaches a connection per open terminal and reads the audit log in
$AI_SESSION_HOME/audit. It runs on one thread at nice 10, so a busy machine serves the daemon
and the agents first. Stopping it (Ctrl-C) leaves every session running.

Examples:
  ai-session ui                          loopback, a free port
  ai-session ui --listen 127.0.0.1:8377  a fixed port";

/// Arguments of `ai-session ui`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = UI_AFTER_HELP)]
pub struct UiArgs {
    /// Address to listen on. Loopback by default; another address serves plain HTTP to the
    /// network, token or not, so prefer an SSH tunnel.
    #[arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR:PORT")]
    listen: SocketAddr,
}

/// Runs `ai-session ui` until Ctrl-C or SIGTERM.
pub fn run(args: UiArgs, global: &Global) -> anyhow::Result<ExitCode> {
    init_logging();
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "ai-session ui: warning: listening on {} serves unencrypted HTTP beyond this machine",
            args.listen
        );
    }
    // One thread: the dashboard never takes more than one core from the daemon and the agents.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, global))?;
    Ok(ExitCode::from(exit::OK))
}

async fn serve(args: UiArgs, global: &Global) -> anyhow::Result<()> {
    // Starts the daemon if none runs; the dashboard opens its own connections after this.
    drop(common::connect(global).await?);
    // After the daemon is up, so a daemon this started does not inherit it.
    lower_priority();
    let home = Home::from_env()?;
    let mut options = UiOptions::new(home.socket_path(&global.server), home.root());
    options.listen = args.listen;
    let dashboard = Dashboard::bind(options).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", dashboard.url())?;
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "ai-session ui: open the URL above; Ctrl-C stops the dashboard (sessions keep running)"
    );
    dashboard.run(stop_signal()).await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(terminate) => {
                terminate.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}

/// Niceness the dashboard runs at: when the machine is busy, the daemon and the agents' programs
/// get the CPU first and the page updates a little later.
const NICENESS: i32 = 10;

/// Lowers the priority of the runtime's thread (where all the dashboard's work runs) and of
/// the threads it starts from now on.
fn lower_priority() {
    if let Err(error) = rustix::process::nice(NICENESS) {
        tracing::warn!(%error, "could not lower the dashboard's priority");
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AI_SESSION_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
