//! `cargo xtask bench [--quick] [GROUP...]`: every benchmark group, each measuring our figure
//! beside its baseline in the same run, summarised in one table (operation, ours, baseline,
//! ratio, the ARCHITECTURE.md section 10 target, PASS/FAIL) and in
//! `target/bench/summary.json`. Each group also prints its own detailed report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::ci::cargo;

/// Every group, in the order they run.
const GROUPS: &[&str] = &[
    "exec",
    "wait",
    "throughput",
    "scale",
    "sandbox",
    "persist",
    "context",
    "output",
    "digest",
    "coord",
    "ui",
];

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Short run: fewer iterations everywhere (the whole table in a few minutes).
    #[arg(long)]
    pub quick: bool,
    /// Exec round trips to measure in the `exec` group (tmux gets a fifth of them).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Session creations to measure in the `exec` group.
    #[arg(long)]
    pub creations: Option<usize>,
    /// Groups to run (default: all): exec (also `create`), wait, throughput, scale, sandbox,
    /// persist, context, output, digest, coord, ui.
    pub groups: Vec<String>,
}

/// One line of the summary table.
struct Row {
    group: &'static str,
    operation: String,
    ours: f64,
    unit: String,
    baseline_name: String,
    baseline: Option<f64>,
    ratio: Option<f64>,
    target: String,
    pass: Option<bool>,
}

struct Ctx {
    root: PathBuf,
    target: PathBuf,
    quick: bool,
    iterations: Option<usize>,
    creations: Option<usize>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut groups: Vec<&'static str> = Vec::new();
    for name in &args.groups {
        let name = if name == "create" {
            "exec"
        } else {
            name.as_str()
        };
        let Some(group) = GROUPS.iter().find(|g| **g == name) else {
            bail!("no bench group `{name}` (groups: {})", GROUPS.join(", "));
        };
        if !groups.contains(group) {
            groups.push(group);
        }
    }
    if groups.is_empty() {
        groups = GROUPS.to_vec();
    }
    let ctx = Ctx {
        root,
        target,
        quick: args.quick,
        iterations: args.iterations,
        creations: args.creations,
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for group in groups {
        let began = Instant::now();
        eprintln!("\nxtask bench: === {group} ===");
        let result = match group {
            "exec" => exec(&ctx),
            "wait" => wait(&ctx),
            "throughput" => throughput(&ctx),
            "scale" => scale(&ctx),
            "sandbox" => sandbox(&ctx),
            "digest" => digest(&ctx),
            "coord" => coord(&ctx),
            "ui" => ui(&ctx),
            criterion => criterion_group(&ctx, criterion),
        };
        match result {
            Ok(Some(mut group_rows)) => rows.append(&mut group_rows),
            Ok(None) => notes.push(format!("{group}: no benchmark on this branch yet")),
            Err(error) => notes.push(format!("{group}: FAILED to run: {error:#}")),
        }
        eprintln!("xtask bench: {group} took {:.0?}", began.elapsed());
    }
    print_table(&rows, &notes);
    write_summary(&ctx, &rows, &notes, args.quick)?;
    eprintln!("xtask bench: done in {:.0?}", started.elapsed());
    if notes.iter().any(|n| n.contains("FAILED")) {
        bail!("some bench groups failed to run (see the notes above)");
    }
    Ok(())
}

/// The release `ai-session` binary every daemon-side benchmark runs, as users run it.
fn release_bin(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    cargo(&["build", "--release", "--quiet", "-p", "ai-session-cli"])?;
    Ok(ctx.target.join("release/ai-session"))
}

fn has_bench(ctx: &Ctx, name: &str) -> bool {
    ctx.root
        .join(format!("benches/benches/{name}.rs"))
        .is_file()
}

/// `cargo bench --bench <name>` with `env` and `<NAME>_BENCH_OUT` set to
/// `target/bench/<name>.json`, then the JSON report the bench wrote there; `None` when this
/// checkout has no such bench.
fn run_bench(ctx: &Ctx, name: &str, env: &[(&str, String)]) -> anyhow::Result<Option<Value>> {
    if !has_bench(ctx, name) {
        return Ok(None);
    }
    let out = ctx.target.join(format!("bench/{name}.json"));
    let _ = std::fs::remove_file(&out);
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo bench -p ai-session-benches --bench {name}");
    let mut cmd = Command::new(&cargo_bin);
    cmd.args([
        "bench",
        "--quiet",
        "-p",
        "ai-session-benches",
        "--bench",
        name,
    ])
    .current_dir(&ctx.root)
    .env(format!("{}_BENCH_OUT", name.to_uppercase()), &out);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{cargo_bin} bench`"))?;
    if !status.success() {
        bail!("the {name} benchmark failed ({status})");
    }
    let bytes = std::fs::read(&out)
        .with_context(|| format!("the {name} benchmark wrote no {}", out.display()))?;
    let report =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", out.display()))?;
    Ok(Some(report))
}

fn exec(ctx: &Ctx) -> anyhow::Result<Option<Vec<Row>>> {
    let bin = release_bin(ctx)?;
    let (iters, creations) = if ctx.quick { (300, 30) } else { (1000, 100) };
    let Some(report) = run_bench(
        ctx,
        "exec",
        &[
            ("AI_SESSION_BIN", bin.display().to_string()),
            (
                "EXEC_BENCH_ITERS",
                ctx.iterations.unwrap_or(iters).to_string(),
            ),
            (
                "EXEC_BENCH_CREATE",
                ctx.creations.unwrap_or(creations).to_string(),
            ),
        ],
    )?
    else {
        return Ok(None);
    };
    let rt = &report["exec_round_trip_ms"];
    let cr = &report["session_creation_ms"];
    let p50 = |v: &Value| v["p50"].as_f64().unwrap_or(f64::NAN);
    let ours_rt = p50(&rt["ai_session"]);
    let tmux_rt = p50(&rt["tmux"]);
    let raw_rt = p50(&rt["raw_pty_echo"]);
    let tokio_floor = p50(&rt["tokio_relay_floor_exit_mark"]);
    let ours_new = p50(&cr["ai_session"]);
    let raw_new = p50(&cr["raw_pty_spawn"]);
    let tmux_new = p50(&cr["tmux"]);
    let pty = &report["pty_exec_round_trip_ms"];
    let (pty_direct, pty_kept) = (p50(&pty["direct"]), p50(&pty["kept"]));
    let direct_rt = p50(&rt["ai_session_without_keeper"]);
    let restricted = &report["restricted_exec_round_trip_ms"];
    let restricted_rt = p50(&restricted["restricted"]);
    let unrestricted_rt = p50(&restricted["unrestricted"]);
    Ok(Some(vec![
        Row {
            group: "exec",
            operation: "exec round trip p50, daemon with the PTY keeper vs without".into(),
            ours: ours_rt,
            unit: "ms".into(),
            baseline_name: "daemon with AI_SESSION_KEEPER=off".into(),
            baseline: Some(direct_rt),
            ratio: Some(ours_rt / direct_rt),
            target: "<= 1.05x without (no regression beyond 5%)".into(),
            pass: Some(ours_rt / direct_rt <= 1.05),
        },
        Row {
            group: "exec",
            operation: "PTY layer exec round trip p50, kept (PTY keeper) vs direct".into(),
            ours: pty_kept,
            unit: "ms".into(),
            baseline_name: "direct session".into(),
            baseline: Some(pty_direct),
            ratio: Some(pty_kept / pty_direct),
            target: "<= 1.05x direct (no regression beyond 5%)".into(),
            pass: Some(pty_kept / pty_direct <= 1.05),
        },
        Row {
            group: "exec",
            operation: "restricted agent exec round trip p50 (sandbox, exec allowlist)".into(),
            ours: restricted_rt,
            unit: "ms".into(),
            baseline_name: "unrestricted session, same run".into(),
            baseline: Some(unrestricted_rt),
            ratio: Some(restricted_rt / unrestricted_rt),
            target: "<= 1.2x unrestricted".into(),
            pass: Some(restricted_rt / unrestricted_rt <= 1.2),
        },
        Row {
            group: "exec",
            operation: "exec round trip p50 vs tmux send-keys+capture-pane".into(),
            ours: ours_rt,
            unit: "ms".into(),
            baseline_name: "tmux".into(),
            baseline: Some(tmux_rt),
            ratio: Some(tmux_rt / ours_rt),
            target: ">= 10x faster than tmux".into(),
            pass: Some(tmux_rt / ours_rt >= 10.0),
        },
        Row {
            group: "exec",
            operation: "exec round trip p50 vs raw PTY echo".into(),
            ours: ours_rt,
            unit: "ms".into(),
            baseline_name: "raw PTY echo (portable-pty)".into(),
            baseline: Some(raw_rt),
            ratio: Some(ours_rt / raw_rt),
            target: "<= 2x raw PTY echo".into(),
            pass: Some(ours_rt / raw_rt <= 2.0),
        },
        Row {
            group: "exec",
            operation: "floor: a tokio relay of ai-session's shape that does nothing else".into(),
            ours: tokio_floor,
            unit: "ms".into(),
            baseline_name: "raw PTY echo (portable-pty)".into(),
            baseline: Some(raw_rt),
            ratio: Some(tokio_floor / raw_rt),
            target: "info (where the 2x target lies for a tokio daemon)".into(),
            pass: None,
        },
        Row {
            group: "exec",
            operation: "create session (shell ready) p50 vs raw PTY spawn".into(),
            ours: ours_new,
            unit: "ms".into(),
            baseline_name: "raw PTY spawn of bash".into(),
            baseline: Some(raw_new),
            ratio: Some(ours_new / raw_new),
            target: "<= 1.5x raw PTY spawn".into(),
            pass: Some(ours_new / raw_new <= 1.5),
        },
        Row {
            group: "exec",
            operation: "create session p50 vs tmux new-session -d".into(),
            ours: ours_new,
            unit: "ms".into(),
            baseline_name: "tmux new-session -d".into(),
            baseline: Some(tmux_new),
            ratio: Some(ours_new / tmux_new),
            target: "info (seed: < 100 ms)".into(),
            pass: Some(ours_new < 100.0),
        },
    ]))
}

fn wait(ctx: &Ctx) -> anyhow::Result<Option<Vec<Row>>> {
    let bin = release_bin(ctx)?;
    let iters = if ctx.quick { 60 } else { 200 };
    let Some(report) = run_bench(
        ctx,
        "wait",
        &[
            ("AI_SESSION_BIN", bin.display().to_string()),
            ("WAIT_BENCH_ITERS", iters.to_string()),
            ("WAIT_BENCH_SESSIONS", "100".to_owned()),
        ],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(rows_from("wait", &report)))
}

/// Groups whose bench writes `rows` in the summary's own shape.
fn rows_from(group: &'static str, report: &Value) -> Vec<Row> {
    report["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| Row {
                    group,
                    operation: r["operation"].as_str().unwrap_or("?").to_owned(),
                    ours: r["ours"].as_f64().unwrap_or(f64::NAN),
                    unit: r["unit"].as_str().unwrap_or("").to_owned(),
                    baseline_name: r["baseline_name"].as_str().unwrap_or("").to_owned(),
                    baseline: r["baseline"].as_f64(),
                    ratio: r["ratio"].as_f64(),
                    target: r["target"].as_str().unwrap_or("").to_owned(),
                    pass: r["pass"].as_bool(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The exec round trip with 100 sessions streaming to an open dashboard, beside the same with
/// no dashboard (benches/benches/ui.rs).
fn ui(ctx: &Ctx) -> anyhow::Result<Option<Vec<Row>>> {
    let bin = release_bin(ctx)?;
    let (iters, rounds) = if ctx.quick { (300, 3) } else { (1000, 5) };
    let Some(report) = run_bench(
        ctx,
        "ui",
        &[
            ("AI_SESSION_BIN", bin.display().to_string()),
            ("UI_BENCH_SESSIONS", "100".to_owned()),
            (
                "UI_BENCH_ITERS",
                ctx.iterations.unwrap_or(iters).to_string(),
            ),
            ("UI_BENCH_ROUNDS", rounds.to_string()),
        ],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(rows_from("ui", &report)))
}

fn throughput(ctx: &Ctx) -> anyhow::Result<Option<Vec<Row>>> {
    // Three even when quick: one repetition of each contender is too noisy to compare (~10 s).
    let reps = if ctx.quick { 3 } else { 5 };
    // The binary's `__keeper` mode holds the kept session of the side-by-side row.
    let bin = release_bin(ctx)?;
    let Some(report) = run_bench(
        ctx,
        "throughput",
        &[
            ("THROUGHPUT_BENCH_REPS", reps.to_string()),
            ("AI_SESSION_BIN", bin.display().to_string()),
        ],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(rows_from("throughput", &report)))
}

fn scale(ctx: &Ctx) -> anyhow::Result<Option<Vec<Row>>> {
    let bin = release_bin(ctx)?;
    let (tmux, secs) = if ctx.quick { (100, 2) } else { (300, 5) };
    let Some(report) = run_bench(
        ctx,
        "scale",
        &[
            ("AI_SESSION_BIN", bin.display().to_string()),
            ("SCALE_BENCH_SESSIONS", "1000".to_owned()),
            ("SCALE_BENCH_TMUX", tmux.to_string()),
            ("SCALE_BENCH_MSG_SECS", secs.to_string()),
        ],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(rows_from("scale", &report)))
}

fn sandbox(ctx: &Ctx) -> anyhow::Result<Option<Vec<Row>>> {
    let bin = release_bin(ctx)?;
    let iters = if ctx.quick { 60 } else { 200 };
    let Some(report) = run_bench(
        ctx,
        "sandbox",
        &[
            ("AI_SESSION_BIN", bin.display().to_string()),
            ("SANDBOX_BENCH_ITERS", iters.to_string()),
        ],
    )?
    else {
        return Ok(None);
    };
    let results = report["results"].as_array().cloned().unwrap_or_default();
    let bwrap = results
        .iter()
        .find(|r| r["name"].as_str().is_some_and(|n| n.contains("bwrap")))
        .and_then(|r| r["median_ms"].as_f64());
    let strict = results
        .iter()
        .find(|r| r["name"].as_str() == Some("ai-session sandbox --policy strict"))
        .and_then(|r| r["median_ms"].as_f64());
    let mut rows = Vec::new();
    for r in &results {
        let name = r["name"].as_str().unwrap_or("?");
        if !name.contains("ai-session") {
            continue;
        }
        let ours = r["median_ms"].as_f64().unwrap_or(f64::NAN);
        // A restricted agent's sandbox is held to plain strict, measured in the same run.
        if name.contains("exec allowlist") {
            let ratio = strict.map(|s| ours / s);
            rows.push(Row {
                group: "sandbox",
                operation: format!("sandbox start: {name}"),
                ours,
                unit: "ms".into(),
                baseline_name: "ai-session sandbox --policy strict".into(),
                baseline: strict,
                ratio,
                target: "<= 1.2x strict".into(),
                pass: ratio.map(|r| r <= 1.2),
            });
            continue;
        }
        let ratio = bwrap.map(|b| ours / b);
        rows.push(Row {
            group: "sandbox",
            operation: format!("sandbox start: {name}"),
            ours,
            unit: "ms".into(),
            baseline_name: "bwrap --unshare-all".into(),
            baseline: bwrap,
            ratio,
            target: "<= bwrap".into(),
            pass: ratio.map(|r| r <= 1.0),
        });
    }
    Ok(Some(rows))
}

/// The coord bench's own summary (criterion skipped): name, value, target (0 = none), unit.
fn coord(ctx: &Ctx) -> anyhow::Result<Option<Vec<Row>>> {
    let Some(report) = run_bench(
        ctx,
        "coord",
        &[("COORD_BENCH_SUMMARY_ONLY", "1".to_owned())],
    )?
    else {
        return Ok(None);
    };
    let rows = report
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let ours = r["value"].as_f64().unwrap_or(f64::NAN);
                    let target = r["target"].as_f64().filter(|t| *t > 0.0);
                    let unit = r["unit"].as_str().unwrap_or("").to_owned();
                    Row {
                        group: "coord",
                        operation: r["name"].as_str().unwrap_or("?").to_owned(),
                        ours,
                        baseline_name: if target.is_some() {
                            "target".into()
                        } else {
                            String::new()
                        },
                        baseline: target,
                        ratio: target.map(|t| ours / t),
                        target: target
                            .map_or("info".into(), |t| format!(">= {} {unit}", fmt_num(t))),
                        pass: target.map(|t| ours >= t),
                        unit,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(rows))
}

/// `cargo xtask corpus`: digest tokens vs raw over the shared corpus, facts kept; then the
/// fact-fidelity score over the differential corpus's large captures.
fn digest(ctx: &Ctx) -> anyhow::Result<Option<Vec<Row>>> {
    if !ctx.root.join("xtask/src/corpus.rs").is_file() {
        return Ok(None);
    }
    let xtask = std::env::current_exe().context("locate the xtask binary")?;
    let out = Command::new(&xtask)
        .arg("corpus")
        .current_dir(&ctx.root)
        .output()
        .context("run `cargo xtask corpus`")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    let total = stdout
        .lines()
        .find(|l| l.contains("**total"))
        .context("`cargo xtask corpus` printed no total row")?;
    let cells: Vec<&str> = total.split('|').map(str::trim).collect();
    // | **total (N)** | | raw | digest | reduction% | facts | must-keep |
    let raw: f64 = cells
        .get(3)
        .and_then(|c| c.parse().ok())
        .unwrap_or(f64::NAN);
    let digest: f64 = cells
        .get(4)
        .and_then(|c| c.parse().ok())
        .unwrap_or(f64::NAN);
    let facts = cells.get(6).copied().unwrap_or("?");
    let must_keep = cells.get(7).copied().unwrap_or("?");
    let all_kept = |cell: &str| cell.split_once('/').is_some_and(|(a, b)| a == b);
    let reduction = 1.0 - digest / raw;
    // Fact fidelity over the differential corpus's large captures: facts (counts, failing
    // names, file:line, first message lines from the tools' machine reports) the digest
    // keeps, beside plain head+tail truncation at the same budget.
    let fidelity = crate::differential::fidelity(400, true)?;
    let share = |kept: usize| kept as f64 / fidelity.facts.max(1) as f64;
    let fidelity_rows = [
        Row {
            group: "digest",
            operation: format!(
                "facts kept over {} large differential captures (digest vs head+tail, budget 400)",
                fidelity.captures
            ),
            ours: 100.0 * share(fidelity.digest_facts),
            unit: "% facts".into(),
            baseline_name: "head+tail truncation".into(),
            baseline: Some(100.0 * share(fidelity.truncation_facts)),
            ratio: Some(share(fidelity.digest_facts) / share(fidelity.truncation_facts).max(1e-9)),
            target: "100% of facts".into(),
            pass: Some(fidelity.digest_facts == fidelity.facts),
        },
        Row {
            group: "digest",
            operation: format!(
                "digest tokens vs raw over the same {} large captures",
                fidelity.captures
            ),
            ours: fidelity.digest_tokens as f64,
            unit: "tokens".into(),
            baseline_name: "raw (normalised) tokens".into(),
            baseline: Some(fidelity.raw_tokens as f64),
            ratio: Some(fidelity.digest_tokens as f64 / fidelity.raw_tokens.max(1) as f64),
            target: ">= 90% fewer tokens".into(),
            pass: Some(fidelity.reduction() >= 0.9),
        },
    ];
    Ok(Some(
        [Row {
            group: "digest",
            operation: format!(
                "digest tokens vs raw over the corpus (facts {facts}, must-keep {must_keep})"
            ),
            ours: digest,
            unit: "tokens".into(),
            baseline_name: "raw (normalised) tokens".into(),
            baseline: Some(raw),
            ratio: Some(digest / raw),
            target: ">= 90% fewer tokens, every fact kept".into(),
            pass: Some(
                reduction >= 0.9 && all_kept(facts) && all_kept(must_keep) && out.status.success(),
            ),
        }]
        .into_iter()
        .chain(fidelity_rows)
        .collect(),
    ))
}

/// Criterion groups: every benchmark the run produced, as throughput (or time) rows, with the
/// section 10 target where one applies.
fn criterion_group(ctx: &Ctx, name: &'static str) -> anyhow::Result<Option<Vec<Row>>> {
    if !has_bench(ctx, name) {
        return Ok(None);
    }
    let since = SystemTime::now();
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(&cargo_bin);
    cmd.args([
        "bench",
        "--quiet",
        "-p",
        "ai-session-benches",
        "--bench",
        name,
        "--",
    ])
    .current_dir(&ctx.root);
    if ctx.quick {
        cmd.args([
            "--warm-up-time",
            "0.5",
            "--measurement-time",
            "1",
            "--sample-size",
            "10",
        ]);
    }
    eprintln!("xtask: cargo bench -p ai-session-benches --bench {name}");
    let status = cmd.status().context("run cargo bench")?;
    if !status.success() {
        bail!("the {name} benchmark failed ({status})");
    }
    let mut rows = Vec::new();
    for bench in criterion_results(&ctx.target.join("criterion"), since) {
        let id = bench.id;
        let lower = id.to_lowercase();
        let (ours, unit) = match bench.throughput {
            // A snapshot's budget is a time, whatever throughput the bench declares.
            _ if name == "persist" && lower.contains("snapshot") => (bench.mean_ns / 1e6, "ms"),
            Some(("Bytes", n)) => (n / bench.mean_ns * 1e3, "MB/s"),
            Some((_, n)) => (n / bench.mean_ns * 1e9, "elem/s"),
            None => (bench.mean_ns / 1e6, "ms"),
        };
        let (target, pass): (String, Option<bool>) = match name {
            // Issue 7's target is compression itself; ingest (digest + exact counts) is info.
            "context" if lower.ends_with("/compress") && unit == "MB/s" => {
                (">= 100 MB/s".into(), Some(ours >= 100.0))
            }
            "output" if lower.contains("normalize_parse_digest") && unit == "MB/s" => {
                (">= 100 MB/s (10 MB mixed log)".into(), Some(ours >= 100.0))
            }
            "persist" if lower.contains("snapshot") && unit == "ms" => {
                ("<= 20 ms (1 MB, encrypted)".into(), Some(ours <= 20.0))
            }
            _ => ("info".into(), None),
        };
        rows.push(Row {
            group: name,
            operation: id,
            ours,
            unit: unit.into(),
            baseline_name: String::new(),
            baseline: None,
            ratio: None,
            target,
            pass,
        });
    }
    Ok(Some(rows))
}

struct CriterionResult {
    id: String,
    mean_ns: f64,
    throughput: Option<(&'static str, f64)>,
}

/// Benchmarks under `target/criterion` whose estimates were written after `since`.
fn criterion_results(dir: &Path, since: SystemTime) -> Vec<CriterionResult> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") {
                    if let Some(result) = read_criterion(&path, since) {
                        found.push(result);
                    }
                } else if path
                    .file_name()
                    .is_none_or(|n| n != "report" && n != "base")
                {
                    stack.push(path);
                }
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

fn read_criterion(new_dir: &Path, since: SystemTime) -> Option<CriterionResult> {
    let estimates = new_dir.join("estimates.json");
    let modified = std::fs::metadata(&estimates).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let est: Value = serde_json::from_slice(&std::fs::read(&estimates).ok()?).ok()?;
    let bench: Value =
        serde_json::from_slice(&std::fs::read(new_dir.join("benchmark.json")).ok()?).ok()?;
    let throughput = bench["throughput"].as_object().and_then(|t| {
        let (kind, n) = t.iter().next()?;
        let kind = if kind.contains("Bytes") {
            "Bytes"
        } else {
            "Elements"
        };
        Some((kind, n.as_f64()?))
    });
    Some(CriterionResult {
        id: bench["full_id"].as_str()?.to_owned(),
        mean_ns: est["mean"]["point_estimate"].as_f64()?,
        throughput,
    })
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn print_table(rows: &[Row], notes: &[String]) {
    println!("\n## cargo xtask bench summary\n");
    println!("| group | operation | ours | baseline (same run) | ratio | target | result |");
    println!("|---|---|---:|---|---:|---|---|");
    for r in rows {
        let baseline = match r.baseline {
            Some(b) if !r.baseline_name.is_empty() => {
                format!("{} {} {}", r.baseline_name, fmt_num(b), r.unit)
            }
            _ => "-".into(),
        };
        let ratio = r.ratio.map_or("-".into(), |x| format!("{x:.2}x"));
        let result = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "info",
        };
        println!(
            "| {} | {} | {} {} | {} | {} | {} | {} |",
            r.group,
            r.operation,
            fmt_num(r.ours),
            r.unit,
            baseline,
            ratio,
            r.target,
            result
        );
    }
    for note in notes {
        println!("\nnote: {note}");
    }
}

fn write_summary(ctx: &Ctx, rows: &[Row], notes: &[String], quick: bool) -> anyhow::Result<()> {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "group": r.group,
                "operation": r.operation,
                "ours": r.ours,
                "unit": r.unit,
                "baseline_name": r.baseline_name,
                "baseline": r.baseline,
                "ratio": r.ratio,
                "target": r.target,
                "pass": r.pass,
            })
        })
        .collect();
    let dir = ctx.target.join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("summary.json");
    let summary = json!({ "quick": quick, "rows": rows, "notes": notes });
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("write {}", path.display()))?;
    println!("\nJSON: {}", path.display());
    Ok(())
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(PathBuf::from)
        .context("xtask has no parent directory")
}
