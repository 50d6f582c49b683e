//! Crash tests: a real writer process appends, fsyncs and reports what it acknowledged; the test
//! kills it with SIGKILL at random moments, many times, and checks after each kill that every
//! acknowledged record is readable and that nothing is half-applied (every record that can be
//! read is exactly what was written, and whole-file state is either the old or the new value).
//!
//! The writer is this same test binary, re-run with an environment variable set (see
//! `crash_writer_child`), so no extra binary is needed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ai_session_persist::{DataKey, RecordKind, Store};

const CHILD_HOME: &str = "AI_SESSION_PERSIST_CRASH_HOME";
const CHILD_KEY: &str = "AI_SESSION_PERSIST_CRASH_KEY";
const SESSION: &str = "crash";

/// Deterministic content of record `seq`, so the reader knows exactly what each must hold.
fn expected_record(seq: u64) -> (RecordKind, Vec<u8>) {
    let kind = if seq.is_multiple_of(3) {
        RecordKind::Command
    } else {
        RecordKind::Scrollback
    };
    let len = (seq.wrapping_mul(7919) % 3000) as usize;
    let mut data = format!("record {seq}:").into_bytes();
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    data.extend((0..len).map(|i| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Mostly text with some noise, like terminal output.
        if i % 5 == 0 {
            (x % 256) as u8
        } else {
            b'a' + (x % 26) as u8
        }
    }));
    (kind, data)
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct WriterState {
    acked: u64,
    padding: String,
}

fn key_from_hex(hex_key: &str) -> DataKey {
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex_key[2 * i..2 * i + 2], 16).unwrap();
    }
    DataKey::from_bytes(bytes)
}

/// The writer process. Does nothing unless started by `crash_test_kills_writer_at_random_points`.
#[test]
#[ignore = "helper process started by the crash test; returns at once when run directly"]
fn crash_writer_child() {
    let (Some(home), Some(key)) = (std::env::var_os(CHILD_HOME), std::env::var(CHILD_KEY).ok())
    else {
        return;
    };
    let store = Store::open(Path::new(&home), Some(key_from_hex(&key))).unwrap();
    let session = store.session(SESSION).unwrap();
    let (mut log, _) = session.open_history().unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@ start {}", log.next_seq()).unwrap();
    out.flush().unwrap();
    let mut rng = std::process::id() as u64 | 1;
    loop {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        for _ in 0..(1 + rng % 8) {
            let (kind, data) = expected_record(log.next_seq());
            log.append(kind, &data).unwrap();
        }
        let durable = log.sync().unwrap();
        writeln!(out, "@@ ack {durable}").unwrap();
        out.flush().unwrap();
        if rng.is_multiple_of(4) {
            let state = WriterState {
                acked: durable,
                padding: "x".repeat((rng % 5000) as usize),
            };
            session.save_state(&state).unwrap();
            writeln!(out, "@@ state {durable}").unwrap();
            out.flush().unwrap();
        }
    }
}

struct Kill {
    start: Option<u64>,
    acked: u64,
    state: u64,
}

/// Start the writer; once it has opened the log (or at once, if `before_start`), let it run for
/// `delay`, then SIGKILL it and collect what it acknowledged.
fn run_and_kill(home: &Path, key_hex: &str, before_start: bool, delay: Duration) -> Kill {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_writer_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_HOME, home)
        .env(CHILD_KEY, key_hex)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    if !before_start {
        // Process start-up on a loaded machine can take long; wait for the writer, not a clock.
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Ok(line) =
            lines_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let started = line.contains("@@ start ");
            lines.push(line);
            if started {
                break;
            }
        }
    }
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(lines_rx.try_iter());
    let mut kill = Kill {
        start: None,
        acked: 0,
        state: 0,
    };
    for line in lines {
        // The harness may print on the same line before the writer's first report.
        let Some((_, report)) = line.split_once("@@ ") else {
            continue;
        };
        let (word, number) = report.split_once(' ').unwrap_or((report, ""));
        let Ok(number) = number.parse::<u64>() else {
            continue;
        };
        match word {
            "start" => kill.start = Some(number),
            "ack" => kill.acked = kill.acked.max(number),
            "state" => kill.state = kill.state.max(number),
            _ => {}
        }
    }
    kill
}

#[test]
fn crash_test_kills_writer_at_random_points() {
    let iterations: u32 = std::env::var("AI_SESSION_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let home = tempfile::tempdir().unwrap();
    let key = DataKey::generate();
    let key_hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut rng = 0x2545_F491_4F6C_DD1D_u64 ^ std::process::id() as u64;
    let mut acked_so_far = 0u64;
    let mut state_so_far = 0u64;
    let mut kills_after_acks = 0;
    let started = Instant::now();
    for iteration in 0..iterations {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // One kill in eight lands during start-up (open and recovery), the rest mid-stream.
        let before_start = rng.is_multiple_of(8);
        let delay = Duration::from_micros(rng % 60_000);
        let kill = run_and_kill(home.path(), &key_hex, before_start, delay);
        if let Some(start) = kill.start {
            assert!(
                start >= acked_so_far,
                "iteration {iteration}: writer restarted at {start}, below acknowledged {acked_so_far}"
            );
        }
        if kill.acked > acked_so_far {
            kills_after_acks += 1;
        }
        acked_so_far = acked_so_far.max(kill.acked);
        state_so_far = state_so_far.max(kill.state);

        let store = Store::open(home.path(), Some(key.clone())).unwrap();
        let Ok(session) = store.existing_session(SESSION) else {
            assert_eq!(
                acked_so_far, 0,
                "iteration {iteration}: acknowledged records but no session"
            );
            continue;
        };
        let (records, recovery) = session.read_history().unwrap();
        assert!(
            records.len() as u64 >= acked_so_far,
            "iteration {iteration}: {} records readable, {acked_so_far} acknowledged ({recovery:?})",
            records.len()
        );
        for (seq, record) in records.iter().enumerate() {
            let (kind, data) = expected_record(seq as u64);
            assert!(
                record.kind == kind && record.data == data,
                "iteration {iteration}: record {seq} differs"
            );
        }
        if let Some(state) = session.load_state::<WriterState>().unwrap() {
            assert!(
                state.acked >= state_so_far,
                "iteration {iteration}: state went back"
            );
            assert!(state.acked <= records.len() as u64);
        } else {
            assert_eq!(state_so_far, 0);
        }
    }
    eprintln!(
        "crash test: {iterations} kills ({kills_after_acks} after new acknowledgements), {acked_so_far} records acknowledged, {:?}",
        started.elapsed()
    );
    assert!(
        acked_so_far > 0 && kills_after_acks >= iterations / 4,
        "the writer barely ran: {kills_after_acks} kills after acks"
    );
    // Recovery leaves a log that verifies strictly and keeps everything acknowledged.
    let store = Store::open(home.path(), Some(key)).unwrap();
    let session = store.existing_session(SESSION).unwrap();
    let (writer, _) = session.open_history().unwrap();
    assert!(writer.next_seq() >= acked_so_far);
    drop(writer);
    assert!(session.verify_history().unwrap() >= acked_so_far);
}
