//! The launcher's contract through the real binary: exit status passthrough, the
//! documented exit codes for failed steps, signal forwarding, the view it builds.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const LAUNCHER: &str = env!("CARGO_BIN_EXE_ai-session-sandbox");

fn sandbox(policy: &str, workspace: &Path, script: &str) -> Output {
    Command::new(LAUNCHER)
        .args(["--policy", policy, "--workspace"])
        .arg(workspace)
        .args(["--", "/bin/sh", "-c", script])
        .current_dir(workspace)
        .output()
        .expect("launcher starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn exit_status_and_output_pass_through() {
    let ws = tempfile::tempdir().unwrap();
    for policy in ["strict", "workspace"] {
        let out = sandbox(policy, ws.path(), "echo out; echo err >&2; exit 7");
        assert_eq!(
            out.status.code(),
            Some(7),
            "{policy}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "out\n");
        assert_eq!(text(&out.stderr), "err\n");
    }
}

#[test]
fn the_workspace_is_writable_and_at_its_host_path() {
    let ws = tempfile::tempdir().unwrap();
    let out = sandbox("strict", ws.path(), "pwd; echo hi > made-inside");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let canonical = ws.path().canonicalize().unwrap();
    assert_eq!(text(&out.stdout).trim(), canonical.to_string_lossy());
    assert_eq!(
        std::fs::read_to_string(ws.path().join("made-inside")).unwrap(),
        "hi\n"
    );
}

#[test]
fn the_program_runs_without_privileges() {
    let ws = tempfile::tempdir().unwrap();
    let out = sandbox(
        "strict",
        ws.path(),
        "grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; hostname",
    );
    let stdout = text(&out.stdout);
    for line in [
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
        "ai-session-sandbox",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in {stdout}");
    }
}

#[test]
fn failed_steps_are_named_and_never_run_the_program() {
    let ws = tempfile::tempdir().unwrap();
    let marker = ws.path().join("ran");
    let out = Command::new(LAUNCHER)
        .args([
            "--policy",
            "strict",
            "--workspace",
            "/nonexistent/workspace",
            "--",
            "touch",
        ])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("sandbox step 'paths' failed"),
        "{}",
        text(&out.stderr)
    );
    assert!(!marker.exists());

    let out = sandbox("strict", ws.path(), "exit 0");
    assert_eq!(out.status.code(), Some(0));
    let out = Command::new(LAUNCHER)
        .args(["--policy", "strict", "--workspace"])
        .arg(ws.path())
        .args(["--", "no-such-program-anywhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("sandbox step 'exec' failed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_kill_of_the_launcher_reaches_the_program() {
    let ws = tempfile::tempdir().unwrap();
    let mut child = Command::new(LAUNCHER)
        .args(["--policy", "strict", "--workspace"])
        .arg(ws.path())
        .args([
            "--",
            "/bin/sh",
            "-c",
            "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sandbox did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(status.code(), Some(42));
    assert!(rest.contains("got-term"), "{rest}");
}

#[test]
fn orphans_do_not_outlive_the_sandbox() {
    let ws = tempfile::tempdir().unwrap();
    // A background process that would keep running is killed with the pid namespace.
    let out = sandbox("workspace", ws.path(), "sleep 300 & echo $!");
    assert_eq!(out.status.code(), Some(0));
    let out = Command::new("pgrep")
        .args(["-f", "^sleep 300$"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).trim().is_empty(),
        "leftover: {}",
        text(&out.stdout)
    );
}
