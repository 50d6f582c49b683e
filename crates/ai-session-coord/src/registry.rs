//! The agent registry: who is alive and what each agent can do.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::task::{Capabilities, capabilities, unix_millis};

/// An agent as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Unique name.
    pub id: String,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Tasks it is running now (reported with each heartbeat).
    pub load: u32,
    /// Rank for the `priority` strategy: higher is preferred.
    pub rank: u8,
    /// Session ids it owns.
    pub sessions: Vec<String>,
    /// Last registration or heartbeat, ms since the Unix epoch.
    pub last_seen_ms: u64,
}

impl AgentInfo {
    /// An idle agent with these capabilities (validated).
    pub fn new<I, S>(id: impl Into<String>, capability_names: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self {
            id: id.into(),
            capabilities: capabilities(capability_names)?,
            load: 0,
            rank: 0,
            sessions: Vec::new(),
            last_seen_ms: unix_millis(),
        })
    }
}

/// Settings both backends share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// An agent without a heartbeat for this long is dropped.
    pub ttl: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15),
        }
    }
}

/// Live agents, kept alive by heartbeats.
pub trait AgentRegistry: Send + Sync + 'static {
    /// Adds or replaces an agent.
    fn register(&self, agent: AgentInfo) -> impl Future<Output = Result<()>> + Send;

    /// Keeps the agent alive for another TTL and records its load; `UnknownAgent` if it expired.
    fn heartbeat(&self, id: &str, load: u32) -> impl Future<Output = Result<()>> + Send;

    /// Removes an agent now.
    fn deregister(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Live agents, sorted by id.
    fn list(&self) -> impl Future<Output = Result<Vec<AgentInfo>>> + Send;
}
