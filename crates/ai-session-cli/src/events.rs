//! `wait`, `events` and `watch`: the daemon's event log from the command line.

use std::io::Write as _;
use std::process::ExitCode;

use ai_session::protocol::{
    Condition, Event, EventKind, EventType, EventsParams, Message, WaitParams, WatchListParams,
    WatchParams, WatchRemoveParams, rpc,
};

use crate::common::{self, Global, exit};

/// Wait until something happens in a session (or in any): a command finishes, waits for
/// input, prints a line matching a regex, opens a TCP port, goes quiet, or the session exits.
///
/// Without a condition, waits for a command to finish, to wait for input, or for a session to
/// exit. Several conditions: the first that matches ends the wait. Waiting costs nothing: the
/// daemon wakes this call when an event arrives. Prints each matching event (JSON with
/// --format json: {events, next_event, timed_out}); pass `next_event` back as --since-event to
/// continue without missing or repeating an event. Exit code 0 when something matched, 4 on
/// timeout.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session exec --background -s srv -- python3 -m http.server 8000
  ai-session wait -s srv --port 8000 --timeout 30     until the server listens
  ai-session wait -s srv --for 'Serving HTTP'         until that line is printed
  ai-session wait -s build --exit                     until its command finishes
  ai-session wait --any                               the next command anywhere ends, asks
                                                      for input, or a session exits
  ai-session wait -s build --idle 2000                until 2 s without output")]
pub struct WaitArgs {
    /// Session id or name; repeatable (default: every session).
    #[arg(short, long = "session", value_name = "SESSION")]
    pub sessions: Vec<String>,
    /// Watch every session (the default when no -s is given).
    #[arg(long, conflicts_with = "sessions")]
    pub any: bool,
    /// A line of output matches this regex (Rust regex syntax).
    #[arg(long = "for", value_name = "REGEX")]
    pub pattern: Vec<String>,
    /// A process of the session listens on this TCP port (0: any port).
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// A command finishes.
    #[arg(long)]
    pub exit: bool,
    /// A running command waits for terminal input.
    #[arg(long)]
    pub input: bool,
    /// The session exits or is killed.
    #[arg(long)]
    pub session_exit: bool,
    /// No output for this many ms.
    #[arg(long, value_name = "MS")]
    pub idle: Option<u64>,
    /// Only events after this one (the `next_event` of an earlier wait or exec).
    #[arg(long, value_name = "SEQ")]
    pub since_event: Option<u64>,
    /// Scan output for --for from this offset (default: where the session was at
    /// --since-event, or now).
    #[arg(long, value_name = "OFFSET", alias = "since")]
    pub since_offset: Option<u64>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
}

impl WaitArgs {
    fn conditions(&self) -> Vec<Condition> {
        let mut conditions: Vec<Condition> = self
            .pattern
            .iter()
            .cloned()
            .map(Condition::Regex)
            .chain(self.port.iter().copied().map(Condition::Port))
            .chain(self.idle.map(Condition::IdleMs))
            .collect();
        if self.exit {
            conditions.push(Condition::Exit(true));
        }
        if self.input {
            conditions.push(Condition::AwaitingInput(true));
        }
        if self.session_exit {
            conditions.push(Condition::SessionExited(true));
        }
        conditions
    }
}

/// Runs `wait`.
pub fn wait(args: WaitArgs, global: &Global) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.timeout.is_finite() && args.timeout > 0.0,
        "--timeout must be a positive number of seconds, got {}",
        args.timeout
    );
    let params = WaitParams {
        session: None,
        sessions: args.sessions.clone(),
        conditions: args.conditions(),
        since_event: args.since_event,
        since_offset: args.since_offset,
        timeout_ms: Some((args.timeout * 1000.0).ceil() as u64),
    };
    let result = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.wait(&params).await?)
    })?;
    if global.json() {
        common::print_json(&result)?;
    } else {
        let mut out = std::io::stdout().lock();
        for event in &result.events {
            writeln!(out, "{}", describe(event))?;
        }
        if result.timed_out {
            eprintln!("ai-session: nothing matched within {} s", args.timeout);
        }
        eprintln!("next_event={}", result.next_event);
    }
    Ok(ExitCode::from(if result.timed_out {
        exit::WAIT_FAILED
    } else {
        exit::OK
    }))
}

/// One line for a person.
fn describe(event: &Event) -> String {
    let what = match &event.kind {
        EventKind::SessionCreated { restored, .. } => {
            if *restored {
                "session restored".to_owned()
            } else {
                "session created".to_owned()
            }
        }
        EventKind::CommandStarted {
            command_id,
            command,
        } => {
            format!("command {command_id} started: {command}")
        }
        EventKind::CommandFinished {
            command_id,
            command,
            exit_code,
            duration_ms,
            ..
        } => format!(
            "command {command_id} finished with exit {} after {duration_ms} ms: {command}",
            exit_code.map_or_else(|| "?".to_owned(), |c| c.to_string())
        ),
        EventKind::AwaitingInput {
            command_id,
            screen_tail,
        } => format!(
            "command {command_id} waits for input: {}",
            screen_tail.last().map_or("", String::as_str)
        ),
        EventKind::InputAnswered { command_id } => {
            format!("command {command_id} got its input and goes on")
        }
        EventKind::OutputMatched { line, .. } => format!("output matched: {line}"),
        EventKind::OutputIdle { idle_ms, .. } => format!("no output for {idle_ms} ms"),
        EventKind::PortListening {
            port, address, pid, ..
        } => format!(
            "listening on {address}:{port}{}",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        ),
        EventKind::SessionExited { status, .. } => format!(
            "session exited with status {}",
            status.map_or_else(|| "?".to_owned(), |s| s.to_string())
        ),
        EventKind::SessionKilled {} => "session killed".to_owned(),
    };
    format!("#{} {}: {what}", event.seq, event.session)
}

/// Print the daemon's event log as NDJSON (one event per line), from --since on; with
/// --follow, keep printing events as they happen.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session events --since 0                    every event the daemon keeps
  ai-session events --follow -s build            build's events as they happen
  ai-session events --kind command_finished --kind awaiting_input --follow

Each line is one event: {\"seq\", \"at_ms\", \"session\", \"offset\", \"kind\", ...}. Kinds:
session_created, command_started, command_finished, awaiting_input, output_matched,
output_idle, port_listening, session_exited, session_killed (docs/protocol.md).")]
pub struct EventsArgs {
    /// Only events after this seq.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub since: u64,
    /// Only this session's events; repeatable.
    #[arg(short, long = "session", value_name = "SESSION")]
    pub sessions: Vec<String>,
    /// Only events of this kind; repeatable.
    #[arg(long = "kind", value_name = "KIND", value_parser = parse_kind)]
    pub kinds: Vec<EventType>,
    /// Keep printing new events until interrupted.
    #[arg(long)]
    pub follow: bool,
}

fn parse_kind(raw: &str) -> Result<EventType, String> {
    serde_json::from_value(serde_json::Value::from(raw)).map_err(|_| {
        format!(
            "unknown event kind {raw:?}; one of session_created, command_started, command_finished, \
             awaiting_input, output_matched, output_idle, port_listening, session_exited, session_killed"
        )
    })
}

/// Runs `events`.
pub fn events(args: EventsArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let params = EventsParams {
        since: args.since,
        sessions: args.sessions,
        kinds: args.kinds,
        limit: None,
        follow: args.follow,
    };
    common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        let result = client.request::<rpc::Events>(&params).await?;
        let mut out = std::io::stdout().lock();
        for event in &result.events {
            print_line(&mut out, event)?;
        }
        if !params.follow {
            return anyhow::Ok(());
        }
        loop {
            tokio::select! {
                next = client.next_notification() => match next? {
                    Some(Message { method: Some(method), params: Some(event), .. })
                        if method == ai_session::protocol::NOTIFY_EVENT =>
                    {
                        let event: Event = serde_json::from_value(event)?;
                        print_line(&mut out, &event)?;
                    }
                    Some(_) => {}
                    None => anyhow::bail!("the daemon closed the connection"),
                },
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    })?;
    Ok(ExitCode::from(exit::OK))
}

fn print_line(out: &mut impl std::io::Write, event: &Event) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Register a lasting condition on a session: every matching line, new listening port, quiet
/// spell or the session's exit becomes an event (`ai-session events`, `wait`). Watches are kept
/// with the session, also across daemon restarts, until removed.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session watch -s srv --for 'ERROR|panic'     every error line becomes an event
  ai-session watch -s srv --port 0                every port the server opens
  ai-session watch ls
  ai-session watch rm w3")]
pub struct WatchArgs {
    #[command(subcommand)]
    pub command: Option<WatchCommand>,
    /// The session.
    #[arg(short, long)]
    pub session: Option<String>,
    /// Output lines matching this regex.
    #[arg(long = "for", value_name = "REGEX")]
    pub pattern: Option<String>,
    /// Listening TCP sockets on this port (0: any).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Quiet spells of this many ms.
    #[arg(long, value_name = "MS")]
    pub idle: Option<u64>,
    /// The session's exit.
    #[arg(long)]
    pub exit: bool,
}

/// `watch ls` and `watch rm`.
#[derive(Debug, clap::Subcommand)]
pub enum WatchCommand {
    /// List watches (of -s SESSION, or all).
    Ls {
        /// Only this session's.
        #[arg(short, long)]
        session: Option<String>,
    },
    /// Remove a watch by id.
    Rm {
        /// The watch id (`w3`).
        id: String,
    },
}

/// Runs `watch`.
pub fn watch(args: WatchArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = common::client_runtime()?;
    match args.command {
        Some(WatchCommand::Ls { session }) => {
            let list = runtime.block_on(async {
                let client = common::connect(global).await?;
                anyhow::Ok(
                    client
                        .request::<rpc::WatchList>(&WatchListParams { session })
                        .await?,
                )
            })?;
            if global.json() {
                common::print_json(&list)?;
            } else {
                for w in &list.watches {
                    println!(
                        "{} {} {}",
                        w.id,
                        w.spec.session,
                        serde_json::to_string(&w.spec)?
                    );
                }
            }
        }
        Some(WatchCommand::Rm { id }) => {
            runtime.block_on(async {
                let client = common::connect(global).await?;
                anyhow::Ok(
                    client
                        .request::<rpc::WatchRemove>(&WatchRemoveParams { id })
                        .await?,
                )
            })?;
        }
        None => {
            let session = args.session.ok_or_else(|| {
                anyhow::anyhow!("watch needs -s SESSION (or `watch ls`, `watch rm ID`)")
            })?;
            let params = WatchParams {
                session,
                regex: args.pattern,
                port: args.port,
                idle_ms: args.idle,
                exit: args.exit,
            };
            let info = runtime.block_on(async {
                let client = common::connect(global).await?;
                anyhow::Ok(client.request::<rpc::Watch>(&params).await?)
            })?;
            if global.json() {
                common::print_json(&info)?;
            } else {
                println!("{}", info.id);
            }
        }
    }
    Ok(ExitCode::from(exit::OK))
}
