//! Throughput of the pipeline on a 10 MB mixed log built from the corpus
//! captures (the same input as `benches/benches/output.rs`), reporting wall
//! time and process CPU time so the figure means something on a loaded box.
//!
//!     cargo run --release -p ai-session-output --example throughput -- ../shared/corpus

use std::time::{Duration, Instant};

use ai_session_output::{DigestOptions, analyze, detect_kind, digest, normalize, tokens};

const TARGET_BYTES: usize = 10 * 1024 * 1024;
const RUNS: u32 = 5;

/// utime + stime of this process (Linux, USER_HZ = 100).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((tick(11) + tick(12)) * 10)
}

fn measure(name: &str, bytes: usize, mut run: impl FnMut()) {
    run(); // warm caches and the tokenizer
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    for _ in 0..RUNS {
        run();
    }
    let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed());
    let mib = bytes as f64 * f64::from(RUNS) / (1024.0 * 1024.0);
    println!(
        "{name:<34} {:>7.1} MiB/s wall   {:>7.1} MiB per CPU-second",
        mib / wall.as_secs_f64(),
        mib / cpu.as_secs_f64().max(0.001)
    );
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/corpus".to_owned());
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading corpus dir {dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "raw"))
        .collect();
    paths.sort();
    let captures: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("capture"))
        .collect();
    let mut log = Vec::with_capacity(TARGET_BYTES + (1 << 20));
    while log.len() < TARGET_BYTES {
        captures.iter().for_each(|c| log.extend_from_slice(c));
    }
    log.truncate(TARGET_BYTES);
    let opts = DigestOptions::default();
    let command = "cat mixed.log";
    println!(
        "10 MiB mixed log from {} captures, {RUNS} runs each",
        captures.len()
    );
    measure("normalize", log.len(), || {
        std::hint::black_box(normalize(&log));
    });
    measure("normalize + detect + parse + digest", log.len(), || {
        let text = normalize(&log);
        let kind = detect_kind(command, &text);
        std::hint::black_box(digest(&text, kind, command, &opts));
    });
    let text = normalize(&log);
    measure("tokens::count (normalised text)", text.len(), || {
        std::hint::black_box(tokens::count(&text));
    });
    measure("analyze (all of it, exact raw count)", log.len(), || {
        std::hint::black_box(analyze(command, &log, &opts));
    });
}
