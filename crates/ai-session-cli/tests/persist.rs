//! Sessions survive their daemon: through the real binary, `kill -9` the daemon in the middle
//! of a stream of `exec` calls, let the next call start a new daemon, and check that every
//! command `exec` reported as finished is in `history`, that `read` returns the old output, and
//! that the restarted shell runs in the saved cwd and environment.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Home;

fn exec_json(home: &Home, session: &str, command: &str) -> Option<Value> {
    exec_json_in(home.path(), session, command)
}

/// `exec` with the home given by path (usable from another thread than the `Home` owner's).
fn exec_json_in(home: &Path, session: &str, command: &str) -> Option<Value> {
    let out = std::process::Command::new(support::BIN)
        .args(["exec", "-s", session, "--format", "json", command])
        .env("AI_SESSION_HOME", home)
        .env_remove("AI_SESSION_SERVER")
        .current_dir(home)
        .output()
        .expect("run ai-session");
    serde_json::from_slice(&out.stdout)
        .ok()
        .filter(|v: &Value| v.get("state").is_some())
}

fn history_commands(home: &Home, session: &str) -> Vec<String> {
    let (history, _) = home.json(&["history", "-s", session, "--format", "json"]);
    history["commands"]
        .as_array()
        .unwrap_or_else(|| panic!("no commands in {history}"))
        .iter()
        .map(|c| c["command"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn kill_9_during_exec_stream_loses_no_finished_command() {
    let home = Home::new();
    let work = home.path().join("work dir");
    std::fs::create_dir(&work).unwrap();
    let out = home.run(&[
        "new",
        "--name",
        "w",
        "--env",
        "MARKER_ENV=kept-across-restart",
    ]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let first = exec_json(
        &home,
        "w",
        &format!("cd '{}' && echo entered", work.display()),
    )
    .unwrap();
    assert_eq!(first["exit_code"], 0, "{first}");

    // A stream of execs from another thread while this one kills the daemon with SIGKILL each
    // time a few more commands have finished (counted, not timed: the machine may be slow).
    let finished_count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let stream_home = home.path().to_path_buf();
    let streamer = {
        let (finished_count, stop) = (finished_count.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut finished = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 2000 {
                let command = format!("echo out-{i}-$((6*7))");
                if let Some(result) = exec_json_in(&stream_home, "w", &command)
                    && result["state"] == "exited"
                    && result["exit_code"] == 0
                {
                    let text = result["output"]["text"].as_str().unwrap();
                    assert!(text.contains(&format!("out-{i}-42")), "{result}");
                    finished.push(command);
                    finished_count.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
            finished
        })
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let wait_for = |n: usize| {
        while finished_count.load(Ordering::Relaxed) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut kills = 0;
    let mut finished_at_last_kill = 0;
    for _round in 1..=2 {
        // Four more commands after the last kill: at least three of them ran on the restarted
        // daemon, so it is up again (the streamer may have raced ahead before the first kill).
        wait_for(finished_at_last_kill + 4);
        let pid = home.daemon_pid();
        finished_at_last_kill = finished_count.load(Ordering::Relaxed);
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        kills += 1;
    }
    wait_for(finished_at_last_kill + 4);
    stop.store(true, Ordering::Relaxed);
    let finished = streamer.join().unwrap();
    assert!(
        finished.len() >= 12,
        "only {} commands finished",
        finished.len()
    );

    let history = history_commands(&home, "w");
    for command in &finished {
        assert!(
            history.contains(command),
            "{command:?} finished but is missing from history ({kills} kills): {history:?}"
        );
    }

    // The session is listed, its old output is readable, and its new shell runs where it was.
    let (list, _) = home.json(&["ls", "--format", "json"]);
    assert!(
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "w"),
        "{list}"
    );
    let (read, _) = home.json(&["read", "-s", "w", "--since", "0", "--format", "json"]);
    let text = read["text"].as_str().unwrap();
    assert!(
        text.contains("entered") && text.contains("out-0-42"),
        "{read}"
    );
    let pwd = exec_json(&home, "w", "pwd; echo \"env=$MARKER_ENV\"").unwrap();
    let output = pwd["output"]["text"].as_str().unwrap();
    assert!(output.contains(work.to_str().unwrap()), "{pwd}");
    assert!(output.contains("env=kept-across-restart"), "{pwd}");
}

#[test]
fn graceful_restart_restores_sessions_and_kill_forgets_them() {
    let home = Home::new();
    exec_json(&home, "keep", "echo kept-output").unwrap();
    exec_json(&home, "gone", "echo gone-output").unwrap();
    assert!(home.run(&["kill", "-s", "gone"]).status.success());
    assert!(home.run(&["kill-server"]).status.success());
    let (list, _) = home.json(&["ls", "--format", "json"]);
    let ids: Vec<_> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, vec![Value::from("keep")], "{list}");
    assert_eq!(
        history_commands(&home, "keep"),
        vec!["echo kept-output".to_string()]
    );
}

fn run_with(
    home: &Home,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &[u8],
) -> std::process::Output {
    use std::io::Write as _;
    let mut command = home.command(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ai-session");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn encrypted_store_holds_no_plaintext_and_needs_the_passphrase() {
    let home = Home::new();
    let out = run_with(
        &home,
        &[],
        &["key", "init", "--passphrase-file", "-"],
        b"first pass\n",
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let (status, _) = home.json(&["key", "status", "--format", "json"]);
    assert_eq!(status["initialized"], true, "{status}");
    assert_eq!(status["method"], "passphrase", "{status}");

    let pass = [("AI_SESSION_PASSPHRASE", "first pass")];
    let out = run_with(
        &home,
        &pass,
        &["exec", "-s", "enc", "--", "echo SECRET-MARK-$((40+2))"],
        b"",
    );
    assert!(
        support::stdout(&out).contains("SECRET-MARK-42"),
        "{}",
        support::stderr(&out)
    );
    let stored: Vec<_> = ["sessions", "metadata", "keys"]
        .iter()
        .flat_map(|dir| files_under(&home.path().join(dir)))
        .collect();
    assert!(
        stored.iter().any(|p| p.ends_with("history.log")),
        "{stored:?}"
    );
    for path in &stored {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            !bytes.windows(11).any(|w| w == b"SECRET-MARK"),
            "plaintext in {}",
            path.display()
        );
    }
    assert!(home.run(&["kill-server"]).status.success());

    // A wrong passphrase: the daemon refuses to start and says why.
    let out = run_with(&home, &[("AI_SESSION_PASSPHRASE", "nope")], &["ls"], b"");
    assert!(!out.status.success());
    assert!(
        eventually(|| home.log().contains("wrong passphrase")),
        "stderr: {}\nlog: {}",
        support::stderr(&out),
        home.log()
    );

    // Rewrap under a new passphrase: the same data opens with it.
    let out = run_with(
        &home,
        &pass,
        &["key", "change-passphrase", "--new-passphrase-file", "-"],
        b"second pass",
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let out = run_with(
        &home,
        &[("AI_SESSION_PASSPHRASE", "second pass")],
        &["history", "-s", "enc", "--format", "json"],
        b"",
    );
    assert!(
        support::stdout(&out).contains("SECRET-MARK-$((40+2))"),
        "{}",
        support::stderr(&out)
    );
}

fn eventually(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

#[test]
fn with_fsync_durability_an_answered_new_session_survives_kill_9() {
    let home = Home::new();
    let out = home
        .command(&["new", "--name", "fresh"])
        .env("AI_SESSION_DURABILITY", "fsync")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    // Killed right after the answer, before any background write could have run.
    home.kill_daemon_hard();
    let (list, _) = home.json(&["ls", "--format", "json"]);
    let names: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(names.contains(&"fresh"), "{list}");
}

#[test]
fn a_restored_session_watches_its_new_shells_output() {
    let home = Home::new();
    // Without the keeper the shell ends with its daemon: the next one restores the session as
    // a fresh shell whose offsets continue after the earlier shell's output.
    let ai = |args: &[&str]| {
        let out = run_with(&home, &[("AI_SESSION_KEEPER", "off")], args, b"");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ai(&["exec", "-s", "keep", "--", "echo before-restart"]);
    ai(&["kill-server"]);
    ai(&["watch", "-s", "keep", "--for", "HIT"]);
    ai(&["exec", "-s", "keep", "--", "echo 'a HIT'"]);
    let mut lines = Vec::new();
    support::eventually(std::time::Duration::from_secs(5), || {
        lines = ai(&["events", "--since", "0"])
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["kind"] == "output_matched")
            .map(|e| e["line"].as_str().unwrap_or_default().to_owned())
            .collect();
        !lines.is_empty()
    });
    assert_eq!(lines, ["a HIT"], "{}", home.log());
}
