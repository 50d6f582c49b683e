//! What every command shares: global flags, output format, exit codes, connecting to the daemon.

use std::io::Write as _;
use std::process::ExitCode;

use ai_session::output::CiFormat;
use ai_session::{AutoStart, Client, Home};
use serde::Serialize;

/// Exit codes (besides a command's own code from `exec` in text mode).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The daemon answered with an error (no such session, bad parameter, ...).
    pub const FAILURE: u8 = 1;
    /// Wrong command-line usage (clap's own code).
    #[allow(dead_code, reason = "documented here; clap exits with it itself")]
    pub const USAGE: u8 = 2;
    /// The daemon is not running and could not be started, or the connection broke.
    pub const UNREACHABLE: u8 = 3;
    /// `wait` gave up (timeout) or the session exited before the pattern appeared.
    pub const WAIT_FAILED: u8 = 4;
    /// The declared agent (`--agent`) may not do this (its profile in agents.toml).
    pub const PERMISSION_DENIED: u8 = 5;
    /// `exec` (text mode): the command still runs after `--yield` / `--background`.
    pub const EXEC_RUNNING: u8 = 120;
    /// `exec` (text mode): the command is waiting for terminal input.
    pub const EXEC_AWAITING_INPUT: u8 = 121;
    /// `exec` (text mode): the command was interrupted after `--timeout`.
    pub const EXEC_TIMED_OUT: u8 = 124;
}

/// Shown at the end of `ai-session --help`.
pub const MAIN_AFTER_HELP: &str = "\
Examples:
  ai-session exec -- cargo --version          run in session `default` (created on demand)
  ai-session exec --format json -- make test  machine-readable result with exit code and cwd
  ai-session new --name build --cwd ~/src     a second session
  ai-session exec -s build --timeout 60 -- ./long-job.sh
  ai-session exec -s srv --background -- npm run dev   start it, answer at once
  ai-session wait -s srv --port 3000           until it listens (no polling)
  ai-session send -s build --keys C-c         interrupt what runs there
  ai-session read -s build --since 1234       output after offset 1234
  ai-session attach -s build                  watch and type; Ctrl-\\ detaches

Exit codes:
  0    success            1  the daemon reported an error     2  usage error
  3    daemon unreachable 4  wait timed out
  5    permission denied: the --agent's profile does not allow it
  exec in text mode exits with the command's own code; 120 if it still runs
  (--yield, --background), 121 if it is waiting for input, 124 if it timed out
  (see `ai-session exec --help`). `ai-session sandbox` exits 125 when a sandbox
  step failed, 126/127 when the command could not be run or found.

Environment:
  AI_SESSION_HOME    home directory (default ~/.ai-session): run/<server>.sock, log/<server>.log
  AI_SESSION_SERVER  daemon name, same as --server
  AI_SESSION_AGENT   the agent this client acts for, same as --agent (see `ai-session agent grant --help`)
  AI_SESSION_AUDIT   off: the daemon writes no audit log (default: $AI_SESSION_HOME/audit/audit.log)
  AI_SESSION_AUDIT_MAX_MB / AI_SESSION_AUDIT_KEEP
                     the daemon's audit log rotates at this size in MiB (default 64) into
                     audit.log.<N> segments, of which this many are kept (default 8);
                     `audit tail|query|verify` read them all
  AI_SESSION_RECORD_DIR  the daemon writes DIR/<session>.cast when a session ends (--record-dir)
  AI_SESSION_MCP_YIELD_MS  `ai-session mcp`: exec answers `running` after this long (default 30000)
  AI_SESSION_LOG     log filter for the daemon (e.g. debug), default info
  AI_SESSION_DURABILITY  write (default: exec answers once its record is written, so it
                     survives the daemon's death; fsync follows within 200 ms), fsync (answer
                     after fdatasync: survives a machine crash), off (no store)
  AI_SESSION_PASSPHRASE / AI_SESSION_KEY / AI_SESSION_KEY_FILE
                     secret that unlocks the encrypted store (see `ai-session key --help`)

Sessions survive the daemon: their config, scrollback and command records are stored under
$AI_SESSION_HOME/sessions and a new daemon restarts each one (a fresh shell in the saved cwd
and environment; programs that were running cannot survive, only their records).";

/// Output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document on stdout, for programs.
    Json,
    /// JUnit XML of the parsed test results or build errors (`exec` and `parse`; other
    /// commands print text).
    Junit,
    /// GitHub Actions annotations (`::error file=..,line=..::msg`) from parsed errors, then the
    /// digest (`exec` and `parse`; other commands print text).
    Github,
}

impl Format {
    /// The CI rendering this format asks for (`exec` and `parse`), if any.
    pub fn ci(self) -> Option<CiFormat> {
        match self {
            Format::Junit => Some(CiFormat::Junit),
            Format::Github => Some(CiFormat::Github),
            Format::Text | Format::Json => None,
        }
    }
}

/// Flags every command accepts.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Shorthand for `--format json`.
    #[arg(long, global = true)]
    pub json: bool,
    /// Which daemon to talk to: socket `$AI_SESSION_HOME/run/<SERVER>.sock`.
    #[arg(
        long,
        global = true,
        env = "AI_SESSION_SERVER",
        default_value = ai_session::DEFAULT_SERVER_NAME,
        value_name = "SERVER"
    )]
    pub server: String,
    /// Act for this agent (before the subcommand: `ai-session --agent A exec ...`): the
    /// daemon checks the agent's permission profile (`ai-session agent grant`) and the
    /// sessions it creates are its own. Declared, not authenticated.
    #[arg(long, env = "AI_SESSION_AGENT", value_name = "AGENT")]
    pub agent: Option<String>,
}

impl Global {
    /// The defaults, with `AI_SESSION_SERVER` applied: for entry points that bypass clap.
    pub fn from_env() -> Global {
        Global {
            format: Format::Text,
            json: false,
            server: std::env::var("AI_SESSION_SERVER")
                .unwrap_or_else(|_| ai_session::DEFAULT_SERVER_NAME.to_owned()),
            agent: std::env::var("AI_SESSION_AGENT")
                .ok()
                .filter(|a| !a.is_empty()),
        }
    }

    /// The effective format.
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }

    /// True for `--format json`.
    pub fn json(&self) -> bool {
        self.format() == Format::Json
    }
}

/// A single-threaded runtime: client commands do one thing at a time and start fastest this way.
pub fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Connects to the daemon, starting it if needed.
pub async fn connect(global: &Global) -> anyhow::Result<Client> {
    let home = Home::from_env()?;
    let exe = std::env::current_exe()?;
    let client =
        ai_session::connect_or_start(&home, &global.server, Some(&AutoStart { exe })).await?;
    identify(client, global).await
}

/// Declares `--agent` on the connection (one `hello`), if given.
async fn identify(client: Client, global: &Global) -> anyhow::Result<Client> {
    if let Some(agent) = global.agent.as_deref().filter(|a| !a.is_empty()) {
        client.identify(agent).await?;
    }
    Ok(client)
}

/// Connects without starting a daemon; `None` if none is running.
pub async fn connect_existing(global: &Global) -> anyhow::Result<Option<Client>> {
    let home = Home::from_env()?;
    match ai_session::connect_or_start(&home, &global.server, None).await {
        Ok(client) => Ok(Some(identify(client, global).await?)),
        Err(ai_session::Error::Connect { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Prints an error (as `{"error": {...}}` on stdout in JSON mode, on stderr otherwise) and
/// picks the exit code.
pub fn report_error(error: &anyhow::Error, global: &Global) -> ExitCode {
    let (code, rpc_code) = match error.downcast_ref::<ai_session::Error>() {
        Some(ai_session::Error::Connect { .. } | ai_session::Error::DaemonStart { .. }) => {
            (exit::UNREACHABLE, None)
        }
        Some(ai_session::Error::Closed { .. } | ai_session::Error::BadMessage { .. }) => {
            (exit::UNREACHABLE, None)
        }
        Some(ai_session::Error::Rpc { code, .. })
            if *code == ai_session::protocol::codes::AGENT_PERMISSION_DENIED =>
        {
            (exit::PERMISSION_DENIED, Some(*code))
        }
        Some(ai_session::Error::Rpc { code, .. }) => (exit::FAILURE, Some(*code)),
        _ => (exit::FAILURE, None),
    };
    if global.json() {
        let body = serde_json::json!({
            "error": { "message": format!("{error:#}"), "rpc_code": rpc_code, "exit_code": code }
        });
        let _ = print_json(&body);
    } else {
        eprintln!("ai-session: {error:#}");
    }
    ExitCode::from(code)
}
