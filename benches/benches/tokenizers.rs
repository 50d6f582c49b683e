//! Exact o200k tokenizers compared on the normalised corpus: `tiktoken` 4.x (what
//! `ai_session_output::tokens::count` uses), `tiktoken-rs` and `bpe-openai`. The bench first
//! checks that all three agree on every capture, then measures each.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "corpus.rs"]
mod corpus;

fn bench_tokenizers(c: &mut Criterion) {
    let texts: Vec<(String, String)> = corpus::load()
        .into_iter()
        .map(|c| (c.name, ai_session_output::normalize(&c.raw)))
        .collect();
    let bytes: u64 = texts.iter().map(|(_, t)| t.len() as u64).sum();

    let tiktoken4 = tiktoken::encoding::o200k_base();
    let tiktoken_rs = tiktoken_rs::o200k_base().expect("tiktoken-rs o200k");
    let bpe = bpe_openai::o200k_base();
    for (name, text) in &texts {
        let ours = ai_session_output::tokens::count(text);
        let counts = [
            tiktoken4.count(text),
            tiktoken_rs.encode_ordinary(text).len(),
            bpe.count(text),
        ];
        assert!(
            counts.iter().all(|&n| n == ours),
            "{name}: tokens::count {ours} vs tiktoken4/tiktoken-rs/bpe-openai {counts:?}"
        );
    }

    let mut group = c.benchmark_group("tokenizers");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("ai_session_output::tokens::count", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|(_, t)| ai_session_output::tokens::count(black_box(t)))
                .sum::<usize>()
        })
    });
    group.bench_function("tiktoken-4.1", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|(_, t)| tiktoken4.count(black_box(t)))
                .sum::<usize>()
        })
    });
    group.bench_function("tiktoken-rs-0.12", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|(_, t)| tiktoken_rs.encode_ordinary(black_box(t)).len())
                .sum::<usize>()
        })
    });
    group.bench_function("bpe-openai-0.3", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|(_, t)| bpe.count(black_box(t)))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_tokenizers);
criterion_main!(benches);
