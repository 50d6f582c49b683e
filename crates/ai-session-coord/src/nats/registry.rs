//! The registry as a JetStream KV bucket whose `max_age` is the heartbeat TTL: an agent's entry
//! disappears on the server when it stops heartbeating, whoever else is watching.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use crate::error::{CoordError, Result};
use crate::registry::{AgentInfo, AgentRegistry, RegistryConfig};
use crate::task::unix_millis;

/// [`AgentRegistry`] in a NATS KV bucket `<prefix>_agents`. Cheap to clone.
#[derive(Clone)]
pub struct NatsRegistry {
    store: async_nats::jetstream::kv::Store,
}

impl NatsRegistry {
    /// Connects to `url` and opens (or creates) the registry for `prefix`.
    pub async fn connect(url: &str, prefix: &str, config: RegistryConfig) -> Result<Self> {
        Self::from_client(super::connect(url).await?, prefix, config).await
    }

    /// Opens (or creates) the registry over an existing connection. The TTL is fixed by whoever
    /// creates the bucket first.
    pub async fn from_client(
        client: async_nats::Client,
        prefix: &str,
        config: RegistryConfig,
    ) -> Result<Self> {
        super::validate_prefix(prefix)?;
        let js = async_nats::jetstream::new(client);
        let bucket = format!("{prefix}_agents");
        let store = match js.get_key_value(&bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_key_value(async_nats::jetstream::kv::Config {
                    bucket: bucket.clone(),
                    history: 1,
                    max_age: config.ttl.max(Duration::from_millis(100)),
                    ..Default::default()
                })
                .await
                .map_err(|e| CoordError::backend("create the agents KV bucket", e))?,
        };
        Ok(Self { store })
    }

    async fn put(&self, agent: &AgentInfo) -> Result<()> {
        let json = serde_json::to_vec(agent).map_err(|source| CoordError::Codec {
            what: "agent",
            source,
        })?;
        self.store
            .put(&agent.id, json.into())
            .await
            .map_err(|e| CoordError::backend("store agent in KV", e))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<AgentInfo>> {
        let Some(bytes) = self
            .store
            .get(id)
            .await
            .map_err(|e| CoordError::backend("read agent from KV", e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CoordError::Codec {
                what: "agent",
                source,
            })
    }
}

impl AgentRegistry for NatsRegistry {
    async fn register(&self, mut agent: AgentInfo) -> Result<()> {
        agent.last_seen_ms = unix_millis();
        self.put(&agent).await
    }

    async fn heartbeat(&self, id: &str, load: u32) -> Result<()> {
        let mut agent = self
            .get(id)
            .await?
            .ok_or_else(|| CoordError::UnknownAgent(id.to_owned()))?;
        agent.load = load;
        agent.last_seen_ms = unix_millis();
        self.put(&agent).await
    }

    async fn deregister(&self, id: &str) -> Result<()> {
        self.store
            .purge(id)
            .await
            .map_err(|e| CoordError::backend("remove agent from KV", e))
    }

    async fn list(&self) -> Result<Vec<AgentInfo>> {
        let keys: Vec<String> = self
            .store
            .keys()
            .await
            .map_err(|e| CoordError::backend("list agent keys", e))?
            .try_collect()
            .await
            .map_err(|e| CoordError::backend("list agent keys", e))?;
        let agents = futures::stream::iter(keys)
            .then(|key| async move { self.get(&key).await })
            .try_collect::<Vec<_>>()
            .await?;
        let mut agents: Vec<AgentInfo> = agents.into_iter().flatten().collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(agents)
    }
}
