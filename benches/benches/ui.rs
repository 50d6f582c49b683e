//! `cargo xtask bench ui`: does an open dashboard slow the daemon? 100 sessions stream output
//! (a line every `UI_BENCH_INTERVAL_MS` each) while one client measures `exec echo` round trips;
//! rounds alternate between no dashboard at all and a running `ai-session ui` with its board
//! and all 100 terminals open (WebSocket clients that read every frame, as xterm.js would,
//! on their own thread so they do not share the measuring client's). Target: the round trip
//! with the dashboard open within 10% of the one without, medians over all rounds.
//!
//! Environment: `AI_SESSION_BIN` (release binary, required), `UI_BENCH_OUT` (JSON path),
//! `UI_BENCH_SESSIONS` (100), `UI_BENCH_ITERS` (exec round trips per round, 300; xtask: 1000),
//! `UI_BENCH_ROUNDS` (rounds of each kind, 3; xtask: 5), `UI_BENCH_INTERVAL_MS` (100).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ai_session::Client;
use ai_session::protocol::{ExecParams, NewSessionParams, SendParams};
use ai_session_benches::BenchDaemon;
use futures::StreamExt as _;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const SERVER: &str = "bench";

fn main() {
    let bin = PathBuf::from(std::env::var("AI_SESSION_BIN").expect(
        "set AI_SESSION_BIN to a release ai-session binary (cargo xtask bench ui does this)",
    ));
    let sessions = env_usize("UI_BENCH_SESSIONS", 100);
    let iters = env_usize("UI_BENCH_ITERS", 300);
    let rounds = env_usize("UI_BENCH_ROUNDS", 3);
    let interval_ms = env_usize("UI_BENCH_INTERVAL_MS", 100);
    let out_path = std::env::var("UI_BENCH_OUT").ok().map(PathBuf::from);

    let daemon = BenchDaemon::start(&bin, SERVER, &[], Duration::from_secs(5));
    let home = daemon
        .socket()
        .parent()
        .and_then(Path::parent)
        .expect("the daemon's home")
        .to_path_buf();
    let measuring = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = measuring.block_on(async {
        let client = Client::connect(&daemon.socket()).await.expect("connect");
        start_streams(&client, sessions, interval_ms).await;
        client
    });
    let probe = measuring.block_on(async {
        client
            .new_session(&NewSessionParams {
                name: Some("probe".into()),
                ..NewSessionParams::default()
            })
            .await
            .expect("session.new probe")
            .id
    });
    // Let every stream get going before the first round.
    std::thread::sleep(Duration::from_millis(500));

    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut delivered = Vec::new();
    let mut cpu_off = Cpu::default();
    let mut cpu_on = Cpu::default();
    for round in 0..rounds {
        eprintln!("round {}/{rounds}: no dashboard ...", round + 1);
        let started = Cpu::now(daemon.pid(), None);
        without.extend(measuring.block_on(round_trips(&client, &probe, iters)));
        cpu_off.add(&started, &Cpu::now(daemon.pid(), None));
        eprintln!(
            "round {}/{rounds}: dashboard open, {sessions} terminals ...",
            round + 1
        );
        let dashboard = Dashboard::open(&bin, &home, sessions);
        let started = Cpu::now(daemon.pid(), Some(dashboard.child.id()));
        with.extend(measuring.block_on(round_trips(&client, &probe, iters)));
        cpu_on.add(
            &started,
            &Cpu::now(daemon.pid(), Some(dashboard.child.id())),
        );
        delivered.push(dashboard.close());
    }
    drop(daemon);

    let off = Stats::of(without);
    let on = Stats::of(with);
    let ratio = on.p50 / off.p50;
    let mean_ratio = on.mean / off.mean;
    let pass = ratio <= 1.10;
    println!("\n== exec round trip with {sessions} sessions streaming (ms) ==");
    println!(
        "{:<32} {:>6} {:>8} {:>8} {:>8}",
        "", "n", "p50", "mean", "p99"
    );
    for (name, s) in [
        ("no dashboard", &off),
        ("dashboard open (all terminals)", &on),
    ] {
        println!(
            "{name:<32} {:>6} {:>8.3} {:>8.3} {:>8.3}",
            s.n, s.p50, s.mean, s.p99
        );
    }
    println!(
        "open/closed p50 = {ratio:.3}x, mean = {mean_ratio:.3}x (target <= 1.10x: {})",
        if pass { "met" } else { "MISSED" }
    );
    println!(
        "CPU, % of one core: daemon {:.1}% without the dashboard, {:.1}% with it; the dashboard itself {:.1}%",
        cpu_off.daemon_percent(),
        cpu_on.daemon_percent(),
        cpu_on.dashboard_percent()
    );
    for (i, d) in delivered.iter().enumerate() {
        println!(
            "round {}: the dashboard delivered {} KiB of terminal output to {} of {sessions} terminals",
            i + 1,
            d.bytes / 1024,
            d.terminals_with_output
        );
    }
    let report = json!({
        "sessions": sessions,
        "interval_ms": interval_ms,
        "without_dashboard_ms": off.to_json(),
        "with_dashboard_ms": on.to_json(),
        "ratio_p50": ratio,
        "ratio_mean": mean_ratio,
        "cpu_percent_of_a_core": {
            "daemon_without_dashboard": cpu_off.daemon_percent(),
            "daemon_with_dashboard": cpu_on.daemon_percent(),
            "dashboard": cpu_on.dashboard_percent(),
        },
        "delivered": delivered.iter().map(|d| json!({"bytes": d.bytes, "terminals_with_output": d.terminals_with_output})).collect::<Vec<_>>(),
        "rows": [{
            "operation": format!("exec round trip p50, {sessions} sessions streaming to an open dashboard"),
            "ours": on.p50, "unit": "ms",
            "baseline_name": "same, no dashboard", "baseline": off.p50,
            "ratio": ratio, "target": "<= 1.10x (dashboard open / closed)", "pass": pass,
        }],
    });
    if let Some(path) = out_path {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create output dir");
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap()).expect("write JSON");
        println!("JSON: {}", path.display());
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `sessions` sessions, each printing a numbered line every `interval_ms` until killed. The
/// clock is bash's builtin `read -t` on a pipe nobody writes, so the load forks nothing: the
/// CPU goes to moving output, which is what the dashboard adds to, not to starting `sleep`.
async fn start_streams(client: &Client, sessions: usize, interval_ms: usize) {
    let seconds = interval_ms as f64 / 1000.0;
    for i in 0..sessions {
        let id = format!("stream-{i}");
        client
            .new_session(&NewSessionParams {
                name: Some(id.clone()),
                ..NewSessionParams::default()
            })
            .await
            .expect("session.new");
        client
            .send(&SendParams {
                session: id,
                text: Some(format!(
                    "exec 9<> <(:); n=0; while :; do n=$((n+1)); echo \"stream {i} line $n: compiling crate $n of many\"; read -t {seconds} -u 9; done\r"
                )),
                ..SendParams::default()
            })
            .await
            .expect("send");
    }
}

/// `iters` exec round trips (after 30 to warm up), in ms.
async fn round_trips(client: &Client, session: &str, iters: usize) -> Vec<f64> {
    let mut samples = Vec::with_capacity(iters);
    for i in 0..iters + 30 {
        let params = ExecParams {
            create: false,
            ..ExecParams::new(session, format!("echo X{i}"))
        };
        let t0 = Instant::now();
        let result = client.exec(&params).await.expect("exec");
        let took = t0.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(result.output.text, format!("X{i}\n"));
        if i >= 30 {
            samples.push(took);
        }
    }
    samples
}

/// What the open dashboard delivered during a round.
struct Delivered {
    bytes: u64,
    terminals_with_output: usize,
}

/// A running `ai-session ui` with the board and every terminal open on their own thread.
struct Dashboard {
    child: Child,
    viewers: Option<std::thread::JoinHandle<Delivered>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Dashboard {
    fn open(bin: &Path, home: &Path, sessions: usize) -> Dashboard {
        let mut child = Command::new(bin)
            .args(["--server", SERVER, "ui"])
            .env("AI_SESSION_HOME", home)
            .env("AI_SESSION_LOG", "warn")
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("start ai-session ui");
        let mut url = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut url)
            .expect("read the dashboard URL");
        let url = url.trim().to_owned();
        let (origin, token) = url.split_once("/?token=").expect("a URL with a token");
        let ws_base = origin.replacen("http://", "ws://", 1);
        let token = token.to_owned();
        let stop = tokio::sync::watch::Sender::new(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let viewers = {
            let stop = stop.subscribe();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("viewer runtime");
                runtime.block_on(view_all(ws_base, token, sessions, stop, ready_tx))
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the dashboard's terminals did not open");
        // Let the attach streams settle before measuring.
        std::thread::sleep(Duration::from_millis(500));
        Dashboard {
            child,
            viewers: Some(viewers),
            stop,
        }
    }

    fn close(mut self) -> Delivered {
        self.stop.send_replace(true);
        let delivered = self
            .viewers
            .take()
            .expect("viewers")
            .join()
            .expect("viewer thread");
        self.stop_child();
        delivered
    }

    fn stop_child(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if self.viewers.is_some() {
            self.stop_child();
        }
    }
}

/// Opens the board and every terminal and reads them until `stop`.
async fn view_all(
    ws_base: String,
    token: String,
    sessions: usize,
    stop: tokio::sync::watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<()>,
) -> Delivered {
    let bytes = Arc::new(AtomicU64::new(0));
    let mut paths = vec!["/api/board/ws".to_owned()];
    paths.extend((0..sessions).map(|i| format!("/api/sessions/stream-{i}/terminal")));
    let mut streams = Vec::new();
    for path in &paths {
        let mut request = format!("{ws_base}{path}")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        streams.push(stream);
    }
    let _ = ready.send(());
    let mut readers = tokio::task::JoinSet::new();
    for (index, mut stream) in streams.into_iter().enumerate() {
        let bytes = bytes.clone();
        let mut stop = stop.clone();
        readers.spawn(async move {
            let mut got = 0u64;
            loop {
                tokio::select! {
                    message = stream.next() => match message {
                        Some(Ok(Message::Binary(data))) => got += data.len() as u64,
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    _ = stop.wait_for(|stop| *stop) => break,
                }
            }
            bytes.fetch_add(got, Ordering::Relaxed);
            (index, got)
        });
    }
    let mut terminals_with_output = 0;
    while let Some(done) = readers.join_next().await {
        let (index, got) = done.expect("reader");
        if index > 0 && got > 0 {
            terminals_with_output += 1;
        }
    }
    Delivered {
        bytes: bytes.load(Ordering::Relaxed),
        terminals_with_output,
    }
}

/// CPU time (user + system) of the daemon and the dashboard over some wall time.
#[derive(Default)]
struct Cpu {
    at: Option<Instant>,
    wall_ms: f64,
    daemon_ms: f64,
    dashboard_ms: f64,
}

impl Cpu {
    fn now(daemon: u32, dashboard: Option<u32>) -> Cpu {
        Cpu {
            at: Some(Instant::now()),
            wall_ms: 0.0,
            daemon_ms: cpu_ms(daemon),
            dashboard_ms: dashboard.map_or(0.0, cpu_ms),
        }
    }

    fn add(&mut self, start: &Cpu, end: &Cpu) {
        if let (Some(a), Some(b)) = (start.at, end.at) {
            self.wall_ms += (b - a).as_secs_f64() * 1000.0;
        }
        self.daemon_ms += end.daemon_ms - start.daemon_ms;
        self.dashboard_ms += end.dashboard_ms - start.dashboard_ms;
    }

    fn daemon_percent(&self) -> f64 {
        100.0 * self.daemon_ms / self.wall_ms.max(1.0)
    }

    fn dashboard_percent(&self) -> f64 {
        100.0 * self.dashboard_ms / self.wall_ms.max(1.0)
    }
}

/// utime + stime of `pid` in ms (`/proc/PID/stat` counts in USER_HZ, 100 on Linux).
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the comm: state is field 3, utime 14, stime 15 (1-based in proc(5)).
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) * 10.0
}

/// Latency samples in ms.
struct Stats {
    n: usize,
    p50: f64,
    p99: f64,
    mean: f64,
}

impl Stats {
    fn of(mut samples: Vec<f64>) -> Stats {
        samples.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            let idx = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples[idx.saturating_sub(1).min(samples.len() - 1)]
        };
        Stats {
            n: samples.len(),
            p50: pct(50.0),
            p99: pct(99.0),
            mean: samples.iter().sum::<f64>() / samples.len() as f64,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({"n": self.n, "p50": self.p50, "p99": self.p99, "mean": self.mean})
    }
}
