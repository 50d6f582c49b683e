//! ai-session-coord: see README.md.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

pub mod bus;
pub mod distributor;
pub mod error;
pub mod local;
#[cfg(feature = "nats")]
pub mod nats;
pub mod queue;
pub mod registry;
pub mod session;
pub mod task;
pub mod topic;
pub mod worker;

pub use bus::{Message, MessageBus, Subscription};
pub use distributor::{AssignmentStrategy, ByRank, LeastLoaded, RoundRobin, TaskDistributor};
pub use error::{CoordError, Result};
pub use queue::{QueueConfig, TaskQueue};
pub use registry::{AgentInfo, AgentRegistry, RegistryConfig};
pub use session::MultiAgentSession;
pub use task::{Lease, Priority, TaskId, TaskInfo, TaskSpec, TaskState, WorkerSpec};
pub use worker::{
    TaskResultMessage, TaskRunner, WorkerOptions, WorkerStats, result_topic, run_worker,
};
