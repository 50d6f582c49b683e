//! In-process backend: zero setup, for agents inside one process (and the reference behaviour
//! the NATS backend is tested against).

mod bus;
mod queue;
mod registry;

pub use bus::LocalBus;
pub use queue::LocalQueue;
pub use registry::LocalRegistry;
