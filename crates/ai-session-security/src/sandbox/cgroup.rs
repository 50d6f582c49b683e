//! A per-launch cgroup with memory, pids and cpu limits, created by the supervisor (which
//! keeps its host rights) and removed when the sandbox has exited.
//!
//! cgroup v2 is used when its hierarchy offers all three controllers to our cgroup;
//! otherwise the v1 `memory`, `pids` and `cpu` hierarchies, each found in
//! `/proc/self/mountinfo` and `/proc/self/cgroup`, whichever of them are writable.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::Pid;

use super::{SandboxError, Step, StepContext};
use crate::policy::{CgroupMode, ResourceLimits};

/// The directories of one launch's cgroup (one per v1 controller, or one v2 group).
#[derive(Debug)]
pub(super) struct Cgroup {
    dirs: Vec<PathBuf>,
    v1: bool,
    /// v1: per directory, the idle-pool name stem it is parked under after the launch.
    pool: Vec<String>,
}

/// Emptied v1 groups kept per parent and limit set, for the next launch to reuse: creating
/// and removing a v1 `cpu` (and `memory`) group per launch costs more than the rest of the
/// cgroup step together (scheduler and per-cpu allocations, RCU-deferred teardown).
const POOL_SLOTS: usize = 4;

/// Name stem of the idle groups of `controller` with exactly these limits (the values are
/// hashed into the name, so a parked group is only ever reused with the limits it has).
fn pool_stem(writes: &[LimitWrite], controller: &str) -> String {
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (_, file, value) in writes.iter().filter(|(c, _, _)| *c == controller) {
        for byte in file
            .bytes()
            .chain([b'='])
            .chain(value.bytes())
            .chain([b';'])
        {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("ai-session-sandbox-idle-{controller}-{hash:016x}")
}

/// One limit file to write: (controller, file, value).
type LimitWrite = (&'static str, &'static str, String);

fn limit_writes(limits: &ResourceLimits, v2: bool) -> Vec<LimitWrite> {
    let mut writes = Vec::new();
    if let Some(mib) = limits.memory_mib {
        let bytes = (mib * 1024 * 1024).to_string();
        writes.push((
            "memory",
            if v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            },
            bytes,
        ));
        if v2 {
            // Without this the limit would only push memory to swap.
            writes.push(("memory", "memory.swap.max", "0".to_owned()));
        }
    }
    if let Some(pids) = limits.pids {
        writes.push(("pids", "pids.max", pids.to_string()));
    }
    if let Some(percent) = limits.cpu_percent {
        let period = 100_000u64;
        let quota = period * u64::from(percent) / 100;
        if v2 {
            writes.push(("cpu", "cpu.max", format!("{quota} {period}")));
        } else {
            writes.push(("cpu", "cpu.cfs_period_us", period.to_string()));
            writes.push(("cpu", "cpu.cfs_quota_us", quota.to_string()));
        }
    }
    writes
}

fn controllers_needed(limits: &ResourceLimits) -> Vec<&'static str> {
    let mut needed = Vec::new();
    if limits.memory_mib.is_some() {
        needed.push("memory");
    }
    if limits.pids.is_some() {
        needed.push("pids");
    }
    if limits.cpu_percent.is_some() {
        needed.push("cpu");
    }
    needed
}

/// The text of a small `/proc` or cgroupfs file. Such files report a size of 0, so
/// `fs::read_to_string` would stat them and then read in growing steps from 32 bytes:
/// with room for the whole file up front it takes one read and the one that sees EOF.
fn read_small(path: impl AsRef<Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(16 << 10);
    fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// (mount point, fs type, super options) of every cgroup mount.
fn cgroup_mounts() -> Vec<(PathBuf, String, String)> {
    let Ok(text) = read_small("/proc/self/mountinfo") else {
        return Vec::new();
    };
    parse_cgroup_mounts(&text)
}

fn parse_cgroup_mounts(text: &str) -> Vec<(PathBuf, String, String)> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fs_type = right.next()?;
            let super_options = right.nth(1).unwrap_or("");
            fs_type.starts_with("cgroup").then(|| {
                (
                    PathBuf::from(mount_point),
                    fs_type.to_owned(),
                    super_options.to_owned(),
                )
            })
        })
        .collect()
}

/// Where this process is: `/proc/self/cgroup` and the cgroup mounts, each read once per
/// launch.
struct Placement {
    own: String,
    mounts: Vec<(PathBuf, String, String)>,
}

impl Placement {
    fn read() -> Placement {
        Placement {
            own: read_small("/proc/self/cgroup").unwrap_or_default(),
            mounts: cgroup_mounts(),
        }
    }

    /// Our cgroup path in the hierarchy holding `controller` ("" for v2).
    fn own_path(&self, controller: &str) -> Option<String> {
        own_path_in(&self.own, controller)
    }
}

/// Our cgroup path in the hierarchy holding `controller` ("" for v2), from the text of
/// `/proc/self/cgroup`.
fn own_path_in(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            list.is_empty()
        } else {
            list.split(',').any(|c| c == controller)
        };
        matches.then(|| path.trim_start_matches('/').to_owned())
    })
}

fn group_name() -> String {
    format!("ai-session-sandbox-{}", std::process::id())
}

impl Cgroup {
    /// Creates the cgroup for this launch per the policy's [`CgroupMode`].
    pub(super) fn create(limits: &ResourceLimits) -> Result<Option<Cgroup>, SandboxError> {
        let needed = controllers_needed(limits);
        if limits.cgroup == CgroupMode::Off || needed.is_empty() {
            return Ok(None);
        }
        let placement = Placement::read();
        let attempt = Self::create_v2(limits, &needed, &placement).or_else(|v2_error| {
            Self::create_v1(limits, &needed, &placement)
                .map_err(|v1_error| format!("cgroup v2: {v2_error}; cgroup v1: {v1_error}"))
        });
        match attempt {
            Ok(cgroup) => Ok(Some(cgroup)),
            Err(reason) if limits.cgroup == CgroupMode::Required => Err(SandboxError::new(
                Step::Cgroup,
                format!(
                    "no writable cgroup hierarchy with {needed:?} ({reason}); set resource_limits.cgroup = \"if-available\" to rely on rlimits"
                ),
            )),
            Err(reason) => {
                tracing::debug!(%reason, "no writable cgroup; relying on rlimits");
                Ok(None)
            }
        }
    }

    fn create_v2(
        limits: &ResourceLimits,
        needed: &[&str],
        placement: &Placement,
    ) -> Result<Cgroup, String> {
        let (mount, _, _) = placement
            .mounts
            .iter()
            .find(|(_, fs_type, _)| fs_type == "cgroup2")
            .ok_or("no cgroup2 mount")?;
        let parent = mount.join(placement.own_path("").ok_or("not in a v2 cgroup")?);
        let available = read_small(parent.join("cgroup.controllers")).map_err(|e| e.to_string())?;
        if let Some(missing) = needed
            .iter()
            .find(|c| !available.split_whitespace().any(|a| a == **c))
        {
            return Err(format!(
                "controller {missing} not available in {}",
                parent.display()
            ));
        }
        let enable: Vec<String> = needed.iter().map(|c| format!("+{c}")).collect();
        fs::write(parent.join("cgroup.subtree_control"), enable.join(" "))
            .map_err(|e| format!("enabling {needed:?} in {}: {e}", parent.display()))?;
        let dir = parent.join(group_name());
        fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cgroup = Cgroup {
            dirs: vec![dir.clone()],
            v1: false,
            pool: Vec::new(),
        };
        for (_, file, value) in limit_writes(limits, true) {
            if let Err(e) = fs::write(dir.join(file), &value) {
                cgroup.remove();
                return Err(format!(
                    "writing {value} to {}: {e}",
                    dir.join(file).display()
                ));
            }
        }
        Ok(cgroup)
    }

    fn create_v1(
        limits: &ResourceLimits,
        needed: &[&str],
        placement: &Placement,
    ) -> Result<Cgroup, String> {
        let mounts = &placement.mounts;
        let mut cgroup = Cgroup {
            dirs: Vec::new(),
            v1: true,
            pool: Vec::new(),
        };
        let writes = limit_writes(limits, false);
        for controller in needed {
            let Some((mount, _, _)) = mounts
                .iter()
                .find(|(_, t, opts)| t == "cgroup" && opts.split(',').any(|o| o == *controller))
            else {
                cgroup.remove();
                return Err(format!("no v1 hierarchy for {controller}"));
            };
            let parent = mount.join(placement.own_path(controller).unwrap_or_default());
            let dir = parent.join(group_name());
            let stem = pool_stem(&writes, controller);
            // A parked group with these limits, claimed atomically by renaming it.
            let reused = (0..POOL_SLOTS)
                .any(|slot| fs::rename(parent.join(format!("{stem}-{slot}")), &dir).is_ok());
            if !reused && let Err(e) = fs::create_dir(&dir) {
                cgroup.remove();
                return Err(format!("mkdir {}: {e}", dir.display()));
            }
            cgroup.dirs.push(dir.clone());
            cgroup.pool.push(stem);
            if reused {
                continue;
            }
            for (_, file, value) in writes.iter().filter(|(c, _, _)| c == controller) {
                if let Err(e) = fs::write(dir.join(file), value) {
                    cgroup.remove();
                    return Err(format!(
                        "writing {value} to {}: {e}",
                        dir.join(file).display()
                    ));
                }
            }
        }
        Ok(cgroup)
    }

    /// For cgroup v1: the groups' `tasks` files opened for writing, for the init to move
    /// *itself* in by writing `0`. The kernel checks the credentials the file was opened
    /// with (ours, on the host), and moving the calling thread skips the global
    /// threadgroup lock whose RCU grace period makes a `cgroup.procs` write cost 5-20 ms.
    /// Empty for cgroup v2, where the supervisor uses [`Cgroup::add`].
    pub(super) fn self_join_handles(&self) -> Result<Vec<OwnedFd>, SandboxError> {
        if !self.v1 {
            return Ok(Vec::new());
        }
        self.dirs
            .iter()
            .map(|dir| {
                let tasks = dir.join("tasks");
                fs::OpenOptions::new()
                    .write(true)
                    .open(&tasks)
                    .map(OwnedFd::from)
                    .step(Step::Cgroup, || format!("opening {}", tasks.display()))
            })
            .collect()
    }

    /// Moves `pid` (the sandbox init, before it runs anything) into the group.
    pub(super) fn add(&self, pid: Pid) -> Result<(), SandboxError> {
        for dir in &self.dirs {
            let procs = dir.join("cgroup.procs");
            fs::write(&procs, pid.to_string()).step(Step::Cgroup, || {
                format!("adding {pid} to {}", procs.display())
            })?;
        }
        Ok(())
    }

    /// Removes the group once its processes are gone (they may still be exiting just
    /// after the init was reaped, so an `EBUSY` is retried for a short while).
    pub(super) fn remove(&self) {
        for (index, dir) in self.dirs.iter().enumerate() {
            if let Some(stem) = self.pool.get(index)
                && park(dir, stem)
            {
                continue;
            }
            remove_dir_when_empty(dir);
        }
    }

    /// The cgroup directories (for tests and diagnostics).
    #[cfg(test)]
    pub(super) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}

/// Parks an emptied v1 group in a free idle slot for reuse; `false` when it still has tasks
/// or every slot is taken (the caller removes it instead).
fn park(dir: &Path, stem: &str) -> bool {
    let empty = fs::File::open(dir.join("tasks"))
        .and_then(|mut tasks| std::io::Read::read(&mut tasks, &mut [0u8; 1]))
        .is_ok_and(|read| read == 0);
    let Some(parent) = dir.parent().filter(|_| empty) else {
        return false;
    };
    // rename(2) fails if the slot exists, so two launches never park into the same one.
    (0..POOL_SLOTS).any(|slot| fs::rename(dir, parent.join(format!("{stem}-{slot}"))).is_ok())
}

fn remove_dir_when_empty(dir: &Path) {
    // The group usually empties within microseconds of the reap: retry soon, then back off
    // (a fixed 10 ms first wait was most of the cgroup's cost per launch).
    let mut wait = Duration::from_micros(50);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(10));
            }
        }
    }
    tracing::warn!(dir = %dir.display(), "could not remove the sandbox cgroup");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Preset, SecurityPolicy};

    #[test]
    fn v1_and_v2_limit_files() {
        let limits = SecurityPolicy::preset(Preset::Strict).resource_limits;
        let v1 = limit_writes(&limits, false);
        assert!(v1.contains(&("pids", "pids.max", "256".to_owned())));
        assert!(v1.contains(&("cpu", "cpu.cfs_quota_us", "100000".to_owned())));
        assert!(v1.contains(&(
            "memory",
            "memory.limit_in_bytes",
            (1024u64 << 20).to_string()
        )));
        let v2 = limit_writes(&limits, true);
        assert!(v2.contains(&("cpu", "cpu.max", "100000 100000".to_owned())));
    }

    #[test]
    fn placement_is_read_from_mountinfo_and_proc_cgroup_text() {
        let mountinfo = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let mounts = parse_cgroup_mounts(mountinfo);
        assert_eq!(mounts.len(), 3, "{mounts:?}");
        assert_eq!(mounts[0].0, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(mounts[2].1, "cgroup2");
        let own = "8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/x\n0::/\n";
        assert_eq!(
            own_path_in(own, "memory").as_deref(),
            Some("process_api/abc")
        );
        assert_eq!(own_path_in(own, "cpu").as_deref(), Some("x"));
        assert_eq!(own_path_in(own, "").as_deref(), Some(""));
        assert_eq!(own_path_in(own, "blkio"), None);
    }

    #[test]
    fn a_created_cgroup_is_removed_again() {
        let limits = SecurityPolicy::preset(Preset::Strict).resource_limits;
        let Ok(Some(cgroup)) = Cgroup::create(&limits) else {
            eprintln!("no writable cgroup hierarchy here; nothing to check");
            return;
        };
        let dirs = cgroup.dirs().to_vec();
        assert!(dirs.iter().all(|d| d.is_dir()));
        cgroup.remove();
        assert!(dirs.iter().all(|d| !d.exists()));
        // The next launch gets groups with the same limits (reused or new), and they go again.
        let Ok(Some(again)) = Cgroup::create(&limits) else {
            panic!("the second cgroup could not be created");
        };
        for dir in again.dirs() {
            let pids_max = dir.join("pids.max");
            if pids_max.exists() {
                assert_eq!(fs::read_to_string(pids_max).unwrap().trim(), "256");
            }
        }
        again.remove();
        assert!(again.dirs().iter().all(|d| !d.exists()));
    }

    #[test]
    fn pool_names_differ_by_limits_and_controller() {
        let strict = SecurityPolicy::preset(Preset::Strict).resource_limits;
        let mut other = strict.clone();
        other.pids = Some(512);
        let a = pool_stem(&limit_writes(&strict, false), "pids");
        assert_eq!(a, pool_stem(&limit_writes(&strict, false), "pids"));
        assert_ne!(a, pool_stem(&limit_writes(&other, false), "pids"));
        assert_ne!(a, pool_stem(&limit_writes(&strict, false), "memory"));
        // Limits of other controllers do not matter for this one.
        assert_eq!(
            pool_stem(&limit_writes(&strict, false), "memory"),
            pool_stem(&limit_writes(&other, false), "memory")
        );
    }
}
