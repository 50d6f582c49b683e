//! The bus over NATS core pub/sub (at-most-once, like the server; per-connection order).

use std::time::Duration;

use async_nats::client::RequestErrorKind;
use bytes::Bytes;

use crate::bus::{Message, MessageBus, Subscription};
use crate::error::{CoordError, Result};
use crate::topic;

/// [`MessageBus`] over a NATS connection. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct NatsBus {
    client: async_nats::Client,
}

impl NatsBus {
    /// Connects to `url` (e.g. `nats://127.0.0.1:4222`).
    pub async fn connect(url: &str) -> Result<Self> {
        Ok(Self::from_client(super::connect(url).await?))
    }

    /// Uses an existing connection.
    pub fn from_client(client: async_nats::Client) -> Self {
        Self { client }
    }

    /// The underlying connection.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

impl MessageBus for NatsBus {
    async fn publish(&self, topic_name: &str, payload: Bytes) -> Result<()> {
        topic::validate_topic(topic_name)?;
        self.client
            .publish(topic_name.to_owned(), payload)
            .await
            .map_err(|e| CoordError::backend("publish to NATS", e))
    }

    async fn subscribe(&self, pattern: &str) -> Result<Subscription> {
        topic::validate_pattern(pattern)?;
        let subscriber = self
            .client
            .subscribe(pattern.to_owned())
            .await
            .map_err(|e| CoordError::backend("subscribe on NATS", e))?;
        // The server only routes to a subscription it has processed: wait for the round trip so
        // a publish after `subscribe` returns is not lost.
        self.flush().await?;
        Ok(Subscription::nats(subscriber))
    }

    async fn request(
        &self,
        topic_name: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Message> {
        topic::validate_topic(topic_name)?;
        let request = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(timeout));
        match self
            .client
            .send_request(topic_name.to_owned(), request)
            .await
        {
            Ok(msg) => Ok(Message {
                topic: msg.subject.to_string(),
                payload: msg.payload,
                reply: msg.reply.map(|r| r.to_string()),
            }),
            Err(e) => Err(match e.kind() {
                RequestErrorKind::NoResponders => CoordError::NoResponders {
                    topic: topic_name.to_owned(),
                },
                RequestErrorKind::TimedOut => CoordError::Timeout {
                    topic: topic_name.to_owned(),
                    timeout,
                },
                _ => CoordError::backend("request over NATS", e),
            }),
        }
    }

    async fn flush(&self) -> Result<()> {
        super::round_trip(&self.client).await
    }
}
