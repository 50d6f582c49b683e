//! The structured facts extracted from a command's output.
//!
//! Field names follow what agents ask for ("which test failed, where, why").
//! Every list that grows with the input is capped ([`MAX_ITEMS`]) while the
//! counts beside it stay exact, so a 100 MB log cannot blow up memory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Upper bound on stored list items (entries, processes, log lines); counts stay exact.
pub const MAX_ITEMS: usize = 2000;

/// Structured facts for one command's output, tagged by `type` in JSON.
// One value per command; boxing the big variants would only complicate matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParsedOutput {
    /// Compilers, build tools and linters (cargo, rustc, clippy, gcc/clang, make, go build).
    BuildOutput(BuildReport),
    /// Test runners (cargo test, pytest, unittest, jest, node --test, go test).
    TestResults(TestReport),
    /// Logs: JSON lines, syslog-style, `tracing`, or any text with level words.
    StructuredLog(LogReport),
    /// git subcommands.
    GitOutput(GitReport),
    /// Socket listings (ss, netstat).
    NetworkOutput(NetworkReport),
    /// Process listings (ps, top).
    ProcessList(ProcessReport),
    /// File listings and disk usage (ls, find, df, du).
    FileSystemOutput(FsReport),
    /// Everything else: installers, `free`, `env`, Python tracebacks, unknown output.
    Custom(CustomReport),
}

/// Whether the command did what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Completed without errors.
    Success,
    /// Errors, failing tests, or a non-zero exit.
    Failed,
    /// A merge or rebase stopped on conflicts.
    Conflict,
    /// Neither the output nor the exit code says.
    #[default]
    Unknown,
}

/// A compiler or linter message with its location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// `error`, `warning`, `note`...
    pub severity: String,
    /// Source path as printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Error code such as `E0308`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Lint name such as `needless_return` (clippy, rustc lints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lint: Option<String>,
    /// Compiler flag that enabled the warning, such as `-Wunused-variable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// The headline message.
    pub message: String,
    /// Label texts under the source snippet (e.g. "expected `u16`, found `&str`").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Diagnostic {
    /// `file:line:col` (or the parts that are known), if there is a file.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        Some(match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
            (Some(line), None) => format!("{file}:{line}"),
            _ => file.to_owned(),
        })
    }
}

/// Build, compile or lint results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// `cargo`, `clippy`, `rustc`, `make`, `gcc`, `go`...
    pub tool: String,
    /// The compiler seen behind a build tool (`gcc` under `make`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiler: Option<String>,
    /// Overall outcome.
    pub status: Status,
    /// Every error, in output order.
    pub errors: Vec<Diagnostic>,
    /// Number of warnings.
    pub warnings: usize,
    /// The warnings themselves (capped at [`MAX_ITEMS`]).
    pub warning_list: Vec<Diagnostic>,
    /// Crates or targets built (cargo `Compiling` lines, make targets).
    pub compiled_crates: Vec<String>,
    /// Number of crates or targets built.
    pub compiled_count: usize,
    /// Build profile (`dev`, `release`...), when printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Wall time as printed (`5.89s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Closing line(s) such as "could not compile ..." or "make: *** ... Error 1".
    pub summary: Vec<String>,
    /// Set when the tool states a count (`Found 4 errors`) that the diagnostics
    /// found do not match; the headline says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_mismatch: Option<String>,
}

/// One failing (or erroring) test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailure {
    /// Test name as the runner prints it.
    pub name: String,
    /// First line of the failure message (the exception or assertion).
    pub message: String,
    /// Where it failed, `file:line[:col]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// File part of the location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Line part of the location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `left` side of a Rust assertion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<String>,
    /// `right` side of a Rust assertion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right: Option<String>,
    /// Actual value (node/jest assertion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Expected value (node/jest assertion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// A few more lines of the message, for the digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// Test-run results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    /// `cargo`, `pytest`, `unittest`, `jest`, `node:test`, `go`.
    pub framework: String,
    /// Overall outcome.
    pub status: Status,
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed (assertions).
    pub failed: usize,
    /// Tests that errored (unittest/pytest errors).
    pub errors: usize,
    /// Tests ignored (cargo).
    pub ignored: usize,
    /// Tests skipped.
    pub skipped: usize,
    /// pytest expected failures.
    pub xfailed: usize,
    /// pytest unexpected passes.
    pub xpassed: usize,
    /// node:test todo.
    pub todo: usize,
    /// node:test cancelled.
    pub cancelled: usize,
    /// cargo benchmarks measured.
    pub measured: usize,
    /// cargo tests filtered out.
    pub filtered_out: usize,
    /// Tests run or reported in total.
    pub total: usize,
    /// pytest `collected N items`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collected: Option<usize>,
    /// Failing tests with their messages.
    pub failures: Vec<TestFailure>,
    /// Erroring tests (unittest `ERROR:` sections, pytest errors).
    pub error_list: Vec<TestFailure>,
    /// Names of ignored or skipped tests, when printed.
    pub ignored_tests: Vec<String>,
    /// The runner's summary line(s).
    pub summary: Vec<String>,
    /// Set when the runner states a total that the counts do not add up to
    /// (`stated 7, counted 6: 3 passed + 2 failed + 1 skipped`): the counts are
    /// then not to be trusted, and the digest's headline says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_mismatch: Option<String>,
}

impl TestReport {
    /// Every test counted in one outcome (passed, failed, errors, skipped, ...).
    pub fn counted(&self) -> usize {
        self.passed
            + self.failed
            + self.errors
            + self.ignored
            + self.skipped
            + self.xfailed
            + self.xpassed
            + self.todo
            + self.cancelled
    }

    /// Check the counts against a total the runner printed; records a mismatch.
    pub fn reconcile(&mut self, stated_total: usize) {
        let counted = self.counted();
        if counted != stated_total {
            self.count_mismatch = Some(format!(
                "stated total {stated_total}, counted {counted} ({} passed + {} failed + {} errors + {} skipped)",
                self.passed,
                self.failed,
                self.errors,
                self.skipped + self.ignored + self.todo
            ));
        } else {
            self.count_mismatch = None;
        }
    }
}

/// One log line's level and text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// 1-based line number in the normalised output.
    pub line: usize,
    /// Normalised level (`error`, `warn`, `info`, `debug`, `trace`, `critical`).
    pub level: String,
    /// The message (for JSON lines: `msg`/`message` plus notable fields).
    pub message: String,
}

/// Log summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogReport {
    /// `jsonl`, `tracing`, `syslog`, `python_logging` (syslog-style with tracebacks) or `plain`.
    pub format: String,
    /// The most severe level seen.
    pub level: Option<String>,
    /// Non-empty lines.
    pub lines: usize,
    /// Lines per normalised level.
    pub counts: BTreeMap<String, usize>,
    /// Warning-or-worse entries (capped at [`MAX_ITEMS`]).
    pub entries: Vec<LogEntry>,
    /// One-line summaries of the `error` entries, in order.
    pub error_summaries: Vec<String>,
    /// The exception line closing each traceback logged (`TimeoutError: ...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<String>,
}

/// git results; which fields are set depends on `operation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitReport {
    /// `status`, `log`, `diff`, `commit`, `push`, `pull`, `merge`, `branch`, ...
    pub operation: String,
    /// Overall outcome.
    pub status: Status,
    /// Current branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Current branch in a `git branch` listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Commit created (`git commit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Commit subject (`git commit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Remote name (push, pull, fetch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Branch merged in (`git merge X`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_branch: Option<String>,
    /// First `fatal:`/`error:` message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files changed (diff stat, commit, merge, pull).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_changed: Option<usize>,
    /// Lines inserted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insertions: Option<usize>,
    /// Lines deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletions: Option<usize>,
    /// Files created (`create mode` lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<String>,
    /// Staged paths (`git status`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staged: Vec<String>,
    /// Staged paths with their change kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staged_detail: Vec<StagedChange>,
    /// Modified, unstaged paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modified: Vec<String>,
    /// Deleted, unstaged paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    /// Untracked paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untracked: Vec<String>,
    /// Unmerged paths (`git status` during a conflict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicted: Vec<String>,
    /// Paths with merge conflicts (`CONFLICT` lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// Commits (`git log`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<GitCommit>,
    /// Ref decorations on the first commit (`git log --decorate`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub head_refs: Vec<String>,
    /// Branches (`git branch`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<GitBranch>,
    /// Number of commits, branches or files listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// Per-file diff facts (`git diff`, `git show`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<DiffFile>,
}

/// A staged path in `git status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedChange {
    /// Path.
    pub path: String,
    /// `new file`, `modified`, `deleted`, `renamed`...
    pub change: String,
}

/// A commit in `git log`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCommit {
    /// Hash as printed (abbreviated or full).
    pub hash: String,
    /// `Name <email>` (full format only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Date as printed (full format only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// First line of the message.
    pub subject: String,
    /// Rest of the message, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A branch in `git branch -v`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitBranch {
    /// Branch name (`remotes/origin/x` for remote branches).
    pub name: String,
    /// Tip commit, with `-v`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Tip subject, with `-v`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Whether this is the checked-out branch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub current: bool,
}

/// One file in a diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffFile {
    /// Path (the `b/` side).
    pub path: String,
    /// Added lines.
    pub insertions: usize,
    /// Removed lines.
    pub deletions: usize,
    /// Hunk headers (`@@ -1,5 +1,5 @@`).
    pub hunks: Vec<String>,
}

/// A socket row from ss or netstat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    /// `tcp`, `udp`, `tcp6`...
    pub proto: String,
    /// `LISTEN`, `ESTAB`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Local address:port.
    pub local: String,
    /// Local port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Peer address:port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Owning process name (with `-p`).
    pub process: Option<String>,
    /// Owning pid (with `-p`).
    pub pid: Option<u32>,
}

/// Socket listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkReport {
    /// `ss` or `netstat`.
    pub tool: String,
    /// `listening_sockets` when every row listens, else `connections`.
    pub operation: String,
    /// Number of socket rows.
    pub count: usize,
    /// Listening sockets.
    pub listeners: Vec<Socket>,
    /// Other sockets (established, time-wait...).
    pub connections: Vec<Socket>,
}

/// A process row from ps or top.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// CPU percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// Memory percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem: Option<f64>,
    /// Command (with arguments when the tool shows them).
    pub command: String,
}

/// The busiest process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopProcess {
    /// Process id.
    pub pid: u32,
    /// Command.
    pub command: String,
    /// CPU percent.
    pub cpu: f64,
}

/// Process listing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessReport {
    /// `ps aux`, `ps`, `top`.
    pub format: String,
    /// Number of process rows.
    pub count: usize,
    /// The rows (capped at [`MAX_ITEMS`]).
    pub processes: Vec<Process>,
    /// Highest CPU user.
    pub top_cpu: Option<TopProcess>,
    /// top: tasks running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<usize>,
    /// top: tasks sleeping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sleeping: Option<usize>,
    /// top: tasks stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<usize>,
    /// top: zombie tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zombie: Option<usize>,
    /// top: 1, 5 and 15 minute load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_average: Vec<f64>,
    /// top: total memory in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_total_mib: Option<f64>,
}

/// A file or directory row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsEntry {
    /// Name or path.
    pub name: String,
    /// Size as printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `file`, `dir`, `link`, `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Symlink target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A mounted filesystem row from df.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filesystem {
    /// Device or pseudo filesystem.
    pub filesystem: String,
    /// Size as printed.
    pub size: String,
    /// Used as printed.
    pub used: String,
    /// Available as printed.
    pub avail: String,
    /// Use percentage.
    pub use_pct: u32,
    /// Mount point.
    pub mount: String,
}

/// A size and path (du).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizedPath {
    /// Size as printed.
    pub size: String,
    /// Path.
    pub path: String,
}

/// A symlink in a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symlink {
    /// Link name.
    pub name: String,
    /// Link target.
    pub target: String,
}

/// File listing or disk usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsReport {
    /// `ls`, `find`, `df`, `du`.
    pub operation: String,
    /// Rows listed (ls excludes `.` and `..`; du and find count every line).
    pub entries: usize,
    /// The rows (capped at [`MAX_ITEMS`]).
    pub items: Vec<FsEntry>,
    /// df rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filesystems: Vec<Filesystem>,
    /// du: the largest entry (the total when du ran on one root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<SizedPath>,
    /// du: the largest entries below the total, biggest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub largest: Vec<SizedPath>,
    /// ls: symlinks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symlinks: Vec<Symlink>,
    /// ls: directories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<String>,
    /// First output line (find).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_line: Option<String>,
    /// Last output line (find).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_line: Option<String>,
}

/// Facts for output without a dedicated shape; `data` holds the facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomReport {
    /// `apt_install`, `pip_install`, `npm_install`, `memory`, `env`,
    /// `python_traceback`, `unknown`...
    pub subkind: String,
    /// Overall outcome.
    pub status: Status,
    /// Facts specific to the subkind (a JSON object).
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl ParsedOutput {
    /// Overall outcome, when the variant has one.
    pub fn status(&self) -> Status {
        match self {
            Self::BuildOutput(r) => r.status,
            Self::TestResults(r) => r.status,
            Self::GitOutput(r) => r.status,
            Self::Custom(r) => r.status,
            Self::StructuredLog(_)
            | Self::NetworkOutput(_)
            | Self::ProcessList(_)
            | Self::FileSystemOutput(_) => Status::Unknown,
        }
    }

    /// Output nobody recognised: no facts beyond the text itself.
    pub fn unknown(status: Status) -> Self {
        Self::Custom(CustomReport {
            subkind: "unknown".to_owned(),
            status,
            data: serde_json::Map::new(),
        })
    }
}
