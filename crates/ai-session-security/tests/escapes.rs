//! Escape attempts against the real sandbox. Every attempt is first run unsandboxed and
//! must succeed there (printing `ESCAPED`), so each test can fail; then it runs inside the
//! sandbox under each listed preset and must be blocked. The attempts themselves are the
//! small Python programs in `escape_attempts.py` (raw syscalls through ctypes).
//!
//! The disk-fill probes write past the `strict` disk quota (one big file, many small
//! ones): unsandboxed they fill the real disk (and clean up), under `strict` they stop at
//! the quota overlay with `ENOSPC`.
//!
//! Several attempts only succeed unsandboxed for root (ptrace of any process, bpf,
//! perf_event_open, TIOCSTI on a terminal that is not the controlling one); the suite
//! therefore runs as root, as it does here and in CI, and is skipped otherwise.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

const LAUNCHER: &str = env!("CARGO_BIN_EXE_ai-session-sandbox");
const ATTEMPTS: &str = include_str!("escape_attempts.py");
const PYTHON: &str = "/usr/bin/python3";
const ENV_SECRET: &str = "AI_SESSION_ESCAPE_SECRET";

/// Host-side things to escape to: a secret, listeners, a victim process.
struct Fixture {
    _host_dir: tempfile::TempDir,
    workspace: tempfile::TempDir,
    secret: PathBuf,
    outside_target: PathBuf,
    victim: Child,
    params: String,
}

fn serve_forever<S: Write + Send + 'static>(
    mut accept: impl FnMut() -> Option<S> + Send + 'static,
) {
    std::thread::spawn(move || {
        while let Some(mut stream) = accept() {
            let _ = stream.write_all(b"host-listener\n");
        }
    });
}

impl Fixture {
    fn new() -> Fixture {
        let host_dir = tempfile::Builder::new()
            .prefix("escape-host-")
            .tempdir()
            .unwrap();
        let workspace = tempfile::Builder::new()
            .prefix("escape-ws-")
            .tempdir()
            .unwrap();
        let secret = host_dir.path().join("secret.txt");
        std::fs::write(&secret, "TOPSECRET\n").unwrap();
        std::os::unix::fs::symlink(&secret, workspace.path().join("link-to-secret")).unwrap();
        std::fs::create_dir(workspace.path().join("mnt")).unwrap();

        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        serve_forever(move || tcp.accept().ok().map(|(s, _)| s));
        let unix_path = host_dir.path().join("host.sock");
        let unix = UnixListener::bind(&unix_path).unwrap();
        serve_forever(move || unix.accept().ok().map(|(s, _)| s));
        let abstract_name = format!("ai-session-escape-{}-{}", std::process::id(), tcp_port);
        let abstract_listener =
            UnixListener::bind_addr(&SocketAddr::from_abstract_name(&abstract_name).unwrap())
                .unwrap();
        serve_forever(move || abstract_listener.accept().ok().map(|(s, _)| s));

        // A uniquely named host process to find, signal and trace.
        let marker = format!("3599.{tcp_port}");
        let victim = Command::new("sleep").arg(&marker).spawn().unwrap();
        let params = serde_json::json!({
            "secret": secret,
            "outside_target": host_dir.path().join("written-from-inside"),
            "tcp_port": tcp_port,
            "unix_path": unix_path,
            "abstract_name": abstract_name,
            "host_pid": std::process::id(),
            "victim_pid": victim.id(),
            "marker": marker,
            "mount_target": workspace.path().join("mnt"),
            "fork_target": 400,
            // Past the strict quota: 256 MiB and 64 files per MiB.
            "fill_big_mib": 300,
            "fill_files": 20_000,
        })
        .to_string();
        Fixture {
            outside_target: host_dir.path().join("written-from-inside"),
            _host_dir: host_dir,
            workspace,
            secret,
            victim,
            params,
        }
    }

    /// Runs `attempt` with a pseudo-terminal as stdin (for the TIOCSTI attempt) and the
    /// host secret in the environment of whatever is started.
    fn run(&self, prefix: &[&str], attempt: &str) -> Output {
        let pty = nix::pty::openpty(None, None).unwrap();
        let stdin: OwnedFd = pty.slave;
        let mut command = Command::new(prefix[0]);
        command
            .args(&prefix[1..])
            .args([PYTHON, "-c", ATTEMPTS, attempt, &self.params])
            .current_dir(self.workspace.path())
            .env(ENV_SECRET, "hunter2")
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = command.output().unwrap();
        drop(pty.master);
        output
    }

    fn run_sandboxed(&self, policy: &str, attempt: &str) -> Output {
        let workspace = self.workspace.path().to_str().unwrap();
        self.run(
            &[LAUNCHER, "--policy", policy, "--workspace", workspace, "--"],
            attempt,
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.victim.kill();
        let _ = self.victim.wait();
    }
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn first_line(output: &Output) -> String {
    BufReader::new(&output.stdout[..])
        .lines()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The attempt escapes without the sandbox and is blocked under every listed preset.
fn check(attempt: &str, presets: &[&str], unsandboxed_prefix: &[&str]) {
    if !is_root() {
        eprintln!("skipping {attempt}: the escape suite runs as root (as in CI)");
        return;
    }
    let fixture = Fixture::new();
    let free = fixture.run(
        if unsandboxed_prefix.is_empty() {
            &["env"]
        } else {
            unsandboxed_prefix
        },
        attempt,
    );
    assert!(
        first_line(&free).starts_with("ESCAPED"),
        "{attempt} does not even work unsandboxed, so it proves nothing:\n{}",
        describe(&free)
    );
    let _ = std::fs::remove_file(&fixture.outside_target);
    for preset in presets {
        let jailed = fixture.run_sandboxed(preset, attempt);
        let line = first_line(&jailed);
        assert!(
            jailed.status.success() && line.starts_with("BLOCKED"),
            "{attempt} under `{preset}` was not blocked:\n{}",
            describe(&jailed)
        );
        assert!(
            !fixture.outside_target.exists(),
            "{attempt} under `{preset}` wrote outside the workspace"
        );
        assert_eq!(
            std::fs::read_to_string(&fixture.secret).unwrap(),
            "TOPSECRET\n"
        );
        eprintln!("{attempt} under {preset}: {line}");
    }
}

const BOTH: &[&str] = &["strict", "workspace"];
const STRICT: &[&str] = &["strict"];

macro_rules! escape_tests {
    ($($name:ident: $presets:expr $(, unsandboxed via $prefix:expr)?;)*) => {
        $(
            #[test]
            fn $name() {
                let prefix: &[&[&str]] = &[$($prefix)?];
                check(stringify!($name), $presets, &prefix.concat());
            }
        )*
    };
}

const PRIVATE_MOUNT_NS: &[&str] = &["unshare", "--mount", "--propagation", "private"];
const PRIVATE_UTS_NS: &[&str] = &["unshare", "--uts"];

escape_tests! {
    read_secret: BOTH;
    write_outside: BOTH;
    symlink_to_secret: BOTH;
    hardlink_to_secret: BOTH;
    proc_pid_root: BOTH;
    read_etc_shadow: BOTH;
    tcp_connect_host: BOTH;
    unix_socket_path: BOTH;
    unix_socket_abstract: BOTH;
    signal_host_process: BOTH;
    ptrace_host_process: BOTH;
    ptrace_own_child: BOTH;
    // Unsandboxed, the mount happens in a private mount namespace so the test leaves
    // nothing mounted on the host; the privileges are the caller's.
    mount_tmpfs: BOTH, unsandboxed via PRIVATE_MOUNT_NS;
    nested_userns_unshare: BOTH;
    nested_userns_clone: BOTH;
    tiocsti_injection: BOTH;
    keyctl_add_key: BOTH;
    bpf_map_create: BOTH;
    perf_event_open: BOTH;
    io_uring_setup: BOTH;
    fork_bomb: STRICT;
    allocate_4gib: STRICT;
    see_host_processes: BOTH;
    // Unsandboxed in a private UTS namespace so the test does not rename the machine.
    change_hostname: BOTH, unsandboxed via PRIVATE_UTS_NS;
    read_host_env_secret: BOTH;
    disk_fill_big_file: STRICT;
    disk_fill_many_files: STRICT;
}

#[test]
fn the_host_hostname_is_untouched() {
    let before = nix::unistd::gethostname().unwrap();
    let fixture = Fixture::new();
    let out = fixture.run_sandboxed("strict", "change_hostname");
    assert!(
        first_line(&out).starts_with("BLOCKED"),
        "{}",
        describe(&out)
    );
    assert_eq!(nix::unistd::gethostname().unwrap(), before);
}
