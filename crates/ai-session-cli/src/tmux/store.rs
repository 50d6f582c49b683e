//! Where a tmux server's model lives between invocations: `$AI_SESSION_HOME/tmux/<server>.json`,
//! read and written under an exclusive `flock` on `<server>.lock`, so concurrent tmux commands
//! against one server apply one after another, as they do in tmux's single server process.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use super::model::Server;

/// The locked state of one server; saved by `save`, unlocked on drop.
pub struct Store {
    path: PathBuf,
    lock: File,
}

impl Store {
    /// Locks the server's state (waiting for other invocations) and loads it; `None` when
    /// the server is not running (no state).
    pub fn open(server: &str) -> anyhow::Result<(Store, Option<Server>)> {
        let home = ai_session::Home::from_env()?;
        let dir = home.root().join("tmux");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the tmux state directory {}", dir.display()))?;
        let lock_path = dir.join(format!("{server}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
        let path = dir.join(format!("{server}.json"));
        let state = match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a tmux state file; remove it to start afresh",
                    path.display()
                )
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok((Store { path, lock }, state))
    }

    /// Writes the state (atomically: a temp file renamed over the old one).
    pub fn save(&self, server: &Server) -> anyhow::Result<()> {
        let temp = self.path.with_extension("json.tmp");
        let mut file =
            File::create(&temp).with_context(|| format!("writing {}", temp.display()))?;
        file.write_all(&serde_json::to_vec(server)?)?;
        drop(file);
        std::fs::rename(&temp, &self.path)
            .with_context(|| format!("replacing {}", self.path.display()))?;
        Ok(())
    }

    /// Reads the state without taking the lock (writes are atomic renames, so it is whole).
    pub fn peek(server: &str) -> Option<Server> {
        let home = ai_session::Home::from_env().ok()?;
        let bytes = std::fs::read(home.root().join("tmux").join(format!("{server}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Lets other invocations run for `pause`, then takes the lock again and reloads the state.
    pub fn wait_and_reload(&self, pause: std::time::Duration) -> anyhow::Result<Option<Server>> {
        self.lock.unlock()?;
        std::thread::sleep(pause);
        self.lock.lock()?;
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets the server (kill-server, or its last session ended).
    pub fn remove(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}
