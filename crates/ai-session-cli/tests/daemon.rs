//! The daemon under abuse: garbage input, other uids, racing auto-starts, many sessions.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::Value;
use support::{Home, eventually, stderr};

/// Starts the daemon (any client command does) and returns its pid.
fn start(home: &Home) -> i32 {
    let out = home.run(&["ls"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    home.daemon_pid()
}

fn connect(home: &Home) -> UnixStream {
    let stream = UnixStream::connect(home.socket()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn read_response(reader: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read response");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad response {line:?}: {e}"))
}

/// Sends `payload` (already newline-terminated as wanted) and returns the next response.
fn exchange(stream: &UnixStream, reader: &mut BufReader<UnixStream>, payload: &[u8]) -> Value {
    (&*stream).write_all(payload).unwrap();
    read_response(reader)
}

fn hello_works(home: &Home) {
    let stream = connect(home);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let v = exchange(
        &stream,
        &mut reader,
        b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"hello\"}\n",
    );
    assert_eq!(v["id"], 7, "{v}");
    assert_eq!(
        v["result"]["protocol_version"],
        ai_session::protocol::PROTOCOL_VERSION,
        "{v}"
    );
}

#[test]
fn malformed_requests_get_json_rpc_errors_on_the_same_connection() {
    let home = Home::new();
    start(&home);
    let stream = connect(&home);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let cases: Vec<(Vec<u8>, i64)> = vec![
        (b"this is not json\n".to_vec(), -32700),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hel\n".to_vec(), -32700),
        (b"\xff\xfe\xfd\x00garbage\n".to_vec(), -32700),
        (b"[1,2,3]\n".to_vec(), -32600),
        (b"{\"id\":1,\"method\":\"hello\"}\n".to_vec(), -32600),
        (b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"no.such\"}\n".to_vec(), -32601),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"exec\",\"params\":{\"command\":5}}\n".to_vec(),
            -32602,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"read\",\"params\":{}}\n".to_vec(),
            -32602,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"screen\",\"params\":{\"session\":\"none\"}}\n".to_vec(),
            -32002,
        ),
    ];
    for (payload, code) in cases {
        let v = exchange(&stream, &mut reader, &payload);
        assert_eq!(
            v["error"]["code"],
            code,
            "{:?} -> {v}",
            String::from_utf8_lossy(&payload)
        );
    }
    // Bad params name the field.
    let v = exchange(
        &stream,
        &mut reader,
        b"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"exec\",\"params\":{\"command\":\"ls\",\"timeout_ms\":\"x\"}}\n",
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout_ms"),
        "{v}"
    );
    // A line over 1 MiB: one error, the rest discarded, the connection still works.
    let mut huge = vec![b'x'; 3 << 20];
    huge.push(b'\n');
    let v = exchange(&stream, &mut reader, &huge);
    assert_eq!(v["error"]["code"], -32001, "{v}");
    let v = exchange(
        &stream,
        &mut reader,
        b"{\"jsonrpc\":\"2.0\",\"id\":\"after\",\"method\":\"hello\"}\n",
    );
    assert_eq!(v["id"], "after", "{v}");
    assert!(
        v["result"]["capabilities"].as_array().unwrap().len() > 5,
        "{v}"
    );
}

#[test]
fn garbage_truncation_and_many_concurrent_clients_never_kill_the_daemon() {
    let home = Home::new();
    let pid = start(&home);
    let socket = home.socket();
    // A client that never reads, holding the socket open, must not block anyone.
    let mut idle = UnixStream::connect(&socket).unwrap();
    idle.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hel")
        .unwrap();
    let threads: Vec<_> = (0..32u64)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut seed = i
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                for round in 0..20 {
                    let Ok(mut s) = UnixStream::connect(&socket) else {
                        continue;
                    };
                    let len = 1 + (seed % 4096) as usize;
                    let garbage: Vec<u8> = (0..len)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            seed as u8
                        })
                        .collect();
                    let _ = s.write_all(&garbage);
                    if round % 3 == 0 {
                        let _ = s.write_all(
                            b"\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.list\"}\n",
                        );
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut buf = [0u8; 256];
                        let _ = s.read(&mut buf);
                    }
                    // Otherwise drop mid-line: a truncated request on a closed connection.
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Half a UTF-8 sequence and a NUL, then EOF without newline.
    let mut s = UnixStream::connect(&socket).unwrap();
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xe2\x82\0")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("-32700"), "{answer}");

    hello_works(&home);
    assert_eq!(home.daemon_pid(), pid, "the daemon restarted");
    drop(idle);
}

#[test]
fn another_uid_is_refused_by_peer_credentials() {
    let home = Home::new();
    start(&home);
    hello_works(&home);
    // Let uid 65534 reach the socket, so the daemon's own SO_PEERCRED check is what refuses it
    // (by default the 0700 directory already keeps it out).
    let bin_dir = home.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let bin = bin_dir.join("ai-session");
    std::fs::copy(support::BIN, &bin).unwrap();
    for (path, mode) in [
        (home.path().to_path_buf(), 0o711),
        (bin_dir.clone(), 0o755),
        (bin.clone(), 0o755),
        (home.path().join("run"), 0o711),
        (home.socket(), 0o666),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&bin)
        .args(["status", "--format", "json"])
        .env("AI_SESSION_HOME", home.path())
        .current_dir("/")
        .output()
        .expect("setpriv (util-linux) is needed for this test");
    let body: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", support::stdout(&out), stderr(&out)));
    assert_eq!(out.status.code(), Some(1), "{body}");
    assert_eq!(body["error"]["rpc_code"], -32004, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("uid 65534"),
        "{body}"
    );
    assert!(
        eventually(Duration::from_secs(5), || home
            .log()
            .contains("refused connection from another uid")),
        "log: {}",
        home.log()
    );
    hello_works(&home);
}

#[test]
fn racing_clients_start_exactly_one_daemon() {
    let home = Home::new();
    let clients: Vec<_> = (0..6)
        .map(|_| home.command(&["ls", "--format", "json"]).spawn().unwrap())
        .collect();
    for mut c in clients {
        assert!(c.wait().unwrap().success());
    }
    let pid = home.daemon_pid();
    let home_str = home.path().to_string_lossy().into_owned();
    let daemons: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|p| {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            support::alive(*p)
                && cmdline.contains("server\0")
                && String::from_utf8_lossy(&environ)
                    .contains(&format!("AI_SESSION_HOME={home_str}"))
        })
        .collect();
    assert_eq!(daemons, vec![pid]);
}

#[test]
fn two_hundred_sessions_leave_no_zombies_and_no_leaked_fds() {
    let home = Home::new();
    let pid = start(&home);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let settle =
        |want: usize| eventually(Duration::from_secs(10), || support::fd_count(pid) == want);
    // Baseline with no client connected.
    std::thread::sleep(Duration::from_millis(100));
    let baseline = support::fd_count(pid);
    runtime.block_on(async {
        let socket = home.socket();
        let client = ai_session::Client::connect(&socket).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..200 {
            let info = client
                .new_session(&Default::default())
                .await
                .unwrap_or_else(|e| panic!("session {i}: {e}"));
            ids.push(info.id);
        }
        for (i, id) in ids.iter().enumerate() {
            let r = client
                .exec(&ai_session::protocol::ExecParams {
                    session: id.clone(),
                    command: format!("echo n{i}"),
                    timeout_ms: Some(20_000),
                    create: false,
                    budget: None,
                    agent: None,
                    yield_ms: None,
                    progress_token: None,
                })
                .await
                .unwrap();
            assert_eq!(r.exit_code, Some(0), "{r:?}");
            assert_eq!(r.output.text, format!("n{i}\n"));
        }
        for id in &ids {
            client.kill_session(id).await.unwrap();
        }
        let list = client.list_sessions().await.unwrap();
        assert!(list.sessions.is_empty(), "{list:?}");
    });
    assert!(
        eventually(Duration::from_secs(10), || support::zombie_children(pid)
            .is_empty()),
        "zombies: {:?}",
        support::zombie_children(pid)
    );
    assert!(
        support::children(pid).is_empty(),
        "children left: {:?}",
        support::children(pid)
    );
    assert!(
        settle(baseline),
        "fd count {} != baseline {baseline}",
        support::fd_count(pid)
    );
    // The daemon still works afterwards.
    let out = home.run(&["exec", "--", "echo", "fine"]);
    assert_eq!(support::stdout(&out).trim(), "fine");
}

#[test]
fn a_daemon_whose_socket_is_removed_stops_with_its_shells() {
    let home = Home::new();
    let pid = start(&home);
    let out = home.run(&["exec", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    // The shells are the PTY keeper's children, not the daemon's: take them from `ls`.
    let (list, _) = home.json(&["ls", "--format", "json"]);
    let shells: Vec<i32> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["pid"].as_i64())
        .map(|p| p as i32)
        .collect();
    assert!(!shells.is_empty(), "the default session has no shell");
    // What `rm -rf` of a test's temporary home does: nobody can reach this daemon any more.
    std::fs::remove_file(home.socket()).unwrap();
    assert!(
        eventually(Duration::from_secs(20), || !support::alive(pid)),
        "the daemon still runs without its socket"
    );
    for shell in shells {
        assert!(!support::alive(shell), "shell {shell} outlived its daemon");
    }
}
