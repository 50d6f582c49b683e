//! Measure the PTY engine on this machine: shell-ready spawn, exec round trip, bulk output with
//! and without the kernel's output post-processing. Numbers go to docs/performance.md ("PTY").
//!
//! `cargo run --release -p ai-session-pty --example pty_numbers`

use std::time::{Duration, Instant};

use ai_session_pty::{ExecOptions, ExecState, PtySession, SessionConfig};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn report(name: &str, samples: &mut [Duration]) {
    let p50 = percentile(samples, 0.5);
    let p99 = percentile(samples, 0.99);
    println!(
        "{name}: n={} p50={:.3} ms p99={:.3} ms min={:.3} ms",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = || ExecOptions::with_timeout(Duration::from_secs(60));
    let only = std::env::args().nth(1).unwrap_or_default();
    if only.is_empty() || only == "latency" {
        latency(opts).await?;
    }
    if only.is_empty() || only == "bulk" {
        bulk(opts).await?;
    }
    Ok(())
}

async fn latency(opts: impl Fn() -> ExecOptions) -> Result<(), Box<dyn std::error::Error>> {
    // Spawn until the first prompt (rc read, marks seen), alternating with the same shell
    // without our integration (to its first prompt bytes): the raw floor, same conditions.
    let mut spawn_ready = Vec::new();
    let mut raw_ready = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let s = PtySession::spawn(SessionConfig::default()).await?;
        s.wait_ready(Duration::from_secs(10)).await?;
        spawn_ready.push(t.elapsed());
        s.kill().await;

        let t = Instant::now();
        let config = SessionConfig {
            integration: ai_session_pty::Integration::None,
            ..SessionConfig::new(["bash", "--norc", "--noprofile", "-i"])
        };
        let s = PtySession::spawn(config).await?;
        let mut progress = s.subscribe();
        // The default prompt ends in "$ " (or "# " for root).
        while !(s.read(0, 4096).data.ends_with(b"$ ") || s.read(0, 4096).data.ends_with(b"# ")) {
            progress.changed().await?;
        }
        raw_ready.push(t.elapsed());
        s.kill().await;
    }
    report("bash session spawn -> prompt ready", &mut spawn_ready);
    report(
        "raw bash --norc spawn -> first prompt (no integration)",
        &mut raw_ready,
    );
    if std::env::args().any(|a| a == "spawn") {
        return Ok(());
    }

    let mut kills = Vec::new();
    let mut sessions = Vec::new();
    let rss_before = rss_kb();
    for _ in 0..100 {
        let s = PtySession::spawn(SessionConfig::default()).await?;
        s.wait_ready(Duration::from_secs(10)).await?;
        sessions.push(s);
    }
    println!(
        "parent RSS growth per idle session (100 sessions, 200x50): {:.1} KB",
        (rss_kb() as f64 - rss_before as f64) / 100.0
    );
    let t = Instant::now();
    futures::future::join_all(sessions.iter().map(|s| async {
        let t = Instant::now();
        s.kill().await;
        t.elapsed()
    }))
    .await
    .into_iter()
    .for_each(|d| kills.push(d));
    println!(
        "kill+reap 100 sessions concurrently: {:.1} ms total",
        t.elapsed().as_secs_f64() * 1e3
    );
    report("kill+reap per session", &mut kills);
    drop(sessions);

    // Exec round trip.
    let s = PtySession::spawn(SessionConfig::default()).await?;
    s.wait_ready(Duration::from_secs(10)).await?;
    let mut rtt = Vec::new();
    let t = Instant::now();
    for i in 0..1000 {
        let t = Instant::now();
        let out = s.exec(&format!("echo MARK_{i}"), opts()).await?;
        rtt.push(t.elapsed());
        assert_eq!(out.state, ExecState::Exited);
    }
    let total = t.elapsed();
    report("exec round trip (echo)", &mut rtt);
    println!(
        "sequential exec: {:.0} cmds/s",
        1000.0 / total.as_secs_f64()
    );

    // How fast a command blocked on the terminal is reported.
    let mut waits = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let out = s.exec("read x", opts()).await?;
        waits.push(t.elapsed());
        assert_eq!(out.state, ExecState::AwaitingInput);
        s.write(b"\x03").await?;
    }
    report("exec 'read x' -> awaiting_input", &mut waits);
    s.kill().await;
    Ok(())
}

async fn bulk(opts: impl Fn() -> ExecOptions) -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::temp_dir().join("ai-session-pty-seq2m.txt");
    std::fs::write(
        &file,
        (1..=2_000_000)
            .map(|i| format!("{i}\n"))
            .collect::<String>(),
    )?;
    for processing in [true, false] {
        let config = SessionConfig {
            output_processing: processing,
            scrollback_limit: 64 << 20,
            ..SessionConfig::default()
        };
        let s = PtySession::spawn(config).await?;
        s.wait_ready(Duration::from_secs(10)).await?;
        for cmd in [
            "seq 1 2000000".to_owned(),
            format!("cat {}", file.display()),
        ] {
            let mut rates = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                let out = s.exec(&cmd, opts()).await?;
                let secs = t.elapsed().as_secs_f64();
                rates.push(out.record.output.len() as f64 / secs / 1e6);
            }
            rates.sort_by(f64::total_cmp);
            println!(
                "bulk {cmd:?} OPOST {}: min {:.1} / median {:.1} / max {:.1} MB/s (bytes stored incl. CR: {})",
                if processing { "on " } else { "off" },
                rates[0],
                rates[1],
                rates[2],
                s.history().last().map_or(0, |r| r.output.len()),
            );
        }
        s.kill().await;
    }
    // Same bytes through `script` (a plain PTY relay), in the same run, as the yardstick.
    for cmd in [
        "seq 1 2000000".to_owned(),
        format!("cat {}", file.display()),
    ] {
        let mut rates = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let status = tokio::process::Command::new("script")
                .args(["-qfec", &cmd, "/dev/null"])
                .stdout(std::process::Stdio::null())
                .status()
                .await?;
            assert!(status.success());
            rates.push(16_888_896.0 / t.elapsed().as_secs_f64() / 1e6);
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "bulk {cmd:?} via script (cooked): min {:.1} / median {:.1} / max {:.1} MB/s",
            rates[0], rates[1], rates[2]
        );
    }
    std::fs::remove_file(&file)?;
    Ok(())
}
