//! The one way a session's sandbox launcher is built: `ai-session new --policy`, a
//! restricted agent's sessions and `ai-session worker` tasks all come through
//! [`session_launcher`], so they cannot drift apart.

use std::path::{Path, PathBuf};

use super::sandbox_argv_with_exe;
use crate::grants::restrict_policy;
use crate::permissions::AgentCapabilities;
use crate::policy::{PolicyError, SecurityPolicy};
use crate::profiles::{AgentProfiles, ProfileError};

/// Why a restricted agent's launcher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    /// The agent's profile is invalid (a bad grant string).
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Its policy names no preset and no readable policy file, or does not sandbox.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// The launcher of a session created by `agent`: `None` when the agent has no profile
/// (it acts as the operator); otherwise its profile's policy ([`AgentProfiles::policy_of`],
/// resolved with [`SecurityPolicy::resolve`]) restricted to its grants, through
/// [`session_launcher`].
///
/// ```
/// use ai_session_security::profiles::AgentProfiles;
/// use ai_session_security::sandbox::{SessionNeeds, agent_launcher};
/// use std::path::Path;
/// let mut profiles = AgentProfiles::default();
/// profiles.grant("bot", &["process-spawn:ls"], None).unwrap();
/// profiles.set_policy("bot", "strict").unwrap();
/// let needs = SessionNeeds::default();
/// let argv = agent_launcher(&profiles, "bot", Path::new("/w"), &needs, &[]).unwrap().unwrap();
/// let (policy, _) = ai_session_security::launcher_policy(&argv).unwrap();
/// assert_eq!(policy, "strict+agent:bot");
/// assert!(agent_launcher(&profiles, "operator", Path::new("/w"), &needs, &[]).unwrap().is_none());
/// ```
pub fn agent_launcher(
    profiles: &AgentProfiles,
    agent: &str,
    workspace: &Path,
    needs: &SessionNeeds,
    program: &[String],
) -> Result<Option<Vec<String>>, LauncherError> {
    agent_launcher_with_exe(&current_exe(), profiles, agent, workspace, needs, program)
}

/// [`agent_launcher`] with an explicit launcher executable.
pub fn agent_launcher_with_exe(
    exe: &Path,
    profiles: &AgentProfiles,
    agent: &str,
    workspace: &Path,
    needs: &SessionNeeds,
    program: &[String],
) -> Result<Option<Vec<String>>, LauncherError> {
    let (Some(capabilities), Some(policy_name)) =
        (profiles.capabilities(agent)?, profiles.policy_of(agent))
    else {
        return Ok(None);
    };
    let policy = SecurityPolicy::resolve(policy_name)?;
    Ok(Some(session_launcher_with_exe(
        exe,
        &policy,
        Some(&capabilities),
        workspace,
        needs,
        program,
    )?))
}

/// What a session's shell needs from its sandbox besides the policy. The security crate
/// does not know the PTY crate; the daemon fills this from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionNeeds {
    /// Environment variables the session sets for its shell (the PTY crate's
    /// `agent_env_defaults`, `ENV`, `ZDOTDIR`, the names of the request's `env`): passed
    /// through the policy's environment allowlist.
    pub env: Vec<String>,
    /// Paths the shell must read (the PTY crate's shell-integration rc directory): bound
    /// read-only.
    pub read_only: Vec<PathBuf>,
    /// Programs the shell itself starts (none for our bash/sh/zsh rc files, which use
    /// builtins only): added to an execute allowlist.
    pub helpers: Vec<String>,
}

/// The launcher argv of a session under `policy`, restricted to `agent`'s grants when the
/// session belongs to a restricted agent (see [`crate::grants`]), running `program` (empty:
/// the argv ends in `--` and the daemon appends the shell). An unsandboxed (`trusted`)
/// policy returns `program` unchanged, unless an agent is given: a restricted agent's
/// sessions always run sandboxed, so that is an error.
///
/// ```
/// use ai_session_security::sandbox::{SessionNeeds, session_launcher};
/// use ai_session_security::{AgentCapabilities, Permission, Preset, SecurityPolicy};
/// use std::path::Path;
/// let bot = AgentCapabilities::new("bot").grant(Permission::ProcessSpawn("python3".into()));
/// let needs = SessionNeeds { env: vec!["PAGER".into()], ..SessionNeeds::default() };
/// let policy = SecurityPolicy::preset(Preset::Workspace);
/// let argv = session_launcher(&policy, Some(&bot), Path::new("/work/p"), &needs, &[]).unwrap();
/// assert_eq!(argv.last().map(String::as_str), Some("--"));
/// let (name, workspace) = ai_session_security::launcher_policy(&argv).unwrap();
/// assert_eq!((name.as_str(), workspace.as_str()), ("workspace+agent:bot", "/work/p"));
/// let trusted = SecurityPolicy::preset(Preset::Trusted);
/// assert!(session_launcher(&trusted, Some(&bot), Path::new("/w"), &needs, &[]).is_err());
/// assert!(session_launcher(&trusted, None, Path::new("/w"), &needs, &[]).unwrap().is_empty());
/// ```
pub fn session_launcher(
    policy: &SecurityPolicy,
    agent: Option<&AgentCapabilities>,
    workspace: &Path,
    needs: &SessionNeeds,
    program: &[String],
) -> Result<Vec<String>, PolicyError> {
    session_launcher_with_exe(&current_exe(), policy, agent, workspace, needs, program)
}

/// [`session_launcher`] with an explicit launcher executable (the `ai-session` binary that
/// has `__sandbox-exec`, when the caller is not that binary).
pub fn session_launcher_with_exe(
    exe: &Path,
    policy: &SecurityPolicy,
    agent: Option<&AgentCapabilities>,
    workspace: &Path,
    needs: &SessionNeeds,
    program: &[String],
) -> Result<Vec<String>, PolicyError> {
    let policy = session_policy(policy, agent, needs)?;
    Ok(sandbox_argv_with_exe(
        &exe.to_string_lossy(),
        &policy,
        workspace,
        program,
    ))
}

fn current_exe() -> std::path::PathBuf {
    std::env::current_exe().unwrap_or_else(|_| "ai-session".into())
}

/// The policy [`session_launcher`] puts in the launcher: `policy` narrowed to `agent`'s
/// grants, passing the session's environment and reading its rc directory.
pub fn session_policy(
    policy: &SecurityPolicy,
    agent: Option<&AgentCapabilities>,
    needs: &SessionNeeds,
) -> Result<SecurityPolicy, PolicyError> {
    if !policy.sandbox {
        return match agent {
            Some(agent) => Err(PolicyError::Invalid {
                origin: format!("the profile of agent `{}`", agent.agent_id),
                message: format!(
                    "policy `{}` does not sandbox, and a restricted agent's sessions always run \
                     sandboxed; give its profile `policy = \"workspace\"` or `\"strict\"`",
                    policy.name
                ),
            }),
            None => Ok(policy.clone()),
        };
    }
    let mut policy = match agent {
        Some(agent) => restrict_policy(policy, agent),
        None => policy.clone(),
    };
    let pass = &mut policy.environment.pass;
    for name in &needs.env {
        if !pass.contains(name) {
            pass.push(name.clone());
        }
    }
    for path in &needs.read_only {
        if !policy.fs_permissions.read_only.contains(path) {
            policy.fs_permissions.read_only.push(path.clone());
        }
    }
    if let Some(allow) = &mut policy.exec.allow {
        for helper in &needs.helpers {
            if !allow.contains(helper) {
                allow.push(helper.clone());
            }
        }
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Permission;
    use crate::policy::Preset;
    use crate::sandbox::parse_sandbox_exec_args;

    #[test]
    fn the_launcher_carries_the_grants_and_the_session_needs() {
        let bot = AgentCapabilities::new("bot")
            .grant(Permission::ProcessSpawn("ls".into()))
            .grant(Permission::FileWrite("/work/p".into()));
        let needs = SessionNeeds {
            env: vec!["PAGER".into(), "PATH".into()],
            read_only: vec!["/run/rc".into()],
            helpers: vec!["stty".into()],
        };
        let argv = session_launcher(
            &SecurityPolicy::preset(Preset::Strict),
            Some(&bot),
            Path::new("/work/p"),
            &needs,
            &["bash".into()],
        )
        .unwrap();
        let request = parse_sandbox_exec_args(argv.into_iter().skip(2)).unwrap();
        let policy = request.policy;
        assert_eq!(policy.exec.allow, Some(vec!["ls".into(), "stty".into()]));
        assert_eq!(
            policy
                .environment
                .pass
                .iter()
                .filter(|n| *n == "PATH")
                .count(),
            1
        );
        assert!(policy.environment.pass.contains(&"PAGER".to_owned()));
        assert!(
            policy
                .fs_permissions
                .read_only
                .contains(&PathBuf::from("/run/rc"))
        );
        assert_eq!(
            policy.fs_permissions.grants.unwrap().write,
            vec![PathBuf::from("/work/p")]
        );
        assert_eq!(request.argv, ["bash"].map(std::ffi::OsString::from));
    }

    #[test]
    fn the_operator_keeps_the_policy_as_it_is() {
        let strict = SecurityPolicy::preset(Preset::Strict);
        let policy = session_policy(&strict, None, &SessionNeeds::default()).unwrap();
        assert_eq!(policy, strict);
    }
}
