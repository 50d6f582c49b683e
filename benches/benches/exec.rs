//! `cargo xtask bench exec`: command round trip and session creation, ai-session beside tmux and
//! a raw PTY, all measured in the same run on the same machine.
//!
//! - exec round trip: `exec echo X<i>` over one persistent client connection to a release-built
//!   daemon, vs tmux `send-keys` + polling `capture-pane -p` for the marker (each a fork+exec of
//!   the tmux client, as agent harnesses do; private `-L` socket, `bash --norc --noprofile` pane),
//!   vs a raw PTY echo (portable-pty + interactive `bash --norc --noprofile`).
//! - session creation: `session.new` (returns when the shell's first prompt arrived) vs
//!   `tmux new-session -d` vs a raw PTY spawn of bash waiting for its first prompt.
//! - the PTY layer alone, in this process: `PtySession::exec` round trip of a session spawned
//!   directly vs one whose terminal belongs to the PTY keeper (`spawn_kept`), interleaved, so
//!   the keeper's own cost shows without the daemon hop.
//! - restricted exec round trip: `exec /bin/echo X<i>` in a restricted agent's session (its
//!   profile's `workspace` sandbox with the Landlock execute allowlist of its one grant,
//!   `process-spawn:echo`, and the daemon's permission checks) vs the same command in an
//!   unrestricted session, alternating between the two in one loop.
//!
//! Environment: `AI_SESSION_BIN` (the daemon binary, required), `EXEC_BENCH_OUT` (JSON path),
//! `EXEC_BENCH_ITERS` (exec iterations, default 1000), `EXEC_BENCH_CREATE` (creations, default 100).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ai_session::protocol::{ExecParams, NewSessionParams};
use ai_session_benches::BenchDaemon;
use ai_session_pty::{ExecOptions, Keeper, PtySession, SessionConfig};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use serde_json::json;

fn main() {
    if let Ok(socket) = std::env::var(RELAY_ENV) {
        match std::env::var(RELAY_KIND_ENV).as_deref() {
            Ok("tokio") => relay::serve_tokio(&PathBuf::from(socket), false),
            Ok("tokio-inline") => relay::serve_tokio(&PathBuf::from(socket), true),
            _ => relay::serve(&PathBuf::from(socket)),
        }
        return;
    }
    // `cargo bench` passes `--bench`; this harness has no options of its own.
    let bin = PathBuf::from(std::env::var("AI_SESSION_BIN").expect(
        "set AI_SESSION_BIN to a release ai-session binary (cargo xtask bench exec does this)",
    ));
    let iters = env_usize("EXEC_BENCH_ITERS", 1000);
    let creations = env_usize("EXEC_BENCH_CREATE", 100);
    let tmux_iters = (iters / 5).max(50);
    let out_path = std::env::var("EXEC_BENCH_OUT").ok().map(PathBuf::from);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let daemon = BenchDaemon::start(&bin, "bench", &[], Duration::from_secs(5));
    assert!(
        daemon.keeper_pid().is_some(),
        "the daemon runs without its PTY keeper (see its log)"
    );
    // The same daemon without the PTY keeper (its shells end with it), for the side by side.
    let direct_daemon = BenchDaemon::start(
        &bin,
        "bench-direct",
        &[("AI_SESSION_KEEPER", "off".to_owned())],
        Duration::from_secs(5),
    );

    eprintln!(
        "exec round trip: ai-session with and without the keeper ({iters} each, interleaved) ..."
    );
    let (ours_exec, direct_exec) = runtime.block_on(ours_exec_pair(&daemon, &direct_daemon, iters));
    let ours_hello = runtime.block_on(ours_hello(&daemon, iters));
    drop(direct_daemon);
    eprintln!("exec round trip: raw PTY echo ({iters}) ...");
    let raw_exec = raw_pty_echo(iters);
    eprintln!("exec round trip: relay floor, two processes ({iters} each) ...");
    let [relay_echo, relay_mark] = relay::round_trips(iters, "blocking", ["echo", "mark"]);
    eprintln!("exec round trip: floor of a tokio daemon ({iters}) ...");
    let [tokio_mark] = relay::round_trips(iters, "tokio", ["mark"]);
    let [inline_mark] = relay::round_trips(iters, "tokio-inline", ["mark"]);
    eprintln!("exec round trip: tmux ({tmux_iters}) ...");
    let tmux_exec = tmux_round_trip(tmux_iters);

    eprintln!("exec round trip: PtySession direct vs kept ({iters} each, interleaved) ...");
    let keeper_dir = tempfile::tempdir().expect("temp dir");
    let keeper_socket = keeper_dir.path().join("keeper.sock");
    let (pty_direct, pty_kept) = runtime.block_on(async {
        let keeper = Keeper::connect_or_start(
            &keeper_socket,
            &[
                bin.clone().into(),
                "__keeper".into(),
                keeper_socket.clone().into(),
            ],
        )
        .await
        .expect("start the PTY keeper");
        pty_exec_pair(&keeper, iters).await
    });
    eprintln!("exec round trip: restricted vs unrestricted ({iters} each) ...");
    let (restricted, unrestricted) = runtime.block_on(restricted_exec(&daemon, iters));

    eprintln!("session creation: ai-session ({creations}) ...");
    let ours_new = runtime.block_on(ours_create(&daemon, creations));
    eprintln!("session creation: raw PTY spawn ({creations}) ...");
    let raw_new = raw_pty_spawn(creations);
    eprintln!("session creation: tmux new-session -d ({creations}) ...");
    let tmux_new = tmux_create(creations);
    drop(daemon);

    let pty = [
        ("PtySession::exec, spawned directly", &pty_direct),
        ("PtySession::exec, kept (PTY keeper)", &pty_kept),
    ];
    let exec = [
        ("ai-session exec (persistent connection)", &ours_exec),
        ("ai-session exec, daemon without keeper", &direct_exec),
        ("tmux send-keys + capture-pane polling", &tmux_exec),
        ("raw PTY echo (portable-pty + bash)", &raw_exec),
        ("floor: relay process + echo", &relay_echo),
        ("floor: relay process + exit mark", &relay_mark),
        ("floor: tokio relay, one task", &inline_mark),
        ("floor: tokio relay, reader + request tasks", &tokio_mark),
        ("ai-session hello (a request with no work)", &ours_hello),
    ];
    let create = [
        ("ai-session session.new (shell ready)", &ours_new),
        ("tmux new-session -d", &tmux_new),
        ("raw PTY spawn of bash (first prompt)", &raw_new),
    ];
    println!("\n== exec round trip (ms) ==");
    print_table(&exec);
    let speedup = tmux_exec.p50 / ours_exec.p50;
    let over_raw = ours_exec.p50 - raw_exec.p50;
    println!(
        "tmux/ours p50 = {speedup:.1}x (target >= 10x: {})",
        verdict(speedup >= 10.0)
    );
    println!(
        "ours/raw p50 = {:.2}x; ours - raw = {over_raw:.3} ms (target <= 1 ms: {})",
        ours_exec.p50 / raw_exec.p50,
        verdict(over_raw <= 1.0)
    );
    println!(
        "floor of any daemon (client -> relay -> bash -> relay -> client, nothing else): \
         echo {:.2}x raw, waiting for the exit mark {:.2}x raw; ours / that floor = {:.2}x",
        relay_echo.p50 / raw_exec.p50,
        relay_mark.p50 / raw_exec.p50,
        ours_exec.p50 / relay_mark.p50
    );
    println!(
        "floor of a tokio daemon (2 runtime threads, nothing else): one task reading the socket \
         and the terminal {:.2}x raw; a reader task handing the terminal's bytes to each \
         request's task (ai-session's shape) {:.2}x raw; a request with no work (hello) {:.3} ms",
        inline_mark.p50 / raw_exec.p50,
        tokio_mark.p50 / raw_exec.p50,
        ours_hello.p50
    );
    let keeper_cost = ours_exec.p50 / direct_exec.p50;
    println!(
        "with keeper / without p50 = {keeper_cost:.3}x (no regression beyond 5%: {})",
        verdict(keeper_cost <= 1.05)
    );
    println!("\n== PTY layer exec round trip (ms), in process ==");
    print_table(&pty);
    let kept_ratio = pty_kept.p50 / pty_direct.p50;
    println!(
        "kept/direct p50 = {kept_ratio:.3}x (no regression beyond 5%: {})",
        verdict(kept_ratio <= 1.05)
    );
    println!("\n== exec round trip, restricted agent (ms) ==");
    print_table(&[
        ("restricted (sandbox + exec allowlist)", &restricted),
        ("unrestricted (no sandbox)", &unrestricted),
    ]);
    let restricted_ratio = restricted.p50 / unrestricted.p50;
    println!(
        "restricted/unrestricted p50 = {restricted_ratio:.2}x (target <= 1.2x: {})",
        verdict(restricted_ratio <= 1.2)
    );
    println!("\n== session creation (ms) ==");
    print_table(&create);
    let create_ratio = ours_new.p50 / raw_new.p50;
    println!(
        "ours/raw p50 = {create_ratio:.2}x (target <= 1.5x: {}); ours/tmux p50 = {:.2}x",
        verdict(create_ratio <= 1.5),
        ours_new.p50 / tmux_new.p50
    );

    let report = json!({
        "exec_round_trip_ms": {
            "ai_session": ours_exec.to_json(),
            "tmux": tmux_exec.to_json(),
            "raw_pty_echo": raw_exec.to_json(),
            "relay_floor_echo": relay_echo.to_json(),
            "relay_floor_exit_mark": relay_mark.to_json(),
            "tokio_relay_floor_exit_mark": tokio_mark.to_json(),
            "tokio_one_task_floor_exit_mark": inline_mark.to_json(),
            "ai_session_hello": ours_hello.to_json(),
            "ai_session_without_keeper": direct_exec.to_json(),
            "ratio_keeper_over_direct_p50": keeper_cost,
            "ratio_tmux_over_ours_p50": speedup,
            "ours_minus_raw_p50_ms": over_raw,
            "targets": { "tmux_over_ours_min": 10.0, "ours_minus_raw_max_ms": 1.0 },
            "met": speedup >= 10.0 && over_raw <= 1.0,
        },
        "pty_exec_round_trip_ms": {
            "direct": pty_direct.to_json(),
            "kept": pty_kept.to_json(),
            "ratio_kept_over_direct_p50": kept_ratio,
            "met": kept_ratio <= 1.05,
        },
        "restricted_exec_round_trip_ms": {
            "restricted": restricted.to_json(),
            "unrestricted": unrestricted.to_json(),
            "ratio_restricted_over_unrestricted_p50": restricted_ratio,
            "targets": { "restricted_over_unrestricted_max": 1.2 },
            "met": restricted_ratio <= 1.2,
        },
        "session_creation_ms": {
            "ai_session": ours_new.to_json(),
            "tmux": tmux_new.to_json(),
            "raw_pty_spawn": raw_new.to_json(),
            "ratio_ours_over_raw_p50": create_ratio,
            "targets": { "ours_over_raw_max": 1.5 },
            "met": create_ratio <= 1.5,
        },
    });
    if let Some(path) = out_path {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create output dir");
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap()).expect("write JSON");
        println!("\nJSON: {}", path.display());
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latency samples in ms.
struct Stats {
    n: usize,
    p50: f64,
    p99: f64,
    min: f64,
    max: f64,
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
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({ "n": self.n, "p50": self.p50, "p99": self.p99, "min": self.min, "max": self.max })
    }
}

fn print_table(rows: &[(&str, &Stats)]) {
    println!(
        "{:<42} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "", "n", "p50", "p99", "min", "max"
    );
    for (name, s) in rows {
        println!(
            "{name:<42} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            s.n, s.p50, s.p99, s.min, s.max
        );
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// `exec echo X<i>` round trips against two daemons (with and without the PTY keeper),
/// alternating between them so drifting load hits both alike.
async fn ours_exec_pair(kept: &BenchDaemon, direct: &BenchDaemon, iters: usize) -> (Stats, Stats) {
    let mut sessions = Vec::new();
    for daemon in [kept, direct] {
        let client = ai_session::Client::connect(&daemon.socket())
            .await
            .expect("connect");
        let info = client
            .new_session(&NewSessionParams::default())
            .await
            .expect("session.new");
        sessions.push((client, info.id));
    }
    let mut samples = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    for i in 0..iters + 50 {
        for (which, (client, id)) in sessions.iter().enumerate() {
            let params = ExecParams {
                session: id.clone(),
                command: format!("echo X{i}"),
                timeout_ms: None,
                create: false,
                budget: None,
                agent: None,
                yield_ms: None,
                progress_token: None,
            };
            let t0 = Instant::now();
            let result = client.exec(&params).await.expect("exec");
            let took = ms(t0);
            assert_eq!(result.exit_code, Some(0));
            assert_eq!(result.output.text, format!("X{i}\n"));
            if i >= 50 {
                if which == 0 {
                    samples.0.push(took);
                } else {
                    samples.1.push(took);
                }
            }
        }
    }
    for (client, id) in &sessions {
        client.kill_session(id).await.expect("kill");
    }
    (Stats::of(samples.0), Stats::of(samples.1))
}

/// `hello` round trips: what a request costs the daemon that does no work.
async fn ours_hello(daemon: &BenchDaemon, iters: usize) -> Stats {
    let client = ai_session::Client::connect(&daemon.socket())
        .await
        .expect("connect");
    let mut samples = Vec::with_capacity(iters);
    for i in 0..iters + 50 {
        let t0 = Instant::now();
        client.hello().await.expect("hello");
        if i >= 50 {
            samples.push(ms(t0));
        }
    }
    Stats::of(samples)
}

/// `exec echo` round trips on a direct and a kept session, alternating between them.
async fn pty_exec_pair(keeper: &Keeper, iters: usize) -> (Stats, Stats) {
    let direct = PtySession::spawn(SessionConfig::default())
        .await
        .expect("spawn");
    let kept = PtySession::spawn_kept(SessionConfig::default(), keeper, b"bench")
        .await
        .expect("spawn kept");
    let mut samples = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    for i in 0..iters + 50 {
        for (session, out) in [(&direct, &mut samples.0), (&kept, &mut samples.1)] {
            let t0 = Instant::now();
            let outcome = session
                .exec(&format!("echo X{i}"), ExecOptions::default())
                .await
                .expect("exec");
            let took = ms(t0);
            assert_eq!(outcome.record.exit_code, Some(0));
            if i >= 50 {
                out.push(took);
            }
        }
    }
    direct.kill().await;
    kept.kill().await;
    (Stats::of(samples.0), Stats::of(samples.1))
}

/// `exec /bin/echo X<i>` alternately in a restricted agent's sandboxed session and in an
/// unrestricted one, each over its own persistent connection.
async fn restricted_exec(daemon: &BenchDaemon, iters: usize) -> (Stats, Stats) {
    std::fs::write(
        daemon.home().join("agents.toml"),
        "[agents.bench-bot]\nallow = [\"process-spawn:echo\"]\n",
    )
    .expect("write agents.toml");
    let socket = daemon.socket();
    let operator = ai_session::Client::connect(&socket).await.expect("connect");
    let agent = ai_session::Client::connect(&socket).await.expect("connect");
    agent.identify("bench-bot").await.expect("hello");
    let open = operator
        .new_session(&NewSessionParams::default())
        .await
        .expect("session.new");
    let jail = agent
        .new_session(&NewSessionParams::default())
        .await
        .expect("session.new (restricted)");
    assert_eq!(jail.policy.as_deref(), Some("workspace+agent:bench-bot"));
    let runs = [(&agent, &jail.id), (&operator, &open.id)];
    let mut samples = [Vec::with_capacity(iters), Vec::with_capacity(iters)];
    for i in 0..iters + 50 {
        for (which, (client, session)) in runs.iter().enumerate() {
            let params = ExecParams {
                create: false,
                ..ExecParams::new(session.as_str(), format!("/bin/echo X{i}"))
            };
            let t0 = Instant::now();
            let result = client.exec(&params).await.expect("exec");
            let took = ms(t0);
            assert_eq!(result.exit_code, Some(0), "{result:?}");
            assert_eq!(result.output.text, format!("X{i}\n"));
            if i >= 50 {
                samples[which].push(took);
            }
        }
    }
    // A program outside its grants is refused (the daemon's check first; the kernel's
    // allowlist behind it is what tests/bypass.rs shows).
    let refused = agent
        .exec(&ExecParams {
            create: false,
            ..ExecParams::new(jail.id.as_str(), "/bin/cat /dev/null")
        })
        .await;
    assert!(refused.is_err(), "cat is not granted: {refused:?}");
    operator.kill_session(&open.id).await.expect("kill");
    agent.kill_session(&jail.id).await.expect("kill");
    let [restricted, unrestricted] = samples;
    (Stats::of(restricted), Stats::of(unrestricted))
}

async fn ours_create(daemon: &BenchDaemon, n: usize) -> Stats {
    let client = ai_session::Client::connect(&daemon.socket())
        .await
        .expect("connect");
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let t0 = Instant::now();
        let info = client
            .new_session(&NewSessionParams::default())
            .await
            .expect("session.new");
        let took = ms(t0);
        client.kill_session(&info.id).await.expect("kill");
        if i >= 5 {
            samples.push(took);
        }
    }
    Stats::of(samples)
}

fn pty_size() -> PtySize {
    PtySize {
        rows: 50,
        cols: 200,
        pixel_width: 0,
        pixel_height: 0,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn bash_builder() -> CommandBuilder {
    let mut cmd = CommandBuilder::new("bash");
    cmd.args(["--norc", "--noprofile", "-i"]);
    cmd.env("PS1", "$ ");
    cmd.env("TERM", "dumb");
    cmd
}

fn raw_pty_echo(iters: usize) -> Stats {
    let pair = native_pty_system().openpty(pty_size()).expect("openpty");
    let mut child = pair.slave.spawn_command(bash_builder()).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let mut writer = pair.master.take_writer().expect("writer");
    let mut buf = vec![0u8; 65536];
    let mut acc = Vec::new();
    let mut samples = Vec::with_capacity(iters);
    for i in 0..iters + 50 {
        let needle = format!("\nX{i}\r\n");
        acc.clear();
        let t0 = Instant::now();
        writer.write_all(format!("echo X{i}\n").as_bytes()).unwrap();
        writer.flush().unwrap();
        loop {
            let k = reader.read(&mut buf).expect("read");
            assert!(k > 0, "bash exited");
            acc.extend_from_slice(&buf[..k]);
            if find(&acc, needle.as_bytes()) {
                break;
            }
        }
        if i >= 50 {
            samples.push(ms(t0));
        }
    }
    let _ = writer.write_all(b"exit\n");
    drop(writer);
    let _ = child.kill();
    let _ = child.wait();
    Stats::of(samples)
}

fn raw_pty_spawn(n: usize) -> Stats {
    let pty = native_pty_system();
    let mut samples = Vec::with_capacity(n);
    let mut buf = vec![0u8; 4096];
    for i in 0..n + 5 {
        let t0 = Instant::now();
        let pair = pty.openpty(pty_size()).expect("openpty");
        let mut child = pair.slave.spawn_command(bash_builder()).expect("spawn");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let mut acc = Vec::new();
        while !find(&acc, b"$ ") {
            let k = reader.read(&mut buf).expect("read");
            assert!(k > 0, "bash exited before its prompt");
            acc.extend_from_slice(&buf[..k]);
        }
        let took = ms(t0);
        // Teardown is not measured: signal and reap directly (portable-pty's kill() polls).
        if let Some(pid) = child.process_id() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = child.wait();
        drop(pair.master);
        if i >= 5 {
            samples.push(took);
        }
    }
    Stats::of(samples)
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        Tmux {
            socket: format!("ais-bench-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-f", "/dev/null", "-L", &self.socket])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("tmux (apt-get install tmux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

fn tmux_round_trip(iters: usize) -> Stats {
    let tmux = Tmux::new();
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "rt",
        "-x",
        "200",
        "-y",
        "50",
        "bash --norc --noprofile",
    ]);
    tmux.run(&["send-keys", "-t", "rt", "PS1='$ '; clear", "Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut samples = Vec::with_capacity(iters);
    for i in 0..iters + 10 {
        let marker = format!("MARK_{i}");
        let t0 = Instant::now();
        tmux.run(&["send-keys", "-t", "rt", &format!("echo {marker}"), "Enter"]);
        while !tmux
            .run(&["capture-pane", "-p", "-t", "rt"])
            .lines()
            .any(|l| l.trim_end() == marker)
        {}
        if i >= 10 {
            samples.push(ms(t0));
        }
        if i % 40 == 39 {
            // Keep the screen small so capture and search cost stay constant.
            tmux.run(&["send-keys", "-t", "rt", "clear", "Enter"]);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Stats::of(samples)
}

fn tmux_create(n: usize) -> Stats {
    let tmux = Tmux::new();
    tmux.run(&["new-session", "-d", "-s", "keep", "bash --norc --noprofile"]);
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let name = format!("s{i}");
        let t0 = Instant::now();
        tmux.run(&["new-session", "-d", "-s", &name, "bash --norc --noprofile"]);
        let took = ms(t0);
        tmux.run(&["kill-session", "-t", &name]);
        if i >= 5 {
            samples.push(took);
        }
    }
    Stats::of(samples)
}

/// Set (to a socket path) in the relay process the bench starts from its own binary.
const RELAY_ENV: &str = "EXEC_BENCH_RELAY";
/// Which relay that process is: `blocking` (one thread), `tokio` (a daemon's shape) or
/// `tokio-inline` (one tokio task).
const RELAY_KIND_ENV: &str = "EXEC_BENCH_RELAY_KIND";

/// The floor under any daemon design: the client's command crosses to another process, that
/// process writes it to bash's terminal and reads until the answer, and sends it back. Blocking
/// reads and writes, one thread, no parsing: two more process wake-ups per round trip than the
/// raw PTY echo, and nothing else. Measured twice: until the echoed output (as the raw echo),
/// and until an exit mark that `PROMPT_COMMAND` prints with `$?` (what an exec needs to know
/// that the command ended, and how).
///
/// The tokio relays run on a 2-thread runtime and do nothing else. One has ai-session's shape:
/// a task reads the terminal and publishes what it read, and each request runs in a task of
/// its own that writes the command and waits for the mark among the published bytes. The other
/// reads the socket and the terminal in one task, so no task wakes another.
mod relay {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use portable_pty::{Child, MasterPty, native_pty_system};
    use tokio::io::unix::AsyncFd;
    use tokio::sync::watch;

    use super::{RELAY_ENV, RELAY_KIND_ENV, Stats, bash_builder, find, ms, pty_size};

    const WARM_UP: usize = 50;

    /// The relay of this `kind`, `iters` round trips in each mode (until the echoed output
    /// or the exit mark).
    pub(super) fn round_trips<const N: usize>(
        iters: usize,
        kind: &str,
        modes: [&str; N],
    ) -> [Stats; N] {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("relay.sock");
        let mut relay = Command::new(std::env::current_exe().expect("the bench binary"))
            .env(RELAY_ENV, &socket)
            .env(RELAY_KIND_ENV, kind)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the relay process");
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match UnixStream::connect(&socket) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(error) => panic!("the relay process did not listen: {error}"),
            }
        };
        let mut answers = BufReader::new(stream.try_clone().expect("clone the socket"));
        let mut requests = stream;
        let mut measure = |mode: &str| {
            let mut samples = Vec::with_capacity(iters);
            let mut answer = String::new();
            for i in 0..iters + WARM_UP {
                let t0 = Instant::now();
                writeln!(requests, "{mode} {i}").expect("send to the relay");
                answer.clear();
                answers
                    .read_line(&mut answer)
                    .expect("read the relay's answer");
                assert_eq!(answer.trim_end(), format!("done {i}"), "relay answer");
                if i >= WARM_UP {
                    samples.push(ms(t0));
                }
            }
            Stats::of(samples)
        };
        let floors = modes.map(&mut measure);
        // The answers' reader holds the socket too: hang up explicitly.
        let _ = requests.shutdown(std::net::Shutdown::Both);
        let _ = relay.wait();
        floors
    }

    /// The relay process: one client, one bash, until the client hangs up.
    pub(super) fn serve(socket: &Path) {
        let listener = UnixListener::bind(socket).expect("bind the relay socket");
        let (master, mut child) = marked_bash();
        let mut terminal = master.try_clone_reader().expect("reader");
        let mut keys = master.take_writer().expect("writer");
        let (client, _) = listener.accept().expect("accept the bench");
        let mut replies = client.try_clone().expect("clone the socket");
        let mut buf = vec![0u8; 65536];
        let mut seen = Vec::new();
        for line in BufReader::new(client).lines() {
            let Ok(line) = line else { break };
            let Some((mode, i)) = line.split_once(' ') else {
                break;
            };
            let needle = needle(mode, i);
            seen.clear();
            keys.write_all(format!("echo X{i}\n").as_bytes())
                .expect("write to bash");
            while !find(&seen, needle.as_bytes()) {
                let n = terminal.read(&mut buf).expect("read bash's terminal");
                assert!(n > 0, "bash exited");
                seen.extend_from_slice(&buf[..n]);
            }
            if writeln!(replies, "done {i}").is_err() {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// bash on a new terminal, printing the exit mark from `PROMPT_COMMAND`.
    fn marked_bash() -> (Box<dyn MasterPty + Send>, Box<dyn Child + Send + Sync>) {
        let pair = native_pty_system().openpty(pty_size()).expect("openpty");
        let mut shell = bash_builder();
        shell.env("PROMPT_COMMAND", r#"printf '\033]133;D;%s\007' $?"#);
        let child = pair.slave.spawn_command(shell).expect("spawn bash");
        (pair.master, child)
    }

    /// One read of the terminal, once it is readable; `None` at its end.
    async fn read_terminal(
        terminal: &AsyncFd<std::os::fd::OwnedFd>,
        buf: &mut [u8],
    ) -> Option<usize> {
        loop {
            let mut ready = terminal.readable().await.ok()?;
            match ready.try_io(|fd| Ok(rustix::io::read(fd, &mut *buf)?)) {
                Ok(Ok(0) | Err(_)) => return None,
                Ok(Ok(n)) => return Some(n),
                Err(_would_block) => {}
            }
        }
    }

    /// What ends a round trip in `mode` for request `i`: the echoed output, or the exit mark
    /// after it.
    fn needle(mode: &str, i: &str) -> String {
        match mode {
            "echo" => format!("\nX{i}\r\n"),
            _ => format!("\nX{i}\r\n\x1b]133;D;0\x07"),
        }
    }

    /// A tokio relay process (`inline`: one task): one client, one bash, until the client
    /// hangs up.
    pub(super) fn serve_tokio(socket: &Path, inline: bool) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let (pty, mut child) = marked_bash();
        let master = pty.as_raw_fd().expect("the terminal's fd");
        // SAFETY: the fd belongs to `pty`, which lives until the end of this function,
        // past every use of the borrow (the dup is taken at once).
        let master = unsafe { std::os::fd::BorrowedFd::borrow_raw(master) };
        let terminal = rustix::io::dup(master).expect("dup the terminal");
        let flags = rustix::fs::fcntl_getfl(&terminal).expect("terminal flags");
        rustix::fs::fcntl_setfl(&terminal, flags | rustix::fs::OFlags::NONBLOCK)
            .expect("non-blocking terminal");
        let listener = std::os::unix::net::UnixListener::bind(socket).expect("bind the relay");
        runtime.block_on(async move {
            use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
            // SAFETY: the `AsyncFd` owns the `OwnedFd` of the dup, so the fd stays open and
            // unchanged until the `AsyncFd` is dropped.
            let terminal = unsafe { AsyncFd::register(terminal) }.expect("register the terminal");
            let terminal = Arc::new(terminal);
            listener
                .set_nonblocking(true)
                .expect("non-blocking listener");
            let listener = tokio::net::UnixListener::from_std(listener).expect("listener");
            let (client, _) = listener.accept().await.expect("accept the bench");
            if inline {
                return one_task(client, &terminal).await;
            }
            let (published, _) = watch::channel(Vec::<u8>::new());
            let published = Arc::new(published);
            let reader = {
                let (terminal, published) = (terminal.clone(), published.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    while let Some(n) = read_terminal(&terminal, &mut buf).await {
                        published.send_modify(|seen| seen.extend_from_slice(&buf[..n]));
                    }
                })
            };
            let (requests, replies) = client.into_split();
            let replies = Arc::new(tokio::sync::Mutex::new(replies));
            let mut lines = tokio::io::BufReader::new(requests).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Some((mode, i)) = line.split_once(' ') else {
                    break;
                };
                let (mode, i) = (mode.to_owned(), i.to_owned());
                let (terminal, published, replies) =
                    (terminal.clone(), published.clone(), replies.clone());
                let request = tokio::spawn(async move {
                    let mut seen = published.subscribe();
                    let from = seen.borrow_and_update().len();
                    let needle = needle(&mode, &i);
                    rustix::io::write(terminal.get_ref(), format!("echo X{i}\n").as_bytes())
                        .expect("write to bash");
                    while !find(&seen.borrow_and_update()[from..], needle.as_bytes()) {
                        seen.changed().await.expect("the reader ended");
                    }
                    let answer = format!("done {i}\n");
                    replies
                        .lock()
                        .await
                        .write_all(answer.as_bytes())
                        .await
                        .is_ok()
                });
                if !request.await.unwrap_or(false) {
                    break;
                }
            }
            reader.abort();
        });
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The one-task relay: reads a request, writes the command, reads the terminal until the
    /// mark, answers.
    async fn one_task(client: tokio::net::UnixStream, terminal: &AsyncFd<std::os::fd::OwnedFd>) {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let (requests, mut replies) = client.into_split();
        let mut lines = tokio::io::BufReader::new(requests).lines();
        let mut buf = vec![0u8; 65536];
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let Some((mode, i)) = line.split_once(' ') else {
                break;
            };
            let needle = needle(mode, i);
            seen.clear();
            rustix::io::write(terminal.get_ref(), format!("echo X{i}\n").as_bytes())
                .expect("write to bash");
            while !find(&seen, needle.as_bytes()) {
                let Some(n) = read_terminal(terminal, &mut buf).await else {
                    return;
                };
                seen.extend_from_slice(&buf[..n]);
            }
            if replies
                .write_all(format!("done {i}\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    }
}
