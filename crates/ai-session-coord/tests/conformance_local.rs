//! The conformance suite against the in-process backend.

mod conformance;

use std::collections::HashMap;
use std::sync::Mutex;

use ai_session_coord::local::{LocalBus, LocalQueue, LocalRegistry};
use ai_session_coord::{QueueConfig, RegistryConfig};

/// One in-process "world": handles with the same namespace share state, as they would on a
/// server.
#[derive(Default)]
struct Local {
    bus: LocalBus,
    queues: Mutex<HashMap<String, LocalQueue>>,
    registries: Mutex<HashMap<String, LocalRegistry>>,
}

impl conformance::Backend for Local {
    type Bus = LocalBus;
    type Queue = LocalQueue;
    type Registry = LocalRegistry;

    async fn bus(&self) -> LocalBus {
        self.bus.clone()
    }

    async fn queue(&self, namespace: &str, config: QueueConfig) -> LocalQueue {
        let mut queues = self.queues.lock().unwrap();
        queues
            .entry(namespace.to_owned())
            .or_insert_with(|| LocalQueue::new(config))
            .clone()
    }

    async fn registry(&self, namespace: &str, config: RegistryConfig) -> LocalRegistry {
        let mut registries = self.registries.lock().unwrap();
        registries
            .entry(namespace.to_owned())
            .or_insert_with(|| LocalRegistry::new(config))
            .clone()
    }
}

conformance_suite!(async { Some(Local::default()) });
