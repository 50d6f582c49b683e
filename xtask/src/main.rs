//! Project automation. Run `cargo xtask --help`.
#![forbid(unsafe_code)]

mod bench;
mod ci;
mod corpus;
mod differential;
mod features;
mod fuzz;
mod soak;
mod tmux_compat;
mod ui;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "ai-session project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// The full check CI runs: fmt check, clippy -D warnings, feature combinations, all tests.
    Ci(ci::CiArgs),
    /// Builds each crate alone with no default features, each feature alone, all features.
    Features(features::FeaturesArgs),
    /// Benchmarks side by side with their baselines (e.g. `cargo xtask bench exec`).
    Bench(bench::BenchArgs),
    /// Runs every cargo-fuzz target (`--smoke`: ~20 s each, as CI does).
    Fuzz(fuzz::FuzzArgs),
    /// Output pipeline over the shared corpus: tokens raw vs digest, facts kept.
    Corpus(corpus::CorpusArgs),
    /// Long-running robustness check against a real daemon (CI: `--minutes 3`).
    Soak(soak::SoakArgs),
    /// libtmux's core tests against real tmux and against `ai-session tmux`, side by side.
    TmuxCompat(tmux_compat::TmuxCompatArgs),
    /// Builds the dashboard's embedded xterm.js from the pinned npm packages (`--check`: verify).
    Ui(ui::UiArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Ci(args) => ci::run(&args),
        Task::Features(args) => features::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::Fuzz(args) => fuzz::run(&args),
        Task::Corpus(args) => corpus::run(&args),
        Task::Soak(args) => soak::run(&args),
        Task::TmuxCompat(args) => tmux_compat::run(&args),
        Task::Ui(args) => ui::run(&args),
    }
}
