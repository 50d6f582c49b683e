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

    /// Hands `message` to every matching subscription without waiting; returns the ones that
    /// were full, each with its copy, so the caller can wait for them without holding the lock
    /// (closed ones are pruned). The last match gets `message` itself: with one subscriber a
    /// publish copies nothing.
    fn deliver(&self, message: Message) -> Vec<(mpsc::Sender<Message>, Message)> {
        let mut full = Vec::new();
        let mut saw_closed = false;
        {
            let subscriptions = self
                .inner
                .subscriptions
                .read()
                .unwrap_or_else(|e| e.into_inner());
            let Some(last) = subscriptions
                .iter()
                .rposition(|entry| topic::matches(&entry.pattern, &message.topic))
            else {
                return full;
            };
            let mut send = |entry: &Entry, copy: Message| match entry.sender.try_send(copy) {
                Ok(()) => {}
                Err(TrySendError::Full(copy)) => full.push((entry.sender.clone(), copy)),
                Err(TrySendError::Closed(_)) => saw_closed = true,
            };
            for entry in &subscriptions[..last] {
                if topic::matches(&entry.pattern, &message.topic) {
                    send(entry, message.clone());
                }
            }
            send(&subscriptions[last], message);
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
        for (sender, copy) in self.deliver(message) {
            // Ignore a subscriber that went away meanwhile: it unsubscribed.
            let _ = sender.send(copy).await;
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
