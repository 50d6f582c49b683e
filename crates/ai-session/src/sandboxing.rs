//! A session's sandbox launcher, built from a policy name: the one path `session.new
//! {policy}`, `ai-session new --policy` and workers share, so a policy means the same
//! sandbox wherever it is asked for.

use std::path::{Path, PathBuf};

use ai_session_security::SecurityPolicy;

use crate::error::{Error, Result};

/// What a session runs under: the launcher argv its shell follows, and the policy's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandboxing {
    /// `ai-session __sandbox-exec ... --`; empty for `trusted`.
    pub launcher: Vec<String>,
    /// The policy's name (`None` for `trusted`: not sandboxed).
    pub policy: Option<String>,
}

/// The policy named `policy`: a preset (`trusted`, `workspace`, `strict`) or the absolute
/// path of a TOML policy file.
pub fn load_policy(policy: &str) -> Result<SecurityPolicy> {
    let loaded = if Path::new(policy).is_absolute() {
        SecurityPolicy::from_toml_file(Path::new(policy))
    } else {
        SecurityPolicy::named(policy)
    };
    loaded.map_err(|e| Error::InvalidParam {
        field: "policy",
        reason: format!(
            "{e} (use a preset: trusted, workspace, strict; or the absolute path of a TOML policy file)"
        ),
    })
}

/// The launcher for a session under `policy` whose writable directory is `workspace`
/// (default: `cwd`, else the current directory), with `env_keys` passed into the sandbox
/// besides the agent defaults. `exe` is the `ai-session` binary that has `__sandbox-exec`.
pub fn session_sandbox(
    mut policy: SecurityPolicy,
    workspace: Option<&str>,
    cwd: Option<&str>,
    env_keys: &[String],
    exe: &Path,
) -> Result<Sandboxing> {
    if !policy.sandbox {
        return Ok(Sandboxing {
            launcher: Vec::new(),
            policy: None,
        });
    }
    let workspace = match (workspace, cwd) {
        (Some(dir), _) => std::path::absolute(dir)
            .map_err(|e| Error::io("resolve the workspace", Path::new(dir), e))?,
        (None, Some(cwd)) => PathBuf::from(cwd),
        (None, None) => std::env::current_dir()
            .map_err(|e| Error::io("read the current directory", Path::new("."), e))?,
    };
    let pass = &mut policy.environment.pass;
    let session_env = ai_session_pty::agent_env_defaults()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .chain(["ENV", "ZDOTDIR"].map(str::to_owned))
        .chain(env_keys.iter().cloned());
    for name in session_env {
        if !pass.contains(&name) {
            pass.push(name);
        }
    }
    // The shell reads its integration rc file from the PTY crate's private directory.
    policy
        .fs_permissions
        .read_only
        .push(ai_session_pty::integration_dir());
    let name = policy.name.clone();
    Ok(Sandboxing {
        launcher: ai_session_security::sandbox::sandbox_argv_with_exe(
            &exe.to_string_lossy(),
            &policy,
            &workspace,
            &[],
        ),
        policy: Some(name),
    })
}
