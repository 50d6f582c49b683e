//! Start a program as a session leader on a PTY with `posix_spawn(3)`, and reap it through a
//! pidfd.
//!
//! glibc's `posix_spawn` creates the child with `CLONE_VM | CLONE_VFORK`: unlike `fork(2)` (what
//! `std::process::Command` does once a `pre_exec` hook is set), its cost does not grow with the
//! parent's memory. A daemon holding hundreds of sessions would otherwise copy its page tables
//! for every new shell and then take copy-on-write faults on its own heap. `POSIX_SPAWN_SETSID`
//! plus opening the terminal without `O_NOCTTY` in the child (after `setsid`) makes it the
//! controlling terminal, which is what the `pre_exec` hook used to do.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Variables that describe an outer terminal, not ours.
const OUTER_TERMINAL_VARS: [&str; 4] = ["TMUX", "TMUX_PANE", "COLUMNS", "LINES"];

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal killed it.
    pub signal: Option<i32>,
}

/// A spawned child, reaped by [`Child::wait`].
#[derive(Debug)]
pub struct Child {
    pid: i32,
    /// Readable once the child has exited; `None` on kernels without `pidfd_open` (< 5.3),
    /// where a blocking thread waits instead.
    pidfd: Option<AsyncFd<OwnedFd>>,
}

impl Child {
    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits until the child exits and reaps it.
    pub async fn wait(self) -> std::io::Result<Status> {
        let pid = Pid::from_raw(self.pid);
        let Some(pidfd) = self.pidfd else {
            return tokio::task::spawn_blocking(move || {
                loop {
                    match waitpid(pid, None) {
                        Err(Errno::EINTR) => continue,
                        other => return to_status(other),
                    }
                }
            })
            .await
            .map_err(std::io::Error::other)?;
        };
        loop {
            let mut ready = pidfd.readable().await?;
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => ready.clear_ready(),
                Err(Errno::EINTR) => {}
                other => return to_status(other),
            }
        }
    }
}

fn to_status(outcome: nix::Result<WaitStatus>) -> std::io::Result<Status> {
    match outcome {
        Ok(WaitStatus::Exited(_, code)) => Ok(Status {
            code: Some(code),
            signal: None,
        }),
        Ok(WaitStatus::Signaled(_, signal, _)) => Ok(Status {
            code: None,
            signal: Some(signal as i32),
        }),
        Ok(other) => Err(std::io::Error::other(format!(
            "unexpected wait status {other:?}"
        ))),
        Err(errno) => Err(errno.into()),
    }
}

/// What to start.
pub struct Request<'a> {
    /// argv; `argv[0]` is looked up in the child's `PATH` unless it contains a `/`.
    pub argv: &'a [String],
    /// Working directory.
    pub cwd: Option<&'a Path>,
    /// Environment set on top of ours, in order (later wins).
    pub env: &'a [(String, String)],
    /// The terminal to open as stdin, stdout and stderr (and controlling terminal).
    pub tty: &'a Path,
}

fn cstring(bytes: &[u8]) -> std::io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "an argument or environment entry contains a NUL byte",
        )
    })
}

/// The child's environment: ours, without outer-terminal variables, then `env` in order.
fn child_env(env: &[(String, String)]) -> BTreeMap<OsString, OsString> {
    let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for name in OUTER_TERMINAL_VARS {
        vars.remove(OsStr::new(name));
    }
    for (key, value) in env {
        vars.insert(key.into(), value.into());
    }
    vars
}

/// `program` itself if it names a path, else its first executable match in `path`.
fn resolve(program: &str, path: Option<&OsStr>) -> std::io::Result<PathBuf> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let path = path.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("`{program}` not found in PATH"),
            )
        })
}

/// Owns the `posix_spawn` attribute and file-action objects for one call.
struct SpawnSetup {
    attr: libc::posix_spawnattr_t,
    actions: libc::posix_spawn_file_actions_t,
}

impl SpawnSetup {
    fn new() -> std::io::Result<Box<SpawnSetup>> {
        // SAFETY: both are plain C structs that the init functions below fully initialise;
        // all-zero is a valid placeholder until then.
        let mut setup: Box<SpawnSetup> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: valid pointers to the boxed structs.
        check(unsafe { libc::posix_spawnattr_init(&mut setup.attr) })?;
        // SAFETY: as above. On failure the attr is destroyed by Drop, which also destroys
        // the (zeroed, never initialised) actions: glibc's destroy only frees its buffer,
        // which is null here.
        check(unsafe { libc::posix_spawn_file_actions_init(&mut setup.actions) })?;
        Ok(setup)
    }
}

impl Drop for SpawnSetup {
    fn drop(&mut self) {
        // SAFETY: both were initialised in `new` (or are zeroed, see there) and are not used
        // after this.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut self.actions);
            libc::posix_spawnattr_destroy(&mut self.attr);
        }
    }
}

fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

/// A program ready to start: executable path, argv, environment, cwd and terminal, as the C
/// strings `posix_spawn` takes. Built by the daemon ([`Program::prepare`]), or from the parts a
/// keeper received ([`Program::from_parts`]), so the keeper never resolves or merges anything.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    executable: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
    tty: CString,
}

impl Program {
    /// Resolve `request.argv[0]` in the child's `PATH` and build its environment.
    pub fn prepare(request: &Request<'_>) -> std::io::Result<Program> {
        let (program, _) = request
            .argv
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv"))?;
        let vars = child_env(request.env);
        let executable = resolve(
            program,
            vars.get(OsStr::new("PATH")).map(OsString::as_os_str),
        )?;
        let envp = vars
            .into_iter()
            .map(|(key, value)| {
                let mut entry = key.into_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                entry
            })
            .collect();
        Program::from_parts(
            executable.as_os_str().as_bytes().to_vec(),
            request.argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            envp,
            request.cwd.map(|dir| dir.as_os_str().as_bytes().to_vec()),
            request.tty.as_os_str().as_bytes().to_vec(),
        )
    }

    /// From raw parts (each without NUL bytes).
    pub fn from_parts(
        executable: Vec<u8>,
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        cwd: Option<Vec<u8>>,
        tty: Vec<u8>,
    ) -> std::io::Result<Program> {
        if argv.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty argv",
            ));
        }
        let all = |items: Vec<Vec<u8>>| -> std::io::Result<Vec<CString>> {
            items.iter().map(|item| cstring(item)).collect()
        };
        Ok(Program {
            executable: cstring(&executable)?,
            argv: all(argv)?,
            envp: all(envp)?,
            cwd: cwd.map(|dir| cstring(&dir)).transpose()?,
            tty: cstring(&tty)?,
        })
    }

    /// The executable path.
    pub fn executable(&self) -> &[u8] {
        self.executable.as_bytes()
    }

    /// argv, `argv[0]` first.
    pub fn argv(&self) -> impl Iterator<Item = &[u8]> {
        self.argv.iter().map(|a| a.as_bytes())
    }

    /// `KEY=value` entries.
    pub fn envp(&self) -> impl Iterator<Item = &[u8]> {
        self.envp.iter().map(|e| e.as_bytes())
    }

    /// Working directory, if set.
    pub fn cwd(&self) -> Option<&[u8]> {
        self.cwd.as_ref().map(|c| c.as_bytes())
    }

    /// The terminal the program gets as stdin, stdout, stderr and controlling terminal.
    pub fn tty(&self) -> &[u8] {
        self.tty.as_bytes()
    }

    /// Starts the program as the leader of a new session whose controlling terminal is
    /// `self.tty`. Returns its pid once it has been executed (or failed to be). Synchronous and
    /// runtime-free: the keeper calls it too.
    pub fn spawn(&self) -> std::io::Result<i32> {
        let mut argv_ptrs: Vec<*mut libc::c_char> =
            self.argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        argv_ptrs.push(std::ptr::null_mut());
        let mut envp_ptrs: Vec<*mut libc::c_char> =
            self.envp.iter().map(|e| e.as_ptr().cast_mut()).collect();
        envp_ptrs.push(std::ptr::null_mut());

        let mut setup = SpawnSetup::new()?;
        let SpawnSetup { attr, actions } = &mut *setup;
        // SAFETY (this block): every pointer passed is valid for the call: `attr` and `actions`
        // were initialised by `SpawnSetup::new`, the C strings and the null-terminated pointer
        // arrays outlive `posix_spawn`, and the sigset_t values are initialised by
        // sigemptyset/sigfillset before use.
        let pid = unsafe {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            // A new session; no signal blocked; every signal at its default action (the Rust
            // runtime ignores SIGPIPE, the keeper blocks SIGCHLD and ignores SIGHUP, and an
            // ignored or blocked signal would stay so across exec).
            let flags = libc::POSIX_SPAWN_SETSID
                | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
                | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
            check(libc::posix_spawnattr_setflags(attr, flags))?;
            check(libc::posix_spawnattr_setsigmask(attr, &empty))?;
            check(libc::posix_spawnattr_setsigdefault(attr, &all))?;
            if let Some(cwd) = &self.cwd {
                check(libc::posix_spawn_file_actions_addchdir_np(
                    actions,
                    cwd.as_ptr(),
                ))?;
            }
            // Opened after setsid and without O_NOCTTY: the terminal becomes the controlling one.
            check(libc::posix_spawn_file_actions_addopen(
                actions,
                0,
                self.tty.as_ptr(),
                libc::O_RDWR,
                0,
            ))?;
            check(libc::posix_spawn_file_actions_adddup2(actions, 0, 1))?;
            check(libc::posix_spawn_file_actions_adddup2(actions, 0, 2))?;
            let mut pid: libc::pid_t = 0;
            check(libc::posix_spawn(
                &mut pid,
                self.executable.as_ptr(),
                actions,
                attr,
                argv_ptrs.as_ptr(),
                envp_ptrs.as_ptr(),
            ))?;
            pid
        };
        drop(setup);
        Ok(pid)
    }
}

/// Starts `request.argv` as the leader of a new session whose controlling terminal is
/// `request.tty`. Returns once the program has been executed (or failed to be).
pub fn spawn(request: &Request<'_>) -> std::io::Result<Child> {
    let pid = Program::prepare(request)?.spawn()?;
    Ok(Child {
        pid,
        pidfd: open_pidfd(pid),
    })
}

/// A pidfd for `pid` registered with the reactor, or `None` where the kernel has none.
fn open_pidfd(pid: libc::pid_t) -> Option<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        tracing::debug!(pid, error = %Errno::last(), "no pidfd; reaping on a blocking thread");
        return None;
    }
    // SAFETY: `fd` is a descriptor pidfd_open just returned to us; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    // Close-on-exec, so no later child inherits it.
    let _ = nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    // SAFETY: the `AsyncFd` owns the `OwnedFd`, so the descriptor stays open and unchanged
    // until it is dropped.
    match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
        Ok(fd) => Some(fd),
        Err(error) => {
            tracing::debug!(pid, %error, "pidfd not pollable; reaping on a blocking thread");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_searches_the_given_path() {
        let found = resolve("sh", Some(OsStr::new("/nonexistent:/usr/bin:/bin"))).unwrap();
        assert!(found.ends_with("sh"));
        assert!(found.is_absolute());
        assert_eq!(
            resolve("./x", None).unwrap(),
            PathBuf::from("./x"),
            "a path is used as given"
        );
        let missing = resolve("no-such-program-here", Some(OsStr::new("/usr/bin"))).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn child_env_drops_outer_terminal_and_applies_overrides_in_order() {
        let env = child_env(&[
            ("COLUMNS".into(), "1".into()),
            ("AIS_TEST_A".into(), "1".into()),
            ("AIS_TEST_A".into(), "2".into()),
        ]);
        assert_eq!(
            env.get(OsStr::new("AIS_TEST_A")),
            Some(&OsString::from("2"))
        );
        assert_eq!(env.get(OsStr::new("COLUMNS")), Some(&OsString::from("1")));
        assert!(!env.contains_key(OsStr::new("TMUX")));
    }
}
