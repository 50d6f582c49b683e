//! `cargo xtask ci`: everything CI checks, in the order that fails fastest: formatting, lints,
//! each crate's feature combinations, the dashboard's pinned assets, the whole test suite, the
//! differential output corpus, libtmux's tests, a soak run and fuzz smoke. `.ci/run` installs
//! the tools these need and runs exactly this.

use std::process::Command;

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// Only the test suite: skip fmt, clippy, feature combinations and the stages after it.
    #[arg(long)]
    pub tests_only: bool,
    /// Minutes of the soak stage.
    #[arg(long, default_value_t = 3)]
    pub soak_minutes: u32,
}

pub fn run(args: &CiArgs) -> anyhow::Result<()> {
    if !args.tests_only {
        cargo(&["fmt", "--all", "--check"])?;
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ])?;
        crate::features::run(&crate::features::FeaturesArgs {
            packages: Vec::new(),
            all_targets: false,
        })?;
    }
    if !args.tests_only {
        // The browser test embeds xterm.js: check it matches the pinned npm packages first.
        xtask(&["ui", "--check"])?;
    }
    cargo(&["test", "--workspace", "--all-features", "--no-fail-fast"])?;
    if args.tests_only {
        return Ok(());
    }
    // Parsed facts of every tool variant must equal the tool's own machine report.
    xtask(&["corpus", "--differential"])?;
    xtask(&["tmux-compat"])?;
    // Sessions created and killed, large outputs, the daemon SIGKILLed and restarted; then no
    // zombies, fds back to baseline, acknowledged commands in history, memory flat.
    xtask(&["soak", "--minutes", &args.soak_minutes.to_string()])?;
    xtask(&["fuzz", "--smoke"])?;
    Ok(())
}

/// Runs one stage of this xtask binary, named in the log like a cargo step.
fn xtask(args: &[&str]) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the xtask binary")?;
    eprintln!("xtask: cargo xtask {}", args.join(" "));
    let status = Command::new(&exe)
        .args(args)
        .status()
        .with_context(|| format!("could not start `cargo xtask {}`", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo xtask {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs one cargo step and fails with the step's name, so a CI log says which gate broke.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .status()
        .with_context(|| format!("could not start `{cargo} {}`", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
