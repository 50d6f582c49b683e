//! The keeper process: holds every session's PTY master (and the pipe and memfd that make its
//! output survive a daemon), starts the shells and reaps them. Synchronous, one thread, no
//! runtime, no parsing of terminal output: it never reads a master. See `docs/architecture.md`,
//! "The PTY keeper".
//!
//! Lifecycle: `ai-session __keeper <socket>` takes `<socket>.lock` (a second keeper exits at
//! once), binds the socket, forks (the parent exits, so the keeper is never the daemon's child
//! and init reaps it) and serves until it holds no session and no daemon is connected.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, SigSet, Signal, signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, accept4, bind, getsockopt, listen,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getuid, setsid};

use super::wire::{self, MAX_MESSAGE, Received, Reply, Request, VERSION, WireStatus};
use crate::child::Program;

/// Without any daemon connecting, a fresh keeper gives up after this long.
const STARTUP_GRACE: Duration = Duration::from_secs(30);
/// A daemon that does not take a message within this long is disconnected.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// A session the keeper holds.
struct Entry {
    pid: i32,
    /// master, memfd, pipe read end, pipe write end.
    fds: Vec<OwnedFd>,
    status: Option<WireStatus>,
}

struct Keeper {
    listener: OwnedFd,
    sigchld: SignalFd,
    connections: Vec<OwnedFd>,
    entries: HashMap<u64, Entry>,
    by_pid: HashMap<i32, u64>,
    next_session: u64,
    ever_connected: bool,
    started: Instant,
    buffer: Vec<u8>,
}

/// `ai-session __keeper <socket>`: returns the process exit code (the forking parent returns
/// 0 at once; the keeper itself returns when it is done).
pub fn run(socket_path: &Path) -> i32 {
    match start(socket_path) {
        Ok(Some(mut keeper)) => {
            keeper.serve();
            let _ = std::fs::remove_file(socket_path);
            0
        }
        // Another keeper holds the lock: it serves this socket.
        Ok(None) => 0,
        Err(error) => {
            eprintln!(
                "ai-session keeper: cannot start on {}: {error}",
                socket_path.display()
            );
            1
        }
    }
}

fn start(socket_path: &Path) -> std::io::Result<Option<Keeper>> {
    let lock_path = PathBuf::from(format!("{}.lock", socket_path.display()));
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&lock_path)?;
    let lock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
        Err((_, errno)) => return Err(errno.into()),
    };
    // We hold the lock, so a socket file left here is a dead keeper's.
    let _ = std::fs::remove_file(socket_path);
    let listener = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(listener.as_raw_fd(), &UnixAddr::new(socket_path)?)?;
    std::fs::set_permissions(socket_path, std::fs::Permissions::from_mode(0o600))?;
    listen(&listener, Backlog::new(128)?)?;

    // fork() in a process with other threads leaves a child that may not allocate: refuse.
    if thread_count() != Some(1) {
        return Err(std::io::Error::other(
            "the keeper must start in a single-threaded process (run it first thing in main)",
        ));
    }
    // SAFETY: this process has one thread (checked above), so the child may run any code.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            // The listener is bound: whoever started us may connect now. `_exit`, so no
            // destructor (the lock!) runs in the parent.
            // SAFETY: _exit never returns and touches no memory of ours.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Child => {}
    }
    setsid()?;
    // The lock lives as long as the keeper (its Drop would release it).
    std::mem::forget(lock);
    detach_stdio();
    // SAFETY: SIG_IGN installs no handler code, so nothing can run in signal context.
    unsafe {
        signal(Signal::SIGPIPE, SigHandler::SigIgn)?;
        signal(Signal::SIGHUP, SigHandler::SigIgn)?;
    }
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block()?;
    let sigchld = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    raise_fd_limit();
    Ok(Some(Keeper {
        listener,
        sigchld,
        connections: Vec::new(),
        entries: HashMap::new(),
        by_pid: HashMap::new(),
        next_session: 1,
        ever_connected: false,
        started: Instant::now(),
        buffer: vec![0u8; MAX_MESSAGE],
    }))
}

/// stdin and stdout to /dev/null; stderr stays (the daemon's log).
fn detach_stdio() {
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        for target in [0, 1] {
            // SAFETY: dup2 onto fds 0 and 1, which we own as the process's stdio.
            unsafe { libc::dup2(null.as_raw_fd(), target) };
        }
    }
}

/// Threads of this process, from `/proc/self/stat` (field 20, after the parenthesised comm).
fn thread_count() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(17)?
        .parse()
        .ok()
}

/// Each session costs the keeper four descriptors: use the whole hard limit.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

impl Keeper {
    fn serve(&mut self) {
        loop {
            if self.connections.is_empty()
                && self.entries.is_empty()
                && (self.ever_connected || self.started.elapsed() >= STARTUP_GRACE)
            {
                return;
            }
            let ready = match self.wait() {
                Ok(ready) => ready,
                Err(error) => {
                    eprintln!("ai-session keeper: poll failed: {error}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            // The ready indices are positions in `connections` as polled, so they are served
            // before `reap` (which drops connections it cannot write to) or `accept` change it,
            // and highest first, so dropping one does not shift the others.
            for index in ready.connections.into_iter().rev() {
                self.serve_one(index);
            }
            if ready.sigchld {
                self.reap();
            }
            if ready.listener {
                self.accept();
            }
        }
    }

    fn wait(&self) -> nix::Result<Ready> {
        let mut fds = Vec::with_capacity(2 + self.connections.len());
        fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(self.sigchld.as_fd(), PollFlags::POLLIN));
        for conn in &self.connections {
            fds.push(PollFd::new(conn.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if self.connections.is_empty() {
            PollTimeout::from(1000u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(error) => return Err(error),
        }
        let hit = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        Ok(Ready {
            listener: hit(&fds[0]),
            sigchld: hit(&fds[1]),
            connections: fds[2..]
                .iter()
                .enumerate()
                .filter(|(_, fd)| hit(fd))
                .map(|(i, _)| i)
                .collect(),
        })
    }

    fn accept(&mut self) {
        let fd = match accept4(self.listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC) {
            // SAFETY: accept4 returned a new descriptor that nothing else owns.
            Ok(fd) => unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) },
            Err(_) => return,
        };
        // Only our own user may drive our shells (the socket is 0600 in a 0700 dir too).
        let same_user = getsockopt(&fd, sockopt::PeerCredentials)
            .is_ok_and(|cred| cred.uid() == getuid().as_raw());
        if !same_user {
            return;
        }
        let timeout = TimeVal::new(SEND_TIMEOUT.as_secs() as _, 0);
        let _ = setsockopt(&fd, sockopt::SendTimeout, &timeout);
        self.ever_connected = true;
        self.connections.push(fd);
    }

    fn serve_one(&mut self, index: usize) {
        let received = wire::recv(self.connections[index].as_fd(), &mut self.buffer);
        let (message, fds) = match received {
            Ok(Received::Message(message, fds)) => (message, fds),
            Ok(Received::Closed) | Err(_) => {
                self.connections.swap_remove(index);
                return;
            }
        };
        let ok = match Request::decode(&message) {
            // A listing attaches the keeper's own fds: send them while only borrowed.
            Ok((request_id, Request::List)) => {
                let conn = self.connections[index].as_fd();
                self.list()
                    .iter()
                    .all(|(reply, fds)| wire::send(conn, &reply.encode(request_id), fds).is_ok())
            }
            Ok((request_id, request)) => match self.handle(request, fds) {
                Some(reply) if request_id != 0 => {
                    let conn = self.connections[index].as_fd();
                    wire::send(conn, &reply.encode(request_id), &[]).is_ok()
                }
                _ => true,
            },
            Err(error) => {
                let reply = Reply::Failed {
                    errno: 0,
                    message: error.to_string(),
                };
                wire::send(self.connections[index].as_fd(), &reply.encode(0), &[]).is_ok()
            }
        };
        if !ok {
            self.connections.swap_remove(index);
        }
    }

    /// Answers one request other than `List`.
    fn handle(&mut self, request: Request, fds: Vec<OwnedFd>) -> Option<Reply> {
        Some(match request {
            Request::Hello { .. } => Reply::Hello {
                version: VERSION,
                pid: std::process::id() as i32,
            },
            Request::Spawn {
                executable,
                argv,
                envp,
                cwd,
                tty,
            } => self.spawn(executable, argv, envp, cwd, tty, fds),
            Request::List => return None,
            Request::Forget { session } => {
                if let Some(entry) = self.entries.remove(&session) {
                    self.by_pid.remove(&entry.pid);
                }
                Reply::Forgotten { session }
            }
        })
    }

    fn spawn(
        &mut self,
        executable: Vec<u8>,
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        cwd: Option<Vec<u8>>,
        tty: Vec<u8>,
        fds: Vec<OwnedFd>,
    ) -> Reply {
        if fds.len() != wire::MAX_FDS {
            return Reply::Failed {
                errno: libc::EINVAL,
                message: format!("spawn needs 4 descriptors, got {}", fds.len()),
            };
        }
        let spawned = Program::from_parts(executable, argv, envp, cwd, tty)
            .and_then(|program| program.spawn());
        match spawned {
            Ok(pid) => {
                let session = self.next_session;
                self.next_session += 1;
                self.entries.insert(
                    session,
                    Entry {
                        pid,
                        fds,
                        status: None,
                    },
                );
                self.by_pid.insert(pid, session);
                Reply::Spawned { session, pid }
            }
            Err(error) => Reply::Failed {
                errno: error.raw_os_error().unwrap_or(0),
                message: error.to_string(),
            },
        }
    }

    /// Every session (with its fds), then the end marker.
    fn list(&self) -> Vec<(Reply, Vec<BorrowedFd<'_>>)> {
        let mut ids: Vec<u64> = self.entries.keys().copied().collect();
        ids.sort_unstable();
        let mut replies: Vec<(Reply, Vec<BorrowedFd<'_>>)> = ids
            .iter()
            .map(|id| {
                let entry = &self.entries[id];
                (
                    Reply::Entry {
                        session: *id,
                        pid: entry.pid,
                        status: entry.status,
                    },
                    wire::borrow_all(&entry.fds),
                )
            })
            .collect();
        replies.push((
            Reply::ListEnd {
                count: ids.len() as u64,
            },
            Vec::new(),
        ));
        replies
    }

    /// Reap every exited child and tell every connected daemon.
    fn reap(&mut self) {
        while let Ok(Some(_)) = self.sigchld.read_signal() {}
        loop {
            let (pid, status) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (
                    pid,
                    WireStatus {
                        code: Some(code),
                        signal: None,
                    },
                ),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (
                    pid,
                    WireStatus {
                        code: None,
                        signal: Some(signal as i32),
                    },
                ),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let Some(&session) = self.by_pid.get(&pid.as_raw()) else {
                continue;
            };
            self.by_pid.remove(&pid.as_raw());
            if let Some(entry) = self.entries.get_mut(&session) {
                entry.status = Some(status);
            }
            let event = Reply::Exited { session, status }.encode(0);
            self.connections
                .retain(|conn| wire::send(conn.as_fd(), &event, &[]).is_ok());
        }
    }
}

struct Ready {
    listener: bool,
    sigchld: bool,
    connections: Vec<usize>,
}
