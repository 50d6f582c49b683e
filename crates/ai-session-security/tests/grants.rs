//! An agent's grants compiled into the sandbox, checked through the real launcher: what a
//! restricted agent may run, read, write and connect to is what the kernel lets it. Every
//! refused attempt is first run with the same policy minus the grant compilation (the
//! operator's session), where it must succeed, so each test can fail.
//!
//! Also the measurements behind `docs/security.md`, "What the execute right covers".

use std::path::Path;
use std::process::{Command, Output};

use ai_session_security::grants::restrict_policy;
use ai_session_security::sandbox::sandbox_argv_with_exe;
use ai_session_security::{AgentCapabilities, Preset, SecurityPolicy};

const LAUNCHER: &str = env!("CARGO_BIN_EXE_ai-session-sandbox");
#[cfg(target_arch = "x86_64")]
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

struct Jail {
    workspace: tempfile::TempDir,
}

impl Jail {
    fn new() -> Jail {
        let workspace = tempfile::Builder::new()
            .prefix("grants-ws-")
            .tempdir()
            .unwrap();
        std::fs::write(workspace.path().join("f"), "FILE-CONTENT\n").unwrap();
        Jail { workspace }
    }

    fn path(&self) -> &Path {
        self.workspace.path()
    }

    fn run(&self, policy: &SecurityPolicy, argv: &[&str]) -> Output {
        let program: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        let full = sandbox_argv_with_exe(LAUNCHER, policy, self.path(), &program);
        Command::new(&full[0])
            .args(&full[1..])
            .current_dir(self.path())
            .output()
            .unwrap()
    }

    fn sh(&self, policy: &SecurityPolicy, script: &str) -> Output {
        self.run(policy, &["/bin/bash", "-c", script])
    }
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn agent(grants: &[&str]) -> AgentCapabilities {
    grants
        .iter()
        .fold(AgentCapabilities::new("bot"), |agent, g| {
            agent.grant(ai_session_security::profiles::parse_grant(g).unwrap())
        })
}

/// The operator's policy and the same policy compiled for `grants`.
fn policies(preset: Preset, grants: &[&str]) -> (SecurityPolicy, SecurityPolicy) {
    let base = SecurityPolicy::preset(preset);
    let restricted = restrict_policy(&base, &agent(grants));
    (base, restricted)
}

#[test]
fn a_granted_interpreter_cannot_start_an_ungranted_program() {
    let jail = Jail::new();
    let (free, bot) = policies(
        Preset::Strict,
        &[
            "process-spawn:ls",
            "process-spawn:echo",
            "process-spawn:python3",
        ],
    );
    let script = "import os, sys
status = os.system('cat f')
try:
    os.execv('/usr/bin/cat', ['cat', 'f'])
except OSError as e:
    print('execv errno', e.errno)
    sys.exit(3)";
    let out = jail.run(&free, &["python3", "-c", script]);
    assert_eq!(
        stdout(&out),
        "FILE-CONTENT\nFILE-CONTENT\n",
        "unrestricted, cat runs: {}",
        text(&out)
    );
    let out = jail.run(&bot, &["python3", "-c", script]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(stdout(&out), "execv errno 13\n", "{}", text(&out));
}

#[test]
fn quoting_does_not_matter_to_the_kernel_and_python_still_runs() {
    let jail = Jail::new();
    let (_, bot) = policies(Preset::Strict, &["process-spawn:python3"]);
    let out = jail.run(&bot, &["python3", "-c", "import os; print(1)"]);
    assert_eq!(stdout(&out), "1\n", "{}", text(&out));
}

#[test]
fn the_shell_runs_granted_programs_only() {
    let jail = Jail::new();
    let (free, bot) = policies(Preset::Strict, &["process-spawn:ls"]);
    let script = "ls f; cat f; echo cat=$?; python3 -c 'print(2)'; echo py=$?";
    let out = jail.sh(&free, script);
    assert_eq!(
        stdout(&out),
        "f\nFILE-CONTENT\ncat=0\n2\npy=0\n",
        "{}",
        text(&out)
    );
    let out = jail.sh(&bot, script);
    assert_eq!(stdout(&out), "f\ncat=126\npy=126\n", "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out)
    );
}

/// The loader started directly runs any file it can read and map executable: ungranted
/// programs are therefore unreadable, and what is written inside is `noexec`.
#[cfg(target_arch = "x86_64")] // LOADER is x86_64's
#[test]
fn the_dynamic_loader_cannot_run_what_execve_may_not() {
    let jail = Jail::new();
    std::fs::copy("/usr/bin/true", jail.path().join("copied-true")).unwrap();
    let (free, bot) = policies(Preset::Strict, &[]);
    for (script, free_out, bot_out) in [
        (
            format!("{LOADER} /usr/bin/cat f; echo rc=$?"),
            "FILE-CONTENT\nrc=0\n",
            "rc=127\n",
        ),
        (
            format!("{LOADER} ./copied-true; echo rc=$?; ./copied-true; echo direct=$?"),
            "rc=0\ndirect=0\n",
            "rc=127\ndirect=126\n",
        ),
        (
            format!("cp /usr/bin/true /tmp/t; {LOADER} /tmp/t; echo tmp=$?"),
            "tmp=0\n",
            // cp is not granted either.
            "tmp=127\n",
        ),
    ] {
        let out = jail.sh(&free, &script);
        assert_eq!(stdout(&out), free_out, "{script}: {}", text(&out));
        let out = jail.sh(&bot, &script);
        assert_eq!(stdout(&out), bot_out, "{script}: {}", text(&out));
    }
}

/// A memfd is not seen by Landlock: under an allowlist it must be sealed non-executable.
#[test]
fn a_memfd_cannot_smuggle_a_program_in() {
    let jail = Jail::new();
    let (free, bot) = policies(Preset::Strict, &["process-spawn:python3"]);
    let script = "import os
try:
    fd = os.memfd_create('x', 0)
except OSError as e:
    print('memfd_create errno', e.errno); raise SystemExit(0)
os.write(fd, open('/proc/self/exe', 'rb').read())
pid = os.fork()
if pid == 0:
    try:
        os.execve(fd, ['py', '-c', 'print(\"smuggled\")'], {})
    except OSError as e:
        print('fexecve errno', e.errno); os._exit(3)
os.waitpid(pid, 0)
sealed = os.memfd_create('y', 8)  # MFD_NOEXEC_SEAL still works
print('sealed ok')";
    let out = jail.run(&free, &["python3", "-c", script]);
    assert_eq!(stdout(&out), "smuggled\nsealed ok\n", "{}", text(&out));
    let out = jail.run(&bot, &["python3", "-c", script]);
    assert_eq!(stdout(&out), "memfd_create errno 1\n", "{}", text(&out));
}

#[test]
fn a_script_brings_its_interpreter_and_libraries_need_no_execute() {
    let jail = Jail::new();
    let tools = tempfile::tempdir().unwrap();
    let tool = tools.path().join("greet");
    std::fs::write(
        &tool,
        "#!/usr/bin/env python3\nimport ctypes, zlib\nctypes.CDLL('libz.so.1')\nprint('greeted')\n",
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (_, mut bot) = policies(Preset::Strict, &[]);
    bot.fs_permissions.read_only.push(tools.path().to_owned());
    bot.exec.allow = Some(vec![tool.to_string_lossy().into_owned()]);
    let out = jail.sh(&bot, &format!("{}; echo rc=$?", tool.display()));
    assert_eq!(stdout(&out), "greeted\nrc=0\n", "{}", text(&out));
    // Granting the script granted its interpreter, but nothing else.
    let out = jail.sh(
        &bot,
        "env python3 -c 'print(3)'; echo env=$?; ls; echo ls=$?",
    );
    assert_eq!(stdout(&out), "3\nenv=0\nls=126\n", "{}", text(&out));
}

#[test]
fn file_grants_become_path_rules() {
    let jail = Jail::new();
    let mine = jail.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("data"), "OUTSIDE\n").unwrap();
    let grants = [
        "process-spawn:cat".to_owned(),
        "process-spawn:touch".to_owned(),
        format!("file-write:{}", mine.display()),
        format!("file-read:{}", outside.path().display()),
    ];
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    let (free, bot) = policies(Preset::Strict, &grants);
    let script = format!(
        "touch mine/a; echo mine=$?; touch b; echo top=$?; cat f; echo read=$?; cat {}/data; echo out=$?",
        outside.path().display()
    );
    let out = jail.sh(&free, &script);
    assert!(
        stdout(&out).contains("top=0\nFILE-CONTENT\nread=0\n"),
        "unrestricted: {}",
        text(&out)
    );
    std::fs::remove_file(jail.path().join("b")).unwrap();
    std::fs::remove_file(mine.join("a")).unwrap();
    let out = jail.sh(&bot, &script);
    assert_eq!(
        stdout(&out),
        "mine=0\ntop=1\nread=1\nOUTSIDE\nout=0\n",
        "{}",
        text(&out)
    );
    assert!(mine.join("a").exists());
    assert!(!jail.path().join("b").exists());
}

#[test]
fn network_grants_become_connect_ports() {
    let jail = Jail::new();
    let (free, bot) = policies(
        Preset::Workspace,
        &["process-spawn:python3", "network-connect:127.0.0.1:18080"],
    );
    let script = "import socket
servers = []
for port in (18080, 18081):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', port)); s.listen(); servers.append(s)
for port in (18080, 18081):
    c = socket.socket()
    try:
        c.connect(('127.0.0.1', port)); print(port, 'connected')
    except OSError as e:
        print(port, 'errno', e.errno)";
    let out = jail.run(&free, &["python3", "-c", script]);
    assert_eq!(
        stdout(&out),
        "18080 connected\n18081 connected\n",
        "{}",
        text(&out)
    );
    let out = jail.run(&bot, &["python3", "-c", script]);
    assert_eq!(
        stdout(&out),
        "18080 connected\n18081 errno 13\n",
        "{}",
        text(&out)
    );
}

#[test]
fn the_session_launcher_builds_the_same_sandbox() {
    let jail = Jail::new();
    let bot = agent(&["process-spawn:ls"]);
    let needs = ai_session_security::SessionNeeds::default();
    let mut argv = ai_session_security::session_launcher(
        &SecurityPolicy::preset(Preset::Strict),
        Some(&bot),
        jail.path(),
        &needs,
        &[
            "/bin/bash".into(),
            "-c".into(),
            "ls f; cat f; echo $?".into(),
        ],
    )
    .unwrap();
    argv[0] = LAUNCHER.to_owned();
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(jail.path())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "f\n126\n", "{}", text(&out));
}
