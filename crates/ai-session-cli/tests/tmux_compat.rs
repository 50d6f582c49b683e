//! The same tmux-driving script, unchanged, against real tmux and against `ai-session` invoked
//! as `tmux`: what it extracts must be identical.

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
