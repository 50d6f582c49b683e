//! Every capture of the shared output corpus: parsed facts equal
//! `expected/NAME.json` and every `must_keep` string survives the digest at
//! the default budget.

use std::path::{Path, PathBuf};

use ai_session_output::capture::CaptureCommand;
use ai_session_output::{DigestOptions, analyze, expect};

/// `AI_SESSION_CORPUS`, else `shared/corpus` beside the checkout (`../../../shared/corpus`
/// from this crate), else the nearest ancestor holding `shared/corpus` (git worktrees).
fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AI_SESSION_CORPUS") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let beside = manifest.join("../../../shared/corpus");
    if beside.is_dir() {
        return beside;
    }
    manifest
        .ancestors()
        .map(|dir| dir.join("shared/corpus"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "output corpus not found: set AI_SESSION_CORPUS or put shared/corpus beside the checkout ({})",
                beside.display()
            )
        })
}

struct Capture {
    name: String,
    command: String,
    exit_code: Option<i32>,
    raw: Vec<u8>,
    expected: serde_json::Value,
}

fn captures() -> Vec<Capture> {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading corpus dir {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "raw").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 30,
        "corpus at {} looks incomplete",
        dir.display()
    );
    names
        .into_iter()
        .map(|name| {
            let CaptureCommand { command, exit_code } = CaptureCommand::parse(
                &std::fs::read_to_string(dir.join(format!("{name}.cmd"))).expect("reading .cmd"),
            );
            let raw = std::fs::read(dir.join(format!("{name}.raw"))).expect("reading .raw");
            let expected_text = std::fs::read_to_string(dir.join(format!("expected/{name}.json")))
                .expect("reading expected json");
            let expected = serde_json::from_str(&expected_text).expect("expected json parses");
            Capture {
                name,
                command,
                exit_code,
                raw,
                expected,
            }
        })
        .collect()
}

#[test]
fn corpus_facts_and_must_keep() {
    let mut failures = Vec::new();
    let mut raw_total = 0;
    let mut digest_total = 0;
    for capture in captures() {
        let opts = DigestOptions {
            exit_code: capture.exit_code,
            more_hint: Some(format!("ai-session read --range 0.. ({})", capture.name)),
            ..DigestOptions::default()
        };
        let analysis = analyze(&capture.command, &capture.raw, &opts);
        assert!(
            analysis.tokens_digest <= opts.budget,
            "{}: digest over budget",
            capture.name
        );
        raw_total += analysis.tokens_raw;
        digest_total += analysis.tokens_digest;
        let check = expect::check(&capture.expected, &analysis);
        for mismatch in check.mismatches {
            failures.push(format!("{}: {mismatch}", capture.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        digest_total * 10 <= raw_total,
        "digests total {digest_total} tokens, not 90% below raw {raw_total}"
    );
}
