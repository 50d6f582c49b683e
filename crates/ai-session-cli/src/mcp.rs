//! `ai-session mcp`: serve the daemon's operations as MCP tools on stdio.

use std::process::ExitCode;

use crate::common::{self, Global};

/// Serve MCP (Model Context Protocol) on stdin/stdout for agent hosts.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Tools: session_new, exec, wait, send_keys, read, screen, list, history, kill, context, watch,
unwatch, events, task_submit, task_status, task_wait (schemas with examples in tools/list and
docs/mcp.md). The daemon is started on demand; sessions are shared with the CLI.

Calls run concurrently. exec answers `state: running` after AI_SESSION_MCP_YIELD_MS (default
30000) and the command goes on; `wait` then wakes on its exit, port, output line or input
prompt. A cancelled exec interrupts its command unless called with on_cancel: \"detach\".

Host configuration example (e.g. an agent host's mcpServers entry):
  {\"command\": \"ai-session\", \"args\": [\"mcp\"]}

task_submit needs AI_SESSION_BUS=nats://HOST:PORT (the queue `ai-session worker` shares).
Logs go to stderr (AI_SESSION_LOG=debug for more); stdout carries only the protocol.")]
pub struct McpArgs {}

/// Runs `mcp` until the host closes stdin.
pub fn run(_args: McpArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = common::connect(global).await?;
        ai_session::mcp::McpServer::serve_stdio(client).await?;
        Ok(ExitCode::SUCCESS)
    })
}
