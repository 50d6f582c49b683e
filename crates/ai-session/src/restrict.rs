//! The session a restricted agent (one with a profile in `agents.toml`) gets: every field of
//! `session.new` and `session.import` (shell, launcher, env, cwd, policy, workspace) is decided
//! here, from the typed params, for the permission check before dispatch and for the
//! manager that builds the session alike.
//!
//! - `launcher`: refused. The daemon builds the sandbox from the profile's `policy`.
//! - `policy`: the profile's (default `workspace`); a request may only name a stricter preset.
//! - `shell`: bash, sh or zsh, by name or by their path in a system directory.
//! - `env`: names on [`ai_session_security::environment::AGENT_ENV_ALLOWLIST`] only.
//! - `workspace`: inside a `file-read`/`file-write` grant; an agent without file grants works
//!   in its private directory `$AI_SESSION_HOME/workspaces/<agent>` (made by the daemon, so
//!   no path in it can be swapped for a symlink). Never a directory that holds the daemon's
//!   home (its `agents.toml`, keys and socket).
//! - `cwd`: inside the workspace, else the workspace.

use std::path::{Path, PathBuf};

use ai_session_security::environment::check_agent_env;
use ai_session_security::permissions::{normalize, path_within};
use ai_session_security::{
    AgentCapabilities, Permission, PermissionDenied, Preset, SecurityPolicy,
};

use crate::error::{Error, Result};
use crate::protocol::NewSessionParams;

/// The shells a restricted agent's session may run (those with exact command tracking).
const SHELLS: &[&str] = &["bash", "sh", "zsh"];
/// Where a shell given by path must live.
const SHELL_DIRS: &[&str] = &["/bin", "/usr/bin", "/usr/local/bin"];
/// Under the daemon's home: one private workspace per agent without file grants.
pub(crate) const WORKSPACES_DIR: &str = "workspaces";

/// A restricted agent as the daemon knows it.
#[derive(Debug, Clone)]
pub(crate) struct AgentRules<'a> {
    /// Its grants.
    pub caps: &'a AgentCapabilities,
    /// Its profile's policy (a preset or a policy file).
    pub policy: &'a str,
    /// The daemon's home.
    pub home: &'a Path,
}

/// What a restricted agent's new session runs under.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    /// The policy (the profile's, or the stricter one asked for), before the grants.
    pub policy: SecurityPolicy,
    /// The sandbox's workspace (canonical).
    pub workspace: PathBuf,
    /// Where the shell starts.
    pub cwd: PathBuf,
}

impl AgentRules<'_> {
    fn denied(&self, permission: &str, reason: String) -> Error {
        Error::PermissionDenied(PermissionDenied {
            agent: self.caps.agent_id.clone(),
            permission: permission.to_owned(),
            reason,
        })
    }

    /// The agent's private workspace (for agents without file grants).
    pub(crate) fn private_workspace(&self) -> PathBuf {
        self.home.join(WORKSPACES_DIR).join(&self.caps.agent_id)
    }

    /// Decides the session. Blocking (resolves paths; with `make_private` it also creates the
    /// private workspace): run it off the runtime threads.
    pub(crate) fn decide(&self, params: &NewSessionParams, make_private: bool) -> Result<Decision> {
        if !params.launcher.is_empty() {
            return Err(self.denied(
                "a raw launcher",
                "a restricted agent's sandbox is built by the daemon from its profile's policy; \
                 pass `policy` (a preset at least as strict as its profile's) instead of `launcher`"
                    .to_owned(),
            ));
        }
        if let Some(shell) = &params.shell {
            self.check_shell(shell)?;
        }
        for name in params.env.keys() {
            check_agent_env(name).map_err(|refused| {
                self.denied(
                    &format!("Env({name})"),
                    format!(
                        "{refused}; allowed: {}",
                        ai_session_security::environment::AGENT_ENV_ALLOWLIST.join(" ")
                    ),
                )
            })?;
        }
        let policy = self.policy_for(params.policy.as_deref())?;
        let workspace = self.workspace_for(params, make_private)?;
        let cwd = match params.cwd.as_deref().map(Path::new) {
            Some(cwd) if path_within(&workspace, cwd) => cwd.to_owned(),
            _ => workspace.clone(),
        };
        Ok(Decision {
            policy,
            workspace,
            cwd,
        })
    }

    fn check_shell(&self, shell: &str) -> Result<()> {
        let path = Path::new(shell);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let placed = match path.parent() {
            Some(dir) if dir.as_os_str().is_empty() => true,
            Some(dir) => SHELL_DIRS.iter().any(|d| dir == Path::new(d)),
            None => false,
        };
        if SHELLS.contains(&name) && placed {
            return Ok(());
        }
        Err(self.denied(
            &format!("Shell({shell})"),
            format!(
                "a restricted agent's session runs bash, sh or zsh (by name, or from {}); run other programs in it",
                SHELL_DIRS.join(", ")
            ),
        ))
    }

    /// The profile's policy, or `asked` when it is at least as strict.
    fn policy_for(&self, asked: Option<&str>) -> Result<SecurityPolicy> {
        let chosen = match asked {
            None => self.policy,
            Some(asked) if asked == self.policy => asked,
            Some(asked) => match (asked.parse::<Preset>(), self.policy.parse::<Preset>()) {
                (Ok(a), Ok(p)) if strictness(a) >= strictness(p) => asked,
                _ => {
                    return Err(self.denied(
                        &format!("Policy({asked})"),
                        format!(
                            "its sessions run under its profile's policy `{}`; a session may name only a preset at least as strict (workspace < strict)",
                            self.policy
                        ),
                    ));
                }
            },
        };
        crate::sandboxing::load_policy(chosen)
    }

    fn workspace_for(&self, params: &NewSessionParams, make_private: bool) -> Result<PathBuf> {
        let asked = params.workspace.as_deref().or(params.cwd.as_deref());
        let file_grants: Vec<&Path> = self
            .caps
            .grants
            .iter()
            .filter_map(|g| match g {
                Permission::FileWrite(p) | Permission::FileRead(p) => Some(p.as_path()),
                _ => None,
            })
            .collect();
        let home = canonical(self.home);
        for grant in &file_grants {
            if path_within(&canonical(grant), &home) {
                return Err(self.denied(
                    "a view without the daemon's home",
                    format!(
                        "its grant of {} holds the daemon's home {} (agents.toml, keys, the socket); grant a narrower path",
                        grant.display(),
                        self.home.display()
                    ),
                ));
            }
        }
        if file_grants.is_empty() {
            let private = self.private_workspace();
            if make_private {
                make_private_dir(&private)?;
            }
            return match asked {
                None => Ok(private),
                Some(dir) if path_within(&private, Path::new(dir)) => Ok(private),
                Some(dir) => Err(self.denied(
                    &format!("FileWrite({dir})"),
                    format!(
                        "it has no file-read or file-write grant, so its sessions work in its private workspace {}; grant file-write:{dir} to let it work there",
                        private.display()
                    ),
                )),
            };
        }
        let workspace = match asked {
            Some(dir) => canonical(Path::new(dir)),
            None => file_grants
                .iter()
                .find(|_| true)
                .map(|g| canonical(g))
                .unwrap_or_default(),
        };
        if !file_grants
            .iter()
            .any(|g| path_within(&canonical(g), &workspace))
        {
            return Err(self.denied(
                &format!("FileRead({})", workspace.display()),
                "a session's workspace must lie inside one of its file-read or file-write grants"
                    .to_owned(),
            ));
        }
        if path_within(&workspace, &home) {
            return Err(self.denied(
                "a view without the daemon's home",
                format!(
                    "the workspace {} holds the daemon's home {}",
                    workspace.display(),
                    self.home.display()
                ),
            ));
        }
        Ok(workspace)
    }
}

/// workspace < strict; `trusted` (no sandbox) is never chosen for an agent.
fn strictness(preset: Preset) -> u8 {
    match preset {
        Preset::Trusted => 0,
        Preset::Workspace => 1,
        Preset::Strict => 2,
    }
}

/// `path` with symlinks resolved where it exists (so a link cannot point a workspace
/// elsewhere), else its lexical normal form.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| normalize(path))
}

fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create the agent's workspace", dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("set mode 0700 on", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn params(f: impl FnOnce(&mut NewSessionParams)) -> NewSessionParams {
        let mut p = NewSessionParams::default();
        f(&mut p);
        p
    }

    fn permission(error: Error) -> String {
        match error {
            Error::PermissionDenied(denied) => format!("{} / {}", denied.permission, denied.reason),
            other => panic!("not a denial: {other}"),
        }
    }

    #[test]
    fn every_field_is_decided_for_a_restricted_agent() {
        let home = tempfile::tempdir().unwrap();
        let bot = AgentCapabilities::new("bot").grant(Permission::ProcessSpawn("ls".into()));
        let rules = AgentRules {
            caps: &bot,
            policy: "workspace",
            home: home.path(),
        };
        let plain = rules.decide(&NewSessionParams::default(), true).unwrap();
        assert_eq!(plain.policy.name, "workspace");
        assert_eq!(plain.workspace, home.path().join("workspaces/bot"));
        assert!(plain.workspace.is_dir());
        assert_eq!(plain.cwd, plain.workspace);

        let launcher = params(|p| p.launcher = vec!["/bin/sh".into(), "-c".into()]);
        assert!(permission(rules.decide(&launcher, false).unwrap_err()).contains("pass `policy`"));
        for name in [
            "PROMPT_COMMAND",
            "BASH_ENV",
            "ENV",
            "PS1",
            "LD_PRELOAD",
            "BASH_FUNC_x%%",
        ] {
            let env = params(|p| p.env = BTreeMap::from([(name.to_owned(), "x".to_owned())]));
            assert!(
                permission(rules.decide(&env, false).unwrap_err()).contains("carries code"),
                "{name}"
            );
        }
        let fine = params(|p| p.env = BTreeMap::from([("RUST_LOG".into(), "debug".into())]));
        assert!(rules.decide(&fine, false).is_ok());
        for shell in ["python3", "/tmp/bash", "/usr/bin/env"] {
            assert!(
                rules
                    .decide(&params(|p| p.shell = Some(shell.into())), false)
                    .is_err()
            );
        }
        assert!(
            rules
                .decide(&params(|p| p.shell = Some("/bin/sh".into())), false)
                .is_ok()
        );
        let stricter = rules.decide(&params(|p| p.policy = Some("strict".into())), false);
        assert_eq!(stricter.unwrap().policy.name, "strict");
        for looser in ["trusted", "/etc/x.toml"] {
            let error = rules.decide(&params(|p| p.policy = Some(looser.into())), false);
            assert!(
                permission(error.unwrap_err()).contains("at least as strict"),
                "{looser}"
            );
        }
        let elsewhere = params(|p| p.workspace = Some("/etc".into()));
        assert!(
            permission(rules.decide(&elsewhere, false).unwrap_err()).contains("private workspace")
        );
    }

    #[test]
    fn file_grants_bound_the_workspace_and_never_hold_the_home() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let work = root.path().join("work");
        std::fs::create_dir_all(work.join("sub")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::symlink("/etc", work.join("link")).unwrap();
        let bot = AgentCapabilities::new("bot").grant(Permission::FileWrite(work.clone()));
        let rules = AgentRules {
            caps: &bot,
            policy: "strict",
            home: &home,
        };
        let default = rules.decide(&NewSessionParams::default(), false).unwrap();
        assert_eq!(default.workspace, work.canonicalize().unwrap());
        let sub = work.join("sub").display().to_string();
        let cwd = params(|p| p.cwd = Some(sub.clone()));
        assert_eq!(rules.decide(&cwd, false).unwrap().cwd, PathBuf::from(&sub));
        let link = work.join("link").display().to_string();
        let error = rules.decide(&params(|p| p.workspace = Some(link)), false);
        assert!(permission(error.unwrap_err()).contains("FileRead(/etc)"));

        let wide = AgentCapabilities::new("bot").grant(Permission::FileWrite(root.path().into()));
        let rules = AgentRules {
            caps: &wide,
            policy: "strict",
            home: &home,
        };
        let error = rules
            .decide(&NewSessionParams::default(), false)
            .unwrap_err();
        assert!(permission(error).contains("daemon's home"));
    }
}
