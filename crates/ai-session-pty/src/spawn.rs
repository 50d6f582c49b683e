//! Open a pseudo-terminal and start a program on its slave side as a new session leader.
//!
//! We use `posix_openpt` + `posix_spawn` ([`crate::child`]) rather than portable-pty: the fds
//! are created `O_CLOEXEC` (no leaks into concurrently spawned children), the master is
//! non-blocking and driven by tokio's reactor (no thread per session), the spawn does not copy
//! the daemon's address space, and the child is reaped asynchronously through a pidfd
//! (portable-pty's `Child::kill` waits ~37 ms per child).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;
use nix::sys::termios::{self, InputFlags, OutputFlags, SetArg};

use crate::config::Size;
use crate::error::{PtyError, Result};

/// A started program and the master side of its terminal.
#[derive(Debug)]
pub struct Spawned {
    /// Non-blocking, close-on-exec master fd.
    pub master: OwnedFd,
    /// The child (session leader, so its pid is also its process group and session id).
    pub child: crate::child::Child,
    /// Child pid.
    pub pid: i32,
    /// Path of the slave device (`/dev/pts/N`), to recognise it in `/proc/<pid>/fd`.
    pub tty_path: PathBuf,
}

/// What to start.
#[derive(Debug)]
pub struct SpawnRequest<'a> {
    /// argv; must not be empty.
    pub argv: &'a [String],
    /// Working directory.
    pub cwd: Option<&'a Path>,
    /// Environment to set on top of the inherited one, in order (later wins).
    pub env: Vec<(String, String)>,
    /// Initial window size.
    pub size: Size,
    /// Keep the kernel's output post-processing (ONLCR: LF -> CRLF). Turning it off is faster.
    pub output_processing: bool,
}

fn pty_err(step: &'static str) -> impl FnOnce(nix::Error) -> PtyError {
    move |source| PtyError::Pty { step, source }
}

/// Open a master/slave pair, both close-on-exec; the master non-blocking.
fn open_pty() -> Result<(OwnedFd, OwnedFd, PathBuf)> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(pty_err("posix_openpt"))?;
    grantpt(&master).map_err(pty_err("grantpt"))?;
    unlockpt(&master).map_err(pty_err("unlockpt"))?;
    let tty_path = PathBuf::from(ptsname_r(&master).map_err(pty_err("ptsname_r"))?);
    let slave = nix::fcntl::open(
        &tty_path,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(pty_err("open slave"))?;
    let master = OwnedFd::from(master);
    fcntl(
        &master,
        FcntlArg::F_SETFL(OFlag::O_NONBLOCK | OFlag::O_RDWR),
    )
    .map_err(pty_err("set O_NONBLOCK"))?;
    Ok((master, slave, tty_path))
}

/// Set the window size; the kernel sends SIGWINCH to the foreground process group.
pub fn set_window_size(master: BorrowedFd<'_>, size: Size) -> Result<()> {
    let winsize = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &winsize) };
    if rc != 0 {
        return Err(PtyError::Pty {
            step: "TIOCSWINSZ",
            source: nix::Error::last(),
        });
    }
    Ok(())
}

fn configure_termios(slave: BorrowedFd<'_>, output_processing: bool) -> Result<()> {
    let mut attrs = termios::tcgetattr(slave).map_err(pty_err("tcgetattr"))?;
    attrs.input_flags |= InputFlags::IUTF8;
    if !output_processing {
        attrs.output_flags &= !OutputFlags::OPOST;
    }
    termios::tcsetattr(slave, SetArg::TCSANOW, &attrs).map_err(pty_err("tcsetattr"))
}

/// A fresh terminal: both ends close-on-exec, the master non-blocking, size and termios set.
#[derive(Debug)]
pub(crate) struct Terminal {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub tty_path: PathBuf,
}

/// Open and configure a terminal for a program to start on.
pub(crate) fn open_terminal(size: Size, output_processing: bool) -> Result<Terminal> {
    let (master, slave, tty_path) = open_pty()?;
    set_window_size(master.as_fd(), size)?;
    configure_termios(slave.as_fd(), output_processing)?;
    Ok(Terminal {
        master,
        slave,
        tty_path,
    })
}

/// Start `request.argv` on a fresh PTY.
pub fn spawn(request: SpawnRequest<'_>) -> Result<Spawned> {
    let program = request.argv.first().ok_or(PtyError::EmptyProgram)?;
    let Terminal {
        master,
        slave,
        tty_path,
    } = open_terminal(request.size, request.output_processing)?;

    let child = crate::child::spawn(&crate::child::Request {
        argv: request.argv,
        cwd: request.cwd,
        env: &request.env,
        tty: &tty_path,
    })
    .map_err(|source| PtyError::Spawn {
        program: program.clone(),
        source,
    })?;
    // Drop our slave only now that the child has its own, so EOF/EIO arrives when the
    // session's processes are gone (and not before the child opened it).
    drop(slave);
    let pid = child.pid();
    Ok(Spawned {
        master,
        child,
        pid,
        tty_path,
    })
}
