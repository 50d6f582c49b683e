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

/// Creates `dst` as the same kind of thing as `src` (directory, empty file) so it can be
/// a mount point.
fn make_mount_point(src: &Path, dst: &Path, step: Step) -> Result<(), SandboxError> {
    if src.is_dir() {
        fs::create_dir_all(dst).step(step, || format!("mkdir {}", dst.display()))
    } else {
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).step(step, || format!("mkdir {}", parent.display()))?;
        }
        fs::File::create(dst)
            .map(drop)
            .step(step, || format!("creating mount point {}", dst.display()))
    }
}

/// Binds `src` (a path in the old root) onto `dst`, read-only unless `writable`. A
/// symlink is recreated instead (so `/bin -> usr/bin` keeps pointing into the view).
fn bind(src: &Path, dst: &Path, writable: bool, step: Step) -> Result<(), SandboxError> {
    let meta = fs::symlink_metadata(src).step(step, || format!("stat {}", src.display()))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(src).step(step, || format!("readlink {}", src.display()))?;
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).step(step, || format!("mkdir {}", parent.display()))?;
        }
        return symlink(&target, dst).step(step, || format!("symlink {}", dst.display()));
    }
    make_mount_point(src, dst, step)?;
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
    if writable {
        return Ok(());
    }
    remount_read_only(dst, step)
}

/// Remounts a bind mount read-only, keeping the flags the kernel locked when the mount
/// was copied into our user namespace (dropping one of those is `EPERM`).
fn remount_read_only(dst: &Path, step: Step) -> Result<(), SandboxError> {
    let current = statvfs(dst)
        .step(step, || format!("statvfs {}", dst.display()))?
        .flags();
    let mut ms = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID;
    for (fs_flag, ms_flag) in [
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
        .step(step, || format!("read-only remount of {}", dst.display()))
}

/// Builds the whole view and pivots into it. Runs in the sandbox init.
pub(super) fn build(plan: &LaunchPlan) -> Result<(), SandboxError> {
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
    mount_tmpfs(NEW_ROOT, "mode=0755,size=16m", step)?;

    let fs_policy = &plan.policy.fs_permissions;
    for dir in &fs_policy.system_read_only {
        if fs::symlink_metadata(old(dir)).is_ok() {
            bind(&old(dir), &new(dir), false, step)?;
        }
    }
    build_etc(fs_policy.etc)?;
    build_dev()?;
    build_tmp(fs_policy.tmp_size_mib)?;
    bind(
        &old(&plan.workspace),
        &new(&plan.workspace),
        fs_policy.workspace_writable,
        step,
    )?;
    for (path, writable) in &plan.extra_binds {
        bind(&old(path), &new(path), *writable, step)?;
    }
    build_proc()?;
    remount_read_only(Path::new(NEW_ROOT), step)?;
    enter_new_root()
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

fn build_etc(view: EtcView) -> Result<(), SandboxError> {
    let step = Step::MountRoot;
    let host_etc = Path::new("/etc");
    match view {
        EtcView::Masked => {
            bind(&old(host_etc), &new(host_etc), false, step)?;
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
                if fs::symlink_metadata(&src).is_ok() {
                    bind(&src, &new(&host_etc.join(name)), false, step)?;
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

fn build_dev() -> Result<(), SandboxError> {
    let step = Step::Dev;
    let dev = new(Path::new("/dev"));
    fs::create_dir_all(&dev).step(step, || "mkdir /dev".into())?;
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
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
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

fn build_tmp(size_mib: u64) -> Result<(), SandboxError> {
    let tmp = new(Path::new("/tmp"));
    fs::create_dir_all(&tmp).step(Step::Tmp, || "mkdir /tmp".into())?;
    mount_tmpfs(
        &tmp.to_string_lossy(),
        &format!("mode=1777,size={size_mib}m"),
        Step::Tmp,
    )
}

fn build_proc() -> Result<(), SandboxError> {
    let step = Step::Proc;
    let proc = new(Path::new("/proc"));
    fs::create_dir_all(&proc).step(step, || "mkdir /proc".into())?;
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
        if path.exists() {
            mount(
                Some(&path),
                &path,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .step(step, || format!("bind {}", path.display()))?;
            remount_read_only(&path, step)?;
        }
    }
    Ok(())
}
