//! `ai-session tmux ...` and the binary invoked as `tmux`: the tmux commands agent scripts use,
//! served by the ai-session daemon, so existing scripts run unchanged.
//!
//! Differences from tmux, by design: a session has one window with one pane; a command given to
//! `new-session` is typed into the session's shell (the session outlives it); `capture-pane -e`
//! returns plain text (the screen model keeps no attributes for capture); `-L NAME` selects the
//! ai-session daemon `NAME`.

mod args;
mod capture;
mod format;

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use ai_session::Client;
use ai_session::protocol::{NewSessionParams, ReadParams, SendParams, SessionInfo};
use anyhow::anyhow;

use crate::common::{self, Format, Global};
use args::{Capture, NewSession, TmuxCommand};

/// Size of a detached session when none is given: tmux's default, so captures wrap alike.
const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// `ai-session tmux [TMUX ARGS...]`
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Supported: new-session (new) -d -s NAME [-c DIR] [-x W] [-y H] [-e VAR=VAL] [-P [-F FMT]] [CMD],
send-keys (send) -t T [-l] [-N N] KEYS..., capture-pane -p -t T [-S N|-] [-E N|-],
list-sessions (ls) [-F FMT], has-session -t T, kill-session -t T, kill-server,
display-message -p [-t T] FMT; set-option and friends are accepted and ignored.
Commands may be chained with a lone `;`. Formats: #{session_name}, #{pane_current_path},
#{pane_pid}, #{pane_width}, #{pane_height}, #{cursor_x}, #{cursor_y}, #{t:session_created}, ...

Linking the binary as `tmux` (ln -s \"$(command -v ai-session)\" ~/bin/tmux) makes unchanged
scripts use ai-session.")]
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
    match run_inner(argv, global) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(argv: &[String], global: &Global) -> anyhow::Result<ExitCode> {
    let invocation = args::parse(argv)?;
    let global = Global {
        format: Format::Text,
        json: false,
        server: invocation
            .socket_name
            .unwrap_or_else(|| global.server.clone()),
        agent: global.agent.clone(),
    };
    let runtime = common::client_runtime()?;
    runtime.block_on(async {
        let mut client: Option<Client> = None;
        for command in invocation.commands {
            let starts_server = matches!(command, TmuxCommand::NewSession(_));
            if client.is_none() {
                client = if starts_server {
                    Some(common::connect(&global).await?)
                } else {
                    common::connect_existing(&global).await?
                };
            }
            let Some(client) = client.as_mut() else {
                if matches!(command, TmuxCommand::Ignored(_)) {
                    continue;
                }
                return Err(anyhow!("no server running on {}", global.server));
            };
            if let Some(code) = execute(client, command, &global).await? {
                return Ok(code);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs one command; `Some(code)` ends the invocation early (attach, a failed check).
async fn execute(
    client: &mut Client,
    command: TmuxCommand,
    global: &Global,
) -> anyhow::Result<Option<ExitCode>> {
    match command {
        TmuxCommand::NewSession(new) => return new_session(client, new, global).await,
        TmuxCommand::SendKeys {
            target,
            literal,
            repeat,
            keys,
        } => {
            let session = resolve(client, target.as_deref()).await?;
            for _ in 0..repeat {
                send_keys(client, &session.id, literal, &keys).await?;
            }
        }
        TmuxCommand::CapturePane(capture) => capture_pane(client, capture).await?,
        TmuxCommand::ListSessions { format } => {
            let format = format.unwrap_or_else(|| {
                "#{session_name}: #{session_windows} windows (created #{t:session_created})"
                    .to_owned()
            });
            let sessions = live_sessions(client).await?;
            let mut out = std::io::stdout().lock();
            for session in &sessions {
                let ctx = format::FormatContext {
                    session,
                    cursor: None,
                };
                writeln!(out, "{}", format::expand(&format, &ctx))?;
            }
        }
        TmuxCommand::HasSession { target } => {
            resolve(client, target.as_deref()).await?;
        }
        TmuxCommand::KillSession { target } => {
            let session = resolve(client, target.as_deref()).await?;
            client.kill_session(&session.id).await?;
        }
        TmuxCommand::KillServer => {
            client.shutdown_server().await?;
        }
        TmuxCommand::DisplayMessage {
            target,
            print,
            message,
        } => {
            let session = resolve(client, target.as_deref()).await?;
            let screen = client.screen(&session.id).await?;
            let ctx = format::FormatContext {
                session: &session,
                cursor: Some((screen.cursor_row, screen.cursor_col)),
            };
            // Without -p tmux shows the message in a client's status line; there is none here.
            if print {
                println!("{}", format::expand(&message, &ctx));
            }
        }
        TmuxCommand::Ignored(_) => {}
    }
    Ok(None)
}

async fn new_session(
    client: &mut Client,
    new: NewSession,
    global: &Global,
) -> anyhow::Result<Option<ExitCode>> {
    let existing = match &new.name {
        Some(name) => find(client, name).await?,
        None => None,
    };
    let session = match existing {
        Some(session) if new.attach_if_exists => session,
        Some(session) => return Err(anyhow!("duplicate session: {}", session.id)),
        None => {
            let params = NewSessionParams {
                name: new.name.clone(),
                cwd: new.cwd.clone(),
                env: new.env.iter().cloned().collect(),
                cols: Some(new.width.unwrap_or(DEFAULT_SIZE.0)),
                rows: Some(new.height.unwrap_or(DEFAULT_SIZE.1)),
                ..NewSessionParams::default()
            };
            let session = client.new_session(&params).await?;
            if let Some(command) = &new.command {
                let send = SendParams {
                    session: session.id.clone(),
                    text: Some(command.clone()),
                    keys: vec!["Enter".to_owned()],
                    data_base64: None,
                };
                client.send(&send).await?;
            }
            session
        }
    };
    if let Some(format) = &new.print_format {
        let ctx = format::FormatContext {
            session: &session,
            cursor: None,
        };
        println!("{}", format::expand(format, &ctx));
    }
    if !new.detached && std::io::stdin().is_terminal() {
        let args = crate::attach::AttachArgs {
            session: session.id,
        };
        return crate::attach::run(args, global).map(Some);
    }
    Ok(None)
}

/// tmux `send-keys`: a word that names a key is that key, any other word is typed as is.
async fn send_keys(
    client: &mut Client,
    session: &str,
    literal: bool,
    words: &[String],
) -> anyhow::Result<()> {
    let mut text = String::new();
    for word in words {
        let is_key = !literal && ai_session_pty::encode_key(word, false).is_some();
        if !is_key {
            text.push_str(word);
            continue;
        }
        let send = SendParams {
            session: session.to_owned(),
            text: (!text.is_empty()).then(|| std::mem::take(&mut text)),
            keys: vec![word.clone()],
            data_base64: None,
        };
        client.send(&send).await?;
    }
    if !text.is_empty() {
        let send = SendParams {
            session: session.to_owned(),
            text: Some(text),
            ..SendParams::default()
        };
        client.send(&send).await?;
    }
    Ok(())
}

async fn capture_pane(client: &mut Client, capture: Capture) -> anyhow::Result<()> {
    anyhow::ensure!(
        capture.print,
        "capture-pane: only -p (print to stdout) is supported; paste buffers are not"
    );
    let session = resolve(client, capture.target.as_deref()).await?;
    let screen = client.screen(&session.id).await?;
    let wants_history = matches!(capture.start, args::LineBound::Edge)
        || matches!(capture.start, args::LineBound::Line(n) if n < 0)
        || matches!(capture.end, args::LineBound::Line(n) if n < 0);
    let normalized = if wants_history {
        let read = client
            .read(&ReadParams {
                session: session.id.clone(),
                since: 0,
                max_bytes: Some(usize::MAX >> 1),
                raw: false,
            })
            .await?;
        ai_session_output::normalize(read.text.as_bytes())
    } else {
        String::new()
    };
    let history = capture::history_lines(&normalized, screen.cursor_row);
    let lines = capture::select_lines(&history, &screen.lines, capture.start, capture.end);
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

async fn live_sessions(client: &mut Client) -> anyhow::Result<Vec<SessionInfo>> {
    let mut sessions = client.list_sessions().await?.sessions;
    sessions.retain(|s| s.alive);
    Ok(sessions)
}

async fn find(client: &mut Client, name: &str) -> anyhow::Result<Option<SessionInfo>> {
    Ok(live_sessions(client)
        .await?
        .into_iter()
        .find(|s| s.id == name))
}

/// The session a target names; with no target, the newest session (tmux's "current" one for a
/// script that created it).
async fn resolve(client: &mut Client, target: Option<&str>) -> anyhow::Result<SessionInfo> {
    match target {
        Some(target) => {
            let name = args::session_of(target);
            find(client, name)
                .await?
                .ok_or_else(|| anyhow!("can't find session: {name}"))
        }
        None => live_sessions(client)
            .await?
            .into_iter()
            .max_by_key(|s| s.created_at_ms)
            .ok_or_else(|| anyhow!("no current session")),
    }
}
