//! Behaviour at the limits, through the real binary: too many sessions, a command printing
//! hundreds of MB, a full disk under the store, and a client that never reads.

mod support;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Home, stderr};

fn rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn too_many_sessions_is_a_clear_resource_exhausted_error() {
    let home = Home::new();
    let new = |name: &str| {
        home.command(&["new", "--name", name])
            .env("AI_SESSION_MAX_SESSIONS", "3")
            .output()
            .expect("run ai-session new")
    };
    for name in ["a", "b", "c"] {
        let out = new(name);
        assert!(out.status.success(), "new {name}: {}", stderr(&out));
    }
    let out = new("d");
    assert!(
        !out.status.success(),
        "a 4th session was created past the limit of 3"
    );
    let message = stderr(&out);
    assert!(
        message.contains("resource exhausted") && message.contains("limit 3"),
        "unclear error at the session limit: {message}"
    );
    // Over the wire: the dedicated JSON-RPC code.
    let mut stream = UnixStream::connect(home.socket()).expect("connect");
    stream
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.new\",\"params\":{}}\n")
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&stream), &mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["error"]["code"], -32007, "{v}");
    // Freeing one makes room again.
    let out = home.run(&["kill", "-s", "a"]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    let out = new("d");
    assert!(out.status.success(), "new after kill: {}", stderr(&out));
}

/// `yes | head -c N` through a session: the command completes with its exit code, the daemon's
/// memory stays bounded (scrollback is a ring), and the session keeps working. N is 64 MiB by
/// default (1 GiB with `AI_SESSION_DEGRADATION_BYTES=1G`, as the soak docs describe).
#[test]
fn huge_output_keeps_daemon_memory_bounded() {
    let home = Home::new();
    let size = std::env::var("AI_SESSION_DEGRADATION_BYTES").unwrap_or_else(|_| "64M".into());
    let out = home.run(&["new", "--name", "big"]);
    assert!(out.status.success(), "new: {}", stderr(&out));
    let pid = home.daemon_pid();
    let before = rss_kb(pid);
    let command = format!("yes | head -c {size}; echo done-$?");
    let (json, out) = home.json(&[
        "exec",
        "--format",
        "json",
        "-s",
        "big",
        "--timeout",
        "600",
        "--",
        &command,
    ]);
    assert!(out.status.success() || json["exit_code"] == 0, "{json}");
    assert_eq!(json["state"], "exited", "{json}");
    assert_eq!(json["exit_code"], 0, "{json}");
    let after = rss_kb(pid);
    assert!(
        after < before + 256 * 1024,
        "daemon RSS grew from {before} KB to {after} KB for {size} of output"
    );
    let text = json["output"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("done-0"),
        "the digest lost the last line: {json}"
    );
    let (json, _) = home.json(&[
        "exec",
        "--format",
        "json",
        "-s",
        "big",
        "--",
        "echo still-here",
    ]);
    assert!(
        json["output"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("still-here"),
        "{json}"
    );
}

/// A client that sends requests and never reads its responses must not stall anyone else.
#[test]
fn a_client_that_never_reads_does_not_block_others() {
    let home = Home::new();
    let out = home.run(&["exec", "--", "seq 1 200000 >/dev/null; seq 1 20000"]);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    // Pile up big responses (the whole scrollback, repeatedly) on a connection nobody reads.
    let mut hung = UnixStream::connect(home.socket()).expect("connect");
    hung.set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let request = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"read\",\"params\":{\"session\":\"default\",\"since\":0}}\n";
    for _ in 0..2000 {
        if hung.write_all(request).is_err() {
            break; // the daemon stopped reading from us: exactly the back-pressure we want
        }
    }
    let idle = UnixStream::connect(home.socket()).expect("second idle client");
    let started = Instant::now();
    for i in 0..5 {
        let (json, _) = home.json(&["exec", "--format", "json", "--", &format!("echo other{i}")]);
        assert!(
            json["output"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("other{i}")),
            "{json}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "other clients were slowed to {:?} by a client that never reads",
        started.elapsed()
    );
    drop(hung);
    drop(idle);
    let out = home.run(&["status"]);
    assert!(
        out.status.success(),
        "daemon gone after the hung client: {}",
        stderr(&out)
    );
}

/// The store on a full filesystem (a 4 MiB tmpfs we mount): commands still run or fail with
/// a message naming the disk; the daemon survives; after space is freed a restarted daemon
/// reads its store back (no corruption).
#[test]
fn full_disk_under_the_store_is_reported_and_survived() {
    if !nix_is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let home = Home::new();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(home.path())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("skipped: could not mount a tmpfs (no privilege here)");
        return;
    }
    let _unmount = Unmount(home.path().to_path_buf());
    let out = home.run(&["exec", "--", "echo before-full"]);
    assert!(out.status.success(), "exec before full: {}", stderr(&out));
    // Fill the filesystem.
    let filler = home.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let mut failures = Vec::new();
    for i in 0..5 {
        let out = home.run(&[
            "exec",
            "--format",
            "json",
            "--",
            &format!("seq 1 20000; echo full{i}"),
        ]);
        if !out.status.success() {
            failures.push(stderr(&out));
        }
    }
    for message in &failures {
        assert!(
            message.to_lowercase().contains("space") || message.to_lowercase().contains("disk"),
            "a failure on a full disk does not say so: {message}"
        );
    }
    let out = home.run(&["status"]);
    assert!(
        out.status.success(),
        "daemon died on a full disk: {}",
        stderr(&out)
    );
    // Free the space, restart the daemon: the store must read back.
    std::fs::remove_file(&filler).unwrap();
    let out = home.run(&["kill-server"]);
    assert!(out.status.success(), "kill-server: {}", stderr(&out));
    let out = home.run(&["exec", "--", "echo after-free"]);
    assert!(
        out.status.success(),
        "the daemon could not start on the store written while the disk was full: {}",
        stderr(&out)
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Stops the daemon and unmounts the tmpfs when the test ends, pass or fail.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new(support::BIN)
            .args(["kill-server"])
            .env("AI_SESSION_HOME", &self.0)
            .output();
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
