//! `cargo xtask tmux-compat`: libtmux's own core tests, from its PyPI sdist, against real tmux and
//! against `ai-session` invoked as `tmux`, in the same run; passes when ai-session passes at least
//! 90% of the tests real tmux passes.
//!
//! libtmux and the test tools are pinned and installed from PyPI into a private venv under
//! `target/tmux-compat/` (reused while the pins are unchanged). Each run gets its own tmux socket
//! directory and its own `AI_SESSION_HOME`, and every daemon it started is stopped at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// The libtmux release whose sdist provides the tests (and whose wheel drives both backends).
const LIBTMUX: &str = "0.62.0";
/// Test tools, pinned: libtmux's test dependencies that its core tests use, plus a per-test
/// timeout so a hang fails one test instead of stalling CI.
const PINS: &[&str] = &[
    "libtmux==0.62.0",
    "pytest==9.2.0",
    "pytest-mock==3.17.0",
    "pytest-rerunfailures==16.7",
    "pytest-timeout==2.4.0",
];
/// libtmux's four core test files.
const TEST_FILES: &[&str] = &[
    "tests/test_server.py",
    "tests/test_session.py",
    "tests/test_window.py",
    "tests/test_pane.py",
];
/// Share of real tmux's passes that ai-session must pass.
const REQUIRED: f64 = 0.90;

#[derive(Debug, clap::Args)]
pub struct TmuxCompatArgs {
    /// The `ai-session` binary to test (default: build it in debug mode).
    #[arg(long)]
    pub bin: Option<PathBuf>,
    /// Only tests matching this pytest `-k` expression (for development; the gate still applies).
    #[arg(short = 'k', long)]
    pub filter: Option<String>,
    /// Skip the real-tmux run and compare against its last result (for development).
    #[arg(long)]
    pub reuse_baseline: bool,
}

/// One test's outcome as pytest's `-rA` summary names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    status: String,
    reason: String,
}

pub fn run(args: &TmuxCompatArgs) -> anyhow::Result<()> {
    let root = crate::fuzz::workspace_root()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = match &args.bin {
        Some(bin) => bin.clone(),
        None => {
            crate::ci::cargo(&["build", "--quiet", "-p", "ai-session-cli"])?;
            target.join("debug/ai-session")
        }
    };
    let bin = std::fs::canonicalize(&bin)
        .with_context(|| format!("the ai-session binary {} is missing", bin.display()))?;
    let work = target.join("tmux-compat");
    std::fs::create_dir_all(&work)?;
    let python = install_venv(&work)?;
    let tests = unpack_sdist(&work, &python)?;
    let real_tmux = which("tmux").context(
        "real tmux is not installed: `apt-get install tmux` (3.3a is the reference version)",
    )?;
    let version = output_of(Command::new(&real_tmux).arg("-V"))?;
    eprintln!(
        "xtask: libtmux {LIBTMUX} core tests, {} vs ai-session tmux",
        version.trim()
    );

    let baseline_file = work.join("baseline.txt");
    let reuse = args.reuse_baseline && baseline_file.exists();
    // Both suites at once: each test has its own tmux server (and daemon), so they share nothing.
    let started = Instant::now();
    let tmux_run = (!reuse)
        .then(|| start_suite(&python, &tests, &work, args, None))
        .transpose()?;
    let ours_run = start_suite(&python, &tests, &work, args, Some(&bin))?;
    let ours = finish_suite(ours_run)?;
    eprintln!(
        "xtask: ai-session run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::fs::write(work.join("ours.txt"), &ours)?;
    let baseline = match tmux_run {
        Some(run) => {
            let out = finish_suite(run)?;
            std::fs::write(&baseline_file, &out)?;
            out
        }
        None => std::fs::read_to_string(&baseline_file)?,
    };
    eprintln!(
        "xtask: both suites done after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let suite = compare(&parse_summary(&baseline), &parse_summary(&ours), &root);
    let harness = compare_harness(&python, &work, &bin, &root);
    suite.and(harness)
}

/// The OpenHands-style script (`crates/ai-session-cli/tests/tmux_compat/openhands_style.py`),
/// unchanged, against real tmux and against ai-session: what it extracts must be identical.
fn compare_harness(python: &Path, work: &Path, bin: &Path, root: &Path) -> anyhow::Result<()> {
    let script = root.join("crates/ai-session-cli/tests/tmux_compat/openhands_style.py");
    let mut outputs = Vec::new();
    for ours in [false, true] {
        let label = if ours { "ours" } else { "tmux" };
        let scratch = work.join(format!("openhands-{label}"));
        let _ = std::fs::remove_dir_all(&scratch);
        let sockets = scratch.join("sockets");
        let dir = scratch.join("work");
        std::fs::create_dir_all(&sockets)?;
        std::fs::create_dir_all(&dir)?;
        let dir = std::fs::canonicalize(&dir)?;
        let mut command = Command::new(python);
        command
            .arg(&script)
            .env("TMUX_TMPDIR", &sockets)
            .env("HARNESS_DIR", &dir)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .stdin(Stdio::null());
        let home = scratch.join("ai-session-home");
        if ours {
            put_ours_first(&mut command, &scratch, bin, &home)?;
        }
        let output = command
            .output()
            .context("could not run the OpenHands-style script")?;
        if ours {
            stop_daemons(bin, &home);
        }
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "the OpenHands-style script failed against {label}:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // The work directory differs between the two runs; compare with it named alike.
        outputs.push(stdout.replace(&dir.display().to_string(), "$WORK"));
    }
    if outputs[0] != outputs[1] {
        bail!(
            "the OpenHands-style script extracted different results:\n--- tmux\n{}\n--- ai-session\n{}",
            outputs[0],
            outputs[1]
        );
    }
    println!(
        "tmux-compat: OpenHands-style script: same {} results from tmux and ai-session",
        outputs[0].lines().count()
    );
    Ok(())
}

/// A venv with the pinned packages; returns its python.
fn install_venv(work: &Path) -> anyhow::Result<PathBuf> {
    let venv = work.join("venv");
    let python = venv.join("bin/python");
    let marker = venv.join("pins.txt");
    let pins = PINS.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(pins.as_str()) {
        return Ok(python);
    }
    let system_python = which("python3").context("python3 is needed to run libtmux's tests")?;
    run_step(
        Command::new(system_python)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "create the libtmux venv",
    )?;
    run_step(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PINS),
        "pip install the pinned libtmux and pytest",
    )?;
    std::fs::write(&marker, pins)?;
    Ok(python)
}

/// libtmux's sdist (its tests are not in the wheel), unpacked once.
fn unpack_sdist(work: &Path, python: &Path) -> anyhow::Result<PathBuf> {
    let tree = work.join(format!("libtmux-{LIBTMUX}"));
    if tree.join("tests/test_pane.py").exists() {
        return Ok(tree);
    }
    let download = work.join("sdist");
    run_step(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-binary",
                ":all:",
            ])
            .arg(format!("libtmux=={LIBTMUX}"))
            .arg("-d")
            .arg(&download),
        "pip download libtmux's sdist",
    )?;
    run_step(
        Command::new("tar")
            .arg("xzf")
            .arg(download.join(format!("libtmux-{LIBTMUX}.tar.gz")))
            .arg("-C")
            .arg(work),
        "unpack libtmux's sdist",
    )?;
    Ok(tree)
}

/// A running pytest: its child and where its files are.
struct SuiteRun {
    label: &'static str,
    child: std::process::Child,
    home: PathBuf,
    sockets: PathBuf,
    bin: Option<PathBuf>,
}

/// Starts the core tests; `ours` puts `ai-session` first on PATH as `tmux`.
fn start_suite(
    python: &Path,
    tests: &Path,
    work: &Path,
    args: &TmuxCompatArgs,
    ours: Option<&Path>,
) -> anyhow::Result<SuiteRun> {
    let label = if ours.is_some() { "ours" } else { "tmux" };
    let scratch = work.join(format!("run-{label}"));
    let _ = std::fs::remove_dir_all(&scratch);
    let socket_dir = scratch.join("sockets");
    std::fs::create_dir_all(&socket_dir)?;
    let mut command = Command::new(python);
    command
        .current_dir(tests)
        .args(["-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider"])
        .args(["-q", "-rA", "--tb=line", "--reruns=2", "--timeout=60"])
        .args(TEST_FILES)
        .env("TMUX_TMPDIR", &socket_dir)
        .env("COLUMNS", "1000")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(filter) = &args.filter {
        command.args(["-k", filter]);
    }
    let home = scratch.join("ai-session-home");
    if let Some(bin) = ours {
        put_ours_first(&mut command, &scratch, bin, &home)?;
    }
    eprintln!("xtask: pytest against {label}");
    let child = command
        .spawn()
        .context("could not start pytest in the libtmux venv")?;
    Ok(SuiteRun {
        label,
        child,
        home,
        sockets: socket_dir,
        bin: ours.map(Path::to_path_buf),
    })
}

/// Waits for a suite; returns pytest's output.
fn finish_suite(run: SuiteRun) -> anyhow::Result<String> {
    let output = run.child.wait_with_output()?;
    match &run.bin {
        Some(bin) => stop_daemons(bin, &run.home),
        None => stop_tmux_servers(&run.sockets),
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !text.contains(" passed") && !text.contains(" failed") {
        bail!(
            "pytest against {} ran no test:\n{text}\n{}",
            run.label,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(text)
}

/// Stops every daemon the run left (one per tmux socket name a test used).
/// Puts our binary first on `command`'s PATH as `tmux` (a link in `scratch/bin`),
/// with its daemon's state in `home`.
fn put_ours_first(
    command: &mut Command,
    scratch: &Path,
    bin: &Path,
    home: &Path,
) -> anyhow::Result<()> {
    let bin_dir = scratch.join("bin");
    std::fs::create_dir_all(&bin_dir)?;
    std::os::unix::fs::symlink(bin, bin_dir.join("tmux"))?;
    let path = std::env::var("PATH").unwrap_or_default();
    command
        .env("PATH", format!("{}:{path}", bin_dir.display()))
        .env("AI_SESSION_HOME", home);
    Ok(())
}

fn stop_daemons(bin: &Path, home: &Path) {
    let Ok(entries) = std::fs::read_dir(home.join("run")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(server) = name.strip_suffix(".sock") {
            let _ = Command::new(bin)
                .args(["--server", server, "kill-server"])
                .env("AI_SESSION_HOME", home)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Stops any real tmux server a failed test left behind (its socket is under `sockets`).
fn stop_tmux_servers(sockets: &Path) {
    let Ok(dirs) = std::fs::read_dir(sockets) else {
        return;
    };
    for dir in dirs.flatten() {
        let Ok(entries) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for socket in entries.flatten() {
            let _ = Command::new("tmux")
                .arg("-S")
                .arg(socket.path())
                .arg("kill-server")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Test id -> outcome, from pytest's `-rA` short summary (`PASSED id`, `FAILED id - reason`).
fn parse_summary(text: &str) -> BTreeMap<String, Outcome> {
    let mut outcomes = BTreeMap::new();
    let summary = text
        .split("short test summary info")
        .nth(1)
        .unwrap_or_default();
    for line in summary.lines() {
        let Some((status, rest)) = line.split_once(' ') else {
            continue;
        };
        if !matches!(
            status,
            "PASSED" | "FAILED" | "ERROR" | "SKIPPED" | "XFAIL" | "XPASS"
        ) {
            continue;
        }
        let (id, reason) = match rest.split_once(" - ") {
            Some((id, reason)) => (id.trim(), reason.trim()),
            None => (rest.trim(), ""),
        };
        // `SKIPPED [1] file:line: reason` names no test id; count it by its reason.
        let id = if status == "SKIPPED" {
            format!("skipped {id}")
        } else {
            id.to_owned()
        };
        outcomes.insert(
            id,
            Outcome {
                status: status.to_owned(),
                reason: reason.to_owned(),
            },
        );
    }
    outcomes
}

fn compare(
    tmux: &BTreeMap<String, Outcome>,
    ours: &BTreeMap<String, Outcome>,
    root: &Path,
) -> anyhow::Result<()> {
    let passed_by_tmux: Vec<&String> = tmux
        .iter()
        .filter(|(_, o)| o.status == "PASSED")
        .map(|(id, _)| id)
        .collect();
    let documented = std::fs::read_to_string(root.join("docs/tmux.md")).unwrap_or_default();
    let mut failures = Vec::new();
    for id in &passed_by_tmux {
        match ours.get(*id) {
            Some(o) if o.status == "PASSED" => {}
            Some(o) => failures.push((id.as_str(), o.status.as_str(), o.reason.as_str())),
            None => failures.push((id.as_str(), "MISSING", "not run")),
        }
    }
    let total = passed_by_tmux.len();
    let passed = total - failures.len();
    let extra: Vec<&String> = ours
        .iter()
        .filter(|(id, o)| {
            o.status == "PASSED" && tmux.get(*id).is_none_or(|t| t.status != "PASSED")
        })
        .map(|(id, _)| id)
        .collect();
    println!("tmux-compat: tests real tmux passes that ai-session fails:");
    let mut undocumented = 0;
    for (id, status, reason) in &failures {
        let name = id.rsplit("::").next().unwrap_or(id);
        let name = name.split('[').next().unwrap_or(name);
        let note = if documented.contains(name) {
            ""
        } else {
            undocumented += 1;
            "  (not in docs/tmux.md)"
        };
        println!("  {status} {id}: {reason}{note}");
    }
    for id in &extra {
        println!("  (passes on ai-session only: {id})");
    }
    let ratio = if total == 0 {
        0.0
    } else {
        passed as f64 / total as f64
    };
    println!(
        "tmux-compat: real tmux passed {total}; ai-session passed {passed} of them ({:.1}%, required {:.0}%); {undocumented} failures not documented",
        ratio * 100.0,
        REQUIRED * 100.0
    );
    println!("{passed} passed, {} failed", failures.len());
    if total == 0 {
        bail!("real tmux passed no test: the baseline run is broken");
    }
    if ratio < REQUIRED {
        bail!(
            "ai-session passes {:.1}% of the tests real tmux passes, below {:.0}%",
            ratio * 100.0,
            REQUIRED * 100.0
        );
    }
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn run_step(command: &mut Command, what: &str) -> anyhow::Result<()> {
    eprintln!("xtask: {what}");
    let status = command
        .status()
        .with_context(|| format!("could not {what}"))?;
    if !status.success() {
        bail!("could not {what} ({status})");
    }
    Ok(())
}

fn output_of(command: &mut Command) -> anyhow::Result<String> {
    let out = command.output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pytest_short_summary() {
        let text = "\
..F
=========================== short test summary info ============================
PASSED tests/test_server.py::test_has_session
FAILED tests/test_pane.py::test_resize - AssertionError: assert 10 == 24
ERROR tests/test_window.py::test_split[a b] - libtmux.exc.LibTmuxException: x
SKIPPED [1] tests/test_pane.py:12: needs tmux 3.7
1 failed, 1 passed, 1 skipped, 1 error in 1.00s
";
        let outcomes = parse_summary(text);
        assert_eq!(outcomes.len(), 4);
        assert_eq!(
            outcomes["tests/test_pane.py::test_resize"],
            Outcome {
                status: "FAILED".into(),
                reason: "AssertionError: assert 10 == 24".into()
            }
        );
        assert_eq!(
            outcomes["tests/test_window.py::test_split[a b]"].status,
            "ERROR"
        );
    }
}
