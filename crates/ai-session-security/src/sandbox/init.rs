//! The sandbox's pid 1: builds the filesystem view, starts the program, then reaps
//! orphans and forwards signals until the program exits, and exits with its status
//! (the kernel then kills whatever is left in the pid namespace).

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, Signal};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::supervisor::{
    FORWARDED_SIGNALS, LaunchPlan, exit_code, wait_signal, waited_signals, write_own_id_maps,
};
use super::{EXIT_SANDBOX_FAILED, SandboxError, Step, StepContext, netdev, program, rootfs};
use crate::policy::NetworkMode;

/// Hostname inside the sandbox's UTS namespace.
pub const SANDBOX_HOSTNAME: &str = "ai-session-sandbox";

/// Body of the cloned init process; the return value is its exit status.
pub(super) fn main(plan: &LaunchPlan) -> isize {
    let _ = nix::unistd::close(plan.go_write);
    let _ = nix::unistd::close(plan.err_read);
    match setup_and_supervise(plan) {
        Ok(code) => code as isize,
        Err(error) => {
            report(plan.err_write, &error);
            EXIT_SANDBOX_FAILED as isize
        }
    }
}

/// Sends a failed step to the supervisor over the error pipe.
pub(super) fn report(fd: RawFd, error: &SandboxError) {
    // SAFETY: `fd` is the error pipe's write end, open in this process until it exits.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let _ = nix::unistd::write(fd, &error.encode());
}

fn setup_and_supervise(plan: &LaunchPlan) -> Result<i32, SandboxError> {
    // If the supervisor dies, so does the sandbox (and with its init, all of it).
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .step(Step::Sync, || "PR_SET_PDEATHSIG".into())?;
    write_own_id_maps(plan)?;
    join_cgroup(plan)?;
    install_forwarding_handlers()?;
    nix::unistd::sethostname(SANDBOX_HOSTNAME).step(Step::Hostname, || "sethostname".into())?;
    let network =
        netdev::create_in_background(plan.policy.network_policy.mode == NetworkMode::Loopback)?;
    if let Some(upper) = rootfs::build(plan)? {
        send_fd(plan.changes_send, upper)?;
    }
    network.enter()?;
    if plan.supervisor_joins_cgroup {
        wait_for_go(plan.go_read)?;
    }
    let _ = nix::unistd::close(plan.go_read);
    let program = spawn_program(plan)?;
    // The init needs no descriptor any more: close everything it inherited (the error
    // pipe included, so the supervisor sees EOF once the program has exec'ed).
    // SAFETY: close_range only closes descriptors; nothing in this process uses them.
    unsafe { libc::close_range(3, libc::c_uint::MAX, 0) };
    // The init keeps its capabilities inside the user namespace; non-dumpable, its /proc
    // entries are closed to the (unprivileged) program even without the ptrace filter.
    nix::sys::prctl::set_dumpable(false).step(Step::Fork, || "PR_SET_DUMPABLE".into())?;
    supervise(program)
}

/// Starts the program process the way `posix_spawn` does: `CLONE_VM | CLONE_VFORK`, on a
/// stack of its own. Sharing the address space until `execve` spares copying the init's
/// page tables and the copy-on-write faults and teardown that follow (a plain `fork` cost
/// ~0.15 ms here); the init is suspended until the program has exec'ed or exited, so the
/// two never run on the shared memory at the same time.
fn spawn_program(plan: &LaunchPlan) -> Result<Pid, SandboxError> {
    // Restricting and exec'ing needs a few dozen KiB; the rest is never touched.
    let mut stack = vec![0u8; 1 << 20];
    // SAFETY: the init is single-threaded and blocked in clone(2) until the child has called
    // execve or _exit (CLONE_VFORK), so nothing else touches the shared memory meanwhile.
    // Everything the child changes that is not memory (credentials, Landlock, seccomp,
    // rlimits, cwd, fd table, signal mask) is per task without CLONE_THREAD, CLONE_FS,
    // CLONE_FILES and CLONE_SIGHAND, so it stays with the child. `program::main` never
    // returns, and `stack` outlives the child's use of it.
    unsafe {
        nix::sched::clone(
            Box::new(|| program::main(plan)),
            &mut stack,
            CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .step(Step::Fork, || "starting the program process".into())
}

/// cgroup v1: move this (single-threaded) process into each group through the `tasks`
/// descriptors the supervisor opened (see `Cgroup::self_join_handles`).
fn join_cgroup(plan: &LaunchPlan) -> Result<(), SandboxError> {
    for fd in &plan.cgroup_join {
        // SAFETY: the descriptor was opened by the supervisor and inherited; only this
        // function uses it, and it is closed right after.
        let handle = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
        nix::unistd::write(handle, b"0").step(Step::Cgroup, || {
            "joining the cgroup (write 0 to tasks)".into()
        })?;
        let _ = nix::unistd::close(*fd);
    }
    Ok(())
}

/// Hands the quota overlay's upper layer to the supervisor (`SCM_RIGHTS`).
fn send_fd(socket: RawFd, fd: std::os::fd::OwnedFd) -> Result<(), SandboxError> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd as _;
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"u")];
    sendmsg::<()>(
        socket,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .step(Step::MountRoot, || {
        "handing the quota overlay to the supervisor".into()
    })
}

fn wait_for_go(fd: RawFd) -> Result<(), SandboxError> {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(
            // SAFETY: `fd` is the go pipe's read end, owned by this process.
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            &mut byte,
        ) {
            Ok(1) => break,
            Ok(_) => {
                return Err(SandboxError::new(
                    Step::Sync,
                    "the supervisor exited before the sandbox was set up",
                ));
            }
            Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(SandboxError::new(
                    Step::Sync,
                    format!("reading the go pipe: {e}"),
                ));
            }
        }
    }
    Ok(())
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// pid 1 of a namespace only receives signals it has a handler for; the handler is never
/// run (the signals stay blocked and are taken with `sigwaitinfo`), it only makes them
/// deliverable.
fn install_forwarding_handlers() -> Result<(), SandboxError> {
    let action = SigAction::new(
        SigHandler::Handler(ignore_signal),
        SaFlags::SA_RESTART,
        signal::SigSet::empty(),
    );
    for sig in FORWARDED_SIGNALS.into_iter().chain([Signal::SIGCHLD]) {
        // SAFETY: `ignore_signal` is async-signal-safe (it does nothing).
        unsafe { signal::sigaction(sig, &action) }
            .step(Step::Signals, || format!("sigaction({sig})"))?;
    }
    Ok(())
}

fn supervise(program: Pid) -> Result<i32, SandboxError> {
    let waited = waited_signals();
    loop {
        let (sig, from_process) = wait_signal(&waited)?;
        if sig != Signal::SIGCHLD {
            if from_process {
                let _ = signal::kill(program, sig);
            }
            continue;
        }
        // Reap everything that exited: the program and any orphan re-parented to us.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(status) if status.pid() == Some(program) => {
                    if let Some(code) = exit_code(status) {
                        return Ok(code);
                    }
                }
                Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
