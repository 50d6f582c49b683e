//! `/proc` probes shared by the scale bench and `cargo xtask soak`: memory, descriptors,
//! threads, children and zombies of a process (the daemon). Linux only; a process that is
//! gone reads as zero / empty rather than failing, because both callers probe processes that
//! may exit at any moment.

use std::path::Path;

/// A numeric field of `/proc/<pid>/status` (e.g. `"VmRSS:"`, `"Threads:"`), in its own unit
/// (KB for memory); 0 when the process or the field is gone.
pub fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| first_number_after(&s, field))
        .unwrap_or(0)
}

fn first_number_after(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Resident set size in KB.
pub fn rss_kb(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

/// Proportional set size in KB (shared pages split among their users), from `smaps_rollup`.
pub fn pss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| first_number_after(&s, "Pss:"))
        .unwrap_or(0)
}

/// Number of threads.
pub fn threads(pid: u32) -> u64 {
    status_field(pid, "Threads:")
}

/// Number of open file descriptors.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Descriptors of `pid` that belong to sessions: terminals, pipes, shared memory and files of
/// the session store (not the directories of killed sessions, `.removed-*`, which the store
/// writer deletes when idle).
pub fn session_fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| {
            let target = target.to_string_lossy();
            target.starts_with("/dev/pt")
                || target.starts_with("pipe:")
                || target.starts_with("/memfd:")
                || (target.contains("/sessions/") && !target.contains("/sessions/.removed-"))
        })
        .count()
}

/// Kept sessions' shared areas (`memfd:ai-session-kept`) mapped into `pid`.
pub fn kept_mappings(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("memfd:ai-session-kept"))
        .count()
}

/// `(ppid, state)` of a process (`state` is `R`, `S`, `Z`, ...).
pub fn stat_of(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Every pid in `/proc` right now.
pub fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Direct children of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&pid| stat_of(pid).is_some_and(|(ppid, _)| ppid == parent))
        .collect()
}

/// Children of `parent` that exited and were not reaped.
pub fn zombies_of(parent: u32) -> usize {
    pids()
        .into_iter()
        .filter(|&pid| stat_of(pid).is_some_and(|(ppid, state)| ppid == parent && state == 'Z'))
        .count()
}

/// Summed RSS and PSS (KB) of `parent`'s direct children, and how many there are.
pub fn children_memory(parent: u32) -> (u64, u64, usize) {
    let children = children_of(parent);
    let rss = children.iter().map(|&pid| rss_kb(pid)).sum();
    let pss = children.iter().map(|&pid| pss_kb(pid)).sum();
    (rss, pss, children.len())
}

/// Processes other than `except` and the caller whose environment contains
/// `AI_SESSION_HOME=<home>`: session shells of that home and their children (zombies too).
pub fn processes_of_home(home: &Path, except: u32) -> Vec<u32> {
    let needle = format!("AI_SESSION_HOME={}", home.display());
    let me = std::process::id();
    pids()
        .into_iter()
        .filter(|&pid| pid != except && pid != me)
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// `pid (command line)` for each process, so a failure says what was left behind.
pub fn describe(pids: &[u32]) -> String {
    pids.iter()
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            format!("{pid} ({cmdline})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_see_this_process_and_a_reaped_child() {
        let me = std::process::id();
        assert!(rss_kb(me) > 0);
        assert!(pss_kb(me) > 0);
        assert!(threads(me) >= 1);
        assert!(fd_count(me) >= 3);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn sleep");
        assert!(children_of(me).contains(&child.id()));
        assert_eq!(stat_of(child.id()).map(|(ppid, _)| ppid), Some(me));
        child.kill().unwrap();
        // Killed but not waited for: a zombie until reaped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while zombies_of(me) == 0 {
            assert!(std::time::Instant::now() < deadline, "no zombie seen");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert_eq!(zombies_of(me), 0);
        assert_eq!(rss_kb(u32::MAX), 0);
        assert!(describe(&[me]).starts_with(&format!("{me} (")));
    }
}
