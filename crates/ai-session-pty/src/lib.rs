//! ai-session-pty: see README.md.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// `unsafe` only in the modules that make system calls nix does not wrap (posix_spawn,
// pidfd_open, TIOCSWINSZ, FIONREAD, fork, fds from SCM_RIGHTS), map the kept sessions' shared
// memory, or register fds with the reactor; each block says why it is sound.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod child;
mod config;
mod error;
mod exec;
mod hold;
mod input_wait;
#[allow(unsafe_code)]
mod keeper;
#[allow(unsafe_code)]
mod kept;
mod keys;
mod marks;
mod monitor;
mod nonce;
mod proctree;
mod reader;
mod record;
mod screen;
mod scrollback;
#[allow(unsafe_code)]
mod session;
mod shell_rc;
#[allow(unsafe_code)]
mod spawn;
#[allow(unsafe_code)]
mod start;
mod state;
mod timeline;

pub use config::{Integration, SessionConfig, ShellKind, Size, agent_env_defaults};
pub use error::{PtyError, Result};
pub use hold::{HOLD_PATIENCE, OutputHold};
pub use input_wait::{TtyWait, probe as probe_terminal_read};
pub use keeper::{KEEPER_ARG, Keeper, KeptSession, keeper_main, run_keeper_if_asked};
pub use keys::{UnknownKey, encode_key, encode_keys};
pub use marks::{Mark, MarkParser, Piece};
pub use monitor::AwaitingInput;
pub use nix::sys::signal::Signal;
pub use record::{ByteRange, CommandRecord, ExecOptions, ExecOutcome, ExecState};
pub use screen::{Cursor, ScreenSnapshot};
pub use scrollback::{ReadChunk, Scrollback};
pub use session::{ExitInfo, PtySession};
pub use shell_rc::integration_dir;
pub use state::{Progress, ShellPhase};
