//! Errors of this crate.

/// What can go wrong when managing a context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A task id was used twice.
    #[error("task `{0}` already exists; pick another id or `switch` to it")]
    TaskExists(String),
    /// A task id names no task.
    #[error("no task `{0}`; create it with `new` first")]
    UnknownTask(String),
    /// A serialised context could not be read.
    #[error(
        "cannot decode a saved context ({source}); the blob is damaged or from another version"
    )]
    Decode {
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A context could not be serialised.
    #[error("cannot encode the context: {source}")]
    Encode {
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
}
