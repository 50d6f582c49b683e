//! The seccomp filter every sandboxed program runs under: a deny list on top of "allow",
//! because the sandbox runs arbitrary developer tools whose syscall set is open-ended;
//! the dangerous kernel surfaces are closed individually.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::{SandboxError, Step, StepContext};

macro_rules! syscall_table {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), libc::$name as i64)),*]
    };
}

/// Syscall names this module can resolve (for the default list and for
/// `syscall_access.extra_denied`), with the `SYS_` prefix.
const SYSCALLS: &[(&str, i64)] = syscall_table![
    SYS_ptrace,
    SYS_mount,
    SYS_umount2,
    SYS_bpf,
    SYS_perf_event_open,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_io_uring_setup,
    SYS_io_uring_enter,
    SYS_io_uring_register,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_kexec_load,
    SYS_kexec_file_load,
    SYS_reboot,
    SYS_swapon,
    SYS_swapoff,
    SYS_pivot_root,
    SYS_chroot,
    SYS_setns,
    SYS_open_by_handle_at,
    SYS_name_to_handle_at,
    SYS_fsopen,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fspick,
    SYS_move_mount,
    SYS_open_tree,
    SYS_mount_setattr,
    SYS_userfaultfd,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_kcmp,
    SYS_acct,
    SYS_quotactl,
    SYS_syslog,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_clock_adjtime,
    SYS_adjtimex,
    SYS_vhangup,
    SYS_unshare,
    SYS_clone,
    SYS_clone3,
    SYS_ioctl,
    SYS_personality,
    SYS_socket,
    SYS_connect,
    SYS_bind,
    SYS_listen,
    SYS_kill,
    SYS_tkill,
    SYS_tgkill,
    SYS_setuid,
    SYS_setgid,
    SYS_sethostname,
    SYS_setdomainname,
    SYS_pidfd_open,
    SYS_pidfd_getfd,
    SYS_memfd_create,
    SYS_execveat,
    SYS_fanotify_init,
    SYS_lookup_dcookie,
    SYS_nfsservctl,
];

/// Syscalls denied with `EPERM` for every sandboxed program, whatever the policy.
pub const DEFAULT_DENIED_SYSCALLS: &[&str] = &[
    "ptrace",
    "mount",
    "umount2",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "pivot_root",
    "chroot",
    "setns",
    "open_by_handle_at",
    "name_to_handle_at",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "userfaultfd",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "acct",
    "quotactl",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "vhangup",
    "fanotify_init",
    "lookup_dcookie",
    "nfsservctl",
];

/// The syscall number of `name` (`"ptrace"` or `"SYS_ptrace"`) on this architecture.
pub fn syscall_number(name: &str) -> Option<i64> {
    let wanted = name.strip_prefix("SYS_").unwrap_or(name);
    SYSCALLS
        .iter()
        .find(|(n, _)| n.strip_prefix("SYS_") == Some(wanted))
        .map(|(_, nr)| *nr)
}

fn condition(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, SandboxError> {
    SeccompCondition::new(arg, len, op, value).step(Step::Seccomp, || "building a condition".into())
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, SandboxError> {
    SeccompRule::new(conditions).step(Step::Seccomp, || "building a rule".into())
}

fn arch() -> Result<TargetArch, SandboxError> {
    std::env::consts::ARCH.try_into().step(Step::Seccomp, || {
        format!("architecture {}", std::env::consts::ARCH)
    })
}

/// Compiles the two filters: the deny list (`EPERM`) and `clone3` (`ENOSYS`, so libc
/// falls back to `clone`, whose flags a classic BPF filter can inspect; `clone3` passes
/// them in memory, out of the filter's reach).
pub(super) fn compile(extra_denied: &[String]) -> Result<Vec<BpfProgram>, SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for name in DEFAULT_DENIED_SYSCALLS
        .iter()
        .copied()
        .chain(extra_denied.iter().map(String::as_str))
    {
        let nr = syscall_number(name)
            .ok_or_else(|| SandboxError::new(Step::Seccomp, format!("unknown syscall `{name}`")))?;
        rules.insert(nr, Vec::new());
    }
    let new_user = libc::CLONE_NEWUSER as u64;
    let has_new_user = || {
        condition(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(new_user),
            new_user,
        )
    };
    rules.insert(libc::SYS_clone, vec![rule(vec![has_new_user()?])?]);
    rules.insert(libc::SYS_unshare, vec![rule(vec![has_new_user()?])?]);
    // The kernel truncates the ioctl request to 32 bits, so compare exactly those: a
    // request with high bits set cannot slip past.
    let ioctl_is = |request: libc::Ioctl| -> Result<SeccompRule, SandboxError> {
        rule(vec![condition(
            1,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Eq,
            // Ioctl is c_ulong (u64 on 64-bit targets, u32 elsewhere).
            #[allow(clippy::useless_conversion)]
            u64::from(request),
        )?])
    };
    rules.insert(
        libc::SYS_ioctl,
        vec![ioctl_is(libc::TIOCSTI)?, ioctl_is(libc::TIOCLINUX)?],
    );
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch()?,
    )
    .step(Step::Seccomp, || "building the deny filter".into())?;
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )
    .step(Step::Seccomp, || "building the clone3 filter".into())?;
    [deny, clone3]
        .into_iter()
        .map(|f| BpfProgram::try_from(f).step(Step::Seccomp, || "compiling to BPF".into()))
        .collect()
}

/// Installs the filters on the calling thread (requires `no_new_privs`).
pub(super) fn install(programs: &[BpfProgram]) -> Result<(), SandboxError> {
    for program in programs {
        seccompiler::apply_filter(program)
            .step(Step::Seccomp, || "installing the filter".into())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_syscall_resolves() {
        for name in DEFAULT_DENIED_SYSCALLS {
            assert!(syscall_number(name).is_some(), "{name}");
        }
        assert_eq!(syscall_number("SYS_ptrace"), Some(libc::SYS_ptrace));
        assert_eq!(syscall_number("nonsense"), None);
    }

    #[test]
    fn filters_compile() {
        let programs = compile(&["personality".to_owned()]).unwrap();
        assert_eq!(programs.len(), 2);
        assert!(programs.iter().all(|p| !p.is_empty()));
    }
}
