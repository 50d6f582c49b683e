//! Which TCP ports a session's processes listen on, from `/proc`.
//!
//! A socket in LISTEN state appears in `/proc/<pid>/net/tcp{,6}` (the table of the process's
//! network namespace, so a sandboxed session's private namespace is read through its own
//! processes) with its inode; the process that owns it has a `socket:[<inode>]` link among its
//! fds. Reading a few small files per process: run it on a blocking thread.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A listening socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Listener {
    /// The port.
    pub port: u16,
    /// The local address.
    pub address: String,
    /// The process holding it.
    pub pid: u32,
}

/// Listening TCP sockets held by any of `pids`.
pub fn listening_ports(pids: &[i32]) -> BTreeSet<Listener> {
    let mut owners: HashMap<u64, i32> = HashMap::new();
    for &pid in pids {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Some(inode) = fs::read_link(fd.path())
                .ok()
                .and_then(|t| socket_inode(&t.to_string_lossy()))
            {
                owners.entry(inode).or_insert(pid);
            }
        }
    }
    let mut found = BTreeSet::new();
    if owners.is_empty() {
        return found;
    }
    // One table per network namespace among the processes.
    let mut namespaces = HashSet::new();
    for &pid in pids {
        let Ok(ns) = fs::read_link(format!("/proc/{pid}/ns/net")) else {
            continue;
        };
        if !namespaces.insert(ns) {
            continue;
        }
        for table in ["tcp", "tcp6"] {
            let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
                continue;
            };
            for (port, address, inode) in text.lines().skip(1).filter_map(parse_listen_line) {
                if let Some(&owner) = owners.get(&inode) {
                    found.insert(Listener {
                        port,
                        address,
                        pid: owner.unsigned_abs(),
                    });
                }
            }
        }
    }
    found
}

fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// `(port, address, inode)` of a LISTEN line of `/proc/net/tcp{,6}`.
fn parse_listen_line(line: &str) -> Option<(u16, String, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if fields.get(3) != Some(&"0A") {
        return None;
    }
    let (address, port) = fields.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    Some((port, parse_address(address)?, inode))
}

/// The kernel prints addresses as native-endian 32-bit words in hex.
fn parse_address(hex: &str) -> Option<String> {
    let word = |i: usize| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok();
    match hex.len() {
        8 => Some(Ipv4Addr::from(u32::from_be(word(0)?)).to_string()),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?.to_ne_bytes());
            }
            Some(Ipv6Addr::from(bytes).to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listen_lines() {
        let v4 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_listen_line(v4),
            Some((8080, "127.0.0.1".to_owned(), 12345))
        );
        let established = v4.replace(" 0A ", " 01 ");
        assert_eq!(parse_listen_line(&established), None);
        let v6 = "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0";
        assert_eq!(parse_listen_line(v6), Some((80, "::".to_owned(), 777)));
    }

    #[test]
    fn finds_a_real_listener_of_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = listening_ports(&[std::process::id() as i32]);
        assert!(
            found
                .iter()
                .any(|l| l.port == port && l.address == "127.0.0.1"),
            "{found:?}"
        );
    }
}
