//! Agent permission profiles: which agents the daemon restricts, and what each may do.
//! Stored as `$AI_SESSION_HOME/agents.toml`:
//!
//! ```toml
//! [agents.builder]
//! allow = ["process-spawn:git", "process-spawn:ls", "file-read:/work"]
//! sessions = "own"     # or "all"
//! policy = "strict"    # the sandbox its sessions run under (default "workspace")
//! ```
//!
//! An agent named here gets exactly these grants ([`AgentCapabilities`]), and its sessions
//! always run sandboxed under `policy` with the grants compiled in
//! ([`crate::sandbox::session_launcher`]); an agent that is not named, and a client that
//! names no agent (the operator), is not restricted.
//!
//! ```
//! use ai_session_security::profiles::AgentProfiles;
//! let mut profiles = AgentProfiles::default();
//! profiles.grant("builder", &["process-spawn:git"], None).unwrap();
//! let builder = profiles.capabilities("builder").unwrap().unwrap();
//! assert!(builder.check_exec("git status").is_ok());
//! assert!(builder.check_exec("cargo build").is_err());
//! assert!(profiles.capabilities("someone-else").unwrap().is_none());
//! let text = profiles.to_toml();
//! assert_eq!(AgentProfiles::from_toml_str(&text).unwrap(), profiles);
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::permissions::{AgentCapabilities, Permission, SessionScope};

/// The profile file inside an `$AI_SESSION_HOME`.
pub fn agents_path(home: &Path) -> PathBuf {
    home.join("agents.toml")
}

/// Why a profile could not be read, parsed or saved.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A grant string is not `kind:target`.
    #[error(
        "invalid grant {grant:?}: {reason} (use process-spawn:PROGRAM, file-read:/PATH, file-write:/PATH, file-execute:/PATH, network-connect:HOST[:PORT], syscall:NAME; `*` for any program, host or port)"
    )]
    InvalidGrant {
        /// The rejected string.
        grant: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A profile's `policy` is not a sandboxing policy.
    #[error("invalid policy {policy:?} for agent `{agent}`: {reason}")]
    InvalidPolicy {
        /// The agent whose profile names it.
        agent: String,
        /// The rejected value.
        policy: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An agent name that cannot appear in sessions and audit events.
    #[error("invalid agent name {0:?}: use 1-64 characters of A-Z a-z 0-9 _ . - @")]
    InvalidAgent(String),
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {message} (fix or remove the file; see docs/security.md#permissions)")]
    Toml {
        /// The file (or `text`).
        path: String,
        /// The parser's message, naming the key.
        message: String,
    },
    /// Reading or writing the file failed.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operation.
        what: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Parses a grant string (`process-spawn:git`, `file-read:/work`, ...).
pub fn parse_grant(text: &str) -> Result<Permission, ProfileError> {
    let invalid = |reason: &str| ProfileError::InvalidGrant {
        grant: text.to_owned(),
        reason: reason.to_owned(),
    };
    let (kind, target) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| invalid("missing `:` between kind and target"))?;
    if target.is_empty() {
        return Err(invalid("empty target"));
    }
    let path = || {
        if target.starts_with('/') {
            Ok(PathBuf::from(target))
        } else {
            Err(invalid("paths must be absolute"))
        }
    };
    Ok(match kind {
        "process-spawn" => Permission::ProcessSpawn(target.to_owned()),
        "file-read" => Permission::FileRead(path()?),
        "file-write" => Permission::FileWrite(path()?),
        "file-execute" => Permission::FileExecute(path()?),
        "network-connect" => Permission::NetworkConnect(target.to_owned()),
        "syscall" => Permission::SystemCall(target.to_owned()),
        _ => return Err(invalid("unknown kind")),
    })
}

/// The grant string of a permission (inverse of [`parse_grant`]).
pub fn grant_string(permission: &Permission) -> String {
    match permission {
        Permission::ProcessSpawn(p) => format!("process-spawn:{p}"),
        Permission::FileRead(p) => format!("file-read:{}", p.display()),
        Permission::FileWrite(p) => format!("file-write:{}", p.display()),
        Permission::FileExecute(p) => format!("file-execute:{}", p.display()),
        Permission::NetworkConnect(t) => format!("network-connect:{t}"),
        Permission::SystemCall(s) => format!("syscall:{s}"),
    }
}

/// One agent's entry in `agents.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// Grant strings (see [`parse_grant`]).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Whose sessions the agent may access.
    #[serde(default)]
    pub sessions: SessionScope,
    /// The sandbox policy of the agent's sessions: `workspace` (the default), `strict`, or
    /// the absolute path of a TOML policy file. Never `trusted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// The policy of an agent whose profile names none.
pub const DEFAULT_AGENT_POLICY: &str = "workspace";

impl AgentProfile {
    /// The profile's policy, or [`DEFAULT_AGENT_POLICY`].
    pub fn policy_name(&self) -> &str {
        self.policy.as_deref().unwrap_or(DEFAULT_AGENT_POLICY)
    }
}

/// Checks a profile's `policy` value: a sandboxing preset, or an absolute `.toml` path.
pub fn validate_policy_name(agent: &str, policy: &str) -> Result<(), ProfileError> {
    let invalid = |reason: &str| ProfileError::InvalidPolicy {
        agent: agent.to_owned(),
        policy: policy.to_owned(),
        reason: reason.to_owned(),
    };
    match policy.parse::<crate::policy::Preset>() {
        Ok(crate::policy::Preset::Trusted) => Err(invalid(
            "a restricted agent's sessions always run sandboxed (remove the profile to make the agent unrestricted)",
        )),
        Ok(_) => Ok(()),
        Err(_) if policy.starts_with('/') && policy.ends_with(".toml") => Ok(()),
        Err(_) => Err(invalid(
            "use `workspace`, `strict` or the absolute path of a .toml policy file",
        )),
    }
}

/// Every agent profile (the whole `agents.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfiles {
    /// Profiles by agent name.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentProfile>,
}

/// Agent names share one alphabet with session names, plus `@` (`claude@host`).
pub fn validate_agent_name(name: &str) -> Result<(), ProfileError> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ProfileError::InvalidAgent(name.to_owned()))
    }
}

impl AgentProfiles {
    /// Parses `agents.toml` text; every grant is checked.
    pub fn from_toml_str(text: &str) -> Result<Self, ProfileError> {
        Self::parse(text, "text")
    }

    fn parse(text: &str, origin: &str) -> Result<Self, ProfileError> {
        let profiles: AgentProfiles = toml::from_str(text).map_err(|e| ProfileError::Toml {
            path: origin.to_owned(),
            message: e.message().to_owned(),
        })?;
        for (name, profile) in &profiles.agents {
            validate_agent_name(name)?;
            for grant in &profile.allow {
                parse_grant(grant)?;
            }
            if let Some(policy) = &profile.policy {
                validate_policy_name(name, policy)?;
            }
        }
        Ok(profiles)
    }

    /// Reads `path`; a missing file is an empty set of profiles.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        match fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ProfileError::Io {
                path: path.to_owned(),
                what: "reading",
                source,
            }),
        }
    }

    /// The TOML text of these profiles.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes `path` atomically (temp file mode 0600, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), ProfileError> {
        let io = |what: &'static str| {
            move |source| ProfileError::Io {
                path: path.to_owned(),
                what,
                source,
            }
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io("creating the directory of"))?;
        }
        let tmp = path.with_extension("toml.tmp");
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("creating a temporary file for"))?;
        file.write_all(self.to_toml().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io("writing"))?;
        fs::rename(&tmp, path).map_err(io("replacing"))
    }

    /// The capability set of `agent`, or `None` when it has no profile (unrestricted).
    pub fn capabilities(&self, agent: &str) -> Result<Option<AgentCapabilities>, ProfileError> {
        let Some(profile) = self.agents.get(agent) else {
            return Ok(None);
        };
        let grants = profile
            .allow
            .iter()
            .map(|g| parse_grant(g))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(AgentCapabilities {
            agent_id: agent.to_owned(),
            grants,
            sessions: profile.sessions,
        }))
    }

    /// Adds grants to `agent` (creating its profile, which restricts it from now on) and
    /// sets its session scope when given. Duplicates are kept once.
    pub fn grant(
        &mut self,
        agent: &str,
        grants: &[&str],
        sessions: Option<SessionScope>,
    ) -> Result<(), ProfileError> {
        validate_agent_name(agent)?;
        let parsed = grants
            .iter()
            .map(|g| parse_grant(g).map(|p| grant_string(&p)))
            .collect::<Result<Vec<_>, _>>()?;
        let profile = self.agents.entry(agent.to_owned()).or_default();
        for grant in parsed {
            if !profile.allow.contains(&grant) {
                profile.allow.push(grant);
            }
        }
        if let Some(scope) = sessions {
            profile.sessions = scope;
        }
        Ok(())
    }

    /// Removes grants from `agent` (its profile stays, so it stays restricted); returns how
    /// many were removed.
    pub fn revoke(&mut self, agent: &str, grants: &[&str]) -> Result<usize, ProfileError> {
        let parsed = grants
            .iter()
            .map(|g| parse_grant(g).map(|p| grant_string(&p)))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(profile) = self.agents.get_mut(agent) else {
            return Ok(0);
        };
        let before = profile.allow.len();
        profile.allow.retain(|g| !parsed.contains(g));
        Ok(before - profile.allow.len())
    }

    /// The sandbox policy of `agent`'s sessions (`None` when it has no profile).
    pub fn policy_of(&self, agent: &str) -> Option<&str> {
        self.agents.get(agent).map(AgentProfile::policy_name)
    }

    /// Sets the sandbox policy of `agent`'s sessions (creating its profile).
    pub fn set_policy(&mut self, agent: &str, policy: &str) -> Result<(), ProfileError> {
        validate_agent_name(agent)?;
        validate_policy_name(agent, policy)?;
        self.agents.entry(agent.to_owned()).or_default().policy = Some(policy.to_owned());
        Ok(())
    }

    /// Deletes `agent`'s profile (it is unrestricted again); true if it had one.
    pub fn remove(&mut self, agent: &str) -> bool {
        self.agents.remove(agent).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_strings_round_trip() {
        for text in [
            "process-spawn:git",
            "process-spawn:*",
            "file-read:/work",
            "file-write:/work/a",
            "file-execute:/usr/bin",
            "network-connect:127.0.0.1:8080",
            "network-connect:*",
            "syscall:ptrace",
        ] {
            assert_eq!(grant_string(&parse_grant(text).unwrap()), text);
        }
        for bad in ["git", "process-spawn:", "file-read:relative", "teleport:x"] {
            let err = parse_grant(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn toml_errors_name_the_problem() {
        let err = AgentProfiles::from_toml_str("[agents.a]\nallow = ['cargo']\n").unwrap_err();
        assert!(err.to_string().contains("\"cargo\""), "{err}");
        let err = AgentProfiles::from_toml_str("[agents.a]\nalow = []\n").unwrap_err();
        assert!(err.to_string().contains("alow"), "{err}");
        let err = AgentProfiles::from_toml_str("[agents.a]\nsessions = 'some'\n").unwrap_err();
        assert!(err.to_string().contains("some"), "{err}");
        let err = AgentProfiles::from_toml_str("[agents.'a b']\n").unwrap_err();
        assert!(err.to_string().contains("a b"), "{err}");
    }

    #[test]
    fn the_policy_key_defaults_to_workspace_and_never_lifts_the_sandbox() {
        let profiles =
            AgentProfiles::from_toml_str("[agents.a]\nallow = []\n[agents.b]\npolicy = 'strict'\n")
                .unwrap();
        assert_eq!(profiles.policy_of("a"), Some("workspace"));
        assert_eq!(profiles.policy_of("b"), Some("strict"));
        assert_eq!(profiles.policy_of("nobody"), None);
        for bad in ["trusted", "lax", "relative.toml"] {
            let text = format!("[agents.a]\npolicy = '{bad}'\n");
            let err = AgentProfiles::from_toml_str(&text).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        let mut profiles = AgentProfiles::default();
        profiles.set_policy("c", "/etc/ai/ci.toml").unwrap();
        assert!(profiles.set_policy("c", "trusted").is_err());
        let text = profiles.to_toml();
        assert!(text.contains("policy = \"/etc/ai/ci.toml\""), "{text}");
        assert_eq!(AgentProfiles::from_toml_str(&text).unwrap(), profiles);
        // A profile without the key writes none, so old files stay as they were.
        let mut plain = AgentProfiles::default();
        plain.grant("d", &["process-spawn:ls"], None).unwrap();
        assert!(!plain.to_toml().contains("policy"));
    }

    #[test]
    fn grant_revoke_remove_and_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = agents_path(dir.path());
        assert_eq!(
            AgentProfiles::load(&path).unwrap(),
            AgentProfiles::default()
        );
        let mut profiles = AgentProfiles::default();
        profiles
            .grant("a1", &["process-spawn:git", "process-spawn:ls"], None)
            .unwrap();
        profiles
            .grant("a1", &["process-spawn:git"], Some(SessionScope::All))
            .unwrap();
        profiles.save(&path).unwrap();
        let loaded = AgentProfiles::load(&path).unwrap();
        assert_eq!(loaded, profiles);
        let caps = loaded.capabilities("a1").unwrap().unwrap();
        assert_eq!(caps.grants.len(), 2);
        assert_eq!(caps.sessions, SessionScope::All);
        assert_eq!(profiles.revoke("a1", &["process-spawn:ls"]).unwrap(), 1);
        let caps = profiles.capabilities("a1").unwrap().unwrap();
        assert!(caps.check_exec("ls").is_err());
        assert!(profiles.remove("a1"));
        assert!(profiles.capabilities("a1").unwrap().is_none());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
