//! Test harness: a private `AI_SESSION_HOME` per test and the real `ai-session` binary; the
//! daemon it starts is stopped (and, if it does not stop, killed) when the harness drops.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ai-session");

pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("ais-e2e-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.path().join("run/default.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("log/default.log")).unwrap_or_default()
    }

    /// A `Command` for the binary with this home.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("AI_SESSION_HOME", self.path())
            .env_remove("AI_SESSION_SERVER")
            .current_dir(self.path());
        cmd
    }

    /// `ai-session mcp` with this home and no bus, its stdin and stdout piped.
    pub fn mcp(&self) -> Command {
        let mut cmd = self.command(&["mcp"]);
        cmd.env_remove("AI_SESSION_BUS")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        cmd
    }

    /// Runs the binary to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ai-session")
    }

    /// Runs the binary and parses its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> (Value, Output) {
        let out = self.run(args);
        let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not JSON ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (value, out)
    }

    /// SIGKILLs the running daemon and waits until it is gone: its listening socket closes
    /// only when its last thread has exited, which can be after the main thread shows as a
    /// zombie, and a client connecting in between would be reset. Returns the killed pid.
    pub fn kill_daemon_hard(&self) -> i32 {
        let pid = self.daemon_pid();
        let killed = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -9 {pid} failed");
        assert!(
            eventually(Duration::from_secs(10), || {
                std::os::unix::net::UnixStream::connect(self.socket()).is_err()
            }),
            "the killed daemon's socket still accepts"
        );
        pid
    }

    /// The running daemon's pid, from `status`.
    pub fn daemon_pid(&self) -> i32 {
        let (status, _) = self.json(&["status", "--format", "json"]);
        assert_eq!(status["running"], true, "{status}");
        status["hello"]["pid"].as_i64().expect("pid") as i32
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.path().join("run/default.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let _ = self.run(&["kill-server"]);
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if alive(pid) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        // A test that killed its daemon with SIGKILL leaves the shells in the PTY keeper.
        for keeper in keepers_of(self.path()) {
            for shell in children(keeper) {
                let _ = Command::new("kill")
                    .args(["-9", &shell.to_string()])
                    .status();
            }
            let _ = Command::new("kill")
                .args(["-9", &keeper.to_string()])
                .status();
        }
    }
}

/// PTY keeper processes serving a daemon under `home` (`ai-session __keeper <home>/run/...`).
pub fn keepers_of(home: &Path) -> Vec<i32> {
    let run = home.join("run");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.get(1) == Some(&&b"__keeper"[..])
            && args.get(2).is_some_and(|socket| {
                Path::new(std::ffi::OsStr::new(
                    std::str::from_utf8(socket).unwrap_or_default(),
                ))
                .starts_with(&run)
            })
        {
            found.push(pid);
        }
    }
    found
}

/// True if `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => proc_state(&stat) != Some('Z'),
        Err(_) => false,
    }
}

/// The state letter of a `/proc/<pid>/stat` line (after the parenthesised comm).
pub fn proc_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The parent pid of a `/proc/<pid>/stat` line.
pub fn proc_ppid(stat: &str) -> Option<i32> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Zombie children of `pid`.
pub fn zombie_children(pid: i32) -> Vec<i32> {
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        if proc_ppid(&stat) == Some(pid) && proc_state(&stat) == Some('Z') {
            zombies.push(child);
        }
    }
    zombies
}

/// Children of `pid` (any state).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat"))
            && proc_ppid(&stat) == Some(pid)
        {
            out.push(child);
        }
    }
    out
}

/// Number of open fds of `pid`.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Polls `f` until it is true or `timeout` passes; returns the last value.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The stdout of `out`, a run of `args` that must have succeeded (else the panic shows
/// both streams).
pub fn succeeded(out: &Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "{args:?} failed ({}): {}{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Runs the binary with `home`; it must succeed. Returns its stdout.
pub fn ok(home: &Home, args: &[&str]) -> String {
    succeeded(&home.run(args), args)
}
