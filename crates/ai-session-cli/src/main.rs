//! The `ai-session` command-line tool.
#![forbid(unsafe_code)]

use clap::Parser;

/// The terminal that AI coding agents deserve.
#[derive(Debug, Parser)]
#[command(name = "ai-session", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
