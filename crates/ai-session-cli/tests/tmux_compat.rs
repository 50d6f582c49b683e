//! The same tmux-driving script, unchanged, against real tmux and against `ai-session` invoked
//! as `tmux`: what it extracts must be identical.

mod support;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

const HARNESS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/tmux_compat/agent_harness.sh"
);

fn run_harness(bin_dir: &Path, env: &[(&str, &Path)]) -> String {
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut command = Command::new("bash");
    command.arg(HARNESS).env("PATH", path);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run the harness");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "harness failed in {}: {}\nstdout:\n{stdout}\nstderr:\n{}",
        bin_dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn same_script_same_results_on_tmux_and_ai_session() {
    let Ok(tmux) = which("tmux") else {
        panic!("tmux is not installed: install it (apt-get install tmux) to run this comparison");
    };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();

    // Real tmux on a private socket, panes running a plain bash like ai-session's sessions.
    let tmux_bin = dir.path().join("tmux-bin");
    std::fs::create_dir(&tmux_bin).unwrap();
    let conf = dir.path().join("tmux.conf");
    std::fs::write(
        &conf,
        "set -g default-command 'exec /bin/bash --norc --noprofile'\nset -g history-limit 5000\n",
    )
    .unwrap();
    let socket = dir.path().join("tmux.sock");
    write_executable(
        &tmux_bin.join("tmux"),
        &format!(
            "#!/bin/sh\nexec {} -S {} -f {} \"$@\"\n",
            tmux.display(),
            socket.display(),
            conf.display()
        ),
    );

    // ai-session under the name `tmux`, with its own home and daemon.
    let ours_bin = dir.path().join("ours-bin");
    std::fs::create_dir(&ours_bin).unwrap();
    symlink(env!("CARGO_BIN_EXE_ai-session"), ours_bin.join("tmux")).unwrap();
    let home = dir.path().join("home");

    let theirs = run_harness(&tmux_bin, &[("HARNESS_DIR", &work)]);
    let _ = Command::new(&tmux)
        .args(["-S", socket.to_str().unwrap(), "kill-server"])
        .stderr(std::process::Stdio::null())
        .status();
    let ours = run_harness(
        &ours_bin,
        &[("HARNESS_DIR", &work), ("AI_SESSION_HOME", &home)],
    );
    let _ = Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .arg("kill-server")
        .env("AI_SESSION_HOME", &home)
        .stdout(std::process::Stdio::null())
        .status();

    assert_eq!(
        ours, theirs,
        "ai-session and tmux extracted different results"
    );
    // The comparison is only worth something if the script saw real output.
    for expected in [
        "alpha   beta",
        "/tmp\nexit=0",
        "== 3: false\nexit=1",
        "59\n60\nexit=0",
        "exit=7",
        "cwd=/tmp",
        "after-interrupt",
        "literal-keys Enter\nexit=0",
        "listed=1",
        "after-kill=gone",
    ] {
        assert!(ours.contains(expected), "missing {expected:?} in:\n{ours}");
    }
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

/// `ai-session tmux` with its own home; `args` as a script passes them.
fn ours(home: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .arg("tmux")
        .args(args)
        .env("AI_SESSION_HOME", home)
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .output()
        .expect("run ai-session tmux");
    assert!(
        output.status.success(),
        "ai-session tmux {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn import_tmux_keeps_sessions_windows_and_layouts() {
    let Ok(tmux) = which("tmux") else {
        panic!("tmux is not installed: install it (apt-get install tmux) to run this comparison");
    };
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("real.sock");
    let socket = socket.to_str().unwrap();
    let real = |args: &[&str]| {
        let out = Command::new(&tmux)
            .args(["-S", socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    real(&[
        "new", "-d", "-s", "work", "-x", "120", "-y", "40", "-n", "editor",
    ]);
    real(&["neww", "-t", "work", "-n", "build"]);
    real(&["splitw", "-h", "-t", "work:build"]);
    real(&["splitw", "-v", "-l", "10", "-t", "work:build.1"]);
    real(&["new", "-d", "-s", "web", "-x", "100", "-y", "30"]);
    let format = "#{session_name}:#{window_index}:#{window_name}:#{window_active}:#{window_layout}";
    let theirs = real(&["list-windows", "-a", "-F", format]);

    let home = dir.path().join("home");
    let imported = Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .args(["import", "tmux", "-S", socket])
        .env("AI_SESSION_HOME", &home)
        .output()
        .unwrap();
    real(&["kill-server"]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let listed = ours(&home, &["list-windows", "-a", "-F", format]);
    let panes = ours(
        &home,
        &["list-panes", "-a", "-F", "#{pane_id} #{ai_session}"],
    );
    ours(&home, &["kill-server"]);
    assert_eq!(listed, theirs, "imported windows differ from tmux's");
    assert!(panes.contains("%3 tmux-work-1.2"), "{panes}");
}

#[test]
fn formats_report_exit_codes_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = ours(
        &home,
        &[
            "new",
            "-d",
            "-s",
            "agent",
            "-x",
            "100",
            "-y",
            "30",
            "-P",
            "-F",
            "#{session_id} #{pane_id} #{window_width}x#{window_height}",
        ],
    );
    assert_eq!(out.trim(), "$0 %0 100x30");
    let state = |fmt: &str| {
        ours(&home, &["display", "-p", "-t", "agent", fmt])
            .trim()
            .to_owned()
    };
    // Typed as a person would; the pane's session records the exit code exactly.
    ours(
        &home,
        &["send-keys", "-t", "agent", "ls /nonexistent-dir", "Enter"],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state("#{ai_last_exit}").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no exit code recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        state("#{ai_last_exit} #{ai_state} #{ai_commands}"),
        "2 idle 1"
    );
    assert!(state("#{ai_last_digest}").contains("No such file or directory"));
    ours(&home, &["send-keys", "-t", "agent", "cat", "Enter"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state("#{ai_state}") != "awaiting_input" {
        assert!(
            std::time::Instant::now() < deadline,
            "cat never showed as awaiting input"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ours(&home, &["send-keys", "-t", "agent", "C-c"]);
    ours(&home, &["kill-server"]);
    let after = Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .args(["tmux", "has-session"])
        .env("AI_SESSION_HOME", &home)
        .output()
        .unwrap();
    assert!(!after.status.success());
    assert!(String::from_utf8_lossy(&after.stderr).contains("no server running"));
}

/// A detached 80x24 session `name` running `sh`, for the pipe tests.
fn sh_pane(home: &Path, name: &str) {
    ours(
        home,
        &["new", "-d", "-s", name, "-x", "80", "-y", "24", "sh"],
    );
}

/// tmux writes a pane's output to its pipe before it draws it, so whatever the pane shows when
/// `pipe-pane` stops the pipe is in the pipe's file when the stop returns.
#[test]
fn stopping_a_pipe_keeps_all_the_pane_printed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let log = dir.path().join("pipe.log");
    sh_pane(&home, "p");
    let pipe = format!("cat >> {}", log.display());
    for round in 0..5 {
        ours(&home, &["pipe-pane", "-t", "p", &pipe]);
        // `$((...))` so the typed line itself never shows the mark.
        let command = format!("seq 1 2000; echo end-$(({round}+1000))");
        ours(&home, &["send-keys", "-t", "p", &command, "Enter"]);
        let mark = format!("end-{}", round + 1000);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !ours(&home, &["capture-pane", "-p", "-t", "p"]).contains(&mark) {
            assert!(std::time::Instant::now() < deadline, "{mark} never showed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        ours(&home, &["pipe-pane", "-t", "p"]);
        let piped = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            piped.contains(&format!("2000\r\n{mark}")),
            "round {round}: the pipe's file lacks the end of what the pane showed: {:?}",
            &piped[piped.len().saturating_sub(200)..]
        );
    }
    ours(&home, &["kill-server"]);
}

/// A pipe whose command reads late gets every byte, as tmux's does: the pane waits for it
/// instead of its scrollback ring (4 MiB) dropping what the pipe has not taken yet.
#[test]
fn a_pipe_that_reads_late_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let log = dir.path().join("pipe.log");
    sh_pane(&home, "p");
    // ~12 MB of output, three rings' worth, the first of it while the pipe's command has not
    // started reading.
    let lines = 1_500_000;
    ours(
        &home,
        &[
            "pipe-pane",
            "-t",
            "p",
            &format!("sleep 2; cat > {}", log.display()),
        ],
    );
    // The pause lets the follower start and take its hold first: output printed before its
    // first read is held by nothing.
    let command = format!("sleep 1; seq 1 {lines}; echo end-$((1+1))");
    ours(&home, &["send-keys", "-t", "p", &command, "Enter"]);
    let piped_to_the_end = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("end-2")
    };
    assert!(
        support::eventually(std::time::Duration::from_secs(120), piped_to_the_end),
        "the end never reached the pipe"
    );
    ours(&home, &["pipe-pane", "-t", "p"]);
    ours(&home, &["kill-server"]);
    let piped = std::fs::read_to_string(&log).unwrap();
    let numbers: Vec<u64> = piped
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').parse().ok())
        .collect();
    let first_gap = numbers.iter().zip(1..).find(|(n, i)| **n != *i);
    let log = std::fs::read_to_string(home.join("log").join("default.log")).unwrap_or_default();
    let log: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    assert!(
        numbers.len() == lines && first_gap.is_none(),
        "{} of {lines} numbers piped; first out of place: {first_gap:?}; daemon warnings: {log:#?}",
        numbers.len()
    );
}

/// Stopping the pipe of a pane that keeps printing closes the pipe as tmux does: its command
/// reads to EOF and finishes on its own, instead of being killed.
#[test]
fn stopping_a_pipe_of_a_busy_pane_ends_its_command_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let marker = dir.path().join("eof");
    sh_pane(&home, "busy");
    let pipe = format!("cat > /dev/null; echo reached-eof > {}", marker.display());
    ours(&home, &["pipe-pane", "-t", "busy", &pipe]);
    // Output without a pause: the follower never finds the pane quiet.
    let ticking = "while :; do echo tick; done";
    ours(&home, &["send-keys", "-t", "busy", ticking, "Enter"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    ours(&home, &["pipe-pane", "-t", "busy"]);
    let ended = std::fs::read_to_string(&marker).unwrap_or_default();
    ours(&home, &["send-keys", "-t", "busy", "C-c"]);
    ours(&home, &["kill-server"]);
    assert_eq!(ended.trim(), "reached-eof", "the pipe's command was killed");
}
