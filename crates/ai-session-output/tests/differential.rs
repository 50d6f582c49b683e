//! Replays the differential corpus (`tests/differential/captures/FAMILY/VARIANT.*`,
//! written by `cargo xtask corpus --differential` from real tool runs): the facts
//! parsed from each human-format capture must equal the truth read from the
//! tool's machine report. This keeps the parsers tested where the tools are
//! not installed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ai_session_output::capture::CaptureCommand;
use ai_session_output::fidelity::{self, Truth};
use ai_session_output::{DigestOptions, analyze, tokens};

struct Capture {
    family: String,
    variant: String,
    command: String,
    exit_code: Option<i32>,
    raw: Vec<u8>,
    truth: Truth,
}

impl Capture {
    /// The product's reading of the capture, at the default budget.
    fn analyze(&self) -> ai_session_output::Analysis {
        analyze(
            &self.command,
            &self.raw,
            &DigestOptions {
                exit_code: self.exit_code,
                ..DigestOptions::default()
            },
        )
    }
}

fn captures() -> Vec<Capture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/captures");
    let mut out = Vec::new();
    let mut families: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    families.sort();
    for dir in families {
        let family = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut raws: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "raw"))
            .collect();
        raws.sort();
        for raw_path in raws {
            let variant = raw_path.file_stem().unwrap().to_string_lossy().into_owned();
            let base = dir.join(&variant);
            let CaptureCommand { command, exit_code } = CaptureCommand::parse(
                &std::fs::read_to_string(base.with_extension("cmd")).unwrap(),
            );
            let truth_path = PathBuf::from(format!("{}.truth.json", base.display()));
            let truth = serde_json::from_slice(&std::fs::read(&truth_path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", truth_path.display()));
            out.push(Capture {
                family: family.clone(),
                variant,
                command,
                exit_code,
                raw: std::fs::read(&raw_path).unwrap(),
                truth,
            });
        }
    }
    out
}

#[test]
fn parsed_facts_equal_the_machine_reports() {
    let captures = captures();
    let mut failures = Vec::new();
    for c in &captures {
        let analysis = c.analyze();
        let comparison = fidelity::compare(&c.truth, &analysis.parsed);
        if !comparison.all_equal() {
            failures.push(format!(
                "{}/{} (`{}`, {:?}): {}",
                c.family,
                c.variant,
                c.command,
                analysis.kind,
                comparison.mismatches.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} captures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_enough_families_and_variants() {
    let captures = captures();
    let families: BTreeSet<&str> = captures.iter().map(|c| c.family.as_str()).collect();
    let thin: Vec<&str> = families
        .iter()
        .copied()
        .filter(|f| captures.iter().filter(|c| c.family == *f).count() < 3)
        .collect();
    assert!(
        families.len() >= 25,
        "only {} families: {families:?}",
        families.len()
    );
    assert!(
        thin.is_empty(),
        "families with fewer than 3 variants: {thin:?}"
    );
}

#[test]
fn digests_keep_every_fact_the_parse_found() {
    // At the default budget the digest itself (what an agent reads) states the truth's facts.
    let mut lost = Vec::new();
    for c in captures() {
        let analysis = c.analyze();
        // A fact counts where the full output states it in a form the checker reads.
        let stated = fidelity::text_facts(&c.truth, &analysis.normalized);
        let missing: Vec<String> = fidelity::text_facts(&c.truth, &analysis.digest)
            .into_iter()
            .zip(stated)
            .filter(|((_, kept), (_, in_full))| *in_full && !kept)
            .map(|((fact, _), _)| fact)
            .collect();
        if !missing.is_empty() {
            lost.push(format!("{}/{}: {missing:?}", c.family, c.variant));
        }
        assert!(
            analysis.tokens_digest <= 400,
            "{}/{} over budget",
            c.family,
            c.variant
        );
        assert_eq!(tokens::count(&analysis.digest), analysis.tokens_digest);
    }
    assert!(lost.is_empty(), "digests lost facts:\n{}", lost.join("\n"));
}

fn capture(family: &str, variant: &str) -> (Capture, ai_session_output::Analysis) {
    let c = captures()
        .into_iter()
        .find(|c| c.family == family && c.variant == variant)
        .unwrap_or_else(|| panic!("capture {family}/{variant} missing"));
    let analysis = c.analyze();
    (c, analysis)
}

/// The four misses issue 18 reported, on real captures.
#[test]
fn issue_18_misses_stay_fixed() {
    use ai_session_output::{OutputKind, ParsedOutput};
    // 1. `pytest -q`: the tally without its `===` rule.
    let (_, a) = capture("pytest", "quiet");
    let ParsedOutput::TestResults(r) = &a.parsed else {
        panic!("{:?}", a.parsed)
    };
    assert_eq!(
        (r.passed, r.failed, r.skipped, r.errors),
        (305, 4, 1, 1),
        "{r:?}"
    );
    // 2. minitest: parsed at all, failures and the error kept.
    let (_, a) = capture("minitest", "default");
    assert_eq!(a.kind, OutputKind::Minitest);
    let ParsedOutput::TestResults(r) = &a.parsed else {
        panic!("{:?}", a.parsed)
    };
    assert_eq!((r.failures.len(), r.error_list.len()), (2, 1), "{r:?}");
    // 3. Python logging: the traceback's exception line survives the digest.
    let (_, a) = capture("python-logging", "asctime");
    let ParsedOutput::StructuredLog(r) = &a.parsed else {
        panic!("{:?}", a.parsed)
    };
    assert_eq!(r.format, "python_logging");
    assert!(
        a.digest
            .contains("QueryTimeout: canceling statement due to statement timeout"),
        "{}",
        a.digest
    );
    assert!(a.tokens_raw > 1000 && a.tokens_digest <= 400);
    // 4. cargo test with a failing doctest: its summary and the targets line at the default budget.
    let (_, a) = capture("cargo-test", "default");
    assert!(
        a.digest
            .contains("test result: FAILED. 1 passed; 1 failed; 0 ignored"),
        "{}",
        a.digest
    );
    assert!(
        a.digest.contains("error: 3 targets failed:"),
        "{}",
        a.digest
    );
    assert!(
        a.digest.contains("src/lib.rs - split (line 14)"),
        "{}",
        a.digest
    );
}
