//! `cargo xtask fuzz`: builds every cargo-fuzz target under `fuzz/` once, then runs each for a
//! fixed time, and fails naming the crashing input if any target finds one.
//!
//! Runs on the stable toolchain (`RUSTC_BOOTSTRAP=1`, which cargo-fuzz needs for its
//! `-Z` flags) without a sanitizer: the targets exercise safe Rust, where a panic is the bug
//! we look for, and an uninstrumented build is several times faster to compile and run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

/// Seconds per target in `--smoke` mode (CI).
const SMOKE_SECONDS: u64 = 20;
/// Seconds per target otherwise.
const DEFAULT_SECONDS: u64 = 300;

#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Short run for CI: about 20 seconds per target, committed corpora used read-only.
    #[arg(long)]
    pub smoke: bool,
    /// Seconds to run each target (default 20 with --smoke, else 300).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Grow the committed corpus `fuzz/corpus/<target>` with new inputs instead of using it
    /// read-only (minimise it afterwards with `cargo fuzz cmin`).
    #[arg(long, conflicts_with = "smoke")]
    pub grow_corpus: bool,
    /// Targets to run (default: every file in fuzz/fuzz_targets).
    pub targets: Vec<String>,
}

pub fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    let fuzz_dir = workspace_root()?.join("fuzz");
    let all = list_targets(&fuzz_dir)?;
    let targets = if args.targets.is_empty() {
        all
    } else {
        for target in &args.targets {
            if !all.contains(target) {
                bail!(
                    "no fuzz target `{target}` (fuzz/fuzz_targets has: {})",
                    all.join(", ")
                );
            }
        }
        args.targets.clone()
    };
    let seconds = args.seconds.unwrap_or(if args.smoke {
        SMOKE_SECONDS
    } else {
        DEFAULT_SECONDS
    });

    let started = Instant::now();
    let mut build = cargo_fuzz(&fuzz_dir, "build");
    // `cargo fuzz build` takes one target or none (= all).
    if let [only] = targets.as_slice() {
        build.arg(only);
    }
    run_step(build, "cargo fuzz build")?;
    eprintln!("xtask: fuzz targets built in {:.0?}", started.elapsed());

    let scratch = std::env::temp_dir().join(format!("ai-session-fuzz-{}", std::process::id()));
    let mut failures = Vec::new();
    for target in &targets {
        let committed = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&committed)
            .with_context(|| format!("could not create {}", committed.display()))?;
        // libFuzzer writes new inputs into the first corpus directory: a scratch one unless
        // the corpus is meant to grow, so CI never dirties the checkout.
        let mut corpora = vec![committed.clone()];
        if !args.grow_corpus {
            let fresh = scratch.join(target);
            std::fs::create_dir_all(&fresh)
                .with_context(|| format!("could not create {}", fresh.display()))?;
            corpora.insert(0, fresh);
        }
        let since = SystemTime::now();
        let mut cmd = cargo_fuzz(&fuzz_dir, "run");
        cmd.arg(target).args(&corpora).arg("--").args([
            format!("-max_total_time={seconds}"),
            // An input that takes this long is a hang: report it like a crash.
            "-timeout=30".to_owned(),
            "-print_final_stats=1".to_owned(),
        ]);
        let began = Instant::now();
        let outcome = run_step(cmd, &format!("cargo fuzz run {target}"));
        let elapsed = began.elapsed();
        match outcome {
            Ok(()) => eprintln!("xtask: fuzz {target}: no crash in {elapsed:.0?}"),
            Err(error) => {
                let inputs = new_artifacts(&fuzz_dir.join("artifacts").join(target), since);
                let found = if inputs.is_empty() {
                    "no crash input was saved".to_owned()
                } else {
                    let listed: Vec<String> =
                        inputs.iter().map(|p| p.display().to_string()).collect();
                    format!("crashing input: {}", listed.join(", "))
                };
                eprintln!("xtask: fuzz {target} FAILED after {elapsed:.0?}: {error:#}; {found}");
                failures.push(format!(
                    "{target}: {found} (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none {target} <input>)"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if !failures.is_empty() {
        bail!("fuzzing found crashes:\n  {}", failures.join("\n  "));
    }
    eprintln!(
        "xtask: {} fuzz target(s) ran {seconds} s each without a crash ({:.0?} in all)",
        targets.len(),
        started.elapsed()
    );
    Ok(())
}

/// The fuzz targets: one `fuzz/fuzz_targets/<name>.rs` each, sorted.
fn list_targets(fuzz_dir: &Path) -> anyhow::Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("could not list {}", dir.display()))?;
    let mut targets = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            targets.push(stem.to_owned());
        }
    }
    targets.sort();
    if targets.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(targets)
}

fn cargo_fuzz(fuzz_dir: &Path, subcommand: &str) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.args(["fuzz", subcommand, "--sanitizer", "none"])
        .env("RUSTC_BOOTSTRAP", "1")
        // cargo-fuzz finds its package from the working directory.
        .current_dir(fuzz_dir.parent().unwrap_or(fuzz_dir));
    cmd
}

fn run_step(mut cmd: Command, name: &str) -> anyhow::Result<()> {
    eprintln!("xtask: {name}");
    let status = cmd.status().with_context(|| {
        format!("could not start `{name}` (is cargo-fuzz installed? `cargo install cargo-fuzz --locked`)")
    })?;
    if !status.success() {
        bail!("`{name}` failed ({status})");
    }
    Ok(())
}

/// Files libFuzzer saved (crash-*, timeout-*, oom-*, leak-*) since `since`.
fn new_artifacts(dir: &Path, since: SystemTime) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let slack = Duration::from_secs(1);
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t + slack >= since)
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

pub fn workspace_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}
