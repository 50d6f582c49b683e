//! `ai-session ui` end to end: a real daemon, the real dashboard process and Debian's chromium
//! driven by playwright-core (`tests/ui/dashboard.mjs`). Without chromium or the npm packages
//! (`cargo xtask ui` installs them) this fails in CI and skips locally.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{Home, eventually, stderr};

const CHROMIUM: &str = "/usr/bin/chromium";

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ai-session/ui-web")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} is missing (apt-get install chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is missing (apt-get install nodejs)".to_owned());
    }
    if !web_dir().join("node_modules/playwright-core").is_dir() {
        return Some("playwright-core is not installed (run `cargo xtask ui`)".to_owned());
    }
    None
}

/// The dashboard process; SIGTERMed (then killed) when dropped.
struct Ui {
    child: Child,
    url: String,
}

impl Ui {
    fn start(home: &Home) -> Ui {
        let mut child = home
            .command(&["ui", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ai-session ui");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("read the URL");
        let url = first.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.contains("/?token="),
            "the first stdout line is not the dashboard URL: {url:?}"
        );
        Ui { child, url }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let stopped = eventually(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs the CLI; `expect` is the exit code it must end with.
fn cli(home: &Home, args: &[&str], expect: i32) {
    let out = home.run(args);
    assert_eq!(
        out.status.code(),
        Some(expect),
        "{args:?}: {}",
        stderr(&out)
    );
}

#[test]
fn the_dashboard_shows_sessions_live_and_hands_a_terminal_to_a_person() {
    if let Some(missing) = missing_tools() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the dashboard's browser test cannot run in CI: {missing}"
        );
        eprintln!("skipping: {missing}");
        return;
    }
    let home = Home::new();
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let work = work.canonicalize().unwrap();
    let cwd = work.to_str().unwrap();
    for (agent, session) in [
        (Some("builder"), "ok"),
        (Some("builder"), "bad"),
        (Some("tester"), "busy"),
        (Some("tester"), "ask"),
        (None, "gone"),
        (None, "term"),
    ] {
        let mut args = Vec::new();
        if let Some(agent) = agent {
            args.extend(["--agent", agent]);
        }
        args.extend(["new", "--name", session, "--cwd", cwd]);
        cli(&home, &args, 0);
    }
    let run = |agent: &str, session: &str, flags: &[&str], command: &str, expect: i32| {
        let mut args = vec!["--agent", agent, "exec", "-s", session];
        args.extend(flags);
        args.extend(["--", command]);
        cli(&home, &args, expect);
    };
    run("builder", "ok", &[], "true", 0);
    run("builder", "bad", &[], "false", 1);
    // Still running when exec answers: 120.
    run("tester", "busy", &["--background"], "sleep 300", 120);
    cli(&home, &["send", "-s", "gone", "exit", "Enter"], 0);

    let ui = Ui::start(&home);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-e2e");
    std::fs::create_dir_all(&shots).unwrap();
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let status = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/dashboard.mjs"))
        .env("UI_URL", &ui.url)
        .env("AI_SESSION_BIN", support::BIN)
        .env("AI_SESSION_HOME", home.path())
        .env_remove("AI_SESSION_SERVER")
        .env_remove("AI_SESSION_AGENT")
        .env("UI_WEB_DIR", web_dir())
        .env("UI_SHOTS", &shots)
        .env("UI_WORKDIR", cwd)
        .current_dir(home.path())
        .status()
        .expect("run node");
    assert!(
        status.success(),
        "the browser checks failed ({status}); see above"
    );

    // What the browser did, seen from outside it.
    assert_eq!(
        std::fs::read_to_string(work.join("taken.txt")).unwrap(),
        "typed-42\n"
    );
    let (records, _) = home.json(&[
        "audit",
        "query",
        "--session",
        "term",
        "--action",
        "send",
        "--format",
        "json",
    ]);
    let by_operator: String = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["agent_id"].is_null())
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert!(
        by_operator.contains("echo typed-$((40+2)) | tee taken.txt"),
        "the take-over keystrokes are not in the audit log as the operator's: {records}"
    );
    for shot in [
        "board.png",
        "board-awaiting.png",
        "terminal.png",
        "audit.png",
        "plots.png",
    ] {
        let size = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(
            size > 1000,
            "screenshot {shot} missing or empty under {}",
            shots.display()
        );
    }
    eprintln!("screenshots: {}", shots.display());
    drop(ui);
}
