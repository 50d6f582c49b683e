//! Criterion benchmarks live in `benches/benches/`; run them with `cargo bench -p ai-session-benches`
//! or, with the side-by-side baselines, `cargo xtask bench`.
#![forbid(unsafe_code)]
