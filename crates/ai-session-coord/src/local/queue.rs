//! In-process task queue. Timers (lease expiry, nak delay) are applied lazily by every
//! operation, so there is no background task to own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{CoordError, Result};
use crate::queue::{QueueConfig, TaskQueue};
use crate::task::{
    Capabilities, Lease, Priority, TaskId, TaskInfo, TaskSpec, TaskState, WorkerSpec,
};

/// The in-process [`TaskQueue`]. Cheap to clone; clones share tasks.
#[derive(Clone)]
pub struct LocalQueue {
    config: QueueConfig,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    // Woken on every change; waiters re-check under the lock.
    changed: Notify,
}

#[derive(Default)]
struct State {
    tasks: HashMap<TaskId, Entry>,
    // Ready tasks by (required capabilities, priority), ordered by submit sequence.
    ready: HashMap<(Capabilities, Priority), BTreeSet<(u64, TaskId)>>,
    delayed: BTreeMap<(Instant, u64), TaskId>,
    leased: BTreeMap<(Instant, u64), TaskId>,
    next_seq: u64,
    next_token: u64,
}

struct Entry {
    info: TaskInfo,
    seq: u64,
    // (deadline, token) of the live lease.
    lease: Option<(Instant, u64)>,
}

impl LocalQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                changed: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.apply_timers(Instant::now()) {
            self.shared.changed.notify_waiters();
        }
        state
    }

    fn settle(&self, lease: &Lease, next: impl FnOnce(&mut State, &TaskId)) -> Result<()> {
        let mut state = self.lock();
        state.take_lease(lease)?;
        next(&mut state, &lease.id);
        drop(state);
        self.shared.changed.notify_waiters();
        Ok(())
    }
}

impl Default for LocalQueue {
    fn default() -> Self {
        Self::new(QueueConfig::default())
    }
}

impl State {
    /// Moves due delayed tasks to ready and expired leases back to ready (or dead letters).
    fn apply_timers(&mut self, now: Instant) -> bool {
        let mut changed = false;
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            self.make_ready(&id);
            changed = true;
        }
        while let Some(entry) = self.leased.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            if let Some(task) = self.tasks.get_mut(&id) {
                task.lease = None;
            }
            self.retry_or_dead_letter(&id, Duration::ZERO, "lease expired");
            changed = true;
        }
        changed
    }

    fn make_ready(&mut self, id: &TaskId) {
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        task.info.set_state(TaskState::Pending);
        let key = (task.info.spec.requires.clone(), task.info.spec.priority);
        self.ready
            .entry(key)
            .or_default()
            .insert((task.seq, id.clone()));
    }

    fn retry_or_dead_letter(&mut self, id: &TaskId, delay: Duration, reason: &str) {
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        if task.info.attempts >= task.info.spec.max_attempts {
            let attempts = task.info.attempts;
            task.info.set_state(TaskState::DeadLettered {
                reason: reason.to_owned(),
            });
            tracing::warn!(task = %id, attempts, reason, "task dead-lettered");
        } else if delay.is_zero() {
            self.make_ready(id);
        } else {
            task.info.set_state(TaskState::Pending);
            let seq = task.seq;
            self.delayed
                .insert((Instant::now() + delay, seq), id.clone());
        }
    }

    fn best_ready(
        &self,
        capabilities: &Capabilities,
    ) -> Option<(Capabilities, Priority, u64, TaskId)> {
        for priority in Priority::descending() {
            let best = self
                .ready
                .iter()
                .filter(|((requires, p), _)| *p == priority && requires.is_subset(capabilities))
                .filter_map(|((requires, _), tasks)| {
                    tasks.first().map(|(seq, id)| (requires, *seq, id))
                })
                .min_by_key(|(_, seq, _)| *seq);
            if let Some((requires, seq, id)) = best {
                return Some((requires.clone(), priority, seq, id.clone()));
            }
        }
        None
    }

    fn lease(&mut self, worker: &WorkerSpec, duration: Duration) -> Option<Lease> {
        let (requires, priority, seq, id) = self.best_ready(&worker.capabilities)?;
        let key = (requires, priority);
        if let Some(tasks) = self.ready.get_mut(&key) {
            tasks.remove(&(seq, id.clone()));
            if tasks.is_empty() {
                self.ready.remove(&key);
            }
        }
        self.next_token += 1;
        let token = self.next_token;
        let deadline = Instant::now() + duration;
        let task = self.tasks.get_mut(&id)?;
        task.info.attempts += 1;
        let attempt = task.info.attempts;
        task.info.set_state(TaskState::Leased {
            worker: worker.id.clone(),
            attempt,
        });
        task.lease = Some((deadline, token));
        let spec = task.info.spec.clone();
        self.leased.insert((deadline, token), id.clone());
        Some(Lease {
            id,
            spec,
            attempt,
            worker: worker.id.clone(),
            duration,
            token: token.to_string(),
        })
    }

    /// Ends the live lease if `lease` is it; the caller decides the task's next state.
    fn take_lease(&mut self, lease: &Lease) -> Result<()> {
        let lost = || CoordError::LeaseLost {
            task: lease.id.clone(),
            attempt: lease.attempt,
        };
        let task = self
            .tasks
            .get_mut(&lease.id)
            .ok_or_else(|| CoordError::UnknownTask(lease.id.clone()))?;
        let (deadline, token) = task.lease.ok_or_else(lost)?;
        if token.to_string() != lease.token {
            return Err(lost());
        }
        task.lease = None;
        self.leased.remove(&(deadline, token));
        Ok(())
    }

    fn next_timer(&self) -> Option<Instant> {
        let delayed = self.delayed.keys().next().map(|k| k.0);
        let leased = self.leased.keys().next().map(|k| k.0);
        delayed.into_iter().chain(leased).min()
    }
}

impl TaskQueue for LocalQueue {
    async fn submit(&self, spec: TaskSpec) -> Result<TaskId> {
        spec.validate()?;
        let id = TaskId::generate();
        let mut state = self.lock();
        state.next_seq += 1;
        let seq = state.next_seq;
        state.tasks.insert(
            id.clone(),
            Entry {
                info: TaskInfo::new(id.clone(), spec),
                seq,
                lease: None,
            },
        );
        state.make_ready(&id);
        drop(state);
        self.shared.changed.notify_waiters();
        Ok(id)
    }

    async fn lease(&self, worker: &WorkerSpec, wait: Duration) -> Result<Option<Lease>> {
        let give_up = Instant::now() + wait;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wake_at = {
                let mut state = self.lock();
                if let Some(lease) = state.lease(worker, self.config.lease_duration) {
                    return Ok(Some(lease));
                }
                state.next_timer().map_or(give_up, |t| t.min(give_up))
            };
            if Instant::now() >= give_up {
                return Ok(None);
            }
            let _ = tokio::time::timeout_at(wake_at, changed).await;
        }
    }

    async fn ack(&self, lease: &Lease, result: serde_json::Value) -> Result<()> {
        self.settle(lease, |state, id| {
            if let Some(task) = state.tasks.get_mut(id) {
                let attempt = task.info.attempts;
                task.info.set_state(TaskState::Completed {
                    worker: lease.worker.clone(),
                    attempt,
                    result,
                });
            }
        })
    }

    async fn nak(&self, lease: &Lease, delay: Duration, reason: &str) -> Result<()> {
        self.settle(lease, |state, id| {
            state.retry_or_dead_letter(id, delay, reason)
        })
    }

    async fn keep_alive(&self, lease: &Lease) -> Result<()> {
        let mut state = self.lock();
        state.take_lease(lease)?;
        let deadline = Instant::now() + self.config.lease_duration;
        let token: u64 = lease.token.parse().unwrap_or_default();
        if let Some(task) = state.tasks.get_mut(&lease.id) {
            task.lease = Some((deadline, token));
        }
        state.leased.insert((deadline, token), lease.id.clone());
        Ok(())
    }

    async fn status(&self, id: &TaskId) -> Result<TaskInfo> {
        self.lock()
            .tasks
            .get(id)
            .map(|t| t.info.clone())
            .ok_or_else(|| CoordError::UnknownTask(id.clone()))
    }

    async fn list(&self) -> Result<Vec<TaskInfo>> {
        let mut tasks: Vec<TaskInfo> = self.lock().tasks.values().map(|t| t.info.clone()).collect();
        tasks.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tasks)
    }

    async fn wait(&self, id: &TaskId, timeout: Duration) -> Result<TaskInfo> {
        let give_up = Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wake_at = {
                let state = self.lock();
                let task = state
                    .tasks
                    .get(id)
                    .ok_or_else(|| CoordError::UnknownTask(id.clone()))?;
                if task.info.state.is_final() {
                    return Ok(task.info.clone());
                }
                state.next_timer().map_or(give_up, |t| t.min(give_up))
            };
            if Instant::now() >= give_up {
                return Err(CoordError::WaitTimeout {
                    task: id.clone(),
                    timeout,
                });
            }
            let _ = tokio::time::timeout_at(wake_at, changed).await;
        }
    }
}
