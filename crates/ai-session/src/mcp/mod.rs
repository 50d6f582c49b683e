//! `ai-session mcp`: the daemon's operations as Model Context Protocol tools over stdio, for
//! agent hosts. The MCP server is a client of the daemon (started on demand), so sessions it
//! creates are the same ones the CLI sees.
//!
//! Tool calls run concurrently (rmcp runs each request in its own task, and the daemon
//! connection is multiplexed); calls that change a session (`exec`, `send_keys`, `kill`) keep
//! their order per session. `exec` yields after `AI_SESSION_MCP_YIELD_MS` (30 s by default):
//! a dev server or a long build answers `state: running` and the agent `wait`s for what it
//! needs (its port, a line, its exit) without polling. `notifications/cancelled` stops the
//! waiting call; a cancelled `exec` also interrupts its command (SIGINT) unless it was called
//! with `on_cancel: "detach"`. With a `progressToken`, `exec` sends `notifications/progress`.
//!
//! Tool failures (bad arguments, unknown session, a daemon error) are tool results with
//! `isError: true` and a message saying what to fix, never protocol errors or crashes.

mod args;
mod tasks;
mod tools;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{Peer, RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt as _};
use serde_json::{Value, json};

use crate::Client;
use crate::protocol::{self as p, rpc};
use args::*;
pub use tools::{TOOLS, ToolSpec};

/// Default digest budget of the `exec` tool, in o200k tokens.
pub const DEFAULT_BUDGET: usize = crate::DIGEST_BUDGET;
/// How long `exec` waits before answering `running` when `AI_SESSION_MCP_YIELD_MS` is unset:
/// well under the minutes hosts allow a tool call.
pub const DEFAULT_YIELD_MS: u64 = 30_000;
/// The environment variable that sets the yield.
pub const YIELD_ENV: &str = "AI_SESSION_MCP_YIELD_MS";
/// Default `read` size: enough for a screenful of history without flooding a context.
const DEFAULT_READ_BYTES: usize = 64 * 1024;

/// The MCP server: one daemon connection, shared by the tool calls.
#[derive(Clone)]
pub struct McpServer {
    client: Client,
    yield_ms: u64,
    /// One turn lock per session: calls that change a session run in the order they came.
    turns: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// The task queue of `task_submit`, `task_status` and `task_wait`.
    tasks: tasks::Tasks,
}

/// What a tool call may use of its request: cancellation and the host's progress token.
struct CallContext {
    cancel: tokio_util::sync::CancellationToken,
    progress: Option<(ProgressToken, Peer<RoleServer>)>,
}

type ToolResult = Result<Value, String>;

impl McpServer {
    /// A server over `client`, configured from the environment (`AI_SESSION_MCP_YIELD_MS`,
    /// `AI_SESSION_BUS`).
    pub fn new(client: Client) -> Result<McpServer, crate::Error> {
        let yield_ms = match std::env::var(YIELD_ENV) {
            Err(_) => DEFAULT_YIELD_MS,
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| crate::Error::InvalidParam {
                    field: "AI_SESSION_MCP_YIELD_MS",
                    reason: format!("{text:?} is not a whole number of milliseconds"),
                })?,
        };
        Ok(McpServer {
            client,
            yield_ms,
            turns: Arc::default(),
            tasks: tasks::Tasks::from_env(),
        })
    }

    /// Serves MCP on stdin/stdout until the host closes it.
    pub async fn serve_stdio(client: Client) -> Result<(), crate::Error> {
        let running = McpServer::new(client)?
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| crate::Error::Mcp(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| crate::Error::Mcp(e.to_string()))?;
        Ok(())
    }

    /// The turn lock of `session`.
    fn turn(&self, session: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        turns.entry(session.to_owned()).or_default().clone()
    }

    async fn call(&self, name: &str, args: Value, context: CallContext) -> ToolResult {
        let client = &self.client;
        match name {
            "session_new" => {
                let args: SessionNewArgs = parse(name, args)?;
                let params = args.into_params();
                let _turn = match &params.name {
                    Some(name) => Some(self.turn(name).lock_owned().await),
                    None => None,
                };
                to_json(client.new_session(&params).await.map_err(daemon)?)
            }
            "exec" => self.exec(parse(name, args)?, context).await,
            "send_keys" => {
                let args: SessionArgs<SendArgs> = parse(name, args)?;
                let session = args.session();
                let _turn = self.turn(&session).lock_owned().await;
                let params = p::SendParams {
                    session,
                    text: args.rest.text,
                    keys: args.rest.keys,
                    data_base64: None,
                };
                to_json(client.send(&params).await.map_err(daemon)?)
            }
            "read" => {
                let args: SessionArgs<ReadArgs> = parse(name, args)?;
                let params = p::ReadParams {
                    session: args.session(),
                    since: args.rest.since.unwrap_or(0),
                    max_bytes: Some(args.rest.max_bytes.unwrap_or(DEFAULT_READ_BYTES)),
                    raw: false,
                    hold: false,
                };
                let read = client.read(&params).await.map_err(daemon)?;
                Ok(json!({
                    "start": read.start,
                    "next_offset": read.next_offset,
                    "text": ai_session_output::normalize(read.text.as_bytes()),
                }))
            }
            "screen" => {
                let args: SessionArgs<Empty> = parse(name, args)?;
                to_json(client.screen(&args.session()).await.map_err(daemon)?)
            }
            "list" => {
                let _: Empty = parse(name, args)?;
                to_json(client.list_sessions().await.map_err(daemon)?)
            }
            "kill" => {
                let args: KillArgs = parse(name, args)?;
                let _turn = self.turn(&args.session).lock_owned().await;
                to_json(client.kill_session(&args.session).await.map_err(daemon)?)
            }
            "history" => {
                let args: SessionArgs<HistoryArgs> = parse(name, args)?;
                let params = p::HistoryParams {
                    session: args.session(),
                    limit: Some(args.rest.limit.unwrap_or(20)),
                };
                to_json(client.history(&params).await.map_err(daemon)?)
            }
            "context" => {
                let args: SessionArgs<ContextArgs> = parse(name, args)?;
                let params = p::ContextParams {
                    session: args.session(),
                    budget: args.rest.budget,
                    task: args.rest.task,
                };
                to_json(client.context(&params).await.map_err(daemon)?)
            }
            "wait" => {
                let args: WaitArgs = parse(name, args)?;
                let params = args.into_params(self.yield_ms)?;
                let wait = client.wait(&params);
                tokio::select! {
                    result = wait => to_json(result.map_err(daemon)?),
                    _ = context.cancel.cancelled() => Err("cancelled".to_owned()),
                }
            }
            "watch" => {
                let args: p::WatchParams = parse(name, args)?;
                to_json(client.request::<rpc::Watch>(&args).await.map_err(daemon)?)
            }
            "unwatch" => {
                let args: p::WatchRemoveParams = parse(name, args)?;
                to_json(
                    client
                        .request::<rpc::WatchRemove>(&args)
                        .await
                        .map_err(daemon)?,
                )
            }
            "events" => {
                let args: EventsArgs = parse(name, args)?;
                let params = args.into_params();
                to_json(
                    client
                        .request::<rpc::Events>(&params)
                        .await
                        .map_err(daemon)?,
                )
            }
            "task_submit" => self.tasks.submit(name, args).await,
            "task_status" => self.tasks.status(name, args).await,
            "task_wait" => {
                self.tasks
                    .wait(name, args, self.yield_ms, &context.cancel)
                    .await
            }
            other => Err(format!(
                "unknown tool `{other}`; call tools/list for the tools this server has"
            )),
        }
    }

    /// `exec`: yields at the server's yield (or the call's), reports progress, and stops (or
    /// interrupts the command) on cancellation.
    async fn exec(&self, args: ExecArgs, context: CallContext) -> ToolResult {
        let on_cancel = args.on_cancel;
        let mut params = args.into_params(self.yield_ms)?;
        let session = params.session.clone();
        let _turn = self.turn(&session).lock_owned().await;
        let peer = context.progress.clone();
        if peer.is_some() {
            params.progress_token = Some(format!("mcp-{}", rand_token()));
        }
        let exec = self.client.exec_with_progress(&params, |step| {
            if let Some((token, peer)) = &peer {
                let message = format!(
                    "{} bytes, {} lines; last: {}",
                    step.bytes, step.lines, step.last_line
                );
                let param = ProgressNotificationParam::new(token.clone(), step.elapsed_ms as f64)
                    .with_message(message);
                let peer = peer.clone();
                tokio::spawn(async move {
                    let _ = peer.notify_progress(param).await;
                });
            }
        });
        tokio::select! {
            result = exec => Ok(exec_report(&result.map_err(daemon)?)),
            _ = context.cancel.cancelled() => {
                if on_cancel == OnCancel::Interrupt {
                    let signal = p::SignalParams { session: session.clone(), signal: "INT".to_owned() };
                    if let Err(error) = self.client.signal(&signal).await {
                        tracing::warn!(%session, %error, "could not interrupt a cancelled exec");
                    }
                }
                Err(format!("cancelled; the command was {}", match on_cancel {
                    OnCancel::Interrupt => "interrupted (SIGINT)",
                    OnCancel::Detach => "left running",
                }))
            }
        }
    }
}

/// A random token (progress tokens of concurrent calls must not collide).
fn rand_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What the `exec` tool returns: the facts an agent acts on, not the raw output.
fn exec_report(result: &p::ExecResult) -> Value {
    let analysis = result.analysis.as_ref();
    let mut report = json!({
        "session": result.session,
        "command": result.command,
        "command_id": result.command_id,
        "state": result.state,
        "exit_code": result.exit_code,
        "duration_ms": result.duration_ms,
        "cwd": result.cwd,
        "next_event": result.next_event,
        "output": {
            "digest": analysis.map(|a| &a.digest),
            "parsed": analysis.map(|a| &a.parsed),
            "tokens_raw": analysis.map(|a| a.tokens_raw),
            "tokens_digest": analysis.map(|a| a.tokens_digest),
            "range": result.output.range,
        },
        "screen_tail": result.screen_tail,
    });
    let next = match result.state {
        p::ExecState::Running => Some(format!(
            "still running: call `wait` with {{\"session\": \"{}\", \"since_event\": {}}} and `exit`, `port` or `regex` to be woken when it ends, listens or prints; `read` with since = output.range.start for its output",
            result.session, result.next_event
        )),
        p::ExecState::AwaitingInput => Some(format!(
            "waiting for input: answer with `send_keys` {{\"session\": \"{}\", \"text\": ..., \"keys\": [\"Enter\"]}} (or C-c), then `wait` with exit",
            result.session
        )),
        _ => None,
    };
    if let (Some(next), Value::Object(map)) = (next, &mut report) {
        map.insert("next".to_owned(), Value::from(next));
    }
    report
}

fn to_json<T: serde::Serialize>(value: T) -> ToolResult {
    serde_json::to_value(value).map_err(|e| format!("could not encode the result: {e}"))
}

fn daemon(error: crate::Error) -> String {
    format!("{error}")
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ai-session", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Shell sessions for agents. `exec` runs a command and returns its exit code and \
                 a token-budgeted digest with parsed facts; a command still running after the \
                 yield (30 s) answers `state: running` and goes on: `wait` for its exit, port or \
                 output line instead of polling; `read` fetches more output; `send_keys` \
                 answers prompts (state awaiting_input). Sessions may be sandboxed \
                 (`session_new` with `policy`).",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = TOOLS
            .iter()
            .map(|spec| {
                let Value::Object(schema) = (spec.schema)() else {
                    unreachable!("tool schemas are objects")
                };
                Tool::new(spec.name, spec.description, Arc::new(schema))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(request.arguments.unwrap_or_default());
        let call = CallContext {
            cancel: context.ct.clone(),
            progress: context
                .meta
                .get_progress_token()
                .map(|token| (token, context.peer.clone())),
        };
        let result = match self.call(&request.name, args, call).await {
            Ok(value) => CallToolResult::structured(value),
            Err(message) => {
                tracing::info!(tool = %request.name, error = %message, "mcp tool call failed");
                CallToolResult::error(vec![ContentBlock::text(message)])
            }
        };
        Ok(result.into())
    }
}
