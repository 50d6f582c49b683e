//! Quality of packed contexts on a long session built from the real-output corpus
//! (`../shared/corpus`, read in place) plus a synthetic conversation.

use std::path::{Path, PathBuf};

use ai_session_context::{CommandInput, Fidelity, OriginRef, Role, SessionContext, tokens};

const TASK: &str = "fix the failing cargo test slugify_spaces";

/// The corpus captures relevant to [`TASK`]: every must-keep fact of these must survive at budget 2000.
const RELEVANT: &[&str] = &["cargo_test_mixed"];

struct Capture {
    name: String,
    command: String,
    exit_code: i32,
    raw: Vec<u8>,
    must_keep: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../../shared/corpus"),
        // worktrees live one level deeper (`/work/wt/<name>`)
        manifest.join("../../../../shared/corpus"),
    ];
    if let Some(dir) = candidates.iter().find(|d| d.join("README.md").is_file()) {
        return dir.clone();
    }
    let from_env = std::env::var_os("AI_SESSION_CORPUS").map(PathBuf::from);
    match from_env {
        Some(dir) if dir.join("README.md").is_file() => dir,
        _ => panic!(
            "corpus not found at {:?}; set AI_SESSION_CORPUS to the shared/corpus directory",
            candidates
        ),
    }
}

fn load_corpus() -> Vec<Capture> {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".raw").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 30,
        "expected the 33 corpus captures in {dir:?}, found {}",
        names.len()
    );
    names
        .into_iter()
        .map(|name| {
            let cmd = std::fs::read_to_string(dir.join(format!("{name}.cmd"))).expect("read .cmd");
            let mut lines = cmd.lines();
            let command = lines.next().expect("command line").to_string();
            let exit_code = lines
                .next()
                .and_then(|l| l.strip_prefix("exit="))
                .and_then(|c| c.trim().parse().ok())
                .expect("exit=N line");
            let raw = std::fs::read(dir.join(format!("{name}.raw"))).expect("read .raw");
            let expected: serde_json::Value = serde_json::from_slice(
                &std::fs::read(dir.join(format!("expected/{name}.json")))
                    .expect("read expected json"),
            )
            .expect("parse expected json");
            let must_keep = expected["must_keep"]
                .as_array()
                .expect("must_keep")
                .iter()
                .map(|v| v.as_str().expect("string").to_string())
                .collect();
            Capture {
                name,
                command,
                exit_code,
                raw,
                must_keep,
            }
        })
        .collect()
}

/// A long session: the task-relevant test run early, then every other capture twice with
/// conversation around it, so relevance (not recency) has to find the facts.
fn long_session(corpus: &[Capture]) -> SessionContext {
    let mut ctx = SessionContext::new(24_000);
    ctx.add_message(
        Role::System,
        "You are a coding agent working in a terminal. Keep changes small and run the tests.",
    );
    ctx.add_message(
        Role::User,
        "CI is red on the testcrate. Please investigate and get it green.",
    );
    let mut offset = 0u64;
    let mut record = 0u64;
    let mut add = |ctx: &mut SessionContext, capture: &Capture| {
        let origin = OriginRef {
            session: "s1".into(),
            record: Some(record),
            start: offset,
            end: offset + capture.raw.len() as u64,
        };
        record += 1;
        offset += capture.raw.len() as u64;
        ctx.add_command(CommandInput {
            command: &capture.command,
            exit_code: Some(capture.exit_code),
            cwd: Some("/tmp/corpuswork/proj"),
            output: &capture.raw,
            origin: Some(&origin),
        });
    };
    let relevant = corpus
        .iter()
        .find(|c| c.name == "cargo_test_mixed")
        .expect("cargo_test_mixed capture");
    ctx.add_message(
        Role::Assistant,
        "Running the test suite first to see what fails.",
    );
    add(&mut ctx, relevant);
    ctx.add_decision(
        "Decided to look at the build and the repository state before touching lib.rs.",
    );
    for round in 0..2 {
        for capture in corpus.iter().filter(|c| c.name != "cargo_test_mixed") {
            ctx.add_message(
                Role::Assistant,
                &format!(
                    "Round {round}: checking `{}` to understand the environment.",
                    capture.command
                ),
            );
            add(&mut ctx, capture);
            ctx.add_message(Role::User, "ok, continue");
        }
    }
    ctx.add_message(
        Role::User,
        "Any progress? Remember the goal is the red test.",
    );
    ctx
}

#[test]
fn packed_context_keeps_task_facts_within_budget() {
    let corpus = load_corpus();
    let ctx = long_session(&corpus);
    assert!(
        ctx.compressions() > 0,
        "the long session must have triggered compression"
    );
    assert!(
        ctx.current_tokens() <= ctx.max_tokens(),
        "{} > {}",
        ctx.current_tokens(),
        ctx.max_tokens()
    );
    let test_entry = ctx
        .messages()
        .iter()
        .find(|e| {
            e.command
                .as_ref()
                .is_some_and(|c| c.command == "cargo test")
        })
        .expect("cargo test entry");
    assert_ne!(
        test_entry.fidelity,
        Fidelity::Verbatim,
        "the old test run should have been compressed"
    );
    assert!(
        test_entry.origin.is_some(),
        "compressed entries keep their origin"
    );

    let relevant: Vec<&Capture> = corpus
        .iter()
        .filter(|c| RELEVANT.contains(&c.name.as_str()))
        .collect();
    for budget in [500, 2000, 8000] {
        let packed = ctx.context(budget, Some(TASK));
        let exact = tokens::count(&packed.text);
        eprintln!(
            "budget {budget}: {} tokens, {} entries ({} omitted), first entry #{} at {:?}",
            packed.tokens,
            packed.entries.len(),
            packed.omitted,
            packed.entries.first().map_or(0, |e| e.id),
            packed.entries.first().map(|e| e.fidelity)
        );
        if std::env::var_os("AI_SESSION_SHOW_CONTEXT").is_some() {
            eprintln!("{}\n", packed.text);
        }
        let relevant_kept = relevant
            .iter()
            .flat_map(|c| &c.must_keep)
            .filter(|fact| packed.text.contains(fact.as_str()))
            .count();
        let relevant_total: usize = relevant.iter().map(|c| c.must_keep.len()).sum();
        eprintln!(
            "budget {budget}: must-keep facts of task-relevant commands present: {relevant_kept}/{relevant_total}"
        );
        assert_eq!(
            packed.tokens, exact,
            "reported tokens must be the exact count"
        );
        assert!(exact <= budget, "budget {budget} exceeded: {exact}");
        assert_eq!(
            packed.entries.first().map(|e| e.id),
            Some(test_entry.id),
            "most relevant first at {budget}"
        );
        assert!(
            packed.text.contains("You are a coding agent"),
            "budget {budget}: standing system instructions missing"
        );
        for fact in [
            "tests::slugify_spaces",
            "tests::divide_by_zero_returns_zero",
            "src/lib.rs:42:9",
        ] {
            assert!(
                packed.text.contains(fact),
                "budget {budget}: missing {fact:?}\n{}",
                packed.text
            );
        }
        if budget >= 2000 {
            for capture in &relevant {
                for fact in &capture.must_keep {
                    assert!(
                        packed.text.contains(fact.as_str()),
                        "budget {budget}: missing must-keep {fact:?} of {}\n{}",
                        capture.name,
                        packed.text
                    );
                }
            }
        }
    }
}

#[test]
fn cached_token_counts_equal_fresh_counts_on_the_corpus() {
    let corpus = load_corpus();
    let ctx = long_session(&corpus);
    assert_eq!(ctx.verify_token_counts(), []);
    // Every verbatim entry still held is the exact count of its text, and a fresh context holding
    // one capture counts it exactly as the tokenizer does.
    for capture in &corpus {
        let mut single = SessionContext::new(usize::MAX);
        let id = single.add_command(CommandInput {
            command: &capture.command,
            exit_code: Some(capture.exit_code),
            cwd: None,
            output: &capture.raw,
            origin: None,
        });
        let entry = single.entry(id).expect("entry");
        let verbatim = entry.verbatim.as_ref().expect("verbatim kept");
        assert_eq!(
            verbatim.tokens(),
            tokens::count(verbatim.text()),
            "{}",
            capture.name
        );
        assert_eq!(
            single.current_tokens(),
            verbatim.tokens(),
            "{}",
            capture.name
        );
    }
}

#[test]
fn workspace_state_comes_from_command_records() {
    let corpus = load_corpus();
    let ctx = long_session(&corpus);
    let ws = ctx.workspace_state();
    assert_eq!(ws.cwd.as_deref(), Some("/tmp/corpuswork/proj"));
    // `git status` ran after `git branch -a -v` in name order; both say main.
    assert_eq!(ws.git_branch.as_deref(), Some("main"));
    for file in ["report.py", "app.py", "config.yaml", "notes.txt", "tmp/"] {
        assert!(
            ws.dirty_files.iter().any(|f| f == file),
            "dirty files {:?} lack {file}",
            ws.dirty_files
        );
    }
    let failing = ws.last_failing_command.as_ref().expect("a failing command");
    assert_eq!(
        (failing.command.as_str(), failing.exit_code),
        ("python3 -m unittest -v test_inventory", 1)
    );
    assert!(!ws.recent_files.is_empty());
}

#[test]
fn saved_context_restores_identically() {
    let corpus = load_corpus();
    let ctx = long_session(&corpus);
    let bytes = ctx.to_bytes().expect("encode");
    let restored = SessionContext::from_bytes(&bytes).expect("decode");
    assert_eq!(restored.current_tokens(), ctx.current_tokens());
    assert_eq!(
        restored.context(2000, Some(TASK)),
        ctx.context(2000, Some(TASK))
    );
}

/// Other tasks on the same long session: each names facts of one capture, whose must-keep
/// strings must all survive at budget 2000 (the capture ran twice; the newer run must lead).
#[test]
fn other_tasks_find_their_commands() {
    let corpus = load_corpus();
    let ctx = long_session(&corpus);
    let cases = [
        (
            "fix the build error: cannot find value missing_value in errcrate",
            "cargo_build_errors",
        ),
        (
            "make the pytest suite pass: test_mean_empty raises ZeroDivisionError",
            "pytest_mixed",
        ),
        (
            "resolve the merge conflict in app.py from feature/reporting",
            "git_merge_conflict",
        ),
        (
            "fix the node test failures: toMillis parses hours",
            "node_test_failures",
        ),
        (
            "loader.py crashes on config.json with invalid literal for int",
            "python_traceback",
        ),
    ];
    for (task, name) in cases {
        let capture = corpus.iter().find(|c| c.name == name).expect("capture");
        for budget in [500, 2000] {
            let packed = ctx.context(budget, Some(task));
            assert!(packed.tokens <= budget && tokens::count(&packed.text) == packed.tokens);
            let first = ctx.entry(packed.entries[0].id).expect("entry");
            if std::env::var_os("AI_SESSION_SHOW_CONTEXT").is_some() {
                eprintln!("{}\n", packed.text);
            }
            assert_eq!(
                first.command.as_ref().map(|c| c.command.as_str()),
                Some(capture.command.as_str()),
                "{task}: most relevant first at {budget}"
            );
            let kept = capture
                .must_keep
                .iter()
                .filter(|f| packed.text.contains(f.as_str()))
                .count();
            eprintln!(
                "{name} at {budget}: must-keep {kept}/{}",
                capture.must_keep.len()
            );
            if budget == 2000 {
                for fact in &capture.must_keep {
                    assert!(
                        packed.text.contains(fact.as_str()),
                        "{task} at {budget}: missing {fact:?}\n{}",
                        packed.text
                    );
                }
            }
        }
    }
}
