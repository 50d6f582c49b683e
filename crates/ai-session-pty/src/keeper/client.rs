//! The daemon's side of the keeper connection: [`Keeper`] sends requests, and one task reads
//! the replies and the keeper's exit events.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::wire::{self, MAX_MESSAGE, Received, Reply, Request, VERSION, WireStatus};
use crate::child::Program;
use crate::error::{PtyError, Result};
use crate::session::ExitInfo;

/// How long a freshly started keeper may take to accept connections.
const START_WAIT: Duration = Duration::from_secs(5);

/// A connection to the PTY keeper: the process that owns the sessions' terminals and shells so
/// they outlive the daemon (see `docs/architecture.md`, "The PTY keeper"). Cheap to clone;
/// the connection closes when the last clone (and every session spawned through it) is gone.
#[derive(Clone)]
pub struct Keeper {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("socket", &self.shared.socket_path)
            .field("pid", &self.shared.pid)
            .finish_non_exhaustive()
    }
}

struct Shared {
    socket: AsyncFd<OwnedFd>,
    socket_path: PathBuf,
    pid: i32,
    next_request: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiter>>,
    exits: Mutex<HashMap<u64, watch::Sender<Option<ExitInfo>>>>,
    connected: watch::Sender<bool>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(reader) = lock(&self.reader).take() {
            reader.abort();
        }
    }
}

enum Waiter {
    One(oneshot::Sender<std::result::Result<Reply, String>>),
    List {
        entries: Vec<KeptSession>,
        done: oneshot::Sender<std::result::Result<Vec<KeptSession>, String>>,
    },
}

/// A session the keeper holds, as listed by [`Keeper::sessions`]: adopt it with
/// [`crate::PtySession::adopt`], or end it with [`Keeper::discard`].
pub struct KeptSession {
    pub(crate) session: u64,
    pub(crate) pid: i32,
    pub(crate) exit: Option<ExitInfo>,
    /// master, memfd, pipe read end, pipe write end.
    pub(crate) fds: Vec<OwnedFd>,
    pub(crate) tag: Vec<u8>,
}

impl std::fmt::Debug for KeptSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptSession")
            .field("session", &self.session)
            .field("pid", &self.pid)
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}

impl KeptSession {
    /// The keeper's id for it.
    pub fn keeper_id(&self) -> u64 {
        self.session
    }

    /// Pid of its program (unchanged since it was spawned).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// How its program ended, if it has (possibly while no daemon was running).
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.exit
    }

    /// The caller's tag given to [`crate::PtySession::spawn_kept`], e.g. a session name.
    pub fn tag(&self) -> &[u8] {
        &self.tag
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn exit_info(status: WireStatus) -> ExitInfo {
    ExitInfo {
        code: status.code,
        signal: status.signal,
    }
}

impl Keeper {
    /// Connects to the keeper listening on `socket`.
    pub async fn connect(socket: &Path) -> Result<Keeper> {
        let path = socket.to_owned();
        let fd = tokio::task::spawn_blocking(move || connect_blocking(&path))
            .await
            .map_err(|e| keeper_err("connecting", socket, io::Error::other(e)))?
            .map_err(|e| keeper_err("connecting", socket, e))?;
        Self::handshake(fd, socket).await
    }

    /// Connects to the keeper on `socket`, starting one with `start` (argv, e.g.
    /// `["/usr/bin/ai-session", "__keeper", "<socket>"]`) if none listens. The started keeper
    /// detaches itself (it is never this process's child).
    pub async fn connect_or_start(socket: &Path, start: &[OsString]) -> Result<Keeper> {
        if let Ok(keeper) = Self::connect(socket).await {
            return Ok(keeper);
        }
        let (program, args) = start.split_first().ok_or_else(|| {
            keeper_err(
                "starting",
                socket,
                io::Error::new(io::ErrorKind::InvalidInput, "empty keeper argv"),
            )
        })?;
        let deadline = tokio::time::Instant::now() + START_WAIT;
        let mut last_error;
        loop {
            let (program, args) = (program.clone(), args.to_vec());
            let status = tokio::task::spawn_blocking(move || {
                std::process::Command::new(program)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .status()
            })
            .await
            .map_err(|e| keeper_err("starting", socket, io::Error::other(e)))?
            .map_err(|e| keeper_err("starting", socket, e))?;
            if !status.success() {
                return Err(keeper_err(
                    "starting",
                    socket,
                    io::Error::other(format!("the keeper exited with {status}")),
                ));
            }
            // A keeper that was just exiting may have refused the lock: try again.
            match Self::connect(socket).await {
                Ok(keeper) => return Ok(keeper),
                Err(error) => last_error = error,
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(last_error);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn handshake(fd: OwnedFd, socket: &Path) -> Result<Keeper> {
        let err = |e: io::Error| keeper_err("connecting", socket, e);
        let reader_fd = fd.try_clone().map_err(err)?;
        // SAFETY (both): each `AsyncFd` owns its `OwnedFd`, so the fd stays open and unchanged
        // until the `AsyncFd` is dropped.
        let send_fd = unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) }
            .map_err(|e| err(e.into()))?;
        let read_fd = unsafe { AsyncFd::register_with_interest(reader_fd, Interest::READABLE) }
            .map_err(|e| err(e.into()))?;
        // Hello before the reader starts, so its answer can be read here directly.
        let hello = Request::Hello { version: VERSION }.encode(1);
        send_async(&send_fd, &hello, &[]).await.map_err(err)?;
        let mut buffer = vec![0u8; 4096];
        let answer = tokio::time::timeout(
            START_WAIT,
            read_fd.async_io(Interest::READABLE, |fd| {
                wire::recv(fd.as_fd(), &mut buffer).map_err(io::Error::from)
            }),
        )
        .await
        .map_err(|_| {
            err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no hello from the keeper",
            ))
        })?
        .map_err(err)?;
        let pid = match answer {
            Received::Message(bytes, _) => match Reply::decode(&bytes) {
                Ok((1, Reply::Hello { version, pid })) if version == VERSION => pid,
                Ok((_, Reply::Hello { version, .. })) => {
                    return Err(err(io::Error::other(format!(
                        "keeper speaks protocol {version}, this daemon {VERSION}"
                    ))));
                }
                other => {
                    return Err(err(io::Error::other(format!(
                        "unexpected keeper hello: {other:?}"
                    ))));
                }
            },
            Received::Closed => {
                return Err(err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the keeper closed the connection",
                )));
            }
        };
        let (connected, _) = watch::channel(true);
        let shared = Arc::new(Shared {
            socket: send_fd,
            socket_path: socket.to_owned(),
            pid,
            next_request: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
            connected,
            reader: Mutex::new(None),
        });
        let reader = tokio::spawn(read_loop(read_fd, Arc::downgrade(&shared)));
        *lock(&shared.reader) = Some(reader);
        Ok(Keeper { shared })
    }

    /// The keeper's pid.
    pub fn pid(&self) -> i32 {
        self.shared.pid
    }

    /// The keeper's socket.
    pub fn socket(&self) -> &Path {
        &self.shared.socket_path
    }

    /// Whether the connection is still up (the keeper may have died).
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// A receiver that turns `false` when the keeper connection is lost.
    pub(crate) fn connection(&self) -> watch::Receiver<bool> {
        self.shared.connected.subscribe()
    }

    /// Every session the keeper holds (live ones and ones whose program ended while no daemon
    /// was up), oldest first, with their descriptors.
    pub async fn sessions(&self) -> Result<Vec<KeptSession>> {
        let (done, answer) = oneshot::channel();
        let id = self.next_id();
        lock(&self.shared.waiting).insert(
            id,
            Waiter::List {
                entries: Vec::new(),
                done,
            },
        );
        self.send(id, &Request::List, &[], "listing sessions")
            .await?;
        let mut sessions = answer
            .await
            .unwrap_or_else(|_| Err("the keeper connection was lost".into()))
            .map_err(|m| self.error("listing sessions", io::Error::other(m)))?;
        for session in &mut sessions {
            session.tag = crate::kept::area::read_tag(session.fds[1].as_fd()).unwrap_or_default();
        }
        Ok(sessions)
    }

    /// End a listed session that will not be adopted: SIGKILL its process group, then make
    /// the keeper forget it.
    pub async fn discard(&self, session: KeptSession) -> Result<()> {
        let (id, pid) = (session.session, session.pid);
        drop(session);
        self.end(id, pid).await
    }

    /// End the session with keeper id `session` whose program is `pid` (e.g. one whose
    /// adoption failed): SIGKILL its process group unless it already exited, then forget it.
    pub async fn end(&self, session: u64, pid: i32) -> Result<()> {
        if self.exits(session).borrow().is_none() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        self.forget(session).await
    }

    /// Start `program` on the terminal whose master is `fds[0]` (the keeper keeps copies of
    /// all four: master, memfd, pipe read end, pipe write end).
    pub(crate) async fn spawn(
        &self,
        program: &Program,
        fds: [BorrowedFd<'_>; 4],
    ) -> Result<(u64, i32)> {
        let request = Request::Spawn {
            executable: program.executable().to_vec(),
            argv: program.argv().map(<[u8]>::to_vec).collect(),
            envp: program.envp().map(<[u8]>::to_vec).collect(),
            cwd: program.cwd().map(<[u8]>::to_vec),
            tty: program.tty().to_vec(),
        };
        match self.call(&request, &fds, "spawning a session").await? {
            Reply::Spawned { session, pid } => Ok((session, pid)),
            Reply::Failed { errno, message } => Err(PtyError::Spawn {
                program: String::from_utf8_lossy(program.argv().next().unwrap_or_default())
                    .into_owned(),
                source: if errno > 0 {
                    io::Error::from_raw_os_error(errno)
                } else {
                    io::Error::other(message)
                },
            }),
            other => Err(self.error(
                "spawning a session",
                io::Error::other(format!("unexpected reply {other:?}")),
            )),
        }
    }

    /// Make the keeper close its copies of the session's fds; returns once it has.
    pub(crate) async fn forget(&self, session: u64) -> Result<()> {
        lock(&self.shared.exits).remove(&session);
        match self
            .call(&Request::Forget { session }, &[], "forgetting a session")
            .await?
        {
            Reply::Forgotten { .. } => Ok(()),
            other => Err(self.error(
                "forgetting a session",
                io::Error::other(format!("unexpected reply {other:?}")),
            )),
        }
    }

    /// [`forget`](Self::forget) without waiting (from `Drop`).
    pub(crate) fn forget_later(&self, session: u64) {
        lock(&self.shared.exits).remove(&session);
        let message = Request::Forget { session }.encode(0);
        let sent = wire::send(self.shared.socket.get_ref().as_fd(), &message, &[]);
        if sent == Err(nix::Error::EAGAIN)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let shared = Arc::clone(&self.shared);
            runtime.spawn(async move {
                let _ = send_async(&shared.socket, &message, &[]).await;
            });
        }
    }

    /// How the session's program ended, once the keeper reaped it.
    pub(crate) fn exits(&self, session: u64) -> watch::Receiver<Option<ExitInfo>> {
        lock(&self.shared.exits)
            .entry(session)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    fn next_id(&self) -> u64 {
        self.shared.next_request.fetch_add(1, Ordering::Relaxed) + 1
    }

    async fn call(
        &self,
        request: &Request,
        fds: &[BorrowedFd<'_>],
        action: &'static str,
    ) -> Result<Reply> {
        let (reply, answer) = oneshot::channel();
        let id = self.next_id();
        lock(&self.shared.waiting).insert(id, Waiter::One(reply));
        self.send(id, request, fds, action).await?;
        answer
            .await
            .unwrap_or_else(|_| Err("the keeper connection was lost".into()))
            .map_err(|m| self.error(action, io::Error::other(m)))
    }

    async fn send(
        &self,
        id: u64,
        request: &Request,
        fds: &[BorrowedFd<'_>],
        action: &'static str,
    ) -> Result<()> {
        if let Err(error) = send_async(&self.shared.socket, &request.encode(id), fds).await {
            lock(&self.shared.waiting).remove(&id);
            return Err(self.error(action, error));
        }
        Ok(())
    }

    fn error(&self, action: &'static str, source: io::Error) -> PtyError {
        keeper_err(action, &self.shared.socket_path, source)
    }
}

fn keeper_err(action: &'static str, socket: &Path, source: io::Error) -> PtyError {
    PtyError::Keeper {
        action,
        socket: socket.display().to_string(),
        source,
    }
}

fn connect_blocking(path: &Path) -> io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK | OFlag::O_RDWR))?;
    Ok(fd)
}

async fn send_async(
    socket: &AsyncFd<OwnedFd>,
    message: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    socket
        .async_io(Interest::WRITABLE, |fd| {
            wire::send(fd.as_fd(), message, fds).map_err(io::Error::from)
        })
        .await
}

async fn read_loop(socket: AsyncFd<OwnedFd>, shared: Weak<Shared>) {
    let mut buffer = vec![0u8; MAX_MESSAGE];
    loop {
        let received = socket
            .async_io(Interest::READABLE, |fd| {
                wire::recv(fd.as_fd(), &mut buffer).map_err(io::Error::from)
            })
            .await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match received {
            Ok(Received::Message(bytes, fds)) => match Reply::decode(&bytes) {
                Ok((id, reply)) => shared.dispatch(id, reply, fds),
                Err(error) => tracing::warn!(%error, "ignoring a malformed keeper message"),
            },
            Ok(Received::Closed) | Err(_) => {
                shared.lost();
                return;
            }
        }
    }
}

impl Shared {
    fn dispatch(&self, id: u64, reply: Reply, fds: Vec<OwnedFd>) {
        match &reply {
            Reply::Exited { session, status } => {
                let info = Some(exit_info(*status));
                lock(&self.exits)
                    .entry(*session)
                    .or_insert_with(|| watch::channel(None).0)
                    .send_replace(info);
                return;
            }
            // Registered before the caller hears of the session, so no exit event is missed.
            Reply::Spawned { session, .. } => {
                lock(&self.exits)
                    .entry(*session)
                    .or_insert_with(|| watch::channel(None).0);
            }
            _ => {}
        }
        let mut waiting = lock(&self.waiting);
        let Some(waiter) = waiting.remove(&id) else {
            return;
        };
        match (waiter, reply) {
            (Waiter::One(tx), reply) => {
                let _ = tx.send(Ok(reply));
            }
            (
                Waiter::List { mut entries, done },
                Reply::Entry {
                    session,
                    pid,
                    status,
                },
            ) => {
                let exit = status.map(exit_info);
                let sender = lock(&self.exits)
                    .entry(session)
                    .or_insert_with(|| watch::channel(None).0)
                    .clone();
                if exit.is_some() {
                    sender.send_replace(exit);
                }
                if fds.len() == wire::MAX_FDS {
                    entries.push(KeptSession {
                        session,
                        pid,
                        exit: *sender.borrow(),
                        fds,
                        tag: Vec::new(),
                    });
                } else {
                    tracing::warn!(
                        session,
                        got = fds.len(),
                        "kept session listed without its fds"
                    );
                }
                waiting.insert(id, Waiter::List { entries, done });
            }
            (Waiter::List { entries, done }, Reply::ListEnd { .. }) => {
                let _ = done.send(Ok(entries));
            }
            (Waiter::List { done, .. }, Reply::Failed { message, .. }) => {
                let _ = done.send(Err(message));
            }
            (Waiter::List { done, .. }, other) => {
                let _ = done.send(Err(format!("unexpected reply to a listing: {other:?}")));
            }
        }
    }

    fn lost(&self) {
        tracing::warn!(socket = %self.socket_path.display(), "the PTY keeper connection was lost");
        self.connected.send_replace(false);
        for (_, waiter) in lock(&self.waiting).drain() {
            match waiter {
                Waiter::One(tx) => {
                    let _ = tx.send(Err("the keeper connection was lost".into()));
                }
                Waiter::List { done, .. } => {
                    let _ = done.send(Err("the keeper connection was lost".into()));
                }
            }
        }
    }
}
