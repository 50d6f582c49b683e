//! A session's sandbox launcher: the one path `session.new {policy}`, `ai-session new
//! --policy`, restricted agents' sessions and workers share, so a policy means the same
//! sandbox wherever it is asked for. Every launcher comes from
//! [`ai_session_security::sandbox::session_launcher_with_exe`].

use std::path::{Path, PathBuf};

use ai_session_security::sandbox::{SessionNeeds, session_launcher_with_exe};
use ai_session_security::{AgentCapabilities, SecurityPolicy};

use crate::error::{Error, Result};

/// What a session runs under: the launcher argv its shell follows, and the policy's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandboxing {
    /// `ai-session __sandbox-exec ... --`; empty for `trusted`.
    pub launcher: Vec<String>,
    /// The policy's name (`None` for `trusted`: not sandboxed).
    pub policy: Option<String>,
}

/// The policy named `policy`: a preset (`trusted`, `workspace`, `strict`) or the path of a
/// TOML policy file ([`SecurityPolicy::resolve`]).
pub fn load_policy(policy: &str) -> Result<SecurityPolicy> {
    if policy.parse::<ai_session_security::Preset>().is_err() && !Path::new(policy).is_absolute() {
        return Err(Error::InvalidParam {
            field: "policy",
            reason: format!(
                "{policy:?} is no preset (trusted, workspace, strict), and a policy file must be given by its absolute path"
            ),
        });
    }
    SecurityPolicy::resolve(policy).map_err(|e| Error::InvalidParam {
        field: "policy",
        reason: format!(
            "{e} (use a preset: trusted, workspace, strict; or the absolute path of a TOML policy file)"
        ),
    })
}

/// The sandbox's writable directory: `workspace`, else `cwd`, else the current directory.
pub fn resolve_workspace(workspace: Option<&str>, cwd: Option<&str>) -> Result<PathBuf> {
    match (workspace, cwd) {
        (Some(dir), _) => std::path::absolute(dir)
            .map_err(|e| Error::io("resolve the workspace", Path::new(dir), e)),
        (None, Some(cwd)) => Ok(PathBuf::from(cwd)),
        (None, None) => std::env::current_dir()
            .map_err(|e| Error::io("read the current directory", Path::new("."), e)),
    }
}

/// What a session's shell needs from its sandbox: the PTY crate's session environment
/// (`TERM`, `PAGER=cat`, the rc file variables `ENV`/`ZDOTDIR`), the names of the request's
/// own `env`, and the shell-integration rc directory (read-only).
pub fn session_needs(env_keys: &[String]) -> SessionNeeds {
    let mut env: Vec<String> = ai_session_pty::agent_env_defaults()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .chain(["ENV", "ZDOTDIR"].map(str::to_owned))
        .collect();
    for key in env_keys {
        if !env.contains(key) {
            env.push(key.clone());
        }
    }
    SessionNeeds {
        env,
        read_only: vec![ai_session_pty::integration_dir()],
        helpers: Vec::new(),
    }
}

/// The launcher for a session under `policy` whose writable directory is `workspace`,
/// narrowed to `agent`'s grants when a restricted agent owns it, with `env_keys` passed into
/// the sandbox besides the session defaults. `exe` is the `ai-session` binary that has
/// `__sandbox-exec`. A `trusted` policy gives no launcher (and is an error for an agent).
pub fn session_sandbox(
    policy: &SecurityPolicy,
    agent: Option<&AgentCapabilities>,
    workspace: &Path,
    env_keys: &[String],
    exe: &Path,
) -> Result<Sandboxing> {
    let launcher =
        session_launcher_with_exe(exe, policy, agent, workspace, &session_needs(env_keys), &[])
            .map_err(|e| Error::InvalidParam {
                field: "policy",
                reason: e.to_string(),
            })?;
    let policy = ai_session_security::launcher_policy(&launcher).map(|(name, _)| name);
    Ok(Sandboxing { launcher, policy })
}

/// The policy and workspace of a launcher argv the daemon built (`None`: not a sandbox
/// launcher, or one whose policy it cannot read).
pub fn launcher_sandbox(launcher: &[String]) -> Option<(SecurityPolicy, PathBuf)> {
    if launcher.get(1).map(String::as_str) != Some(ai_session_security::SANDBOX_EXEC_SUBCOMMAND) {
        return None;
    }
    let options = launcher[2..].iter().take_while(|a| *a != "--");
    let request = ai_session_security::sandbox::parse_sandbox_exec_args(options).ok()?;
    Some((request.policy, request.workspace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ai_session_security::{Permission, Preset};

    #[test]
    fn new_policy_and_an_agent_share_one_launcher_builder() {
        let exe = Path::new("/x/ai-session");
        let strict = SecurityPolicy::preset(Preset::Strict);
        let plain = session_sandbox(&strict, None, Path::new("/w"), &["FOO".into()], exe).unwrap();
        assert_eq!(plain.policy.as_deref(), Some("strict"));
        let (policy, workspace) = launcher_sandbox(&plain.launcher).unwrap();
        assert_eq!(workspace, Path::new("/w"));
        assert!(policy.environment.pass.contains(&"FOO".to_owned()));
        assert!(policy.environment.pass.contains(&"PAGER".to_owned()));
        assert!(
            policy
                .fs_permissions
                .read_only
                .contains(&ai_session_pty::integration_dir())
        );
        let bot = AgentCapabilities::new("bot").grant(Permission::ProcessSpawn("ls".into()));
        let agent = session_sandbox(&strict, Some(&bot), Path::new("/w"), &[], exe).unwrap();
        assert_eq!(agent.policy.as_deref(), Some("strict+agent:bot"));
        let (policy, _) = launcher_sandbox(&agent.launcher).unwrap();
        assert_eq!(policy.exec.allow, Some(vec!["ls".to_owned()]));
        let trusted = SecurityPolicy::preset(Preset::Trusted);
        let none = session_sandbox(&trusted, None, Path::new("/w"), &[], exe).unwrap();
        assert!(none.launcher.is_empty() && none.policy.is_none());
        assert!(session_sandbox(&trusted, Some(&bot), Path::new("/w"), &[], exe).is_err());
        assert!(launcher_sandbox(&["bash".into()]).is_none());
    }

    #[test]
    fn relative_policy_files_are_refused() {
        assert!(load_policy("strict").is_ok());
        assert!(load_policy("dir/p.toml").is_err());
        assert!(load_policy("p.toml").is_err());
        assert!(load_policy("lax").is_err());
    }
}
