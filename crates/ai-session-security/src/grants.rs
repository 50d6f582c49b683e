//! An agent's grants compiled into the sandbox policy its sessions run under, so what a
//! restricted agent may do is what the kernel lets its processes do:
//!
//! | grant | becomes |
//! | --- | --- |
//! | `process-spawn:NAME` | an entry of the Landlock execute allowlist (`exec.allow`); `*` lifts it |
//! | `file-read:/P`, `file-write:/P` | Landlock path rules replacing the blanket workspace rule (`fs_permissions.grants`) |
//! | `file-execute:/P` | Landlock execute on `P` (with an allowlist) |
//! | `network-connect:HOST:PORT` | Landlock TCP connect ports (`network_policy.tcp_connect_ports`) |
//!
//! A grant never widens the policy: a port the policy's own list lacks stays closed, and a
//! grant cannot turn a `none` network into a `loopback` one. Hosts are not enforced by the
//! kernel (Landlock knows ports); the private network namespace bounds the destinations.
//!
//! ```
//! use ai_session_security::grants::restrict_policy;
//! use ai_session_security::{AgentCapabilities, Permission, Preset, SecurityPolicy};
//! let bot = AgentCapabilities::new("bot")
//!     .grant(Permission::ProcessSpawn("python3".into()))
//!     .grant(Permission::NetworkConnect("127.0.0.1:8080".into()));
//! let policy = restrict_policy(&SecurityPolicy::preset(Preset::Workspace), &bot);
//! assert_eq!(policy.exec.allow, Some(vec!["python3".to_owned()]));
//! assert_eq!(policy.network_policy.tcp_connect_ports, Some(vec![8080]));
//! assert_eq!(policy.fs_permissions.grants, None); // no file grants: the policy's workspace rules
//! ```

use std::collections::BTreeSet;

use crate::permissions::{AgentCapabilities, Permission};
use crate::policy::{FsGrants, SecurityPolicy};

/// `policy` narrowed to what `agent` was granted (see the module doc). The policy's name
/// is kept, with `+agent:<id>` appended so the audit log shows whose grants shaped it.
pub fn restrict_policy(policy: &SecurityPolicy, agent: &AgentCapabilities) -> SecurityPolicy {
    let mut policy = policy.clone();
    if !policy.sandbox {
        return policy;
    }
    policy.name = format!("{}+agent:{}", policy.name, agent.agent_id);
    policy.exec.allow = exec_allowlist(agent).map(|granted| match policy.exec.allow.take() {
        // Both lists bound execution: only names on both survive.
        Some(own) => granted.into_iter().filter(|g| own.contains(g)).collect(),
        None => granted,
    });
    if let Some(grants) = fs_grants(agent) {
        policy.fs_permissions.grants = Some(grants);
    }
    let ports = connect_ports(agent);
    policy.network_policy.tcp_connect_ports =
        match (policy.network_policy.tcp_connect_ports.take(), ports) {
            (own, None) => own,
            (None, Some(granted)) => Some(granted),
            (Some(own), Some(granted)) => {
                Some(granted.into_iter().filter(|p| own.contains(p)).collect())
            }
        };
    policy
}

/// The program names (or paths) the agent may execute, `None` when it may run any.
fn exec_allowlist(agent: &AgentCapabilities) -> Option<Vec<String>> {
    let mut names = BTreeSet::new();
    for grant in &agent.grants {
        match grant {
            Permission::ProcessSpawn(program) if program == "*" => return None,
            Permission::ProcessSpawn(program) => {
                names.insert(program.clone());
            }
            Permission::FileExecute(path) => {
                names.insert(path.to_string_lossy().into_owned());
            }
            _ => {}
        }
    }
    Some(names.into_iter().collect())
}

/// The agent's file grants as path rules, `None` when it has no `file-read` or
/// `file-write` grant (the policy's workspace rules then apply unchanged).
fn fs_grants(agent: &AgentCapabilities) -> Option<FsGrants> {
    let mut grants = FsGrants::default();
    for grant in &agent.grants {
        match grant {
            Permission::FileRead(path) => grants.read.push(path.clone()),
            Permission::FileWrite(path) => grants.write.push(path.clone()),
            _ => {}
        }
    }
    (!grants.read.is_empty() || !grants.write.is_empty()).then_some(grants)
}

/// The TCP ports the agent may connect to, `None` when some grant allows any port.
fn connect_ports(agent: &AgentCapabilities) -> Option<Vec<u16>> {
    let mut ports = BTreeSet::new();
    for grant in &agent.grants {
        if let Permission::NetworkConnect(target) = grant {
            match target.rsplit_once(':').map(|(_, port)| port.parse::<u16>()) {
                Some(Ok(port)) => {
                    ports.insert(port);
                }
                // `host`, `host:*` or `*`: any port.
                _ => return None,
            }
        }
    }
    Some(ports.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Preset;
    use Permission::*;

    fn strict() -> SecurityPolicy {
        SecurityPolicy::preset(Preset::Strict)
    }

    #[test]
    fn process_grants_become_the_allowlist() {
        let agent = AgentCapabilities::new("a")
            .grant(ProcessSpawn("ls".into()))
            .grant(ProcessSpawn("python3".into()))
            .grant(ProcessSpawn("ls".into()));
        let policy = restrict_policy(&strict(), &agent);
        assert_eq!(policy.exec.allow, Some(vec!["ls".into(), "python3".into()]));
        assert_eq!(policy.name, "strict+agent:a");
        let none = restrict_policy(&strict(), &AgentCapabilities::new("b"));
        assert_eq!(none.exec.allow, Some(vec![]));
        let any = restrict_policy(
            &strict(),
            &AgentCapabilities::new("c").grant(ProcessSpawn("*".into())),
        );
        assert_eq!(any.exec.allow, None);
    }

    #[test]
    fn a_policy_allowlist_is_intersected() {
        let mut policy = strict();
        policy.exec.allow = Some(vec!["git".into()]);
        let agent = AgentCapabilities::new("a")
            .grant(ProcessSpawn("git".into()))
            .grant(ProcessSpawn("curl".into()));
        assert_eq!(
            restrict_policy(&policy, &agent).exec.allow,
            Some(vec!["git".into()])
        );
    }

    #[test]
    fn file_grants_become_path_rules() {
        let agent = AgentCapabilities::new("a")
            .grant(FileRead("/work".into()))
            .grant(FileWrite("/work/a".into()))
            .grant(FileExecute("/opt/tool".into()));
        let policy = restrict_policy(&strict(), &agent);
        assert_eq!(
            policy.fs_permissions.grants,
            Some(FsGrants {
                read: vec!["/work".into()],
                write: vec!["/work/a".into()],
            })
        );
        assert_eq!(policy.exec.allow, Some(vec!["/opt/tool".into()]));
        let exec_only = AgentCapabilities::new("b").grant(FileExecute("/x".into()));
        assert_eq!(
            restrict_policy(&strict(), &exec_only).fs_permissions.grants,
            None
        );
    }

    #[test]
    fn network_grants_become_ports_and_never_widen() {
        let workspace = SecurityPolicy::preset(Preset::Workspace);
        let agent = AgentCapabilities::new("a")
            .grant(NetworkConnect("127.0.0.1:8080".into()))
            .grant(NetworkConnect("localhost:5432".into()));
        let policy = restrict_policy(&workspace, &agent);
        assert_eq!(
            policy.network_policy.tcp_connect_ports,
            Some(vec![5432, 8080])
        );
        let nothing = restrict_policy(&workspace, &AgentCapabilities::new("b"));
        assert_eq!(nothing.network_policy.tcp_connect_ports, Some(vec![]));
        let any = AgentCapabilities::new("c").grant(NetworkConnect("crates.io".into()));
        assert_eq!(
            restrict_policy(&workspace, &any)
                .network_policy
                .tcp_connect_ports,
            None
        );
        // strict allows no port; a grant does not open one.
        assert_eq!(
            restrict_policy(&strict(), &agent)
                .network_policy
                .tcp_connect_ports,
            Some(vec![])
        );
    }

    #[test]
    fn trusted_stays_trusted() {
        let trusted = SecurityPolicy::preset(Preset::Trusted);
        assert_eq!(
            restrict_policy(&trusted, &AgentCapabilities::new("a")),
            trusted
        );
    }
}
