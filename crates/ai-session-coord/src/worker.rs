//! The worker loop: register, heartbeat, lease, run with keep-alives, ack or nak, publish the
//! result. What "run" means is the caller's [`TaskRunner`] (the CLI runs a command in a
//! terminal session).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::bus::MessageBus;
use crate::error::{CoordError, Result};
use crate::queue::TaskQueue;
use crate::registry::{AgentInfo, AgentRegistry, RegistryConfig};
use crate::task::{Lease, TaskId, WorkerSpec};

/// Runs one task. `Ok` completes it with that result (a command that exits non-zero is still a
/// completed task; its exit code is in the result); `Err` gives it back to be retried (e.g. the
/// command could not be started). Dropping the future must stop the work (a lost lease does).
pub trait TaskRunner: Send + Sync {
    /// Runs the leased task.
    fn run(
        &self,
        lease: &Lease,
    ) -> impl Future<Output = std::result::Result<serde_json::Value, String>> + Send;
}

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Its id and capabilities.
    pub spec: WorkerSpec,
    /// How long one `lease` call waits before the loop checks for shutdown.
    pub poll: Duration,
    /// Delay before a task whose runner failed is delivered again.
    pub retry_delay: Duration,
    /// Heartbeat TTL of the registry (heartbeats go out every third of it).
    pub registry: RegistryConfig,
    /// Stop after this many settled tasks (for tests and one-shot workers).
    pub max_tasks: Option<u64>,
}

impl WorkerOptions {
    /// Defaults for a worker: 1 s polls, 5 s retry delay, registry defaults, no task limit.
    pub fn new(spec: WorkerSpec) -> Self {
        Self {
            spec,
            poll: Duration::from_secs(1),
            retry_delay: Duration::from_secs(5),
            registry: RegistryConfig::default(),
            max_tasks: None,
        }
    }
}

/// What a worker publishes on [`result_topic`] when it completes a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResultMessage {
    /// The task.
    pub id: TaskId,
    /// The worker that completed it.
    pub worker: String,
    /// Which delivery completed it.
    pub attempt: u32,
    /// The runner's result.
    pub result: serde_json::Value,
}

/// Topic a task's result is published on: `tasks.<id>.result` (subscribe `tasks.*.result` for all).
pub fn result_topic(id: &TaskId) -> String {
    format!("tasks.{id}.result")
}

/// Counts of what a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Tasks completed and acked.
    pub completed: u64,
    /// Tasks given back because the runner failed.
    pub retried: u64,
    /// Leases lost (expired and taken by another worker) before the task finished.
    pub lost: u64,
}

/// Runs tasks until `shutdown` resolves (or `max_tasks` are settled). The worker is registered
/// with its capabilities and heartbeats while it runs; it deregisters on the way out.
pub async fn run_worker<Q, B, R, T>(
    queue: &Q,
    bus: &B,
    registry: &R,
    runner: &T,
    options: &WorkerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<WorkerStats>
where
    Q: TaskQueue,
    B: MessageBus,
    R: AgentRegistry + Clone,
    T: TaskRunner,
{
    let id = options.spec.id.clone();
    let mut agent = AgentInfo::new(&id, Vec::<String>::new())?;
    agent.capabilities = options.spec.capabilities.clone();
    registry.register(agent.clone()).await?;
    let load = Arc::new(AtomicU32::new(0));
    let heartbeat = tokio::spawn(heartbeat_loop(
        registry.clone(),
        agent,
        Arc::clone(&load),
        options.registry.ttl / 3,
    ));
    let _stop_heartbeat = AbortOnDrop(heartbeat);
    tracing::info!(worker = %id, capabilities = ?options.spec.capabilities, "worker started");

    tokio::pin!(shutdown);
    let mut stats = WorkerStats::default();
    loop {
        if options
            .max_tasks
            .is_some_and(|max| stats.completed + stats.retried + stats.lost >= max)
        {
            break;
        }
        let lease = tokio::select! {
            () = &mut shutdown => break,
            lease = queue.lease(&options.spec, options.poll) => lease?,
        };
        let Some(lease) = lease else { continue };
        load.store(1, Ordering::Relaxed);
        let outcome = run_one(queue, bus, runner, options, &lease).await;
        load.store(0, Ordering::Relaxed);
        match outcome? {
            Outcome::Completed => stats.completed += 1,
            Outcome::Retried => stats.retried += 1,
            Outcome::Lost => stats.lost += 1,
        }
    }
    let _ = registry.deregister(&id).await;
    tracing::info!(worker = %id, ?stats, "worker stopped");
    Ok(stats)
}

enum Outcome {
    Completed,
    Retried,
    Lost,
}

async fn run_one<Q, B, T>(
    queue: &Q,
    bus: &B,
    runner: &T,
    options: &WorkerOptions,
    lease: &Lease,
) -> Result<Outcome>
where
    Q: TaskQueue,
    B: MessageBus,
    T: TaskRunner,
{
    tracing::info!(task = %lease.id, attempt = lease.attempt, "task leased");
    let run = runner.run(lease);
    tokio::pin!(run);
    // Renew well before expiry so one slow round trip does not lose the lease.
    let mut renew = tokio::time::interval(lease.duration / 3);
    renew.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut run => break result,
            _ = renew.tick() => match queue.keep_alive(lease).await {
                Ok(()) => {}
                Err(CoordError::LeaseLost { .. }) => {
                    tracing::warn!(task = %lease.id, "lease lost while running; abandoning");
                    return Ok(Outcome::Lost);
                }
                Err(e) => return Err(e),
            },
        }
    };
    match result {
        Ok(result) => {
            match queue.ack(lease, result.clone()).await {
                Ok(()) => {}
                Err(CoordError::LeaseLost { .. }) => return Ok(Outcome::Lost),
                Err(e) => return Err(e),
            }
            let message = TaskResultMessage {
                id: lease.id.clone(),
                worker: lease.worker.clone(),
                attempt: lease.attempt,
                result,
            };
            let json = serde_json::to_vec(&message).map_err(|source| CoordError::Codec {
                what: "task result",
                source,
            })?;
            bus.publish(&result_topic(&lease.id), Bytes::from(json))
                .await?;
            bus.flush().await?;
            tracing::info!(task = %lease.id, attempt = lease.attempt, "task completed");
            Ok(Outcome::Completed)
        }
        Err(reason) => {
            tracing::warn!(task = %lease.id, reason = %reason, "task failed to run; giving it back");
            match queue.nak(lease, options.retry_delay, &reason).await {
                Ok(()) | Err(CoordError::LeaseLost { .. }) => Ok(Outcome::Retried),
                Err(e) => Err(e),
            }
        }
    }
}

async fn heartbeat_loop<R: AgentRegistry>(
    registry: R,
    agent: AgentInfo,
    load: Arc<AtomicU32>,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(100)));
    loop {
        ticks.tick().await;
        let current = load.load(Ordering::Relaxed);
        match registry.heartbeat(&agent.id, current).await {
            Ok(()) => {}
            Err(CoordError::UnknownAgent(_)) => {
                // Expired (e.g. the machine was suspended): come back.
                let mut again = agent.clone();
                again.load = current;
                let _ = registry.register(again).await;
            }
            Err(e) => tracing::warn!(agent = %agent.id, error = %e, "heartbeat failed"),
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
