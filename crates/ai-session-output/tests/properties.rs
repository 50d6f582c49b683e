//! Properties over arbitrary input: nothing panics, the normaliser removes
//! every escape and carriage return, and the digest never exceeds its budget.

use ai_session_output::{
    DigestOptions, OutputKind, analyze, detect_kind, normalize, parse_output, tokens,
};
use proptest::prelude::*;

/// Line fragments that steer the parsers into their interesting branches.
const FRAGMENTS: &[&str] = &[
    "error[E0308]: mismatched types",
    "warning: unused",
    "  --> src/main.rs:10:36",
    "  |     ^^^ expected `u16`",
    "   = note: `#[warn(clippy::x)]` on by default",
    "test result: FAILED. 1 passed; 2 failed; 0 ignored",
    "test a::b ... FAILED",
    "---- a::b stdout ----",
    "thread 'a' (1) panicked at src/lib.rs:1:2:",
    "  left: 1",
    "running 3 tests",
    "=== 3 failed, 7 passed in 0.1s ===",
    "___ test_x ___",
    "E       assert 1 == 2",
    "FAILED t.py::test_x - boom",
    "calc.py:5: ZeroDivisionError",
    "Traceback (most recent call last):",
    "  File \"a.py\", line 3, in f",
    "KeyError: 'x'",
    "FAIL: test_a (m.T.test_a)",
    "Ran 3 tests in 0.1s",
    "FAILED (failures=1)",
    "\u{2716} name (1ms)",
    "\u{2139} tests 9",
    "test at test/a.js:1:1",
    "    at f (/p/test/a.js:10:10)",
    "--- FAIL: TestX (0.00s)",
    "main.c:9:51: error: expected",
    "make: *** [Makefile:10: main.o] Error 1",
    "diff --git a/x b/x",
    "@@ -1,5 +1,5 @@",
    "+added",
    "-removed",
    "commit abcdef1234567",
    "On branch main",
    "\tmodified:   app.py",
    "CONFLICT (content): Merge conflict in x",
    "USER PID %CPU %MEM COMMAND",
    "root 1 99.0 0.1 init",
    "top - 10:00 up, load average: 1, 2",
    "Tasks: 1 total, 1 running",
    "MiB Mem : 100.0 total",
    "drwxr-xr-x 2 a a 4096 Nov 1 10:00 dir",
    "lrwxrwxrwx 1 a a 4 Nov 1 10:00 l -> t",
    "Filesystem Size Used Avail Use% Mounted on",
    "/dev/x 1G 1G 0 100% /",
    "4.1G\t/usr",
    "State Recv-Q Send-Q Local Peer Process",
    "LISTEN 0 5 127.0.0.1:80 0.0.0.0:* users:((\"x\",pid=1,fd=3))",
    "Mem: 1Gi 1Gi",
    "KEY=value",
    "{\"level\": \"error\", \"msg\": \"x\"}",
    "{\"level\": ",
    "2026-11-25T21:18:34.673768Z ERROR app: boom",
    "Nov 25 21:00:06 h a[1]: WARN x",
    "Successfully installed a-1",
    "0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.",
    "added 2 packages in 3s",
    "",
    "   ",
    "\u{e9}\u{2501}\u{1f600}",
    ":",
    "::",
    "[",
    "(",
];

fn fragment_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
            1 => ".{0,40}",
        ],
        0..80,
    )
    .prop_map(|lines| lines.join("\n"))
}

const COMMANDS: &[&str] = &[
    "cargo build",
    "cargo clippy",
    "cargo test",
    "rustc x.rs",
    "gcc x.c",
    "make",
    "go build",
    "go test",
    "pytest",
    "python3 -m unittest",
    "npx jest",
    "node --test",
    "npm install",
    "pip install x",
    "apt-get install x",
    "git status",
    "git log",
    "git diff",
    "git commit -m x",
    "git push",
    "git merge b",
    "git branch",
    "git pull",
    "ps aux",
    "top -bn1",
    "ls -la",
    "find .",
    "df -h",
    "du -h",
    "free -h",
    "ss -tlnp",
    "netstat -tlnp",
    "env",
    "python3 x.py",
    "cat log",
    "./unknown",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn normalize_removes_escapes_and_returns(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        let text = normalize(&raw);
        prop_assert!(!text.contains('\x1b'));
        prop_assert!(!text.contains('\r'));
    }

    #[test]
    fn analyze_stays_within_budget_on_garbage(
        raw in prop::collection::vec(any::<u8>(), 0..4096),
        command in prop::sample::select(COMMANDS),
        budget in 0usize..600,
        exit_code in prop::option::of(-1i32..130),
    ) {
        let opts = DigestOptions { budget, exit_code, more_hint: Some("ai-session read --range 0..".into()) };
        let analysis = analyze(command, &raw, &opts);
        prop_assert!(analysis.tokens_digest <= budget);
        prop_assert_eq!(analysis.tokens_digest, tokens::count(&analysis.digest));
    }

    #[test]
    fn every_parser_survives_tool_shaped_text(
        text in fragment_text(),
        command in prop::sample::select(COMMANDS),
        budget in 0usize..500,
    ) {
        let kind = detect_kind(command, &text);
        let _ = parse_output(kind, command, &text, Some(1));
        for forced in [OutputKind::Cargo, OutputKind::CargoTest, OutputKind::Pytest, OutputKind::Unittest,
                       OutputKind::NodeTest, OutputKind::Jest, OutputKind::GoTest, OutputKind::Gcc,
                       OutputKind::Git, OutputKind::Ps, OutputKind::Top, OutputKind::Ls, OutputKind::Df,
                       OutputKind::Du, OutputKind::Sockets, OutputKind::Free, OutputKind::Env,
                       OutputKind::JsonLog, OutputKind::Syslog, OutputKind::PythonTraceback,
                       OutputKind::NpmInstall, OutputKind::PipInstall, OutputKind::AptInstall] {
            let _ = parse_output(forced, command, &text, None);
        }
        let analysis = analyze(command, text.as_bytes(), &DigestOptions { budget, ..DigestOptions::default() });
        prop_assert!(analysis.tokens_digest <= budget);
    }
}

/// Inputs the fuzzer found (`fuzz/fuzz_targets/parse.rs`), kept as plain tests.
#[test]
fn fuzz_found_digests_stay_within_budget() {
    let cases: &[(&str, usize, &[u8])] = &[(
        "du -h",
        18,
        b"0\t\x06\t\x06\t\x06\t\x06\t\t\t,\t\x06\t\x06\t\x060\t\x06\t\x060\t\x06\t\x06\t\x06\t\x06\t\t\t,\t\x06\t\x06\t\x06\t\x060\t\x06\t\x06\t\x06\t\x06\t\t\t,\t",
    ), (
        // A count word right after a U+FFFD (from invalid UTF-8) sliced mid-char.
        "git merge b",
        765,
        b"\xff\xff\xff\xff\xff\xff\xff\x00\t\x06files changed",
    )];
    for (command, budget, raw) in cases {
        let opts = ai_session_output::DigestOptions {
            budget: *budget,
            exit_code: Some(0),
            more_hint: Some("ai-session read --range 0..".to_owned()),
        };
        let analysis = ai_session_output::analyze(command, raw, &opts);
        assert!(
            analysis.tokens_digest <= *budget,
            "{command}: {} tokens over a budget of {budget}:\n{}",
            analysis.tokens_digest,
            analysis.digest
        );
    }
}
