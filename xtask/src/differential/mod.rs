//! `cargo xtask corpus --differential`: run real tools on the small projects
//! under `crates/ai-session-output/tests/differential/projects/`, once in a
//! human format on a real PTY (through `ai-session-pty`, as the daemon runs
//! commands) and once in the tool's machine format (JUnit XML, `--json`,
//! `go test -json`, ...), which is the truth. The captures (`.raw`, `.cmd`,
//! `.truth.json`) are rewritten on every run, so the corpus grows by running
//! tools; `cargo test -p ai-session-output --test differential` replays them
//! where the tools are not installed.

mod families;
mod truth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ai_session_output::capture::CaptureCommand;
use ai_session_output::fidelity::{self, Truth};
use ai_session_output::{DigestOptions, analyze};
use ai_session_pty::{ExecOptions, ExecState, PtySession, SessionConfig};
use anyhow::{Context, bail};

pub use families::{Family, Variant};

/// Where the projects, captures and node_modules live.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/ai-session-output/tests/differential")
        .canonicalize()
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../crates/ai-session-output/tests/differential")
        })
}

/// Work directories: stable paths, so captures differ between runs only where the tools do.
const WORK: &str = "/tmp/ai-session-differential";
/// Longest any one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(240);

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these families (all when empty).
    pub only: Vec<String>,
    /// Families run at once.
    pub jobs: usize,
    /// Replay the stored captures instead of running tools.
    pub replay: bool,
    /// Print the digest of these captures (`family/variant`).
    pub show: Vec<String>,
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Outcome {
    family: String,
    variant: String,
    /// `ran`, `replayed` (tool missing: stored capture checked), or an error.
    how: String,
    comparison: Option<fidelity::Comparison>,
}

pub fn run(opts: &Options) -> anyhow::Result<()> {
    let root = corpus_root();
    let families: Vec<&'static Family> = families::ALL
        .iter()
        .filter(|f| opts.only.is_empty() || opts.only.iter().any(|o| o == f.name))
        .collect();
    if families.is_empty() {
        bail!("no family matches {:?}", opts.only);
    }
    std::fs::create_dir_all(WORK).with_context(|| format!("creating {WORK}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = std::time::Instant::now();
    let outcomes = runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(opts.jobs.max(1)));
        let mut tasks = Vec::new();
        for family in families {
            let limit = limit.clone();
            let root = root.clone();
            let replay = opts.replay;
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                run_family(&root, family, replay).await
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            match task.await {
                Ok(rows) => all.extend(rows),
                Err(e) => all.push(Outcome {
                    family: "?".into(),
                    variant: "?".into(),
                    how: format!("task panicked: {e}"),
                    comparison: None,
                }),
            }
        }
        all
    });
    for name in &opts.show {
        let capture = read_capture(&root.join("captures").join(name))?;
        let analysis = capture.analyze(DigestOptions::default());
        println!(
            "==== {name}: {} ({:?}, {} of {} tokens)\n{}\n",
            capture.command,
            analysis.kind,
            analysis.tokens_digest,
            analysis.tokens_raw,
            analysis.digest
        );
    }
    print_table(&outcomes);
    println!("\n(differential run took {:.0?})", started.elapsed());
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.comparison.as_ref().is_some_and(|c| c.all_equal()))
        .collect();
    for o in &failed {
        eprintln!("  {}/{}: {}", o.family, o.variant, o.how);
        if let Some(c) = &o.comparison {
            for m in &c.mismatches {
                eprintln!("      {m}");
            }
        }
    }
    let ran_families = outcomes
        .iter()
        .filter(|o| o.comparison.is_some())
        .map(|o| o.family.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if !failed.is_empty() {
        bail!(
            "{} of {} variants differ from the machine reports",
            failed.len(),
            outcomes.len()
        );
    }
    println!(
        "{ran_families} families, {} variants, all equal to the machine reports",
        outcomes.len()
    );
    Ok(())
}

async fn run_family(root: &Path, family: &'static Family, replay: bool) -> Vec<Outcome> {
    let missing: Vec<&str> = family
        .needs
        .iter()
        .copied()
        .filter(|program| !on_path(root, program))
        .collect();
    let mut rows = Vec::new();
    // Held for the whole family: the sockets `ss` lists.
    let listeners: Vec<std::io::Result<std::net::TcpListener>> = if replay || !missing.is_empty() {
        Vec::new()
    } else {
        family
            .listen
            .iter()
            .map(|port| std::net::TcpListener::bind(("127.0.0.1", *port)))
            .collect()
    };
    if let Some(Err(e)) = listeners.iter().find(|l| l.is_err()) {
        return vec![Outcome {
            family: family.name.into(),
            variant: "*".into(),
            how: format!("could not listen on {:?}: {e}", family.listen),
            comparison: None,
        }];
    }
    for variant in family.variants {
        let capture = root.join("captures").join(family.name).join(variant.name);
        let outcome = if replay || !missing.is_empty() {
            let how = if replay {
                "replayed".to_owned()
            } else {
                format!("replayed ({} not installed)", missing.join(", "))
            };
            replay_capture(&capture).map(|c| (how, c))
        } else {
            run_variant(root, family, variant, &capture)
                .await
                .map(|c| ("ran".to_owned(), c))
        };
        rows.push(match outcome {
            Ok((how, comparison)) => Outcome {
                family: family.name.into(),
                variant: variant.name.into(),
                how,
                comparison: Some(comparison),
            },
            Err(e) => Outcome {
                family: family.name.into(),
                variant: variant.name.into(),
                how: format!("{e:#}"),
                comparison: None,
            },
        });
    }
    drop(listeners);
    rows
}

fn on_path(root: &Path, program: &str) -> bool {
    let node_bin = root.join("node_modules/.bin");
    std::iter::once(node_bin)
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .any(|dir| dir.join(program).is_file())
}

/// A stored capture: command line, exit code, raw bytes and truth.
pub struct Capture {
    pub command: String,
    pub exit_code: Option<i32>,
    pub raw: Vec<u8>,
    pub truth: Truth,
}

impl Capture {
    /// The product's reading of the capture, with its exit code, under `options`.
    fn analyze(&self, options: DigestOptions) -> ai_session_output::Analysis {
        analyze(
            &self.command,
            &self.raw,
            &DigestOptions {
                exit_code: self.exit_code,
                ..options
            },
        )
    }
}

/// Read `<base>.cmd`, `<base>.raw` and `<base>.truth.json`.
pub fn read_capture(base: &Path) -> anyhow::Result<Capture> {
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
    let CaptureCommand { command, exit_code } = CaptureCommand::parse(
        &std::fs::read_to_string(with("cmd"))
            .with_context(|| format!("reading {}", with("cmd").display()))?,
    );
    let raw =
        std::fs::read(with("raw")).with_context(|| format!("reading {}", with("raw").display()))?;
    let truth = serde_json::from_slice(
        &std::fs::read(with("truth.json"))
            .with_context(|| format!("reading {}", with("truth.json").display()))?,
    )
    .with_context(|| format!("parsing {}", with("truth.json").display()))?;
    Ok(Capture {
        command,
        exit_code,
        raw,
        truth,
    })
}

fn check(capture: &Capture) -> fidelity::Comparison {
    let analysis = capture.analyze(DigestOptions::default());
    fidelity::compare(&capture.truth, &analysis.parsed)
}

fn replay_capture(base: &Path) -> anyhow::Result<fidelity::Comparison> {
    Ok(check(&read_capture(base)?))
}

/// A fresh copy of the family's project with its setup run.
async fn prepare(root: &Path, family: &Family, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    if !family.project.is_empty() {
        copy_tree(&root.join("projects").join(family.project), dir)?;
    }
    if !family.setup.is_empty() {
        let out = shell(root, dir, family.setup, &[]).await?;
        if out.exit != Some(0) {
            bail!(
                "setup of {} failed ({:?}): {}",
                family.name,
                out.exit,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
            let modified = entry.metadata()?.modified()?;
            std::fs::File::options()
                .write(true)
                .open(&target)?
                .set_modified(modified)?;
        }
    }
    Ok(())
}

/// What a command without a terminal printed.
pub struct Plain {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: Option<i32>,
    pub dir: PathBuf,
}

fn tool_path(root: &Path) -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{}:{path}", root.join("node_modules/.bin").display())
}

/// Environment every run shares: tools on PATH, no network, stable locale.
fn common_env(root: &Path, dir: &Path) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), tool_path(root)),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("TZ".into(), "UTC".into()),
        ("HOME".into(), format!("{}-home", dir.display())),
        (
            "CARGO_HOME".into(),
            std::env::var("CARGO_HOME").unwrap_or_else(|_| {
                format!("{}/.cargo", std::env::var("HOME").unwrap_or_default())
            }),
        ),
        (
            "RUSTUP_HOME".into(),
            std::env::var("RUSTUP_HOME").unwrap_or_else(|_| {
                format!("{}/.rustup", std::env::var("HOME").unwrap_or_default())
            }),
        ),
        (
            "CARGO_TARGET_DIR".into(),
            format!("{dir}-target", dir = dir.display()),
        ),
        ("GOFLAGS".into(), "-mod=mod".into()),
        ("GOPROXY".into(), "off".into()),
        ("GOCACHE".into(), format!("{WORK}/go-cache")),
        ("GOPATH".into(), format!("{WORK}/go-path")),
        ("GO111MODULE".into(), "on".into()),
        ("npm_config_offline".into(), "true".into()),
        ("npm_config_update_notifier".into(), "false".into()),
        ("PIP_NO_INDEX".into(), "1".into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("GIT_AUTHOR_NAME".into(), "Corpus".into()),
        ("GIT_AUTHOR_EMAIL".into(), "corpus@example.invalid".into()),
        ("GIT_COMMITTER_NAME".into(), "Corpus".into()),
        (
            "GIT_COMMITTER_EMAIL".into(),
            "corpus@example.invalid".into(),
        ),
        ("GIT_AUTHOR_DATE".into(), "2026-01-01T00:00:00Z".into()),
        ("GIT_COMMITTER_DATE".into(), "2026-01-01T00:00:00Z".into()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
    ]
}

/// Run `script` with bash, no terminal.
pub async fn shell(
    root: &Path,
    dir: &Path,
    script: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<Plain> {
    std::fs::create_dir_all(format!("{}-home", dir.display()))?;
    let mut command = tokio::process::Command::new("bash");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .env("NO_COLOR", "1")
        .env("TERM", "dumb");
    for (key, value) in common_env(root, dir) {
        command.env(key, value);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .with_context(|| format!("`{script}` timed out"))?
        .with_context(|| format!("running `{script}`"))?;
    Ok(Plain {
        stdout: output.stdout,
        stderr: output.stderr,
        exit: output.status.code(),
        dir: dir.to_owned(),
    })
}

/// Run `command` in a real PTY (bash with shell integration), as `ai-session exec` does.
async fn in_pty(
    root: &Path,
    dir: &Path,
    command: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<(Vec<u8>, Option<i32>)> {
    std::fs::create_dir_all(format!("{}-home", dir.display()))?;
    let mut config = SessionConfig {
        cwd: Some(dir.to_owned()),
        ..SessionConfig::default()
    };
    config.size.cols = 120;
    config.size.rows = 40;
    let env_all: BTreeMap<String, String> = common_env(root, dir)
        .into_iter()
        .chain(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        .collect();
    config.env = env_all;
    let session = PtySession::spawn(config)
        .await
        .with_context(|| format!("starting a PTY for `{command}`"))?;
    let outcome = session
        .exec(
            command,
            ExecOptions {
                detect_input_wait: false,
                ..ExecOptions::with_timeout(COMMAND_TIMEOUT)
            },
        )
        .await;
    session.kill().await;
    let outcome = outcome.with_context(|| format!("running `{command}` in a PTY"))?;
    if outcome.state != ExecState::Exited {
        bail!("`{command}` did not finish: {:?}", outcome.state);
    }
    Ok((outcome.output, outcome.record.exit_code))
}

async fn run_variant(
    root: &Path,
    family: &'static Family,
    variant: &'static Variant,
    capture: &Path,
) -> anyhow::Result<fidelity::Comparison> {
    // One work dir per family (its variants run one after another), so cargo and go reuse
    // their builds: copies keep the project's mtimes.
    let dir = PathBuf::from(format!("{WORK}/{}", family.name));
    prepare(root, family, &dir).await?;
    let machine = shell(root, &dir, variant.machine, variant.env).await?;
    let mut truth = (variant.truth)(&machine)
        .with_context(|| format!("reading the machine report of `{}`", variant.machine))?;
    truth.source = variant.machine.to_owned();
    variant.scope.apply(&mut truth);
    prepare(root, family, &dir).await?;
    let (raw, exit) = in_pty(root, &dir, variant.human, variant.env).await?;
    if let Some(parent) = capture.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", capture.display()));
    let cmd = CaptureCommand {
        command: variant.human.to_owned(),
        exit_code: exit,
    };
    std::fs::write(with("cmd"), cmd.to_text())?;
    std::fs::write(with("raw"), &raw)?;
    std::fs::write(
        with("truth.json"),
        serde_json::to_string_pretty(&truth)? + "\n",
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(check(&Capture {
        command: variant.human.to_owned(),
        exit_code: exit,
        raw,
        truth,
    }))
}

/// A Markdown table's header and rule. A column's width is negative for a
/// left-aligned column; a right-aligned one's rule ends in `:`. `last` is an
/// unaligned last column's header and rule.
fn print_header(columns: &[(&str, i32)], last: (&str, &str)) {
    let mut header = String::from("|");
    let mut rule = String::from("|");
    for &(name, width) in columns {
        let w = width.unsigned_abs() as usize;
        if width < 0 {
            header.push_str(&format!(" {name:<w$} |"));
            rule.push_str(&format!("{:-<1$}|", "", w + 2));
        } else {
            header.push_str(&format!(" {name:>w$} |"));
            rule.push_str(&format!("{:->1$}|", ":", w + 2));
        }
    }
    println!("{header}{}", last.0);
    println!("{rule}{}", last.1);
}

fn print_table(outcomes: &[Outcome]) {
    println!("Differential corpus: facts parsed from human output vs the tool's machine report\n");
    print_header(
        &[
            ("family", -14),
            ("variant", -12),
            ("counts", -6),
            ("names", -5),
            ("all facts", -9),
            ("facts", 7),
        ],
        (" how", "------"),
    );
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    for o in outcomes {
        match &o.comparison {
            Some(c) => println!(
                "| {:<14} | {:<12} | {:<6} | {:<5} | {:<9} | {:>7} | {}",
                o.family,
                o.variant,
                mark(c.counts_equal),
                mark(c.names_equal),
                mark(c.all_equal()),
                format!("{}/{}", c.facts_equal, c.facts_total),
                o.how
            ),
            None => println!(
                "| {:<14} | {:<12} | {:<6} | {:<5} | {:<9} | {:>7} | error: {}",
                o.family, o.variant, "-", "-", "-", "-", o.how
            ),
        }
    }
    let families = outcomes
        .iter()
        .map(|o| o.family.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let equal = outcomes
        .iter()
        .filter(|o| o.comparison.as_ref().is_some_and(|c| c.all_equal()))
        .count();
    let (kept, total) = outcomes
        .iter()
        .filter_map(|o| o.comparison.as_ref())
        .fold((0, 0), |(k, t), c| (k + c.facts_equal, t + c.facts_total));
    println!(
        "| **{families} families** | **{} variants** | | | **{equal} equal** | **{kept}/{total}** |",
        outcomes.len()
    );
}

/// Captures of at least this many raw tokens (ten times the default budget) are the
/// large outputs of the fidelity score: where a 400-token digest can be 90% smaller.
pub const LARGE_OUTPUT_TOKENS: usize = 4000;

/// Facts kept and tokens over the large captures, digest vs head+tail truncation.
#[derive(Debug, Clone, Default)]
pub struct Fidelity {
    pub captures: usize,
    pub raw_tokens: usize,
    pub digest_tokens: usize,
    pub truncation_tokens: usize,
    /// Facts the full output states (in a form the checker reads).
    pub facts: usize,
    pub digest_facts: usize,
    pub truncation_facts: usize,
}

impl Fidelity {
    pub fn reduction(&self) -> f64 {
        1.0 - self.digest_tokens as f64 / self.raw_tokens.max(1) as f64
    }
}

/// Head and tail lines, half the budget each, with a marker between: what
/// agents' harnesses do with long tool output when they do not parse it.
pub fn head_tail(text: &str, budget: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let marker_cost = 12;
    let half = budget.saturating_sub(marker_cost) / 2;
    let (mut head, mut used) = (0, 0);
    while head < lines.len() {
        let cost = ai_session_output::tokens::count(lines[head]) + 1;
        if used + cost > half {
            break;
        }
        used += cost;
        head += 1;
    }
    let (mut tail, mut used) = (lines.len(), 0);
    while tail > head {
        let cost = ai_session_output::tokens::count(lines[tail - 1]) + 1;
        if used + cost > half {
            break;
        }
        used += cost;
        tail -= 1;
    }
    if tail <= head {
        return text.to_owned();
    }
    format!(
        "{}\n… [{} lines truncated] …\n{}",
        lines[..head].join("\n"),
        tail - head,
        lines[tail..].join("\n")
    )
}

/// Score every stored capture of at least [`LARGE_OUTPUT_TOKENS`] raw tokens.
pub fn fidelity(budget: usize, print: bool) -> anyhow::Result<Fidelity> {
    let root = corpus_root().join("captures");
    let mut bases = Vec::new();
    for family in std::fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))? {
        let family = family?.path();
        if !family.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&family)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "raw") {
                bases.push(path.with_extension(""));
            }
        }
    }
    bases.sort();
    let mut total = Fidelity::default();
    if print {
        println!(
            "Fact fidelity over large differential captures (>= {LARGE_OUTPUT_TOKENS} raw o200k tokens), budget {budget}\n"
        );
        print_header(
            &[
                ("capture", -28),
                ("raw", 6),
                ("digest", 6),
                ("reduction", 9),
                ("digest facts", 12),
                ("head+tail facts", 15),
            ],
            ("", ""),
        );
    }
    for base in bases {
        let capture = read_capture(&base)?;
        let analysis = capture.analyze(DigestOptions {
            budget,
            ..DigestOptions::default()
        });
        if analysis.tokens_raw < LARGE_OUTPUT_TOKENS {
            continue;
        }
        let truncated = head_tail(&analysis.normalized, budget);
        let stated = fidelity::text_facts(&capture.truth, &analysis.normalized);
        let kept = |text: &str| {
            fidelity::text_facts(&capture.truth, text)
                .iter()
                .zip(&stated)
                .filter(|((_, kept), (_, in_full))| *kept && *in_full)
                .count()
        };
        let facts = stated.iter().filter(|(_, s)| *s).count();
        let (digest_facts, truncation_facts) = (kept(&analysis.digest), kept(&truncated));
        let name = base
            .strip_prefix(&root)
            .unwrap_or(&base)
            .display()
            .to_string();
        if print {
            println!(
                "| {:<28} | {:>6} | {:>6} | {:>8.1}% | {:>12} | {:>15} |",
                name,
                analysis.tokens_raw,
                analysis.tokens_digest,
                100.0 * (1.0 - analysis.tokens_digest as f64 / analysis.tokens_raw as f64),
                format!("{digest_facts}/{facts}"),
                format!("{truncation_facts}/{facts}"),
            );
        }
        total.captures += 1;
        total.raw_tokens += analysis.tokens_raw;
        total.digest_tokens += analysis.tokens_digest;
        total.truncation_tokens += ai_session_output::tokens::count(&truncated);
        total.facts += facts;
        total.digest_facts += digest_facts;
        total.truncation_facts += truncation_facts;
    }
    if print {
        println!(
            "| **total ({} captures)** | {} | {} | {:.1}% | {}/{} | {}/{} |",
            total.captures,
            total.raw_tokens,
            total.digest_tokens,
            100.0 * total.reduction(),
            total.digest_facts,
            total.facts,
            total.truncation_facts,
            total.facts
        );
    }
    Ok(total)
}
