//! Which agent owns which sessions, and messages addressed to agents.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::bus::{MessageBus, Subscription};
use crate::error::Result;

/// Ties agents to the terminal sessions they drive, and gives each agent an inbox topic
/// (`agents.<id>.inbox`) and all of them a broadcast topic (`agents.all`) on a bus.
pub struct MultiAgentSession<B> {
    bus: B,
    sessions_by_agent: BTreeMap<String, BTreeSet<String>>,
}

impl<B: MessageBus> MultiAgentSession<B> {
    /// Topic every agent's [`MultiAgentSession::subscribe_agent`] also receives.
    pub const BROADCAST_TOPIC: &'static str = "agents.all";

    /// An empty mapping over `bus`.
    pub fn new(bus: B) -> Self {
        Self {
            bus,
            sessions_by_agent: BTreeMap::new(),
        }
    }

    /// The bus agents talk on.
    pub fn bus(&self) -> &B {
        &self.bus
    }

    /// Records that `agent` drives `session`; a session has one owner, so it is taken from any
    /// previous one.
    pub fn attach(&mut self, agent: &str, session: &str) {
        for sessions in self.sessions_by_agent.values_mut() {
            sessions.remove(session);
        }
        self.sessions_by_agent
            .entry(agent.to_owned())
            .or_default()
            .insert(session.to_owned());
    }

    /// Forgets `session`; returns its owner if it had one.
    pub fn detach(&mut self, session: &str) -> Option<String> {
        let owner = self.owner(session)?.to_owned();
        if let Some(sessions) = self.sessions_by_agent.get_mut(&owner) {
            sessions.remove(session);
        }
        Some(owner)
    }

    /// Sessions driven by `agent`.
    pub fn sessions(&self, agent: &str) -> impl Iterator<Item = &str> {
        self.sessions_by_agent
            .get(agent)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The agent driving `session`.
    pub fn owner(&self, session: &str) -> Option<&str> {
        self.sessions_by_agent
            .iter()
            .find(|(_, sessions)| sessions.contains(session))
            .map(|(agent, _)| agent.as_str())
    }

    /// Agents with at least one session.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.sessions_by_agent
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(a, _)| a.as_str())
    }

    /// Inbox topic of `agent`.
    pub fn inbox(agent: &str) -> String {
        format!("agents.{agent}.inbox")
    }

    /// Sends to one agent's inbox.
    pub async fn send_to(&self, agent: &str, payload: Bytes) -> Result<()> {
        self.bus.publish(&Self::inbox(agent), payload).await
    }

    /// Sends to every agent.
    pub async fn broadcast(&self, payload: Bytes) -> Result<()> {
        self.bus.publish(Self::BROADCAST_TOPIC, payload).await
    }

    /// The inbox and broadcast messages of `agent`, as two subscriptions.
    pub async fn subscribe_agent(&self, agent: &str) -> Result<(Subscription, Subscription)> {
        let inbox = self.bus.subscribe(&Self::inbox(agent)).await?;
        let all = self.bus.subscribe(Self::BROADCAST_TOPIC).await?;
        Ok((inbox, all))
    }
}
