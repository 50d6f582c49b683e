//! Talks to a running daemon with this crate, serde_json and std only: `hello`, then one
//! `exec`. Start a daemon first (`ai-session server`, or any `ai-session` command).
use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use ai_session_protocol::{ExecParams, HelloParams, Message, Request, Rpc, rpc};
use ai_session_protocol::{ExecResult, HelloResult};

/// One connection: requests go out as JSON lines, answers come back one per line.
pub struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Connection {
    pub fn open(socket: &Path) -> Result<Connection, Box<dyn Error>> {
        let writer = UnixStream::connect(socket).map_err(|e| {
            format!(
                "no daemon at {}: {e} (start one: `ai-session server`)",
                socket.display()
            )
        })?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(Connection {
            reader,
            writer,
            next_id: 1,
        })
    }

    /// Sends one request and reads up to its answer (skipping notifications).
    pub fn call<R: Rpc>(&mut self, params: &R::Params) -> Result<R::Result, Box<dyn Error>> {
        let id = serde_json::Value::from(self.next_id);
        self.next_id += 1;
        let request = Request {
            jsonrpc: "2.0".into(),
            id: Some(id.clone()),
            method: R::METHOD.name().into(),
            params: Some(serde_json::to_value(params)?),
        };
        let mut line = serde_json::to_vec(&request)?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err("the daemon closed the connection".into());
            }
            let message: Message = serde_json::from_str(&line)?;
            if message.id.as_ref() != Some(&id) {
                continue;
            }
            if let Some(error) = message.error {
                return Err(format!("{} (error {})", error.message, error.code).into());
            }
            let result = message.result.unwrap_or_default();
            return Ok(serde_json::from_value(result)?);
        }
    }
}

/// `hello`, then `echo` in the session `default` (created on demand).
pub fn hello_and_exec(socket: &Path) -> Result<(HelloResult, ExecResult), Box<dyn Error>> {
    let mut daemon = Connection::open(socket)?;
    let hello = daemon.call::<rpc::Hello>(&HelloParams::default())?;
    let exec = daemon.call::<rpc::Exec>(&ExecParams::new("default", "echo hello from $PWD"))?;
    Ok((hello, exec))
}

fn main() -> Result<(), Box<dyn Error>> {
    let home = match std::env::var_os("AI_SESSION_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").ok_or("set AI_SESSION_HOME")?)
            .join(".ai-session"),
    };
    let (hello, exec) = hello_and_exec(&home.join("run").join("default.sock"))?;
    println!(
        "daemon {}, protocol {}",
        hello.server_version, hello.protocol_version
    );
    println!(
        "{:?} exit {:?}: {}",
        exec.state,
        exec.exit_code,
        exec.output.text.trim_end()
    );
    Ok(())
}
