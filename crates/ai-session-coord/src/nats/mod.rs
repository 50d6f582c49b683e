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
        // Messages a subscriber has not read yet; beyond this the client drops (at-most-once,
        // like NATS itself). Large enough for bursts of small messages.
        .subscription_capacity(1 << 18)
        .connect(url)
        .await
        .map_err(|e| CoordError::Backend {
            operation: "connect to NATS",
            message: format!("{url}: {e}; is `nats-server -js` running there?"),
        })
}

/// Waits until the server has processed everything this connection sent before: a message to
/// a fresh inbox we subscribe to comes back only after the server handled all earlier
/// operations of this connection. (`Client::flush` only writes the socket buffer.)
pub async fn round_trip(client: &async_nats::Client) -> Result<()> {
    use futures::StreamExt;
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(30);
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| CoordError::backend("round trip to the NATS server", e))?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(|e| CoordError::backend("round trip to the NATS server", e))?;
    match tokio::time::timeout(LIMIT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(CoordError::Closed("NATS connection closed".to_owned())),
        Err(_) => Err(CoordError::backend(
            "round trip to the NATS server",
            format!("no echo within {LIMIT:?}"),
        )),
    }
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
