//! Which session a connecting process belongs to, from the kernel rather than from what it
//! claims: the peer's pid comes from `SO_PEERCRED` (the kernel fills it in at `connect`),
//! and is held by a pidfd (`SO_PEERPIDFD`) while the daemon looks it up, so a pid that is
//! reused meanwhile is noticed.
//!
//! - **Sandboxed sessions**: the launcher starts the sandbox's init in a new pid namespace,
//!   and every process the session starts lives in that namespace or below it; a process
//!   cannot leave its pid namespace (`setns` only moves future children, and the sandbox's
//!   seccomp filter denies it anyway). So the peer's `/proc/<pid>/ns/pid` names the session.
//! - **Unsandboxed sessions**: the peer's ancestors (`PPid` in `/proc/<pid>/stat`) and its
//!   session id are compared with the sessions' shells. Best effort: a process that
//!   double-forks and calls `setsid` leaves both, as it could leave any tree; the daemon
//!   cannot confine what the kernel does not.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt as _;

/// Ancestors followed before giving up (the deepest process trees are far shallower).
const MAX_DEPTH: usize = 4096;

/// Where a connecting process is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Peer {
    /// In no session of this daemon: its agent is what it declares.
    #[default]
    Outside,
    /// A process of `session`.
    InSession {
        /// The session.
        session: String,
        /// Its owner (`None`: the operator).
        owner: Option<String>,
        /// Whether the session runs in a sandbox (found by its pid namespace).
        sandboxed: bool,
    },
}

/// One session as the lookup sees it.
#[derive(Debug, Clone)]
pub(crate) struct SessionProcess {
    /// Session id.
    pub id: String,
    /// The process the PTY started: the sandbox launcher, or the shell itself.
    pub pid: i32,
    /// Its owner.
    pub owner: Option<String>,
    /// The sandbox's pid namespace (inode of `/proc/<init>/ns/pid`); `None` for an
    /// unsandboxed session, or a sandboxed one whose init could not be found.
    pub pidns: Option<u64>,
    /// Whether it runs through the sandbox launcher.
    pub sandboxed: bool,
}

/// Finds the session `pid` belongs to. `pidfd` (when the kernel gave one) must still refer
/// to a live process after the lookup, or the answer could be about another process that got
/// the same pid. Blocking (reads `/proc`).
pub(crate) fn identify(
    pid: i32,
    pidfd: Option<&OwnedFd>,
    sessions: &[SessionProcess],
) -> Result<Peer, String> {
    if pid <= 0 {
        return Err("the kernel gave no pid for the connecting process".to_owned());
    }
    let found = lookup(pid, sessions)?;
    if let Some(fd) = pidfd
        && exited(fd)
    {
        return Err(format!(
            "the connecting process {pid} exited before the daemon could tell which session it is in"
        ));
    }
    Ok(found)
}

fn lookup(pid: i32, sessions: &[SessionProcess]) -> Result<Peer, String> {
    let in_session = |s: &SessionProcess| Peer::InSession {
        session: s.id.clone(),
        owner: s.owner.clone(),
        sandboxed: s.sandboxed,
    };
    let own_ns = pid_namespace(std::process::id() as i32)
        .ok_or("cannot read the daemon's own pid namespace")?;
    let peer_ns = pid_namespace(pid).ok_or_else(|| {
        format!("cannot read /proc/{pid}/ns/pid of the connecting process (did it exit?)")
    })?;
    if peer_ns != own_ns {
        if let Some(session) = sessions.iter().find(|s| s.pidns == Some(peer_ns)) {
            return Ok(in_session(session));
        }
        // A namespace of no session: a sandbox whose init was not found must not be
        // mistaken for the outside.
        if let Some(unknown) = sessions.iter().find(|s| s.sandboxed && s.pidns.is_none()) {
            return Err(format!(
                "the connecting process is in a pid namespace of its own, and sandboxed session {:?} is still starting; retry",
                unknown.id
            ));
        }
    }
    let by_pid: HashMap<i32, &SessionProcess> = sessions.iter().map(|s| (s.pid, s)).collect();
    let mut current = pid;
    for _ in 0..MAX_DEPTH {
        if let Some(session) = by_pid.get(&current) {
            return Ok(in_session(session));
        }
        let Some(stat) = read_stat(current) else {
            break;
        };
        if let Some(session) = by_pid.get(&stat.session) {
            return Ok(in_session(session));
        }
        if stat.ppid <= 1 {
            break;
        }
        current = stat.ppid;
    }
    Ok(Peer::Outside)
}

/// The pid namespace a sandboxed session's processes live in: that of the launcher's child
/// (the sandbox's init). `None` before the init exists.
pub(crate) fn sandbox_pidns(launcher: i32) -> Option<u64> {
    let own = pid_namespace(launcher)?;
    for child in children(launcher) {
        let Some(ns) = pid_namespace(child) else {
            continue;
        };
        // Still the launcher's child after the read: the pid was not reused meanwhile.
        if ns != own && read_stat(child).is_some_and(|s| s.ppid == launcher) {
            return Some(ns);
        }
    }
    None
}

fn pid_namespace(pid: i32) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}

fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

struct Stat {
    ppid: i32,
    session: i32,
}

fn read_stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything: fields follow the last `)`.
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let _pgrp = fields.next()?;
    let session = fields.next()?.parse().ok()?;
    Some(Stat { ppid, session })
}

/// True once the process behind `pidfd` has exited (a pidfd polls readable then).
fn exited(pidfd: &OwnedFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => false,
        Ok(_) => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP)),
        Err(_) => true,
    }
}

/// The pidfd of a connected Unix socket's peer (Linux 6.5+; `None` before).
pub(crate) fn peer_pidfd(stream: &impl AsFd) -> Option<OwnedFd> {
    nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerPidfd).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn session(id: &str, pid: i32) -> SessionProcess {
        SessionProcess {
            id: id.into(),
            pid,
            owner: Some("bot".into()),
            pidns: None,
            sandboxed: false,
        }
    }

    #[test]
    fn a_process_is_found_through_its_ancestors_and_session_id() {
        // `setsid` makes the shell a session leader, like the PTY crate's shells; the grandchild
        // is found through its parent chain.
        let mut shell = Command::new("setsid")
            .args(["sh", "-c", "sleep 30 & wait"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let shell_pid = shell.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let sleeper = loop {
            if let Some(&child) = children(shell_pid).first() {
                break child;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no child of the shell"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let sessions = [session("s1", shell_pid), session("other", 1)];
        let peer = identify(sleeper, None, &sessions[..1]).unwrap();
        assert_eq!(
            peer,
            Peer::InSession {
                session: "s1".into(),
                owner: Some("bot".into()),
                sandboxed: false
            }
        );
        assert_eq!(
            identify(std::process::id() as i32, None, &sessions[..1]).unwrap(),
            Peer::Outside
        );
        assert!(identify(0, None, &sessions).is_err());
        let _ = shell.kill();
        let _ = shell.wait();
        let _ = Command::new("kill").arg(sleeper.to_string()).status();
    }

    #[test]
    fn a_foreign_namespace_is_not_the_outside_while_a_sandbox_is_unknown() {
        let starting = SessionProcess {
            sandboxed: true,
            ..session("jail", i32::MAX)
        };
        // This process is in the daemon's namespace: the tree decides, and finds none.
        assert_eq!(
            identify(std::process::id() as i32, None, &[starting]).unwrap(),
            Peer::Outside
        );
    }
}
