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
    // A duration no other process on the machine uses, so pgrep finds only ours.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let orphan = format!("sleep 300.{}{nanos}", std::process::id());
    let out = sandbox("workspace", ws.path(), &format!("{orphan} & echo $!"));
    assert_eq!(out.status.code(), Some(0));
    let out = Command::new("pgrep")
        .args(["-f", &format!("^{orphan}$")])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).trim().is_empty(),
        "leftover: {}",
        text(&out.stdout)
    );
}

#[test]
fn everyday_tools_work_inside() {
    let ws = tempfile::tempdir().unwrap();
    for policy in ["strict", "workspace"] {
        let script = "set -e
            echo data > /dev/null
            tmp=$(mktemp); echo x > \"$tmp\"; cat \"$tmp\" > copied; rm \"$tmp\"
            ls /etc > /dev/null; wc -l < /etc/passwd > /dev/null
            /usr/bin/python3 -c 'import os, pty, subprocess; m, s = pty.openpty(); os.close(m); os.close(s); print(subprocess.run([\"echo\", \"sub\"], capture_output=True, text=True).stdout.strip())'
            printf 'a\\nb\\n' | sort -r | head -1
            mkdir -p deep/dir && ln -s deep link && test -d link/dir
            echo done";
        let out = sandbox(policy, ws.path(), script);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{policy}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "sub\nb\ndone\n", "{policy}");
        std::fs::remove_dir_all(ws.path().join("deep")).unwrap();
        std::fs::remove_file(ws.path().join("link")).unwrap();
    }
}

#[test]
fn policy_files_and_the_trusted_preset() {
    let ws = tempfile::tempdir().unwrap();
    let policy = ws.path().join("policy.toml");
    std::fs::write(
        &policy,
        "extends = 'strict'\n[fs_permissions]\nworkspace_writable = false\n",
    )
    .unwrap();
    let out = Command::new(LAUNCHER)
        .args(["--policy-file"])
        .arg(&policy)
        .args(["--workspace"])
        .arg(ws.path())
        .args([
            "--",
            "/bin/sh",
            "-c",
            "cat policy.toml > /dev/null && touch new-file",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "read-only workspace must refuse the write: {}",
        text(&out.stderr)
    );
    assert!(!ws.path().join("new-file").exists());

    std::fs::write(
        &policy,
        "extends = 'strict'\n[network_policy]\nmod = 'none'\n",
    )
    .unwrap();
    let out = Command::new(LAUNCHER)
        .arg("--policy-file")
        .arg(&policy)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("network_policy.mod"),
        "{}",
        text(&out.stderr)
    );

    // trusted: no sandbox at all, by explicit choice.
    let out = sandbox("trusted", ws.path(), "cat /proc/1/comm; hostname");
    assert_eq!(out.status.code(), Some(0));
    assert_ne!(text(&out.stdout).lines().nth(1), Some("ai-session-sandbox"));
}
