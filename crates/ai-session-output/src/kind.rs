//! Which tool produced the output: from the command line first, then by
//! sniffing the text when the command says nothing (`cat app.log`, `./server`).

use serde::{Deserialize, Serialize};

/// The tool (family) whose output this is; selects the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// `cargo build|check|run|install` and friends.
    Cargo,
    /// `cargo clippy`.
    Clippy,
    /// `rustc` directly.
    Rustc,
    /// `cargo test` / `cargo nextest`.
    CargoTest,
    /// gcc, g++, clang, cc.
    Gcc,
    /// make, ninja, cmake --build.
    Make,
    /// `go build|vet|run`.
    GoBuild,
    /// `go test`.
    GoTest,
    /// pytest.
    Pytest,
    /// `python -m unittest`.
    Unittest,
    /// jest (and vitest, which prints alike).
    Jest,
    /// `node --test`.
    NodeTest,
    /// vitest.
    Vitest,
    /// mocha (spec reporter).
    Mocha,
    /// RSpec.
    Rspec,
    /// Ruby minitest.
    Minitest,
    /// PHPUnit.
    Phpunit,
    /// CTest.
    Ctest,
    /// TypeScript's `tsc`.
    Tsc,
    /// ESLint (stylish formatter).
    Eslint,
    /// ruff check.
    Ruff,
    /// mypy.
    Mypy,
    /// javac (and the compiler output of maven/gradle).
    Javac,
    /// `docker build` / `docker buildx build` (BuildKit's plain or tty progress).
    DockerBuild,
    /// npm/yarn/pnpm install.
    NpmInstall,
    /// pip install / download.
    PipInstall,
    /// apt / apt-get install, upgrade, remove.
    AptInstall,
    /// Any git subcommand.
    Git,
    /// ps.
    Ps,
    /// top in batch mode.
    Top,
    /// ls -l.
    Ls,
    /// find (one path per line).
    Find,
    /// df.
    Df,
    /// du.
    Du,
    /// free.
    Free,
    /// ss or netstat.
    Sockets,
    /// env / printenv.
    Env,
    /// JSON-lines logs.
    JsonLog,
    /// Rust `tracing` fmt logs.
    TracingLog,
    /// syslog-style or other timestamped logs with levels.
    Syslog,
    /// A Python program that died with a traceback.
    PythonTraceback,
    /// Nothing recognised.
    Unknown,
}

impl OutputKind {
    /// Broad category: `build`, `lint`, `test`, `git`, `process_list`,
    /// `filesystem`, `network`, `log` or `custom`.
    pub fn category(self) -> &'static str {
        match self {
            Self::Cargo
            | Self::Rustc
            | Self::Gcc
            | Self::Make
            | Self::GoBuild
            | Self::Tsc
            | Self::Javac
            | Self::DockerBuild => "build",
            Self::Clippy | Self::Eslint | Self::Ruff | Self::Mypy => "lint",
            Self::CargoTest
            | Self::GoTest
            | Self::Pytest
            | Self::Unittest
            | Self::Jest
            | Self::NodeTest
            | Self::Vitest
            | Self::Mocha
            | Self::Rspec
            | Self::Minitest
            | Self::Phpunit
            | Self::Ctest => "test",
            Self::Git => "git",
            Self::Ps | Self::Top => "process_list",
            Self::Ls | Self::Find | Self::Df | Self::Du => "filesystem",
            Self::Sockets => "network",
            Self::JsonLog | Self::TracingLog | Self::Syslog => "log",
            Self::NpmInstall
            | Self::PipInstall
            | Self::AptInstall
            | Self::Free
            | Self::Env
            | Self::PythonTraceback
            | Self::Unknown => "custom",
        }
    }
}

/// Detect the kind from the command line, falling back to the content.
///
/// ```
/// use ai_session_output::{detect_kind, OutputKind};
/// assert_eq!(detect_kind("cd crate && RUST_BACKTRACE=1 cargo test -q", ""), OutputKind::CargoTest);
/// assert_eq!(detect_kind("python3 -m pytest -x", ""), OutputKind::Pytest);
/// assert_eq!(detect_kind("du -h /usr | sort -h", ""), OutputKind::Du);
/// ```
pub fn detect_kind(command: &str, text: &str) -> OutputKind {
    match kind_from_command(command) {
        Some(kind) => refine_with_content(kind, text),
        None => sniff_content(text),
    }
}

/// Some commands hand over to another tool (`npm test` runs jest or node --test).
fn refine_with_content(kind: OutputKind, text: &str) -> OutputKind {
    match kind {
        OutputKind::Make | OutputKind::Cargo => {
            if kind == OutputKind::Make && looks_like_tests(text).is_some() {
                return sniff_content(text);
            }
            kind
        }
        _ => kind,
    }
}

fn looks_like_tests(text: &str) -> Option<OutputKind> {
    let head = head_tail_sample(text);
    if head.contains("test result: ") || head.contains("\nrunning ") && head.contains(" tests") {
        Some(OutputKind::CargoTest)
    } else if head.contains(" test session starts ") {
        Some(OutputKind::Pytest)
    } else if head.contains("\nRan ") && (head.contains("\nOK") || head.contains("\nFAILED (")) {
        Some(OutputKind::Unittest)
    } else if head.contains("\u{2139} tests ") || head.contains("# tests ") {
        Some(OutputKind::NodeTest)
    } else if head.contains("Tests:") && head.contains("Test Suites:") {
        Some(OutputKind::Jest)
    } else if head.contains(" Test Files ") && head.contains(" Tests ") {
        Some(OutputKind::Vitest)
    } else if head.contains(" passing (") {
        Some(OutputKind::Mocha)
    } else if head.contains(" examples, ") && head.contains(" failure") {
        Some(OutputKind::Rspec)
    } else if head.contains(" runs, ") && head.contains(" assertions, ") {
        Some(OutputKind::Minitest)
    } else if head.contains("by Sebastian Bergmann") {
        Some(OutputKind::Phpunit)
    } else if head.contains("% tests passed, ") {
        Some(OutputKind::Ctest)
    } else if head.contains("--- FAIL: ") || head.contains("\nok  \t") || head.contains("\nFAIL\t")
    {
        Some(OutputKind::GoTest)
    } else {
        None
    }
}

/// The first and last 64 KiB: enough to recognise a tool without scanning 100 MB.
fn head_tail_sample(text: &str) -> std::borrow::Cow<'_, str> {
    const SAMPLE: usize = 64 * 1024;
    if text.len() <= 2 * SAMPLE {
        return std::borrow::Cow::Borrowed(text);
    }
    let head = &text[..text.floor_char_boundary(SAMPLE)];
    let tail = &text[text.ceil_char_boundary(text.len() - SAMPLE)..];
    std::borrow::Cow::Owned(format!("{head}\n{tail}"))
}

/// Content sniffing for commands that say nothing about their output.
pub(crate) fn sniff_content(text: &str) -> OutputKind {
    if let Some(kind) = looks_like_tests(text) {
        return kind;
    }
    let sample = head_tail_sample(text);
    if sample.contains("error[E") || sample.contains("could not compile `") {
        return OutputKind::Cargo;
    }
    if let Some(kind) = crate::parsers::logs::sniff(&sample) {
        return kind;
    }
    if sample.contains("Traceback (most recent call last):") {
        return OutputKind::PythonTraceback;
    }
    if crate::parsers::gcc::looks_like_gcc(&sample) {
        return OutputKind::Gcc;
    }
    OutputKind::Unknown
}

/// Words that run another command without changing its output.
const WRAPPERS: &[&str] = &[
    "sudo",
    "doas",
    "time",
    "nice",
    "nohup",
    "exec",
    "command",
    "builtin",
    "stdbuf",
    "unbuffer",
    "ionice",
    "chrt",
    "taskset",
    "catchsegv",
    "xvfb-run",
];

/// Commands in a `&&`/`;` chain that only prepare the real one.
const PREPARATION: &[&str] = &[
    "cd", "pushd", "popd", "export", "source", ".", "set", "unset", "true", "false", "echo",
    "mkdir", "sleep", "clear", "ulimit", "umask", "exit", "return", "wait",
];

/// Pipeline stages that only filter the producer's output.
const FILTERS: &[&str] = &[
    "sort", "head", "tail", "grep", "egrep", "fgrep", "rg", "tee", "less", "more", "cat", "uniq",
    "wc", "cut", "awk", "sed", "tr", "column", "jq", "cat", "nl", "ts",
];

/// Viewers whose output is the file's content: the kind comes from sniffing.
const VIEWERS: &[&str] = &[
    "cat",
    "less",
    "more",
    "tail",
    "head",
    "zcat",
    "bat",
    "journalctl",
    "docker",
    "kubectl",
];

fn kind_from_command(command: &str) -> Option<OutputKind> {
    let segment = main_segment(command)?;
    let words = command_words(segment);
    let (program, args) = words.split_first()?;
    kind_from_program(program, args)
}

/// The command that produces the output: the last real command of a
/// `&&`/`||`/`;` chain, and the producer (first stage) of its pipeline.
fn main_segment(command: &str) -> Option<&str> {
    let first_line = command.lines().find(|l| !l.trim().is_empty())?;
    let chain: Vec<&str> = split_outside_quotes(first_line, &["&&", "||", ";"]);
    let last_real = chain
        .iter()
        .rev()
        .find(|seg| {
            let words = command_words(seg);
            words
                .first()
                .is_some_and(|w| !PREPARATION.contains(&w.as_str()))
        })
        .or_else(|| chain.last())?;
    let stages = split_outside_quotes(last_real, &["|"]);
    let producer = stages.first().copied()?;
    let producer_words = command_words(producer);
    let producer_is_viewer = producer_words
        .first()
        .is_some_and(|w| VIEWERS.contains(&w.as_str()));
    if producer_is_viewer && stages.len() > 1 {
        // `cat log | grep x`: still content; `cat x | pytest`-like shapes are rare.
        if let Some(stage) = stages.iter().skip(1).find(|s| {
            command_words(s)
                .first()
                .is_some_and(|w| !FILTERS.contains(&w.as_str()))
        }) {
            return Some(stage);
        }
    }
    Some(producer)
}

/// Split on any of `separators` outside single/double quotes.
fn split_outside_quotes<'a>(text: &'a str, separators: &[&str]) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '\\' => {
                chars.next();
            }
            None => {
                if let Some(sep) = separators.iter().find(|s| text[i..].starts_with(**s)) {
                    // `||` is not a pipe; only split `|` when the caller asked for it alone.
                    if *sep == "|" && text[i..].starts_with("||") {
                        chars.next();
                        continue;
                    }
                    parts.push(&text[start..i]);
                    start = i + sep.len();
                    for _ in 1..sep.len() {
                        chars.next();
                    }
                }
            }
        }
    }
    parts.push(&text[start..]);
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// Words of a simple command with env assignments, wrappers, redirections and
/// interpreter indirections (`python3 -m pytest`, `npx jest`) removed.
fn command_words(segment: &str) -> Vec<String> {
    let mut words: Vec<String> = shell_words(segment);
    loop {
        let Some(first) = words.first() else {
            return words;
        };
        let base = basename(first);
        if is_env_assignment(first) {
            words.remove(0);
        } else if WRAPPERS.contains(&base) {
            words.remove(0);
            // `timeout 10 x`, `nice -n 5 x`: drop options and their numeric values.
            while words.first().is_some_and(|w| w.starts_with('-')) {
                words.remove(0);
            }
        } else if base == "timeout" {
            words.remove(0);
            while words.first().is_some_and(|w| {
                w.starts_with('-') || w.chars().next().is_some_and(|c| c.is_ascii_digit())
            }) {
                words.remove(0);
            }
        } else if base == "env" && words.len() > 1 {
            // `env FOO=1 cmd` runs cmd; `env` alone lists the environment.
            let rest = words[1..]
                .iter()
                .position(|w| !w.starts_with('-') && !is_env_assignment(w) && !w.starts_with("$("));
            match rest {
                Some(pos) => {
                    words.drain(..=pos);
                }
                None => return words,
            }
        } else if matches!(base, "npx" | "pnpx" | "bunx")
            || (base == "uv" || base == "poetry" || base == "pipenv")
                && words.get(1).is_some_and(|w| w == "run")
        {
            let skip = if matches!(base, "npx" | "pnpx" | "bunx") {
                1
            } else {
                2
            };
            words.drain(..skip.min(words.len()));
            while words.first().is_some_and(|w| w.starts_with('-')) {
                words.remove(0);
            }
        } else if (base == "bundle" && words.get(1).is_some_and(|w| w == "exec"))
            || (base.starts_with("python") && words.get(1).is_some_and(|w| w == "-m"))
        {
            words.drain(..2);
        } else {
            break;
        }
    }
    words
        .into_iter()
        .take_while(|w| !w.starts_with('>') && !w.starts_with("2>") && w != "<")
        .collect()
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn is_env_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Minimal shell word splitting: quotes group, backslash escapes, `$(...)` kept whole.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut paren_depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None => match c {
                '\'' | '"' if paren_depth == 0 => {
                    quote = Some(c);
                    in_word = true;
                }
                '\\' => {
                    if let Some(next) = chars.next() {
                        current.push(next);
                        in_word = true;
                    }
                }
                '(' => {
                    paren_depth += 1;
                    current.push(c);
                    in_word = true;
                }
                ')' => {
                    paren_depth = paren_depth.saturating_sub(1);
                    current.push(c);
                }
                c if c.is_whitespace() && paren_depth == 0 => {
                    if in_word {
                        words.push(std::mem::take(&mut current));
                        in_word = false;
                    }
                }
                _ => {
                    current.push(c);
                    in_word = true;
                }
            },
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

fn kind_from_program(program: &str, args: &[String]) -> Option<OutputKind> {
    let program = basename(program);
    let sub = first_non_option(args);
    let kind = match program {
        "cargo" => match sub? {
            "test" | "t" | "nextest" => OutputKind::CargoTest,
            "clippy" => OutputKind::Clippy,
            "bench" => OutputKind::CargoTest,
            _ => OutputKind::Cargo,
        },
        "rustc" => OutputKind::Rustc,
        "gcc" | "g++" | "cc" | "c++" | "clang" | "clang++" | "tcc" => OutputKind::Gcc,
        p if p.starts_with("gcc-") || p.starts_with("clang-") || p.starts_with("g++-") => {
            OutputKind::Gcc
        }
        "make" | "gmake" | "ninja" => OutputKind::Make,
        "cmake" if args.iter().any(|a| a == "--build") => OutputKind::Make,
        "go" => match sub? {
            "test" => OutputKind::GoTest,
            "build" | "vet" | "run" | "install" => OutputKind::GoBuild,
            _ => return None,
        },
        "pytest" | "py.test" => OutputKind::Pytest,
        "unittest" => OutputKind::Unittest,
        "jest" => OutputKind::Jest,
        "vitest" => OutputKind::Vitest,
        "mocha" | "_mocha" => OutputKind::Mocha,
        "rspec" => OutputKind::Rspec,
        "phpunit" => OutputKind::Phpunit,
        "ctest" => OutputKind::Ctest,
        "tsc" | "vue-tsc" => OutputKind::Tsc,
        "eslint" => OutputKind::Eslint,
        "ruff" if sub == Some("check") || sub.is_none() => OutputKind::Ruff,
        "mypy" | "dmypy" => OutputKind::Mypy,
        "javac" => OutputKind::Javac,
        "docker" | "podman"
            if sub == Some("build")
                || args.iter().any(|a| a == "build")
                    && matches!(sub, Some("buildx" | "compose")) =>
        {
            OutputKind::DockerBuild
        }
        "node" | "bun" | "deno" if args.iter().any(|a| a == "--test" || a == "test") => {
            OutputKind::NodeTest
        }
        "npm" | "yarn" | "pnpm" | "bun" => match sub {
            Some(
                "install" | "i" | "add" | "ci" | "update" | "upgrade" | "remove" | "uninstall",
            ) => OutputKind::NpmInstall,
            None if program == "yarn" => OutputKind::NpmInstall,
            _ => return None,
        },
        "pip" | "pip3" => match sub? {
            "install" | "download" | "uninstall" => OutputKind::PipInstall,
            _ => return None,
        },
        p if p.starts_with("pip3.") => OutputKind::PipInstall,
        "apt" | "apt-get" | "aptitude" => match sub? {
            "install" | "upgrade" | "remove" | "purge" | "full-upgrade" | "dist-upgrade"
            | "autoremove" | "reinstall" => OutputKind::AptInstall,
            _ => return None,
        },
        "git" => OutputKind::Git,
        "ps" => OutputKind::Ps,
        "top" => OutputKind::Top,
        "ls" | "ll" | "dir" | "exa" | "eza" => OutputKind::Ls,
        "find" | "fd" | "fdfind" => OutputKind::Find,
        "df" => OutputKind::Df,
        "du" => OutputKind::Du,
        "free" => OutputKind::Free,
        "ss" | "netstat" => OutputKind::Sockets,
        "env" | "printenv" => OutputKind::Env,
        _ => return None,
    };
    Some(kind)
}

/// The subcommand: first argument not starting with `-` (cargo `+nightly` skipped).
fn first_non_option(args: &[String]) -> Option<&str> {
    args.iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-') && !a.starts_with('+'))
}

#[cfg(test)]
mod tests {
    use super::{OutputKind, detect_kind};

    #[test]
    fn command_lines() {
        use OutputKind::*;
        let cases = [
            ("cargo build", Cargo),
            ("cargo +nightly check --all", Cargo),
            ("cargo clippy --all-targets -- -D warnings", Clippy),
            ("cargo test", CargoTest),
            ("cd x && cargo test 2>&1 | tee log", CargoTest),
            ("RUST_BACKTRACE=1 cargo test -q", CargoTest),
            ("sudo -E env FOO=1 cargo build", Cargo),
            ("timeout 60 cargo test", CargoTest),
            ("python3 -m pytest", Pytest),
            ("uv run pytest -x tests/", Pytest),
            ("python3 -m unittest -v test_inventory", Unittest),
            ("npx jest --ci", Jest),
            ("node --test", NodeTest),
            ("npx vitest run", Vitest),
            ("bundle exec rspec", Rspec),
            ("cd build && ctest -j2", Ctest),
            ("ruff check .", Ruff),
            ("mypy --strict src", Mypy),
            ("tsc --noEmit", Tsc),
            ("docker build -t app .", DockerBuild),
            ("docker buildx build --load .", DockerBuild),
            ("npm install ms@2.1.3 kleur@4.1.5", NpmInstall),
            ("yarn", NpmInstall),
            ("pip install pytest", PipInstall),
            ("python3 -m pip install -r req.txt", PipInstall),
            ("pip download --no-deps -d dl scipy pandas", PipInstall),
            ("apt-get install -y tree htop", AptInstall),
            ("go test ./...", GoTest),
            ("go vet ./...", GoBuild),
            ("make -j4", Make),
            ("gcc -Wall -o main main.c", Gcc),
            ("git -C repo status", Git),
            ("git commit -am \"a && b\"", Git),
            ("ps aux", Ps),
            ("top -bn1", Top),
            ("ls -la --color=auto", Ls),
            ("find /usr/include", Find),
            ("df -h / /dev", Df),
            ("du -h --max-depth=1 /usr/lib | sort -h", Du),
            ("free -h", Free),
            ("ss -tlnp", Sockets),
            ("netstat -tlnp", Sockets),
            ("env -i $(cat ../dev.env) env | sort", Env),
            ("printenv", Env),
            ("cd /tmp; ls -l", Ls),
            ("ls -la /usr/include | head -50; exit 3", Ls),
        ];
        for (command, expected) in cases {
            assert_eq!(detect_kind(command, ""), expected, "{command}");
        }
    }

    #[test]
    fn content_sniffing() {
        use OutputKind::*;
        let cases = [
            (
                "./run.sh",
                "running 3 tests\ntest a ... ok\n\ntest result: ok. 3 passed; 0 failed;",
                CargoTest,
            ),
            ("npm test", "==== test session starts ====\n", Pytest),
            (
                "cat app.log",
                "{\"level\":\"info\",\"msg\":\"a\"}\n{\"level\":\"error\",\"msg\":\"b\"}\n",
                JsonLog,
            ),
            (
                "./server",
                "2026-11-10T08:00:00.123456Z  INFO app: started\n2026-11-10T08:00:01.000000Z ERROR app: boom\n",
                TracingLog,
            ),
            (
                "python3 x.py",
                "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: x\n",
                PythonTraceback,
            ),
            ("./weird", "hello\nworld\n", Unknown),
        ];
        for (command, text, expected) in cases {
            assert_eq!(detect_kind(command, text), expected, "{command}");
        }
    }
}
