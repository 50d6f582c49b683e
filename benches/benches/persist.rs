//! Persistence: snapshot of a 1 MB scrollback (encrypted + compressed), append throughput,
//! recovery of a 100 MB log, and the raw zstd / XChaCha20-Poly1305 throughput as baselines.
//! Scrollback is the real-output corpus (`../shared/corpus`), repeated.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ai_session_persist::frame::{Codec, FrameContext, Stream};
use ai_session_persist::{DataKey, RecordKind, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "corpus.rs"]
mod corpus;

const MB: usize = 1 << 20;
const CHUNK: usize = 4096;

/// `len` bytes of real terminal output (the corpus, repeated).
fn scrollback(len: usize) -> Vec<u8> {
    let captures = corpus::load();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        for capture in &captures {
            out.extend_from_slice(&capture.raw);
        }
    }
    out.truncate(len);
    out
}

/// A store with one session holding `bytes` of scrollback (4 KiB records) and a command record
/// every 64 KiB, as a daemon would write it.
fn filled_store(bytes: &[u8]) -> (tempfile::TempDir, Store) {
    let home = tempfile::tempdir().expect("temp dir");
    let store = Store::open(home.path(), Some(DataKey::generate())).expect("store");
    let session = store.session("bench").expect("session");
    session
        .save_state(
            &serde_json::json!({"cwd": "/work", "env": {"TERM": "xterm"}, "rows": 40, "cols": 120}),
        )
        .expect("state");
    let (mut log, _) = session.open_history().expect("log");
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        log.append(RecordKind::Scrollback, chunk).expect("append");
        if i % 16 == 15 {
            let record = format!(r#"{{"id":{i},"command":"cargo test","exit_code":0}}"#);
            log.append(RecordKind::Command, record.as_bytes())
                .expect("append");
        }
    }
    log.sync().expect("sync");
    drop(log);
    (home, store)
}

fn bench_snapshot(c: &mut Criterion) {
    let (_home, store) = filled_store(&scrollback(MB));
    let mut group = c.benchmark_group("persist");
    group.sample_size(30);
    group.throughput(Throughput::Bytes(MB as u64));
    group.bench_function("snapshot_1mb_encrypted", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let info = store.create_snapshot("bench", None).expect("snapshot");
                total += start.elapsed();
                let path = store
                    .home()
                    .join("snapshots/bench")
                    .join(format!("{}.json", info.id));
                std::fs::remove_file(path).expect("remove snapshot");
            }
            total
        })
    });
    group.finish();
}

fn bench_append(c: &mut Criterion) {
    let data = scrollback(MB);
    let mut group = c.benchmark_group("persist");
    group.sample_size(20);
    // Scrollback: 4 KiB chunks, batched, one fsync per MB.
    group.throughput(Throughput::Bytes(MB as u64));
    group.bench_function("append_scrollback_4k_fsync_per_mb", |b| {
        let home = tempfile::tempdir().expect("temp dir");
        let store = Store::open(home.path(), Some(DataKey::generate())).expect("store");
        let (mut log, _) = store
            .session("a")
            .expect("session")
            .open_history()
            .expect("log");
        b.iter(|| {
            for chunk in data.chunks(CHUNK) {
                log.append(RecordKind::Scrollback, chunk).expect("append");
            }
            log.sync().expect("sync")
        })
    });
    // Command records acknowledged one by one: every record waits for its own fsync.
    group.throughput(Throughput::Elements(1));
    group.bench_function("append_command_record_fsync_each", |b| {
        let home = tempfile::tempdir().expect("temp dir");
        let store = Store::open(home.path(), Some(DataKey::generate())).expect("store");
        let (mut log, _) = store.session("c").expect("session").open_history().expect("log");
        let record = br#"{"id":17,"command":"cargo test --workspace","started_at":1764100000000,"ended_at":1764100004000,"exit_code":0,"cwd":"/work","output":{"start":1048576,"end":1090000}}"#;
        b.iter(|| log.append_durable(RecordKind::Command, record).expect("append"))
    });
    // Small records without fsync: the cost of framing, compressing and sealing alone.
    group.bench_function("append_command_record_batched", |b| {
        let home = tempfile::tempdir().expect("temp dir");
        let store = Store::open(home.path(), Some(DataKey::generate())).expect("store");
        let (mut log, _) = store
            .session("b")
            .expect("session")
            .open_history()
            .expect("log");
        let record = br#"{"id":17,"command":"cargo test --workspace","exit_code":0,"cwd":"/work"}"#;
        b.iter(|| log.append(RecordKind::Command, record).expect("append"))
    });
    group.finish();
}

/// Build a log of 100 MB on disk (encrypted, compressed) in `home`; returns its session.
fn hundred_mb_log(home: &std::path::Path) -> ai_session_persist::SessionStore {
    let data = scrollback(16 * MB);
    let store = Store::open(home, Some(DataKey::generate())).expect("store");
    let session = store.session("big").expect("session");
    let path = session.history_path();
    let mut raw_bytes = 0u64;
    let (mut log, _) = session.open_history().expect("log");
    // Vary the chunks so repeated corpus copies do not compress into nothing.
    let mut salt = 0u64;
    while std::fs::metadata(&path).expect("stat").len() < 100 * MB as u64 {
        for chunk in data.chunks(CHUNK) {
            salt = salt
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut record = chunk.to_vec();
            record.extend_from_slice(&salt.to_le_bytes().repeat(64));
            raw_bytes += record.len() as u64;
            log.append(RecordKind::Scrollback, &record).expect("append");
        }
        log.sync().expect("sync");
    }
    drop(log);
    let file_len = std::fs::metadata(&path).expect("stat").len();
    eprintln!(
        "persist/recover_100mb_log: log {:.1} MB on disk, {:.1} MB of records",
        file_len as f64 / MB as f64,
        raw_bytes as f64 / MB as f64
    );
    session
}

fn bench_recovery(c: &mut Criterion) {
    let mut group = c.benchmark_group("persist");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(100 * MB as u64));
    // Setup inside the closure: it runs only when this benchmark is selected.
    // Criterion calls this closure for warm-up and again for sampling: build the log once.
    let log: std::sync::OnceLock<(tempfile::TempDir, ai_session_persist::SessionStore)> =
        std::sync::OnceLock::new();
    group.bench_function("recover_100mb_log", |b| {
        let (_, session) = log.get_or_init(|| {
            let home = tempfile::tempdir().expect("temp dir");
            let session = hundred_mb_log(home.path());
            (home, session)
        });
        b.iter(|| {
            let (log, recovery) = session.open_history().expect("open");
            assert!(recovery.is_clean());
            black_box(log.next_seq())
        })
    });
    group.finish();
}

fn bench_baselines(c: &mut Criterion) {
    let data = scrollback(MB);
    let key = DataKey::generate();
    let compressed = zstd::bulk::compress(&data, 3).expect("compress");
    let sealed = key.seal(b"aad", &data);
    let mut group = c.benchmark_group("persist_baseline");
    group.sample_size(30);
    group.throughput(Throughput::Bytes(MB as u64));
    group.bench_function("zstd3_compress", |b| {
        b.iter(|| zstd::bulk::compress(black_box(&data), 3).expect("compress"))
    });
    group.bench_function("zstd_decompress", |b| {
        b.iter(|| zstd::bulk::decompress(black_box(&compressed), MB).expect("decompress"))
    });
    group.bench_function("xchacha20poly1305_seal", |b| {
        b.iter(|| key.seal(b"aad", black_box(&data)))
    });
    group.bench_function("xchacha20poly1305_open", |b| {
        b.iter(|| key.open(b"aad", black_box(&sealed)).expect("open"))
    });
    // Our frame path end to end (compress + seal + checksum), for the same 1 MB.
    let ctx = FrameContext {
        session_id: "bench",
        stream: Stream::History,
    };
    let mut batch = Vec::new();
    for chunk in data.chunks(CHUNK) {
        ai_session_persist::frame::push_record(&mut batch, RecordKind::Scrollback, chunk);
    }
    let count = data.chunks(CHUNK).count() as u32;
    group.bench_function("frame_encode_zstd3_sealed", |b| {
        b.iter(|| {
            ai_session_persist::frame::encode_frame(
                ctx,
                Some(&key),
                Codec::default(),
                0,
                count,
                black_box(&batch),
            )
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_snapshot,
    bench_append,
    bench_recovery,
    bench_baselines
);
criterion_main!(benches);
