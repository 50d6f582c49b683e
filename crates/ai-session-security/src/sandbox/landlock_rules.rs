//! Landlock: a second, kernel-enforced fence over the same view the mounts build, so a
//! mistake in one layer (an unexpected bind, a mount the program somehow made) is still
//! contained by the other. Also scopes signals and abstract unix sockets to the sandbox
//! and restricts TCP ports where the kernel's ABI has them.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, PathFdError, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

use super::supervisor::LaunchPlan;
use super::{SandboxError, Step, StepContext};

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

/// The (path, access) rules for a plan, in sandbox paths.
fn path_rules(plan: &LaunchPlan) -> Vec<(PathBuf, BitFlags<AccessFs>)> {
    let read = AccessFs::from_read(TARGET_ABI);
    let all = AccessFs::from_all(TARGET_ABI);
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
    rules.extend(fs.system_read_only.iter().map(|dir| (dir.clone(), read)));
    rules.push((
        plan.workspace.clone(),
        if fs.workspace_writable { all } else { read },
    ));
    for (path, writable) in &plan.extra_binds {
        rules.push((path.clone(), if *writable { all } else { read }));
    }
    rules
}

fn ports(list: &Option<Vec<u16>>) -> Option<&[u16]> {
    list.as_deref()
}

/// Creates and enforces the ruleset on the calling process.
pub(super) fn apply(plan: &LaunchPlan) -> Result<(), SandboxError> {
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
    for (path, access) in path_rules(plan) {
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
