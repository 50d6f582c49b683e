//! The tool families of the differential corpus: per family a project, the
//! programs it needs, and its variants (a human command for the PTY, the
//! machine command whose report is the truth, and which facts the human
//! format prints).

use ai_session_output::fidelity::Truth;

use super::Plain;
use super::truth::{self as t, DIAGNOSTICS, Scope, TESTS};

pub struct Family {
    /// Family name (capture directory).
    pub name: &'static str,
    /// Project directory under `projects/` copied into the work dir ("" for none).
    pub project: &'static str,
    /// Programs that must be on PATH (else the stored captures are replayed).
    pub needs: &'static [&'static str],
    /// bash run in the fresh work dir before each command.
    pub setup: &'static str,
    /// 127.0.0.1 TCP ports the harness listens on while the family runs (ss).
    pub listen: &'static [u16],
    pub variants: &'static [Variant],
}

#[derive(Clone, Copy)]
pub struct Variant {
    pub name: &'static str,
    /// Typed into the PTY; also the command line the parsers see.
    pub human: &'static str,
    /// Run without a terminal; its report is the truth.
    pub machine: &'static str,
    pub truth: fn(&Plain) -> anyhow::Result<Truth>,
    pub scope: Scope,
    /// Extra environment for both runs.
    pub env: &'static [(&'static str, &'static str)],
}

const fn v(
    name: &'static str,
    human: &'static str,
    machine: &'static str,
    truth: fn(&Plain) -> anyhow::Result<Truth>,
    scope: Scope,
) -> Variant {
    Variant {
        name,
        human,
        machine,
        truth,
        scope,
        env: &[],
    }
}

/// Variants that share one truth reader and scope, each `(name, human, machine)`.
const fn same<const N: usize>(
    truth: fn(&Plain) -> anyhow::Result<Truth>,
    scope: Scope,
    commands: [(&'static str, &'static str, &'static str); N],
) -> [Variant; N] {
    let mut variants = [v("", "", "", truth, scope); N];
    let mut i = 0;
    while i < N {
        let (name, human, machine) = commands[i];
        variants[i] = v(name, human, machine, truth, scope);
        i += 1;
    }
    variants
}

const fn ve(
    name: &'static str,
    human: &'static str,
    machine: &'static str,
    truth: fn(&Plain) -> anyhow::Result<Truth>,
    scope: Scope,
    env: &'static [(&'static str, &'static str)],
) -> Variant {
    Variant {
        name,
        human,
        machine,
        truth,
        scope,
        env,
    }
}

const ALL_TESTS: Scope = Scope::all(TESTS);
const DIAG: Scope = Scope::all(DIAGNOSTICS);
/// Without `-v`, go test and cargo test -q never say how many passed.
const FAILURES_ONLY: Scope = Scope::all(&["failed"]);
const PATHS: Scope = Scope::all(&["staged", "modified", "deleted", "untracked", "conflicted"]);
const CONFLICTS: Scope = Scope::all(&["conflicts"]);
const ENTRIES: Scope = Scope::all(&["entries"]);
const STATUS_ONLY: Scope = Scope::all(&[]);
const LEVELS: Scope = Scope::all(&["critical", "error", "warn", "info", "debug"]);
/// ctest prints names and counts; messages only with --output-on-failure, and no locations.
const NAMES_AND_COUNTS: Scope = Scope::all(TESTS);
/// javac's machine diagnostics are message keys, not the prose it prints.
const LOCATIONS: Scope = Scope {
    counts: DIAGNOSTICS,
    location: true,
    message: false,
};

const GIT_STATUS_SETUP: &str = "git init -q -b main . && printf 'a\\n' > tracked.txt && printf 'b\\n' > gone.txt && printf 'c\\n' > staged.txt \
    && git add . && git commit -qm init && printf 'changed\\n' >> tracked.txt && rm gone.txt \
    && printf 'new\\n' > added.txt && printf 'more\\n' >> staged.txt && git add added.txt staged.txt \
    && printf 'u\\n' > untracked.txt && mkdir -p notes && printf 'n\\n' > notes/todo.md";
const GIT_CONFLICT_SETUP: &str = "git init -q -b main . && printf 'port = 80\\nhost = a\\n' > config.ini && printf 'v1\\n' > VERSION && printf 'x\\n' > clean.txt \
    && git add . && git commit -qm base && git checkout -qb feature && printf 'port = 8080\\nhost = a\\n' > config.ini && printf 'v2-feature\\n' > VERSION \
    && git commit -qam 'feature: port 8080' && git checkout -q main && printf 'port = 9090\\nhost = a\\n' > config.ini && printf 'v2-main\\n' > VERSION \
    && printf 'y\\n' >> clean.txt && git commit -qam 'main: port 9090'";
const GIT_REBASE_SETUP: &str = "git init -q -b main . && printf 'port = 80\\nhost = a\\n' > config.ini && printf 'v1\\n' > VERSION \
    && git add . && git commit -qm base && git checkout -qb feature && printf 'port = 8080\\nhost = a\\n' > config.ini && printf 'v2-feature\\n' > VERSION \
    && git commit -qam 'feature: port 8080' && git checkout -q main && printf 'port = 9090\\nhost = a\\n' > config.ini && printf 'v2-main\\n' > VERSION \
    && git commit -qam 'main: port 9090' && git checkout -q feature";
const GIT_PUSH_SETUP: &str = "git init -q --bare -b main remote.git && git init -q -b main work && cd work && printf 'a\\n' > a.txt && git add a.txt \
    && git commit -qm one && git remote add origin ../remote.git && git push -q origin main && git clone -q ../remote.git ../other \
    && (cd ../other && printf 'b\\n' > b.txt && git add b.txt && git commit -qm two && git push -q origin main) \
    && printf 'c\\n' > c.txt && git add c.txt && git commit -qm three";
const LS_SETUP: &str = "mkdir -p src docs .cache && printf 'fn main() {}\\n' > src/main.rs && printf '# readme\\n' > README.md \
    && head -c 5000 /dev/zero > data.bin && printf 'x' > .env && ln -s README.md LINK.md && printf 'make\\n' > build.sh && chmod +x build.sh";
const CARGO_JSON_ENV: &[(&str, &str)] = &[("CARGO_TERM_PROGRESS_WHEN", "never")];
/// libtest's JSON needs `-Z unstable-options`; set for the human runs too, so the two
/// share one build (cargo fingerprints RUSTC_BOOTSTRAP). It changes no output.
const BOOTSTRAP: &[(&str, &str)] = &[("RUSTC_BOOTSTRAP", "1")];

pub static ALL: &[Family] = &[
    Family {
        name: "pytest",
        project: "pytest",
        needs: &["pytest"],
        listen: &[],
        setup: "",
        variants: &same(
            t::pytest_junit,
            ALL_TESTS,
            [
                ("default", "pytest", "pytest -q --junitxml=truth.xml"),
                ("quiet", "pytest -q", "pytest -q --junitxml=truth.xml"),
                ("verbose", "pytest -v", "pytest -q --junitxml=truth.xml"),
                (
                    "color",
                    "pytest --color=yes",
                    "pytest -q --junitxml=truth.xml",
                ),
                (
                    "no-color",
                    "pytest --color=no -q",
                    "pytest -q --junitxml=truth.xml",
                ),
                (
                    "fail-fast",
                    "pytest -x",
                    "pytest -x -q --junitxml=truth.xml",
                ),
                (
                    "tb-short",
                    "pytest --tb=short -q",
                    "pytest -q --junitxml=truth.xml",
                ),
            ],
        ),
    },
    Family {
        name: "unittest",
        project: "unittest",
        needs: &["python3"],
        listen: &[],
        setup: "",
        variants: &same(
            t::unittest_json,
            ALL_TESTS,
            [
                ("default", "python3 -m unittest", "python3 truth_runner.py"),
                (
                    "verbose",
                    "python3 -m unittest -v",
                    "python3 truth_runner.py",
                ),
                ("quiet", "python3 -m unittest -q", "python3 truth_runner.py"),
                (
                    "fail-fast",
                    "python3 -m unittest -f",
                    "python3 truth_runner.py -f",
                ),
            ],
        ),
    },
    Family {
        name: "jest",
        project: "jest",
        needs: &["jest"],
        listen: &[],
        setup: "",
        variants: &[
            v("default", "jest", "jest --json", t::jest_json, ALL_TESTS),
            v(
                "ci",
                "jest --ci",
                "jest --ci --json",
                t::jest_json,
                ALL_TESTS,
            ),
            v(
                "verbose",
                "jest --verbose",
                "jest --json",
                t::jest_json,
                ALL_TESTS,
            ),
            v(
                "color",
                "jest --colors",
                "jest --json",
                t::jest_json,
                ALL_TESTS,
            ),
            v(
                "serial",
                "jest --runInBand",
                "jest --runInBand --json",
                t::jest_json,
                ALL_TESTS,
            ),
        ],
    },
    Family {
        name: "node-test",
        project: "node-test",
        needs: &["node"],
        listen: &[],
        setup: "",
        variants: &[
            v(
                "default",
                "node --test",
                "node --test --test-reporter=junit --test-reporter-destination=truth.xml",
                t::node_junit,
                ALL_TESTS,
            ),
            ve(
                "no-color",
                "node --test",
                "node --test --test-reporter=junit --test-reporter-destination=truth.xml",
                t::node_junit,
                ALL_TESTS,
                &[("NO_COLOR", "1")],
            ),
            v(
                "spec",
                "node --test --test-reporter=spec",
                "node --test --test-reporter=junit --test-reporter-destination=truth.xml",
                t::node_junit,
                ALL_TESTS,
            ),
            v(
                "serial",
                "node --test --test-concurrency=1",
                "node --test --test-concurrency=1 --test-reporter=junit --test-reporter-destination=truth.xml",
                t::node_junit,
                ALL_TESTS,
            ),
        ],
    },
    Family {
        name: "cargo-test",
        project: "cargo-test",
        needs: &["cargo"],
        listen: &[],
        setup: "",
        variants: &[
            ve(
                "default",
                "cargo test --no-fail-fast",
                "cargo test -q --no-fail-fast -- -Z unstable-options --format json",
                t::cargo_test_json,
                ALL_TESTS,
                BOOTSTRAP,
            ),
            ve(
                "fail-fast",
                "cargo test",
                "cargo test -q -- -Z unstable-options --format json",
                t::cargo_test_json,
                ALL_TESTS,
                BOOTSTRAP,
            ),
            ve(
                "quiet",
                "cargo test -q --no-fail-fast",
                "cargo test -q --no-fail-fast -- -Z unstable-options --format json",
                t::cargo_test_json,
                ALL_TESTS,
                BOOTSTRAP,
            ),
            ve(
                "color",
                "cargo test --color=always --no-fail-fast",
                "cargo test -q --no-fail-fast -- -Z unstable-options --format json",
                t::cargo_test_json,
                ALL_TESTS,
                BOOTSTRAP,
            ),
            ve(
                "serial",
                "cargo test --no-fail-fast -- --test-threads=1",
                "cargo test -q --no-fail-fast -- -Z unstable-options --format json --test-threads=1",
                t::cargo_test_json,
                ALL_TESTS,
                BOOTSTRAP,
            ),
        ],
    },
    Family {
        name: "cargo-build",
        project: "cargo-build",
        needs: &["cargo"],
        listen: &[],
        setup: "",
        variants: &[
            ve(
                "default",
                "cargo build",
                "cargo build --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "quiet",
                "cargo build -q",
                "cargo build --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "color",
                "cargo build --color=always",
                "cargo build --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "check",
                "cargo check",
                "cargo check --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "short",
                "cargo check --message-format=short",
                "cargo check --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
        ],
    },
    Family {
        name: "clippy",
        project: "clippy",
        needs: &["cargo-clippy"],
        listen: &[],
        setup: "",
        variants: &[
            ve(
                "default",
                "cargo clippy",
                "cargo clippy --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "quiet",
                "cargo clippy -q",
                "cargo clippy --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "color",
                "cargo clippy --color=always",
                "cargo clippy --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "deny",
                "cargo clippy -- -D warnings",
                "cargo clippy --message-format=json -- -D warnings",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
        ],
    },
    Family {
        name: "go-test",
        project: "go-test",
        needs: &["go"],
        listen: &[],
        setup: "",
        variants: &[
            v(
                "default",
                "go test ./...",
                "go test -json ./...",
                t::go_test_json,
                FAILURES_ONLY,
            ),
            v(
                "verbose",
                "go test -v ./...",
                "go test -json ./...",
                t::go_test_json,
                ALL_TESTS,
            ),
            v(
                "fail-fast",
                "go test -v -failfast ./...",
                "go test -json -failfast ./...",
                t::go_test_json,
                ALL_TESTS,
            ),
            v(
                "serial",
                "go test -count=1 -p 1 ./...",
                "go test -count=1 -p 1 -json ./...",
                t::go_test_json,
                FAILURES_ONLY,
            ),
        ],
    },
    Family {
        name: "go-build",
        project: "go-build",
        needs: &["go"],
        listen: &[],
        setup: "",
        variants: &same(
            t::colon_lines,
            Scope::all(&["errors"]),
            [
                ("default", "go build ./...", "go build ./..."),
                ("verbose", "go build -v ./...", "go build ./..."),
                (
                    "all-errors",
                    "go build -gcflags=-e ./...",
                    "go build -gcflags=-e ./...",
                ),
            ],
        ),
    },
    Family {
        name: "go-vet",
        project: "go-vet",
        needs: &["go"],
        listen: &[],
        setup: "",
        variants: &same(
            t::go_vet_json,
            Scope::all(&["errors"]),
            [
                ("default", "go vet ./...", "go vet -json ./..."),
                (
                    "printf",
                    "go vet -printf ./...",
                    "go vet -json -printf ./...",
                ),
                (
                    "copylocks",
                    "go vet -copylocks .",
                    "go vet -json -copylocks .",
                ),
            ],
        ),
    },
    Family {
        name: "gcc",
        project: "gcc",
        needs: &["gcc"],
        listen: &[],
        setup: "",
        variants: &same(
            t::gcc_json,
            DIAG,
            [
                (
                    "default",
                    "gcc -Wall -c main.c",
                    "gcc -Wall -c main.c -fdiagnostics-format=json",
                ),
                (
                    "color",
                    "gcc -Wall -fdiagnostics-color=always -c main.c",
                    "gcc -Wall -c main.c -fdiagnostics-format=json",
                ),
                (
                    "no-caret",
                    "gcc -Wall -fno-diagnostics-show-caret -c main.c",
                    "gcc -Wall -c main.c -fdiagnostics-format=json",
                ),
                (
                    "extra",
                    "gcc -Wall -Wextra -c main.c",
                    "gcc -Wall -Wextra -c main.c -fdiagnostics-format=json",
                ),
            ],
        ),
    },
    Family {
        name: "clang",
        project: "gcc",
        needs: &["clang"],
        listen: &[],
        setup: "",
        variants: &same(
            t::colon_diagnostics,
            DIAG,
            [
                (
                    "default",
                    "clang -Wall -c main.c",
                    "clang -Wall -c main.c -fno-color-diagnostics -fno-caret-diagnostics",
                ),
                (
                    "color",
                    "clang -Wall -fcolor-diagnostics -c main.c",
                    "clang -Wall -c main.c -fno-color-diagnostics -fno-caret-diagnostics",
                ),
                (
                    "no-caret",
                    "clang -Wall -fno-caret-diagnostics -c main.c",
                    "clang -Wall -c main.c -fno-color-diagnostics -fno-caret-diagnostics",
                ),
            ],
        ),
    },
    Family {
        name: "make",
        project: "make",
        needs: &["make", "gcc"],
        listen: &[],
        setup: "",
        variants: &same(
            t::gcc_json,
            DIAG,
            [
                (
                    "default",
                    "make",
                    "make CFLAGS='-Wall -fdiagnostics-format=json'",
                ),
                (
                    "keep-going",
                    "make -k",
                    "make -k CFLAGS='-Wall -fdiagnostics-format=json'",
                ),
                (
                    "parallel",
                    "make -j2 -k",
                    "make -j2 -k CFLAGS='-Wall -fdiagnostics-format=json'",
                ),
                (
                    "silent",
                    "make -s -k",
                    "make -s -k CFLAGS='-Wall -fdiagnostics-format=json'",
                ),
            ],
        ),
    },
    Family {
        name: "git-status",
        project: "",
        needs: &["git"],
        listen: &[],
        setup: GIT_STATUS_SETUP,
        variants: &same(
            t::git_porcelain,
            PATHS,
            [
                ("default", "git status", "git status --porcelain=v1"),
                (
                    "untracked-all",
                    "git status -uall",
                    "git status --porcelain=v1 -uall",
                ),
                (
                    "color",
                    "git -c color.status=always status",
                    "git status --porcelain=v1",
                ),
                (
                    "short",
                    "git status -s -uall",
                    "git status --porcelain=v1 -uall",
                ),
            ],
        ),
    },
    Family {
        name: "git-merge",
        project: "",
        needs: &["git"],
        listen: &[],
        setup: GIT_CONFLICT_SETUP,
        variants: &same(
            t::git_conflicts,
            CONFLICTS,
            [
                (
                    "default",
                    "git merge feature",
                    "git merge feature >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                ),
                (
                    "no-ff",
                    "git merge --no-ff feature",
                    "git merge --no-ff feature >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                ),
                (
                    "stat",
                    "git merge --stat feature",
                    "git merge feature >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                ),
            ],
        ),
    },
    Family {
        name: "git-rebase",
        project: "",
        needs: &["git"],
        listen: &[],
        setup: GIT_REBASE_SETUP,
        variants: &same(
            t::git_conflicts,
            CONFLICTS,
            [
                (
                    "default",
                    "git rebase main",
                    "git rebase main >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                ),
                (
                    "merge",
                    "git rebase --merge main",
                    "git rebase --merge main >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                ),
                (
                    "verbose",
                    "git rebase -v main",
                    "git rebase main >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                ),
            ],
        ),
    },
    Family {
        name: "git-push",
        project: "",
        needs: &["git"],
        listen: &[],
        setup: GIT_PUSH_SETUP,
        variants: &same(
            t::git_push_porcelain,
            STATUS_ONLY,
            [
                (
                    "default",
                    "cd work && git push origin main",
                    "cd work && git push --porcelain origin main",
                ),
                (
                    "verbose",
                    "cd work && git push -v origin main",
                    "cd work && git push --porcelain origin main",
                ),
                (
                    "upstream",
                    "cd work && git push -u origin main",
                    "cd work && git push --porcelain -u origin main",
                ),
            ],
        ),
    },
    Family {
        name: "ls",
        project: "",
        needs: &["ls", "find"],
        listen: &[],
        setup: LS_SETUP,
        variants: &same(
            t::name_lines,
            ENTRIES,
            [
                (
                    "long",
                    "ls -l",
                    "find . -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\\n'",
                ),
                (
                    "all",
                    "ls -la",
                    "find . -mindepth 1 -maxdepth 1 -printf '%f\\n'",
                ),
                (
                    "human",
                    "ls -lh --color=always",
                    "find . -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\\n'",
                ),
                (
                    "almost-all",
                    "ls -lA",
                    "find . -mindepth 1 -maxdepth 1 -printf '%f\\n'",
                ),
            ],
        ),
    },
    Family {
        name: "df",
        project: "",
        needs: &["df"],
        listen: &[],
        setup: "",
        variants: &same(
            t::name_lines_after_header,
            ENTRIES,
            [
                ("human", "df -h / /dev", "df --output=target / /dev"),
                ("plain", "df / /dev", "df --output=target / /dev"),
                ("types", "df -hT / /dev", "df --output=target / /dev"),
            ],
        ),
    },
    Family {
        name: "ss",
        project: "",
        needs: &["ss"],
        listen: &[47311, 47312],
        setup: "",
        variants: &same(
            t::ss_ports,
            ENTRIES,
            [
                (
                    "numeric",
                    "ss -tln 'sport = :47311 or sport = :47312'",
                    "ss -H -tln 'sport = :47311 or sport = :47312'",
                ),
                (
                    "processes",
                    "ss -tlnp 'sport = :47311 or sport = :47312'",
                    "ss -H -tln 'sport = :47311 or sport = :47312'",
                ),
                (
                    "ipv4",
                    "ss -4tln 'sport = :47311 or sport = :47312'",
                    "ss -H -4tln 'sport = :47311 or sport = :47312'",
                ),
            ],
        ),
    },
    Family {
        name: "ps",
        project: "",
        needs: &["ps"],
        listen: &[],
        setup: "",
        variants: &[
            v("pid", "ps -p 1", "ps -p 1 -o pid=", t::name_lines, ENTRIES),
            v(
                "user",
                "ps u -p 1",
                "ps -p 1 -o pid=",
                t::name_lines,
                ENTRIES,
            ),
            v(
                "full",
                "ps -fp 1",
                "ps -p 1 -o pid=",
                t::name_lines,
                ENTRIES,
            ),
            v(
                "columns",
                "ps -o pid,user,%cpu,%mem,args -p 1",
                "ps -p 1 -o pid=",
                t::name_lines,
                ENTRIES,
            ),
        ],
    },
    Family {
        name: "vitest",
        project: "vitest",
        needs: &["vitest"],
        listen: &[],
        setup: "",
        variants: &[
            v(
                "default",
                "vitest run",
                "vitest run --reporter=json --outputFile=truth.json",
                t::vitest_json,
                ALL_TESTS,
            ),
            v(
                "verbose",
                "vitest run --reporter=verbose",
                "vitest run --reporter=json --outputFile=truth.json",
                t::vitest_json,
                ALL_TESTS,
            ),
            ve(
                "no-color",
                "vitest run",
                "vitest run --reporter=json --outputFile=truth.json",
                t::vitest_json,
                ALL_TESTS,
                &[("NO_COLOR", "1")],
            ),
            v(
                "serial",
                "vitest run --no-file-parallelism",
                "vitest run --no-file-parallelism --reporter=json --outputFile=truth.json",
                t::vitest_json,
                ALL_TESTS,
            ),
        ],
    },
    Family {
        name: "mocha",
        project: "mocha",
        needs: &["mocha"],
        listen: &[],
        setup: "",
        variants: &same(
            t::mocha_json,
            ALL_TESTS,
            [
                ("default", "mocha", "mocha --reporter json"),
                ("no-color", "mocha --no-colors", "mocha --reporter json"),
                ("color", "mocha --colors", "mocha --reporter json"),
                ("fail-fast", "mocha --bail", "mocha --bail --reporter json"),
            ],
        ),
    },
    Family {
        name: "rspec",
        project: "rspec",
        needs: &["rspec"],
        listen: &[],
        setup: "",
        variants: &same(
            t::rspec_json,
            ALL_TESTS,
            [
                ("default", "rspec", "rspec --format json"),
                (
                    "documentation",
                    "rspec --format documentation",
                    "rspec --format json",
                ),
                ("color", "rspec --force-color", "rspec --format json"),
                ("no-color", "rspec --no-color", "rspec --format json"),
                (
                    "fail-fast",
                    "rspec --fail-fast",
                    "rspec --fail-fast --format json",
                ),
            ],
        ),
    },
    Family {
        name: "minitest",
        project: "minitest",
        needs: &["ruby"],
        listen: &[],
        setup: "",
        variants: &same(
            t::minitest_json,
            ALL_TESTS,
            [
                (
                    "default",
                    "ruby test/test_calc.rb --seed 7",
                    "MINITEST_TRUTH=1 ruby test/test_calc.rb --seed 7",
                ),
                (
                    "verbose",
                    "ruby test/test_calc.rb -v --seed 7",
                    "MINITEST_TRUTH=1 ruby test/test_calc.rb --seed 7",
                ),
                (
                    "no-seed",
                    "ruby -Itest test/test_calc.rb",
                    "MINITEST_TRUTH=1 ruby -Itest test/test_calc.rb",
                ),
            ],
        ),
    },
    Family {
        name: "phpunit",
        project: "phpunit",
        needs: &["phpunit"],
        listen: &[],
        setup: "",
        variants: &same(
            t::phpunit_junit,
            ALL_TESTS,
            [
                (
                    "default",
                    "phpunit tests",
                    "phpunit --log-junit truth.xml tests",
                ),
                (
                    "color",
                    "phpunit --colors=always tests",
                    "phpunit --log-junit truth.xml tests",
                ),
                (
                    "verbose",
                    "phpunit --verbose tests",
                    "phpunit --log-junit truth.xml tests",
                ),
                (
                    "fail-fast",
                    "phpunit --stop-on-failure tests",
                    "phpunit --stop-on-failure --log-junit truth.xml tests",
                ),
            ],
        ),
    },
    Family {
        name: "ctest",
        project: "ctest",
        needs: &["ctest", "cmake"],
        listen: &[],
        setup: "cmake -S . -B build >/dev/null",
        variants: &same(
            t::ctest_junit,
            NAMES_AND_COUNTS,
            [
                (
                    "default",
                    "cd build && ctest",
                    "cd build && ctest --output-junit truth.xml",
                ),
                (
                    "output-on-failure",
                    "cd build && ctest --output-on-failure",
                    "cd build && ctest --output-junit truth.xml",
                ),
                (
                    "parallel",
                    "cd build && ctest -j2",
                    "cd build && ctest -j2 --output-junit truth.xml",
                ),
                (
                    "verbose",
                    "cd build && ctest -V",
                    "cd build && ctest --output-junit truth.xml",
                ),
            ],
        ),
    },
    Family {
        name: "cmake",
        project: "cmake",
        needs: &["cmake", "gcc"],
        listen: &[],
        setup: "",
        variants: &same(
            t::gcc_json,
            DIAG,
            [
                (
                    "default",
                    "cmake -S . -B build >/dev/null && cmake --build build",
                    "cmake -S . -B build -DCMAKE_C_FLAGS=-fdiagnostics-format=json >/dev/null && cmake --build build",
                ),
                (
                    "parallel",
                    "cmake -S . -B build >/dev/null && cmake --build build -j 2 -- -k",
                    "cmake -S . -B build -DCMAKE_C_FLAGS=-fdiagnostics-format=json >/dev/null && cmake --build build -j 2 -- -k",
                ),
                (
                    "verbose",
                    "cmake -S . -B build >/dev/null && cmake --build build --verbose",
                    "cmake -S . -B build -DCMAKE_C_FLAGS=-fdiagnostics-format=json >/dev/null && cmake --build build",
                ),
            ],
        ),
    },
    Family {
        name: "javac",
        project: "javac",
        needs: &["javac"],
        listen: &[],
        setup: "",
        variants: &same(
            t::javac_raw,
            LOCATIONS,
            [
                (
                    "default",
                    "javac Main.java",
                    "javac -XDrawDiagnostics Main.java",
                ),
                (
                    "lint",
                    "javac -Xlint:all Main.java",
                    "javac -Xlint:all -XDrawDiagnostics Main.java",
                ),
                (
                    "verbose-diags",
                    "javac -Xdiags:verbose Main.java",
                    "javac -XDrawDiagnostics Main.java",
                ),
            ],
        ),
    },
    Family {
        name: "tsc",
        project: "tsc",
        needs: &["tsc"],
        listen: &[],
        setup: "",
        variants: &[
            v("default", "tsc", "tsc --pretty false", t::tsc_plain, DIAG),
            v(
                "pretty",
                "tsc --pretty",
                "tsc --pretty false",
                t::tsc_plain,
                DIAG,
            ),
            v(
                "plain",
                "tsc --pretty false",
                "tsc --pretty false",
                t::tsc_plain,
                DIAG,
            ),
            v(
                "project",
                "tsc -p tsconfig.json",
                "tsc -p tsconfig.json --pretty false",
                t::tsc_plain,
                DIAG,
            ),
        ],
    },
    Family {
        name: "eslint",
        project: "eslint",
        needs: &["eslint"],
        listen: &[],
        setup: "",
        variants: &same(
            t::eslint_json,
            DIAG,
            [
                ("default", "eslint .", "eslint -f json ."),
                ("color", "eslint --color .", "eslint -f json ."),
                ("no-color", "eslint --no-color .", "eslint -f json ."),
                ("quiet", "eslint --quiet .", "eslint --quiet -f json ."),
            ],
        ),
    },
    Family {
        name: "ruff",
        project: "ruff",
        needs: &["ruff"],
        listen: &[],
        setup: "",
        variants: &same(
            t::ruff_json,
            DIAG,
            [
                (
                    "default",
                    "ruff check .",
                    "ruff check --output-format json .",
                ),
                (
                    "concise",
                    "ruff check --output-format concise .",
                    "ruff check --output-format json .",
                ),
                (
                    "no-fix-hints",
                    "ruff check --no-fix .",
                    "ruff check --output-format json .",
                ),
                (
                    "statistics",
                    "ruff check --output-format full --no-cache .",
                    "ruff check --output-format json .",
                ),
            ],
        ),
    },
    Family {
        name: "mypy",
        project: "mypy",
        needs: &["mypy"],
        listen: &[],
        setup: "",
        variants: &same(
            t::mypy_json,
            DIAG,
            [
                ("default", "mypy app.py", "mypy -O json app.py"),
                ("pretty", "mypy --pretty app.py", "mypy -O json app.py"),
                (
                    "columns",
                    "mypy --show-column-numbers app.py",
                    "mypy -O json app.py",
                ),
                (
                    "no-summary",
                    "mypy --no-error-summary --no-color-output app.py",
                    "mypy -O json app.py",
                ),
            ],
        ),
    },
    Family {
        name: "npm-install",
        project: "npm-install",
        needs: &["npm"],
        listen: &[],
        setup: "",
        variants: &same(
            t::npm_json,
            STATUS_ONLY,
            [
                (
                    "default",
                    "npm install --offline no-such-pkg-corpus",
                    "npm install --offline --json no-such-pkg-corpus",
                ),
                (
                    "quiet",
                    "npm install --offline --loglevel=error no-such-pkg-corpus",
                    "npm install --offline --json no-such-pkg-corpus",
                ),
                (
                    "color",
                    "npm install --offline --color=always no-such-pkg-corpus",
                    "npm install --offline --json no-such-pkg-corpus",
                ),
            ],
        ),
    },
    Family {
        name: "pip-install",
        project: "pip-install",
        needs: &["pip"],
        listen: &[],
        setup: "",
        variants: &same(
            t::pip_errors,
            STATUS_ONLY,
            [
                (
                    "default",
                    "pip install --no-index no-such-pkg-corpus",
                    "pip install --quiet --no-index no-such-pkg-corpus",
                ),
                (
                    "requirements",
                    "pip install --no-index -r requirements.txt",
                    "pip install --quiet --no-index -r requirements.txt",
                ),
                (
                    "verbose",
                    "pip install -v --no-index no-such-pkg-corpus",
                    "pip install --quiet --no-index no-such-pkg-corpus",
                ),
            ],
        ),
    },
    Family {
        name: "cargo-install",
        project: "cargo-install",
        needs: &["cargo"],
        listen: &[],
        setup: "",
        variants: &[
            ve(
                "default",
                "cargo install --offline --path . --root inst",
                "cargo install --offline --path . --root inst --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "quiet",
                "cargo install -q --offline --path . --root inst",
                "cargo install --offline --path . --root inst --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
            ve(
                "color",
                "cargo install --color=always --offline --path . --root inst",
                "cargo install --offline --path . --root inst --message-format=json",
                t::cargo_messages_json,
                DIAG,
                CARGO_JSON_ENV,
            ),
        ],
    },
    Family {
        name: "python-logging",
        project: "python-logging",
        needs: &["python3"],
        listen: &[],
        setup: "",
        variants: &[
            ve(
                "asctime",
                "python3 worker.py",
                "LOG_JSON=1 python3 worker.py",
                t::python_log_json,
                LEVELS,
                &[(
                    "LOG_FORMAT",
                    "%(asctime)s %(levelname)s %(name)s: %(message)s",
                )],
            ),
            ve(
                "basic",
                "python3 worker.py",
                "LOG_JSON=1 python3 worker.py",
                t::python_log_json,
                LEVELS,
                &[("LOG_FORMAT", "%(levelname)s:%(name)s:%(message)s")],
            ),
            ve(
                "bracketed",
                "python3 worker.py",
                "LOG_JSON=1 python3 worker.py",
                t::python_log_json,
                LEVELS,
                &[(
                    "LOG_FORMAT",
                    "%(asctime)s [%(levelname)s] %(name)s - %(message)s",
                )],
            ),
        ],
    },
];
