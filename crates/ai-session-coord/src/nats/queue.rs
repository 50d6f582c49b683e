//! The task queue over JetStream.
//!
//! - Each task is a message on `P.tasks.<key>` in a work-queue stream, where the key is the
//!   priority and the required capabilities. The message carries the task as submitted and the
//!   KV revision of its creation, so a first delivery is claimed with one compare-and-set and
//!   no read. Every key has one durable pull consumer that all
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
//! - Throughput comes from overlapping round trips, never from skipping a fence: `submit_many`
//!   pipelines the KV creates, then the publishes; `lease_many` fetches several messages per
//!   pull request and claims them concurrently; `ack` compare-and-sets against the revision
//!   its lease wrote (no read first) and does not wait for the message ack, because the state
//!   is final by then and a redelivery of a settled task is terminated on sight.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, kv};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

use crate::error::{CoordError, Result};
use crate::queue::{QueueConfig, TaskQueue};
use crate::task::{
    Capabilities, Lease, Priority, TaskId, TaskInfo, TaskSpec, TaskState, WorkerSpec,
};

/// How often a waiting `lease` re-reads which keys hold messages (this is what finds
/// redeliveries of expired leases and the end of nak delays, which send no wake-up).
const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// JetStream stores one `submit_many` keeps in flight at once: enough to hide the round trip,
/// few enough that one big batch does not take every ack permit of the connection.
const PIPELINE: usize = 256;

/// A handle sends at most one wake-up per subject in this window; submits inside it are
/// covered by one trailing wake-up at its end. Every wake-up reaches every leasing handle, and
/// one is enough for a worker to drain the subject, so a burst of submits need not send each.
const WAKE_COALESCE: Duration = Duration::from_millis(5);

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
    // Keys that may hold a deliverable message: set by wake-ups and refreshes, cleared by a
    // short fetch. Saves polling every key on every lease.
    maybe_ready: Arc<Mutex<BTreeMap<String, KeyState>>>,
    woken: Arc<Notify>,
    // Started by the first lease: a handle that only submits needs no wake-ups.
    wake_listener: OnceCell<WakeListener>,
    // Per subject key: when this handle last sent a wake-up and whether a trailing one is due.
    wakes_sent: Mutex<HashMap<String, WakeSent>>,
    // Trailing wake-ups waiting for their window to end; aborted with the handle (a worker
    // then finds those tasks at its next refresh instead).
    wake_timers: Mutex<tokio::task::JoinSet<()>>,
}

struct WakeSent {
    at: Instant,
    trailing: bool,
}

#[derive(Default)]
struct KeyState {
    ready: bool,
    // Counts wake-ups, so a fetch that came back short clears `ready` only if no wake-up
    // arrived while it was in flight (else that wake-up would be lost until the next refresh).
    wakes: u64,
}

/// The task that turns wake-up messages into `maybe_ready` marks; stopped when dropped.
struct WakeListener(tokio::task::JoinHandle<()>);

impl Drop for WakeListener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A task message as submitted: the state `submit` stored and the KV revision it got.
#[derive(Serialize)]
struct TaskMessageOut<'a> {
    revision: u64,
    task: &'a TaskInfo,
}

#[derive(Deserialize)]
struct TaskMessage {
    revision: u64,
    task: TaskInfo,
}

/// The task id of a delivered message, and its submitted state and revision when it carries
/// them (a message from an older submitter holds only the id).
fn decode_message(payload: &[u8]) -> (TaskId, Option<(TaskInfo, u64)>) {
    match serde_json::from_slice::<TaskMessage>(payload) {
        Ok(message) => (
            message.task.id.clone(),
            Some((message.task, message.revision)),
        ),
        Err(_) => (TaskId(String::from_utf8_lossy(payload).into_owned()), None),
    }
}

/// What a lease's ack needs: the revision we wrote at lease time, the submit time (to rebuild
/// the stored state without reading it) and the JetStream ack subject.
struct Token<'a> {
    revision: u64,
    submitted_at_ms: u64,
    reply: &'a str,
}

fn encode_token(revision: u64, submitted_at_ms: u64, reply: &str) -> String {
    format!("{revision} {submitted_at_ms} {reply}")
}

fn decode_token(lease: &Lease) -> Result<Token<'_>> {
    let mut parts = lease.token.splitn(3, ' ');
    let revision = parts.next().and_then(|n| n.parse().ok());
    let submitted_at_ms = parts.next().and_then(|n| n.parse().ok());
    match (revision, submitted_at_ms, parts.next()) {
        (Some(revision), Some(submitted_at_ms), Some(reply)) => Ok(Token {
            revision,
            submitted_at_ms,
            reply,
        }),
        _ => Err(CoordError::LeaseLost {
            task: lease.id.clone(),
            attempt: lease.attempt,
        }),
    }
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

        Ok(Self {
            inner: Arc::new(Inner {
                client,
                js,
                stream,
                tasks,
                config,
                prefix: prefix.to_owned(),
                consumers: tokio::sync::Mutex::new(HashMap::new()),
                maybe_ready: Arc::new(Mutex::new(BTreeMap::new())),
                woken: Arc::new(Notify::new()),
                wake_listener: OnceCell::new(),
                wakes_sent: Mutex::new(HashMap::new()),
                wake_timers: Mutex::new(tokio::task::JoinSet::new()),
            }),
        })
    }

    /// Subscribes to wake-ups (confirmed by the server) and then reads which keys hold
    /// messages, once per handle: in that order, no submit can fall between the two.
    async fn listen(&self) -> Result<()> {
        self.inner
            .wake_listener
            .get_or_try_init(|| async {
                let inner = &self.inner;
                let mut wakes = inner
                    .client
                    .subscribe(format!("{}.wake.>", inner.prefix))
                    .await
                    .map_err(|e| CoordError::backend("subscribe to task wake-ups", e))?;
                super::round_trip(&inner.client).await?;
                let maybe_ready = Arc::clone(&inner.maybe_ready);
                let woken = Arc::clone(&inner.woken);
                let listener = WakeListener(tokio::spawn(async move {
                    while let Some(msg) = wakes.next().await {
                        if let Some(key) = msg.subject.rsplit('.').next() {
                            mark_ready(&mut lock(&maybe_ready), key);
                        }
                        woken.notify_waiters();
                    }
                }));
                self.refresh_ready().await?;
                Ok(listener)
            })
            .await
            .map(drop)
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
                mark_ready(&mut ready, key);
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

    /// Keys this worker may take from and that may hold messages, highest priority first, each
    /// with its wake-up count.
    fn candidate_keys(&self, capabilities: &Capabilities) -> Vec<(String, u64)> {
        let ready = lock(&self.inner.maybe_ready);
        let mut keys: Vec<(Priority, &String, u64)> = ready
            .iter()
            .filter(|(_, state)| state.ready)
            .filter_map(|(key, state)| {
                let (priority, requires) = parse_key(key)?;
                requires
                    .is_subset(capabilities)
                    .then_some((priority, key, state.wakes))
            })
            .collect();
        keys.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        keys.into_iter()
            .map(|(_, key, wakes)| (key.clone(), wakes))
            .collect()
    }

    /// After a fetch came back short: the key is empty unless a wake-up arrived meanwhile.
    fn mark_drained(&self, key: &str, wakes_before: u64) {
        if let Some(state) = lock(&self.inner.maybe_ready).get_mut(key)
            && state.wakes == wakes_before
        {
            state.ready = false;
        }
    }

    /// Tells leasing handles that `key` has new messages (all of them stored by now): at once,
    /// or at the end of the current coalescing window if this handle sent one within it.
    async fn wake(&self, key: &str) -> Result<()> {
        let now = Instant::now();
        let due = {
            let mut sent = lock(&self.inner.wakes_sent);
            match sent.get_mut(key) {
                Some(last) if now < last.at + WAKE_COALESCE => {
                    if last.trailing {
                        // The trailing wake-up is sent after this point, so it covers us.
                        return Ok(());
                    }
                    last.trailing = true;
                    Some(last.at + WAKE_COALESCE)
                }
                Some(last) => {
                    last.at = now;
                    None
                }
                None => {
                    sent.insert(
                        key.to_owned(),
                        WakeSent {
                            at: now,
                            trailing: false,
                        },
                    );
                    None
                }
            }
        };
        let subject = format!("{}.wake.{key}", self.inner.prefix);
        let Some(due) = due else {
            return self
                .inner
                .client
                .publish(subject, Bytes::new())
                .await
                .map_err(|e| CoordError::backend("publish task wake-up", e));
        };
        let inner = Arc::downgrade(&self.inner);
        let key = key.to_owned();
        let mut timers = lock(&self.inner.wake_timers);
        while timers.try_join_next().is_some() {}
        timers.spawn(async move {
            tokio::time::sleep_until(due).await;
            let Some(inner) = inner.upgrade() else { return };
            // Reopen the window before publishing: a submit that finds it open after this
            // point schedules its own wake-up, one that found `trailing` set is covered by
            // the publish below.
            if let Some(last) = lock(&inner.wakes_sent).get_mut(&key) {
                last.at = Instant::now();
                last.trailing = false;
            }
            if let Err(e) = inner.client.publish(subject, Bytes::new()).await {
                tracing::warn!(error = %e, key, "trailing task wake-up not sent; workers see the task at their next refresh");
            }
        });
        Ok(())
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
        let (id, submitted) = decode_message(&message.payload);
        // Fast path: if nothing touched the task since submit, the state the message carries is
        // the stored one, and a compare-and-set on the creation revision proves it.
        if let Some((info, revision)) = submitted
            && info.id == id
            && delivered <= info.spec.max_attempts
            && let Some(lease) = self
                .lease_at(info, revision, delivered, worker, &reply)
                .await?
        {
            return Ok(Some(lease));
        }
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
            if let TaskState::Leased { attempt, .. } = &info.state
                && *attempt > delivered
            {
                // A stale copy of a delivery someone else already holds (we were slower than
                // the lease time between fetch and claim): leave the message to them.
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
            if let Some(lease) = self
                .lease_at(info, revision, delivered, worker, &reply)
                .await?
            {
                return Ok(Some(lease));
            }
        }
        Err(CoordError::Backend {
            operation: "lease task",
            message: format!("task {id} state kept changing under us"),
        })
    }

    /// Marks `info` leased to `worker` for this delivery if it is still at `revision`;
    /// `None` when something else changed it first.
    async fn lease_at(
        &self,
        mut info: TaskInfo,
        revision: u64,
        delivered: u32,
        worker: &WorkerSpec,
        reply: &str,
    ) -> Result<Option<Lease>> {
        info.attempts = delivered;
        info.set_state(TaskState::Leased {
            worker: worker.id.clone(),
            attempt: delivered,
        });
        let Some(revision) = self.update(&info, revision).await? else {
            return Ok(None);
        };
        Ok(Some(
            self.lease_of(info, delivered, worker, revision, reply),
        ))
    }

    fn lease_of(
        &self,
        info: TaskInfo,
        attempt: u32,
        worker: &WorkerSpec,
        revision: u64,
        reply: &str,
    ) -> Lease {
        Lease {
            token: encode_token(revision, info.submitted_at_ms, reply),
            id: info.id,
            spec: info.spec,
            attempt,
            worker: worker.id.clone(),
            duration: self.inner.config.lease_duration,
        }
    }

    /// Up to `want` deliveries from one key's consumer in one pull request.
    async fn fetch(&self, consumer: &PullConsumer, want: usize) -> Result<Vec<jetstream::Message>> {
        consumer
            .fetch()
            .max_messages(want)
            .messages()
            .await
            .map_err(|e| CoordError::backend("fetch tasks", e))?
            .try_collect()
            .await
            .map_err(|e| CoordError::backend("fetch tasks", e))
    }

    /// Up to `max` leases from the keys that may hold messages, best first, without waiting.
    async fn try_lease(&self, worker: &WorkerSpec, max: usize) -> Result<Vec<Lease>> {
        let mut leases = Vec::new();
        let mut failure = None;
        'keys: for (key, wakes) in self.candidate_keys(&worker.capabilities) {
            let consumer = match self.consumer(&key).await {
                Ok(consumer) => consumer,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            loop {
                let want = max - leases.len();
                let messages = match self.fetch(&consumer, want).await {
                    Ok(messages) => messages,
                    // Leases claimed from earlier keys are returned, not dropped.
                    Err(e) => {
                        failure = Some(e);
                        break 'keys;
                    }
                };
                let claims = futures::future::join_all(
                    messages.iter().map(|message| self.claim(message, worker)),
                )
                .await;
                for claim in claims {
                    match claim {
                        Ok(Some(lease)) => leases.push(lease),
                        Ok(None) => {}
                        // The message stays unacked, so the server delivers it again after
                        // the lease time; the leases already claimed must not be dropped.
                        Err(e) => failure = Some(e),
                    }
                }
                if failure.is_some() {
                    break 'keys;
                }
                if leases.len() >= max {
                    break;
                }
                if messages.len() < want {
                    self.mark_drained(&key, wakes);
                    break;
                }
            }
            if leases.len() >= max {
                break;
            }
        }
        match failure {
            Some(e) if leases.is_empty() => Err(e),
            Some(e) => {
                tracing::warn!(
                    error = %e,
                    leased = leases.len(),
                    "leasing stopped early; a task fetched but not claimed is redelivered after the lease time"
                );
                Ok(leases)
            }
            None => Ok(leases),
        }
    }

    /// `lease_many` for both trait methods: wait for wake-ups, refresh now and then.
    async fn lease_up_to(
        &self,
        worker: &WorkerSpec,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Lease>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.listen().await?;
        let give_up = Instant::now() + wait;
        loop {
            let woken = self.inner.woken.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let leases = self.try_lease(worker, max).await?;
            if !leases.is_empty() {
                return Ok(leases);
            }
            let now = Instant::now();
            if now >= give_up {
                return Ok(leases);
            }
            let _ = tokio::time::timeout_at(give_up.min(now + REFRESH_EVERY), woken).await;
            self.refresh_ready().await?;
        }
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

fn mark_ready(ready: &mut BTreeMap<String, KeyState>, key: &str) {
    let state = ready.entry(key.to_owned()).or_default();
    state.ready = true;
    state.wakes += 1;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl TaskQueue for NatsQueue {
    async fn submit(&self, spec: TaskSpec) -> Result<TaskId> {
        let mut ids = self.submit_many(vec![spec]).await?;
        ids.pop().ok_or_else(|| CoordError::Backend {
            operation: "submit task",
            message: "no id came back for the one task submitted".to_owned(),
        })
    }

    async fn submit_many(&self, specs: Vec<TaskSpec>) -> Result<Vec<TaskId>> {
        specs.iter().try_for_each(TaskSpec::validate)?;
        let tasks: Vec<(String, TaskInfo)> = specs
            .into_iter()
            .map(|spec| {
                let key = key(spec.priority, &spec.requires);
                (key, TaskInfo::new(TaskId::generate(), spec))
            })
            .collect();
        let prefix = &self.inner.prefix;
        let mut ids = Vec::with_capacity(tasks.len());
        for chunk in tasks.chunks(PIPELINE) {
            // State first, so whoever gets a message finds its task; the creates overlap.
            let revisions = futures::future::try_join_all(chunk.iter().map(|(_, info)| async {
                let json = serde_json::to_vec(info).map_err(codec("task state"))?;
                self.inner
                    .tasks
                    .create(&info.id.0, json.into())
                    .await
                    .map_err(|e| CoordError::backend("store task state", e))
            }))
            .await?;
            // Then the messages, sent in order (FIFO per key), their acks awaited together.
            let mut acks = Vec::with_capacity(chunk.len());
            for ((key, info), revision) in chunk.iter().zip(revisions) {
                let message = serde_json::to_vec(&TaskMessageOut {
                    revision,
                    task: info,
                })
                .map_err(codec("task message"))?;
                let ack = self
                    .inner
                    .js
                    .publish(format!("{prefix}.tasks.{key}"), message.into())
                    .await
                    .map_err(|e| CoordError::backend("publish task to JetStream", e))?;
                acks.push(async move {
                    ack.into_future()
                        .await
                        .map_err(|e| CoordError::backend("publish task to JetStream", e))
                });
            }
            futures::future::try_join_all(acks).await?;
            let keys: BTreeSet<&str> = chunk.iter().map(|(key, _)| key.as_str()).collect();
            for key in keys {
                self.wake(key).await?;
            }
            ids.extend(chunk.iter().map(|(_, info)| info.id.clone()));
        }
        Ok(ids)
    }

    async fn lease(&self, worker: &WorkerSpec, wait: Duration) -> Result<Option<Lease>> {
        Ok(self.lease_up_to(worker, 1, wait).await?.pop())
    }

    async fn lease_many(
        &self,
        worker: &WorkerSpec,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Lease>> {
        self.lease_up_to(worker, max, wait).await
    }

    async fn ack(&self, lease: &Lease, result: serde_json::Value) -> Result<()> {
        let token = decode_token(lease)?;
        let lost = || CoordError::LeaseLost {
            task: lease.id.clone(),
            attempt: lease.attempt,
        };
        // The state our lease stored, rebuilt: a compare-and-set on the revision it got
        // succeeds only if nothing changed since, so no read is needed first.
        let mut info = TaskInfo {
            id: lease.id.clone(),
            spec: lease.spec.clone(),
            state: TaskState::Pending,
            attempts: lease.attempt,
            submitted_at_ms: token.submitted_at_ms,
            updated_at_ms: 0,
        };
        info.set_state(TaskState::Completed {
            worker: lease.worker.clone(),
            attempt: lease.attempt,
            result,
        });
        if self.update(&info, token.revision).await?.is_none() {
            // Something wrote since: still ours only if the stored state still says so.
            let (mut held, revision) = self.held(lease).await?;
            held.set_state(info.state);
            self.update(&held, revision).await?.ok_or_else(lost)?;
        }
        // The state is final now, so the message ack need not wait for the server: if it is
        // lost, the redelivery finds the task completed and `claim` terminates it.
        self.reply(token.reply, AckKind::Ack, false).await
    }

    async fn nak(&self, lease: &Lease, delay: Duration, reason: &str) -> Result<()> {
        let reply = decode_token(lease)?.reply;
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
        let reply = decode_token(lease)?.reply;
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
