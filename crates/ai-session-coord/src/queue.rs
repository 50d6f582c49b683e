//! The task queue: submit, lease, keep alive, ack or nak, redeliver, dead-letter.

use std::future::Future;
use std::time::Duration;

use crate::error::Result;
use crate::task::{Lease, TaskId, TaskInfo, TaskSpec, WorkerSpec};

/// Settings both backends share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a lease lasts without a keep-alive. Fixed per queue because JetStream's ack wait
    /// is a property of the consumer, not of one delivery.
    pub lease_duration: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(30),
        }
    }
}

/// A work queue with capability matching, priorities, leases and dead-lettering.
///
/// Contract (checked by the conformance suite against every backend):
/// - `lease` only returns tasks whose `requires` are all in the worker's capabilities, highest
///   priority first, FIFO within a priority;
/// - a lease not acked, nakked or kept alive within `lease_duration` expires and the task is
///   delivered again (attempt + 1);
/// - a task that used `max_attempts` deliveries without an ack is dead-lettered;
/// - `ack` settles a task exactly once: an ack on a lost lease fails with `LeaseLost` and leaves
///   the other worker's result in place.
pub trait TaskQueue: Send + Sync + 'static {
    /// Queues a task; returns its id.
    fn submit(&self, spec: TaskSpec) -> impl Future<Output = Result<TaskId>> + Send;

    /// Queues several tasks in this order; returns their ids in the same order. A backend may
    /// overlap the round trips (NATS pipelines the stores), so this is much cheaper per task
    /// than `submit` in a loop. On an error, tasks before the failing one may be queued.
    fn submit_many(
        &self,
        specs: Vec<TaskSpec>,
    ) -> impl Future<Output = Result<Vec<TaskId>>> + Send {
        async move {
            let mut ids = Vec::with_capacity(specs.len());
            for spec in specs {
                ids.push(self.submit(spec).await?);
            }
            Ok(ids)
        }
    }

    /// Takes the best task this worker can run, waiting up to `wait` for one to appear.
    fn lease(
        &self,
        worker: &WorkerSpec,
        wait: Duration,
    ) -> impl Future<Output = Result<Option<Lease>>> + Send;

    /// Takes up to `max` tasks at once (best first), waiting up to `wait` for at least one.
    /// Each lease is independent: its own expiry, keep-alive, ack or nak. For workers that run
    /// several tasks concurrently; a backend may fetch them in one round trip.
    fn lease_many(
        &self,
        worker: &WorkerSpec,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Lease>>> + Send {
        async move {
            let mut leases = Vec::new();
            if max == 0 {
                return Ok(leases);
            }
            let Some(first) = self.lease(worker, wait).await? else {
                return Ok(leases);
            };
            leases.push(first);
            while leases.len() < max {
                match self.lease(worker, Duration::ZERO).await? {
                    Some(lease) => leases.push(lease),
                    None => break,
                }
            }
            Ok(leases)
        }
    }

    /// Completes the task with `result`; fails with `LeaseLost` if the lease is gone.
    fn ack(
        &self,
        lease: &Lease,
        result: serde_json::Value,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Gives the task back, to be delivered again after `delay`; on the last attempt it is
    /// dead-lettered with `reason` instead.
    fn nak(
        &self,
        lease: &Lease,
        delay: Duration,
        reason: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Extends the lease by a full `lease_duration` from now.
    fn keep_alive(&self, lease: &Lease) -> impl Future<Output = Result<()>> + Send;

    /// The task's current state.
    fn status(&self, id: &TaskId) -> impl Future<Output = Result<TaskInfo>> + Send;

    /// All known tasks, oldest first.
    fn list(&self) -> impl Future<Output = Result<Vec<TaskInfo>>> + Send;

    /// Waits up to `timeout` until the task is completed or dead-lettered.
    fn wait(&self, id: &TaskId, timeout: Duration)
    -> impl Future<Output = Result<TaskInfo>> + Send;
}
