//! The tools' arguments as the host sends them, and their translation to daemon params.
//! Unknown fields are refused, with the tool's name and the field in the message.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::protocol::{self as p, Condition};

/// Parses a tool's arguments, naming the offending field.
pub(super) fn parse<T: DeserializeOwned>(tool: &str, args: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        format!(
            "invalid arguments for `{tool}`{at}: {}; see the tool's inputSchema in tools/list",
            e.inner()
        )
    })
}

fn seconds_to_ms(field: &str, secs: f64) -> Result<u64, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "invalid arguments: `{field}` must be a number of seconds, 0 or more; got {secs}"
        ));
    }
    Ok((secs * 1000.0).round() as u64)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SessionNewArgs {
    name: Option<String>,
    cwd: Option<String>,
    shell: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cols: Option<u16>,
    rows: Option<u16>,
    policy: Option<String>,
    workspace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

impl SessionNewArgs {
    pub(super) fn into_params(self) -> p::NewSessionParams {
        p::NewSessionParams {
            name: self.name,
            cwd: self.cwd,
            shell: self.shell,
            env: self.env,
            cols: self.cols,
            rows: self.rows,
            policy: self.policy,
            workspace: self.workspace,
            labels: self.labels,
            ..p::NewSessionParams::default()
        }
    }
}

/// What a cancelled `exec` does to its command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum OnCancel {
    /// SIGINT to the command's process group (as Ctrl-C at a terminal).
    #[default]
    Interrupt,
    /// Leave it running; its events still come.
    Detach,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExecArgs {
    command: String,
    session: Option<String>,
    timeout_secs: Option<f64>,
    budget: Option<usize>,
    yield_secs: Option<f64>,
    #[serde(default)]
    background: bool,
    #[serde(default)]
    pub(super) on_cancel: OnCancel,
}

impl ExecArgs {
    /// Daemon params; the yield is the call's (at most the server's), or the server's.
    pub(super) fn into_params(self, server_yield_ms: u64) -> Result<p::ExecParams, String> {
        let yield_ms = match (self.background, self.yield_secs) {
            (true, _) => 0,
            (false, Some(secs)) => seconds_to_ms("yield_secs", secs)?.min(server_yield_ms),
            (false, None) => server_yield_ms,
        };
        let mut params = p::ExecParams::new(
            self.session
                .unwrap_or_else(|| p::DEFAULT_SESSION.to_owned()),
            self.command,
        );
        params.timeout_ms = self
            .timeout_secs
            .map(|s| seconds_to_ms("timeout_secs", s))
            .transpose()?;
        params.budget = Some(self.budget.unwrap_or(super::DEFAULT_BUDGET));
        params.agent = Some("mcp".to_owned());
        params.yield_ms = Some(yield_ms);
        Ok(params)
    }
}

#[derive(Deserialize)]
pub(super) struct SessionArgs<T> {
    session: Option<String>,
    #[serde(flatten)]
    pub(super) rest: T,
}

impl<T> SessionArgs<T> {
    pub(super) fn session(&self) -> String {
        self.session
            .clone()
            .unwrap_or_else(|| p::DEFAULT_SESSION.to_owned())
    }
}

#[derive(Deserialize)]
pub(super) struct SendArgs {
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) keys: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct ReadArgs {
    pub(super) since: Option<u64>,
    pub(super) max_bytes: Option<usize>,
}

#[derive(Deserialize)]
pub(super) struct HistoryArgs {
    pub(super) limit: Option<usize>,
}

#[derive(Deserialize)]
pub(super) struct ContextArgs {
    pub(super) budget: Option<usize>,
    pub(super) task: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KillArgs {
    pub(super) session: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Empty {}

/// `wait`: the conditions as flat fields, the way a model writes them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitArgs {
    session: Option<String>,
    #[serde(default)]
    sessions: Vec<String>,
    #[serde(default)]
    exit: bool,
    #[serde(default)]
    awaiting_input: bool,
    #[serde(default)]
    session_exited: bool,
    regex: Option<String>,
    port: Option<u16>,
    idle_ms: Option<u64>,
    since_event: Option<u64>,
    since_offset: Option<u64>,
    timeout_secs: Option<f64>,
}

impl WaitArgs {
    /// Daemon params; the wait lasts at most the server's yield, so a host's call limit is
    /// never hit (the agent waits again with `next_event`).
    pub(super) fn into_params(self, server_yield_ms: u64) -> Result<p::WaitParams, String> {
        let mut conditions: Vec<Condition> = Vec::new();
        if self.exit {
            conditions.push(Condition::Exit(true));
        }
        if self.awaiting_input {
            conditions.push(Condition::AwaitingInput(true));
        }
        if self.session_exited {
            conditions.push(Condition::SessionExited(true));
        }
        conditions.extend(self.regex.map(Condition::Regex));
        conditions.extend(self.port.map(Condition::Port));
        conditions.extend(self.idle_ms.map(Condition::IdleMs));
        let timeout_ms = match self.timeout_secs {
            Some(secs) => seconds_to_ms("timeout_secs", secs)?.min(server_yield_ms),
            None => server_yield_ms,
        };
        Ok(p::WaitParams {
            session: self.session,
            sessions: self.sessions,
            conditions,
            since_event: self.since_event,
            since_offset: self.since_offset,
            timeout_ms: Some(timeout_ms),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsArgs {
    #[serde(default)]
    since: u64,
    #[serde(default)]
    sessions: Vec<String>,
    #[serde(default)]
    kinds: Vec<p::EventType>,
    limit: Option<usize>,
}

impl EventsArgs {
    pub(super) fn into_params(self) -> p::EventsParams {
        p::EventsParams {
            since: self.since,
            sessions: self.sessions,
            kinds: self.kinds,
            limit: Some(self.limit.unwrap_or(100)),
            follow: false,
        }
    }
}
