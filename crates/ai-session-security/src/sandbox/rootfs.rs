//! The sandbox's filesystem view, built in its own mount namespace.
//!
//! Two `pivot_root` steps, as bubblewrap does: first onto a scratch tmpfs (so the host
//! root stays reachable under `/oldroot` while the new root is assembled, whatever the
//! workspace path is), then onto the assembled `/newroot`, after which the host root is
//! detached and unreachable.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statvfs::{FsFlags, statvfs};

use super::supervisor::LaunchPlan;
use super::{SandboxError, Step, StepContext};
use crate::policy::EtcView;

const OLD_ROOT: &str = "/oldroot";
const NEW_ROOT: &str = "/newroot";

/// `/etc` entries a program needs to run (name resolution, dynamic linking, locales,
/// certificates, alternatives symlinks, shell startup files).
const ETC_ALLOWLIST: &[&str] = &[
    "passwd",
    "group",
    "hosts",
    "hostname",
    "resolv.conf",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "protocols",
    "services",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "locale.alias",
    "locale.gen",
    "alternatives",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "profile",
    "profile.d",
    "bash.bashrc",
    "inputrc",
    "terminfo",
    "environment",
    "os-release",
    "debian_version",
    "mime.types",
    "magic",
    "magic.mime",
    "gitconfig",
    "vim",
    "python3",
    "python3.11",
    "perl",
];

/// Credential files hidden behind an empty file in the `masked` `/etc` view.
const ETC_MASKED: &[&str] = &[
    "shadow",
    "shadow-",
    "gshadow",
    "gshadow-",
    "sudoers",
    "security/opasswd",
];

/// Device nodes bound from the host into the minimal `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Files under a fresh `/proc` that would let uid 0 change the host kernel; made
/// read-only as bubblewrap does.
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus"];

fn mount_tmpfs(target: &str, options: &str, step: Step) -> Result<(), SandboxError> {
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options),
    )
    .step(step, || format!("mounting a tmpfs on {target}"))
}

/// Where a host path appears while the new root is assembled.
fn new(path: &Path) -> PathBuf {
    Path::new(NEW_ROOT).join(path.strip_prefix("/").unwrap_or(path))
}

fn old(path: &Path) -> PathBuf {
    Path::new(OLD_ROOT).join(path.strip_prefix("/").unwrap_or(path))
}

/// Runs `create` (which makes `dst`), and again after making `dst`'s missing parents if it
/// failed for want of them: one syscall in the common case, where the parents exist.
fn with_parents(
    dst: &Path,
    step: Step,
    create: impl Fn() -> std::io::Result<()>,
) -> Result<std::io::Result<()>, SandboxError> {
    let outcome = create();
    match (&outcome, dst.parent()) {
        (Err(error), Some(parent)) if error.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(parent).step(step, || format!("mkdir {}", parent.display()))?;
            Ok(create())
        }
        _ => Ok(outcome),
    }
}

/// Creates `dst` as the same kind of thing as `src` (directory, empty file) so it can be
/// a mount point.
fn make_mount_point(src: &Path, dst: &Path, step: Step) -> Result<(), SandboxError> {
    make_mount_point_of_kind(src.is_dir(), dst, step)
}

/// Creates `dst` as a directory or an empty file. An existing one is kept: it may already
/// sit in a read-only part of the tree, or be the host file itself seen through an earlier
/// bind (never truncated).
fn make_mount_point_of_kind(is_dir: bool, dst: &Path, step: Step) -> Result<(), SandboxError> {
    let create = || {
        if is_dir {
            fs::create_dir(dst)
        } else {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dst)
                .map(drop)
        }
    };
    match with_parents(dst, step, create)? {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) if fs::symlink_metadata(dst).is_ok() => Ok(()),
        Err(error) => Err(SandboxError::new(
            step,
            format!("creating mount point {}: {error}", dst.display()),
        )),
    }
}

/// Binds `src` (a path in the old root) onto `dst`, read-only unless `writable`. A
/// symlink is recreated instead (so `/bin -> usr/bin` keeps pointing into the view).
fn bind(src: &Path, dst: &Path, writable: bool, step: Step) -> Result<(), SandboxError> {
    if bind_mount(src, dst, false, step)? && !writable {
        remount_read_only(dst, step)?;
    }
    Ok(())
}

/// Binds `src` onto `dst` (recursively), writable; or recreates a symlink. Returns whether
/// a mount was made (the caller makes it read-only, now or with the whole tree); with
/// `optional`, a missing `src` is skipped instead of failing.
fn bind_mount(src: &Path, dst: &Path, optional: bool, step: Step) -> Result<bool, SandboxError> {
    let meta = match fs::symlink_metadata(src) {
        Ok(meta) => meta,
        Err(error) if optional && error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(false);
        }
        Err(error) => {
            return Err(SandboxError::new(
                step,
                format!("stat {}: {error}", src.display()),
            ));
        }
    };
    if meta.file_type().is_symlink() {
        let target = fs::read_link(src).step(step, || format!("readlink {}", src.display()))?;
        with_parents(dst, step, || symlink(&target, dst))?
            .step(step, || format!("symlink {}", dst.display()))?;
        return Ok(false);
    }
    make_mount_point_of_kind(meta.is_dir(), dst, step)?;
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .step(step, || {
        format!("bind {} -> {}", src.display(), dst.display())
    })?;
    Ok(true)
}

/// `mount_setattr(2)` attributes (`linux/mount.h`; the libc crate has no constants for them).
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes the mount at `path` (and with `recursive`, every mount below it) read-only and
/// nosuid with one `mount_setattr(2)` (Linux 5.12+). It only adds flags, so the flags the
/// kernel locked when the mounts were copied into our user namespace stay as they are.
/// `Ok(false)` when the kernel has no `mount_setattr`.
fn set_read_only(path: &Path, recursive: bool, step: Step) -> Result<bool, SandboxError> {
    set_attributes(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, recursive, step)
}

/// Adds the `MOUNT_ATTR_*` flags `attributes` to the mount at `path` (see [`set_read_only`]).
fn set_attributes(
    path: &Path,
    attributes: u64,
    recursive: bool,
    step: Step,
) -> Result<bool, SandboxError> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).step(step, || {
        format!("path {} contains a NUL byte", path.display())
    })?;
    let attr = MountAttr {
        attr_set: attributes,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `c_path` is a NUL-terminated string and `attr` a valid `struct mount_attr` whose
    // size is passed; the kernel only reads both during the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    match nix::errno::Errno::result(rc) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::ENOSYS) => Ok(false),
        Err(errno) => Err(SandboxError::new(
            step,
            format!(
                "mount_setattr({attributes:#x}) on {}: {errno}",
                path.display()
            ),
        )),
    }
}

/// Makes a writable bind `nosuid,noexec`: under an execute allowlist nothing written inside
/// the sandbox may be executed or mapped executable (the dynamic loader maps with
/// `PROT_EXEC`, which Landlock does not check and `noexec` refuses).
fn forbid_exec(dst: &Path, step: Step) -> Result<(), SandboxError> {
    if set_attributes(dst, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, true, step)? {
        return Ok(());
    }
    remount_keeping_locked(
        dst,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        step,
        "noexec remount",
    )
}

/// Makes a bind mount read-only (and nosuid).
fn remount_read_only(dst: &Path, step: Step) -> Result<(), SandboxError> {
    if set_read_only(dst, false, step)? {
        return Ok(());
    }
    remount_read_only_legacy(dst, step)
}

/// [`remount_read_only`] for kernels without `mount_setattr`.
fn remount_read_only_legacy(dst: &Path, step: Step) -> Result<(), SandboxError> {
    remount_keeping_locked(
        dst,
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID,
        step,
        "read-only remount",
    )
}

/// A bind remount adding `set` (for kernels without `mount_setattr`) that keeps the flags
/// the kernel locked when the mount was copied into our user namespace (dropping one of
/// those is `EPERM`). `what` names it in the error.
fn remount_keeping_locked(
    dst: &Path,
    set: MsFlags,
    step: Step,
    what: &str,
) -> Result<(), SandboxError> {
    let current = statvfs(dst)
        .step(step, || format!("statvfs {}", dst.display()))?
        .flags();
    let mut ms = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | set;
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(fs_flag) {
            ms |= ms_flag;
        }
    }
    mount(None::<&str>, dst, None::<&str>, ms, None::<&str>)
        .step(step, || format!("{what} of {}", dst.display()))
}

/// Builds the whole view and pivots into it. Runs in the sandbox init.
///
/// The read-only part (system dirs, `/etc`, read-only extra paths that do not overlap a
/// writable one) is bound first and then made read-only as one tree, with a single recursive
/// `mount_setattr(2)` instead of a remount per bind; the writable mounts (`/dev`, `/tmp`,
/// the workspace, writable extra paths and whatever overlaps them, in the policy's order) and
/// `/proc` go on top of it afterwards, on mount points created before the tree turned
/// read-only.
///
/// With a disk quota the workspace is an overlay (see [`mount_quota_overlay`]); `build`
/// then returns a descriptor of its upper layer, for the supervisor.
pub(super) fn build(plan: &LaunchPlan) -> Result<Option<std::os::fd::OwnedFd>, SandboxError> {
    let step = Step::MountRoot;
    // Nothing we mount may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .step(step, || "making / private".into())?;
    enter_scratch_root()?;
    let quota = match &plan.quota {
        Some(quota) => Some(mount_quota_overlay(plan, quota)?),
        None => None,
    };
    // Where the workspace's content comes from: the host directory, or the quota overlay.
    let source = |path: &Path| -> PathBuf {
        match (&quota, path.strip_prefix(&plan.workspace)) {
            (Some(_), Ok(rel)) => Path::new(QUOTA_OVERLAY).join(rel),
            _ => old(path),
        }
    };
    mount_tmpfs(NEW_ROOT, "mode=0755,size=16m", step)?;

    let fs_policy = &plan.policy.fs_permissions;
    let mut read_only = Vec::new();
    for dir in &fs_policy.system_read_only {
        if bind_mount(&old(dir), &new(dir), true, step)? {
            read_only.push(new(dir));
        }
    }
    build_etc(fs_policy.etc, &mut read_only)?;
    let (early, late) = split_extra_binds(plan);
    for path in &early {
        if bind_mount(&old(path), &new(path), false, step)? {
            read_only.push(new(path));
        }
    }
    // The mount points of the writable mounts and /proc, made before the tree turns
    // read-only (`build_dev`, `build_tmp` and `build_proc` mount on them).
    for dir in ["/dev", "/tmp", "/proc"] {
        make_mount_point_of_kind(true, &new(Path::new(dir)), step)?;
    }
    make_mount_point(&old(&plan.workspace), &new(&plan.workspace), step)?;
    for (path, _) in &late {
        make_mount_point(&old(path), &new(path), step)?;
    }
    seal_read_only(&read_only, step)?;

    let exec_allowlist = plan.policy.exec.allow.is_some();
    build_dev(exec_allowlist)?;
    build_tmp(fs_policy.tmp_size_mib, exec_allowlist)?;
    // With file grants only the granted paths are bound (extra binds, below), on a
    // read-only, empty stand-in for the workspace.
    let bind_workspace = fs_policy.grants.is_none();
    if !bind_workspace {
        stand_in_workspace(plan)?;
    } else {
        bind(
            &source(&plan.workspace),
            &new(&plan.workspace),
            fs_policy.workspace_writable,
            step,
        )?;
        if exec_allowlist && fs_policy.workspace_writable {
            forbid_exec(&new(&plan.workspace), step)?;
        }
    }
    for (path, writable) in &late {
        bind(&source(path), &new(path), *writable, step)?;
        if exec_allowlist && *writable {
            forbid_exec(&new(path), step)?;
        }
    }
    build_proc()?;
    enter_new_root()?;
    Ok(quota)
}

/// The quota overlay's mount points in the scratch root (gone with it after the pivot, so
/// the program never sees them; the overlay keeps its own references to both layers).
const QUOTA_TMPFS: &str = "/quota";
const QUOTA_LOWER: &str = "/quota-lower";
const QUOTA_OVERLAY: &str = "/quota-workspace";

/// Mounts the workspace as an overlay: the host workspace as its (read-only) lower layer,
/// and as its upper layer a directory on a tmpfs of `quota.mib` MiB and `quota.files`
/// inodes, so whatever the sandbox adds, in one file or many, stops at the quota with
/// `ENOSPC`. Returns a descriptor of the upper layer. Overlayfs mounts in an unprivileged
/// user namespace with `userxattr` (Linux 5.11; tmpfs user xattrs, which it needs for
/// whiteouts and opaque directories, since 6.6).
fn mount_quota_overlay(
    plan: &LaunchPlan,
    quota: &super::supervisor::Quota,
) -> Result<std::os::fd::OwnedFd, SandboxError> {
    let step = Step::MountRoot;
    for dir in [QUOTA_TMPFS, QUOTA_LOWER, QUOTA_OVERLAY] {
        fs::create_dir(dir).step(step, || format!("mkdir {dir}"))?;
    }
    mount_tmpfs(
        QUOTA_TMPFS,
        &format!("mode=0700,size={}m,nr_inodes={}", quota.mib, quota.files),
        step,
    )?;
    let upper = Path::new(QUOTA_TMPFS).join("upper");
    let work = Path::new(QUOTA_TMPFS).join("work");
    for dir in [&upper, &work] {
        fs::create_dir(dir).step(step, || format!("mkdir {}", dir.display()))?;
    }
    // The overlay's root takes the upper directory's mode: make it the workspace's.
    let workspace_mode = fs::metadata(old(&plan.workspace))
        .step(step, || format!("stat {}", plan.workspace.display()))?
        .permissions();
    fs::set_permissions(&upper, workspace_mode)
        .step(step, || format!("chmod {}", upper.display()))?;
    // A path without `:` or `,`, which overlay's options would read as separators.
    mount(
        Some(&old(&plan.workspace)),
        QUOTA_LOWER,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .step(step, || {
        format!("bind {} for the quota overlay", plan.workspace.display())
    })?;
    let options = format!(
        "lowerdir={QUOTA_LOWER},upperdir={},workdir={},userxattr",
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        QUOTA_OVERLAY,
        Some("overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .step(step, || {
        format!(
            "mounting the quota overlay on {} ({options}; needs overlayfs and Linux 6.6+ for tmpfs user xattrs)",
            plan.workspace.display()
        )
    })?;
    let dir = fs::File::open(&upper).step(step, || format!("opening {}", upper.display()))?;
    Ok(dir.into())
}

/// An empty, read-only tmpfs where the workspace would be, holding the mount points of the
/// granted paths beneath it: what no grant names is not there, and nothing can be created
/// in its place (even when the workspace lies under the sandbox's writable `/tmp`).
fn stand_in_workspace(plan: &LaunchPlan) -> Result<(), SandboxError> {
    let step = Step::MountRoot;
    let dst = new(&plan.workspace);
    make_mount_point_of_kind(true, &dst, step)?;
    mount_tmpfs(&dst.to_string_lossy(), "mode=0755,size=64k", step)?;
    for (path, _) in &plan.extra_binds {
        if path.starts_with(&plan.workspace) && *path != plan.workspace {
            make_mount_point(&old(path), &new(path), step)?;
        }
    }
    remount_read_only(&dst, step)
}

/// Extra paths split into those bound with the read-only tree (read-only, and neither inside
/// nor above the workspace or a writable path, so their stacking order cannot matter) and
/// the rest, bound after the workspace in the policy's order.
fn split_extra_binds(plan: &LaunchPlan) -> (Vec<PathBuf>, Vec<(PathBuf, bool)>) {
    let overlaps = |a: &Path, b: &Path| a.starts_with(b) || b.starts_with(a);
    // /dev, /tmp and /proc are mounted after the read-only tree: a bind beneath them (such
    // as the PTY's rc directory in /tmp) made early would be hidden by them.
    let under_later_mount = |path: &Path| {
        ["/dev", "/tmp", "/proc"]
            .iter()
            .any(|m| path.starts_with(m))
    };
    let independent = |path: &Path| {
        !under_later_mount(path)
            && !overlaps(path, &plan.workspace)
            && !plan
                .extra_binds
                .iter()
                .any(|(other, writable)| *writable && overlaps(path, other))
    };
    let mut early = Vec::new();
    let mut late = Vec::new();
    for (path, writable) in &plan.extra_binds {
        if !writable && independent(path) {
            early.push(path.clone());
        } else {
            late.push((path.clone(), *writable));
        }
    }
    (early, late)
}

/// Makes the new root and every mount under it read-only; `binds` are those mounts, for
/// kernels without `mount_setattr` (remounted one by one).
fn seal_read_only(binds: &[PathBuf], step: Step) -> Result<(), SandboxError> {
    if set_read_only(Path::new(NEW_ROOT), true, step)? {
        return Ok(());
    }
    for dst in binds {
        remount_read_only_legacy(dst, step)?;
    }
    remount_read_only_legacy(Path::new(NEW_ROOT), step)
}

/// pivot_root onto a scratch tmpfs mounted on /tmp; the host root moves to /oldroot.
fn enter_scratch_root() -> Result<(), SandboxError> {
    let step = Step::PivotRoot;
    mount_tmpfs("/tmp", "mode=0755,size=16m", step)?;
    for dir in ["/tmp/oldroot", "/tmp/newroot"] {
        fs::create_dir(dir).step(step, || format!("mkdir {dir}"))?;
    }
    nix::unistd::pivot_root("/tmp", "/tmp/oldroot")
        .step(step, || "pivot_root(/tmp, /tmp/oldroot)".into())?;
    nix::unistd::chdir("/").step(step, || "chdir /".into())
}

/// pivot_root onto /newroot and detach the host root for good.
fn enter_new_root() -> Result<(), SandboxError> {
    let step = Step::PivotRoot;
    nix::unistd::chdir(NEW_ROOT).step(step, || format!("chdir {NEW_ROOT}"))?;
    nix::unistd::pivot_root(".", ".").step(step, || "pivot_root(., .)".into())?;
    umount2(".", MntFlags::MNT_DETACH).step(step, || "detaching the old root".into())?;
    nix::unistd::chdir("/").step(step, || "chdir /".into())
}

/// Binds the `/etc` view; the mounts to make read-only are added to `read_only`.
fn build_etc(view: EtcView, read_only: &mut Vec<PathBuf>) -> Result<(), SandboxError> {
    let step = Step::MountRoot;
    let host_etc = Path::new("/etc");
    match view {
        EtcView::Masked => {
            if bind_mount(&old(host_etc), &new(host_etc), false, step)? {
                read_only.push(new(host_etc));
            }
            let empty = Path::new("/empty");
            fs::File::create(empty).step(step, || "creating the mask file".into())?;
            for name in ETC_MASKED {
                let target = new(&host_etc.join(name));
                if target.is_file() {
                    mount(
                        Some(empty),
                        &target,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .step(step, || format!("masking {}", target.display()))?;
                }
            }
            mask_ssh_host_keys(empty)
        }
        EtcView::Filtered => {
            fs::create_dir_all(new(host_etc)).step(step, || "mkdir /etc".into())?;
            for name in ETC_ALLOWLIST {
                let src = old(&host_etc.join(name));
                let dst = new(&host_etc.join(name));
                if bind_mount(&src, &dst, true, step)? {
                    read_only.push(dst);
                }
            }
            Ok(())
        }
    }
}

fn mask_ssh_host_keys(empty: &Path) -> Result<(), SandboxError> {
    let Ok(entries) = fs::read_dir(new(Path::new("/etc/ssh"))) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with("_key") {
            let target = entry.path();
            mount(
                Some(empty),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .step(Step::MountRoot, || format!("masking {}", target.display()))?;
        }
    }
    Ok(())
}

fn build_dev(no_exec: bool) -> Result<(), SandboxError> {
    let step = Step::Dev;
    let dev = new(Path::new("/dev"));
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=64k"),
    )
    .step(step, || "mounting /dev".into())?;
    for name in DEVICES {
        let src = old(&Path::new("/dev").join(name));
        let dst = dev.join(name);
        fs::File::create(&dst).step(step, || format!("creating {}", dst.display()))?;
        mount(
            Some(&src),
            &dst,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .step(step, || format!("bind {}", src.display()))?;
    }
    let pts = dev.join("pts");
    fs::create_dir(&pts).step(step, || "mkdir /dev/pts".into())?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .step(step, || "mounting a private devpts".into())?;
    let shm = dev.join("shm");
    fs::create_dir(&shm).step(step, || "mkdir /dev/shm".into())?;
    mount(
        Some("tmpfs"),
        &shm,
        Some("tmpfs"),
        exec_flags(no_exec),
        Some("mode=1777,size=64m"),
    )
    .step(step, || "mounting /dev/shm".into())?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(link)).step(step, || format!("symlink /dev/{link}"))?;
    }
    remount_read_only(&dev, step)
}

/// Flags of a writable tmpfs: `noexec` too under an execute allowlist.
fn exec_flags(no_exec: bool) -> MsFlags {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if no_exec {
        flags | MsFlags::MS_NOEXEC
    } else {
        flags
    }
}

fn build_tmp(size_mib: u64, no_exec: bool) -> Result<(), SandboxError> {
    let tmp = new(Path::new("/tmp"));
    mount(
        Some("tmpfs"),
        &tmp,
        Some("tmpfs"),
        exec_flags(no_exec),
        Some(format!("mode=1777,size={size_mib}m").as_str()),
    )
    .step(Step::Tmp, || {
        format!("mounting a tmpfs on {}", tmp.display())
    })
}

fn build_proc() -> Result<(), SandboxError> {
    let step = Step::Proc;
    let proc = new(Path::new("/proc"));
    mount(
        Some("proc"),
        &proc,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .step(step, || {
        "mounting a fresh /proc for the new pid namespace".into()
    })?;
    for name in PROC_READ_ONLY {
        let path = proc.join(name);
        match mount(
            Some(&path),
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => remount_read_only(&path, step)?,
            // Not every kernel has every one of them.
            Err(nix::errno::Errno::ENOENT) => {}
            Err(errno) => {
                return Err(SandboxError::new(
                    step,
                    format!("bind {}: {errno}", path.display()),
                ));
            }
        }
    }
    Ok(())
}
