//! The change set of a sandbox with a disk quota: its workspace is an overlay whose
//! upper layer is a size-limited tmpfs, so everything the sandbox wrote, created or
//! deleted in the workspace is a tree of its own, reviewable and applied to the real
//! workspace only when asked (or when the sandbox ends, per
//! `fs_permissions.workspace_changes`).
//!
//! The launcher's supervisor (the process the daemon spawned) holds the upper layer open at
//! descriptor [`CHANGES_FD`] for the sandbox's whole life, so the daemon, running as the
//! same user, reaches a live session's changes through `/proc/<launcher pid>/fd/100`
//! ([`ChangeSet::of_launcher`]); the sandboxed program itself cannot see the layer.
//!
//! The upper layer uses overlayfs's own format: a deletion is a whiteout (a character
//! device 0:0), a directory that replaced one of the workspace (so hides its old entries)
//! carries `user.overlay.opaque = y`.
//!
//! Applying never follows a symlink: every path is opened component by component, beneath
//! the workspace, with `O_NOFOLLOW`; setuid, setgid and sticky bits are dropped.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use serde::{Deserialize, Serialize};

/// The descriptor at which the launcher's supervisor holds the upper layer.
pub const CHANGES_FD: i32 = 100;

const TMPFS_MAGIC: i64 = 0x0102_1994;
const OPAQUE_XATTRS: [&str; 2] = ["user.overlay.opaque", "trusted.overlay.opaque"];
/// Temporary names of files being applied (renamed over their target when complete).
const APPLY_PREFIX: &str = ".ai-session-apply.";

/// Why a change set could not be read or applied.
#[derive(Debug, thiserror::Error)]
#[error("sandbox change set: {what} {path}: {source}")]
pub struct ChangesError {
    /// The operation.
    pub what: &'static str,
    /// The path it was on (relative to the workspace for applied entries).
    pub path: PathBuf,
    /// What the OS said.
    pub source: std::io::Error,
}

fn error(what: &'static str, path: &Path) -> impl FnOnce(rustix::io::Errno) -> ChangesError {
    let path = path.to_owned();
    move |errno| ChangesError {
        what,
        path,
        source: errno.into(),
    }
}

/// What a change does to the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A path the workspace does not have.
    Added,
    /// A path the workspace has, with other content (or of another type).
    Modified,
    /// A path the workspace has, which the sandbox deleted.
    Deleted,
}

/// What a changed path is in the change set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory (listed when new or replacing; its entries are listed on their own).
    Dir,
    /// A symbolic link.
    Symlink,
    /// A deletion.
    Whiteout,
    /// A FIFO, socket or device node (never applied).
    Other,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Relative to the workspace.
    pub path: PathBuf,
    /// Added, modified or deleted.
    pub kind: ChangeKind,
    /// What it is in the change set.
    pub entry: EntryType,
    /// Size in bytes of a file (0 otherwise).
    pub size: u64,
}

/// What [`ChangeSet::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Files and symlinks written.
    pub written: u64,
    /// Directories created.
    pub directories: u64,
    /// Paths removed (deletions, and what a new entry of another type replaced).
    pub removed: u64,
    /// Entries left out, with the reason (device nodes, FIFOs, sockets).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Space used by the change set against its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Bytes in use.
    pub used_bytes: u64,
    /// The quota in bytes.
    pub quota_bytes: u64,
    /// Files and directories in use.
    pub used_files: u64,
    /// The quota in files and directories.
    pub quota_files: u64,
}

impl DiskUsage {
    /// True when the next write fails with `ENOSPC`: no byte or no inode left (the daemon
    /// checks this after a command to record a quota hit in the audit log).
    pub fn is_full(&self) -> bool {
        self.used_bytes >= self.quota_bytes || self.used_files >= self.quota_files
    }
}

/// A sandbox's change set: an overlay upper layer, live or kept.
#[derive(Debug)]
pub struct ChangeSet {
    root: OwnedFd,
    origin: PathBuf,
}

impl ChangeSet {
    /// The change set of the running sandbox whose launcher (supervisor) has pid `pid` (the
    /// process the daemon spawned on the PTY). Fails when that launcher has no quota overlay.
    pub fn of_launcher(pid: u32) -> Result<ChangeSet, ChangesError> {
        let path = PathBuf::from(format!("/proc/{pid}/fd/{CHANGES_FD}"));
        let set = ChangeSet::open(&path)?;
        let statfs = rustix::fs::fstatfs(&set.root).map_err(error("statfs", &path))?;
        if statfs.f_type as i64 != TMPFS_MAGIC {
            return Err(ChangesError {
                what: "checking",
                path,
                source: std::io::Error::other(
                    "descriptor 100 of that process is not a sandbox's change set",
                ),
            });
        }
        Ok(set)
    }

    /// The change set in the directory `upper` (an overlay upper layer).
    pub fn open(upper: &Path) -> Result<ChangeSet, ChangesError> {
        let root = rustix::fs::open(
            upper,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(error("opening", upper))?;
        Ok(ChangeSet {
            root,
            origin: upper.to_owned(),
        })
    }

    /// Wraps an open directory descriptor of an upper layer.
    pub(super) fn from_fd(root: OwnedFd) -> ChangeSet {
        ChangeSet {
            root,
            origin: PathBuf::from("(the sandbox's upper layer)"),
        }
    }

    /// Where this change set was opened from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The upper layer's directory descriptor.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Space used against the quota (the upper tmpfs's size and inode count).
    pub fn usage(&self) -> Result<DiskUsage, ChangesError> {
        let vfs = rustix::fs::fstatvfs(&self.root).map_err(error("statvfs", &self.origin))?;
        let block = vfs.f_frsize.max(1);
        Ok(DiskUsage {
            used_bytes: (vfs.f_blocks - vfs.f_bfree) * block,
            quota_bytes: vfs.f_blocks * block,
            used_files: vfs.f_files - vfs.f_ffree,
            quota_files: vfs.f_files,
        })
    }

    /// Every change against `workspace`, sorted by path. Entries whose content already
    /// equals the workspace's (applied earlier) are left out.
    pub fn list(&self, workspace: &Path) -> Result<Vec<Change>, ChangesError> {
        let ws = open_dir(rustix::fs::CWD, workspace, workspace)?;
        let mut changes = Vec::new();
        list_dir(&self.root, Some(&ws), Path::new(""), &mut changes)?;
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }

    /// Saves the change set to `dir` (replacing what is there) in the same format, so
    /// [`ChangeSet::open`] on `dir` lists and applies it later, after the sandbox is gone.
    /// Whiteouts are character devices 0:0 (any user may make those since Linux 5.8),
    /// opaque directories carry `user.overlay.opaque`.
    pub fn save_to(&self, dir: &Path) -> Result<(), ChangesError> {
        if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) {
            let parent_fd = open_dir(rustix::fs::CWD, parent, parent)?;
            remove_tree(&parent_fd, &cname(name.as_bytes()), dir)?;
        }
        rustix::fs::mkdir(dir, Mode::from_raw_mode(0o700)).map_err(error("creating", dir))?;
        let target = open_dir(rustix::fs::CWD, dir, dir)?;
        copy_tree(&self.root, &target, Path::new(""))
    }

    /// Writes the changes into `workspace`: files and symlinks replace what is there
    /// (atomically, by rename), deletions and opaque directories remove, new directories are
    /// made. Applying twice is harmless.
    pub fn apply(&self, workspace: &Path) -> Result<ApplyReport, ChangesError> {
        let ws = open_dir(rustix::fs::CWD, workspace, workspace)?;
        let mut report = ApplyReport::default();
        apply_dir(&self.root, &ws, Path::new(""), &mut report)?;
        Ok(report)
    }
}

fn open_dir<Fd: AsFd>(
    dir: Fd,
    name: impl rustix::path::Arg,
    shown: &Path,
) -> Result<OwnedFd, ChangesError> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(error("opening", shown))
}

/// An entry of an upper directory, classified.
struct Entry {
    name: Vec<u8>,
    kind: EntryType,
    stat: rustix::fs::Stat,
}

fn entries(dir: &OwnedFd, shown: &Path) -> Result<Vec<Entry>, ChangesError> {
    let mut out = Vec::new();
    let listing = Dir::read_from(dir).map_err(error("listing", shown))?;
    for entry in listing {
        let entry = entry.map_err(error("listing", shown))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let stat = rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(error("stat", &shown.join(OsStr::from_bytes(name))))?;
        let kind = match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => EntryType::File,
            FileType::Directory => EntryType::Dir,
            FileType::Symlink => EntryType::Symlink,
            FileType::CharacterDevice if stat.st_rdev == 0 => EntryType::Whiteout,
            _ => EntryType::Other,
        };
        out.push(Entry {
            name: name.to_vec(),
            kind,
            stat,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn is_opaque(dir: &OwnedFd) -> bool {
    OPAQUE_XATTRS.iter().any(|name| {
        let mut value = [0u8; 4];
        matches!(rustix::fs::fgetxattr(dir, *name, &mut value[..]), Ok(1) if value[0] == b'y')
    })
}

/// What the workspace has at `name` in `dir`: its stat, or `None`.
fn workspace_stat(dir: Option<&OwnedFd>, name: &CStr) -> Option<rustix::fs::Stat> {
    rustix::fs::statat(dir?, name, AtFlags::SYMLINK_NOFOLLOW).ok()
}

fn cname(name: &[u8]) -> std::ffi::CString {
    // Directory entry names never hold a NUL byte.
    std::ffi::CString::new(name).unwrap_or_default()
}

fn list_dir(
    upper: &OwnedFd,
    ws: Option<&OwnedFd>,
    rel: &Path,
    out: &mut Vec<Change>,
) -> Result<(), ChangesError> {
    for entry in entries(upper, rel)? {
        let name = cname(&entry.name);
        let path = rel.join(OsStr::from_bytes(&entry.name));
        let existing = workspace_stat(ws, &name);
        let existing_type = existing.map(|s| FileType::from_raw_mode(s.st_mode));
        match entry.kind {
            EntryType::Whiteout => {
                if existing.is_some() {
                    out.push(Change {
                        path,
                        kind: ChangeKind::Deleted,
                        entry: EntryType::Whiteout,
                        size: 0,
                    });
                }
            }
            EntryType::Dir => {
                let dir = open_dir(upper, name.as_c_str(), &path)?;
                let ws_dir = match existing_type {
                    Some(FileType::Directory) => {
                        ws.and_then(|w| open_dir(w, name.as_c_str(), &path).ok())
                    }
                    _ => None,
                };
                // An opaque directory hides the workspace's entries it does not hold: those
                // are deleted.
                let mut hidden = Vec::new();
                if is_opaque(&dir)
                    && let Some(ws_dir) = &ws_dir
                {
                    let kept: Vec<Vec<u8>> =
                        entries(&dir, &path)?.into_iter().map(|e| e.name).collect();
                    for entry in entries(ws_dir, &path)? {
                        if !kept.contains(&entry.name) {
                            hidden.push(Change {
                                path: path.join(OsStr::from_bytes(&entry.name)),
                                kind: ChangeKind::Deleted,
                                entry: EntryType::Whiteout,
                                size: 0,
                            });
                        }
                    }
                }
                if existing_type != Some(FileType::Directory) || !hidden.is_empty() {
                    out.push(Change {
                        path: path.clone(),
                        kind: if existing.is_some() {
                            ChangeKind::Modified
                        } else {
                            ChangeKind::Added
                        },
                        entry: EntryType::Dir,
                        size: 0,
                    });
                }
                out.extend(hidden);
                list_dir(&dir, ws_dir.as_ref(), &path, out)?;
            }
            EntryType::File | EntryType::Symlink | EntryType::Other => {
                if existing.is_some() && same_content(upper, ws, &name, &entry)? {
                    continue;
                }
                out.push(Change {
                    path,
                    kind: if existing.is_some() {
                        ChangeKind::Modified
                    } else {
                        ChangeKind::Added
                    },
                    entry: entry.kind,
                    size: if entry.kind == EntryType::File {
                        entry.stat.st_size as u64
                    } else {
                        0
                    },
                });
            }
        }
    }
    Ok(())
}

/// Whether the workspace already has exactly this file or symlink.
fn same_content(
    upper: &OwnedFd,
    ws: Option<&OwnedFd>,
    name: &CStr,
    entry: &Entry,
) -> Result<bool, ChangesError> {
    let Some(ws) = ws else {
        return Ok(false);
    };
    let Some(theirs) = workspace_stat(Some(ws), name) else {
        return Ok(false);
    };
    let shown = Path::new(OsStr::from_bytes(name.to_bytes()));
    match entry.kind {
        EntryType::Symlink => {
            let ours = rustix::fs::readlinkat(upper, name, Vec::new())
                .map_err(error("readlink", shown))?;
            Ok(FileType::from_raw_mode(theirs.st_mode) == FileType::Symlink
                && rustix::fs::readlinkat(ws, name, Vec::new()).ok() == Some(ours))
        }
        EntryType::File => {
            if FileType::from_raw_mode(theirs.st_mode) != FileType::RegularFile
                || theirs.st_size != entry.stat.st_size
                || (theirs.st_mode & 0o777) != (entry.stat.st_mode & 0o777)
            {
                return Ok(false);
            }
            let open = |dir: &OwnedFd| {
                rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map(File::from)
                .map_err(error("opening", shown))
            };
            Ok(files_equal(open(upper)?, open(ws)?))
        }
        _ => Ok(false),
    }
}

fn files_equal(mut a: File, mut b: File) -> bool {
    use std::io::Read as _;
    let (mut x, mut y) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let (Ok(n), Ok(m)) = (a.read(&mut x), b.read(&mut y)) else {
            return false;
        };
        if n != m || x[..n] != y[..m] {
            // Short reads of regular files only happen at their end.
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

/// Removes `name` from `dir`, a directory with all it holds, never following a symlink.
fn remove_tree(dir: &OwnedFd, name: &CStr, shown: &Path) -> Result<bool, ChangesError> {
    let Some(stat) = workspace_stat(Some(dir), name) else {
        return Ok(false);
    };
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        let inner = open_dir(dir, name, shown)?;
        for entry in entries(&inner, shown)? {
            let child = cname(&entry.name);
            remove_tree(&inner, &child, &shown.join(OsStr::from_bytes(&entry.name)))?;
        }
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR).map_err(error("removing", shown))?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(error("removing", shown))?;
    }
    Ok(true)
}

/// The permission bits to apply: setuid, setgid and sticky dropped (a root sandbox could
/// otherwise leave a setuid-root program in the workspace).
fn safe_mode(mode: u32) -> Mode {
    Mode::from_raw_mode(mode & 0o777)
}

fn apply_dir(
    upper: &OwnedFd,
    ws: &OwnedFd,
    rel: &Path,
    report: &mut ApplyReport,
) -> Result<(), ChangesError> {
    for entry in entries(upper, rel)? {
        let name = cname(&entry.name);
        let path = rel.join(OsStr::from_bytes(&entry.name));
        if entry.name.starts_with(APPLY_PREFIX.as_bytes()) {
            continue;
        }
        let existing = workspace_stat(Some(ws), &name).map(|s| FileType::from_raw_mode(s.st_mode));
        match entry.kind {
            EntryType::Whiteout => {
                if remove_tree(ws, &name, &path)? {
                    report.removed += 1;
                }
            }
            EntryType::Dir => {
                let dir = open_dir(upper, name.as_c_str(), &path)?;
                if existing.is_some() && existing != Some(FileType::Directory) {
                    remove_tree(ws, &name, &path)?;
                    report.removed += 1;
                }
                if existing != Some(FileType::Directory) {
                    match rustix::fs::mkdirat(ws, name.as_c_str(), safe_mode(entry.stat.st_mode)) {
                        Ok(()) => report.directories += 1,
                        Err(rustix::io::Errno::EXIST) => {}
                        Err(errno) => return Err(error("creating", &path)(errno)),
                    }
                }
                let target = open_dir(ws, name.as_c_str(), &path)?;
                if is_opaque(&dir) {
                    let kept: Vec<Vec<u8>> =
                        entries(&dir, &path)?.into_iter().map(|e| e.name).collect();
                    for hidden in entries(&target, &path)? {
                        if !kept.contains(&hidden.name) {
                            let hidden_name = cname(&hidden.name);
                            remove_tree(
                                &target,
                                &hidden_name,
                                &path.join(OsStr::from_bytes(&hidden.name)),
                            )?;
                            report.removed += 1;
                        }
                    }
                }
                let _ = rustix::fs::fchmod(&target, safe_mode(entry.stat.st_mode));
                apply_dir(&dir, &target, &path, report)?;
            }
            EntryType::File => {
                if existing == Some(FileType::Directory) {
                    remove_tree(ws, &name, &path)?;
                    report.removed += 1;
                }
                copy_file(upper, ws, &name, &entry, &path)?;
                report.written += 1;
            }
            EntryType::Symlink => {
                let target = rustix::fs::readlinkat(upper, name.as_c_str(), Vec::new())
                    .map_err(error("readlink", &path))?;
                if existing.is_some() {
                    remove_tree(ws, &name, &path)?;
                }
                rustix::fs::symlinkat(target.as_c_str(), ws, name.as_c_str())
                    .map_err(error("creating the symlink", &path))?;
                report.written += 1;
            }
            EntryType::Other => report.skipped.push((
                path,
                "a device node, FIFO or socket is never applied".into(),
            )),
        }
    }
    Ok(())
}

/// Copies the upper tree `from` into the empty directory `to`, whiteouts and opaque
/// markers included.
fn copy_tree(from: &OwnedFd, to: &OwnedFd, rel: &Path) -> Result<(), ChangesError> {
    for entry in entries(from, rel)? {
        let name = cname(&entry.name);
        let path = rel.join(OsStr::from_bytes(&entry.name));
        match entry.kind {
            EntryType::Whiteout => rustix::fs::mknodat(
                to,
                name.as_c_str(),
                FileType::CharacterDevice,
                Mode::empty(),
                0,
            )
            .map_err(error("creating the whiteout", &path))?,
            EntryType::Dir => {
                let source = open_dir(from, name.as_c_str(), &path)?;
                rustix::fs::mkdirat(to, name.as_c_str(), safe_mode(entry.stat.st_mode))
                    .map_err(error("creating", &path))?;
                let target = open_dir(to, name.as_c_str(), &path)?;
                if is_opaque(&source) {
                    rustix::fs::fsetxattr(
                        &target,
                        OPAQUE_XATTRS[0],
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(error("marking opaque", &path))?;
                }
                copy_tree(&source, &target, &path)?;
            }
            EntryType::File => copy_file(from, to, &name, &entry, &path)?,
            EntryType::Symlink => {
                let target = rustix::fs::readlinkat(from, name.as_c_str(), Vec::new())
                    .map_err(error("readlink", &path))?;
                rustix::fs::symlinkat(target.as_c_str(), to, name.as_c_str())
                    .map_err(error("creating the symlink", &path))?;
            }
            EntryType::Other => {}
        }
    }
    Ok(())
}

/// Copies an upper file into the workspace directory under a temporary name, then
/// renames it over `name`: a reader never sees half a file.
fn copy_file(
    upper: &OwnedFd,
    ws: &OwnedFd,
    name: &CStr,
    entry: &Entry,
    path: &Path,
) -> Result<(), ChangesError> {
    let mut source = rustix::fs::openat(
        upper,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map(File::from)
    .map_err(error("opening", path))?;
    let mut temp_name = APPLY_PREFIX.as_bytes().to_vec();
    temp_name.extend_from_slice(name.to_bytes());
    temp_name.extend_from_slice(format!(".{}", std::process::id()).as_bytes());
    let temp_name = cname(&temp_name);
    let _ = rustix::fs::unlinkat(ws, temp_name.as_c_str(), AtFlags::empty());
    let mode = safe_mode(entry.stat.st_mode);
    let mut target = rustix::fs::openat(
        ws,
        temp_name.as_c_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        mode,
    )
    .map(File::from)
    .map_err(error("creating", path))?;
    let copied = std::io::copy(&mut source, &mut target)
        .and_then(|_| rustix::fs::fchmod(&target, mode).map_err(Into::into));
    if let Err(source) = copied {
        let _ = rustix::fs::unlinkat(ws, temp_name.as_c_str(), AtFlags::empty());
        let kind = source.kind();
        return Err(ChangesError {
            what: if kind == ErrorKind::StorageFull {
                "writing (the workspace's disk is full)"
            } else {
                "writing"
            },
            path: path.to_owned(),
            source,
        });
    }
    drop(target);
    rustix::fs::renameat(ws, temp_name.as_c_str(), ws, name).map_err(error("replacing", path))
}
