//! The task tools (`task_submit`, `task_status`, `task_wait`): the shared queue that
//! `ai-session worker` processes take tasks from, a NATS JetStream server named by
//! `AI_SESSION_BUS`. They need the `nats` feature; without it they answer which feature is
//! missing, and the rest of the MCP server does not link NATS.

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::ToolResult;

#[cfg(feature = "nats")]
pub(super) use queue::Tasks;

#[cfg(not(feature = "nats"))]
pub(super) use unavailable::Tasks;

#[cfg(feature = "nats")]
mod queue {
    use std::sync::Arc;

    use ai_session_coord::nats::NatsQueue;
    use ai_session_coord::{Priority, QueueConfig, TaskQueue as _, TaskSpec};
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::mcp::args::parse;

    /// Where the tasks go: `AI_SESSION_BUS` (and `AI_SESSION_COORD_PREFIX`); the queue is
    /// connected on first use and shared by the calls.
    #[derive(Clone, Default)]
    pub(in crate::mcp) struct Tasks {
        bus: Option<BusConfig>,
        queue: Arc<tokio::sync::Mutex<Option<NatsQueue>>>,
    }

    #[derive(Clone)]
    struct BusConfig {
        url: String,
        prefix: String,
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
    #[serde(deny_unknown_fields)]
    struct TaskIdArgs {
        id: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TaskWaitArgs {
        id: String,
        timeout_secs: Option<f64>,
    }

    impl Tasks {
        /// The queue named by the environment, if any.
        pub(in crate::mcp) fn from_env() -> Tasks {
            let bus = std::env::var("AI_SESSION_BUS")
                .ok()
                .filter(|u| !u.is_empty())
                .map(|url| BusConfig {
                    url,
                    prefix: std::env::var("AI_SESSION_COORD_PREFIX")
                        .unwrap_or_else(|_| ai_session_coord::nats::DEFAULT_PREFIX.to_owned()),
                });
            Tasks {
                bus,
                queue: Arc::default(),
            }
        }

        /// `task_submit`: a command for any worker with the required capabilities.
        pub(in crate::mcp) async fn submit(&self, tool: &str, args: Value) -> ToolResult {
            let args: TaskArgs = parse(tool, args)?;
            let spec = TaskSpec::new(json!({ "command": args.command }))
                .requiring(args.requires.iter().filter(|c| !c.is_empty()))
                .and_then(|spec| match args.priority {
                    Some(p) => Ok(spec.with_priority(Priority::new(p)?)),
                    None => Ok(spec),
                })
                .map_err(|e| format!("invalid task: {e}"))?;
            let queue = self.queue().await?;
            let guard = queue.lock().await;
            let id = guard
                .as_ref()
                .ok_or_else(no_queue)?
                .submit(spec)
                .await
                .map_err(|e| format!("task submission failed: {e}"))?;
            let bus = self.bus.as_ref().map(|b| b.url.clone());
            Ok(json!({ "id": id, "bus": bus }))
        }

        /// `task_status`: where a task is.
        pub(in crate::mcp) async fn status(&self, tool: &str, args: Value) -> ToolResult {
            let args: TaskIdArgs = parse(tool, args)?;
            let queue = self.queue().await?;
            let guard = queue.lock().await;
            let info = guard
                .as_ref()
                .ok_or_else(no_queue)?
                .status(&args.id.as_str().into())
                .await
                .map_err(|e| format!("task {}: {e}", args.id))?;
            crate::mcp::to_json(info)
        }

        /// `task_wait`: until a task is final, at most `yield_ms` (or the call's timeout).
        pub(in crate::mcp) async fn wait(
            &self,
            tool: &str,
            args: Value,
            yield_ms: u64,
            cancel: &CancellationToken,
        ) -> ToolResult {
            let args: TaskWaitArgs = parse(tool, args)?;
            let timeout = std::time::Duration::from_millis(
                args.timeout_secs
                    .map_or(yield_ms, |s| (s.max(0.0) * 1000.0).round() as u64)
                    .min(yield_ms),
            );
            let queue = self.queue().await?;
            let guard = queue.lock().await;
            let queue = guard.as_ref().ok_or_else(no_queue)?;
            let id = args.id.as_str().into();
            let waited = tokio::select! {
                waited = queue.wait(&id, timeout) => waited,
                _ = cancel.cancelled() => return Err("cancelled".to_owned()),
            };
            match waited {
                Ok(info) => crate::mcp::to_json(info),
                Err(_) => {
                    // Not final yet within the wait: say where it is.
                    let info = queue
                        .status(&id)
                        .await
                        .map_err(|e| format!("task {}: {e}", args.id))?;
                    Ok(json!({ "timed_out": true, "task": info }))
                }
            }
        }

        /// The task queue, connected on first use.
        async fn queue(&self) -> Result<Arc<tokio::sync::Mutex<Option<NatsQueue>>>, String> {
            let bus = self.bus.as_ref().ok_or_else(no_queue)?;
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
            Ok(self.queue.clone())
        }
    }

    fn no_queue() -> String {
        "no coordination server: start the MCP server with AI_SESSION_BUS=nats://HOST:PORT \
         (a nats-server -js that `ai-session worker --bus ...` processes share)"
            .to_owned()
    }
}

// Built in tests whatever the features, so the workspace's all-features test run checks it.
#[cfg(any(test, not(feature = "nats")))]
mod unavailable {
    use super::*;

    /// The task tools of a build without NATS: each call says how to get them.
    #[derive(Clone, Default)]
    pub(in crate::mcp) struct Tasks;

    impl Tasks {
        pub(in crate::mcp) fn from_env() -> Tasks {
            Tasks
        }

        pub(in crate::mcp) async fn submit(&self, tool: &str, _args: Value) -> ToolResult {
            Err(missing(tool))
        }

        pub(in crate::mcp) async fn status(&self, tool: &str, _args: Value) -> ToolResult {
            Err(missing(tool))
        }

        pub(in crate::mcp) async fn wait(
            &self,
            tool: &str,
            _args: Value,
            _yield_ms: u64,
            _cancel: &CancellationToken,
        ) -> ToolResult {
            Err(missing(tool))
        }
    }

    fn missing(tool: &str) -> String {
        format!(
            "`{tool}` needs the task queue, which this ai-session was built without: rebuild it \
             with the `nats` feature of the `ai-session` crate (the `ai-session` binary has it)"
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[tokio::test]
        async fn each_task_tool_names_the_missing_feature() {
            let tasks = Tasks::from_env();
            let cancel = CancellationToken::new();
            for error in [
                tasks.submit("task_submit", Value::Null).await,
                tasks.status("task_status", Value::Null).await,
                tasks.wait("task_wait", Value::Null, 10, &cancel).await,
            ] {
                let error = error.unwrap_err();
                assert!(error.contains("`nats` feature"), "{error}");
            }
        }
    }
}
