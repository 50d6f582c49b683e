//! The whole output pipeline on arbitrary bytes for every kind of command:
//! detection, parsers and the digest never panic, and the digest stays within
//! its token budget.
#![no_main]

use ai_session_output::{DigestOptions, analyze};
use libfuzzer_sys::fuzz_target;

const COMMANDS: &[&str] = &[
    "cargo build", "cargo clippy", "cargo test", "gcc -c x.c", "make", "go test ./...", "go vet",
    "python3 -m pytest", "python3 -m unittest", "npx jest", "node --test", "npm install", "pip install x",
    "pip download x", "apt-get install -y x", "git status", "git log", "git diff", "git commit -m x",
    "git push", "git merge b", "git branch -a -v", "git pull", "ps aux", "top -bn1", "ls -la", "find .",
    "df -h", "du -h", "free -h", "ss -tlnp", "netstat -tlnp", "env", "python3 app.py", "cat app.log",
    "./unknown",
    // Parsers added with the differential corpus (one seed each in fuzz/corpus/parse).
    "npx vitest run", "mocha", "bundle exec rspec", "ruby test/test_calc.rb", "phpunit tests",
    "cd build && ctest", "tsc --noEmit", "eslint .", "ruff check .", "mypy app.py", "javac Main.java",
    "cargo install --path .", "cmake --build build", "git rebase main", "python3 worker.py",
    "pytest -q", "go test -v ./...", "df -hT", "cargo check --message-format=short",
    "docker build .",
];

fuzz_target!(|data: &[u8]| {
    let [selector, budget_byte, rest @ ..] = data else {
        return;
    };
    let command = COMMANDS[usize::from(*selector) % COMMANDS.len()];
    let budget = usize::from(*budget_byte) * 3;
    let opts = DigestOptions {
        budget,
        exit_code: Some(i32::from(*selector & 3)),
        more_hint: Some("ai-session read --range 0..".to_owned()),
    };
    let analysis = analyze(command, rest, &opts);
    assert!(analysis.tokens_digest <= budget);
});
