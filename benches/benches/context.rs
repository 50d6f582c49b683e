//! Context throughput on a long history built from the corpus (33 real captures, 539 KB, repeated):
//! ingest (normalise + digest + exact counts of every rendition), compression of the ingested
//! history, end-to-end ingest with automatic compression, and packing for a task.

use std::hint::black_box;

use ai_session_context::{CommandInput, OriginRef, Role, SessionContext};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[path = "corpus.rs"]
mod corpus;

/// Corpus copies in the history (about 4.3 MB of raw output).
const REPEATS: usize = 8;
const TASK: &str = "fix the failing cargo test slugify_spaces";

fn ingest(captures: &[corpus::Capture], max_tokens: usize) -> SessionContext {
    let mut ctx = SessionContext::new(max_tokens);
    ctx.add_message(
        Role::System,
        "You are a coding agent working in a terminal.",
    );
    let mut offset = 0;
    for round in 0..REPEATS {
        for capture in captures {
            ctx.add_message(
                Role::Assistant,
                &format!("Round {round}: running `{}`.", capture.command),
            );
            let origin = OriginRef {
                session: "bench".into(),
                record: None,
                start: offset,
                end: offset + capture.raw.len() as u64,
            };
            offset = origin.end;
            ctx.add_command(CommandInput {
                command: &capture.command,
                exit_code: Some(capture.exit_code),
                cwd: Some("/work"),
                output: &capture.raw,
                origin: Some(&origin),
            });
        }
    }
    ctx
}

fn bench_context(c: &mut Criterion) {
    let captures = corpus::load();
    let history_bytes: u64 =
        captures.iter().map(|c| c.raw.len() as u64).sum::<u64>() * REPEATS as u64;
    let ingested = ingest(&captures, usize::MAX);

    let mut group = c.benchmark_group("context");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(history_bytes));
    group.bench_function("compress", |b| {
        b.iter_batched(
            || ingested.clone(),
            |mut ctx| {
                ctx.set_max_tokens(32_000);
                black_box(ctx.current_tokens())
            },
            BatchSize::LargeInput,
        )
    });
    // Baseline in the same run: what any compression that re-counts the history's tokens costs
    // at least (one exact o200k pass over every normalised output).
    let normalized: Vec<String> = captures
        .iter()
        .map(|c| ai_session_output::normalize(&c.raw))
        .collect();
    group.bench_function("baseline_recount_history", |b| {
        b.iter(|| {
            (0..REPEATS)
                .map(|_| {
                    normalized
                        .iter()
                        .map(|t| ai_session_output::tokens::count(black_box(t)))
                        .sum::<usize>()
                })
                .sum::<usize>()
        })
    });
    group.bench_function("ingest", |b| {
        b.iter(|| black_box(ingest(&captures, usize::MAX).current_tokens()))
    });
    group.bench_function("ingest_with_compression", |b| {
        b.iter(|| black_box(ingest(&captures, 32_000).current_tokens()))
    });
    let compressed = ingest(&captures, 32_000);
    group.bench_function("pack_8000", |b| {
        b.iter(|| black_box(compressed.context(8_000, Some(TASK)).tokens))
    });
    group.finish();
}

criterion_group!(benches, bench_context);
criterion_main!(benches);
