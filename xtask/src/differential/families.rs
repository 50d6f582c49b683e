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
    pub variants: &'static [Variant],
}

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

pub static ALL: &[Family] = &[
    Family {
        name: "pytest",
        project: "pytest",
        needs: &["pytest"],
        setup: "",
        variants: &[
            v(
                "default",
                "pytest",
                "pytest -q --junitxml=truth.xml",
                t::pytest_junit,
                ALL_TESTS,
            ),
            v(
                "quiet",
                "pytest -q",
                "pytest -q --junitxml=truth.xml",
                t::pytest_junit,
                ALL_TESTS,
            ),
            v(
                "verbose",
                "pytest -v",
                "pytest -q --junitxml=truth.xml",
                t::pytest_junit,
                ALL_TESTS,
            ),
            v(
                "color",
                "pytest --color=yes",
                "pytest -q --junitxml=truth.xml",
                t::pytest_junit,
                ALL_TESTS,
            ),
            v(
                "no-color",
                "pytest --color=no -q",
                "pytest -q --junitxml=truth.xml",
                t::pytest_junit,
                ALL_TESTS,
            ),
            v(
                "fail-fast",
                "pytest -x",
                "pytest -x -q --junitxml=truth.xml",
                t::pytest_junit,
                ALL_TESTS,
            ),
            v(
                "tb-short",
                "pytest --tb=short -q",
                "pytest -q --junitxml=truth.xml",
                t::pytest_junit,
                ALL_TESTS,
            ),
        ],
    },
    Family {
        name: "unittest",
        project: "unittest",
        needs: &["python3"],
        setup: "",
        variants: &[
            v(
                "default",
                "python3 -m unittest",
                "python3 truth_runner.py",
                t::unittest_json,
                ALL_TESTS,
            ),
            v(
                "verbose",
                "python3 -m unittest -v",
                "python3 truth_runner.py",
                t::unittest_json,
                ALL_TESTS,
            ),
            v(
                "quiet",
                "python3 -m unittest -q",
                "python3 truth_runner.py",
                t::unittest_json,
                ALL_TESTS,
            ),
            v(
                "fail-fast",
                "python3 -m unittest -f",
                "python3 truth_runner.py -f",
                t::unittest_json,
                ALL_TESTS,
            ),
        ],
    },
    Family {
        name: "jest",
        project: "jest",
        needs: &["jest"],
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
        setup: "",
        variants: &[
            v(
                "default",
                "cargo test --no-fail-fast",
                "RUSTC_BOOTSTRAP=1 cargo test -q --no-fail-fast -- -Z unstable-options --format json",
                t::cargo_test_json,
                ALL_TESTS,
            ),
            v(
                "fail-fast",
                "cargo test",
                "RUSTC_BOOTSTRAP=1 cargo test -q -- -Z unstable-options --format json",
                t::cargo_test_json,
                ALL_TESTS,
            ),
            v(
                "quiet",
                "cargo test -q --no-fail-fast",
                "RUSTC_BOOTSTRAP=1 cargo test -q --no-fail-fast -- -Z unstable-options --format json",
                t::cargo_test_json,
                ALL_TESTS,
            ),
            v(
                "color",
                "cargo test --color=always --no-fail-fast",
                "RUSTC_BOOTSTRAP=1 cargo test -q --no-fail-fast -- -Z unstable-options --format json",
                t::cargo_test_json,
                ALL_TESTS,
            ),
            v(
                "serial",
                "cargo test --no-fail-fast -- --test-threads=1",
                "RUSTC_BOOTSTRAP=1 cargo test -q --no-fail-fast -- -Z unstable-options --format json --test-threads=1",
                t::cargo_test_json,
                ALL_TESTS,
            ),
        ],
    },
    Family {
        name: "cargo-build",
        project: "cargo-build",
        needs: &["cargo"],
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
        setup: "",
        variants: &[
            v(
                "default",
                "go build ./...",
                "go build ./...",
                t::colon_lines,
                Scope::all(&["errors"]),
            ),
            v(
                "verbose",
                "go build -v ./...",
                "go build ./...",
                t::colon_lines,
                Scope::all(&["errors"]),
            ),
            v(
                "all-errors",
                "go build -gcflags=-e ./...",
                "go build -gcflags=-e ./...",
                t::colon_lines,
                Scope::all(&["errors"]),
            ),
        ],
    },
    Family {
        name: "go-vet",
        project: "go-vet",
        needs: &["go"],
        setup: "",
        variants: &[
            v(
                "default",
                "go vet ./...",
                "go vet -json ./...",
                t::go_vet_json,
                Scope::all(&["errors"]),
            ),
            v(
                "printf",
                "go vet -printf ./...",
                "go vet -json -printf ./...",
                t::go_vet_json,
                Scope::all(&["errors"]),
            ),
            v(
                "copylocks",
                "go vet -copylocks .",
                "go vet -json -copylocks .",
                t::go_vet_json,
                Scope::all(&["errors"]),
            ),
        ],
    },
    Family {
        name: "gcc",
        project: "gcc",
        needs: &["gcc"],
        setup: "",
        variants: &[
            v(
                "default",
                "gcc -Wall -c main.c",
                "gcc -Wall -c main.c -fdiagnostics-format=json",
                t::gcc_json,
                DIAG,
            ),
            v(
                "color",
                "gcc -Wall -fdiagnostics-color=always -c main.c",
                "gcc -Wall -c main.c -fdiagnostics-format=json",
                t::gcc_json,
                DIAG,
            ),
            v(
                "no-caret",
                "gcc -Wall -fno-diagnostics-show-caret -c main.c",
                "gcc -Wall -c main.c -fdiagnostics-format=json",
                t::gcc_json,
                DIAG,
            ),
            v(
                "extra",
                "gcc -Wall -Wextra -c main.c",
                "gcc -Wall -Wextra -c main.c -fdiagnostics-format=json",
                t::gcc_json,
                DIAG,
            ),
        ],
    },
    Family {
        name: "clang",
        project: "gcc",
        needs: &["clang"],
        setup: "",
        variants: &[
            v(
                "default",
                "clang -Wall -c main.c",
                "clang -Wall -c main.c -fno-color-diagnostics -fno-caret-diagnostics",
                t::colon_diagnostics,
                DIAG,
            ),
            v(
                "color",
                "clang -Wall -fcolor-diagnostics -c main.c",
                "clang -Wall -c main.c -fno-color-diagnostics -fno-caret-diagnostics",
                t::colon_diagnostics,
                DIAG,
            ),
            v(
                "no-caret",
                "clang -Wall -fno-caret-diagnostics -c main.c",
                "clang -Wall -c main.c -fno-color-diagnostics -fno-caret-diagnostics",
                t::colon_diagnostics,
                DIAG,
            ),
        ],
    },
    Family {
        name: "make",
        project: "make",
        needs: &["make", "gcc"],
        setup: "",
        variants: &[
            v(
                "default",
                "make",
                "make CFLAGS='-Wall -fdiagnostics-format=json'",
                t::gcc_json,
                DIAG,
            ),
            v(
                "keep-going",
                "make -k",
                "make -k CFLAGS='-Wall -fdiagnostics-format=json'",
                t::gcc_json,
                DIAG,
            ),
            v(
                "parallel",
                "make -j2 -k",
                "make -j2 -k CFLAGS='-Wall -fdiagnostics-format=json'",
                t::gcc_json,
                DIAG,
            ),
            v(
                "silent",
                "make -s -k",
                "make -s -k CFLAGS='-Wall -fdiagnostics-format=json'",
                t::gcc_json,
                DIAG,
            ),
        ],
    },
    Family {
        name: "git-status",
        project: "",
        needs: &["git"],
        setup: GIT_STATUS_SETUP,
        variants: &[
            v(
                "default",
                "git status",
                "git status --porcelain=v1",
                t::git_porcelain,
                PATHS,
            ),
            v(
                "untracked-all",
                "git status -uall",
                "git status --porcelain=v1 -uall",
                t::git_porcelain,
                PATHS,
            ),
            v(
                "color",
                "git -c color.status=always status",
                "git status --porcelain=v1",
                t::git_porcelain,
                PATHS,
            ),
            v(
                "short",
                "git status -s -uall",
                "git status --porcelain=v1 -uall",
                t::git_porcelain,
                PATHS,
            ),
        ],
    },
    Family {
        name: "git-merge",
        project: "",
        needs: &["git"],
        setup: GIT_CONFLICT_SETUP,
        variants: &[
            v(
                "default",
                "git merge feature",
                "git merge feature >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                t::git_conflicts,
                CONFLICTS,
            ),
            v(
                "no-ff",
                "git merge --no-ff feature",
                "git merge --no-ff feature >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                t::git_conflicts,
                CONFLICTS,
            ),
            v(
                "stat",
                "git merge --stat feature",
                "git merge feature >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                t::git_conflicts,
                CONFLICTS,
            ),
        ],
    },
    Family {
        name: "git-rebase",
        project: "",
        needs: &["git"],
        setup: GIT_REBASE_SETUP,
        variants: &[
            v(
                "default",
                "git rebase main",
                "git rebase main >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                t::git_conflicts,
                CONFLICTS,
            ),
            v(
                "merge",
                "git rebase --merge main",
                "git rebase --merge main >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                t::git_conflicts,
                CONFLICTS,
            ),
            v(
                "verbose",
                "git rebase -v main",
                "git rebase main >/dev/null 2>&1; git diff --name-only --diff-filter=U",
                t::git_conflicts,
                CONFLICTS,
            ),
        ],
    },
    Family {
        name: "git-push",
        project: "",
        needs: &["git"],
        setup: GIT_PUSH_SETUP,
        variants: &[
            v(
                "default",
                "cd work && git push origin main",
                "cd work && git push --porcelain origin main",
                t::git_push_porcelain,
                STATUS_ONLY,
            ),
            v(
                "verbose",
                "cd work && git push -v origin main",
                "cd work && git push --porcelain origin main",
                t::git_push_porcelain,
                STATUS_ONLY,
            ),
            v(
                "upstream",
                "cd work && git push -u origin main",
                "cd work && git push --porcelain -u origin main",
                t::git_push_porcelain,
                STATUS_ONLY,
            ),
        ],
    },
    Family {
        name: "ls",
        project: "",
        needs: &["ls", "find"],
        setup: LS_SETUP,
        variants: &[
            v(
                "long",
                "ls -l",
                "find . -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\\n'",
                t::name_lines,
                ENTRIES,
            ),
            v(
                "all",
                "ls -la",
                "find . -mindepth 1 -maxdepth 1 -printf '%f\\n'",
                t::name_lines,
                ENTRIES,
            ),
            v(
                "human",
                "ls -lh --color=always",
                "find . -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\\n'",
                t::name_lines,
                ENTRIES,
            ),
            v(
                "almost-all",
                "ls -lA",
                "find . -mindepth 1 -maxdepth 1 -printf '%f\\n'",
                t::name_lines,
                ENTRIES,
            ),
        ],
    },
    Family {
        name: "df",
        project: "",
        needs: &["df"],
        setup: "",
        variants: &[
            v(
                "human",
                "df -h / /dev",
                "df --output=target / /dev",
                t::name_lines_after_header,
                ENTRIES,
            ),
            v(
                "plain",
                "df / /dev",
                "df --output=target / /dev",
                t::name_lines_after_header,
                ENTRIES,
            ),
            v(
                "types",
                "df -hT / /dev",
                "df --output=target / /dev",
                t::name_lines_after_header,
                ENTRIES,
            ),
        ],
    },
    Family {
        name: "ps",
        project: "",
        needs: &["ps"],
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
];
