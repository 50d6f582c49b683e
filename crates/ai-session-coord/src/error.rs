//! The one error type of this crate.

use std::time::Duration;

use crate::task::TaskId;

/// What went wrong in a bus, queue or registry operation.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// A topic or pattern is not a valid dot-separated subject.
    #[error("invalid topic {topic:?}: {reason}")]
    InvalidTopic {
        /// The rejected topic or pattern.
        topic: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A capability name is not `[a-z0-9][a-z0-9-]*` (at most 64 bytes).
    #[error(
        "invalid capability {name:?}: use lowercase letters, digits and '-', starting with a letter or digit, at most 64 bytes"
    )]
    InvalidCapability {
        /// The rejected name.
        name: String,
    },
    /// A task priority is outside `0..=Priority::MAX`.
    #[error("invalid priority {priority}: use 0 (low) to {max} (urgent)")]
    InvalidPriority {
        /// The rejected priority.
        priority: u8,
        /// The highest accepted priority.
        max: u8,
    },
    /// A request got no reply in time.
    #[error("request on {topic:?} got no reply within {timeout:?}; is a responder subscribed?")]
    Timeout {
        /// The request topic.
        topic: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// A request was sent to a topic nobody subscribes to.
    #[error("no responders on {topic:?}: subscribe a responder before sending requests")]
    NoResponders {
        /// The request topic.
        topic: String,
    },
    /// No task with this id is known to the queue.
    #[error("unknown task {0}: check the id with `task ls`")]
    UnknownTask(TaskId),
    /// The lease is no longer held: it expired (and the task may have gone to another worker),
    /// or the task was already acknowledged or dead-lettered.
    #[error(
        "lease on task {task} (attempt {attempt}) is no longer held: it expired or the task was already settled"
    )]
    LeaseLost {
        /// The task.
        task: TaskId,
        /// The attempt the lease was for.
        attempt: u32,
    },
    /// The agent is not registered (never was, or its heartbeat TTL ran out).
    #[error("agent {0:?} is not registered (or its heartbeat expired): register it again")]
    UnknownAgent(String),
    /// A wait ended before the task settled.
    #[error("task {task} did not settle within {timeout:?}")]
    WaitTimeout {
        /// The task.
        task: TaskId,
        /// How long we waited.
        timeout: Duration,
    },
    /// A value could not be encoded or decoded.
    #[error("could not (de)serialise {what}: {source}")]
    Codec {
        /// What was being (de)serialised.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The backend is shut down or its connection is gone.
    #[error("coordination backend closed: {0}")]
    Closed(String),
    /// An error from the backend (e.g. the NATS server), with the operation that failed.
    #[error("{operation} failed: {message}")]
    Backend {
        /// The operation, e.g. "publish to JetStream".
        operation: &'static str,
        /// The backend's message.
        message: String,
    },
}

impl CoordError {
    /// A backend error for `operation`, keeping the backend's own message.
    pub fn backend(operation: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Backend {
            operation,
            message: err.to_string(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = CoordError> = std::result::Result<T, E>;
