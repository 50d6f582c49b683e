//! Agent permissions in the daemon: which agent a request acts for, its profile from
//! `$AI_SESSION_HOME/agents.toml`, and whether the request is allowed.
//!
//! A client names its agent in `hello` (for the connection) or in a request's `agent` param.
//! Requests with no agent, and agents without a profile, are the operator's: unrestricted.
//! The identity is declared, not authenticated (any process of the daemon's uid may claim
//! any agent): profiles keep well-behaved agents in their lane and make denials visible in the
//! audit log; the sandbox is what confines a program.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::manager::SessionManager;
use crate::protocol::{Call, SessionList};
use ai_session_security::permissions::SessionScope;
use ai_session_security::profiles::{AgentProfiles, agents_path};
use ai_session_security::{AgentCapabilities, PermissionDenied};
use base64::Engine as _;

/// Shown as the owner of sessions created without an agent; not a valid agent name, so no
/// agent can be mistaken for the operator.
const OPERATOR: &str = "(operator)";

/// The profile file, re-read when it changes (so `ai-session agent grant` applies at once).
#[derive(Debug)]
pub(crate) struct Profiles {
    path: PathBuf,
    cached: Mutex<Cached>,
}

#[derive(Debug)]
struct Cached {
    stamp: Option<Stamp>,
    profiles: Arc<Result<AgentProfiles, String>>,
}

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Profiles {
    /// The profiles of the daemon whose home is `home`.
    pub(crate) fn new(home: &Path) -> Self {
        Profiles {
            path: agents_path(home),
            cached: Mutex::new(Cached {
                stamp: None,
                profiles: Arc::new(Ok(AgentProfiles::default())),
            }),
        }
    }

    /// `agent`'s capabilities, or `None` if it has no profile. An unreadable or invalid file
    /// refuses every declared agent (fails closed) with the parser's message.
    pub(crate) fn capabilities(
        &self,
        agent: &str,
    ) -> Result<Option<AgentCapabilities>, PermissionDenied> {
        let profiles = self.current();
        let broken = |reason: String| PermissionDenied {
            agent: agent.to_owned(),
            permission: "a readable agents.toml".to_owned(),
            reason,
        };
        match &*profiles {
            Ok(profiles) => profiles
                .capabilities(agent)
                .map_err(|e| broken(e.to_string())),
            Err(reason) => Err(broken(reason.clone())),
        }
    }

    /// The parsed file, re-read if its size, mtime or inode changed. A `stat` per request
    /// from an agent; operator requests never get here.
    fn current(&self) -> Arc<Result<AgentProfiles, String>> {
        use std::os::unix::fs::MetadataExt as _;
        let stamp = std::fs::metadata(&self.path).ok().map(|m| Stamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        });
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached.stamp != stamp || stamp.is_none() {
            let loaded = AgentProfiles::load(&self.path).map_err(|e| e.to_string());
            if let Err(error) = &loaded {
                tracing::warn!(path = %self.path.display(), %error, "agents.toml is invalid; declared agents are refused");
            }
            cached.profiles = Arc::new(loaded);
            cached.stamp = stamp;
        }
        cached.profiles.clone()
    }
}

/// The agent a request acts for: the connection's (from `hello`), else the one the call's
/// own params name.
pub(crate) fn request_agent(connection_agent: Option<&str>, call: Option<&Call>) -> Option<String> {
    connection_agent
        .or_else(|| call?.declared_agent())
        .map(str::to_owned)
}

/// Whether `agent` may make this request.
pub(crate) fn authorize(
    agent: &AgentCapabilities,
    call: &Call,
    manager: &SessionManager,
) -> Result<(), PermissionDenied> {
    if let Some(session) = call.session()
        && let Some(owner) = manager.owner_of(session)
    {
        agent.check_session_access(owner.as_deref().unwrap_or(OPERATOR))?;
    }
    let check_owner = |owner: Option<Option<String>>| match owner {
        Some(owner) => agent.check_session_access(owner.as_deref().unwrap_or(OPERATOR)),
        None => Ok(()),
    };
    match call {
        Call::Exec(params) => agent.check_exec(&params.command),
        Call::Wait(params) => params
            .sessions
            .iter()
            .try_for_each(|s| check_owner(manager.owner_of(s))),
        Call::WatchRemove(params) => check_owner(manager.watch_owner(&params.id)),
        Call::Send(params) => {
            if let Some(text) = &params.text {
                agent.check_exec(text)?;
            }
            if let Some(data) = &params.data_base64
                && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data)
            {
                agent.check_exec(&String::from_utf8_lossy(&bytes))?;
            }
            Ok(())
        }
        Call::SessionNew(_) | Call::SessionImport(_) => {
            match &call.new_session().and_then(|p| p.shell.as_deref()) {
                Some(shell) => agent.check_exec(shell),
                None => Ok(()),
            }
        }
        Call::ServerShutdown(_) if agent.sessions != SessionScope::All => Err(PermissionDenied {
            agent: agent.agent_id.clone(),
            permission: "SessionAccess(all)".to_owned(),
            reason: "stopping the daemon kills every agent's sessions".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Keeps only the sessions `agent` may see in a `session.list` result.
pub(crate) fn filter_list(agent: &AgentCapabilities, list: &mut SessionList) {
    if agent.sessions == SessionScope::All {
        return;
    }
    list.sessions
        .retain(|s| s.owner.as_deref() == Some(agent.agent_id.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agent_comes_from_the_connection_then_the_params() {
        let call = |method: &str, params| {
            Call::parse(
                crate::protocol::Method::from_name(method).unwrap(),
                Some(params),
            )
            .unwrap()
        };
        let exec = call("exec", json!({"command": "ls", "agent": "a2"}));
        assert_eq!(
            request_agent(Some("a1"), Some(&exec)).as_deref(),
            Some("a1")
        );
        assert_eq!(request_agent(None, Some(&exec)).as_deref(), Some("a2"));
        let stats = call("decision.stats", json!({"agent": "a2"}));
        assert_eq!(request_agent(None, Some(&stats)), None);
        let import = call(
            "session.import",
            json!({"session": {"agent": "a3"}, "scrollback_base64": ""}),
        );
        assert_eq!(request_agent(None, Some(&import)).as_deref(), Some("a3"));
        let mut new = call("session.new", json!({}));
        new.set_agent("a1");
        assert_eq!(new.declared_agent(), Some("a1"));
    }

    #[test]
    fn a_broken_profile_file_refuses_declared_agents() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = Profiles::new(dir.path());
        assert!(profiles.capabilities("a1").unwrap().is_none());
        std::fs::write(agents_path(dir.path()), "[agents.a1]\nallow = ['cargo']\n").unwrap();
        let err = profiles.capabilities("a1").unwrap_err();
        assert!(err.reason.contains("cargo"), "{err}");
        std::fs::write(
            agents_path(dir.path()),
            "[agents.a1]\nallow = ['process-spawn:cargo']\n",
        )
        .unwrap();
        let caps = profiles.capabilities("a1").unwrap().unwrap();
        assert!(caps.check_exec("cargo build").is_ok());
    }
}
