//! Socket listings: ss and netstat.

use super::{Input, Parse, Priority};
use crate::{MAX_ITEMS, NetworkReport, ParsedOutput, Socket};

pub(crate) fn parse(input: &Input<'_>) -> Parse {
    let lines = &input.lines;
    let netstat = input.command.contains("netstat");
    let tool = if netstat { "netstat" } else { "ss" };
    let default_proto = default_proto(input.command);
    let mut report = NetworkReport {
        tool: tool.to_owned(),
        ..NetworkReport::default()
    };
    let mut keep = Vec::new();
    let mut has_netid = false;
    for (index, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| matches!(*w, "State" | "Netid" | "Proto"))
        {
            has_netid = words[0] == "Netid";
            keep.push((index, Priority::Must));
            continue;
        }
        let socket = if netstat {
            netstat_row(&words)
        } else {
            ss_row(&words, has_netid, default_proto)
        };
        let Some(socket) = socket else { continue };
        report.count += 1;
        keep.push((index, Priority::High));
        let listening = matches!(socket.state.as_deref(), Some("LISTEN" | "UNCONN"));
        let list = if listening {
            &mut report.listeners
        } else {
            &mut report.connections
        };
        if list.len() < MAX_ITEMS {
            list.push(socket);
        }
    }
    report.operation = if report.connections.is_empty() && !report.listeners.is_empty() {
        "listening_sockets"
    } else {
        "connections"
    }
    .to_owned();
    let ports: Vec<String> = report
        .listeners
        .iter()
        .take(20)
        .map(|s| match &s.process {
            Some(p) => format!(
                "{}({p})",
                s.port.map_or_else(|| s.local.clone(), |p| p.to_string())
            ),
            None => s.port.map_or_else(|| s.local.clone(), |p| p.to_string()),
        })
        .collect();
    let headline = format!(
        "{tool}: {} sockets, {} listening{}{}",
        report.count,
        report.listeners.len(),
        if ports.is_empty() {
            String::new()
        } else {
            format!(" on {}", ports.join(", "))
        },
        input.exit_suffix()
    );
    Parse::with_kept(ParsedOutput::NetworkOutput(report), headline, keep)
}

fn default_proto(command: &str) -> &'static str {
    let flags: String = command
        .split_whitespace()
        .filter(|w| w.starts_with('-') && !w.starts_with("--"))
        .collect();
    match (flags.contains('t'), flags.contains('u')) {
        (false, true) => "udp",
        _ => "tcp",
    }
}

fn port_of(address: &str) -> Option<u16> {
    address.rsplit_once(':')?.1.parse().ok()
}

/// `users:(("python3",pid=10789,fd=3))` -> (name, pid).
fn ss_process(text: &str) -> (Option<String>, Option<u32>) {
    let name = text
        .split_once("((\"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(n, _)| n.to_owned());
    let pid = text
        .split_once("pid=")
        .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok());
    (name, pid)
}

/// `State Recv-Q Send-Q Local Peer [Process]`, optionally led by `Netid`.
fn ss_row(words: &[&str], has_netid: bool, default_proto: &str) -> Option<Socket> {
    let (proto, rest) = if has_netid {
        (words.first()?.to_string(), words.get(1..)?)
    } else {
        (default_proto.to_owned(), words)
    };
    let [state, recv, send, local, peer, process @ ..] = rest else {
        return None;
    };
    if recv.parse::<u64>().is_err() || send.parse::<u64>().is_err() {
        return None;
    }
    let (name, pid) = process.first().map_or((None, None), |p| ss_process(p));
    Some(Socket {
        proto,
        state: Some((*state).to_owned()),
        local: (*local).to_owned(),
        port: port_of(local),
        peer: Some((*peer).to_owned()),
        process: name,
        pid,
    })
}

/// `tcp 0 0 127.0.0.1:8765 0.0.0.0:* LISTEN 10789/python3`.
fn netstat_row(words: &[&str]) -> Option<Socket> {
    let [proto, recv, send, local, peer, rest @ ..] = words else {
        return None;
    };
    if !proto.starts_with("tcp") && !proto.starts_with("udp")
        || recv.parse::<u64>().is_err()
        || send.parse::<u64>().is_err()
    {
        return None;
    }
    let (state, program) = match rest {
        [state, program, ..] if !state.contains('/') => (Some((*state).to_owned()), Some(*program)),
        [only] if only.contains('/') || *only == "-" => (None, Some(*only)),
        [state] => (Some((*state).to_owned()), None),
        _ => (None, None),
    };
    let state = state.or_else(|| proto.starts_with("udp").then(|| "UNCONN".to_owned()));
    let (pid, process) = match program.and_then(|p| p.split_once('/')) {
        Some((pid, name)) => (pid.parse().ok(), Some(name.to_owned())),
        None => (None, None),
    };
    Some(Socket {
        proto: (*proto).to_owned(),
        state,
        local: (*local).to_owned(),
        port: port_of(local),
        peer: Some((*peer).to_owned()),
        process,
        pid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows() {
        let ss = ss_row(
            &[
                "LISTEN",
                "0",
                "511",
                "*:3000",
                "*:*",
                "users:((\"node\",pid=10792,fd=19))",
            ],
            false,
            "tcp",
        )
        .expect("row");
        assert_eq!(
            (ss.port, ss.process.as_deref(), ss.pid),
            (Some(3000), Some("node"), Some(10792))
        );
        let ns = netstat_row(&[
            "tcp",
            "0",
            "0",
            "127.0.0.1:8765",
            "0.0.0.0:*",
            "LISTEN",
            "10789/python3",
        ])
        .expect("row");
        assert_eq!(
            (ns.state.as_deref(), ns.process.as_deref(), ns.pid),
            (Some("LISTEN"), Some("python3"), Some(10789))
        );
        assert!(netstat_row(&["Active", "Internet", "connections"]).is_none());
    }
}
