//! In-process bus: one bounded channel per subscription, patterns matched at publish time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::bus::{Message, MessageBus, SUBSCRIPTION_BUFFER, Subscription};
use crate::error::{CoordError, Result};
use crate::topic;

/// The in-process [`MessageBus`]. Cheap to clone; clones share subscriptions.
#[derive(Clone, Default)]
pub struct LocalBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    subscriptions: RwLock<Vec<Entry>>,
    next_inbox: AtomicU64,
}

struct Entry {
    pattern: String,
    sender: mpsc::Sender<Message>,
}

impl LocalBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    fn deliver(&self, message: Message) -> Vec<mpsc::Sender<Message>> {
        // Fast path under the read lock: try_send never waits. Full subscribers are returned so
        // the caller can wait for them without holding the lock; closed ones are pruned later.
        let mut full = Vec::new();
        let mut saw_closed = false;
        {
            let subscriptions = self
                .inner
                .subscriptions
                .read()
                .unwrap_or_else(|e| e.into_inner());
            for entry in subscriptions.iter() {
                if !topic::matches(&entry.pattern, &message.topic) {
                    continue;
                }
                match entry.sender.try_send(message.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => full.push(entry.sender.clone()),
                    Err(TrySendError::Closed(_)) => saw_closed = true,
                }
            }
        }
        if saw_closed {
            self.prune();
        }
        full
    }

    fn prune(&self) {
        self.inner
            .subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|e| !e.sender.is_closed());
    }

    fn has_subscriber(&self, topic_name: &str) -> bool {
        self.inner
            .subscriptions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|e| !e.sender.is_closed() && topic::matches(&e.pattern, topic_name))
    }

    async fn publish_message(&self, message: Message) -> Result<()> {
        for sender in self.deliver(message.clone()) {
            // Ignore a subscriber that went away meanwhile: it unsubscribed.
            let _ = sender.send(message.clone()).await;
        }
        Ok(())
    }
}

impl MessageBus for LocalBus {
    async fn publish(&self, topic_name: &str, payload: Bytes) -> Result<()> {
        topic::validate_topic(topic_name)?;
        self.publish_message(Message {
            topic: topic_name.to_owned(),
            payload,
            reply: None,
        })
        .await
    }

    async fn subscribe(&self, pattern: &str) -> Result<Subscription> {
        topic::validate_pattern(pattern)?;
        let (sender, receiver) = mpsc::channel(SUBSCRIPTION_BUFFER);
        self.inner
            .subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Entry {
                pattern: pattern.to_owned(),
                sender,
            });
        Ok(Subscription::local(receiver))
    }

    async fn request(
        &self,
        topic_name: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Message> {
        topic::validate_topic(topic_name)?;
        if !self.has_subscriber(topic_name) {
            return Err(CoordError::NoResponders {
                topic: topic_name.to_owned(),
            });
        }
        let inbox = format!(
            "_INBOX.local.{}",
            self.inner.next_inbox.fetch_add(1, Ordering::Relaxed)
        );
        let mut replies = self.subscribe(&inbox).await?;
        self.publish_message(Message {
            topic: topic_name.to_owned(),
            payload,
            reply: Some(inbox),
        })
        .await?;
        match tokio::time::timeout(timeout, replies.recv()).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(CoordError::Closed("local bus dropped".to_owned())),
            Err(_) => Err(CoordError::Timeout {
                topic: topic_name.to_owned(),
                timeout,
            }),
        }
    }

    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}
