//! The sandbox launcher behind `ai-session __sandbox-exec` and `ai-session sandbox`.
//!
//! Process tree of one launch (see `docs/security.md` for every step):
//!
//! ```text
//! supervisor (host namespaces)   cgroup, uid/gid maps, signal forwarding, exit status, cleanup
//!  └─ init (pid 1 of the sandbox)  hostname, loopback, new root, /proc, /dev, /tmp; reaps orphans
//!      └─ program                  rlimits, capabilities, no_new_privs, Landlock, seccomp, execve
//! ```

mod args;
mod cgroup;
pub mod changes;
mod exec_allowlist;
#[allow(unsafe_code)] // clone(2) of the program, raw descriptors, sigaction
mod init;
mod landlock_rules;
#[allow(unsafe_code)] // the SIOCGSKNS / SIOCSIFFLAGS ioctls
mod netdev;
#[allow(unsafe_code)] // prctl(PR_SET_SECUREBITS), close_range, _exit
mod program;
#[allow(unsafe_code)] // mount_setattr(2), which libc does not wrap
mod rootfs;
#[allow(unsafe_code)] // the install-time measurement forks (tests only)
mod seccomp;
mod session;
#[allow(unsafe_code)] // clone(2) into the new namespaces, sigwaitinfo
mod supervisor;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

pub use args::{SANDBOX_EXEC_SUBCOMMAND, parse_sandbox_exec_args};
pub use seccomp::{DEFAULT_DENIED_SYSCALLS, syscall_number};
pub use session::{
    LauncherError, SessionNeeds, agent_launcher, agent_launcher_with_exe, session_launcher,
    session_launcher_with_exe, session_policy,
};

use crate::policy::SecurityPolicy;

/// Exit status of a launch that failed in one of the sandbox steps (before the program ran).
pub const EXIT_SANDBOX_FAILED: i32 = 125;
/// Exit status when the program exists but could not be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status when the program was not found inside the sandbox.
pub const EXIT_NOT_FOUND: i32 = 127;

/// One step of the launch, named in every error so a failure says exactly what broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading the `__sandbox-exec` arguments.
    Arguments,
    /// Resolving the workspace and extra paths.
    Paths,
    /// Creating the cgroup and writing its limits.
    Cgroup,
    /// Blocking and forwarding signals.
    Signals,
    /// `clone(2)` with user, mount, pid, ipc and uts namespaces; the network namespace
    /// (created by the init on a helper thread, then entered).
    Namespaces,
    /// Writing `setgroups`, `uid_map`, `gid_map`.
    UidMap,
    /// Waiting for the supervisor's go-ahead.
    Sync,
    /// Setting the sandbox hostname.
    Hostname,
    /// Bringing up the private loopback interface.
    Loopback,
    /// Building the new root from bind mounts.
    MountRoot,
    /// Mounting a fresh `/proc`.
    Proc,
    /// Building the minimal `/dev`.
    Dev,
    /// Mounting the private `/tmp`.
    Tmp,
    /// `pivot_root(2)` and detaching the old root.
    PivotRoot,
    /// Starting the program process.
    Fork,
    /// Applying rlimits.
    Rlimits,
    /// Dropping every capability.
    Capabilities,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// Applying the Landlock ruleset.
    Landlock,
    /// Installing the seccomp filter.
    Seccomp,
    /// `execve(2)` of the program.
    Exec,
}

impl Step {
    /// The step's name as printed in errors and documented in `docs/security.md`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Arguments => "arguments",
            Step::Paths => "paths",
            Step::Cgroup => "cgroup",
            Step::Signals => "signals",
            Step::Namespaces => "namespaces",
            Step::UidMap => "uid-map",
            Step::Sync => "sync",
            Step::Hostname => "hostname",
            Step::Loopback => "loopback",
            Step::MountRoot => "mount-root",
            Step::Proc => "proc",
            Step::Dev => "dev",
            Step::Tmp => "tmp",
            Step::PivotRoot => "pivot-root",
            Step::Fork => "fork",
            Step::Rlimits => "rlimits",
            Step::Capabilities => "capabilities",
            Step::NoNewPrivs => "no-new-privs",
            Step::Landlock => "landlock",
            Step::Seccomp => "seccomp",
            Step::Exec => "exec",
        }
    }

    const ALL: [Step; 21] = [
        Step::Arguments,
        Step::Paths,
        Step::Cgroup,
        Step::Signals,
        Step::Namespaces,
        Step::UidMap,
        Step::Sync,
        Step::Hostname,
        Step::Loopback,
        Step::MountRoot,
        Step::Proc,
        Step::Dev,
        Step::Tmp,
        Step::PivotRoot,
        Step::Fork,
        Step::Rlimits,
        Step::Capabilities,
        Step::NoNewPrivs,
        Step::Landlock,
        Step::Seccomp,
        Step::Exec,
    ];

    fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A launch that did not reach the program: which step failed and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("sandbox step '{step}' failed: {detail}")]
pub struct SandboxError {
    /// The step that failed.
    pub step: Step,
    /// What failed, on which input.
    pub detail: String,
    /// The exit status the launcher exits with (125, or 126/127 for `exec`).
    pub exit_code: i32,
}

impl SandboxError {
    pub(crate) fn new(step: Step, detail: impl Into<String>) -> Self {
        SandboxError {
            step,
            detail: detail.into(),
            exit_code: EXIT_SANDBOX_FAILED,
        }
    }

    /// Encodes for the error pipe between the sandbox processes and the supervisor.
    fn encode(&self) -> Vec<u8> {
        format!("{}\0{}\0{}", self.step.name(), self.exit_code, self.detail).into_bytes()
    }

    fn decode(bytes: &[u8]) -> SandboxError {
        let text = String::from_utf8_lossy(bytes);
        let mut parts = text.splitn(3, '\0');
        let step = parts.next().and_then(Step::from_name).unwrap_or(Step::Sync);
        let exit_code = parts
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(EXIT_SANDBOX_FAILED);
        let detail = parts.next().unwrap_or("(no detail)").to_owned();
        SandboxError {
            step,
            detail,
            exit_code,
        }
    }
}

/// Adds the step name to a fallible call's error.
pub(crate) trait StepContext<T> {
    fn step(self, step: Step, what: impl FnOnce() -> String) -> Result<T, SandboxError>;
}

impl<T, E: fmt::Display> StepContext<T> for Result<T, E> {
    fn step(self, step: Step, what: impl FnOnce() -> String) -> Result<T, SandboxError> {
        self.map_err(|e| SandboxError::new(step, format!("{}: {e}", what())))
    }
}

/// Everything one launch needs: the policy, the workspace and the program.
#[derive(Debug, Clone)]
pub struct SandboxRequest {
    /// The policy to enforce.
    pub policy: SecurityPolicy,
    /// The directory visible (and writable unless the policy says otherwise) inside.
    pub workspace: PathBuf,
    /// Program and arguments; the program is looked up in the sandbox's `PATH`.
    pub argv: Vec<OsString>,
}

/// Runs `request.argv` inside the sandbox in the foreground, with inherited stdio, and
/// returns its exit status (128 + N when killed by signal N).
///
/// A `trusted` policy (no sandbox) replaces the current process with the program and
/// only returns on failure. Any failed sandbox step returns the [`SandboxError`] naming
/// the step; the program never runs with less isolation than asked for.
///
/// The launcher forks without `exec` (the sandbox init runs Rust code in the child), which
/// is only sound in a single-threaded process: another thread could hold a lock (the
/// allocator's, stdio's) that the child would wait for forever. So a multi-threaded caller
/// gets an error (step `namespaces`) instead; call it first thing in `main`, before any
/// thread or async runtime starts, or spawn the launcher binary (`sandbox_argv`).
pub fn run_sandboxed(request: &SandboxRequest) -> Result<i32, SandboxError> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(SandboxError::new(
            Step::Namespaces,
            format!(
                "run_sandboxed needs a single-threaded process (the launcher forks), and this one \
                 has {threads} threads: call it before starting any thread or runtime, or spawn \
                 the launcher (`sandbox_argv`) as a child process"
            ),
        ));
    }
    if request.argv.is_empty() {
        return Err(SandboxError::new(
            Step::Arguments,
            "no program given after `--`",
        ));
    }
    if !request.policy.sandbox {
        return Err(program::exec_unsandboxed(&request.argv));
    }
    supervisor::run(request)
}

/// The number of threads of this process (`Threads:` in `/proc/self/status`).
fn thread_count() -> Result<usize, SandboxError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .step(Step::Namespaces, || "reading /proc/self/status".into())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
        .ok_or_else(|| SandboxError::new(Step::Namespaces, "no thread count in /proc/self/status"))
}

/// Entry point of the hidden `ai-session __sandbox-exec` subcommand: `args` are the
/// arguments after the subcommand name (`--policy-json J | --policy P | --policy-file F`,
/// `--workspace DIR`, `--`, program argv). Returns the exit status for the caller to
/// exit with; prints a failed step to stderr as `sandbox step '<step>' failed: ...`.
pub fn sandbox_exec_main<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let outcome = parse_sandbox_exec_args(args).and_then(|request| run_sandboxed(&request));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ai-session: {error}");
            error.exit_code
        }
    }
}

/// The argv that runs `program_argv` under `policy` with `workspace`, through the
/// current executable's hidden `__sandbox-exec` subcommand. A `trusted` policy returns
/// `program_argv` unchanged.
pub fn sandbox_argv(
    policy: &SecurityPolicy,
    workspace: &Path,
    program_argv: &[String],
) -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "ai-session".to_owned());
    sandbox_argv_with_exe(&exe, policy, workspace, program_argv)
}

/// [`sandbox_argv`] with an explicit launcher executable (for tools other than
/// `ai-session` that embed the launcher).
pub fn sandbox_argv_with_exe(
    exe: &str,
    policy: &SecurityPolicy,
    workspace: &Path,
    program_argv: &[String],
) -> Vec<String> {
    if !policy.sandbox {
        return program_argv.to_vec();
    }
    let policy_json = serde_json::to_string(policy).unwrap_or_default();
    let mut argv = vec![
        exe.to_owned(),
        SANDBOX_EXEC_SUBCOMMAND.to_owned(),
        "--policy-json".to_owned(),
        policy_json,
        "--workspace".to_owned(),
        workspace.to_string_lossy().into_owned(),
        "--".to_owned(),
    ];
    argv.extend(program_argv.iter().cloned());
    argv
}

/// The policy name and workspace a launcher argv built by [`sandbox_argv`] applies, or
/// `None` when `argv` is not the sandbox launcher (an unsandboxed session). For the audit
/// log's record of the policy a session was created under.
pub fn launcher_policy(argv: &[String]) -> Option<(String, String)> {
    if argv.get(1).map(String::as_str) != Some(SANDBOX_EXEC_SUBCOMMAND) {
        return None;
    }
    let value_of = |flag: &str| {
        argv.iter()
            .take_while(|a| *a != "--")
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
    };
    let name = value_of("--policy-json")
        .and_then(|json| serde_json::from_str::<SecurityPolicy>(json).ok())
        .map_or_else(|| "unreadable policy".to_owned(), |p| p.name);
    let workspace = value_of("--workspace").cloned().unwrap_or_default();
    Some((name, workspace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Preset;

    #[test]
    fn launcher_policy_reads_back_what_sandbox_argv_wrote() {
        let argv = sandbox_argv_with_exe(
            "/bin/ai-session",
            &SecurityPolicy::preset(Preset::Strict),
            Path::new("/work/x"),
            &["bash".to_owned()],
        );
        assert_eq!(
            launcher_policy(&argv),
            Some(("strict".to_owned(), "/work/x".to_owned()))
        );
        assert_eq!(launcher_policy(&["bash".to_owned()]), None);
        assert_eq!(launcher_policy(&[]), None);
    }

    #[test]
    fn a_multi_threaded_caller_is_refused() {
        // The test harness runs tests on threads of its own, so this process has several.
        let _other = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(2)));
        let request = SandboxRequest {
            policy: SecurityPolicy::preset(Preset::Strict),
            workspace: PathBuf::from("/"),
            argv: vec!["true".into()],
        };
        let error = run_sandboxed(&request).unwrap_err();
        assert_eq!(error.step, Step::Namespaces);
        assert!(error.detail.contains("single-threaded"), "{error}");
        assert!(thread_count().unwrap() > 1);
    }

    #[test]
    fn errors_survive_the_pipe_encoding() {
        let error = SandboxError {
            step: Step::Landlock,
            detail: "kernel said no".into(),
            exit_code: 125,
        };
        let back = SandboxError::decode(&error.encode());
        assert_eq!(
            back.to_string(),
            "sandbox step 'landlock' failed: kernel said no"
        );
        assert_eq!(back.exit_code, 125);
    }

    #[test]
    fn sandbox_argv_round_trips_through_the_parser() {
        let policy = SecurityPolicy::preset(Preset::Strict);
        let argv = sandbox_argv_with_exe(
            "/bin/ai-session",
            &policy,
            Path::new("/work/ws"),
            &["bash".into(), "-c".into(), "echo hi".into()],
        );
        assert_eq!(argv[1], SANDBOX_EXEC_SUBCOMMAND);
        let request = parse_sandbox_exec_args(argv.into_iter().skip(2)).unwrap();
        assert_eq!(request.policy, policy);
        assert_eq!(request.workspace, Path::new("/work/ws"));
        assert_eq!(request.argv, ["bash", "-c", "echo hi"].map(OsString::from));
    }

    #[test]
    fn trusted_policy_leaves_argv_alone() {
        let policy = SecurityPolicy::preset(Preset::Trusted);
        let argv = sandbox_argv_with_exe("x", &policy, Path::new("/"), &["true".into()]);
        assert_eq!(argv, ["true"]);
    }
}
