//! Tasks, their states and leases: the data both queue backends store.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{CoordError, Result};

/// A task id: 14 hex digits of submit time in µs (strictly increasing within a process), then
/// 6 random hex digits, so ids sort by submission and are unique across processes and machines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub String);

impl TaskId {
    /// A fresh id.
    pub fn generate() -> Self {
        static LAST: AtomicU64 = AtomicU64::new(0);
        let now = unix_micros();
        let previous = LAST
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        let stamp = now.max(previous + 1);
        let random = rand::random::<u32>() & 0xff_ffff;
        Self(format!("{stamp:014x}{random:06x}"))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TaskId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch (wall clock, for records shown to people).
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A set of capability names, e.g. `{"python", "rust"}`; sorted so equal sets compare equal.
pub type Capabilities = BTreeSet<String>;

/// Builds a validated capability set from names such as `["rust", "python"]`.
pub fn capabilities<I, S>(names: I) -> Result<Capabilities>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    names
        .into_iter()
        .map(|name| {
            let name = name.as_ref().trim();
            validate_capability(name)?;
            Ok(name.to_owned())
        })
        .collect()
}

/// Capability names are `[a-z0-9][a-z0-9-]*`, at most 64 bytes, because the NATS backend
/// turns them into subject tokens and consumer names.
pub fn validate_capability(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CoordError::InvalidCapability {
            name: name.to_owned(),
        })
    }
}

/// Task priority: higher is leased first; FIFO among tasks of one priority and one set of
/// required capabilities.
///
/// Four levels, because the NATS backend keeps one work-queue subject per level and polls
/// them in order; exact ordering over 256 levels would cost 256 polls per lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    /// Background work.
    pub const LOW: Self = Self(0);
    /// The default.
    pub const NORMAL: Self = Self(1);
    /// Ahead of normal work.
    pub const HIGH: Self = Self(2);
    /// Ahead of everything.
    pub const URGENT: Self = Self(3);
    /// The highest level.
    pub const MAX: u8 = 3;

    /// A priority from its level `0..=3`.
    pub fn new(level: u8) -> Result<Self> {
        if level > Self::MAX {
            return Err(CoordError::InvalidPriority {
                priority: level,
                max: Self::MAX,
            });
        }
        Ok(Self(level))
    }

    /// The level `0..=3`.
    pub fn level(self) -> u8 {
        self.0
    }

    /// All levels, highest first (the order leases look at them).
    pub fn descending() -> impl Iterator<Item = Self> {
        (0..=Self::MAX).rev().map(Self)
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::NORMAL
    }
}

/// What to run: submitted by a producer, leased by a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Capabilities a worker must all have to lease this task.
    pub requires: Capabilities,
    /// Higher is leased first.
    #[serde(default)]
    pub priority: Priority,
    /// Deliveries allowed before the task is dead-lettered (a nak or an expired lease ends one).
    pub max_attempts: u32,
    /// The work itself, opaque to the queue (the CLI puts `{"command": ...}` here).
    pub payload: serde_json::Value,
}

impl TaskSpec {
    /// Default number of deliveries before dead-lettering.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

    /// A task with this payload, no requirements, normal priority and 3 attempts.
    pub fn new(payload: serde_json::Value) -> Self {
        Self {
            requires: Capabilities::new(),
            priority: Priority::NORMAL,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            payload,
        }
    }

    /// Requires these capabilities (validated).
    pub fn requiring<I, S>(mut self, names: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.requires = capabilities(names)?;
        Ok(self)
    }

    /// With this priority.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// With this many deliveries before dead-lettering (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Whether a worker with `capabilities` may run this task.
    pub fn can_run_on(&self, capabilities: &Capabilities) -> bool {
        self.requires.is_subset(capabilities)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.requires
            .iter()
            .try_for_each(|c| validate_capability(c))?;
        Priority::new(self.priority.level())?;
        Ok(())
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a worker.
    Pending,
    /// Held by a worker until the lease expires (unless kept alive).
    Leased {
        /// The worker holding it.
        worker: String,
        /// Which delivery this is (1 for the first).
        attempt: u32,
    },
    /// Acknowledged with a result; final.
    Completed {
        /// The worker that completed it.
        worker: String,
        /// The attempt that completed it.
        attempt: u32,
        /// What the worker reported.
        result: serde_json::Value,
    },
    /// Gave up after `max_attempts` deliveries; final.
    DeadLettered {
        /// The last failure, e.g. "lease expired" or the worker's nak reason.
        reason: String,
    },
}

impl TaskState {
    /// Whether the task will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed { .. } | Self::DeadLettered { .. })
    }

    /// A short name: `pending`, `leased`, `completed`, `dead_lettered`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Leased { .. } => "leased",
            Self::Completed { .. } => "completed",
            Self::DeadLettered { .. } => "dead_lettered",
        }
    }
}

/// A task with its state, as `status`, `list` and `wait` report it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The id `submit` returned.
    pub id: TaskId,
    /// What was submitted.
    pub spec: TaskSpec,
    /// Where it is now.
    #[serde(flatten)]
    pub state: TaskState,
    /// Deliveries so far.
    pub attempts: u32,
    /// Submit time, ms since the Unix epoch.
    pub submitted_at_ms: u64,
    /// Last change, ms since the Unix epoch.
    pub updated_at_ms: u64,
}

impl TaskInfo {
    pub(crate) fn new(id: TaskId, spec: TaskSpec) -> Self {
        let now = unix_millis();
        Self {
            id,
            spec,
            state: TaskState::Pending,
            attempts: 0,
            submitted_at_ms: now,
            updated_at_ms: now,
        }
    }

    pub(crate) fn set_state(&mut self, state: TaskState) {
        self.state = state;
        self.updated_at_ms = unix_millis();
    }
}

/// Who is asking for work and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// A name unique among live workers (shown in task states).
    pub id: String,
    /// What it can run.
    pub capabilities: Capabilities,
}

impl WorkerSpec {
    /// A worker with these capabilities (validated).
    pub fn new<I, S>(id: impl Into<String>, capability_names: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self {
            id: id.into(),
            capabilities: capabilities(capability_names)?,
        })
    }
}

/// A task held by one worker until `ack`, `nak`, or expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// The task's id.
    pub id: TaskId,
    /// What to run.
    pub spec: TaskSpec,
    /// Which delivery this is (1 for the first).
    pub attempt: u32,
    /// The worker holding the lease.
    pub worker: String,
    /// How long the lease lasts from now (and from each keep-alive).
    pub duration: Duration,
    /// Backend token that identifies this delivery (the JetStream ack subject for NATS).
    pub token: String,
}
