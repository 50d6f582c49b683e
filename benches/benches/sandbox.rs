//! Sandbox startup overhead: `ai-session sandbox --policy strict -- true` against
//! `bwrap --unshare-all ... true` (and a plain spawn of `true` for reference), measured
//! interleaved in the same run so machine load hits every contender alike. Also the cost
//! of a restricted agent's sandbox (strict plus an execute allowlist) against plain strict,
//! and of strict's disk-quota overlay.
//!
//! Run through `cargo xtask bench sandbox`, which builds the release launcher and sets
//! `AI_SESSION_BIN`. Environment: `AI_SESSION_BIN` (the `ai-session` binary, or the
//! standalone `ai-session-sandbox`), `SANDBOX_BENCH_ITERS` (default 200),
//! `SANDBOX_BENCH_OUT` (JSON summary path).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Contender {
    name: &'static str,
    argv: Vec<String>,
    samples: Vec<Duration>,
}

fn launcher_argv(bin: &Path, policy: &[&str], workspace: &Path) -> Vec<String> {
    let mut argv = vec![bin.to_string_lossy().into_owned()];
    if bin.file_name().is_some_and(|n| n == "ai-session") {
        argv.push("sandbox".into());
    }
    argv.extend(policy.iter().map(|s| s.to_string()));
    argv.extend([
        "--workspace".into(),
        workspace.to_string_lossy().into_owned(),
        "--".into(),
        "true".into(),
    ]);
    argv
}

/// bwrap with the same view as `strict`: system dirs read-only (symlinks kept), fresh
/// /proc and /dev, private /tmp, the workspace read-write, every namespace unshared.
fn bwrap_argv(workspace: &Path) -> Vec<String> {
    let mut argv: Vec<String> = ["bwrap", "--unshare-all", "--die-with-parent"]
        .map(String::from)
        .to_vec();
    for dir in [
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    ] {
        let path = Path::new(dir);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(path).unwrap();
                argv.extend([
                    "--symlink".into(),
                    target.to_string_lossy().into_owned(),
                    dir.into(),
                ]);
            }
            Ok(_) => argv.extend(["--ro-bind".into(), dir.into(), dir.into()]),
            Err(_) => {}
        }
    }
    let ws = workspace.to_string_lossy().into_owned();
    argv.extend(
        [
            "--ro-bind",
            "/etc",
            "/etc",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--bind",
            &ws,
            &ws,
            "--chdir",
            &ws,
            "true",
        ]
        .map(String::from),
    );
    argv
}

fn run_once(argv: &[String]) -> Duration {
    let start = Instant::now();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", argv[0]));
    let elapsed = start.elapsed();
    assert!(status.success(), "{} failed: {status}", argv.join(" "));
    elapsed
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn have_bwrap() -> bool {
    Command::new("bwrap")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bin = PathBuf::from(
        std::env::var("AI_SESSION_BIN")
            .unwrap_or_else(|_| "target/release/ai-session-sandbox".into()),
    );
    let iterations: usize = std::env::var("SANDBOX_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let scratch = std::env::temp_dir().join(format!("sandbox-bench-{}", std::process::id()));
    let workspace = scratch.join("ws");
    std::fs::create_dir_all(&workspace).unwrap();
    let no_cgroup = scratch.join("strict-no-cgroup.toml");
    std::fs::write(
        &no_cgroup,
        "extends = \"strict\"\n[resource_limits]\ncgroup = \"off\"\n",
    )
    .unwrap();
    let no_cgroup_arg = no_cgroup.to_string_lossy().into_owned();
    let restricted = scratch.join("strict-restricted.toml");
    std::fs::write(
        &restricted,
        "extends = \"strict\"\n[exec]\nallow = [\"true\"]\n",
    )
    .unwrap();
    let restricted_arg = restricted.to_string_lossy().into_owned();
    let no_quota = scratch.join("strict-no-quota.toml");
    std::fs::write(
        &no_quota,
        "extends = \"strict\"\n[resource_limits]\ndisk_quota_mb = 0\n",
    )
    .unwrap();
    let no_quota_arg = no_quota.to_string_lossy().into_owned();

    let mut contenders = vec![
        Contender {
            name: "ai-session sandbox --policy strict",
            argv: launcher_argv(&bin, &["--policy", "strict"], &workspace),
            samples: vec![],
        },
        Contender {
            name: "ai-session sandbox strict, cgroup off",
            argv: launcher_argv(&bin, &["--policy-file", &no_cgroup_arg], &workspace),
            samples: vec![],
        },
        Contender {
            name: "ai-session sandbox strict + exec allowlist (restricted agent)",
            argv: launcher_argv(&bin, &["--policy-file", &restricted_arg], &workspace),
            samples: vec![],
        },
        Contender {
            name: "ai-session sandbox strict, no disk quota",
            argv: launcher_argv(&bin, &["--policy-file", &no_quota_arg], &workspace),
            samples: vec![],
        },
        Contender {
            name: "plain spawn of true (no sandbox)",
            argv: vec!["true".into()],
            samples: vec![],
        },
    ];
    let bwrap = have_bwrap();
    if bwrap {
        contenders.push(Contender {
            name: "bwrap --unshare-all (baseline)",
            argv: bwrap_argv(&workspace),
            samples: vec![],
        });
    } else {
        println!("bwrap is not installed (apt-get install -y bubblewrap): no baseline this run");
    }
    for contender in &contenders {
        for _ in 0..5 {
            run_once(&contender.argv);
        }
    }
    for _ in 0..iterations {
        for contender in &mut contenders {
            contender.samples.push(run_once(&contender.argv));
        }
    }
    let baseline = contenders
        .iter()
        .find(|c| c.name.starts_with("bwrap"))
        .map(|c| {
            let mut sorted = c.samples.clone();
            sorted.sort();
            percentile(&sorted, 0.5)
        });
    println!("sandbox startup, {iterations} interleaved runs each (command: true)");
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>12}",
        "", "median ms", "p90 ms", "p99 ms", "vs bwrap"
    );
    let mut json = Vec::new();
    for contender in &contenders {
        let mut sorted = contender.samples.clone();
        sorted.sort();
        let (p50, p90, p99) = (
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.9),
            percentile(&sorted, 0.99),
        );
        let ratio = baseline.map(|b| p50.as_secs_f64() / b.as_secs_f64());
        let ratio_text = ratio
            .map(|r| format!("{r:.2}x"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<40} {:>10.2} {:>10.2} {:>10.2} {:>12}",
            contender.name,
            ms(p50),
            ms(p90),
            ms(p99),
            ratio_text
        );
        json.push(format!(
            "{{\"name\":{:?},\"median_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"ratio_vs_bwrap\":{}}}",
            contender.name,
            ms(p50),
            ms(p90),
            ms(p99),
            ratio.map(|r| format!("{r:.3}")).unwrap_or_else(|| "null".into())
        ));
    }
    if let Some(strict) = contenders.first()
        && let Some(b) = baseline
    {
        let mut sorted = strict.samples.clone();
        sorted.sort();
        let ratio = percentile(&sorted, 0.5).as_secs_f64() / b.as_secs_f64();
        println!(
            "target: strict <= 1.0x bwrap: {}",
            if ratio <= 1.0 { "PASS" } else { "FAIL" }
        );
    }
    let median_of = |prefix: &str| {
        contenders
            .iter()
            .find(|c| c.name.starts_with(prefix))
            .map(|c| {
                let mut sorted = c.samples.clone();
                sorted.sort();
                percentile(&sorted, 0.5).as_secs_f64()
            })
    };
    if let (Some(strict), Some(restricted)) = (
        median_of("ai-session sandbox --policy strict"),
        median_of("ai-session sandbox strict + exec allowlist"),
    ) {
        let ratio = restricted / strict;
        println!(
            "target: restricted <= 1.2x strict ({ratio:.2}x): {}",
            if ratio <= 1.2 { "PASS" } else { "FAIL" }
        );
    }
    if let Ok(out) = std::env::var("SANDBOX_BENCH_OUT") {
        if let Some(dir) = Path::new(&out).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(
            &out,
            format!(
                "{{\"iterations\":{iterations},\"results\":[{}]}}\n",
                json.join(",")
            ),
        )
        .unwrap();
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
