//! ai-session-output throughput on a 10 MB mixed log: the corpus captures
//! (cargo, pytest, logs, git, ps, find...) concatenated until 10 MB.
//!
//! `analyze` is the whole pipeline: normalise, detect, parse, digest at the
//! default budget and the exact o200k count of the raw output.

use std::path::{Path, PathBuf};

use ai_session_output::{DigestOptions, analyze, normalize, tokens};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TARGET_BYTES: usize = 10 * 1024 * 1024;

/// `AI_SESSION_CORPUS`, else `shared/corpus` beside the checkout or in an ancestor.
fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AI_SESSION_CORPUS") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("shared/corpus"))
        .find(|dir| dir.is_dir())
        .expect("output corpus not found: set AI_SESSION_CORPUS")
}

fn mixed_log() -> Vec<u8> {
    let dir = corpus_dir();
    let mut captures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reading corpus dir")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "raw"))
        .collect();
    captures.sort();
    let captures: Vec<Vec<u8>> = captures
        .iter()
        .map(|path| std::fs::read(path).expect("reading capture"))
        .collect();
    let mut log = Vec::with_capacity(TARGET_BYTES + 512 * 1024);
    while log.len() < TARGET_BYTES {
        for capture in &captures {
            log.extend_from_slice(capture);
        }
    }
    log.truncate(TARGET_BYTES);
    log
}

fn output(c: &mut Criterion) {
    let log = mixed_log();
    let normalized = normalize(&log);
    let mut group = c.benchmark_group("output");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.bench_function("analyze_10MB", |b| {
        b.iter(|| analyze("cat mixed.log", &log, &DigestOptions::default()))
    });
    group.bench_function("normalize_10MB", |b| b.iter(|| normalize(&log)));
    group.throughput(Throughput::Bytes(normalized.len() as u64));
    group.bench_function("tokens_count_10MB", |b| {
        b.iter(|| tokens::count(&normalized))
    });
    group.finish();
}

criterion_group!(benches, output);
criterion_main!(benches);
