//! Landlock: a second, kernel-enforced fence over the same view the mounts build, so a
//! mistake in one layer (an unexpected bind, a mount the program somehow made) is still
//! contained by the other. Also scopes signals and abstract unix sockets to the sandbox
//! and restricts TCP ports where the kernel's ABI has them.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, PathFdError, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

use super::supervisor::LaunchPlan;
use super::{SandboxError, Step, StepContext, exec_allowlist};

/// The newest ABI this code was written against; older kernels get the subset they have
/// (best effort), a kernel without Landlock fails the launch.
const TARGET_ABI: ABI = ABI::V7;

fn device_access() -> BitFlags<AccessFs> {
    AccessFs::ReadFile
        | AccessFs::WriteFile
        | AccessFs::ReadDir
        | AccessFs::Truncate
        | AccessFs::IoctlDev
}

/// The (path, access) rules for a plan, in sandbox paths; `program` is the resolved file
/// the sandbox launches (always executable).
fn path_rules(plan: &LaunchPlan, program: &Path) -> Vec<(PathBuf, BitFlags<AccessFs>)> {
    let allowlist = plan.policy.exec.allow.as_deref();
    // Under an execute allowlist nothing is executable but what the allowlist names.
    let no_exec = |access: BitFlags<AccessFs>| {
        if allowlist.is_some() {
            access & !AccessFs::Execute
        } else {
            access
        }
    };
    let read = no_exec(AccessFs::from_read(TARGET_ABI));
    let all = no_exec(AccessFs::from_all(TARGET_ABI));
    let fs = &plan.policy.fs_permissions;
    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>)> = vec![
        (PathBuf::from("/"), BitFlags::from(AccessFs::ReadDir)),
        (PathBuf::from("/etc"), read),
        (PathBuf::from("/tmp"), all),
        (PathBuf::from("/dev"), device_access()),
        (PathBuf::from("/dev/shm"), all),
        (
            PathBuf::from("/proc"),
            AccessFs::ReadFile | AccessFs::ReadDir,
        ),
    ];
    match allowlist {
        None => rules.extend(fs.system_read_only.iter().map(|dir| (dir.clone(), read))),
        Some(allow) => {
            // Read-only extra paths are sorted like the system directories: a program
            // directory among them is listable, not readable.
            let mut read_only_trees = fs.system_read_only.clone();
            read_only_trees.extend(
                plan.extra_binds
                    .iter()
                    .filter(|bind| !bind.1 && !plan.grant_binds.contains(bind))
                    .map(|(path, _)| path.clone()),
            );
            let exec = exec_allowlist::rules(allow, program, &plan.search_path, &read_only_trees);
            let file_exec = AccessFs::Execute | AccessFs::ReadFile;
            rules.extend(
                exec.listable
                    .into_iter()
                    .map(|d| (d, BitFlags::from(AccessFs::ReadDir))),
            );
            rules.extend(exec.readable.into_iter().map(|d| (d, read)));
            rules.extend(exec.executable.into_iter().map(|f| (f, file_exec)));
        }
    }
    match &fs.grants {
        None => {
            rules.push((
                plan.workspace.clone(),
                if fs.workspace_writable { all } else { read },
            ));
            for (path, writable) in &plan.extra_binds {
                if *writable {
                    rules.push((path.clone(), all));
                } else if allowlist.is_none() {
                    rules.push((path.clone(), read));
                }
            }
        }
        Some(_) => {
            // The agent's grants replace the blanket rules on the workspace and the writable
            // extra paths; read-only extra paths are the daemon's (the shell's rc files).
            for bind in &plan.extra_binds {
                let (path, writable) = bind;
                if plan.grant_binds.contains(bind) {
                    rules.push((path.clone(), if *writable { all } else { read }));
                } else if !writable && allowlist.is_none() {
                    rules.push((path.clone(), read));
                }
            }
        }
    }
    rules
}

fn ports(list: &Option<Vec<u16>>) -> Option<&[u16]> {
    list.as_deref()
}

/// Creates and enforces the ruleset on the calling process.
pub(super) fn apply(plan: &LaunchPlan, program: &Path) -> Result<(), SandboxError> {
    let step = Step::Landlock;
    let net = &plan.policy.network_policy;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .step(step, || "handling filesystem access".into())?
        .scope(Scope::from_all(TARGET_ABI))
        .step(step, || "scoping signals and abstract unix sockets".into())?;
    if ports(&net.tcp_bind_ports).is_some() {
        ruleset = ruleset
            .handle_access(AccessNet::BindTcp)
            .step(step, || "handling TCP bind".into())?;
    }
    if ports(&net.tcp_connect_ports).is_some() {
        ruleset = ruleset
            .handle_access(AccessNet::ConnectTcp)
            .step(step, || "handling TCP connect".into())?;
    }
    let mut created = ruleset
        .create()
        .step(step, || "landlock_create_ruleset".into())?;
    for (path, access) in path_rules(plan, program) {
        let fd = match PathFd::new(&path) {
            Ok(fd) => fd,
            // A policy path absent from this system has nothing to grant.
            Err(PathFdError::OpenCall { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                continue;
            }
            Err(error) => {
                return Err(SandboxError::new(
                    step,
                    format!("opening {}: {error}", path.display()),
                ));
            }
        };
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .step(step, || format!("rule for {}", path.display()))?;
    }
    for (list, access) in [
        (ports(&net.tcp_bind_ports), AccessNet::BindTcp),
        (ports(&net.tcp_connect_ports), AccessNet::ConnectTcp),
    ] {
        for port in list.unwrap_or_default() {
            created = created
                .add_rule(NetPort::new(*port, access))
                .step(step, || format!("rule for TCP port {port}"))?;
        }
    }
    let status = created
        .restrict_self()
        .step(step, || "landlock_restrict_self".into())?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(SandboxError::new(
            step,
            "this kernel does not enforce Landlock (needs Linux >= 5.13 with landlock in the LSM list); \
             refusing to run with a weaker sandbox",
        ));
    }
    Ok(())
}
