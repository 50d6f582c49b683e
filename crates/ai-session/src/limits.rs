//! Process limits a daemon with many sessions needs.

/// Raises the soft open-file limit to the hard limit: each session holds a PTY master and a
/// few pipes, and the default soft limit (1024) caps a daemon at a few hundred sessions.
pub fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::warn!(error = %e, soft, hard, "could not raise the open-file limit");
    }
}
