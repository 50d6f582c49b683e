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

use ai_session_security::permissions::SessionScope;
use ai_session_security::profiles::{AgentProfiles, agents_path};
use ai_session_security::{AgentCapabilities, PermissionDenied};
use base64::Engine as _;
use serde_json::Value;

use crate::manager::SessionManager;
use crate::protocol::Method;

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

/// The session a request is about (the `session` param; `exec` defaults to `default`).
pub(crate) fn target_session(method: Method, params: Option<&Value>) -> Option<String> {
    let named = params
        .and_then(|p| p.get("session"))
        .and_then(Value::as_str);
    match method {
        Method::Exec => Some(named.unwrap_or("default").to_owned()),
        Method::SessionNew | Method::SessionImport => None,
        _ => named.map(str::to_owned),
    }
}

/// The agent a request acts for: the connection's (from `hello`), else the request's
/// `agent` param on the methods that define one.
pub(crate) fn request_agent(
    connection_agent: Option<&str>,
    method: Method,
    params: Option<&Value>,
) -> Option<String> {
    if let Some(agent) = connection_agent {
        return Some(agent.to_owned());
    }
    let params = params?;
    let declared = match method {
        Method::Exec | Method::SessionNew => params.get("agent"),
        Method::SessionImport => params.get("session").and_then(|s| s.get("agent")),
        _ => None,
    };
    declared.and_then(Value::as_str).map(str::to_owned)
}

/// Puts the acting agent into the params of methods that create sessions (it becomes the
/// owner) or count per-agent metrics.
pub(crate) fn stamp_agent(agent: &str, method: Method, params: &mut Option<Value>) {
    let params = params.get_or_insert_with(|| Value::Object(Default::default()));
    let target = match method {
        Method::Exec | Method::SessionNew => Some(params),
        Method::SessionImport => params.get_mut("session"),
        _ => None,
    };
    if let Some(Value::Object(map)) = target {
        map.insert("agent".to_owned(), Value::from(agent));
    }
}

/// Whether `agent` may make this request.
pub(crate) fn authorize(
    agent: &AgentCapabilities,
    method: Method,
    params: Option<&Value>,
    manager: &SessionManager,
) -> Result<(), PermissionDenied> {
    let param = |name: &str| params.and_then(|p| p.get(name)).and_then(Value::as_str);
    if let Some(session) = target_session(method, params)
        && let Some(owner) = manager.owner_of(&session)
    {
        agent.check_session_access(owner.as_deref().unwrap_or(OPERATOR))?;
    }
    match method {
        Method::Exec => agent.check_exec(param("command").unwrap_or_default()),
        Method::Send => {
            if let Some(text) = param("text") {
                agent.check_exec(text)?;
            }
            if let Some(data) = param("data_base64")
                && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data)
            {
                agent.check_exec(&String::from_utf8_lossy(&bytes))?;
            }
            Ok(())
        }
        Method::SessionNew | Method::SessionImport => {
            let new = match method {
                Method::SessionImport => params.and_then(|p| p.get("session")),
                _ => params,
            };
            match new.and_then(|p| p.get("shell")).and_then(Value::as_str) {
                Some(shell) => agent.check_exec(shell),
                None => Ok(()),
            }
        }
        Method::ServerShutdown if agent.sessions != SessionScope::All => Err(PermissionDenied {
            agent: agent.agent_id.clone(),
            permission: "SessionAccess(all)".to_owned(),
            reason: "stopping the daemon kills every agent's sessions".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Keeps only the sessions `agent` may see in a `session.list` result.
pub(crate) fn filter_list(agent: &AgentCapabilities, result: &mut Value) {
    if agent.sessions == SessionScope::All {
        return;
    }
    if let Some(Value::Array(sessions)) = result.get_mut("sessions") {
        sessions
            .retain(|s| s.get("owner").and_then(Value::as_str) == Some(agent.agent_id.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agent_comes_from_the_connection_then_the_params() {
        let exec = json!({"command": "ls", "agent": "a2"});
        assert_eq!(
            request_agent(Some("a1"), Method::Exec, Some(&exec)).as_deref(),
            Some("a1")
        );
        assert_eq!(
            request_agent(None, Method::Exec, Some(&exec)).as_deref(),
            Some("a2")
        );
        let stats = json!({"agent": "a2"});
        assert_eq!(
            request_agent(None, Method::DecisionStats, Some(&stats)),
            None
        );
        let import = json!({"session": {"agent": "a3"}, "scrollback_base64": ""});
        assert_eq!(
            request_agent(None, Method::SessionImport, Some(&import)).as_deref(),
            Some("a3")
        );
    }

    #[test]
    fn stamping_sets_the_owner_where_sessions_are_made() {
        let mut params = Some(json!({"session": {"name": "x"}}));
        stamp_agent("a1", Method::SessionImport, &mut params);
        assert_eq!(params.unwrap()["session"]["agent"], "a1");
        let mut params = None;
        stamp_agent("a1", Method::SessionNew, &mut params);
        assert_eq!(params.unwrap()["agent"], "a1");
        let mut params = Some(json!({"session": "x"}));
        stamp_agent("a1", Method::Read, &mut params);
        assert_eq!(params.unwrap(), json!({"session": "x"}));
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
