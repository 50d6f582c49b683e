//! `cargo xtask bench <group>`: our figure beside its baseline, measured in the same run.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::ci::cargo;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub group: BenchGroup,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchGroup {
    /// Exec round trip vs tmux send-keys+capture-pane vs raw PTY echo, and session creation vs
    /// `tmux new-session -d` vs a raw PTY spawn; writes target/bench/exec.json.
    Exec(ExecBenchArgs),
    /// Coordination: in-process bus, NATS pub/sub and the JetStream task queue against a private
    /// nats-server, beside the targets; writes target/bench/coord.json.
    Coord,
    /// Sandbox startup: `ai-session sandbox --policy strict -- true` vs `bwrap --unshare-all
    /// ... true` (and a plain spawn), interleaved in one run; writes target/bench/sandbox.json.
    Sandbox(SandboxBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct SandboxBenchArgs {
    /// Launches of each contender.
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
}

#[derive(Debug, clap::Args)]
pub struct ExecBenchArgs {
    /// Exec round trips to measure (tmux gets a fifth of them: each costs ~4 ms).
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    /// Session creations to measure.
    #[arg(long, default_value_t = 100)]
    pub creations: usize,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match &args.group {
        BenchGroup::Exec(exec) => run_exec(exec),
        BenchGroup::Coord => run_coord(),
        BenchGroup::Sandbox(sandbox) => run_sandbox(sandbox),
    }
}

fn run_sandbox(args: &SandboxBenchArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    cargo(&["build", "--release", "--quiet", "-p", "ai-session-cli"])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo bench -p ai-session-benches --bench sandbox");
    let status = Command::new(&cargo_bin)
        .args([
            "bench",
            "--quiet",
            "-p",
            "ai-session-benches",
            "--bench",
            "sandbox",
        ])
        .env("AI_SESSION_BIN", target.join("release/ai-session"))
        .env("SANDBOX_BENCH_OUT", target.join("bench/sandbox.json"))
        .env("SANDBOX_BENCH_ITERS", args.iterations.to_string())
        .current_dir(&root)
        .status()
        .with_context(|| format!("could not start `{cargo_bin} bench`"))?;
    if !status.success() {
        bail!("the sandbox benchmark failed ({status})");
    }
    Ok(())
}

fn run_exec(args: &ExecBenchArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    // The daemon under test is the release binary, as users run it.
    cargo(&["build", "--release", "--quiet", "-p", "ai-session-cli"])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release/ai-session");
    let out = target.join("bench/exec.json");
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo bench -p ai-session-benches --bench exec");
    let status = Command::new(&cargo_bin)
        .args([
            "bench",
            "--quiet",
            "-p",
            "ai-session-benches",
            "--bench",
            "exec",
        ])
        .env("AI_SESSION_BIN", &bin)
        .env("EXEC_BENCH_OUT", &out)
        .env("EXEC_BENCH_ITERS", args.iterations.to_string())
        .env("EXEC_BENCH_CREATE", args.creations.to_string())
        .current_dir(&root)
        .status()
        .with_context(|| format!("could not start `{cargo_bin} bench`"))?;
    if !status.success() {
        bail!("the exec benchmark failed ({status})");
    }
    Ok(())
}

fn run_coord() -> anyhow::Result<()> {
    let root = workspace_root()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo bench -p ai-session-benches --bench coord (summary)");
    let status = Command::new(&cargo_bin)
        .args([
            "bench",
            "--quiet",
            "-p",
            "ai-session-benches",
            "--bench",
            "coord",
        ])
        .env("COORD_BENCH_SUMMARY_ONLY", "1")
        .env("COORD_BENCH_OUT", target.join("bench/coord.json"))
        .current_dir(&root)
        .status()
        .with_context(|| format!("could not start `{cargo_bin} bench`"))?;
    if !status.success() {
        bail!("the coord benchmark failed ({status})");
    }
    Ok(())
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(PathBuf::from)
        .context("xtask has no parent directory")
}
