//! Criterion benchmarks live in `benches/benches/`; run them with `cargo bench -p ai-session-benches`
//! or, with the side-by-side baselines, `cargo xtask bench`.
#![forbid(unsafe_code)]

pub mod procfs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An `ai-session server` in a private home, started in the foreground for a benchmark and
/// stopped (SIGTERM, then SIGKILL after `stop_grace`) on drop.
pub struct BenchDaemon {
    child: Child,
    home: tempfile::TempDir,
    name: String,
    stop_grace: Duration,
}

impl BenchDaemon {
    /// Starts `bin server --name NAME` with `env` and waits until its socket accepts.
    pub fn start(bin: &Path, name: &str, env: &[(&str, String)], stop_grace: Duration) -> Self {
        let home = tempfile::tempdir().expect("tempdir");
        let child = Command::new(bin)
            .args(["server", "--name", name])
            .env("AI_SESSION_HOME", home.path())
            .env("AI_SESSION_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .spawn()
            .expect("start the daemon");
        let daemon = BenchDaemon {
            child,
            home,
            name: name.to_owned(),
            stop_grace,
        };
        let socket = daemon.socket();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        daemon
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.home.path().join(format!("run/{}.sock", self.name))
    }

    /// The daemon's home (`AI_SESSION_HOME`).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The PTY keeper serving this daemon's sessions, if one runs.
    pub fn keeper_pid(&self) -> Option<u32> {
        keepers_under(self.home.path()).into_iter().next()
    }
}

/// Keeper processes (`ai-session __keeper <home>/run/...`) of a daemon under `home`.
pub fn keepers_under(home: &Path) -> Vec<u32> {
    let run = home.join("run");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let socket = args
            .get(2)
            .and_then(|s| std::str::from_utf8(s).ok())
            .map(Path::new);
        if args.get(1) == Some(&&b"__keeper"[..]) && socket.is_some_and(|s| s.starts_with(&run)) {
            found.push(pid);
        }
    }
    found
}

impl Drop for BenchDaemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + self.stop_grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A daemon that had to be SIGKILLed left its shells in the keeper: end them too.
        std::thread::sleep(Duration::from_millis(200));
        for keeper in keepers_under(self.home.path()) {
            let mut pids: Vec<String> = procfs::children_of(keeper)
                .iter()
                .map(u32::to_string)
                .collect();
            pids.push(keeper.to_string());
            let _ = Command::new("kill").arg("-KILL").args(&pids).status();
        }
    }
}
