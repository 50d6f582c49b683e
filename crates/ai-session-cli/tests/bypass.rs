//! The bypass suite: what a hostile agent tries to get around its profile, through the real
//! binary and daemon. Agent `bot` is granted a few programs and one workspace; each attempt is
//! first made by someone unrestricted (the operator, or an agent without a profile), where it
//! must work, so every test can fail; then by `bot`, where the daemon or the kernel stops it.
//!
//! Categories: session parameters (raw launcher, code-carrying env, workspace, policy),
//! interpreters (a granted `python3` starting an ungranted program), processes inside a session
//! talking to the daemon socket, another agent's session, and keys typed into a running
//! program.

mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Home, succeeded};

/// A home, a workspace the agent is granted, and a secret outside it.
struct Lab {
    home: Home,
    root: tempfile::TempDir,
    ws: PathBuf,
    secret: PathBuf,
}

const SECRET: &str = "TOPSECRET-7f3a";

impl Lab {
    fn new() -> Lab {
        let home = Home::new();
        let root = tempfile::Builder::new()
            .prefix("ais-bypass-")
            .tempdir()
            .unwrap();
        let ws = root.path().join("ws");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let secret = outside.join("secret");
        std::fs::write(&secret, SECRET).unwrap();
        // A copy inside the workspace too: what `cat f` in the workspace would print.
        std::fs::write(ws.join("f"), SECRET).unwrap();
        let lab = Lab {
            home,
            root,
            ws,
            secret,
        };
        lab.ok(&["ls"]); // starts the daemon
        lab
    }

    fn ws(&self) -> &str {
        self.ws.to_str().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self
            .home
            .command(args)
            .current_dir(&self.ws)
            .output()
            .unwrap();
        succeeded(&out, args)
    }

    fn grant(&self, agent: &str, grants: &str) {
        self.ok(&["agent", "grant", agent, "--allow", grants]);
    }

    /// Sets `agent`'s profile policy (a preset or a policy file).
    fn set_policy(&self, agent: &str, policy: &str) {
        let path = self.home.path().join("agents.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let header = format!("[agents.{agent}]\n");
        assert!(text.contains(&header), "{text}");
        let text = text.replace(&header, &format!("{header}policy = {policy:?}\n"));
        std::fs::write(&path, text).unwrap();
    }

    /// Calls over one connection, as `agent` (declared in `hello`) or the operator; the
    /// response objects in order.
    fn rpc(&self, agent: Option<&str>, calls: &[(&str, Value)]) -> Vec<Value> {
        let stream = UnixStream::connect(self.home.socket()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut exchange = |id: usize, method: &str, params: &Value| -> Value {
            let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            writeln!(writer, "{request}").unwrap();
            loop {
                let mut line = String::new();
                assert!(reader.read_line(&mut line).unwrap() > 0, "daemon closed");
                let message: Value = serde_json::from_str(&line).unwrap();
                if message["id"] == json!(id) {
                    return message;
                }
            }
        };
        if let Some(agent) = agent {
            let hello = exchange(0, "hello", &json!({"agent": agent}));
            assert!(hello["result"].is_object(), "{hello}");
        }
        calls
            .iter()
            .enumerate()
            .map(|(i, (method, params))| exchange(i + 1, method, params))
            .collect()
    }

    fn exec(&self, agent: Option<&str>, session: &str, command: &str) -> Value {
        let mut answers = self.rpc(
            agent,
            &[("exec", json!({"session": session, "command": command}))],
        );
        answers.remove(0)
    }
}

/// The text of a successful exec answer.
fn output(answer: &Value) -> &str {
    answer["result"]["output"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("exec failed: {answer}"))
}

/// The message of a refusal, which must be -32008.
fn refused(answer: &Value) -> &str {
    assert_eq!(answer["error"]["code"], -32008, "not refused: {answer}");
    answer["error"]["message"].as_str().unwrap()
}

fn wait_for(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn session_parameters_cannot_widen_a_restricted_agent() {
    let lab = Lab::new();
    lab.grant("bot", &format!("process-spawn:ls,file-write:{}", lab.ws()));
    let secret = lab.secret.display().to_string();
    let leak = |name: &str| lab.ws.join(name);

    // A raw launcher runs any program before the shell.
    let launcher = |to: &Path| {
        json!([
            "/bin/sh",
            "-c",
            format!("cat {secret} > {}; exec \"$@\"", to.display()),
            "sh"
        ])
    };
    let op = lab.rpc(
        None,
        &[(
            "session.new",
            json!({"name": "l-op", "cwd": lab.ws(), "launcher": launcher(&leak("leak-op"))}),
        )],
    );
    assert!(op[0]["result"]["id"] == "l-op", "{op:?}");
    assert_eq!(std::fs::read_to_string(leak("leak-op")).unwrap(), SECRET);
    let bot = lab.rpc(
        Some("bot"),
        &[(
            "session.new",
            json!({"name": "l-bot", "cwd": lab.ws(), "launcher": launcher(&leak("leak-bot"))}),
        )],
    );
    assert!(refused(&bot[0]).contains("pass `policy`"), "{bot:?}");
    assert!(!leak("leak-bot").exists());

    // Code-carrying variables: the shell runs PROMPT_COMMAND before each prompt and sources
    // BASH_ENV in every non-interactive bash.
    for name in ["PROMPT_COMMAND", "BASH_ENV"] {
        for (agent, session, expect_leak) in [(None, "e-op", true), (Some("bot"), "e-bot", false)] {
            let session = format!("{session}-{}", name.to_lowercase().replace('_', ""));
            let to = leak(&format!("leak-{session}"));
            let copy = format!("cat {secret} > {}", to.display());
            let value = if name == "BASH_ENV" {
                let script = lab.ws.join(format!("{session}.sh"));
                std::fs::write(&script, format!("{copy}\n")).unwrap();
                script.display().to_string()
            } else {
                copy
            };
            let created = lab.rpc(
                agent,
                &[(
                    "session.new",
                    json!({"name": session, "cwd": lab.ws(), "env": {name: value}}),
                )],
            );
            if expect_leak {
                assert!(created[0]["result"].is_object(), "{created:?}");
                lab.exec(agent, &session, "bash -c true");
                wait_for(&format!("{name} to run"), || to.exists());
                assert_eq!(std::fs::read_to_string(&to).unwrap(), SECRET);
            } else {
                assert!(refused(&created[0]).contains("carries code"), "{created:?}");
                assert!(!to.exists());
            }
        }
    }

    // A workspace outside the grants, and a looser policy.
    let op = lab.rpc(
        None,
        &[(
            "session.new",
            json!({"name": "w-op", "policy": "workspace", "workspace": lab.secret.parent().unwrap()}),
        )],
    );
    assert!(op[0]["result"].is_object(), "{op:?}");
    assert_eq!(
        output(&lab.exec(None, "w-op", &format!("cat {secret}"))),
        SECRET
    );
    for params in [
        json!({"name": "w-bot", "workspace": lab.secret.parent().unwrap()}),
        json!({"name": "w-bot", "workspace": "/"}),
        json!({"name": "w-bot", "policy": "trusted"}),
        json!({"name": "w-bot", "shell": "/usr/bin/python3"}),
    ] {
        let bot = lab.rpc(Some("bot"), &[("session.new", params.clone())]);
        refused(&bot[0]);
    }
    // What it gets instead: its profile's sandbox, in its workspace.
    let bot = lab.rpc(Some("bot"), &[("session.new", json!({"name": "w-bot"}))]);
    assert_eq!(bot[0]["result"]["policy"], "workspace+agent:bot", "{bot:?}");
    let listed = lab.exec(Some("bot"), "w-bot", &format!("ls {secret}"));
    assert!(!output(&listed).contains(SECRET), "{listed}");
    assert_ne!(listed["result"]["exit_code"], 0, "{listed}");
}

#[test]
fn a_granted_interpreter_starts_nothing_ungranted() {
    let lab = Lab::new();
    lab.grant(
        "bot",
        &format!("process-spawn:python3,file-write:{}", lab.ws()),
    );
    let system = r#"python3 -c 'import os; os.system("cat f")'"#;
    let execv = r#"python3 -c 'import os; os.execv("/bin/cat", ["cat", "f"])'"#;
    // Unrestricted: the interpreter starts `sh` and `cat`.
    for (agent, session) in [(None, "op"), (Some("free"), "free")] {
        lab.rpc(
            agent,
            &[("session.new", json!({"name": session, "cwd": lab.ws()}))],
        );
        assert!(output(&lab.exec(agent, session, system)).contains(SECRET));
        assert!(output(&lab.exec(agent, session, execv)).contains(SECRET));
    }
    // The string check lets both through (they name only python3); the kernel does not.
    lab.rpc(Some("bot"), &[("session.new", json!({"name": "jail"}))]);
    let answer = lab.exec(Some("bot"), "jail", system);
    let text = output(&answer);
    assert!(!text.contains(SECRET), "{answer}");
    let answer = lab.exec(Some("bot"), "jail", execv);
    let text = output(&answer);
    assert!(!text.contains(SECRET), "{answer}");
    assert!(text.contains("PermissionError"), "{answer}");
    // A granted name is not a way around: `cat` itself is refused early.
    refused(&lab.exec(Some("bot"), "jail", "cat f"));
}

#[test]
fn processes_in_a_session_act_as_its_owner() {
    let lab = Lab::new();
    // The probe: a process in the session that speaks JSON-RPC to the daemon socket.
    let probe = lab.ws.join("probe.py");
    std::fs::write(
        &probe,
        r#"import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
for i, (method, params) in enumerate(json.loads(sys.argv[2])):
    f.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n")
    f.flush()
    while True:
        answer = json.loads(f.readline())
        if answer.get("id") == i:
            break
    print(json.dumps(answer))
"#,
    )
    .unwrap();
    // The agent's sandbox shows it the socket (a policy that binds the run directory), so the
    // identity is what stands between it and the daemon.
    // (Outside the workspace: the agent must not be able to edit its own policy.)
    let policy = lab.root.path().join("with-socket.toml");
    std::fs::write(
        &policy,
        format!(
            "extends = \"workspace\"\nname = \"with-socket\"\n[fs_permissions]\nread_only = [{:?}]\n",
            lab.home.path().join("run").display().to_string()
        ),
    )
    .unwrap();
    lab.grant(
        "bot",
        &format!("process-spawn:python3,file-write:{}", lab.ws()),
    );
    lab.set_policy("bot", policy.to_str().unwrap());
    lab.grant("other", "process-spawn:echo");
    let socket = lab.home.socket().display().to_string();
    let leak = lab.ws.join("leak");
    let attack = json!([
        ["hello", {}],
        ["exec", {"session": "target", "command": format!("cat {} > {}", lab.secret.display(), leak.display())}],
        ["session.list", {}],
        ["hello", {"agent": "other"}],
        ["session.new", {"name": "fresh", "policy": "trusted"}],
    ]);
    let run_probe = |agent: Option<&str>, session: &str| -> Vec<Value> {
        let line = format!("python3 probe.py {socket} '{attack}'");
        let answer = lab.exec(agent, session, &line);
        output(&answer)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{answer}")))
            .collect()
    };
    lab.rpc(
        None,
        &[("session.new", json!({"name": "op", "cwd": lab.ws()}))],
    );
    lab.rpc(None, &[("session.new", json!({"name": "target"}))]);

    // From the operator's unsandboxed session the probe is unrestricted (under a name of its
    // own, not the operator's): the attack works.
    let answers = run_probe(None, "op");
    assert_eq!(answers[0]["result"]["agent"], "session:op", "{answers:?}");
    assert!(answers[1]["result"].is_object(), "{answers:?}");
    assert_eq!(std::fs::read_to_string(&leak).unwrap(), SECRET);
    std::fs::remove_file(&leak).unwrap();

    // From bot's session it is bot, whatever it says.
    lab.rpc(Some("bot"), &[("session.new", json!({"name": "jail"}))]);
    let answers = run_probe(Some("bot"), "jail");
    assert_eq!(answers[0]["result"]["agent"], "bot", "{answers:?}");
    assert!(refused(&answers[1]).contains("(operator)"), "{answers:?}");
    assert!(!leak.exists());
    let listed: Vec<&Value> = answers[2]["result"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(listed, [&json!("jail")], "{answers:?}");
    assert!(refused(&answers[3]).contains("cannot declare agent `other`"));
    refused(&answers[4]);
    // The audit log names bot for what its process asked.
    wait_for("the audit records", || {
        let (records, _) = lab.home.json(&[
            "audit", "query", "--format", "json", "--agent", "bot", "--result", "denied",
        ]);
        records.as_array().is_some_and(|r| r.len() >= 3)
    });
}

#[test]
fn another_agents_session_is_out_of_reach() {
    let lab = Lab::new();
    lab.grant("alice", "process-spawn:echo,process-spawn:cat");
    lab.grant("bot", "process-spawn:echo,process-spawn:cat");
    lab.ok(&[
        "agent",
        "grant",
        "boss",
        "--allow",
        "process-spawn:*",
        "--sessions",
        "all",
    ]);
    lab.rpc(Some("alice"), &[("session.new", json!({"name": "a1"}))]);
    lab.exec(Some("alice"), "a1", &format!("echo {SECRET} > note"));
    let read = json!({"session": "a1", "since": 0});
    // The operator and an agent without a profile reach it.
    for agent in [None, Some("free")] {
        assert!(output(&lab.exec(agent, "a1", "cat note")).contains(SECRET));
        let answers = lab.rpc(agent, &[("read", read.clone())]);
        assert!(
            answers[0]["result"]["text"]
                .as_str()
                .unwrap()
                .contains(SECRET)
        );
    }
    // Another restricted agent does not, by any method.
    let answers = lab.rpc(
        Some("bot"),
        &[
            ("exec", json!({"session": "a1", "command": "cat note"})),
            ("read", read.clone()),
            ("screen", json!({"session": "a1"})),
            ("history", json!({"session": "a1"})),
            ("send", json!({"session": "a1", "text": "cat note\n"})),
            ("session.kill", json!({"session": "a1"})),
            (
                "exec",
                json!({"session": "a1", "command": "cat note", "agent": "alice"}),
            ),
        ],
    );
    for answer in &answers {
        assert!(
            refused(answer).contains("belongs to agent `alice`"),
            "{answer}"
        );
    }
    // Scope `all` reads it, but its commands would run under alice's sandbox: no input.
    let answers = lab.rpc(
        Some("boss"),
        &[
            ("read", read),
            ("exec", json!({"session": "a1", "command": "echo hi"})),
        ],
    );
    assert!(answers[0]["result"]["text"].is_string(), "{answers:?}");
    assert!(refused(&answers[1]).contains("sandbox"), "{answers:?}");
}

#[test]
fn keys_typed_into_a_granted_repl_run_nothing_ungranted() {
    let lab = Lab::new();
    lab.grant(
        "bot",
        &format!("process-spawn:python3,file-write:{}", lab.ws()),
    );
    let line = "import os; os.system('cat f'); print('done', 'typing')";
    let typed = |agent: Option<&str>, session: &str| -> String {
        let started = lab.exec(agent, session, "python3 -q -i");
        assert_eq!(started["result"]["state"], "awaiting_input", "{started}");
        let sent = lab.rpc(
            agent,
            &[(
                "send",
                json!({"session": session, "text": line, "keys": ["Enter"]}),
            )],
        );
        assert!(sent[0]["result"].is_object(), "{sent:?}");
        let mut screen = String::new();
        wait_for("the REPL's answer", || {
            let answers = lab.rpc(agent, &[("read", json!({"session": session, "since": 0}))]);
            screen = answers[0]["result"]["text"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            screen.contains("done typing")
        });
        screen
    };
    lab.rpc(
        None,
        &[("session.new", json!({"name": "op", "cwd": lab.ws()}))],
    );
    assert!(typed(None, "op").contains(SECRET));
    lab.rpc(Some("bot"), &[("session.new", json!({"name": "jail"}))]);
    let screen = typed(Some("bot"), "jail");
    assert!(!screen.contains(SECRET), "{screen}");
    // Back at the shell prompt, typed text is a command line again, checked as one.
    lab.rpc(
        Some("bot"),
        &[(
            "send",
            json!({"session": "jail", "text": "exit()", "keys": ["Enter"]}),
        )],
    );
    wait_for("the REPL to exit", || {
        let (list, _) = lab.home.json(&["ls", "--format", "json"]);
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "jail" && s["state"] == "idle")
    });
    let answers = lab.rpc(
        Some("bot"),
        &[(
            "send",
            json!({"session": "jail", "text": "cat f", "keys": ["Enter"]}),
        )],
    );
    assert!(refused(&answers[0]).contains("ProcessSpawn(cat)"));
}
