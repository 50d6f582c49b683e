//! Connect to the daemon, starting it first if none is running (like tmux).
//!
//! Race safety: clients that find no daemon take an exclusive `flock` on `run/<name>.start.lock`,
//! look again, and only then spawn one; the daemon itself holds `run/<name>.pid` locked for its
//! whole life, so even a daemon started by hand at the same moment cannot make two.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::paths::Home;

/// How long a client waits for a freshly started daemon to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before starting another daemon when the previous attempt exited.
const RESPAWN_PAUSE: Duration = Duration::from_millis(50);
/// How long [`stop_daemon`] waits for a stopped daemon's process and socket to go.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to start a daemon when none answers.
#[derive(Debug, Clone)]
pub struct AutoStart {
    /// The `ai-session` executable; it is run as `<exe> server --name <name> --daemonize`.
    pub exe: PathBuf,
}

/// Connects to daemon `name` under `home`; if none answers and `auto_start` is given, starts one
/// (daemonised: own session, output to `log/<name>.log`) and connects to it.
pub async fn connect_or_start(
    home: &Home,
    name: &str,
    auto_start: Option<&AutoStart>,
) -> Result<Client> {
    let socket = home.socket_path(name);
    let first_error = match Client::connect(&socket).await {
        Ok(client) => return Ok(client),
        Err(e) => e,
    };
    let Some(auto_start) = auto_start else {
        return Err(first_error);
    };
    crate::paths::validate_server_name(name)?;
    home.ensure_dirs()?;
    let lock_path = home.start_lock_path(name);
    let lock = tokio::task::spawn_blocking(move || lock_exclusive(&lock_path))
        .await
        .map_err(|e| Error::internal("take the daemon start lock", e))??;
    // Someone else may have started it while we waited for the lock.
    if let Ok(client) = Client::connect(&socket).await {
        return Ok(client);
    }
    let client = wait_until_ready(home, name, &socket, auto_start).await;
    drop(lock);
    client
}

fn lock_exclusive(path: &Path) -> Result<Flock<File>> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("open start lock", path, e))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| Error::io("lock", path, errno.into()))
}

/// A started daemon process; a thread owns and reaps it.
struct Spawned {
    exited: tokio::sync::oneshot::Receiver<std::process::ExitStatus>,
}

fn spawn_daemon(home: &Home, name: &str, auto_start: &AutoStart) -> Result<Spawned> {
    let log_path = home.log_path(name);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| Error::io("open daemon log", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("duplicate daemon log fd", &log_path, e))?;
    let mut child = Command::new(&auto_start.exe)
        .args(["server", "--name", name, "--daemonize"])
        .env(crate::paths::HOME_ENV, home.root())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| Error::io("start daemon", &auto_start.exe, e))?;
    tracing::debug!(pid = child.id(), "started daemon");
    let (tx, exited) = tokio::sync::oneshot::channel();
    // The daemon outlives short-lived clients (it is re-parented to init when we exit); in a
    // long-lived process this thread reaps it when it stops, so it never lingers as a zombie.
    std::thread::Builder::new()
        .name("ai-session-daemon-reaper".into())
        .spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        })
        .map_err(|e| Error::io("start reaper thread for", &auto_start.exe, e))?;
    Ok(Spawned { exited })
}

async fn wait_until_ready(
    home: &Home,
    name: &str,
    socket: &Path,
    auto_start: &AutoStart,
) -> Result<Client> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut daemon = spawn_daemon(home, name, auto_start)?;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Ok(client) = Client::connect(socket).await {
            return Ok(client);
        }
        if let Ok(status) = daemon.exited.try_recv() {
            // A daemon that is still shutting down holds the pidfile lock, so ours gave up:
            // try again until the deadline (the log says why each attempt ended).
            tracing::debug!(%status, "daemon exited before answering");
            if Instant::now() + RESPAWN_PAUSE >= deadline {
                return Err(Error::DaemonStart {
                    reason: format!("it exited with {status}"),
                    log: home.log_path(name),
                });
            }
            tokio::time::sleep(RESPAWN_PAUSE).await;
            daemon = spawn_daemon(home, name, auto_start)?;
            continue;
        }
        if Instant::now() >= deadline {
            return Err(Error::DaemonStart {
                reason: format!("no answer on {} after {START_TIMEOUT:?}", socket.display()),
                log: home.log_path(name),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

/// Stops the daemon `client` is connected to (`server.shutdown`: it kills and reaps every
/// session first) and returns once its process is gone and its socket `home.socket_path(name)`
/// removed, so a command that follows starts a fresh daemon; gives up waiting after 10 s.
pub async fn stop_daemon(client: &Client, home: &Home, name: &str) -> Result<()> {
    let pid = client.hello().await?.pid;
    client.shutdown_server().await?;
    let socket = home.socket_path(name);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while process_exists(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while socket.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Whether process `pid` exists and is not a zombie.
pub(crate) fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}
