//! Agent permissions in the daemon: who a request acts for, its rights, and whether the
//! request is allowed.
//!
//! Who: a connection from inside a session acts as that session's owner, found by the
//! kernel ([`crate::identity`]); a connection from outside acts as the agent it declares (in
//! `hello`, or a request's `agent` param), or as the operator. Rights: an agent with a profile
//! in `$AI_SESSION_HOME/agents.toml` is restricted to it; a process in a sandboxed session of
//! no restricted agent may use only that session; everyone else is unrestricted.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::identity::Peer;
use crate::manager::SessionManager;
use crate::protocol::{Call, SessionList};
use ai_session_security::permissions::SessionScope;
use ai_session_security::profiles::{AgentProfiles, DEFAULT_AGENT_POLICY, agents_path};
use ai_session_security::{AgentCapabilities, PermissionDenied};
use base64::Engine as _;

/// Shown as the owner of sessions created without an agent; not a valid agent name, so no
/// agent can be mistaken for the operator.
const OPERATOR: &str = "(operator)";

/// The profile file, re-read when it changes (so `ai-session agent grant` applies at once).
#[derive(Debug)]
pub(crate) struct Profiles {
    home: PathBuf,
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
            home: home.to_owned(),
            path: agents_path(home),
            cached: Mutex::new(Cached {
                stamp: None,
                profiles: Arc::new(Ok(AgentProfiles::default())),
            }),
        }
    }

    /// The daemon's home.
    pub(crate) fn home(&self) -> &Path {
        &self.home
    }

    /// `agent`'s capabilities and its sessions' policy, or `None` if it has no profile. An
    /// unreadable or invalid file refuses every agent (fails closed).
    pub(crate) fn rules(
        &self,
        agent: &str,
    ) -> Result<Option<(AgentCapabilities, String)>, PermissionDenied> {
        let Some(caps) = self.capabilities(agent)? else {
            return Ok(None);
        };
        let profiles = self.current();
        let policy = match &*profiles {
            Ok(profiles) => profiles.policy_of(agent).unwrap_or(DEFAULT_AGENT_POLICY),
            Err(_) => DEFAULT_AGENT_POLICY,
        };
        Ok(Some((caps, policy.to_owned())))
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

/// The acting identity of a request and what it may do.
#[derive(Debug, Clone)]
pub(crate) struct Acting {
    /// The agent name requests are recorded under (`None`: the operator).
    pub name: Option<String>,
    /// What it may do.
    pub rights: Rights,
}

/// What an identity may do.
#[derive(Debug, Clone)]
pub(crate) enum Rights {
    /// Not restricted: the operator, agents without a profile, processes of unsandboxed
    /// sessions of no restricted agent.
    Unrestricted,
    /// A restricted agent: its profile's grants and policy.
    Agent {
        /// Its grants and session scope.
        caps: AgentCapabilities,
        /// Its sessions' sandbox policy.
        policy: String,
    },
    /// A process inside a sandboxed session that no restricted agent owns: that session only.
    Confined {
        /// The session.
        session: String,
        /// For list and event filters: scope `own` under the in-session name.
        caps: AgentCapabilities,
    },
}

impl Acting {
    /// The capabilities the dispatcher filters with (`None`: sees everything).
    pub(crate) fn capabilities(&self) -> Option<&AgentCapabilities> {
        match &self.rights {
            Rights::Unrestricted => None,
            Rights::Agent { caps, .. } | Rights::Confined { caps, .. } => Some(caps),
        }
    }
}

/// The agent a request declares: the connection's (from `hello`), else the call's own params'.
pub(crate) fn declared_agent<'a>(
    connection_agent: Option<&'a str>,
    call: &'a Call,
) -> Option<&'a str> {
    match call {
        Call::Hello(params) => params.agent.as_deref().or(connection_agent),
        _ => connection_agent.or_else(|| call.declared_agent()),
    }
}

/// The name processes of `session` act under when no agent owns it: never the operator's,
/// and no agent can declare it (`:` is not allowed in agent names).
pub(crate) fn in_session_name(session: &str) -> String {
    format!("session:{session}")
}

/// Who `call` acts for. `peer` is where the kernel says the connection comes from;
/// `declared` the agent the connection's `hello` (or this call) names.
///
/// From inside a session the owner is the identity: a declared agent must be that owner, or,
/// where the in-session identity is unrestricted anyway, an agent with a profile (a process
/// may narrow its own rights, never widen or borrow another's).
pub(crate) fn acting(
    peer: &Peer,
    declared: Option<&str>,
    profiles: &Profiles,
) -> Result<Acting, PermissionDenied> {
    let as_agent = |name: &str| -> Result<Acting, PermissionDenied> {
        Ok(Acting {
            name: Some(name.to_owned()),
            rights: match profiles.rules(name)? {
                Some((caps, policy)) => Rights::Agent { caps, policy },
                None => Rights::Unrestricted,
            },
        })
    };
    match peer {
        Peer::Outside => match declared {
            None => Ok(Acting {
                name: None,
                rights: Rights::Unrestricted,
            }),
            Some(name) => as_agent(name),
        },
        Peer::InSession {
            session,
            owner,
            sandboxed,
        } => {
            let name = owner.clone().unwrap_or_else(|| in_session_name(session));
            let mut kernel = as_agent(&name)?;
            if matches!(kernel.rights, Rights::Unrestricted) && *sandboxed {
                kernel.rights = Rights::Confined {
                    session: session.clone(),
                    caps: AgentCapabilities::new(&name)
                        .grant(ai_session_security::Permission::ProcessSpawn("*".into())),
                };
            }
            match declared {
                None => Ok(kernel),
                Some(other) if other == name => Ok(kernel),
                Some(other) => {
                    let narrower = as_agent(other)?;
                    if matches!(kernel.rights, Rights::Unrestricted)
                        && matches!(narrower.rights, Rights::Agent { .. })
                    {
                        return Ok(narrower);
                    }
                    Err(PermissionDenied {
                        agent: name.clone(),
                        permission: format!("Identity({other})"),
                        reason: format!(
                            "this connection comes from a process of session `{session}`, which acts as `{name}` (the kernel says so: docs/security.md#identity); it cannot declare agent `{other}`"
                        ),
                    })
                }
            }
        }
    }
}

/// Whether `acting` may make this request. (A restricted agent's new session is checked
/// further by [`crate::restrict`], off the runtime threads.)
pub(crate) fn authorize(
    acting: &Acting,
    call: &Call,
    manager: &SessionManager,
) -> Result<(), PermissionDenied> {
    match &acting.rights {
        Rights::Unrestricted => Ok(()),
        Rights::Confined { session, caps } => confined(caps, session, call, manager),
        Rights::Agent { caps, .. } => restricted(caps, call, manager),
    }
}

fn restricted(
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
    // Input reaches a session's processes, which run under the sandbox of the session's
    // owner: only the agent's own sessions run under its grants, whatever its scope.
    let own_input = |session: &str| match manager.owner_of(session) {
        Some(owner) if owner.as_deref() != Some(agent.agent_id.as_str()) => Err(PermissionDenied {
            agent: agent.agent_id.clone(),
            permission: format!("Input({session})"),
            reason: format!(
                "session `{session}` belongs to {}, and its processes do not run under agent `{}`'s sandbox",
                owner
                    .as_deref()
                    .map_or("the operator".to_owned(), |o| format!("agent `{o}`")),
                agent.agent_id
            ),
        }),
        _ => Ok(()),
    };
    match call {
        Call::Exec(params) => {
            own_input(&params.session)?;
            agent.check_exec(&params.command)
        }
        Call::Wait(params) => params
            .sessions
            .iter()
            .try_for_each(|s| check_owner(manager.owner_of(s))),
        Call::WatchRemove(params) => check_owner(manager.watch_owner(&params.id)),
        Call::Send(params) => {
            own_input(&params.session)?;
            // At the prompt, typed text is a command line for the shell: the early check
            // applies. While a program runs, the keys go to it, and the kernel bounds what
            // it can start (its sandbox's execute allowlist).
            if !manager.at_prompt(&params.session) {
                return Ok(());
            }
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
        Call::Signal(params) => own_input(&params.session),
        Call::ChangesApply(_) if agent.sessions != SessionScope::All => Err(PermissionDenied {
            agent: agent.agent_id.clone(),
            permission: "SessionAccess(all)".to_owned(),
            reason: "applying a change set to the workspace is the operator's review decision"
                .to_owned(),
        }),
        Call::ServerShutdown(_) if agent.sessions != SessionScope::All => Err(PermissionDenied {
            agent: agent.agent_id.clone(),
            permission: "SessionAccess(all)".to_owned(),
            reason: "stopping the daemon kills every agent's sessions".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// A process of a sandboxed session of no restricted agent: it may use that session (where
/// it already runs) and nothing else, and create none.
fn confined(
    caps: &AgentCapabilities,
    session: &str,
    call: &Call,
    manager: &SessionManager,
) -> Result<(), PermissionDenied> {
    let refuse = |what: String| PermissionDenied {
        agent: caps.agent_id.clone(),
        permission: format!("SessionAccess({what})"),
        reason: format!(
            "a process inside sandboxed session `{session}` may use only that session (docs/security.md#identity)"
        ),
    };
    let only = |other: &str| {
        if other == session {
            Ok(())
        } else {
            Err(refuse(other.to_owned()))
        }
    };
    match call {
        Call::SessionNew(_)
        | Call::SessionImport(_)
        | Call::SnapshotRestore(_)
        | Call::ServerShutdown(_)
        | Call::ChangesApply(_) => Err(refuse(call.method().name().to_owned())),
        Call::Wait(params) => params.sessions.iter().try_for_each(|s| only(s)),
        Call::WatchRemove(params) => match manager.watch_owner(&params.id) {
            Some(_) => Err(refuse(format!("watch {}", params.id))),
            None => Ok(()),
        },
        other => match other.session() {
            Some(s) => only(s),
            None => Ok(()),
        },
    }
}

/// Keeps only the sessions `acting` may see in a `session.list` result.
pub(crate) fn filter_list(acting: &Acting, list: &mut SessionList) {
    match &acting.rights {
        Rights::Unrestricted => {}
        Rights::Agent { caps, .. } if caps.sessions == SessionScope::All => {}
        Rights::Agent { caps, .. } => list
            .sessions
            .retain(|s| s.owner.as_deref() == Some(caps.agent_id.as_str())),
        Rights::Confined { session, .. } => list.sessions.retain(|s| &s.id == session),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(method: &str, params: serde_json::Value) -> Call {
        Call::parse(
            crate::protocol::Method::from_name(method).unwrap(),
            Some(params),
        )
        .unwrap()
    }

    #[test]
    fn agent_comes_from_the_connection_then_the_params() {
        let exec = call("exec", json!({"command": "ls", "agent": "a2"}));
        assert_eq!(declared_agent(Some("a1"), &exec), Some("a1"));
        assert_eq!(declared_agent(None, &exec), Some("a2"));
        let stats = call("decision.stats", json!({"agent": "a2"}));
        assert_eq!(declared_agent(None, &stats), None);
        let import = call(
            "session.import",
            json!({"session": {"agent": "a3"}, "scrollback_base64": ""}),
        );
        assert_eq!(declared_agent(None, &import), Some("a3"));
        let hello = call("hello", json!({"agent": "a4"}));
        assert_eq!(declared_agent(Some("a1"), &hello), Some("a4"));
        let mut new = call("session.new", json!({}));
        new.set_agent("a1");
        assert_eq!(new.declared_agent(), Some("a1"));
    }

    #[test]
    fn a_connection_from_a_session_acts_as_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            agents_path(dir.path()),
            "[agents.bot]\nallow = ['process-spawn:ls']\n[agents.narrow]\nallow = []\n",
        )
        .unwrap();
        let profiles = Profiles::new(dir.path());
        let in_bot = Peer::InSession {
            session: "b1".into(),
            owner: Some("bot".into()),
            sandboxed: true,
        };
        let acting_as = |peer: &Peer, declared| acting(peer, declared, &profiles);
        let bot = acting_as(&in_bot, None).unwrap();
        assert_eq!(bot.name.as_deref(), Some("bot"));
        assert!(matches!(bot.rights, Rights::Agent { .. }));
        assert!(acting_as(&in_bot, Some("bot")).is_ok());
        for other in ["free", "narrow"] {
            let error = acting_as(&in_bot, Some(other)).unwrap_err();
            assert!(error.reason.contains("cannot declare"), "{error}");
        }
        // The operator's unsandboxed session: a name of its own, unrestricted, which may
        // narrow itself to a restricted agent but not borrow an unrestricted name.
        let in_op = Peer::InSession {
            session: "op".into(),
            owner: None,
            sandboxed: false,
        };
        let op = acting_as(&in_op, None).unwrap();
        assert_eq!(op.name.as_deref(), Some("session:op"));
        assert!(matches!(op.rights, Rights::Unrestricted));
        assert!(matches!(
            acting_as(&in_op, Some("narrow")).unwrap().rights,
            Rights::Agent { .. }
        ));
        assert!(acting_as(&in_op, Some("free")).is_err());
        // A sandboxed session of nobody restricted: that session only.
        let in_jail = Peer::InSession {
            session: "jail".into(),
            owner: None,
            sandboxed: true,
        };
        let jail = acting_as(&in_jail, None).unwrap();
        assert!(matches!(&jail.rights, Rights::Confined { session, .. } if session == "jail"));
        let outside = acting_as(&Peer::Outside, Some("free")).unwrap();
        assert!(matches!(outside.rights, Rights::Unrestricted));
        assert_eq!(acting_as(&Peer::Outside, None).unwrap().name, None);
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
