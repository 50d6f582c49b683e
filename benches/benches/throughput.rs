//! `cargo xtask bench throughput`: bulk PTY output, ai-session beside `script`, tmux and a raw
//! portable-pty drain, all measured in the same run on the same machine.
//!
//! Each contender drains the output of `seq 1 2000000` (14.89 MB) through a terminal:
//! - ai-session: `PtySession::exec` in an integrated bash session (the reader task feeds the
//!   scrollback ring and the vt100 screen; completion from the OSC 133 `D` mark);
//! - ai-session kept: the same through the PTY keeper (`PtySession::spawn_kept`: the terminal
//!   belongs to a keeper process, output moves through its pipe and shared memory, committed
//!   per chunk), when `AI_SESSION_BIN` names the binary whose `__keeper` mode to start;
//! - `script -qfec 'seq 1 2000000' /dev/null >/dev/null`;
//! - tmux: `send-keys 'seq ...; tmux wait-for -S done' Enter` then `tmux wait-for done`
//!   (exact completion, private `-L` socket, `bash --norc --noprofile` pane);
//! - raw: portable-pty spawns `seq` and the parent reads the master until EOF (no screen model).
//!
//! Environment: `THROUGHPUT_BENCH_OUT` (JSON path), `THROUGHPUT_BENCH_REPS` (default 3),
//! `THROUGHPUT_BENCH_LINES` (default 2000000), `AI_SESSION_BIN` (for the kept row).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ai_session_pty::{ExecOptions, ExecState, Keeper, PtySession, SessionConfig};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use serde_json::json;

fn main() {
    let reps = env_usize("THROUGHPUT_BENCH_REPS", 3).max(1);
    let lines = env_usize("THROUGHPUT_BENCH_LINES", 2_000_000);
    let out_path = std::env::var("THROUGHPUT_BENCH_OUT")
        .ok()
        .map(PathBuf::from);
    let seq_cmd = format!("seq 1 {lines}");
    let bytes = seq_bytes(lines);
    let mb = bytes as f64 / 1e6;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let keeper_dir = tempfile::tempdir().expect("temp dir for the keeper socket");
    let keeper = std::env::var_os("AI_SESSION_BIN").map(|bin| {
        let socket = keeper_dir.path().join("keeper.sock");
        runtime
            .block_on(Keeper::connect_or_start(
                &socket,
                &[bin, "__keeper".into(), socket.clone().into()],
            ))
            .expect("start the PTY keeper")
    });
    let mut ours = Vec::new();
    let mut kept = Vec::new();
    let mut script = Vec::new();
    let mut tmux = Vec::new();
    let mut raw = Vec::new();
    // Interleaved, so machine load drifting during the run hits every contender alike.
    for rep in 0..reps {
        eprintln!("throughput rep {}/{reps}: ai-session ...", rep + 1);
        ours.push(mb / runtime.block_on(ai_session_exec(&seq_cmd, None)));
        if let Some(keeper) = &keeper {
            eprintln!("throughput rep {}/{reps}: ai-session kept ...", rep + 1);
            kept.push(mb / runtime.block_on(ai_session_exec(&seq_cmd, Some(keeper))));
        }
        eprintln!("throughput rep {}/{reps}: script ...", rep + 1);
        script.push(mb / script_drain(&seq_cmd));
        eprintln!("throughput rep {}/{reps}: tmux ...", rep + 1);
        tmux.push(mb / tmux_drain(&seq_cmd));
        eprintln!("throughput rep {}/{reps}: raw portable-pty ...", rep + 1);
        raw.push(mb / raw_pty_drain(lines));
    }
    drop(keeper);
    let kept = (!kept.is_empty()).then(|| median(&mut kept));
    let (ours, script, tmux, raw) = (
        median(&mut ours),
        median(&mut script),
        median(&mut tmux),
        median(&mut raw),
    );

    println!("PTY output throughput, `{seq_cmd}` ({mb:.2} MB), median of {reps}:");
    println!("  {:<44} {ours:>8.1} MB/s", "ai-session PTY session (exec)");
    if let Some(kept) = kept {
        println!(
            "  {:<44} {kept:>8.1} MB/s  (kept/direct {:.2}x, kept/script {:.2}x)",
            "ai-session kept session (PTY keeper)",
            kept / ours,
            kept / script
        );
    }
    println!(
        "  {:<44} {script:>8.1} MB/s  (ai-session {:.2}x)",
        "script -qfec",
        ours / script
    );
    println!(
        "  {:<44} {tmux:>8.1} MB/s  (ai-session {:.2}x)",
        "tmux pane + wait-for",
        ours / tmux
    );
    println!(
        "  {:<44} {raw:>8.1} MB/s  (ai-session {:.2}x)",
        "raw portable-pty drain",
        ours / raw
    );

    let mut rows = vec![
        row(
            "PTY output throughput vs script",
            ours,
            "script -qfec",
            script,
            ">= 1x script",
        ),
        row(
            "PTY output throughput vs tmux",
            ours,
            "tmux (wait-for)",
            tmux,
            ">= 1x tmux",
        ),
        row(
            "PTY output throughput vs raw PTY",
            ours,
            "raw portable-pty drain",
            raw,
            "goal 3x script with OPOST off (info)",
        ),
    ];
    if let Some(kept) = kept {
        rows.push(row(
            "PTY output throughput, kept session vs script",
            kept,
            "script -qfec",
            script,
            ">= 1x script",
        ));
        let mut vs_direct = row(
            "PTY output throughput, kept vs direct session",
            kept,
            "direct session",
            ours,
            ">= 0.95x direct (no regression beyond 5%)",
        );
        vs_direct["pass"] = json!(kept / ours >= 0.95);
        rows.push(vs_direct);
    }
    let report = json!({
        "command": seq_cmd,
        "bytes": bytes,
        "reps": reps,
        "unit": "MB/s",
        "ai_session": ours,
        "ai_session_kept": kept,
        "script": script,
        "tmux": tmux,
        "raw_portable_pty": raw,
        "rows": rows,
    });
    if let Some(path) = out_path {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create bench output dir");
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&report).expect("JSON"))
            .expect("write throughput JSON");
    }
}

/// One row of the `cargo xtask bench` table; higher is better here.
fn row(
    operation: &str,
    ours: f64,
    baseline_name: &str,
    baseline: f64,
    target: &str,
) -> serde_json::Value {
    let ratio = ours / baseline;
    // "(info)" rows state a goal, not a gate.
    let pass = if target.ends_with("(info)") {
        serde_json::Value::Null
    } else {
        json!(ratio >= 1.0)
    };
    json!({
        "operation": operation,
        "ours": ours,
        "unit": "MB/s",
        "baseline_name": baseline_name,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "pass": pass,
    })
}

/// Bytes `seq 1 n` prints (digits plus newline per line).
fn seq_bytes(n: usize) -> usize {
    (1..=n).map(|i| i.to_string().len() + 1).sum()
}

async fn ai_session_exec(command: &str, keeper: Option<&Keeper>) -> f64 {
    let session = match keeper {
        Some(keeper) => PtySession::spawn_kept(SessionConfig::default(), keeper, b"bench").await,
        None => PtySession::spawn(SessionConfig::default()).await,
    }
    .expect("spawn an ai-session PTY session");
    session
        .wait_ready(Duration::from_secs(10))
        .await
        .expect("session prompt");
    let started = Instant::now();
    let outcome = session
        .exec(command, ExecOptions::with_timeout(Duration::from_secs(300)))
        .await
        .expect("exec seq");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(outcome.state, ExecState::Exited, "seq did not finish");
    assert_eq!(outcome.record.exit_code, Some(0), "seq failed");
    session.kill().await;
    elapsed
}

fn script_drain(command: &str) -> f64 {
    let started = Instant::now();
    let status = Command::new("script")
        .args(["-qfec", command, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run script (util-linux)");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(status.success(), "script failed: {status}");
    elapsed
}

fn tmux_drain(command: &str) -> f64 {
    let socket = format!("aisbench-thr-{}", std::process::id());
    let tmux = |args: &[&str]| {
        let status = Command::new("tmux")
            .args(["-f", "/dev/null", "-L", &socket])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux {args:?} failed: {status}");
    };
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "bulk",
        "-x",
        "80",
        "-y",
        "24",
        "exec /bin/bash --norc --noprofile",
    ]);
    // The pane's shell must be reading before the keys arrive, or the timing includes start-up.
    let ready = format!("tmux -L {socket} wait-for -S ready");
    tmux(&["send-keys", "-t", "bulk", &ready, "Enter"]);
    tmux(&["wait-for", "ready"]);
    let line = format!("{command}; tmux -L {socket} wait-for -S done");
    let started = Instant::now();
    tmux(&["send-keys", "-t", "bulk", &line, "Enter"]);
    tmux(&["wait-for", "done"]);
    let elapsed = started.elapsed().as_secs_f64();
    tmux(&["kill-server"]);
    elapsed
}

fn raw_pty_drain(lines: usize) -> f64 {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let mut cmd = CommandBuilder::new("seq");
    cmd.args(["1", &lines.to_string()]);
    let started = Instant::now();
    let mut child = pty.slave.spawn_command(cmd).expect("spawn seq");
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().expect("master reader");
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break, // EOF, or EIO once the slave side closed
            Ok(n) => total += n,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    child.wait().expect("reap seq");
    assert!(
        total >= seq_bytes(lines),
        "raw drain read only {total} bytes"
    );
    elapsed
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
