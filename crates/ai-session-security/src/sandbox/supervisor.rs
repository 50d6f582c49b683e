//! The supervisor: the process the caller started. It stays in the host namespaces so it
//! can write the uid/gid maps, place the sandbox in a cgroup and remove that cgroup
//! afterwards, and it reports the program's exit status as its own.

use std::ffi::{CString, OsString};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::cgroup::Cgroup;
use super::{SandboxError, SandboxRequest, Step, StepContext, init};
use crate::policy::SecurityPolicy;

/// Signals a `kill(2)` from outside is forwarded for. Terminal-generated signals are not
/// forwarded: the kernel already delivers them to the whole foreground process group.
pub(super) const FORWARDED_SIGNALS: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The signals the supervisor and the sandbox init wait for synchronously.
pub(super) fn waited_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED_SIGNALS {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Everything the sandbox processes need, computed before `clone(2)` so the children
/// only execute the plan.
pub(super) struct LaunchPlan {
    pub policy: SecurityPolicy,
    /// Canonical workspace path (the same path inside and outside).
    pub workspace: PathBuf,
    /// Working directory of the program inside the sandbox.
    pub cwd: PathBuf,
    /// Extra binds: (host path, writable).
    pub extra_binds: Vec<(PathBuf, bool)>,
    /// The disk quota of the workspace (an overlay), when the policy sets one and the
    /// workspace is writable.
    pub quota: Option<Quota>,
    /// Init -> supervisor: the quota overlay's upper layer, as a descriptor (`SCM_RIGHTS`).
    pub changes_send: RawFd,
    /// The extra binds an agent's file grants make (see [`grant_binds`]); with grants, the
    /// workspace itself is not bound.
    pub grant_binds: Vec<(PathBuf, bool)>,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    /// `PATH` used to find the program.
    pub search_path: String,
    /// The signal mask to restore before `execve`.
    pub original_mask: SigSet,
    /// cgroup v1 `tasks` files the init writes `0` to, joining its cgroup itself.
    pub cgroup_join: Vec<RawFd>,
    /// The supervisor moves the init into the cgroup (v2): the init waits for its go-ahead
    /// before it starts the program.
    pub supervisor_joins_cgroup: bool,
    /// Our effective uid and gid, which the init maps to themselves in its user namespace.
    pub host_uid: u32,
    pub host_gid: u32,
    pub go_read: RawFd,
    pub go_write: RawFd,
    pub err_read: RawFd,
    pub err_write: RawFd,
}

/// The workspace's disk quota.
#[derive(Debug, Clone, Copy)]
pub(super) struct Quota {
    pub mib: u64,
    pub files: u64,
}

/// Inodes per MiB of quota when `disk_quota_files` is not set.
const FILES_PER_MIB: u64 = 64;

fn quota_of(policy: &SecurityPolicy) -> Option<Quota> {
    let limits = &policy.resource_limits;
    let mib = limits.disk_quota_mb.filter(|&mib| mib > 0)?;
    if !policy.fs_permissions.workspace_writable {
        return None;
    }
    Some(Quota {
        mib,
        files: limits
            .disk_quota_files
            .unwrap_or(mib.saturating_mul(FILES_PER_MIB))
            .max(16),
    })
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString, SandboxError> {
    CString::new(bytes).step(Step::Arguments, || format!("{what} contains a NUL byte"))
}

fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}

fn build_env(policy: &SecurityPolicy, workspace: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = policy
        .environment
        .pass
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|v| (OsString::from(name), v)))
        .collect();
    let home_visible = env
        .iter()
        .find(|(k, _)| k == "HOME")
        .is_some_and(|(_, home)| Path::new(home).starts_with(workspace));
    env.retain(|(k, _)| k != "HOME" || home_visible);
    if !home_visible {
        // The host home is not mounted; a private, writable home keeps tools working.
        env.push(("HOME".into(), "/tmp".into()));
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()));
    }
    for (k, v) in &policy.environment.set {
        env.retain(|(name, _)| name != k.as_str());
        env.push((k.into(), v.into()));
    }
    env.push(("AI_SESSION_SANDBOX".into(), policy.name.clone().into()));
    env
}

impl LaunchPlan {
    fn new(request: &SandboxRequest, fds: &Pipes) -> Result<Self, SandboxError> {
        let workspace = request.workspace.canonicalize().step(Step::Paths, || {
            format!(
                "workspace {} is not an existing directory",
                request.workspace.display()
            )
        })?;
        if !workspace.is_dir() {
            return Err(SandboxError::new(
                Step::Paths,
                format!("workspace {} is not a directory", workspace.display()),
            ));
        }
        let cwd = std::env::current_dir()
            .ok()
            .filter(|dir| dir.starts_with(&workspace))
            .unwrap_or_else(|| workspace.clone());
        let fs = &request.policy.fs_permissions;
        let mut extra_binds = Vec::new();
        for (list, writable) in [(&fs.read_only, false), (&fs.read_write, true)] {
            for path in list {
                let host = expand_home(path).canonicalize().step(Step::Paths, || {
                    format!("policy path {} does not exist", path.display())
                })?;
                extra_binds.push((host, writable));
            }
        }
        let grant_binds = grant_binds(&request.policy, &workspace);
        extra_binds.extend(grant_binds.iter().cloned());
        let env_pairs = build_env(&request.policy, &workspace);
        let search_path = env_pairs
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        let env = env_pairs
            .iter()
            .map(|(k, v)| {
                let mut entry = k.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(v.as_bytes());
                cstring(&entry, "an environment variable")
            })
            .collect::<Result<_, _>>()?;
        let argv = request
            .argv
            .iter()
            .map(|a| cstring(a.as_bytes(), "a program argument"))
            .collect::<Result<_, _>>()?;
        Ok(LaunchPlan {
            policy: request.policy.clone(),
            workspace,
            cwd,
            extra_binds,
            grant_binds,
            quota: quota_of(&request.policy),
            changes_send: fds.changes.1.as_raw_fd(),
            argv,
            env,
            search_path,
            original_mask: SigSet::empty(),
            cgroup_join: Vec::new(),
            supervisor_joins_cgroup: false,
            host_uid: nix::unistd::geteuid().as_raw(),
            host_gid: nix::unistd::getegid().as_raw(),
            go_read: fds.go.0.as_raw_fd(),
            go_write: fds.go.1.as_raw_fd(),
            err_read: fds.err.0.as_raw_fd(),
            err_write: fds.err.1.as_raw_fd(),
        })
    }
}

/// The binds an agent's file grants make: with grants the workspace itself is not bound
/// (an empty directory stands in its place), and each granted path is bound on its own,
/// read-only for a read grant and read-write for a write grant, parents before children, so
/// what no grant names is not in the view at all. Mounts, not only Landlock, because a
/// Landlock rule follows the path through mount points: a workspace under `/tmp` would
/// inherit the full access of the sandbox's `/tmp`. Paths in the fixed view (system
/// directories, `/etc`, `/dev`, `/proc`, `/sys`), `/` itself and paths missing on the host
/// are left out.
fn grant_binds(policy: &SecurityPolicy, workspace: &Path) -> Vec<(PathBuf, bool)> {
    let Some(grants) = &policy.fs_permissions.grants else {
        return Vec::new();
    };
    let fixed = ["/etc", "/dev", "/proc", "/sys"].map(PathBuf::from);
    let in_fixed_view = |path: &Path| {
        path == Path::new("/")
            || fixed.iter().any(|dir| path.starts_with(dir))
            || policy
                .fs_permissions
                .system_read_only
                .iter()
                .any(|dir| path.starts_with(dir))
    };
    let mut binds: Vec<(PathBuf, bool)> = Vec::new();
    let requested = grants
        .read
        .iter()
        .map(|p| (p, false))
        .chain(grants.write.iter().map(|p| (p, true)));
    for (path, writable) in requested {
        let Ok(host) = path.canonicalize() else {
            continue;
        };
        if in_fixed_view(&host) {
            continue;
        }
        // A grant does not make a read-only workspace writable.
        let writable =
            writable && (policy.fs_permissions.workspace_writable || !host.starts_with(workspace));
        match binds.iter_mut().find(|(bound, _)| *bound == host) {
            Some(existing) => existing.1 |= writable,
            None => binds.push((host, writable)),
        }
    }
    binds.sort_by_key(|(path, _)| path.components().count());
    binds
}

struct Pipes {
    /// Supervisor -> init: a byte once the init is in the cgroup (cgroup v2 only; EOF otherwise).
    go: (OwnedFd, OwnedFd),
    /// Sandbox -> supervisor: an encoded [`SandboxError`], or EOF when `execve` succeeded.
    err: (OwnedFd, OwnedFd),
    /// Init -> supervisor: the quota overlay's upper layer (a socket pair: receive, send).
    changes: (OwnedFd, OwnedFd),
}

/// Runs one sandboxed launch to completion.
pub(super) fn run(request: &SandboxRequest) -> Result<i32, SandboxError> {
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).step(Step::Namespaces, || "pipe2".into());
    let changes = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .step(Step::Namespaces, || "socketpair".into())?;
    let pipes = Pipes {
        go: pipe()?,
        err: pipe()?,
        changes,
    };
    let mut plan = LaunchPlan::new(request, &pipes)?;
    let cgroup = Cgroup::create(&request.policy.resource_limits)?;
    let join_handles = match &cgroup {
        Some(cgroup) => cgroup.self_join_handles()?,
        None => Vec::new(),
    };
    plan.cgroup_join = join_handles.iter().map(AsRawFd::as_raw_fd).collect();
    let waited = waited_signals();
    let mut original = SigSet::empty();
    signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), Some(&mut original))
        .step(Step::Signals, || "blocking signals".into())?;
    plan.original_mask = original;
    let supervisor_joins = cgroup.as_ref().filter(|_| join_handles.is_empty());
    plan.supervisor_joins_cgroup = supervisor_joins.is_some();
    let outcome = launch(&plan, pipes, supervisor_joins, &waited);
    drop(join_handles);
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&original), None);
    if let Some(cgroup) = cgroup {
        cgroup.remove();
    }
    outcome
}

fn launch(
    plan: &LaunchPlan,
    pipes: Pipes,
    cgroup: Option<&Cgroup>,
    waited: &SigSet,
) -> Result<i32, SandboxError> {
    // The init process runs Rust code (mount setup, then a fork for the program) on
    // this stack; it is touched lazily so the size costs address space, not memory.
    let mut stack = vec![0u8; 8 << 20];
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    // SAFETY: this process is single-threaded (`run_sandboxed` checked it, and nothing since
    // has started a thread), and without
    // CLONE_VM the child gets its own copy of the address space, so the callback's
    // borrows of `plan` stay valid in the child exactly as after fork(2).
    let child = unsafe {
        nix::sched::clone(
            Box::new(|| init::main(plan)),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .step(Step::Namespaces, || {
        "clone(CLONE_NEWUSER|NEWNS|NEWPID|NEWIPC|NEWUTS) (are unprivileged user namespaces enabled?)"
            .into()
    })?;
    let Pipes { go, err, changes } = pipes;
    drop(go.0);
    drop(err.1);
    drop(changes.1);
    // The init writes its own uid/gid maps (as bubblewrap does), so nothing has to go back
    // and forth before it builds the root. On cgroup v2 the supervisor moves it into the
    // cgroup meanwhile (a `cgroup.procs` write waits for an RCU grace period, so it overlaps
    // the mount work) and then gives the go-ahead the init waits for before it starts the
    // program; on v1 the init joins by itself, cheaply.
    if let Some(cgroup) = cgroup {
        let joined = cgroup.add(child).and_then(|()| {
            nix::unistd::write(&go.1, b"1")
                .map(drop)
                .step(Step::Sync, || "signalling the sandbox init".into())
        });
        if let Err(error) = joined {
            let _ = signal::kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            return Err(error);
        }
    }
    drop(go.1);
    let mut report = Vec::new();
    let _ = std::fs::File::from(err.0).read_to_end(&mut report);
    // The init sent the upper layer before it started the program (or failed first).
    let change_set = plan
        .quota
        .and_then(|_| receive_fd(&changes.0))
        .and_then(hold_change_set);
    drop(changes.0);
    let status = wait_forwarding(child, waited);
    if !report.is_empty() {
        return Err(SandboxError::decode(&report));
    }
    if let (Some(set), Ok(_)) = (&change_set, &status) {
        finish_changes(plan, set);
    }
    status
}

/// A descriptor sent over `socket` (`SCM_RIGHTS`), if one is waiting.
fn receive_fd(socket: &OwnedFd) -> Option<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::FromRawFd as _;
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let message = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    let fd = message.cmsgs().ok()?.find_map(|cmsg| match cmsg {
        ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
        _ => None,
    })?;
    // SAFETY: the kernel just installed `fd` in this process for this message; nothing
    // else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Keeps the upper layer open at [`super::changes::CHANGES_FD`] for the sandbox's life, so
/// the daemon reaches a live session's changes at `/proc/<our pid>/fd/100`.
/// When the caller left descriptor 100 open the set stays where it is (applied at the end
/// all the same, but not reachable from outside while the sandbox runs).
fn hold_change_set(fd: OwnedFd) -> Option<super::changes::ChangeSet> {
    let target = super::changes::CHANGES_FD;
    // SAFETY: F_GETFD only reads the flags of descriptor number `target`, touching no
    // memory; a number that is not open gives EBADF.
    let in_use = unsafe { libc::fcntl(target, libc::F_GETFD) } != -1;
    if in_use {
        return Some(super::changes::ChangeSet::from_fd(fd));
    }
    // SAFETY: `target` was just found closed, and this process is single-threaded, so no
    // other code can have opened it since: dup3 replaces nothing anything owns, and the
    // returned OwnedFd is its only owner.
    let held = unsafe { nix::unistd::dup3_raw(&fd, target, OFlag::O_CLOEXEC) }.ok()?;
    drop(fd);
    Some(super::changes::ChangeSet::from_fd(held))
}

/// At the sandbox's end: apply its workspace changes (or discard them), and say so on
/// stderr when the quota was reached, which is why writes failed with `ENOSPC`.
fn finish_changes(plan: &LaunchPlan, set: &super::changes::ChangeSet) {
    use crate::policy::WorkspaceChanges;
    if let Ok(usage) = set.usage()
        && usage.is_full()
    {
        eprintln!(
            "ai-session: the sandbox reached its disk quota ({} MiB, {} files) in {}; writes past it failed with ENOSPC",
            usage.quota_bytes >> 20,
            usage.quota_files,
            plan.workspace.display()
        );
    }
    let fs = &plan.policy.fs_permissions;
    let outcome = match (fs.workspace_changes, &fs.changes_dir) {
        (WorkspaceChanges::Apply, _) => set.apply(&plan.workspace).map(drop),
        (WorkspaceChanges::Keep, Some(dir)) => set.save_to(dir),
        (WorkspaceChanges::Keep, None) | (WorkspaceChanges::Discard, _) => Ok(()),
    };
    if let Err(error) = outcome {
        eprintln!(
            "ai-session: the sandbox's workspace changes could not be {}: {error}",
            if fs.workspace_changes == WorkspaceChanges::Apply {
                "applied"
            } else {
                "kept"
            }
        );
    }
}

/// Maps our uid and gid to themselves in the init's new user namespace. Runs in the init,
/// which may write its own maps because it created the namespace and maps only its own ids.
pub(super) fn write_own_id_maps(plan: &LaunchPlan) -> Result<(), SandboxError> {
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), &text).step(Step::UidMap, || {
            format!("writing {text:?} to /proc/self/{file}")
        })
    };
    // setgroups must be denied before an unprivileged gid_map write is accepted.
    write("setgroups", "deny".into())?;
    write("uid_map", format!("{0} {0} 1", plan.host_uid))?;
    write("gid_map", format!("{0} {0} 1", plan.host_gid))
}

/// Converts a wait status into a shell-style exit code.
pub(super) fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Waits for `child`, forwarding signals sent to us with `kill(2)`, and returns its
/// exit code.
fn wait_forwarding(child: Pid, waited: &SigSet) -> Result<i32, SandboxError> {
    loop {
        let (sig, from_process) = wait_signal(waited)?;
        if sig == Signal::SIGCHLD {
            match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(status) => {
                    if let Some(code) = exit_code(status) {
                        return Ok(code);
                    }
                }
                Err(Errno::ECHILD) => {
                    return Err(SandboxError::new(Step::Sync, "sandbox init vanished"));
                }
                Err(_) => {}
            }
        } else if from_process {
            let _ = signal::kill(child, sig);
        }
    }
}

/// Blocks until one of `set` is pending; returns it and whether a process sent it (as
/// opposed to the kernel, e.g. a terminal's ^C).
pub(super) fn wait_signal(set: &SigSet) -> Result<(Signal, bool), SandboxError> {
    loop {
        // SAFETY: siginfo_t is plain data for which all-zero is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t and `info` a valid out-pointer for the call.
        let rc = unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) };
        if rc < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(SandboxError::new(
                Step::Signals,
                format!("sigwaitinfo: {}", Errno::last()),
            ));
        }
        let Ok(sig) = Signal::try_from(rc) else {
            continue;
        };
        // SI_USER (0), SI_QUEUE (-1), SI_TKILL (-6): sent by a process.
        return Ok((sig, info.si_code <= 0));
    }
}
