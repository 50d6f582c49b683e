//! The error type of this crate.

use std::io;
use std::time::Duration;

/// Everything that can go wrong while driving a PTY session.
#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    /// `SessionConfig::program` was empty.
    #[error("no program to run: SessionConfig::program is empty; give an argv such as [\"bash\"]")]
    EmptyProgram,
    /// The kernel refused to allocate or configure a pseudo-terminal.
    #[error(
        "could not set up a pseudo-terminal ({step}): {source}; check /dev/ptmx and the pty limit (/proc/sys/kernel/pty/max)"
    )]
    Pty {
        /// Which step failed (`posix_openpt`, `grantpt`, ...).
        step: &'static str,
        /// The OS error.
        #[source]
        source: nix::Error,
    },
    /// The program could not be started.
    #[error("could not start {program:?}: {source}; check that it exists and is executable")]
    Spawn {
        /// `argv[0]` of the program.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Writing the shell integration rc file failed.
    #[error("could not write the shell rc file {path}: {source}")]
    RcFile {
        /// Where the file was to be written.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the PTY master failed.
    #[error("PTY I/O failed while {action}: {source}")]
    Io {
        /// What the session was doing.
        action: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The session's program has exited, so the operation cannot run.
    #[error("the session's program has exited (status {status:?}); start a new session")]
    Exited {
        /// Exit code, or `128 + signal` when killed by a signal.
        status: Option<i32>,
    },
    /// Another `exec` is running, or a command started earlier has not finished.
    #[error("session is busy: {reason}; wait for it, or send C-c (0x03) to interrupt it")]
    Busy {
        /// Why the session cannot take a command now.
        reason: String,
    },
    /// The shell did not show its first prompt in time.
    #[error("the shell did not become ready within {waited:?}; check the program and its rc files")]
    NotReady {
        /// How long `exec` waited.
        waited: Duration,
    },
    /// `exec` needs a shell with our integration (bash, sh/dash, zsh).
    #[error(
        "program {program:?} has no shell integration, so exec cannot find command boundaries; use write/read, or run bash, sh or zsh"
    )]
    NoShellIntegration {
        /// `argv[0]` of the program.
        program: String,
    },
    /// A key name given to the key parser is unknown.
    #[error(
        "unknown key name {name:?}; use names like C-c, Enter, Up, Tab, Escape, BSpace, F1..F12"
    )]
    UnknownKey {
        /// The name that could not be parsed.
        name: String,
    },
    /// Sending a signal failed.
    #[error("could not send {signal} to process group {pgid}: {source}")]
    Signal {
        /// The signal name.
        signal: String,
        /// The target process group.
        pgid: i32,
        /// The OS error.
        #[source]
        source: nix::Error,
    },
    /// Talking to the PTY keeper (the process that holds the terminals) failed.
    #[error("PTY keeper: {action} failed: {source}; the keeper socket is {socket}")]
    Keeper {
        /// What the session manager was doing.
        action: &'static str,
        /// The keeper's socket.
        socket: String,
        /// The OS or protocol error.
        #[source]
        source: io::Error,
    },
    /// A kept session's shared state could not be used (wrong version, damaged header).
    #[error(
        "kept session state unusable: {reason}; the session cannot be adopted, start a fresh one"
    )]
    KeptState {
        /// What is wrong with it.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = PtyError> = std::result::Result<T, E>;
