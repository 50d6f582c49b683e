//! NATS backend: core pub/sub for the bus, JetStream work-queue streams and KV for tasks, KV with
//! a TTL for the registry. Every handle connects to one server (or cluster) at `url`; handles
//! with the same `prefix` share one queue and one registry, across processes and machines.
//!
//! Names used on the server for prefix `P` (letters, digits, `-`, `_`):
//! stream `P_TASKS` (subjects `P.tasks.<key>`, one durable pull consumer per key, where the key
//! is the priority and the sorted required capabilities, e.g. `p1_python_rust`), KV buckets
//! `P_tasks` (task state) and `P_agents` (registry), wake-up subjects `P.wake.<key>`.

mod bus;
mod queue;
mod registry;
mod server;

pub use bus::NatsBus;
pub use queue::NatsQueue;
pub use registry::NatsRegistry;
pub use server::{NatsServer, NatsServerError};

use crate::error::{CoordError, Result};

/// The prefix used when none is given.
pub const DEFAULT_PREFIX: &str = "aisession";

/// Connects a client, naming the URL in the error.
pub async fn connect(url: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name("ai-session-coord")
        .connect(url)
        .await
        .map_err(|e| CoordError::Backend {
            operation: "connect to NATS",
            message: format!("{url}: {e}; is `nats-server -js` running there?"),
        })
}

fn validate_prefix(prefix: &str) -> Result<()> {
    let ok = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CoordError::InvalidTopic {
            topic: prefix.to_owned(),
            reason: "a NATS prefix is letters, digits, '-' and '_' only",
        })
    }
}
