//! The `ai-session` command-line tool: argument parsing and rendering over the `ai-session`
//! library. Each command group lives in its own module; this file only dispatches.
#![forbid(unsafe_code)]

mod agents;
mod attach;
mod audit;
mod changes;
mod common;
mod context;
mod coord;
mod events;
mod exec;
mod export;
mod import;
mod io;
mod key;
mod mcp;
mod observe;
mod parse;
mod sandbox;
mod server;
mod session;
mod snapshot;
mod tmux;
mod ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::common::Global;

/// The terminal that AI coding agents deserve: real shell sessions in a daemon, exact command
/// completion and exit codes, incremental output, never hanging on prompts.
///
/// Any command starts the daemon if none is running (like tmux). Sessions live in the daemon;
/// `$AI_SESSION_HOME` (default ~/.ai-session) holds its socket and log.
#[derive(Debug, Parser)]
#[command(
    name = "ai-session",
    version,
    about,
    after_long_help = common::MAIN_AFTER_HELP
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a session and print its id.
    New(session::NewArgs),
    /// Run a command in a session and report its output and exit code.
    Exec(exec::ExecArgs),
    /// Type text or named keys into a session.
    Send(io::SendArgs),
    /// Read a session's output incrementally, or its current screen.
    Read(io::ReadArgs),
    /// Wait until a command finishes, asks for input, prints a line, opens a port, or a session
    /// exits (in one session or any); no polling.
    Wait(events::WaitArgs),
    /// Print the event log as NDJSON; --follow keeps printing.
    Events(events::EventsArgs),
    /// Lasting conditions on a session (regex, port, idle, exit) that produce events.
    Watch(events::WatchArgs),
    /// List the commands a session ran, with exit codes and output ranges.
    History(io::HistoryArgs),
    /// Print a session's agent context packed to a token budget, most relevant first.
    Context(context::ContextArgs),
    /// Create, switch or show a session's task contexts (for `context`).
    CtxTask(context::CtxTaskArgs),
    /// List sessions.
    Ls(session::LsArgs),
    /// Kill a session (its shell and every process in its terminal).
    Kill(session::KillArgs),
    /// Stop the daemon and every session it owns.
    KillServer(server::KillServerArgs),
    /// Attach this terminal to a session interactively (detach with Ctrl-\).
    Attach(attach::AttachArgs),
    /// Show whether the daemon is running, its protocol version and capabilities.
    Status(server::StatusArgs),
    /// Run the daemon in the foreground (clients start it automatically).
    Server(server::ServerArgs),
    /// Manage the key that encrypts stored sessions (init, change-passphrase, status).
    Key(key::KeyArgs),
    /// Record agent decisions and outcomes; success rate and calibration.
    #[command(subcommand)]
    Decision(observe::DecisionCommand),
    /// Snapshot a session's stored state (config, history, scrollback, context).
    Snapshot(snapshot::SnapshotArgs),
    /// List snapshots.
    Snapshots(snapshot::SnapshotsArgs),
    /// Restore a snapshot as a live session.
    Restore(snapshot::RestoreArgs),
    /// The daemon's metrics in Prometheus text format.
    Metrics(observe::MetricsArgs),
    /// Commands, latency and tokens saved per session and agent, as a table.
    Stats(observe::StatsCmdArgs),
    /// Serve the session tools over MCP (Model Context Protocol) on stdio.
    Mcp(mcp::McpArgs),
    /// tmux-compatible commands (new-session, send-keys, capture-pane, ...) for existing scripts.
    Tmux(tmux::TmuxArgs),
    /// Agent permission profiles (grant, revoke, show) and the shared registry (register, ls).
    Agent(coord::AgentArgs),
    /// Take tasks from the shared queue and run each in a fresh session of the daemon.
    Worker(coord::WorkerArgs),
    /// Submit commands to the shared task queue; show, list and wait for tasks.
    Task(coord::TaskArgs),
    /// Run one command inside the sandbox in the foreground (no daemon), like bwrap.
    Sandbox(sandbox::SandboxArgs),
    /// Read and verify the tamper-evident audit log (tail, query, verify).
    Audit(audit::AuditArgs),
    /// Parse a command's output from stdin into facts and a token-budget digest (no daemon).
    Parse(parse::ParseArgs),
    /// Export a session's output with its timing (asciicast v2).
    Export(export::ExportArgs),
    /// Adopt running tmux panes as sessions (scrollback and cwd).
    Import(import::ImportArgs),
    /// Serve the live web dashboard: sessions by agent, terminals with take-over, audit, plots.
    Ui(ui::UiArgs),
    /// Show what a quota session changed in its workspace (added, modified, deleted).
    Changes(changes::ChangesArgs),
    /// Write a quota session's changes into its workspace.
    Apply(changes::ApplyArgs),
}

impl Command {
    fn run(self, global: &Global) -> anyhow::Result<ExitCode> {
        match self {
            Command::New(args) => session::new(args, global),
            Command::Exec(args) => exec::run(args, global),
            Command::Send(args) => io::send(args, global),
            Command::Read(args) => io::read(args, global),
            Command::Wait(args) => events::wait(args, global),
            Command::Events(args) => events::events(args, global),
            Command::Watch(args) => events::watch(args, global),
            Command::History(args) => io::history(args, global),
            Command::Context(args) => context::context(args, global),
            Command::CtxTask(args) => context::ctx_task(args, global),
            Command::Ls(args) => session::ls(args, global),
            Command::Kill(args) => session::kill(args, global),
            Command::KillServer(args) => server::kill_server(args, global),
            Command::Attach(args) => attach::run(args, global),
            Command::Status(args) => server::status(args, global),
            Command::Server(args) => server::run(args, global),
            Command::Key(args) => key::run(args, global),
            Command::Decision(command) => observe::decision(command, global),
            Command::Snapshot(args) => snapshot::snapshot(args, global),
            Command::Snapshots(args) => snapshot::snapshots(args, global),
            Command::Restore(args) => snapshot::restore(args, global),
            Command::Metrics(args) => observe::metrics(args, global),
            Command::Stats(args) => observe::stats(args, global),
            Command::Mcp(args) => mcp::run(args, global),
            Command::Tmux(args) => Ok(tmux::run(&args.args, global)),
            Command::Agent(args) => coord::agent(args, global.json()),
            Command::Worker(args) => coord::worker(args, global),
            Command::Task(args) => match args.command.into_context() {
                Ok(ctx_task) => context::ctx_task(ctx_task, global),
                Err(queue) => coord::task(coord::TaskArgs { command: queue }, global.json()),
            },
            Command::Sandbox(args) => sandbox::run(args, global),
            Command::Audit(args) => audit::run(args, global),
            Command::Parse(args) => parse::run(args, global),
            Command::Export(args) => export::run(args, global),
            Command::Import(args) => import::run(args, global),
            Command::Ui(args) => ui::run(args, global),
            Command::Changes(args) => changes::changes(args, global),
            Command::Apply(args) => changes::apply(args, global),
        }
    }
}

fn main() -> ExitCode {
    // `ai-session __keeper <socket>` (started by the daemon) holds the sessions' terminals and
    // shells so they outlive the daemon; it forks, so it must run before any thread exists.
    if let Some(code) = ai_session::run_keeper_if_asked() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    // `ai-session __sandbox-exec ...` (spawned by the daemon for sandboxed sessions) runs
    // the launcher before anything else, while the process is single-threaded.
    sandbox::intercept_sandbox_exec();
    if invoked_as_tmux() {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let global = Global::from_env();
        return tmux::run(&argv, &global);
    }
    if let Some(code) = sandbox::plain_sandbox() {
        return code;
    }
    let cli = Cli::parse();
    let global = cli.global;
    match cli.command.run(&global) {
        Ok(code) => code,
        Err(error) => common::report_error(&error, &global),
    }
}

/// True when the binary runs under the name `tmux` (a symlink), so tmux scripts run unchanged.
fn invoked_as_tmux() -> bool {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n == "tmux"))
        .unwrap_or(false)
}
