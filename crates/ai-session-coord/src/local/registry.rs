//! In-process registry: a map with last-seen times; expired agents are dropped when read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::{CoordError, Result};
use crate::registry::{AgentInfo, AgentRegistry, RegistryConfig};
use crate::task::unix_millis;

/// The in-process [`AgentRegistry`]. Cheap to clone; clones share agents.
#[derive(Clone)]
pub struct LocalRegistry {
    config: RegistryConfig,
    agents: Arc<Mutex<HashMap<String, (AgentInfo, Instant)>>>,
}

impl LocalRegistry {
    /// An empty registry.
    pub fn new(config: RegistryConfig) -> Self {
        Self {
            config,
            agents: Arc::default(),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (AgentInfo, Instant)>> {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = self.config.ttl;
        agents.retain(|_, (_, seen)| seen.elapsed() < ttl);
        agents
    }
}

impl Default for LocalRegistry {
    fn default() -> Self {
        Self::new(RegistryConfig::default())
    }
}

impl AgentRegistry for LocalRegistry {
    async fn register(&self, mut agent: AgentInfo) -> Result<()> {
        agent.last_seen_ms = unix_millis();
        self.live()
            .insert(agent.id.clone(), (agent, Instant::now()));
        Ok(())
    }

    async fn heartbeat(&self, id: &str, load: u32) -> Result<()> {
        let mut agents = self.live();
        let (agent, seen) = agents
            .get_mut(id)
            .ok_or_else(|| CoordError::UnknownAgent(id.to_owned()))?;
        agent.load = load;
        agent.last_seen_ms = unix_millis();
        *seen = Instant::now();
        Ok(())
    }

    async fn deregister(&self, id: &str) -> Result<()> {
        self.live().remove(id);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<AgentInfo>> {
        let mut agents: Vec<AgentInfo> = self.live().values().map(|(a, _)| a.clone()).collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(agents)
    }
}
