//! `ai-session mcp`: the daemon's operations as Model Context Protocol tools over stdio, for
//! agent hosts. The MCP server is a client of the daemon (started on demand), so sessions it
//! creates are the same ones the CLI sees.
//!
//! Tool failures (bad arguments, unknown session, a daemon error) are tool results with
//! `isError: true` and a message saying what to fix, never protocol errors or crashes.

mod tools;

use std::sync::Arc;

use ai_session_coord::nats::NatsQueue;
use ai_session_coord::{Priority, QueueConfig, TaskQueue as _, TaskSpec};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt as _};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::Client;
use crate::protocol::{
    ContextParams, ExecParams, ExecResult, NewSessionParams, ReadParams, SendParams,
};
pub use tools::{TOOLS, ToolSpec};

/// Default digest budget of the `exec` tool, in o200k tokens.
pub const DEFAULT_BUDGET: usize = 400;
/// Default `read` size: enough for a screenful of history without flooding a context.
const DEFAULT_READ_BYTES: usize = 64 * 1024;

/// The MCP server: one daemon connection, shared by the tool calls.
#[derive(Clone)]
pub struct McpServer {
    client: Arc<Mutex<Client>>,
    /// Where `task_submit` sends tasks: `AI_SESSION_BUS` (and `AI_SESSION_COORD_PREFIX`).
    bus: Option<BusConfig>,
    queue: Arc<Mutex<Option<NatsQueue>>>,
}

#[derive(Clone)]
struct BusConfig {
    url: String,
    prefix: String,
}

impl BusConfig {
    fn from_env() -> Option<BusConfig> {
        let url = std::env::var("AI_SESSION_BUS")
            .ok()
            .filter(|u| !u.is_empty())?;
        let prefix = std::env::var("AI_SESSION_COORD_PREFIX")
            .unwrap_or_else(|_| ai_session_coord::nats::DEFAULT_PREFIX.to_owned());
        Some(BusConfig { url, prefix })
    }
}

impl McpServer {
    /// Serves MCP on stdin/stdout until the host closes it.
    pub async fn serve_stdio(client: Client) -> Result<(), crate::Error> {
        let server = McpServer {
            client: Arc::new(Mutex::new(client)),
            bus: BusConfig::from_env(),
            queue: Arc::new(Mutex::new(None)),
        };
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| crate::Error::Mcp(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| crate::Error::Mcp(e.to_string()))?;
        Ok(())
    }

    async fn call(&self, name: &str, args: Value) -> Result<Value, String> {
        if name == "task_submit" {
            return self.task_submit(parse(name, args)?).await;
        }
        let client = self.client.lock().await;
        match name {
            "session_new" => {
                let params: NewSessionParams = parse(name, args)?;
                let info = client.new_session(&params).await.map_err(daemon)?;
                Ok(serde_json::to_value(info).map_err(internal)?)
            }
            "exec" => {
                let args: ExecArgs = parse(name, args)?;
                let params = ExecParams {
                    session: args.session.unwrap_or_else(|| "default".to_owned()),
                    command: args.command,
                    timeout_ms: args.timeout_secs.map(|s| (s * 1000.0).round() as u64),
                    create: true,
                    budget: Some(args.budget.unwrap_or(DEFAULT_BUDGET)),
                    agent: Some("mcp".to_owned()),
                };
                let result = client.exec(&params).await.map_err(daemon)?;
                Ok(exec_report(&result))
            }
            "send_keys" => {
                let args: SessionArgs<SendArgs> = parse(name, args)?;
                let params = SendParams {
                    session: args.session(),
                    text: args.rest.text,
                    keys: args.rest.keys,
                    data_base64: None,
                };
                let sent = client.send(&params).await.map_err(daemon)?;
                Ok(serde_json::to_value(sent).map_err(internal)?)
            }
            "read" => {
                let args: SessionArgs<ReadArgs> = parse(name, args)?;
                let params = ReadParams {
                    session: args.session(),
                    since: args.rest.since.unwrap_or(0),
                    max_bytes: Some(args.rest.max_bytes.unwrap_or(DEFAULT_READ_BYTES)),
                    raw: false,
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
                let screen = client.screen(&args.session()).await.map_err(daemon)?;
                Ok(serde_json::to_value(screen).map_err(internal)?)
            }
            "list" => {
                let _: Empty = parse(name, args)?;
                let list = client.list_sessions().await.map_err(daemon)?;
                Ok(serde_json::to_value(list).map_err(internal)?)
            }
            "kill" => {
                let args: SessionArgs<Empty> = parse(name, args)?;
                let killed = client.kill_session(&args.session()).await.map_err(daemon)?;
                Ok(serde_json::to_value(killed).map_err(internal)?)
            }
            "context" => {
                let args: SessionArgs<ContextArgs> = parse(name, args)?;
                let params = ContextParams {
                    session: args.session(),
                    budget: args.rest.budget,
                    task: args.rest.task,
                };
                let context = client.context(&params).await.map_err(daemon)?;
                Ok(serde_json::to_value(context).map_err(internal)?)
            }
            other => Err(format!(
                "unknown tool `{other}`; call tools/list for the tools this server has"
            )),
        }
    }
}

impl McpServer {
    /// Submits a task to the shared queue, connecting on first use.
    async fn task_submit(&self, args: TaskArgs) -> Result<Value, String> {
        let bus = self.bus.as_ref().ok_or_else(|| {
            "no coordination server: start the MCP server with AI_SESSION_BUS=nats://HOST:PORT \
             (a nats-server -js that `ai-session worker --bus ...` processes share)"
                .to_owned()
        })?;
        let spec = TaskSpec::new(json!({ "command": args.command }))
            .requiring(args.requires.iter().filter(|c| !c.is_empty()))
            .and_then(|spec| match args.priority {
                Some(p) => Ok(spec.with_priority(Priority::new(p)?)),
                None => Ok(spec),
            })
            .map_err(|e| format!("invalid task: {e}"))?;
        let mut queue = self.queue.lock().await;
        if queue.is_none() {
            let config = QueueConfig {
                lease_duration: std::time::Duration::from_secs(30),
            };
            let opened = NatsQueue::connect(&bus.url, &bus.prefix, config)
                .await
                .map_err(|e| format!("cannot open the task queue on {}: {e}", bus.url))?;
            *queue = Some(opened);
        }
        let queue = queue.as_ref().expect("opened above");
        let id = queue
            .submit(spec)
            .await
            .map_err(|e| format!("task submission failed: {e}"))?;
        Ok(json!({ "id": id, "bus": bus.url }))
    }
}

/// What the `exec` tool returns: the facts an agent acts on, not the raw output.
fn exec_report(result: &ExecResult) -> Value {
    let analysis = result.analysis.as_ref();
    json!({
        "session": result.session,
        "command": result.command,
        "state": result.state,
        "exit_code": result.exit_code,
        "duration_ms": result.duration_ms,
        "cwd": result.cwd,
        "output": {
            "digest": analysis.map(|a| &a.digest),
            "parsed": analysis.map(|a| &a.parsed),
            "tokens_raw": analysis.map(|a| a.tokens_raw),
            "tokens_digest": analysis.map(|a| a.tokens_digest),
            "range": result.output.range,
        },
        "screen_tail": result.screen_tail,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecArgs {
    command: String,
    session: Option<String>,
    timeout_secs: Option<f64>,
    budget: Option<usize>,
}

#[derive(Deserialize)]
struct SessionArgs<T> {
    session: Option<String>,
    #[serde(flatten)]
    rest: T,
}

impl<T> SessionArgs<T> {
    fn session(&self) -> String {
        self.session.clone().unwrap_or_else(|| "default".to_owned())
    }
}

#[derive(Deserialize)]
struct SendArgs {
    text: Option<String>,
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct ReadArgs {
    since: Option<u64>,
    max_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskArgs {
    command: String,
    #[serde(default)]
    requires: Vec<String>,
    priority: Option<u8>,
}

#[derive(Deserialize)]
struct ContextArgs {
    budget: Option<usize>,
    task: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn parse<T: DeserializeOwned>(tool: &str, args: Value) -> Result<T, String> {
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

fn daemon(error: crate::Error) -> String {
    format!("{error}")
}

fn internal(error: serde_json::Error) -> String {
    format!("could not encode the result: {error}")
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ai-session", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Shell sessions for agents: `exec` runs a command and returns its exit code and \
                 a token-budgeted digest with parsed facts; `read` fetches more output; \
                 `send_keys` answers prompts (state awaiting_input).",
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
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(request.arguments.unwrap_or_default());
        let result = match self.call(&request.name, args).await {
            Ok(value) => CallToolResult::structured(value),
            Err(message) => {
                tracing::info!(tool = %request.name, error = %message, "mcp tool call failed");
                CallToolResult::error(vec![ContentBlock::text(message)])
            }
        };
        Ok(result.into())
    }
}
