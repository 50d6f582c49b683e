//! The task queue over JetStream.
//!
//! - Each task is a message (its id) on `P.tasks.<key>` in a work-queue stream, where the key is
//!   the priority and the required capabilities. Every key has one durable pull consumer that all
//!   able workers share, so filters never overlap (a work-queue stream requires that) and a
//!   worker with capabilities C polls the keys of the subsets of C, highest priority first.
//! - The consumer's ack wait is the lease; `keep_alive` sends "in progress"; an expired lease is
//!   redelivered by the server with `delivered + 1`, which is the attempt number.
//! - Task state lives in the KV bucket `P_tasks` and every transition is a compare-and-set on
//!   the entry's revision. That fences a worker whose lease expired: its ack finds a newer
//!   revision (or a newer attempt) and fails with `LeaseLost`, so a task completes exactly once
//!   even though JetStream itself delivers at least once.
//! - Dead-lettering: `max_deliver` is unlimited on the server; a delivery past the task's
//!   `max_attempts` (or a nak on the last attempt) marks it dead-lettered in KV and terminates
//!   the message.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, kv};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{CoordError, Result};
use crate::queue::{QueueConfig, TaskQueue};
use crate::task::{
    Capabilities, Lease, Priority, TaskId, TaskInfo, TaskSpec, TaskState, WorkerSpec,
};

/// How often a waiting `lease` re-reads which keys hold messages (this is what finds
/// redeliveries of expired leases and the end of nak delays, which send no wake-up).
const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// [`TaskQueue`] over NATS JetStream. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct NatsQueue {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    tasks: kv::Store,
    config: QueueConfig,
    prefix: String,
    consumers: tokio::sync::Mutex<HashMap<String, PullConsumer>>,
    // Keys that may hold a deliverable message: set by wake-ups and refreshes, cleared by an
    // empty fetch. Saves polling every key on every lease.
    maybe_ready: Arc<Mutex<BTreeMap<String, bool>>>,
    woken: Arc<Notify>,
    wake_listener: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.wake_listener.abort();
    }
}

/// Where a lease's ack goes: the revision we wrote at lease time and the JetStream ack subject.
fn encode_token(revision: u64, reply: &str) -> String {
    format!("{revision} {reply}")
}

fn decode_token(lease: &Lease) -> Result<(u64, &str)> {
    lease
        .token
        .split_once(' ')
        .and_then(|(rev, reply)| Some((rev.parse().ok()?, reply)))
        .ok_or_else(|| CoordError::LeaseLost {
            task: lease.id.clone(),
            attempt: lease.attempt,
        })
}

/// `p<level>` then `_<capability>` for each required capability, sorted.
fn key(priority: Priority, requires: &Capabilities) -> String {
    let mut key = format!("p{}", priority.level());
    for capability in requires {
        key.push('_');
        key.push_str(capability);
    }
    key
}

/// Parses a key back into (priority, required capabilities).
fn parse_key(key: &str) -> Option<(Priority, Capabilities)> {
    let mut parts = key.split('_');
    let level = parts.next()?.strip_prefix('p')?.parse().ok()?;
    Some((
        Priority::new(level).ok()?,
        parts.map(str::to_owned).collect(),
    ))
}

fn codec(what: &'static str) -> impl FnOnce(serde_json::Error) -> CoordError {
    move |source| CoordError::Codec { what, source }
}

impl NatsQueue {
    /// Connects to `url` and opens (or creates) the queue named `prefix`.
    pub async fn connect(url: &str, prefix: &str, config: QueueConfig) -> Result<Self> {
        Self::from_client(super::connect(url).await?, prefix, config).await
    }

    /// Opens (or creates) the queue over an existing connection. The lease duration is fixed
    /// per key by whoever creates its consumer first.
    pub async fn from_client(
        client: async_nats::Client,
        prefix: &str,
        config: QueueConfig,
    ) -> Result<Self> {
        super::validate_prefix(prefix)?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_or_create_stream(jetstream::stream::Config {
                name: format!("{prefix}_TASKS"),
                subjects: vec![format!("{prefix}.tasks.>")],
                retention: jetstream::stream::RetentionPolicy::WorkQueue,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| CoordError::backend("create the tasks stream", e))?;
        let bucket = format!("{prefix}_tasks");
        let tasks = match js.get_key_value(&bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.clone(),
                    history: 1,
                    ..Default::default()
                })
                .await
                .map_err(|e| CoordError::backend("create the tasks KV bucket", e))?,
        };

        let maybe_ready = Arc::new(Mutex::new(BTreeMap::new()));
        let woken = Arc::new(Notify::new());
        let mut wakes = client
            .subscribe(format!("{prefix}.wake.>"))
            .await
            .map_err(|e| CoordError::backend("subscribe to task wake-ups", e))?;
        super::round_trip(&client).await?;
        let wake_listener = tokio::spawn({
            let maybe_ready = Arc::clone(&maybe_ready);
            let woken = Arc::clone(&woken);
            async move {
                while let Some(msg) = wakes.next().await {
                    if let Some(key) = msg.subject.rsplit('.').next() {
                        lock(&maybe_ready).insert(key.to_owned(), true);
                    }
                    woken.notify_waiters();
                }
            }
        });
        let queue = Self {
            inner: Arc::new(Inner {
                client,
                js,
                stream,
                tasks,
                config,
                prefix: prefix.to_owned(),
                consumers: tokio::sync::Mutex::new(HashMap::new()),
                maybe_ready,
                woken,
                wake_listener,
            }),
        };
        queue.refresh_ready().await?;
        Ok(queue)
    }

    /// Marks every key that holds messages (delivered or not) as worth polling.
    async fn refresh_ready(&self) -> Result<()> {
        let tasks_prefix = format!("{}.tasks.", self.inner.prefix);
        let subjects: Vec<(String, usize)> = self
            .inner
            .stream
            .info_with_subjects(format!("{tasks_prefix}>"))
            .await
            .map_err(|e| CoordError::backend("read task subjects", e))?
            .try_collect()
            .await
            .map_err(|e| CoordError::backend("read task subjects", e))?;
        let mut ready = lock(&self.inner.maybe_ready);
        for (subject, count) in subjects {
            if let Some(key) = subject.strip_prefix(&tasks_prefix)
                && count > 0
            {
                ready.insert(key.to_owned(), true);
            }
        }
        Ok(())
    }

    async fn consumer(&self, key: &str) -> Result<PullConsumer> {
        let mut consumers = self.inner.consumers.lock().await;
        if let Some(consumer) = consumers.get(key) {
            return Ok(consumer.clone());
        }
        let consumer = self
            .inner
            .stream
            .get_or_create_consumer(
                key,
                jetstream::consumer::pull::Config {
                    durable_name: Some(key.to_owned()),
                    filter_subject: format!("{}.tasks.{key}", self.inner.prefix),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.inner.config.lease_duration,
                    max_deliver: -1,
                    max_ack_pending: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| CoordError::backend("create task consumer", e))?;
        consumers.insert(key.to_owned(), consumer.clone());
        Ok(consumer)
    }

    /// Keys this worker may take from and that may hold messages, highest priority first.
    fn candidate_keys(&self, capabilities: &Capabilities) -> Vec<String> {
        let ready = lock(&self.inner.maybe_ready);
        let mut keys: Vec<(Priority, &String)> = ready
            .iter()
            .filter(|(_, ready)| **ready)
            .filter_map(|(key, _)| {
                let (priority, requires) = parse_key(key)?;
                requires.is_subset(capabilities).then_some((priority, key))
            })
            .collect();
        keys.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        keys.into_iter().map(|(_, key)| key.clone()).collect()
    }

    async fn entry(&self, id: &TaskId) -> Result<Option<(TaskInfo, u64)>> {
        let Some(entry) = self
            .inner
            .tasks
            .entry(id.0.clone())
            .await
            .map_err(|e| CoordError::backend("read task state", e))?
        else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        let info = serde_json::from_slice(&entry.value).map_err(codec("task state"))?;
        Ok(Some((info, entry.revision)))
    }

    /// Compare-and-set of a task's state; `Ok(None)` when someone else changed it first.
    async fn update(&self, info: &TaskInfo, revision: u64) -> Result<Option<u64>> {
        let json = serde_json::to_vec(info).map_err(codec("task state"))?;
        match self
            .inner
            .tasks
            .update(&info.id.0, json.into(), revision)
            .await
        {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(CoordError::backend("update task state", e)),
        }
    }

    async fn reply(&self, subject: &str, kind: AckKind, confirm: bool) -> Result<()> {
        let payload: Bytes = kind.into();
        if confirm {
            self.inner
                .client
                .request(subject.to_owned(), payload)
                .await
                .map(drop)
                .map_err(|e| CoordError::backend("acknowledge task message", e))
        } else {
            self.inner
                .client
                .publish(subject.to_owned(), payload)
                .await
                .map_err(|e| CoordError::backend("acknowledge task message", e))
        }
    }

    /// Turns one delivered message into a lease, or settles it if it must not run.
    async fn claim(
        &self,
        message: &jetstream::Message,
        worker: &WorkerSpec,
    ) -> Result<Option<Lease>> {
        let delivered = message
            .info()
            .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
            .map_err(|e| CoordError::backend("read JetStream delivery info", e))?;
        let reply = message
            .reply
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let id = TaskId(String::from_utf8_lossy(&message.payload).into_owned());
        // A few tries: a concurrent settle by a fenced-off worker can move the revision.
        for _ in 0..5 {
            let Some((mut info, revision)) = self.entry(&id).await? else {
                tracing::warn!(task = %id, "task message without state; dropping it");
                self.reply(&reply, AckKind::Term, false).await?;
                return Ok(None);
            };
            if info.state.is_final() {
                // Settled by an earlier delivery whose message ack was lost.
                self.reply(&reply, AckKind::Term, false).await?;
                return Ok(None);
            }
            if delivered > info.spec.max_attempts {
                let attempts = delivered - 1;
                info.attempts = attempts;
                info.set_state(TaskState::DeadLettered {
                    reason: "lease expired".to_owned(),
                });
                if self.update(&info, revision).await?.is_some() {
                    tracing::warn!(task = %id, attempts, "task dead-lettered");
                    self.reply(&reply, AckKind::Term, false).await?;
                    return Ok(None);
                }
                continue;
            }
            info.attempts = delivered;
            info.set_state(TaskState::Leased {
                worker: worker.id.clone(),
                attempt: delivered,
            });
            if let Some(revision) = self.update(&info, revision).await? {
                return Ok(Some(Lease {
                    id,
                    spec: info.spec,
                    attempt: delivered,
                    worker: worker.id.clone(),
                    duration: self.inner.config.lease_duration,
                    token: encode_token(revision, &reply),
                }));
            }
        }
        Err(CoordError::Backend {
            operation: "lease task",
            message: format!("task {id} state kept changing under us"),
        })
    }

    async fn try_lease(&self, worker: &WorkerSpec) -> Result<Option<Lease>> {
        for key in self.candidate_keys(&worker.capabilities) {
            let consumer = self.consumer(&key).await?;
            loop {
                let mut batch = consumer
                    .fetch()
                    .max_messages(1)
                    .messages()
                    .await
                    .map_err(|e| CoordError::backend("fetch a task", e))?;
                let Some(message) = batch.next().await else {
                    lock(&self.inner.maybe_ready).insert(key.clone(), false);
                    break;
                };
                let message = message.map_err(|e| CoordError::backend("fetch a task", e))?;
                if let Some(lease) = self.claim(&message, worker).await? {
                    return Ok(Some(lease));
                }
            }
        }
        Ok(None)
    }

    /// The state at lease time, if the lease is still the live one; else `LeaseLost`.
    async fn held(&self, lease: &Lease) -> Result<(TaskInfo, u64)> {
        let lost = || CoordError::LeaseLost {
            task: lease.id.clone(),
            attempt: lease.attempt,
        };
        let (info, revision) = self.entry(&lease.id).await?.ok_or_else(lost)?;
        match &info.state {
            TaskState::Leased { worker, attempt }
                if *worker == lease.worker && *attempt == lease.attempt =>
            {
                Ok((info, revision))
            }
            _ => Err(lost()),
        }
    }

    /// Moves a held task to `state` by compare-and-set; `LeaseLost` if it moved meanwhile.
    async fn settle(&self, lease: &Lease, state: TaskState) -> Result<()> {
        let (mut info, revision) = self.held(lease).await?;
        info.set_state(state);
        self.update(&info, revision)
            .await?
            .map(drop)
            .ok_or_else(|| CoordError::LeaseLost {
                task: lease.id.clone(),
                attempt: lease.attempt,
            })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl TaskQueue for NatsQueue {
    async fn submit(&self, spec: TaskSpec) -> Result<TaskId> {
        spec.validate()?;
        let id = TaskId::generate();
        let key = key(spec.priority, &spec.requires);
        let info = TaskInfo::new(id.clone(), spec);
        let json = serde_json::to_vec(&info).map_err(codec("task state"))?;
        self.inner
            .tasks
            .create(&id.0, json.into())
            .await
            .map_err(|e| CoordError::backend("store task state", e))?;
        let prefix = &self.inner.prefix;
        self.inner
            .js
            .publish(format!("{prefix}.tasks.{key}"), id.0.clone().into())
            .await
            .map_err(|e| CoordError::backend("publish task to JetStream", e))?
            .await
            .map_err(|e| CoordError::backend("publish task to JetStream", e))?;
        self.inner
            .client
            .publish(format!("{prefix}.wake.{key}"), Bytes::new())
            .await
            .map_err(|e| CoordError::backend("publish task wake-up", e))?;
        Ok(id)
    }

    async fn lease(&self, worker: &WorkerSpec, wait: Duration) -> Result<Option<Lease>> {
        let give_up = Instant::now() + wait;
        loop {
            let woken = self.inner.woken.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(lease) = self.try_lease(worker).await? {
                return Ok(Some(lease));
            }
            let now = Instant::now();
            if now >= give_up {
                return Ok(None);
            }
            let _ = tokio::time::timeout_at(give_up.min(now + REFRESH_EVERY), woken).await;
            self.refresh_ready().await?;
        }
    }

    async fn ack(&self, lease: &Lease, result: serde_json::Value) -> Result<()> {
        let (revision, reply) = decode_token(lease)?;
        let lost = || CoordError::LeaseLost {
            task: lease.id.clone(),
            attempt: lease.attempt,
        };
        // Fast path: nothing changed since we leased, so our revision is still current.
        let (mut info, revision) = match self.entry(&lease.id).await? {
            Some((info, current)) if current == revision => (info, revision),
            _ => self.held(lease).await?,
        };
        info.set_state(TaskState::Completed {
            worker: lease.worker.clone(),
            attempt: lease.attempt,
            result,
        });
        self.update(&info, revision).await?.ok_or_else(lost)?;
        // The state is final now, so the message ack need not wait for the server: if it is
        // lost, the redelivery finds the task completed and `claim` terminates it.
        self.reply(reply, AckKind::Ack, false).await
    }

    async fn nak(&self, lease: &Lease, delay: Duration, reason: &str) -> Result<()> {
        let (_, reply) = decode_token(lease)?;
        if lease.attempt >= lease.spec.max_attempts {
            self.settle(
                lease,
                TaskState::DeadLettered {
                    reason: reason.to_owned(),
                },
            )
            .await?;
            tracing::warn!(task = %lease.id, attempts = lease.attempt, reason, "task dead-lettered");
            return self.reply(reply, AckKind::Term, true).await;
        }
        self.settle(lease, TaskState::Pending).await?;
        let delay = (!delay.is_zero()).then_some(delay);
        self.reply(reply, AckKind::Nak(delay), true).await
    }

    async fn keep_alive(&self, lease: &Lease) -> Result<()> {
        let (_, reply) = decode_token(lease)?;
        self.held(lease).await?;
        self.reply(reply, AckKind::Progress, true).await
    }

    async fn status(&self, id: &TaskId) -> Result<TaskInfo> {
        self.entry(id)
            .await?
            .map(|(info, _)| info)
            .ok_or_else(|| CoordError::UnknownTask(id.clone()))
    }

    async fn list(&self) -> Result<Vec<TaskInfo>> {
        let mut keys: Vec<String> = self
            .inner
            .tasks
            .keys()
            .await
            .map_err(|e| CoordError::backend("list tasks", e))?
            .try_collect()
            .await
            .map_err(|e| CoordError::backend("list tasks", e))?;
        keys.sort();
        let tasks: Vec<Option<(TaskInfo, u64)>> = futures::stream::iter(keys)
            .map(|key| async move { self.entry(&TaskId(key)).await })
            .buffered(32)
            .try_collect()
            .await?;
        Ok(tasks.into_iter().flatten().map(|(info, _)| info).collect())
    }

    async fn wait(&self, id: &TaskId, timeout: Duration) -> Result<TaskInfo> {
        let mut updates = self
            .inner
            .tasks
            .watch(&id.0)
            .await
            .map_err(|e| CoordError::backend("watch task state", e))?;
        let give_up = Instant::now() + timeout;
        let current = self.status(id).await?;
        if current.state.is_final() {
            return Ok(current);
        }
        loop {
            let next = tokio::time::timeout_at(give_up, updates.next()).await;
            let entry = match next {
                Err(_) => {
                    return Err(CoordError::WaitTimeout {
                        task: id.clone(),
                        timeout,
                    });
                }
                Ok(None) => return Err(CoordError::Closed("task watch ended".to_owned())),
                Ok(Some(entry)) => entry.map_err(|e| CoordError::backend("watch task state", e))?,
            };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            let info: TaskInfo =
                serde_json::from_slice(&entry.value).map_err(codec("task state"))?;
            if info.state.is_final() {
                return Ok(info);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let requires: Capabilities = ["rust".to_owned(), "python".to_owned()].into();
        let k = key(Priority::HIGH, &requires);
        assert_eq!(k, "p2_python_rust");
        assert_eq!(parse_key(&k), Some((Priority::HIGH, requires)));
        assert_eq!(parse_key("p0"), Some((Priority::LOW, Capabilities::new())));
    }
}
