//! A 100 MB output: no panic, a digest within budget, and memory bounded by
//! a small multiple of the input (the normalised copy, the line index and
//! capped fact lists; nothing quadratic, no per-line token vectors).

use ai_session_output::{DigestOptions, ParsedOutput, analyze};

/// Peak resident memory of this process in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn hundred_megabytes() -> Vec<u8> {
    let pieces: [&[u8]; 5] = [
        b"2026-11-25T21:18:34.673768Z \x1b[32m INFO\x1b[0m worker: processed batch id=1234 rows=5000\r\n",
        b"2026-11-25T21:18:34.673900Z \x1b[33m WARN\x1b[0m worker: slow batch id=1235 took=2412ms\r\n",
        b"progress [#####     ] 50%\r\x1b[Kprogress [##########] 100%\r\n",
        b"\xff\xfe\x00binary\x01\x02 garbage \x1b[38;5;197m\xe2\x94\x81\x1b[0m\r\n",
        b"2026-11-25T21:18:35.000000Z \x1b[31mERROR\x1b[0m worker: batch failed: connection reset by peer\r\n",
    ];
    let target = 100 * 1024 * 1024;
    let mut raw = Vec::with_capacity(target + 256);
    let mut i = 0usize;
    while raw.len() < target {
        // Mostly INFO, an occasional warning, a rare error.
        let piece = match i % 1000 {
            0 => pieces[4],
            n if n % 97 == 0 => pieces[1],
            n if n % 31 == 0 => pieces[2],
            n if n % 211 == 0 => pieces[3],
            _ => pieces[0],
        };
        raw.extend_from_slice(piece);
        i += 1;
    }
    raw
}

#[test]
fn hundred_megabyte_output_is_digested_within_budget_and_bounded_memory() {
    let raw = hundred_megabytes();
    let before = peak_rss_kib().unwrap_or(0);
    let analysis = analyze("./worker", &raw, &DigestOptions::default());
    let after = peak_rss_kib().unwrap_or(0);
    assert!(
        analysis.tokens_digest <= 400,
        "digest {} tokens",
        analysis.tokens_digest
    );
    assert!(analysis.tokens_raw > 10_000_000);
    assert!(analysis.digest.contains("connection reset by peer"));
    let ParsedOutput::StructuredLog(log) = &analysis.parsed else {
        panic!("expected a log, got {:?}", analysis.kind);
    };
    assert!(log.counts.get("error").copied().unwrap_or(0) > 1000);
    assert!(log.entries.len() <= ai_session_output::MAX_ITEMS);
    let input_kib = (raw.len() / 1024) as u64;
    let grown = after.saturating_sub(before);
    // The normalised text (~1x) and its line index (~0.3x) are the bulk.
    assert!(
        grown <= 3 * input_kib,
        "peak RSS grew {grown} KiB for a {input_kib} KiB input"
    );
}
