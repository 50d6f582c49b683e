//! The message bus: publish to a topic, subscribe to a pattern, request/reply.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::Result;

/// One message as a subscriber receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published to.
    pub topic: String,
    /// The body, opaque to the bus.
    pub payload: Bytes,
    /// Where to send the reply, for requests.
    pub reply: Option<String>,
}

/// Messages for one subscription, in publish order per publisher.
///
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Local(mpsc::Receiver<Message>),
    #[cfg(feature = "nats")]
    Nats(async_nats::Subscriber),
}

#[cfg(feature = "nats")]
fn from_nats(msg: async_nats::Message) -> Message {
    Message {
        topic: msg.subject.to_string(),
        payload: msg.payload,
        reply: msg.reply.map(|r| r.to_string()),
    }
}

impl Subscription {
    pub(crate) fn local(receiver: mpsc::Receiver<Message>) -> Self {
        Self {
            source: Source::Local(receiver),
        }
    }

    #[cfg(feature = "nats")]
    pub(crate) fn nats(subscriber: async_nats::Subscriber) -> Self {
        Self {
            source: Source::Nats(subscriber),
        }
    }

    /// The next message; `None` when the bus is gone.
    pub async fn recv(&mut self) -> Option<Message> {
        match &mut self.source {
            Source::Local(receiver) => receiver.recv().await,
            #[cfg(feature = "nats")]
            Source::Nats(subscriber) => {
                use futures::StreamExt;
                subscriber.next().await.map(from_nats)
            }
        }
    }

    /// The next message if one is already here.
    pub fn try_recv(&mut self) -> Option<Message> {
        match &mut self.source {
            Source::Local(receiver) => receiver.try_recv().ok(),
            #[cfg(feature = "nats")]
            Source::Nats(subscriber) => {
                use futures::{FutureExt, StreamExt};
                subscriber.next().now_or_never().flatten().map(from_nats)
            }
        }
    }

    /// Up to `limit` messages appended to `buffer`, waiting for at least one; returns how many
    /// (0 when the bus is gone). Cheaper per message than `recv` for high-rate consumers.
    pub async fn recv_many(&mut self, buffer: &mut Vec<Message>, limit: usize) -> usize {
        match &mut self.source {
            Source::Local(receiver) => receiver.recv_many(buffer, limit).await,
            #[cfg(feature = "nats")]
            Source::Nats(_) => {
                let Some(first) = self.recv().await else {
                    return 0;
                };
                buffer.push(first);
                let mut got = 1;
                while got < limit {
                    let Some(next) = self.try_recv() else { break };
                    buffer.push(next);
                    got += 1;
                }
                got
            }
        }
    }
}

/// Capacity of each subscription's buffer; a publisher waits when a subscriber is this far behind
/// (backpressure instead of unbounded memory or silently dropped messages).
pub const SUBSCRIPTION_BUFFER: usize = 8192;

/// Publish/subscribe with NATS subject rules (see [`crate::topic`]).
///
/// Guarantees every backend keeps: messages from one publisher arrive in publish order at each
/// subscriber; every subscription whose pattern matches gets its own copy (broadcast); a
/// subscription is active when `subscribe` returns, so a later `publish` reaches it.
pub trait MessageBus: Send + Sync + 'static {
    /// Sends `payload` to every subscription matching `topic`.
    fn publish(&self, topic: &str, payload: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// Subscribes to a pattern (`*` = one token, final `>` = the rest).
    fn subscribe(&self, pattern: &str) -> impl Future<Output = Result<Subscription>> + Send;

    /// Sends a request and waits up to `timeout` for the first reply. A responder answers by
    /// publishing to the request's [`Message::reply`] topic.
    fn request(
        &self,
        topic: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Result<Message>> + Send;

    /// Waits until everything published so far has been handed to the transport's peer
    /// (a server round trip for NATS; immediate in process).
    fn flush(&self) -> impl Future<Output = Result<()>> + Send;
}
