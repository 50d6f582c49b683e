//! `cargo xtask ci`: formatting, lints, each crate's feature combinations and the whole test
//! suite, in the order that fails fastest.

use std::process::Command;

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// Skip `cargo fmt --check`, clippy and the feature combinations (tests only).
    #[arg(long)]
    pub tests_only: bool,
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
    cargo(&["test", "--workspace", "--all-features", "--no-fail-fast"])?;
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
