//! `cargo xtask soak --minutes N`: drives a real daemon through the `ai-session` CLI for N
//! minutes (sessions created and killed, commands with small and large outputs, the daemon
//! SIGKILLed at random moments and restarted: every shell must survive in the PTY keeper and
//! be adopted by the next daemon with its pid), then checks that nothing leaked:
//! no zombies and no stray shells, the daemon's fd count back to its idle baseline, every
//! acknowledged command in `history`, and the daemon's memory flat over the final phase.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ai_session_benches::keepers_under;
use ai_session_benches::procfs::{describe, fd_count, processes_of_home, rss_kb, zombies_of};
use anyhow::{Context, bail};
use serde_json::Value;

const SERVER: &str = "soak";
const MAX_SESSIONS: usize = 12;

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long to run.
    #[arg(long, default_value_t = 3.0)]
    pub minutes: f64,
    /// Seed for the random schedule (default: from the clock; printed so a run can be replayed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The `ai-session` binary (default: build the debug one).
    #[arg(long)]
    pub bin: Option<PathBuf>,
}

pub fn run(args: &SoakArgs) -> anyhow::Result<()> {
    let root = crate::fuzz::workspace_root()?;
    let bin = match &args.bin {
        Some(bin) => bin.clone(),
        None => {
            crate::ci::cargo(&["build", "--quiet", "-p", "ai-session-cli"])?;
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            target.join("debug/ai-session")
        }
    };
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let home = std::env::temp_dir().join(format!("ai-session-soak-{}", std::process::id()));
    std::fs::create_dir_all(&home)?;
    let result = soak(&bin, &home, args.minutes, seed);
    // Whatever happened, leave no daemon or shell behind.
    let _ = cli(&bin, &home, &["kill-server"]);
    let _ = std::fs::remove_dir_all(&home);
    result
}

struct Soak<'a> {
    bin: &'a Path,
    home: &'a Path,
    rng: u64,
    daemon: Child,
    sessions: Vec<String>,
    next_session: usize,
    /// Acknowledged commands per session (in this daemon instance): marker strings.
    acked: BTreeMap<String, Vec<String>>,
    stats: Stats,
}

#[derive(Debug, Default)]
struct Stats {
    created: usize,
    killed: usize,
    execs: usize,
    large_execs: usize,
    large_bytes: u64,
    daemon_kills: usize,
    history_checked: usize,
    lost_by_restart: usize,
    adopted: usize,
}

fn soak(bin: &Path, home: &Path, minutes: f64, seed: u64) -> anyhow::Result<()> {
    eprintln!(
        "xtask soak: {minutes} min, seed {seed}, home {}",
        home.display()
    );
    let started = Instant::now();
    let total = Duration::from_secs_f64(minutes * 60.0);
    // Daemon kills happen in the first two thirds; the last third runs one daemon instance
    // so its memory and fds can be compared from start to end.
    let chaos_until = total.mul_f64(2.0 / 3.0);
    let daemon = start_daemon(bin, home)?;
    let mut soak = Soak {
        bin,
        home,
        rng: seed | 1,
        daemon,
        sessions: Vec::new(),
        next_session: 0,
        acked: BTreeMap::new(),
        stats: Stats::default(),
    };
    // The idle baseline is taken after one session came and went, so the descriptors a daemon
    // opens once and keeps (its PTY keeper's socket) are in it.
    for args in [
        &["new", "--name", "warmup"][..],
        &["kill", "-s", "warmup"][..],
    ] {
        let out = cli(bin, home, args)?;
        if !out.status.success() {
            bail!("`ai-session {}` failed: {}", args.join(" "), stderr(&out));
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let baseline_fds = fd_count(soak.daemon.id());
    eprintln!("xtask soak: idle daemon has {baseline_fds} fds");
    let mut next_kill = started + Duration::from_secs(10 + soak.rand(20));
    let mut final_phase: Option<(u64, usize)> = None;

    while started.elapsed() < total {
        if started.elapsed() < chaos_until && Instant::now() >= next_kill {
            soak.kill_daemon()?;
            next_kill = Instant::now() + Duration::from_secs(8 + soak.rand(25));
            continue;
        }
        if started.elapsed() >= chaos_until && final_phase.is_none() {
            // Warm the final instance up with one round of everything, then take its measure.
            soak.kill_all_sessions()?;
            soak.create()?;
            soak.exec_large()?;
            soak.kill_all_sessions()?;
            std::thread::sleep(Duration::from_millis(300));
            let rss = rss_kb(soak.daemon.id());
            eprintln!("xtask soak: final phase starts, daemon RSS {rss} KB");
            final_phase = Some((rss, fd_count(soak.daemon.id())));
        }
        match soak.rand(100) {
            0..=14 => soak.create()?,
            15..=24 => soak.kill_one()?,
            25..=34 => soak.exec_large()?,
            35..=39 => soak.check_history()?,
            _ => soak.exec_small()?,
        }
    }

    // Final checks on the last daemon instance.
    for session in soak.sessions.clone() {
        soak.verify_history(&session)?;
    }
    soak.kill_all_sessions()?;
    let pid = soak.daemon.id();
    // Kills signal process groups and reap asynchronously: give the last ones time to go, as
    // after a daemon SIGKILL, before judging what is left.
    let settle_until = Instant::now() + Duration::from_secs(10);
    std::thread::sleep(Duration::from_secs(1));
    while Instant::now() < settle_until
        && (fd_count(pid) > baseline_fds
            || processes_of_home(home, pid)
                .iter()
                .any(|p| !keepers_under(home).contains(p)))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let end_fds = fd_count(pid);
    let end_rss = rss_kb(pid);
    let keepers = keepers_under(home);
    let zombies = zombies_of(pid) + keepers.iter().map(|&k| zombies_of(k)).sum::<usize>();
    let strays: Vec<u32> = processes_of_home(home, pid)
        .into_iter()
        .filter(|p| !keepers.contains(p))
        .collect();
    let stats = &soak.stats;
    eprintln!("xtask soak: {stats:?}");
    let (start_rss, start_fds) = final_phase.unwrap_or((end_rss, baseline_fds));
    eprintln!(
        "xtask soak: daemon fds {baseline_fds} idle at start, {start_fds} at final phase, {end_fds} at end; \
         RSS {start_rss} KB -> {end_rss} KB over the final phase; zombies {zombies}; stray processes {}",
        strays.len()
    );
    let mut failures = Vec::new();
    if zombies > 0 {
        failures.push(format!(
            "{zombies} zombie children of the daemon or its keeper"
        ));
    }
    if !strays.is_empty() {
        failures.push(format!(
            "processes of sessions that no longer exist, 10 s after their kill: {}",
            describe(&strays)
        ));
    }
    if end_fds > baseline_fds {
        failures.push(format!(
            "daemon fds {end_fds} at the end > {baseline_fds} when idle at start (leak)"
        ));
    }
    // Allocator arenas keep some freed memory; a leak shows as steady growth well past that.
    if end_rss > start_rss + start_rss / 2 + 16 * 1024 {
        failures.push(format!(
            "daemon RSS grew from {start_rss} KB to {end_rss} KB over the final phase"
        ));
    }
    soak.daemon_stop();
    if !failures.is_empty() {
        bail!("soak failed (seed {seed}):\n  {}", failures.join("\n  "));
    }
    eprintln!(
        "xtask soak: PASS in {:.0?} (seed {seed}); acknowledged commands found in history \
         (including after daemon SIGKILLs, in restored sessions): {}; shells adopted with their \
         pid after a SIGKILL: {}; acknowledged commands in sessions that did not come back: {}",
        started.elapsed(),
        soak.stats.history_checked,
        soak.stats.adopted,
        soak.stats.lost_by_restart
    );
    Ok(())
}

impl Soak<'_> {
    /// xorshift64*: deterministic for a seed, no dependency.
    fn rand(&mut self, below: u64) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }

    fn pick(&mut self) -> Option<String> {
        if self.sessions.is_empty() {
            return None;
        }
        let i = self.rand(self.sessions.len() as u64) as usize;
        Some(self.sessions[i].clone())
    }

    fn create(&mut self) -> anyhow::Result<()> {
        if self.sessions.len() >= MAX_SESSIONS {
            return self.kill_one();
        }
        let name = format!("soak{}", self.next_session);
        self.next_session += 1;
        let out = cli(self.bin, self.home, &["new", "--name", &name])?;
        if !out.status.success() {
            bail!("`ai-session new --name {name}` failed: {}", stderr(&out));
        }
        self.sessions.push(name.clone());
        self.acked.insert(name, Vec::new());
        self.stats.created += 1;
        Ok(())
    }

    fn kill_one(&mut self) -> anyhow::Result<()> {
        let Some(name) = self.pick() else {
            return self.create();
        };
        self.verify_history(&name)?;
        let out = cli(self.bin, self.home, &["kill", "-s", &name])?;
        if !out.status.success() {
            bail!("`ai-session kill -s {name}` failed: {}", stderr(&out));
        }
        self.sessions.retain(|s| *s != name);
        self.acked.remove(&name);
        self.stats.killed += 1;
        Ok(())
    }

    fn kill_all_sessions(&mut self) -> anyhow::Result<()> {
        while !self.sessions.is_empty() {
            self.kill_one()?;
        }
        Ok(())
    }

    fn exec_small(&mut self) -> anyhow::Result<()> {
        let Some(name) = self.pick() else {
            return self.create();
        };
        let salt = self.rand(1_000_000);
        let marker = format!("m{}x{salt}", self.stats.execs);
        let code = self.rand(4);
        let command = format!("echo {marker}; (exit {code})");
        let json = self.exec_json(&name, &command)?;
        let text = json["output"]["text"].as_str().unwrap_or_default();
        if !text.contains(&marker) {
            bail!("exec in {name} lost its output: wanted {marker}, got {text:?}");
        }
        if json["exit_code"].as_i64() != Some(code as i64) {
            bail!("exec in {name}: exit code {} != {code}", json["exit_code"]);
        }
        self.acked.entry(name).or_default().push(command);
        self.stats.execs += 1;
        Ok(())
    }

    fn exec_large(&mut self) -> anyhow::Result<()> {
        let Some(name) = self.pick() else {
            return self.create();
        };
        let lines = 50_000 + self.rand(250_000);
        let command = format!("seq 1 {lines}");
        let json = self.exec_json(&name, &command)?;
        if json["exit_code"].as_i64() != Some(0) {
            bail!("`{command}` in {name} did not exit 0: {json}");
        }
        self.stats.large_bytes += json["output"]["bytes"].as_u64().unwrap_or(0);
        self.acked.entry(name).or_default().push(command);
        self.stats.large_execs += 1;
        self.stats.execs += 1;
        Ok(())
    }

    fn exec_json(&mut self, name: &str, command: &str) -> anyhow::Result<Value> {
        let out = cli(
            self.bin,
            self.home,
            &[
                "exec",
                "--format",
                "json",
                "-s",
                name,
                "--timeout",
                "120",
                "--",
                command,
            ],
        )?;
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "`ai-session exec -s {name} -- {command}` printed no JSON (status {}): {}",
                out.status,
                stderr(&out)
            )
        })
    }

    fn check_history(&mut self) -> anyhow::Result<()> {
        match self.pick() {
            Some(name) => self.verify_history(&name),
            None => Ok(()),
        }
    }

    /// Every acknowledged command of the session is in its history, in order.
    fn verify_history(&mut self, name: &str) -> anyhow::Result<()> {
        let out = cli(
            self.bin,
            self.home,
            &["history", "--format", "json", "-s", name],
        )?;
        if !out.status.success() {
            bail!("`ai-session history -s {name}` failed: {}", stderr(&out));
        }
        let json: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("history of {name} is not JSON"))?;
        let commands: Vec<&str> = json["commands"]
            .as_array()
            .or_else(|| json.as_array())
            .map(|a| a.iter().filter_map(|c| c["command"].as_str()).collect())
            .unwrap_or_default();
        let acked = self.acked.get(name).cloned().unwrap_or_default();
        let mut found = commands.iter();
        for command in &acked {
            if !found.any(|c| c == command) {
                bail!(
                    "acknowledged command `{command}` is missing from the history of {name} ({} commands listed)",
                    commands.len()
                );
            }
        }
        self.stats.history_checked += acked.len();
        Ok(())
    }

    fn kill_daemon(&mut self) -> anyhow::Result<()> {
        let pid = self.daemon.id();
        eprintln!(
            "xtask soak: SIGKILL daemon {pid} ({} sessions)",
            self.sessions.len()
        );
        let before = self.live_shells()?;
        self.daemon.kill().context("SIGKILL the daemon")?;
        self.daemon.wait().context("reap the daemon")?;
        self.stats.daemon_kills += 1;
        // The PTY keeper holds the terminals and shells: they go on without a daemon.
        std::thread::sleep(Duration::from_millis(200));
        let died: Vec<u32> = before
            .values()
            .copied()
            .filter(|pid| !Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        if !died.is_empty() {
            bail!("shells died with their SIGKILLed daemon (the PTY keeper holds them): {died:?}");
        }
        self.daemon = start_daemon(self.bin, self.home)?;
        // The next daemon adopts every shell: same pid, history continued.
        let after = self.live_shells()?;
        for name in std::mem::take(&mut self.sessions) {
            match (before.get(&name), after.get(&name)) {
                (Some(old), Some(new)) if old != new => {
                    bail!(
                        "session {name} came back as a fresh shell (pid {old} -> {new}), not adopted"
                    )
                }
                (_, Some(_)) => {
                    self.stats.adopted += usize::from(before.contains_key(&name));
                    self.verify_history(&name)?;
                    self.sessions.push(name);
                }
                (_, None) => {
                    self.stats.lost_by_restart += self.acked.remove(&name).map_or(0, |a| a.len());
                }
            }
        }
        Ok(())
    }

    /// Session id -> shell pid of every live session the daemon lists.
    fn live_shells(&self) -> anyhow::Result<std::collections::HashMap<String, u32>> {
        let out = cli(self.bin, self.home, &["ls", "--format", "json"])?;
        let listed: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("`ls --format json` is not JSON: {}", stderr(&out)))?;
        Ok(listed["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["alive"] == true)
            .filter_map(|s| Some((s["id"].as_str()?.to_owned(), s["pid"].as_u64()? as u32)))
            .collect())
    }

    fn daemon_stop(&mut self) {
        let _ = cli(self.bin, self.home, &["kill-server"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn start_daemon(bin: &Path, home: &Path) -> anyhow::Result<Child> {
    let child = Command::new(bin)
        .args(["server", "--server", SERVER])
        .env("AI_SESSION_HOME", home)
        .env("AI_SESSION_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start {} server", bin.display()))?;
    let socket = home.join("run").join(format!("{SERVER}.sock"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        if Instant::now() > deadline {
            bail!(
                "the daemon did not listen on {} within 20 s",
                socket.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(child)
}

fn cli(bin: &Path, home: &Path, args: &[&str]) -> anyhow::Result<Output> {
    Command::new(bin)
        .args(["--server", SERVER])
        .args(args)
        .env("AI_SESSION_HOME", home)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {} {args:?}", bin.display()))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}
