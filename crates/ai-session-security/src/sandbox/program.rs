//! The program process: the last restrictions, in an order where each step still has the
//! rights it needs (rlimits and capability drops need capabilities; Landlock and seccomp
//! need `no_new_privs`; seccomp comes last because it would refuse the earlier calls),
//! then `execve`.

use std::convert::Infallible;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use caps::CapSet;
use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SigmaskHow, sigprocmask};

use super::supervisor::LaunchPlan;
use super::{
    EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, SandboxError, Step, StepContext, init, landlock_rules,
    seccomp,
};
use crate::policy::ResourceLimits;

const MIB: u64 = 1024 * 1024;

/// Body of the forked program process; never returns.
pub(super) fn main(plan: &LaunchPlan) -> ! {
    let error = match restrict_and_exec(plan) {
        Ok(never) => match never {},
        Err(error) => error,
    };
    init::report(plan.err_write, &error);
    // SAFETY: _exit ends this forked process without running the parent's atexit
    // handlers or flushing its stdio buffers twice.
    unsafe { libc::_exit(error.exit_code) }
}

fn restrict_and_exec(plan: &LaunchPlan) -> Result<Infallible, SandboxError> {
    nix::unistd::chdir(&plan.cwd).step(Step::Paths, || format!("chdir {}", plan.cwd.display()))?;
    let program = resolve_program(plan)?;
    let filter = seccomp::compile(
        &plan.policy.syscall_access.extra_denied,
        plan.policy.exec.allow.is_some(),
    )?;
    apply_rlimits(&plan.policy.resource_limits)?;
    drop_capabilities()?;
    nix::sys::prctl::set_no_new_privs().step(Step::NoNewPrivs, || "PR_SET_NO_NEW_PRIVS".into())?;
    landlock_rules::apply(
        plan,
        Path::new(std::ffi::OsStr::from_bytes(program.as_bytes())),
    )?;
    close_inherited_fds()?;
    seccomp::install(&filter)?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&plan.original_mask), None)
        .step(Step::Exec, || "restoring the signal mask".into())?;
    let errno = match nix::unistd::execve(&program, &plan.argv, &plan.env) {
        Ok(never) => match never {},
        Err(errno) => errno,
    };
    Err(SandboxError {
        step: Step::Exec,
        detail: format!("execve {}: {errno}", program.to_string_lossy()),
        exit_code: if errno == Errno::ENOENT {
            EXIT_NOT_FOUND
        } else {
            EXIT_CANNOT_EXECUTE
        },
    })
}

/// Finds the program in the sandbox's `PATH` (the one passed to it, not ours).
fn resolve_program(plan: &LaunchPlan) -> Result<CString, SandboxError> {
    let name = plan.argv[0].as_bytes();
    if name.contains(&b'/') {
        return Ok(plan.argv[0].clone());
    }
    for dir in plan.search_path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(std::ffi::OsStr::from_bytes(name));
        if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok()
            && candidate.is_file()
        {
            return CString::new(candidate.as_os_str().as_bytes())
                .step(Step::Exec, || "program path".into());
        }
    }
    Err(SandboxError {
        step: Step::Exec,
        detail: format!(
            "program `{}` not found in the sandbox PATH {} (is its directory visible under the policy?)",
            String::from_utf8_lossy(name),
            plan.search_path
        ),
        exit_code: EXIT_NOT_FOUND,
    })
}

fn apply_rlimits(limits: &ResourceLimits) -> Result<(), SandboxError> {
    for (resource, value, name) in [
        (
            Resource::RLIMIT_AS,
            limits.address_space_mib.map(|m| m * MIB),
            "RLIMIT_AS",
        ),
        (Resource::RLIMIT_NPROC, limits.max_processes, "RLIMIT_NPROC"),
        (Resource::RLIMIT_NOFILE, limits.open_files, "RLIMIT_NOFILE"),
        (
            Resource::RLIMIT_FSIZE,
            limits.file_size_mib.map(|m| m * MIB),
            "RLIMIT_FSIZE",
        ),
        (Resource::RLIMIT_CPU, limits.cpu_seconds, "RLIMIT_CPU"),
    ] {
        if let Some(wanted) = value {
            // Raising a hard limit needs CAP_SYS_RESOURCE in the host namespace; a policy
            // can only tighten what the caller already has.
            let (_, hard) =
                getrlimit(resource).step(Step::Rlimits, || format!("reading {name}"))?;
            let value = wanted.min(hard);
            setrlimit(resource, value, value)
                .step(Step::Rlimits, || format!("{name} = {value}"))?;
        }
    }
    Ok(())
}

/// Securebits that stop uid 0 from regaining capabilities through `execve` or ambient
/// raises, locked so the program cannot undo them.
const SECUREBITS: libc::c_ulong = (1 << 0) // SECBIT_NOROOT
    | (1 << 1) // SECBIT_NOROOT_LOCKED
    | (1 << 5) // SECBIT_KEEP_CAPS_LOCKED
    | (1 << 6) // SECBIT_NO_CAP_AMBIENT_RAISE
    | (1 << 7); // SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED

fn drop_capabilities() -> Result<(), SandboxError> {
    let step = Step::Capabilities;
    // Bounding first: dropping from it needs CAP_SETPCAP, which goes with the rest.
    for cap in caps::all() {
        caps::drop(None, CapSet::Bounding, cap)
            .step(step, || format!("dropping {cap} from the bounding set"))?;
    }
    // SAFETY: PR_SET_SECUREBITS takes an integer argument and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) };
    Errno::result(rc).step(step, || "PR_SET_SECUREBITS".into())?;
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).step(step, || format!("clearing the {set:?} set"))?;
    }
    Ok(())
}

/// Marks every inherited descriptor above stderr close-on-exec, so nothing the caller
/// leaked (a daemon socket, a directory fd pointing outside the view) reaches the program.
fn close_inherited_fds() -> Result<(), SandboxError> {
    // SAFETY: close_range only changes descriptor flags; no memory is involved.
    let rc = unsafe {
        libc::close_range(
            3,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
        )
    };
    Errno::result(rc)
        .map(drop)
        .step(Step::Exec, || "close_range(CLOEXEC)".into())
}

/// `trusted`: replace this process with the program, unsandboxed, as asked.
pub(super) fn exec_unsandboxed(argv: &[OsString]) -> SandboxError {
    let args: Result<Vec<CString>, _> = argv.iter().map(|a| CString::new(a.as_bytes())).collect();
    let Ok(args) = args else {
        return SandboxError::new(Step::Arguments, "a program argument contains a NUL byte");
    };
    let errno = match nix::unistd::execvp(&args[0], &args) {
        Ok(never) => match never {},
        Err(errno) => errno,
    };
    SandboxError {
        step: Step::Exec,
        detail: format!("execvp {}: {errno}", args[0].to_string_lossy()),
        exit_code: if errno == Errno::ENOENT {
            EXIT_NOT_FOUND
        } else {
            EXIT_CANNOT_EXECUTE
        },
    }
}
