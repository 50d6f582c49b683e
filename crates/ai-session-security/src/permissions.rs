//! Agent permissions: what an API client may ask the daemon to do. Independent of the
//! sandbox (which limits what a *program* can do); these checks decide whether the
//! daemon carries out a request at all.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One thing an agent may be allowed to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum Permission {
    /// Read files at or under the path.
    FileRead(PathBuf),
    /// Create, change or delete files at or under the path.
    FileWrite(PathBuf),
    /// Execute files at or under the path.
    FileExecute(PathBuf),
    /// Connect to `host:port`; `host` may be `*`, the port `*` or absent (any port).
    NetworkConnect(String),
    /// Start a program by name (`cargo`) or any program (`*`).
    ProcessSpawn(String),
    /// Use a system call by name (checked by tools that expose raw system access).
    SystemCall(String),
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::FileRead(p) => write!(f, "FileRead({})", p.display()),
            Permission::FileWrite(p) => write!(f, "FileWrite({})", p.display()),
            Permission::FileExecute(p) => write!(f, "FileExecute({})", p.display()),
            Permission::NetworkConnect(t) => write!(f, "NetworkConnect({t})"),
            Permission::ProcessSpawn(p) => write!(f, "ProcessSpawn({p})"),
            Permission::SystemCall(s) => write!(f, "SystemCall({s})"),
        }
    }
}

/// A refused request: which agent, which permission it lacked, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("permission denied: agent `{agent}` lacks {permission} ({reason})")]
pub struct PermissionDenied {
    /// The agent that asked.
    pub agent: String,
    /// The permission it would need.
    pub permission: String,
    /// What it asked for, in words.
    pub reason: String,
}

/// Whose sessions an agent may read and drive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionScope {
    /// Only sessions the agent created.
    #[default]
    Own,
    /// Every session (an operator or supervisor agent).
    All,
}

/// An agent's capability set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCapabilities {
    /// The agent's id, as it appears in sessions and audit events.
    pub agent_id: String,
    /// Granted permissions (patterns: a path grants everything beneath it, `*` any).
    pub grants: Vec<Permission>,
    /// Whose sessions it may access.
    #[serde(default)]
    pub sessions: SessionScope,
}

/// Lexically normalises a path (`a/./b/../c` → `a/c`) so `..` cannot climb out of a
/// granted directory. Relative paths are rejected by the callers' grants (which are
/// absolute), so they never match.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// True if `wanted` is `granted` or beneath it (`wanted` absolute; `..` resolved lexically).
pub fn path_within(granted: &Path, wanted: &Path) -> bool {
    wanted.is_absolute() && normalize(wanted).starts_with(normalize(granted))
}

fn host_port_matches(granted: &str, wanted: &str) -> bool {
    let split = |t: &str| -> (String, Option<String>) {
        match t.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() => (host.to_owned(), Some(port.to_owned())),
            _ => (t.to_owned(), None),
        }
    };
    let (granted_host, granted_port) = split(granted);
    let (wanted_host, wanted_port) = split(wanted);
    let host_ok = granted_host == "*" || granted_host.eq_ignore_ascii_case(&wanted_host);
    let port_ok = match (granted_port.as_deref(), wanted_port.as_deref()) {
        (None | Some("*"), _) => true,
        (Some(g), Some(w)) => g == w,
        (Some(_), None) => false,
    };
    host_ok && port_ok
}

fn grants(granted: &Permission, wanted: &Permission) -> bool {
    use Permission::*;
    match (granted, wanted) {
        (FileRead(g), FileRead(w))
        | (FileWrite(g), FileWrite(w))
        | (FileExecute(g), FileExecute(w)) => path_within(g, w),
        // Write access implies read access to the same tree.
        (FileWrite(g), FileRead(w)) => path_within(g, w),
        (NetworkConnect(g), NetworkConnect(w)) => host_port_matches(g, w),
        (ProcessSpawn(g), ProcessSpawn(w)) => g == "*" || g == w,
        (SystemCall(g), SystemCall(w)) => g == "*" || g == w,
        _ => false,
    }
}

/// Programs a shell command line starts (see [`crate::command_line`]); what
/// [`AgentCapabilities::check_exec`] checks.
pub use crate::command_line::programs_in;

impl AgentCapabilities {
    /// An agent with no permissions.
    pub fn new(agent_id: impl Into<String>) -> Self {
        AgentCapabilities {
            agent_id: agent_id.into(),
            grants: Vec::new(),
            sessions: SessionScope::Own,
        }
    }

    /// Adds a grant.
    pub fn grant(mut self, permission: Permission) -> Self {
        self.grants.push(permission);
        self
    }

    /// Sets the session scope.
    pub fn with_sessions(mut self, scope: SessionScope) -> Self {
        self.sessions = scope;
        self
    }

    fn denied(&self, permission: &Permission, reason: String) -> PermissionDenied {
        PermissionDenied {
            agent: self.agent_id.clone(),
            permission: permission.to_string(),
            reason,
        }
    }

    /// Allows `wanted` if some grant covers it.
    pub fn check(&self, wanted: &Permission) -> Result<(), PermissionDenied> {
        if self.grants.iter().any(|g| grants(g, wanted)) {
            return Ok(());
        }
        Err(self.denied(wanted, format!("no grant covers {wanted}")))
    }

    /// Allows running `command_line` if every program it names may be spawned.
    ///
    /// ```
    /// use ai_session_security::permissions::{AgentCapabilities, Permission};
    /// let agent = AgentCapabilities::new("builder").grant(Permission::ProcessSpawn("git".into()));
    /// assert!(agent.check_exec("git status").is_ok());
    /// let err = agent.check_exec("git status && cargo build").unwrap_err();
    /// assert_eq!(err.permission, "ProcessSpawn(cargo)");
    /// ```
    pub fn check_exec(&self, command_line: &str) -> Result<(), PermissionDenied> {
        for program in programs_in(command_line) {
            let wanted = Permission::ProcessSpawn(program.clone());
            if !self.grants.iter().any(|g| grants(g, &wanted)) {
                return Err(self.denied(
                    &wanted,
                    format!("the command `{command_line}` runs `{program}`"),
                ));
            }
        }
        Ok(())
    }

    /// Allows access to a session owned by `owner`.
    pub fn check_session_access(&self, owner: &str) -> Result<(), PermissionDenied> {
        if self.sessions == SessionScope::All || owner == self.agent_id {
            return Ok(());
        }
        Err(PermissionDenied {
            agent: self.agent_id.clone(),
            permission: format!("SessionAccess({owner})"),
            reason: format!("the session belongs to agent `{owner}`"),
        })
    }
}

/// Free-function form of [`AgentCapabilities::check_exec`].
pub fn check_exec(agent: &AgentCapabilities, command_line: &str) -> Result<(), PermissionDenied> {
    agent.check_exec(command_line)
}

/// Free-function form of [`AgentCapabilities::check_session_access`].
pub fn check_session_access(
    agent: &AgentCapabilities,
    owner: &str,
) -> Result<(), PermissionDenied> {
    agent.check_session_access(owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    fn agent() -> AgentCapabilities {
        AgentCapabilities::new("a1")
            .grant(ProcessSpawn("git".into()))
            .grant(ProcessSpawn("ls".into()))
            .grant(ProcessSpawn("bash".into()))
            .grant(FileRead("/work".into()))
            .grant(FileWrite("/work/a1".into()))
            .grant(NetworkConnect("127.0.0.1:8080".into()))
            .grant(NetworkConnect("crates.io".into()))
    }

    #[test]
    fn exec_table() {
        let agent = agent();
        for (command, allowed) in [
            ("git status", true),
            ("cargo build", false),
            ("git log | ls", true),
            ("ls && cargo test", false),
            ("FOO=1 git diff", true),
            ("env FOO=1 git diff", false), // `env` itself is a program
            ("/usr/bin/git push", true),
            ("bash -c 'git fetch; cargo build'", false),
            ("bash -c 'git fetch; ls'", true),
            ("echo $(cargo --version)", false),
            ("sudo git status", false),
            ("", true),
            // Quoting is understood: data inside quotes is no command.
            ("git commit -m 'fix; then cargo build'", true),
            ("git log --format=\"%h | %s\"", true),
            ("git diff > out.txt 2>&1", true),
            ("git status; cat x", false),
            ("ls `cat x`", false),
            ("ls $(cat x)", false),
            ("git log | cat", false),
            ("ls && cat x", false),
            ("ls > >(cat)", false),
            ("cd /tmp && ls", true),
        ] {
            assert_eq!(agent.check_exec(command).is_ok(), allowed, "{command:?}");
        }
    }

    #[test]
    fn the_issue_examples() {
        let bot = AgentCapabilities::new("bot")
            .grant(ProcessSpawn("ls".into()))
            .grant(ProcessSpawn("echo".into()))
            .grant(ProcessSpawn("python3".into()));
        assert!(
            bot.check_exec(r#"python3 -c "import os; print(1)""#)
                .is_ok()
        );
        for refused in [
            "ls; cat x",
            "echo $(cat x)",
            "echo `cat x`",
            "ls | cat",
            "ls && cat x",
        ] {
            let err = bot.check_exec(refused).unwrap_err();
            assert_eq!(err.permission, "ProcessSpawn(cat)", "{refused}");
        }
    }

    #[test]
    fn denial_names_agent_permission_and_command() {
        let err = agent().check_exec("cargo build").unwrap_err();
        assert_eq!(
            err.to_string(),
            "permission denied: agent `a1` lacks ProcessSpawn(cargo) (the command `cargo build` runs `cargo`)"
        );
    }

    #[test]
    fn files_network_and_sessions() {
        let agent = agent();
        assert!(agent.check(&FileRead("/work/other/file".into())).is_ok());
        assert!(agent.check(&FileWrite("/work/a1/x".into())).is_ok());
        assert!(agent.check(&FileWrite("/work/a1/../a2/x".into())).is_err());
        assert!(agent.check(&FileRead("/etc/passwd".into())).is_err());
        assert!(agent.check(&FileRead("relative".into())).is_err());
        assert!(agent.check(&FileExecute("/work/a1/x".into())).is_err());
        assert!(
            agent
                .check(&NetworkConnect("127.0.0.1:8080".into()))
                .is_ok()
        );
        assert!(agent.check(&NetworkConnect("127.0.0.1:22".into())).is_err());
        assert!(agent.check(&NetworkConnect("crates.io:443".into())).is_ok());
        assert!(agent.check(&SystemCall("ptrace".into())).is_err());
        assert!(agent.check_session_access("a1").is_ok());
        let err = agent.check_session_access("a2").unwrap_err();
        assert!(err.to_string().contains("belongs to agent `a2`"), "{err}");
        let operator = AgentCapabilities::new("op").with_sessions(SessionScope::All);
        assert!(operator.check_session_access("a2").is_ok());
    }

    #[test]
    fn capabilities_are_serde() {
        let json = serde_json::to_string(&agent()).unwrap();
        let back: AgentCapabilities = serde_json::from_str(&json).unwrap();
        assert_eq!(back, agent());
    }
}
