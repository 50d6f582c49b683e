//! `cargo xtask corpus`: run the output pipeline over every capture of the
//! shared corpus and print, per fixture, raw vs digest tokens, the reduction,
//! and how many expected facts and must-keep strings survived. Fails if the
//! totals miss the bar (digests ≥90% smaller, every fact and string kept).

use std::path::{Path, PathBuf};

use ai_session_output::capture::CaptureCommand;
use ai_session_output::{DigestOptions, analyze, expect};
use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct CorpusArgs {
    /// Digest budget in o200k tokens.
    #[arg(long, default_value_t = 400)]
    budget: usize,
    /// Also print the digest of this fixture (repeatable).
    #[arg(long)]
    show: Vec<String>,
    /// Corpus directory (default: `$AI_SESSION_CORPUS`, else `shared/corpus` beside the checkout).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Differential corpus instead: run real tools in a PTY and check the parsed
    /// facts against their machine reports (see `xtask/src/differential/`).
    #[arg(long)]
    differential: bool,
    /// With `--differential`: only these families (repeatable).
    #[arg(long)]
    family: Vec<String>,
    /// With `--differential`: check the stored captures without running tools.
    #[arg(long)]
    replay: bool,
    /// With `--differential`: print the fact-fidelity table over the stored large
    /// captures (digest vs head+tail truncation at `--budget`) instead of running tools.
    #[arg(long)]
    fidelity: bool,
    /// With `--differential`: families run at once.
    #[arg(long, default_value_t = 3)]
    jobs: usize,
}

fn corpus_dir(args: &CorpusArgs) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.dir {
        return Ok(dir.clone());
    }
    if let Some(dir) = std::env::var_os("AI_SESSION_CORPUS") {
        return Ok(PathBuf::from(dir));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/corpus"))
        .find(|dir| dir.join("README.md").is_file())
        .context("output corpus not found: pass --dir or set AI_SESSION_CORPUS to shared/corpus")
}

struct Row {
    name: String,
    kind: String,
    raw: usize,
    digest: usize,
    facts: (usize, usize),
    must_keep: (usize, usize),
    mismatches: Vec<String>,
}

pub fn run(args: &CorpusArgs) -> anyhow::Result<()> {
    if args.differential && args.fidelity {
        let score = crate::differential::fidelity(args.budget, true)?;
        if score.digest_facts < score.facts || score.reduction() < 0.9 {
            bail!(
                "digests kept {}/{} facts at {:.1}% fewer tokens: below the bar (all facts, >= 90%)",
                score.digest_facts,
                score.facts,
                100.0 * score.reduction()
            );
        }
        return Ok(());
    }
    if args.differential {
        return crate::differential::run(&crate::differential::Options {
            only: args.family.clone(),
            jobs: args.jobs,
            replay: args.replay,
            show: args.show.clone(),
        });
    }
    let dir = corpus_dir(args)?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading corpus dir {}", dir.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "raw").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no .raw captures in {}", dir.display());
    }
    let mut rows = Vec::new();
    for name in &names {
        let read = |ext: &str| {
            let path = dir.join(format!("{name}.{ext}"));
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let raw = read("raw")?;
        let CaptureCommand { command, exit_code } =
            CaptureCommand::parse(&String::from_utf8_lossy(&read("cmd")?));
        let command = command.as_str();
        let expected_path = dir.join(format!("expected/{name}.json"));
        let expected: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&expected_path)
                .with_context(|| format!("reading {}", expected_path.display()))?,
        )
        .with_context(|| format!("parsing {}", expected_path.display()))?;
        let opts = DigestOptions {
            budget: args.budget,
            exit_code,
            more_hint: Some(format!("ai-session read --range 0.. ({name})")),
        };
        let analysis = analyze(command, &raw, &opts);
        if args.show.contains(name) {
            println!("==== {name}: {command}\n{}\n", analysis.digest);
        }
        let check = expect::check(&expected, &analysis);
        rows.push(Row {
            name: name.clone(),
            kind: format!("{:?}", analysis.kind),
            raw: analysis.tokens_raw,
            digest: analysis.tokens_digest,
            facts: (check.facts_kept, check.facts_total),
            must_keep: (check.must_keep_found, check.must_keep_total),
            mismatches: check.mismatches,
        });
    }
    print_table(&rows, args.budget);
    let raw: usize = rows.iter().map(|r| r.raw).sum();
    let digest: usize = rows.iter().map(|r| r.digest).sum();
    let lost: Vec<String> = rows
        .iter()
        .flat_map(|r| r.mismatches.iter().map(move |m| format!("{}: {m}", r.name)))
        .collect();
    for line in &lost {
        eprintln!("  lost: {line}");
    }
    if !lost.is_empty() {
        bail!("{} expected facts or must-keep strings lost", lost.len());
    }
    if digest * 10 > raw {
        bail!("digests total {digest} tokens: less than 90% below raw {raw}");
    }
    Ok(())
}

fn reduction(raw: usize, digest: usize) -> f64 {
    if raw == 0 {
        0.0
    } else {
        100.0 * (1.0 - digest as f64 / raw as f64)
    }
}

fn print_table(rows: &[Row], budget: usize) {
    println!("Output corpus at budget {budget} (o200k tokens; raw = normalised output)\n");
    println!(
        "| {:<24} | {:<15} | {:>10} | {:>13} | {:>9} | {:>10} | {:>9} |",
        "fixture", "kind", "raw tokens", "digest tokens", "reduction", "facts kept", "must-keep"
    );
    println!(
        "|{:-<26}|{:-<17}|{:->12}|{:->15}|{:->11}|{:->12}|{:->11}|",
        "", "", ":", ":", ":", ":", ":"
    );
    for r in rows {
        println!(
            "| {:<24} | {:<15} | {:>10} | {:>13} | {:>8.1}% | {:>10} | {:>9} |",
            r.name,
            r.kind,
            r.raw,
            r.digest,
            reduction(r.raw, r.digest),
            format!("{}/{}", r.facts.0, r.facts.1),
            format!("{}/{}", r.must_keep.0, r.must_keep.1),
        );
    }
    let sum = |f: fn(&Row) -> usize| rows.iter().map(f).sum::<usize>();
    let (raw, digest) = (sum(|r| r.raw), sum(|r| r.digest));
    println!(
        "| {:<24} | {:<15} | {:>10} | {:>13} | {:>8.1}% | {:>10} | {:>9} |",
        format!("**total ({})**", rows.len()),
        "",
        raw,
        digest,
        reduction(raw, digest),
        format!("{}/{}", sum(|r| r.facts.0), sum(|r| r.facts.1)),
        format!("{}/{}", sum(|r| r.must_keep.0), sum(|r| r.must_keep.1)),
    );
}
