//! `cargo xtask features`: every workspace crate built on its own with each of its feature
//! combinations: no default features, each feature alone, all features. Built alone, a crate
//! gets only the dependency features it asks for (in a workspace build they are unified
//! across all crates), so a missing tokio feature or an optional dependency used without its
//! feature shows up here and nowhere else. A loop over `cargo metadata`, like `cargo hack
//! --each-feature`, which is not needed for it.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::ci::cargo;

#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// Only these crates (default: every workspace member).
    #[arg(long = "package", short = 'p', value_name = "CRATE")]
    pub packages: Vec<String>,
    /// Check the tests, examples and benches of every crate in each combination; by
    /// default only those of crates that have features (a featureless crate's tests build
    /// in the workspace test run anyway).
    #[arg(long)]
    pub all_targets: bool,
}

/// One crate and its features (without `default`).
#[derive(Debug, PartialEq, Eq)]
struct Crate {
    name: String,
    features: Vec<String>,
}

pub fn run(args: &FeaturesArgs) -> anyhow::Result<()> {
    let crates = workspace_crates()?;
    for wanted in &args.packages {
        if !crates.iter().any(|c| &c.name == wanted) {
            bail!("no workspace crate named {wanted:?}");
        }
    }
    let started = Instant::now();
    let mut builds = 0;
    for krate in crates
        .iter()
        .filter(|c| args.packages.is_empty() || args.packages.contains(&c.name))
    {
        // The library alone gets only its own dependency features; its tests add the
        // dev-dependencies' features, so they are a second build.
        let mut targets = vec![&[][..]];
        if args.all_targets || !krate.features.is_empty() {
            targets.push(&["--all-targets"][..]);
        }
        for flags in combinations(&krate.features) {
            for extra in &targets {
                let mut command = vec!["check", "--quiet", "-p", &krate.name];
                command.extend(extra.iter().copied());
                command.extend(flags.iter().map(String::as_str));
                cargo(&command)?;
                builds += 1;
            }
        }
    }
    eprintln!(
        "xtask: {builds} builds of the feature combinations of {} crates in {:.0?}",
        crates.len(),
        started.elapsed()
    );
    Ok(())
}

/// The workspace members and their features, from `cargo metadata`.
fn workspace_crates() -> anyhow::Result<Vec<Crate>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .with_context(|| format!("could not start `{cargo} metadata`"))?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("`cargo metadata` printed no JSON")?;
    parse_crates(&metadata)
}

fn parse_crates(metadata: &Value) -> anyhow::Result<Vec<Crate>> {
    let packages = metadata["packages"]
        .as_array()
        .context("`cargo metadata` lists no packages")?;
    let mut crates: Vec<Crate> = packages
        .iter()
        .map(|package| {
            let name = package["name"]
                .as_str()
                .context("a package without a name")?
                .to_owned();
            let features = package["features"]
                .as_object()
                .map(|features| {
                    features
                        .keys()
                        .filter(|f| *f != "default")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            Ok(Crate { name, features })
        })
        .collect::<anyhow::Result<_>>()?;
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(crates)
}

/// The cargo flags of each combination to build: no default features, each feature alone,
/// all features; a combination that means the same as an earlier one is left out.
fn combinations(features: &[String]) -> Vec<Vec<String>> {
    let none = vec!["--no-default-features".to_owned()];
    let mut combos = vec![(BTreeSet::new(), none.clone())];
    for feature in features {
        let mut flags = none.clone();
        flags.extend(["--features".to_owned(), feature.clone()]);
        combos.push((BTreeSet::from([feature.clone()]), flags));
    }
    let all: BTreeSet<String> = features.iter().cloned().collect();
    combos.push((all, vec!["--all-features".to_owned()]));
    let mut seen = Vec::new();
    combos
        .into_iter()
        .filter(|(set, _)| {
            let new = !seen.contains(set);
            if new {
                seen.push(set.clone());
            }
            new
        })
        .map(|(_, flags)| flags)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn each_feature_alone_then_all_without_repeats() {
        assert_eq!(combinations(&[]), vec![owned(&["--no-default-features"])]);
        assert_eq!(
            combinations(&owned(&["nats"])),
            vec![
                owned(&["--no-default-features"]),
                owned(&["--no-default-features", "--features", "nats"]),
            ]
        );
        assert_eq!(
            combinations(&owned(&["mcp", "nats"])),
            vec![
                owned(&["--no-default-features"]),
                owned(&["--no-default-features", "--features", "mcp"]),
                owned(&["--no-default-features", "--features", "nats"]),
                owned(&["--all-features"]),
            ]
        );
    }

    #[test]
    fn crates_and_features_come_from_the_metadata() {
        let metadata = serde_json::json!({
            "packages": [
                {"name": "b", "features": {"default": ["x"], "x": [], "y": ["dep:z"]}},
                {"name": "a", "features": {}},
            ]
        });
        assert_eq!(
            parse_crates(&metadata).unwrap(),
            vec![
                Crate {
                    name: "a".into(),
                    features: vec![]
                },
                Crate {
                    name: "b".into(),
                    features: owned(&["x", "y"])
                },
            ]
        );
        assert!(parse_crates(&serde_json::json!({})).is_err());
    }
}
