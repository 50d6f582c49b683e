//! Where a daemon keeps its socket, pidfile and log: the `$AI_SESSION_HOME` layout.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable that overrides the home directory (default `~/.ai-session`).
pub const HOME_ENV: &str = "AI_SESSION_HOME";

/// Name of the daemon when none is given.
pub const DEFAULT_SERVER_NAME: &str = "default";

/// The `$AI_SESSION_HOME` directory and the per-daemon paths inside it.
///
/// ```
/// let home = ai_session::Home::new("/tmp/example-home");
/// assert_eq!(home.socket_path("default"), std::path::Path::new("/tmp/example-home/run/default.sock"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home rooted at `root` (nothing is created until [`Home::ensure_dirs`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$AI_SESSION_HOME`, or `$HOME/.ai-session` when it is unset or empty.
    pub fn from_env() -> Result<Self> {
        if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::new(dir));
        }
        match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => Ok(Self::new(Path::new(&home).join(".ai-session"))),
            None => Err(Error::NoHome),
        }
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `run/`: sockets, pidfiles and start locks.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// `log/`: daemon logs.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    /// `run/<name>.sock`, the daemon's listening socket.
    pub fn socket_path(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.sock"))
    }

    /// `run/<name>.pid`, held locked by the running daemon for its whole life.
    pub fn pid_path(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.pid"))
    }

    /// `run/<name>.start.lock`, serialising clients that auto-start the daemon.
    pub fn start_lock_path(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.start.lock"))
    }

    /// `log/<name>.log`, where an auto-started daemon's stdout and stderr go.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.log_dir().join(format!("{name}.log"))
    }

    /// Creates the home, `run/` and `log/` with mode 0700 (tightening existing ones), so no other
    /// user can reach the socket even before the peer-credential check.
    pub fn ensure_dirs(&self) -> Result<()> {
        for dir in [self.root.clone(), self.run_dir(), self.log_dir()] {
            fs::create_dir_all(&dir)
                .map_err(|source| Error::io("create directory", &dir, source))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|source| Error::io("set mode 0700 on", &dir, source))?;
        }
        Ok(())
    }
}

/// Checks a daemon name: 1-64 characters of `[A-Za-z0-9_.-]`, not starting with `.`, so it is a
/// safe single path component.
pub fn validate_server_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "server",
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_single_safe_path_components() {
        for good in ["default", "build-1", "a.b_c"] {
            assert!(validate_server_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "..", "x y", &"n".repeat(65)] {
            assert!(validate_server_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ensure_dirs_creates_private_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::new(tmp.path().join("h"));
        home.ensure_dirs().unwrap();
        for dir in [home.root().to_path_buf(), home.run_dir(), home.log_dir()] {
            let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
    }
}
