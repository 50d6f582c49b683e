//! `cargo xtask bench scale`: one release daemon holding many concurrent sessions.
//!
//! Measures, in one run: creation of `SCALE_BENCH_SESSIONS` sessions (default 1000) over 16
//! connections; the daemon's RSS before and with every session idle (per-session growth), the
//! shells' RSS/PSS reported separately; exec latency with 100 sessions running commands at
//! once; protocol messages per second (`hello` over 16 persistent connections); kill-all time,
//! and afterwards the daemon's fd count and zombies. Baseline in the same run: a tmux server's
//! RSS growth per session (`SCALE_BENCH_TMUX` sessions, default 200).
//!
//! Environment: `AI_SESSION_BIN` (required), `SCALE_BENCH_OUT` (JSON path),
//! `SCALE_BENCH_SESSIONS`, `SCALE_BENCH_TMUX`, `SCALE_BENCH_MSG_SECS` (default 3).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ai_session::protocol::{ExecParams, NewSessionParams};
use ai_session_benches::BenchDaemon;
use ai_session_benches::procfs::{
    children_memory, fd_count, kept_mappings, rss_kb, session_fd_count, threads, zombies_of,
};
use serde_json::json;

const CONNECTIONS: usize = 16;
const BUSY_SESSIONS: usize = 100;

fn main() {
    let bin = PathBuf::from(std::env::var("AI_SESSION_BIN").expect(
        "set AI_SESSION_BIN to a release ai-session binary (cargo xtask bench scale does this)",
    ));
    let sessions = env_usize("SCALE_BENCH_SESSIONS", 1000);
    let tmux_sessions = env_usize("SCALE_BENCH_TMUX", 200);
    let msg_secs = env_usize("SCALE_BENCH_MSG_SECS", 3) as u64;
    let out_path = std::env::var("SCALE_BENCH_OUT").ok().map(PathBuf::from);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let daemon = BenchDaemon::start(
        &bin,
        "scale",
        &[("AI_SESSION_MAX_SESSIONS", (sessions + 16).to_string())],
        Duration::from_secs(10),
    );
    let pid = daemon.pid();
    let socket = daemon.socket();

    // Warm the daemon up (first connection, first session: lazy statics, allocator arenas).
    runtime.block_on(async {
        let c = ai_session::Client::connect(&socket).await.expect("connect");
        c.hello().await.expect("hello");
        let s = c
            .new_session(&NewSessionParams::default())
            .await
            .expect("warm-up session");
        c.kill_session(&s.id).await.expect("kill warm-up");
    });
    std::thread::sleep(Duration::from_millis(500));
    let base_rss = rss_kb(pid);
    let base_fds = fd_count(pid);
    let base_session_fds = session_fd_count(pid);
    let base_threads = threads(pid);
    // The PTY keeper holds the terminals and shells (absent with AI_SESSION_KEEPER=off).
    let keeper = daemon.keeper_pid();
    assert!(
        keeper.is_some() || std::env::var("AI_SESSION_KEEPER").as_deref() == Ok("off"),
        "the daemon runs without its PTY keeper (see its log)"
    );
    let keeper_rss = || keeper.map_or(0, rss_kb);
    let keeper_fds = || keeper.map_or(0, fd_count);
    let shell_parent = keeper.unwrap_or(pid);
    let base_keeper_rss = keeper_rss();
    let base_keeper_fds = keeper_fds();
    eprintln!(
        "scale: daemon pid {pid}, base RSS {base_rss} KB, {base_fds} fds; keeper {keeper:?}, RSS {base_keeper_rss} KB, {base_keeper_fds} fds"
    );

    eprintln!("scale: creating {sessions} sessions over {CONNECTIONS} connections ...");
    let started = Instant::now();
    let ids = runtime.block_on(create_all(&socket, sessions));
    let create_secs = started.elapsed().as_secs_f64();
    let rate = sessions as f64 / create_secs;
    eprintln!("scale: {sessions} sessions in {create_secs:.2} s ({rate:.0}/s)");

    std::thread::sleep(Duration::from_secs(3));
    let idle_rss = rss_kb(pid);
    let idle_keeper_rss = keeper_rss();
    let daemon_per_session_kb = (idle_rss.saturating_sub(base_rss)) as f64 / sessions as f64;
    let keeper_per_session_kb =
        (idle_keeper_rss.saturating_sub(base_keeper_rss)) as f64 / sessions as f64;
    let per_session_kb = daemon_per_session_kb + keeper_per_session_kb;
    let (shell_rss, shell_pss, shells) = children_memory(shell_parent);
    let idle_fds = fd_count(pid);
    let idle_keeper_fds = keeper_fds();
    let idle_threads = threads(pid);
    eprintln!(
        "scale: daemon RSS {idle_rss} KB idle ({daemon_per_session_kb:.1} KB/session), keeper {idle_keeper_rss} KB \
         ({keeper_per_session_kb:.1} KB/session), {shells} shells \
         {:.0} KB RSS / {:.0} KB PSS each, {idle_fds} fds (keeper {idle_keeper_fds}), {idle_threads} threads",
        shell_rss as f64 / shells.max(1) as f64,
        shell_pss as f64 / shells.max(1) as f64
    );

    eprintln!("scale: exec latency, {BUSY_SESSIONS} sessions at once ...");
    let (p50, p99, exec_max) = runtime.block_on(exec_under_load(&socket, &ids));
    let busy_rss = rss_kb(pid);
    eprintln!("scale: exec under load p50 {p50:.2} ms, p99 {p99:.2} ms, max {exec_max:.1} ms");

    eprintln!("scale: protocol messages for {msg_secs} s over {CONNECTIONS} connections ...");
    let msgs = runtime.block_on(messages_per_second(&socket, Duration::from_secs(msg_secs)));
    eprintln!("scale: {msgs:.0} msgs/s");

    let started = Instant::now();
    runtime.block_on(kill_all(&socket, &ids));
    let kill_secs = started.elapsed().as_secs_f64();
    // Once every kill answered, its terminal, pipe, shared memory and files must be gone: no
    // wait before these counts (the audit and store writers' own files may still be open).
    let answered_fds = fd_count(pid);
    let answered_session_fds = session_fd_count(pid);
    let answered_mappings = kept_mappings(pid);
    let answered_keeper_fds = keeper_fds();
    std::thread::sleep(Duration::from_secs(1));
    let end_fds = fd_count(pid);
    let end_keeper_fds = keeper_fds();
    let end_rss = rss_kb(pid);
    let zombies = zombies_of(pid) + keeper.map_or(0, zombies_of);
    eprintln!(
        "scale: killed all in {kill_secs:.2} s; fds {base_fds} -> {answered_fds} when answered \
         (of sessions: {base_session_fds} -> {answered_session_fds}, {answered_mappings} shared areas mapped), {end_fds} 1 s later \
         (keeper {base_keeper_fds} -> {answered_keeper_fds} -> {end_keeper_fds}), zombies {zombies}, RSS {end_rss} KB"
    );
    drop(daemon);

    eprintln!("scale: tmux baseline with {tmux_sessions} sessions ...");
    let tmux_kb = tmux_per_session_kb(tmux_sessions);
    eprintln!("scale: tmux server {tmux_kb:.1} KB/session");

    println!("Scale: {sessions} concurrent sessions in one daemon");
    println!("  creation                     {create_secs:.2} s ({rate:.0} sessions/s)");
    println!(
        "  daemon + keeper RSS          daemon {base_rss} -> {idle_rss} KB, keeper {base_keeper_rss} -> {idle_keeper_rss} KB idle: \
         {per_session_kb:.1} KB per idle session ({daemon_per_session_kb:.1} + {keeper_per_session_kb:.1}; tmux server: {tmux_kb:.1} KB)"
    );
    println!(
        "  shells (reported apart)      {:.0} KB RSS, {:.0} KB PSS per shell",
        shell_rss as f64 / shells.max(1) as f64,
        shell_pss as f64 / shells.max(1) as f64
    );
    println!(
        "  daemon fds / threads         {idle_fds} / {idle_threads} (base {base_fds} / {base_threads})"
    );
    println!("  exec, {BUSY_SESSIONS} sessions at once   p50 {p50:.2} ms, p99 {p99:.2} ms");
    println!("  protocol (hello)             {msgs:.0} msgs/s");
    println!(
        "  kill all                     {kill_secs:.2} s; daemon fds {base_fds} -> {answered_fds} when answered -> {end_fds}; keeper fds {base_keeper_fds} -> {answered_keeper_fds}; zombies {zombies}"
    );

    let report = json!({
        "sessions": sessions,
        "create_secs": create_secs,
        "create_rate": rate,
        "daemon_rss_kb": { "base": base_rss, "idle": idle_rss, "busy": busy_rss, "after_kill": end_rss },
        "daemon_rss_per_idle_session_kb": daemon_per_session_kb,
        "keeper_rss_kb": { "base": base_keeper_rss, "idle": idle_keeper_rss },
        "keeper_rss_per_idle_session_kb": keeper_per_session_kb,
        "daemon_and_keeper_rss_per_idle_session_kb": per_session_kb,
        "shells": { "count": shells, "rss_kb_each": shell_rss as f64 / shells.max(1) as f64, "pss_kb_each": shell_pss as f64 / shells.max(1) as f64 },
        "daemon_fds": { "base": base_fds, "idle": idle_fds, "kills_answered": answered_fds, "after_kill": end_fds },
        "daemon_session_fds": { "base": base_session_fds, "kills_answered": answered_session_fds },
        "shared_areas_mapped_when_answered": answered_mappings,
        "keeper_fds": { "base": base_keeper_fds, "idle": idle_keeper_fds, "kills_answered": answered_keeper_fds, "after_kill": end_keeper_fds },
        "daemon_threads": { "base": base_threads, "idle": idle_threads },
        "exec_under_load_ms": { "sessions": BUSY_SESSIONS, "p50": p50, "p99": p99, "max": exec_max },
        "msgs_per_sec": msgs,
        "kill_all_secs": kill_secs,
        "zombies_after_kill": zombies,
        "tmux_server_kb_per_session": tmux_kb,
        "rows": [
            {
                "operation": format!("daemon + keeper RSS per idle session ({sessions} sessions)"),
                "ours": per_session_kb, "unit": "KB",
                "baseline_name": "tmux server per session", "baseline": tmux_kb,
                "ratio": per_session_kb / tmux_kb.max(0.001),
                "target": "<= 100 KB", "pass": per_session_kb <= 100.0,
            },
            {
                "operation": format!("create {sessions} concurrent sessions"),
                "ours": rate, "unit": "sessions/s",
                "baseline_name": "target", "baseline": 400.0,
                "ratio": rate / 400.0,
                "target": ">= 400/s, all 1000 alive", "pass": rate >= 400.0 && shells >= sessions,
            },
            {
                "operation": format!("exec p99 with {BUSY_SESSIONS} sessions busy"),
                "ours": p99, "unit": "ms",
                "baseline_name": "seed target", "baseline": 10.0 * BUSY_SESSIONS as f64 / 2.0,
                "ratio": null,
                "target": "info (2 cores shared by 100 shells)", "pass": null,
            },
            {
                "operation": "daemon protocol messages (hello)",
                "ours": msgs, "unit": "msgs/s",
                "baseline_name": "target", "baseline": 10000.0,
                "ratio": msgs / 10000.0,
                "target": ">= 10,000 msgs/s", "pass": msgs >= 10000.0,
            },
            {
                "operation": "kill all sessions at once: session fds and shared areas left when the kills answered",
                "ours": answered_session_fds as f64, "unit": "fds",
                "baseline_name": "before", "baseline": base_session_fds as f64,
                "ratio": answered_session_fds as f64 / base_session_fds.max(1) as f64,
                "target": "== baseline in daemon and keeper, 0 areas mapped",
                "pass": answered_session_fds <= base_session_fds && answered_mappings == 0
                    && answered_keeper_fds <= base_keeper_fds,
            },
            {
                "operation": "kill all sessions at once: daemon fds 1 s later, no zombies",
                "ours": end_fds as f64, "unit": "fds",
                "baseline_name": "fds before", "baseline": base_fds as f64,
                "ratio": end_fds as f64 / base_fds.max(1) as f64,
                "target": "fds == baseline (daemon and keeper), 0 zombies",
                "pass": end_fds <= base_fds && end_keeper_fds <= base_keeper_fds && zombies == 0,
            },
        ],
    });
    if let Some(path) = out_path {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create bench output dir");
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&report).expect("JSON"))
            .expect("write scale JSON");
    }
}

async fn create_all(socket: &Path, n: usize) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let socket = socket.to_owned();
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let client = ai_session::Client::connect(&socket).await.expect("connect");
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let info = client
                    .new_session(&NewSessionParams::default())
                    .await
                    .expect("session.new under scale");
                ids.push(info.id);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.expect("creator task"));
    }
    ids
}

async fn exec_under_load(socket: &Path, ids: &[String]) -> (f64, f64, f64) {
    let mut tasks = Vec::new();
    for id in ids.iter().take(BUSY_SESSIONS) {
        let socket = socket.to_owned();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let client = ai_session::Client::connect(&socket).await.expect("connect");
            let mut samples = Vec::new();
            for i in 0..10 {
                let params = ExecParams {
                    session: id.clone(),
                    command: format!("echo load{i}"),
                    timeout_ms: Some(60_000),
                    create: false,
                    budget: None,
                    agent: None,
                    yield_ms: None,
                    progress_token: None,
                };
                let t0 = Instant::now();
                let result = client.exec(&params).await.expect("exec under load");
                samples.push(t0.elapsed().as_secs_f64() * 1e3);
                assert_eq!(result.exit_code, Some(0), "echo failed under load");
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("exec task"));
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize];
    (pct(0.5), pct(0.99), *all.last().unwrap_or(&0.0))
}

async fn messages_per_second(socket: &Path, duration: Duration) -> f64 {
    let count = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let socket = socket.to_owned();
        let count = Arc::clone(&count);
        tasks.push(tokio::spawn(async move {
            let client = ai_session::Client::connect(&socket).await.expect("connect");
            while Instant::now() < deadline {
                client.hello().await.expect("hello");
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("hello task");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn kill_all(socket: &Path, ids: &[String]) {
    let chunks: Vec<Vec<String>> = ids
        .chunks(ids.len().div_ceil(CONNECTIONS).max(1))
        .map(<[String]>::to_vec)
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let socket = socket.to_owned();
        tasks.push(tokio::spawn(async move {
            let client = ai_session::Client::connect(&socket).await.expect("connect");
            for id in chunk {
                client.kill_session(&id).await.expect("kill session");
            }
        }));
    }
    for task in tasks {
        task.await.expect("kill task");
    }
}

fn tmux_per_session_kb(n: usize) -> f64 {
    let socket = format!("aisbench-scale-{}", std::process::id());
    let tmux = |args: &[&str]| -> String {
        let out = Command::new("tmux")
            .args(["-f", "/dev/null", "-L", &socket])
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shell = "exec /bin/bash --norc --noprofile";
    tmux(&["new-session", "-d", "-s", "keep", shell]);
    let server: u32 = tmux(&["display-message", "-p", "-t", "keep", "#{pid}"])
        .trim()
        .parse()
        .expect("tmux server pid");
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kb(server);
    for i in 0..n {
        tmux(&["new-session", "-d", "-s", &format!("s{i}"), shell]);
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kb(server);
    tmux(&["kill-server"]);
    (after.saturating_sub(before)) as f64 / n as f64
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
