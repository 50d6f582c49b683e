//! Is the foreground process group blocked reading the terminal? Decided from `/proc`: every
//! thread of the group asleep, and at least one of them inside `read` (or `poll`/`select`/`epoll`
//! for input) on our tty. This is what tells a password prompt or a pager from a slow command.

use std::fs;
use std::io::IoSliceMut;
use std::path::Path;

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

/// Outcome of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyWait {
    /// A process of the foreground group waits for terminal input (`pid`), nothing else runs.
    Reading {
        /// The process blocked in the read.
        pid: i32,
    },
    /// Something in the group runs, or sleeps for another reason (timer, pipe, socket).
    Busy,
    /// The group could not be inspected (it just exited, or `/proc` is not readable).
    Unknown,
}

/// Probe the foreground process group `pgid` of the session led by `shell_pid`, whose terminal is
/// `tty`. Reads a handful of small `/proc` files; call it off the async runtime threads.
pub fn probe(pgid: i32, shell_pid: i32, tty: &Path) -> TtyWait {
    let members = group_members(pgid, shell_pid);
    if members.is_empty() {
        return TtyWait::Unknown;
    }
    let mut reader = None;
    for pid in members {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let task_dir = task.path();
            match task_state(&task_dir) {
                Some('S') => {}
                // Exited but not yet reaped: no longer part of the question.
                Some('Z' | 'X') | None => continue,
                Some(_) => return TtyWait::Busy,
            }
            if reader.is_none() && waits_on_tty(pid, &task_dir, tty) {
                reader = Some(pid);
            }
        }
    }
    reader.map_or(TtyWait::Busy, |pid| TtyWait::Reading { pid })
}

/// Processes of group `pgid` among `shell_pid` and its descendants; falls back to scanning all
/// of `/proc` when the children lists are unavailable.
fn group_members(pgid: i32, shell_pid: i32) -> Vec<i32> {
    let tree = crate::proctree::descendants(shell_pid);
    let members: Vec<i32> = tree
        .iter()
        .copied()
        .filter(|&pid| process_group(pid) == Some(pgid))
        .collect();
    if members.is_empty() && tree.len() <= 1 {
        return scan_all(pgid);
    }
    members
}

fn scan_all(pgid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| process_group(pid) == Some(pgid))
        .collect()
}

/// Fields of `/proc/<pid>/stat` after the `(comm)` field, which may contain spaces.
fn stat_fields(path: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(path).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn process_group(pid: i32) -> Option<i32> {
    // After comm: state ppid pgrp ...
    stat_fields(Path::new(&format!("/proc/{pid}/stat")))?
        .get(2)?
        .parse()
        .ok()
}

fn task_state(task_dir: &Path) -> Option<char> {
    stat_fields(&task_dir.join("stat"))?.first()?.chars().next()
}

/// Is this task inside a read (or an input poll) on the terminal?
fn waits_on_tty(pid: i32, task_dir: &Path, tty: &Path) -> bool {
    let Ok(text) = fs::read_to_string(task_dir.join("syscall")) else {
        return waits_on_tty_by_wchan(pid, task_dir, tty);
    };
    let mut fields = text.split_whitespace();
    let Some(nr) = fields.next().and_then(|s| s.parse::<i64>().ok()) else {
        return false; // "running"
    };
    let args: Vec<u64> = fields
        .take(6)
        .filter_map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .collect();
    if args.len() < 3 {
        return false;
    }
    let is_tty = |fd: u64| fd_is_tty(pid, fd, tty);
    match nr {
        libc::SYS_read
        | libc::SYS_readv
        | libc::SYS_pread64
        | libc::SYS_preadv
        | libc::SYS_preadv2 => is_tty(args[0]),
        libc::SYS_ppoll => poll_wants_tty(pid, args[0], args[1], is_tty),
        libc::SYS_epoll_pwait | libc::SYS_epoll_pwait2 => epoll_wants_tty(pid, args[0], is_tty),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_epoll_wait => epoll_wants_tty(pid, args[0], is_tty),
        libc::SYS_pselect6 => select_wants_tty(pid, args[0], args[1], is_tty),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll => poll_wants_tty(pid, args[0], args[1], is_tty),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_select => select_wants_tty(pid, args[0], args[1], is_tty),
        _ => false,
    }
}

/// Without `/proc/<pid>/syscall` (permissions), fall back to the kernel wait channel.
fn waits_on_tty_by_wchan(pid: i32, task_dir: &Path, tty: &Path) -> bool {
    let wchan = fs::read_to_string(task_dir.join("wchan")).unwrap_or_default();
    matches!(wchan.trim(), "n_tty_read" | "wait_woken") && fd_is_tty(pid, 0, tty)
}

fn fd_is_tty(pid: i32, fd: u64, tty: &Path) -> bool {
    match fs::read_link(format!("/proc/{pid}/fd/{fd}")) {
        Ok(target) => target == tty || target == Path::new("/dev/tty"),
        Err(_) => false,
    }
}

/// `epoll_wait(epfd, ..)`: the epoll set is listed in `/proc/<pid>/fdinfo/<epfd>` as
/// `tfd: <fd> events: <hex mask> ...` lines; is a tty fd registered for input?
fn epoll_wants_tty(pid: i32, epfd: u64, is_tty: impl Fn(u64) -> bool) -> bool {
    let Ok(info) = fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}")) else {
        return false;
    };
    info.lines().any(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("tfd:") {
            return false;
        }
        let Some(fd) = words.next().and_then(|w| w.parse::<u64>().ok()) else {
            return false;
        };
        let events = match (words.next(), words.next()) {
            (Some("events:"), Some(mask)) => u32::from_str_radix(mask, 16).unwrap_or(0),
            _ => 0,
        };
        events & libc::EPOLLIN as u32 != 0 && is_tty(fd)
    })
}

fn read_remote(pid: i32, address: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let remote = [RemoteIoVec {
        base: address as usize,
        len,
    }];
    let n = process_vm_readv(
        Pid::from_raw(pid),
        &mut [IoSliceMut::new(&mut buf)],
        &remote,
    )
    .ok()?;
    (n == len).then_some(buf)
}

/// `poll(fds, nfds, ..)`: does any `pollfd` ask for input on the tty?
fn poll_wants_tty(pid: i32, fds: u64, nfds: u64, is_tty: impl Fn(u64) -> bool) -> bool {
    if nfds == 0 || nfds > 256 {
        return false;
    }
    let Some(raw) = read_remote(pid, fds, nfds as usize * 8) else {
        return false;
    };
    raw.chunks_exact(8).any(|entry| {
        let fd = i32::from_ne_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let events = i16::from_ne_bytes([entry[4], entry[5]]);
        fd >= 0 && events & libc::POLLIN != 0 && is_tty(fd as u64)
    })
}

/// `select(nfds, readfds, ..)`: is a tty fd in the read set?
fn select_wants_tty(pid: i32, nfds: u64, readfds: u64, is_tty: impl Fn(u64) -> bool) -> bool {
    if readfds == 0 || nfds == 0 || nfds > 4096 {
        return false;
    }
    let words = nfds.div_ceil(64) as usize;
    let Some(raw) = read_remote(pid, readfds, words * 8) else {
        return false;
    };
    (0..nfds).any(|fd| {
        let byte = raw[(fd / 8) as usize];
        byte & (1 << (fd % 8)) != 0 && is_tty(fd)
    })
}
