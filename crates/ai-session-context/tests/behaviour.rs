//! Compression strategies, task inheritance and recovery through the public API.

use ai_session_context::{CommandInput, Fidelity, OriginRef, Role, SessionContext};

const FAILING_TEST: &[u8] = b"running 2 tests\r\ntest tests::slugify_spaces ... FAILED\r\ntest tests::add ... ok\r\n\r\n\
failures:\r\n\r\n---- tests::slugify_spaces stdout ----\r\nthread 'tests::slugify_spaces' panicked at src/lib.rs:42:9:\r\n\
assertion `left == right` failed\r\n\r\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\r\n";

fn origin(start: u64, len: usize) -> OriginRef {
    OriginRef {
        session: "s".into(),
        record: None,
        start,
        end: start + len as u64,
    }
}

fn add_command(
    ctx: &mut SessionContext,
    command: &str,
    exit: i32,
    output: &[u8],
    start: u64,
) -> u64 {
    ctx.add_command(CommandInput {
        command,
        exit_code: Some(exit),
        cwd: Some("/w"),
        output,
        origin: Some(&origin(start, output.len())),
    })
}

/// A listing long enough that its digest is much smaller than its full text.
fn long_listing(lines: usize) -> Vec<u8> {
    (0..lines)
        .map(|i| format!("drwxr-xr-x 2 root root 4096 Nov 25 12:00 directory_{i}\r\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn crossing_the_threshold_compresses_to_the_target_and_keeps_the_window() {
    let mut ctx = SessionContext::new(20_000).with_threshold(0.8);
    ctx.add_message(
        Role::System,
        "Standing instructions that must never be compressed.",
    );
    let mut id = 0;
    while ctx.compressions() == 0 {
        id = add_command(&mut ctx, "ls -la", 0, &long_listing(40), id * 10_000);
        assert!(ctx.messages().len() < 200, "compression never triggered");
    }
    assert!(
        ctx.current_tokens() <= 12_000,
        "compressed to {} > target 12000",
        ctx.current_tokens()
    );
    assert!(ctx.verify_token_counts().is_empty());
    let live: Vec<_> = ctx
        .messages()
        .iter()
        .filter(|e| e.fidelity != Fidelity::Evicted)
        .collect();
    assert_eq!(
        ctx.messages()[0].fidelity,
        Fidelity::Verbatim,
        "system messages stay verbatim"
    );
    assert_eq!(
        live.last().map(|e| e.fidelity),
        Some(Fidelity::Verbatim),
        "newest entry stays verbatim"
    );
    for entry in ctx
        .messages()
        .iter()
        .filter(|e| e.fidelity != Fidelity::Verbatim)
    {
        assert!(
            entry.origin.is_some() && entry.verbatim.is_none(),
            "compressed entries drop text they can recover by origin"
        );
    }
}

#[test]
fn summaries_keep_command_exit_code_and_key_facts() {
    let mut ctx = SessionContext::new(100_000);
    let id = add_command(&mut ctx, "cargo test", 101, FAILING_TEST, 0);
    let summary = ctx.entry(id).expect("entry").summary.text().to_string();
    for fact in [
        "$ cargo test",
        "exit 101",
        "1 passed; 1 failed",
        "tests::slugify_spaces",
        "src/lib.rs:42:9",
        "s bytes 0..",
    ] {
        assert!(summary.contains(fact), "summary lacks {fact:?}: {summary}");
    }
}

#[test]
fn least_relevant_entries_are_lowered_first() {
    let mut ctx = SessionContext::new(1_000_000);
    ctx.new_task("fix", "fix the failing test slugify_spaces", None)
        .expect("task");
    ctx.switch_task(Some("fix")).expect("switch");
    let failing = add_command(&mut ctx, "cargo test", 101, FAILING_TEST, 0);
    let listing = add_command(&mut ctx, "ls -la", 0, &long_listing(10), 1_000);
    for i in 0..10 {
        ctx.add_message(Role::User, &format!("filler message number {i}"));
    }
    let failing_before = ctx.entry(failing).expect("entry").live_tokens();
    let listing_before = ctx.entry(listing).expect("entry").live_tokens();
    // Just enough pressure to summarise one old entry beyond digesting.
    let after_digest = ctx.current_tokens() - failing_before - listing_before
        + ctx.entry(failing).expect("entry").digest.tokens()
        + ctx.entry(listing).expect("entry").digest.tokens();
    let report = ctx.compress_to(after_digest - 1);
    assert!(report.summarized >= 1, "{report:?}");
    assert_eq!(
        ctx.entry(listing).expect("entry").fidelity,
        Fidelity::Summary,
        "the irrelevant listing goes first"
    );
    assert_eq!(
        ctx.entry(failing).expect("entry").fidelity,
        Fidelity::Digest,
        "the failing test keeps its digest"
    );
}

#[test]
fn tasks_inherit_relevant_parent_entries_only() {
    let mut ctx = SessionContext::new(1_000_000);
    let failing = add_command(&mut ctx, "cargo test", 101, FAILING_TEST, 0);
    let listing = add_command(&mut ctx, "ls -la", 0, &long_listing(5), 1_000);
    ctx.new_task("fix", "fix the failing test slugify_spaces", None)
        .expect("task");
    ctx.new_task("docs", "write the deployment docs", None)
        .expect("task");
    ctx.new_task("fix-hyphen", "make slugify_spaces use hyphens", Some("fix"))
        .expect("task");
    ctx.switch_task(Some("docs")).expect("switch");
    let docs_note = ctx.add_message(
        Role::Assistant,
        "Deployment docs drafted in docs/deploy.md.",
    );
    ctx.switch_task(Some("fix")).expect("switch");
    let fix_note = ctx.add_decision("Decided to replace spaces with hyphens in slugify.");
    ctx.switch_task(Some("fix-hyphen")).expect("switch");
    let own = ctx.add_message(Role::User, "Use '-' not '_'.");

    let packed = ctx.context(4_000, None);
    let ids: Vec<u64> = packed.entries.iter().map(|e| e.id).collect();
    assert!(ids.contains(&own), "own entries: {ids:?}");
    assert!(
        ids.contains(&failing),
        "relevant root entry is inherited: {ids:?}"
    );
    assert!(
        ids.contains(&fix_note),
        "important parent entry is inherited: {ids:?}"
    );
    assert!(
        !ids.contains(&listing),
        "irrelevant root entry is not inherited: {ids:?}"
    );
    assert!(
        !ids.contains(&docs_note),
        "unrelated task's entries are excluded: {ids:?}"
    );
    assert_eq!(ids.first(), Some(&failing), "most relevant first: {ids:?}");

    assert!(ctx.new_task("fix", "again", None).is_err());
    assert!(ctx.switch_task(Some("nope")).is_err());
    ctx.switch_task(None).expect("back to root");
    let all = ctx.context(4_000, Some("deployment docs"));
    assert_eq!(
        all.entries.first().map(|e| e.id),
        Some(docs_note),
        "the root sees every entry"
    );
}

#[test]
fn evicted_entries_come_back_when_relevant() {
    let mut ctx = SessionContext::new(1_000_000);
    let failing = add_command(&mut ctx, "cargo test", 101, FAILING_TEST, 0);
    for i in 0..20 {
        ctx.add_message(Role::Assistant, &format!("unrelated step {i}"));
    }
    ctx.compress_to(0);
    let entry = ctx.entry(failing).expect("entry");
    assert_eq!(entry.fidelity, Fidelity::Evicted);
    assert_eq!(entry.origin, Some(origin(0, FAILING_TEST.len())));
    let packed = ctx.context(300, Some("slugify_spaces failure"));
    assert_eq!(packed.entries.first().map(|e| e.id), Some(failing));
    assert!(packed.text.contains("src/lib.rs:42:9"), "{}", packed.text);
}

#[test]
fn tiny_and_zero_budgets_yield_fitting_text() {
    let mut ctx = SessionContext::new(1_000_000);
    add_command(&mut ctx, "cargo test", 101, FAILING_TEST, 0);
    for budget in [0, 1, 5, 20] {
        let packed = ctx.context(budget, Some("slugify"));
        assert!(packed.tokens <= budget);
        assert_eq!(
            packed.tokens,
            ai_session_context::tokens::count(&packed.text)
        );
    }
}

#[test]
fn a_newer_run_of_the_same_command_supersedes_the_older() {
    let mut ctx = SessionContext::new(1_000_000);
    let listing = long_listing(5);
    let failed = add_command(&mut ctx, "ls -la", 2, &listing, 0);
    let passed = add_command(&mut ctx, "ls -la", 0, &listing, 1_000);
    let packed = ctx.context(4_000, Some("directory_3"));
    let ids: Vec<u64> = packed.entries.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        [passed, failed],
        "the newer run ranks first despite the older one's error"
    );
}
