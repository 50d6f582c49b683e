//! Processes that outlive the daemon: the daemon's PTY keeper, `server --upgrade` (a new
//! daemon binary takes over every session from the running one), and a client's `exec` that
//! follows its command into the daemon that took over. See `docs/architecture.md`, "The PTY
//! keeper".

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ai_session_protocol::{
    EventKind, ExecParams, ExecResult, ExecState, ReadParams, WaitParams, codes,
};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::paths::{HOME_ENV, Home};

pub use ai_session_pty::{Keeper, run_keeper_if_asked};

/// `AI_SESSION_KEEPER=off` runs a daemon without the PTY keeper: its shells end with it.
pub const KEEPER_ENV: &str = "AI_SESSION_KEEPER";
/// How long an upgrade waits for the new daemon to answer, the new daemon for the old one to
/// hand over, and a following client for either.
pub const TAKEOVER_WAIT: Duration = Duration::from_secs(60);
/// Between two attempts to reach a daemon that is handing over.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// True unless `AI_SESSION_KEEPER=off`.
pub fn keeper_wanted() -> bool {
    std::env::var(KEEPER_ENV).as_deref() != Ok("off")
}

/// The PTY keeper of daemon `name` (`run/<name>.keeper`), started as `<exe> __keeper <socket>`
/// if none runs, so the sessions' shells outlive the daemon (give it to
/// [`crate::ManagerConfig::keeper`]).
pub async fn connect_keeper(home: &Home, name: &str, exe: &Path) -> Result<Keeper> {
    // A daemon started by hand on a fresh home gets here before anything made `run/`.
    home.ensure_dirs()?;
    let socket = home.socket_path(name).with_extension("keeper");
    let argv = [
        exe.as_os_str().to_owned(),
        ai_session_pty::KEEPER_ARG.into(),
        socket.clone().into_os_string(),
    ];
    let keeper = Keeper::connect_or_start(&socket, &argv).await?;
    tracing::info!(pid = keeper.pid(), socket = %socket.display(), "PTY keeper connected");
    Ok(keeper)
}

/// What [`upgrade_daemon`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    /// The daemon that handed over, if one ran.
    pub old_pid: Option<u32>,
    /// The daemon now answering.
    pub pid: u32,
    /// Sessions the new daemon has.
    pub sessions: usize,
}

/// Replaces daemon `name` with `exe` without losing a session: starts
/// `<exe> server --name <name> --daemonize --takeover` (it waits until the name is free), asks
/// the running daemon to hand over (`SIGUSR2`: its `exec`s in progress answer `running`, its
/// sessions go back to the PTY keeper, it exits), and returns once the new daemon answers.
pub async fn upgrade_daemon(home: &Home, name: &str, exe: &Path) -> Result<Upgraded> {
    crate::paths::validate_server_name(name)?;
    home.ensure_dirs()?;
    let old_pid = std::fs::read_to_string(home.pid_path(name))
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|&pid| crate::autostart::process_exists(pid));
    let log_path = home.log_path(name);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("open the daemon log", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("open the daemon log", &log_path, e))?;
    let mut successor = Command::new(exe)
        .args(["server", "--name", name, "--daemonize", "--takeover"])
        .env(HOME_ENV, home.root())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| Error::io("start the new daemon", exe, e))?;
    let failed = |reason: String| Error::DaemonStart {
        reason,
        log: log_path.clone(),
    };
    if let Some(pid) = old_pid {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGUSR2,
        )
        .map_err(|e| {
            failed(format!(
                "cannot ask the running daemon (pid {pid}) to hand over: {e}"
            ))
        })?;
    }
    let pid = successor.id();
    let deadline = Instant::now() + TAKEOVER_WAIT;
    loop {
        // A zombie successor stays ours until reaped: look without blocking.
        if let Ok(Some(status)) = successor.try_wait() {
            return Err(failed(format!("the new daemon exited with {status}")));
        }
        if let Ok(client) = Client::connect(&home.socket_path(name)).await
            && let Ok(hello) = client.hello().await
            && hello.pid == pid
        {
            let sessions = client.list_sessions().await?.sessions.len();
            return Ok(Upgraded {
                old_pid,
                pid,
                sessions,
            });
        }
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "the new daemon (pid {pid}) did not answer within {TAKEOVER_WAIT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `exec` that survives a daemon handover: a command refused because the daemon was handing
/// over is sent again to the one that takes over, and a command that was running when its
/// daemon handed over (answered `running` although `params.yield_ms` asked for no yield) is
/// followed in the new daemon until it ends or waits for input. `connect` reaches the current
/// daemon (starting one if need be); it is called again after every lost connection, for up
/// to [`TAKEOVER_WAIT`].
pub async fn exec_across_handover(
    connect: impl AsyncFn() -> Result<Client>,
    params: &ExecParams,
) -> Result<ExecResult> {
    let deadline = Instant::now() + TAKEOVER_WAIT;
    let result = loop {
        let client = connect().await?;
        match client.exec(params).await {
            // The daemon was handing over before the command was typed: it never ran.
            Err(Error::Rpc { code, .. })
                if code == codes::SHUTTING_DOWN && Instant::now() < deadline =>
            {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            other => break other?,
        }
    };
    if result.state == ExecState::Running && params.yield_ms.is_none() {
        return follow_command(connect, result).await;
    }
    Ok(result)
}

/// The command of `result` goes on in the daemon that took over: wait there (reconnecting
/// until it answers) for it to end or ask for input, and complete `result` from that event.
async fn follow_command(
    connect: impl AsyncFn() -> Result<Client>,
    mut result: ExecResult,
) -> Result<ExecResult> {
    let deadline = Instant::now() + TAKEOVER_WAIT;
    let mut since = result.next_event;
    loop {
        let waited = match connect().await {
            Ok(client) => {
                let params = WaitParams {
                    session: Some(result.session.clone()),
                    since_event: Some(since),
                    timeout_ms: Some(30_000),
                    ..WaitParams::default()
                };
                client.wait(&params).await.map(|w| (client, w))
            }
            Err(error) => Err(error),
        };
        let (client, waited) = match waited {
            Ok(answer) => answer,
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => {
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        since = waited.next_event;
        for event in waited.events {
            match event.kind {
                EventKind::CommandFinished {
                    command_id,
                    exit_code,
                    duration_ms,
                    output,
                    digest,
                    ..
                } if command_id == result.command_id => {
                    let read = client
                        .read(&ReadParams {
                            session: result.session.clone(),
                            since: output.start,
                            max_bytes: Some((output.end - output.start) as usize),
                            raw: false,
                            hold: false,
                        })
                        .await?;
                    result.state = ExecState::Exited;
                    result.exit_code = exit_code;
                    result.duration_ms = duration_ms;
                    result.output.bytes = output.end - output.start;
                    result.output.range = output;
                    result.output.text = ai_session_output::normalize(read.text.as_bytes());
                    if let Some(analysis) = &mut result.analysis {
                        analysis.digest = digest.unwrap_or_else(|| result.output.text.clone());
                    }
                    result.next_event = since;
                    return Ok(result);
                }
                EventKind::AwaitingInput {
                    command_id,
                    screen_tail,
                } if command_id == result.command_id => {
                    result.state = ExecState::AwaitingInput;
                    result.screen_tail = Some(screen_tail);
                    result.next_event = since;
                    return Ok(result);
                }
                EventKind::SessionExited { status, .. } => {
                    result.state = ExecState::Exited;
                    result.exit_code = status;
                    result.next_event = since;
                    return Ok(result);
                }
                _ => {}
            }
        }
    }
}
